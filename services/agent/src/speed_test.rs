//! The booth's link, measured against stats-ingest's `/api/agent/speedtest` (or the configured
//! URL): latency of a tiny request, then a download and an upload of `agent.speedtest_bytes`.

use std::time::{Duration, Instant};

use boom_contracts::messages::SpeedTestSample;
use tokio_util::sync::CancellationToken;

use crate::ingest::IngestClient;
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct SpeedTest {
    pub ingest: IngestClient,
    pub bytes: usize,
    pub interval: Duration,
    pub store: Store,
}

fn mbits(bytes: usize, elapsed: Duration) -> f64 {
    (bytes as f64 * 8.0 / 1e6) / elapsed.as_secs_f64().max(1e-6)
}

impl SpeedTest {
    pub async fn measure(&self) -> Result<SpeedTestSample, reqwest::Error> {
        let mut ping = f64::MAX;
        for _ in 0..3 {
            let started = Instant::now();
            self.ingest.speed_test_download(0).await?;
            ping = ping.min(started.elapsed().as_secs_f64() * 1000.0);
        }
        let started = Instant::now();
        let body = self.ingest.speed_test_download(self.bytes).await?;
        let download = mbits(body.len(), started.elapsed());
        let started = Instant::now();
        self.ingest.speed_test_upload(self.bytes).await?;
        let upload = mbits(self.bytes, started.elapsed());
        Ok(SpeedTestSample {
            download,
            upload,
            ping,
        })
    }

    /// Measures once and keeps the result for the next batch; true when it was kept.
    pub async fn once(&self) -> bool {
        match self.measure().await {
            Ok(sample) => {
                tracing::info!(
                    download = sample.download,
                    upload = sample.upload,
                    ping = sample.ping,
                    "speed test"
                );
                match self.store.add_speed_test(sample).await {
                    Ok(()) => true,
                    Err(error) => {
                        tracing::error!(%error, "speed test not stored");
                        false
                    }
                }
            }
            Err(error) => {
                tracing::info!(%error, "speed test failed (offline?)");
                false
            }
        }
    }

    pub async fn run(self, cancel: CancellationToken) {
        crate::schedule::every(self.interval, cancel, || async {
            self.once().await;
        })
        .await;
    }
}
