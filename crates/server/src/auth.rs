//! API key check for `/api/*` (and `/metrics` when configured).

use axum::extract::{OriginalUri, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use super::error::ApiError;

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `Bearer <token>`, the scheme matched without regard to case (RFC 9110
/// §11.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Where `?apikey=` is taken: the streams, which browsers open without
/// custom headers (EventSource, WebSocket). Anywhere else a key in the URL
/// ends up in proxy and access logs.
fn query_key_allowed(req: &Request) -> bool {
    // Inside the nested `/api` router the path has lost its prefix: judge
    // by the path the client sent.
    let path = req
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| req.uri().path(), |u| u.0.path());
    req.method() == Method::GET && matches!(path, "/api/events" | "/api/ws")
}

fn presented(req: &Request) -> Option<String> {
    let h = req.headers();
    if let Some(v) = h.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(v.trim().to_string());
    }
    if let Some(token) = h
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
    {
        return Some(token.to_string());
    }
    if !query_key_allowed(req) {
        return None;
    }
    req.uri().query().and_then(|q| {
        q.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == "apikey").then(|| v.to_string())
        })
    })
}

/// Who made a request, as edits record it: the API key's label, or
/// `local` where the server takes no key.
#[derive(Debug, Clone)]
pub struct Actor(pub &'static str);

/// The label of the one API key.
pub const KEY_LABEL: &str = "api-key";

pub async fn require_key(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let actor = match &state.api_key {
        Some(key) => match presented(&req) {
            Some(k) if !key.is_empty() && constant_time_eq(k.as_bytes(), key.as_bytes()) => {
                Actor(KEY_LABEL)
            }
            _ => return Err(ApiError::Unauthorized),
        },
        None => Actor("local"),
    };
    req.extensions_mut().insert(actor);
    Ok(next.run(req).await)
}

/// A new random key: 32 bytes from the kernel, hex.
pub fn generate_key() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(crate::hash::to_hex(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_matched_in_any_case() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("BEARER abc"), Some("abc"));
        assert_eq!(bearer("bEaReR   abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearerabc"), None);
    }
}
