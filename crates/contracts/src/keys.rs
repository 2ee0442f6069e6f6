//! What is kept of a secret: agent keys and session tokens are random 256-bit strings shown
//! once, and only their SHA-256 (lowercase hex) is stored — in PostgreSQL, in the registry
//! bucket (`RegistryEntry::agent_key_sha256`) and in Redis. Both the gateway, which issues
//! them, and stats-ingest, which checks agent keys, hash them here, so the two cannot differ.
//!
//! A fast hash is enough: these secrets are random, not guessable passwords (those are
//! argon2id, in the gateway).

use sha2::{Digest, Sha256};

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
