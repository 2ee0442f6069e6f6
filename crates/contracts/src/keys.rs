//! What is kept of a secret: agent keys and session tokens are random 256-bit strings shown
//! once, and only their SHA-256 (lowercase hex) is stored — in PostgreSQL, in the registry
//! bucket (`RegistryEntry::agent_key_sha256`) and in Redis. Both the gateway, which issues
//! them, and stats-ingest, which checks agent keys, hash them here, so the two cannot differ.
//!
//! A fast hash is enough: these secrets are random, not guessable passwords (those are
//! argon2id, in the gateway).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// An agent key made of 256 random bits: `boom_` and 43 URL-safe characters. Issued by the
/// gateway (`POST /api/photomatons/{id}/api-key`) or by ingest when a PC pairs.
pub fn agent_key(random: [u8; 32]) -> String {
    format!("boom_{}", url_token(random))
}

/// 256 random bits as 43 URL-safe characters: session, CSRF and single sign-on tokens.
pub fn url_token(random: [u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(random)
}

/// The SHA-256 of `secret`, as 64 lowercase hex digits.
pub fn sha256_hex(secret: &str) -> String {
    use std::fmt::Write;
    Sha256::digest(secret.as_bytes())
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _infallible = write!(hex, "{byte:02x}");
            hex
        })
}

/// The Redis key (under the stack's prefix) of a pairing code waiting to be redeemed; its
/// value is the photomaton id, and it expires with the code. The gateway writes it, ingest
/// redeems it.
pub fn pairing_code_key(code: &crate::domain::PairingCode) -> String {
    format!("pairing:{code}")
}

/// The Redis key that remembers, for as long as a code could have lived, that it was used.
pub fn used_pairing_code_key(code: &crate::domain::PairingCode) -> String {
    format!("pairing-used:{code}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_kept_as_its_sha256_in_hex() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
