//! Sign-in, sessions and roles.
//!
//! A session is a random 256-bit token in an httpOnly, SameSite=Lax cookie (Secure when the
//! request came over HTTPS); Redis keeps, under the SHA-256 of the token, who it belongs to,
//! their role, the session's CSRF token and the user's *session epoch* when it was opened,
//! for 30 days after the last use (sliding).
//!
//! Revocation cannot be missed: each user has an epoch counter in Redis (`user-epoch:<id>`,
//! no expiry). Deleting a user, or changing their role or password, increments it; every
//! request, and every WebSocket ping tick, reads the session and then the current epoch, and
//! refuses a session whose epoch is not the current one: both in one round trip once the
//! instance knows whose session it is (`http::session_owners`), two for the first request of
//! a session on an instance. A missing epoch counts as revoked (fail closed), which is why
//! Redis must run with `noeviction` (see `deploy/`).
//!
//! Every request that changes something and is authenticated by the cookie must carry the
//! session's CSRF token in `X-CSRF-Token` and come from the gateway's own `Origin`; otherwise
//! it is refused with 403 `{"error":"csrf"}`. The [`Session`] extractor enforces this, so no
//! mutating handler can forget it.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::body::BoxBody;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use boom_cache::redis;
use boom_contracts::keys::sha256_hex;
use boom_contracts::{UserId, UserRole};
use boom_server::{ApiError, ErrorCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::errors::OrApi;
use crate::state::AppState;
use crate::store::audit::Actor;

pub const SESSION_COOKIE: &str = "boom_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const SESSION_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// What Redis keeps for a session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRecord {
    pub user_id: UserId,
    pub username: String,
    pub role: UserRole,
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    /// The user's session epoch when the session was opened; sessions written before epochs
    /// existed read as 0 and are refused.
    #[serde(default)]
    pub epoch: u64,
    /// A hard end, whatever its use: a session opened by single sign-on ends after
    /// [`SSO_SESSION_LIFETIME`], so that a person the company disabled at the issuer is out
    /// the same day. `None`: sliding expiry only.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// How long a session opened by single sign-on lasts before the issuer is asked again.
pub const SSO_SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// A new random 256-bit secret (session tokens, CSRF tokens, agent keys), URL-safe.
pub fn random_token() -> String {
    boom_contracts::keys::url_token(rand::random())
}

fn session_key(state: &AppState, token_hash: &str) -> String {
    state.cache.key(&format!("session:{token_hash}"))
}

fn user_epoch_key(state: &AppState, user: UserId) -> String {
    state.cache.key(&format!("user-epoch:{user}"))
}

/// The current session epoch of `user` (created at 1 when they have none yet). Read it before
/// reading the user's row, so that a change of the row after the read is never missed.
pub async fn epoch_of(state: &AppState, user: UserId) -> Result<u64, ApiError> {
    let mut conn = state.cache.connection().await.or_api()?;
    let epoch_key = user_epoch_key(state, user);
    // The epoch starts at 1 (0 is "before epochs existed") and is never reset.
    let (epoch,): (u64,) = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg(&epoch_key)
        .arg(1)
        .arg("NX")
        .ignore()
        .cmd("GET")
        .arg(&epoch_key)
        .query_async(&mut conn)
        .await
        .or_api()?;
    Ok(epoch)
}

/// Opens a session for `user` at `epoch` (see [`epoch_of`]); returns the cookie token and the
/// record.
pub async fn open_session(
    state: &AppState,
    user_id: UserId,
    username: &str,
    role: UserRole,
    epoch: u64,
    lifetime: Option<Duration>,
) -> Result<(String, SessionRecord), ApiError> {
    let token = random_token();
    let hash = sha256_hex(&token);
    let record = SessionRecord {
        user_id,
        username: username.to_owned(),
        role,
        csrf: random_token(),
        created_at: Utc::now(),
        epoch,
        expires_at: lifetime
            .and_then(|l| chrono::Duration::from_std(l).ok())
            .map(|l| Utc::now() + l),
    };
    let body = serde_json::to_string(&record).map_err(ApiError::internal)?;
    let mut conn = state.cache.connection().await.or_api()?;
    let _: () = redis::cmd("SET")
        .arg(session_key(state, &hash))
        .arg(body)
        .arg("EX")
        .arg(SESSION_TTL.as_secs())
        .query_async(&mut conn)
        .await
        .or_api()?;
    state.session_owners.remember(&hash, user_id);
    Ok((token, record))
}

/// Loads a session and pushes its expiry 30 days further (sliding expiry); `None` when it
/// expired, was closed or was revoked (its epoch is not the user's current one).
async fn load_session(
    state: &AppState,
    token_hash: &str,
) -> Result<Option<SessionRecord>, ApiError> {
    let mut conn = state.cache.connection().await.or_api()?;
    let mut session = redis::cmd("GETEX");
    session
        .arg(session_key(state, token_hash))
        .arg("EX")
        .arg(SESSION_TTL.as_secs());
    // The session, then its owner's current epoch (in this order, as in two round trips).
    let owner = state.session_owners.of(token_hash);
    let (body, owners_epoch): (Option<String>, Option<Option<u64>>) = match owner {
        Some(user) => {
            let (body, epoch) = redis::pipe()
                .add_command(session)
                .cmd("GET")
                .arg(user_epoch_key(state, user))
                .query_async(&mut conn)
                .await
                .or_api()?;
            (body, Some(epoch))
        }
        None => (session.query_async(&mut conn).await.or_api()?, None),
    };
    let Some(record) = body
        .and_then(|b| serde_json::from_str::<SessionRecord>(&b).ok())
        .filter(|r| r.expires_at.is_none_or(|end| Utc::now() < end))
    else {
        state.session_owners.forget(token_hash);
        return Ok(None);
    };
    let epoch = match owners_epoch {
        Some(epoch) if owner == Some(record.user_id) => epoch,
        _ => {
            state.session_owners.remember(token_hash, record.user_id);
            current_epoch(state, &mut conn, record.user_id).await?
        }
    };
    // A revoked session is refused; it is not deleted here: a session re-stamped at this
    // very moment (its own password changed in another tab) must not be lost to a read that
    // saw the old epoch. Unused, it expires with its TTL.
    Ok((epoch == Some(record.epoch)).then_some(record))
}

async fn current_epoch(
    state: &AppState,
    conn: &mut boom_cache::Connection,
    user: UserId,
) -> Result<Option<u64>, ApiError> {
    redis::cmd("GET")
        .arg(user_epoch_key(state, user))
        .query_async(conn)
        .await
        .or_api()
}

/// Whether `session` still stands (not signed out, expired or revoked): the WebSocket asks
/// on every ping tick, through [`SessionChecks`](crate::http::session_checks::SessionChecks).
/// One round trip; does not extend the session.
pub async fn still_valid(state: &AppState, session: &Session) -> Result<bool, ApiError> {
    let mut conn = state.cache.connection().await.or_api()?;
    let (exists, epoch): (bool, Option<u64>) = redis::pipe()
        .cmd("EXISTS")
        .arg(session_key(state, &session.token_hash))
        .cmd("GET")
        .arg(user_epoch_key(state, session.record.user_id))
        .query_async(&mut conn)
        .await
        .or_api()?;
    let ended = session
        .record
        .expires_at
        .is_some_and(|end| Utc::now() >= end);
    Ok(exists && !ended && epoch == Some(session.record.epoch))
}

pub async fn close_session(state: &AppState, session: &Session) -> Result<(), ApiError> {
    let mut conn = state.cache.connection().await.or_api()?;
    let _: () = redis::cmd("DEL")
        .arg(session_key(state, &session.token_hash))
        .query_async(&mut conn)
        .await
        .or_api()?;
    state.session_owners.forget(&session.token_hash);
    Ok(())
}

/// Ends every session of `user` (deleted, role or password changed): their next request,
/// and their WebSocket at its next ping tick, are refused. Callers revoke before and after
/// the change they make, so that neither a failure of Redis nor a session opened in between
/// keeps the old rights (a sign-in reads the epoch before the user's row, see [`epoch_of`]).
pub async fn revoke_user_sessions(state: &AppState, user: UserId) -> Result<(), ApiError> {
    let mut conn = state.cache.connection().await.or_api()?;
    let _: u64 = redis::cmd("INCR")
        .arg(user_epoch_key(state, user))
        .query_async(&mut conn)
        .await
        .or_api()?;
    Ok(())
}

/// Ends every session of the signer of `current` but `current` itself (their own password
/// changed: their other browsers are signed out, this one stays signed in), provided nothing
/// revoked `current` meanwhile: the epoch must still be `expected`. Answers the new epoch, or
/// `None` when `current` was revoked (then every session of the user is ended, this one too,
/// and they sign in again to get what the database now says of them).
pub async fn revoke_other_sessions(
    state: &AppState,
    current: &Session,
    expected: u64,
) -> Result<Option<u64>, ApiError> {
    // In one step, so that no request sees the new epoch with the old record in between.
    const RESTAMP: &str = r"
        local epoch = redis.call('INCR', KEYS[1])
        if epoch ~= tonumber(ARGV[2]) + 1 or redis.call('EXISTS', KEYS[2]) == 0 then
            return 0
        end
        local record = cjson.decode(ARGV[1])
        record['epoch'] = epoch
        redis.call('SET', KEYS[2], cjson.encode(record), 'KEEPTTL')
        return epoch
    ";
    let mut conn = state.cache.connection().await.or_api()?;
    let record = serde_json::to_string(&current.record).map_err(ApiError::internal)?;
    let epoch: u64 = redis::cmd("EVAL")
        .arg(RESTAMP)
        .arg(2)
        .arg(user_epoch_key(state, current.record.user_id))
        .arg(session_key(state, &current.token_hash))
        .arg(record)
        .arg(expected)
        .query_async(&mut conn)
        .await
        .or_api()?;
    Ok((epoch != 0).then_some(epoch))
}

/// The session cookie for `token` (or an expired one, to sign out).
pub fn session_cookie(request: &HttpRequest, token: Option<&str>) -> Cookie<'static> {
    let secure = request.connection_info().scheme() == "https";
    let mut cookie = Cookie::build(SESSION_COOKIE, token.unwrap_or_default().to_owned())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .finish();
    match token {
        Some(_) => cookie.set_max_age(actix_web::cookie::time::Duration::seconds(
            i64::try_from(SESSION_TTL.as_secs()).unwrap_or(i64::MAX),
        )),
        None => cookie.make_removal(),
    }
    cookie
}

/// The gateway's own origin, as the browser sees it (`https://boom.example` behind a proxy
/// that sets `X-Forwarded-Proto`/`Forwarded`).
pub fn own_origin(request: &HttpRequest) -> String {
    let info = request.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

/// A signed-in person. Extracting it refuses anonymous requests (401), expired sessions
/// (401), and mutating requests without the CSRF token or from another origin (403).
#[derive(Debug, Clone)]
pub struct Session {
    pub token_hash: String,
    pub record: SessionRecord,
}

impl Session {
    /// 403 unless the user's role is at least `role`.
    pub fn require(&self, role: UserRole) -> Result<(), ApiError> {
        if self.record.role.includes(role) {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("this needs the {role} role; you are {}", self.record.role),
            ))
        }
    }

    pub fn user_id(&self) -> UserId {
        self.record.user_id
    }

    /// The person behind this session, as the audit log names them.
    pub fn actor(&self, request: &HttpRequest) -> Actor {
        Actor {
            user_id: Some(self.record.user_id),
            username: Some(self.record.username.clone()),
            ip: crate::http::client_ip(request),
        }
    }
}

fn is_mutating(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Refuses a cookie-authenticated mutating request that lacks the CSRF token or comes from
/// another origin.
fn check_csrf(request: &HttpRequest, record: &SessionRecord) -> Result<(), ApiError> {
    let csrf = || {
        ApiError::new(
            ErrorCode::Csrf,
            "missing or wrong X-CSRF-Token, or request from another origin",
        )
    };
    let origin = request
        .headers()
        .get("origin")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(csrf)?;
    if origin != own_origin(request) {
        return Err(csrf());
    }
    let token = request
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(csrf)?;
    // Both are random 43-character strings; compare without an early exit.
    let same = token.len() == record.csrf.len()
        && token
            .bytes()
            .zip(record.csrf.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same { Ok(()) } else { Err(csrf()) }
}

/// Finds the request's session: 401 without one, 403 `csrf` for a mutating request that
/// fails the CSRF check.
async fn authenticate(request: &HttpRequest) -> Result<Session, ApiError> {
    let state = request
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("gateway state missing"))?;
    let token = request
        .cookie(SESSION_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "sign in first"))?;
    let token_hash = sha256_hex(&token);
    let record = load_session(&state, &token_hash).await?.ok_or_else(|| {
        ApiError::new(
            ErrorCode::Unauthorized,
            "your session has expired, sign in again",
        )
    })?;
    if is_mutating(request.method()) {
        check_csrf(request, &record)?;
    }
    Ok(Session { token_hash, record })
}

/// The middleware of every route that needs a role: signs the request in and checks the role
/// *before* the handler's body is read, so that an anonymous or under-privileged caller learns
/// nothing from validation errors.
pub async fn authorize(
    request: ServiceRequest,
    next: Next<BoxBody>,
    role: UserRole,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let session = authenticate(request.request()).await?;
    session.require(role)?;
    request.extensions_mut().insert(session);
    next.call(request).await
}

impl FromRequest for Session {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let authorized = request.extensions().get::<Session>().cloned();
        let request = request.clone();
        Box::pin(async move {
            match authorized {
                Some(session) => Ok(session),
                None => Ok(authenticate(&request).await?),
            }
        })
    }
}
