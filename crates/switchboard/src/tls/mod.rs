//! TLS for the HTTP listener (HTTPS and WSS on one port) and for TURN over TLS: where the
//! certificate comes from (`--tls`), and the one swappable [`CertStore`] every TLS listener
//! shares, so a reloaded or renewed certificate reaches all of them at the next handshake.

pub mod acme;
mod files;
pub mod self_signed;
pub mod store;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

pub use acme::{AcmeSettings, Challenge};
pub use store::CertStore;

/// Where the certificate comes from.
#[derive(Debug, Clone)]
pub enum TlsMode {
    /// Plain HTTP (localhost, or behind a TLS proxy).
    Off,
    /// Generated here and kept in the data directory.
    SelfSigned,
    /// PEM files, reloaded on change and on SIGHUP.
    Files {
        /// Certificate chain.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
    },
    /// From an ACME CA.
    Acme(AcmeSettings),
}

impl TlsMode {
    /// The mode's name as `--tls` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            TlsMode::Off => "off",
            TlsMode::SelfSigned => "self-signed",
            TlsMode::Files { .. } => "files",
            TlsMode::Acme(_) => "acme",
        }
    }
}

/// TLS as the listeners need it.
pub struct Tls {
    /// The HTTPS listener's configuration.
    pub https: Arc<rustls::ServerConfig>,
    /// The TURN-over-TLS listener's configuration.
    pub turn: Arc<rustls::ServerConfig>,
    /// A line for the banner: where the certificate comes from, and its fingerprint.
    pub banner: String,
}

/// Loads or makes the certificate for `mode` and starts what keeps it current (file watcher,
/// ACME issuance and renewal with its port-80 listener). `https_addr` is the bound HTTPS
/// address. `None` for `--tls off`.
pub async fn start(mode: &TlsMode, data_dir: &Path, https_addr: SocketAddr, max_connections: usize) -> anyhow::Result<Option<Tls>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (store, banner) = match mode {
        TlsMode::Off => return Ok(None),
        TlsMode::SelfSigned => {
            let dir = data_dir.join("tls");
            let names = self_signed::wanted_names();
            let (cert, key, created) = self_signed::load_or_create(&dir, &names)
                .with_context(|| format!("making the self-signed certificate in {} (option `data_dir`)", dir.display()))?;
            let ck = store::certified_key(&cert, &key, "self-signed certificate")?;
            let fp = store::fingerprint(ck.cert[0].as_ref());
            if created {
                tracing::info!(dir = %dir.display(), fingerprint = %fp, "generated a self-signed TLS certificate");
            }
            let names = store::subject_names(ck.cert[0].as_ref()).join(", ");
            let banner = format!(
                "TLS: self-signed certificate for {names}\nTLS certificate SHA-256 fingerprint: {fp}\n  (browsers warn once: compare this fingerprint with the one the browser shows, then accept)"
            );
            (CertStore::new(ck), banner)
        }
        TlsMode::Files { cert, key } => {
            let ck = files::load(cert, key)?;
            let fp = store::fingerprint(ck.cert[0].as_ref());
            let store = CertStore::new(ck);
            tokio::spawn(files::watch(store.clone(), cert.clone(), key.clone()));
            (store, format!("TLS: certificate from {} (reloaded on change and on SIGHUP)\nTLS certificate SHA-256 fingerprint: {fp}", cert.display()))
        }
        TlsMode::Acme(settings) => {
            let http = acme::HttpChallenges::default();
            // Until the CA's certificate arrives: a self-signed one for the same names.
            let (cert, key) = self_signed::generate(&settings.domains)?;
            let placeholder = store::certified_key(cert.as_bytes(), key.as_bytes(), "placeholder certificate")?;
            let store = CertStore::new(placeholder);
            let acme = acme::Acme { settings: settings.clone(), dir: data_dir.join("acme"), store: store.clone(), http: http.clone(), https_addr };
            let kept = acme.load_kept();
            if let Some(ck) = kept {
                acme.install(ck, "loaded from the data directory");
            } else {
                tracing::info!("no ACME certificate yet: serving a temporary self-signed one until the CA issues it");
            }
            if let Some(addr) = settings.http_listen {
                let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
                    format!("cannot listen on {addr} for ACME HTTP-01 and redirects (option `acme_http_listen`; port 80 needs CAP_NET_BIND_SERVICE or root, or set it to \"off\" and use --acme-challenge tls-alpn-01)")
                })?;
                let bound = listener.local_addr().context("reading the bound address")?;
                println!("HTTP (ACME challenges, redirect to https) listening on {bound}");
                let router = acme::plain_router(http, https_addr.port());
                let config = http_api::ServeConfig {
                    max_connections: max_connections.min(4096),
                    header_read_timeout: std::time::Duration::from_secs(10),
                    drain_timeout: std::time::Duration::from_secs(1),
                };
                tokio::spawn(async move {
                    if let Err(e) = http_api::serve(listener, router, config, std::future::pending()).await {
                        tracing::error!(error = %e, "the ACME HTTP listener stopped");
                    }
                });
            }
            tokio::spawn(acme.run());
            let banner = format!("TLS: ACME certificate for {} from {}", settings.domains.join(", "), settings.directory);
            (store, banner)
        }
    };
    Ok(Some(Tls { https: store::https_config(store.clone())?, turn: store::turn_config(store)?, banner }))
}
