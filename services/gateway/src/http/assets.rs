//! The dashboard: its files compiled into the binary (`services/gateway/web/`: the page, its
//! script and style, the charts module, the client report's script, and the vendored uPlot),
//! served gzip-compressed when the browser accepts it and with an ETag, so that a phone on 4G
//! downloads them once and then only revalidates (304). No build step and no third-party
//! site: the page works wherever the gateway does.

use std::io::Write;

use sha2::Digest;
use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

/// A static file, with its ETag and gzip form computed once.
struct Asset {
    body: &'static [u8],
    content_type: &'static str,
    etag: String,
    gzip: Vec<u8>,
}

impl Asset {
    fn new(body: &'static [u8], content_type: &'static str) -> Self {
        // Images are compressed already: sent as they are.
        let gzip = if content_type.starts_with("image/png") {
            Vec::new()
        } else {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            encoder
                .write_all(body)
                .and_then(|()| encoder.finish())
                .unwrap_or_default()
        };
        let digest = sha2::Sha256::digest(body);
        let etag: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Self {
            body,
            content_type,
            etag: format!("\"{etag}\""),
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

/// Serves one of the files compiled in, computed once.
macro_rules! asset {
    ($name:ident, $file:literal, $type:literal) => {
        pub async fn $name(request: HttpRequest) -> HttpResponse {
            static ASSET: OnceLock<Asset> = OnceLock::new();
            ASSET
                .get_or_init(|| Asset::new(include_bytes!($file), $type))
                .serve(&request)
        }
    };
}

asset!(index, "../../web/index.html", "text/html; charset=utf-8");
asset!(script, "../../web/app.js", "text/javascript; charset=utf-8");
asset!(style, "../../web/app.css", "text/css; charset=utf-8");
asset!(
    charts,
    "../../web/charts.js",
    "text/javascript; charset=utf-8"
);
asset!(
    report_script,
    "../../web/report.js",
    "text/javascript; charset=utf-8"
);
asset!(
    manifest,
    "../../web/manifest.webmanifest",
    "application/manifest+json"
);
asset!(icon, "../../web/icon.svg", "image/svg+xml");
asset!(icon_192, "../../web/icon-192.png", "image/png");
asset!(icon_512, "../../web/icon-512.png", "image/png");
asset!(
    service_worker,
    "../../web/sw.js",
    "text/javascript; charset=utf-8"
);
asset!(
    uplot_script,
    "../../web/vendor/uplot/uPlot.iife.min.js",
    "text/javascript; charset=utf-8"
);
asset!(
    uplot_style,
    "../../web/vendor/uplot/uPlot.min.css",
    "text/css; charset=utf-8"
);

#[cfg(test)]
mod tests {
    /// The vendored chart library is the npm package's, as its README's table says.
    #[test]
    fn vendored_uplot_matches_its_readme() {
        let readme = include_str!("../../web/vendor/uplot/README.md");
        for (file, body) in [
            (
                "uPlot.iife.min.js",
                include_str!("../../web/vendor/uplot/uPlot.iife.min.js"),
            ),
            (
                "uPlot.min.css",
                include_str!("../../web/vendor/uplot/uPlot.min.css"),
            ),
        ] {
            let hash = boom_contracts::keys::sha256_hex(body);
            assert!(
                readme.contains(&format!("`{file}`")) && readme.contains(&hash),
                "{file} is not the file vendor/uplot/README.md names (sha256 {hash})"
            );
        }
    }
}
