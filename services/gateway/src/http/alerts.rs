//! `GET /api/alerts?state=open|resolved` (any signed-in role; open includes acknowledged) and
//! `POST /api/alerts/{id}/ack` (installers and admins): the notifier is told, so that it stops
//! re-notifying, and every browser sees who took it.

use actix_web::{HttpRequest, web};
use boom_contracts::messages::AlertAcknowledged;
use boom_server::{ApiError, ErrorCode};
use chrono::Utc;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use crate::errors::OrApi;
use crate::http::session::Session;
use crate::pagination::{Page, PageQuery, page};
use crate::state::AppState;
use crate::store::alerts::{self, Ack, AlertView};
use crate::store::audit::Audit;

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertQuery {
    /// `open` (default: open and acknowledged) or `resolved`.
    #[schemars(pattern(r"^(open|resolved)$"))]
    pub state: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<AlertQuery>,
) -> Result<web::Json<Page<AlertView>>, ApiError> {
    let query = query.into_inner();
    let resolved = match query.state.as_deref() {
        None | Some("open") => false,
        Some("resolved") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "state: `open` or `resolved`, not `{other}`"
            )));
        }
    };
    let paging = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    };
    let (limit, after) = (paging.limit()?, paging.after()?);
    let mut conn = state.conn().await?;
    let rows = alerts::list(&mut conn, resolved, limit, after)
        .await
        .or_api()?;
    let mut paged = page(rows, limit, |a| a.seq, AlertView::from);
    paged.items = alerts::with_deliveries(&mut conn, paged.items)
        .await
        .or_api()?;
    Ok(web::Json(paged))
}

pub async fn acknowledge(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    id: web::Path<uuid::Uuid>,
) -> Result<web::Json<AlertView>, ApiError> {
    let id = id.into_inner();
    let mut conn = state.conn().await?;
    let alert =
        match alerts::acknowledge(&mut conn, id, session.user_id(), &session.record.username)
            .await
            .or_api()?
        {
            Ack::Done(alert) => alerts::with_deliveries(&mut conn, vec![AlertView::from(alert)])
                .await
                .or_api()?
                .pop()
                .ok_or_else(|| ApiError::not_found(format!("no alert {id}")))?,
            Ack::NoSuchAlert => return Err(ApiError::not_found(format!("no alert {id}"))),
            Ack::Resolved => {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    "this alert is resolved already",
                ));
            }
        };
    Audit::new("alert.ack", "alert", None)
        .details(json!({"alertId": id, "kind": alert.kind}))
        .write(&mut conn, &session.actor(&request))
        .await
        .or_api()?;
    drop(conn);
    state.live.alert(&alert).await;
    // The notifier stops re-notifying once it hears of it; acknowledging again is harmless.
    state
        .bus
        .publish(&AlertAcknowledged {
            alert_id: id,
            by: session.user_id(),
            by_name: session.record.username.clone(),
            at: Utc::now(),
        })
        .await
        .map_err(|e| crate::errors::from_bus("the notifier's stream", e))?;
    Ok(web::Json(alert))
}
