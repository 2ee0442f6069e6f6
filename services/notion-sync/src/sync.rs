//! One sync: read every "En cours" page of the events data source, publish an upsert for each
//! page that changed, then — only if every page was read — publish the completed sync, which
//! makes the gateway complete the events that are no longer listed.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use boom_bus::{Bus, RegistryView};
use boom_config::NotionSettings;
use boom_contracts::messages::{
    EventUpserted, NotionSyncCompleted, NotionSyncOutcome, NotionSyncSummary,
};
use boom_contracts::{PhotomatonId, paris};
use chrono::{DateTime, Utc};
use notion_client::objects::page::Page;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::client::{NotionClient, NotionError};
use crate::mapping::{BoothRef, map_page, title_of};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// `boom_notion_syncs_total{outcome=ok|failed|partial}`, `boom_notion_unmatched_pages` (last
/// sync), `boom_notion_last_success_timestamp_seconds`.
#[derive(Debug, Clone, Default)]
pub struct SyncMetrics {
    syncs: Family<OutcomeLabels, Counter>,
    unmatched: Gauge,
    last_success: Gauge,
}

impl SyncMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "boom_notion_syncs",
            "Notion syncs, by outcome",
            m.syncs.clone(),
        );
        registry.register(
            "boom_notion_unmatched_pages",
            "Pages of the last sync whose booth matched nothing",
            m.unmatched.clone(),
        );
        registry.register(
            "boom_notion_last_success_timestamp_seconds",
            "When the last complete sync ended",
            m.last_success.clone(),
        );
        m
    }
}

/// What the previous syncs of this instance published.
#[derive(Debug, Default)]
struct Memory {
    published: HashMap<String, (DateTime<Utc>, Option<PhotomatonId>)>,
    active: Option<HashSet<String>>,
}

#[derive(Debug)]
pub struct Syncer {
    pub client: Option<NotionClient>,
    pub settings: NotionSettings,
    pub bus: Bus,
    pub booths: RegistryView,
    pub metrics: SyncMetrics,
    /// `events.overrun_hours`: how long past midnight an event planned by the day goes on.
    pub overrun_hours: u32,
    memory: Mutex<Memory>,
}

struct Read {
    pages: Vec<(Value, Page)>,
    errors: Vec<String>,
}

impl Syncer {
    pub fn new(
        settings: NotionSettings,
        bus: Bus,
        booths: RegistryView,
        metrics: SyncMetrics,
    ) -> anyhow::Result<Self> {
        let client = match (&settings.token, &settings.database_id) {
            (Some(token), Some(_)) => Some(NotionClient::new(&settings.base_url, token.clone())?),
            _ => None,
        };
        Ok(Self {
            client,
            settings,
            bus,
            booths,
            metrics,
            overrun_hours: boom_config::EventsSettings::default().overrun_hours,
            memory: Mutex::default(),
        })
    }

    /// Runs one sync; never two at once in this instance (the lease makes it one in all).
    pub async fn run(&self) -> NotionSyncSummary {
        let mut memory = self.memory.lock().await;
        let started = Instant::now();
        let mut summary = NotionSyncSummary::default();
        match self.read().await {
            Err(error) => summary.errors.push(error.to_string()),
            Ok(read) => {
                summary.errors = read.errors;
                self.publish(read.pages, &mut memory, &mut summary).await;
            }
        }
        summary.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let outcome = if summary.errors.is_empty() {
            "ok"
        } else if summary.pages_read > 0 {
            "partial"
        } else {
            "failed"
        };
        self.metrics
            .syncs
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
        self.metrics
            .unmatched
            .set(i64::try_from(summary.unmatched.len()).unwrap_or(i64::MAX));
        if summary.errors.is_empty() {
            self.metrics.last_success.set(Utc::now().timestamp());
            tracing::info!(
                pages = summary.pages_read,
                upserted = summary.upserted,
                unchanged = summary.unchanged,
                completed = summary.completed,
                unmatched = summary.unmatched.len(),
                "notion sync"
            );
        } else {
            tracing::warn!(errors = ?summary.errors, pages = summary.pages_read, "notion sync incomplete: nothing was completed");
        }
        // The notifier counts failures in a row; without a Notion token there is nothing to
        // tell (the health and the logs say it is not configured).
        if self.client.is_some() {
            let told = NotionSyncOutcome {
                ok: summary.errors.is_empty(),
                error: summary.errors.first().cloned(),
                at: Utc::now(),
            };
            if let Err(error) = self.bus.publish(&told).await {
                tracing::debug!(%error, "sync outcome not broadcast");
            }
        }
        summary
    }

    /// Every active page, through the database's data source.
    async fn read(&self) -> Result<Read, NotionError> {
        let client = self.client.as_ref().ok_or(NotionError::NotConfigured)?;
        let database_id = self
            .settings
            .database_id
            .as_deref()
            .ok_or(NotionError::NotConfigured)?;
        let database = client
            .call(
                Method::GET,
                &format!("/databases/{database_id}"),
                None,
                "the events database",
            )
            .await?;
        let data_source = database["data_sources"][0]["id"]
            .as_str()
            .ok_or_else(|| NotionError::Malformed("the database lists no data source".to_owned()))?
            .to_owned();
        let schema = client
            .call(
                Method::GET,
                &format!("/data_sources/{data_source}"),
                None,
                "the events data source",
            )
            .await?;
        let names = &self.settings.properties;
        let status_type = schema["properties"][&names.status]["type"]
            .as_str()
            .unwrap_or("status")
            .to_owned();
        if !matches!(status_type.as_str(), "status" | "select") {
            return Err(NotionError::Malformed(format!(
                "property `{}` is a {status_type}, not a status or select",
                names.status
            )));
        }
        let mut read = Read {
            pages: Vec::new(),
            errors: Vec::new(),
        };
        let mut cursor: Option<String> = None;
        loop {
            let mut body = json!({
                "filter": {"property": names.status, status_type.clone(): {"equals": names.status_active}},
                "page_size": 100,
            });
            if let Some(cursor) = &cursor {
                body["start_cursor"] = json!(cursor);
            }
            let answer = client
                .call(
                    Method::POST,
                    &format!("/data_sources/{data_source}/query"),
                    Some(&body),
                    "the events query",
                )
                .await?;
            let results = answer["results"].as_array().ok_or_else(|| {
                NotionError::Malformed("a query answer without results".to_owned())
            })?;
            for raw in results {
                match serde_json::from_value::<Page>(raw.clone()) {
                    Ok(page) => read.pages.push((raw.clone(), page)),
                    Err(error) => read.errors.push(format!(
                        "page {}: unreadable ({error})",
                        raw["id"].as_str().unwrap_or("?")
                    )),
                }
            }
            match (answer["has_more"].as_bool(), answer["next_cursor"].as_str()) {
                (Some(true), Some(next)) => cursor = Some(next.to_owned()),
                (Some(true), None) => {
                    return Err(NotionError::Malformed(
                        "has_more without next_cursor".to_owned(),
                    ));
                }
                _ => return Ok(read),
            }
        }
    }

    async fn booth_of(
        &self,
        refs: &[BoothRef],
        titles: &mut HashMap<String, Option<String>>,
    ) -> Result<Option<PhotomatonId>, NotionError> {
        for reference in refs {
            let name = match reference {
                BoothRef::Text(text) => Some(text.clone()),
                BoothRef::Page(id) => {
                    if !titles.contains_key(id) {
                        let client = self.client.as_ref().ok_or(NotionError::NotConfigured)?;
                        let page = client
                            .call(
                                Method::GET,
                                &format!("/pages/{id}"),
                                None,
                                "a related booth page",
                            )
                            .await?;
                        let title = serde_json::from_value::<Page>(page)
                            .ok()
                            .and_then(|p| title_of(&p));
                        titles.insert(id.clone(), title);
                    }
                    titles.get(id).cloned().flatten()
                }
            };
            let Some(name) = name else { continue };
            let found = self.booths.by_hostname(&name).or_else(|| {
                self.booths
                    .all()
                    .into_iter()
                    .find(|b| b.name.trim().eq_ignore_ascii_case(name.trim()))
            });
            if let Some(booth) = found {
                return Ok(Some(booth.photomaton_id));
            }
        }
        Ok(None)
    }

    async fn publish(
        &self,
        pages: Vec<(Value, Page)>,
        memory: &mut Memory,
        summary: &mut NotionSyncSummary,
    ) {
        let mut titles = HashMap::new();
        let mut current = HashSet::new();
        let names = self.settings.properties.clone();
        for (raw, page) in pages {
            let mapped = map_page(&page, &names);
            if mapped
                .status
                .as_deref()
                .is_some_and(|s| !s.eq_ignore_ascii_case(&names.status_active))
            {
                continue; // the query's filter should have left it out
            }
            summary.pages_read += 1;
            current.insert(page.id.clone());
            let photomaton = match self.booth_of(&mapped.booth, &mut titles).await {
                Ok(found) => found,
                Err(error) => {
                    summary.errors.push(format!("page {}: {error}", page.id));
                    continue;
                }
            };
            if photomaton.is_none() {
                tracing::warn!(page = %page.id, client = %mapped.client_name, "no booth of the registry matches this page");
                summary
                    .unmatched
                    .push(format!("{} ({})", mapped.client_name, page.id));
            }
            if memory.published.get(&page.id) == Some(&(page.last_edited_time, photomaton)) {
                summary.unchanged += 1;
                continue;
            }
            let window = mapped
                .planned
                .map(|(start, end)| paris::event_window(start, end, self.overrun_hours));
            let message = EventUpserted {
                notion_page_id: page.id.clone(),
                notion_last_edited: page.last_edited_time,
                notion_url: Some(page.url.clone()),
                client_name: mapped.client_name,
                event_type: mapped.event_type,
                event_date: mapped.event_date,
                album_name: mapped.album_name,
                photomaton_id: photomaton,
                notion_data: raw,
                window_start: window.map(|w| w.0),
                window_end: window.map(|w| w.1),
            };
            match self.bus.publish(&message).await {
                Ok(_) => {
                    memory
                        .published
                        .insert(page.id.clone(), (page.last_edited_time, photomaton));
                    summary.upserted += 1;
                }
                Err(error) => summary
                    .errors
                    .push(format!("page {}: not published ({error})", page.id)),
            }
        }
        if !summary.errors.is_empty() {
            return; // a partial sync completes nothing
        }
        let completed = NotionSyncCompleted {
            sync_id: uuid::Uuid::new_v4(),
            active_page_ids: current.iter().cloned().collect(),
            finished_at: Utc::now(),
        };
        match self.bus.publish(&completed).await {
            Ok(_) => {
                if let Some(previous) = &memory.active {
                    summary.completed =
                        u32::try_from(previous.difference(&current).count()).unwrap_or(u32::MAX);
                }
                memory.published.retain(|id, _| current.contains(id));
                memory.active = Some(current);
            }
            Err(error) => summary
                .errors
                .push(format!("completion not published ({error})")),
        }
    }
}
