//! The company's clock (Europe/Paris) for quiet hours and the times messages show, without a
//! time-zone database: France follows the EU rule (directive 2000/84/EC), UTC+1 in winter and
//! UTC+2 from the last Sunday of March to the last Sunday of October, changing at 01:00 UTC.

use boom_contracts::messages::QuietHours;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};

fn last_sunday(year: i32, month: u32) -> NaiveDate {
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    }
    .unwrap_or_default();
    let mut day = next.pred_opt().unwrap_or_default();
    while day.weekday() != Weekday::Sun {
        day = day.pred_opt().unwrap_or_default();
    }
    day
}

/// Europe/Paris's offset from UTC at `at`.
pub fn offset(at: DateTime<Utc>) -> Duration {
    let year = at.year();
    let change = |month| {
        Utc.from_utc_datetime(
            &last_sunday(year, month)
                .and_time(NaiveTime::from_hms_opt(1, 0, 0).unwrap_or_default()),
        )
    };
    if at >= change(3) && at < change(10) {
        Duration::hours(2)
    } else {
        Duration::hours(1)
    }
}

/// `at` as the wall clock in Paris shows it, `HH:MM`.
pub fn clock(at: DateTime<Utc>) -> String {
    (at + offset(at)).format("%H:%M").to_string()
}

fn parse(text: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(text, "%H:%M").ok()
}

/// When the quiet hours around `now` end, if `now` falls in them (`from > to` spans midnight).
pub fn quiet_until(quiet: &QuietHours, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let (from, to) = (parse(&quiet.from)?, parse(&quiet.to)?);
    let local = (now + offset(now)).naive_utc();
    let time = local.time();
    let inside = if from < to {
        time >= from && time < to
    } else {
        time >= from || time < to
    };
    if !inside {
        return None;
    }
    let mut end = local.date().and_time(to);
    if end <= local {
        end += Duration::days(1);
    }
    // Back to UTC with the offset of that moment (an hour off on the two nights a year the
    // clocks change, which quiet hours can bear).
    let end = Utc.from_utc_datetime(&end);
    Some(end - offset(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap_or_else(|e| panic!("{e}"))
            .with_timezone(&Utc)
    }

    #[test]
    fn summer_and_winter_time() {
        assert_eq!(offset(utc("2026-01-15T12:00:00Z")), Duration::hours(1));
        assert_eq!(offset(utc("2026-07-15T12:00:00Z")), Duration::hours(2));
        // 2026: last Sunday of March is the 29th, of October the 25th.
        assert_eq!(offset(utc("2026-03-29T00:59:00Z")), Duration::hours(1));
        assert_eq!(offset(utc("2026-03-29T01:00:00Z")), Duration::hours(2));
        assert_eq!(offset(utc("2026-10-25T00:59:00Z")), Duration::hours(2));
        assert_eq!(offset(utc("2026-10-25T01:00:00Z")), Duration::hours(1));
        assert_eq!(clock(utc("2026-11-30T22:30:00Z")), "23:30");
    }

    #[test]
    fn quiet_hours_across_midnight() {
        let night = QuietHours {
            from: "23:00".into(),
            to: "07:00".into(),
        };
        // 23:30 in Paris (winter): quiet until 07:00 Paris = 06:00 UTC the next day.
        assert_eq!(
            quiet_until(&night, utc("2026-11-30T22:30:00Z")),
            Some(utc("2026-12-01T06:00:00Z"))
        );
        // 03:00 Paris: until 07:00 the same morning.
        assert_eq!(
            quiet_until(&night, utc("2026-12-01T02:00:00Z")),
            Some(utc("2026-12-01T06:00:00Z"))
        );
        assert_eq!(quiet_until(&night, utc("2026-12-01T12:00:00Z")), None);
        let lunch = QuietHours {
            from: "12:00".into(),
            to: "14:00".into(),
        };
        // Summer: 13:00 Paris = 11:00 UTC; ends 14:00 Paris = 12:00 UTC.
        assert_eq!(
            quiet_until(&lunch, utc("2026-07-01T11:00:00Z")),
            Some(utc("2026-07-01T12:00:00Z"))
        );
        assert_eq!(quiet_until(&lunch, utc("2026-07-01T12:00:00Z")), None);
    }
}
