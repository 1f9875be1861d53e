//! Interop with coturn's own client tools (Debian package `coturn`): `turnutils_stunclient`
//! sends a Binding, `turnutils_uclient` drives allocations, permissions, channels and Send/Data
//! indications over UDP and TCP, IPv4 and IPv6, with static and TURN REST credentials, against
//! `turnutils_peer` (a UDP echo peer) or client to client (`-y`). uclient's closing lines
//! (message counts, lost packets) must show every message relayed and none lost.
//!
//! The tools are required: when one is missing the test fails and says how to install it.
//!
//! coturn's client uses RFC 5766 channel numbers (up to 0x7FFF), never frees its allocations and
//! makes two per client outside `-y` mode, so the servers here run with `--turn-rfc5766-channels`,
//! raised quotas and a relay port range of their own (each test a distinct one in 42000-47999).
//! Peers on loopback need `--turn-allow-loopback-peers`, except in the test that checks the
//! default denies them. Every child process wait is bounded and the process killed on timeout.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Bound for the server to print its `TURN listening on` lines.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
/// Bound for one uclient run at the load below (takes about 7 s on an idle machine).
const UCLIENT_TIMEOUT: Duration = Duration::from_secs(40);
/// Bound for a run that is expected to fail fast (refused credentials or peer).
const FAIL_TIMEOUT: Duration = Duration::from_secs(20);

/// The load for each relay run: clients, messages per client, message length, interval (ms).
const CLIENTS: u64 = 10;
const MESSAGES: u64 = 200;
const LENGTH: &str = "170";
const INTERVAL_MS: &str = "5";

const USER: &str = "coturn-user";
const PASS: &str = "coturn-pass";
const SECRET: &str = "coturn-rest-secret";

const INSTALL_HINT: &str = "coturn's client tools (turnutils_stunclient, turnutils_uclient, turnutils_peer) are required \
     for this test: install the Debian package `coturn` (apt-get install coturn), as scripts/test-all.sh does";

// ---------------------------------------------------------------------------------------------
// Processes

/// A child process killed (and reaped) on drop.
struct Proc {
    child: Child,
    name: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns a coturn tool; a missing tool fails the test with [`INSTALL_HINT`].
fn spawn_tool(tool: &str, args: &[String], out: &Path) -> Proc {
    let file = std::fs::File::create(out).unwrap_or_else(|e| panic!("create {}: {e}", out.display()));
    let err = file.try_clone().unwrap();
    let child = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                panic!("`{tool}` not found on PATH. {INSTALL_HINT}");
            }
            panic!("cannot start `{tool}`: {e}")
        });
    Proc { child, name: tool.to_string() }
}

/// Waits for `p` at most `limit`; kills it and returns None on timeout.
fn wait_bounded(p: &mut Proc, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match p.child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = p.child.kill();
                let _ = p.child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("waiting for {}: {e}", p.name),
        }
    }
}

/// A directory of its own for one test's data dir and tool outputs; removed when the test
/// passes, kept (with every tool's full output) when it fails.
struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("tool outputs and server log kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn temp_dir(tag: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("switchboard-coturn-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

/// A port free for both UDP and TCP on 127.0.0.1 (and, with `v6`, on ::1), never 3478.
fn free_port(v6: bool) -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if port == 3478 || TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        if v6 && (UdpSocket::bind(("::1", port)).is_err() || TcpListener::bind(("::1", port)).is_err()) {
            continue;
        }
        return port;
    }
    panic!("no free port found");
}

// ---------------------------------------------------------------------------------------------
// The server

struct Turn {
    _proc: Proc,
    port: u16,
    relay: (u16, u16),
    log: PathBuf,
}

impl Turn {
    /// `switchboard turn` on 127.0.0.1 (and [::1] with `v6`) with the test users and secret,
    /// RFC 5766 channels, raised quotas, the relay port range `relay`, plus `extra`.
    fn start(dir: &Path, relay: (u16, u16), v6: bool, extra: &[&str]) -> Turn {
        let port = free_port(v6);
        let log = dir.join("switchboard.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        cmd.arg("turn")
            .args(["--listen", "127.0.0.1:0"])
            .args(["--turn-listen", &format!("127.0.0.1:{port}")])
            .args(["--turn-listen-v6", &if v6 { format!("[::1]:{port}") } else { "off".into() }])
            .args(["--turn-relay-ports", &format!("{}-{}", relay.0, relay.1)])
            .args(["--data-dir", &dir.join("data").display().to_string()])
            .args(["--turn-user", &format!("{USER}:{PASS}")])
            .args(["--turn-secret", SECRET])
            .args(["--turn-rfc5766-channels", "true"])
            .args(["--turn-user-quota", "500"])
            .args(["--turn-max-allocations", "2000"])
            // No TLS listeners: several servers run at once and TURN over TLS has its own test.
            .args(["--tls", "off"])
            .args(["--log", "info"])
            .args(extra);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("SWITCHBOARD_") {
                cmd.env_remove(k);
            }
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn switchboard");
        let (tx, rx) = mpsc::channel::<String>();
        for r in [Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>, Box::new(child.stderr.take().unwrap())] {
            let tx = tx.clone();
            let log = log.clone();
            std::thread::spawn(move || {
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
                for line in BufReader::new(r).lines() {
                    let Ok(line) = line else { break };
                    let _ = writeln!(f, "{line}");
                    let _ = tx.send(line);
                }
            });
        }
        drop(tx);
        let proc = Proc { child, name: "switchboard".into() };
        let wanted = if v6 { 2 } else { 1 };
        let mut seen = 0;
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while seen < wanted {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains("TURN listening on") => seen += 1,
                Ok(_) => {}
                Err(_) => {
                    drop(proc);
                    std::thread::sleep(Duration::from_millis(100));
                    panic!(
                        "switchboard turn did not print `TURN listening on` within {STARTUP_TIMEOUT:?}\n--- server output ---\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
            }
        }
        // Keep draining into the log file (the threads own the pipes); the channel is no longer read.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        Turn { _proc: proc, port, relay, log }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// `turnutils_peer`, a UDP echo peer, on `ip`.
fn start_peer(dir: &Path, ip: &str) -> (Proc, u16) {
    let port = free_port(ip == "::1");
    let out = dir.join(format!("peer-{}.log", if ip == "::1" { "v6" } else { "v4" }));
    let p = spawn_tool("turnutils_peer", &["-L".into(), ip.into(), "-p".into(), port.to_string()], &out);
    // It binds at once; give it a moment, then make sure it did not exit.
    std::thread::sleep(Duration::from_millis(200));
    let mut p = p;
    if let Ok(Some(status)) = p.child.try_wait() {
        panic!("turnutils_peer exited at once ({status}): {}", std::fs::read_to_string(&out).unwrap_or_default());
    }
    (p, port)
}

// ---------------------------------------------------------------------------------------------
// uclient runs

/// What one `turnutils_uclient` run printed.
#[derive(Debug)]
struct Outcome {
    name: String,
    /// None when it was killed on timeout.
    status: Option<ExitStatus>,
    output: String,
}

impl Outcome {
    fn ok(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// The final `start_mclient: tot_send_msgs=S, tot_recv_msgs=R` line (not the per-second
    /// progress lines, which carry `msz=`).
    fn counts(&self) -> Option<(u64, u64)> {
        let line = self.output.lines().rev().find(|l| l.contains("start_mclient: tot_send_msgs="))?;
        let sent = number_after(line, "tot_send_msgs=")?;
        let recv = number_after(line, "tot_recv_msgs=")?;
        Some((sent, recv))
    }

    /// `Total lost packets L (P%), total send dropped D (Q%)` as (L, P, D).
    fn loss(&self) -> Option<(u64, f64, u64)> {
        let line = self.output.lines().rev().find(|l| l.contains("Total lost packets "))?;
        let lost = number_after(line, "Total lost packets ")?;
        let pct: f64 = line.split_once('(')?.1.split_once('%')?.0.trim().parse().ok()?;
        let dropped = number_after(line, "total send dropped ")?;
        Some((lost, pct, dropped))
    }

    /// Relay addresses the server handed out (`-v` prints `Received relay addr: A`).
    fn relays(&self) -> Vec<SocketAddr> {
        self.output
            .lines()
            .filter_map(|l| l.split_once("Received relay addr: "))
            .map(|(_, a)| {
                let a = a.trim();
                // coturn prints IPv6 as `::1:PORT`, without brackets.
                let (ip, port) = a.rsplit_once(':').unwrap_or_else(|| panic!("relay addr {a:?}"));
                let ip: std::net::IpAddr = ip.parse().unwrap_or_else(|e| panic!("relay ip in {a:?}: {e}"));
                SocketAddr::new(ip, port.parse().unwrap())
            })
            .collect()
    }

    fn context(&self) -> String {
        let lines: Vec<&str> = self.output.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        format!("uclient run `{}` (status {:?}), last lines:\n{tail}", self.name, self.status)
    }
}

fn number_after(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// How a run authenticates.
#[derive(Clone, Copy)]
enum Cred<'a> {
    /// `-u USER -w PASS`
    Static(&'a str, &'a str),
    /// `-u NAME -W SECRET`: uclient mints `<expiry>:NAME` and its HMAC itself.
    Rest(&'a str, &'a str),
}

/// One uclient invocation: `flags` are the mode flags (`-t`, `-s`, `-y`, `-x`/`-X`...), `peer`
/// the echo peer (None for `-y`), `server` the server address to dial.
struct Run<'a> {
    name: &'a str,
    flags: &'a [&'a str],
    cred: Cred<'a>,
    peer: Option<(&'a str, u16)>,
    server: &'a str,
    clients: u64,
    messages: u64,
    /// Without `-c`: RTP/RTCP allocation pairs (EVEN-PORT with R, then RESERVATION-TOKEN).
    rtcp: bool,
}

impl Run<'_> {
    fn args(&self, port: u16) -> Vec<String> {
        let mut a: Vec<String> = vec!["-v".into()];
        a.extend(self.flags.iter().map(|s| s.to_string()));
        a.extend(["-p".into(), port.to_string()]);
        match self.cred {
            Cred::Static(u, p) => a.extend(["-u".into(), u.into(), "-w".into(), p.into()]),
            Cred::Rest(u, s) => a.extend(["-u".into(), u.into(), "-W".into(), s.into()]),
        }
        if let Some((ip, port)) = self.peer {
            a.extend(["-e".into(), ip.into(), "-r".into(), port.to_string()]);
        }
        a.extend([
            "-m".into(),
            self.clients.to_string(),
            "-n".into(),
            self.messages.to_string(),
            "-l".into(),
            LENGTH.into(),
            "-z".into(),
            INTERVAL_MS.into(),
        ]);
        if !self.rtcp {
            // No RTCP twin allocations.
            a.push("-c".into());
        }
        a.push(self.server.into());
        a
    }
}

fn run_uclient(dir: &Path, port: u16, run: &Run, limit: Duration) -> Outcome {
    let out = dir.join(format!("uclient-{}.log", run.name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")));
    let mut p = spawn_tool("turnutils_uclient", &run.args(port), &out);
    let status = wait_bounded(&mut p, limit);
    let output = std::fs::read_to_string(&out).unwrap_or_default();
    Outcome { name: run.name.to_string(), status, output }
}

/// Runs all `runs` at once (each its own uclient process) and returns their outcomes in order.
///
/// uclient binds two channels per client, each time drawing a fresh random number in
/// 0x4000..=0x7FFF without looking at the first one; once in 16384 the second draw repeats the
/// first, and the server rightly answers 400 (a number already bound to another peer, RFC 8656
/// §12), which ends that uclient. A run that failed on exactly that is run once more.
fn run_all(dir: &Path, port: u16, runs: &[Run], limit: Duration) -> Vec<Outcome> {
    let first: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = runs.iter().map(|r| s.spawn(move || run_uclient(dir, port, r, limit))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    first
        .into_iter()
        .zip(runs)
        .map(|(o, r)| {
            let collided = o.status.is_some()
                && !o.ok()
                && o.output.contains("success: 0x")
                && o.output.lines().filter(|l| l.contains("error")).all(|l| l.contains("channel bind: error 400"));
            if collided && o.output.contains("channel bind: error 400") {
                eprintln!("uclient run `{}` drew a channel number it had already bound (400); running it again", r.name);
                run_uclient(dir, port, r, limit)
            } else {
                o
            }
        })
        .collect()
}

/// Every message of every client went out and came back, nothing lost or dropped, and every
/// relay address is of `family` (4 or 6) and inside the server's relay port range. With RTCP
/// twins uclient counts their packets too, so the counts are only at least clients x messages.
fn assert_clean(turn: &Turn, run: &Run, o: &Outcome, family: u8) {
    let ctx = || format!("{}\n--- server log (tail) ---\n{}", o.context(), tail(&turn.logs(), 30));
    assert!(o.status.is_some(), "killed after {UCLIENT_TIMEOUT:?}: {}", ctx());
    assert!(o.ok(), "uclient failed: {}", ctx());
    let expected = run.clients * run.messages;
    if run.rtcp {
        let (sent, recv) = o.counts().unwrap_or_else(|| panic!("no message counts: {}", ctx()));
        assert!(sent >= expected && recv == sent, "sent {sent} (want >= {expected}), received {recv}: {}", ctx());
    } else {
        assert_eq!(o.counts(), Some((expected, expected)), "sent/received message counts: {}", ctx());
    }
    let (lost, pct, dropped) = o.loss().unwrap_or_else(|| panic!("no `Total lost packets` line: {}", ctx()));
    assert_eq!((lost, dropped), (0, 0), "lost/dropped packets: {}", ctx());
    assert!(pct == 0.0, "loss {pct}%: {}", ctx());
    let relays = o.relays();
    assert!(!relays.is_empty(), "no relay address printed: {}", ctx());
    for r in &relays {
        let fam = if r.is_ipv4() { 4 } else { 6 };
        assert_eq!(fam, family, "relay {r} should be IPv{family}: {}", ctx());
        assert!(
            (turn.relay.0..=turn.relay.1).contains(&r.port()),
            "relay {r} outside the configured range {:?}: {}",
            turn.relay,
            ctx()
        );
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The relay runs with the standard load.
fn load<'a>(name: &'a str, flags: &'a [&'a str], cred: Cred<'a>, peer: Option<(&'a str, u16)>, server: &'a str) -> Run<'a> {
    Run { name, flags, cred, peer, server, clients: CLIENTS, messages: MESSAGES, rtcp: false }
}

// ---------------------------------------------------------------------------------------------
// Tests

/// `turnutils_stunclient` sends a Binding over UDP, to the IPv4 and to the IPv6 listener, and
/// gets its own address back (XOR-MAPPED-ADDRESS): loopback, its own port, not the server's.
#[test]
fn stunclient_binding_gets_the_reflexive_address() {
    let dir = temp_dir("binding");
    let turn = Turn::start(&dir, (42000, 42099), true, &[]);
    for (i, server) in ["127.0.0.1", "::1"].into_iter().enumerate() {
        let out = dir.join(format!("stunclient-{i}.log"));
        let mut p = spawn_tool("turnutils_stunclient", &["-p".into(), turn.port.to_string(), server.into()], &out);
        let status = wait_bounded(&mut p, FAIL_TIMEOUT);
        let output = std::fs::read_to_string(&out).unwrap_or_default();
        assert!(status.is_some_and(|s| s.success()), "turnutils_stunclient {server}: {status:?}:\n{output}");
        // `0: : IPv4. UDP reflexive addr: 127.0.0.1:PORT` (IPv6 without brackets: `::1:PORT`)
        let (ip, port) = output
            .lines()
            .find_map(|l| l.split_once("UDP reflexive addr: "))
            .and_then(|(_, a)| a.trim().rsplit_once(':'))
            .unwrap_or_else(|| panic!("no reflexive address from {server} in:\n{output}"));
        assert_eq!(ip, server, "{output}");
        let port: u16 = port.parse().unwrap_or_else(|e| panic!("port {port:?}: {e}"));
        assert_ne!(port, 0, "{output}");
        assert_ne!(port, turn.port, "the client's port, not the server's: {output}");
    }
}

/// Static credentials (`-w`) through `turnutils_peer`: UDP and TCP to the server, channels and
/// Send indications; and ChannelData padded to 4 bytes over UDP too (`-D`, as pjnath does) with
/// DONT-FRAGMENT in the Allocate (`-g`).
#[test]
fn uclient_static_credentials_udp_tcp_channels_and_send() {
    let dir = temp_dir("static");
    let turn = Turn::start(&dir, (42100, 42599), false, &["--turn-allow-loopback-peers", "true"]);
    let (_peer, pport) = start_peer(&dir, "127.0.0.1");
    let peer = Some(("127.0.0.1", pport));
    let cred = Cred::Static(USER, PASS);
    let runs = [
        load("udp-channels", &["-X"], cred, peer, "127.0.0.1"),
        load("udp-send", &["-X", "-s"], cred, peer, "127.0.0.1"),
        load("tcp-channels", &["-X", "-t"], cred, peer, "127.0.0.1"),
        load("tcp-send", &["-X", "-t", "-s"], cred, peer, "127.0.0.1"),
        load("udp-padded-channels-dont-fragment", &["-X", "-D", "-g"], cred, peer, "127.0.0.1"),
    ];
    for (r, o) in runs.iter().zip(run_all(&dir, turn.port, &runs, UCLIENT_TIMEOUT)) {
        assert_clean(&turn, r, &o, 4);
    }
}

/// TURN REST credentials (`-W SECRET`, uclient mints `<expiry>:user` and its HMAC): UDP and TCP,
/// channels and Send indications.
#[test]
fn uclient_rest_credentials_udp_tcp_channels_and_send() {
    let dir = temp_dir("rest");
    let turn = Turn::start(&dir, (43000, 43999), false, &["--turn-allow-loopback-peers", "true"]);
    let (_peer, pport) = start_peer(&dir, "127.0.0.1");
    let peer = Some(("127.0.0.1", pport));
    let cred = Cred::Rest("rest-user", SECRET);
    let runs = [
        load("rest-udp-channels", &["-X"], cred, peer, "127.0.0.1"),
        load("rest-udp-send", &["-X", "-s"], cred, peer, "127.0.0.1"),
        load("rest-tcp-channels", &["-X", "-t"], cred, peer, "127.0.0.1"),
        load("rest-tcp-send", &["-X", "-t", "-s"], cred, peer, "127.0.0.1"),
    ];
    for (r, o) in runs.iter().zip(run_all(&dir, turn.port, &runs, UCLIENT_TIMEOUT)) {
        assert_clean(&turn, r, &o, 4);
    }
}

/// Client to client (`-y`): pairs of uclient sessions relay to each other's relay addresses,
/// over UDP and TCP, with channels and with Send indications, static and REST credentials.
#[test]
fn uclient_client_to_client() {
    let dir = temp_dir("c2c");
    let turn = Turn::start(&dir, (44000, 44999), false, &["--turn-allow-loopback-peers", "true"]);
    let runs = [
        load("y-udp-channels", &["-X", "-y"], Cred::Static(USER, PASS), None, "127.0.0.1"),
        load("y-udp-send", &["-X", "-y", "-s"], Cred::Static(USER, PASS), None, "127.0.0.1"),
        load("y-tcp-channels-rest", &["-X", "-y", "-t"], Cred::Rest("rest-user", SECRET), None, "127.0.0.1"),
        load("y-tcp-send-rest", &["-X", "-y", "-t", "-s"], Cred::Rest("rest-user", SECRET), None, "127.0.0.1"),
    ];
    for (r, o) in runs.iter().zip(run_all(&dir, turn.port, &runs, UCLIENT_TIMEOUT)) {
        assert_clean(&turn, r, &o, 4);
    }
}

/// IPv6 (RFC 6156): uclient dials the server on ::1 and asks for an IPv6 relay (`-x`) to a peer
/// on ::1, over UDP and TCP; and the two cross-family cases: an IPv6 client with an IPv4 relay,
/// an IPv4 client with an IPv6 relay.
#[test]
fn uclient_over_ipv6() {
    let dir = temp_dir("v6");
    let turn = Turn::start(&dir, (45000, 45999), true, &["--turn-allow-loopback-peers", "true"]);
    let (_peer6, pport6) = start_peer(&dir, "::1");
    let (_peer4, pport4) = start_peer(&dir, "127.0.0.1");
    let cred = Cred::Static(USER, PASS);
    let runs = [
        load("v6-udp-channels", &["-x"], cred, Some(("::1", pport6)), "::1"),
        load("v6-tcp-send", &["-x", "-t", "-s"], cred, Some(("::1", pport6)), "::1"),
        load("v6-y-udp-rest", &["-x", "-y"], Cred::Rest("rest-user", SECRET), None, "::1"),
        load("v6-client-v4-relay", &["-X"], cred, Some(("127.0.0.1", pport4)), "::1"),
        load("v4-client-v6-relay", &["-x", "-t"], cred, Some(("::1", pport6)), "127.0.0.1"),
    ];
    let families = [6, 6, 6, 4, 6];
    for ((r, o), fam) in runs.iter().zip(run_all(&dir, turn.port, &runs, UCLIENT_TIMEOUT)).zip(families) {
        assert_clean(&turn, r, &o, fam);
    }
}

/// Without `--turn-allow-loopback-peers`, the 127.0.0.1 peer is refused: ChannelBind and
/// CreatePermission get 403, over UDP and TCP, and uclient gives up without relaying anything.
#[test]
fn loopback_peer_is_refused_by_default() {
    let dir = temp_dir("deny");
    let turn = Turn::start(&dir, (46000, 46199), false, &[]);
    let (_peer, pport) = start_peer(&dir, "127.0.0.1");
    let peer = Some(("127.0.0.1", pport));
    let cred = Cred::Static(USER, PASS);
    let small = |name, flags| Run { name, flags, cred, peer, server: "127.0.0.1", clients: 1, messages: 20, rtcp: false };
    let runs = [
        small("deny-udp-channels", &["-X"]),
        small("deny-udp-send", &["-X", "-s"]),
        small("deny-tcp-channels", &["-X", "-t"]),
        small("deny-tcp-send", &["-X", "-t", "-s"]),
    ];
    let expected = [
        "channel bind: error 403 (Forbidden)",
        "create permission error 403 (Forbidden)",
        "channel bind: error 403 (Forbidden)",
        "create permission error 403 (Forbidden)",
    ];
    for ((_, o), want) in runs.iter().zip(run_all(&dir, turn.port, &runs, FAIL_TIMEOUT)).zip(expected) {
        assert!(o.status.is_some(), "killed on timeout: {}", o.context());
        assert!(!o.ok(), "relaying to a loopback peer must fail by default: {}", o.context());
        assert!(o.output.contains(want), "expected `{want}`: {}", o.context());
        // The allocation itself succeeded (so the refusal is the peer policy, not auth).
        assert!(!o.relays().is_empty(), "the Allocate should have succeeded: {}", o.context());
        if let Some((_, recv)) = o.counts() {
            assert_eq!(recv, 0, "nothing may come back from a refused peer: {}", o.context());
        }
    }
}

/// A wrong password and a wrong REST secret are refused (uclient cannot complete the Allocate),
/// while the right ones work against the same server.
#[test]
fn wrong_password_and_wrong_secret_fail() {
    let dir = temp_dir("badcred");
    let turn = Turn::start(&dir, (46500, 46999), false, &["--turn-allow-loopback-peers", "true"]);
    let (_peer, pport) = start_peer(&dir, "127.0.0.1");
    let peer = Some(("127.0.0.1", pport));
    let small = |name, flags, cred| Run { name, flags, cred, peer, server: "127.0.0.1", clients: 1, messages: 20, rtcp: false };
    let bad = [
        small("bad-password-udp", &["-X"], Cred::Static(USER, "not-the-password")),
        small("bad-password-tcp", &["-X", "-t"], Cred::Static(USER, "not-the-password")),
        small("unknown-user", &["-X"], Cred::Static("nobody", PASS)),
        small("bad-secret-udp", &["-X"], Cred::Rest("rest-user", "not-the-secret")),
        small("bad-secret-tcp", &["-X", "-t"], Cred::Rest("rest-user", "not-the-secret")),
    ];
    let good = [
        small("good-password", &["-X"], Cred::Static(USER, PASS)),
        small("good-secret", &["-X"], Cred::Rest("rest-user", SECRET)),
    ];
    let outcomes = run_all(&dir, turn.port, &bad, FAIL_TIMEOUT);
    for o in &outcomes {
        assert!(o.status.is_some(), "killed on timeout: {}", o.context());
        assert!(!o.ok(), "wrong credentials must be refused: {}", o.context());
        assert!(o.output.contains("Cannot complete Allocation"), "{}", o.context());
        assert!(o.relays().is_empty(), "no relay may be allocated: {}", o.context());
    }
    for (r, o) in good.iter().zip(run_all(&dir, turn.port, &good, UCLIENT_TIMEOUT)) {
        assert_clean(&turn, r, &o, 4);
    }
}

/// Without `-c` uclient allocates RTP/RTCP pairs as a media client would: the RTP Allocate asks
/// EVEN-PORT with the R bit, the RTCP one names the RESERVATION-TOKEN it got back and must get
/// the next port. Over UDP and TCP, with the echo peer and client to client.
#[test]
fn uclient_rtp_rtcp_pairs_use_even_ports_and_reservation_tokens() {
    let dir = temp_dir("rtcp");
    let turn = Turn::start(&dir, (47000, 47999), false, &["--turn-allow-loopback-peers", "true"]);
    let (_peer, pport) = start_peer(&dir, "127.0.0.1");
    let peer = Some(("127.0.0.1", pport));
    let cred = Cred::Static(USER, PASS);
    let pairs = |name, flags, peer| Run { rtcp: true, ..load(name, flags, cred, peer, "127.0.0.1") };
    let runs = [
        pairs("rtcp-udp-channels", &["-X"], peer),
        pairs("rtcp-tcp-send", &["-X", "-t", "-s"], peer),
        pairs("rtcp-y-udp", &["-X", "-y"], None),
    ];
    for (r, o) in runs.iter().zip(run_all(&dir, turn.port, &runs, UCLIENT_TIMEOUT)) {
        assert_clean(&turn, r, &o, 4);
        // uclient allocates sequentially and prints each relay address: every RTCP (odd) relay
        // comes right after its RTP (even) twin on the port below.
        let ports: Vec<u16> = o.relays().iter().map(|a| a.port()).collect();
        assert!(ports.iter().any(|p| p % 2 == 1), "no RTCP allocation in {ports:?}: {}", o.context());
        for (i, p) in ports.iter().enumerate() {
            if p % 2 == 1 {
                assert!(i > 0 && ports[i - 1] == p - 1, "RTCP relay {p} does not follow its RTP twin in {ports:?}");
            }
        }
    }
}

/// With `-I` uclient installs no permissions, and with `-s` no channels either: its Send
/// indications must not reach the peer, so nothing comes back (a permission-less relay would be
/// an open proxy).
#[test]
fn without_permissions_nothing_is_relayed() {
    let dir = temp_dir("noperm");
    let turn = Turn::start(&dir, (46200, 46499), false, &["--turn-allow-loopback-peers", "true"]);
    let (_peer, pport) = start_peer(&dir, "127.0.0.1");
    let run = Run {
        name: "no-permissions-send",
        flags: &["-X", "-I", "-s"],
        cred: Cred::Static(USER, PASS),
        peer: Some(("127.0.0.1", pport)),
        server: "127.0.0.1",
        clients: 1,
        messages: 20,
        rtcp: false,
    };
    let o = run_uclient(&dir, turn.port, &run, UCLIENT_TIMEOUT);
    assert!(o.status.is_some(), "killed on timeout: {}", o.context());
    assert!(!o.relays().is_empty(), "the Allocate should have succeeded: {}", o.context());
    assert!(!o.output.contains("create perm sent"), "-I should send no CreatePermission: {}", o.context());
    let (sent, recv) = o.counts().unwrap_or_else(|| panic!("no message counts: {}", o.context()));
    assert_eq!((sent, recv), (20, 0), "sent/received: {}", o.context());
    assert_eq!(o.loss().map(|l| l.0), Some(20), "{}", o.context());
}

/// uclient's own abuse modes against one server: `-N` (random channel numbers), `-R` (corrupts
/// about one message in ten at random bytes; uclient may then wait forever, so it is killed), `-O`
/// (allocates and leaves at once). Afterwards the same server still relays a clean run with
/// zero loss.
#[test]
fn negative_and_corrupting_clients_leave_the_server_working() {
    let dir = temp_dir("negative");
    let turn = Turn::start(&dir, (42600, 42999), false, &["--turn-allow-loopback-peers", "true"]);
    let (_peer, pport) = start_peer(&dir, "127.0.0.1");
    let peer = Some(("127.0.0.1", pport));
    let cred = Cred::Static(USER, PASS);
    let abuse = |name, flags| Run { name, flags, cred, peer, server: "127.0.0.1", clients: 4, messages: 50, rtcp: false };
    let runs = [
        abuse("negative-channels", &["-X", "-N"]),
        abuse("corrupting-udp", &["-X", "-R"]),
        abuse("corrupting-tcp", &["-X", "-t", "-R"]),
        abuse("dos", &["-X", "-O"]),
    ];
    // Their outcome is not the point (and -R is random); only that they end or are killed.
    let _ = run_all(&dir, turn.port, &runs, Duration::from_secs(6));
    let clean = [load("after-abuse", &["-X"], cred, peer, "127.0.0.1")];
    for (r, o) in clean.iter().zip(run_all(&dir, turn.port, &clean, UCLIENT_TIMEOUT)) {
        assert_clean(&turn, r, &o, 4);
    }
}
