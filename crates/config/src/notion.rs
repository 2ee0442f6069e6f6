//! The `[notion]` section: the Notion database of events, how often it is read, and which
//! of its properties holds what.

use secrecy::SecretString;
use serde::Deserialize;

/// Which Notion property holds what. The defaults are the company's French names.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct NotionProperties {
    pub client: String,
    pub event_type: String,
    pub date: String,
    pub album: String,
    pub status: String,
    /// The status value of an event under way.
    pub status_active: String,
    /// The booth: a select, relation or text matched against a booth's name or hostname.
    pub photomaton: String,
}

impl Default for NotionProperties {
    fn default() -> Self {
        Self {
            client: "Client".to_owned(),
            event_type: "Type".to_owned(),
            date: "Date".to_owned(),
            album: "Album".to_owned(),
            status: "Statut".to_owned(),
            status_active: "En cours".to_owned(),
            photomaton: "Photomaton".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct NotionSettings {
    pub token: Option<SecretString>,
    pub database_id: Option<String>,
    pub base_url: String,
    pub sync_interval_secs: u64,
    pub properties: NotionProperties,
}

impl Default for NotionSettings {
    fn default() -> Self {
        Self {
            token: None,
            database_id: None,
            base_url: "https://api.notion.com/v1".to_owned(),
            sync_interval_secs: 300,
            properties: NotionProperties::default(),
        }
    }
}
