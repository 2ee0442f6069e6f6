//! The gateway's routes, declared once: each [`Endpoint`] mounts its handler *and* describes
//! itself (method, path, minimum role, request and response types) for
//! `GET /api/openapi.json`. A route cannot exist without being documented, and the role
//! matrix test checks every documented role against the handler's behaviour. The role is
//! enforced here, by a middleware wrapped around the route, before the body is read: handlers
//! do not check it again.

use actix_web::{HttpResponse, web};
use boom_contracts::UserRole;
use schemars::{JsonSchema, schema_for};
use serde_json::{Map, Value, json};

use crate::http::{
    account, alerts, assets, audit, commands, events, exports, faults, live, notifications, notion,
    pairing, paper, photomatons, power_on, speed_tests, sso, users,
};
use crate::pagination::Page;
use crate::store;

type Schema = fn() -> Value;

/// One route of the gateway.
#[derive(Clone, Copy)]
pub struct Endpoint {
    /// Lowercase HTTP method.
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    /// `None`: no sign-in needed. `Some(role)`: that role or a higher one.
    pub role: Option<UserRole>,
    pub request: Option<Schema>,
    pub response: Option<Schema>,
    /// Mounts the handler; routes served by every service (`/api/health`, `/metrics`) are
    /// mounted by `boom-server` and only described here.
    pub mount: fn(&mut web::ServiceConfig),
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method.to_uppercase(), self.path)
    }
}

fn schema<T: JsonSchema>() -> Value {
    serde_json::to_value(schema_for!(T)).unwrap_or(Value::Null)
}

macro_rules! endpoint {
    ($method:ident $path:literal => $handler:path, $summary:literal, $role:expr, $request:expr, $response:expr) => {
        Endpoint {
            method: stringify!($method),
            path: $path,
            summary: $summary,
            role: $role,
            request: $request,
            response: $response,
            mount: |cfg| {
                let route = web::$method().to($handler);
                let route = match $role {
                    Some(role) => {
                        route.wrap(actix_web::middleware::from_fn(move |request, next| {
                            crate::http::session::authorize(request, next, role)
                        }))
                    }
                    None => route,
                };
                cfg.route($path, route);
            },
        }
    };
}

const VIEWER: Option<UserRole> = Some(UserRole::Viewer);
const INSTALLER: Option<UserRole> = Some(UserRole::Installer);
const ADMIN: Option<UserRole> = Some(UserRole::Admin);

fn shared(_: &mut web::ServiceConfig) {}

/// Every route of the gateway.
pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint {
            method: "get",
            path: "/api/health",
            summary: "Health of the gateway and its dependencies (200, or 503 naming the failing ones)",
            role: None,
            request: None,
            response: None,
            mount: shared,
        },
        Endpoint {
            method: "get",
            path: "/metrics",
            summary: "Prometheus metrics",
            role: None,
            request: None,
            response: None,
            mount: shared,
        },
        endpoint!(get "/api/openapi.json" => openapi, "This document", None, None, None),
        endpoint!(get "/" => assets::index, "The dashboard", None, None, None),
        endpoint!(get "/app.js" => assets::script, "The dashboard's script", None, None, None),
        endpoint!(get "/app.css" => assets::style, "The dashboard's style sheet", None, None, None),
        endpoint!(get "/charts.js" => assets::charts, "The dashboard's and the report's charts (uPlot, loaded on demand)", None, None, None),
        endpoint!(get "/report.js" => assets::report_script, "The client report's chart", None, None, None),
        endpoint!(get "/manifest.webmanifest" => assets::manifest, "The dashboard as an installable web app", None, None, None),
        endpoint!(get "/icon.svg" => assets::icon, "The app's icon", None, None, None),
        endpoint!(get "/favicon.ico" => assets::icon, "The app's icon (SVG, for browsers that ask this path)", None, None, None),
        endpoint!(get "/icon-192.png" => assets::icon_192, "The app's icon, 192 px", None, None, None),
        endpoint!(get "/icon-512.png" => assets::icon_512, "The app's icon, 512 px", None, None, None),
        endpoint!(get "/sw.js" => assets::service_worker, "The service worker: the last known fleet when the network drops", None, None, None),
        endpoint!(get "/vendor/uplot.js" => assets::uplot_script, "uPlot 1.6.32 (MIT), vendored", None, None, None),
        endpoint!(get "/vendor/uplot.css" => assets::uplot_style, "uPlot's style sheet", None, None, None),
        endpoint!(post "/api/auth/login" => account::login, "Sign in: sets the session cookie, answers the user and the CSRF token", None, Some(schema::<account::Login>), Some(schema::<account::Me>)),
        endpoint!(get "/api/auth/providers" => sso::providers, "What the sign-in page offers besides passwords: single sign-on's name and start, or null", None, None, Some(schema::<sso::Providers>)),
        endpoint!(get "/api/auth/oidc/login" => sso::login, "Single sign-on: 302 to the issuer's authorization endpoint (discovered) with code_challenge_method=S256, state and nonce", None, None, None),
        endpoint!(get "/api/auth/oidc/callback" => sso::callback, "Single sign-on: the issuer's answer; signs in an account an admin created (matched by verified e-mail, then bound to the issuer's subject) and goes to the dashboard, or says why not", None, None, None),
        endpoint!(post "/api/auth/logout" => account::logout, "Sign out: ends the session", VIEWER, None, None),
        endpoint!(get "/api/auth/me" => account::whoami, "The signed-in user and the CSRF token", VIEWER, None, Some(schema::<account::Me>)),
        endpoint!(patch "/api/auth/me" => account::update_me, "Choose one's own dashboard language", VIEWER, Some(schema::<account::UpdateMe>), Some(schema::<account::Me>)),
        endpoint!(get "/api/photomatons" => photomatons::list, "Booths with their live state, by id", VIEWER, None, Some(schema::<Page<store::photomatons::PhotomatonView>>)),
        endpoint!(post "/api/photomatons" => photomatons::create, "Register a booth", ADMIN, Some(schema::<photomatons::CreatePhotomaton>), Some(schema::<store::photomatons::PhotomatonView>)),
        endpoint!(get "/api/photomatons/{id}" => photomatons::get, "One booth", VIEWER, None, Some(schema::<store::photomatons::PhotomatonView>)),
        endpoint!(patch "/api/photomatons/{id}" => photomatons::update, "Edit a booth: name, hostname, IPs, MAC, wake target, paper capacity and thresholds", ADMIN, Some(schema::<photomatons::UpdatePhotomaton>), Some(schema::<store::photomatons::PhotomatonView>)),
        endpoint!(delete "/api/photomatons/{id}" => photomatons::delete, "Remove a booth", ADMIN, None, None),
        endpoint!(post "/api/photomatons/{id}/api-key" => photomatons::rotate_api_key, "New agent key, shown once (the previous one stops working)", ADMIN, None, Some(schema::<photomatons::ApiKey>)),
        endpoint!(post "/api/photomatons/{id}/pairing-code" => pairing::create_code, "A code that pairs a booth PC with this booth: 6 characters, valid 15 minutes, once (on the PC: boom-agent pair --ingest-url URL CODE)", INSTALLER, None, Some(schema::<pairing::PairingCodeView>)),
        endpoint!(post "/api/photomatons/{id}/commands" => commands::send, "Send the booth's agent one of its configured commands (202 queued; pushed as photomaton:command until succeeded, failed or expired)", INSTALLER, Some(schema::<commands::SendCommand>), None),
        endpoint!(get "/api/photomatons/{id}/commands" => commands::list, "The booth's remote commands, newest first, with status, output and times", VIEWER, None, Some(schema::<Vec<store::commands::CommandView>>)),
        endpoint!(post "/api/photomatons/{id}/paper-reset" => paper::reset, "A new paper roll", INSTALLER, Some(schema::<paper::PaperReset>), Some(schema::<store::photomatons::PhotomatonView>)),
        endpoint!(post "/api/photomatons/{id}/speedtests" => speed_tests::request, "Ask the booth's agent for a speed test now (it polls ingest: the result follows within about a minute)", INSTALLER, None, Some(schema::<store::photomatons::PhotomatonView>)),
        endpoint!(get "/api/photomatons/{id}/paper-levels" => paper::levels, "A booth's paper level at each change, newest first", VIEWER, None, Some(schema::<Page<store::paper::PaperLevelView>>)),
        endpoint!(get "/api/photomatons/{id}/power-ons" => power_on::recent, "The booth's latest power-ons, newest first: who asked and when, then the outcome (from the audit log)", VIEWER, None, Some(schema::<Vec<store::audit::PowerOnEntry>>)),
        endpoint!(get "/api/photomatons/{id}/speedtests" => speed_tests::list, "Speed tests of a booth, newest first", VIEWER, None, Some(schema::<Page<store::speed_tests::SpeedTestView>>)),
        endpoint!(get "/api/photomatons/{id}/refused-lines" => faults::refused_lines, "Stat lines ingest refused one by one (timestamp more than 24 h ahead or over a year old, count out of range) while counting the rest of their batch, newest first", VIEWER, None, Some(schema::<Page<store::refused_lines::RefusedLineView>>)),
        endpoint!(get "/api/events" => events::list, "Events, newest first, optionally by status (ACTIVE, COMPLETED, ARCHIVED), client (part of the name), type, and Notion date from/to (Paris days)", VIEWER, None, Some(schema::<Page<store::events::EventView>>)),
        endpoint!(get "/api/events/types" => events::types, "The event types Notion used, sorted (the search's choices)", VIEWER, None, Some(schema::<Vec<String>>)),
        endpoint!(get "/api/events/export.csv" => exports::range_csv, "Every event dated from `from` to `to` (Paris days, YYYY-MM-DD, at most 366 days), one row per event and booth: event,client,type,date,status,booth,sessions,photos,prints,digital,gifs (UTF-8, header row)", VIEWER, None, None),
        endpoint!(get "/api/events/export.xlsx" => exports::range_xlsx, "The same as a spreadsheet, with a total row", VIEWER, None, None),
        endpoint!(get "/api/events/{id}" => events::get, "One event with totals per media type and booth, media per hour, and each booth during its window (paper levels, router and PC uptime)", VIEWER, None, Some(schema::<store::events::EventDetail>)),
        endpoint!(get "/api/events/{id}/export.csv" => exports::csv, "An event's figures, one row per hour (Paris time, with its offset) and booth: hour,booth,sessions,photos,prints,digital,gifs (UTF-8, header row)", VIEWER, None, None),
        endpoint!(get "/api/events/{id}/export.xlsx" => exports::xlsx, "The same as a spreadsheet, with a totals sheet (per booth and for the event)", VIEWER, None, None),
        endpoint!(get "/api/events/{id}/report" => exports::report, "A printable report for the client (HTML, French): totals, hour by hour, per booth", VIEWER, None, None),
        endpoint!(post "/api/events/{id}/archive" => events::archive, "Archive a completed event: it leaves the completed list and keeps its figures (409 unless COMPLETED)", ADMIN, None, Some(schema::<store::events::EventView>)),
        endpoint!(delete "/api/events/{id}/archive" => events::unarchive, "Bring an archived event back among the completed ones (409 unless ARCHIVED)", ADMIN, None, Some(schema::<store::events::EventView>)),
        endpoint!(get "/api/alerts" => alerts::list, "Alerts, newest first: open (acknowledged included, the default) or resolved", VIEWER, None, Some(schema::<Page<store::alerts::AlertView>>)),
        endpoint!(post "/api/alerts/{id}/ack" => alerts::acknowledge, "Acknowledge an open alert: the notifier stops re-notifying it; it resolves by itself when the condition ends", INSTALLER, None, Some(schema::<store::alerts::AlertView>)),
        endpoint!(get "/api/notification-channels" => notifications::list_channels, "The signed-in person's notification channels", VIEWER, None, Some(schema::<notifications::ChannelList>)),
        endpoint!(post "/api/notification-channels" => notifications::create_channel, "Add a channel: e-mail, Telegram (chat id) or webhook (installers and admins), the kinds of alerts it wants, optional quiet hours (Europe/Paris)", VIEWER, Some(schema::<notifications::CreateChannel>), Some(schema::<store::notifications::ChannelView>)),
        endpoint!(delete "/api/notification-channels/{id}" => notifications::delete_channel, "Remove one of one's channels", VIEWER, None, None),
        endpoint!(post "/api/notification-channels/{id}/test" => notifications::test_channel, "Send a test message on one of one's channels now (502 with the channel's error when it failed)", VIEWER, None, Some(schema::<notifications::TestOutcome>)),
        endpoint!(get "/api/alert-mutes" => notifications::list_mutes, "Maintenance windows in force: nothing is sent about their booth (or any booth)", VIEWER, None, Some(schema::<notifications::MuteList>)),
        endpoint!(post "/api/alert-mutes" => notifications::create_mute, "Mute alert messages for a booth (or the fleet) for some minutes", INSTALLER, Some(schema::<notifications::CreateMute>), Some(schema::<store::notifications::MuteView>)),
        endpoint!(delete "/api/alert-mutes/{id}" => notifications::delete_mute, "End a maintenance window now", INSTALLER, None, None),
        endpoint!(get "/api/audit-logs" => audit::list, "The audit log, newest first; filter by userId, action, from, to", ADMIN, None, Some(schema::<Page<store::audit::AuditLogView>>)),
        endpoint!(get "/api/dead-letters" => faults::dead_letters, "Bus messages that can never be recorded (undecodable, a constraint or range error, or failing again and again), set aside instead of retried for ever; newest first", ADMIN, None, Some(schema::<Page<store::dead_letters::DeadLetterView>>)),
        endpoint!(post "/api/dead-letters/{id}/replay" => faults::replay, "Put a dead letter back on its subject, as it came, once its cause is fixed (202; the recorder counts a batch once whatever delivers it twice)", ADMIN, None, None),
        endpoint!(get "/api/users" => users::list, "Users", ADMIN, None, Some(schema::<Page<store::users::UserView>>)),
        endpoint!(post "/api/users" => users::create, "Create a user", ADMIN, Some(schema::<users::CreateUser>), Some(schema::<store::users::UserView>)),
        endpoint!(patch "/api/users/{id}" => users::update, "Edit a user (a new role or password ends their sessions)", ADMIN, Some(schema::<users::UpdateUser>), Some(schema::<store::users::UserView>)),
        endpoint!(delete "/api/users/{id}" => users::delete, "Delete a user and end their sessions", ADMIN, None, None),
        endpoint!(post "/api/notion/sync" => notion::sync, "Sync Notion now and answer the summary", INSTALLER, None, Some(schema::<boom_contracts::NotionSyncSummary>)),
        endpoint!(post "/api/webhooks/action" => power_on::action, "Act on a booth (power_on) through photomaton-control", INSTALLER, Some(schema::<power_on::ActionRequest>), Some(schema::<boom_contracts::ControlReply>)),
        endpoint!(get "/ws" => live::websocket, "WebSocket: booth states, then photomaton:updated, events:updated, photomaton:action, photomaton:command", VIEWER, None, None),
    ]
}

/// Mounts every endpoint.
pub fn mount(cfg: &mut web::ServiceConfig) {
    for endpoint in endpoints() {
        (endpoint.mount)(cfg);
    }
}

/// Moves a schemars schema's `$defs` into `components` and points its references there.
fn inline(schema: Value, components: &mut Map<String, Value>) -> Value {
    let text = serde_json::to_string(&schema)
        .unwrap_or_default()
        .replace("#/$defs/", "#/components/schemas/");
    let mut schema: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if let Some(Value::Object(defs)) = schema.as_object_mut().and_then(|o| o.remove("$defs")) {
        components.extend(defs);
    }
    if let Some(object) = schema.as_object_mut() {
        object.remove("$schema");
    }
    schema
}

/// The OpenAPI 3.1 document of the gateway.
pub fn document() -> Value {
    let mut paths = Map::new();
    let mut components = Map::new();
    let error = json!({"$ref": "#/components/schemas/Error"});
    for e in endpoints() {
        let mut operation = json!({
            "summary": e.summary,
            "x-minimum-role": e.role,
            "responses": {
                "200": {"description": "OK"},
                "400": {"description": "Malformed request", "content": {"application/json": {"schema": error}}},
                "404": {"description": "No such resource", "content": {"application/json": {"schema": error}}},
                "422": {"description": "A value was refused", "content": {"application/json": {"schema": error}}},
                "503": {"description": "A dependency is unavailable", "content": {"application/json": {"schema": error}}},
            },
        });
        if let Some(role) = e.role {
            operation["security"] = json!([{"session": []}]);
            operation["responses"]["401"] = json!({"description": "Not signed in", "content": {"application/json": {"schema": error}}});
            operation["responses"]["403"] = json!({"description": format!("Needs the {role} role, or CSRF check failed"), "content": {"application/json": {"schema": error}}});
        }
        if let Some(request) = e.request {
            operation["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": inline(request(), &mut components)}}});
        }
        if let Some(response) = e.response {
            operation["responses"]["200"]["content"] =
                json!({"application/json": {"schema": inline(response(), &mut components)}});
        }
        if e.path.contains("{id}") {
            // Alerts, channels and mutes are named by UUIDs, everything else by integers.
            let id = if [
                "/api/alerts/",
                "/api/notification-channels/",
                "/api/alert-mutes/",
            ]
            .iter()
            .any(|p| e.path.starts_with(p))
            {
                json!({"type": "string", "format": "uuid"})
            } else {
                json!({"type": "integer"})
            };
            operation["parameters"] =
                json!([{"name": "id", "in": "path", "required": true, "schema": id}]);
        }
        let item = paths.entry(e.path.to_owned()).or_insert_with(|| json!({}));
        item[e.method] = operation;
    }
    components.insert(
        "Error".to_owned(),
        json!({"type": "object", "required": ["error", "message"], "properties": {"error": {"type": "string"}, "message": {"type": "string"}}}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {"title": "LE BOOM gateway", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": crate::http::session::SESSION_COOKIE,
                    "description": "Mutating requests also need the X-CSRF-Token header from /api/auth/login or /api/auth/me, and the gateway's own Origin."}
            },
        },
    })
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(document())
}
