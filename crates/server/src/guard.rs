//! What stops a web page in the user's browser from driving the server:
//! checks on `Host`, `Origin` and `Content-Type` made before routing, in
//! every auth mode. See SECURITY.md for the threat model.
//!
//! - A keyless server answers only to loopback names, IP literals and the
//!   names in `allowed_hosts`: a DNS-rebound name (`evil.example` resolving
//!   to 127.0.0.1) gets 403, so a page on that name cannot use the API as
//!   its own origin.
//! - A state-changing request or a WebSocket upgrade whose `Origin` is
//!   neither the server's own (scheme and authority of its `Host`) nor in
//!   `allowed_origins` gets 403: cross-site forms and `fetch`es, and
//!   cross-site WebSockets (which browsers never restrict), are refused.
//! - A state-changing request that carries a body or a `Content-Type` must
//!   say `application/json` (else 415): the content types a cross-site page
//!   may send without a CORS preflight never pass.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use super::error::ApiError;
use crate::config::ServerConfig;

fn is_state_changing(m: &Method) -> bool {
    !matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
}

/// The host part of an authority (`name:port`, `[v6]:port`), lowercase,
/// without a trailing dot.
fn host_of(authority: &str) -> String {
    let a = authority.trim();
    let host = if let Some(rest) = a.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        match a.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => a,
        }
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether a keyless server answers to this host name.
pub fn host_allowed(host: &str, cfg: &ServerConfig) -> bool {
    host.parse::<IpAddr>().is_ok()
        || host == "localhost"
        || host.ends_with(".localhost")
        || cfg.allowed_hosts.iter().any(|h| h == host)
        || (!cfg.host.is_empty() && cfg.host.eq_ignore_ascii_case(host))
}

/// `authority` with the scheme's default port left out, lowercase.
fn normalized_authority(scheme: &str, authority: &str) -> String {
    let a = authority.trim().to_ascii_lowercase();
    let default = match scheme {
        "http" => ":80",
        "https" => ":443",
        _ => "",
    };
    match a.strip_suffix(default) {
        Some(rest) if !default.is_empty() => rest.to_string(),
        _ => a,
    }
}

/// Whether `origin` (as a browser sends it) may make this request.
pub fn origin_allowed(origin: &str, request_authority: Option<&str>, cfg: &ServerConfig) -> bool {
    let origin = origin.trim().to_ascii_lowercase();
    if cfg.allowed_origins.contains(&origin) {
        return true;
    }
    // `null` (sandboxed frames, file: pages, redirects) is never our own.
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let Some(own) = request_authority else {
        return false;
    };
    // The scheme is not compared: behind a TLS-terminating proxy the
    // server sees plain HTTP while the page is https.
    (scheme == "http" || scheme == "https")
        && normalized_authority(scheme, authority) == normalized_authority(scheme, own)
}

fn request_authority(req: &Request) -> Option<String> {
    req.headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_string()))
}

fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

pub async fn check(
    State(s): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let cfg = &s.config.server;
    let authority = request_authority(&req);
    if s.api_key.is_none()
        && let Some(a) = &authority
    {
        let host = host_of(a);
        if !host_allowed(&host, cfg) {
            return Err(ApiError::Forbidden(format!(
                "this server has no API key and answers only to loopback names and IP addresses, not {host:?}; add the name to allowed_hosts (AO_ALLOWED_HOSTS) or require a key"
            )));
        }
    }
    let headers = req.headers();
    let changing = is_state_changing(req.method());
    if (changing || is_websocket_upgrade(headers))
        && let Some(origin) = headers.get(header::ORIGIN)
    {
        let origin = origin.to_str().unwrap_or("");
        if !origin_allowed(origin, authority.as_deref(), cfg) {
            return Err(ApiError::Forbidden(format!(
                "requests from pages of {origin:?} are refused; add the origin to allowed_origins (AO_ALLOWED_ORIGINS) if it should reach this server"
            )));
        }
    }
    if changing && matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH) {
        let content_type = headers.get(header::CONTENT_TYPE);
        let json = content_type
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_json);
        if !json && (content_type.is_some() || has_body(headers)) {
            return Err(ApiError::UnsupportedMediaType(
                "send the request body as Content-Type: application/json".into(),
            ));
        }
    }
    Ok(next.run(req).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ServerConfig {
        ServerConfig {
            host: "127.0.0.1".into(),
            allowed_hosts: vec!["books.lan".into()],
            allowed_origins: vec!["https://books.example.com".into()],
            ..ServerConfig::default()
        }
    }

    #[test]
    fn hosts_a_keyless_server_answers_to() {
        let c = cfg();
        for ok in [
            "127.0.0.1:8484",
            "[::1]:8484",
            "localhost:1",
            "LOCALHOST",
            "app.localhost",
            "192.168.1.9",
            "books.lan:8484",
            "books.lan.",
        ] {
            assert!(host_allowed(&host_of(ok), &c), "{ok}");
        }
        for bad in [
            "evil.example:8484",
            "evil.example",
            "localhost.evil.example",
            "books.lan.evil",
            "127.0.0.1.nip.io",
        ] {
            assert!(!host_allowed(&host_of(bad), &c), "{bad}");
        }
    }

    #[test]
    fn origins_that_may_change_state() {
        let c = cfg();
        assert!(origin_allowed(
            "http://127.0.0.1:8484",
            Some("127.0.0.1:8484"),
            &c
        ));
        assert!(origin_allowed("http://Books.LAN", Some("books.lan:80"), &c));
        assert!(origin_allowed(
            "https://books.example.com",
            Some("10.0.0.2:8484"),
            &c
        ));
        assert!(!origin_allowed(
            "http://evil.example",
            Some("127.0.0.1:8484"),
            &c
        ));
        assert!(!origin_allowed(
            "http://127.0.0.1:9999",
            Some("127.0.0.1:8484"),
            &c
        ));
        assert!(!origin_allowed("null", Some("127.0.0.1:8484"), &c));
        assert!(!origin_allowed("http://127.0.0.1:8484", None, &c));
    }

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/x-www-form-urlencoded"));
        assert!(!is_json("application/jsonp"));
    }
}
