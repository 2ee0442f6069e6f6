//! `/api/agent/speedtest`: what a booth agent measures its link against (agent key needed,
//! so that it is no free bandwidth for anyone). `GET ?bytes=N` sends N bytes; `POST` takes a
//! body and throws it away.

use actix_web::{HttpRequest, HttpResponse, web};
use boom_server::{ApiError, ErrorCode};
use futures::StreamExt;

use crate::sync::{IngestState, authenticate};

/// The most bytes one speed test may move each way.
pub const MAX_BYTES: usize = 20 << 20;

#[derive(Debug, serde::Deserialize)]
pub struct Size {
    bytes: Option<usize>,
}

pub async fn download(
    request: HttpRequest,
    state: web::Data<IngestState>,
    size: web::Query<Size>,
) -> Result<HttpResponse, ApiError> {
    authenticate(&request, &state)?;
    let bytes = size.bytes.unwrap_or(1 << 20);
    if bytes > MAX_BYTES {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("at most {MAX_BYTES} bytes"),
        ));
    }
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .body(vec![0u8; bytes]))
}

pub async fn upload(
    request: HttpRequest,
    state: web::Data<IngestState>,
    mut body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    authenticate(&request, &state)?;
    let mut received = 0usize;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(e.to_string()))?;
        received += chunk.len();
        if received > MAX_BYTES {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("at most {MAX_BYTES} bytes"),
            ));
        }
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"received": received})))
}
