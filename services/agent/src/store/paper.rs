//! The paper roll: the counter of prints left, its count-down as prints are recorded (with
//! the print log that a later reset needs), a new roll put in here, and a new roll declared on
//! the dashboard (the roll minus what was printed since).

use boom_contracts::messages::PaperReset;
use chrono::{DateTime, Utc};
use diesel::sql_types::BigInt;
use diesel::{RunQueryDsl, SqliteConnection};

use super::settings::{Count, format_time, newer_than_setting, set_setting, setting};
use super::{Store, StoreError};

/// How long prints are remembered, to apply a reset declared on the dashboard while the
/// booth was offline.
const PRINT_LOG_DAYS: i64 = 30;

/// The prints left on the roll, as last saved.
pub(super) fn remaining(conn: &mut SqliteConnection) -> Result<i64, diesel::result::Error> {
    Ok(setting(conn, "paper_remaining")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

/// On opening the buffer: forget prints older than [`PRINT_LOG_DAYS`], and give a new buffer
/// a full roll of `paper_capacity`.
pub(super) fn open_roll(
    conn: &mut SqliteConnection,
    paper_capacity: i64,
) -> Result<(), diesel::result::Error> {
    diesel::sql_query("DELETE FROM prints WHERE occurred_us < ?")
        .bind::<BigInt, _>((Utc::now() - chrono::Duration::days(PRINT_LOG_DAYS)).timestamp_micros())
        .execute(conn)?;
    if setting(conn, "paper_remaining")?.is_none() {
        set_setting(conn, "paper_remaining", &paper_capacity.to_string())?;
    }
    Ok(())
}

/// The roll as one trigger's transaction counts it down: read once before its events, saved
/// once after them, and only when something was printed.
#[derive(Debug)]
pub(super) struct Roll {
    remaining: i64,
    printed: bool,
}

impl Roll {
    pub(super) fn read(conn: &mut SqliteConnection) -> Result<Self, diesel::result::Error> {
        Ok(Self {
            remaining: remaining(conn)?,
            printed: false,
        })
    }

    /// `copies` printed at `at`: that many fewer left (never below zero), and logged so that
    /// a reset declared on the dashboard before `at` subtracts them.
    pub(super) fn print(
        &mut self,
        conn: &mut SqliteConnection,
        copies: i64,
        at: DateTime<Utc>,
    ) -> Result<(), diesel::result::Error> {
        self.remaining = (self.remaining - copies).max(0);
        self.printed = true;
        diesel::sql_query("INSERT INTO prints (occurred_us, copies) VALUES (?, ?)")
            .bind::<BigInt, _>(at.timestamp_micros())
            .bind::<BigInt, _>(copies)
            .execute(conn)?;
        Ok(())
    }

    /// Saves the counter if anything was printed; returns the paper left.
    pub(super) fn save(self, conn: &mut SqliteConnection) -> Result<i64, diesel::result::Error> {
        if self.printed {
            set_setting(conn, "paper_remaining", &self.remaining.to_string())?;
        }
        Ok(self.remaining)
    }
}

impl Store {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use boom_contracts::MediaType;
    use uuid::Uuid;

    use crate::store::{MediaLine, event};

    #[tokio::test]
    async fn a_roll_declared_on_the_dashboard_counts_the_prints_made_since()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("boom-agent-store-{}", Uuid::new_v4()));
        let store = Store::open(&dir, 700)?;
        let printed_at = |minutes: i64, count: i64| MediaLine {
            at: Utc::now() + chrono::Duration::minutes(minutes),
            ..event(MediaType::Print, count)
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
}
