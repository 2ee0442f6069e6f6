//! `/api/photomatons`: the booth registry and each booth's live state.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use boom_contracts::domain::{Hostname, MacAddress, WakeTarget, parse_ip};
use boom_contracts::messages::LiveEvent;
use boom_contracts::{EventId, EventStatus, PhotomatonId, UserRole};
use boom_db::DbConn;
use boom_db::models::{Event, NewPhotomaton, Photomaton, PhotomatonChanges, SpeedTest};
use boom_db::schema::{events, photomatons, speed_tests};
use boom_server::ApiError;
use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::{
    ExpressionMethods, OptionalExtension, PgSortExpressionMethods, QueryDsl, SelectableHelper,
};
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;

use crate::audit::{Audit, Who};
use crate::auth::{Session, random_token, sha256_hex};
use crate::errors::OrApi;
use crate::live;
use crate::pagination::{Page, PageQuery, page};
use crate::registry::effective_wake_target;
use crate::state::AppState;

/// Paper left on the roll, against the booth's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PaperState {
    Ok,
    Warning,
    Critical,
}

pub fn paper_state(remaining: i32, warning: i32, critical: i32) -> PaperState {
    if remaining <= critical {
        PaperState::Critical
    } else if remaining <= warning {
        PaperState::Warning
    } else {
        PaperState::Ok
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventSummary {
    pub id: EventId,
    pub client_name: String,
    pub event_type: Option<String>,
    pub album_name: Option<String>,
    pub event_date: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpeedTestView {
    pub id: i64,
    pub download: f64,
    pub upload: f64,
    pub ping: f64,
    pub created_at: DateTime<Utc>,
}

impl From<SpeedTest> for SpeedTestView {
    fn from(t: SpeedTest) -> Self {
        Self {
            id: t.id.0,
            download: t.download_speed,
            upload: t.upload_speed,
            ping: t.ping,
            created_at: t.created_at,
        }
    }
}

/// A booth as the API and the WebSocket show it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhotomatonView {
    pub id: PhotomatonId,
    pub name: String,
    pub hostname: String,
    pub tailscale_ip: Option<String>,
    pub router_tailscale_ip: Option<String>,
    pub mac_address: Option<String>,
    /// Where the magic packet goes: the configured target, else the router's IP, port 9.
    pub wake_target: Option<String>,
    pub router_connected: bool,
    pub pc_connected: bool,
    pub last_seen: Option<DateTime<Utc>>,
    pub paper_capacity: i32,
    pub remaining_prints: i32,
    pub warning_threshold: i32,
    pub critical_threshold: i32,
    pub paper_state: PaperState,
    pub last_print_update: Option<DateTime<Utc>>,
    /// The last new roll declared on the dashboard.
    pub paper_reset_at: Option<DateTime<Utc>>,
    /// The last time an installer asked for a speed test.
    pub speed_test_requested_at: Option<DateTime<Utc>>,
    /// Events the agent still had buffered, and its version, as of its last batch.
    pub agent_backlog: Option<i64>,
    pub agent_version: Option<String>,
    pub has_agent_key: bool,
    pub agent_key_created_at: Option<DateTime<Utc>>,
    pub current_event: Option<EventSummary>,
    /// Media made since midnight (company time, Europe/Paris), event or not.
    pub today: crate::events::Totals,
    pub latest_speed_test: Option<SpeedTestView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn view(
    booth: Photomaton,
    event: Option<&Event>,
    speed: Option<SpeedTest>,
    today: crate::events::Totals,
) -> PhotomatonView {
    PhotomatonView {
        today,
        wake_target: effective_wake_target(&booth),
        paper_state: paper_state(
            booth.remaining_prints,
            booth.warning_threshold,
            booth.critical_threshold,
        ),
        id: booth.id,
        name: booth.name,
        hostname: booth.hostname,
        tailscale_ip: booth.tailscale_ip.map(|ip| ip.addr().to_string()),
        router_tailscale_ip: booth.router_tailscale_ip.map(|ip| ip.addr().to_string()),
        mac_address: booth.mac_address.map(|m| MacAddress(m).to_string()),
        router_connected: booth.router_connected,
        pc_connected: booth.pc_connected,
        last_seen: booth.last_seen,
        paper_capacity: booth.paper_capacity,
        remaining_prints: booth.remaining_prints,
        warning_threshold: booth.warning_threshold,
        critical_threshold: booth.critical_threshold,
        last_print_update: booth.last_print_update,
        paper_reset_at: booth.paper_reset_at,
        speed_test_requested_at: booth.speed_test_requested_at,
        agent_backlog: booth.agent_backlog,
        agent_version: booth.agent_version,
        has_agent_key: booth.agent_key_sha256.is_some(),
        agent_key_created_at: booth.agent_key_created_at,
        current_event: event.map(|e| EventSummary {
            id: e.id,
            client_name: e.client_name.clone(),
            event_type: e.event_type.clone(),
            album_name: e.album_name.clone(),
            event_date: e.event_date,
        }),
        latest_speed_test: speed.map(Into::into),
        created_at: booth.created_at,
        updated_at: booth.updated_at,
    }
}

/// A booth's media of today, from `photomaton_daily_totals`.
#[derive(QueryableByName)]
struct TodayRow {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    photomaton_id: PhotomatonId,
    #[diesel(embed)]
    totals: crate::events::Totals,
}

/// Views of `booths` with their current event and latest speed test: three queries in all.
pub async fn views(
    conn: &mut DbConn,
    booths: Vec<Photomaton>,
) -> Result<Vec<PhotomatonView>, ApiError> {
    let ids: Vec<PhotomatonId> = booths.iter().map(|b| b.id).collect();
    let active: Vec<Event> = events::table
        .filter(events::status.eq(EventStatus::Active))
        .filter(events::photomaton_id.eq_any(&ids))
        .order((events::event_date.desc().nulls_last(), events::id.desc()))
        .select(Event::as_select())
        .load(conn)
        .await
        .or_api()?;
    let mut current: HashMap<PhotomatonId, Event> = HashMap::new();
    for event in active {
        if let Some(booth) = event.photomaton_id {
            current.entry(booth).or_insert(event);
        }
    }
    let latest: Vec<SpeedTest> = speed_tests::table
        .filter(speed_tests::photomaton_id.eq_any(&ids))
        .distinct_on(speed_tests::photomaton_id)
        .order((speed_tests::photomaton_id, speed_tests::created_at.desc()))
        .select(SpeedTest::as_select())
        .load(conn)
        .await
        .or_api()?;
    let mut speeds: HashMap<PhotomatonId, SpeedTest> =
        latest.into_iter().map(|t| (t.photomaton_id, t)).collect();
    let counts: Vec<TodayRow> = diesel::sql_query(
        "SELECT photomaton_id, sessions, photos, prints, digital, gifs FROM photomaton_daily_totals \
         WHERE photomaton_id = ANY($1) AND day = (now() AT TIME ZONE 'Europe/Paris')::date",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Integer>, _>(ids.iter().map(|id| id.0).collect::<Vec<_>>())
    .load(conn)
    .await
    .or_api()?;
    let mut today: HashMap<PhotomatonId, crate::events::Totals> = counts
        .into_iter()
        .map(|r| (r.photomaton_id, r.totals))
        .collect();
    Ok(booths
        .into_iter()
        .map(|b| {
            let (event, speed) = (current.get(&b.id), speeds.remove(&b.id));
            let counts = today.remove(&b.id).unwrap_or_default();
            view(b, event, speed, counts)
        })
        .collect())
}

async fn load(conn: &mut DbConn, id: PhotomatonId) -> Result<Photomaton, ApiError> {
    photomatons::table
        .find(id)
        .select(Photomaton::as_select())
        .first(conn)
        .await
        .optional()
        .or_api()?
        .ok_or_else(|| ApiError::not_found(format!("no photomaton {id}")))
}

async fn view_of(conn: &mut DbConn, booth: Photomaton) -> Result<PhotomatonView, ApiError> {
    views(conn, vec![booth])
        .await?
        .pop()
        .ok_or_else(|| ApiError::internal("view lost"))
}

/// Every booth's view, by id: what [`crate::fleet::FleetCache`] serves.
pub async fn all_views(state: &AppState) -> Result<Vec<PhotomatonView>, ApiError> {
    let mut conn = state.conn().await?;
    let booths: Vec<Photomaton> = photomatons::table
        .order(photomatons::id)
        .select(Photomaton::as_select())
        .load(&mut conn)
        .await
        .or_api()?;
    views(&mut conn, booths).await
}

/// Pushes the current view of each booth to every browser, after a committed change made
/// elsewhere (recorder, probes, Notion). A failure is logged, never an error: the change is
/// committed, and browsers refetch state when they reconnect.
pub async fn publish_views(state: &AppState, ids: &[PhotomatonId]) {
    if ids.is_empty() {
        return;
    }
    let loaded = async {
        let mut conn = state.conn().await?;
        let booths: Vec<Photomaton> = photomatons::table
            .filter(photomatons::id.eq_any(ids))
            .select(Photomaton::as_select())
            .load(&mut conn)
            .await
            .or_api()?;
        views(&mut conn, booths).await
    }
    .await;
    match loaded {
        Ok(views) => {
            for view in views {
                live::publish(
                    state,
                    LiveEvent::PhotomatonUpdated,
                    Some(view.id),
                    json!(view),
                )
                .await;
            }
        }
        Err(error) => tracing::warn!(?error, "booth views not published"),
    }
}

/// After a committed change: mirror to the registry, tell every browser.
async fn announce(state: &AppState, booth: &Photomaton, view: &PhotomatonView) {
    state.registry.put(booth).await;
    live::publish(
        state,
        LiveEvent::PhotomatonUpdated,
        Some(booth.id),
        json!(view),
    )
    .await;
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
    pub name: String,
    pub hostname: String,
    pub tailscale_ip: Option<String>,
    pub router_tailscale_ip: Option<String>,
    pub mac_address: Option<String>,
    pub wake_target: Option<String>,
    pub paper_capacity: Option<i32>,
    pub warning_threshold: Option<i32>,
    pub critical_threshold: Option<i32>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdatePhotomaton {
    pub name: Option<String>,
    pub hostname: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub tailscale_ip: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub router_tailscale_ip: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub mac_address: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub wake_target: Option<Option<String>>,
    pub paper_capacity: Option<i32>,
    pub warning_threshold: Option<i32>,
    pub critical_threshold: Option<i32>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PaperReset {
    /// Prints on the new roll; default the booth's paper capacity.
    pub remaining_prints: Option<i32>,
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

fn count(field: &str, value: i32) -> Result<i32, ApiError> {
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

fn is_empty(changes: &PhotomatonChanges) -> bool {
    changes.name.is_none()
        && changes.hostname.is_none()
        && changes.tailscale_ip.is_none()
        && changes.router_tailscale_ip.is_none()
        && changes.mac_address.is_none()
        && changes.wake_target.is_none()
        && changes.paper_capacity.is_none()
        && changes.remaining_prints.is_none()
        && changes.warning_threshold.is_none()
        && changes.critical_threshold.is_none()
        && changes.last_print_update.is_none()
        && changes.agent_key_sha256.is_none()
}

// ------------------------------------------------------------------------------------------
// Handlers.

/// Served from this instance's fleet (see [`crate::fleet`]), which it builds when stale.
pub async fn list(
    session: Session,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    session.require(UserRole::Viewer)?;
    let (limit, after) = (query.limit()?, query.after()?);
    let fleet = state.fleet.get(&state).await?;
    let body = fleet.page(usize::try_from(limit).unwrap_or(0), after);
    Ok(HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(body))
}

pub async fn get(
    session: Session,
    state: web::Data<AppState>,
    id: web::Path<i32>,
) -> Result<web::Json<PhotomatonView>, ApiError> {
    session.require(UserRole::Viewer)?;
    let mut conn = state.conn().await?;
    let booth = load(&mut conn, PhotomatonId(*id)).await?;
    Ok(web::Json(view_of(&mut conn, booth).await?))
}

pub async fn create(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    body: web::Json<CreatePhotomaton>,
) -> Result<HttpResponse, ApiError> {
    session.require(UserRole::Admin)?;
    let new = body.into_inner().parse()?;
    let mut conn = state.conn().await?;
    let booth: Photomaton = diesel::insert_into(photomatons::table)
        .values(&new)
        .returning(Photomaton::as_returning())
        .get_result(&mut conn)
        .await
        .map_err(|e| conflict_on_hostname(e, &new.hostname))?;
    Audit::new("photomaton.create", "photomaton", Some(booth.id.0))
        .details(json!({"hostname": booth.hostname}))
        .write(&mut conn, &request, Who::Session(&session))
        .await?;
    let view = view_of(&mut conn, booth.clone()).await?;
    announce(&state, &booth, &view).await;
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
    session.require(UserRole::Admin)?;
    let id = PhotomatonId(*id);
    let changes = body.into_inner().parse()?;
    let mut conn = state.conn().await?;
    let booth = if is_empty(&changes) {
        load(&mut conn, id).await?
    } else {
        diesel::update(photomatons::table.find(id))
            .set(&changes)
            .returning(Photomaton::as_returning())
            .get_result(&mut conn)
            .await
            .optional()
            .map_err(|e| conflict_on_hostname(e, changes.hostname.as_deref().unwrap_or_default()))?
            .ok_or_else(|| ApiError::not_found(format!("no photomaton {id}")))?
    };
    Audit::new("photomaton.update", "photomaton", Some(id.0))
        .write(&mut conn, &request, Who::Session(&session))
        .await?;
    let view = view_of(&mut conn, booth.clone()).await?;
    announce(&state, &booth, &view).await;
    Ok(web::Json(view))
}

pub async fn delete(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    id: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    session.require(UserRole::Admin)?;
    let id = PhotomatonId(*id);
    let mut conn = state.conn().await?;
    let hostname: Option<String> = diesel::delete(photomatons::table.find(id))
        .returning(photomatons::hostname)
        .get_result(&mut conn)
        .await
        .optional()
        .or_api()?;
    let hostname = hostname.ok_or_else(|| ApiError::not_found(format!("no photomaton {id}")))?;
    Audit::new("photomaton.delete", "photomaton", Some(id.0))
        .details(json!({"hostname": hostname}))
        .write(&mut conn, &request, Who::Session(&session))
        .await?;
    state.registry.remove(id).await;
    live::publish(
        &state,
        LiveEvent::PhotomatonUpdated,
        Some(id),
        json!({"id": id, "deleted": true}),
    )
    .await;
    Ok(HttpResponse::NoContent().finish())
}

/// A new agent key: 256 random bits, shown once; the old key stops working at once.
pub async fn rotate_api_key(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    id: web::Path<i32>,
) -> Result<web::Json<ApiKey>, ApiError> {
    session.require(UserRole::Admin)?;
    let id = PhotomatonId(*id);
    let key = format!("boom_{}", random_token());
    let changes = PhotomatonChanges {
        agent_key_sha256: Some(Some(sha256_hex(&key))),
        agent_key_created_at: Some(Some(Utc::now())),
        ..PhotomatonChanges::default()
    };
    let mut conn = state.conn().await?;
    let booth: Photomaton = diesel::update(photomatons::table.find(id))
        .set(&changes)
        .returning(Photomaton::as_returning())
        .get_result(&mut conn)
        .await
        .optional()
        .or_api()?
        .ok_or_else(|| ApiError::not_found(format!("no photomaton {id}")))?;
    Audit::new("photomaton.api_key", "photomaton", Some(id.0))
        .write(&mut conn, &request, Who::Session(&session))
        .await?;
    let view = view_of(&mut conn, booth.clone()).await?;
    announce(&state, &booth, &view).await;
    Ok(web::Json(ApiKey { api_key: key }))
}

/// A new roll of paper: the counter goes back to the capacity (or the count given).
pub async fn paper_reset(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    id: web::Path<i32>,
    body: Option<web::Json<PaperReset>>,
) -> Result<web::Json<PhotomatonView>, ApiError> {
    session.require(UserRole::Installer)?;
    let id = PhotomatonId(*id);
    let remaining = body
        .and_then(|b| b.into_inner().remaining_prints)
        .map(|r| count("remainingPrints", r))
        .transpose()?;
    let mut conn = state.conn().await?;
    let booth = load(&mut conn, id).await?;
    let remaining = remaining.unwrap_or(booth.paper_capacity);
    // The agent learns of the reset on its next sync (through the registry); until then the
    // recorder counts down from here rather than take the old roll's level it reports.
    let now = Utc::now();
    let booth: Photomaton = diesel::update(photomatons::table.find(id))
        .set((
            photomatons::remaining_prints.eq(remaining),
            photomatons::last_print_update.eq(Some(now)),
            photomatons::paper_reset_at.eq(Some(now)),
            photomatons::paper_reset_prints.eq(Some(remaining)),
        ))
        .returning(Photomaton::as_returning())
        .get_result(&mut conn)
        .await
        .or_api()?;
    Audit::new("photomaton.paper_reset", "photomaton", Some(id.0))
        .details(json!({"remainingPrints": remaining}))
        .write(&mut conn, &request, Who::Session(&session))
        .await?;
    let view = view_of(&mut conn, booth.clone()).await?;
    announce(&state, &booth, &view).await;
    Ok(web::Json(view))
}

/// Asks the booth's agent for a speed test: the agent learns of it when it next polls ingest
/// for commands (through the registry) and sends the result with its next batch.
pub async fn request_speed_test(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    id: web::Path<i32>,
) -> Result<web::Json<PhotomatonView>, ApiError> {
    session.require(UserRole::Installer)?;
    let id = PhotomatonId(*id);
    let mut conn = state.conn().await?;
    let booth: Photomaton = diesel::update(photomatons::table.find(id))
        .set(photomatons::speed_test_requested_at.eq(Some(Utc::now())))
        .returning(Photomaton::as_returning())
        .get_result(&mut conn)
        .await
        .optional()
        .or_api()?
        .ok_or_else(|| ApiError::not_found(format!("no photomaton {id}")))?;
    Audit::new("photomaton.speed_test_request", "photomaton", Some(id.0))
        .write(&mut conn, &request, Who::Session(&session))
        .await?;
    let view = view_of(&mut conn, booth.clone()).await?;
    announce(&state, &booth, &view).await;
    Ok(web::Json(view))
}

pub async fn speed_tests(
    session: Session,
    state: web::Data<AppState>,
    id: web::Path<i32>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<SpeedTestView>>, ApiError> {
    session.require(UserRole::Viewer)?;
    let id = PhotomatonId(*id);
    let (limit, after) = (query.limit()?, query.after()?);
    let mut conn = state.conn().await?;
    load(&mut conn, id).await?;
    let mut q = speed_tests::table
        .filter(speed_tests::photomaton_id.eq(id))
        .order(speed_tests::id.desc())
        .limit(limit + 1)
        .select(SpeedTest::as_select())
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(speed_tests::id.lt(after));
    }
    let rows: Vec<SpeedTest> = q.load(&mut conn).await.or_api()?;
    Ok(web::Json(page(
        rows,
        limit,
        |t| t.id.0,
        SpeedTestView::from,
    )))
}

/// One point of a booth's paper history.
#[derive(Debug, Serialize, JsonSchema, diesel::Queryable)]
#[serde(rename_all = "camelCase")]
pub struct PaperLevelView {
    #[serde(skip)]
    pub id: i64,
    pub at: DateTime<Utc>,
    pub remaining_prints: i32,
}

/// `GET /api/photomatons/{id}/paper-levels`: every change of the paper level, newest first.
pub async fn paper_levels(
    session: Session,
    state: web::Data<AppState>,
    id: web::Path<i32>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<PaperLevelView>>, ApiError> {
    use boom_db::schema::paper_levels;
    session.require(UserRole::Viewer)?;
    let id = PhotomatonId(*id);
    let (limit, after) = (query.limit()?, query.after()?);
    let mut conn = state.conn().await?;
    load(&mut conn, id).await?;
    let mut q = paper_levels::table
        .filter(paper_levels::photomaton_id.eq(id))
        .order(paper_levels::id.desc())
        .limit(limit + 1)
        .select((paper_levels::id, paper_levels::at, paper_levels::remaining))
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(paper_levels::id.lt(after));
    }
    let rows: Vec<PaperLevelView> = q.load(&mut conn).await.or_api()?;
    Ok(web::Json(page(rows, limit, |p| p.id, |p| p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_state_follows_the_thresholds() {
        assert_eq!(paper_state(700, 350, 275), PaperState::Ok);
        assert_eq!(paper_state(350, 350, 275), PaperState::Warning);
        assert_eq!(paper_state(275, 350, 275), PaperState::Critical);
        assert_eq!(paper_state(0, 350, 275), PaperState::Critical);
    }
}
