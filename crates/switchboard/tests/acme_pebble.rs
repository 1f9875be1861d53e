//! ACME against a real ACME server: Debian's `pebble` (RFC 8555 test CA), with
//! `pebble-challtestsrv` as its DNS server so any name resolves to 127.0.0.1. Pebble validates
//! for real (`PEBBLE_VA_ALWAYS_VALID=0`) on the ports its config names, which are the ports
//! this test gives the server for HTTP-01 (`--acme-http-listen`) and TLS-ALPN-01 (the HTTPS
//! `--listen` port), so no root ports are needed.
//!
//! - HTTP-01: a certificate for a DNS name and an IP address, served over HTTPS, verified
//!   against pebble's issuing root; then renewed (pebble issues 30-second certificates, renewal
//!   is due with a third left) and a fresh TLS client gets the new certificate while a WSS
//!   connection opened on the old one keeps working — no restart.
//! - TLS-ALPN-01: the same names proven through the HTTPS listener's `acme-tls/1` handling.
//!
//! The tools are required: install the Debian package `pebble` (scripts/test-all.sh does).

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_tcp_port, tls, Server};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

const NAME: &str = "calls.switchboard.test";
const IP: &str = "127.0.0.1";
/// Bound for one issuance (account, order, validation, finalize).
const ISSUE_TIMEOUT: Duration = Duration::from_secs(40);

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(program: &str, args: &[String], envs: &[(&str, &str)], log: &Path) -> Proc {
    let out = std::fs::File::create(log).unwrap();
    let err = out.try_clone().unwrap();
    let child = Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{program}` ({e}): install the Debian package `pebble` (apt-get install pebble)"));
    Proc(child)
}

fn wait_port(port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            panic!("{what} did not listen on {port}:\n{}", std::fs::read_to_string(log).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running pebble with its DNS server; `root_pem` trusts the certificates it issues.
struct Pebble {
    _dns: Proc,
    _ca: Proc,
    directory: String,
    /// The CA certificate of pebble's own HTTPS (for `--acme-ca-root`).
    https_root: PathBuf,
    management: u16,
    dir: PathBuf,
}

impl Pebble {
    fn start(tag: &str, http_port: u16, tls_port: u16) -> Pebble {
        let dir = std::env::temp_dir().join(format!("switchboard-pebble-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Pebble's HTTPS certificate, from a CA of our own.
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "pebble test root");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();

        let (acme, management, dns) = (free_tcp_port(), free_tcp_port(), free_tcp_port());
        let config = serde_json::json!({ "pebble": {
            "listenAddress": format!("127.0.0.1:{acme}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": dir.join("cert.pem"),
            "privateKey": dir.join("key.pem"),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
            "certificateValidityPeriod": 30,
        }});
        std::fs::write(dir.join("pebble.json"), config.to_string()).unwrap();
        let dns_log = dir.join("challtestsrv.log");
        let dns_proc = spawn(
            "pebble-challtestsrv",
            &[
                "-dns01".into(),
                format!("127.0.0.1:{dns}"),
                "-defaultIPv4".into(),
                "127.0.0.1".into(),
                "-defaultIPv6".into(),
                "".into(),
                "-http01".into(),
                "".into(),
                "-https01".into(),
                "".into(),
                "-tlsalpn01".into(),
                "".into(),
                "-management".into(),
                format!("127.0.0.1:{}", free_tcp_port()),
            ],
            &[],
            &dns_log,
        );
        wait_port(dns, "pebble-challtestsrv", &dns_log);
        let log = dir.join("pebble.log");
        let ca_proc = spawn(
            "pebble",
            &["-config".into(), dir.join("pebble.json").display().to_string(), "-dnsserver".into(), format!("127.0.0.1:{dns}")],
            &[("PEBBLE_VA_NOSLEEP", "1"), ("PEBBLE_VA_ALWAYS_VALID", "0"), ("PEBBLE_WFE_NONCEREJECT", "0"), ("PEBBLE_AUTHZREUSE", "0")],
            &log,
        );
        wait_port(acme, "pebble", &log);
        Pebble { _dns: dns_proc, _ca: ca_proc, directory: format!("https://127.0.0.1:{acme}/dir"), https_root: dir.join("ca.pem"), management, dir }
    }

    /// The root pebble issues under (its management API), as PEM.
    async fn issuing_root(&self) -> Vec<u8> {
        let config = tls::client_config(&std::fs::read(&self.https_root).unwrap());
        let addr: SocketAddr = format!("127.0.0.1:{}", self.management).parse().unwrap();
        let (status, body) = tls::get(addr, "127.0.0.1", config, "/roots/0").await.expect("pebble /roots/0");
        assert_eq!(status, 200, "{body}");
        body.into_bytes()
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.join("pebble.log")).unwrap_or_default()
    }
}

fn start_server(pebble: &Pebble, https_port: u16, challenge: &str, http_listen: &str) -> Server {
    let listen = format!("127.0.0.1:{https_port}");
    let root = pebble.https_root.display().to_string();
    let data = pebble.dir.join("data").display().to_string();
    Server::start_exact(&[
        "--data-dir", &data,
        "--listen", &listen, "--tls", "acme", "--domain", NAME, "--domain", IP, "--acme-directory", &pebble.directory,
        "--acme-ca-root", &root, "--acme-challenge", challenge, "--acme-http-listen", http_listen, "--acme-email", "ops@switchboard.test",
        "--log", "info,switchboard=debug",
    ])
}

/// Waits until the server serves a certificate that chains to pebble's root, for `name`.
async fn issued_leaf(server: &Server, pebble: &Pebble, config: std::sync::Arc<rustls::ClientConfig>, name: &str) -> Vec<u8> {
    let deadline = Instant::now() + ISSUE_TIMEOUT;
    loop {
        match tls::leaf(server.addr, name, config.clone()).await {
            Ok(leaf) => return leaf.to_vec(),
            Err(e) if Instant::now() > deadline => {
                panic!("no certificate from pebble for {name} within {ISSUE_TIMEOUT:?}: {e}\n--- server ---\n{}\n--- pebble ---\n{}", server.logs(), pebble.logs())
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http01_for_a_name_and_an_ip_then_renewal_without_restart() {
    let (http_port, https_port) = (free_tcp_port(), free_tcp_port());
    let pebble = Pebble::start("http01", http_port, https_port);
    let server = start_server(&pebble, https_port, "http-01", &format!("127.0.0.1:{http_port}"));
    let root = pebble.issuing_root().await;
    let config = tls::client_config(&root);

    let first = issued_leaf(&server, &pebble, config.clone(), NAME).await;
    let names = tls::names(&first);
    assert!(names.contains(&NAME.to_string()) && names.contains(&IP.to_string()), "SANs {names:?}");
    // The IP identifier verifies too, and the HTTPS server answers.
    let (status, body) = tls::get(server.addr, IP, config.clone(), "/readyz").await.unwrap();
    assert_eq!((status, body.as_str()), (200, "ready\n"));
    // Port 80's stand-in redirects everything but challenges to https.
    let plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy().build().unwrap();
    let r = plain.get(format!("http://127.0.0.1:{http_port}/r/room1?x=1")).header("host", format!("{NAME}:{http_port}")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 301);
    assert_eq!(r.headers()["location"], format!("https://{NAME}:{https_port}/r/room1?x=1"));

    // A WSS connection on the first certificate.
    let tls_stream = tls::connect(server.addr, NAME, config.clone()).await.unwrap();
    let (mut ws, _) = tokio::time::timeout(common::STEP, tokio_tungstenite::client_async(format!("wss://{NAME}:{https_port}/ws"), tls_stream))
        .await
        .expect("wss handshake timed out")
        .expect("wss handshake");

    // Renewal: pebble's certificates last 30 s; the server renews with 10 s left.
    let deadline = Instant::now() + Duration::from_secs(45);
    let second = loop {
        let leaf = tls::leaf(server.addr, NAME, config.clone()).await.expect("handshake during renewal");
        if leaf.as_ref() != first.as_slice() {
            break leaf.to_vec();
        }
        assert!(Instant::now() < deadline, "no renewed certificate within 45 s\n--- server ---\n{}", server.logs());
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(tls::names(&second).contains(&NAME.to_string()));
    assert!(server.logs().contains("TLS certificate installed (ACME, issued)"), "{}", server.logs());
    // The connection made before the swap is still served.
    ws.send(Message::Ping(b"still-there".to_vec().into())).await.expect("ping on the old connection");
    let pong = tokio::time::timeout(common::STEP, async {
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Pong(p) = m {
                return p.to_vec();
            }
        }
        Vec::new()
    })
    .await
    .expect("pong timed out");
    assert_eq!(pong, b"still-there");

    // Kept in the data directory, keys 0600, and never logged.
    use std::os::unix::fs::PermissionsExt;
    for file in ["key.pem", "account.json", "cert.pem"] {
        let path = pebble.dir.join("data/acme").join(file);
        let mode = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", path.display());
    }
    assert!(!server.logs().contains("PRIVATE KEY"), "a key was logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_alpn01_for_a_name_and_an_ip() {
    let (http_port, https_port) = (free_tcp_port(), free_tcp_port());
    let pebble = Pebble::start("alpn", http_port, https_port);
    let server = start_server(&pebble, https_port, "tls-alpn-01", "off");
    let root = pebble.issuing_root().await;
    let config = tls::client_config(&root);
    let leaf = issued_leaf(&server, &pebble, config.clone(), IP).await;
    let names = tls::names(&leaf);
    assert!(names.contains(&NAME.to_string()) && names.contains(&IP.to_string()), "SANs {names:?}");
    let (status, _) = tls::get(server.addr, NAME, config, "/healthz").await.unwrap();
    assert_eq!(status, 200);
}
