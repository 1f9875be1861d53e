//! Settings the HTTP layer needs, already validated by the binary.

use std::time::Duration;

use axum::http::Uri;

/// The public base URL (`scheme://host[:port]`) that links and WebSocket URLs are built from,
/// instead of the request's own `Host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    /// `http` or `https`.
    pub scheme: String,
    /// `host[:port]`.
    pub authority: String,
}

impl PublicUrl {
    /// Parses `http(s)://host[:port]` (a trailing `/` is allowed, any other path is not).
    pub fn parse(s: &str) -> Result<Self, String> {
        let uri: Uri = s.parse().map_err(|e| format!("not a URL: {e}"))?;
        let scheme = uri.scheme_str().ok_or("missing scheme (use http:// or https://)")?;
        if scheme != "http" && scheme != "https" {
            return Err(format!("scheme must be http or https, not {scheme}"));
        }
        let authority = uri.authority().ok_or("missing host")?.as_str();
        if authority.contains('@') {
            return Err("must not contain user info".into());
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err("must not have a path or query (give only scheme://host[:port])".into());
        }
        Ok(Self { scheme: scheme.into(), authority: authority.into() })
    }
}

/// The built-in TURN server as clients should be told about it. Not `Debug`: it holds the secret.
#[derive(Clone)]
pub struct TurnAdvert {
    /// The REST secret credentials are minted with.
    pub secret: String,
    /// The TURN port (UDP and TCP).
    pub port: u16,
    /// The host to put in `turn:` URIs; `None` uses the host the client reached the web server at.
    pub host: Option<String>,
    /// How long minted credentials last.
    pub ttl: Duration,
    /// The TURN-over-TLS port, advertised as `turns:` with the host the client reached the web
    /// server at (the name the certificate is for); `None` when TLS is off.
    pub tls_port: Option<u16>,
}

impl std::fmt::Debug for TurnAdvert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnAdvert").field("port", &self.port).field("host", &self.host).field("tls_port", &self.tls_port).finish_non_exhaustive()
    }
}

/// Everything the HTTP layer is configured with.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Base URL for links; `None` derives it from each request.
    pub public_url: Option<PublicUrl>,
    /// Longest room or client id accepted.
    pub max_id_len: usize,
    /// Largest request body accepted; larger gets 413.
    pub max_body_bytes: usize,
    /// Largest WebSocket frame or message accepted; larger closes the socket with 1009.
    pub max_ws_frame_bytes: usize,
    /// A WebSocket that sends nothing (not even a pong) for this long is closed.
    pub ws_idle_timeout: Duration,
    /// An HTTP request (other than a WebSocket) that takes longer gets 408.
    pub request_timeout: Duration,
    /// URLs returned by `POST /v1alpha/iceconfig`.
    pub ice_servers: Vec<String>,
    /// Banner text shown by the web client (`header_message`).
    pub header_message: String,
    /// Whether the web client joins without asking (`bypass_join_confirmation`).
    pub bypass_join_confirmation: bool,
    /// The built-in TURN server, whose credentials the ICE config mints.
    pub turn: Option<TurnAdvert>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            public_url: None,
            max_id_len: 64,
            max_body_bytes: 64 * 1024,
            max_ws_frame_bytes: 64 * 1024,
            ws_idle_timeout: Duration::from_secs(120),
            request_timeout: Duration::from_secs(30),
            ice_servers: Vec::new(),
            header_message: String::new(),
            bypass_join_confirmation: false,
            turn: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_public_urls() {
        assert_eq!(
            PublicUrl::parse("https://calls.example.org").unwrap(),
            PublicUrl { scheme: "https".into(), authority: "calls.example.org".into() }
        );
        assert_eq!(PublicUrl::parse("http://10.0.0.2:8080/").unwrap().authority, "10.0.0.2:8080");
        assert!(PublicUrl::parse("calls.example.org").is_err());
        assert!(PublicUrl::parse("ftp://x").is_err());
        assert!(PublicUrl::parse("https://x/path").is_err());
    }
}
