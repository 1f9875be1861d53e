//! RFC 6062 TCP allocations against coturn's client (Debian package `coturn`):
//! `turnutils_uclient -T` allocates TCP relays over TCP control connections (`-T` implies `-t`),
//! pairs its clients (`-T` implies `-y`: each client's peer is the other client's relay, so
//! uclient ignores `-e/-r` and `turnutils_peer`, which only speaks UDP, has no part) and has one
//! Connect to the other's relay address; the server opens the TCP connection relay to relay, the
//! other client gets a ConnectionAttempt, both bind data connections with ConnectionBind and the
//! bytes flow spliced. `-P` (passive) makes the second client a plain TCP peer that connects to
//! the first one's relay address. Every message must come back, none lost.
//!
//! Also, with a hand-built STUN client over TCP: Connect to a denied peer gets 403 and Connect
//! to a port where nothing listens gets 447.
//!
//! The servers here use the relay port range 48000-48999, split between the tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use stun::{Class, Message, MessageBuilder, Method, TransactionId};

/// Bound for the server to print its `TURN listening on` lines.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
/// Bound for one uclient run at the load below (takes about 7 s on an idle machine).
const UCLIENT_TIMEOUT: Duration = Duration::from_secs(40);

/// The load for each relay run: clients, messages per client, message length, interval (ms).
const CLIENTS: u64 = 10;
const MESSAGES: u64 = 200;
const LENGTH: &str = "170";
const INTERVAL_MS: &str = "5";

const USER: &str = "coturn-user";
const PASS: &str = "coturn-pass";

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
    let dir = std::env::temp_dir().join(format!("switchboard-tcp-relay-{}-{tag}", std::process::id()));
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
            .args(["--turn-secret", "tcp-relay-rest-secret"])
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
fn load<'a>(name: &'a str, flags: &'a [&'a str], server: &'a str) -> Run<'a> {
    Run { name, flags, cred: Cred::Static(USER, PASS), peer: None, server, clients: CLIENTS, messages: MESSAGES, rtcp: false }
}

// ---------------------------------------------------------------------------------------------
// A small STUN client over TCP

struct StunTcp {
    stream: TcpStream,
    nonce: String,
    key: stun::LongTermKey,
    realm: String,
    next: u8,
}

impl StunTcp {
    /// Connects and learns realm and nonce from a 401 to an unauthenticated Allocate.
    fn connect(port: u16) -> StunTcp {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the TURN TCP listener");
        stream.set_read_timeout(Some(Duration::from_secs(45))).unwrap();
        let mut c = StunTcp { stream, nonce: String::new(), key: stun::LongTermKey::md5(USER, "", PASS), realm: String::new(), next: 1 };
        let resp = c.exchange(Method::ALLOCATE, false, |b| {
            b.requested_transport(stun::transport::TCP);
        });
        let m = Message::parse(&resp).unwrap();
        assert_eq!(m.error_code().unwrap().map(|e| e.code), Some(401));
        c.realm = m.realm().unwrap().unwrap().to_string();
        c.nonce = m.nonce().unwrap().unwrap().to_string();
        c.key = stun::LongTermKey::md5(USER, &c.realm, PASS);
        c
    }

    /// Sends one request and reads the next message (the answer: nothing else is expected).
    fn exchange(&mut self, method: Method, sign: bool, attrs: impl FnOnce(&mut MessageBuilder<'_>)) -> Vec<u8> {
        self.next += 1;
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(&mut buf, Class::Request, method, TransactionId::new([self.next; 12]));
        attrs(&mut b);
        if sign {
            b.username(USER).realm(&self.realm).nonce(&self.nonce).message_integrity(self.key.as_bytes());
        }
        b.finish().unwrap();
        self.stream.write_all(&buf).unwrap();
        let msg = read_message(&mut self.stream);
        let m = Message::parse(&msg).unwrap();
        assert_eq!((m.method(), m.transaction_id()), (method, TransactionId::new([self.next; 12])));
        msg
    }

    /// ConnectionBind for `id` on a new connection, signed with this (control) connection's
    /// nonce; returns the data connection once answered with success.
    fn bind_data_connection(&mut self, port: u16, id: u32) -> TcpStream {
        let control = std::mem::replace(&mut self.stream, TcpStream::connect(("127.0.0.1", port)).unwrap());
        self.stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let resp = self.exchange(Method::CONNECTION_BIND, true, |b| {
            b.connection_id(id);
        });
        assert_eq!(Message::parse(&resp).unwrap().class(), Class::SuccessResponse, "ConnectionBind: {:?}", StunTcp::code(&resp));
        std::mem::replace(&mut self.stream, control)
    }
}

/// Reads one STUN message from a stream.
fn read_message(stream: &mut TcpStream) -> Vec<u8> {
    let mut head = [0u8; 20];
    stream.read_exact(&mut head).expect("a STUN message");
    let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
    let mut msg = head.to_vec();
    msg.resize(20 + len, 0);
    stream.read_exact(&mut msg[20..]).unwrap();
    msg
}

/// Reads exactly `n` bytes.
fn read_n(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    stream.read_exact(&mut buf).expect("spliced bytes");
    buf
}

impl StunTcp {

    fn code(resp: &[u8]) -> Option<u16> {
        Message::parse(resp).unwrap().error_code().unwrap().map(|e| e.code)
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

/// `uclient -T`: TCP relays, Connect from one relay to the other, ConnectionAttempt,
/// ConnectionBind on both sides, spliced data — under the test-only loopback allowance and under
/// the secure default (where the peer is allowed only as another allocation's relay address).
/// Zero loss.
#[test]
fn uclient_tcp_relay_connect_connection_attempt_and_bind() {
    let dir = temp_dir("uclient");
    let open = Turn::start(&dir, (48000, 48299), false, &["--turn-allow-loopback-peers", "true"]);
    let secure_dir = dir.join("secure");
    std::fs::create_dir_all(&secure_dir).unwrap();
    let secure = Turn::start(&secure_dir, (48300, 48599), false, &[]);
    let runs = [load("tcp-relay", &["-T"], "127.0.0.1")];
    let secure_runs = [load("tcp-relay-secure-default", &["-T"], "127.0.0.1")];
    let (outcomes, secure_outcomes) = std::thread::scope(|s| {
        let a = s.spawn(|| run_all(&dir, open.port, &runs, UCLIENT_TIMEOUT));
        let b = s.spawn(|| run_all(&secure_dir, secure.port, &secure_runs, UCLIENT_TIMEOUT));
        (a.join().unwrap(), b.join().unwrap())
    });
    for (r, o) in runs.iter().zip(&outcomes) {
        assert_clean(&open, r, o, 4);
    }
    for (r, o) in secure_runs.iter().zip(&secure_outcomes) {
        assert_clean(&secure, r, o, 4);
    }
}

/// Connect checks the peer policy exactly as for UDP: loopback (without the test allowance), a
/// private range, the unspecified address and the server's own non-relay ports get 403. A
/// permitted peer where nothing listens (a free port of the relay range) gets 447.
#[test]
fn tcp_connect_to_a_denied_peer_is_403_and_to_a_closed_port_447() {
    let dir = temp_dir("denied");
    let turn = Turn::start(&dir, (48800, 48999), false, &[]);
    let mut c = StunTcp::connect(turn.port);
    let resp = c.exchange(Method::ALLOCATE, true, |b| {
        b.requested_transport(stun::transport::TCP);
    });
    let relay = Message::parse(&resp).unwrap().xor_relayed_address().unwrap().unwrap_or_else(|| panic!("no relay: {:?}", StunTcp::code(&resp)));
    assert!((48800..=48999).contains(&relay.port()), "{relay}");
    for denied in ["127.0.0.1:80", "10.1.2.3:80", "0.0.0.0:80", "192.168.1.1:443", &format!("127.0.0.1:{}", turn.port)] {
        let peer: SocketAddr = denied.parse().unwrap();
        let resp = c.exchange(Method::CONNECT, true, |b| {
            b.xor_peer_address(peer);
        });
        assert_eq!(StunTcp::code(&resp), Some(403), "Connect to {denied}");
    }
    // Another relay port of this server is a permitted peer (relay to relay); nobody listens
    // there, so the connection is refused: 447.
    let closed = (48800..=48999).rev().map(|p| SocketAddr::new(relay.ip(), p)).find(|a| *a != relay && TcpListener::bind(a).is_ok()).unwrap();
    let resp = c.exchange(Method::CONNECT, true, |b| {
        b.xor_peer_address(closed);
    });
    assert_eq!(StunTcp::code(&resp), Some(447), "Connect to {closed}\n{}", tail(&turn.logs(), 20));
    // A UDP-only attribute on a TCP Allocate is a bad request (RFC 6062 §5.1).
    let mut other = StunTcp::connect(turn.port);
    let resp = other.exchange(Method::ALLOCATE, true, |b| {
        b.requested_transport(stun::transport::TCP).even_port(false);
    });
    assert_eq!(StunTcp::code(&resp), Some(400));
}

/// Both ways of making a peer connection, end to end with plain sockets: Connect (the peer sees
/// the connection come from the relay address) and a permitted peer connecting in (announced with
/// ConnectionAttempt, its early bytes held until ConnectionBind); then raw bytes both ways, and a
/// close on one side closes the other. A peer without a permission is turned away.
#[test]
fn tcp_peer_connections_are_spliced_both_ways() {
    let dir = temp_dir("splice");
    let turn = Turn::start(&dir, (48600, 48799), false, &["--turn-allow-loopback-peers", "true"]);
    let mut c = StunTcp::connect(turn.port);
    let resp = c.exchange(Method::ALLOCATE, true, |b| {
        b.requested_transport(stun::transport::TCP);
    });
    let relay = Message::parse(&resp).unwrap().xor_relayed_address().unwrap().expect("a TCP relay");

    // Connect: the server dials the peer from the relay address.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap();
    let resp = c.exchange(Method::CONNECT, true, |b| {
        b.xor_peer_address(target);
    });
    let m = Message::parse(&resp).unwrap();
    assert_eq!(m.class(), Class::SuccessResponse, "Connect: {:?}", StunTcp::code(&resp));
    let id = m.connection_id().unwrap().expect("CONNECTION-ID");
    let (mut peer, from) = listener.accept().unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(from, relay, "the peer connection comes from the relay address");
    peer.write_all(b"before bind").unwrap();
    let resp = c.exchange(Method::CONNECT, true, |b| {
        b.xor_peer_address(target);
    });
    assert_eq!(StunTcp::code(&resp), Some(446));
    let mut data = c.bind_data_connection(turn.port, id);
    assert_eq!(read_n(&mut data, 11), b"before bind");
    data.write_all(b"to the peer").unwrap();
    assert_eq!(read_n(&mut peer, 11), b"to the peer");
    drop(peer);
    assert_eq!(data.read(&mut [0u8; 16]).unwrap_or(0), 0, "the peer's close reaches the client");

    // A peer connecting in needs a permission.
    let mut stranger = TcpStream::connect(relay).unwrap();
    stranger.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(stranger.read(&mut [0u8; 16]).unwrap_or(0), 0, "closed at once without a permission");
    let resp = c.exchange(Method::CREATE_PERMISSION, true, |b| {
        b.xor_peer_address("127.0.0.1:0".parse().unwrap());
    });
    assert_eq!(Message::parse(&resp).unwrap().class(), Class::SuccessResponse);
    let mut peer = TcpStream::connect(relay).unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    peer.write_all(b"early").unwrap();
    let attempt = read_message(&mut c.stream);
    let m = Message::parse(&attempt).unwrap();
    assert_eq!((m.class(), m.method()), (Class::Indication, Method::CONNECTION_ATTEMPT));
    assert_eq!(m.xor_peer_address().unwrap(), Some(peer.local_addr().unwrap()));
    let id = m.connection_id().unwrap().expect("CONNECTION-ID");
    let mut data = c.bind_data_connection(turn.port, id);
    assert_eq!(read_n(&mut data, 5), b"early");
    let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    let writer = {
        let mut data = data.try_clone().unwrap();
        let big = big.clone();
        std::thread::spawn(move || data.write_all(&big).unwrap())
    };
    assert_eq!(read_n(&mut peer, big.len()), big);
    writer.join().unwrap();
    peer.write_all(b"reply").unwrap();
    assert_eq!(read_n(&mut data, 5), b"reply");
    drop(data);
    assert_eq!(peer.read(&mut [0u8; 16]).unwrap_or(0), 0, "the client's close reaches the peer");
}
