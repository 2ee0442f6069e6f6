//! The `[control]` section: how photomaton-control probes booths and wakes their PCs.

use secrecy::SecretString;
use serde::Deserialize;

/// How Wake-on-LAN packets reach a booth PC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WakeMode {
    /// UDP to the booth's wake target (a LAN broadcast address routed through the router's
    /// Tailscale subnet route, or a port forward on the router).
    #[default]
    Udp,
    /// Run `control.wake_relay_command`, which asks the router to send the packet itself.
    Relay,
    /// Both.
    Both,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ControlSettings {
    /// Seconds between probe rounds (each jittered by up to 10 %).
    pub probe_interval_secs: u64,
    /// How long one probe waits for an answer.
    pub probe_timeout_ms: u64,
    /// Try ICMP echo first (unprivileged ICMP sockets, or raw sockets when privileged).
    pub icmp: bool,
    /// TCP ports probed when ICMP is not possible or not answered.
    pub router_tcp_port: u16,
    pub pc_tcp_port: u16,
    /// A steady state is re-published this often (seconds), changes at once.
    pub heartbeat_secs: u64,
    /// Only one instance probes: the lease expires this long after its holder stops renewing.
    pub lease_ttl_secs: u64,
    pub wake_mode: WakeMode,
    /// Magic packets per power-on, and the pause between them.
    pub wake_burst: u32,
    pub wake_burst_interval_ms: u64,
    /// A command that makes the router send the packet, e.g.
    /// `ssh -o BatchMode=yes root@{router} etherwake -i br-lan {mac}`; `{mac}`, `{router}`,
    /// `{pc}` and `{hostname}` are replaced (each placeholder stays one argument).
    pub wake_relay_command: Option<String>,
    /// SecureOn password (6 bytes, `aa:bb:cc:dd:ee:ff`) appended to magic packets.
    pub secureon_password: Option<SecretString>,
    /// How long to wait for the PC to answer after a power-on before reporting failure.
    pub wake_timeout_secs: u64,
}

impl Default for ControlSettings {
    fn default() -> Self {
        Self {
            probe_interval_secs: 30,
            probe_timeout_ms: 2_000,
            icmp: true,
            router_tcp_port: 443,
            pc_tcp_port: 3389,
            heartbeat_secs: 600,
            lease_ttl_secs: 30,
            wake_mode: WakeMode::Udp,
            wake_burst: 3,
            wake_burst_interval_ms: 200,
            wake_relay_command: None,
            secureon_password: None,
            wake_timeout_secs: 180,
        }
    }
}
