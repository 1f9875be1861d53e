//! `switchboard-loadgen`: load generator for Switchboard's AppRTC-compatible room server
//! and Collider-compatible signaling relay.
//!
//! Two modes:
//! * `throughput` — N rooms, two clients each (join, WebSocket register, exchange M
//!   messages with a per-direction in-flight window, leave). Reports joins/s, relayed
//!   messages/s, relay latency percentiles and errors.
//! * `hold` — K idle registered clients (K/2 rooms) spread over several loopback source
//!   addresses; prints a `READY` line once all are connected, then waits for a signal or a
//!   duration so that an outside script can measure the server's memory.
//!
//! Stdout carries only machine-readable lines (`READY ...` in hold mode and a final JSON
//! line); the human-readable summary goes to stderr.

mod client;
mod proc_stat;
mod proto;
mod report;
mod room;
mod scenario;
mod stats;

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Command-line interface.
#[derive(Parser, Debug, Clone)]
#[command(name = "switchboard-loadgen", version, about)]
pub struct Cli {
    /// Base HTTP URL of the server (room server and Collider on the same port).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,

    /// Global time bound in seconds for setup + exchange/hold (cleanup gets --cleanup-timeout more).
    #[arg(long, default_value_t = 300.0)]
    pub timeout: f64,

    /// Extra seconds allowed for the leave/close stage after --timeout.
    #[arg(long, default_value_t = 60.0)]
    pub cleanup_timeout: f64,

    /// Number of loopback source addresses (127.0.0.1 ..= 127.0.0.N) WebSockets are bound to.
    #[arg(long, default_value_t = 8)]
    pub source_ips: u8,

    /// Tokio worker threads (0 = number of CPUs).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,

    /// Setup/teardown operations in flight at once (joins, connects, leaves).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,

    /// PID of the server; when given, its CPU time and RSS are sampled at stage boundaries.
    #[arg(long)]
    pub server_pid: Option<u32>,

    /// Prefix for room ids (default: `lg<pid>`), so repeated runs never share rooms.
    #[arg(long)]
    pub room_prefix: Option<String>,

    #[command(subcommand)]
    pub mode: Mode,
}

/// Benchmark mode.
#[derive(Subcommand, Debug, Clone)]
pub enum Mode {
    /// Rooms exchanging messages as fast as the in-flight window allows.
    Throughput(ThroughputArgs),
    /// Many idle registered clients, held open for memory measurement.
    Hold(HoldArgs),
}

/// Options of the `throughput` mode.
#[derive(Args, Debug, Clone)]
pub struct ThroughputArgs {
    /// Number of rooms (two clients each).
    #[arg(long, default_value_t = 100)]
    pub rooms: usize,
    /// Messages per room in total (split evenly between A→B and B→A).
    #[arg(long, default_value_t = 1000)]
    pub messages: u64,
    /// Messages in flight per direction per room (sender waits for delivery beyond that).
    #[arg(long, default_value_t = 1)]
    pub window: usize,
    /// Offered load in messages/s over all rooms (open loop, paced per sender); 0 = closed
    /// loop, i.e. as fast as --window allows. Use a larger --window with a rate.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Fraction of messages sent over HTTP instead of WS `send`; alternates between
    /// `POST /message/<room>/<client>` and `POST /ws/<room>/<client>`.
    #[arg(long, default_value_t = 0.0)]
    pub http_fraction: f64,
    /// Padding added to each message body (bytes), to approximate ICE-candidate-sized messages.
    #[arg(long, default_value_t = 200)]
    pub payload_bytes: usize,
}

/// Options of the `hold` mode.
#[derive(Args, Debug, Clone)]
pub struct HoldArgs {
    /// Number of clients to connect and register (rounded up to an even number).
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// Seconds to hold after all are connected (0 = until SIGINT/SIGTERM or --timeout).
    #[arg(long, default_value_t = 0.0)]
    pub hold_secs: f64,
}

impl Cli {
    /// Global deadline duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout.max(1.0))
    }
}

fn raise_nofile() -> (u64, u64) {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(soft) => {
            let (_, hard) = rlimit::Resource::NOFILE.get().unwrap_or((soft, soft));
            (soft, hard)
        }
        Err(e) => {
            eprintln!("warning: could not raise RLIMIT_NOFILE: {e}");
            rlimit::Resource::NOFILE.get().unwrap_or((0, 0))
        }
    }
}

fn main() {
    let cli = Cli::parse();
    let nofile = raise_nofile();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if cli.threads > 0 {
        rt.worker_threads(cli.threads);
    }
    let rt = rt.build().expect("tokio runtime");
    let code = rt.block_on(async move {
        match scenario::run(cli, nofile).await {
            Ok(report) => {
                report::print(&report);
                if report.errors_total() > 0 {
                    2
                } else {
                    0
                }
            }
            Err(e) => {
                eprintln!("fatal: {e}");
                1
            }
        }
    });
    rt.shutdown_timeout(Duration::from_secs(2));
    std::process::exit(code);
}
