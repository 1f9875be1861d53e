//! The room server hands out credentials for its own TURN server: `/v1alpha/iceconfig` and the
//! legacy `GET /turn` mint REST credentials (`<expiry>:<id>`, base64 HMAC-SHA1 of the secret) and
//! list `stun:`/`turn:` URIs at the TURN port; and the TURN server accepts exactly those.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::Server;
use serde_json::Value;

fn free_port() -> u16 {
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.local_addr().unwrap().port()
}

#[tokio::test]
async fn iceconfig_mints_credentials_for_the_builtin_turn_server() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let srv = Server::start_with(&["--turn-listen", &listen, "--turn-secret", "a-test-secret", "--turn-credential-ttl", "1h"]);
    let v = srv.post("/v1alpha/iceconfig?key=", Vec::new()).await.json();
    let servers = v["iceServers"].as_array().expect("iceServers array");
    let turn = &servers[0];
    let urls: Vec<&str> = turn["urls"].as_array().unwrap().iter().map(|u| u.as_str().unwrap()).collect();
    assert!(urls.contains(&format!("turn:127.0.0.1:{port}?transport=udp").as_str()), "{urls:?}");
    assert!(urls.contains(&format!("turn:127.0.0.1:{port}?transport=tcp").as_str()), "{urls:?}");
    assert!(urls.contains(&format!("stun:127.0.0.1:{port}").as_str()), "{urls:?}");

    let username = turn["username"].as_str().unwrap();
    let expiry: u64 = username.split(':').next().unwrap().parse().unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert!((now + 3500..=now + 3700).contains(&expiry), "expiry {expiry} should be about an hour from {now}");
    let expected = stun::TurnRestPassword::compute(b"a-test-secret", username).unwrap();
    assert_eq!(turn["credential"].as_str().unwrap(), expected.as_str());

    // Two requests get different usernames (credentials are per client).
    let again = srv.post("/v1alpha/iceconfig?key=", Vec::new()).await.json();
    assert_ne!(again["iceServers"][0]["username"], turn["username"]);
}

#[tokio::test]
async fn legacy_turn_rest_endpoint_answers_in_its_own_shape() {
    let srv = Server::start_with(&["--turn-secret", "a-test-secret"]);
    let v: Value = srv.get("/turn?username=52093771&key=whatever").await.json();
    let username = v["username"].as_str().unwrap();
    assert!(username.ends_with(":52093771"), "{v}");
    assert_eq!(v["password"].as_str().unwrap(), stun::TurnRestPassword::compute(b"a-test-secret", username).unwrap().as_str());
    assert!(v["ttl"].as_u64().unwrap() > 0);
    assert!(v["uris"].as_array().unwrap().iter().any(|u| u.as_str().unwrap().starts_with("turn:")), "{v}");
}

#[tokio::test]
async fn old_android_forks_find_turn_url_in_the_join_params() {
    let srv = Server::start_with(&["--turn-secret", "a-test-secret"]);
    let joined = srv.join(&common::room("turnurl")).await;
    let url = joined.params["turn_url"].as_str().expect("turn_url in params").to_string();
    assert!(url.starts_with(&format!("http://{}/turn?", srv.addr)), "{url}");
    let v: Value = srv.get(&url).await.json();
    assert!(v["uris"].as_array().is_some_and(|u| !u.is_empty()), "{v}");
}

#[tokio::test]
async fn without_a_configured_secret_one_is_generated_and_kept() {
    let dir = std::env::temp_dir().join(format!("sb-secret-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_arg = dir.display().to_string();
    let first_secret = {
        let srv = Server::start_with(&["--data-dir", &dir_arg]);
        let v = srv.post("/v1alpha/iceconfig", Vec::new()).await.json();
        let secret = std::fs::read_to_string(dir.join("turn-secret")).expect("secret written to the data dir");
        let username = v["iceServers"][0]["username"].as_str().unwrap();
        assert_eq!(
            v["iceServers"][0]["credential"].as_str().unwrap(),
            stun::TurnRestPassword::compute(secret.trim().as_bytes(), username).unwrap().as_str()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("turn-secret")).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "the secret must be private");
        }
        secret
    };
    let _srv = Server::start_with(&["--data-dir", &dir_arg]);
    assert_eq!(std::fs::read_to_string(dir.join("turn-secret")).unwrap(), first_secret, "kept across restarts");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn turn_disabled_means_no_credentials() {
    let srv = Server::start_with(&["--turn-enabled", "false"]);
    assert_eq!(srv.get("/turn?username=1").await.status, 404);
    let v = srv.post("/v1alpha/iceconfig", Vec::new()).await.json();
    assert_eq!(v["iceServers"], serde_json::json!([]));
}
