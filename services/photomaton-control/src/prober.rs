//! Probing every booth's router and PC, by the one instance that holds the `probe` lease.
//! All probes of a round run concurrently, so a round costs about one timeout however many
//! booths do not answer. A change (connected ↔ not) is published at once on the PROBES
//! stream; a steady state only every `control.heartbeat_secs`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use boom_bus::{Bus, Lease, RegistryView};
use boom_config::ControlSettings;
use boom_contracts::PhotomatonId;
use boom_contracts::messages::{PhotomatonProbed, RegistryEntry};
use chrono::Utc;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::probe::{self, IcmpAccess, Rtt};

/// Probes in flight at once at most.
const CONCURRENCY: usize = 4_096;

#[derive(Debug, Clone, Default)]
pub struct ProbeMetrics {
    pub rounds: Counter,
    pub last_round_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub published: Counter,
    pub lease_held: Gauge,
}

impl ProbeMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "boom_probe_rounds",
            "Probe rounds completed",
            m.rounds.clone(),
        );
        registry.register(
            "boom_probe_last_round_seconds",
            "Duration of the last probe round",
            m.last_round_seconds.clone(),
        );
        registry.register(
            "boom_probe_published",
            "Connectivity states published",
            m.published.clone(),
        );
        registry.register(
            "boom_probe_lease_held",
            "Whether this instance is the one probing",
            m.lease_held.clone(),
        );
        m
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Known {
    router: bool,
    pc: bool,
}

/// One booth's result in a round.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub photomaton_id: PhotomatonId,
    pub router: Rtt,
    pub pc: Rtt,
}

/// What a round did.
#[derive(Debug, Default)]
pub struct RoundReport {
    pub probed: usize,
    pub published: usize,
    pub elapsed: Duration,
}

#[derive(Debug)]
pub struct Prober {
    pub bus: Bus,
    pub booths: RegistryView,
    pub settings: ControlSettings,
    pub icmp: IcmpAccess,
    pub metrics: ProbeMetrics,
    known: HashMap<PhotomatonId, (Known, Instant)>,
}

fn ip(text: Option<&str>) -> Option<IpAddr> {
    text.and_then(|t| t.parse().ok())
}

/// Probes every booth given, concurrently.
pub async fn observe(
    booths: &[RegistryEntry],
    settings: &ControlSettings,
    icmp: IcmpAccess,
) -> Vec<Observation> {
    let timeout = Duration::from_millis(settings.probe_timeout_ms);
    let limit = Arc::new(Semaphore::new(CONCURRENCY));
    let probes = booths.iter().map(|booth| {
        let limit = limit.clone();
        let (router_ip, pc_ip) = (
            ip(booth.router_tailscale_ip.as_deref()),
            ip(booth.tailscale_ip.as_deref()),
        );
        let (router_port, pc_port) = (settings.router_tcp_port, settings.pc_tcp_port);
        let id = booth.photomaton_id;
        async move {
            let _permit = limit.acquire_owned().await.ok();
            let router = async {
                match router_ip {
                    Some(ip) => probe::host(icmp, ip, router_port, timeout).await,
                    None => None,
                }
            };
            let pc = async {
                match pc_ip {
                    Some(ip) => probe::host(icmp, ip, pc_port, timeout).await,
                    None => None,
                }
            };
            let (router, pc) = tokio::join!(router, pc);
            Observation {
                photomaton_id: id,
                router,
                pc,
            }
        }
    });
    futures::future::join_all(probes).await
}

impl Prober {
    pub fn new(
        bus: Bus,
        booths: RegistryView,
        settings: ControlSettings,
        metrics: ProbeMetrics,
    ) -> Self {
        let icmp = IcmpAccess::detect(settings.icmp);
        tracing::info!(?icmp, "ICMP access");
        Self {
            bus,
            booths,
            settings,
            icmp,
            metrics,
            known: HashMap::new(),
        }
    }

    /// Probes every booth once and publishes what changed (and heartbeats that are due).
    pub async fn round(&mut self) -> RoundReport {
        let started = Instant::now();
        let booths = self.booths.all();
        let observations = observe(&booths, &self.settings, self.icmp).await;
        let heartbeat = Duration::from_secs(self.settings.heartbeat_secs);
        let mut published = 0;
        for o in &observations {
            let now = Known {
                router: o.router.is_some(),
                pc: o.pc.is_some(),
            };
            let due = match self.known.get(&o.photomaton_id) {
                Some((before, at)) => *before != now || at.elapsed() >= heartbeat,
                None => true,
            };
            if !due {
                continue;
            }
            let message = PhotomatonProbed {
                photomaton_id: o.photomaton_id,
                router_connected: now.router,
                pc_connected: now.pc,
                router_rtt_ms: o.router.map(|d| d.as_secs_f64() * 1000.0),
                pc_rtt_ms: o.pc.map(|d| d.as_secs_f64() * 1000.0),
                observed_at: Utc::now(),
            };
            match self.bus.publish(&message).await {
                Ok(_) => {
                    self.known.insert(o.photomaton_id, (now, Instant::now()));
                    published += 1;
                }
                // Not remembered: published again next round.
                Err(error) => {
                    tracing::warn!(%error, photomaton = %o.photomaton_id, "probe state not published")
                }
            }
        }
        let live: std::collections::HashSet<_> = booths.iter().map(|b| b.photomaton_id).collect();
        self.known.retain(|id, _| live.contains(id));
        let elapsed = started.elapsed();
        self.metrics.rounds.inc();
        self.metrics.published.inc_by(published as u64);
        self.metrics.last_round_seconds.set(elapsed.as_secs_f64());
        RoundReport {
            probed: observations.len(),
            published,
            elapsed,
        }
    }

    /// Probes on schedule while this instance holds the lease, until `cancel`.
    pub async fn run(mut self, mut lease: Lease, cancel: CancellationToken) {
        let interval = Duration::from_secs(self.settings.probe_interval_secs);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = lease.acquired() => {}
            }
            self.metrics.lease_held.set(1);
            // A new holder knows nothing: its first round publishes every booth.
            self.known.clear();
            while lease.is_held() && !cancel.is_cancelled() {
                let report = self.round().await;
                tracing::debug!(probed = report.probed, published = report.published, elapsed = ?report.elapsed, "probe round");
                let jittered = interval.mul_f64(0.9 + rand::random::<f64>() * 0.2);
                let pause = jittered.saturating_sub(report.elapsed);
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = lease.lost() => {}
                    () = tokio::time::sleep(pause) => {}
                }
            }
            self.metrics.lease_held.set(0);
        }
    }
}
