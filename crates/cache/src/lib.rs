//! Redis for LE BOOM: sessions, rate limits and short caches. [`Cache`] is a deadpool-redis
//! pool plus the stack's key prefix (`BOOM__REDIS__PREFIX`), so that every key this stack
//! writes is `<prefix>:<kind>:<id>` and several stacks (or tests) share one Redis. Each
//! single-threaded event loop (the gateway's HTTP workers) takes its connections from a pool
//! of its own (see [`Cache::connection`]).
//!
//! Redis holds nothing that cannot be lost: the source of truth is PostgreSQL and JetStream.
//! Besides the pool it owns the one rate-limit mechanism of the stack ([`Cache::count_in_window`]):
//! callers choose the key, the window and the limit, and what to do when Redis is down.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use boom_config::{ExposeSecret, RedisSettings};
use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
pub use deadpool_redis::redis;
use deadpool_redis::redis::aio::{ConnectionLike, MultiplexedConnection};
use deadpool_redis::redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};
use deadpool_redis::{PoolConfig, QueueMode, Runtime, Timeouts};

/// How recently a connection must have been handed out for the pool to hand it out again
/// without asking Redis first (see [`Manager`]).
const RECENTLY_USED: Duration = Duration::from_millis(250);

type Pool = managed::Pool<Manager>;

/// A Redis connection of the pool, and whether it failed in a way that calls for a new one.
#[derive(Debug)]
struct Link {
    conn: MultiplexedConnection,
    broken: bool,
}

/// The pool's manager: deadpool-redis's, except that it does not check a connection with a
/// round trip each time it hands it out.
///
/// deadpool-redis sends `UNWATCH` and `PING` to Redis before every `get`: a session check (one
/// pipelined round trip) paid a second round trip for it (measured: `GET /api/photomatons`
/// answered 64 % of a bare handler's requests per second with it, 67–73 % without it, and
/// 84–95 % with no Redis at all). Here a connection is checked with that `UNWATCH` + `PING`
/// only when it was last handed out [`RECENTLY_USED`] ago or more (the time it was held
/// counts); within that, a connection that broke fails its next use, as one breaking in use
/// always could. A connection whose use failed on I/O (a dropped connection and Redis's
/// 500 ms response time-out included) or beyond repair is not handed out again; a use
/// cancelled before its answer marks nothing, and the next failed use does.
///
/// Nothing of the stack uses `WATCH`; a caller that did would have to `UNWATCH` itself, as
/// the skipped check no longer does it for the next holder.
struct Manager {
    inner: deadpool_redis::Manager,
    /// How many times a connection was checked with a round trip before being handed out.
    checks: Arc<AtomicU64>,
}

impl managed::Manager for Manager {
    type Type = Link;
    type Error = RedisError;

    async fn create(&self) -> Result<Link, RedisError> {
        let conn = managed::Manager::create(&self.inner).await?;
        Ok(Link {
            conn,
            broken: false,
        })
    }

    async fn recycle(&self, link: &mut Link, metrics: &Metrics) -> RecycleResult<RedisError> {
        if link.broken {
            return Err(RecycleError::message("the connection failed"));
        }
        if metrics.last_used() < RECENTLY_USED {
            return Ok(());
        }
        self.checks.fetch_add(1, Ordering::Relaxed);
        managed::Manager::recycle(&self.inner, &mut link.conn, metrics).await
    }
}

impl Link {
    fn note<T>(&mut self, result: &Result<T, RedisError>) {
        if let Err(error) = result
            && (error.is_unrecoverable_error()
                || error.is_io_error()
                || error.is_connection_dropped()
                || error.is_timeout())
        {
            self.broken = true;
        }
    }
}

/// A connection taken from the pool; it goes back when dropped.
pub struct Connection(managed::Object<Manager>);

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("broken", &self.0.broken)
            .finish_non_exhaustive()
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let link: &'a mut Link = &mut self.0;
        Box::pin(async move {
            let result = link.conn.req_packed_command(cmd).await;
            link.note(&result);
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let link: &'a mut Link = &mut self.0;
        Box::pin(async move {
            let result = link.conn.req_packed_commands(pipeline, offset, count).await;
            link.note(&result);
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.0.conn.get_db()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot build the Redis pool: {0}")]
    Build(String),
    #[error("Redis is unavailable: {0}")]
    Pool(#[from] managed::PoolError<RedisError>),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// Where a key stands in its window after one more hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCount {
    /// Hits in the current window, this one included.
    pub hits: u32,
    /// Seconds until the window ends (at least 1): what `Retry-After` says.
    pub resets_in_secs: i64,
}

#[derive(Clone)]
pub struct Cache {
    /// The pool of every thread that has none of its own.
    pool: Pool,
    /// What each single-threaded event loop builds its own pool from.
    settings: Arc<PoolSettings>,
    prefix: String,
    checks: Arc<AtomicU64>,
}

/// What a pool is built from; its address tells which [`Cache`] a thread's pool serves.
struct PoolSettings {
    url: String,
    max_size: usize,
}

/// A thread's own pools (see [`Cache::connection`]): those of the event loop it runs, one per
/// [`Cache`] it used.
struct ThreadPools {
    /// The event loop they serve: their connections' readers are its tasks.
    runtime: Option<tokio::runtime::Id>,
    pools: Vec<(Weak<PoolSettings>, Pool)>,
}

thread_local! {
    /// This thread's own pools. A cache dropped everywhere drops its pool here at this
    /// thread's next use of any; a thread that runs another event loop starts afresh.
    static THREAD_POOLS: RefCell<ThreadPools> =
        const { RefCell::new(ThreadPools { runtime: None, pools: Vec::new() }) };
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// A pool of at most `settings.max_size` connections, each checked only when idle a while
/// (see [`Manager`]), the one used last handed out first.
fn build_pool(settings: &PoolSettings, checks: &Arc<AtomicU64>) -> Result<Pool, CacheError> {
    let inner = deadpool_redis::Manager::new(settings.url.as_str())
        .map_err(|e| CacheError::Build(e.to_string()))?;
    let timeout = Some(Duration::from_secs(2));
    let manager = Manager {
        inner,
        checks: checks.clone(),
    };
    Pool::builder(manager)
        .config(PoolConfig {
            max_size: settings.max_size,
            timeouts: Timeouts {
                wait: timeout,
                create: timeout,
                recycle: timeout,
            },
            // The connection used last is handed out first: under light load one
            // connection stays in use (and unchecked) rather than each in turn
            // idling past `RECENTLY_USED`.
            queue_mode: QueueMode::Lifo,
        })
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| CacheError::Build(e.to_string()))
}

impl Cache {
    /// Builds the pool; connections open lazily, so a service starts while Redis is down.
    pub fn new(settings: &RedisSettings) -> Result<Self, CacheError> {
        let checks = Arc::new(AtomicU64::new(0));
        let pool_settings = Arc::new(PoolSettings {
            url: settings.url.expose_secret().to_owned(),
            max_size: settings.max_connections,
        });
        Ok(Self {
            pool: build_pool(&pool_settings, &checks)?,
            settings: pool_settings,
            prefix: settings.prefix.clone(),
            checks,
        })
    }

    /// The pool this thread takes its connections from: its own when it runs a
    /// single-threaded event loop, the shared one otherwise (and while the thread ends).
    fn pool(&self) -> Result<Pool, CacheError> {
        let Some(runtime) = tokio::runtime::Handle::try_current()
            .ok()
            .filter(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread)
            .map(|h| h.id())
        else {
            return Ok(self.pool.clone());
        };
        THREAD_POOLS
            .try_with(|mine| {
                let mut mine = mine.borrow_mut();
                if mine.runtime != Some(runtime) {
                    // Connections of an event loop this thread no longer runs: their readers
                    // are gone with it.
                    *mine = ThreadPools {
                        runtime: Some(runtime),
                        pools: Vec::new(),
                    };
                }
                mine.pools.retain(|(owner, _)| owner.strong_count() > 0);
                let this = Arc::as_ptr(&self.settings);
                if let Some((_, pool)) = mine.pools.iter().find(|(owner, _)| owner.as_ptr() == this)
                {
                    return Ok(pool.clone());
                }
                let pool = build_pool(&self.settings, &self.checks)?;
                mine.pools
                    .push((Arc::downgrade(&self.settings), pool.clone()));
                Ok(pool)
            })
            .unwrap_or_else(|_| Ok(self.pool.clone()))
    }

    /// `<prefix>:<rest>`.
    pub fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// How many times the pool asked Redis whether an idle connection still stood before
    /// handing it out (see [`Manager`]).
    pub fn connection_checks(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }

    /// A connection of this thread's pool. A multiplexed connection's reader runs as a task
    /// of the event loop that opened it: a request served by one of the gateway's HTTP
    /// workers (each a single-threaded event loop) with a connection opened by another woke
    /// that other worker twice per round trip. So each single-threaded event loop takes
    /// connections from a pool of its own (of `redis.max_connections` at most, like the
    /// shared pool that serves every other thread). Measured (`boom-bench --only api`, six
    /// alternated pairs): the booth list as the dashboard asks it, 31.6k requests per second
    /// against 28.2k with one pool shared by the workers.
    pub async fn connection(&self) -> Result<Connection, CacheError> {
        Ok(Connection(self.pool()?.get().await?))
    }

    /// Counts one more hit of `key` in a fixed window of `window` that starts at its first
    /// hit (`<prefix>:ratelimit:<key>`): the rate limiter of sign-ins and agent syncs.
    pub async fn count_in_window(
        &self,
        key: &str,
        window: Duration,
    ) -> Result<WindowCount, CacheError> {
        let mut conn = self.connection().await?;
        let key = self.key(&format!("ratelimit:{key}"));
        let (hits, ttl): (u32, i64) = redis::pipe()
            .atomic()
            .cmd("INCR")
            .arg(&key)
            .cmd("EXPIRE")
            .arg(&key)
            .arg(window.as_secs().max(1))
            .arg("NX")
            .ignore()
            .cmd("TTL")
            .arg(&key)
            .query_async(&mut conn)
            .await?;
        Ok(WindowCount {
            hits,
            resets_in_secs: ttl.max(1),
        })
    }

    /// The hits of `key` in its current window, without counting one more.
    pub async fn window_hits(&self, key: &str) -> Result<u32, CacheError> {
        let mut conn = self.connection().await?;
        let hits: Option<u32> = redis::cmd("GET")
            .arg(self.key(&format!("ratelimit:{key}")))
            .query_async(&mut conn)
            .await?;
        Ok(hits.unwrap_or(0))
    }

    /// Forgets the hits of `key` (a successful sign-in clears its failures).
    pub async fn reset_window(&self, key: &str) -> Result<(), CacheError> {
        let mut conn = self.connection().await?;
        let _: () = redis::cmd("DEL")
            .arg(self.key(&format!("ratelimit:{key}")))
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// `PING`: what health checks ask.
    pub async fn ping(&self) -> Result<(), CacheError> {
        let mut conn = self.connection().await?;
        let _pong: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }
}
