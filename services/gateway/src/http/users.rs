//! `/api/users`: the people who sign in (admins only). Changing a user's role or password,
//! or deleting them, ends their sessions at once.

use actix_web::{HttpRequest, HttpResponse, web};
use boom_contracts::{UserId, UserRole};
use boom_db::models::{NewUser, UserChanges};
use boom_server::{ApiError, ErrorCode};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use crate::errors::OrApi;
use crate::http::account::language;
use crate::http::session::{Session, revoke_other_sessions, revoke_user_sessions};
use crate::pagination::{Page, PageQuery, page};
use crate::passwords::MIN_PASSWORD_LEN;
use crate::state::AppState;
use crate::store::audit::Audit;
use crate::store::users::{self, UserView};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateUser {
    /// 2 to 64 letters, digits, `.`, `_` or `-`.
    #[schemars(pattern(r"^[A-Za-z0-9._-]{2,64}$"))]
    pub username: String,
    /// At least 10 characters.
    #[schemars(length(min = 10))]
    pub password: String,
    pub role: UserRole,
    /// Their address at the company: single sign-on signs them in when the issuer vouches for
    /// it.
    pub email: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateUser {
    /// Not one's own (another admin must change it).
    pub role: Option<UserRole>,
    /// At least 10 characters.
    #[schemars(length(min = 10))]
    pub password: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    /// `fr` or `en`.
    #[schemars(pattern(r"^(fr|en)$"))]
    pub preferred_language: Option<String>,
    /// Whether their local password opens the dashboard (`false` once they sign in with the
    /// company's accounts). Not one's own: an admin keeps a way in when the issuer is down.
    pub password_login: Option<bool>,
}

/// An e-mail address as given (trimmed; empty: none), or 422. Single sign-on matches people
/// by it, so a typo is refused rather than stored.
fn check_email(text: &str) -> Result<Option<String>, ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let valid = text.is_ascii()
        && text.len() <= 254
        && !text.contains(char::is_whitespace)
        && text.matches('@').count() == 1
        && text.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(Some(text.to_owned()))
    } else {
        Err(ApiError::unprocessable(
            "email: an address like marie@example.com",
        ))
    }
}

async fn password_hash(state: &AppState, password: String) -> Result<String, ApiError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(ApiError::unprocessable(format!(
            "password: at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    state
        .passwords
        .hash(password)
        .await
        .map_err(|_| ApiError::unavailable("password checks are busy, try again").retry_after(1))?
        .map_err(ApiError::internal)
}

fn no_such_user(id: UserId) -> ApiError {
    ApiError::not_found(format!("no user {id}"))
}

pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<UserView>>, ApiError> {
    let (limit, after) = (query.limit()?, query.after()?);
    let mut conn = state.conn().await?;
    let rows = users::list(&mut conn, limit, after).await.or_api()?;
    Ok(web::Json(page(
        rows,
        limit,
        |u| i64::from(u.id.0),
        UserView::from,
    )))
}

pub async fn create(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    body: web::Json<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    let CreateUser {
        username,
        password,
        role,
        email,
    } = body.into_inner();
    let email = email.as_deref().map(check_email).transpose()?.flatten();
    let password_hash = password_hash(&state, password).await?;
    let mut conn = state.conn().await?;
    let new = NewUser {
        username: username.clone(),
        role,
        password_hash,
        email,
    };
    let user = users::insert(&mut conn, new).await.map_err(|e| match e {
        e if boom_db::is_unique_violation(&e) => ApiError::new(
            ErrorCode::Conflict,
            format!("a user named `{username}`, or with this e-mail address, exists"),
        ),
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::CheckViolation,
            _,
        ) => ApiError::unprocessable("username: 2 to 64 letters, digits, `.`, `_` or `-`"),
        other => crate::errors::from_diesel(other),
    })?;
    Audit::new("user.create", "user", Some(user.id.0))
        .details(json!({"username": user.username, "role": user.role}))
        .write(&mut conn, &session.actor(&request))
        .await
        .or_api()?;
    Ok(HttpResponse::Created().json(UserView::from(user)))
}

pub async fn update(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    id: web::Path<i32>,
    body: web::Json<UpdateUser>,
) -> Result<web::Json<UserView>, ApiError> {
    let id = UserId(*id);
    let body = body.into_inner();
    let yourself = id == session.user_id();
    if yourself && body.role.is_some_and(|role| role != session.record.role) {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "you cannot change your own role: another admin can",
        ));
    }
    let email = body.email.as_deref().map(check_email).transpose()?;
    let mut password_login = body.password_login;
    if password_login.is_some() || body.role.is_some() {
        let mut conn = state.conn().await?;
        let current = users::find(&mut conn, id)
            .await
            .or_api()?
            .ok_or_else(|| no_such_user(id))?;
        let role = body.role.unwrap_or(current.role);
        if role == UserRole::Admin {
            // Admins keep a password: the way in when the issuer is down. Promoting someone
            // whose password was off turns it back on.
            if password_login == Some(false) {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    "an admin keeps a password sign-in: the way in when single sign-on is down",
                ));
            }
            if !current.password_login {
                password_login = Some(true);
            }
        } else if password_login == Some(false) {
            let has_email = match &email {
                Some(new) => new.is_some(),
                None => current.email.is_some(),
            };
            if !has_email && current.infomaniak_id.is_none() {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    "without a company e-mail or a bound company account, no way in would remain",
                ));
            }
        }
    }
    // A new address is a new person to the issuer: the old binding goes, and the sessions.
    let unbind = email.is_some();
    let revoke =
        body.role.is_some() || body.password.is_some() || password_login.is_some() || unbind;
    let new_hash = match body.password {
        Some(password) => Some(password_hash(&state, password).await?),
        None => None,
    };
    let changes = UserChanges {
        preferred_language: body.preferred_language.map(language).transpose()?,
        email: email.clone(),
        name: body.name.map(|n| Some(n).filter(|n| !n.is_empty())),
        role: body.role,
        password_hash: new_hash,
        // Each person's own choice (`PATCH /api/auth/me`), not an admin's.
        fleet_view: None,
        password_login,
        infomaniak_id: unbind.then_some(None),
    };
    // One's own password: the other browsers are signed out, this one stays (unless something
    // revoked it meanwhile: then all go, this one too).
    let mut kept = Some(session.record.epoch);
    let mut revoke_sessions = async || -> Result<(), ApiError> {
        kept = match kept.filter(|_| yourself) {
            Some(expected) => revoke_other_sessions(&state, &session, expected).await?,
            None => {
                revoke_user_sessions(&state, id).await?;
                None
            }
        };
        Ok(())
    };
    if revoke {
        revoke_sessions().await?;
    }
    let mut conn = state.conn().await?;
    let user = users::update(&mut conn, id, &changes)
        .await
        .or_api()?
        .ok_or_else(|| no_such_user(id))?;
    if revoke {
        revoke_sessions().await?;
    }
    Audit::new("user.update", "user", Some(id.0))
        .details(json!({
            "role": changes.role,
            "passwordChanged": changes.password_hash.is_some(),
            "passwordLogin": changes.password_login,
            "email": changes.email,
        }))
        .write(&mut conn, &session.actor(&request))
        .await
        .or_api()?;
    Ok(web::Json(UserView::from(user)))
}

pub async fn delete(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    id: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId(*id);
    if id == session.user_id() {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "you cannot delete your own account",
        ));
    }
    revoke_user_sessions(&state, id).await?;
    let mut conn = state.conn().await?;
    let username = users::delete(&mut conn, id)
        .await
        .or_api()?
        .ok_or_else(|| no_such_user(id))?;
    revoke_user_sessions(&state, id).await?;
    Audit::new("user.delete", "user", Some(id.0))
        .details(json!({"username": username}))
        .write(&mut conn, &session.actor(&request))
        .await
        .or_api()?;
    Ok(HttpResponse::NoContent().finish())
}
