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
//! - rebuilt once older than [`MAX_AGE`], for what changes with the clock alone (the day's
//!   counts at midnight) or would reach this instance through a lost live message. Then only
//!   the reader that rebuilds waits: the others go on with the fleet built before, which
//!   nothing is known to have changed (never older than [`MAX_STALE`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use boom_contracts::PhotomatonId;
use boom_contracts::messages::FrameKind;
use boom_db::{DbError, DbPool};
use bytes::{BufMut, Bytes, BytesMut};

/// The age past which a built fleet is rebuilt while no change was heard (served meanwhile to
/// the readers that do not rebuild it, up to [`MAX_STALE`]).
pub const MAX_AGE: Duration = Duration::from_secs(2);

/// The oldest fleet served while another reader rebuilds it; past that (the database slow or
/// unreachable for so long), readers wait for the build and get its error if it fails.
const MAX_STALE: Duration = Duration::from_secs(10);

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
    /// The first page uncompressed, made by its first reader: `(limit, body)`.
    first_page: std::sync::OnceLock<(usize, Bytes)>,
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
        if after.is_some() {
            return self.build_page(limit, after);
        }
        // The first page is what every dashboard asks for (~750 KB for 1,000 booths): made
        // once per fleet, then shared.
        if let Some((cached, body)) = self.first_page.get()
            && *cached == limit
        {
            return body.clone();
        }
        let body = self.build_page(limit, None);
        let _first = self.first_page.set((limit, body.clone()));
        body
    }

    fn build_page(&self, limit: usize, after: Option<i64>) -> Bytes {
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
    /// The fleet built last (never held across an await).
    current: std::sync::Mutex<Option<Arc<Fleet>>>,
    /// Held by the reader that builds.
    building: tokio::sync::Mutex<()>,
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

    /// The current fleet, built now if something changed since it was built; when it is only
    /// older than [`MAX_AGE`], one reader rebuilds it and the others get the one built before.
    pub async fn get(&self, db: &DbPool) -> Result<Arc<Fleet>, DbError> {
        if let Some(fleet) = self.built()
            && fleet.generation == self.inner.generation.load(Ordering::Acquire)
        {
            let age = fleet.built.elapsed();
            if age < MAX_AGE {
                return Ok(fleet);
            }
            if age < MAX_STALE {
                match self.inner.building.try_lock() {
                    Ok(building) => return self.build(db, building).await,
                    // Someone rebuilds it already, and nothing is known to have changed.
                    Err(_) => return Ok(fleet),
                }
            }
        }
        // Changed, or never built: what was built must not be served. Wait for whoever
        // builds, then take what they built if it is what is needed now.
        let building = self.inner.building.lock().await;
        if let Some(fleet) = self.built()
            && fleet.generation == self.inner.generation.load(Ordering::Acquire)
            && fleet.built.elapsed() < MAX_AGE
        {
            return Ok(fleet);
        }
        self.build(db, building).await
    }

    fn built(&self) -> Option<Arc<Fleet>> {
        self.inner
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Builds the fleet from the database (the caller holds `building`).
    async fn build(
        &self,
        db: &DbPool,
        _building: tokio::sync::MutexGuard<'_, ()>,
    ) -> Result<Arc<Fleet>, DbError> {
        // Read before the queries: a change committed while they run bumps the generation
        // after its commit, so what is built here is not taken for fresh afterwards.
        let generation = self.inner.generation.load(Ordering::Acquire);
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
            first_page: std::sync::OnceLock::new(),
        });
        *self
            .inner
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(fleet.clone());
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
            first_page: std::sync::OnceLock::new(),
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

    /// A cache holding `fleet`, built `age` ago, over a database that cannot be reached (a
    /// rebuild fails at once; serving what was built does not touch it).
    fn cache_with(
        fleet: Fleet,
        age: Duration,
    ) -> Result<(FleetCache, DbPool, Arc<Fleet>), DbError> {
        let fleet = Arc::new(Fleet {
            built: Instant::now() - age,
            ..fleet
        });
        let cache = FleetCache::default();
        *cache
            .inner
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(fleet.clone());
        let options = boom_db::PoolOptions {
            application_name: "test".into(),
            max_connections: 1,
            statement_timeout: Duration::from_secs(1),
            acquire_timeout: Duration::from_secs(1),
        };
        let db = boom_db::pool("postgres://nobody@127.0.0.1:1/none", &options)?;
        Ok((cache, db, fleet))
    }

    #[tokio::test]
    async fn an_old_fleet_is_rebuilt_by_one_reader_while_the_others_get_it_as_it_was()
    -> Result<(), DbError> {
        use futures::FutureExt;
        let (cache, db, old) = cache_with(fleet(&[1, 2]), MAX_AGE + Duration::from_millis(500))?;
        // Another reader is rebuilding it: this one is answered at once, with the old fleet.
        let building = cache.inner.building.lock().await;
        let served = cache.get(&db).now_or_never();
        assert!(
            matches!(&served, Some(Ok(fleet)) if Arc::ptr_eq(fleet, &old)),
            "{served:?}"
        );
        // Once something changed, the old fleet is no longer served: readers wait.
        cache.invalidate();
        assert!(cache.get(&db).now_or_never().is_none());
        drop(building);
        // Nobody rebuilding: this reader rebuilds (and reports that the database is down).
        assert!(cache.get(&db).await.is_err());
        Ok(())
    }

    #[tokio::test]
    async fn a_fleet_past_its_stale_limit_is_not_served_while_another_reader_rebuilds()
    -> Result<(), DbError> {
        use futures::FutureExt;
        let (cache, db, _) = cache_with(fleet(&[1]), MAX_STALE + Duration::from_secs(1))?;
        let building = cache.inner.building.lock().await;
        assert!(cache.get(&db).now_or_never().is_none());
        drop(building);
        assert!(cache.get(&db).await.is_err());
        Ok(())
    }

    #[test]
    fn the_first_page_is_made_once_per_fleet_and_limit() {
        let fleet = fleet(&[1, 2, 3]);
        let a = fleet.page(2, None);
        let b = fleet.page(2, None);
        assert_eq!(a.as_ptr(), b.as_ptr(), "the same bytes, not a copy");
        let other = fleet.page(3, None);
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&other).unwrap_or_default()["items"],
            serde_json::json!([{"id": 1}, {"id": 2}, {"id": 3}])
        );
    }
}
