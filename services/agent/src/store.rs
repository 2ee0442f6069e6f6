//! The agent's local buffer: one SQLite file in `agent.data_dir`.
//!
//! Every trigger is committed here before dslrBooth gets its answer. Sending works in
//! batches that are *assigned* in a transaction (rows get the batch id, the batch row keeps
//! the paper level and speed test of that moment) and *deleted* only after ingest
//! acknowledged the batch; a batch assigned but not acknowledged is sent again, identical,
//! with the same id, so ingest counts it once whatever happened in between (the agent killed,
//! the link down, the answer lost). SQLite runs in WAL mode with `synchronous=FULL`: a booth
//! PC unplugged mid-write loses nothing it had acknowledged.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use boom_contracts::agent::{AgentMediaKind, AgentStat};
use boom_contracts::messages::{PaperReset, SpeedTestSample};
use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Double, Nullable, Text};
use diesel::{Connection, RunQueryDsl, SqliteConnection};
use uuid::Uuid;

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

/// How long prints are remembered, to apply a reset declared on the dashboard while the
/// booth was offline.
const PRINT_LOG_DAYS: i64 = 30;

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

/// What a trigger turned into.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaEvent {
    /// `None` for an event type the agent does not count (kept for diagnosis, never sent).
    pub kind: Option<AgentMediaKind>,
    pub count: i64,
    pub event_type: String,
    pub params: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// A batch ready to send, identical each time it is sent.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingBatch {
    pub batch_id: Uuid,
    pub stats: Vec<AgentStat>,
    pub paper_level: Option<i64>,
    /// The reset `paper_level` counts from (none before the first one).
    pub paper_reset_at: Option<DateTime<Utc>>,
    pub speedtest: Option<SpeedTestSample>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Media events not yet acknowledged by ingest.
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
    pub database: String,
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(diesel::QueryableByName)]
struct Value {
    #[diesel(sql_type = Text)]
    value: String,
}

#[derive(diesel::QueryableByName)]
struct BatchRow {
    #[diesel(sql_type = Text)]
    batch_id: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    paper_level: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    paper_reset_at: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    speedtest: Option<String>,
}

#[derive(diesel::QueryableByName)]
struct MediaRow {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    count: i64,
    #[diesel(sql_type = Text)]
    occurred_at: String,
}

#[derive(diesel::QueryableByName)]
struct SpeedRow {
    #[diesel(sql_type = Double)]
    download: f64,
    #[diesel(sql_type = Double)]
    upload: f64,
    #[diesel(sql_type = Double)]
    ping: f64,
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

fn count(conn: &mut SqliteConnection, sql: &str) -> Result<i64, diesel::result::Error> {
    Ok(diesel::sql_query(sql).get_result::<Count>(conn)?.n)
}

fn setting(
    conn: &mut SqliteConnection,
    key: &str,
) -> Result<Option<String>, diesel::result::Error> {
    Ok(
        diesel::sql_query("SELECT value FROM settings WHERE key = ?")
            .bind::<Text, _>(key)
            .load::<Value>(conn)?
            .pop()
            .map(|v| v.value),
    )
}

fn set_setting(
    conn: &mut SqliteConnection,
    key: &str,
    value: &str,
) -> Result<(), diesel::result::Error> {
    diesel::sql_query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .bind::<Text, _>(key)
        .bind::<Text, _>(value)
        .execute(conn)?;
    Ok(())
}

/// Times kept in settings and batches: RFC 3339 in UTC, to the microsecond.
fn format_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.to_utc())
}

/// Whether `at` is later than the time kept under `key` (or nothing is kept yet). Compared to
/// the microsecond, like PostgreSQL, where the dashboard's times come from.
fn newer_than_setting(
    conn: &mut SqliteConnection,
    key: &str,
    at: DateTime<Utc>,
) -> Result<bool, diesel::result::Error> {
    let kept = setting(conn, key)?.as_deref().and_then(parse_time);
    Ok(kept.is_none_or(|kept| kept.timestamp_micros() < at.timestamp_micros()))
}

fn paper(conn: &mut SqliteConnection) -> Result<i64, diesel::result::Error> {
    Ok(setting(conn, "paper_remaining")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
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
        diesel::sql_query("DELETE FROM prints WHERE occurred_us < ?")
            .bind::<BigInt, _>(
                (Utc::now() - chrono::Duration::days(PRINT_LOG_DAYS)).timestamp_micros(),
            )
            .execute(&mut conn)
            .map_err(|e| fail(e.to_string()))?;
        if setting(&mut conn, "paper_remaining")
            .map_err(|e| fail(e.to_string()))?
            .is_none()
        {
            set_setting(&mut conn, "paper_remaining", &paper_capacity.to_string())
                .map_err(|e| fail(e.to_string()))?;
        }
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

    /// Commits the media events of one trigger (and for prints, the paper counter) in one
    /// transaction, before the trigger is answered. Returns the paper left.
    pub async fn record(&self, events: Vec<MediaEvent>) -> Result<i64, StoreError> {
        self.with(move |conn| {
            conn.immediate_transaction::<_, diesel::result::Error, _>(|conn| {
                let mut remaining = paper(conn)?;
                let mut printed = false;
                for event in &events {
                    diesel::sql_query(
                        "INSERT INTO media (kind, count, occurred_at, event_type, params) VALUES (?, ?, ?, ?, ?)",
                    )
                    .bind::<Nullable<Text>, _>(event.kind.map(AgentMediaKind::as_str))
                    .bind::<BigInt, _>(event.count)
                    .bind::<Text, _>(event.at.to_rfc3339())
                    .bind::<Text, _>(&event.event_type)
                    .bind::<Text, _>(event.params.to_string())
                    .execute(conn)?;
                    if event.kind == Some(AgentMediaKind::Print) {
                        remaining = (remaining - event.count).max(0);
                        printed = true;
                        diesel::sql_query("INSERT INTO prints (occurred_us, copies) VALUES (?, ?)")
                            .bind::<BigInt, _>(event.at.timestamp_micros())
                            .bind::<BigInt, _>(event.count)
                            .execute(conn)?;
                    }
                }
                if printed {
                    set_setting(conn, "paper_remaining", &remaining.to_string())?;
                }
                Ok(remaining)
            })
            .map_err(StoreError::from)
        })
        .await
    }

    /// The batch to send now: the one already assigned and not acknowledged, else a new one
    /// of at most `max` lines (with the latest speed test not yet sent). `None` when there
    /// is nothing to send.
    pub async fn next_batch(&self, max: usize) -> Result<Option<PendingBatch>, StoreError> {
        self.with(move |conn| {
            conn.immediate_transaction::<_, diesel::result::Error, _>(|conn| {
                let open: Option<BatchRow> = diesel::sql_query(
                    "SELECT batch_id, paper_level, paper_reset_at, speedtest FROM batches WHERE rejected IS NULL ORDER BY created_at LIMIT 1",
                )
                .load::<BatchRow>(conn)?
                .pop();
                let batch = match open {
                    Some(batch) => batch,
                    None => {
                        let waiting = count(conn, "SELECT count(*) AS n FROM media WHERE batch_id IS NULL AND kind IS NOT NULL")?;
                        let speed: Option<SpeedRow> = diesel::sql_query(
                            "SELECT download, upload, ping FROM speed_tests WHERE batch_id IS NULL ORDER BY id DESC LIMIT 1",
                        )
                        .load::<SpeedRow>(conn)?
                        .pop();
                        if waiting == 0 && speed.is_none() {
                            return Ok(None);
                        }
                        let batch_id = Uuid::new_v4().to_string();
                        let speedtest = speed.as_ref().map(|s| {
                            serde_json::json!({"download": s.download, "upload": s.upload, "ping": s.ping}).to_string()
                        });
                        let paper_level = paper(conn)?;
                        let paper_reset_at = setting(conn, "paper_reset_at")?;
                        diesel::sql_query("INSERT INTO batches (batch_id, created_at, paper_level, paper_reset_at, speedtest) VALUES (?, ?, ?, ?, ?)")
                            .bind::<Text, _>(&batch_id)
                            .bind::<Text, _>(Utc::now().to_rfc3339())
                            .bind::<BigInt, _>(paper_level)
                            .bind::<Nullable<Text>, _>(&paper_reset_at)
                            .bind::<Nullable<Text>, _>(&speedtest)
                            .execute(conn)?;
                        diesel::sql_query(
                            "UPDATE media SET batch_id = ? WHERE id IN \
                             (SELECT id FROM media WHERE batch_id IS NULL AND kind IS NOT NULL ORDER BY id LIMIT ?)",
                        )
                        .bind::<Text, _>(&batch_id)
                        .bind::<BigInt, _>(i64::try_from(max).unwrap_or(i64::MAX))
                        .execute(conn)?;
                        // Every speed test measured so far is settled by this batch's one.
                        diesel::sql_query("UPDATE speed_tests SET batch_id = ? WHERE batch_id IS NULL")
                            .bind::<Text, _>(&batch_id)
                            .execute(conn)?;
                        BatchRow { batch_id, paper_level: Some(paper_level), paper_reset_at, speedtest }
                    }
                };
                let rows: Vec<MediaRow> =
                    diesel::sql_query("SELECT kind, count, occurred_at FROM media WHERE batch_id = ? ORDER BY id")
                        .bind::<Text, _>(&batch.batch_id)
                        .load(conn)?;
                let stats = rows
                    .into_iter()
                    .filter_map(|r| {
                        Some(AgentStat {
                            kind: AgentMediaKind::parse(&r.kind)?,
                            count: r.count,
                            timestamp: DateTime::parse_from_rfc3339(&r.occurred_at).ok()?.to_utc(),
                        })
                    })
                    .collect();
                Ok(Some(PendingBatch {
                    batch_id: batch.batch_id.parse().unwrap_or_default(),
                    stats,
                    paper_level: batch.paper_level,
                    paper_reset_at: batch.paper_reset_at.as_deref().and_then(parse_time),
                    speedtest: batch.speedtest.and_then(|s| serde_json::from_str(&s).ok()),
                }))
            })
            .map_err(StoreError::from)
        })
        .await
    }

    /// Ingest has the batch: forget it.
    pub async fn acknowledge(&self, batch_id: Uuid) -> Result<(), StoreError> {
        self.with(move |conn| {
            conn.immediate_transaction::<_, diesel::result::Error, _>(|conn| {
                let id = batch_id.to_string();
                diesel::sql_query("DELETE FROM media WHERE batch_id = ?")
                    .bind::<Text, _>(&id)
                    .execute(conn)?;
                diesel::sql_query("DELETE FROM speed_tests WHERE batch_id = ?")
                    .bind::<Text, _>(&id)
                    .execute(conn)?;
                diesel::sql_query("DELETE FROM batches WHERE batch_id = ?")
                    .bind::<Text, _>(&id)
                    .execute(conn)?;
                set_setting(conn, "last_sync_at", &Utc::now().to_rfc3339())
            })
            .map_err(StoreError::from)
        })
        .await
    }

    /// Ingest refused the batch for good (it will never be valid): keep it aside, so that
    /// the rest keeps flowing and an operator can look at it.
    pub async fn quarantine(&self, batch_id: Uuid, reason: String) -> Result<(), StoreError> {
        self.with(move |conn| {
            diesel::sql_query("UPDATE batches SET rejected = ? WHERE batch_id = ?")
                .bind::<Text, _>(reason)
                .bind::<Text, _>(batch_id.to_string())
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    pub async fn add_speed_test(&self, sample: SpeedTestSample) -> Result<(), StoreError> {
        self.with(move |conn| {
            diesel::sql_query(
                "INSERT INTO speed_tests (download, upload, ping, measured_at) VALUES (?, ?, ?, ?)",
            )
            .bind::<Double, _>(sample.download)
            .bind::<Double, _>(sample.upload)
            .bind::<Double, _>(sample.ping)
            .bind::<Text, _>(Utc::now().to_rfc3339())
            .execute(conn)?;
            Ok(())
        })
        .await
    }

    /// A new roll put in here, now (`boom-agent paper-reset`).
    pub async fn reset_paper(&self, prints: i64) -> Result<(), StoreError> {
        self.with(move |conn| {
            conn.immediate_transaction::<_, diesel::result::Error, _>(|conn| {
                set_setting(conn, "paper_remaining", &prints.max(0).to_string())?;
                set_setting(conn, "paper_reset_at", &format_time(Utc::now()))
            })
            .map_err(StoreError::from)
        })
        .await
    }

    /// A new roll declared on the dashboard, learnt from ingest's answer: the roll minus what
    /// was printed here since it was declared. Returns the paper left when it was newer than
    /// the last reset applied here, `None` when it was already known.
    pub async fn apply_reset(&self, reset: PaperReset) -> Result<Option<i64>, StoreError> {
        self.with(move |conn| {
            conn.immediate_transaction::<_, diesel::result::Error, _>(|conn| {
                if !newer_than_setting(conn, "paper_reset_at", reset.at)? {
                    return Ok(None);
                }
                let printed: i64 = diesel::sql_query(
                    "SELECT coalesce(sum(copies), 0) AS n FROM prints WHERE occurred_us >= ?",
                )
                .bind::<BigInt, _>(reset.at.timestamp_micros())
                .get_result::<Count>(conn)?
                .n;
                let remaining = (i64::from(reset.prints) - printed).max(0);
                set_setting(conn, "paper_remaining", &remaining.to_string())?;
                set_setting(conn, "paper_reset_at", &format_time(reset.at))?;
                Ok(Some(remaining))
            })
            .map_err(StoreError::from)
        })
        .await
    }

    /// Whether a speed test request from the dashboard is newer than the last one taken.
    pub async fn speed_test_requested_since(&self, at: DateTime<Utc>) -> Result<bool, StoreError> {
        self.with(move |conn| Ok(newer_than_setting(conn, "speed_test_requested_at", at)?))
            .await
    }

    /// Records a speed test request from the dashboard as done; true when it is newer than the
    /// last one taken (so that each request runs one test, however often it is polled).
    pub async fn take_speed_test_request(&self, at: DateTime<Utc>) -> Result<bool, StoreError> {
        self.with(move |conn| {
            conn.immediate_transaction::<_, diesel::result::Error, _>(|conn| {
                if !newer_than_setting(conn, "speed_test_requested_at", at)? {
                    return Ok(false);
                }
                set_setting(conn, "speed_test_requested_at", &format_time(at))?;
                Ok(true)
            })
            .map_err(StoreError::from)
        })
        .await
    }

    /// Media events not yet in a batch: what decides whether the sender leaves early.
    pub async fn unbatched(&self) -> Result<i64, StoreError> {
        self.with(|conn| {
            Ok(count(
                conn,
                "SELECT count(*) AS n FROM media WHERE batch_id IS NULL AND kind IS NOT NULL",
            )?)
        })
        .await
    }

    pub async fn status(&self) -> Result<Status, StoreError> {
        let database = self.path.display().to_string();
        self.with(move |conn| {
            Ok(Status {
                backlog: count(conn, "SELECT count(*) AS n FROM media WHERE kind IS NOT NULL AND (batch_id IS NULL OR batch_id NOT IN (SELECT batch_id FROM batches WHERE rejected IS NOT NULL))")?,
                in_flight: count(conn, "SELECT count(*) AS n FROM media WHERE batch_id IN (SELECT batch_id FROM batches WHERE rejected IS NULL)")?,
                quarantined: count(conn, "SELECT count(*) AS n FROM media WHERE batch_id IN (SELECT batch_id FROM batches WHERE rejected IS NOT NULL)")?,
                unknown_events: count(conn, "SELECT count(*) AS n FROM media WHERE kind IS NULL")?,
                paper_remaining: paper(conn)?,
                paper_reset_at: setting(conn, "paper_reset_at")?,
                last_sync: setting(conn, "last_sync_at")?,
                database,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: AgentMediaKind, count: i64) -> MediaEvent {
        MediaEvent {
            kind: Some(kind),
            count,
            event_type: "printing".into(),
            params: serde_json::json!({}),
            at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn a_batch_is_resent_identical_until_acknowledged()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("boom-agent-store-{}", Uuid::new_v4()));
        let store = Store::open(&dir, 700)?;
        assert_eq!(
            store.record(vec![event(AgentMediaKind::Print, 2)]).await?,
            698
        );
        store
            .record(vec![event(AgentMediaKind::Session, 1)])
            .await?;
        let first = store.next_batch(10).await?.ok_or("no batch")?;
        assert_eq!((first.stats.len(), first.paper_level), (2, Some(698)));
        store.record(vec![event(AgentMediaKind::Gif, 1)]).await?;
        // Not acknowledged (the answer was lost): the same batch again, not the new event.
        assert_eq!(store.next_batch(10).await?.as_ref(), Some(&first));
        // Reopened after a crash: still the same.
        drop(store);
        let store = Store::open(&dir, 700)?;
        assert_eq!(store.next_batch(10).await?.as_ref(), Some(&first));
        store.acknowledge(first.batch_id).await?;
        let second = store.next_batch(10).await?.ok_or("no second batch")?;
        assert_ne!(second.batch_id, first.batch_id);
        assert_eq!(second.stats.len(), 1);
        store.acknowledge(second.batch_id).await?;
        assert_eq!(store.next_batch(10).await?, None);
        let status = store.status().await?;
        assert_eq!((status.backlog, status.paper_remaining), (0, 698));
        assert!(status.last_sync.is_some());
        std::fs::remove_dir_all(dir)?;
        Ok(())
    }

    #[tokio::test]
    async fn a_quarantined_batch_does_not_block_the_rest() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = std::env::temp_dir().join(format!("boom-agent-store-{}", Uuid::new_v4()));
        let store = Store::open(&dir, 700)?;
        store.record(vec![event(AgentMediaKind::Print, 1)]).await?;
        let bad = store.next_batch(10).await?.ok_or("no batch")?;
        store.quarantine(bad.batch_id, "refused".into()).await?;
        store.record(vec![event(AgentMediaKind::Photo, 1)]).await?;
        let next = store.next_batch(10).await?.ok_or("no batch")?;
        assert_ne!(next.batch_id, bad.batch_id);
        assert_eq!(store.status().await?.quarantined, 1);
        std::fs::remove_dir_all(dir)?;
        Ok(())
    }

    #[tokio::test]
    async fn a_roll_declared_on_the_dashboard_counts_the_prints_made_since()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("boom-agent-store-{}", Uuid::new_v4()));
        let store = Store::open(&dir, 700)?;
        let printed_at = |minutes: i64, count: i64| MediaEvent {
            at: Utc::now() + chrono::Duration::minutes(minutes),
            ..event(AgentMediaKind::Print, count)
        };
        // 600 prints on the old roll, then the roll is changed (declared on the dashboard at
        // `at`) while the booth is offline, and 3 more are printed on the new one.
        store.record(vec![printed_at(-60, 600)]).await?;
        let at = Utc::now() - chrono::Duration::minutes(10);
        store.record(vec![printed_at(-5, 3)]).await?;
        assert_eq!(store.status().await?.paper_remaining, 97);
        let before = store.next_batch(10).await?.ok_or("no batch")?;
        assert_eq!(
            (before.paper_level, before.paper_reset_at),
            (Some(97), None)
        );

        let reset = PaperReset { at, prints: 700 };
        assert_eq!(store.apply_reset(reset).await?, Some(697));
        // Said again by the next answers: already applied.
        assert_eq!(store.apply_reset(reset).await?, None);
        // An older reset never undoes a newer one.
        let older = PaperReset {
            at: at - chrono::Duration::hours(1),
            prints: 10,
        };
        assert_eq!(store.apply_reset(older).await?, None);
        assert_eq!(store.status().await?.paper_remaining, 697);

        store.acknowledge(before.batch_id).await?;
        store.record(vec![printed_at(0, 1)]).await?;
        let after = store.next_batch(10).await?.ok_or("no batch")?;
        assert_eq!(after.paper_level, Some(696));
        assert_eq!(
            after.paper_reset_at.map(|t| t.timestamp_micros()),
            Some(at.timestamp_micros())
        );

        // A roll changed here, later, wins over the dashboard's.
        store.reset_paper(500).await?;
        assert_eq!(store.apply_reset(reset).await?, None);
        assert_eq!(store.status().await?.paper_remaining, 500);
        std::fs::remove_dir_all(dir)?;
        Ok(())
    }

    #[tokio::test]
    async fn a_speed_test_request_waits_until_one_is_measured_then_is_done_once()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("boom-agent-store-{}", Uuid::new_v4()));
        let store = Store::open(&dir, 700)?;
        let at = Utc::now();
        // A failed measurement takes nothing: the next poll still sees the request.
        assert!(store.speed_test_requested_since(at).await?);
        assert!(store.speed_test_requested_since(at).await?);
        assert!(store.take_speed_test_request(at).await?);
        assert!(!store.speed_test_requested_since(at).await?);
        assert!(!store.take_speed_test_request(at).await?);
        // An older request never comes back; a newer one does.
        assert!(
            !store
                .speed_test_requested_since(at - chrono::Duration::minutes(1))
                .await?
        );
        assert!(
            store
                .speed_test_requested_since(at + chrono::Duration::minutes(1))
                .await?
        );
        std::fs::remove_dir_all(dir)?;
        Ok(())
    }
}
