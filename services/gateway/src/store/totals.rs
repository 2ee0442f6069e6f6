//! Media counts by type: one shape for what a booth made today, what an event made, and each
//! hour of an event's timeline. Also the columns of the totals tables
//! (`photomaton_daily_totals`, `event_hourly_totals`), so rows load straight into it.

use boom_contracts::MediaType;
use diesel::QueryableByName;
use schemars::JsonSchema;
use serde::Serialize;

/// Media counts by type; also the columns of the totals tables (`photomaton_daily_totals`,
/// `event_hourly_totals`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema, QueryableByName)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub sessions: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub photos: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub prints: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub digital: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub gifs: i64,
}

impl Totals {
    pub fn merge(&mut self, other: &Self) {
        self.sessions += other.sessions;
        self.photos += other.photos;
        self.prints += other.prints;
        self.digital += other.digital;
        self.gifs += other.gifs;
    }

    pub fn add(&mut self, media: MediaType, n: i64) {
        match media {
            MediaType::Session => self.sessions += n,
            MediaType::Photo => self.photos += n,
            MediaType::Print => self.prints += n,
            MediaType::Digital => self.digital += n,
            MediaType::Gif => self.gifs += n,
        }
    }
}
