//! `POST /api/agent/pair`: a booth PC redeems the pairing code an installer read on the booth
//! page (`boom-agent pair --ingest-url URL CODE`). The code is claimed atomically in Redis
//! (one PC wins, once), the gateway gives the booth the new key's hash (only it writes
//! PostgreSQL), and the agent gets the key, which it keeps and never shows.
//!
//! A wrong code answers 404, a used one 409, and an address (an IPv6 /64) that got too many
//! codes wrong 429: a code has 32^6 values and lives 15 minutes, so guessing needs many
//! attempts.

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
    let address = boom_server::client_addr(&request, &state.trusted_proxies);
    let limit_key = format!(
        "pair-ip:{}",
        address.map_or_else(|| "unknown".to_owned(), guessing_source)
    );
    let failures = state
        .cache
        .window_hits(&limit_key)
        .await
        .map_err(cache_down)?;
    if failures >= PAIRING_ATTEMPTS_PER_ADDRESS {
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            "too many wrong pairing codes from this address: try again in 15 minutes",
        ));
    }
    let outcome = redeem(&state, body.into_inner(), address).await;
    if let Err(error) = &outcome
        && matches!(
            error.code,
            ErrorCode::NotFound | ErrorCode::Conflict | ErrorCode::Unprocessable
        )
    {
        // Only wrong codes count: an installer's success or a gateway hiccup costs nothing.
        let _counted = state
            .cache
            .count_in_window(&limit_key, PAIRING_WINDOW)
            .await;
    }
    outcome.map(web::Json)
}

/// Where guesses come from: the address, or its /64 for IPv6 (one subscriber's network).
fn guessing_source(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

async fn redeem(
    state: &IngestState,
    pair: AgentPair,
    address: Option<std::net::IpAddr>,
) -> Result<AgentPaired, ApiError> {
    let AgentPair { code, hostname } = pair;
    let code: PairingCode = code
        .parse()
        .map_err(|e: boom_contracts::domain::InvalidValue| ApiError::unprocessable(e.0))?;
    let photomaton_id = claim(state, &code).await?;

    let key = agent_key(rand::random());
    let key_hash = sha256_hex(&key);
    let asked = state
        .bus
        .request(&PairingRequest {
            photomaton_id,
            agent_key_sha256: key_hash.clone(),
            pc_hostname: hostname,
            client_ip: address.map(|ip| ip.to_string()),
        })
        .await;
    let registered = match asked {
        Ok(reply) => match reply.hostname {
            Some(hostname) => hostname,
            None => {
                forget_claim(state, &code).await;
                return Err(ApiError::not_found(format!(
                    "this booth cannot be paired: {}",
                    reply.error.unwrap_or_default()
                )));
            }
        },
        Err(error) => {
            // It may still commit the key: the code is spent rather than risk a second PC
            // pairing with it and one of the two holding a dead key.
            tracing::warn!(%error, "pairing: the gateway did not answer");
            remember_used(state, &code).await;
            forget_claim(state, &code).await;
            return Err(ApiError::unavailable(format!(
                "the gateway did not answer ({error}): ask for a new code on the booth page and try again"
            )));
        }
    };
    // Used before the claim is forgotten: a PC racing this one is told "used", not "unknown".
    remember_used(state, &code).await;
    forget_claim(state, &code).await;
    // The agent's first sync comes at once: answer when this instance knows the key.
    let deadline = Instant::now() + Duration::from_secs(5);
    while state.booths.by_key_hash(&key_hash).is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracing::info!(photomaton = %photomaton_id, hostname = %registered, "booth PC paired");
    Ok(AgentPaired {
        photomaton_id,
        hostname: registered,
        api_key: key,
    })
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
                .arg(&claimed)
                .query_async::<i64>(&mut conn)
                .await
                .map_err(cache_down)?
                > 0;
            return Err(if used {
                ApiError::new(
                    ErrorCode::Conflict,
                    "this pairing code was already used (or is being used by another PC): ask for a new one on the booth page",
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
