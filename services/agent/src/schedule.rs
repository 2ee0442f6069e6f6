//! Work done on a schedule until the agent stops: the commands poll and the periodic speed
//! test.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Runs `work` now and then every `interval`, until `cancel`.
pub async fn every<F, Fut>(interval: Duration, cancel: CancellationToken, mut work: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    loop {
        work().await;
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}
