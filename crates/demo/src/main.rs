//! `boom-demo`: a demo fleet for `./dev up`, so that a newcomer sees LE BOOM alive.
//!
//! - a local Notion-compatible server with an "En cours" event per booth;
//! - booths registered through the gateway's API, each with an agent key;
//! - per booth, a real `boom-agent` process fed by a simulator that calls its trigger URL as
//!   dslrBooth would over an evening (sessions, photos, prints, shares, GIFs: paper runs down);
//! - per booth, a Wake-on-LAN listener (UDP) standing for the sleeping PC: a magic packet
//!   "boots" it, and its remote-desktop port starts answering the probes.
//!
//! Everything listens on loopback addresses (127.0.x.y). Ctrl-C stops the agents and exits.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use boom_testkit::gateway::SignedIn;
use boom_testkit::inbox::Inbox;
use boom_testkit::notion::{DATABASE, FakeNotion, event_properties, page, rich, select};
use chrono::Datelike;
use serde_json::json;

/// Tonight's events: client, Notion type, album.
const CLIENTS: [(&str, &str, &str); 6] = [
    ("Mariage Dupont", "Mariage", "dupont-2026"),
    ("Soirée Acme", "Soirée d’entreprise", "acme-noel"),
    ("Anniversaire Léa", "Anniversaire", "lea-30-ans"),
    ("Gala Lumière", "Gala", "gala-lumiere"),
    ("Mariage Martin", "Mariage", "martin-2026"),
    ("Salon Bio", "Salon", "salon-bio"),
];

/// A Notion page of the company's database: the event, its type, day (Paris), album, status
/// and booth.
fn demo_page(
    id: &str,
    (client, kind, album): (&str, &str, &str),
    day: chrono::NaiveDate,
    status: &str,
    hostname: &str,
    edited: &str,
) -> serde_json::Value {
    let mut properties = event_properties(
        client,
        status,
        json!({"id": "p", "type": "select", "select": select(hostname)}),
    );
    properties["Type"]["select"] = select(kind);
    properties["Date"]["date"]["start"] = json!(day.to_string());
    properties["Album"]["rich_text"] = rich(album);
    page(id, edited, properties)
}

/// Asks notion-sync for a sync now (through the gateway), retrying while it starts.
async fn sync_now(gateway: &SignedIn) -> anyhow::Result<()> {
    let mut last = None;
    for _ in 0..60 {
        match gateway
            .send(reqwest::Method::POST, "/api/notion/sync", Some(json!({})))
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("notion-sync never answered")))
}

/// Last weekend's events, already over: Notion had them "En cours", then "Terminé"; their
/// booths' figures arrive now, as from a booth that was offline since. They fill the completed
/// list, the search and the reports. Fixed batch ids: a second run of the demo changes nothing.
async fn past_events(
    gateway: &SignedIn,
    notion: &FakeNotion,
    ingest_url: &str,
    keys: &[(String, String)],
) -> anyhow::Result<()> {
    let today = boom_contracts::paris::day_of(chrono::Utc::now());
    // The last Saturday before today (a week ago on a Saturday).
    let back = (today.weekday().num_days_from_monday() + 2) % 7;
    let saturday = today - chrono::Days::new(u64::from(if back == 0 { 7 } else { back }));
    let past = [
        ("Mariage Bernard", "Mariage", "bernard-2026"),
        (
            "Séminaire Orange",
            "Soirée d’entreprise",
            "orange-seminaire",
        ),
    ];
    let mut planned = Vec::new();
    for (k, ((hostname, key), event)) in keys.iter().zip(past).enumerate() {
        let day = saturday - chrono::Days::new(u64::try_from(k).unwrap_or(0));
        let id = format!("demo-past-{k}");
        notion.with(|s| {
            if !s.pages.iter().any(|p| p["id"] == id.as_str()) {
                s.pages.push(demo_page(
                    &id,
                    event,
                    day,
                    "En cours",
                    hostname,
                    "2026-06-01T08:00:00.000Z",
                ));
            }
        });
        planned.push((id, event, day, hostname.clone(), key.clone()));
    }
    sync_now(gateway).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let http = reqwest::Client::new();
    for (k, (id, event, day, hostname, key)) in planned.into_iter().enumerate() {
        notion.with(|s| {
            for p in &mut s.pages {
                if p["id"] == id.as_str() {
                    *p = demo_page(
                        &id,
                        event,
                        day,
                        "Terminé",
                        &hostname,
                        "2026-06-02T08:00:00.000Z",
                    );
                }
            }
        });
        // 18:00 to 01:00 in Paris: a busy evening, then the last dances.
        let evening = boom_contracts::paris::at(
            day,
            chrono::NaiveTime::from_hms_opt(18, 0, 0).unwrap_or_default(),
        );
        let mut stats = Vec::new();
        for hour in 0..7i64 {
            let at = (evening + chrono::Duration::minutes(hour * 60 + 20)).to_rfc3339();
            let busy = [4, 9, 14, 18, 16, 11, 5][usize::try_from(hour).unwrap_or(0)];
            for (kind, count) in [
                ("session", busy),
                ("photo", busy * 3),
                ("print", busy * 2),
                ("digital", busy),
                ("gif", busy / 3),
            ] {
                stats.push(json!({"type": kind, "count": count, "timestamp": at}));
            }
        }
        let batch = json!({
            "batchId": format!("00000000-0000-4000-8000-{:012}", 900 + k),
            "hostname": hostname,
            "stats": stats,
            "paperLevel": null,
        });
        let posted = http
            .post(format!("{ingest_url}/api/agent/sync"))
            .bearer_auth(&key)
            .json(&batch)
            .send()
            .await?;
        if !posted.status().is_success() {
            println!(
                "[demo] {hostname}: last weekend's figures refused ({})",
                posted.status()
            );
        }
        println!(
            "[demo] {}: {} on {day}, completed, its figures sent",
            hostname, event.0
        );
    }
    sync_now(gateway).await
}

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Waits for the gateway to answer its health check, then signs in.
async fn sign_in(base: &str, username: &str, password: &str) -> anyhow::Result<SignedIn> {
    let http = reqwest::Client::new();
    for _ in 0..120 {
        if http
            .get(format!("{base}/api/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // A refused sign-in (the address's sign-in limit, after many restarts of the demo) is
    // waited out (tried again every 30 s at most: a refused try counts for nothing), and said;
    // the demo never runs on with an empty fleet.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match SignedIn::sign_in(base, username, password).await {
            Ok(session) => return Ok(session),
            Err(e) if attempt < 40 => {
                let text = format!("{e:#}");
                let wait = text
                    .split("try again in ")
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(|n| n.parse::<u64>().ok())
                    .map_or(5, |n| if text.contains(" min") { n * 60 } else { n })
                    .clamp(1, 30);
                println!(
                    "[demo] cannot sign in as {username} yet ({}); trying again in {wait} s",
                    text.lines().next().unwrap_or_default()
                );
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            Err(e) => return Err(e.context(format!("cannot sign in as {username}"))),
        }
    }
}

/// Writes what an agent prints on the demo's output, each line with the agent's prefix (like
/// every program of `./dev up`).
fn prefix_lines(child: &mut tokio::process::Child, prefix: &str) {
    use tokio::io::AsyncBufReadExt;
    fn follow<R: tokio::io::AsyncRead + Unpin + Send + 'static>(from: R, prefix: String) {
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(from).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                println!("{prefix} {line}");
            }
        });
    }
    if let Some(out) = child.stdout.take() {
        follow(out, prefix.to_owned());
    }
    if let Some(err) = child.stderr.take() {
        follow(err, prefix.to_owned());
    }
}

/// Stands for a booth PC: asleep until a magic packet arrives, then its remote-desktop port
/// answers (what photomaton-control probes).
async fn sleeping_pc(wake: tokio::net::UdpSocket, pc: SocketAddr, name: String) {
    let mut buffer = [0u8; 256];
    let mut awake = false;
    loop {
        let Ok((n, _)) = wake.recv_from(&mut buffer).await else {
            return;
        };
        // Control sends a few packets per power-on: the PC boots once.
        if n >= 102 && buffer[..6] == [0xff; 6] && !awake {
            awake = true;
            println!("[demo] {name}: magic packet received, booting…");
            tokio::time::sleep(Duration::from_secs(5)).await;
            match tokio::net::TcpListener::bind(pc).await {
                Ok(listener) => {
                    println!("[demo] {name}: PC up on {pc}");
                    tokio::spawn(async move { while listener.accept().await.is_ok() {} });
                }
                Err(error) => {
                    awake = false;
                    println!("[demo] {name}: cannot answer on {pc}: {error}");
                }
            }
        }
    }
}

/// dslrBooth's triggers for one guest session.
async fn session(http: &reqwest::Client, agent: &str) {
    let mode = ["print", "print", "print", "gif", "boomerang"][rand::random_range(0..5)];
    let mut calls: Vec<Vec<(&str, String)>> = vec![
        vec![
            ("event_type", "session_start".into()),
            ("param1", mode.into()),
        ],
        vec![
            ("event_type", "countdown_start".into()),
            ("param1", "3".into()),
        ],
        vec![("event_type", "capture_start".into())],
        vec![
            ("event_type", "file_download".into()),
            ("param1", "IMG_0001.JPG".into()),
        ],
        vec![("event_type", "processing_start".into())],
    ];
    if mode == "print" {
        let copies = rand::random_range(1..=2).to_string();
        calls.push(vec![
            ("event_type", "printing".into()),
            ("param1", "final.jpg".into()),
            ("param2", copies),
            ("param3", "DS620".into()),
        ]);
    }
    if rand::random_bool(0.6) {
        calls.push(vec![
            ("event_type", "file_upload".into()),
            ("param1", "final.jpg".into()),
            ("param2", "https://share".into()),
            ("param3", "jpg".into()),
        ]);
    }
    calls.push(vec![("event_type", "session_end".into())]);
    for call in calls {
        if let Ok(url) = url::Url::parse_with_params(&format!("{agent}/trigger"), &call) {
            let _ = http.get(url).send().await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let gateway_url = env("BOOM_DEMO_GATEWAY", "http://127.0.0.1:8080");
    let ingest_url = env("BOOM_DEMO_INGEST", "http://127.0.0.1:8081");
    let password = std::env::var("BOOM_DEMO_PASSWORD")
        .context("BOOM_DEMO_PASSWORD (the demo admin's) is not set")?;
    let booths: usize = env("BOOM_DEMO_BOOTHS", "4")
        .parse()
        .context("BOOM_DEMO_BOOTHS")?;
    let agent_bin = env("BOOM_DEMO_AGENT_BIN", "target/debug/boom-agent");
    let data = std::path::PathBuf::from(env("BOOM_DEMO_DATA", "target/demo"));
    let notion_port: u16 = env("BOOM_DEMO_NOTION_PORT", "8090")
        .parse()
        .context("BOOM_DEMO_NOTION_PORT")?;

    let smtp_port: u16 = env("BOOM_DEMO_SMTP_PORT", "2525")
        .parse()
        .context("BOOM_DEMO_SMTP_PORT")?;
    let inbox_port: u16 = env("BOOM_DEMO_INBOX_PORT", "8025")
        .parse()
        .context("BOOM_DEMO_INBOX_PORT")?;
    let inbox = Inbox::start_on(smtp_port, inbox_port).await?;
    println!(
        "[demo] alert messages land in a local mail catcher (SMTP {}) and webhook sink: {}/",
        inbox.smtp_port, inbox.http_base
    );

    let notion = FakeNotion::start_on(notion_port).await?;
    println!(
        "[demo] Notion-compatible server on {} (database {DATABASE})",
        notion.base_url
    );
    let gateway = sign_in(&gateway_url, "demo", &password).await?;
    let existing = gateway
        .send(reqwest::Method::GET, "/api/photomatons?limit=1000", None)
        .await?;
    let mut agents = Vec::new();
    let mut keys = Vec::new();
    let http = reqwest::Client::new();
    for i in 0..booths {
        let hostname = format!("demo-booth-{:02}", i + 1);
        let pc: SocketAddr = format!("127.0.1.{}:13389", 10 + i).parse()?;
        let wake = tokio::net::UdpSocket::bind(format!("127.0.2.{}:9", 10 + i)).await?;
        let router = tokio::net::TcpListener::bind(format!("127.0.3.{}:8443", 10 + i)).await?;
        tokio::spawn(async move { while router.accept().await.is_ok() {} });
        let body = json!({
            "name": format!("Photomaton {}", i + 1), "hostname": hostname,
            "tailscaleIp": pc.ip().to_string(), "routerTailscaleIp": format!("127.0.3.{}", 10 + i),
            "macAddress": format!("02:00:00:00:00:{:02x}", i + 1), "wakeTarget": wake.local_addr()?.to_string(),
        });
        let id = match existing["items"]
            .as_array()
            .and_then(|a| a.iter().find(|b| b["hostname"] == hostname.as_str()))
        {
            Some(booth) => booth["id"].clone(),
            None => gateway
                .send(reqwest::Method::POST, "/api/photomatons", Some(body))
                .await?["id"]
                .clone(),
        };
        let key = gateway.new_agent_key(&id).await?;
        tokio::spawn(sleeping_pc(wake, pc, hostname.clone()));
        // Tonight's event of this booth, dated today in Paris.
        let today = boom_contracts::paris::day_of(chrono::Utc::now());
        notion.with(|s| {
            s.pages.push(demo_page(
                &format!("demo-page-{i}"),
                CLIENTS[i % CLIENTS.len()],
                today,
                "En cours",
                &hostname,
                "2026-06-13T08:00:00.000Z",
            ))
        });
        keys.push((hostname.clone(), key.clone()));
        let listen = format!("127.0.0.1:{}", 18765 + i);
        let mut agent = tokio::process::Command::new(&agent_bin)
            .env("BOOM__AGENT__LISTEN", &listen)
            .env("BOOM__AGENT__INGEST_URL", &ingest_url)
            .env("BOOM__AGENT__KEY", &key)
            .env("BOOM__AGENT__HOSTNAME", &hostname)
            .env("BOOM__AGENT__DATA_DIR", data.join(&hostname))
            .env("BOOM__AGENT__SYNC_INTERVAL_SECS", "5")
            .env("BOOM__AGENT__SPEEDTEST_INTERVAL_SECS", "120")
            .env("BOOM__AGENT__SPEEDTEST_BYTES", "262144")
            .env("BOOM__LOG__FORMAT", "pretty")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {agent_bin}"))?;
        prefix_lines(&mut agent, &format!("[agent {hostname}]"));
        agents.push(agent);
        let trigger_base = format!("http://{listen}");
        let http = http.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            loop {
                session(&http, &trigger_base).await;
                tokio::time::sleep(Duration::from_millis(rand::random_range(2_000..9_000))).await;
            }
        });
        println!(
            "[demo] {hostname}: agent on {listen}, PC {pc}, Wake-on-LAN target 127.0.2.{}:9",
            10 + i
        );
    }
    // The demo user hears of alerts by e-mail and webhook, both landing in the inbox.
    let channels = gateway
        .send(reqwest::Method::GET, "/api/notification-channels", None)
        .await?;
    if channels["items"].as_array().is_none_or(Vec::is_empty) {
        let kinds = json!([
            "paper_critical",
            "booth_down",
            "printer_error",
            "power_on_failed",
            "agent_silent",
            "notion_sync_failing"
        ]);
        for (kind, target) in [
            ("email", "equipe@leboom.demo".to_owned()),
            ("webhook", format!("{}/hook/equipe", inbox.http_base)),
        ] {
            gateway
                .send(
                    reqwest::Method::POST,
                    "/api/notification-channels",
                    Some(json!({"kind": kind, "target": target, "alertKinds": kinds})),
                )
                .await?;
        }
    }
    // The evening's first booth is on its last roll: a dozen prints from critical, so that an
    // alert opens during the demo (declare a new roll on its page to end it).
    let first = gateway
        .send(reqwest::Method::GET, "/api/photomatons?limit=1000", None)
        .await?;
    if let Some(booth) = first["items"]
        .as_array()
        .and_then(|a| a.iter().find(|b| b["hostname"] == "demo-booth-01"))
    {
        let left = booth["criticalThreshold"].as_i64().unwrap_or(0) + 12;
        gateway
            .send(
                reqwest::Method::POST,
                &format!("/api/photomatons/{}/paper-reset", booth["id"]),
                Some(json!({"remainingPrints": left})),
            )
            .await?;
        println!(
            "[demo] demo-booth-01 is on its last roll ({left} prints): a paper alert opens soon"
        );
    }
    // The first sync found no booths (they were just created): ask for one now, with last
    // weekend's events on the first two booths.
    if let Err(e) = past_events(&gateway, &notion, &ingest_url, &keys[..keys.len().min(2)]).await {
        println!("[demo] last weekend's events were not made: {e:#}");
    }
    println!("[demo] {booths} booths running; the evening goes on (Ctrl-C stops)");
    tokio::signal::ctrl_c().await?;
    for mut agent in agents {
        let _ = agent.kill().await;
    }
    Ok(())
}
