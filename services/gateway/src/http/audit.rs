//! `GET /api/audit-logs` (admins): the audit log, newest first, filtered by user, action
//! and time.

use actix_web::web;
use boom_server::ApiError;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::errors::OrApi;
use crate::pagination::{Page, PageQuery, page};
use crate::state::AppState;
use crate::store::audit::{self, AuditFilter, AuditLogView};

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

/// A date filter within what an audit log can hold (years 2000 to 9999): beyond it, 400
/// rather than a range error from PostgreSQL.
fn plausible(name: &str, date: DateTime<Utc>) -> Result<DateTime<Utc>, ApiError> {
    use chrono::Datelike;
    if (2000..=9999).contains(&date.year()) {
        Ok(date)
    } else {
        Err(ApiError::bad_request(format!(
            "`{name}` must be a date between the years 2000 and 9999, not {date}"
        )))
    }
}

pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<web::Json<Page<AuditLogView>>, ApiError> {
    let query = query.into_inner();
    let paging = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    };
    let (limit, after) = (paging.limit()?, paging.after()?);
    let filter = AuditFilter {
        user_id: query.user_id,
        action: query.action,
        from: query.from.map(|d| plausible("from", d)).transpose()?,
        to: query.to.map(|d| plausible("to", d)).transpose()?,
    };
    let mut conn = state.conn().await?;
    let rows = audit::list(&mut conn, filter, limit, after)
        .await
        .or_api()?;
    Ok(web::Json(page(rows, limit, |a| a.id.0, AuditLogView::from)))
}
