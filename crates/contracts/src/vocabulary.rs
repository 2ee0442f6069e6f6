//! The enums shared by the wire, the database and the dashboard. On the wire and in
//! PostgreSQL they are spelled in capitals (`PRINT`, `ACTIVE`, `ADMIN`), as in the
//! original design.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A string that names no variant of the enum it was parsed into.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`, expected one of: {expected}")]
pub struct UnknownVariant {
    pub kind: &'static str,
    pub value: String,
    pub expected: &'static str,
}

macro_rules! pg_enum {
    (
        $(#[$doc:meta])*
        $name:ident, sql = $sql:literal, kind = $kind:literal { $($variant:ident => $text:literal),+ $(,)? }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
        #[cfg_attr(feature = "diesel", derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow))]
        #[cfg_attr(feature = "diesel", diesel(sql_type = crate::vocabulary::sql::$name))]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling on the wire and in PostgreSQL.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownVariant;
            /// Case-insensitive, so that `--role admin` and `ADMIN` both parse.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $(if s.eq_ignore_ascii_case($text) { return Ok($name::$variant); })+
                Err(UnknownVariant {
                    kind: $kind,
                    value: s.to_owned(),
                    expected: concat!($($text, " "),+),
                })
            }
        }

        #[cfg(feature = "diesel")]
        impl diesel::serialize::ToSql<crate::vocabulary::sql::$name, diesel::pg::Pg> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                use std::io::Write;
                out.write_all(self.as_str().as_bytes())?;
                Ok(diesel::serialize::IsNull::No)
            }
        }

        #[cfg(feature = "diesel")]
        impl diesel::deserialize::FromSql<crate::vocabulary::sql::$name, diesel::pg::Pg> for $name {
            fn from_sql(bytes: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                let text = std::str::from_utf8(bytes.as_bytes())?;
                Ok(text.parse::<$name>()?)
            }
        }
    };
}

pg_enum!(
    /// What a booth produced. `SESSION` is not in the original design's enum: the agent
    /// reports sessions as stats and events total them, so they are stored like the rest.
    MediaType, sql = "media_type", kind = "media type" {
        Session => "SESSION",
        Photo => "PHOTO",
        Print => "PRINT",
        Digital => "DIGITAL",
        Gif => "GIF",
    }
);

pg_enum!(
    /// Where an event stands: `ACTIVE` while Notion says "En cours".
    EventStatus, sql = "event_status", kind = "event status" {
        Active => "ACTIVE",
        Completed => "COMPLETED",
        Archived => "ARCHIVED",
    }
);

pg_enum!(
    /// What a user may do: viewers read, installers also act on booths, admins manage.
    UserRole, sql = "user_role", kind = "role" {
        Admin => "ADMIN",
        Installer => "INSTALLER",
        Viewer => "VIEWER",
    }
);

impl MediaType {
    /// The agent's spelling, on its HTTP contract (`"type": "print"`) and in its buffer.
    pub fn as_lowercase(self) -> &'static str {
        match self {
            MediaType::Session => "session",
            MediaType::Photo => "photo",
            MediaType::Print => "print",
            MediaType::Digital => "digital",
            MediaType::Gif => "gif",
        }
    }

    /// Reads the agent's spelling.
    pub fn from_lowercase(text: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|media| media.as_lowercase() == text)
    }
}

/// A UTC instant as RFC 3339 text, on the hot path of every media line (stats-ingest reads
/// each from its agent and writes it to the bus, the gateway's recorder reads it back).
///
/// [`serialize`] writes exactly what chrono's own `Serialize` writes
/// (`2026-12-01T21:30:00.123456Z`: as many fractional digits as it takes, by threes), built in
/// one string rather than written character by character through `serde_json`'s escaping
/// writer, which was a tenth of stats-ingest's time at a few hundred thousand lines a second.
///
/// [`deserialize`] reads what chrono's own `Deserialize` reads, with the same result and the
/// same errors: the usual spelling (`YYYY-MM-DDTHH:MM:SS`, an optional fraction of up to nine
/// digits, `Z` or `±HH:MM`) is read directly, anything else (a leap second, a lowercase `t`, a
/// space, …) by chrono. Chrono's general parser fills and then checks a `Parsed` of every
/// field it could meet, several times the cost of reading the twenty-odd digits.
pub mod rfc3339 {
    use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, SecondsFormat, TimeDelta, Utc};

    pub fn serialize<S: serde::Serializer>(
        at: &DateTime<Utc>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = DateTime<Utc>;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("an RFC 3339 formatted date and time string")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
                parse(text).map_or_else(
                    || {
                        text.parse::<DateTime<FixedOffset>>()
                            .map(|at| at.with_timezone(&Utc))
                            .map_err(E::custom)
                    },
                    Ok,
                )
            }
        }
        deserializer.deserialize_str(Visitor)
    }

    /// The usual spelling, or `None` for chrono to decide.
    fn parse(text: &str) -> Option<DateTime<Utc>> {
        let b = text.as_bytes();
        let digits = |from: usize, n: usize| -> Option<u32> {
            b.get(from..from + n)?.iter().try_fold(0u32, |acc, &c| {
                c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
            })
        };
        let at = |i: usize, c: u8| b.get(i) == Some(&c);
        if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':')) {
            return None;
        }
        let date = NaiveDate::from_ymd_opt(
            i32::try_from(digits(0, 4)?).ok()?,
            digits(5, 2)?,
            digits(8, 2)?,
        )?;
        let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
        let mut i = 19;
        let mut nanos = 0;
        if at(i, b'.') {
            let start = i + 1;
            i = start;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            let n = i - start;
            if !(1..=9).contains(&n) {
                return None;
            }
            nanos = digits(start, n)? * 10u32.pow(9 - n as u32);
        }
        // `from_hms_nano_opt` would read second 60 as a leap second: chrono's parser decides.
        if second > 59 {
            return None;
        }
        let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
        let offset = match b.get(i..)? {
            b"Z" => 0,
            [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
                let (h, m) = (digits(i + 1, 2)?, digits(i + 4, 2)?);
                if h > 23 || m > 59 {
                    return None;
                }
                let seconds = i64::from(h * 3600 + m * 60);
                if *sign == b'-' { -seconds } else { seconds }
            }
            _ => return None,
        };
        let utc = date
            .and_time(time)
            .checked_sub_signed(TimeDelta::seconds(offset))?;
        Some(utc.and_utc())
    }

    #[cfg(test)]
    mod tests {
        use chrono::{DateTime, TimeZone, Utc};

        #[derive(serde::Serialize)]
        struct Fast(#[serde(serialize_with = "super::serialize")] DateTime<Utc>);

        #[test]
        fn writes_what_chrono_writes() {
            let base = Utc.with_ymd_and_hms(2026, 12, 1, 21, 30, 5).single();
            let base = base.unwrap_or_default();
            for nanos in [0, 123_000_000, 123_456_000, 123_456_789, 1, 999_999_999] {
                let at = base + chrono::Duration::nanoseconds(nanos);
                assert_eq!(
                    serde_json::to_string(&Fast(at)).ok(),
                    serde_json::to_string(&at).ok(),
                    "{nanos} ns"
                );
            }
            let old: DateTime<Utc> = DateTime::UNIX_EPOCH;
            assert_eq!(
                serde_json::to_string(&Fast(old)).ok(),
                serde_json::to_string(&old).ok()
            );
        }

        #[derive(Debug, serde::Deserialize)]
        struct Read(#[serde(deserialize_with = "super::deserialize")] DateTime<Utc>);

        /// What chrono's own `Deserialize` makes of `text`: the instant, or its error.
        fn chrono_reads(text: &str) -> Result<DateTime<Utc>, String> {
            serde_json::from_value::<DateTime<Utc>>(serde_json::Value::from(text))
                .map_err(|e| e.to_string())
        }

        /// What `deserialize` makes of `text`, read from a JSON value and from JSON text (as
        /// stats-ingest and the recorder read it: borrowed, or unescaped first), which must
        /// agree.
        fn fast_reads(text: &str) -> Result<DateTime<Utc>, String> {
            let from_value = serde_json::from_value::<Read>(serde_json::Value::from(text))
                .map(|Read(at)| at)
                .map_err(|e| e.to_string());
            let json = serde_json::Value::from(text).to_string();
            let escaped = json.replace('T', "\\u0054");
            for json in [json, escaped] {
                let from_text = serde_json::from_str::<Read>(&json).map(|Read(at)| at);
                assert_eq!(from_text.ok(), from_value.as_ref().ok().copied(), "{json}");
            }
            from_value
        }

        #[test]
        fn reads_what_chrono_reads_with_the_same_errors() {
            for text in [
                "2026-12-01T21:30:05Z",
                "2026-12-01T21:30:05.1Z",
                "2026-12-01T21:30:05.123456789Z",
                "2026-12-01T21:30:05.000000001+01:00",
                "2026-12-01T00:30:05-09:30",
                "2026-03-29T01:59:59.999+02:00",
                "0000-01-01T00:00:00Z",
                "9999-12-31T23:59:59.999999999-23:59",
                "2024-02-29T12:00:00Z",
                // Read by chrono, not by the fast path: the same result all the same.
                "2016-12-31T23:59:60Z",
                "2026-12-01t21:30:05z",
                "2026-12-01 21:30:05Z",
                "2026-12-01T21:30:05.1234567891Z",
                "2026-12-01T21:30:05+0100",
                "2026-12-01T21:30:05 +01:00",
                "2026-12-01T21:30:05UTC",
                // Refused by both, with chrono's words.
                "2025-02-29T12:00:00Z",
                "2026-13-01T21:30:05Z",
                "2026-12-01T24:00:00Z",
                "2026-12-01T21:60:05Z",
                "2026-12-01T21:30:05",
                "2026-12-01T21:30:05.Z",
                "2026-12-01T21:30:05Zjunk",
                "2026-12-01T21:30:05+24:00",
                "2026-12-01T21:30:05+01:60",
                "2026-12-01",
                "",
                "yesterday",
                "２０２６-12-01T21:30:05Z",
            ] {
                assert_eq!(fast_reads(text), chrono_reads(text), "{text:?}");
            }
        }

        proptest::proptest! {
            #[test]
            fn reads_any_usual_spelling_as_chrono_does(
                year in 0u32..10_000, month in 0u32..14, day in 0u32..33,
                hour in 0u32..25, minute in 0u32..61, second in 0u32..61,
                fraction in proptest::option::of("[0-9]{1,10}"),
                offset in proptest::option::of((proptest::bool::ANY, 0u32..25, 0u32..61)),
            ) {
                let mut text = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
                if let Some(fraction) = fraction {
                    text.push('.');
                    text.push_str(&fraction);
                }
                match offset {
                    None => text.push('Z'),
                    Some((east, h, m)) => text.push_str(&format!("{}{h:02}:{m:02}", if east { '+' } else { '-' })),
                }
                proptest::prop_assert_eq!(fast_reads(&text), chrono_reads(&text), "{}", text);
            }
        }
    }
}

/// `MediaType` in the agent's spelling, for `#[serde(with = …)]` and
/// `#[schemars(schema_with = …)]` on a field of the agent's contract.
pub mod media_lowercase {
    use serde::Deserialize;

    use super::MediaType;

    pub fn serialize<S: serde::Serializer>(
        media: &MediaType,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(media.as_lowercase())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<MediaType, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        MediaType::from_lowercase(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown media type `{text}`, expected one of: session, photo, print, digital, gif"
            ))
        })
    }

    pub fn schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "enum": ["session", "photo", "print", "digital", "gif"],
        })
    }
}

impl UserRole {
    /// How much a role may do: viewers read, installers act on booths, admins manage.
    pub fn rank(self) -> u8 {
        match self {
            UserRole::Viewer => 1,
            UserRole::Installer => 2,
            UserRole::Admin => 3,
        }
    }

    /// Whether this role may do what `needed` may.
    pub fn includes(self, needed: UserRole) -> bool {
        self.rank() >= needed.rank()
    }
}

/// The PostgreSQL enum types, for Diesel's `schema.rs`.
#[cfg(feature = "diesel")]
pub mod sql {
    #[derive(Debug, Clone, Copy, diesel::sql_types::SqlType, diesel::query_builder::QueryId)]
    #[diesel(postgres_type(name = "media_type"))]
    pub struct MediaType;

    #[derive(Debug, Clone, Copy, diesel::sql_types::SqlType, diesel::query_builder::QueryId)]
    #[diesel(postgres_type(name = "event_status"))]
    pub struct EventStatus;

    #[derive(Debug, Clone, Copy, diesel::sql_types::SqlType, diesel::query_builder::QueryId)]
    #[diesel(postgres_type(name = "user_role"))]
    pub struct UserRole;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_case_insensitively_and_name_the_choices_when_wrong() {
        assert_eq!("admin".parse::<UserRole>(), Ok(UserRole::Admin));
        assert_eq!("INSTALLER".parse::<UserRole>(), Ok(UserRole::Installer));
        let err = "boss"
            .parse::<UserRole>()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("boss") && err.contains("VIEWER"), "{err}");
    }

    #[test]
    fn enums_travel_in_capitals() {
        assert_eq!(
            serde_json::to_string(&MediaType::Gif).ok().as_deref(),
            Some("\"GIF\"")
        );
        assert_eq!(EventStatus::ALL.len(), 3);
    }
}
