//! Control requests: `power_on` sends the magic packets the booth's configuration says, answers
//! what was sent, then follows the PC until it answers (or `control.wake_timeout_secs` passes)
//! and publishes the outcome as a `PhotomatonActionProgress`.

use std::time::{Duration, Instant};

use boom_bus::{Bus, RegistryView};
use boom_config::{ControlSettings, ExposeSecret, WakeMode};
use boom_contracts::messages::{
    ActionCode, ActionPhase, ControlReply, ControlRequest, PhotomatonAction,
    PhotomatonActionProgress,
};
use chrono::Utc;

use crate::probe::{self, IcmpAccess};
use crate::wol;

#[derive(Debug, Clone)]
pub struct Controller {
    pub bus: Bus,
    pub booths: RegistryView,
    pub settings: ControlSettings,
    pub icmp: IcmpAccess,
}

fn refuse(request: &ControlRequest, code: ActionCode, message: impl Into<String>) -> ControlReply {
    ControlReply {
        action_id: request.action_id,
        ok: false,
        message: message.into(),
        code: Some(code),
    }
}

impl Controller {
    pub async fn handle(&self, request: ControlRequest) -> ControlReply {
        match request.action {
            PhotomatonAction::PowerOn => self.power_on(request).await,
        }
    }

    async fn power_on(&self, request: ControlRequest) -> ControlReply {
        let Some(booth) = self.booths.get(request.photomaton_id) else {
            return refuse(
                &request,
                ActionCode::NotInRegistry,
                format!(
                    "photomaton {} is not in the registry",
                    request.photomaton_id
                ),
            );
        };
        let Some(mac) = booth.mac_address else {
            return refuse(
                &request,
                ActionCode::NoMacAddress,
                format!(
                    "{} has no valid MAC address: set it in the booth's settings",
                    booth.name
                ),
            );
        };
        let secureon = match self
            .settings
            .secureon_password
            .as_ref()
            .map(|p| wol::parse_secureon(p.expose_secret()))
        {
            None => None,
            Some(Ok(password)) => Some(password),
            Some(Err(error)) => return refuse(&request, ActionCode::BadSecureOnPassword, error),
        };
        let packet = wol::magic_packet(mac, secureon);
        let mut sent = Vec::new();
        if matches!(self.settings.wake_mode, WakeMode::Udp | WakeMode::Both) {
            let Some(target) = booth.wake_target.clone() else {
                return refuse(
                    &request,
                    ActionCode::NoWakeTarget,
                    format!("{} has no wake target and no router IP", booth.name),
                );
            };
            let burst = self.settings.wake_burst;
            match wol::send_udp(
                &target,
                &packet,
                burst,
                Duration::from_millis(self.settings.wake_burst_interval_ms),
            )
            .await
            {
                Ok(address) => sent.push(format!("{burst} magic packet(s) for {mac} to {address}")),
                Err(error) => {
                    return refuse(
                        &request,
                        ActionCode::SendFailed,
                        format!("cannot send to {target}: {error}"),
                    );
                }
            }
        }
        if matches!(self.settings.wake_mode, WakeMode::Relay | WakeMode::Both)
            && let Some(template) = &self.settings.wake_relay_command
        {
            let arguments = wol::relay_arguments(
                template,
                mac,
                booth.router_tailscale_ip.as_deref().unwrap_or_default(),
                booth.tailscale_ip.as_deref().unwrap_or_default(),
                booth.hostname.as_str(),
            );
            match wol::run_relay(&arguments, Duration::from_secs(20)).await {
                Ok(_) => sent.push(format!("router asked to wake {mac}")),
                Err(error) => return refuse(&request, ActionCode::RelayFailed, error),
            }
        }
        tracing::info!(photomaton = %booth.photomaton_id, sent = ?sent, "power on");
        self.follow(request.clone(), booth.tailscale_ip.clone());
        ControlReply {
            action_id: request.action_id,
            ok: true,
            message: format!("{}; waiting for the PC", sent.join("; ")),
            code: Some(ActionCode::Waking),
        }
    }

    /// Probes the PC every few seconds until it answers or the wake timeout passes.
    fn follow(&self, request: ControlRequest, pc: Option<String>) {
        let (bus, settings, icmp) = (self.bus.clone(), self.settings.clone(), self.icmp);
        tokio::spawn(async move {
            let started = Instant::now();
            let deadline = Duration::from_secs(settings.wake_timeout_secs);
            let timeout = Duration::from_millis(settings.probe_timeout_ms);
            let ip = pc.as_deref().and_then(|p| p.parse().ok());
            let (phase, code, message) = loop {
                if let Some(ip) = ip
                    && probe::host(icmp, ip, settings.pc_tcp_port, timeout)
                        .await
                        .is_some()
                {
                    break (
                        ActionPhase::Succeeded,
                        (ActionCode::PcAnswered, started.elapsed().as_secs()),
                        format!("the PC answered after {} s", started.elapsed().as_secs()),
                    );
                }
                if started.elapsed() >= deadline || ip.is_none() {
                    break (
                        ActionPhase::Failed,
                        (ActionCode::PcSilent, deadline.as_secs()),
                        format!("the PC did not answer within {} s", deadline.as_secs()),
                    );
                }
                tokio::time::sleep(Duration::from_secs(3).min(deadline)).await;
            };
            let progress = PhotomatonActionProgress {
                action_id: request.action_id,
                photomaton_id: request.photomaton_id,
                action: request.action,
                phase,
                message,
                code: Some(code.0),
                seconds: Some(code.1),
                at: Utc::now(),
            };
            if let Err(error) = bus.publish(&progress).await {
                tracing::warn!(%error, "power-on outcome not published");
            }
        });
    }
}
