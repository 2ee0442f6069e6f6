//! Whose each session is, as a gateway instance learnt it: lets a request read its session
//! and its owner's current epoch in one round trip (see [`crate::http::session`]).

use boom_contracts::UserId;

/// Whose each session is, as this instance opened or read it. A session's user never
/// changes, so knowing it lets a request read the session and that user's current epoch in
/// one pipelined round trip; the epoch itself is read afresh every time, so a revocation is
/// seen as soon as before. Bounded: forgotten all at once past [`OWNERS_KEPT`] sessions (a
/// forgotten one costs its next request a second round trip).
#[derive(Debug, Default)]
pub struct SessionOwners(std::sync::Mutex<std::collections::HashMap<String, UserId>>);

/// Sessions whose owner an instance remembers at most (about 100 bytes each).
const OWNERS_KEPT: usize = 10_000;

impl SessionOwners {
    fn owners(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, UserId>> {
        // Nothing panics while it is locked; a poisoned map is still the map.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn of(&self, token_hash: &str) -> Option<UserId> {
        self.owners().get(token_hash).copied()
    }

    /// A session that ended (signed out, expired): its entry goes now rather than with the
    /// rest once the map is full.
    pub fn forget(&self, token_hash: &str) {
        self.owners().remove(token_hash);
    }

    pub fn remember(&self, token_hash: &str, user: UserId) {
        let mut owners = self.owners();
        if owners.len() >= OWNERS_KEPT {
            owners.clear();
        }
        owners.insert(token_hash.to_owned(), user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_is_remembered_and_the_map_stays_bounded() {
        let owners = SessionOwners::default();
        assert_eq!(owners.of("a"), None);
        owners.remember("a", UserId(7));
        assert_eq!(owners.of("a"), Some(UserId(7)));
        owners.forget("a");
        assert_eq!(owners.of("a"), None, "forgotten when it ends");
        owners.remember("a", UserId(7));
        for n in 0..OWNERS_KEPT {
            owners.remember(&format!("s{n}"), UserId(1));
        }
        assert!(owners.owners().len() <= OWNERS_KEPT);
        assert_eq!(owners.of("a"), None, "forgotten with the rest once full");
    }
}
