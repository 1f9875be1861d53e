//! The certificate every TLS listener (HTTPS, TURN over TLS) presents, swappable at run time:
//! the listeners hold one [`CertStore`] as their rustls certificate resolver, so a renewed or
//! reloaded certificate applies to the next handshake while open connections keep theirs.
//! ACME TLS-ALPN-01 (RFC 8737) answers live here too: a handshake offering only `acme-tls/1`
//! gets the challenge certificate for its SNI name.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context};
use parking_lot::RwLock;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};

/// The rustls crypto provider used everywhere (ring).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The current certificate and the pending TLS-ALPN-01 challenge certificates.
#[derive(Debug)]
pub struct CertStore {
    current: RwLock<Arc<CertifiedKey>>,
    challenges: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

impl CertStore {
    /// A store serving `initial`.
    pub fn new(initial: CertifiedKey) -> Arc<Self> {
        Arc::new(Self { current: RwLock::new(Arc::new(initial)), challenges: RwLock::new(HashMap::new()) })
    }

    /// Serves `key` from the next handshake on.
    pub fn set(&self, key: CertifiedKey) {
        *self.current.write() = Arc::new(key);
    }

    /// Answers TLS-ALPN-01 handshakes for `sni` with `key` until [`CertStore::clear_challenge`].
    pub fn set_challenge(&self, sni: &str, key: CertifiedKey) {
        self.challenges.write().insert(sni.to_ascii_lowercase(), Arc::new(key));
    }

    /// Stops answering TLS-ALPN-01 for `sni`.
    pub fn clear_challenge(&self, sni: &str) {
        self.challenges.write().remove(&sni.to_ascii_lowercase());
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let acme = hello.alpn().is_some_and(|mut protocols| protocols.any(|p| p == http_api::ACME_TLS_ALPN));
        if acme {
            let name = hello.server_name()?.to_ascii_lowercase();
            return self.challenges.read().get(&name).cloned();
        }
        Some(self.current.read().clone())
    }
}

/// The HTTPS listener's rustls configuration: HTTP/2, HTTP/1.1, ACME's `acme-tls/1`, and
/// `stun.turn` (RFC 7443) for TURN clients reaching the HTTPS port.
pub fn https_config(store: Arc<CertStore>) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_cert_resolver(store);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec(), http_api::ACME_TLS_ALPN.to_vec(), b"stun.turn".to_vec()];
    Ok(Arc::new(config))
}

/// The TURN-over-TLS listener's configuration: no ALPN (TURN clients rarely send one, and an
/// unmatched offer is ignored rather than refused).
pub fn turn_config(store: Arc<CertStore>) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_cert_resolver(store);
    Ok(Arc::new(config))
}

/// Parses a PEM certificate chain and private key into a signing key. `what` names the source
/// for error messages (the option to fix).
pub fn certified_key(cert_pem: &[u8], key_pem: &[u8], what: &str) -> anyhow::Result<CertifiedKey> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow!("{what}: the certificate file is not valid PEM: {e}"))?;
    if chain.is_empty() {
        return Err(anyhow!("{what}: the certificate file holds no CERTIFICATE block"));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| anyhow!("{what}: the key file holds no usable private key (PKCS#8, PKCS#1 or SEC1 PEM): {e}"))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| anyhow!("{what}: unsupported private key type (use RSA, ECDSA P-256/P-384 or Ed25519): {e}"))?;
    let certified = CertifiedKey::new(chain, signer);
    certified.keys_match().map_err(|e| anyhow!("{what}: the private key does not belong to the certificate: {e}"))?;
    Ok(certified)
}

/// `AB:CD:…`, the SHA-256 fingerprint browsers show.
pub fn fingerprint(cert: &[u8]) -> String {
    let digest = Sha256::digest(cert);
    let mut out = String::with_capacity(95);
    for (i, b) in digest.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let _ = write!(out, "{b:02X}");
    }
    out
}

/// The validity window (not before, not after) of a DER certificate.
pub fn validity(cert: &[u8]) -> anyhow::Result<(SystemTime, SystemTime)> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert).map_err(|e| anyhow!("cannot parse the certificate: {e}"))?;
    let at = |t: i64| UNIX_EPOCH + Duration::from_secs(u64::try_from(t).unwrap_or(0));
    Ok((at(parsed.validity().not_before.timestamp()), at(parsed.validity().not_after.timestamp())))
}

/// The DNS names and IP addresses (as text) a DER certificate is valid for.
pub fn subject_names(cert: &[u8]) -> Vec<String> {
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert) else { return Vec::new() };
    let mut names = Vec::new();
    if let Ok(Some(san)) = parsed.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::DNSName(d) => names.push(d.to_ascii_lowercase()),
                x509_parser::extensions::GeneralName::IPAddress(bytes) => {
                    let ip = match bytes.len() {
                        4 => <[u8; 4]>::try_from(*bytes).ok().map(std::net::IpAddr::from),
                        16 => <[u8; 16]>::try_from(*bytes).ok().map(std::net::IpAddr::from),
                        _ => None,
                    };
                    if let Some(ip) = ip {
                        names.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    names
}

/// Writes `bytes` to `path` readable by the owner only (0600), through a temporary file and a
/// rename so a reader never sees half a key.
pub fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or_else(|| std::path::Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {} (option `data_dir`)", dir.display()))?;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(bytes).with_context(|| format!("writing {}", tmp.display()))?;
    file.sync_all().ok();
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_look_like_browsers_show_them() {
        let f = fingerprint(b"x");
        assert_eq!(f.len(), 32 * 3 - 1);
        assert!(f.starts_with("2D:71:16:42"), "{f}");
    }

    #[test]
    fn key_mismatch_is_reported() {
        let a = rcgen::generate_simple_self_signed(vec!["a.test".into()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["b.test".into()]).unwrap();
        let ok = certified_key(a.cert.pem().as_bytes(), a.signing_key.serialize_pem().as_bytes(), "t");
        assert!(ok.is_ok());
        let e = certified_key(a.cert.pem().as_bytes(), b.signing_key.serialize_pem().as_bytes(), "tls_key").unwrap_err().to_string();
        assert!(e.contains("tls_key") && e.contains("does not belong"), "{e}");
        assert_eq!(subject_names(a.cert.der()), vec!["a.test".to_string()]);
    }
}
