//! HTTPS and WSS on one port with `--tls self-signed` and `--tls files`, against the real
//! binary on `--listen 127.0.0.1:0`:
//! - self-signed: the certificate is generated into the data directory (key 0600), names
//!   localhost and 127.0.0.1, its SHA-256 fingerprint is in the banner; a client trusting it
//!   joins a room over HTTPS (room links are https) and signals over WSS; a restart keeps it.
//! - files: replacing the PEM files makes the next handshake present the new certificate; a
//!   broken replacement keeps the old one serving; SIGHUP reloads.
//! - plain HTTP (`--tls off`, the default on loopback) honours X-Forwarded-Proto/-Host.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{tls, Server};
use serde_json::Value;

fn data_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("switchboard-tls-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signed_https_and_wss() {
    let dir = data_dir("self");
    let dir_arg = dir.display().to_string();
    let server = Server::start_with(&["--tls", "self-signed", "--data-dir", &dir_arg]);
    let cert_pem = std::fs::read(dir.join("tls/self-signed-cert.pem")).expect("certificate kept in the data directory");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("tls/self-signed-key.pem")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let config = tls::client_config(&cert_pem);

    let leaf = tls::leaf(server.addr, "localhost", config.clone()).await.expect("localhost verifies");
    assert!(server.logs().contains(&format!("TLS certificate SHA-256 fingerprint: {}", tls::sha256_hex(&leaf))), "{}", server.logs());
    assert!(server.logs().contains(&format!("https://localhost:{}/", server.port())), "{}", server.logs());
    let names = tls::names(&leaf);
    assert!(names.contains(&"localhost".to_string()) && names.contains(&"127.0.0.1".to_string()), "{names:?}");

    // Join over HTTPS: links are https.
    let room = common::room("tlsroom");
    let (status, body) = tls::request(server.addr, "127.0.0.1", config.clone(), "POST", &format!("/join/{room}"), "").await.unwrap();
    assert_eq!(status, 200, "{body}");
    let a: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(a["result"], "SUCCESS", "{a}");
    let link = a["params"]["room_link"].as_str().unwrap();
    assert!(link.starts_with(&format!("https://127.0.0.1:{}/r/", server.port())), "{link}");
    let wss_url = a["params"]["wss_url"].as_str().unwrap_or_default();
    assert!(wss_url.starts_with("wss://"), "{a}");
    let (_, body) = tls::request(server.addr, "localhost", config.clone(), "POST", &format!("/join/{room}"), "").await.unwrap();
    let b: Value = serde_json::from_str(&body).unwrap();
    let (ca, cb) = (a["params"]["client_id"].as_str().unwrap(), b["params"]["client_id"].as_str().unwrap());

    // Signal over WSS.
    let mut wa = tls::wss(server.addr, "localhost", config.clone()).await;
    let mut wb = tls::wss(server.addr, "127.0.0.1", config.clone()).await;
    tls::ws_send(&mut wa, &serde_json::json!({"cmd":"register","roomid":room,"clientid":ca}).to_string()).await;
    tls::ws_send(&mut wb, &serde_json::json!({"cmd":"register","roomid":room,"clientid":cb}).to_string()).await;
    tls::ws_send(&mut wb, &serde_json::json!({"cmd":"send","msg":"hello over wss"}).to_string()).await;
    let frame: Value = serde_json::from_str(tls::ws_recv(&mut wa).await.trim_end()).unwrap();
    assert_eq!(frame["msg"], "hello over wss", "{frame}");

    // A restart keeps the certificate.
    drop(server);
    let again = Server::start_with(&["--tls", "self-signed", "--data-dir", &dir_arg]);
    let leaf2 = tls::leaf(again.addr, "localhost", config).await.expect("same certificate after restart");
    assert_eq!(leaf2.as_ref(), leaf.as_ref());
    let _ = std::fs::remove_dir_all(&dir);
}

fn write_pair(dir: &Path, name: &str) -> Vec<u8> {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec![name.to_string(), "localhost".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    // Key first, then the certificate, each through a rename, as certbot-style tools do.
    std::fs::write(dir.join("key.tmp"), key.serialize_pem()).unwrap();
    std::fs::rename(dir.join("key.tmp"), dir.join("key.pem")).unwrap();
    std::fs::write(dir.join("cert.tmp"), cert.pem()).unwrap();
    std::fs::rename(dir.join("cert.tmp"), dir.join("cert.pem")).unwrap();
    cert.pem().into_bytes()
}

async fn wait_for_leaf(server: &Server, trust: &[u8], limit: Duration) {
    let config = tls::client_config(trust);
    let deadline = Instant::now() + limit;
    loop {
        match tls::leaf(server.addr, "localhost", config.clone()).await {
            Ok(_) => return,
            Err(e) if Instant::now() > deadline => panic!("the new certificate was not served within {limit:?}: {e}\n{}", server.logs()),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_reloaded_on_change_and_on_sighup() {
    let dir = data_dir("files");
    std::fs::create_dir_all(&dir).unwrap();
    let first = write_pair(&dir, "first.test");
    let cert = dir.join("cert.pem").display().to_string();
    let key = dir.join("key.pem").display().to_string();
    let server = Server::start_with(&["--tls", "files", "--tls-cert", &cert, "--tls-key", &key]);
    wait_for_leaf(&server, &first, Duration::from_secs(2)).await;

    // An open connection on the first certificate.
    let mut old = tls::wss(server.addr, "localhost", tls::client_config(&first)).await;

    // Replace the files: the next handshake gets the new certificate.
    let second = write_pair(&dir, "second.test");
    wait_for_leaf(&server, &second, Duration::from_secs(8)).await;
    assert!(tls::leaf(server.addr, "localhost", tls::client_config(&first)).await.is_err(), "the old certificate is still served");

    // A key that does not match: the current certificate stays.
    let other = rcgen::KeyPair::generate().unwrap();
    std::fs::write(dir.join("key.pem"), other.serialize_pem()).unwrap();
    server.signal("HUP");
    server.wait_log("TLS certificate reload failed", 1, Duration::from_secs(5));
    wait_for_leaf(&server, &second, Duration::from_secs(1)).await;

    // SIGHUP reloads a good pair.
    let third = write_pair(&dir, "third.test");
    server.signal("HUP");
    wait_for_leaf(&server, &third, Duration::from_secs(8)).await;

    // The connection opened before all this still works.
    tls::ws_send(&mut old, r#"{"cmd":"send","msg":"x"}"#).await;
    let frame = tls::ws_recv(&mut old).await;
    assert!(frame.contains("error"), "unregistered send gets an error frame: {frame}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn plain_http_honours_forwarded_proto() {
    let server = Server::start_with(&["--tls", "off"]);
    let v = server.join_raw("fwd-plain", "", &[("x-forwarded-proto", "https"), ("x-forwarded-host", "calls.example.org")]).await;
    assert!(v["params"]["room_link"].as_str().unwrap().starts_with("https://calls.example.org/r/"), "{v}");
    let r = server.get("/readyz").await;
    assert_eq!((r.status, r.body.as_str()), (200, "ready\n"));
}
