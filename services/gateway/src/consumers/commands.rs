//! What agents say of themselves through stats-ingest (STATS stream): remote command reports
//! (durable consumer `gateway-commands`: recorded, pushed as `photomaton:command`, and the
//! booth's open commands mirrored again once one is done) and polls (`gateway-agent-seen`:
//! the booth's `agentSeenAt`). Also expires the commands whose time ran out.

use std::time::Duration;

use boom_bus::HandleError;
use boom_contracts::messages::{AgentCommandReported, AgentSeen, FrameKind};
use boom_contracts::{PhotomatonId, StreamKind};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::consumers::{consume_until_cancelled, failure, transient};
use crate::state::AppState;
use crate::store::commands::{self, CommandView};
use crate::store::photomatons;

/// How often expired commands are looked for.
const EXPIRY_CHECK: Duration = Duration::from_secs(2);

/// Pushes a command's new state and mirrors its booth's open commands again.
async fn announce(
    state: &AppState,
    conn: &mut diesel_async::AsyncPgConnection,
    command: boom_db::models::AgentCommand,
) -> Result<(), diesel::result::Error> {
    let booth = command.photomaton_id;
    let view = CommandView::from(command);
    // Not mirrored now (NATS away): the reconciliation does it within a minute.
    if view.status.is_final() {
        let _logged = state.registry.put(conn, booth).await;
    }
    state
        .live
        .publish(FrameKind::PhotomatonCommand, Some(booth), json!(view))
        .await;
    Ok(())
}

async fn reported(state: &AppState, report: AgentCommandReported) -> Result<(), HandleError> {
    let mut conn = state.db.get().await.map_err(transient)?;
    let changed = commands::report(
        &mut conn,
        report.photomaton_id,
        report.command_id,
        report.status,
        report.output,
        report.exit_code,
    )
    .await
    .map_err(failure)?;
    // Nothing changed: a repeated or late report, or a command already expired.
    if let Some(command) = changed {
        announce(state, &mut conn, command).await.map_err(failure)?;
    }
    Ok(())
}

async fn seen(state: &AppState, seen: AgentSeen) -> Result<(), HandleError> {
    let mut conn = state.db.get().await.map_err(transient)?;
    let moved = photomatons::set_agent_seen(&mut conn, seen.photomaton_id, seen.at)
        .await
        .map_err(failure)?;
    drop(conn);
    if let Some(booth) = moved {
        state.live.photomatons(&state.db, &[booth.id]).await;
    }
    Ok(())
}

pub async fn run_reports(state: AppState, cancel: CancellationToken) {
    consume_until_cancelled(
        state,
        StreamKind::Stats,
        "gateway-commands",
        |state, report: AgentCommandReported| async move { reported(&state, report).await },
        cancel,
    )
    .await;
}

pub async fn run_seen(state: AppState, cancel: CancellationToken) {
    consume_until_cancelled(
        state,
        StreamKind::Stats,
        "gateway-agent-seen",
        |state, message: AgentSeen| async move { seen(&state, message).await },
        cancel,
    )
    .await;
}

/// Expires the commands whose time ran out, every [`EXPIRY_CHECK`], until `cancel`. Every
/// gateway instance runs it; an expiry is one `UPDATE`, so each command expires once.
pub async fn run_expiry(state: AppState, cancel: CancellationToken) {
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(EXPIRY_CHECK) => {}
        }
        let Ok(mut conn) = state.db.get().await else {
            continue;
        };
        match commands::expire_due(&mut conn).await {
            Ok(expired) => {
                for command in expired {
                    let booth: PhotomatonId = command.photomaton_id;
                    if let Err(error) = announce(&state, &mut conn, command).await {
                        tracing::warn!(photomaton = %booth, %error, "expired command not announced");
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "commands not expired yet"),
        }
    }
}
