//! The booth's printer as its agent reports it: a CUPS spooler stands in for the booth's (a
//! `lpstat` that prints what the test says, first on the agent's PATH). A change of state goes
//! out at once, alone if nothing else is to be sent, and reaches the booth's view.

use std::time::Duration;

use boom_testkit::TestContext;
use serde_json::Value;

use crate::helpers::{RunningBinary, eventually};
use crate::pipeline::{Pipeline, totals, trigger};

#[tokio::test]
async fn the_printer_state_reaches_the_dashboard_even_from_an_idle_booth() -> anyhow::Result<()> {
    let p = Pipeline::start(TestContext::new().await?).await?;
    let bin = std::env::temp_dir().join(format!("boom-lpstat-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&bin)?;
    let said = bin.join("said");
    std::fs::write(
        &said,
        "printer DS620 is idle.  enabled since Sat 06 Jun 2026\n",
    )?;
    let lpstat = bin.join("lpstat");
    std::fs::write(
        &lpstat,
        format!(
            "#!/bin/sh\n[ \"$1\" = -p ] && [ \"$2\" = DS620 ] && cat '{}'\n",
            said.display()
        ),
    )?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&lpstat, std::fs::Permissions::from_mode(0o755))?;
    }
    let mut env = p.agent_env();
    env.extend([
        (
            "PATH".to_owned(),
            format!("{}:/usr/bin:/bin", bin.display()),
        ),
        ("BOOM__AGENT__PRINTER".to_owned(), "DS620".to_owned()),
    ]);
    let agent = RunningBinary::start("boom-agent", &env)?;
    let printer = || async {
        Ok::<_, anyhow::Error>(
            p.staff
                .viewer
                .get(&format!("/api/photomatons/{}", p.booth))
                .await?
                .body["printer"]
                .clone(),
        )
    };
    // Idle booth, printer ready: reported with no media to send.
    eventually(Duration::from_secs(15), || async {
        Ok(printer().await?["state"] == "ready")
    })
    .await?;
    // Out of paper: on the dashboard within moments, with what CUPS says.
    std::fs::write(
        &said,
        "printer DS620 disabled since Sat 06 Jun 2026 -\n\tmedia-empty-error\n",
    )?;
    eventually(Duration::from_secs(15), || async {
        Ok(printer().await?["state"] == "paper_out")
    })
    .await?;
    let seen: Value = printer().await?;
    assert_eq!(
        (seen["name"].clone(), seen["detail"].clone()),
        ("DS620".into(), "media-empty-error".into())
    );
    // Batches of media carry it too, and still count once.
    assert_eq!(
        trigger(
            &format!("http://127.0.0.1:{}", agent.port),
            &[("event_type", "printing"), ("param2", "2")]
        )
        .await?,
        200
    );
    p.expect_totals(totals(0, 0, 2, 0, 0), Duration::from_secs(15))
        .await?;
    assert_eq!(printer().await?["state"], "paper_out");
    assert!(agent.terminate()?.success());
    std::fs::remove_dir_all(bin)?;
    p.staff.app.stop().await
}
