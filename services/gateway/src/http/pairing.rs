//! `POST /api/photomatons/{id}/pairing-code` (installers, admins): a code that pairs a booth
//! PC with this booth. The installer reads it on the booth page and types
//! `boom-agent pair --ingest-url URL CODE` on the PC; stats-ingest redeems it (once, within
//! 15 minutes) and the agent keeps the key it gets, which no one types or reads.

use std::time::Duration;

use actix_web::{HttpRequest, web};
use boom_cache::redis;
use boom_contracts::PhotomatonId;
use boom_contracts::domain::PairingCode;
use boom_contracts::keys::pairing_code_key;
use boom_server::ApiError;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

use crate::errors::OrApi;
use crate::http::photomatons::no_such_photomaton;
use crate::http::session::Session;
use crate::state::AppState;
use crate::store::audit::Audit;
use crate::store::photomatons;

/// How long a pairing code can be redeemed.
pub const PAIRING_CODE_TTL: Duration = Duration::from_secs(15 * 60);

/// A new pairing code, shown to the installer.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PairingCodeView {
    /// 6 characters of Crockford's base32 (case and `-` do not matter when typed).
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

pub async fn create_code(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    id: web::Path<i32>,
) -> Result<web::Json<PairingCodeView>, ApiError> {
    let id = PhotomatonId(*id);
    let mut conn = state.conn().await?;
    if !photomatons::exists(&mut conn, id).await.or_api()? {
        return Err(no_such_photomaton(id));
    }
    let mut redis_conn = state.cache.connection().await.or_api()?;
    // 32^6 codes: a code still waiting for another booth is drawn again, never shared.
    let mut code = None;
    for _ in 0..8 {
        let candidate = PairingCode::from_random(rand::random());
        let stored: Option<String> = redis::cmd("SET")
            .arg(state.cache.key(&pairing_code_key(&candidate)))
            .arg(id.0)
            .arg("EX")
            .arg(PAIRING_CODE_TTL.as_secs())
            .arg("NX")
            .query_async(&mut redis_conn)
            .await
            .or_api()?;
        if stored.is_some() {
            code = Some(candidate);
            break;
        }
    }
    let code = code.ok_or_else(|| ApiError::unavailable("no pairing code free, try again"))?;
    // One code per booth at a time: a new one revokes the previous, so two PCs cannot both
    // pair with codes an installer asked for twice.
    let previous: Option<String> = redis::cmd("SET")
        .arg(state.cache.key(&format!("pairing-booth:{id}")))
        .arg(code.as_str())
        .arg("EX")
        .arg(PAIRING_CODE_TTL.as_secs())
        .arg("GET")
        .query_async(&mut redis_conn)
        .await
        .or_api()?;
    if let Some(previous) = previous.and_then(|p| p.parse::<PairingCode>().ok())
        && previous != code
    {
        let _: i64 = redis::cmd("DEL")
            .arg(state.cache.key(&pairing_code_key(&previous)))
            .query_async(&mut redis_conn)
            .await
            .or_api()?;
    }
    let expires_at = Utc::now()
        + chrono::Duration::from_std(PAIRING_CODE_TTL).unwrap_or_else(|_| chrono::Duration::zero());
    Audit::new("photomaton.pairing_code", "photomaton", Some(id.0))
        .details(json!({"expiresAt": expires_at}))
        .write(&mut conn, &session.actor(&request))
        .await
        .or_api()?;
    Ok(web::Json(PairingCodeView {
        code: code.to_string(),
        expires_at,
    }))
}
