//! TURN over TLS with coturn's `turnutils_uclient -S` (TLS over TCP) relaying to
//! `turnutils_peer`, on the dedicated `turns:` listener (`--turn-tls-listen`) and multiplexed
//! on the HTTPS port (a stream whose first byte is STUN goes to TURN, HTTP to the web server).
//! Both runs must relay every message with zero loss. The ICE config advertises `turns:`.
//! coturn's client tools are required (Debian package `coturn`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_tcp_port, tls, Server};

const USER: &str = "tls-user";
const PASS: &str = "tls-pass";

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_tool(tool: &str, args: &[String], out: &Path) -> Proc {
    let file = std::fs::File::create(out).unwrap();
    let err = file.try_clone().unwrap();
    Proc(
        Command::new(tool)
            .args(args)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{tool}` ({e}): install the Debian package `coturn`")),
    )
}

fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap().port()
}

/// Runs uclient against `port` over TLS; returns its output after checking zero loss.
fn relay_over_tls(dir: &Path, tag: &str, port: u16, peer_port: u16) -> String {
    let out = dir.join(format!("uclient-{tag}.log"));
    let args: Vec<String> = [
        "-t", "-S", "-v", "-p", &port.to_string(), "-u", USER, "-w", PASS, "-e", "127.0.0.1", "-r", &peer_port.to_string(), "-m", "5", "-n", "100", "-l",
        "170", "-z", "5", "-c", "127.0.0.1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut p = spawn_tool("turnutils_uclient", &args, &out);
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(s) = p.0.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = std::fs::read_to_string(&out).unwrap_or_default();
    let tail: String = output.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
    assert!(status.is_some_and(|s| s.success()), "uclient -S ({tag}) failed or timed out ({status:?}):\n{tail}");
    let totals = output.lines().rev().find(|l| l.contains("start_mclient: tot_send_msgs=")).unwrap_or_else(|| panic!("no totals:\n{tail}"));
    let num = |key: &str| -> u64 {
        let rest = &totals[totals.find(key).unwrap() + key.len()..];
        rest.chars().take_while(|c| c.is_ascii_digit()).collect::<String>().parse().unwrap()
    };
    assert_eq!(num("tot_send_msgs="), 500, "{tail}");
    assert_eq!(num("tot_recv_msgs="), 500, "every message relayed ({tag}):\n{tail}");
    let lost = output.lines().rev().find(|l| l.contains("Total lost packets ")).unwrap_or_else(|| panic!("no loss line:\n{tail}"));
    assert!(lost.contains("Total lost packets 0 "), "zero loss ({tag}): {lost}");
    output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uclient_relays_over_tls_with_zero_loss() {
    let dir: PathBuf = std::env::temp_dir().join(format!("switchboard-turns-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let turns_port = free_tcp_port();
    let turns = format!("127.0.0.1:{turns_port}");
    let data = dir.join("data").display().to_string();
    let user = format!("{USER}:{PASS}");
    let server = Server::start_with(&[
        "--tls", "self-signed", "--data-dir", &data, "--turn-tls-listen", &turns, "--turn-user", &user, "--turn-allow-loopback-peers",
        "--turn-rfc5766-channels", "--turn-user-quota", "100", "--turn-relay-ports", "48000-48999",
    ]);
    assert!(server.logs().contains(&format!("TURN-TLS listening on {turns}")), "{}", server.logs());

    // The ICE config advertises turns: on the name the page was loaded from.
    let cert = std::fs::read(dir.join("data/tls/self-signed-cert.pem")).unwrap();
    let config = tls::client_config(&cert);
    let (status, body) = tls::request(server.addr, "localhost", config, "POST", "/v1alpha/iceconfig", "").await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!("turns:localhost:{turns_port}?transport=tcp")), "{body}");

    let peer_port = free_udp_port();
    let _peer = spawn_tool("turnutils_peer", &["-L".into(), "127.0.0.1".into(), "-p".into(), peer_port.to_string()], &dir.join("peer.log"));
    std::thread::sleep(Duration::from_millis(200));

    relay_over_tls(&dir, "turns-port", turns_port, peer_port);
    // Multiplexed: TURN over TLS on the HTTPS port itself.
    relay_over_tls(&dir, "https-port", server.port(), peer_port);
    // And the HTTPS port still serves HTTP.
    let (status, _) = tls::get(server.addr, "localhost", tls::client_config(&cert), "/healthz").await.unwrap();
    assert_eq!(status, 200);
    let _ = std::fs::remove_dir_all(&dir);
}
