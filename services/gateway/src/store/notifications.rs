//! What boom-notifier needs from the database, and what it reports back: people's channels
//! (which alerts, where, quiet hours), maintenance windows (mutes) and the deliveries of each
//! alert. The notifier never reads PostgreSQL: it asks the gateway over NATS
//! ([`recipients`]) and reports deliveries on the ALERTS stream ([`record_delivery`]).

use boom_contracts::messages::{
    AlertKind, ChannelKind, ChannelTarget, DeliveryState, DeliveryUpdated, QuietHours, Transition,
};
use boom_contracts::{PhotomatonId, UserId, UserRole};
use boom_db::models::{AlertDelivery, AlertMute, NotificationChannel};
use boom_db::schema::{alert_deliveries, alert_mutes, notification_channels, photomatons, users};
use chrono::{DateTime, NaiveTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

/// Channels one person may have at most.
pub const MAX_CHANNELS_PER_USER: i64 = 20;

/// A channel as its owner sees it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChannelView {
    pub id: Uuid,
    pub kind: ChannelKind,
    pub target: String,
    pub alert_kinds: Vec<AlertKind>,
    pub quiet_hours: Option<QuietHours>,
    pub created_at: DateTime<Utc>,
}

fn hhmm(time: NaiveTime) -> String {
    time.format("%H:%M").to_string()
}

fn quiet_hours(channel: &NotificationChannel) -> Option<QuietHours> {
    Some(QuietHours {
        from: hhmm(channel.quiet_from?),
        to: hhmm(channel.quiet_to?),
    })
}

impl From<NotificationChannel> for ChannelView {
    fn from(c: NotificationChannel) -> Self {
        Self {
            quiet_hours: quiet_hours(&c),
            id: c.id,
            kind: ChannelKind::parse(&c.kind).unwrap_or(ChannelKind::Webhook),
            alert_kinds: c
                .alert_kinds
                .iter()
                .filter_map(|k| AlertKind::parse(k))
                .collect(),
            target: c.target,
            created_at: c.created_at,
        }
    }
}

pub async fn channels_of(
    conn: &mut AsyncPgConnection,
    user: UserId,
) -> QueryResult<Vec<NotificationChannel>> {
    notification_channels::table
        .filter(notification_channels::user_id.eq(user))
        .order(notification_channels::created_at.asc())
        .select(NotificationChannel::as_select())
        .load(conn)
        .await
}

pub async fn channel_of(
    conn: &mut AsyncPgConnection,
    user: UserId,
    id: Uuid,
) -> QueryResult<Option<NotificationChannel>> {
    notification_channels::table
        .find(id)
        .filter(notification_channels::user_id.eq(user))
        .select(NotificationChannel::as_select())
        .first(conn)
        .await
        .optional()
}

/// Adds a channel; `None` when the person has [`MAX_CHANNELS_PER_USER`] already.
pub async fn add_channel(
    conn: &mut AsyncPgConnection,
    channel: &NotificationChannel,
) -> QueryResult<Option<NotificationChannel>> {
    let count: i64 = notification_channels::table
        .filter(notification_channels::user_id.eq(channel.user_id))
        .count()
        .get_result(conn)
        .await?;
    if count >= MAX_CHANNELS_PER_USER {
        return Ok(None);
    }
    diesel::insert_into(notification_channels::table)
        .values(channel)
        .returning(NotificationChannel::as_returning())
        .get_result(conn)
        .await
        .map(Some)
}

pub async fn delete_channel(
    conn: &mut AsyncPgConnection,
    user: UserId,
    id: Uuid,
) -> QueryResult<bool> {
    diesel::delete(
        notification_channels::table
            .find(id)
            .filter(notification_channels::user_id.eq(user)),
    )
    .execute(conn)
    .await
    .map(|n| n > 0)
}

/// The channel as the notifier uses it (with its owner's language).
pub fn target_of(channel: &NotificationChannel, language: &str) -> ChannelTarget {
    ChannelTarget {
        channel_id: channel.id,
        user_id: channel.user_id,
        kind: ChannelKind::parse(&channel.kind).unwrap_or(ChannelKind::Webhook),
        target: channel.target.clone(),
        language: language.to_owned(),
        quiet_hours: quiet_hours(channel),
    }
}

/// Whom to tell of an alert of `kind` about `booth`: every channel that wants that kind,
/// the maintenance window in force, and the booth's names.
pub async fn recipients(
    conn: &mut AsyncPgConnection,
    kind: AlertKind,
    booth: Option<PhotomatonId>,
) -> QueryResult<boom_contracts::messages::Recipients> {
    let rows: Vec<(NotificationChannel, String, UserRole)> = notification_channels::table
        .inner_join(users::table)
        .filter(notification_channels::alert_kinds.contains(vec![kind.as_str().to_owned()]))
        .order(notification_channels::created_at.asc())
        .select((
            NotificationChannel::as_select(),
            users::preferred_language,
            users::role,
        ))
        .load(conn)
        .await?;
    // A webhook is an installer's or an admin's: one left by a person since demoted is not used.
    let rows = rows.into_iter().filter(|(channel, _, role)| {
        channel.kind != ChannelKind::Webhook.as_str() || *role != UserRole::Viewer
    });
    let (booth_name, hostname) = match booth {
        Some(id) => photomatons::table
            .find(id)
            .select((photomatons::name, photomatons::hostname))
            .first::<(String, String)>(conn)
            .await
            .optional()?
            .map_or((None, None), |(n, h)| (Some(n), Some(h))),
        None => (None, None),
    };
    Ok(boom_contracts::messages::Recipients {
        channels: rows
            .map(|(channel, language, _)| target_of(&channel, &language))
            .collect(),
        muted_until: muted_until(conn, booth, Utc::now()).await?,
        booth_name,
        hostname,
        error: None,
    })
}

/// The end of the latest maintenance window in force at `now` for `booth` or the whole fleet.
pub async fn muted_until(
    conn: &mut AsyncPgConnection,
    booth: Option<PhotomatonId>,
    now: DateTime<Utc>,
) -> QueryResult<Option<DateTime<Utc>>> {
    let mut query = alert_mutes::table
        .filter(alert_mutes::starts_at.le(now))
        .filter(alert_mutes::ends_at.gt(now))
        .select(diesel::dsl::max(alert_mutes::ends_at))
        .into_boxed();
    query = match booth {
        Some(id) => query.filter(
            alert_mutes::photomaton_id
                .is_null()
                .or(alert_mutes::photomaton_id.eq(id)),
        ),
        None => query.filter(alert_mutes::photomaton_id.is_null()),
    };
    query.first(conn).await
}

/// A maintenance window as the dashboard shows it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MuteView {
    pub id: Uuid,
    /// `null`: the whole fleet.
    pub photomaton_id: Option<PhotomatonId>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: Option<String>,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Windows that have not ended, soonest end first, with who set them.
pub async fn mutes(conn: &mut AsyncPgConnection, now: DateTime<Utc>) -> QueryResult<Vec<MuteView>> {
    let rows: Vec<(AlertMute, Option<String>)> = alert_mutes::table
        .left_join(users::table.on(alert_mutes::created_by.eq(users::id.nullable())))
        .filter(alert_mutes::ends_at.gt(now))
        .order(alert_mutes::ends_at.asc())
        .select((AlertMute::as_select(), users::username.nullable()))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(m, by)| MuteView {
            id: m.id,
            photomaton_id: m.photomaton_id,
            starts_at: m.starts_at,
            ends_at: m.ends_at,
            reason: m.reason,
            created_by: by,
            created_at: m.created_at,
        })
        .collect())
}

pub async fn add_mute(conn: &mut AsyncPgConnection, mute: &AlertMute) -> QueryResult<AlertMute> {
    diesel::insert_into(alert_mutes::table)
        .values(mute)
        .returning(AlertMute::as_returning())
        .get_result(conn)
        .await
}

pub async fn delete_mute(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<AlertMute>> {
    diesel::delete(alert_mutes::table.find(id))
        .returning(AlertMute::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Records a delivery's progress. Updates can arrive out of order (a retry's "retrying" after
/// its "sent"): the later attempt wins, and a final state (sent, failed, skipped) is kept.
pub async fn record_delivery(
    conn: &mut AsyncPgConnection,
    update: &DeliveryUpdated,
) -> QueryResult<()> {
    let row = AlertDelivery {
        delivery_id: update.delivery_id.clone(),
        alert_id: update.alert_id,
        transition: update.transition.as_str().to_owned(),
        channel_id: update.channel_id,
        channel_kind: update.channel_kind.as_str().to_owned(),
        target: update.target.clone(),
        state: update.state.as_str().to_owned(),
        attempts: i32::try_from(update.attempts).unwrap_or(i32::MAX),
        error: update.error.clone(),
        updated_at: update.at,
    };
    use diesel::sql_types::{Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
    diesel::sql_query(
        "INSERT INTO alert_deliveries (delivery_id, alert_id, transition, channel_id, \
         channel_kind, target, state, attempts, error, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (delivery_id) DO UPDATE SET state = excluded.state, \
         attempts = excluded.attempts, error = excluded.error, updated_at = excluded.updated_at \
         WHERE alert_deliveries.state NOT IN ('sent', 'failed', 'skipped') \
         AND alert_deliveries.attempts <= excluded.attempts",
    )
    .bind::<Text, _>(&row.delivery_id)
    .bind::<SqlUuid, _>(row.alert_id)
    .bind::<Text, _>(&row.transition)
    .bind::<SqlUuid, _>(row.channel_id)
    .bind::<Text, _>(&row.channel_kind)
    .bind::<Text, _>(&row.target)
    .bind::<Text, _>(&row.state)
    .bind::<Integer, _>(row.attempts)
    .bind::<Nullable<Text>, _>(&row.error)
    .bind::<Timestamptz, _>(row.updated_at)
    .execute(conn)
    .await
    .map(|_| ())
}

/// A delivery as the dashboard shows it under its alert: whose channel, not its address
/// (every viewer sees alerts; an address, a chat id or a webhook URL is its owner's).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    pub transition: Transition,
    pub channel_kind: ChannelKind,
    /// The channel's owner (`null` once the channel or its owner was deleted).
    pub owner: Option<String>,
    pub state: DeliveryState,
    pub attempts: i32,
    pub error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

fn delivery_view(d: AlertDelivery, owner: Option<String>) -> DeliveryView {
    let transition = match d.transition.as_str() {
        "open" => Transition::Open,
        "reminder" => Transition::Reminder,
        "resolved" => Transition::Resolved,
        _ => Transition::Test,
    };
    let state = match d.state.as_str() {
        "queued" => DeliveryState::Queued,
        "deferred" => DeliveryState::Deferred,
        "retrying" => DeliveryState::Retrying,
        "sent" => DeliveryState::Sent,
        "skipped" => DeliveryState::Skipped,
        _ => DeliveryState::Failed,
    };
    DeliveryView {
        transition,
        channel_kind: ChannelKind::parse(&d.channel_kind).unwrap_or(ChannelKind::Webhook),
        owner,
        state,
        attempts: d.attempts,
        error: d.error,
        updated_at: d.updated_at,
    }
}

/// The deliveries of each alert of `ids`, oldest first.
pub async fn deliveries_of(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> QueryResult<std::collections::HashMap<Uuid, Vec<DeliveryView>>> {
    let rows: Vec<(AlertDelivery, Option<String>)> = alert_deliveries::table
        .left_join(
            notification_channels::table
                .on(notification_channels::id.eq(alert_deliveries::channel_id)),
        )
        .left_join(users::table.on(users::id.eq(notification_channels::user_id)))
        .filter(alert_deliveries::alert_id.eq_any(ids))
        .order(alert_deliveries::updated_at.asc())
        .select((AlertDelivery::as_select(), users::username.nullable()))
        .load(conn)
        .await?;
    let mut by_alert: std::collections::HashMap<Uuid, Vec<DeliveryView>> =
        std::collections::HashMap::new();
    for (row, owner) in rows {
        by_alert
            .entry(row.alert_id)
            .or_default()
            .push(delivery_view(row, owner));
    }
    Ok(by_alert)
}
