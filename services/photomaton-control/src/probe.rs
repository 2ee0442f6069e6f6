//! Is a host up? ICMP echo where this process may send it (an unprivileged ICMP socket on
//! Linux when `net.ipv4.ping_group_range` allows, else a raw socket when privileged), else
//! — or when ICMP gets no answer — a TCP connect to the port the device serves (the router's
//! web interface, the PC's remote desktop): only an accepted connection counts, since a
//! refused one means the device is up but not serving. Each probe costs at most its timeout.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// The outcome of one probe: the round-trip time when the host answered.
pub type Rtt = Option<Duration>;

/// How this process can send ICMP echo, found once at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpAccess {
    Unprivileged,
    Raw,
    None,
}

impl IcmpAccess {
    pub fn detect(enabled: bool) -> Self {
        if !enabled {
            return IcmpAccess::None;
        }
        #[cfg(unix)]
        {
            use socket2::{Domain, Protocol, Socket, Type};
            if Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::ICMPV4)).is_ok() {
                return IcmpAccess::Unprivileged;
            }
            if Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).is_ok() {
                return IcmpAccess::Raw;
            }
        }
        IcmpAccess::None
    }
}

/// A TCP connect that must be accepted.
pub async fn tcp(ip: IpAddr, port: u16, timeout: Duration) -> Rtt {
    let started = Instant::now();
    match tokio::time::timeout(
        timeout,
        tokio::net::TcpStream::connect(SocketAddr::new(ip, port)),
    )
    .await
    {
        Ok(Ok(_)) => Some(started.elapsed()),
        _ => None,
    }
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMP echo request (IPv4), with `id` and `sequence`.
pub fn echo_request(id: u16, sequence: u16) -> Vec<u8> {
    let mut packet = vec![8, 0, 0, 0];
    packet.extend_from_slice(&id.to_be_bytes());
    packet.extend_from_slice(&sequence.to_be_bytes());
    packet.extend_from_slice(b"le-boom-probe");
    let sum = checksum(&packet);
    packet[2..4].copy_from_slice(&sum.to_be_bytes());
    packet
}

/// ICMP echo to an IPv4 host; `None` without an answer in time (or without ICMP access).
#[cfg(unix)]
pub async fn icmp(access: IcmpAccess, ip: IpAddr, timeout: Duration) -> Rtt {
    use socket2::{Domain, Protocol, Socket, Type};
    let IpAddr::V4(v4) = ip else { return None };
    let kind = match access {
        IcmpAccess::Unprivileged => Type::DGRAM,
        IcmpAccess::Raw => Type::RAW,
        IcmpAccess::None => return None,
    };
    let socket = Socket::new(Domain::IPV4, kind, Some(Protocol::ICMPV4)).ok()?;
    socket.set_nonblocking(true).ok()?;
    let socket = tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(socket)).ok()?;
    let id: u16 = rand::random();
    let sequence: u16 = rand::random();
    let started = Instant::now();
    socket
        .send_to(
            &echo_request(id, sequence),
            SocketAddr::new(IpAddr::V4(v4), 0),
        )
        .await
        .ok()?;
    let wait = async {
        let mut buffer = [0u8; 1500];
        loop {
            let (n, from) = socket.recv_from(&mut buffer).await.ok()?;
            if from.ip() != ip {
                continue;
            }
            // A raw socket hands over the IP header too; an unprivileged one does not (and
            // the kernel rewrites the id, so only the sequence identifies the reply).
            let icmp = if access == IcmpAccess::Raw {
                buffer.get(usize::from(buffer[0] & 0x0f) * 4..n)?
            } else {
                buffer.get(..n)?
            };
            let is_reply = icmp.first() == Some(&0);
            let same_sequence = icmp.get(6..8) == Some(&sequence.to_be_bytes()[..]);
            let same_id =
                access == IcmpAccess::Unprivileged || icmp.get(4..6) == Some(&id.to_be_bytes()[..]);
            if is_reply && same_sequence && same_id {
                return Some(started.elapsed());
            }
        }
    };
    tokio::time::timeout(timeout, wait).await.ok().flatten()
}

#[cfg(not(unix))]
pub async fn icmp(_access: IcmpAccess, _ip: IpAddr, _timeout: Duration) -> Rtt {
    None
}

/// ICMP first when possible, then TCP within what is left of the timeout.
pub async fn host(access: IcmpAccess, ip: IpAddr, port: u16, timeout: Duration) -> Rtt {
    if access != IcmpAccess::None {
        let half = timeout / 2;
        if let Some(rtt) = icmp(access, ip, half).await {
            return Some(rtt);
        }
        return tcp(ip, port, timeout - half).await;
    }
    tcp(ip, port, timeout).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echo_request_carries_a_valid_checksum() {
        let packet = echo_request(0x1234, 7);
        assert_eq!((packet[0], packet[1]), (8, 0));
        assert_eq!(
            checksum(&packet),
            0,
            "a packet with its checksum sums to zero"
        );
    }

    #[tokio::test]
    async fn a_listening_port_is_up_and_a_closed_one_is_not() -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        assert!(
            tcp([127, 0, 0, 1].into(), port, Duration::from_secs(1))
                .await
                .is_some()
        );
        drop(listener);
        assert!(
            tcp([127, 0, 0, 1].into(), port, Duration::from_secs(1))
                .await
                .is_none()
        );
        Ok(())
    }

    #[tokio::test]
    async fn icmp_echo_reaches_the_loopback_when_this_process_may_send_it() {
        let access = IcmpAccess::detect(true);
        if access != IcmpAccess::None {
            assert!(
                icmp(access, [127, 0, 0, 1].into(), Duration::from_secs(1))
                    .await
                    .is_some(),
                "{access:?}"
            );
        }
    }
}
