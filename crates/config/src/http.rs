//! The `[http]` section: where an HTTP service listens and how it shuts down.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct HttpSettings {
    /// Listen address; port 0 picks a free port.
    pub addr: String,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_timeout_secs: u64,
    /// Reverse proxies whose `X-Forwarded-For` is believed: comma-separated CIDRs (or
    /// addresses). Empty: the peer is the client.
    pub trusted_proxies: String,
    /// Seconds between the gateway's WebSocket pings; at each, the session is checked again
    /// (a revoked session's socket closes within this time).
    pub ws_ping_secs: u64,
    /// Milliseconds during which the changes recorded for a booth or an event (agent batches,
    /// probes) gather before browsers get its latest view: views are read and sent on a beat
    /// of this period, one per booth changed at most at each beat (a beat that comes while
    /// the one before is still being sent waits for it, then goes at once); an event's, whose
    /// totals its booth's view also carries, at most every 500 ms. 0 sends every change at
    /// once.
    pub live_coalesce_ms: u64,
}

impl HttpSettings {
    /// The trusted proxies, parsed.
    pub fn trusted_proxy_nets(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| {
                part.parse::<ipnet::IpNet>()
                    .or_else(|_| part.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("`{part}` is not an address or a CIDR range"))
            })
            .collect()
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:8080".to_owned(),
            workers: 0,
            shutdown_timeout_secs: 10,
            trusted_proxies: String::new(),
            ws_ping_secs: 20,
            live_coalesce_ms: 100,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_proxies_are_ranges_or_addresses_and_nothing_else() {
        let settings = |list: &str| HttpSettings {
            trusted_proxies: list.to_owned(),
            ..HttpSettings::default()
        };
        assert_eq!(settings("").trusted_proxy_nets().map(|n| n.len()), Ok(0));
        assert_eq!(
            settings("10.0.0.0/8, 192.168.1.4 ,fd00::/8")
                .trusted_proxy_nets()
                .map(|n| n.len()),
            Ok(3)
        );
        assert!(
            settings("10.0.0.0/8, proxy.local")
                .trusted_proxy_nets()
                .is_err()
        );
    }
}
