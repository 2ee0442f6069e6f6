//! The rules: which alert conditions hold for a booth, from the view the gateway broadcasts
//! (`photomaton:updated`, the same JSON as `GET /api/photomatons/{id}`) and what the notifier
//! remembers (since when a booth is down, a failed power-on). Pure functions of their inputs.

use std::collections::HashMap;

use boom_config::NotifySettings;
use boom_contracts::PhotomatonId;
use boom_contracts::messages::AlertKind;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What the rules read of a booth view; other fields are ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BoothFacts {
    pub id: PhotomatonId,
    pub name: String,
    pub hostname: String,
    #[serde(default)]
    pub tailscale_ip: Option<String>,
    #[serde(default)]
    pub router_tailscale_ip: Option<String>,
    pub router_connected: bool,
    pub pc_connected: bool,
    pub remaining_prints: i32,
    /// `ok`, `warning` or `critical`, against the booth's own thresholds.
    pub paper_state: String,
    #[serde(default)]
    pub agent_seen_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub printer: Option<PrinterFacts>,
    #[serde(default)]
    pub current_event: Option<EventFacts>,
    /// The booth's own alert delays; `None`: the fleet's.
    #[serde(default)]
    pub down_after_secs: Option<i32>,
    #[serde(default)]
    pub silent_after_secs: Option<i32>,
    /// When the booth's row last changed: a fleet read never replaces a newer view.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrinterFacts {
    pub name: String,
    pub state: String,
    #[serde(default)]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventFacts {
    pub client_name: String,
}

impl BoothFacts {
    /// The router or the PC (each only if it has an address to probe) does not answer.
    pub fn unreachable(&self) -> (bool, bool) {
        (
            self.router_tailscale_ip.is_some() && !self.router_connected,
            self.tailscale_ip.is_some() && !self.pc_connected,
        )
    }
}

/// What a message says about the condition, beyond its kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Detail {
    pub remaining_prints: Option<i32>,
    pub printer: Option<String>,
    pub router_down: bool,
    pub pc_down: bool,
    pub event: Option<String>,
    pub silent_minutes: Option<i64>,
    pub error: Option<String>,
}

impl Detail {
    /// One line in English, for logs, scripts and the alert's `message`.
    pub fn english(&self, kind: AlertKind) -> String {
        match kind {
            AlertKind::PaperWarning | AlertKind::PaperCritical => format!(
                "{}: {} prints left",
                if kind == AlertKind::PaperCritical {
                    "paper critical"
                } else {
                    "paper low"
                },
                self.remaining_prints.unwrap_or(0)
            ),
            AlertKind::BoothDown => format!(
                "{} unreachable during {}",
                match (self.router_down, self.pc_down) {
                    (true, true) => "router and PC",
                    (true, false) => "router",
                    _ => "PC",
                },
                self.event.as_deref().unwrap_or("an event")
            ),
            AlertKind::AgentSilent => format!(
                "no word from the agent for {} min while the PC answers",
                self.silent_minutes.unwrap_or(0)
            ),
            AlertKind::PrinterError => {
                format!("printer: {}", self.printer.as_deref().unwrap_or("error"))
            }
            AlertKind::PowerOnFailed => format!(
                "power-on did not bring the PC up{}",
                self.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ),
            AlertKind::NotionSyncFailing => format!(
                "Notion sync failed 3 times in a row{}",
                self.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ),
        }
    }
}

/// Whether `kind` ends only after the booth was fine for `notify.clear_after_secs`: links
/// that flap. Paper and printer end at once (a new roll is a person's act).
pub fn needs_calm(kind: AlertKind) -> bool {
    matches!(kind, AlertKind::BoothDown | AlertKind::AgentSilent)
}

/// What the notifier remembers of a booth between views.
#[derive(Debug, Clone, Default)]
pub struct Memory {
    /// Since when the router or the PC has not answered (as first seen by this instance).
    pub down_since: HashMap<PhotomatonId, DateTime<Utc>>,
    /// Power-ons that failed, until the PC answers.
    pub power_on_failed: HashMap<PhotomatonId, Option<String>>,
}

/// The conditions that hold for `booth` at `now`, each with its detail. Also updates what is
/// remembered (`down_since`, a failed power-on cleared once the PC answers). `down_open`: a
/// `booth_down` alert of the booth is open, so being down again holds it at once (a link that
/// flaps keeps its one alert instead of waiting `down_after_secs` each time).
pub fn conditions(
    booth: &BoothFacts,
    now: DateTime<Utc>,
    settings: &NotifySettings,
    memory: &mut Memory,
    down_open: bool,
) -> Vec<(AlertKind, Detail)> {
    let mut found = Vec::new();
    let paper = Detail {
        remaining_prints: Some(booth.remaining_prints),
        ..Detail::default()
    };
    match booth.paper_state.as_str() {
        "critical" => {
            found.push((AlertKind::PaperWarning, paper.clone()));
            found.push((AlertKind::PaperCritical, paper));
        }
        "warning" => found.push((AlertKind::PaperWarning, paper)),
        _ => {}
    }

    let (router_down, pc_down) = booth.unreachable();
    if router_down || pc_down {
        let since = *memory.down_since.entry(booth.id).or_insert(now);
        let after = booth.down_after_secs.map_or_else(
            || i64::try_from(settings.down_after_secs).unwrap_or(i64::MAX),
            i64::from,
        );
        let long_enough = down_open || (now - since).num_seconds() >= after;
        if long_enough && let Some(event) = &booth.current_event {
            found.push((
                AlertKind::BoothDown,
                Detail {
                    router_down,
                    pc_down,
                    event: Some(event.client_name.clone()),
                    ..Detail::default()
                },
            ));
        }
    } else {
        memory.down_since.remove(&booth.id);
    }

    // The agent is silent only if the PC answers (else the booth is down, which says more).
    if booth.tailscale_ip.is_some()
        && booth.pc_connected
        && let Some(seen) = booth.agent_seen_at
    {
        let silent = (now - seen).num_seconds();
        let after = booth.silent_after_secs.map_or_else(
            || i64::try_from(settings.silent_after_secs).unwrap_or(i64::MAX),
            i64::from,
        );
        if silent >= after {
            found.push((
                AlertKind::AgentSilent,
                Detail {
                    silent_minutes: Some(silent / 60),
                    ..Detail::default()
                },
            ));
        }
    }

    if let Some(printer) = &booth.printer
        && matches!(printer.state.as_str(), "error" | "paper_out")
    {
        found.push((
            AlertKind::PrinterError,
            Detail {
                printer: Some(match &printer.detail {
                    Some(detail) => format!("{} — {} ({detail})", printer.name, printer.state),
                    None => format!("{} — {}", printer.name, printer.state),
                }),
                ..Detail::default()
            },
        ));
    }

    if booth.pc_connected {
        memory.power_on_failed.remove(&booth.id);
    } else if let Some(error) = memory.power_on_failed.get(&booth.id) {
        found.push((
            AlertKind::PowerOnFailed,
            Detail {
                error: error.clone(),
                ..Detail::default()
            },
        ));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn booth(extra: serde_json::Value) -> BoothFacts {
        let mut view = json!({
            "id": 7, "name": "Boom 7", "hostname": "boom-07",
            "tailscaleIp": "100.64.0.7", "routerTailscaleIp": "100.64.1.7",
            "routerConnected": true, "pcConnected": true,
            "remainingPrints": 500, "paperState": "ok",
            "agentSeenAt": null, "printer": null, "currentEvent": null,
            "todayIgnored": {"sessions": 1}
        });
        if let (Some(view), Some(extra)) = (view.as_object_mut(), extra.as_object()) {
            view.extend(extra.clone());
        }
        serde_json::from_value(view).unwrap_or_else(|e| panic!("{e}"))
    }

    fn kinds(found: &[(AlertKind, Detail)]) -> Vec<AlertKind> {
        found.iter().map(|(k, _)| *k).collect()
    }

    #[test]
    fn a_booth_in_order_raises_nothing() {
        let mut memory = Memory::default();
        let found = conditions(
            &booth(json!({})),
            Utc::now(),
            &NotifySettings::default(),
            &mut memory,
            false,
        );
        assert!(found.is_empty());
    }

    #[test]
    fn paper_critical_is_also_low() {
        let mut memory = Memory::default();
        let found = conditions(
            &booth(json!({"paperState": "critical", "remainingPrints": 12})),
            Utc::now(),
            &NotifySettings::default(),
            &mut memory,
            false,
        );
        assert_eq!(
            kinds(&found),
            [AlertKind::PaperWarning, AlertKind::PaperCritical]
        );
        assert_eq!(
            found[1].1.english(AlertKind::PaperCritical),
            "paper critical: 12 prints left"
        );
    }

    #[test]
    fn down_counts_only_during_an_event_and_after_the_delay() {
        let settings = NotifySettings::default();
        let mut memory = Memory::default();
        let start = Utc::now();
        let down =
            booth(json!({"routerConnected": false, "currentEvent": {"clientName": "Dupont"}}));
        assert!(conditions(&down, start, &settings, &mut memory, false).is_empty());
        // Down again while its alert is open: it holds at once.
        assert_eq!(
            kinds(&conditions(&down, start, &settings, &mut memory, true)),
            [AlertKind::BoothDown]
        );
        let later = start + chrono::Duration::seconds(121);
        let found = conditions(&down, later, &settings, &mut memory, false);
        assert_eq!(kinds(&found), [AlertKind::BoothDown]);
        assert_eq!(
            found[0].1.english(AlertKind::BoothDown),
            "router unreachable during Dupont"
        );
        // A booth with a shorter delay of its own is down sooner.
        let mut quick = Memory::default();
        let hasty = booth(
            json!({"routerConnected": false, "currentEvent": {"clientName": "Dupont"}, "downAfterSecs": 10}),
        );
        conditions(&hasty, start, &settings, &mut quick, false);
        assert_eq!(
            kinds(&conditions(
                &hasty,
                start + chrono::Duration::seconds(11),
                &settings,
                &mut quick,
                false
            )),
            [AlertKind::BoothDown]
        );
        // Without an event under way, a booth switched off in the store is not news.
        let stored = booth(json!({"routerConnected": false}));
        assert!(conditions(&stored, later, &settings, &mut memory, false).is_empty());
        // Back up: the delay starts again next time.
        conditions(&booth(json!({})), later, &settings, &mut memory, false);
        assert!(memory.down_since.is_empty());
        // A booth without addresses is never probed, so never down.
        let unprobed = booth(json!({"routerConnected": false, "pcConnected": false,
            "tailscaleIp": null, "routerTailscaleIp": null, "currentEvent": {"clientName": "X"}}));
        assert!(
            conditions(
                &unprobed,
                later + chrono::Duration::hours(1),
                &settings,
                &mut memory,
                false
            )
            .is_empty()
        );
    }

    #[test]
    fn a_silent_agent_counts_only_while_the_pc_answers() {
        let settings = NotifySettings::default();
        let mut memory = Memory::default();
        let now = Utc::now();
        let old = (now - chrono::Duration::minutes(11)).to_rfc3339();
        let silent = booth(json!({"agentSeenAt": old}));
        assert_eq!(
            kinds(&conditions(&silent, now, &settings, &mut memory, false)),
            [AlertKind::AgentSilent]
        );
        // A booth with its own, longer delay is not silent yet.
        let patient = booth(json!({"agentSeenAt": old, "silentAfterSecs": 3600}));
        assert!(conditions(&patient, now, &settings, &mut memory, false).is_empty());
        let off = booth(json!({"agentSeenAt": old, "pcConnected": false}));
        assert!(
            !kinds(&conditions(&off, now, &settings, &mut memory, false))
                .contains(&AlertKind::AgentSilent)
        );
    }

    #[test]
    fn printer_errors_and_failed_power_ons() {
        let settings = NotifySettings::default();
        let mut memory = Memory::default();
        let jam =
            booth(json!({"printer": {"name": "DNP DS620", "state": "error", "detail": "jam"}}));
        let found = conditions(&jam, Utc::now(), &settings, &mut memory, false);
        assert_eq!(
            found[0].1.printer.as_deref(),
            Some("DNP DS620 — error (jam)")
        );
        memory
            .power_on_failed
            .insert(PhotomatonId(7), Some("no answer in 180 s".into()));
        let off = booth(json!({"pcConnected": false}));
        assert_eq!(
            kinds(&conditions(&off, Utc::now(), &settings, &mut memory, false)),
            [AlertKind::PowerOnFailed]
        );
        // The PC answering ends it.
        conditions(&booth(json!({})), Utc::now(), &settings, &mut memory, false);
        assert!(memory.power_on_failed.is_empty());
    }
}
