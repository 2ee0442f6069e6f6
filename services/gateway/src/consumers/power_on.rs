//! Power-on outcomes from photomaton-control (PROBES stream, durable consumer
//! `gateway-actions`): written in the audit log and pushed as `photomaton:action`.

use boom_contracts::StreamKind;
use boom_contracts::messages::PhotomatonActionProgress;
use tokio_util::sync::CancellationToken;

use crate::consumers::{consume_until_cancelled, failure, transient};
use crate::state::AppState;

/// The durable consumer of power-on outcomes.
const DURABLE: &str = "gateway-actions";

pub async fn run(state: AppState, cancel: CancellationToken) {
    consume_until_cancelled(
        state,
        StreamKind::Probes,
        DURABLE,
        |state, progress: PhotomatonActionProgress| async move {
            let mut conn = state.db.get().await.map_err(transient)?;
            crate::wake::record_outcome(&state, &mut conn, progress)
                .await
                .map_err(failure)
        },
        cancel,
    )
    .await;
}
