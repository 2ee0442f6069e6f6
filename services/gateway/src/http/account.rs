//! `/api/auth/*`: signing in and out, and who am I.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use boom_contracts::{UserId, UserRole};
use boom_db::models::{User, UserChanges};
use boom_server::{ApiError, ErrorCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::errors::OrApi;
use crate::http::client_ip;
use crate::http::session::{self, Session, own_origin};
use crate::passwords::CHECK_WAIT;
use crate::state::AppState;
use crate::store::audit::{Actor, Audit};
use crate::store::users;

/// Failed sign-ins allowed per client address, and per username *from one address*, in
/// [`LOGIN_WINDOW`]. Only failures count, and a username locked from one address still signs
/// in from another: a wrong password typed at the venue never locks the admin out at home.
pub const LOGIN_ATTEMPTS_PER_IP: u32 = 30;
pub const LOGIN_ATTEMPTS_PER_USERNAME: u32 = 10;
pub const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub username: String,
    pub password: String,
}

/// The signed-in user, with the CSRF token their mutating requests must carry.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    pub id: UserId,
    pub username: String,
    pub role: UserRole,
    pub name: Option<String>,
    pub email: Option<String>,
    pub preferred_language: String,
    /// `cards` or `list`: how the dashboard shows them the fleet.
    pub fleet_view: String,
    pub csrf_token: String,
}

fn me(user: User, csrf: String) -> Me {
    Me {
        id: user.id,
        username: user.username,
        role: user.role,
        name: user.name,
        email: user.email,
        preferred_language: user.preferred_language,
        fleet_view: user.fleet_view,
        csrf_token: csrf,
    }
}

/// Refuses a sign-in (429, with `Retry-After`) when `key` already failed `max` times in its
/// window.
async fn refuse_if_too_many(state: &AppState, key: &str, max: u32) -> Result<(), ApiError> {
    let failures = state.cache.window_hits(key).await.or_api()?;
    if failures >= max {
        let wait = LOGIN_WINDOW.as_secs();
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            format!("too many failed sign-ins, try again in {} min", wait / 60),
        )
        .retry_after(wait));
    }
    Ok(())
}

pub async fn login(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Login>,
) -> Result<HttpResponse, ApiError> {
    // A page of another site must not sign a browser in (login CSRF).
    if let Some(origin) = request
        .headers()
        .get("origin")
        .and_then(|v| v.to_str().ok())
        && origin != own_origin(&request)
    {
        return Err(ApiError::new(
            ErrorCode::Csrf,
            "sign-in from another origin",
        ));
    }
    let Login { username, password } = body.into_inner();
    let ip = client_ip(&request);
    let address = ip
        .map(|ip| ip.addr().to_string())
        .unwrap_or_else(|| "unknown".to_owned());
    let address_key = format!("login-ip:{address}");
    let pair_key = format!("login-user:{}@{address}", username.to_lowercase());
    refuse_if_too_many(&state, &address_key, LOGIN_ATTEMPTS_PER_IP).await?;
    refuse_if_too_many(&state, &pair_key, LOGIN_ATTEMPTS_PER_USERNAME).await?;

    let mut conn = state.conn().await?;
    let user = users::find_by_username(&mut conn, &username)
        .await
        .or_api()?;
    drop(conn);
    // Bounded: beyond a few checks at once, come back in a second rather than queue here.
    let permit = tokio::time::timeout(CHECK_WAIT, state.password_checks.clone().acquire_owned())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| {
            ApiError::unavailable("too many sign-ins at once, try again in a second").retry_after(1)
        })?;
    let verified = state
        .passwords
        .verify(password, user.as_ref().map(|u| u.password_hash.clone()))
        .await
        .map_err(|_| {
            ApiError::unavailable("too many sign-ins at once, try again in a second").retry_after(1)
        })?;
    drop(permit);
    let mut conn = state.conn().await?;
    let user = match user {
        Some(user) if verified => user,
        found => {
            for key in [&address_key, &pair_key] {
                state
                    .cache
                    .count_in_window(key, LOGIN_WINDOW)
                    .await
                    .or_api()?;
            }
            let actor = Actor {
                user_id: found.as_ref().map(|u| u.id),
                username: Some(username),
                ip,
            };
            Audit::new("auth.login_failed", "user", found.as_ref().map(|u| u.id.0))
                .write(&mut conn, &actor)
                .await
                .or_api()?;
            return Err(ApiError::new(
                ErrorCode::Unauthorized,
                "wrong username or password",
            ));
        }
    };
    state.cache.reset_window(&pair_key).await.or_api()?;
    if !user.password_login {
        Audit::new("auth.login_failed", "user", Some(user.id.0))
            .details(json!({"method": "password", "reason": "password sign-in switched off"}))
            .write(
                &mut conn,
                &Actor {
                    user_id: Some(user.id),
                    username: Some(user.username.clone()),
                    ip,
                },
            )
            .await
            .or_api()?;
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "password sign-in is switched off for this account: sign in with the company's account",
        ));
    }
    drop(conn);
    let (user, token, record) = open_for(&state, &request, user.id, "password").await?;
    Ok(HttpResponse::Ok()
        .cookie(session::session_cookie(&request, Some(&token)))
        .json(me(user, record.csrf)))
}

/// Opens a session for a person who proved who they are (`method`: `password` or `oidc`),
/// audited: the user as the database has it now, the session's token and record.
pub async fn open_for(
    state: &AppState,
    request: &HttpRequest,
    id: UserId,
    method: &str,
) -> Result<(User, String, session::SessionRecord), ApiError> {
    // The epoch first, then the user as the database has it now: a deletion, demotion or new
    // password that lands after this read moves the epoch past the session's (revoking it);
    // one that landed before shows in the row read next.
    let epoch = session::epoch_of(state, id).await?;
    let mut conn = state.conn().await?;
    let user = users::find(&mut conn, id)
        .await
        .or_api()?
        .ok_or_else(account_gone)?;
    // Switched off between the password check and now: no session.
    if method == "password" && !user.password_login {
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "password sign-in is switched off for this account: sign in with the company's account",
        ));
    }
    let (token, record) = session::open_session(
        state,
        user.id,
        &user.username,
        user.role,
        epoch,
        (method == "oidc").then_some(session::SSO_SESSION_LIFETIME),
    )
    .await?;
    let actor = Actor {
        user_id: Some(user.id),
        username: Some(user.username.clone()),
        ip: client_ip(request),
    };
    Audit::new("auth.login", "user", Some(user.id.0))
        .details(json!({"method": method}))
        .write(&mut conn, &actor)
        .await
        .or_api()?;
    Ok((user, token, record))
}

pub async fn logout(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    session::close_session(&state, &session).await?;
    let mut conn = state.conn().await?;
    Audit::new("auth.logout", "user", Some(session.user_id().0))
        .write(&mut conn, &session.actor(&request))
        .await
        .or_api()?;
    Ok(HttpResponse::NoContent()
        .cookie(session::session_cookie(&request, None))
        .finish())
}

fn account_gone() -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, "this account no longer exists")
}

pub async fn whoami(
    session: Session,
    state: web::Data<AppState>,
) -> Result<web::Json<Me>, ApiError> {
    let mut conn = state.conn().await?;
    let user = users::find(&mut conn, session.user_id())
        .await
        .or_api()?
        .ok_or_else(account_gone)?;
    Ok(web::Json(me(user, session.record.csrf)))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateMe {
    /// `fr` or `en`: the dashboard's language for this user.
    #[schemars(pattern(r"^(fr|en)$"))]
    pub preferred_language: Option<String>,
    /// `cards` or `list`: how the dashboard shows them the fleet.
    #[schemars(pattern(r"^(cards|list)$"))]
    pub fleet_view: Option<String>,
}

/// `fr` or `en`: the languages the dashboard speaks.
pub fn language(language: String) -> Result<String, ApiError> {
    if language == "fr" || language == "en" {
        Ok(language)
    } else {
        Err(ApiError::unprocessable("preferredLanguage: `fr` or `en`"))
    }
}

/// Anyone may choose their own language and fleet view.
pub async fn update_me(
    session: Session,
    state: web::Data<AppState>,
    body: web::Json<UpdateMe>,
) -> Result<web::Json<Me>, ApiError> {
    let body = body.into_inner();
    let fleet_view = match body.fleet_view.as_deref() {
        None => None,
        Some(view @ ("cards" | "list")) => Some(view.to_owned()),
        Some(_) => return Err(ApiError::unprocessable("fleetView: `cards` or `list`")),
    };
    let changes = UserChanges {
        preferred_language: body.preferred_language.map(language).transpose()?,
        fleet_view,
        ..UserChanges::default()
    };
    if changes.is_empty() {
        return Err(ApiError::unprocessable(
            "nothing to change: give preferredLanguage or fleetView",
        ));
    }
    let mut conn = state.conn().await?;
    let user = users::update(&mut conn, session.user_id(), &changes)
        .await
        .or_api()?
        .ok_or_else(account_gone)?;
    Ok(web::Json(me(user, session.record.csrf)))
}
