//! Row types: what is read (`Queryable`) and what is written (`Insertable`) per table.

use boom_contracts::{EventId, EventStatus, MediaType, PhotomatonId, UserId, UserRole};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use ipnet::IpNet;
use uuid::Uuid;

use crate::schema::{
    agent_commands, events, ingest_batches, photomatons, photos, speed_tests, users,
};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = photomatons, check_for_backend(diesel::pg::Pg))]
pub struct Photomaton {
    pub id: PhotomatonId,
    pub name: String,
    pub hostname: String,
    pub tailscale_ip: Option<IpNet>,
    pub router_tailscale_ip: Option<IpNet>,
    pub mac_address: Option<[u8; 6]>,
    pub wake_target: Option<String>,
    pub router_connected: bool,
    pub pc_connected: bool,
    pub last_seen: Option<DateTime<Utc>>,
    pub paper_capacity: i32,
    pub remaining_prints: i32,
    pub warning_threshold: i32,
    pub critical_threshold: i32,
    pub last_print_update: Option<DateTime<Utc>>,
    pub agent_key_sha256: Option<String>,
    pub agent_key_created_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The last new roll declared on the dashboard, and its prints.
    pub paper_reset_at: Option<DateTime<Utc>>,
    pub paper_reset_prints: Option<i32>,
    /// The last time an installer asked for a speed test.
    pub speed_test_requested_at: Option<DateTime<Utc>>,
    /// Events the agent still had buffered, and its version, as of its last batch.
    pub agent_backlog: Option<i64>,
    pub agent_version: Option<String>,
    /// The agent's last batch or poll.
    pub agent_seen_at: Option<DateTime<Utc>>,
    /// The printer as the agent last reported it.
    pub printer_name: Option<String>,
    pub printer_state: Option<String>,
    pub printer_detail: Option<String>,
    pub printer_observed_at: Option<DateTime<Utc>>,
    pub probed_at: Option<DateTime<Utc>>,
    pub paper_observed_at: Option<DateTime<Utc>>,
}

/// A booth as the registry creates it; the database fills in the defaults (700 / 350 / 275).
#[derive(Debug, Clone, Default, Insertable)]
#[diesel(table_name = photomatons)]
pub struct NewPhotomaton {
    pub name: String,
    pub hostname: String,
    pub tailscale_ip: Option<IpNet>,
    pub router_tailscale_ip: Option<IpNet>,
    pub mac_address: Option<[u8; 6]>,
    pub wake_target: Option<String>,
    pub paper_capacity: Option<i32>,
    pub remaining_prints: Option<i32>,
    pub warning_threshold: Option<i32>,
    pub critical_threshold: Option<i32>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = events, check_for_backend(diesel::pg::Pg))]
pub struct Event {
    pub id: EventId,
    pub notion_page_id: String,
    pub photomaton_id: Option<PhotomatonId>,
    pub client_name: String,
    pub event_type: Option<String>,
    pub event_date: Option<DateTime<Utc>>,
    pub album_name: Option<String>,
    pub notion_url: Option<String>,
    pub notion_data: serde_json::Value,
    pub notion_last_edited: Option<DateTime<Utc>>,
    pub total_sessions: i64,
    pub total_photos: i64,
    pub total_digital: i64,
    pub total_prints: i64,
    pub total_gifs: i64,
    pub status: EventStatus,
    pub synced_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Media made by its booth in `[window_start, window_end)` are the event's.
    pub window_start: Option<DateTime<Utc>>,
    pub window_end: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = events)]
pub struct NewEvent {
    pub notion_page_id: String,
    pub photomaton_id: Option<PhotomatonId>,
    pub client_name: String,
    pub event_type: Option<String>,
    pub event_date: Option<DateTime<Utc>>,
    pub album_name: Option<String>,
    pub notion_url: Option<String>,
    pub notion_data: serde_json::Value,
    pub notion_last_edited: Option<DateTime<Utc>>,
    pub status: EventStatus,
    pub window_start: Option<DateTime<Utc>>,
    pub window_end: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = photos)]
pub struct NewPhoto {
    pub event_id: Option<EventId>,
    pub photomaton_id: PhotomatonId,
    pub batch_id: Option<Uuid>,
    pub media_type: MediaType,
    pub count: i32,
    pub timestamp: DateTime<Utc>,
    pub metadata: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = speed_tests)]
pub struct NewSpeedTest {
    pub photomaton_id: PhotomatonId,
    pub download_speed: f64,
    pub upload_speed: f64,
    pub ping: f64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub infomaniak_id: Option<String>,
    pub role: UserRole,
    /// An argon2id PHC string.
    pub password_hash: String,
    pub preferred_language: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `cards` or `list`: how the dashboard shows them the fleet.
    pub fleet_view: String,
    /// Whether their local password opens the dashboard (single sign-on may replace it).
    pub password_login: bool,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser {
    pub username: String,
    pub role: UserRole,
    /// An argon2id PHC string, never a plain password (the table checks the prefix).
    pub password_hash: String,
    /// What single sign-on matches the person by (the issuer must have verified it).
    pub email: Option<String>,
}

/// The row that makes a batch count once: unique per `(photomaton, batch id)`.
#[derive(Debug, Clone, Insertable, Queryable)]
#[diesel(table_name = ingest_batches)]
pub struct IngestBatch {
    pub photomaton_id: PhotomatonId,
    pub batch_id: Uuid,
    pub media_count: i32,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = crate::schema::audit_logs, check_for_backend(diesel::pg::Pg))]
pub struct AuditLog {
    pub id: boom_contracts::AuditLogId,
    pub user_id: Option<UserId>,
    pub username: Option<String>,
    pub action: String,
    pub resource: String,
    pub resource_id: Option<i32>,
    pub details: Option<serde_json::Value>,
    pub ip_address: Option<IpNet>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = crate::schema::audit_logs)]
pub struct NewAuditLog {
    pub user_id: Option<UserId>,
    pub username: Option<String>,
    pub action: String,
    pub resource: String,
    pub resource_id: Option<i32>,
    pub details: Option<serde_json::Value>,
    pub ip_address: Option<IpNet>,
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Identifiable)]
#[diesel(table_name = speed_tests, check_for_backend(diesel::pg::Pg))]
pub struct SpeedTest {
    pub id: boom_contracts::SpeedTestId,
    pub photomaton_id: PhotomatonId,
    pub download_speed: f64,
    pub upload_speed: f64,
    pub ping: f64,
    pub created_at: DateTime<Utc>,
}

/// Changes to a booth; `None` leaves a column alone, `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = photomatons)]
pub struct PhotomatonChanges {
    pub name: Option<String>,
    pub hostname: Option<String>,
    pub tailscale_ip: Option<Option<IpNet>>,
    pub router_tailscale_ip: Option<Option<IpNet>>,
    pub mac_address: Option<Option<[u8; 6]>>,
    pub wake_target: Option<Option<String>>,
    pub paper_capacity: Option<i32>,
    pub remaining_prints: Option<i32>,
    pub warning_threshold: Option<i32>,
    pub critical_threshold: Option<i32>,
    pub last_print_update: Option<Option<DateTime<Utc>>>,
    pub agent_key_sha256: Option<Option<String>>,
    pub agent_key_created_at: Option<Option<DateTime<Utc>>>,
    pub paper_reset_at: Option<Option<DateTime<Utc>>>,
    pub paper_reset_prints: Option<Option<i32>>,
}

impl PhotomatonChanges {
    /// Whether nothing would change (an empty `UPDATE … SET` is an SQL error).
    pub fn is_empty(&self) -> bool {
        let Self {
            name,
            hostname,
            tailscale_ip,
            router_tailscale_ip,
            mac_address,
            wake_target,
            paper_capacity,
            remaining_prints,
            warning_threshold,
            critical_threshold,
            last_print_update,
            agent_key_sha256,
            agent_key_created_at,
            paper_reset_at,
            paper_reset_prints,
        } = self;
        name.is_none()
            && hostname.is_none()
            && tailscale_ip.is_none()
            && router_tailscale_ip.is_none()
            && mac_address.is_none()
            && wake_target.is_none()
            && paper_capacity.is_none()
            && remaining_prints.is_none()
            && warning_threshold.is_none()
            && critical_threshold.is_none()
            && last_print_update.is_none()
            && agent_key_sha256.is_none()
            && agent_key_created_at.is_none()
            && paper_reset_at.is_none()
            && paper_reset_prints.is_none()
    }
}

/// Changes to a user; `None` leaves a column alone.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub email: Option<Option<String>>,
    pub name: Option<Option<String>>,
    pub role: Option<UserRole>,
    pub password_hash: Option<String>,
    pub preferred_language: Option<String>,
    pub fleet_view: Option<String>,
    pub password_login: Option<bool>,
    /// The single sign-on issuer's subject, bound at the first sign-in that way.
    pub infomaniak_id: Option<Option<String>>,
}

impl UserChanges {
    /// Whether nothing would change (an empty `UPDATE … SET` is an SQL error).
    pub fn is_empty(&self) -> bool {
        let Self {
            email,
            name,
            role,
            password_hash,
            preferred_language,
            fleet_view,
            password_login,
            infomaniak_id,
        } = self;
        email.is_none()
            && name.is_none()
            && role.is_none()
            && password_hash.is_none()
            && preferred_language.is_none()
            && fleet_view.is_none()
            && password_login.is_none()
            && infomaniak_id.is_none()
    }
}

/// A command sent to a booth's agent from the dashboard, and what became of it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = agent_commands, check_for_backend(diesel::pg::Pg))]
pub struct AgentCommand {
    pub id: Uuid,
    pub photomaton_id: PhotomatonId,
    pub command: String,
    /// `queued`, `sent`, `succeeded`, `failed` or `expired`.
    pub status: String,
    pub output: Option<String>,
    pub exit_code: Option<i32>,
    pub requested_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = agent_commands)]
pub struct NewAgentCommand {
    pub id: Uuid,
    pub photomaton_id: PhotomatonId,
    pub command: String,
    pub requested_by: Option<UserId>,
    pub expires_at: DateTime<Utc>,
}

/// A bus message the gateway set aside (see `dead_letters` in the migrations).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::dead_letters, check_for_backend(diesel::pg::Pg))]
pub struct DeadLetter {
    pub id: i64,
    pub stream: String,
    pub subject: String,
    pub photomaton_id: Option<i32>,
    pub payload: Vec<u8>,
    pub reason: String,
    pub deliveries: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = crate::schema::dead_letters)]
pub struct NewDeadLetter {
    pub stream: String,
    pub subject: String,
    pub photomaton_id: Option<i32>,
    pub payload: Vec<u8>,
    pub reason: String,
    pub deliveries: i64,
}

/// A stat line ingest refused while counting the rest of its batch.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::refused_lines, check_for_backend(diesel::pg::Pg))]
pub struct RefusedLine {
    pub id: i64,
    pub photomaton_id: PhotomatonId,
    pub batch_id: Uuid,
    pub line_index: i32,
    pub reason: String,
    pub line: String,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = crate::schema::refused_lines)]
pub struct NewRefusedLine {
    pub photomaton_id: PhotomatonId,
    pub batch_id: Uuid,
    pub line_index: i32,
    pub reason: String,
    pub line: String,
    pub received_at: DateTime<Utc>,
}

/// An alert as the gateway records it (see `alerts` in the migrations).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::alerts, check_for_backend(diesel::pg::Pg))]
pub struct Alert {
    pub id: Uuid,
    pub seq: i64,
    pub kind: String,
    pub photomaton_id: Option<PhotomatonId>,
    pub state: String,
    pub message: String,
    pub opened_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<UserId>,
    pub acknowledged_by_name: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// Where one person wants to hear of alerts (see `notification_channels`).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::schema::notification_channels, check_for_backend(diesel::pg::Pg))]
pub struct NotificationChannel {
    pub id: Uuid,
    pub user_id: UserId,
    pub kind: String,
    pub target: String,
    pub alert_kinds: Vec<String>,
    pub quiet_from: Option<chrono::NaiveTime>,
    pub quiet_to: Option<chrono::NaiveTime>,
    pub created_at: DateTime<Utc>,
}

/// A maintenance window: no message about the booth (or, without one, the fleet) is sent.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::schema::alert_mutes, check_for_backend(diesel::pg::Pg))]
pub struct AlertMute {
    pub id: Uuid,
    pub photomaton_id: Option<PhotomatonId>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: Option<String>,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
}

/// What boom-notifier did with one message on one channel.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = crate::schema::alert_deliveries, check_for_backend(diesel::pg::Pg))]
pub struct AlertDelivery {
    pub delivery_id: String,
    pub alert_id: Uuid,
    pub transition: String,
    pub channel_id: Uuid,
    pub channel_kind: String,
    pub target: String,
    pub state: String,
    pub attempts: i32,
    pub error: Option<String>,
    pub updated_at: DateTime<Utc>,
}
