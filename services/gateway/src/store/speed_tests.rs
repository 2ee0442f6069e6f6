//! Speed tests: an installer asks for one (the booth's agent learns of it through the
//! registry and measures), the agent's result arrives in a batch, the booth page lists them.

use boom_contracts::PhotomatonId;
use boom_db::models::{NewSpeedTest, Photomaton, SpeedTest};
use boom_db::schema::{photomatons, speed_tests};
use chrono::{DateTime, Utc};
use diesel::result::QueryResult;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use schemars::JsonSchema;
use serde::Serialize;

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

/// Records that a speed test was asked of the booth now; `None` when there is no such booth.
pub async fn request(
    conn: &mut AsyncPgConnection,
    id: PhotomatonId,
) -> QueryResult<Option<Photomaton>> {
    diesel::update(photomatons::table.find(id))
        .set(photomatons::speed_test_requested_at.eq(Some(Utc::now())))
        .returning(Photomaton::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// A page of the booth's speed tests, newest first: `limit + 1` rows after the id `after`.
pub async fn list(
    conn: &mut AsyncPgConnection,
    id: PhotomatonId,
    limit: i64,
    after: Option<i64>,
) -> QueryResult<Vec<SpeedTest>> {
    let mut query = speed_tests::table
        .filter(speed_tests::photomaton_id.eq(id))
        .order(speed_tests::id.desc())
        .limit(limit + 1)
        .select(SpeedTest::as_select())
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(speed_tests::id.lt(after));
    }
    query.load(conn).await
}

pub async fn insert(mut conn: &AsyncPgConnection, tests: &[NewSpeedTest]) -> QueryResult<()> {
    if !tests.is_empty() {
        diesel::insert_into(speed_tests::table)
            .values(tests)
            .execute(&mut conn)
            .await?;
    }
    Ok(())
}
