//! `--tls files`: a certificate and key from PEM files (e.g. written by another ACME client or
//! a company CA), reloaded without a restart when either file changes (checked every 2 s) and
//! at once on SIGHUP. A reload that fails (a half-written file, a key that does not match)
//! keeps the certificate in use and is retried at the next change or signal.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::store::{self, CertStore};

/// How often the files' size and modification time are looked at.
const POLL: Duration = Duration::from_secs(2);

/// Reads and parses the pair; the error names the options.
pub fn load(cert: &Path, key: &Path) -> anyhow::Result<rustls::sign::CertifiedKey> {
    let cert_pem = std::fs::read(cert).map_err(|e| anyhow::anyhow!("cannot read {} (option `tls_cert`, --tls-cert): {e}", cert.display()))?;
    let key_pem = std::fs::read(key).map_err(|e| anyhow::anyhow!("cannot read {} (option `tls_key`, --tls-key): {e}", key.display()))?;
    store::certified_key(&cert_pem, &key_pem, &format!("{} / {} (options `tls_cert`, `tls_key`)", cert.display(), key.display()))
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Watches the files and swaps the certificate into `store` when they change or on SIGHUP.
pub async fn watch(store: Arc<CertStore>, cert: PathBuf, key: PathBuf) {
    let mut seen = (stamp(&cert), stamp(&key));
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let forced = tokio::select! {
            _ = tick.tick() => false,
            Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => true,
        };
        #[cfg(not(unix))]
        let forced = {
            tick.tick().await;
            false
        };
        let now = (stamp(&cert), stamp(&key));
        if !forced && now == seen {
            continue;
        }
        seen = now;
        match load(&cert, &key) {
            Ok(ck) => {
                let fp = store::fingerprint(ck.cert[0].as_ref());
                store.set(ck);
                tracing::info!(cert = %cert.display(), fingerprint = %fp, reason = if forced { "SIGHUP" } else { "file changed" }, "TLS certificate reloaded");
                println!("TLS certificate reloaded: SHA-256 {fp}");
            }
            Err(e) => tracing::error!(error = %e, "TLS certificate reload failed; still serving the previous certificate"),
        }
    }
}
