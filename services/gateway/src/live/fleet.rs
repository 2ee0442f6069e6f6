//! The fleet as the dashboard reads it, built once and shared.
//!
//! `GET /api/photomatons` and the snapshot a WebSocket client receives on connect both need
//! every booth's view: four queries and about a kilobyte of JSON per booth. Each gateway
//! instance keeps the serialised views of the whole fleet and serves both from them:
//! - built by one reader while the others wait for it (a single flight), so a burst of
//!   dashboards reconnecting after a restart costs one build, not one per browser;
//! - dropped as soon as anything changes: every committed change reaches every instance on the
//!   live subject, and the instance that made it also invalidates before publishing, so a
//!   client that reads after its own write sees it;
//! - never older than [`MAX_AGE`], for what changes with the clock alone (the day's counts at
//!   midnight) or would reach this instance through a lost live message.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use boom_contracts::PhotomatonId;
use boom_contracts::messages::FrameKind;
use boom_db::{DbError, DbPool};
use bytes::{BufMut, Bytes, BytesMut};

/// The longest a built fleet is served while no change was heard.
pub const MAX_AGE: Duration = Duration::from_secs(2);

/// One booth, serialised once for both readers.
#[derive(Debug)]
pub struct Entry {
    pub id: PhotomatonId,
    /// The view as the HTTP API represents it.
    pub view: Bytes,
    /// The WebSocket frame `{"event":"photomaton:updated","data":VIEW}`, encoded for the wire.
    pub frame: Bytes,
}

/// Every booth, by id.
#[derive(Debug)]
pub struct Fleet {
    generation: u64,
    built: Instant,
    pub booths: Vec<Entry>,
    /// The first page (what the dashboard asks: every booth, no cursor) gzip-compressed, made
    /// by its first reader that accepts gzip: `(limit, body)`.
    first_page_gzip: std::sync::OnceLock<(usize, Bytes)>,
}

impl Fleet {
    /// The first page of at most `limit` booths, gzip-compressed (fast level: a 1,000-booth
    /// fleet goes from ~750 KB to ~60 KB for a phone on 4G), compressed once per fleet.
    pub fn first_page_gzip(&self, limit: usize) -> Bytes {
        if let Some((cached, body)) = self.first_page_gzip.get()
            && *cached == limit
        {
            return body.clone();
        }
        let plain = self.page(limit, None);
        let mut encoder = flate2::write::GzEncoder::new(
            Vec::with_capacity(plain.len() / 8),
            flate2::Compression::fast(),
        );
        let body = std::io::Write::write_all(&mut encoder, &plain)
            .and_then(|()| encoder.finish())
            .map(Bytes::from)
            .unwrap_or_default();
        let _first = self.first_page_gzip.set((limit, body.clone()));
        body
    }

    /// The JSON page `{"items":[…],"nextCursor":…}` of at most `limit` booths after the id
    /// `after`, in the same shape and order as the database query it replaces.
    pub fn page(&self, limit: usize, after: Option<i64>) -> Bytes {
        let start = after.map_or(0, |after| {
            self.booths
                .partition_point(|entry| i64::from(entry.id.0) <= after)
        });
        let rest = self.booths.get(start..).unwrap_or_default();
        let items = rest.get(..limit).unwrap_or(rest);
        let next_cursor = (rest.len() > limit)
            .then(|| items.last())
            .flatten()
            .map(|last| crate::pagination::cursor(i64::from(last.id.0)));
        let size: usize = items.iter().map(|e| e.view.len() + 1).sum();
        let mut body = BytesMut::with_capacity(size + 64);
        body.put_slice(b"{\"items\":[");
        for (i, entry) in items.iter().enumerate() {
            if i > 0 {
                body.put_u8(b',');
            }
            body.put_slice(&entry.view);
        }
        body.put_slice(b"],\"nextCursor\":");
        match next_cursor {
            Some(cursor) => body.put_slice(
                serde_json::to_string(&cursor)
                    .unwrap_or_else(|_| "null".into())
                    .as_bytes(),
            ),
            None => body.put_slice(b"null"),
        }
        body.put_u8(b'}');
        body.freeze()
    }
}

#[derive(Default)]
struct Inner {
    generation: AtomicU64,
    current: tokio::sync::Mutex<Option<Arc<Fleet>>>,
}

/// This instance's fleet; cheap to clone.
#[derive(Clone, Default)]
pub struct FleetCache {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for FleetCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetCache")
            .field("generation", &self.inner.generation.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl FleetCache {
    /// Forgets the built fleet: the next reader rebuilds it.
    pub fn invalidate(&self) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether a live update of this kind can change what a booth's view says.
    pub fn changes_views(event: FrameKind) -> bool {
        !matches!(
            event,
            FrameKind::PhotomatonAction
                | FrameKind::PhotomatonCommand
                | FrameKind::AlertUpdated
                | FrameKind::LiveResync
        )
    }

    /// The current fleet, built now if what was built is stale.
    pub async fn get(&self, db: &DbPool) -> Result<Arc<Fleet>, DbError> {
        let mut slot = self.inner.current.lock().await;
        // Read before the queries: a change committed while they run bumps the generation
        // after its commit, so what is built here is not taken for fresh afterwards.
        let generation = self.inner.generation.load(Ordering::Acquire);
        if let Some(fleet) = slot.as_ref()
            && fleet.generation == generation
            && fleet.built.elapsed() < MAX_AGE
        {
            return Ok(fleet.clone());
        }
        *slot = None;
        let mut conn = db.get().await?;
        let views = crate::store::photomatons::all_views(&mut conn).await?;
        drop(conn);
        let mut booths = Vec::with_capacity(views.len());
        for view in views {
            // Serialised once: the frame carries the same bytes as raw JSON. A view always
            // serialises (its fields are plain data), so a failure only drops that booth.
            let Some(raw) = serde_json::to_string(&view)
                .ok()
                .and_then(|json| serde_json::value::RawValue::from_string(json).ok())
            else {
                tracing::error!(photomaton = %view.id, "booth view not serialisable");
                continue;
            };
            booths.push(Entry {
                id: view.id,
                frame: crate::live::frame(FrameKind::PhotomatonUpdated, &*raw),
                view: Bytes::from(raw.get().to_owned()),
            });
        }
        let fleet = Arc::new(Fleet {
            generation,
            built: Instant::now(),
            booths,
            first_page_gzip: std::sync::OnceLock::new(),
        });
        *slot = Some(fleet.clone());
        Ok(fleet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pagination::PageQuery;

    fn fleet(ids: &[i32]) -> Fleet {
        Fleet {
            generation: 0,
            built: Instant::now(),
            booths: ids
                .iter()
                .map(|&id| Entry {
                    id: PhotomatonId(id),
                    view: Bytes::from(format!(r#"{{"id":{id}}}"#)),
                    frame: Bytes::new(),
                })
                .collect(),
            first_page_gzip: std::sync::OnceLock::new(),
        }
    }

    fn page(fleet: &Fleet, limit: usize, cursor: Option<String>) -> serde_json::Value {
        let query = PageQuery {
            limit: None,
            cursor,
        };
        let after = query.after().ok().flatten();
        serde_json::from_slice(&fleet.page(limit, after)).unwrap_or_default()
    }

    #[test]
    fn pages_walk_the_fleet_by_id_with_the_usual_cursors() {
        let fleet = fleet(&[2, 3, 5, 8, 13]);
        let first = page(&fleet, 2, None);
        assert_eq!(first["items"], serde_json::json!([{"id": 2}, {"id": 3}]));
        let cursor = first["nextCursor"].as_str().map(str::to_owned);
        assert_eq!(
            cursor.as_deref(),
            Some(crate::pagination::cursor(3).as_str())
        );
        let second = page(&fleet, 2, cursor);
        assert_eq!(second["items"], serde_json::json!([{"id": 5}, {"id": 8}]));
        let last = page(&fleet, 2, second["nextCursor"].as_str().map(str::to_owned));
        assert_eq!(last["items"], serde_json::json!([{"id": 13}]));
        assert_eq!(last["nextCursor"], serde_json::Value::Null);
        // Exactly a page left: no cursor to an empty page.
        assert_eq!(page(&fleet, 5, None)["nextCursor"], serde_json::Value::Null);
        assert_eq!(
            page(&fleet, 50, None)["items"].as_array().map(Vec::len),
            Some(5)
        );
    }

    #[test]
    fn a_cursor_past_the_end_or_on_a_deleted_booth_still_pages() {
        let fleet = fleet(&[2, 3, 5]);
        let after_deleted = page(&fleet, 10, Some(crate::pagination::cursor(4)));
        assert_eq!(after_deleted["items"], serde_json::json!([{"id": 5}]));
        let past = page(&fleet, 10, Some(crate::pagination::cursor(99)));
        assert_eq!(past["items"], serde_json::json!([]));
        assert_eq!(
            page(&self::fleet(&[]), 10, None)["items"],
            serde_json::json!([])
        );
    }
}
