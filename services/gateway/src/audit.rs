//! The audit log: who did what, when, from where. Every login (success or failure) and every
//! action that changes something writes one row; rows outlive the accounts they name.

use actix_web::HttpRequest;
use boom_db::DbConn;
use boom_db::models::NewAuditLog;
use boom_db::schema::audit_logs;
use boom_server::ApiError;
use diesel_async::RunQueryDsl;
use serde_json::Value;

use crate::auth::Session;
use crate::errors::OrApi;

/// The client's address as the gateway saw it (the peer, not a header anyone can forge).
pub fn client_ip(request: &HttpRequest) -> Option<ipnet::IpNet> {
    request
        .peer_addr()
        .map(|addr| ipnet::IpNet::from(addr.ip()))
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

    /// Writes the line for `who` (a session, or a username that tried to sign in).
    pub async fn write(
        self,
        conn: &mut DbConn,
        request: &HttpRequest,
        who: Who<'_>,
    ) -> Result<(), ApiError> {
        let (user_id, username) = match who {
            Who::Session(s) => (Some(s.record.user_id), Some(s.record.username.clone())),
            Who::Named(user_id, name) => (user_id, Some(name.to_owned())),
        };
        diesel::insert_into(audit_logs::table)
            .values(NewAuditLog {
                user_id,
                username,
                action: self.action.to_owned(),
                resource: self.resource.to_owned(),
                resource_id: self.resource_id,
                details: self.details,
                ip_address: client_ip(request),
            })
            .execute(conn)
            .await
            .or_api()?;
        Ok(())
    }
}

/// Who acted.
#[derive(Debug, Clone, Copy)]
pub enum Who<'a> {
    Session(&'a Session),
    Named(Option<boom_contracts::UserId>, &'a str),
}

// ------------------------------------------------------------------------------------------
// `GET /api/audit-logs` (admins).

use actix_web::web;
use boom_contracts::UserRole;
use boom_db::models::AuditLog;
use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, QueryDsl, SelectableHelper, TextExpressionMethods};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::pagination::{Page, PageQuery, page};
use crate::state::AppState;

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditLogView {
    pub id: i64,
    pub user_id: Option<boom_contracts::UserId>,
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

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditQuery {
    pub user_id: Option<i32>,
    /// Exact action (`auth.login`), or a prefix ending with `.` (`photomaton.`).
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

pub async fn list(
    session: Session,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<web::Json<Page<AuditLogView>>, ApiError> {
    use boom_db::schema::audit_logs::dsl;
    session.require(UserRole::Admin)?;
    let query = query.into_inner();
    let paging = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    };
    let (limit, after) = (paging.limit()?, paging.after()?);
    let mut conn = state.conn().await?;
    let mut q = dsl::audit_logs
        .order(dsl::id.desc())
        .limit(limit + 1)
        .select(AuditLog::as_select())
        .into_boxed();
    if let Some(user) = query.user_id {
        q = q.filter(dsl::user_id.eq(user));
    }
    if let Some(action) = query.action {
        q = if action.ends_with('.') {
            q.filter(dsl::action.like(format!(
                "{}%",
                action.replace('%', "\\%").replace('_', "\\_")
            )))
        } else {
            q.filter(dsl::action.eq(action))
        };
    }
    if let Some(from) = query.from {
        q = q.filter(dsl::created_at.ge(from));
    }
    if let Some(to) = query.to {
        q = q.filter(dsl::created_at.lt(to));
    }
    if let Some(after) = after {
        q = q.filter(dsl::id.lt(after));
    }
    let rows: Vec<AuditLog> = q.load(&mut conn).await.or_api()?;
    Ok(web::Json(page(rows, limit, |a| a.id.0, AuditLogView::from)))
}
