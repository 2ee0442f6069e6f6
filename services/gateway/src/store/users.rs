//! Users: the people who sign in, their role and their dashboard language. Passwords are
//! stored as argon2id PHC strings (see [`crate::passwords`]).

use boom_contracts::{UserId, UserRole};
use boom_db::models::{NewUser, User, UserChanges};
use boom_db::schema::users;
use chrono::{DateTime, Utc};
use diesel::result::QueryResult;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use schemars::JsonSchema;
use serde::Serialize;

diesel::define_sql_function!(fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text);

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: UserId,
    pub username: String,
    pub role: UserRole,
    pub name: Option<String>,
    pub email: Option<String>,
    pub preferred_language: String,
    /// Whether their local password opens the dashboard.
    pub password_login: bool,
    /// Whether they have signed in with single sign-on (the issuer's account is bound).
    pub single_sign_on: bool,
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
            password_login: u.password_login,
            single_sign_on: u.infomaniak_id.is_some(),
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

pub async fn find(conn: &mut AsyncPgConnection, id: UserId) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .await
        .optional()
}

/// The user of that name, compared case-insensitively (as the unique index does).
pub async fn find_by_username(
    conn: &mut AsyncPgConnection,
    username: &str,
) -> QueryResult<Option<User>> {
    users::table
        .filter(lower(users::username).eq(username.to_ascii_lowercase()))
        .select(User::as_select())
        .first(conn)
        .await
        .optional()
}

/// The person single sign-on names: the account already bound to the issuer's `subject`, else
/// the one whose e-mail is `email` (compared case-insensitively, as the unique index does) and
/// that is bound to no other subject, which is then bound to this one.
pub async fn find_for_sign_on(
    conn: &mut AsyncPgConnection,
    subject: &str,
    email: Option<&str>,
) -> QueryResult<Option<User>> {
    if let Some(user) = users::table
        .filter(users::infomaniak_id.eq(subject))
        .select(User::as_select())
        .first(conn)
        .await
        .optional()?
    {
        return Ok(Some(user));
    }
    let Some(email) = email else {
        return Ok(None);
    };
    diesel::update(
        users::table
            .filter(
                // Both sides lowered by PostgreSQL, as the unique index on lower(email) is.
                diesel::dsl::sql::<diesel::sql_types::Bool>("lower(users.email) = lower(")
                    .bind::<diesel::sql_types::Text, _>(email)
                    .sql(")"),
            )
            .filter(users::infomaniak_id.is_null()),
    )
    .set((
        users::infomaniak_id.eq(Some(subject)),
        users::updated_at.eq(diesel::dsl::now),
    ))
    .returning(User::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// A page of users by id: `limit + 1` rows after the id `after`.
pub async fn list(
    conn: &mut AsyncPgConnection,
    limit: i64,
    after: Option<i64>,
) -> QueryResult<Vec<User>> {
    let mut query = users::table
        .order(users::id.asc())
        .limit(limit + 1)
        .select(User::as_select())
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(users::id.gt(i32::try_from(after).unwrap_or(i32::MAX)));
    }
    query.load(conn).await
}

pub async fn insert(conn: &mut AsyncPgConnection, new: NewUser) -> QueryResult<User> {
    diesel::insert_into(users::table)
        .values(new)
        .returning(User::as_returning())
        .get_result(conn)
        .await
}

/// Applies `changes` (none: the user as they are); `None` when there is no such user.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: UserId,
    changes: &UserChanges,
) -> QueryResult<Option<User>> {
    if changes.is_empty() {
        return find(conn, id).await;
    }
    diesel::update(users::table.find(id))
        .set(changes)
        .returning(User::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Deletes a user; their username, or `None` when there was no such user.
pub async fn delete(conn: &mut AsyncPgConnection, id: UserId) -> QueryResult<Option<String>> {
    diesel::delete(users::table.find(id))
        .returning(users::username)
        .get_result(conn)
        .await
        .optional()
}
