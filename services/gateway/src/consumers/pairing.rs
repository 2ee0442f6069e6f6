//! Pairings redeemed through stats-ingest (`<prefix>.rpc.gateway.pairing`, queue group
//! `gateway`): the booth gets the new agent key's hash, the change is audited as the PC's,
//! mirrored to the registry and pushed to browsers, and ingest is answered the booth's
//! registered hostname.

use boom_contracts::messages::{PairingReply, PairingRequest};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::announce::key_changed;
use crate::consumers::until_cancelled;
use crate::state::AppState;
use crate::store::audit::{Actor, Audit};
use crate::store::photomatons;

async fn pair(state: &AppState, request: PairingRequest) -> PairingReply {
    let id = request.photomaton_id;
    let outcome = async {
        let mut conn = state.db.get().await.map_err(|e| e.to_string())?;
        let Some((booth, previous)) =
            photomatons::set_agent_key(&mut conn, id, request.agent_key_sha256)
                .await
                .map_err(|e| e.to_string())?
        else {
            return Err(format!("photomaton {id} no longer exists"));
        };
        let hostname = booth.hostname.parse().map_err(|e| format!("{e}"))?;
        let actor = Actor {
            user_id: None,
            username: Some("boom-agent".to_owned()),
            ip: request
                .client_ip
                .as_deref()
                .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
                .map(ipnet::IpNet::from),
        };
        let audit = Audit::new("photomaton.paired", "photomaton", Some(id.0))
            .details(json!({"pcHostname": request.pc_hostname}));
        // Not mirrored (NATS away): the previous key is kept and the PC is told to try again.
        key_changed(state, &mut conn, &actor, audit, booth, previous)
            .await
            .map_err(|e| e.to_string())?;
        Ok(hostname)
    }
    .await;
    match outcome {
        Ok(hostname) => PairingReply {
            photomaton_id: id,
            hostname: Some(hostname),
            error: None,
        },
        Err(error) => {
            tracing::warn!(photomaton = %id, %error, "pairing not recorded");
            PairingReply {
                photomaton_id: id,
                hostname: None,
                error: Some(error),
            }
        }
    }
}

/// Answers pairing requests until `cancel`.
pub async fn serve(state: AppState, cancel: CancellationToken) {
    until_cancelled("gateway-pairing", cancel, |cancel| {
        let (bus, state) = (state.bus.clone(), state.clone());
        async move {
            bus.serve(
                move |request: PairingRequest| {
                    let state = state.clone();
                    async move { pair(&state, request).await }
                },
                cancel,
            )
            .await
        }
    })
    .await;
}
