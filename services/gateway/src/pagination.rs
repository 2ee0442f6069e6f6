//! Keyset pagination with opaque cursors: `?limit=` (1–1000, default 50) and `?cursor=` from
//! the previous page's `nextCursor`. Cursors name the last id seen, so a page never repeats
//! or skips a row when rows are added meanwhile.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use boom_server::ApiError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 1000;

/// The page a client asks for.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// A page of items and the cursor of the next one (`null` on the last page).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl PageQuery {
    pub fn limit(&self) -> Result<i64, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(n) => Err(ApiError::bad_request(format!(
                "limit {n} is out of range 1..={MAX_LIMIT}"
            ))),
        }
    }

    /// The id after which the page starts (in the order of the list).
    pub fn after(&self) -> Result<Option<i64>, ApiError> {
        let Some(cursor) = &self.cursor else {
            return Ok(None);
        };
        let refuse =
            || ApiError::bad_request("malformed cursor: use the nextCursor of the previous page");
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| refuse())?;
        let text = String::from_utf8(bytes).map_err(|_| refuse())?;
        text.strip_prefix("id:")
            .and_then(|id| id.parse().ok())
            .map(Some)
            .ok_or_else(refuse)
    }
}

/// The cursor of the page that starts after the row `id`.
pub fn cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("id:{id}"))
}

/// Builds the page from `limit + 1` rows fetched: the extra row only says there is more.
pub fn page<T, R>(
    mut rows: Vec<R>,
    limit: i64,
    id_of: impl Fn(&R) -> i64,
    into: impl Fn(R) -> T,
) -> Page<T> {
    let limit = usize::try_from(limit).unwrap_or(0);
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|last| cursor(id_of(last)))
    } else {
        None
    };
    Page {
        items: rows.into_iter().map(into).collect(),
        next_cursor,
    }
}

/// Property tests: a cursor is opaque to clients, who may send anything back.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn any_cursor_is_read_or_refused_with_a_400(text in any::<String>()) {
            let query = PageQuery { limit: None, cursor: Some(text) };
            if let Err(error) = query.after() {
                prop_assert_eq!(error.code, boom_server::ErrorCode::BadRequest);
            }
        }

        #[test]
        fn the_cursor_of_a_row_names_that_row(id in any::<i64>()) {
            let query = PageQuery { limit: None, cursor: Some(cursor(id)) };
            prop_assert_eq!(query.after().ok().flatten(), Some(id));
        }

        #[test]
        fn a_limit_is_taken_in_range_or_refused(limit in any::<i64>()) {
            let query = PageQuery { limit: Some(limit), cursor: None };
            prop_assert_eq!(query.limit().is_ok(), (1..=MAX_LIMIT).contains(&limit));
        }
    }
}
