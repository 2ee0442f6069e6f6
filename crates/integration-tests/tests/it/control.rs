//! photomaton-control: Wake-on-LAN to a real UDP listener, the router relay, probes of real
//! loopback ports, the probing lease, and power-on through the gateway.

use std::time::{Duration, Instant};

use boom_config::{SecretString, WakeMode};
use boom_contracts::PhotomatonId;
use boom_contracts::messages::RegistryEntry;
use boom_testkit::TestContext;
use serde_json::{Value, json};

use crate::gateway_client::Staff;
use crate::gateway_live::{connect, frame_where};
use crate::helpers::{RunningBinary, eventually, spawn_photomaton_control};

const MAC: [u8; 6] = [0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e];

fn expected_packet(secureon: Option<[u8; 6]>) -> Vec<u8> {
    let mut packet = vec![0xff; 6];
    for _ in 0..16 {
        packet.extend_from_slice(&MAC);
    }
    if let Some(password) = secureon {
        packet.extend_from_slice(&password);
    }
    packet
}

fn fast(ctx: &mut TestContext) {
    let c = &mut ctx.settings.control;
    c.probe_interval_secs = 1;
    c.probe_timeout_ms = 300;
    c.icmp = false;
    c.lease_ttl_secs = 3;
    c.wake_burst_interval_ms = 10;
    c.wake_timeout_secs = 10;
}

async fn booth_with(staff: &Staff, body: Value) -> anyhow::Result<i64> {
    let reply = staff.admin.post("/api/photomatons", body).await?;
    anyhow::ensure!(reply.status == 201, "{reply:?}");
    Ok(reply.body["id"].as_i64().unwrap_or_default())
}

/// Presses "Power on" until photomaton-control has the booth in its registry view.
async fn power_on(staff: &Staff, id: i64) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = staff
            .installer
            .post(
                "/api/webhooks/action",
                json!({"photomatonId": id, "action": "power_on"}),
            )
            .await?;
        let known = reply.status == 200
            && !reply.body["message"]
                .as_str()
                .unwrap_or("")
                .contains("not in the registry");
        if known || Instant::now() > deadline {
            return Ok(reply.body);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn power_on_sends_the_exact_magic_packet_and_follows_the_pc_until_it_answers()
-> anyhow::Result<()> {
    let mut ctx = TestContext::new().await?;
    fast(&mut ctx);
    ctx.settings.control.secureon_password = Some(SecretString::from("01:02:03:04:05:06"));
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let pc = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    ctx.settings.control.pc_tcp_port = pc.local_addr()?.port();
    let staff = Staff::start(&ctx).await?;
    let control = spawn_photomaton_control(ctx.settings.clone()).await?;
    let id = booth_with(
        &staff,
        json!({"name": "Booth 1", "hostname": "boom-01", "macAddress": "00:1A:2B:3C:4D:5E",
        "tailscaleIp": "127.0.0.1", "wakeTarget": udp.local_addr()?.to_string()}),
    )
    .await?;
    let mut socket = connect(&staff.viewer).await?;

    let reply = power_on(&staff, id).await?;
    assert_eq!(reply["ok"], true, "{reply}");
    assert!(
        reply["message"]
            .as_str()
            .is_some_and(|m| m.contains("3 magic packet(s) for 00:1a:2b:3c:4d:5e")),
        "{reply}"
    );
    let mut buffer = [0u8; 256];
    for _ in 0..3 {
        let (n, _) =
            tokio::time::timeout(Duration::from_secs(2), udp.recv_from(&mut buffer)).await??;
        assert_eq!(&buffer[..n], &expected_packet(Some([1, 2, 3, 4, 5, 6]))[..]);
    }
    let pending = frame_where(&mut socket, Duration::from_secs(5), |f| {
        f["event"] == "photomaton:action"
    })
    .await?;
    assert_eq!(
        (
            pending["data"]["phase"].clone(),
            pending["data"]["photomatonId"].clone()
        ),
        (json!("pending"), json!(id))
    );
    let done = frame_where(&mut socket, Duration::from_secs(10), |f| {
        f["event"] == "photomaton:action" && f["data"]["phase"] != "pending"
    })
    .await?;
    assert_eq!(done["data"]["phase"], "succeeded", "{done}");
    let log = staff
        .admin
        .get("/api/audit-logs?action=photomaton.power_on")
        .await?;
    assert_eq!(
        (
            log.body["items"][0]["username"].clone(),
            log.body["items"][0]["details"]["outcome"].clone()
        ),
        (json!("installer"), json!("pending"))
    );
    eventually(Duration::from_secs(5), || async {
        Ok(staff
            .admin
            .get("/api/audit-logs?action=photomaton.power_on.result")
            .await?
            .body["items"][0]["details"]["outcome"]
            == "succeeded")
    })
    .await?;
    control.stop().await?;
    staff.app.stop().await
}

#[tokio::test]
async fn power_on_refuses_a_booth_without_a_mac_with_a_clear_reason() -> anyhow::Result<()> {
    let mut ctx = TestContext::new().await?;
    fast(&mut ctx);
    let staff = Staff::start(&ctx).await?;
    let control = spawn_photomaton_control(ctx.settings.clone()).await?;
    let id = booth_with(
        &staff,
        json!({"name": "Booth 2", "hostname": "boom-02", "routerTailscaleIp": "127.0.0.1"}),
    )
    .await?;
    let reply = power_on(&staff, id).await?;
    assert_eq!(reply["ok"], false, "{reply}");
    assert!(
        reply["message"]
            .as_str()
            .is_some_and(|m| m.contains("no valid MAC address")),
        "{reply}"
    );
    control.stop().await?;
    staff.app.stop().await
}

#[tokio::test]
async fn the_router_relay_command_is_run_with_the_booths_mac() -> anyhow::Result<()> {
    let mut ctx = TestContext::new().await?;
    fast(&mut ctx);
    let dir = std::env::temp_dir().join(format!("boom-relay-{}", ctx.id));
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("relay.sh");
    let out = dir.join("called-with");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$@\" > {}\n", out.display()),
    )?;
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()?;
    ctx.settings.control.wake_mode = WakeMode::Relay;
    ctx.settings.control.wake_relay_command = Some(format!(
        "{} --router {{router}} --mac {{mac}}",
        script.display()
    ));
    let staff = Staff::start(&ctx).await?;
    let control = spawn_photomaton_control(ctx.settings.clone()).await?;
    let id = booth_with(&staff, json!({"name": "Booth 3", "hostname": "boom-03", "macAddress": "00-1a-2b-3c-4d-5e", "routerTailscaleIp": "100.64.0.9"})).await?;
    let reply = power_on(&staff, id).await?;
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(
        std::fs::read_to_string(&out)?.trim(),
        "--router 100.64.0.9 --mac 00:1a:2b:3c:4d:5e"
    );
    control.stop().await?;
    staff.app.stop().await?;
    std::fs::remove_dir_all(dir)?;
    Ok(())
}

#[tokio::test]
async fn probes_show_who_answers_and_push_each_change() -> anyhow::Result<()> {
    let mut ctx = TestContext::new().await?;
    fast(&mut ctx);
    let pc = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    ctx.settings.control.pc_tcp_port = pc.local_addr()?.port();
    ctx.settings.control.router_tcp_port = closed.local_addr()?.port();
    drop(closed);
    let staff = Staff::start(&ctx).await?;
    let id = booth_with(&staff, json!({"name": "Booth 4", "hostname": "boom-04", "tailscaleIp": "127.0.0.1", "routerTailscaleIp": "127.0.0.1"})).await?;
    let mut socket = connect(&staff.viewer).await?;
    let control = spawn_photomaton_control(ctx.settings.clone()).await?;
    let up = frame_where(&mut socket, Duration::from_secs(15), |f| {
        f["data"]["id"] == id && f["data"]["pcConnected"] == true
    })
    .await?;
    assert_eq!(
        up["data"]["routerConnected"], false,
        "a closed port is not connected"
    );
    assert!(up["data"]["lastSeen"].is_string());
    drop(pc);
    let down = frame_where(&mut socket, Duration::from_secs(10), |f| {
        f["data"]["id"] == id && f["data"]["pcConnected"] == false
    })
    .await?;
    assert_eq!(down["event"], "photomaton:updated");
    let booth = staff
        .viewer
        .get(&format!("/api/photomatons/{id}"))
        .await?
        .body;
    assert_eq!(
        (
            booth["pcConnected"].clone(),
            booth["routerConnected"].clone()
        ),
        (json!(false), json!(false))
    );
    control.stop().await?;
    staff.app.stop().await
}

async fn holds_lease(port: u16) -> bool {
    let Ok(response) = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await else {
        return false;
    };
    response
        .text()
        .await
        .is_ok_and(|m| m.lines().any(|l| l == "boom_probe_lease_held 1"))
}

#[tokio::test]
async fn when_the_probing_instance_dies_another_takes_over() -> anyhow::Result<()> {
    let mut ctx = TestContext::new().await?;
    fast(&mut ctx);
    let mut env = ctx.environment();
    env.push(("BOOM__CONTROL__LEASE_TTL_SECS".into(), "3".into()));
    env.push(("BOOM__CONTROL__ICMP".into(), "false".into()));
    let first = RunningBinary::start("boom-photomaton-control", &env)?;
    let second = RunningBinary::start("boom-photomaton-control", &env)?;
    let (a, b) = (first.port, second.port);
    eventually(Duration::from_secs(10), || async {
        Ok(holds_lease(a).await != holds_lease(b).await)
    })
    .await?;
    let (mut holder, standby) = if holds_lease(a).await {
        (first, second)
    } else {
        (second, first)
    };
    // kill -9: no clean release, the lease must expire.
    holder.child.kill()?;
    holder.child.wait()?;
    let started = Instant::now();
    eventually(Duration::from_secs(10), || async {
        Ok(holds_lease(standby.port).await)
    })
    .await?;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took over in {:?}",
        started.elapsed()
    );
    assert!(standby.terminate()?.success());
    Ok(())
}

#[tokio::test]
async fn a_thousand_booths_half_silent_are_probed_in_about_one_timeout() -> anyhow::Result<()> {
    // A listener that never accepts, with a one-slot queue: once full, connections hang.
    let silent = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    silent.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
    silent.listen(0)?;
    let silent_port = silent
        .local_addr()?
        .as_socket()
        .map(|a| a.port())
        .unwrap_or(0);
    let answering = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let answering_port = answering.local_addr()?.port();
    tokio::spawn(async move { while answering.accept().await.is_ok() {} });
    // Fill the silent queue.
    let _fillers: Vec<_> = (0..4)
        .filter_map(|_| {
            std::net::TcpStream::connect_timeout(
                &([127, 0, 0, 1], silent_port).into(),
                Duration::from_millis(200),
            )
            .ok()
        })
        .collect();

    let booth = |i: i32| -> anyhow::Result<RegistryEntry> {
        Ok(RegistryEntry {
            photomaton_id: PhotomatonId(i),
            name: format!("Booth {i}"),
            hostname: format!("boom-{i}").parse()?,
            tailscale_ip: Some("127.0.0.1".into()),
            router_tailscale_ip: None,
            mac_address: None,
            wake_target: None,
            agent_key_sha256: None,
        })
    };
    let timeout = Duration::from_millis(500);
    let silent_settings = boom_config::ControlSettings {
        probe_timeout_ms: 500,
        pc_tcp_port: silent_port,
        icmp: false,
        ..Default::default()
    };
    let answering_settings = boom_config::ControlSettings {
        pc_tcp_port: answering_port,
        ..silent_settings.clone()
    };
    let (quiet, loud): (Vec<_>, Vec<_>) = (0..1000)
        .map(booth)
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .partition(|b| b.photomaton_id.0 % 2 == 0);
    let started = Instant::now();
    let (quiet_seen, loud_seen) = tokio::join!(
        boom_photomaton_control::prober::observe(
            &quiet,
            &silent_settings,
            boom_photomaton_control::probe::IcmpAccess::None
        ),
        boom_photomaton_control::prober::observe(
            &loud,
            &answering_settings,
            boom_photomaton_control::probe::IcmpAccess::None
        ),
    );
    let elapsed = started.elapsed();
    assert_eq!(loud_seen.iter().filter(|o| o.pc.is_some()).count(), 500);
    assert!(
        quiet_seen.iter().filter(|o| o.pc.is_none()).count() >= 490,
        "the silent half timed out"
    );
    // One after the other this would take 500 timeouts; concurrently about one.
    assert!(elapsed < timeout * 10, "a round took {elapsed:?}");
    Ok(())
}

/// Ten power-ons waiting on a slow control hold no database connection: with a pool of four,
/// the dashboard's other pages still answer meanwhile; then control answers them all.
#[tokio::test]
async fn ten_slow_power_ons_do_not_starve_the_dashboard() -> anyhow::Result<()> {
    use futures::StreamExt;

    let mut ctx = TestContext::new().await?;
    ctx.settings.database.max_connections = 4;
    ctx.settings.database.acquire_timeout_ms = 1_000;
    let staff = Staff::start(&ctx).await?;
    let booth = staff.booth("boom-01").await?;
    // A control that takes the requests and answers only when the test says so.
    let nats = async_nats::connect(&ctx.settings.nats.url).await?;
    let namespace = boom_contracts::Namespace::new(&ctx.settings.nats.prefix)?;
    let mut requests = nats
        .subscribe(namespace.subject("rpc.control.action"))
        .await?;
    nats.flush().await?;
    let pending: Vec<_> = (0..10)
        .map(|_| {
            let installer = staff.installer.clone();
            tokio::spawn(async move {
                installer
                    .post(
                        "/api/webhooks/action",
                        json!({"photomatonId": booth, "action": "power_on"}),
                    )
                    .await
            })
        })
        .collect();
    let mut held = Vec::new();
    for _ in 0..10 {
        held.extend(tokio::time::timeout(Duration::from_secs(10), requests.next()).await?);
    }
    // All ten are waiting on control now; pages that need the database still answer.
    for path in [
        "/api/photomatons".to_owned(),
        "/api/events".to_owned(),
        format!("/api/photomatons/{booth}/speedtests"),
    ] {
        let reply = staff.viewer.get(&path).await?;
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
    }
    assert!(
        pending.iter().all(|p| !p.is_finished()),
        "the power-ons were still waiting"
    );
    for request in held {
        let asked: Value = serde_json::from_slice(&request.payload)?;
        let reply =
            json!({"actionId": asked["actionId"], "ok": true, "message": "magic packet sent"});
        if let Some(inbox) = request.reply {
            nats.publish(inbox, serde_json::to_vec(&reply)?.into())
                .await?;
        }
    }
    for power_on in pending {
        let reply = power_on.await??;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.body["ok"], true, "{reply:?}");
    }
    staff.app.stop().await
}
