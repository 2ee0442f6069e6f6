//! Live updates to browsers, across every gateway instance.
//!
//! After a commit, the instance that made it publishes a [`LiveUpdate`] on the core NATS
//! subject `<prefix>.gateway.live.update` ([`Live::publish`]). Every instance hears it
//! ([`fanout`]) and hands it to its own [`LiveHub`], which queues one shared frame to each of
//! its WebSocket clients (the frames of updates that arrive together, as one message); views
//! of booths are served from the [`FleetCache`], which every view-changing update invalidates.

mod fanout;
mod fleet;
mod hub;
pub mod wire;

use boom_bus::Bus;
use boom_contracts::messages::{FrameKind, LiveUpdate};
use boom_contracts::{EventId, PhotomatonId};
use boom_db::DbPool;
use boom_db::models::Event;
use serde_json::json;

pub use fanout::run_fanout;
pub use fleet::{Fleet, FleetCache};
pub use hub::{CLIENT_QUEUE, Joined, LiveHub, frame};

use crate::store::events::EventView;
use crate::store::photomatons::{self, PhotomatonView};

/// Booths and events whose views are to be published, and whether a flush is on its way.
#[derive(Default)]
struct Pending {
    ids: std::collections::BTreeSet<PhotomatonId>,
    events: std::collections::BTreeSet<EventId>,
    db: Option<DbPool>,
    scheduled: bool,
    /// Reads failed in a row (see [`MAX_FAILED_READS`]).
    failures: u32,
    /// When the events gathered were last taken to be read (see [`EVENTS_EVERY`]).
    events_taken: Option<std::time::Instant>,
}

/// How often the events' views go at most. A recorded batch changes its event's totals as
/// well as its booth, and the booth's own view already carries its current event's totals (the
/// card's first line); the events' frames serve the pages of events, where a total half a
/// second old is as good as a fresh one. At every booth's pace, they would double what each
/// browser is sent.
const EVENTS_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Failed reads in a row (one a second) before the gathered views are let go.
const MAX_FAILED_READS: u32 = 60;

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("ids", &self.ids)
            .field("events", &self.events)
            .field("scheduled", &self.scheduled)
            .finish_non_exhaustive()
    }
}

/// How often the events' views go at most, on a beat of `coalesce`: every so many beats, as few
/// as make [`EVENTS_EVERY`] or more; at once when views are not gathered
/// (`http.live_coalesce_ms = 0`).
fn events_every(coalesce: std::time::Duration) -> std::time::Duration {
    if coalesce.is_zero() {
        return std::time::Duration::ZERO;
    }
    let beats = EVENTS_EVERY
        .as_micros()
        .div_ceil(coalesce.as_micros())
        .max(1);
    coalesce * u32::try_from(beats).unwrap_or(u32::MAX)
}

/// Publishes this instance's committed changes to every instance's browsers.
#[derive(Debug, Clone)]
pub struct Live {
    bus: Bus,
    /// This instance's WebSocket clients.
    pub hub: LiveHub,
    /// Every booth's view, serialised once (see [`FleetCache`]).
    pub fleet: FleetCache,
    pending: std::sync::Arc<std::sync::Mutex<Pending>>,
    /// How long the changes recorded by consumers gather before their views are read and
    /// published (`http.live_coalesce_ms`): a booth that changes five times in that time sends
    /// its latest view once (the latest always goes), and one query reads every booth that
    /// changed (one more every event), instead of a query per recorded group on the
    /// recorder's path.
    coalesce: std::time::Duration,
}

impl Live {
    pub fn new(bus: Bus, coalesce: std::time::Duration) -> Self {
        Self {
            bus,
            hub: LiveHub::default(),
            fleet: FleetCache::default(),
            pending: std::sync::Arc::default(),
            coalesce,
        }
    }

    /// Publishes a committed change for every gateway instance's clients. A failure is
    /// logged: the change is committed, and browsers refetch state when they reconnect.
    pub async fn publish(
        &self,
        event: FrameKind,
        photomaton_id: Option<PhotomatonId>,
        data: serde_json::Value,
    ) {
        // Before the publish: a read that follows this write must not be served the old fleet.
        if FleetCache::changes_views(event) {
            self.fleet.invalidate();
        }
        if let Err(error) = self
            .bus
            .publish(&LiveUpdate {
                event,
                photomaton_id,
                data,
            })
            .await
        {
            tracing::warn!(%error, "live update not published");
        }
    }

    /// A booth's new view.
    pub async fn photomaton(&self, view: &PhotomatonView) {
        self.publish(FrameKind::PhotomatonUpdated, Some(view.id), json!(view))
            .await;
    }

    /// A booth that was deleted.
    pub async fn photomaton_deleted(&self, id: PhotomatonId) {
        self.publish(
            FrameKind::PhotomatonUpdated,
            Some(id),
            json!({"id": id, "deleted": true}),
        )
        .await;
    }

    /// The current view of each of `ids`, after a change committed by a consumer (recorder,
    /// probes, Notion), published within `http.live_coalesce_ms` with every other booth that changed
    /// meanwhile. This instance's fleet is forgotten at once (a read after the commit sees
    /// it). A failure is logged, never an error.
    pub async fn photomatons(&self, db: &DbPool, ids: &[PhotomatonId]) {
        self.changed(db, ids, &[]).await;
    }

    /// The booths `ids` and the events `events` changed (a group of batches recorded): both
    /// published within `http.live_coalesce_ms`, off the caller's path.
    pub async fn changed(&self, db: &DbPool, ids: &[PhotomatonId], events: &[EventId]) {
        if ids.is_empty() && events.is_empty() {
            return;
        }
        if !ids.is_empty() {
            self.fleet.invalidate();
        }
        let first = {
            let mut pending = self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            pending.ids.extend(ids.iter().copied());
            pending.events.extend(events.iter().copied());
            pending.db.get_or_insert_with(|| db.clone());
            !std::mem::replace(&mut pending.scheduled, true)
        };
        if first {
            // One flusher at a time, so that views go out in the order they were read: two
            // overlapping flushes could publish an older read after a newer one, and the
            // browser would keep the older state. It runs while changes keep coming, on a beat
            // of `coalesce` counted from its start rather than from the end of each flush:
            // changes keep gathering while a flush reads and publishes, and a flush that
            // took longer than the beat is followed at once by the next. (A pause after each
            // flush made each period the gathering time plus the read and publish. The
            // end-to-end benchmark showed no difference beyond its run-to-run spread, where
            // reads are quick; it matters when the database is slow to answer.)
            let live = self.clone();
            tokio::spawn(async move {
                // `http.live_coalesce_ms = 0`: no beat, each flush right after the one before.
                let mut beat = (!live.coalesce.is_zero()).then(|| {
                    let start = tokio::time::Instant::now() + live.coalesce;
                    let mut beat = tokio::time::interval_at(start, live.coalesce);
                    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    beat
                });
                loop {
                    match beat.as_mut() {
                        Some(beat) => {
                            beat.tick().await;
                        }
                        None => tokio::task::yield_now().await,
                    }
                    if !live.flush().await {
                        break;
                    }
                }
            });
        }
    }

    /// Publishes the views of the booths and events gathered since the last flush; `false`
    /// when nothing was gathered (the flusher then stops, and the next change starts one).
    /// What cannot be read (the database away) is gathered again for the next flush: the
    /// latest state is never dropped.
    async fn flush(&self) -> bool {
        let (ids, events, db) = {
            let mut pending = self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if pending.ids.is_empty() && pending.events.is_empty() {
                pending.scheduled = false;
                return false;
            }
            // The first change of an event after a quiet spell goes with the next beat, as
            // a booth's; then at most every `EVENTS_EVERY`.
            let events_due = pending.events_taken.is_none_or(|taken| {
                // Half a beat early is on time: the beat that falls due is not missed.
                taken.elapsed() + self.coalesce / 2 >= events_every(self.coalesce)
            });
            let events = if events_due && !pending.events.is_empty() {
                pending.events_taken = Some(std::time::Instant::now());
                std::mem::take(&mut pending.events)
            } else {
                std::collections::BTreeSet::new()
            };
            (std::mem::take(&mut pending.ids), events, pending.db.clone())
        };
        if ids.is_empty() && events.is_empty() {
            // Only events, not due yet: the beat goes on until they are.
            return true;
        }
        let Some(db) = db else {
            self.pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .scheduled = false;
            return false;
        };
        let (booth_ids, event_ids): (Vec<_>, Vec<_>) = (
            ids.iter().copied().collect(),
            events.iter().copied().collect(),
        );
        let loaded = async {
            let mut conn = db.get().await.map_err(boom_db::DbError::from)?;
            let views = if booth_ids.is_empty() {
                Vec::new()
            } else {
                photomatons::views_of(&mut conn, &booth_ids).await?
            };
            let events = if event_ids.is_empty() {
                Vec::new()
            } else {
                crate::store::events::by_ids(&mut conn, &event_ids).await?
            };
            Ok::<_, boom_db::DbError>((views, events))
        }
        .await;
        match loaded {
            Ok((views, events)) => {
                self.pending
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .failures = 0;
                for view in views {
                    self.photomaton(&view).await;
                }
                self.events(events).await;
            }
            Err(error) => {
                let failures = {
                    let mut pending = self
                        .pending
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    pending.failures += 1;
                    // The database away: gathered again, tried every second. A read that
                    // keeps failing while everything else works would hold back every
                    // booth's updates: after a minute that set is let go (pages reload the
                    // state when they reconnect).
                    if pending.failures <= MAX_FAILED_READS {
                        pending.ids.extend(ids);
                        pending.events.extend(events);
                    } else {
                        pending.failures = 0;
                    }
                    pending.failures
                };
                if failures == 0 {
                    tracing::error!(%error, "booth and event views not read for a minute: these updates are dropped");
                } else {
                    tracing::warn!(%error, "booth and event views not read: trying again");
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                return true;
            }
        }
        true
    }

    /// An alert that opened, was acknowledged or resolved.
    pub async fn alert(&self, alert: &crate::store::alerts::AlertView) {
        self.publish(FrameKind::AlertUpdated, alert.photomaton_id, json!(alert))
            .await;
    }

    /// Events that changed (the booth's card shows its current event too: callers that
    /// change which event is current also publish the booth).
    pub async fn events(&self, events: Vec<Event>) {
        for event in events {
            let booth = event.photomaton_id;
            self.publish(
                FrameKind::EventsUpdated,
                booth,
                json!(EventView::from(event)),
            )
            .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn events_go_every_so_many_beats_never_sooner_than_half_a_second() {
        let every = |ms| super::events_every(Duration::from_millis(ms)).as_millis();
        assert_eq!(every(100), 500);
        assert_eq!(every(120), 600);
        assert_eq!(every(200), 600);
        assert_eq!(every(350), 700);
        assert_eq!(every(500), 500);
        assert_eq!(every(800), 800);
        assert_eq!(every(0), 0, "not gathered: at once");
    }
}
