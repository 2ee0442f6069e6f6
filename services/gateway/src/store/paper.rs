//! Paper: the roll in a booth's printer. Owns the thresholds (ok / warning / critical), a
//! new roll declared on the dashboard, the history of levels, and what an agent's batch does
//! to the level ([`PaperUpdate`]; the recorder writes it with the rest of the booth's columns,
//! in `store::batches`).
//!
//! Two clocks count the same roll. The agent counts down on the booth and reports its level
//! in each batch, stamped with the reset its counter started from (`paperResetAt`). A new
//! roll declared on the dashboard sets `paper_reset_at/_prints`; the agent learns of it on
//! its next sync or poll. Until then its level is of the old roll: the recorder counts the
//! batch's prints (stamped after the reset) down from the dashboard's level instead, so the
//! gauge never jumps back.

use std::collections::HashMap;

use boom_contracts::messages::AgentBatchAccepted;
use boom_contracts::{MediaType, PhotomatonId};
use boom_db::models::Photomaton;
use boom_db::schema::{paper_levels, photomatons};
use chrono::{DateTime, Utc};
use diesel::result::QueryResult;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use schemars::JsonSchema;
use serde::Serialize;

/// Paper left on the roll, against the booth's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PaperState {
    Ok,
    Warning,
    Critical,
}

impl PaperState {
    pub fn from_level(remaining: i32, warning: i32, critical: i32) -> Self {
        if remaining <= critical {
            PaperState::Critical
        } else if remaining <= warning {
            PaperState::Warning
        } else {
            PaperState::Ok
        }
    }

    pub fn of(booth: &Photomaton) -> Self {
        Self::from_level(
            booth.remaining_prints,
            booth.warning_threshold,
            booth.critical_threshold,
        )
    }
}

/// One point of a booth's paper history.
#[derive(Debug, Serialize, JsonSchema, diesel::Queryable)]
#[serde(rename_all = "camelCase")]
pub struct PaperLevelView {
    #[serde(skip)]
    pub id: i64,
    pub at: DateTime<Utc>,
    pub remaining_prints: i32,
}

/// What declaring a new roll did.
#[derive(Debug)]
pub enum Reset {
    Done(Box<Photomaton>),
    NoSuchBooth,
    /// More prints than the booth's printer holds.
    MoreThanCapacity(i32),
}

/// A new roll of `remaining` prints (default the booth's capacity, never more), declared now.
pub async fn reset(
    conn: &mut AsyncPgConnection,
    id: PhotomatonId,
    remaining: Option<i32>,
) -> QueryResult<Reset> {
    let capacity: Option<i32> = photomatons::table
        .find(id)
        .select(photomatons::paper_capacity)
        .first(conn)
        .await
        .optional()?;
    let Some(capacity) = capacity else {
        return Ok(Reset::NoSuchBooth);
    };
    let remaining = remaining.unwrap_or(capacity);
    if remaining > capacity {
        return Ok(Reset::MoreThanCapacity(capacity));
    }
    let now = Utc::now();
    diesel::update(photomatons::table.find(id))
        .set((
            photomatons::remaining_prints.eq(remaining),
            photomatons::last_print_update.eq(Some(now)),
            photomatons::paper_reset_at.eq(Some(now)),
            photomatons::paper_reset_prints.eq(Some(remaining)),
            // A level an agent counted before now is of the old roll.
            photomatons::paper_observed_at.eq(Some(now)),
        ))
        .returning(Photomaton::as_returning())
        .get_result(conn)
        .await
        .map(|booth| Reset::Done(Box::new(booth)))
}

/// A page of the booth's paper levels, newest first: `limit + 1` rows after the id `after`.
pub async fn levels(
    conn: &mut AsyncPgConnection,
    id: PhotomatonId,
    limit: i64,
    after: Option<i64>,
) -> QueryResult<Vec<PaperLevelView>> {
    let mut query = paper_levels::table
        .filter(paper_levels::photomaton_id.eq(id))
        .order(paper_levels::id.desc())
        .limit(limit + 1)
        .select((paper_levels::id, paper_levels::at, paper_levels::remaining))
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(paper_levels::id.lt(after));
    }
    query.load(conn).await
}

/// The last roll declared on the dashboard of each of `ids` that exists, locked until the
/// transaction ends (in id order, like every writer of several booths): a roll declared
/// meanwhile waits, then counts from what the transaction wrote, instead of being
/// overwritten by a level decided before it.
pub async fn lock_resets(
    conn: &mut AsyncPgConnection,
    ids: &[PhotomatonId],
) -> QueryResult<HashMap<PhotomatonId, Option<DateTime<Utc>>>> {
    Ok(photomatons::table
        .filter(photomatons::id.eq_any(ids))
        .order(photomatons::id)
        .for_update()
        .select((photomatons::id, photomatons::paper_reset_at))
        .load::<(PhotomatonId, Option<DateTime<Utc>>)>(conn)
        .await?
        .into_iter()
        .collect())
}

/// What a booth's latest batch does to its paper.
#[derive(Debug, PartialEq, Eq)]
pub enum PaperUpdate {
    /// The agent's level, counted from the last reset: it is the truth, unless a level
    /// observed later (a batch received later) was applied already.
    Level {
        level: i32,
        observed_at: DateTime<Utc>,
    },
    /// The agent still counts the roll before the reset declared on the dashboard at this
    /// time (it learns of it in the answer to this batch): count its prints down instead.
    CountDownSince(DateTime<Utc>),
    Unknown,
}

impl PaperUpdate {
    /// Decided from the booth's latest batch and the last roll declared on the dashboard.
    pub fn decide(latest: &AgentBatchAccepted, reset: Option<DateTime<Utc>>) -> Self {
        match (latest.paper_level, reset) {
            (Some(level), None) => Self::Level {
                level,
                observed_at: latest.received_at,
            },
            (Some(level), Some(reset)) if latest.paper_reset_at.is_some_and(|a| a >= reset) => {
                Self::Level {
                    level,
                    observed_at: latest.received_at,
                }
            }
            (_, Some(reset)) => Self::CountDownSince(reset),
            (None, None) => Self::Unknown,
        }
    }
}

/// Prints in `batches` stamped at or after `since`.
pub(crate) fn prints_since(batches: &[&AgentBatchAccepted], since: DateTime<Utc>) -> i32 {
    let prints: i64 = batches
        .iter()
        .flat_map(|b| &b.stats)
        .filter(|s| s.media_type == MediaType::Print && s.timestamp >= since)
        .map(|s| i64::from(s.count))
        .sum();
    i32::try_from(prints).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 6, day, hour, 0, 0)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn paper_state_follows_the_thresholds() {
        assert_eq!(PaperState::from_level(700, 350, 275), PaperState::Ok);
        assert_eq!(PaperState::from_level(350, 350, 275), PaperState::Warning);
        assert_eq!(PaperState::from_level(275, 350, 275), PaperState::Critical);
        assert_eq!(PaperState::from_level(0, 350, 275), PaperState::Critical);
    }

    #[test]
    fn a_level_counted_before_the_dashboards_reset_is_not_taken()
    -> Result<(), boom_contracts::domain::InvalidValue> {
        let hostname: boom_contracts::domain::Hostname = "b".parse()?;
        let batch = |level: Option<i32>, reset_at: Option<DateTime<Utc>>| AgentBatchAccepted {
            batch_id: uuid::Uuid::nil(),
            photomaton_id: PhotomatonId(1),
            hostname: hostname.clone(),
            stats: Vec::new(),
            paper_level: level,
            paper_reset_at: reset_at,
            speedtest: None,
            backlog: None,
            agent_version: None,
            received_at: at(13, 20),
            printer: None,
            refused: Vec::new(),
        };
        let decide = PaperUpdate::decide;
        let reset = at(13, 18);
        assert_eq!(
            decide(&batch(Some(90), None), None),
            PaperUpdate::Level {
                level: 90,
                observed_at: at(13, 20)
            }
        );
        assert_eq!(decide(&batch(None, None), None), PaperUpdate::Unknown);
        // The agent has not heard of the reset yet (an old agent never will).
        assert_eq!(
            decide(&batch(Some(90), None), Some(reset)),
            PaperUpdate::CountDownSince(reset)
        );
        assert_eq!(
            decide(&batch(Some(90), Some(at(12, 9))), Some(reset)),
            PaperUpdate::CountDownSince(reset)
        );
        assert_eq!(
            decide(&batch(None, None), Some(reset)),
            PaperUpdate::CountDownSince(reset)
        );
        // It applied it, or reset its own counter later.
        assert_eq!(
            decide(&batch(Some(690), Some(reset)), Some(reset)),
            PaperUpdate::Level {
                level: 690,
                observed_at: at(13, 20)
            }
        );
        assert_eq!(
            decide(&batch(Some(40), Some(at(13, 19))), Some(reset)),
            PaperUpdate::Level {
                level: 40,
                observed_at: at(13, 20)
            }
        );
        Ok(())
    }
}
