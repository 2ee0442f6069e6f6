//! The company's clock (Europe/Paris): quiet hours, the times alert messages show, and the
//! windows of events planned by the day. Without a time-zone database: France follows the EU rule (directive 2000/84/EC), UTC+1 in winter and
//! UTC+2 from the last Sunday of March to the last Sunday of October, changing at 01:00 UTC.

use crate::messages::QuietHours;
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

/// The moment Paris's wall clock shows `time` on `day`. Within the hour the clocks change it
/// is an hour off, which no event window minds.
pub fn at(day: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let naive = Utc.from_utc_datetime(&day.and_time(time));
    let guess = naive - offset(naive);
    naive - offset(guess)
}

/// The day Paris's calendar shows at `moment`.
pub fn day_of(moment: DateTime<Utc>) -> NaiveDate {
    (moment + offset(moment)).date_naive()
}

/// A date of the Notion planning: a day, or a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planned {
    Day(NaiveDate),
    Moment(DateTime<Utc>),
}

/// An event's window: media made in `[start, end)` belong to it. A day alone runs from midnight
/// in Paris to `overrun_hours` past the next midnight (a wedding goes on through the night); a
/// start and an end with times are taken as they are; a start with a time and no end runs to
/// `overrun_hours` past the next midnight too.
pub fn event_window(
    start: Planned,
    end: Option<Planned>,
    overrun_hours: u32,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let overrun = Duration::hours(i64::from(overrun_hours));
    let after = |day: NaiveDate| at(day.succ_opt().unwrap_or(day), NaiveTime::MIN) + overrun;
    let from = match start {
        Planned::Day(day) => at(day, NaiveTime::MIN),
        Planned::Moment(moment) => moment,
    };
    let to = match (start, end) {
        (_, Some(Planned::Moment(moment))) => moment,
        (_, Some(Planned::Day(day))) => after(day),
        (Planned::Day(day), None) => after(day),
        (Planned::Moment(moment), None) => after(day_of(moment)),
    };
    // An end before its start (a typo in Notion) still leaves the start's day.
    if to <= from {
        return (from, after(day_of(from)));
    }
    (from, to)
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
    fn event_windows() {
        let day = NaiveDate::from_ymd_opt(2026, 6, 13).unwrap_or_default();
        // A wedding on the 13th: from midnight in Paris to 08:00 on the 14th.
        assert_eq!(
            event_window(Planned::Day(day), None, 8),
            (utc("2026-06-12T22:00:00Z"), utc("2026-06-14T06:00:00Z"))
        );
        let end = NaiveDate::from_ymd_opt(2026, 6, 14).unwrap_or_default();
        assert_eq!(
            event_window(Planned::Day(day), Some(Planned::Day(end)), 8).1,
            utc("2026-06-15T06:00:00Z")
        );
        let (s, e) = (utc("2026-06-13T16:00:00Z"), utc("2026-06-13T23:00:00Z"));
        assert_eq!(
            event_window(Planned::Moment(s), Some(Planned::Moment(e)), 8),
            (s, e)
        );
        assert_eq!(
            event_window(Planned::Moment(s), None, 8).1,
            utc("2026-06-14T06:00:00Z")
        );
        // An end before its start: the start's day (the 14th in Paris, 01:00) to 08:00 after.
        assert_eq!(
            event_window(Planned::Moment(e), Some(Planned::Moment(s)), 8).1,
            utc("2026-06-15T06:00:00Z"),
            "an end before its start"
        );
    }

    #[test]
    fn wall_clock_moments() {
        let day = NaiveDate::from_ymd_opt(2026, 6, 13).unwrap_or_default();
        assert_eq!(at(day, NaiveTime::MIN), utc("2026-06-12T22:00:00Z"));
        let winter = NaiveDate::from_ymd_opt(2026, 12, 24).unwrap_or_default();
        assert_eq!(at(winter, NaiveTime::MIN), utc("2026-12-23T23:00:00Z"));
        assert_eq!(day_of(utc("2026-06-12T22:30:00Z")), day);
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
