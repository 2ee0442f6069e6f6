//! `/api/photomatons`: the booth registry (admins) and each booth's live state. Handlers
//! parse, call the store, then [`changed`] audits, mirrors to the registry and tells every
//! browser. Paper, speed tests and power-on have their own modules.

use actix_web::{HttpRequest, HttpResponse, web};
use boom_contracts::PhotomatonId;
use boom_contracts::domain::{Hostname, MacAddress, WakeTarget, parse_ip};
use boom_contracts::keys::sha256_hex;
use boom_db::models::{NewPhotomaton, PhotomatonChanges};
use boom_server::ApiError;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;

use crate::announce::{changed, key_changed};
use crate::errors::OrApi;
use crate::http::session::Session;
use crate::pagination::PageQuery;
use crate::state::AppState;
use crate::store::audit::Audit;
use crate::store::photomatons::{self, PhotomatonView};

pub fn no_such_photomaton(id: PhotomatonId) -> ApiError {
    ApiError::not_found(format!("no photomaton {id}"))
}

// ------------------------------------------------------------------------------------------
// Bodies.

/// `Some(None)` for an explicit `null`, `None` when the field is absent.
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePhotomaton {
    /// 1 to 100 characters (trimmed).
    #[schemars(length(min = 1, max = 100), pattern(r"\S"))]
    pub name: String,
    /// The booth PC's hostname: one DNS label.
    #[schemars(pattern(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"))]
    pub hostname: String,
    /// An IPv4 or IPv6 address.
    pub tailscale_ip: Option<String>,
    /// An IPv4 or IPv6 address.
    pub router_tailscale_ip: Option<String>,
    /// Six bytes in hex, separated by `:` or `-` or not at all.
    #[schemars(pattern(r"^[0-9A-Fa-f]{2}([:-]?[0-9A-Fa-f]{2}){5}$"))]
    pub mac_address: Option<String>,
    /// `host:port`, `host` (port 9) or `[v6]:port`.
    pub wake_target: Option<String>,
    #[schemars(range(min = 0, max = 100_000))]
    pub paper_capacity: Option<i32>,
    /// At least the critical threshold.
    #[schemars(range(min = 0, max = 100_000))]
    pub warning_threshold: Option<i32>,
    #[schemars(range(min = 0, max = 100_000))]
    pub critical_threshold: Option<i32>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdatePhotomaton {
    /// 1 to 100 characters (trimmed).
    #[schemars(length(min = 1, max = 100), pattern(r"\S"))]
    pub name: Option<String>,
    /// The booth PC's hostname: one DNS label.
    #[schemars(pattern(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"))]
    pub hostname: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub tailscale_ip: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub router_tailscale_ip: Option<Option<String>>,
    /// Six bytes in hex, separated by `:` or `-` or not at all.
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(pattern(r"^[0-9A-Fa-f]{2}([:-]?[0-9A-Fa-f]{2}){5}$"))]
    pub mac_address: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub wake_target: Option<Option<String>>,
    #[schemars(range(min = 0, max = 100_000))]
    pub paper_capacity: Option<i32>,
    /// At least the critical threshold.
    #[schemars(range(min = 0, max = 100_000))]
    pub warning_threshold: Option<i32>,
    #[schemars(range(min = 0, max = 100_000))]
    pub critical_threshold: Option<i32>,
    /// Seconds the router or PC may not answer, during an event, before `booth_down`
    /// (10 to 86400); `null`: the fleet's (`notify.down_after_secs`).
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(range(min = 10, max = 86_400))]
    pub down_after_secs: Option<Option<i32>>,
    /// Seconds without the agent, while the PC answers, before `agent_silent`; `null`: the
    /// fleet's (`notify.silent_after_secs`).
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(range(min = 10, max = 86_400))]
    pub silent_after_secs: Option<Option<i32>>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    /// The agent key, shown once: only its hash is kept.
    pub api_key: String,
}

fn invalid(e: impl std::fmt::Display) -> ApiError {
    ApiError::unprocessable(e.to_string())
}

fn name(text: &str) -> Result<String, ApiError> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 100 {
        return Err(ApiError::unprocessable("name: 1 to 100 characters"));
    }
    Ok(trimmed.to_owned())
}

fn ip(field: &str, text: &str) -> Result<ipnet::IpNet, ApiError> {
    parse_ip(field, text)
        .map(ipnet::IpNet::from)
        .map_err(invalid)
}

/// A count of prints (capacity, thresholds, a new roll): 0 to 100,000.
pub fn count(field: &str, value: i32) -> Result<i32, ApiError> {
    if (0..=100_000).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::unprocessable(format!(
            "{field}: {value} is out of range 0..=100000"
        )))
    }
}

fn opt<T, U>(
    value: Option<T>,
    parse: impl FnOnce(T) -> Result<U, ApiError>,
) -> Result<Option<U>, ApiError> {
    value.map(parse).transpose()
}

fn nullable_field<T, U>(
    value: Option<Option<T>>,
    parse: impl FnOnce(T) -> Result<U, ApiError>,
) -> Result<Option<Option<U>>, ApiError> {
    match value {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(v)) => parse(v).map(|u| Some(Some(u))),
    }
}

/// An alert delay: 10 s to a day.
fn delay(field: &str, seconds: i32) -> Result<i32, ApiError> {
    if (10..=86_400).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(ApiError::unprocessable(format!(
            "{field}: from 10 to 86400 seconds, not {seconds}"
        )))
    }
}

impl CreatePhotomaton {
    fn parse(self) -> Result<NewPhotomaton, ApiError> {
        let capacity = opt(self.paper_capacity, |c| count("paperCapacity", c))?;
        Ok(NewPhotomaton {
            name: name(&self.name)?,
            hostname: self
                .hostname
                .parse::<Hostname>()
                .map_err(invalid)?
                .to_string(),
            tailscale_ip: opt(self.tailscale_ip, |s| ip("tailscaleIp", &s))?,
            router_tailscale_ip: opt(self.router_tailscale_ip, |s| ip("routerTailscaleIp", &s))?,
            mac_address: opt(self.mac_address, |s| {
                s.parse::<MacAddress>().map(|m| m.0).map_err(invalid)
            })?,
            wake_target: opt(self.wake_target, |s| {
                s.parse::<WakeTarget>()
                    .map(|w| w.to_string())
                    .map_err(invalid)
            })?,
            paper_capacity: capacity,
            remaining_prints: capacity,
            warning_threshold: opt(self.warning_threshold, |c| count("warningThreshold", c))?,
            critical_threshold: opt(self.critical_threshold, |c| count("criticalThreshold", c))?,
        })
    }
}

impl UpdatePhotomaton {
    fn parse(self) -> Result<PhotomatonChanges, ApiError> {
        Ok(PhotomatonChanges {
            name: opt(self.name, |n| name(&n))?,
            hostname: opt(self.hostname, |h| {
                h.parse::<Hostname>()
                    .map(|h| h.to_string())
                    .map_err(invalid)
            })?,
            tailscale_ip: nullable_field(self.tailscale_ip, |s| ip("tailscaleIp", &s))?,
            router_tailscale_ip: nullable_field(self.router_tailscale_ip, |s| {
                ip("routerTailscaleIp", &s)
            })?,
            mac_address: nullable_field(self.mac_address, |s| {
                s.parse::<MacAddress>().map(|m| m.0).map_err(invalid)
            })?,
            wake_target: nullable_field(self.wake_target, |s| {
                s.parse::<WakeTarget>()
                    .map(|w| w.to_string())
                    .map_err(invalid)
            })?,
            paper_capacity: opt(self.paper_capacity, |c| count("paperCapacity", c))?,
            warning_threshold: opt(self.warning_threshold, |c| count("warningThreshold", c))?,
            critical_threshold: opt(self.critical_threshold, |c| count("criticalThreshold", c))?,
            ..PhotomatonChanges::default()
        })
    }
}

// ------------------------------------------------------------------------------------------
// Handlers.

/// Served from this instance's fleet (see [`crate::live::FleetCache`]), which it builds when
/// stale.
/// The first page goes gzip-compressed to a client that accepts it (the dashboard's fleet).
pub async fn list(
    request: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    use actix_web::http::header;
    let (limit, after) = (query.limit()?, query.after()?);
    let limit = usize::try_from(limit).unwrap_or(0);
    let fleet = state.live.fleet.get(&state.db).await.or_api()?;
    let gzip = after.is_none()
        && request
            .headers()
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("gzip"));
    let mut response = HttpResponse::Ok();
    response
        .content_type(header::ContentType::json())
        .insert_header((header::VARY, "Accept-Encoding"));
    if gzip {
        let body = fleet.first_page_gzip(limit);
        if !body.is_empty() {
            return Ok(response
                .insert_header((header::CONTENT_ENCODING, "gzip"))
                .body(body));
        }
    }
    Ok(response.body(fleet.page(limit, after)))
}

pub async fn get(
    state: web::Data<AppState>,
    id: web::Path<i32>,
) -> Result<web::Json<PhotomatonView>, ApiError> {
    let id = PhotomatonId(*id);
    let mut conn = state.conn().await?;
    let booth = photomatons::find(&mut conn, id)
        .await
        .or_api()?
        .ok_or_else(|| no_such_photomaton(id))?;
    Ok(web::Json(
        photomatons::view_of(&mut conn, booth).await.or_api()?,
    ))
}

pub async fn create(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    body: web::Json<CreatePhotomaton>,
) -> Result<HttpResponse, ApiError> {
    let new = body.into_inner().parse()?;
    let mut conn = state.conn().await?;
    let booth = photomatons::insert(&mut conn, &new)
        .await
        .map_err(|e| conflict_on_hostname(e, &new.hostname))?;
    let audit = Audit::new("photomaton.create", "photomaton", Some(booth.id.0))
        .details(json!({"hostname": booth.hostname}));
    let view = changed(&state, &mut conn, &session.actor(&request), audit, booth)
        .await
        .or_api()?;
    Ok(HttpResponse::Created().json(view))
}

fn conflict_on_hostname(error: diesel::result::Error, hostname: &str) -> ApiError {
    if boom_db::is_unique_violation(&error) {
        ApiError::new(
            boom_server::ErrorCode::Conflict,
            format!("a photomaton with hostname `{hostname}` exists"),
        )
    } else {
        crate::errors::from_diesel(error)
    }
}

pub async fn update(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    id: web::Path<i32>,
    body: web::Json<UpdatePhotomaton>,
) -> Result<web::Json<PhotomatonView>, ApiError> {
    let id = PhotomatonId(*id);
    let body = body.into_inner();
    let delays = (
        nullable_field(body.down_after_secs, |s| delay("downAfterSecs", s))?,
        nullable_field(body.silent_after_secs, |s| delay("silentAfterSecs", s))?,
    );
    let changes = body.parse()?;
    let mut conn = state.conn().await?;
    let booth = photomatons::update(&mut conn, id, &changes)
        .await
        .map_err(|e| conflict_on_hostname(e, changes.hostname.as_deref().unwrap_or_default()))?
        .ok_or_else(|| no_such_photomaton(id))?;
    if delays.0.is_some() || delays.1.is_some() {
        photomatons::set_alert_delays(&mut conn, id, delays.0, delays.1)
            .await
            .or_api()?;
    }
    let audit = Audit::new("photomaton.update", "photomaton", Some(id.0));
    let view = changed(&state, &mut conn, &session.actor(&request), audit, booth)
        .await
        .or_api()?;
    Ok(web::Json(view))
}

pub async fn delete(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    id: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    let id = PhotomatonId(*id);
    let mut conn = state.conn().await?;
    let hostname = photomatons::delete(&mut conn, id)
        .await
        .or_api()?
        .ok_or_else(|| no_such_photomaton(id))?;
    Audit::new("photomaton.delete", "photomaton", Some(id.0))
        .details(json!({"hostname": hostname}))
        .write(&mut conn, &session.actor(&request))
        .await
        .or_api()?;
    let removed = state.registry.remove(id).await;
    state.live.photomaton_deleted(id).await;
    removed.or_api()?;
    Ok(HttpResponse::NoContent().finish())
}

/// A new agent key: 256 random bits, shown once; the old key stops working at once. When the
/// registry cannot be told (503), the old key is kept and nothing changed.
pub async fn rotate_api_key(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    id: web::Path<i32>,
) -> Result<web::Json<ApiKey>, ApiError> {
    let id = PhotomatonId(*id);
    let key = boom_contracts::keys::agent_key(rand::random());
    let mut conn = state.conn().await?;
    let (booth, previous) = photomatons::set_agent_key(&mut conn, id, sha256_hex(&key))
        .await
        .or_api()?
        .ok_or_else(|| no_such_photomaton(id))?;
    let audit = Audit::new("photomaton.api_key", "photomaton", Some(id.0));
    key_changed(
        &state,
        &mut conn,
        &session.actor(&request),
        audit,
        booth,
        previous,
    )
    .await
    .or_api()?;
    Ok(web::Json(ApiKey { api_key: key }))
}
