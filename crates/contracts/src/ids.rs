//! ID newtypes: an event id can never be passed where a photomaton id is expected.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident($inner:ty), $sql:ty) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
        )]
        #[cfg_attr(feature = "diesel", derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow))]
        #[cfg_attr(feature = "diesel", diesel(sql_type = $sql))]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }

        #[cfg(feature = "diesel")]
        impl diesel::serialize::ToSql<$sql, diesel::pg::Pg> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                <$inner as diesel::serialize::ToSql<$sql, diesel::pg::Pg>>::to_sql(&self.0, out)
            }
        }

        #[cfg(feature = "diesel")]
        impl diesel::deserialize::FromSql<$sql, diesel::pg::Pg> for $name {
            fn from_sql(bytes: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                <$inner as diesel::deserialize::FromSql<$sql, diesel::pg::Pg>>::from_sql(bytes).map($name)
            }
        }
    };
}

id_newtype!(
    /// A booth ("photomaton").
    PhotomatonId(i32), diesel::sql_types::Integer
);
id_newtype!(
    /// An event planned in Notion.
    EventId(i32), diesel::sql_types::Integer
);
id_newtype!(
    /// One media row (a session, photo, print, digital share or GIF).
    PhotoId(i64), diesel::sql_types::BigInt
);
id_newtype!(
    /// One speed test measured by a booth agent.
    SpeedTestId(i64), diesel::sql_types::BigInt
);
id_newtype!(
    /// A person who signs in to the dashboard.
    UserId(i32), diesel::sql_types::Integer
);
id_newtype!(
    /// One line of the audit log.
    AuditLogId(i64), diesel::sql_types::BigInt
);
