//! The dashboard: three files compiled into the binary (`services/gateway/web/`), served
//! gzip-compressed when the browser accepts it and with an ETag, so that a phone on 4G
//! downloads them once and then only revalidates (304). No build step and no third-party
//! site: the page works wherever the gateway does.

use std::io::Write;
use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

const INDEX: &str = include_str!("../../web/index.html");
const SCRIPT: &str = include_str!("../../web/app.js");
const STYLE: &str = include_str!("../../web/app.css");

/// A static file, with its ETag and gzip form computed once.
struct Asset {
    body: &'static str,
    content_type: &'static str,
    etag: String,
    gzip: Vec<u8>,
}

impl Asset {
    fn new(body: &'static str, content_type: &'static str) -> Self {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let gzip = encoder
            .write_all(body.as_bytes())
            .and_then(|()| encoder.finish())
            .unwrap_or_default();
        Self {
            body,
            content_type,
            etag: format!("\"{}\"", &boom_contracts::keys::sha256_hex(body)[..16]),
            gzip,
        }
    }

    fn serve(&self, request: &HttpRequest) -> HttpResponse {
        let headers = request.headers();
        let fresh = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            == Some(self.etag.as_str());
        let gzip = !self.gzip.is_empty()
            && headers
                .get(header::ACCEPT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("gzip"));
        let mut response = if fresh {
            HttpResponse::NotModified()
        } else {
            HttpResponse::Ok()
        };
        response
            .insert_header((header::ETAG, self.etag.clone()))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .insert_header((header::VARY, "Accept-Encoding"))
            .insert_header(("x-content-type-options", "nosniff"))
            .insert_header((
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
            ));
        if fresh {
            return response.finish();
        }
        response.content_type(self.content_type);
        if gzip {
            response
                .insert_header((header::CONTENT_ENCODING, "gzip"))
                .body(self.gzip.clone())
        } else {
            response.body(self.body)
        }
    }
}

pub async fn index(request: HttpRequest) -> HttpResponse {
    static ASSET: OnceLock<Asset> = OnceLock::new();
    ASSET
        .get_or_init(|| Asset::new(INDEX, "text/html; charset=utf-8"))
        .serve(&request)
}

pub async fn script(request: HttpRequest) -> HttpResponse {
    static ASSET: OnceLock<Asset> = OnceLock::new();
    ASSET
        .get_or_init(|| Asset::new(SCRIPT, "text/javascript; charset=utf-8"))
        .serve(&request)
}

pub async fn style(request: HttpRequest) -> HttpResponse {
    static ASSET: OnceLock<Asset> = OnceLock::new();
    ASSET
        .get_or_init(|| Asset::new(STYLE, "text/css; charset=utf-8"))
        .serve(&request)
}
