//! What the dashboard asks of this booth, long-polled from stats-ingest
//! (`GET /api/agent/commands?wait=25&version=…`, answered as soon as something changes): a new
//! paper roll (applied as the roll minus what was printed since it was declared), a speed test
//! now (run once per request, its result sent with the next batch), and remote commands — run
//! once each if `agent.commands` names them, refused otherwise, and reported back. Polling
//! keeps the agent reachable behind any 4G router without an open port; a poll that fails is
//! tried again after `agent.command_interval_secs`.

use std::sync::Arc;
use std::time::Duration;

use std::collections::BTreeMap;

use boom_contracts::agent::{
    CommandReport, CommandStatus, MAX_COMMAND_OUTPUT, QueuedCommand, truncate_output,
};
use boom_contracts::messages::PaperReset;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::ingest::IngestClient;
use crate::speed_test::SpeedTest;
use crate::store::Store;

/// How long a poll may be held open by ingest.
const LONG_POLL: Duration = Duration::from_secs(25);

#[derive(Debug, Clone)]
pub struct Commands {
    pub store: Store,
    pub ingest: IngestClient,
    pub interval: Duration,
    pub speed_test: SpeedTest,
    /// Rung after a requested speed test, so that its result leaves at once.
    pub wake: Arc<Notify>,
    /// The remote commands this booth accepts (`agent.commands`).
    pub allowed: Arc<BTreeMap<String, String>>,
    /// The commands running in this process.
    pub running: Arc<std::sync::Mutex<std::collections::HashSet<uuid::Uuid>>>,
}

impl Commands {
    /// One poll (answered at once when `version` is not what ingest has), and what it asks
    /// for; the version to send next time, or `None` when the poll failed.
    pub async fn once(&self, wait: Duration, version: Option<&str>) -> Option<String> {
        let (commands, version) = match self.ingest.commands(wait, version).await {
            Ok(answer) => answer,
            Err(error) => {
                tracing::debug!(%error, "commands not polled (offline?)");
                return None;
            }
        };
        for queued in commands.queued {
            self.start(queued).await;
        }
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
        Some(version)
    }

    /// Starts a remote command once (whatever the number of polls that list it): runs it in
    /// the background if this booth allows it, reports it refused otherwise.
    async fn start(&self, queued: QueuedCommand) {
        if queued.expires_at <= chrono::Utc::now() {
            return;
        }
        match self.store.take_command(queued.id).await {
            Ok(true) => {}
            // Taken before and still listed: its final report never reached ingest, or this
            // process was stopped while it ran.
            Ok(false) => return self.follow_up(queued.id).await,
            Err(error) => {
                tracing::error!(%error, "remote command not recorded, not run");
                return;
            }
        }
        let Some(line) = self.allowed.get(&queued.command).cloned() else {
            tracing::warn!(command = %queued.command, "remote command refused: not in agent.commands");
            let report = CommandReport {
                status: CommandStatus::Failed,
                output: Some(format!(
                    "`{}` is not a command of this booth (agent.commands)",
                    queued.command
                )),
                exit_code: None,
            };
            self.finish(queued.id, report).await;
            return;
        };
        let this = self.clone();
        if let Ok(mut running) = self.running.lock() {
            running.insert(queued.id);
        }
        tokio::spawn(async move {
            tracing::info!(command = %queued.command, "remote command");
            this.report(
                queued.id,
                CommandReport {
                    status: CommandStatus::Sent,
                    output: None,
                    exit_code: None,
                },
            )
            .await;
            let report = run_command_line(&line).await;
            this.finish(queued.id, report).await;
            if let Ok(mut running) = this.running.lock() {
                running.remove(&queued.id);
            }
        });
    }

    /// A command taken before: resends its kept final report, or reports it failed when it
    /// was cut short by a restart; nothing while it still runs here.
    async fn follow_up(&self, id: uuid::Uuid) {
        if self
            .running
            .lock()
            .is_ok_and(|running| running.contains(&id))
        {
            return;
        }
        let kept = self.store.command_report(id).await.ok().flatten();
        let report = kept
            .and_then(|json| serde_json::from_str::<CommandReport>(&json).ok())
            .unwrap_or(CommandReport {
                status: CommandStatus::Failed,
                output: Some("the agent stopped while the command ran".to_owned()),
                exit_code: None,
            });
        self.finish(id, report).await;
    }

    /// Delivers a final report, kept in the buffer until ingest has it: a report lost to a
    /// 4G drop or a restart is sent again while the command is still listed.
    async fn finish(&self, id: uuid::Uuid, report: CommandReport) {
        if let Ok(json) = serde_json::to_string(&report)
            && let Err(error) = self.store.save_command_report(id, json).await
        {
            tracing::error!(%error, "command report not kept");
        }
        if self.report(id, report).await
            && let Err(error) = self.store.forget_command_report(id).await
        {
            tracing::warn!(%error, "delivered command report not forgotten");
        }
    }

    /// Reports to ingest, retried a few times while offline; whether ingest has it.
    async fn report(&self, id: uuid::Uuid, report: CommandReport) -> bool {
        for attempt in 1..=5u32 {
            match self.ingest.report_command(id, &report).await {
                Ok(()) => return true,
                Err(error) => {
                    tracing::info!(%error, attempt, "command report not delivered, retrying");
                    tokio::time::sleep(Duration::from_secs(2 * u64::from(attempt))).await;
                }
            }
        }
        false
    }

    /// The polling loop, until `cancel`: long polls while ingest answers, a pause of
    /// `interval` after a failure (or when ingest answers at once though nothing changed, as
    /// one that does not long-poll would).
    pub async fn run(self, cancel: CancellationToken) {
        let mut version: Option<String> = None;
        loop {
            let started = std::time::Instant::now();
            let answered = tokio::select! {
                () = cancel.cancelled() => return,
                answered = self.once(LONG_POLL, version.as_deref()) => answered,
            };
            let unchanged = answered.is_some() && answered == version;
            let pause = match &answered {
                None => self.interval,
                Some(_) if unchanged && started.elapsed() < Duration::from_secs(1) => self.interval,
                Some(_) => Duration::ZERO,
            };
            version = answered.or(version);
            if !pause.is_zero() {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}

/// The longest a remote command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs a configured command line through the system's shell, with a timeout; what it
/// printed (truncated) and how it ended.
async fn run_command_line(line: &str) -> CommandReport {
    #[cfg(windows)]
    let mut command = {
        let mut command = tokio::process::Command::new("cmd");
        command.arg("/C").arg(line);
        command
    };
    #[cfg(not(windows))]
    let mut command = {
        let mut command = tokio::process::Command::new("sh");
        command.arg("-c").arg(line);
        command
    };
    command
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    match tokio::time::timeout(COMMAND_TIMEOUT, command.output()).await {
        Ok(Ok(output)) => {
            let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&output.stderr));
            // Room for the ellipsis that says it was cut.
            if truncate_output(&mut text, MAX_COMMAND_OUTPUT - '…'.len_utf8()) {
                text.push('…');
            }
            CommandReport {
                status: if output.status.success() {
                    CommandStatus::Succeeded
                } else {
                    CommandStatus::Failed
                },
                output: Some(text),
                exit_code: output.status.code(),
            }
        }
        Ok(Err(error)) => CommandReport {
            status: CommandStatus::Failed,
            output: Some(format!("cannot run the command: {error}")),
            exit_code: None,
        },
        Err(_) => CommandReport {
            status: CommandStatus::Failed,
            output: Some(format!("stopped after {} s", COMMAND_TIMEOUT.as_secs())),
            exit_code: None,
        },
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
