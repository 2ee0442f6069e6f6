//! Redis for LE BOOM: sessions, rate limits and short caches. [`Cache`] is a deadpool-redis
//! pool plus the stack's key prefix (`BOOM__REDIS__PREFIX`), so that every key this stack
//! writes is `<prefix>:<kind>:<id>` and several stacks (or tests) share one Redis.
//!
//! Redis holds nothing that cannot be lost: the source of truth is PostgreSQL and JetStream.
//! Besides the pool it owns the one rate-limit mechanism of the stack ([`Cache::count_in_window`]):
//! callers choose the key, the window and the limit, and what to do when Redis is down.

use std::time::Duration;

use boom_config::{ExposeSecret, RedisSettings};
use deadpool_redis::{Config, Pool, PoolConfig, Runtime, Timeouts};
pub use deadpool_redis::{Connection, redis};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot build the Redis pool: {0}")]
    Build(String),
    #[error("Redis is unavailable: {0}")]
    Pool(#[from] deadpool_redis::PoolError),
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
    pool: Pool,
    prefix: String,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// Builds the pool; connections open lazily, so a service starts while Redis is down.
    pub fn new(settings: &RedisSettings) -> Result<Self, CacheError> {
        let mut config = Config::from_url(settings.url.expose_secret());
        let timeout = Some(Duration::from_secs(2));
        config.pool = Some(PoolConfig {
            max_size: settings.max_connections,
            timeouts: Timeouts {
                wait: timeout,
                create: timeout,
                recycle: timeout,
            },
            ..PoolConfig::default()
        });
        let pool = config
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| CacheError::Build(e.to_string()))?;
        Ok(Self {
            pool,
            prefix: settings.prefix.clone(),
        })
    }

    /// `<prefix>:<rest>`.
    pub fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub async fn connection(&self) -> Result<deadpool_redis::Connection, CacheError> {
        Ok(self.pool.get().await?)
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
