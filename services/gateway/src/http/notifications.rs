//! How people hear of alerts. Each person manages their own channels
//! (`/api/notification-channels`: e-mail, Telegram, webhook; which kinds; quiet hours) and
//! can send a test through the notifier; installers and admins set maintenance windows
//! (`/api/alert-mutes`) during which nothing is sent about a booth, or about any booth.

use actix_web::{HttpRequest, HttpResponse, web};
use boom_contracts::PhotomatonId;
use boom_contracts::UserRole;
use boom_contracts::messages::{AlertKind, ChannelKind, ChannelTestRequest, QuietHours};
use boom_db::models::{AlertMute, NotificationChannel};
use boom_server::{ApiError, ErrorCode};
use chrono::{NaiveTime, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::errors::OrApi;
use crate::http::session::Session;
use crate::state::AppState;
use crate::store::audit::Audit;
use crate::store::notifications::{self, ChannelView, MuteView};
use crate::store::{photomatons, users};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateChannel {
    pub kind: ChannelKind,
    /// An e-mail address, a Telegram chat id (a number, or `@channel`), or an `http(s)` URL.
    #[schemars(length(min = 1, max = 2048))]
    pub target: String,
    /// The kinds of alerts this channel wants (at least one).
    pub alert_kinds: Vec<AlertKind>,
    /// Europe/Paris times `HH:MM`; what falls in them is sent when they end.
    pub quiet_hours: Option<QuietHours>,
}

/// The channels of the signed-in person.
#[derive(Debug, serde::Serialize, JsonSchema)]
pub struct ChannelList {
    pub items: Vec<ChannelView>,
}

fn time_of_day(field: &str, text: &str) -> Result<NaiveTime, ApiError> {
    NaiveTime::parse_from_str(text, "%H:%M").map_err(|_| {
        ApiError::unprocessable(format!(
            "quietHours.{field}: a time of day `HH:MM`, not `{text}`"
        ))
    })
}

fn check_target(kind: ChannelKind, target: &str) -> Result<String, ApiError> {
    let target = target.trim();
    let ok = match kind {
        ChannelKind::Email => {
            target.len() <= 254
                && !target.contains(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == ',')
                && matches!(target.split_once('@'), Some((local, domain))
                    if !local.is_empty() && domain.contains('.') && !domain.contains('@'))
        }
        ChannelKind::Telegram => {
            let digits = target.strip_prefix('-').unwrap_or(target);
            (!digits.is_empty() && digits.len() <= 20 && digits.chars().all(|c| c.is_ascii_digit()))
                || target.strip_prefix('@').is_some_and(|name| {
                    (5..=32).contains(&name.len())
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
        }
        ChannelKind::Webhook => url::Url::parse(target).is_ok_and(|url| {
            matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some_and(|h| !h.is_empty())
        }),
    };
    if ok {
        Ok(target.to_owned())
    } else {
        Err(ApiError::unprocessable(match kind {
            ChannelKind::Email => format!("target: `{target}` is not an e-mail address"),
            ChannelKind::Telegram => {
                format!("target: `{target}` is not a Telegram chat id (a number, or @channel)")
            }
            ChannelKind::Webhook => format!("target: `{target}` is not an http(s) URL"),
        }))
    }
}

pub async fn list_channels(
    session: Session,
    state: web::Data<AppState>,
) -> Result<web::Json<ChannelList>, ApiError> {
    let mut conn = state.conn().await?;
    let rows = notifications::channels_of(&mut conn, session.user_id())
        .await
        .or_api()?;
    Ok(web::Json(ChannelList {
        items: rows.into_iter().map(ChannelView::from).collect(),
    }))
}

pub async fn create_channel(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    body: web::Json<CreateChannel>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    // A webhook makes the notifier POST to any address it names: not for viewers.
    if body.kind == ChannelKind::Webhook {
        session.require(UserRole::Installer)?;
    }
    let target = check_target(body.kind, &body.target)?;
    if body.alert_kinds.is_empty() {
        return Err(ApiError::unprocessable(
            "alertKinds: choose at least one kind of alert",
        ));
    }
    let mut kinds: Vec<String> = body
        .alert_kinds
        .iter()
        .map(|k| k.as_str().to_owned())
        .collect();
    kinds.sort();
    kinds.dedup();
    let (quiet_from, quiet_to) = match &body.quiet_hours {
        Some(q) => {
            let (from, to) = (time_of_day("from", &q.from)?, time_of_day("to", &q.to)?);
            if from == to {
                return Err(ApiError::unprocessable(
                    "quietHours: `from` and `to` are the same time",
                ));
            }
            (Some(from), Some(to))
        }
        None => (None, None),
    };
    let channel = NotificationChannel {
        id: Uuid::new_v4(),
        user_id: session.user_id(),
        kind: body.kind.as_str().to_owned(),
        target,
        alert_kinds: kinds,
        quiet_from,
        quiet_to,
        created_at: Utc::now(),
    };
    let mut conn = state.conn().await?;
    let Some(created) = notifications::add_channel(&mut conn, &channel)
        .await
        .or_api()?
    else {
        return Err(ApiError::unprocessable(format!(
            "at most {} channels per person",
            notifications::MAX_CHANNELS_PER_USER
        )));
    };
    let view = ChannelView::from(created);
    Audit::new(
        "notification_channel.create",
        "user",
        Some(session.user_id().0),
    )
    .details(json!({"channelId": view.id, "kind": view.kind, "target": view.target}))
    .write(&mut conn, &session.actor(&request))
    .await
    .or_api()?;
    Ok(HttpResponse::Created().json(view))
}

pub async fn delete_channel(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let mut conn = state.conn().await?;
    if !notifications::delete_channel(&mut conn, session.user_id(), id)
        .await
        .or_api()?
    {
        return Err(ApiError::not_found(format!("no channel {id} of yours")));
    }
    Audit::new(
        "notification_channel.delete",
        "user",
        Some(session.user_id().0),
    )
    .details(json!({"channelId": id}))
    .write(&mut conn, &session.actor(&request))
    .await
    .or_api()?;
    Ok(HttpResponse::NoContent().finish())
}

/// "Send a test" per person and minute.
const TESTS_PER_MINUTE: u32 = 5;

/// What "send a test" did.
#[derive(Debug, serde::Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestOutcome {
    pub sent: bool,
    pub error: Option<String>,
}

pub async fn test_channel(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    // Each test is a message through the company's mail server or bot: a few a minute.
    let tests = state
        .cache
        .count_in_window(
            &format!("channel-test:{}", session.user_id().0),
            std::time::Duration::from_secs(60),
        )
        .await
        .or_api()?;
    if tests.hits > TESTS_PER_MINUTE {
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            format!(
                "at most {TESTS_PER_MINUTE} tests a minute: try again in {} s",
                tests.resets_in_secs
            ),
        )
        .retry_after(u64::try_from(tests.resets_in_secs).unwrap_or(60)));
    }
    let mut conn = state.conn().await?;
    let Some(channel) = notifications::channel_of(&mut conn, session.user_id(), id)
        .await
        .or_api()?
    else {
        return Err(ApiError::not_found(format!("no channel {id} of yours")));
    };
    let language = users::find(&mut conn, session.user_id())
        .await
        .or_api()?
        .map_or_else(|| "fr".to_owned(), |u| u.preferred_language);
    drop(conn);
    let reply = state
        .bus
        .request(&ChannelTestRequest {
            channel: notifications::target_of(&channel, &language),
        })
        .await
        .map_err(|e| crate::errors::from_bus("boom-notifier", e))?;
    let mut conn = state.conn().await?;
    Audit::new(
        "notification_channel.test",
        "user",
        Some(session.user_id().0),
    )
    .details(json!({"channelId": id, "sent": reply.sent, "error": reply.error}))
    .write(&mut conn, &session.actor(&request))
    .await
    .or_api()?;
    let outcome = TestOutcome {
        sent: reply.sent,
        error: reply.error,
    };
    Ok(if outcome.sent {
        HttpResponse::Ok().json(outcome)
    } else {
        // The channel answered an error (or none): the body says which.
        HttpResponse::BadGateway().json(json!({
            "error": "channel_failed",
            "message": outcome.error.unwrap_or_else(|| "not sent".to_owned()),
        }))
    })
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateMute {
    /// The booth; `null` or absent: the whole fleet.
    pub photomaton_id: Option<i32>,
    /// How long, from now: 1 minute to 14 days.
    #[schemars(range(min = 1, max = 20160))]
    pub minutes: i64,
    #[schemars(length(max = 500))]
    pub reason: Option<String>,
}

/// Maintenance windows in force or to come.
#[derive(Debug, serde::Serialize, JsonSchema)]
pub struct MuteList {
    pub items: Vec<MuteView>,
}

pub async fn list_mutes(state: web::Data<AppState>) -> Result<web::Json<MuteList>, ApiError> {
    let mut conn = state.conn().await?;
    let items = notifications::mutes(&mut conn, Utc::now()).await.or_api()?;
    Ok(web::Json(MuteList { items }))
}

pub async fn create_mute(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    body: web::Json<CreateMute>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if !(1..=20_160).contains(&body.minutes) {
        return Err(ApiError::unprocessable(
            "minutes: from 1 to 20160 (14 days)",
        ));
    }
    let reason = body
        .reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(ApiError::unprocessable("reason: at most 500 characters"));
    }
    let mut conn = state.conn().await?;
    let booth = match body.photomaton_id {
        Some(id) => {
            let id = PhotomatonId(id);
            if !photomatons::exists(&mut conn, id).await.or_api()? {
                return Err(ApiError::not_found(format!("no photomaton {id}")));
            }
            Some(id)
        }
        None => None,
    };
    let now = Utc::now();
    let mute = notifications::add_mute(
        &mut conn,
        &AlertMute {
            id: Uuid::new_v4(),
            photomaton_id: booth,
            starts_at: now,
            ends_at: now + chrono::Duration::minutes(body.minutes),
            reason,
            created_by: Some(session.user_id()),
            created_at: now,
        },
    )
    .await
    .or_api()?;
    Audit::new("alert.mute", "photomaton", booth.map(|b| b.0))
        .details(json!({"muteId": mute.id, "until": mute.ends_at, "reason": mute.reason}))
        .write(&mut conn, &session.actor(&request))
        .await
        .or_api()?;
    Ok(HttpResponse::Created().json(MuteView {
        id: mute.id,
        photomaton_id: mute.photomaton_id,
        starts_at: mute.starts_at,
        ends_at: mute.ends_at,
        reason: mute.reason,
        created_by: Some(session.record.username.clone()),
        created_at: mute.created_at,
    }))
}

pub async fn delete_mute(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let mut conn = state.conn().await?;
    let Some(mute) = notifications::delete_mute(&mut conn, id).await.or_api()? else {
        return Err(ApiError::new(ErrorCode::NotFound, format!("no mute {id}")));
    };
    Audit::new(
        "alert.unmute",
        "photomaton",
        mute.photomaton_id.map(|b| b.0),
    )
    .details(json!({"muteId": id}))
    .write(&mut conn, &session.actor(&request))
    .await
    .or_api()?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_checked_by_kind() {
        assert!(check_target(ChannelKind::Email, " ops@example.com ").is_ok());
        assert!(check_target(ChannelKind::Email, "ops@localhost").is_err());
        assert!(check_target(ChannelKind::Email, "a@b.c, d@e.f").is_err());
        assert!(check_target(ChannelKind::Telegram, "-1001234567").is_ok());
        assert!(check_target(ChannelKind::Telegram, "@leboom_ops").is_ok());
        assert!(check_target(ChannelKind::Telegram, "12a").is_err());
        assert!(check_target(ChannelKind::Webhook, "https://ntfy.sh/leboom").is_ok());
        assert!(check_target(ChannelKind::Webhook, "ftp://x").is_err());
        assert!(time_of_day("from", "23:00").is_ok());
        assert!(time_of_day("from", "25:00").is_err());
    }
}
