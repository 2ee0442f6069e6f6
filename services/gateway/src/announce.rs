//! After a committed change to a booth, made by a person (an HTTP handler) or on their behalf
//! (a pairing redeemed through ingest): the audit line, the booth's view, its registry
//! entries, and the live update to every browser — in that order, in one place.

use boom_db::DbError;
use boom_db::models::Photomaton;
use diesel_async::AsyncPgConnection;

use crate::state::AppState;
use crate::store::audit::{Actor, Audit};
use crate::store::photomatons::{self, PhotomatonView};

/// Audits the change, builds the booth's view, mirrors the booth to the registry and tells
/// every browser. Answers the view.
pub async fn changed(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    audit: Audit<'_>,
    booth: Photomaton,
) -> Result<PhotomatonView, DbError> {
    audit.write(conn, actor).await?;
    let view = photomatons::view_of(conn, booth.clone()).await?;
    state.registry.put(conn, booth.id).await;
    state.live.photomaton(&view).await;
    Ok(view)
}
