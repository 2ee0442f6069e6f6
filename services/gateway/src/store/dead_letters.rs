//! Dead letters: bus messages the gateway can never record, set aside by the bus (see
//! `consumers::dead_letters`) rather than retried for ever, kept byte for byte for admins to
//! read and, once the cause is fixed, to replay.

use boom_bus::DeadLetter;
use boom_db::models::{self, NewDeadLetter};
use boom_db::schema::dead_letters;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use schemars::JsonSchema;
use serde::Serialize;

/// PostgreSQL text cannot hold NUL: the reason is kept readable rather than refused.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace('\0', "\u{FFFD}")
}

/// Keeps a message set aside. The booth is read from the payload when it names one.
pub async fn insert(conn: &mut AsyncPgConnection, letter: &DeadLetter) -> QueryResult<()> {
    let photomaton_id = serde_json::from_slice::<serde_json::Value>(&letter.payload)
        .ok()
        .and_then(|v| v.get("photomatonId").and_then(serde_json::Value::as_i64))
        .and_then(|id| i32::try_from(id).ok());
    diesel::insert_into(dead_letters::table)
        .values(NewDeadLetter {
            stream: letter.stream.clone(),
            subject: letter.subject.clone(),
            photomaton_id,
            payload: letter.payload.clone(),
            reason: text(letter.reason.as_bytes()),
            deliveries: letter.deliveries,
        })
        .execute(conn)
        .await?;
    Ok(())
}

/// A dead letter as admins see it.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterView {
    pub id: i64,
    pub stream: String,
    pub subject: String,
    pub photomaton_id: Option<i32>,
    /// Why it can never be recorded (the database's message, or "undecodable: …").
    pub reason: String,
    pub deliveries: i64,
    /// The message as it came, as text (bytes that are not UTF-8 shown as �).
    pub payload: String,
    pub created_at: DateTime<Utc>,
}

impl From<models::DeadLetter> for DeadLetterView {
    fn from(d: models::DeadLetter) -> Self {
        Self {
            id: d.id,
            stream: d.stream,
            subject: d.subject,
            photomaton_id: d.photomaton_id,
            reason: d.reason,
            deliveries: d.deliveries,
            payload: String::from_utf8_lossy(&d.payload).into_owned(),
            created_at: d.created_at,
        }
    }
}

/// A page of dead letters, newest first: `limit + 1` rows after the id `after`.
pub async fn list(
    conn: &mut AsyncPgConnection,
    limit: i64,
    after: Option<i64>,
) -> QueryResult<Vec<models::DeadLetter>> {
    let mut query = dead_letters::table
        .order(dead_letters::id.desc())
        .limit(limit + 1)
        .select(models::DeadLetter::as_select())
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(dead_letters::id.lt(after));
    }
    query.load(conn).await
}

/// A dead letter's subject and bytes, to replay it; `None` when there is no such letter.
pub async fn find(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<(String, Vec<u8>)>> {
    dead_letters::table
        .find(id)
        .select((dead_letters::subject, dead_letters::payload))
        .first(conn)
        .await
        .optional()
}

/// Forgets a dead letter (replayed).
pub async fn delete(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<()> {
    diesel::delete(dead_letters::table.find(id))
        .execute(conn)
        .await?;
    Ok(())
}
