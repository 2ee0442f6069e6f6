//! The dashboard: three files compiled into the binary (`services/gateway/web/`), served with
//! an ETag so that a phone on 4G revalidates them with a 304 instead of downloading them again.
//! No build step and no third-party site: the page works wherever the gateway does.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

const INDEX: &str = include_str!("../web/index.html");
const SCRIPT: &str = include_str!("../web/app.js");
const STYLE: &str = include_str!("../web/app.css");

fn etag(body: &str) -> String {
    format!("\"{}\"", &crate::auth::sha256_hex(body)[..16])
}

fn serve(
    request: &HttpRequest,
    body: &'static str,
    content_type: &str,
    tag: &'static OnceLock<String>,
) -> HttpResponse {
    let tag = tag.get_or_init(|| etag(body));
    let fresh = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(tag.as_str());
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, tag.clone()))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("x-content-type-options", "nosniff"));
    if fresh {
        return response.finish();
    }
    response.content_type(content_type).body(body)
}

pub async fn index(request: HttpRequest) -> HttpResponse {
    static TAG: OnceLock<String> = OnceLock::new();
    let mut response = serve(&request, INDEX, "text/html; charset=utf-8", &TAG);
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    response
}

pub async fn script(request: HttpRequest) -> HttpResponse {
    static TAG: OnceLock<String> = OnceLock::new();
    serve(&request, SCRIPT, "text/javascript; charset=utf-8", &TAG)
}

pub async fn style(request: HttpRequest) -> HttpResponse {
    static TAG: OnceLock<String> = OnceLock::new();
    serve(&request, STYLE, "text/css; charset=utf-8", &TAG)
}
