//! The `settings` table: a key-value store of the buffer's small state (the paper counter,
//! the last sync, the dashboard requests already taken), the query helpers the other modules
//! share, and the speed test requests remembered there.

use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Text};
use diesel::{RunQueryDsl, SqliteConnection};

use super::{Store, StoreError};

#[derive(diesel::QueryableByName)]
pub(super) struct Count {
    #[diesel(sql_type = BigInt)]
    pub(super) n: i64,
}

#[derive(diesel::QueryableByName)]
struct Value {
    #[diesel(sql_type = Text)]
    value: String,
}

pub(super) fn count(conn: &mut SqliteConnection, sql: &str) -> Result<i64, diesel::result::Error> {
    Ok(diesel::sql_query(sql).get_result::<Count>(conn)?.n)
}

pub(super) fn setting(
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

pub(super) fn set_setting(
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
pub(super) fn format_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

pub(super) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.to_utc())
}

/// Whether `at` is later than the time kept under `key` (or nothing is kept yet). Compared to
/// the microsecond, like PostgreSQL, where the dashboard's times come from.
pub(super) fn newer_than_setting(
    conn: &mut SqliteConnection,
    key: &str,
    at: DateTime<Utc>,
) -> Result<bool, diesel::result::Error> {
    let kept = setting(conn, key)?.as_deref().and_then(parse_time);
    Ok(kept.is_none_or(|kept| kept.timestamp_micros() < at.timestamp_micros()))
}

impl Store {
    /// Keeps a remote command's final report until ingest has it (it survives a restart).
    pub async fn save_command_report(
        &self,
        id: uuid::Uuid,
        report: String,
    ) -> Result<(), StoreError> {
        self.with(move |conn| Ok(set_setting(conn, &format!("command-report:{id}"), &report)?))
            .await
    }

    /// The final report kept for a command, not yet delivered.
    pub async fn command_report(&self, id: uuid::Uuid) -> Result<Option<String>, StoreError> {
        self.with(move |conn| Ok(setting(conn, &format!("command-report:{id}"))?))
            .await
    }

    /// Forgets a delivered report.
    pub async fn forget_command_report(&self, id: uuid::Uuid) -> Result<(), StoreError> {
        self.with(move |conn| {
            diesel::sql_query("DELETE FROM settings WHERE key = ?")
                .bind::<Text, _>(format!("command-report:{id}"))
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    /// Takes a remote command to run: true the first time only, so that a command listed by
    /// several polls (or after a restart) runs once.
    pub async fn take_command(&self, id: uuid::Uuid) -> Result<bool, StoreError> {
        self.with(move |conn| {
            conn.immediate_transaction::<_, diesel::result::Error, _>(|conn| {
                let key = format!("command:{id}");
                if setting(conn, &key)?.is_some() {
                    return Ok(false);
                }
                set_setting(conn, &key, &format_time(Utc::now()))?;
                Ok(true)
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

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
