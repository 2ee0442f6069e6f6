//! Sends the buffer to stats-ingest: on a schedule, sooner when the backlog reaches a batch,
//! with exponential backoff and jitter while offline. A batch is forgotten only once ingest
//! answered 202 or 200; a batch ingest refuses for good (400, 413, 422) is quarantined so
//! that the rest keeps flowing; a wrong key (401, 403) keeps everything and retries slowly,
//! since an operator must fix the configuration.

use std::sync::Arc;
use std::time::Duration;

use boom_contracts::agent::{AgentSync, AgentSyncAccepted, PrinterReport, PrinterState};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::ingest::IngestClient;
use crate::store::{PendingBatch, Store};

#[derive(Debug, Clone)]
pub struct Sender {
    pub store: Store,
    pub ingest: IngestClient,
    pub hostname: String,
    pub batch_size: usize,
    pub interval: Duration,
    /// Rung when the backlog reaches a batch, so that it leaves at once.
    pub wake: Arc<Notify>,
    /// The printer to report (`agent.printer`; `None`: the default printer).
    pub printer: Option<String>,
    /// The printer's state as last delivered, to report a change even when nothing else goes.
    pub printer_sent: Arc<std::sync::Mutex<Option<PrinterSeen>>>,
}

/// A printer's name, state and detail, as last delivered.
pub type PrinterSeen = (String, PrinterState, Option<String>);

/// What became of one attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Attempt {
    Nothing,
    Sent,
    /// Retry after a backoff.
    Failed,
    /// The configuration is wrong (key, hostname): retry slowly.
    Refused,
}

const MAX_BACKOFF: Duration = Duration::from_secs(300);

impl Sender {
    /// Sends until the buffer is empty or a send fails.
    pub async fn drain(&self) -> Attempt {
        let mut outcome = Attempt::Nothing;
        loop {
            let batch = match self.store.next_batch(self.batch_size).await {
                Ok(Some(batch)) => batch,
                Ok(None) => {
                    return match self.report_printer_change().await {
                        Attempt::Nothing => outcome,
                        other => other,
                    };
                }
                Err(error) => {
                    tracing::error!(%error, "cannot read the local buffer");
                    return Attempt::Failed;
                }
            };
            match self.send(&batch).await {
                Attempt::Sent => outcome = Attempt::Sent,
                other => return other,
            }
        }
    }

    /// The printer now (the spooler is asked off the async threads).
    async fn printer_now(&self) -> Option<PrinterReport> {
        let name = self.printer.clone();
        tokio::task::spawn_blocking(move || crate::printer::observe(name.as_deref()))
            .await
            .ok()
            .flatten()
    }

    fn printer_changed(&self, report: &PrinterReport) -> bool {
        let now = (report.name.clone(), report.state, report.detail.clone());
        self.printer_sent
            .lock()
            .is_ok_and(|sent| sent.as_ref() != Some(&now))
    }

    fn printer_delivered(&self, report: &PrinterReport) {
        if let Ok(mut sent) = self.printer_sent.lock() {
            *sent = Some((report.name.clone(), report.state, report.detail.clone()));
        }
    }

    /// With nothing to send, a printer that changed state still goes, alone in a batch of no
    /// media (a fresh id each time: it counts nothing, so it cannot count twice).
    async fn report_printer_change(&self) -> Attempt {
        let Some(printer) = self.printer_now().await else {
            return Attempt::Nothing;
        };
        if !self.printer_changed(&printer) {
            return Attempt::Nothing;
        }
        let body = AgentSync {
            batch_id: uuid::Uuid::new_v4(),
            hostname: self.hostname.clone(),
            stats: Vec::new(),
            paper_level: None,
            paper_reset_at: None,
            speedtest: None,
            backlog: None,
            agent_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            printer: Some(printer.clone()),
        };
        match self.ingest.sync(&body).await {
            Ok(response) if response.status().is_success() => {
                self.printer_delivered(&printer);
                tracing::info!(state = printer.state.as_str(), "printer state sent");
                Attempt::Sent
            }
            Ok(response) if matches!(response.status().as_u16(), 401 | 403) => Attempt::Refused,
            _ => Attempt::Failed,
        }
    }

    async fn send(&self, batch: &PendingBatch) -> Attempt {
        let backlog = self
            .store
            .status()
            .await
            .map(|s| s.backlog - i64::try_from(batch.stats.len()).unwrap_or(0))
            .ok();
        let body = AgentSync {
            batch_id: batch.batch_id,
            hostname: self.hostname.clone(),
            stats: batch.stats.clone(),
            paper_level: batch.paper_level,
            paper_reset_at: batch.paper_reset_at,
            speedtest: batch.speedtest.clone(),
            backlog: backlog.map(|b| b.max(0)),
            agent_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            printer: self.printer_now().await,
        };
        let response = self.ingest.sync(&body).await;
        let response = match response {
            Ok(r) => r,
            Err(error) => {
                tracing::info!(%error, batch = %batch.batch_id, "ingest unreachable, will retry");
                return Attempt::Failed;
            }
        };
        let status = response.status().as_u16();
        match status {
            200 | 202 => {
                let answer = response.json::<AgentSyncAccepted>().await.ok();
                if let Err(error) = self.store.acknowledge(batch.batch_id).await {
                    // Sent again later with the same id: ingest counts it once.
                    tracing::error!(%error, "batch acknowledged by ingest but not forgotten locally");
                    return Attempt::Failed;
                }
                tracing::info!(batch = %batch.batch_id, lines = batch.stats.len(), duplicate = answer.as_ref().is_some_and(|a| a.duplicate), "batch sent");
                if let Some(printer) = &body.printer {
                    self.printer_delivered(printer);
                }
                // Lines refused one by one (a wrong clock): the rest was counted, and the
                // dashboard shows them on the booth page.
                for refused in answer.iter().flat_map(|a| &a.refused) {
                    tracing::warn!(batch = %batch.batch_id, index = refused.index, reason = %refused.reason, "ingest refused one line of the batch");
                }
                if let Some(reset) = answer.and_then(|a| a.paper_reset) {
                    crate::commands::apply_reset(&self.store, reset).await;
                }
                Attempt::Sent
            }
            401 | 403 => {
                let text = response.text().await.unwrap_or_default();
                tracing::error!(status, %text, "ingest refuses this agent: check agent.key and agent.hostname");
                Attempt::Refused
            }
            400 | 413 | 422 => {
                let text = response.text().await.unwrap_or_default();
                tracing::error!(status, %text, batch = %batch.batch_id, "ingest refused the batch for good: quarantined");
                if let Err(error) = self
                    .store
                    .quarantine(batch.batch_id, format!("{status} {text}"))
                    .await
                {
                    tracing::error!(%error, "cannot quarantine the batch");
                }
                Attempt::Sent
            }
            _ => {
                tracing::info!(status, batch = %batch.batch_id, "ingest busy or down, will retry");
                Attempt::Failed
            }
        }
    }

    /// The sending loop, until `cancel`.
    pub async fn run(self, cancel: CancellationToken) {
        let mut failures: u32 = 0;
        loop {
            let pause = match self.drain().await {
                Attempt::Nothing | Attempt::Sent => {
                    failures = 0;
                    self.interval
                }
                Attempt::Failed => {
                    failures = failures.saturating_add(1);
                    backoff(failures)
                }
                Attempt::Refused => MAX_BACKOFF,
            };
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
                () = self.wake.notified(), if failures == 0 => {}
            }
        }
    }
}

/// 1 s, 2 s, 4 s … 5 min, each with up to 50 % random jitter so that a fleet coming back
/// online does not knock on ingest in step.
pub fn backoff(failures: u32) -> Duration {
    let base = Duration::from_secs(1u64 << failures.saturating_sub(1).min(9)).min(MAX_BACKOFF);
    base + base.mul_f64(rand::random::<f64>() * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_five_minutes_with_jitter() {
        assert!(backoff(1) >= Duration::from_secs(1) && backoff(1) <= Duration::from_millis(1500));
        assert!(backoff(4) >= Duration::from_secs(8));
        assert!(backoff(100) <= MAX_BACKOFF + MAX_BACKOFF / 2);
    }
}
