//! Shared by the tests that drive Switchboard's TURN server with coturn's client tools
//! (`turn_coturn.rs`, `turn_tcp_relay.rs`): starting `switchboard turn`, running
//! `turnutils_uclient` and the other tools with bounded waits, and reading their closing lines.
//! Included with `#[path]`, so each test binary compiles only what it uses.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Bound for the server to print its `TURN listening on` lines.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
/// Bound for one uclient run at the load below (takes about 7 s on an idle machine).
pub const UCLIENT_TIMEOUT: Duration = Duration::from_secs(40);
/// Bound for a run that is expected to fail fast (refused credentials or peer).
pub const FAIL_TIMEOUT: Duration = Duration::from_secs(20);

/// The load for each relay run: clients, messages per client, message length, interval (ms).
pub const CLIENTS: u64 = 10;
pub const MESSAGES: u64 = 200;
pub const LENGTH: &str = "170";
pub const INTERVAL_MS: &str = "5";

pub const USER: &str = "coturn-user";
pub const PASS: &str = "coturn-pass";
pub const SECRET: &str = "coturn-rest-secret";

pub const INSTALL_HINT: &str = "coturn's client tools (turnutils_stunclient, turnutils_uclient, turnutils_peer) are required \
     for this test: install the Debian package `coturn` (apt-get install coturn), as scripts/test-all.sh does";

// ---------------------------------------------------------------------------------------------
// Processes

/// A child process killed (and reaped) on drop.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns a coturn tool; a missing tool fails the test with [`INSTALL_HINT`].
pub fn spawn_tool(tool: &str, args: &[String], out: &Path) -> Proc {
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
pub fn wait_bounded(p: &mut Proc, limit: Duration) -> Option<ExitStatus> {
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
pub struct TempDir(pub PathBuf);

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

pub fn temp_dir(tag: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("switchboard-turn-tools-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

/// A port free for both UDP and TCP on 127.0.0.1 (and, with `v6`, on ::1), never 3478.
pub fn free_port(v6: bool) -> u16 {
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

pub struct Turn {
    pub _proc: Proc,
    pub port: u16,
    pub relay: (u16, u16),
    pub log: PathBuf,
}

impl Turn {
    /// `switchboard turn` on 127.0.0.1 (and [::1] with `v6`) with the test users and secret,
    /// RFC 5766 channels, raised quotas, the relay port range `relay`, plus `extra`.
    pub fn start(dir: &Path, relay: (u16, u16), v6: bool, extra: &[&str]) -> Turn {
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

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// `turnutils_peer`, a UDP echo peer, on `ip`.
pub fn start_peer(dir: &Path, ip: &str) -> (Proc, u16) {
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
pub struct Outcome {
    pub name: String,
    /// None when it was killed on timeout.
    pub status: Option<ExitStatus>,
    pub output: String,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// The final `start_mclient: tot_send_msgs=S, tot_recv_msgs=R` line (not the per-second
    /// progress lines, which carry `msz=`).
    pub fn counts(&self) -> Option<(u64, u64)> {
        let line = self.output.lines().rev().find(|l| l.contains("start_mclient: tot_send_msgs="))?;
        let sent = number_after(line, "tot_send_msgs=")?;
        let recv = number_after(line, "tot_recv_msgs=")?;
        Some((sent, recv))
    }

    /// `Total lost packets L (P%), total send dropped D (Q%)` as (L, P, D).
    pub fn loss(&self) -> Option<(u64, f64, u64)> {
        let line = self.output.lines().rev().find(|l| l.contains("Total lost packets "))?;
        let lost = number_after(line, "Total lost packets ")?;
        let pct: f64 = line.split_once('(')?.1.split_once('%')?.0.trim().parse().ok()?;
        let dropped = number_after(line, "total send dropped ")?;
        Some((lost, pct, dropped))
    }

    /// Relay addresses the server handed out (`-v` prints `Received relay addr: A`).
    pub fn relays(&self) -> Vec<SocketAddr> {
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

    pub fn context(&self) -> String {
        let lines: Vec<&str> = self.output.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        format!("uclient run `{}` (status {:?}), last lines:\n{tail}", self.name, self.status)
    }
}

pub fn number_after(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// How a run authenticates.
#[derive(Clone, Copy)]
pub enum Cred<'a> {
    /// `-u USER -w PASS`
    Static(&'a str, &'a str),
    /// `-u NAME -W SECRET`: uclient mints `<expiry>:NAME` and its HMAC itself.
    Rest(&'a str, &'a str),
}

/// One uclient invocation: `flags` are the mode flags (`-t`, `-s`, `-y`, `-x`/`-X`...), `peer`
/// the echo peer (None for `-y`), `server` the server address to dial.
pub struct Run<'a> {
    pub name: &'a str,
    pub flags: &'a [&'a str],
    pub cred: Cred<'a>,
    pub peer: Option<(&'a str, u16)>,
    pub server: &'a str,
    pub clients: u64,
    pub messages: u64,
    /// Without `-c`: RTP/RTCP allocation pairs (EVEN-PORT with R, then RESERVATION-TOKEN).
    pub rtcp: bool,
}

impl Run<'_> {
    pub fn args(&self, port: u16) -> Vec<String> {
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

pub fn run_uclient(dir: &Path, port: u16, run: &Run, limit: Duration) -> Outcome {
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
pub fn run_all(dir: &Path, port: u16, runs: &[Run], limit: Duration) -> Vec<Outcome> {
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
pub fn assert_clean(turn: &Turn, run: &Run, o: &Outcome, family: u8) {
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

pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

