//! Wake-on-LAN: the magic packet (6 × 0xFF, then the PC's MAC 16 times, then the optional
//! 6-byte SecureOn password), sent as a short UDP burst to the booth's wake target, and/or
//! handed to the router through the configured relay command.

use std::net::SocketAddr;
use std::time::Duration;

use boom_contracts::domain::{MacAddress, WakeTarget};

/// The magic packet for `mac`.
pub fn magic_packet(mac: MacAddress, secureon: Option<[u8; 6]>) -> Vec<u8> {
    let mut packet = Vec::with_capacity(6 + 16 * 6 + 6);
    packet.extend_from_slice(&[0xff; 6]);
    for _ in 0..16 {
        packet.extend_from_slice(&mac.0);
    }
    if let Some(password) = secureon {
        packet.extend_from_slice(&password);
    }
    packet
}

/// Sends `burst` packets to `target` (broadcast allowed), `interval` apart.
pub async fn send_udp(
    target: &WakeTarget,
    packet: &[u8],
    burst: u32,
    interval: Duration,
) -> std::io::Result<SocketAddr> {
    let address = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await?
        .next()
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} does not resolve", target.host),
            )
        })?;
    let bind: SocketAddr = if address.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = tokio::net::UdpSocket::bind(bind).await?;
    socket.set_broadcast(true)?;
    for i in 0..burst.max(1) {
        if i > 0 {
            tokio::time::sleep(interval).await;
        }
        socket.send_to(packet, address).await?;
    }
    Ok(address)
}

/// The relay command with its placeholders replaced, one argument per word of the template.
pub fn relay_arguments(
    template: &str,
    mac: MacAddress,
    router: &str,
    pc: &str,
    hostname: &str,
) -> Vec<String> {
    template
        .split_whitespace()
        .map(|word| {
            word.replace("{mac}", &mac.to_string())
                .replace("{router}", router)
                .replace("{pc}", pc)
                .replace("{hostname}", hostname)
        })
        .collect()
}

/// Runs the relay command; its failure (exit code, stderr) is the caller's error message.
pub async fn run_relay(arguments: &[String], timeout: Duration) -> Result<String, String> {
    let (program, rest) = arguments
        .split_first()
        .ok_or("control.wake_relay_command is empty")?;
    let child = tokio::process::Command::new(program)
        .args(rest)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(timeout, child)
        .await
        .map_err(|_| {
            format!(
                "the relay command did not finish within {} s",
                timeout.as_secs()
            )
        })?
        .map_err(|e| format!("cannot run `{program}`: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(format!(
            "the relay command failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Parses the SecureOn password (same spellings as a MAC address).
pub fn parse_secureon(text: &str) -> Result<[u8; 6], String> {
    text.parse::<MacAddress>()
        .map(|m| m.0)
        .map_err(|_| "control.secureon_password: 6 bytes, like aa:bb:cc:dd:ee:ff".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_magic_packet_is_six_ff_then_sixteen_macs_then_the_password() {
        let mac = MacAddress([0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e]);
        let packet = magic_packet(mac, None);
        assert_eq!(packet.len(), 102);
        assert_eq!(&packet[..6], &[0xff; 6]);
        assert!(packet[6..].chunks(6).all(|chunk| chunk == mac.0));
        let secured = magic_packet(mac, Some([1, 2, 3, 4, 5, 6]));
        assert_eq!(
            (&secured[..102], &secured[102..]),
            (&packet[..], &[1, 2, 3, 4, 5, 6][..])
        );
    }

    #[test]
    fn relay_placeholders_stay_single_arguments() {
        let mac = MacAddress([0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e]);
        let args = relay_arguments(
            "ssh root@{router} etherwake -i br-lan {mac}",
            mac,
            "100.64.0.2",
            "100.64.0.3",
            "boom-01",
        );
        assert_eq!(
            args,
            [
                "ssh",
                "root@100.64.0.2",
                "etherwake",
                "-i",
                "br-lan",
                "00:1a:2b:3c:4d:5e"
            ]
        );
    }
}
