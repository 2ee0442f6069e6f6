//! Alerts: recorded as boom-notifier opens and resolves them, acknowledged by people. A late
//! message never moves an alert back: resolved stays resolved, and a re-sent "open" keeps an
//! acknowledgement.

use boom_contracts::messages::{AlertChanged, AlertKind, AlertState};
use boom_contracts::{PhotomatonId, UserId};
use boom_db::models::Alert;
use boom_db::schema::alerts;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

/// Records an alert change; answers the alert as it now stands (`None` for an alert of a
/// booth deleted meanwhile).
pub async fn record(
    conn: &mut AsyncPgConnection,
    change: &AlertChanged,
) -> QueryResult<Option<Alert>> {
    let resolved = change.state == AlertState::Resolved;
    let photomaton = match change.photomaton_id {
        Some(id) => {
            let exists = diesel::select(diesel::dsl::exists(
                boom_db::schema::photomatons::table.find(id),
            ))
            .get_result::<bool>(conn)
            .await?;
            if !exists {
                return Ok(None);
            }
            Some(id)
        }
        None => None,
    };
    diesel::insert_into(alerts::table)
        .values((
            alerts::id.eq(change.alert_id),
            alerts::kind.eq(change.kind.as_str()),
            alerts::photomaton_id.eq(photomaton),
            alerts::state.eq(if resolved { "resolved" } else { "open" }),
            alerts::message.eq(&change.message),
            alerts::opened_at.eq(change.opened_at),
            alerts::resolved_at.eq(resolved.then_some(change.at)),
            alerts::updated_at.eq(Utc::now()),
        ))
        .on_conflict(alerts::id)
        .do_update()
        .set((
            // Resolved is final; otherwise an acknowledgement is kept.
            alerts::state.eq(diesel::dsl::sql::<diesel::sql_types::Text>(
                "CASE WHEN alerts.state = 'resolved' OR excluded.state = 'resolved' THEN 'resolved' ELSE alerts.state END",
            )),
            alerts::message.eq(excluded(alerts::message)),
            alerts::resolved_at.eq(diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>>(
                "coalesce(alerts.resolved_at, excluded.resolved_at)",
            )),
            alerts::updated_at.eq(Utc::now()),
        ))
        .returning(Alert::as_returning())
        .get_result(conn)
        .await
        .map(Some)
}

/// The state an alert is recorded in, if it is.
pub async fn state_of(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<String>> {
    alerts::table
        .find(id)
        .select(alerts::state)
        .first(conn)
        .await
        .optional()
}

/// What acknowledging did.
#[derive(Debug)]
pub enum Ack {
    Done(Alert),
    NoSuchAlert,
    /// Already resolved: nothing to acknowledge.
    Resolved,
}

/// `user` saw the alert: no more re-notifications (open → acknowledged; an acknowledged one
/// keeps its first acknowledgement).
pub async fn acknowledge(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    user: UserId,
    username: &str,
) -> QueryResult<Ack> {
    let updated = diesel::update(alerts::table.find(id).filter(alerts::state.eq("open")))
        .set((
            alerts::state.eq("acknowledged"),
            alerts::acknowledged_at.eq(Some(Utc::now())),
            alerts::acknowledged_by.eq(Some(user)),
            alerts::acknowledged_by_name.eq(Some(username)),
            alerts::updated_at.eq(Utc::now()),
        ))
        .returning(Alert::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    if let Some(alert) = updated {
        return Ok(Ack::Done(alert));
    }
    Ok(
        match alerts::table
            .find(id)
            .select(Alert::as_select())
            .first(conn)
            .await
            .optional()?
        {
            None => Ack::NoSuchAlert,
            Some(alert) if alert.state == "resolved" => Ack::Resolved,
            Some(alert) => Ack::Done(alert),
        },
    )
}

/// An alert as the API and the dashboard show it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertView {
    pub id: Uuid,
    pub kind: AlertKind,
    pub photomaton_id: Option<PhotomatonId>,
    pub state: AlertState,
    /// In English; the dashboard words the alert from `kind`.
    pub message: String,
    pub opened_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Where the notifier sent (or is sending) word of it, oldest first.
    pub deliveries: Vec<crate::store::notifications::DeliveryView>,
}

impl From<Alert> for AlertView {
    fn from(a: Alert) -> Self {
        Self {
            id: a.id,
            kind: AlertKind::parse(&a.kind).unwrap_or(AlertKind::PaperWarning),
            photomaton_id: a.photomaton_id,
            state: AlertState::parse(&a.state).unwrap_or(AlertState::Open),
            message: a.message,
            opened_at: a.opened_at,
            acknowledged_at: a.acknowledged_at,
            acknowledged_by: a.acknowledged_by_name,
            resolved_at: a.resolved_at,
            deliveries: Vec::new(),
        }
    }
}

/// Fills in each alert's deliveries (one query).
pub async fn with_deliveries(
    conn: &mut AsyncPgConnection,
    mut views: Vec<AlertView>,
) -> QueryResult<Vec<AlertView>> {
    let ids: Vec<Uuid> = views.iter().map(|v| v.id).collect();
    let mut deliveries = crate::store::notifications::deliveries_of(conn, &ids).await?;
    for view in &mut views {
        view.deliveries = deliveries.remove(&view.id).unwrap_or_default();
    }
    Ok(views)
}

/// One alert as it now stands, with its deliveries.
pub async fn view(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<AlertView>> {
    let Some(alert) = alerts::table
        .find(id)
        .select(Alert::as_select())
        .first(conn)
        .await
        .optional()?
    else {
        return Ok(None);
    };
    Ok(with_deliveries(conn, vec![AlertView::from(alert)])
        .await?
        .pop())
}

/// A page of alerts, newest first: open ones (acknowledged included) or resolved ones.
pub async fn list(
    conn: &mut AsyncPgConnection,
    resolved: bool,
    limit: i64,
    after: Option<i64>,
) -> QueryResult<Vec<Alert>> {
    let mut query = alerts::table
        .order(alerts::seq.desc())
        .limit(limit + 1)
        .select(Alert::as_select())
        .into_boxed();
    query = if resolved {
        query.filter(alerts::state.eq("resolved"))
    } else {
        query.filter(alerts::state.ne("resolved"))
    };
    if let Some(after) = after {
        query = query.filter(alerts::seq.lt(after));
    }
    query.load(conn).await
}
