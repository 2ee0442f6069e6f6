//! Passwords of the people who sign in: argon2id with the OWASP-recommended parameters,
//! stored as PHC strings (`users.password_hash` has a CHECK for it). Agent keys and session
//! tokens are random secrets and are not hashed here (see `boom_contracts::keys`).

use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};

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

thread_local! {
    /// argon2's working memory (19 MiB with our parameters), kept by each password thread
    /// for its whole life: allocated once, never returned to the allocator between checks.
    static MEMORY: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// argon2 of `password` and `salt` into `out`, in this thread's kept memory.
fn argon2_into(
    argon2: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> bool {
    MEMORY.with(|memory| {
        let Ok(mut memory) = memory.try_borrow_mut() else {
            return false;
        };
        let blocks = params.block_count();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        argon2
            .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
            .is_ok()
    })
}

/// Checks a password against an argon2 PHC string (its own algorithm, version and
/// parameters). Without a hash (unknown user) it still spends the same time.
fn verify_blocking(password: &str, hash: Option<&str>) -> bool {
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3gJ8dOqV9xj3mJ0qYH3l0p9E7lBq8Q8m7Pp1b9uGzVQ";
    let stored = hash.unwrap_or(DUMMY);
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Ok(params), Some(expected), Some(salt)) =
        (Params::try_from(&parsed), parsed.hash, parsed.salt)
    else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = parsed
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or_default();
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    let computed = argon2_into(&argon2, &params, password.as_bytes(), salt, &mut out);
    // Compared without an early exit.
    let same = out
        .iter()
        .zip(expected.as_bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0;
    computed && same && hash.is_some()
}

type Job = Box<dyn FnOnce() + Send>;

/// The threads that run argon2, [`CONCURRENT_CHECKS`] of them, for the gateway's whole life.
///
/// Not tokio's blocking pool: each argon2 run takes 19 MiB, and the allocator keeps what a
/// thread freed in that thread's arena; spread over the blocking pool's ever-new threads, 60
/// sign-ins left the gateway 458 MB bigger although only two ran at once. On two long-lived
/// threads the same two blocks are reused, and the memory stays at about 2 × 19 MiB.
#[derive(Clone)]
pub struct PasswordPool {
    jobs: std::sync::mpsc::SyncSender<Job>,
}

impl std::fmt::Debug for PasswordPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordPool")
    }
}

/// Password work could not be done now (the pool is full or gone): try again shortly.
#[derive(Debug, thiserror::Error)]
#[error("password checks are busy")]
pub struct Busy;

impl PasswordPool {
    pub fn start() -> Self {
        // A short queue: sign-ins are bounded before they get here (see `account::login`);
        // what else hashes (creating users) is rare.
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(16);
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        for n in 0..CONCURRENT_CHECKS {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    loop {
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(error) = spawned {
                tracing::error!(%error, "cannot start a password thread");
            }
        }
        Self { jobs }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.jobs
            .try_send(Box::new(move || {
                let _ = done.send(work());
            }))
            .map_err(|_| Busy)?;
        result.await.map_err(|_| Busy)
    }

    /// Whether `password` matches `hash` (see [`verify_blocking`]), on the pool.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, Busy> {
        self.run(move || verify_blocking(&password, hash.as_deref()))
            .await
    }

    /// [`hash_password`], on the pool.
    pub async fn hash(&self, password: String) -> Result<anyhow::Result<String>, Busy> {
        self.run(move || hash_password(&password)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_checks_against_its_hash_and_nothing_else() -> anyhow::Result<()> {
        let hash = hash_password("correct horse battery")?;
        assert!(verify_blocking("correct horse battery", Some(&hash)));
        assert!(!verify_blocking("correct horse battery!", Some(&hash)));
        assert!(!verify_blocking("correct horse battery", None));
        assert!(!verify_blocking("x", Some("not a hash")));
        // A hash made with other parameters (an older, cheaper one) still checks, in the
        // same kept memory.
        let cheap = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).map_err(|e| anyhow::anyhow!("{e}"))?,
        )
        .hash_password(b"old password", &SaltString::generate(&mut OsRng))
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .to_string();
        assert!(verify_blocking("old password", Some(&cheap)));
        assert!(verify_blocking("correct horse battery", Some(&hash)));
        Ok(())
    }
}
