//! Connectivity reports from photomaton-control (PROBES stream, durable consumer
//! `gateway-probes`): the booth's router and PC state, and `last_seen`. Newer wins: a report
//! observed before the one applied last (redelivered late) changes nothing.

use boom_bus::HandleError;
use boom_contracts::StreamKind;
use boom_contracts::messages::PhotomatonProbed;
use tokio_util::sync::CancellationToken;

use crate::consumers::{consume_until_cancelled, failure, transient};
use crate::state::AppState;
use crate::store::photomatons;

/// Applies one connectivity report, then pushes the booth's view.
pub async fn apply(state: &AppState, probe: PhotomatonProbed) -> Result<(), HandleError> {
    let mut conn = state.db.get().await.map_err(transient)?;
    let updated = photomatons::set_connectivity(
        &mut conn,
        probe.photomaton_id,
        probe.router_connected,
        probe.pc_connected,
        probe.observed_at,
    )
    .await
    .map_err(failure)?;
    drop(conn);
    // A booth deleted meanwhile, or a report older than the one applied: nothing to push.
    if let Some(booth) = updated {
        state.live.photomatons(&state.db, &[booth.id]).await;
    }
    Ok(())
}

pub async fn run(state: AppState, cancel: CancellationToken) {
    consume_until_cancelled(
        state,
        StreamKind::Probes,
        StreamKind::Probes.gateway_consumer(),
        |state, probe: PhotomatonProbed| async move { apply(&state, probe).await },
        cancel,
    )
    .await;
}
