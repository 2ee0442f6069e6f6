//! After a committed change to a booth, made by a person (an HTTP handler) or on their behalf
//! (a pairing redeemed through ingest): the audit line, the booth's view, its registry
//! entries, and the live update to every browser — in that order, in one place.

use boom_db::DbError;
use boom_db::models::Photomaton;
use boom_server::ApiError;
use diesel_async::AsyncPgConnection;

use crate::errors::{OrApi, from_db, from_registry};
use crate::registry::RegistryUnavailable;
use crate::state::AppState;
use crate::store::audit::{Actor, Audit};
use crate::store::photomatons::{self, PhotomatonView};

/// Why a change could not be announced. After [`ChangeError::Registry`] the change is saved
/// and every browser was told, but ingest and control may not know of it yet: the caller
/// answers 503, and the registry's reconciliation repairs it within a minute.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Registry(#[from] RegistryUnavailable),
}

impl<T> OrApi<T> for Result<T, ChangeError> {
    fn or_api(self) -> Result<T, ApiError> {
        self.map_err(|e| match e {
            ChangeError::Db(e) => from_db(e),
            ChangeError::Registry(e) => from_registry(&e),
        })
    }
}

impl From<diesel::result::Error> for ChangeError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(error))
    }
}

/// Audits the change, builds the booth's view, mirrors the booth to the registry and tells
/// every browser. Answers the view, or an error when the registry could not be written.
pub async fn changed(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    audit: Audit<'_>,
    booth: Photomaton,
) -> Result<PhotomatonView, ChangeError> {
    audit.write(conn, actor).await?;
    let view = photomatons::view_of(conn, booth.clone()).await?;
    let mirrored = state.registry.put(conn, booth.id).await;
    state.live.photomaton(&view).await;
    mirrored?;
    Ok(view)
}

/// [`changed`] for a new agent key: when the registry cannot be told, the previous key is put
/// back, so that the API call's 503 means "nothing changed" — never a key nobody was shown
/// that the registry's reconciliation would later make the only one ingest takes.
pub async fn key_changed(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    audit: Audit<'_>,
    booth: Photomaton,
    previous: photomatons::PreviousKey,
) -> Result<PhotomatonView, ChangeError> {
    let (id, replaced_by) = (booth.id, booth.agent_key_sha256.clone().unwrap_or_default());
    let outcome = changed(state, conn, actor, audit, booth).await;
    if matches!(outcome, Err(ChangeError::Registry(_))) {
        photomatons::restore_agent_key(conn, id, &replaced_by, previous).await?;
        Audit::new("photomaton.api_key_restored", "photomaton", Some(id.0))
            .write(conn, actor)
            .await?;
        // The browsers saw the new key's date: show them the booth as it is again.
        if let Some(booth) = photomatons::find(conn, id).await? {
            let view = photomatons::view_of(conn, booth).await?;
            state.live.photomaton(&view).await;
        }
    }
    outcome
}
