//! `/api/auth/*`: signing in and out, and who am I.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use boom_contracts::{UserId, UserRole};
use boom_db::models::User;
use boom_db::schema::users;
use boom_server::{ApiError, ErrorCode};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::audit::{Audit, Who, client_ip};
use crate::auth::{self, Session, own_origin};
use crate::errors::OrApi;
use crate::state::AppState;

diesel::define_sql_function!(fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// Attempts per client address, and per username, in [`LOGIN_WINDOW`].
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
        csrf_token: csrf,
    }
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
    let ip = client_ip(&request)
        .map(|ip| ip.addr().to_string())
        .unwrap_or_else(|| "unknown".to_owned());
    auth::rate_limit(
        &state,
        &format!("login-ip:{ip}"),
        LOGIN_ATTEMPTS_PER_IP,
        LOGIN_WINDOW,
    )
    .await?;
    let username_key = format!("login-user:{}", username.to_lowercase());
    auth::rate_limit(
        &state,
        &username_key,
        LOGIN_ATTEMPTS_PER_USERNAME,
        LOGIN_WINDOW,
    )
    .await?;

    let mut conn = state.conn().await?;
    let user: Option<User> = users::table
        .filter(lower(users::username).eq(username.to_ascii_lowercase()))
        .select(User::as_select())
        .first(&mut conn)
        .await
        .optional()
        .or_api()?;
    let verified =
        auth::verify_password(password, user.as_ref().map(|u| u.password_hash.clone())).await;
    let user = match user {
        Some(user) if verified => user,
        found => {
            Audit::new("auth.login_failed", "user", found.as_ref().map(|u| u.id.0))
                .write(
                    &mut conn,
                    &request,
                    Who::Named(found.map(|u| u.id), &username),
                )
                .await?;
            return Err(ApiError::new(
                ErrorCode::Unauthorized,
                "wrong username or password",
            ));
        }
    };
    auth::reset_rate_limit(&state, &username_key).await?;
    let (token, record) = auth::open_session(&state, user.id, &user.username, user.role).await?;
    Audit::new("auth.login", "user", Some(user.id.0))
        .write(
            &mut conn,
            &request,
            Who::Named(Some(user.id), &user.username),
        )
        .await?;
    Ok(HttpResponse::Ok()
        .cookie(auth::session_cookie(&request, Some(&token)))
        .json(me(user, record.csrf)))
}

pub async fn logout(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth::close_session(&state, &session).await?;
    let mut conn = state.conn().await?;
    Audit::new("auth.logout", "user", Some(session.user_id().0))
        .write(&mut conn, &request, Who::Session(&session))
        .await?;
    Ok(HttpResponse::NoContent()
        .cookie(auth::session_cookie(&request, None))
        .finish())
}

pub async fn whoami(
    session: Session,
    state: web::Data<AppState>,
) -> Result<web::Json<Me>, ApiError> {
    let mut conn = state.conn().await?;
    let user: User = users::table
        .find(session.user_id())
        .select(User::as_select())
        .first(&mut conn)
        .await
        .optional()
        .or_api()?
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "this account no longer exists"))?;
    Ok(web::Json(me(user, session.record.csrf)))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateMe {
    /// `fr` or `en`: the dashboard's language for this user.
    pub preferred_language: String,
}

/// Anyone may choose their own language.
pub async fn update_me(
    session: Session,
    state: web::Data<AppState>,
    body: web::Json<UpdateMe>,
) -> Result<web::Json<Me>, ApiError> {
    let language = body.into_inner().preferred_language;
    if language != "fr" && language != "en" {
        return Err(ApiError::unprocessable("preferredLanguage: `fr` or `en`"));
    }
    let mut conn = state.conn().await?;
    let user: User = diesel::update(users::table.find(session.user_id()))
        .set(users::preferred_language.eq(language))
        .returning(User::as_returning())
        .get_result(&mut conn)
        .await
        .optional()
        .or_api()?
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "this account no longer exists"))?;
    Ok(web::Json(me(user, session.record.csrf)))
}
