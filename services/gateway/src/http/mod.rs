//! The gateway over HTTP: the route table ([`routes`], which also documents every route for
//! `GET /api/openapi.json`), sessions and roles ([`session`]), the dashboard's files
//! ([`assets`]), the WebSocket ([`live`]) and one module of handlers per resource.
//!
//! A handler parses, calls the store (or the bus), then announces what changed. Which role a
//! route needs is said once, in the route table, and enforced before the handler runs.

pub(crate) mod account;
pub(crate) mod alerts;
pub(crate) mod assets;
pub(crate) mod audit;
pub(crate) mod commands;
pub(crate) mod events;
pub(crate) mod exports;
pub(crate) mod faults;
pub(crate) mod live;
pub(crate) mod notifications;
pub(crate) mod notion;
pub(crate) mod pairing;
pub(crate) mod paper;
pub(crate) mod photomatons;
pub(crate) mod power_on;
pub(crate) mod routes;
pub(crate) mod session;
pub(crate) mod session_checks;
pub(crate) mod session_owners;
pub(crate) mod speed_tests;
pub(crate) mod sso;
pub(crate) mod users;

use actix_web::HttpRequest;

/// The client's address: the peer, or the client a trusted proxy names
/// (`http.trusted_proxies`, see [`boom_server::client_addr`]); never a header anyone can forge.
pub fn client_ip(request: &HttpRequest) -> Option<ipnet::IpNet> {
    let trusted = request
        .app_data::<actix_web::web::Data<crate::state::AppState>>()
        .map(|state| state.trusted_proxies.clone())
        .unwrap_or_default();
    boom_server::client_addr(request, &trusted).map(ipnet::IpNet::from)
}

/// Text made safe inside an HTML page the gateway writes (the client's report, the single
/// sign-on pages): `&`, `<`, `>` and `"` escaped.
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
