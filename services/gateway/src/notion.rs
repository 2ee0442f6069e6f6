//! Events from Notion, persisted: an upsert inserts or updates the event by its Notion page
//! (ACTIVE; an older edit of the page than the one stored is ignored), a completed sync makes
//! every ACTIVE event whose page it did not list COMPLETED. Both arrive in publication order
//! through the durable consumer `gateway-events`; acks follow the commit; changed events are
//! pushed as `events:updated`.

use std::time::Duration;

use boom_bus::HandleError;
use boom_contracts::messages::{EventUpserted, LiveEvent, NotionSyncCompleted, NotionUpdate};
use boom_contracts::{EventStatus, StreamKind};
use boom_db::models::{Event, NewEvent};
use boom_db::schema::{events, photomatons};
use chrono::Utc;
use diesel::upsert::excluded;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::events::EventView;
use crate::state::AppState;

fn transient(error: impl std::fmt::Display) -> HandleError {
    HandleError::Transient(error.to_string())
}

async fn upsert(state: &AppState, message: EventUpserted) -> Result<Vec<Event>, HandleError> {
    let mut conn = state.db.get().await.map_err(transient)?;
    // A booth deleted since notion-sync matched it: keep the event, without booth.
    let photomaton = match message.photomaton_id {
        Some(id) => photomatons::table
            .find(id)
            .select(photomatons::id)
            .first(&mut conn)
            .await
            .optional()
            .map_err(transient)?,
        None => None,
    };
    let row = NewEvent {
        notion_page_id: message.notion_page_id,
        photomaton_id: photomaton,
        client_name: message.client_name,
        event_type: message.event_type,
        event_date: message.event_date,
        album_name: message.album_name,
        notion_url: message.notion_url,
        notion_data: message.notion_data,
        notion_last_edited: Some(message.notion_last_edited),
        status: EventStatus::Active,
    };
    let statement = diesel::insert_into(events::table)
        .values(&row)
        .on_conflict(events::notion_page_id)
        .do_update()
        .set((
            events::photomaton_id.eq(excluded(events::photomaton_id)),
            events::client_name.eq(excluded(events::client_name)),
            events::event_type.eq(excluded(events::event_type)),
            events::event_date.eq(excluded(events::event_date)),
            events::album_name.eq(excluded(events::album_name)),
            events::notion_url.eq(excluded(events::notion_url)),
            events::notion_data.eq(excluded(events::notion_data)),
            events::notion_last_edited.eq(excluded(events::notion_last_edited)),
            events::status.eq(EventStatus::Active),
            events::synced_at.eq(Utc::now()),
        ));
    // An older edit of the page than the one stored (a late redelivery) changes nothing.
    let statement = diesel::query_dsl::methods::FilterDsl::filter(
        statement,
        diesel::dsl::sql::<diesel::sql_types::Bool>(
            "events.notion_last_edited IS NULL OR events.notion_last_edited <= excluded.notion_last_edited",
        ),
    );
    let saved: Option<Event> = statement
        .returning(Event::as_returning())
        .get_result(&mut conn)
        .await
        .optional()
        .map_err(transient)?;
    Ok(saved.into_iter().collect())
}

async fn complete(
    state: &AppState,
    message: NotionSyncCompleted,
) -> Result<Vec<Event>, HandleError> {
    let mut conn = state.db.get().await.map_err(transient)?;
    diesel::update(events::table)
        .filter(events::status.eq(EventStatus::Active))
        .filter(events::notion_page_id.ne_all(&message.active_page_ids))
        .set((
            events::status.eq(EventStatus::Completed),
            events::synced_at.eq(Utc::now()),
        ))
        .returning(Event::as_returning())
        .get_results(&mut conn)
        .await
        .map_err(transient)
}

pub async fn apply(state: &AppState, update: NotionUpdate) -> Result<(), HandleError> {
    let changed = match update {
        NotionUpdate::Upserted(message) => upsert(state, message).await?,
        NotionUpdate::Completed(message) => complete(state, message).await?,
    };
    for event in changed {
        let booth = event.photomaton_id;
        crate::live::publish(
            state,
            LiveEvent::EventsUpdated,
            booth,
            json!(EventView::from(event)),
        )
        .await;
        // The booth's card shows its current event.
        if let Some(id) = booth {
            crate::photomatons::publish_views(state, &[id]).await;
        }
    }
    Ok(())
}

pub async fn run(state: AppState, cancel: CancellationToken) {
    while !cancel.is_cancelled() {
        let result = state
            .bus
            .consume(
                StreamKind::Events,
                StreamKind::Events.gateway_consumer(),
                |m: NotionUpdate| {
                    let state = state.clone();
                    async move { apply(&state, m).await }
                },
                cancel.clone(),
            )
            .await;
        if let Err(error) = result {
            tracing::warn!(%error, "events consumer cannot start yet, retrying");
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}
