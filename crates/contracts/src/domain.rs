//! Values that can only exist valid ("parse, don't validate"): a [`Hostname`], a
//! [`MacAddress`], a [`WakeTarget`]. The API parses into these on the way in; on the wire
//! (the registry bucket) they travel as the strings they print as, and are parsed again only
//! by deserialising, so nothing downstream re-checks a string by hand.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Why a value was refused, in a sentence a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// A booth PC's hostname: one DNS label (letters, digits, inner hyphens, 1–63 characters).
/// Compared case-insensitively, as DNS does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hostname(String);

impl FromStr for Hostname {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let valid = (1..=63).contains(&s.len())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidValue(format!(
                "`{s}` is not a hostname: 1 to 63 letters, digits or inner hyphens"
            )))
        }
    }
}

impl Hostname {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form hostnames are compared and indexed by (DNS ignores case).
    pub fn folded(&self) -> String {
        self.0.to_ascii_lowercase()
    }

    /// Whether `other` names the same host (case-insensitively).
    pub fn matches(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A PC's Ethernet address, for Wake-on-LAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddress(pub [u8; 6]);

impl FromStr for MacAddress {
    type Err = InvalidValue;
    /// Accepts `aa:bb:cc:dd:ee:ff`, `AA-BB-CC-DD-EE-FF` (as Windows prints it) and
    /// `aabbccddeeff`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let refuse = || {
            InvalidValue(format!(
                "`{s}` is not a MAC address (like 00:1a:2b:3c:4d:5e)"
            ))
        };
        let hex: String = s
            .trim()
            .chars()
            .filter(|c| *c != ':' && *c != '-')
            .collect();
        let separators = s.trim().chars().filter(|c| *c == ':' || *c == '-').count();
        if hex.len() != 12 || !(separators == 0 || separators == 5) {
            return Err(refuse());
        }
        let mut bytes = [0u8; 6];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = hex
                .get(i * 2..i * 2 + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(refuse)?;
        }
        if bytes == [0; 6] || bytes == [0xff; 6] {
            return Err(refuse());
        }
        Ok(Self(bytes))
    }
}

impl fmt::Display for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// Where a magic packet is sent: an IP address or a hostname, and a UDP port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WakeTarget {
    pub host: String,
    pub port: u16,
}

/// The port Wake-on-LAN packets go to when none is given ("discard").
pub const DEFAULT_WAKE_PORT: u16 = 9;

impl FromStr for WakeTarget {
    type Err = InvalidValue;
    /// `host:port`, `host` (port 9), `[v6]:port`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let refuse =
            |why: &str| InvalidValue(format!("`{s}` is not a wake target (host:port): {why}"));
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Self {
                host: ip.to_string(),
                port: DEFAULT_WAKE_PORT,
            });
        }
        if let Ok(addr) = s.parse::<std::net::SocketAddr>() {
            if addr.port() == 0 {
                return Err(refuse("port 0"));
            }
            return Ok(Self {
                host: addr.ip().to_string(),
                port: addr.port(),
            });
        }
        let (host, port) = match s.rsplit_once(':') {
            Some((host, port)) => (host, port.parse::<u16>().map_err(|_| refuse("bad port"))?),
            None => (s, DEFAULT_WAKE_PORT),
        };
        if port == 0 {
            return Err(refuse("port 0"));
        }
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && host
                .split('.')
                .all(|label| label.parse::<Hostname>().is_ok());
        if !host_ok {
            return Err(refuse("bad host"));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for WakeTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A pairing code: 6 characters of Crockford's base32, shown on the booth page and typed on
/// the booth PC (`boom-agent pair`). Typing is forgiving as Crockford intends: case does not
/// matter, `I`/`L` read as `1`, `O` as `0`, and hyphens and spaces are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PairingCode(String);

/// Crockford's base32 alphabet: no I, L, O or U.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl PairingCode {
    pub const LEN: usize = 6;

    /// A code from random bytes (each byte picks one of 32 symbols: uniform).
    pub fn from_random(bytes: [u8; Self::LEN]) -> Self {
        Self(
            bytes
                .iter()
                .map(|b| char::from(CROCKFORD[usize::from(b % 32)]))
                .collect(),
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PairingCode {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let code: String = s
            .chars()
            .filter(|c| !matches!(c, '-' | ' '))
            .map(|c| match c.to_ascii_uppercase() {
                'I' | 'L' => '1',
                'O' => '0',
                other => other,
            })
            .collect();
        if code.len() == Self::LEN && code.bytes().all(|b| CROCKFORD.contains(&b)) {
            Ok(Self(code))
        } else {
            Err(InvalidValue(format!(
                "`{}` is not a pairing code: 6 letters and digits, as shown on the booth page",
                s.trim()
            )))
        }
    }
}

impl fmt::Display for PairingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// On the wire, each of these is the string it prints as; reading one back parses it, so an
/// invalid value cannot be deserialised either. Its JSON Schema is a string's.
macro_rules! string_on_the_wire {
    ($($name:ident),+) => {$(
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl schemars::JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }

            fn schema_name() -> std::borrow::Cow<'static, str> {
                String::schema_name()
            }

            fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                String::json_schema(generator)
            }
        }
    )+};
}

string_on_the_wire!(Hostname, MacAddress, WakeTarget, PairingCode);

/// Parses an IP address with a sentence naming what was wrong.
pub fn parse_ip(field: &str, s: &str) -> Result<IpAddr, InvalidValue> {
    s.trim()
        .parse()
        .map_err(|_| InvalidValue(format!("{field}: `{s}` is not an IP address")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_addresses_parse_in_the_usual_spellings() -> Result<(), InvalidValue> {
        let mac: MacAddress = "00:1A:2b:3c:4d:5e".parse()?;
        assert_eq!(mac.to_string(), "00:1a:2b:3c:4d:5e");
        assert_eq!("00-1A-2B-3C-4D-5E".parse::<MacAddress>()?, mac);
        assert_eq!("001a2b3c4d5e".parse::<MacAddress>()?, mac);
        for bad in [
            "",
            "00:1a:2b:3c:4d",
            "00:1a:2b:3c:4d:5g",
            "00:1a:2b-3c4d5e",
            "ff:ff:ff:ff:ff:ff",
        ] {
            assert!(bad.parse::<MacAddress>().is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn wake_targets_default_to_port_nine() -> Result<(), InvalidValue> {
        assert_eq!(
            "100.64.0.7".parse::<WakeTarget>()?.to_string(),
            "100.64.0.7:9"
        );
        assert_eq!("192.168.1.255:7".parse::<WakeTarget>()?.port, 7);
        assert_eq!(
            "router-03.tail.ts.net:9".parse::<WakeTarget>()?.host,
            "router-03.tail.ts.net"
        );
        assert_eq!(
            "[fd7a::1]:9".parse::<WakeTarget>()?.to_string(),
            "[fd7a::1]:9"
        );
        for bad in ["", ":9", "host:0", "host:99999", "bad host:9"] {
            assert!(bad.parse::<WakeTarget>().is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn hostnames_are_single_dns_labels() {
        assert!("BOOM-01".parse::<Hostname>().is_ok());
        for bad in [
            "",
            "-boom",
            "boom-",
            "boom 01",
            "boom.local",
            &"a".repeat(64),
        ] {
            assert!(bad.parse::<Hostname>().is_err(), "{bad}");
        }
    }

    #[test]
    fn pairing_codes_are_forgiving_to_type_and_strict_in_what_they_accept()
    -> Result<(), InvalidValue> {
        assert_eq!("7k2-mq9".parse::<PairingCode>()?.as_str(), "7K2MQ9");
        assert_eq!("iLo 0ab".parse::<PairingCode>()?.as_str(), "1100AB");
        for bad in ["", "7K2MQ", "7K2MQ9X", "7K2MQU", "7K2MQ!"] {
            assert!(bad.parse::<PairingCode>().is_err(), "{bad}");
        }
        let code = PairingCode::from_random([0, 31, 32, 255, 100, 7]);
        assert_eq!(code.as_str().parse::<PairingCode>()?, code);
        Ok(())
    }
}

/// Property tests: whatever a person or a program types, parsing never panics, and what
/// parses prints as a string that parses back to the same value.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn round_trips<T>(input: &str) -> Result<(), TestCaseError>
    where
        T: FromStr<Err = InvalidValue> + fmt::Display + PartialEq + fmt::Debug,
    {
        if let Ok(value) = input.parse::<T>() {
            let printed = value.to_string();
            let again = printed.parse::<T>();
            prop_assert!(
                again.as_ref().is_ok_and(|v| *v == value),
                "{input:?} → {printed:?} → {again:?}"
            );
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn any_text_is_parsed_or_refused_and_round_trips(input in any::<String>()) {
            round_trips::<Hostname>(&input)?;
            round_trips::<MacAddress>(&input)?;
            round_trips::<WakeTarget>(&input)?;
            round_trips::<PairingCode>(&input)?;
        }

        #[test]
        fn mac_like_text_round_trips(bytes in any::<[u8; 6]>(), separator in prop::sample::select(vec![":", "-", ""]), upper in any::<bool>()) {
            let text = bytes.iter().map(|b| if upper { format!("{b:02X}") } else { format!("{b:02x}") }).collect::<Vec<_>>().join(separator);
            let parsed = text.parse::<MacAddress>();
            prop_assert_eq!(parsed.clone().map(|m| m.0), Ok(bytes), "{}", text);
            round_trips::<MacAddress>(&text)?;
        }

        #[test]
        fn wake_target_like_text_round_trips(host in "[a-z0-9]{1,10}(\\.[a-z0-9]{1,10}){0,3}", port in any::<u16>(), ip in any::<std::net::IpAddr>()) {
            round_trips::<WakeTarget>(&format!("{host}:{port}"))?;
            round_trips::<WakeTarget>(&ip.to_string())?;
            round_trips::<WakeTarget>(&std::net::SocketAddr::new(ip, port).to_string())?;
        }
    }
}
