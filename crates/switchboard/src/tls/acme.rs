//! `--tls acme`: certificates from an ACME CA (RFC 8555; Let's Encrypt by default) for the
//! `--domain` names and IP addresses (RFC 8738), proven with HTTP-01 (answered on the plain
//! listener, port 80) or TLS-ALPN-01 (RFC 8737, answered by the HTTPS listener's certificate
//! resolver). The account key and the certificate are kept in `DATA_DIR/acme/` (keys 0600).
//! A certificate is renewed when a third of its lifetime is left (30 days of Let's Encrypt's
//! 90), at most 30 days before expiry; a failed attempt is retried with backoff (10 s doubling
//! to 1 h) while the current certificate goes on serving. A new certificate goes into the
//! shared [`CertStore`], so every TLS listener hands it out from the next handshake on, without
//! a restart and without closing connections.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use parking_lot::RwLock;
use rcgen::{CertificateParams, CustomExtension, DistinguishedName, KeyPair, SanType};

use super::store::{self, write_private, CertStore};

/// Let's Encrypt's production directory.
pub const PRODUCTION: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging directory.
pub const STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// How a name is proven to the CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    /// HTTP-01 on port 80.
    Http01,
    /// TLS-ALPN-01 on port 443.
    TlsAlpn01,
}

impl Challenge {
    fn kind(self) -> ChallengeType {
        match self {
            Challenge::Http01 => ChallengeType::Http01,
            Challenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Challenge::Http01 => "http-01",
            Challenge::TlsAlpn01 => "tls-alpn-01",
        }
    }
}

/// The validated ACME settings.
#[derive(Debug, Clone)]
pub struct AcmeSettings {
    /// Names (lowercase DNS names or IP addresses as text), the first one main.
    pub domains: Vec<String>,
    /// Directory URL.
    pub directory: String,
    /// Contact e-mail.
    pub email: Option<String>,
    /// Extra root CA for the directory's HTTPS.
    pub ca_root: Option<PathBuf>,
    /// Challenge type.
    pub challenge: Challenge,
    /// The plain listener for HTTP-01 and redirects.
    pub http_listen: Option<SocketAddr>,
}

/// Pending HTTP-01 answers: token → key authorization.
pub type HttpChallenges = Arc<RwLock<HashMap<String, String>>>;

/// Everything the issuing task works with.
pub struct Acme {
    /// Settings.
    pub settings: AcmeSettings,
    /// Where the account and certificates live.
    pub dir: PathBuf,
    /// The certificate the listeners serve.
    pub store: Arc<CertStore>,
    /// HTTP-01 answers, read by the plain listener.
    pub http: HttpChallenges,
    /// The HTTPS listener's bound address (for error hints).
    pub https_addr: SocketAddr,
}

fn identifier(name: &str) -> Identifier {
    match name.parse::<IpAddr>() {
        Ok(ip) => Identifier::Ip(ip),
        Err(_) => Identifier::Dns(name.to_string()),
    }
}

/// The SNI a CA sends for TLS-ALPN-01: the name itself, or for an IP address its reverse-DNS
/// name (RFC 8738 §6).
pub fn alpn_sni(name: &str) -> String {
    match name.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        Ok(IpAddr::V6(v6)) => {
            let mut s = String::new();
            for byte in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            s + "ip6.arpa"
        }
        Err(_) => name.to_ascii_lowercase(),
    }
}

fn san(name: &str) -> anyhow::Result<SanType> {
    Ok(match name.parse::<IpAddr>() {
        Ok(ip) => SanType::IpAddress(ip),
        Err(_) => SanType::DnsName(name.to_string().try_into().with_context(|| format!("{name:?} is not a DNS name (option `domains`)"))?),
    })
}

/// When to renew a certificate valid from `not_before` to `not_after`.
pub fn renew_at(not_before: SystemTime, not_after: SystemTime) -> SystemTime {
    let lifetime = not_after.duration_since(not_before).unwrap_or_default();
    let early = (lifetime / 3).min(Duration::from_secs(30 * 86_400));
    not_after - early
}

impl Acme {
    fn cert_path(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }
    fn key_path(&self) -> PathBuf {
        self.dir.join("key.pem")
    }
    fn meta_path(&self) -> PathBuf {
        self.dir.join("cert.json")
    }

    /// The kept certificate, if it is for these names from this directory and not expired.
    pub fn load_kept(&self) -> Option<rustls::sign::CertifiedKey> {
        let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(self.meta_path()).ok()?).ok()?;
        if meta["directory"].as_str() != Some(self.settings.directory.as_str()) {
            return None;
        }
        let cert = std::fs::read(self.cert_path()).ok()?;
        let key = std::fs::read(self.key_path()).ok()?;
        let ck = store::certified_key(&cert, &key, "kept ACME certificate").ok()?;
        let names = store::subject_names(ck.cert[0].as_ref());
        let (_, not_after) = store::validity(ck.cert[0].as_ref()).ok()?;
        (self.settings.domains.iter().all(|d| names.contains(d)) && not_after > SystemTime::now()).then_some(ck)
    }

    /// Keeps the listeners supplied with a valid certificate, forever.
    pub async fn run(self) {
        let mut failures: u32 = 0;
        loop {
            let due = match self.load_kept() {
                Some(ck) => match store::validity(ck.cert[0].as_ref()) {
                    Ok((nb, na)) => renew_at(nb, na),
                    Err(_) => SystemTime::now(),
                },
                None => SystemTime::now(),
            };
            if let Ok(wait) = due.duration_since(SystemTime::now()) {
                tracing::info!(renew_in = %humantime::format_duration(Duration::from_secs(wait.as_secs())), "ACME certificate is current");
                // Sleep in pieces of at most an hour so a changed wall clock is noticed.
                tokio::time::sleep(wait.min(Duration::from_secs(3600))).await;
                continue;
            }
            match self.issue().await {
                Ok(ck) => {
                    failures = 0;
                    self.install(ck, "issued");
                }
                Err(e) => {
                    failures += 1;
                    let retry = Duration::from_secs(10u64.saturating_mul(1 << failures.min(9).saturating_sub(1))).min(Duration::from_secs(3600));
                    tracing::error!(error = %format!("{e:#}"), retry_in = %humantime::format_duration(retry), "ACME certificate request failed");
                    eprintln!("ACME: {e:#}\nACME: retrying in {}", humantime::format_duration(retry));
                    tokio::time::sleep(retry).await;
                }
            }
        }
    }

    /// Serves `ck` from now on and says so.
    pub fn install(&self, ck: rustls::sign::CertifiedKey, how: &str) {
        let leaf = ck.cert[0].as_ref();
        let fp = store::fingerprint(leaf);
        let until = store::validity(leaf).map(|(_, na)| humantime::format_rfc3339_seconds(na).to_string()).unwrap_or_default();
        self.store.set(ck);
        tracing::info!(fingerprint = %fp, valid_until = %until, names = ?self.settings.domains, "ACME certificate {how} and installed");
        println!("TLS certificate installed (ACME, {how}): SHA-256 {fp}, valid until {until}");
    }

    async fn account(&self) -> anyhow::Result<Account> {
        let path = self.dir.join("account.json");
        let builder = || -> anyhow::Result<instant_acme::AccountBuilder> {
            match &self.settings.ca_root {
                Some(root) => Account::builder_with_root(root)
                    .with_context(|| format!("loading the ACME CA root {} (option `acme_ca_root`)", root.display())),
                None => Account::builder().context("setting up the HTTPS client for the ACME directory"),
            }
        };
        if let Ok(bytes) = std::fs::read(&path) {
            if let Ok(saved) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                if saved["directory"].as_str() == Some(self.settings.directory.as_str()) {
                    if let Ok(credentials) = serde_json::from_value::<AccountCredentials>(saved["credentials"].clone()) {
                        return builder()?.from_credentials(credentials).await.with_context(|| {
                            format!("restoring the ACME account from {} (delete the file to register a new one)", path.display())
                        });
                    }
                }
            }
        }
        let contact = self.settings.email.as_ref().map(|e| format!("mailto:{e}"));
        let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
        let (account, credentials) = builder()?
            .create(&NewAccount { contact: &contacts, terms_of_service_agreed: true, only_return_existing: false }, self.settings.directory.clone(), None)
            .await
            .with_context(|| format!("registering an ACME account at {} (option `acme_directory`; check the URL and that this machine reaches it)", self.settings.directory))?;
        let saved = serde_json::json!({ "directory": self.settings.directory, "credentials": credentials });
        write_private(&path, saved.to_string().as_bytes())?;
        tracing::info!(directory = %self.settings.directory, "ACME account registered");
        Ok(account)
    }

    /// One full order: challenges, CSR, certificate; persisted before it is returned.
    pub async fn issue(&self) -> anyhow::Result<rustls::sign::CertifiedKey> {
        let account = self.account().await?;
        let identifiers: Vec<Identifier> = self.settings.domains.iter().map(|d| identifier(d)).collect();
        let mut order = account
            .new_order(&NewOrder::new(&identifiers))
            .await
            .with_context(|| format!("ordering a certificate for {:?} from {}", self.settings.domains, self.settings.directory))?;
        let challenge = self.settings.challenge;
        let mut cleanup: Vec<(Option<String>, Option<String>)> = Vec::new();
        let result = async {
            let mut authorizations = order.authorizations();
            while let Some(next) = authorizations.next().await {
                let mut authz = next.context("reading an ACME authorization")?;
                match authz.status {
                    AuthorizationStatus::Pending => {}
                    AuthorizationStatus::Valid => continue,
                    other => return Err(anyhow!("the CA's authorization for {} is {other:?}", authz.identifier())),
                }
                let name = authz.identifier().to_string();
                let mut ch = authz.challenge(challenge.kind()).ok_or_else(|| {
                    anyhow!("the CA offers no {} challenge for {name}; choose another with --acme-challenge (option `acme_challenge`)", challenge.name())
                })?;
                let key_auth = ch.key_authorization();
                match challenge {
                    Challenge::Http01 => {
                        self.http.write().insert(ch.token.clone(), key_auth.as_str().to_string());
                        cleanup.push((Some(ch.token.clone()), None));
                    }
                    Challenge::TlsAlpn01 => {
                        let mut params = CertificateParams::default();
                        params.subject_alt_names = vec![san(&name)?];
                        params.custom_extensions = vec![CustomExtension::new_acme_identifier(key_auth.digest().as_ref())];
                        let key = KeyPair::generate().context("generating a TLS-ALPN-01 key")?;
                        let cert = params.self_signed(&key).context("making the TLS-ALPN-01 certificate")?;
                        // Not `store::certified_key`: its key check parses the certificate with
                        // webpki, which refuses the critical acmeIdentifier extension.
                        let der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
                        let signer = rustls::crypto::ring::sign::any_supported_type(&der).context("TLS-ALPN-01 key")?;
                        let ck = rustls::sign::CertifiedKey::new(vec![cert.der().clone()], signer);
                        let sni = alpn_sni(&name);
                        self.store.set_challenge(&sni, ck);
                        cleanup.push((None, Some(sni)));
                    }
                }
                ch.set_ready().await.with_context(|| format!("telling the CA the {} challenge for {name} is ready", challenge.name()))?;
            }
            let status = order
                .poll_ready(&RetryPolicy::new().initial_delay(Duration::from_millis(250)).timeout(Duration::from_secs(90)))
                .await;
            let failed = match status {
                Ok(OrderStatus::Ready) => None,
                Ok(other) => Some(format!("the order ended {other:?}")),
                Err(e) => Some(e.to_string()),
            };
            if let Some(why) = failed {
                return Err(anyhow!("{}", self.explain(&mut order, &why).await));
            }
            Ok(())
        }
        .await;
        for (token, sni) in cleanup {
            if let Some(t) = token {
                self.http.write().remove(&t);
            }
            if let Some(s) = sni {
                self.store.clear_challenge(&s);
            }
        }
        result?;

        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.subject_alt_names = self.settings.domains.iter().map(|d| san(d)).collect::<anyhow::Result<_>>()?;
        let key = KeyPair::generate().context("generating the certificate key")?;
        let csr = params.serialize_request(&key).context("making the certificate signing request")?;
        order.finalize_csr(csr.der()).await.context("finalizing the ACME order")?;
        let chain = order
            .poll_certificate(&RetryPolicy::new().timeout(Duration::from_secs(90)))
            .await
            .context("downloading the certificate from the CA")?;
        let key_pem = key.serialize_pem();
        let ck = store::certified_key(chain.as_bytes(), key_pem.as_bytes(), "certificate from the ACME CA")?;
        write_private(&self.key_path(), key_pem.as_bytes())?;
        write_private(&self.cert_path(), chain.as_bytes())?;
        write_private(&self.meta_path(), serde_json::json!({ "directory": self.settings.directory, "domains": self.settings.domains }).to_string().as_bytes())?;
        Ok(ck)
    }

    /// What went wrong with an order, from the CA's per-challenge errors, and what to fix.
    async fn explain(&self, order: &mut instant_acme::Order, why: &str) -> String {
        let mut lines = vec![format!("the CA did not validate the names ({why})")];
        let mut authorizations = order.authorizations();
        while let Some(Ok(authz)) = authorizations.next().await {
            let name = authz.identifier().to_string();
            for ch in &authz.challenges {
                if let Some(problem) = &ch.error {
                    lines.push(format!("{name}: {}", problem.detail.clone().unwrap_or_else(|| problem.to_string())));
                }
            }
            if authz.status != AuthorizationStatus::Valid {
                lines.push(self.hint(&name));
            }
        }
        lines.join("\n  ")
    }

    fn hint(&self, name: &str) -> String {
        match self.settings.challenge {
            Challenge::Http01 => format!(
                "to fix: the CA must reach http://{name}/.well-known/acme-challenge/ on port 80, answered here by `acme_http_listen` ({}). \
                 Check that {name} resolves to this machine's public address, that port 80 is open in the firewall and forwarded to it, \
                 and that nothing else answers port 80 — or use --acme-challenge tls-alpn-01",
                self.settings.http_listen.map_or("off".to_string(), |a| a.to_string())
            ),
            Challenge::TlsAlpn01 => format!(
                "to fix: the CA must reach {name} on port 443 with TLS (ALPN acme-tls/1), answered here by the HTTPS listener (`listen`, {}). \
                 Check that {name} resolves to this machine's public address, that port 443 is open and forwarded to it, \
                 and that no proxy or load balancer terminates TLS in front of it — or use --acme-challenge http-01",
                self.https_addr
            ),
        }
    }
}

/// State of the plain listener.
#[derive(Clone)]
struct Plain {
    http: HttpChallenges,
    https_port: u16,
}

/// The port-80 router: HTTP-01 answers, and a redirect to https for everything else.
pub fn plain_router(http: HttpChallenges, https_port: u16) -> axum::Router {
    axum::Router::new()
        .route("/.well-known/acme-challenge/{token}", axum::routing::get(answer))
        .fallback(redirect)
        .with_state(Plain { http, https_port })
}

async fn answer(State(plain): State<Plain>, Path(token): Path<String>) -> Response {
    match plain.http.read().get(&token) {
        Some(key_auth) => ([(header::CONTENT_TYPE, "application/octet-stream")], key_auth.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, "no such ACME challenge\n").into_response(),
    }
}

async fn redirect(State(plain): State<Plain>, headers: HeaderMap, uri: Uri) -> Response {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let plausible = !host.is_empty() && host.len() <= 255 && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    if !plausible {
        return (StatusCode::BAD_REQUEST, "this port serves only redirects to https; send a Host header\n").into_response();
    }
    let bare = if host.starts_with('[') {
        host.split_once(']').map_or(host.to_string(), |(h, _)| format!("{h}]"))
    } else {
        host.rsplit_once(':').filter(|(h, _)| !h.contains(':')).map_or(host, |(h, _)| h).to_string()
    };
    let port = if plain.https_port == 443 { String::new() } else { format!(":{}", plain.https_port) };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let location = format!("https://{bare}{port}{path}");
    (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, location)], "moved to https\n").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names_for_ip_challenges() {
        assert_eq!(alpn_sni("127.0.0.1"), "1.0.0.127.in-addr.arpa");
        assert_eq!(alpn_sni("Example.ORG"), "example.org");
        assert!(alpn_sni("::1").starts_with("1.0.0.0.") && alpn_sni("::1").ends_with(".ip6.arpa"));
    }

    #[test]
    fn renews_with_a_third_left_at_most_30_days_early() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(renew_at(t0, t0 + Duration::from_secs(90 * 86_400)), t0 + Duration::from_secs(60 * 86_400));
        assert_eq!(renew_at(t0, t0 + Duration::from_secs(30)), t0 + Duration::from_secs(20));
        assert_eq!(renew_at(t0, t0 + Duration::from_secs(365 * 86_400)), t0 + Duration::from_secs(335 * 86_400));
    }
}
