//! PostgreSQL for LE BOOM: the Diesel schema (`schema.rs`, mirror of `migrations/`), the row
//! types, the connection pool, and the embedded migrations.
//!
//! Only the gateway writes PostgreSQL; other services talk NATS. Every pooled connection
//! names itself (`application_name`) and carries a `statement_timeout`, so a runaway query
//! is cut and `pg_stat_activity` says who ran it. Migrations run under a PostgreSQL advisory
//! lock, so any number of replicas may start (or `migrate`) at once.
//!
//! This crate owns SQL; it knows nothing of HTTP or NATS.

pub mod models;
pub mod schema;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use deadpool::managed::{self, Metrics, RecycleResult};
use diesel::result::{ConnectionError, Error as DieselError};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, PoolableConnection,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub use diesel_async::AsyncPgConnection as PgConnection;

/// Every migration of `migrations/`, compiled in.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// The advisory lock key that serialises migrations across processes ("BOOMMIGR").
const MIGRATION_LOCK_KEY: i64 = 0x424F_4F4D_4D49_4752;

pub type DbPool = managed::Pool<Manager>;
pub type DbConn = managed::Object<Manager>;
pub type PoolError = managed::PoolError<diesel_async::pooled_connection::PoolError>;

/// How recently a connection must have been handed out for the pool to hand it out again
/// without asking PostgreSQL first (see [`Manager`]).
const RECENTLY_USED: Duration = Duration::from_millis(250);

/// The pool's manager: diesel-async's, except that it does not check a connection with a
/// round trip each time it hands it out.
///
/// diesel-async's pool (its `RecyclingMethod::Verified`, the default) runs `SELECT 1` before
/// every hand-out: every request that reads PostgreSQL, and every group the recorder
/// commits, paid one round trip more than its own statements. Here a connection is checked
/// so only when it was last handed out [`RECENTLY_USED`] ago or more (a server restarted
/// meanwhile is found out before anyone uses the connection); within that, a connection that
/// broke fails its next use, as one breaking in use always could, and is then not handed
/// out again (one whose server closed the socket is known closed without a round trip); a
/// connection whose network path died silently may be handed out within that window and
/// wait for TCP to give up, where the check would have timed out. A connection found closed,
/// or left in a Diesel transaction (a use cancelled half-way), is never handed out again,
/// checked or not. (`boom-cache`'s Redis pool follows the same rule.)
pub struct Manager {
    inner: AsyncDieselConnectionManager<AsyncPgConnection>,
    /// How many times a connection was checked with a round trip before being handed out.
    checks: AtomicU64,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager").finish_non_exhaustive()
    }
}

impl Manager {
    /// How many times a connection was checked with a round trip before being handed out.
    pub fn connection_checks(&self) -> u64 {
        AtomicU64::load(&self.checks, Ordering::Relaxed)
    }
}

impl managed::Manager for Manager {
    type Type = AsyncPgConnection;
    type Error = diesel_async::pooled_connection::PoolError;

    async fn create(&self) -> Result<AsyncPgConnection, Self::Error> {
        managed::Manager::create(&self.inner).await
    }

    async fn recycle(
        &self,
        conn: &mut AsyncPgConnection,
        metrics: &Metrics,
    ) -> RecycleResult<Self::Error> {
        if metrics.last_used() < RECENTLY_USED {
            if conn.is_broken() {
                return Err(managed::RecycleError::message("Broken connection"));
            }
            return Ok(());
        }
        self.checks.fetch_add(1, Ordering::Relaxed);
        managed::Manager::recycle(&self.inner, conn, metrics).await
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(#[from] ConnectionError),
    #[error("no database connection available: {0}")]
    Pool(#[from] PoolError),
    #[error("cannot build the database pool: {0}")]
    Build(String),
    #[error(transparent)]
    Query(#[from] DieselError),
    #[error("migrations failed: {0}")]
    Migration(String),
    #[error(
        "the database is not migrated ({pending} pending migration(s), first `{first}`): run `boom-gateway migrate`"
    )]
    NotMigrated { pending: usize, first: String },
}

/// Whether `error` says the data can never be stored as it is, so that retrying is useless:
/// a constraint violation (unique, foreign key, not null, check, exclusion), a data exception
/// (SQLSTATE class 22: a value out of range, invalid input, too long), or a value Diesel
/// cannot encode or decode. Anything else (a lost connection, a timeout, a serialisation
/// failure, a deadlock) may pass on a retry.
///
/// Diesel keeps no SQLSTATE for data exceptions, so they are recognised by PostgreSQL's
/// message (the server's `lc_messages` must stay English, the default).
pub fn is_permanent(error: &DieselError) -> bool {
    use diesel::result::DatabaseErrorKind as Kind;
    /// Messages of SQLSTATE class 22 (data exception).
    const DATA_EXCEPTIONS: &[&str] = &[
        "out of range",
        "invalid input syntax",
        "invalid input value",
        "value too long",
        "division by zero",
        "invalid byte sequence",
        "unsupported Unicode escape sequence",
        "cannot be represented",
        "invalid escape",
        "malformed",
    ];
    match error {
        DieselError::DatabaseError(
            Kind::UniqueViolation
            | Kind::ForeignKeyViolation
            | Kind::NotNullViolation
            | Kind::CheckViolation
            | Kind::RestrictViolation
            | Kind::ExclusionViolation,
            _,
        ) => true,
        DieselError::DatabaseError(Kind::Unknown, info) => {
            let message = info.message();
            DATA_EXCEPTIONS.iter().any(|m| message.contains(m))
        }
        DieselError::SerializationError(_) | DieselError::DeserializationError(_) => true,
        _ => false,
    }
}

/// How the pool connects.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Shown in `pg_stat_activity.application_name`.
    pub application_name: String,
    pub max_connections: usize,
    pub statement_timeout: Duration,
    pub acquire_timeout: Duration,
}

/// Builds the pool. Connections open lazily: a service starts while PostgreSQL is down and
/// its health check says so.
pub fn pool(url: &str, options: &PoolOptions) -> Result<DbPool, DbError> {
    let setup_sql = format!(
        "SET application_name = '{}'; SET statement_timeout = {}",
        options.application_name.replace('\'', ""),
        options.statement_timeout.as_millis()
    );
    let mut config = ManagerConfig::<AsyncPgConnection>::default();
    config.custom_setup = Box::new(move |url| {
        let setup_sql = setup_sql.clone();
        let url = url.to_owned();
        Box::pin(async move {
            let mut conn = AsyncPgConnection::establish(&url).await?;
            conn.batch_execute(&setup_sql)
                .await
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        })
    });
    let manager = Manager {
        inner: AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config),
        checks: AtomicU64::new(0),
    };
    DbPool::builder(manager)
        .max_size(options.max_connections)
        // The connection used last is handed out first: under light load one connection
        // stays in use (and unchecked) rather than each in turn idling past `RECENTLY_USED`.
        .queue_mode(managed::QueueMode::Lifo)
        .wait_timeout(Some(options.acquire_timeout))
        .create_timeout(Some(options.acquire_timeout))
        .recycle_timeout(Some(options.acquire_timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| DbError::Build(e.to_string()))
}

/// `SELECT 1` through the pool: what health checks ask.
pub async fn ping(pool: &DbPool) -> Result<(), DbError> {
    let mut conn = pool.get().await?;
    diesel::sql_query("SELECT 1").execute(&mut conn).await?;
    Ok(())
}

/// Applies every pending migration, holding the advisory lock so that concurrent runs wait
/// for each other and then find nothing left to do. Returns the versions it applied.
pub async fn run_migrations(url: &str) -> Result<Vec<String>, DbError> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    lock_migrations(&mut conn).await?;
    // The harness drives the async connection with its own blocking calls.
    let applied = tokio::task::spawn_blocking(move || {
        let mut harness = diesel_async::AsyncMigrationHarness::new(conn);
        let applied = harness
            .run_pending_migrations(MIGRATIONS)
            .map(|done| done.iter().map(ToString::to_string).collect::<Vec<_>>())
            .map_err(|e| DbError::Migration(e.to_string()));
        // Dropping the connection ends the session, which releases the advisory lock.
        drop(harness);
        applied
    })
    .await
    .map_err(|e| DbError::Migration(e.to_string()))??;
    for version in &applied {
        tracing::info!(%version, "migration applied");
    }
    Ok(applied)
}

/// Fails with [`DbError::NotMigrated`] unless every embedded migration is applied: services
/// never serve on an unmigrated (or older) schema.
pub async fn ensure_migrated(url: &str) -> Result<(), DbError> {
    let conn = AsyncPgConnection::establish(url).await?;
    let pending = tokio::task::spawn_blocking(move || {
        let mut harness = diesel_async::AsyncMigrationHarness::new(conn);
        harness
            .pending_migrations(MIGRATIONS)
            .map(|p| p.iter().map(|m| m.name().to_string()).collect::<Vec<_>>())
            .map_err(|e| DbError::Migration(e.to_string()))
    })
    .await
    .map_err(|e| DbError::Migration(e.to_string()))??;
    match <[String]>::first(&pending) {
        None => Ok(()),
        Some(first) => Err(DbError::NotMigrated {
            pending: pending.len(),
            first: first.clone(),
        }),
    }
}

async fn lock_migrations(conn: &mut AsyncPgConnection) -> Result<(), DbError> {
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(conn)
        .await?;
    Ok(())
}

/// True when a Diesel error is PostgreSQL refusing a duplicate on a unique constraint.
pub fn is_unique_violation(error: &DieselError) -> bool {
    matches!(
        error,
        DieselError::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// The versions of every embedded migration, oldest first.
pub fn embedded_migrations() -> Result<Vec<String>, DbError> {
    use diesel::migration::MigrationSource;
    let migrations = MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS)
        .map_err(|e| DbError::Migration(e.to_string()))?;
    Ok(migrations
        .iter()
        .map(|m| m.name().version().to_string())
        .collect())
}
