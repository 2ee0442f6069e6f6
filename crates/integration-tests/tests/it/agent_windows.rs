//! The booth agent as the booth PCs run it: `boom-agent.exe`, built for Windows by
//! `scripts/agent-windows.sh` (which `just test` runs first), run under Wine against the real
//! stats-ingest and gateway. dslrBooth's triggers go in over HTTP; the agent is killed with
//! SIGKILL while it sends, started again, and every answered trigger is counted once. Then it
//! is installed as a Windows service (Wine's service manager), runs, logs to its daily files,
//! and is removed.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use boom_testkit::TestContext;
use serde_json::{Value, json};

use crate::helpers::{RunningBinary, run_command};
use crate::pipeline::{Pipeline, totals, trigger};

/// The Windows build and the Wine prefix it runs in, next to this test's own binaries.
struct WindowsAgent {
    exe: PathBuf,
    prefix: PathBuf,
    wine: PathBuf,
}

impl WindowsAgent {
    fn find() -> anyhow::Result<Self> {
        let target = std::env::current_exe()?
            .ancestors()
            .nth(3)
            .context("no target directory")?
            .to_path_buf();
        let exe = target.join("x86_64-pc-windows-gnu/release/boom-agent.exe");
        let prefix = target.join("wine-prefix");
        if !exe.exists() || !prefix.exists() {
            bail!(
                "{} or its Wine prefix is missing: run the tests with `just test`, or build it with `just agent-windows`",
                exe.display()
            );
        }
        let wine = ["/usr/lib/wine/wine64", "/usr/bin/wine64", "/usr/bin/wine"]
            .into_iter()
            .map(PathBuf::from)
            .find(|path| path.exists())
            .context("Wine is not installed: `just agent-windows` installs it")?;
        Ok(Self { exe, prefix, wine })
    }

    /// `boom-agent.exe ARGS` under Wine, with only the given `BOOM__…` variables (and what
    /// Wine itself needs).
    fn command(&self, args: &[&str], env: &[(String, String)]) -> Command {
        let mut command = self.wine(&[]);
        command.arg(&self.exe).args(args).envs(env.iter().cloned());
        command
    }

    /// A Windows program of the prefix (`sc`, say) under Wine.
    fn wine(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.wine);
        command
            .args(args)
            .env_clear()
            .env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            // The ProcessPrng stand-in in the prefix, not Wine's own DLL, which lacks it.
            .env("WINEDLLOVERRIDES", "bcryptprimitives=n")
            .env(
                "HOME",
                std::env::var("HOME").unwrap_or_else(|_| "/root".into()),
            )
            .env("PATH", "/usr/bin:/bin");
        command
    }
}

#[tokio::test]
async fn the_windows_agent_under_wine_counts_every_trigger_once_across_kill_9_and_runs_as_a_service()
-> anyhow::Result<()> {
    let windows = WindowsAgent::find()?;
    let p = Pipeline::start(TestContext::new().await?).await?;
    let mut env = p.agent_env();
    env.push(("BOOM__AGENT__BATCH_SIZE".to_owned(), "5".to_owned()));
    let mut answered = 0;
    let mut sessions = 0;
    for round in 0..2 {
        let mut agent = RunningBinary::spawn(windows.command(&["run"], &env), "boom-agent.exe")?;
        let address = format!("http://127.0.0.1:{}", agent.port);
        for i in 0..20 {
            if trigger(&address, &[("event_type", "printing"), ("param2", "1")]).await? == 200 {
                answered += 1;
            }
            if i % 5 == 0
                && trigger(
                    &address,
                    &[("event_type", "session_start"), ("param1", "print")],
                )
                .await?
                    == 200
            {
                sessions += 1;
            }
        }
        // SIGKILL while the sender is busy: what was answered is in SQLite already.
        tokio::time::sleep(Duration::from_millis(300 * (round + 1))).await;
        agent.child.kill()?;
        agent.child.wait()?;
    }
    let mut agent = RunningBinary::spawn(windows.command(&["run"], &env), "boom-agent.exe")?;
    p.expect_totals(totals(sessions, 0, answered, 0, 0), Duration::from_secs(60))
        .await?;
    // Wine ends a program on SIGKILL only (a Windows service is stopped by its manager).
    agent.child.kill()?;
    agent.child.wait()?;

    let (code, stdout, stderr) = run_command(windows.command(&["status", "--json"], &env), "")?;
    assert_eq!(code, 0, "{stderr}");
    let status: Value = serde_json::from_str(stdout.trim())?;
    assert_eq!(
        (status["backlog"].clone(), status["paperRemaining"].clone()),
        (json!(0), json!(700 - answered))
    );

    // As a Windows service: `install` registers and starts it (its logs go to daily files in
    // its data directory), the service manager reports it running, `uninstall` stops and
    // removes it. In the same test: a service left installed would start with any program of
    // the prefix.
    let _leftover = run_command(windows.command(&["uninstall"], &[]), "");
    let logs = windows.prefix.join("drive_c/ProgramData/LeBoom/agent/logs");
    let _fresh = std::fs::remove_dir_all(&logs);
    let (code, stdout, stderr) = run_command(windows.command(&["install"], &[]), "")?;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("installed and started"), "{stdout}");
    let query = || -> anyhow::Result<String> {
        Ok(run_command(windows.wine(&["sc", "query", "BoomAgent"]), "")?.1)
    };
    let mut running = false;
    for _ in 0..40 {
        if query()?.contains("RUNNING") {
            running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(running, "{}", query()?);
    let mut logged = String::new();
    for _ in 0..40 {
        logged = std::fs::read_dir(&logs)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter(|f| f.file_name().to_string_lossy().starts_with("boom-agent."))
            .filter_map(|f| std::fs::read_to_string(f.path()).ok())
            .collect();
        if logged.contains("\"level\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        logged.contains("\"level\""),
        "no log file in {}",
        logs.display()
    );
    let (code, stdout, stderr) = run_command(windows.command(&["uninstall"], &[]), "")?;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(!query()?.contains("BoomAgent"), "still registered");
    p.staff.app.stop().await
}
