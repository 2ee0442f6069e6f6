//! Passwords of the people who sign in: argon2id with the OWASP-recommended parameters,
//! stored as PHC strings (`users.password_hash` has a CHECK for it). Agent keys and session
//! tokens are random secrets and are not hashed here (see `boom_contracts::keys`).

use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordVerifier, Version};

/// Password checks that may run at once: argon2id costs 19 MiB and ~20 ms of a core each, so
/// a flood of sign-ins waits here rather than eating the gateway's memory.
pub const CONCURRENT_CHECKS: usize = 2;

/// How long a sign-in waits for a free check before it is told to come back (503).
pub const CHECK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The shortest password accepted (by `users add` and the users API).
pub const MIN_PASSWORD_LEN: usize = 10;

/// argon2id with the OWASP-recommended parameters (19 MiB, 2 passes, 1 lane).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let params = Params::new(19 * 1024, 2, 1, None)
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?
        .to_string())
}

/// Checks a password against an argon2id PHC string, off the async threads (it costs ~20 ms
/// of CPU by design). Without a hash (unknown user) it still spends the same time.
pub async fn verify_password(password: String, hash: Option<String>) -> bool {
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3gJ8dOqV9xj3mJ0qYH3l0p9E7lBq8Q8m7Pp1b9uGzVQ";
    tokio::task::spawn_blocking(move || {
        let stored = hash.as_deref().unwrap_or(DUMMY);
        let verified = PasswordHash::new(stored)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        verified && hash.is_some()
    })
    .await
    .unwrap_or(false)
}
