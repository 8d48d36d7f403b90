//! The web dashboard: HTML, CSS and JavaScript modules from `web/`,
//! embedded at compile time so the binary needs no files beside it and the
//! build needs no Node.js. The page talks to the same `/api` as any client.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// `(path under /ui/, content type, bytes)`.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("app.css", CSS, include_bytes!("../web/app.css")),
    ("js/main.js", JS, include_bytes!("../web/js/main.js")),
    ("js/api.js", JS, include_bytes!("../web/js/api.js")),
    ("js/stream.js", JS, include_bytes!("../web/js/stream.js")),
    ("js/dom.js", JS, include_bytes!("../web/js/dom.js")),
    ("js/chart.js", JS, include_bytes!("../web/js/chart.js")),
    (
        "js/dashboard.js",
        JS,
        include_bytes!("../web/js/dashboard.js"),
    ),
    (
        "js/operations.js",
        JS,
        include_bytes!("../web/js/operations.js"),
    ),
    (
        "js/operation.js",
        JS,
        include_bytes!("../web/js/operation.js"),
    ),
    ("js/logview.js", JS, include_bytes!("../web/js/logview.js")),
    ("js/library.js", JS, include_bytes!("../web/js/library.js")),
    ("js/names.js", JS, include_bytes!("../web/js/names.js")),
    (
        "js/findings.js",
        JS,
        include_bytes!("../web/js/findings.js"),
    ),
    ("favicon.svg", SVG, include_bytes!("../web/favicon.svg")),
];

const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";
const INDEX: &[u8] = include_bytes!("../web/index.html");

/// Scripts and styles only from this server; cover images may come from
/// the metadata source, or from this server as object URLs (`blob:`).
const CSP: &str = "default-src 'self'; img-src 'self' data: blob: https:; style-src 'self'; \
     script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn respond(content_type: &'static str, body: &'static [u8]) -> Response {
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Small files: revalidate every load so an upgrade shows at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

/// `GET /`: the page shell; the rest is routed in the browser (`#/...`).
pub async fn index() -> Response {
    let mut res = respond("text/html; charset=utf-8", INDEX);
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

/// `GET /ui/{path}`: one embedded asset.
pub async fn asset(Path(path): Path<String>) -> Result<Response, ApiError> {
    ASSETS
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, ct, body)| respond(ct, body))
        .ok_or_else(|| ApiError::NotFound(format!("no asset {path}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every module the page imports is embedded (a missing one would only
    /// show up as a broken page).
    #[test]
    fn every_imported_module_is_embedded() {
        for (path, _, body) in ASSETS {
            if !path.ends_with(".js") {
                continue;
            }
            let text = std::str::from_utf8(body).expect("utf-8 module");
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let target = line
                    .split(['"', '\''])
                    .nth(1)
                    .expect("import has a quoted path");
                let name = target.trim_start_matches("./");
                let full = format!("js/{name}");
                assert!(
                    ASSETS.iter().any(|(p, _, _)| *p == full),
                    "{path} imports {target}, which is not embedded"
                );
            }
        }
    }
}
