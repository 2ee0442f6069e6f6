//! The original design's programs, run beside ours: Node.js scripts in
//! `crates/bench/socketio` (installed by `scripts/bench-tools.sh`), spoken to by lines on
//! their standard input and output.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// A running Node.js script.
pub(crate) struct Node {
    child: Child,
    pub(crate) pid: u32,
    out: Lines<BufReader<ChildStdout>>,
    input: Option<ChildStdin>,
}

impl Node {
    /// Runs `node SCRIPT ARGS…` in the peer's directory with `env` added.
    pub(crate) fn spawn(
        script: &str,
        args: &[String],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("socketio");
        if !dir.join("node_modules/socket.io").exists() || !dir.join("node_modules/pg").exists() {
            bail!(
                "the Node.js peers are not installed: run through `just bench` (scripts/bench-tools.sh)"
            );
        }
        let mut child = tokio::process::Command::new("node")
            .arg(script)
            .args(args)
            .envs(env.iter().copied())
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("node not found: run through `just bench`")?;
        let pid = child.id().context("node pid")?;
        let out = BufReader::new(child.stdout.take().context("node stdout")?).lines();
        let input = child.stdin.take();
        Ok(Self {
            child,
            pid,
            out,
            input,
        })
    }

    /// The next line it prints, within `within`.
    pub(crate) async fn line(&mut self, within: Duration) -> anyhow::Result<String> {
        match tokio::time::timeout(within, self.out.next_line()).await {
            Ok(Ok(Some(line))) => Ok(line),
            Ok(Ok(None)) => bail!("node ended"),
            Ok(Err(error)) => Err(error.into()),
            Err(_) => bail!("node said nothing in {within:?}"),
        }
    }

    /// Waits for the line `expected`.
    pub(crate) async fn expect(&mut self, expected: &str, within: Duration) -> anyhow::Result<()> {
        let line = self.line(within).await?;
        if line != expected {
            bail!("node said {line:?}, not {expected:?}");
        }
        Ok(())
    }

    /// Writes one line to its standard input.
    pub(crate) async fn say(&mut self, line: &str) -> anyhow::Result<()> {
        let input = self.input.as_mut().context("node stdin closed")?;
        input.write_all(format!("{line}\n").as_bytes()).await?;
        Ok(())
    }

    /// Closes its standard input (the scripts exit then) and waits for it.
    pub(crate) async fn close(mut self) {
        drop(self.input.take());
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// `n` socket.io-client connections to `url` (`clients.js`), timing the frames `event` by their
/// `field` (µs since the epoch). Returns once every one is connected.
pub(crate) async fn socketio_clients(
    url: &str,
    n: usize,
    seconds: u64,
    event: &str,
    field: &str,
) -> anyhow::Result<Node> {
    let args = [
        url.to_owned(),
        n.to_string(),
        seconds.to_string(),
        event.to_owned(),
        field.to_owned(),
    ];
    let mut clients = Node::spawn("clients.js", &args, &[])?;
    clients
        .expect("ready", Duration::from_secs(120))
        .await
        .context("the Socket.IO clients did not connect")?;
    Ok(clients)
}

/// What the clients saw: `{"received": n, "p50": ms, "p99": ms}`, printed once they are done.
pub(crate) async fn summary(mut clients: Node, seconds: u64) -> anyhow::Result<Value> {
    let line = clients.line(Duration::from_secs(seconds + 30)).await?;
    clients.close().await;
    serde_json::from_str(&line).with_context(|| format!("the Socket.IO clients answered {line:?}"))
}

/// The seed's server (`seed.js`) on a free port, its tables in `schema` of the test's database,
/// reaching them through `client` (`pg` or `prisma`, its `SEED_CLIENT`).
pub(crate) async fn seed_server(
    ctx: &boom_testkit::TestContext,
    schema: &str,
    client: &str,
) -> anyhow::Result<(Node, u16)> {
    let port = crate::harness::free_port()?;
    let url = ctx.database_url();
    let mut server = Node::spawn(
        "seed.js",
        &[port.to_string()],
        &[
            ("DATABASE_URL", url.as_str()),
            ("SEED_SCHEMA", schema),
            ("SEED_CLIENT", client),
        ],
    )?;
    server
        .expect("listening", Duration::from_secs(30))
        .await
        .context("the seed's server did not start")?;
    Ok((server, port))
}
