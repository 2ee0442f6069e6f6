//! `/api/users`: the people who sign in (admins only). Changing a user's role or password,
//! or deleting them, ends their sessions at once.

use actix_web::{HttpRequest, HttpResponse, web};
use boom_contracts::{UserId, UserRole};
use boom_db::models::{NewUser, User, UserChanges};
use boom_db::schema::users;
use boom_server::{ApiError, ErrorCode};
use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{Audit, Who};
use crate::auth::{Session, revoke_user_sessions};
use crate::cli::{MIN_PASSWORD_LEN, hash_password};
use crate::errors::OrApi;
use crate::pagination::{Page, PageQuery, page};
use crate::state::AppState;

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: UserId,
    pub username: String,
    pub role: UserRole,
    pub name: Option<String>,
    pub email: Option<String>,
    pub preferred_language: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            username: u.username,
            role: u.role,
            name: u.name,
            email: u.email,
            preferred_language: u.preferred_language,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateUser {
    pub username: String,
    pub password: String,
    pub role: UserRole,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateUser {
    pub role: Option<UserRole>,
    pub password: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    /// `fr` or `en`.
    pub preferred_language: Option<String>,
}

fn password_hash(password: &str) -> Result<String, ApiError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(ApiError::unprocessable(format!(
            "password: at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    hash_password(password).map_err(ApiError::internal)
}

pub async fn list(
    session: Session,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<UserView>>, ApiError> {
    session.require(UserRole::Admin)?;
    let (limit, after) = (query.limit()?, query.after()?);
    let mut conn = state.conn().await?;
    let mut q = users::table
        .order(users::id.asc())
        .limit(limit + 1)
        .select(User::as_select())
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(users::id.gt(i32::try_from(after).unwrap_or(i32::MAX)));
    }
    let rows: Vec<User> = q.load(&mut conn).await.or_api()?;
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
    session.require(UserRole::Admin)?;
    let CreateUser {
        username,
        password,
        role,
    } = body.into_inner();
    let password_hash = password_hash(&password)?;
    let mut conn = state.conn().await?;
    let user: User = diesel::insert_into(users::table)
        .values(NewUser {
            username: username.clone(),
            role,
            password_hash,
        })
        .returning(User::as_returning())
        .get_result(&mut conn)
        .await
        .map_err(|e| match e {
            e if boom_db::is_unique_violation(&e) => ApiError::new(
                ErrorCode::Conflict,
                format!("a user named `{username}` exists"),
            ),
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::CheckViolation,
                _,
            ) => ApiError::unprocessable("username: 2 to 64 letters, digits, `.`, `_` or `-`"),
            other => crate::errors::from_diesel(other),
        })?;
    Audit::new("user.create", "user", Some(user.id.0))
        .details(json!({"username": user.username, "role": user.role}))
        .write(&mut conn, &request, Who::Session(&session))
        .await?;
    Ok(HttpResponse::Created().json(UserView::from(user)))
}

pub async fn update(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    id: web::Path<i32>,
    body: web::Json<UpdateUser>,
) -> Result<web::Json<UserView>, ApiError> {
    session.require(UserRole::Admin)?;
    let id = UserId(*id);
    let body = body.into_inner();
    if let Some(lang) = &body.preferred_language
        && lang != "fr"
        && lang != "en"
    {
        return Err(ApiError::unprocessable("preferredLanguage: `fr` or `en`"));
    }
    let revoke = body.role.is_some() || body.password.is_some();
    let changes = UserChanges {
        email: body.email.map(|e| Some(e).filter(|e| !e.is_empty())),
        name: body.name.map(|n| Some(n).filter(|n| !n.is_empty())),
        role: body.role,
        password_hash: body.password.as_deref().map(password_hash).transpose()?,
        preferred_language: body.preferred_language,
    };
    let mut conn = state.conn().await?;
    let user: User = if changes.email.is_none()
        && changes.name.is_none()
        && changes.role.is_none()
        && changes.password_hash.is_none()
        && changes.preferred_language.is_none()
    {
        users::table
            .find(id)
            .select(User::as_select())
            .first(&mut conn)
            .await
            .optional()
            .or_api()?
    } else {
        diesel::update(users::table.find(id))
            .set(&changes)
            .returning(User::as_returning())
            .get_result(&mut conn)
            .await
            .optional()
            .or_api()?
    }
    .ok_or_else(|| ApiError::not_found(format!("no user {id}")))?;
    if revoke {
        revoke_user_sessions(&state, id).await?;
    }
    Audit::new("user.update", "user", Some(id.0))
        .details(json!({"role": changes.role, "passwordChanged": changes.password_hash.is_some()}))
        .write(&mut conn, &request, Who::Session(&session))
        .await?;
    Ok(web::Json(UserView::from(user)))
}

pub async fn delete(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    id: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    session.require(UserRole::Admin)?;
    let id = UserId(*id);
    if id == session.user_id() {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "you cannot delete your own account",
        ));
    }
    let mut conn = state.conn().await?;
    let username: String = diesel::delete(users::table.find(id))
        .returning(users::username)
        .get_result(&mut conn)
        .await
        .optional()
        .or_api()?
        .ok_or_else(|| ApiError::not_found(format!("no user {id}")))?;
    revoke_user_sessions(&state, id).await?;
    Audit::new("user.delete", "user", Some(id.0))
        .details(json!({"username": username}))
        .write(&mut conn, &request, Who::Session(&session))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
