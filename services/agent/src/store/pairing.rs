//! What pairing gave this agent (`boom-agent pair`): the stats-ingest it pairs with, the
//! booth's registered hostname and the agent key. Kept in the buffer's settings so that the
//! agent needs neither `agent.key` nor `agent.hostname`; the key is never printed.

use super::settings::{set_setting, setting};
use super::{Store, StoreError};

/// The credentials of a paired agent.
#[derive(Clone, PartialEq, Eq)]
pub struct Pairing {
    pub ingest_url: String,
    pub hostname: String,
    pub key: String,
}

impl std::fmt::Debug for Pairing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pairing")
            .field("ingest_url", &self.ingest_url)
            .field("hostname", &self.hostname)
            .finish_non_exhaustive()
    }
}

const INGEST_URL: &str = "paired_ingest_url";
const HOSTNAME: &str = "paired_hostname";
const KEY: &str = "paired_key";

impl Store {
    /// Keeps a pairing, in place of any earlier one.
    pub async fn save_pairing(&self, pairing: Pairing) -> Result<(), StoreError> {
        self.with(move |conn| {
            conn.immediate_transaction::<_, diesel::result::Error, _>(|conn| {
                set_setting(conn, INGEST_URL, &pairing.ingest_url)?;
                set_setting(conn, HOSTNAME, &pairing.hostname)?;
                set_setting(conn, KEY, &pairing.key)
            })
            .map_err(StoreError::from)
        })
        .await
    }

    /// The pairing kept, if this agent was paired.
    pub async fn pairing(&self) -> Result<Option<Pairing>, StoreError> {
        self.with(|conn| {
            let (ingest_url, hostname, key) = (
                setting(conn, INGEST_URL)?,
                setting(conn, HOSTNAME)?,
                setting(conn, KEY)?,
            );
            Ok(ingest_url
                .zip(hostname)
                .zip(key)
                .map(|((ingest_url, hostname), key)| Pairing {
                    ingest_url,
                    hostname,
                    key,
                }))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[tokio::test]
    async fn a_pairing_is_kept_and_replaced_and_its_key_never_shows_in_debug()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("boom-agent-pairing-{}", Uuid::new_v4()));
        let store = Store::open(&dir, 700)?;
        assert_eq!(store.pairing().await?, None);
        let first = Pairing {
            ingest_url: "https://ingest.example".into(),
            hostname: "boom-01".into(),
            key: "boom_secret-one".into(),
        };
        store.save_pairing(first.clone()).await?;
        assert_eq!(store.pairing().await?, Some(first.clone()));
        let second = Pairing {
            key: "boom_secret-two".into(),
            ..first
        };
        store.save_pairing(second.clone()).await?;
        assert_eq!(store.pairing().await?, Some(second.clone()));
        assert!(!format!("{second:?}").contains("secret"));
        std::fs::remove_dir_all(dir)?;
        Ok(())
    }
}
