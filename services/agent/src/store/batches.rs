//! The buffer of triggers and the batches they are sent in: recording a trigger,
//! assigning the next batch (identical each time it is sent), forgetting or quarantining it
//! once ingest answered, and the speed tests that ride along.

use boom_contracts::MediaType;
use boom_contracts::agent::AgentStat;
use boom_contracts::messages::SpeedTestSample;
use chrono::{DateTime, Utc};
use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Double, Nullable, Text};
use uuid::Uuid;

use super::paper::{self, Roll};
use super::settings::{count, parse_time, set_setting, setting};
use super::{Store, StoreError};

/// What a trigger turned into.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaLine {
    /// `None` for an event type the agent does not count (kept for diagnosis, never sent).
    pub kind: Option<MediaType>,
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

impl Store {
    /// Commits the media lines of one trigger (and for prints, the paper counter) in one
    /// transaction, before the trigger is answered. Returns the paper left.
    pub async fn record(&self, events: Vec<MediaLine>) -> Result<i64, StoreError> {
        self.with(move |conn| {
            conn.immediate_transaction::<_, diesel::result::Error, _>(|conn| {
                let mut roll = Roll::read(conn)?;
                for event in &events {
                    diesel::sql_query(
                        "INSERT INTO media (kind, count, occurred_at, event_type, params) VALUES (?, ?, ?, ?, ?)",
                    )
                    .bind::<Nullable<Text>, _>(event.kind.map(MediaType::as_lowercase))
                    .bind::<BigInt, _>(event.count)
                    .bind::<Text, _>(event.at.to_rfc3339())
                    .bind::<Text, _>(&event.event_type)
                    .bind::<Text, _>(event.params.to_string())
                    .execute(conn)?;
                    if event.kind == Some(MediaType::Print) {
                        roll.print(conn, event.count, event.at)?;
                    }
                }
                roll.save(conn)
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
                        let paper_level = paper::remaining(conn)?;
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
                            kind: MediaType::from_lowercase(&r.kind)?,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::event;

    #[tokio::test]
    async fn a_batch_is_resent_identical_until_acknowledged()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("boom-agent-store-{}", Uuid::new_v4()));
        let store = Store::open(&dir, 700)?;
        assert_eq!(store.record(vec![event(MediaType::Print, 2)]).await?, 698);
        store.record(vec![event(MediaType::Session, 1)]).await?;
        let first = store.next_batch(10).await?.ok_or("no batch")?;
        assert_eq!((first.stats.len(), first.paper_level), (2, Some(698)));
        store.record(vec![event(MediaType::Gif, 1)]).await?;
        // Not acknowledged (the answer was lost): the same batch again, not the new line.
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
        store.record(vec![event(MediaType::Print, 1)]).await?;
        let bad = store.next_batch(10).await?.ok_or("no batch")?;
        store.quarantine(bad.batch_id, "refused".into()).await?;
        store.record(vec![event(MediaType::Photo, 1)]).await?;
        let next = store.next_batch(10).await?.ok_or("no batch")?;
        assert_ne!(next.batch_id, bad.batch_id);
        assert_eq!(store.status().await?.quarantined, 1);
        std::fs::remove_dir_all(dir)?;
        Ok(())
    }
}
