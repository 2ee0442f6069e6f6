//! Refused lines: stat lines stats-ingest refused one by one (a timestamp a booth's wrong
//! clock put more than 24 h ahead or over a year back, a count out of range) while the rest
//! of their batch was counted. Kept with the batch, shown on the booth page.

use boom_contracts::PhotomatonId;
use boom_contracts::messages::AgentBatchAccepted;
use boom_db::models::{NewRefusedLine, RefusedLine};
use boom_db::schema::refused_lines;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use schemars::JsonSchema;
use serde::Serialize;

/// Keeps the refused lines of `batches` (recorded now, so each is kept once).
pub async fn insert(
    mut conn: &AsyncPgConnection,
    batches: &[AgentBatchAccepted],
) -> QueryResult<()> {
    let rows: Vec<NewRefusedLine> = batches
        .iter()
        .flat_map(|b| {
            b.refused.iter().map(|r| NewRefusedLine {
                photomaton_id: b.photomaton_id,
                batch_id: b.batch_id,
                line_index: i32::try_from(r.index).unwrap_or(i32::MAX),
                reason: r.reason.replace('\0', ""),
                line: r.line.replace('\0', ""),
                received_at: b.received_at,
            })
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    // Six parameters a row, and PostgreSQL takes 65,535 per statement.
    for chunk in rows.chunks(5_000) {
        diesel::insert_into(refused_lines::table)
            .values(chunk)
            .on_conflict_do_nothing()
            .execute(&mut conn)
            .await?;
    }
    Ok(())
}

/// A refused line as the booth page shows it.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefusedLineView {
    pub id: i64,
    pub batch_id: uuid::Uuid,
    /// Its index in the batch's `stats`.
    pub index: i32,
    pub reason: String,
    /// The line as the agent sent it (JSON, cut to 1 KiB).
    pub line: String,
    pub received_at: DateTime<Utc>,
}

impl From<RefusedLine> for RefusedLineView {
    fn from(r: RefusedLine) -> Self {
        Self {
            id: r.id,
            batch_id: r.batch_id,
            index: r.line_index,
            reason: r.reason,
            line: r.line,
            received_at: r.received_at,
        }
    }
}

/// A page of a booth's refused lines, newest first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    booth: PhotomatonId,
    limit: i64,
    after: Option<i64>,
) -> QueryResult<Vec<RefusedLine>> {
    let mut query = refused_lines::table
        .filter(refused_lines::photomaton_id.eq(booth))
        .order(refused_lines::id.desc())
        .limit(limit + 1)
        .select(RefusedLine::as_select())
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(refused_lines::id.lt(after));
    }
    query.load(conn).await
}
