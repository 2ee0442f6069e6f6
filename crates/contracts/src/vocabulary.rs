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

/// `MediaType` in the agent's spelling, for `#[serde(with = …)]` and
/// `#[schemars(schema_with = …)]` on a field of the agent's contract.
/// A UTC instant written as RFC 3339 text, exactly as chrono's own `Serialize` writes it
/// (`2026-12-01T21:30:00.123456Z`: as many fractional digits as it takes, by threes), built in
/// one string rather than written character by character through `serde_json`'s escaping
/// writer, which was a tenth of stats-ingest's time at a few hundred thousand lines a second.
pub mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};

    pub fn serialize<S: serde::Serializer>(
        at: &DateTime<Utc>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
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
    }
}

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
