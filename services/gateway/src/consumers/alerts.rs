//! Alerts opened and resolved by boom-notifier (ALERTS stream, durable consumer
//! `gateway-alerts`) and the progress of their deliveries (`gateway-deliveries`): recorded,
//! then pushed as `alert:updated`. And the two questions the notifier asks the gateway over
//! NATS, since it never reads PostgreSQL: whom to tell (`rpc.gateway.recipients`) and the
//! fleet's booth views (`rpc.gateway.fleet`).

use boom_bus::HandleError;
use boom_contracts::StreamKind;
use boom_contracts::messages::{
    AlertChanged, DeliveryUpdated, FleetPage, FleetRequest, Recipients, RecipientsRequest,
};
use tokio_util::sync::CancellationToken;

use crate::consumers::{consume_until_cancelled, failure, transient, until_cancelled};
use crate::state::AppState;
use crate::store::alerts::{self, AlertView};
use crate::store::audit::{Actor, Audit};
use crate::store::notifications;
use serde_json::json;

pub async fn apply(state: &AppState, change: AlertChanged) -> Result<(), HandleError> {
    let mut conn = state.db.get().await.map_err(transient)?;
    let before = alerts::state_of(&mut conn, change.alert_id)
        .await
        .map_err(failure)?;
    let recorded = alerts::record(&mut conn, &change).await.map_err(failure)?;
    // An alert of a booth deleted meanwhile: nothing to show.
    if let Some(alert) = recorded {
        // Each transition once in the audit log, as the notifier's doing.
        let action = match (before.as_deref(), alert.state.as_str()) {
            (None, _) => Some("alert.opened"),
            (Some(previous), "resolved") if previous != "resolved" => Some("alert.resolved"),
            _ => None,
        };
        if let Some(action) = action {
            Audit::new(action, "photomaton", alert.photomaton_id.map(|p| p.0))
                .details(json!({"alertId": alert.id, "kind": alert.kind, "message": alert.message}))
                .write(&mut conn, &Actor::service("boom-notifier"))
                .await
                .map_err(failure)?;
        }
        let view = alerts::with_deliveries(&mut conn, vec![AlertView::from(alert)])
            .await
            .map_err(failure)?;
        drop(conn);
        for view in view {
            state.live.alert(&view).await;
        }
    }
    Ok(())
}

/// A delivery moved on: recorded, and its alert pushed again so that people see where the
/// message went.
pub async fn delivery(state: &AppState, update: DeliveryUpdated) -> Result<(), HandleError> {
    let mut conn = state.db.get().await.map_err(transient)?;
    notifications::record_delivery(&mut conn, &update)
        .await
        .map_err(failure)?;
    let view = alerts::view(&mut conn, update.alert_id)
        .await
        .map_err(failure)?;
    drop(conn);
    if let Some(view) = view {
        state.live.alert(&view).await;
    }
    Ok(())
}

pub async fn run_deliveries(state: AppState, cancel: CancellationToken) {
    consume_until_cancelled(
        state,
        StreamKind::Alerts,
        boom_contracts::namespace::GATEWAY_DELIVERIES,
        |state, update: DeliveryUpdated| async move { delivery(&state, update).await },
        cancel,
    )
    .await;
}

/// Answers the notifier: whom to tell of an alert, and a page of the fleet's booth views.
pub async fn serve(state: AppState, cancel: CancellationToken) {
    let recipients = {
        let state = state.clone();
        until_cancelled("gateway-recipients", cancel.clone(), move |cancel| {
            let (bus, state) = (state.bus.clone(), state.clone());
            async move {
                bus.serve(
                    move |request: RecipientsRequest| {
                        let state = state.clone();
                        async move {
                            let answer = async {
                                let mut conn = state.db.get().await.map_err(|e| e.to_string())?;
                                notifications::recipients(
                                    &mut conn,
                                    request.kind,
                                    request.photomaton_id,
                                )
                                .await
                                .map_err(|e| e.to_string())
                            };
                            answer.await.unwrap_or_else(|error| Recipients {
                                error: Some(error),
                                ..Recipients::default()
                            })
                        }
                    },
                    cancel,
                )
                .await
            }
        })
    };
    let fleet = until_cancelled("gateway-fleet", cancel, move |cancel| {
        let (bus, state) = (state.bus.clone(), state.clone());
        async move {
            bus.serve(
                move |request: FleetRequest| {
                    let state = state.clone();
                    async move {
                        fleet_page(&state, &request)
                            .await
                            .unwrap_or_else(|error| FleetPage {
                                error: Some(error),
                                ..FleetPage::default()
                            })
                    }
                },
                cancel,
            )
            .await
        }
    });
    futures::join!(recipients, fleet);
}

/// Booth views by id, `limit` (at most 200: a NATS message stays under its 1 MB limit) from
/// `offset`, served from this instance's fleet cache like `GET /api/photomatons`.
async fn fleet_page(state: &AppState, request: &FleetRequest) -> Result<FleetPage, String> {
    let fleet = state
        .live
        .fleet
        .get(&state.db)
        .await
        .map_err(|e| e.to_string())?;
    let limit = request.limit.clamp(1, 200) as usize;
    let booths = fleet
        .booths
        .iter()
        .skip(request.offset as usize)
        .take(limit)
        .map(|entry| serde_json::from_slice(&entry.view).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    Ok(FleetPage {
        booths,
        total: u32::try_from(fleet.booths.len()).unwrap_or(u32::MAX),
        error: None,
    })
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
