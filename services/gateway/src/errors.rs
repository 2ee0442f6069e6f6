//! How failures of what the gateway depends on become answers: the client learns what it can
//! act on (409 for a duplicate, 422 for a refused value, 503 when PostgreSQL, Redis or another
//! service is down), the log gets the rest.

use boom_bus::BusError;
use boom_cache::CacheError;
use boom_db::DbError;
use boom_server::{ApiError, ErrorCode};
use diesel::result::{DatabaseErrorKind, Error as DieselError};

pub fn from_diesel(error: DieselError) -> ApiError {
    match &error {
        DieselError::NotFound => ApiError::not_found("no such resource"),
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => ApiError::new(
            ErrorCode::Conflict,
            format!(
                "already exists ({})",
                info.constraint_name().unwrap_or("unique constraint")
            ),
        ),
        DieselError::DatabaseError(DatabaseErrorKind::CheckViolation, info) => {
            ApiError::unprocessable(format!(
                "value refused ({})",
                info.constraint_name().unwrap_or("check constraint")
            ))
        }
        DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
            ApiError::unprocessable("refers to something that does not exist")
        }
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => {
            ApiError::unavailable("the database connection was lost, try again")
        }
        // A value PostgreSQL cannot take (a date before 4713 BC, a number out of range): the
        // caller's, not ours. Handlers validate what they can; this is the net under them.
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
            if boom_db::is_permanent(&error) =>
        {
            ApiError::unprocessable(format!("value refused: {}", info.message()))
        }
        _ => ApiError::internal(error),
    }
}

pub fn from_db(error: DbError) -> ApiError {
    match error {
        DbError::Query(e) => from_diesel(e),
        DbError::Pool(_) | DbError::Connect(_) => {
            tracing::warn!(%error, "database unavailable");
            ApiError::unavailable("the database is unavailable, try again shortly")
        }
        other => ApiError::internal(other),
    }
}

/// A request to another service over NATS that got no answer: a 503 naming the service.
pub fn from_bus(service: &str, error: BusError) -> ApiError {
    match error {
        BusError::NoResponders(_) => {
            ApiError::unavailable(format!("{service} is not running: nothing was done"))
        }
        BusError::Timeout(_) => ApiError::unavailable(format!("{service} did not answer in time")),
        other => ApiError::unavailable(format!("{service} is unreachable: {other}")),
    }
}

pub fn from_cache(error: CacheError) -> ApiError {
    tracing::warn!(%error, "redis unavailable");
    ApiError::unavailable("sessions are unavailable (Redis), try again shortly")
}

/// `?` on storage results inside handlers.
pub trait OrApi<T> {
    fn or_api(self) -> Result<T, ApiError>;
}

impl<T> OrApi<T> for Result<T, DieselError> {
    fn or_api(self) -> Result<T, ApiError> {
        self.map_err(from_diesel)
    }
}

/// The change is saved, but ingest and control could not be told (NATS): 503, so that a
/// rotated key is not believed dead while ingest still takes it.
pub fn from_registry(error: &crate::registry::RegistryUnavailable) -> ApiError {
    tracing::warn!(%error, "change saved but not mirrored to the registry");
    ApiError::unavailable(
        "saved, but the booth services could not be told (NATS unreachable): it reaches them within a minute; try again to be sure",
    )
}

impl<T> OrApi<T> for Result<T, crate::registry::RegistryUnavailable> {
    fn or_api(self) -> Result<T, ApiError> {
        self.map_err(|e| from_registry(&e))
    }
}

impl<T> OrApi<T> for Result<T, DbError> {
    fn or_api(self) -> Result<T, ApiError> {
        self.map_err(from_db)
    }
}

impl<T> OrApi<T> for Result<T, CacheError> {
    fn or_api(self) -> Result<T, ApiError> {
        self.map_err(from_cache)
    }
}

impl<T> OrApi<T> for Result<T, boom_cache::redis::RedisError> {
    fn or_api(self) -> Result<T, ApiError> {
        self.map_err(|e| from_cache(CacheError::Redis(e)))
    }
}
