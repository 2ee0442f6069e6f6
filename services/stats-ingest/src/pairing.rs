//! `POST /api/agent/pair`: a booth PC redeems the pairing code an installer read on the booth
//! page (`boom-agent pair --ingest-url URL CODE`). The code is claimed atomically in Redis
//! (one PC wins, once), the gateway gives the booth the new key's hash (only it writes
//! PostgreSQL), and the agent gets the key, which it keeps and never shows.
//!
//! A wrong code answers 404, a used one 409, and an address that tries too many codes 429:
//! a code has 32^6 values and lives 15 minutes, so guessing needs many attempts.

use std::time::{Duration, Instant};

use actix_web::{HttpRequest, web};
use boom_cache::redis;
use boom_contracts::PhotomatonId;
use boom_contracts::agent::{AgentPair, AgentPaired};
use boom_contracts::domain::PairingCode;
use boom_contracts::keys::{agent_key, pairing_code_key, sha256_hex, used_pairing_code_key};
use boom_contracts::messages::PairingRequest;
use boom_server::{ApiError, ErrorCode};

use crate::sync::IngestState;

/// Pairing attempts per client address in [`PAIRING_WINDOW`].
pub const PAIRING_ATTEMPTS_PER_ADDRESS: u32 = 10;
pub const PAIRING_WINDOW: Duration = Duration::from_secs(15 * 60);
/// How long a used code is remembered as used (as long as a code can live).
const USED_CODE_MEMORY: Duration = Duration::from_secs(15 * 60);

fn cache_down(error: impl std::fmt::Display) -> ApiError {
    tracing::warn!(%error, "pairing: redis unavailable");
    ApiError::unavailable("pairing is unavailable right now (Redis), try again shortly")
}

pub async fn pair(
    request: HttpRequest,
    state: web::Data<IngestState>,
    body: web::Json<AgentPair>,
) -> Result<web::Json<AgentPaired>, ApiError> {
    let address = request.peer_addr().map(|a| a.ip().to_string());
    let window = state
        .cache
        .count_in_window(
            &format!("pair-ip:{}", address.as_deref().unwrap_or("unknown")),
            PAIRING_WINDOW,
        )
        .await
        .map_err(cache_down)?;
    if window.hits > PAIRING_ATTEMPTS_PER_ADDRESS {
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            format!(
                "too many pairing attempts from this address, try again in {} s",
                window.resets_in_secs
            ),
        ));
    }
    let AgentPair { code, hostname } = body.into_inner();
    let code: PairingCode = code
        .parse()
        .map_err(|e: boom_contracts::domain::InvalidValue| ApiError::unprocessable(e.0))?;
    let photomaton_id = claim(&state, &code).await?;

    let key = agent_key(rand::random());
    let key_hash = sha256_hex(&key);
    let asked = state
        .bus
        .request(&PairingRequest {
            photomaton_id,
            agent_key_sha256: key_hash.clone(),
            pc_hostname: hostname,
            client_ip: address,
        })
        .await;
    let registered = match asked {
        Ok(reply) => match reply.hostname {
            Some(hostname) => hostname,
            None => {
                forget_claim(&state, &code).await;
                return Err(ApiError::not_found(format!(
                    "this booth cannot be paired: {}",
                    reply.error.unwrap_or_default()
                )));
            }
        },
        Err(error) => {
            tracing::warn!(%error, "pairing: the gateway did not answer");
            release_claim(&state, &code).await;
            return Err(ApiError::unavailable(format!(
                "the gateway did not answer ({error}): nothing was paired, the code still works, try again"
            )));
        }
    };
    forget_claim(&state, &code).await;
    remember_used(&state, &code).await;
    // The agent's first sync comes at once: answer when this instance knows the key.
    let deadline = Instant::now() + Duration::from_secs(5);
    while state.booths.by_key_hash(&key_hash).is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracing::info!(photomaton = %photomaton_id, hostname = %registered, "booth PC paired");
    Ok(web::Json(AgentPaired {
        photomaton_id,
        hostname: registered,
        api_key: key,
    }))
}

/// Takes the code out of the waiting ones (atomically: of two PCs, one gets it) and answers
/// the booth it pairs; 404 for an unknown or expired code, 409 for a used one.
async fn claim(state: &IngestState, code: &PairingCode) -> Result<PhotomatonId, ApiError> {
    let mut conn = state.cache.connection().await.map_err(cache_down)?;
    let waiting = state.cache.key(&pairing_code_key(code));
    let claimed = state.cache.key(&claim_key(code));
    // 1: claimed; 0: another PC is redeeming it this instant; an error: no such code.
    let renamed: Result<i64, redis::RedisError> = redis::cmd("RENAMENX")
        .arg(&waiting)
        .arg(&claimed)
        .query_async(&mut conn)
        .await;
    match renamed {
        Ok(1) => {}
        Ok(_) => {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "this pairing code is being used by another PC",
            ));
        }
        Err(_) => {
            let used: bool = redis::cmd("EXISTS")
                .arg(state.cache.key(&used_pairing_code_key(code)))
                .query_async(&mut conn)
                .await
                .map_err(cache_down)?;
            return Err(if used {
                ApiError::new(
                    ErrorCode::Conflict,
                    "this pairing code was already used: ask for a new one on the booth page",
                )
            } else {
                ApiError::not_found(
                    "unknown or expired pairing code (codes last 15 minutes): check it, or ask for a new one on the booth page",
                )
            });
        }
    }
    let id: Option<i32> = redis::cmd("GET")
        .arg(&claimed)
        .query_async(&mut conn)
        .await
        .map_err(cache_down)?;
    id.map(PhotomatonId)
        .ok_or_else(|| ApiError::not_found("unknown or expired pairing code"))
}

fn claim_key(code: &PairingCode) -> String {
    format!("pairing-claim:{code}")
}

/// Puts a claimed code back (with what is left of its life): nothing was paired.
async fn release_claim(state: &IngestState, code: &PairingCode) {
    if let Ok(mut conn) = state.cache.connection().await {
        let _: Result<i64, _> = redis::cmd("RENAMENX")
            .arg(state.cache.key(&claim_key(code)))
            .arg(state.cache.key(&pairing_code_key(code)))
            .query_async(&mut conn)
            .await;
    }
}

async fn forget_claim(state: &IngestState, code: &PairingCode) {
    if let Ok(mut conn) = state.cache.connection().await {
        let _: Result<i64, _> = redis::cmd("DEL")
            .arg(state.cache.key(&claim_key(code)))
            .query_async(&mut conn)
            .await;
    }
}

async fn remember_used(state: &IngestState, code: &PairingCode) {
    if let Ok(mut conn) = state.cache.connection().await {
        let _: Result<(), _> = redis::cmd("SET")
            .arg(state.cache.key(&used_pairing_code_key(code)))
            .arg(1)
            .arg("EX")
            .arg(USED_CODE_MEMORY.as_secs())
            .query_async(&mut conn)
            .await;
    }
}
