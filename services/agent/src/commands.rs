//! What the dashboard asks of this booth, polled from stats-ingest (`GET /api/agent/commands`)
//! every `agent.command_interval_secs`: a new paper roll (applied as the roll minus what was
//! printed since it was declared) and a speed test now (run once per request, its result sent
//! with the next batch). Polling keeps the agent reachable behind any 4G router without an open
//! port; a poll that fails is simply tried again at the next interval.

use std::sync::Arc;
use std::time::Duration;

use boom_contracts::messages::PaperReset;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::ingest::IngestClient;
use crate::speed_test::SpeedTest;
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct Commands {
    pub store: Store,
    pub ingest: IngestClient,
    pub interval: Duration,
    pub speed_test: SpeedTest,
    /// Rung after a requested speed test, so that its result leaves at once.
    pub wake: Arc<Notify>,
}

impl Commands {
    /// One poll, and what it asks for.
    pub async fn once(&self) {
        let commands = match self.ingest.commands().await {
            Ok(commands) => commands,
            Err(error) => {
                tracing::debug!(%error, "commands not polled (offline?)");
                return;
            }
        };
        if let Some(reset) = commands.paper_reset {
            apply_reset(&self.store, reset).await;
        }
        if let Some(at) = commands.speed_test_requested_at {
            match self.store.speed_test_requested_since(at).await {
                Ok(true) => {
                    tracing::info!(requested_at = %at, "speed test requested from the dashboard");
                    // Taken only once measured: a test that failed is tried again at the next
                    // poll, not forgotten.
                    if self.speed_test.once().await
                        && let Err(error) = self.store.take_speed_test_request(at).await
                    {
                        tracing::error!(%error, "speed test request not recorded");
                    }
                    self.wake.notify_one();
                }
                Ok(false) => {}
                Err(error) => tracing::error!(%error, "speed test request not read"),
            }
        }
    }

    /// The polling loop, until `cancel`.
    pub async fn run(self, cancel: CancellationToken) {
        crate::schedule::every(self.interval, cancel, || self.once()).await;
    }
}

/// Applies a new roll declared on the dashboard, from a poll or a sync answer; a failure is
/// logged, and the next poll says it again.
pub async fn apply_reset(store: &Store, reset: PaperReset) {
    match store.apply_reset(reset).await {
        Ok(Some(remaining)) => {
            tracing::info!(at = %reset.at, prints = reset.prints, remaining, "new paper roll declared on the dashboard");
        }
        Ok(None) => {}
        Err(error) => tracing::error!(%error, "new paper roll not applied; it is asked again"),
    }
}
