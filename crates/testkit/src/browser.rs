//! Headless Chromium driven over WebDriver (chromedriver), as the dashboard tests and the
//! dashboard benchmark use it: Debian's `chromium` and `chromium-driver`, started with the
//! options that keep a headless run quiet and reproducible, in a profile of its own (a cold
//! cache), and stopped with everything it started.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub use fantoccini::Locator;
use fantoccini::{Client, ClientBuilder};
use serde_json::json;

/// chromedriver and the browser session it drives; both end when this is dropped.
#[derive(Debug)]
pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
}

impl Browser {
    /// A browser with a window of 1440 × 900.
    pub async fn start() -> anyhow::Result<Self> {
        boom_server::install_crypto_provider();
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            // Its own process group, so that the browsers it starts die with it.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!(
                    "chromedriver not found ({e}): `just test` installs chromium-driver"
                )
            })?;
        let profile = std::env::temp_dir().join(format!("boom-chromium-{}", uuid::Uuid::new_v4()));
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({"binary": "/usr/bin/chromium", "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
                "--window-size=1440,900", format!("--user-data-dir={}", profile.display()),
            ]}),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..50 {
            match ClientBuilder::rustls()?
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Ok(Self {
                        client,
                        driver,
                        profile,
                    });
                }
                Err(e) => last = Some(e.to_string()),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("cannot start a browser session: {last:?}")
    }

    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        Ok(self.client.find(Locator::Css(css)).await?.text().await?)
    }

    pub async fn wait_for(&self, css: &str) -> anyhow::Result<fantoccini::elements::Element> {
        Ok(self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await?)
    }

    /// Signs in through the dashboard's form and waits for the fleet.
    pub async fn sign_in(&self, base: &str, username: &str, password: &str) -> anyhow::Result<()> {
        self.client.goto(&format!("{base}/#/login")).await?;
        self.wait_for("form.login input[name=username]")
            .await?
            .send_keys(username)
            .await?;
        self.client
            .find(Locator::Css("form.login input[name=password]"))
            .await?
            .send_keys(password)
            .await?;
        self.client
            .find(Locator::Css("form.login button[type=submit]"))
            .await?
            .click()
            .await?;
        self.wait_for("#fleet").await?;
        Ok(())
    }

    pub async fn screenshot(&self, name: &str) -> anyhow::Result<()> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../screenshots");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join(format!("{name}.png")),
            self.client.screenshot().await?,
        )?;
        Ok(())
    }

    pub async fn attr(&self, css: &str, name: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .client
            .find(Locator::Css(css))
            .await?
            .attr(name)
            .await?)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole process group: chromedriver and the browsers it started. Spelled with
        // `-s KILL --`: procps-ng 4.0.2's `kill -KILL -PGID` reads the digits of `-PGID` as
        // options, and with a group id starting with 1 it sent SIGKILL to pid -1, that is to
        // every process of the machine (the test run, the databases, CI itself).
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
