//! dslrBooth's URL triggers (`GET /trigger?event_type=…&param1=…&param2=…`), turned into
//! media lines. What counts:
//!
//! | dslrBooth event | media |
//! |---|---|
//! | `session_start` [mode] | a session; with mode `gif` or `boomerang` also a GIF |
//! | `file_download` [file] | a photo (a capture from the camera) |
//! | `printing` [file] [copies] [printer] | a print of `copies` (1 when absent) |
//! | `file_upload` [file] [url] [type] [album] | a digital share |
//!
//! The other documented events (`countdown_start`, `countdown`, `capture_start`,
//! `processing_start`, `sharing_screen`, `session_end`) are acknowledged and not stored;
//! unknown ones are stored as such (never sent) and logged, so that a new dslrBooth version
//! never makes the agent fail a trigger.

use std::collections::BTreeMap;

use boom_contracts::MediaType;
use chrono::Utc;

use crate::store::MediaLine;

/// Known events that carry nothing to count.
const IGNORED: &[&str] = &[
    "countdown_start",
    "countdown",
    "capture_start",
    "processing_start",
    "sharing_screen",
    "session_end",
];

/// The most copies one print trigger may claim (a guard against a garbled parameter).
const MAX_COPIES: i64 = 50;

/// The event types counted, then the ones acknowledged: every other one is `unknown` in the
/// metrics, so that a caller cannot grow the metrics' label set without bound.
const COUNTED: &[&str] = &["session_start", "file_download", "printing", "file_upload"];

/// The `event_type` label of `boom_agent_triggers_total`: a documented event, or `unknown`.
pub fn metric_label(event_type: &str) -> &'static str {
    let lower = event_type.trim().to_ascii_lowercase();
    COUNTED
        .iter()
        .chain(IGNORED)
        .find(|known| **known == lower)
        .copied()
        .unwrap_or("unknown")
}

/// Whether a trigger call may come from dslrBooth, and not from a web page open on the booth
/// PC: a browser names the page's site (`Origin`, `Sec-Fetch-Site`), dslrBooth's HTTP
/// client does not; and DNS rebinding (a site's name resolving to 127.0.0.1) shows as a
/// `Host` that is a name, where dslrBooth calls an address (or `localhost`). `Err` says why.
pub fn from_dslrbooth(host: Option<&str>, origin: bool, fetch_site: bool) -> Result<(), String> {
    if origin || fetch_site {
        return Err("trigger calls from a web page are refused".to_owned());
    }
    let Some(host) = host else {
        return Ok(());
    };
    let name = host
        .strip_prefix('[')
        .and_then(|h| h.split(']').next())
        .unwrap_or_else(|| host.rsplit_once(':').map_or(host, |(name, _)| name));
    if name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok() {
        Ok(())
    } else {
        Err(format!(
            "Host `{host}` refused: call the agent by its address (http://127.0.0.1:8765/trigger)"
        ))
    }
}

/// What a trigger becomes: zero, one or two media lines.
pub fn media_lines(query: &BTreeMap<String, String>) -> Result<Vec<MediaLine>, String> {
    let event_type = query
        .get("event_type")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty());
    let Some(event_type) = event_type else {
        return Err("missing event_type".to_owned());
    };
    let event_type = event_type.to_ascii_lowercase();
    let params: serde_json::Value = query
        .iter()
        .filter(|(k, _)| k.as_str() != "event_type")
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let param = |n: usize| {
        query
            .get(&format!("param{n}"))
            .map(|s| s.trim().to_ascii_lowercase())
    };
    let at = Utc::now();
    let one = |kind: Option<MediaType>, count: i64| MediaLine {
        kind,
        count,
        event_type: event_type.clone(),
        params: params.clone(),
        at,
    };
    let events = match event_type.as_str() {
        "session_start" => {
            let mut events = vec![one(Some(MediaType::Session), 1)];
            if matches!(param(1).as_deref(), Some("gif" | "boomerang")) {
                events.push(one(Some(MediaType::Gif), 1));
            }
            events
        }
        "file_download" => vec![one(Some(MediaType::Photo), 1)],
        "printing" => {
            let copies = param(2)
                .and_then(|c| c.parse::<i64>().ok())
                .filter(|c| (1..=MAX_COPIES).contains(c))
                .unwrap_or(1);
            vec![one(Some(MediaType::Print), copies)]
        }
        "file_upload" => vec![one(Some(MediaType::Digital), 1)],
        known if IGNORED.contains(&known) => vec![],
        unknown => {
            tracing::warn!(
                event_type = unknown,
                "unknown dslrBooth trigger kept, not counted"
            );
            vec![one(None, 1)]
        }
    };
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn kinds(pairs: &[(&str, &str)]) -> Vec<(Option<MediaType>, i64)> {
        media_lines(&query(pairs))
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e.kind, e.count))
            .collect()
    }

    #[test]
    fn dslrbooth_events_map_to_media() {
        use MediaType::*;
        assert_eq!(
            kinds(&[("event_type", "session_start"), ("param1", "print")]),
            [(Some(Session), 1)]
        );
        assert_eq!(
            kinds(&[("event_type", "session_start"), ("param1", "Boomerang")]),
            [(Some(Session), 1), (Some(Gif), 1)]
        );
        assert_eq!(
            kinds(&[("event_type", "file_download"), ("param1", "IMG_0001.JPG")]),
            [(Some(Photo), 1)]
        );
        assert_eq!(
            kinds(&[
                ("event_type", "printing"),
                ("param1", "a.jpg"),
                ("param2", "3"),
                ("param3", "DS620")
            ]),
            [(Some(Print), 3)]
        );
        assert_eq!(
            kinds(&[("event_type", "printing"), ("param1", "a.jpg")]),
            [(Some(Print), 1)]
        );
        assert_eq!(
            kinds(&[("event_type", "printing"), ("param2", "9999")]),
            [(Some(Print), 1)],
            "a garbled count is one print"
        );
        assert_eq!(
            kinds(&[("event_type", "file_upload"), ("param3", "gif")]),
            [(Some(Digital), 1)]
        );
        assert_eq!(kinds(&[("event_type", "countdown"), ("param1", "50")]), []);
        assert_eq!(kinds(&[("event_type", "hologram_start")]), [(None, 1)]);
        assert!(media_lines(&query(&[("param1", "x")])).is_err());
    }

    #[test]
    fn the_metrics_name_documented_events_and_nothing_else() {
        assert_eq!(metric_label("printing"), "printing");
        assert_eq!(metric_label(" Session_Start"), "session_start");
        assert_eq!(metric_label("countdown"), "countdown");
        assert_eq!(metric_label("hologram_start"), "unknown");
        assert_eq!(metric_label(&"x".repeat(10_000)), "unknown");
    }

    #[test]
    fn only_dslrbooth_may_call() {
        for host in [
            None,
            Some("127.0.0.1:8765"),
            Some("localhost:8765"),
            Some("[::1]:8765"),
            Some("192.168.1.20:8765"),
            Some("LOCALHOST"),
        ] {
            assert_eq!(from_dslrbooth(host, false, false), Ok(()), "{host:?}");
        }
        assert!(from_dslrbooth(Some("evil.example:8765"), false, false).is_err());
        assert!(from_dslrbooth(Some("localhost.evil.example"), false, false).is_err());
        assert!(from_dslrbooth(Some("127.0.0.1:8765"), true, false).is_err());
        assert!(from_dslrbooth(Some("127.0.0.1:8765"), false, true).is_err());
    }
}

/// Property tests: whatever calls the trigger URL, the agent answers without panicking, and
/// what it stores is bounded.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn event_type() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "session_start",
                "file_download",
                "printing",
                "file_upload",
                "countdown",
                "session_end",
                "PRINTING",
            ])
            .prop_map(str::to_owned),
            any::<String>(),
        ]
    }

    proptest! {
        #[test]
        fn any_query_is_stored_bounded_or_refused(
            event in prop::option::of(event_type()),
            params in prop::collection::btree_map("(param[0-9]|[a-z_]{1,12})", any::<String>(), 0..6),
        ) {
            let mut query = params;
            if let Some(event) = &event {
                query.insert("event_type".to_owned(), event.clone());
            }
            match media_lines(&query) {
                Ok(lines) => {
                    prop_assert!(lines.len() <= 2);
                    for line in &lines {
                        prop_assert!((1..=MAX_COPIES).contains(&line.count));
                    }
                }
                Err(_) => prop_assert!(event.as_deref().is_none_or(|e| e.trim().is_empty())),
            }
            let label = metric_label(event.as_deref().unwrap_or_default());
            prop_assert!(label == "unknown" || COUNTED.contains(&label) || IGNORED.contains(&label));
        }

        #[test]
        fn any_host_header_is_judged_without_panic(host in any::<String>(), origin in any::<bool>(), site in any::<bool>()) {
            let verdict = from_dslrbooth(Some(&host), origin, site);
            if origin || site {
                prop_assert!(verdict.is_err());
            }
        }
    }
}
