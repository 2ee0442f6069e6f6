//! Events from Notion (EVENTS stream, durable consumer `gateway-events`, in publication
//! order): an upsert inserts or updates the event by its Notion page (ACTIVE; an older edit
//! of the page than the one stored is ignored), a completed sync makes every ACTIVE event
//! whose page it did not list COMPLETED. Changed events are pushed as `events:updated`, and
//! their booths' cards, which show the current event.

use boom_bus::HandleError;
use boom_contracts::StreamKind;
use boom_contracts::messages::NotionUpdate;
use tokio_util::sync::CancellationToken;

use crate::consumers::{consume_until_cancelled, failure, transient};
use crate::state::AppState;
use crate::store::events;

pub async fn apply(state: &AppState, update: NotionUpdate) -> Result<(), HandleError> {
    let mut conn = state.db.get().await.map_err(transient)?;
    let changed = match update {
        NotionUpdate::Upserted(message) => {
            events::record_upsert(&mut conn, message, state.overrun_hours).await
        }
        NotionUpdate::Completed(message) => {
            events::complete_all_but(&mut conn, &message.active_page_ids).await
        }
    }
    .map_err(failure)?;
    drop(conn);
    for event in changed {
        let booth = event.photomaton_id;
        state.live.events(vec![event]).await;
        if let Some(booth) = booth {
            state.live.photomatons(&state.db, &[booth]).await;
        }
    }
    Ok(())
}

pub async fn run(state: AppState, cancel: CancellationToken) {
    consume_until_cancelled(
        state,
        StreamKind::Events,
        StreamKind::Events.gateway_consumer(),
        |state, update: NotionUpdate| async move { apply(&state, update).await },
        cancel,
    )
    .await;
}
