//! The agent's local buffer: one SQLite file in `agent.data_dir`.
//!
//! Every trigger is committed here before dslrBooth gets its answer. Sending works in
//! batches that are *assigned* in a transaction (rows get the batch id, the batch row keeps
//! the paper level and speed test of that moment) and *deleted* only after ingest
//! acknowledged the batch; a batch assigned but not acknowledged is sent again, identical,
//! with the same id, so ingest counts it once whatever happened in between (the agent killed,
//! the link down, the answer lost). SQLite runs in WAL mode with `synchronous=FULL`: a booth
//! PC unplugged mid-write loses nothing it had acknowledged.
//!
//! # Layout
//!
//! - `mod.rs`: the schema, opening the file, [`Store`] itself and its [`Status`].
//! - `batches`: triggers ([`MediaLine`]), the batches they are sent in
//!   ([`PendingBatch`]) and the speed tests that ride along.
//! - `paper`: the roll: the counter, its count-down on prints, and new rolls (put in here or
//!   declared on the dashboard).
//! - `pairing`: what `boom-agent pair` gave the agent (ingest's URL, hostname, key).
//! - `settings`: the key-value table of small state, the shared query helpers, and the
//!   dashboard's speed test requests.

mod batches;
mod pairing;
mod paper;
mod settings;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use diesel::connection::SimpleConnection;
use diesel::sql_types::Text;
use diesel::{Connection, RunQueryDsl, SqliteConnection};

use settings::{count, setting};

pub use batches::{MediaLine, PendingBatch};
pub use pairing::Pairing;

pub const DATABASE_FILE: &str = "boom-agent.sqlite3";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS media (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT,
    count INTEGER NOT NULL CHECK (count > 0),
    occurred_at TEXT NOT NULL,
    event_type TEXT NOT NULL,
    params TEXT NOT NULL,
    batch_id TEXT
);
CREATE INDEX IF NOT EXISTS media_batch ON media (batch_id, id);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    paper_level INTEGER,
    speedtest TEXT,
    rejected TEXT
);
CREATE TABLE IF NOT EXISTS speed_tests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    download REAL NOT NULL,
    upload REAL NOT NULL,
    ping REAL NOT NULL,
    measured_at TEXT NOT NULL,
    batch_id TEXT
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS prints (
    occurred_us INTEGER NOT NULL,
    copies INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS prints_occurred ON prints (occurred_us);
";

/// Columns added after the first release, for buffers created by an older agent.
const UPGRADES: &[(&str, &str)] = &[(
    "batches",
    "ALTER TABLE batches ADD COLUMN paper_reset_at TEXT",
)];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("local storage: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("local storage is unavailable")]
    Poisoned,
    #[error("local storage task failed: {0}")]
    Task(String),
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Media lines not yet acknowledged by ingest.
    pub backlog: i64,
    /// Lines of the batch being sent, if any.
    pub in_flight: i64,
    /// Lines of batches ingest refused (kept, not sent again).
    pub quarantined: i64,
    pub unknown_events: i64,
    pub paper_remaining: i64,
    /// When the paper counter was last reset (here or on the dashboard).
    pub paper_reset_at: Option<String>,
    pub last_sync: Option<String>,
    /// The booth this agent was paired with (`boom-agent pair`), if it was.
    pub paired_as: Option<String>,
    pub database: String,
}

/// The local buffer. Cheap to clone; calls run on the blocking pool.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<SqliteConnection>>,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (or creates) the buffer in `dir`; a new buffer starts with a full roll.
    pub fn open(dir: &Path, paper_capacity: i64) -> Result<Self, StoreError> {
        let path = dir.join(DATABASE_FILE);
        let fail = |reason: String| StoreError::Open {
            path: path.clone(),
            reason,
        };
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        let mut conn = SqliteConnection::establish(&path.to_string_lossy())
            .map_err(|e| fail(e.to_string()))?;
        conn.batch_execute(
            // The busy timeout first: a buffer still closing in another connection (an agent
            // that was just stopped) holds its lock for a moment, and even switching to WAL waits.
            "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;",
        )
        .map_err(|e| fail(e.to_string()))?;
        conn.batch_execute(SCHEMA)
            .map_err(|e| fail(e.to_string()))?;
        for (table, upgrade) in UPGRADES {
            // SQLite has no ADD COLUMN IF NOT EXISTS: a duplicate column is what is expected
            // on every start after the first.
            if let Err(error) = conn.batch_execute(upgrade)
                && !error.to_string().contains("duplicate column")
            {
                return Err(fail(format!("upgrading {table}: {error}")));
            }
        }
        paper::open_roll(&mut conn, paper_capacity).map_err(|e| fail(e.to_string()))?;
        // Unknown events are kept a month for diagnosis.
        diesel::sql_query("DELETE FROM media WHERE kind IS NULL AND occurred_at < ?")
            .bind::<Text, _>((Utc::now() - chrono::Duration::days(30)).to_rfc3339())
            .execute(&mut conn)
            .map_err(|e| fail(e.to_string()))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn with<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().map_err(|_| StoreError::Poisoned)?;
            work(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    pub async fn status(&self) -> Result<Status, StoreError> {
        let database = self.path.display().to_string();
        self.with(move |conn| {
            Ok(Status {
                backlog: count(conn, "SELECT count(*) AS n FROM media WHERE kind IS NOT NULL AND (batch_id IS NULL OR batch_id NOT IN (SELECT batch_id FROM batches WHERE rejected IS NOT NULL))")?,
                in_flight: count(conn, "SELECT count(*) AS n FROM media WHERE batch_id IN (SELECT batch_id FROM batches WHERE rejected IS NULL)")?,
                quarantined: count(conn, "SELECT count(*) AS n FROM media WHERE batch_id IN (SELECT batch_id FROM batches WHERE rejected IS NOT NULL)")?,
                unknown_events: count(conn, "SELECT count(*) AS n FROM media WHERE kind IS NULL")?,
                paper_remaining: paper::remaining(conn)?,
                paper_reset_at: setting(conn, "paper_reset_at")?,
                last_sync: setting(conn, "last_sync_at")?,
                paired_as: setting(conn, "paired_hostname")?,
                database,
            })
        })
        .await
    }
}

/// A counted media line happening now, for the tests of every part of the store.
#[cfg(test)]
fn event(kind: boom_contracts::MediaType, count: i64) -> MediaLine {
    MediaLine {
        kind: Some(kind),
        count,
        event_type: "printing".into(),
        params: serde_json::json!({}),
        at: Utc::now(),
    }
}
