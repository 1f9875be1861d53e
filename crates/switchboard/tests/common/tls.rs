//! TLS client helpers for the HTTPS, WSS, ACME and TURN-over-TLS tests: a rustls client that
//! trusts given roots (the generated self-signed certificate, or a test CA), HTTP/1.1 over it,
//! and the certificate a handshake presents. Every wait is bounded by [`super::STEP`].

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A client configuration trusting the certificates in `pem` (a CA, or a self-signed leaf).
pub fn client_config(pem: &[u8]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        roots.add(cert.expect("PEM certificate")).expect("root certificate");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A verified TLS connection to `addr` for `name` (a DNS name or an IP address).
pub async fn connect(addr: SocketAddr, name: &str, config: Arc<rustls::ClientConfig>) -> Result<TlsStream<TcpStream>, String> {
    let server_name = ServerName::try_from(name.to_string()).map_err(|e| format!("bad name {name}: {e}"))?;
    let fut = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
        tokio_rustls::TlsConnector::from(config).connect(server_name, tcp).await.map_err(|e| format!("TLS handshake with {addr} as {name}: {e}"))
    };
    tokio::time::timeout(super::STEP, fut).await.map_err(|_| format!("TLS connect to {addr} timed out"))?
}

/// The leaf certificate `addr` presents for `name`, verified against `config`'s roots.
pub async fn leaf(addr: SocketAddr, name: &str, config: Arc<rustls::ClientConfig>) -> Result<CertificateDer<'static>, String> {
    let tls = connect(addr, name, config).await?;
    let certs = tls.get_ref().1.peer_certificates().ok_or("no peer certificates")?;
    Ok(certs[0].clone().into_owned())
}

/// `GET path` over HTTPS (HTTP/1.1, `Connection: close`): status and body.
pub async fn get(addr: SocketAddr, name: &str, config: Arc<rustls::ClientConfig>, path: &str) -> Result<(u16, String), String> {
    request(addr, name, config, "GET", path, "").await
}

/// One HTTPS request (HTTP/1.1, `Connection: close`): status and body.
pub async fn request(addr: SocketAddr, name: &str, config: Arc<rustls::ClientConfig>, method: &str, path: &str, body: &str) -> Result<(u16, String), String> {
    let mut tls = connect(addr, name, config).await?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {name}:{}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        addr.port(),
        body.len()
    );
    let fut = async {
        tls.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let _ = tls.read_to_end(&mut buf).await;
        Ok::<_, String>(buf)
    };
    let buf = tokio::time::timeout(super::STEP, fut).await.map_err(|_| "HTTPS response timed out".to_string())??;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| format!("no HTTP status in {text:?}"))?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

/// A WebSocket over TLS (`wss://name:port/ws`) on a verified connection.
pub type Wss = tokio_tungstenite::WebSocketStream<TlsStream<TcpStream>>;

/// Opens `wss://name:port/ws` to `addr`.
pub async fn wss(addr: SocketAddr, name: &str, config: Arc<rustls::ClientConfig>) -> Wss {
    let stream = connect(addr, name, config).await.expect("TLS connect for wss");
    let url = format!("wss://{name}:{}/ws", addr.port());
    let (ws, _) = tokio::time::timeout(super::STEP, tokio_tungstenite::client_async(url, stream))
        .await
        .expect("wss handshake timed out")
        .expect("wss handshake");
    ws
}

/// Sends a text frame.
pub async fn ws_send(ws: &mut Wss, text: &str) {
    use futures_util::SinkExt;
    tokio::time::timeout(super::STEP, ws.send(tokio_tungstenite::tungstenite::Message::text(text.to_string())))
        .await
        .expect("wss send timed out")
        .expect("wss send");
}

/// The next text frame (pings skipped), bounded by [`super::STEP`].
pub async fn ws_recv(ws: &mut Wss) -> String {
    use futures_util::StreamExt;
    tokio::time::timeout(super::STEP, async {
        loop {
            match ws.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) => return t.as_str().to_string(),
                Some(Ok(_)) => continue,
                other => panic!("wss closed: {other:?}"),
            }
        }
    })
    .await
    .expect("no wss frame in time")
}

/// The SHA-256 of a DER certificate, as hex.
pub fn sha256_hex(der: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(der).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// The DNS names and IP addresses a certificate names.
pub fn names(der: &[u8]) -> Vec<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).expect("parse certificate");
    let mut out = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                x509_parser::extensions::GeneralName::DNSName(d) => out.push(d.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(b) if b.len() == 4 => out.push(std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()),
                _ => {}
            }
        }
    }
    out
}
