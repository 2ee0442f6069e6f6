//! The `[events]` section: how the media of an evening are attributed to its event.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct EventsSettings {
    /// An event planned by the day (no time in Notion) runs from midnight in Paris to this
    /// many hours past the next midnight: the night of a wedding is the wedding's.
    pub overrun_hours: u32,
}

impl Default for EventsSettings {
    fn default() -> Self {
        Self { overrun_hours: 8 }
    }
}
