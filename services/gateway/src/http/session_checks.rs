//! The WebSocket's session checks, shared: every socket asks at each ping tick whether its
//! session still stands ([`still_valid`](crate::http::session::still_valid)), and the sockets
//! of one session (the tabs of one person, or the thousands of a load test) share one answer
//! for a short while instead of each asking Redis. Thousands of sockets opened together tick
//! together; asked one by one, their checks queued behind the pool's connections until they
//! timed out.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

/// Recent answers, by session token hash.
#[derive(Debug)]
pub struct SessionChecks {
    /// How long an answer holds: a fraction of the ping interval, at most one second, so that
    /// a revocation still closes the socket within its next tick.
    fresh_for: Duration,
    answers: Mutex<HashMap<String, Answer>>,
}

/// When it was asked, and the answer (`Err`: Redis could not say), shared while it is asked.
type Answer = (Instant, Arc<OnceCell<Result<bool, ()>>>);

impl SessionChecks {
    pub fn new(ping_interval: Duration) -> Self {
        SessionChecks {
            fresh_for: (ping_interval / 4).min(Duration::from_secs(1)),
            answers: Mutex::default(),
        }
    }

    /// The answer for the session `token_hash`: one less than `fresh_for` old when another
    /// socket of the session asked (or is asking), otherwise what `ask` says.
    pub async fn answer<F>(&self, token_hash: &str, ask: F) -> Result<bool, ()>
    where
        F: Future<Output = Result<bool, ()>>,
    {
        let now = Instant::now();
        let answer = {
            // A panic elsewhere while holding the map leaves answers that are still answers.
            let mut answers = self
                .answers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if answers.len() > 64 {
                answers.retain(|_, (asked, _)| now.duration_since(*asked) < self.fresh_for);
            }
            match answers.get(token_hash) {
                Some((asked, answer)) if now.duration_since(*asked) < self.fresh_for => {
                    answer.clone()
                }
                _ => {
                    let answer = Arc::new(OnceCell::new());
                    answers.insert(token_hash.to_owned(), (now, answer.clone()));
                    answer
                }
            }
        };
        *answer.get_or_init(|| ask).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sockets_of_one_session_share_a_fresh_answer_and_ask_again_later() {
        let checks = SessionChecks::new(Duration::from_millis(200));
        assert_eq!(checks.answer("a", async { Ok(true) }).await, Ok(true));
        // Fresh: the same answer, whatever a new question would say.
        assert_eq!(checks.answer("a", async { Ok(false) }).await, Ok(true));
        // Another session asks for itself.
        assert_eq!(checks.answer("b", async { Err(()) }).await, Err(()));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(checks.answer("a", async { Ok(false) }).await, Ok(false));
    }
}
