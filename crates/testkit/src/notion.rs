//! A local server that answers like the Notion API (for tests and the demo fleet) (the JSON shapes of its public reference:
//! databases with data sources, data source queries with `has_more` / `next_cursor`, page
//! objects with typed `properties`, error objects), with faults a test can script.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

pub const TOKEN: &str = "ntn_test_token";
pub const DATABASE: &str = "0f0e0d0c-0b0a-4909-8807-060504030201";
pub const DATA_SOURCE: &str = "ds-events-1";

/// A scripted fault for the next request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this request normally.
    Pass,
    RateLimited {
        retry_after_secs: u64,
    },
    ServerError,
    Garbage,
}

#[derive(Debug, Default)]
pub struct NotionState {
    pub pages: Vec<Value>,
    pub booth_pages: Vec<Value>,
    pub faults: VecDeque<Fault>,
    /// Fails every query request whose cursor is this one (a partial read).
    pub fail_cursor: Option<String>,
    pub requests: Vec<(std::time::Instant, String, Option<String>)>,
    pub status_type: &'static str,
}

#[derive(Debug, Clone)]
pub struct FakeNotion {
    pub base_url: String,
    pub state: Arc<Mutex<NotionState>>,
}

fn error(status: u16, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
        .json(json!({"object": "error", "status": status, "code": code, "message": message}))
}

pub fn rich(text: &str) -> Value {
    json!([{"type": "text", "text": {"content": text, "link": null},
        "annotations": {"bold": false, "italic": false, "strikethrough": false, "underline": false, "code": false, "color": "default"},
        "plain_text": text, "href": null}])
}

pub fn select(name: &str) -> Value {
    json!({"id": format!("opt-{name}"), "name": name, "color": "blue"})
}

/// A page of the events data source.
pub fn page(id: &str, edited: &str, properties: Value) -> Value {
    json!({
        "object": "page", "id": id,
        "created_time": "2026-06-01T10:00:00.000Z", "last_edited_time": edited,
        "created_by": {"object": "user", "id": "user-1"}, "last_edited_by": {"object": "user", "id": "user-1"},
        "cover": null, "icon": null,
        "parent": {"type": "data_source_id", "data_source_id": DATA_SOURCE, "database_id": DATABASE},
        "archived": false, "in_trash": false,
        "properties": properties,
        "url": format!("https://www.notion.so/{}", id.replace('-', "")), "public_url": null,
    })
}

/// The company's properties: Client (title), Type (select), Date (date), Album (rich text),
/// Statut (status), Photomaton (any value given).
pub fn event_properties(client: &str, status: &str, booth: Value) -> Value {
    json!({
        "Client": {"id": "title", "type": "title", "title": rich(client)},
        "Type": {"id": "t1", "type": "select", "select": select("Mariage")},
        "Date": {"id": "d1", "type": "date", "date": {"start": "2026-06-13", "end": null, "time_zone": null}},
        "Album": {"id": "a1", "type": "rich_text", "rich_text": rich("album-dupont")},
        "Statut": {"id": "s1", "type": "status", "status": select(status)},
        "Photomaton": booth,
    })
}

fn status_of(page: &Value) -> Option<String> {
    let statut = &page["properties"]["Statut"];
    statut["status"]["name"]
        .as_str()
        .or(statut["select"]["name"].as_str())
        .map(str::to_owned)
}

async fn handle(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<Arc<Mutex<NotionState>>>,
) -> HttpResponse {
    let path = request.path().to_owned();
    let version = request
        .headers()
        .get("notion-version")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut state = match state.lock() {
        Ok(s) => s,
        Err(_) => return error(500, "internal_server_error", "poisoned"),
    };
    state
        .requests
        .push((std::time::Instant::now(), path.clone(), version));
    if request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return error(401, "unauthorized", "API token is invalid.");
    }
    match state.faults.pop_front() {
        Some(Fault::RateLimited { retry_after_secs }) => {
            return HttpResponse::TooManyRequests()
                .insert_header(("retry-after", retry_after_secs.to_string()))
                .json(json!({"object": "error", "status": 429, "code": "rate_limited", "message": "You have been rate limited."}));
        }
        Some(Fault::ServerError) => {
            return error(500, "internal_server_error", "Unexpected error.");
        }
        Some(Fault::Garbage) => {
            return HttpResponse::Ok()
                .content_type("application/json")
                .body("<html>oops");
        }
        Some(Fault::Pass) | None => {}
    }
    let segments: Vec<&str> = path.trim_start_matches("/v1/").split('/').collect();
    match (request.method().as_str(), segments.as_slice()) {
        ("GET", ["databases", id]) if *id == DATABASE => HttpResponse::Ok().json(json!({
            "object": "database", "id": DATABASE, "title": rich("Événements"),
            "data_sources": [{"id": DATA_SOURCE, "name": "Événements"}],
        })),
        ("GET", ["databases", _]) => error(
            404,
            "object_not_found",
            "Could not find database. Make sure it is shared with your integration.",
        ),
        ("GET", ["data_sources", id]) if *id == DATA_SOURCE => HttpResponse::Ok().json(json!({
            "object": "data_source", "id": DATA_SOURCE,
            "properties": {"Statut": {"id": "s1", "name": "Statut", "type": state.status_type}},
        })),
        ("POST", ["data_sources", id, "query"]) if *id == DATA_SOURCE => {
            let query: Value = match serde_json::from_slice(&body) {
                Ok(q) => q,
                Err(_) => return error(400, "invalid_json", "Error parsing JSON body."),
            };
            let wanted = query["filter"][state.status_type]["equals"]
                .as_str()
                .map(str::to_owned);
            if query["filter"]["property"] != "Statut" || wanted.is_none() {
                return error(400, "validation_error", "body.filter is invalid");
            }
            let cursor = query["start_cursor"].as_str().map(str::to_owned);
            if cursor.is_some() && cursor == state.fail_cursor {
                return error(
                    400,
                    "validation_error",
                    "body.start_cursor should be a valid cursor.",
                );
            }
            let start: usize = cursor
                .as_deref()
                .and_then(|c| c.strip_prefix("cursor-"))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let size = query["page_size"].as_u64().unwrap_or(100).min(100) as usize;
            let matching: Vec<Value> = state
                .pages
                .iter()
                .filter(|p| status_of(p) == wanted)
                .cloned()
                .collect();
            let end = (start + size).min(matching.len());
            let has_more = end < matching.len();
            HttpResponse::Ok().json(json!({
                "object": "list", "results": matching[start.min(end)..end],
                "next_cursor": if has_more { json!(format!("cursor-{end}")) } else { Value::Null },
                "has_more": has_more, "type": "page_or_data_source", "page_or_data_source": {},
            }))
        }
        ("GET", ["pages", id]) => match state
            .booth_pages
            .iter()
            .chain(state.pages.iter())
            .find(|p| p["id"] == *id)
        {
            Some(page) => HttpResponse::Ok().json(page),
            None => error(404, "object_not_found", "Could not find page."),
        },
        _ => error(400, "invalid_request_url", "Invalid request URL."),
    }
}

impl FakeNotion {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_on(0).await
    }

    /// On a given loopback port (0: any free one).
    pub async fn start_on(port: u16) -> anyhow::Result<Self> {
        let state = Arc::new(Mutex::new(NotionState {
            status_type: "status",
            ..NotionState::default()
        }));
        let data = web::Data::new(state.clone());
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(data.clone())
                .default_service(web::to(handle))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", port))?;
        let port = server.addrs().first().map(|a| a.port()).unwrap_or(0);
        let server = server.run();
        tokio::spawn(server);
        Ok(Self {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            state,
        })
    }

    pub fn with<T>(&self, change: impl FnOnce(&mut NotionState) -> T) -> T {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        change(&mut state)
    }
}
