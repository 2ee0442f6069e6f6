//! Scenario 4: probing at scale: one round of photomaton-control's prober over thousands of
//! booths (every probe answered by a local TCP listener), its duration and CPU.

use std::time::Instant;

use serde_json::{Value, json};

use crate::harness::usage;
use crate::profile::Profile;

pub(crate) fn run(booths: usize) -> anyhow::Result<Value> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        tokio::spawn(async move { while listener.accept().await.is_ok() {} });
        let entries = (0..booths)
            .map(|i| {
                Ok(boom_contracts::messages::RegistryEntry {
                    photomaton_id: boom_contracts::PhotomatonId(i as i32),
                    name: format!("Booth {i}"),
                    hostname: format!("p-{i}").parse()?,
                    tailscale_ip: Some(format!("127.0.{}.{}", 1 + i / 250, 1 + i % 250)),
                    router_tailscale_ip: Some("127.0.0.1".into()),
                    mac_address: None,
                    wake_target: None,
                    agent_key_sha256: None,
                })
            })
            .collect::<Result<Vec<_>, boom_contracts::domain::InvalidValue>>()?;
        let settings = boom_config::ControlSettings {
            icmp: false,
            router_tcp_port: port,
            pc_tcp_port: port,
            ..Default::default()
        };
        let cpu0 = usage(std::process::id()).0;
        let profile = Profile::start("probing");
        let started = Instant::now();
        let observed = boom_photomaton_control::prober::observe(
            &entries,
            &settings,
            boom_photomaton_control::probe::IcmpAccess::None,
        )
        .await;
        let round = started.elapsed().as_secs_f64();
        let profile =
            profile.map(|p| p.finish(&[(std::process::id(), "photomaton-control's prober")]));
        let cpu = usage(std::process::id()).0 - cpu0;
        let up = observed
            .iter()
            .filter(|o| o.pc.is_some() && o.router.is_some())
            .count();
        anyhow::Ok(json!({
            "scenario": "probing", "booths": booths, "probes": booths * 2, "answered": up,
            "roundSeconds": round, "cpuSeconds": cpu, "coreShareAt30sInterval": cpu / 30.0,
            "profile": profile,
        }))
    })
}
