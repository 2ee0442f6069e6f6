//! `spawn_app()` for each service and helpers to run the real binaries.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use boom_config::Settings;
use boom_server::{Application, Stopper};
use serde_json::Value;
use tokio::task::JoinHandle;

/// A service running in the test's process on a free port.
#[derive(Debug)]
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    stopper: Stopper,
    handle: JoinHandle<std::io::Result<()>>,
}

impl TestApp {
    pub async fn start(application: Application) -> Self {
        let address = format!("http://127.0.0.1:{}", application.port());
        let stopper = application.stopper();
        let handle = tokio::spawn(application.run_until_stopped());
        Self {
            address,
            client: reqwest::Client::new(),
            stopper,
            handle,
        }
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        let response = self
            .client
            .get(format!("{}{path}", self.address))
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    }

    pub async fn get_json(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        let (status, body) = self.get(path).await?;
        Ok((
            status,
            serde_json::from_str(&body).with_context(|| format!("not JSON: {body}"))?,
        ))
    }

    /// Stops the service as SIGTERM would and waits for it.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stopper.stop();
        tokio::time::timeout(Duration::from_secs(15), self.handle)
            .await
            .context("service did not stop")???;
        Ok(())
    }
}

pub async fn spawn_gateway(settings: Settings) -> anyhow::Result<TestApp> {
    Ok(TestApp::start(boom_gateway::build(settings).await?).await)
}

pub async fn spawn_stats_ingest(settings: Settings) -> anyhow::Result<TestApp> {
    Ok(TestApp::start(boom_stats_ingest::build(settings).await?).await)
}

pub async fn spawn_notion_sync(settings: Settings) -> anyhow::Result<TestApp> {
    Ok(TestApp::start(boom_notion_sync::build(settings).await?).await)
}

pub async fn spawn_photomaton_control(settings: Settings) -> anyhow::Result<TestApp> {
    Ok(TestApp::start(boom_photomaton_control::build(settings).await?).await)
}

pub async fn spawn_notifier(settings: Settings) -> anyhow::Result<TestApp> {
    if std::env::var_os("BOOM_TEST_LOG").is_some() {
        boom_telemetry::init(boom_config::LogFormat::Pretty);
    }
    Ok(TestApp::start(boom_notifier::build(settings).await?).await)
}

pub async fn spawn_agent(settings: Settings) -> anyhow::Result<TestApp> {
    Ok(TestApp::start(boom_agent::build(settings).await?).await)
}

/// Polls `check` until it holds or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let last = check().await;
        if matches!(last, Ok(true)) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("condition not met within {within:?} (last: {last:?})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The state of the durable consumer `durable` on `bus`'s stats stream (the gateway's
/// recorder: `StreamKind::Stats.gateway_consumer()`).
pub async fn stats_consumer(
    bus: &boom_bus::Bus,
    durable: &str,
) -> anyhow::Result<async_nats::jetstream::consumer::Info> {
    Ok(bus
        .ensure_stream(boom_contracts::StreamKind::Stats)
        .await?
        .get_consumer::<async_nats::jetstream::consumer::pull::Config>(durable)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .info()
        .await?
        .clone())
}

/// The path of a workspace binary, built by `cargo nextest run --workspace` beside this test.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .context("no target directory")?;
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() {
        bail!(
            "{} is missing: run the tests with `just test` (it builds every binary)",
            path.display()
        );
    }
    Ok(path)
}

/// A binary started with only the given `BOOM__…` variables.
#[derive(Debug)]
pub struct RunningBinary {
    pub child: Child,
    pub port: u16,
}

impl RunningBinary {
    /// Starts `name` and waits for its "listening" log line, which names the port.
    pub fn start(name: &str, env: &[(String, String)]) -> anyhow::Result<Self> {
        let mut command = Command::new(binary(name)?);
        command.env_clear().envs(env.iter().cloned());
        Self::spawn(command, name)
    }

    /// Starts `command` (its environment already set) and waits for its "listening" log
    /// line, which names the port.
    pub fn spawn(mut command: Command, name: &str) -> anyhow::Result<Self> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child.stderr.take().context("no stderr")?;
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(log) = serde_json::from_str::<Value>(&line)
                    && log["message"] == "listening"
                {
                    let _ = sender.send(log["port"].as_u64());
                }
            }
        });
        let port = receiver
            .recv_timeout(Duration::from_secs(60))
            .ok()
            .flatten()
            .and_then(|p| u16::try_from(p).ok());
        match port {
            Some(port) => Ok(Self { child, port }),
            None => {
                let _ = child.kill();
                bail!("{name} did not log its port")
            }
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> anyhow::Result<std::process::ExitStatus> {
        self.terminate_in_place()
    }

    fn terminate_in_place(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("kill failed");
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                bail!("no exit within 15 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for RunningBinary {
    /// A test that failed half-way must not leave its service running.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs a binary to completion with the given environment and standard input.
pub fn run_binary(
    name: &str,
    args: &[&str],
    env: &[(String, String)],
    stdin: &str,
) -> anyhow::Result<(i32, String, String)> {
    let mut command = Command::new(binary(name)?);
    command.args(args).env_clear().envs(env.iter().cloned());
    run_command(command, stdin)
}

/// Runs `command` (arguments and environment already set) with `stdin`; its exit code,
/// standard output and standard error.
pub fn run_command(mut command: Command, stdin: &str) -> anyhow::Result<(i32, String, String)> {
    use std::io::Write;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut input) = child.stdin.take() {
        // A program that refuses its arguments exits before reading: that is not our failure.
        match input.write_all(stdin.as_bytes()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other?,
        }
    }
    let output = child.wait_with_output()?;
    Ok((
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}
