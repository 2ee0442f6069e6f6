//! What the messages say, in French first and in English for those whose dashboard is in
//! English: a title (the e-mail's subject), a few lines, and the link to the booth page.

use boom_contracts::messages::{AlertKind, Transition};
use chrono::{DateTime, Utc};

use crate::rules::Detail;
use boom_contracts::paris;

/// Everything a message is made of, whatever its language.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    pub kind: AlertKind,
    pub transition: Transition,
    pub booth_name: Option<&'a str>,
    pub hostname: Option<&'a str>,
    pub photomaton_id: Option<i32>,
    pub detail: &'a Detail,
    pub opened_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
    pub dashboard_url: &'a str,
}

fn french(s: &Subject<'_>) -> (String, String) {
    let d = s.detail;
    let booth = s.booth_name.unwrap_or("la flotte");
    let what = match s.kind {
        AlertKind::PaperWarning => format!(
            "Papier bas : {booth} ({} tirages restants)",
            d.remaining_prints.unwrap_or(0)
        ),
        AlertKind::PaperCritical => format!(
            "Papier critique : {booth} ({} tirages restants)",
            d.remaining_prints.unwrap_or(0)
        ),
        AlertKind::BoothDown => format!(
            "{booth} injoignable ({}) pendant {}",
            match (d.router_down, d.pc_down) {
                (true, true) => "routeur et PC",
                (true, false) => "routeur",
                _ => "PC",
            },
            d.event.as_deref().unwrap_or("un événement")
        ),
        AlertKind::AgentSilent => format!(
            "Agent muet : {booth} (aucune nouvelle depuis {} min, le PC répond)",
            d.silent_minutes.unwrap_or(0)
        ),
        AlertKind::PrinterError => format!(
            "Imprimante en erreur : {booth} ({})",
            d.printer.as_deref().unwrap_or("erreur")
        ),
        AlertKind::PowerOnFailed => format!("Allumage échoué : {booth}, le PC ne répond pas"),
        AlertKind::NotionSyncFailing => {
            "Synchronisation Notion en échec (3 fois de suite)".to_owned()
        }
    };
    let title = match s.transition {
        Transition::Open => what.clone(),
        Transition::Reminder => format!("Rappel — {what}"),
        Transition::Resolved => format!("Résolu — {what}"),
        Transition::Test => "Test LE BOOM : ce canal fonctionne".to_owned(),
    };
    let mut lines = vec![title.clone()];
    match s.transition {
        Transition::Test => {
            lines.push("Vous recevrez ici les alertes choisies sur le tableau de bord.".into());
        }
        Transition::Resolved => lines.push(format!(
            "Ouverte à {}, résolue à {} (heure de Paris).",
            paris::clock(s.opened_at),
            paris::clock(s.at)
        )),
        _ => {
            lines.push(format!(
                "Depuis {} (heure de Paris).",
                paris::clock(s.opened_at)
            ));
            lines.push(
                "Prenez-la en charge sur le tableau de bord pour arrêter les rappels.".into(),
            );
        }
    }
    if let Some(error) = &d.error {
        lines.push(format!("Erreur : {error}"));
    }
    (title, lines.join("\n"))
}

fn english(s: &Subject<'_>) -> (String, String) {
    let d = s.detail;
    let booth = s.booth_name.unwrap_or("the fleet");
    let what = match s.kind {
        AlertKind::PaperWarning => format!(
            "Paper low: {booth} ({} prints left)",
            d.remaining_prints.unwrap_or(0)
        ),
        AlertKind::PaperCritical => format!(
            "Paper critical: {booth} ({} prints left)",
            d.remaining_prints.unwrap_or(0)
        ),
        AlertKind::BoothDown => format!(
            "{booth} unreachable ({}) during {}",
            match (d.router_down, d.pc_down) {
                (true, true) => "router and PC",
                (true, false) => "router",
                _ => "PC",
            },
            d.event.as_deref().unwrap_or("an event")
        ),
        AlertKind::AgentSilent => format!(
            "Agent silent: {booth} (no word for {} min, the PC answers)",
            d.silent_minutes.unwrap_or(0)
        ),
        AlertKind::PrinterError => format!(
            "Printer error: {booth} ({})",
            d.printer.as_deref().unwrap_or("error")
        ),
        AlertKind::PowerOnFailed => format!("Power-on failed: {booth}, the PC does not answer"),
        AlertKind::NotionSyncFailing => "Notion sync failing (3 times in a row)".to_owned(),
    };
    let title = match s.transition {
        Transition::Open => what.clone(),
        Transition::Reminder => format!("Reminder — {what}"),
        Transition::Resolved => format!("Resolved — {what}"),
        Transition::Test => "LE BOOM test: this channel works".to_owned(),
    };
    let mut lines = vec![title.clone()];
    match s.transition {
        Transition::Test => {
            lines.push("The alerts you chose on the dashboard will arrive here.".into());
        }
        Transition::Resolved => lines.push(format!(
            "Opened at {}, resolved at {} (Paris time).",
            paris::clock(s.opened_at),
            paris::clock(s.at)
        )),
        _ => {
            lines.push(format!("Since {} (Paris time).", paris::clock(s.opened_at)));
            lines.push("Acknowledge it on the dashboard to stop the reminders.".into());
        }
    }
    if let Some(error) = &d.error {
        lines.push(format!("Error: {error}"));
    }
    (title, lines.join("\n"))
}

/// The title and the text of a message in `language` (`en`, else French).
pub fn message(subject: &Subject<'_>, language: &str) -> (String, String) {
    let (title, mut text) = if language == "en" {
        english(subject)
    } else {
        french(subject)
    };
    let base = subject.dashboard_url.trim_end_matches('/');
    let link = match subject.photomaton_id {
        Some(id) => format!("{base}/#/booth/{id}"),
        None => format!("{base}/#/alerts"),
    };
    if let Some(host) = subject.hostname {
        text.push_str(&format!("\n{host}"));
    }
    text.push_str(&format!("\n{link}"));
    (title, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_first_with_a_link_to_the_booth() {
        let detail = Detail {
            remaining_prints: Some(40),
            ..Detail::default()
        };
        let at = Utc::now();
        let subject = Subject {
            kind: AlertKind::PaperCritical,
            transition: Transition::Open,
            booth_name: Some("Boom 3"),
            hostname: Some("boom-03"),
            photomaton_id: Some(3),
            detail: &detail,
            opened_at: at,
            at,
            dashboard_url: "https://boom.example/",
        };
        let (title, text) = message(&subject, "fr");
        assert_eq!(title, "Papier critique : Boom 3 (40 tirages restants)");
        assert!(
            text.ends_with("\nboom-03\nhttps://boom.example/#/booth/3"),
            "{text}"
        );
        let resolved = Subject {
            transition: Transition::Resolved,
            ..subject
        };
        let (title, _) = message(&resolved, "en");
        assert_eq!(title, "Resolved — Paper critical: Boom 3 (40 prints left)");
    }
}
