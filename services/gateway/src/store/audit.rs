//! The audit log: who did what, when, from where. Every sign-in (success or failure) and
//! every action that changes something writes one row; rows outlive the accounts they name.

use boom_contracts::UserId;
use boom_db::models::{AuditLog, NewAuditLog};
use boom_db::schema::audit_logs;
use chrono::{DateTime, Utc};
use diesel::result::QueryResult;
use diesel::{ExpressionMethods, QueryDsl, SelectableHelper, TextExpressionMethods};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

/// Who acted, and from where: a signed-in person, someone who tried to sign in, or one of
/// the stack's services.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user_id: Option<UserId>,
    pub username: Option<String>,
    /// The client's address (see `http::client_ip`); none for a service.
    pub ip: Option<ipnet::IpNet>,
}

impl Actor {
    /// One of our services acting on its own (e.g. photomaton-control reporting an outcome).
    pub fn service(name: &str) -> Self {
        Self {
            username: Some(name.to_owned()),
            ..Self::default()
        }
    }
}

/// One audit line.
#[derive(Debug)]
pub struct Audit<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    pub resource_id: Option<i32>,
    pub details: Option<Value>,
}

impl<'a> Audit<'a> {
    pub fn new(action: &'a str, resource: &'a str, resource_id: Option<i32>) -> Self {
        Self {
            action,
            resource,
            resource_id,
            details: None,
        }
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// Writes the line for `actor`.
    pub async fn write(self, conn: &mut AsyncPgConnection, actor: &Actor) -> QueryResult<()> {
        diesel::insert_into(audit_logs::table)
            .values(NewAuditLog {
                user_id: actor.user_id,
                username: actor.username.clone(),
                action: self.action.to_owned(),
                resource: self.resource.to_owned(),
                resource_id: self.resource_id,
                details: self.details,
                ip_address: actor.ip,
            })
            .execute(conn)
            .await?;
        Ok(())
    }
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditLogView {
    pub id: i64,
    pub user_id: Option<UserId>,
    pub username: Option<String>,
    pub action: String,
    pub resource: String,
    pub resource_id: Option<i32>,
    pub details: Option<Value>,
    pub ip_address: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<AuditLog> for AuditLogView {
    fn from(a: AuditLog) -> Self {
        Self {
            id: a.id.0,
            user_id: a.user_id,
            username: a.username,
            action: a.action,
            resource: a.resource,
            resource_id: a.resource_id,
            details: a.details,
            ip_address: a.ip_address.map(|ip| ip.addr().to_string()),
            created_at: a.created_at,
        }
    }
}

/// Which lines to list.
#[derive(Debug, Default)]
pub struct AuditFilter {
    pub user_id: Option<i32>,
    /// Exact action (`auth.login`), or a prefix ending with `.` (`photomaton.`).
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// A page of audit lines, newest first: `limit + 1` rows after the id `after`.
pub async fn list(
    conn: &mut AsyncPgConnection,
    filter: AuditFilter,
    limit: i64,
    after: Option<i64>,
) -> QueryResult<Vec<AuditLog>> {
    use boom_db::schema::audit_logs::dsl;
    let mut query = dsl::audit_logs
        .order(dsl::id.desc())
        .limit(limit + 1)
        .select(AuditLog::as_select())
        .into_boxed();
    if let Some(user) = filter.user_id {
        query = query.filter(dsl::user_id.eq(user));
    }
    if let Some(action) = filter.action {
        query = if action.ends_with('.') {
            query.filter(dsl::action.like(format!(
                "{}%",
                action.replace('%', "\\%").replace('_', "\\_")
            )))
        } else {
            query.filter(dsl::action.eq(action))
        };
    }
    if let Some(from) = filter.from {
        query = query.filter(dsl::created_at.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(dsl::created_at.lt(to));
    }
    if let Some(after) = after {
        query = query.filter(dsl::id.lt(after));
    }
    query.load(conn).await
}

/// A power-on of a booth as its page shows it: who asked and when, then what came of it.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PowerOnEntry {
    pub at: DateTime<Utc>,
    /// `requested` (someone pressed *Allumer*) or `result` (photomaton-control's outcome).
    pub step: String,
    /// Who asked (for `requested`).
    pub username: Option<String>,
    pub action_id: Option<String>,
    /// `pending`, `succeeded` or `failed`.
    pub outcome: Option<String>,
    pub message: Option<String>,
}

/// The booth's latest power-ons, newest first, from the audit log (what survives a reload).
pub async fn power_ons(
    conn: &mut AsyncPgConnection,
    booth: i32,
    limit: i64,
) -> QueryResult<Vec<PowerOnEntry>> {
    use boom_db::schema::audit_logs::dsl;
    let rows: Vec<AuditLog> = dsl::audit_logs
        .filter(dsl::resource.eq("photomaton"))
        .filter(dsl::resource_id.eq(booth))
        .filter(dsl::action.eq_any(["photomaton.power_on", "photomaton.power_on.result"]))
        .order(dsl::id.desc())
        .limit(limit)
        .select(AuditLog::as_select())
        .load(conn)
        .await?;
    let text = |d: &Option<Value>, key: &str| {
        d.as_ref()
            .and_then(|d| d.get(key))
            .and_then(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .or_else(|| Some(v.to_string()))
            })
            .filter(|v| v != "null")
    };
    Ok(rows
        .into_iter()
        .map(|a| PowerOnEntry {
            at: a.created_at,
            step: if a.action == "photomaton.power_on" {
                "requested"
            } else {
                "result"
            }
            .to_owned(),
            username: a
                .username
                .clone()
                .filter(|_| a.action == "photomaton.power_on"),
            action_id: text(&a.details, "actionId"),
            outcome: text(&a.details, "outcome"),
            message: text(&a.details, "message"),
        })
        .collect())
}
