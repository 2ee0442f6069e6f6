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
    answers: Mutex<Answers>,
}

#[derive(Debug)]
struct Answers {
    by_session: HashMap<String, Answer>,
    /// Stale answers are swept when the map grows past this: a sweep per doubling, not a
    /// scan per question.
    sweep_above: usize,
}

/// The map's size below which it is never swept.
const SWEEP_FLOOR: usize = 64;

/// When it was asked, and the answer (`Err`: Redis could not say), shared while it is asked.
type Answer = (Instant, Arc<OnceCell<Result<bool, ()>>>);

impl SessionChecks {
    pub fn new(ping_interval: Duration) -> Self {
        SessionChecks {
            fresh_for: (ping_interval / 4).min(Duration::from_secs(1)),
            answers: Mutex::new(Answers {
                by_session: HashMap::new(),
                sweep_above: SWEEP_FLOOR,
            }),
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
            if answers.by_session.len() > answers.sweep_above {
                answers
                    .by_session
                    .retain(|_, (asked, _)| now.duration_since(*asked) < self.fresh_for);
                answers.sweep_above = (answers.by_session.len() * 2).max(SWEEP_FLOOR);
            }
            match answers.by_session.get(token_hash) {
                Some((asked, answer)) if now.duration_since(*asked) < self.fresh_for => {
                    answer.clone()
                }
                _ => {
                    let answer = Arc::new(OnceCell::new());
                    answers
                        .by_session
                        .insert(token_hash.to_owned(), (now, answer.clone()));
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

    #[tokio::test]
    async fn stale_answers_are_swept_once_the_map_doubles() {
        let checks = SessionChecks::new(Duration::from_millis(40));
        for i in 0..=SWEEP_FLOOR {
            let _ = checks.answer(&format!("old {i}"), async { Ok(true) }).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let _ = checks.answer("new", async { Ok(true) }).await;
        let answers = checks.answers.lock().map_err(|_| "poisoned");
        let answers = answers
            .as_deref()
            .map(|a| (a.by_session.len(), a.sweep_above));
        assert_eq!(
            answers,
            Ok((1, SWEEP_FLOOR)),
            "only the fresh answer is kept"
        );
    }
}
