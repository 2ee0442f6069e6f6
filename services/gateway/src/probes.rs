//! What photomaton-control reports, persisted and pushed: connectivity changes update the
//! booth (`router_connected`, `pc_connected`, `last_seen`), power-on outcomes go to browsers
//! as `photomaton:action` and to the audit log. Both arrive on the PROBES stream through
//! durable consumers shared by every gateway instance; acks follow the commit.

use std::time::Duration;

use boom_bus::HandleError;
use boom_contracts::messages::{LiveEvent, PhotomatonActionProgress, PhotomatonProbed};
use boom_contracts::{BusMessage, StreamKind};
use boom_db::models::{NewAuditLog, Photomaton};
use boom_db::schema::{audit_logs, photomatons};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

fn transient(error: impl std::fmt::Display) -> HandleError {
    HandleError::Transient(error.to_string())
}

/// Applies one connectivity report; an older report than the booth's state is ignored.
pub async fn apply_probe(state: &AppState, probe: PhotomatonProbed) -> Result<(), HandleError> {
    let mut conn = state.db.get().await.map_err(transient)?;
    let seen = probe.router_connected || probe.pc_connected;
    let updated: Option<Photomaton> = diesel::update(photomatons::table.find(probe.photomaton_id))
        .set((
            photomatons::router_connected.eq(probe.router_connected),
            photomatons::pc_connected.eq(probe.pc_connected),
            photomatons::last_seen.eq(diesel::dsl::sql::<
                diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
            >(if seen {
                "greatest(last_seen, now())"
            } else {
                "last_seen"
            })),
        ))
        .returning(Photomaton::as_returning())
        .get_result(&mut conn)
        .await
        .optional()
        .map_err(transient)?;
    // A booth deleted meanwhile: nothing to update.
    let Some(booth) = updated else { return Ok(()) };
    drop(conn);
    crate::photomatons::publish_views(state, &[booth.id]).await;
    Ok(())
}

/// Pushes a power-on outcome to browsers and writes it in the audit log.
pub async fn apply_action(
    state: &AppState,
    progress: PhotomatonActionProgress,
) -> Result<(), HandleError> {
    let mut conn = state.db.get().await.map_err(transient)?;
    let booth_exists: Option<boom_contracts::PhotomatonId> = photomatons::table
        .find(progress.photomaton_id)
        .select(photomatons::id)
        .first(&mut conn)
        .await
        .optional()
        .map_err(transient)?;
    diesel::insert_into(audit_logs::table)
        .values(NewAuditLog {
            user_id: None,
            username: Some("photomaton-control".to_owned()),
            action: "photomaton.power_on.result".to_owned(),
            resource: "photomaton".to_owned(),
            resource_id: booth_exists.map(|id| id.0),
            details: Some(json!({"actionId": progress.action_id, "outcome": progress.phase, "message": progress.message})),
            ip_address: None,
        })
        .execute(&mut conn)
        .await
        .map_err(transient)?;
    crate::live::publish(
        state,
        LiveEvent::PhotomatonAction,
        Some(progress.photomaton_id),
        json!(progress),
    )
    .await;
    Ok(())
}

/// Keeps a consumer running until `cancel`, retrying while NATS is unreachable.
async fn consume_forever<M, F, Fut>(
    state: AppState,
    durable: &'static str,
    handler: F,
    cancel: CancellationToken,
) where
    M: BusMessage,
    F: Fn(AppState, M) -> Fut + Send + Sync,
    Fut: std::future::Future<Output = Result<(), HandleError>> + Send,
{
    while !cancel.is_cancelled() {
        let result = state
            .bus
            .consume(
                StreamKind::Probes,
                durable,
                |message: M| handler(state.clone(), message),
                cancel.clone(),
            )
            .await;
        if let Err(error) = result {
            tracing::warn!(%error, durable, "cannot consume yet, retrying");
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

pub async fn run_probes(state: AppState, cancel: CancellationToken) {
    consume_forever(
        state,
        StreamKind::Probes.gateway_consumer(),
        |s, m| async move { apply_probe(&s, m).await },
        cancel,
    )
    .await;
}

pub async fn run_actions(state: AppState, cancel: CancellationToken) {
    consume_forever(
        state,
        "gateway-actions",
        |s, m| async move { apply_action(&s, m).await },
        cancel,
    )
    .await;
}
