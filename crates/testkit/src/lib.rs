//! The test harness: what every integration test stands on, so that tests run in parallel
//! against the real PostgreSQL, NATS and Redis without seeing each other.
//!
//! - [`TestContext::new`] gives a test its own database (copied from a template database
//!   migrated once per migration set, ~25 ms), its own NATS prefix (subjects, streams, KV
//!   buckets) and its own Redis key prefix, and [`Settings`] that point there with the HTTP
//!   listener on port 0. Dropping it removes all three.
//! - [`notion::FakeNotion`] answers like the Notion API, with scriptable faults.
//! - [`gateway::SignedIn`] is a signed-in client of a running gateway (benchmark, demo).
//! - [`browser::Browser`] is headless Chromium over WebDriver (dashboard tests, benchmark).
//! - [`Proxy`] stands between a service and a dependency and can cut it, to test what a
//!   service does when PostgreSQL, Redis or NATS goes away and comes back.
//!
//! Where the servers are: `BOOM_TEST_DATABASE_URL` (an admin URL, default
//! `postgres://postgres@127.0.0.1:5432/postgres`), `BOOM_TEST_NATS_URL`, `BOOM_TEST_REDIS_URL`.

pub mod browser;
pub mod gateway;
pub mod inbox;
pub mod notion;
mod proxy;

use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use anyhow::Context;
use boom_config::{SecretString, Settings};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

pub use proxy::Proxy;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The admin URL of the test PostgreSQL server (connected to the `postgres` database).
pub fn admin_database_url() -> String {
    env_or(
        "BOOM_TEST_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/postgres",
    )
}

pub fn nats_url() -> String {
    env_or("BOOM_TEST_NATS_URL", "nats://127.0.0.1:4222")
}

pub fn redis_url() -> String {
    env_or("BOOM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
}

/// The URL of database `name` on the test server.
pub fn database_url(name: &str) -> String {
    let admin = admin_database_url();
    match admin.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => format!("{admin}/{name}"),
    }
}

/// A short random id for names (databases, prefixes) that must not collide across tests.
pub fn unique_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// One test's world: its database, NATS prefix and Redis prefix.
#[derive(Debug)]
pub struct TestContext {
    pub id: String,
    pub database: String,
    pub settings: Settings,
}

impl TestContext {
    /// A migrated database of its own, a NATS prefix and a Redis prefix of its own.
    pub async fn new() -> anyhow::Result<Self> {
        let id = unique_id();
        let database = format!("boom_test_{id}");
        let template = ensure_template().await?;
        admin_execute(&format!("CREATE DATABASE {database} TEMPLATE {template}")).await?;
        Ok(Self::with_database(id, database))
    }

    /// An empty database (no migrations applied), for testing migrations themselves.
    pub async fn new_unmigrated() -> anyhow::Result<Self> {
        let id = unique_id();
        let database = format!("boom_test_{id}");
        admin_execute(&format!("CREATE DATABASE {database}")).await?;
        Ok(Self::with_database(id, database))
    }

    fn with_database(id: String, database: String) -> Self {
        let mut settings = Settings::default();
        settings.database.url = SecretString::from(database_url(&database));
        settings.database.max_connections = 4;
        settings.nats.url = nats_url();
        settings.nats.prefix = format!("t{id}");
        settings.redis.url = SecretString::from(redis_url());
        settings.redis.prefix = format!("boomtest:{id}");
        settings.http.addr = "127.0.0.1:0".to_owned();
        settings.http.workers = 1;
        settings.http.shutdown_timeout_secs = 5;
        settings.agent.listen = "127.0.0.1:0".to_owned();
        settings.agent.data_dir = std::env::temp_dir().join(format!("boom-agent-{id}"));
        Self {
            id,
            database,
            settings,
        }
    }

    pub fn database_url(&self) -> String {
        database_url(&self.database)
    }

    /// A direct connection to the test's database.
    pub async fn connection(&self) -> anyhow::Result<AsyncPgConnection> {
        AsyncPgConnection::establish(&self.database_url())
            .await
            .context("connect to the test database")
    }

    /// The `BOOM__…` environment that describes these settings, for running a binary.
    pub fn environment(&self) -> Vec<(String, String)> {
        use boom_config::ExposeSecret;
        let s = &self.settings;
        vec![
            (
                "BOOM__DATABASE__URL".into(),
                s.database.url.expose_secret().to_owned(),
            ),
            ("BOOM__NATS__URL".into(), s.nats.url.clone()),
            ("BOOM__NATS__PREFIX".into(), s.nats.prefix.clone()),
            (
                "BOOM__REDIS__URL".into(),
                s.redis.url.expose_secret().to_owned(),
            ),
            ("BOOM__REDIS__PREFIX".into(), s.redis.prefix.clone()),
            ("BOOM__HTTP__ADDR".into(), s.http.addr.clone()),
            ("BOOM__HTTP__WORKERS".into(), s.http.workers.to_string()),
            ("BOOM__AGENT__LISTEN".into(), s.agent.listen.clone()),
            (
                "BOOM__AGENT__DATA_DIR".into(),
                s.agent.data_dir.display().to_string(),
            ),
        ]
    }
}

impl Drop for TestContext {
    /// Removes the database, the streams and buckets, and the Redis keys. Runs on its own
    /// thread and runtime: `Drop` cannot await, and the test's runtime may be shutting down.
    fn drop(&mut self) {
        let database = self.database.clone();
        let prefix = self.settings.nats.prefix.clone();
        let redis_prefix = self.settings.redis.prefix.clone();
        let agent_dir = self.settings.agent.data_dir.clone();
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let _ = admin_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
                    .await;
                let _ = drop_nats_prefix(&prefix).await;
                let _ = drop_redis_prefix(&redis_prefix).await;
            });
            let _ = std::fs::remove_dir_all(agent_dir);
        });
        let _ = cleanup.join();
    }
}

async fn admin_execute(sql: &str) -> anyhow::Result<()> {
    let mut conn = AsyncPgConnection::establish(&admin_database_url())
        .await
        .context("connect to the test PostgreSQL server (is it running? `just services`)")?;
    conn.batch_execute(sql)
        .await
        .with_context(|| format!("`{sql}`"))?;
    Ok(())
}

fn migrations_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../migrations")
}

/// The template's name changes whenever a migration file changes, so a stale template is
/// never used.
fn template_name() -> anyhow::Result<String> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let mut files = Vec::new();
    for dir in std::fs::read_dir(migrations_dir()).context("read migrations/")? {
        let dir = dir?.path();
        for file in ["up.sql", "down.sql"] {
            let path = dir.join(file);
            if path.exists() {
                files.push(path);
            }
        }
    }
    files.sort();
    for file in files {
        file.file_name().hash(&mut hasher);
        std::fs::read(&file)?.hash(&mut hasher);
    }
    Ok(format!("boom_template_{:016x}", hasher.finish()))
}

/// Creates the migrated template database once; concurrent test processes wait on an
/// advisory lock and find it done. It is built under another name and renamed, so a crash
/// half-way never leaves a broken template.
async fn ensure_template() -> anyhow::Result<String> {
    let template = template_name()?;
    let mut admin = AsyncPgConnection::establish(&admin_database_url())
        .await
        .context("connect to the test PostgreSQL server (is it running? `just services`)")?;
    if template_exists(&mut admin, &template).await? {
        return Ok(template);
    }
    admin
        .batch_execute("SELECT pg_advisory_lock(4242424242)")
        .await?;
    let built = async {
        if template_exists(&mut admin, &template).await? {
            return anyhow::Ok(());
        }
        let building = format!("{template}_building");
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
            .await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {building}"))
            .await?;
        boom_db::run_migrations(&database_url(&building)).await?;
        admin
            .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {template}"))
            .await?;
        Ok(())
    }
    .await;
    admin
        .batch_execute("SELECT pg_advisory_unlock(4242424242)")
        .await?;
    built?;
    Ok(template)
}

async fn template_exists(admin: &mut AsyncPgConnection, name: &str) -> anyhow::Result<bool> {
    use diesel::sql_types::{BigInt, Text};
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let found: Count =
        diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
            .bind::<Text, _>(name)
            .get_result(admin)
            .await?;
    Ok(found.n > 0)
}

async fn drop_nats_prefix(prefix: &str) -> anyhow::Result<()> {
    use futures::TryStreamExt;
    let client = async_nats::connect(nats_url()).await?;
    let jetstream = async_nats::jetstream::new(client);
    let upper = format!("{}_", prefix.to_ascii_uppercase().replace('-', "_"));
    let lower = format!("KV_{}_", prefix.replace('-', "_"));
    let names: Vec<String> = jetstream.stream_names().try_collect().await?;
    for name in names
        .into_iter()
        .filter(|n| n.starts_with(&upper) || n.starts_with(&lower))
    {
        let _ = jetstream.delete_stream(&name).await;
    }
    Ok(())
}

async fn drop_redis_prefix(prefix: &str) -> anyhow::Result<()> {
    use deadpool_redis::redis;
    let client = redis::Client::open(redis_url())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await?;
    if !keys.is_empty() {
        let _: i64 = redis::cmd("DEL").arg(keys).query_async(&mut conn).await?;
    }
    Ok(())
}
