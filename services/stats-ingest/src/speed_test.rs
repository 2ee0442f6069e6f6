//! `/api/agent/speedtest`: what a booth agent measures its link against (agent key needed,
//! so that it is no free bandwidth for anyone). `GET ?bytes=N` sends N bytes; `POST` takes a
//! body and throws it away.
//!
//! Bounded, so that one key (or a stolen one) cannot eat ingest's memory or link: a download
//! is streamed from one shared block of zeros (nothing allocated per request); each key may
//! move data in at most one transfer at a time and [`TRANSFERS_PER_HOUR`] an hour (429 with
//! `Retry-After` beyond); an instance runs at most [`CONCURRENT_TRANSFERS`] at once (503
//! with `Retry-After` beyond). A zero-byte request (the latency probe) is not counted.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use boom_server::{ApiError, ErrorCode};
use futures::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::sync::{IngestState, authenticate};

/// The most bytes one speed test may move each way.
pub const MAX_BYTES: usize = 20 << 20;
/// Transfers (a download or an upload of at least one byte) per agent key and hour: a booth
/// tests its link a few times a day, and on request.
pub const TRANSFERS_PER_HOUR: u32 = 20;
/// Transfers one ingest instance serves at once.
pub const CONCURRENT_TRANSFERS: usize = 4;

/// A block of zeros every download is cut from.
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// The transfers running on this instance: which keys, and how many in all.
#[derive(Debug)]
pub struct Transfers {
    keys: Mutex<HashSet<String>>,
    slots: Arc<Semaphore>,
}

impl Default for Transfers {
    fn default() -> Self {
        Self {
            keys: Mutex::default(),
            slots: Arc::new(Semaphore::new(CONCURRENT_TRANSFERS)),
        }
    }
}

/// One running transfer; dropping it frees the key and the slot.
struct Running {
    transfers: Arc<Transfers>,
    key: String,
    _slot: OwnedSemaphorePermit,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(mut keys) = self.transfers.keys.lock() {
            keys.remove(&self.key);
        }
    }
}

/// Admits a transfer of `key_hash`: its hourly allowance, one at a time per key, and the
/// instance's slots.
async fn admit(state: &IngestState, key_hash: &str) -> Result<Running, ApiError> {
    let short = &key_hash[..16.min(key_hash.len())];
    let transfers = state.transfers.clone();
    let slot = transfers.slots.clone().try_acquire_owned().map_err(|_| {
        ApiError::unavailable("too many speed tests at once, retry shortly").retry_after(5)
    })?;
    let fresh = transfers
        .keys
        .lock()
        .map(|mut keys| keys.insert(short.to_owned()))
        .unwrap_or(false);
    if !fresh {
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            "a speed test of this booth is already running",
        )
        .retry_after(5));
    }
    let running = Running {
        transfers,
        key: short.to_owned(),
        _slot: slot,
    };
    // Charged only once admitted: a transfer refused for lack of a slot costs nothing.
    match state
        .cache
        .count_in_window(&format!("speedtest:{short}"), Duration::from_secs(3600))
        .await
    {
        Ok(window) if window.hits > TRANSFERS_PER_HOUR => Err(ApiError::new(
            ErrorCode::RateLimited,
            format!(
                "at most {TRANSFERS_PER_HOUR} speed-test transfers an hour per booth, retry in {} s",
                window.resets_in_secs
            ),
        )
        .retry_after(u64::try_from(window.resets_in_secs).unwrap_or(60))),
        Ok(_) => Ok(running),
        // Redis down: the per-key and per-instance bounds still hold.
        Err(error) => {
            tracing::warn!(%error, "speed-test allowance unavailable");
            Ok(running)
        }
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct Size {
    bytes: Option<usize>,
}

pub async fn download(
    request: HttpRequest,
    state: web::Data<IngestState>,
    size: web::Query<Size>,
) -> Result<HttpResponse, ApiError> {
    let (_, key_hash) = authenticate(&request, &state)?;
    let bytes = size.bytes.unwrap_or(1 << 20);
    if bytes > MAX_BYTES {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("at most {MAX_BYTES} bytes"),
        ));
    }
    if bytes == 0 {
        return Ok(HttpResponse::Ok()
            .content_type("application/octet-stream")
            .body(Bytes::new()));
    }
    let running = admit(&state, &key_hash).await?;
    // Chunks of the shared block until `bytes` are sent; the transfer ends with the stream.
    let body = futures::stream::unfold((bytes, running), |(left, running)| async move {
        (left > 0).then(|| {
            let chunk = left.min(ZEROS.len());
            (
                Ok::<_, std::convert::Infallible>(Bytes::from_static(&ZEROS[..chunk])),
                (left - chunk, running),
            )
        })
    });
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .no_chunking(bytes as u64)
        .streaming(body))
}

pub async fn upload(
    request: HttpRequest,
    state: web::Data<IngestState>,
    mut body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (_, key_hash) = authenticate(&request, &state)?;
    // An empty body (a latency probe) is not a transfer: admitted at its first bytes.
    let mut running = None;
    let mut received = 0usize;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(e.to_string()))?;
        if running.is_none() && !chunk.is_empty() {
            running = Some(admit(&state, &key_hash).await?);
        }
        received += chunk.len();
        if received > MAX_BYTES {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("at most {MAX_BYTES} bytes"),
            ));
        }
    }
    drop(running);
    Ok(HttpResponse::Ok().json(serde_json::json!({"received": received})))
}
