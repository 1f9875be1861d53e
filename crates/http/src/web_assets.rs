//! The web client's files (`web/` at the workspace root), embedded in the binary at build time
//! and served under `/static/<name>`.
//!
//! The set is fixed: a request for any other name is a 404. Files are not fingerprinted, so
//! they are served with `Cache-Control: no-cache` and a strong `ETag` (a hash of the bytes):
//! browsers revalidate each load and get a `304 Not Modified` when nothing changed.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $ct:expr) => {
        Asset { name: $name, content_type: $ct, body: include_bytes!(concat!("../../../web/", $name)) }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: &[Asset] = &[
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("call.js", JS),
    asset!("signaling.js", JS),
    asset!("stats.js", JS),
    asset!("qr.js", JS),
    asset!("util.js", JS),
    asset!("favicon.svg", "image/svg+xml"),
];

/// The page template for `/` and `/r/<room>` (see `pages.rs`).
pub const INDEX_TEMPLATE: &str = include_str!("../../../web/index.html");
/// The room-full page.
pub const FULL_PAGE: &str = include_str!("../../../web/full.html");

/// FNV-1a, 64 bits: enough to tell two versions of a file apart for `ETag`.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

/// `GET /static/<name>`.
pub async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let etag = format!("\"{:016x}\"", fnv1a(asset.body));
    let etag_value = HeaderValue::from_str(&etag).expect("hex etag is a valid header value");
    let common = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ETAG, etag_value),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    ];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (StatusCode::OK, common, [(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_non_empty_and_uniquely_named() {
        for (i, a) in ASSETS.iter().enumerate() {
            assert!(!a.body.is_empty(), "{} is empty", a.name);
            assert!(ASSETS[i + 1..].iter().all(|b| b.name != a.name), "{} listed twice", a.name);
        }
    }

    #[test]
    fn templates_carry_their_markers() {
        assert!(INDEX_TEMPLATE.contains("{{LOADING_PARAMS}}"));
        assert!(!INDEX_TEMPLATE.contains("roomId:"));
        assert!(FULL_PAGE.to_lowercase().contains("full"));
    }
}
