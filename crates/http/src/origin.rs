//! Where the client reached us: the scheme and host that links and WebSocket URLs must use so
//! `room_link` always matches the page's origin (AppRTC's pushState bug, §8.2).

use axum::http::{header, HeaderMap};

use crate::query::QueryArgs;
use crate::PublicUrl;

/// Scheme and `host[:port]` of this server as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `http` or `https`.
    pub scheme: String,
    /// `host[:port]`.
    pub host: String,
}

impl Origin {
    /// The configured public URL if any; otherwise (plain HTTP only, behind a proxy)
    /// `X-Forwarded-Proto`/`X-Forwarded-Host`, then the `Host` header and whether the connection
    /// itself was TLS.
    pub fn of_request(headers: &HeaderMap, tls: bool, public_url: Option<&PublicUrl>) -> Self {
        if let Some(p) = public_url {
            return Self { scheme: p.scheme.clone(), host: p.authority.clone() };
        }
        // Over TLS this server is the edge: X-Forwarded-* would only be a client's claim.
        let forwarded = |name: &str| if tls { None } else { first_value(headers, name) };
        let forwarded_proto = forwarded("x-forwarded-proto")
            .map(|p| p.to_ascii_lowercase())
            .filter(|p| p == "http" || p == "https");
        let scheme = forwarded_proto.unwrap_or_else(|| if tls { "https" } else { "http" }.to_string());
        let host = forwarded("x-forwarded-host")
            .or_else(|| headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_string))
            .filter(|h| is_plausible_host(h))
            .unwrap_or_else(|| "localhost".to_string());
        Self { scheme, host }
    }

    /// `scheme://host`.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }

    /// The origin `room_link` is built on: AppRTC's "behind stunnel" rule switches an http
    /// request to https when `wstls=true`.
    pub fn for_room_link(&self, query: &QueryArgs) -> Origin {
        if self.scheme == "http" && query.get("wstls") == "true" {
            Origin { scheme: "https".into(), host: self.host.clone() }
        } else {
            self.clone()
        }
    }
}

fn first_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let v = headers.get(name)?.to_str().ok()?;
    let first = v.split(',').next()?.trim();
    (!first.is_empty()).then(|| first.to_string())
}

/// Rejects header values that would break out of a URL (spaces, quotes, slashes, …).
fn is_plausible_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn uses_host_and_connection_tls() {
        let o = Origin::of_request(&headers(&[("host", "127.0.0.1:8080")]), false, None);
        assert_eq!(o.base_url(), "http://127.0.0.1:8080");
        let o = Origin::of_request(&headers(&[("host", "a.example")]), true, None);
        assert_eq!(o.base_url(), "https://a.example");
    }

    #[test]
    fn honours_forwarded_headers_and_public_url() {
        let h = headers(&[("host", "backend:8080"), ("x-forwarded-proto", "https"), ("x-forwarded-host", "example.com, proxy")]);
        assert_eq!(Origin::of_request(&h, false, None).base_url(), "https://example.com");
        let p = PublicUrl::parse("https://calls.example.org").unwrap();
        assert_eq!(Origin::of_request(&h, false, Some(&p)).base_url(), "https://calls.example.org");
    }

    #[test]
    fn ignores_hostile_host_values() {
        let h = headers(&[("host", "evil.com/\"><script>")]);
        assert_eq!(Origin::of_request(&h, false, None).host, "localhost");
    }
}
