//! Alerts opened and resolved by boom-notifier (ALERTS stream, durable consumer
//! `gateway-alerts`): recorded, then pushed as `alert:updated`.

use boom_bus::HandleError;
use boom_contracts::StreamKind;
use boom_contracts::messages::AlertChanged;
use tokio_util::sync::CancellationToken;

use crate::consumers::{consume_until_cancelled, failure, transient};
use crate::state::AppState;
use crate::store::alerts::{self, AlertView};

pub async fn apply(state: &AppState, change: AlertChanged) -> Result<(), HandleError> {
    let mut conn = state.db.get().await.map_err(transient)?;
    let recorded = alerts::record(&mut conn, &change).await.map_err(failure)?;
    drop(conn);
    // An alert of a booth deleted meanwhile: nothing to show.
    if let Some(alert) = recorded {
        state.live.alert(&AlertView::from(alert)).await;
    }
    Ok(())
}

pub async fn run(state: AppState, cancel: CancellationToken) {
    consume_until_cancelled(
        state,
        StreamKind::Alerts,
        StreamKind::Alerts.gateway_consumer(),
        |state, change: AlertChanged| async move { apply(&state, change).await },
        cancel,
    )
    .await;
}
