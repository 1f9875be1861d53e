//! Graceful shutdown: on SIGTERM or SIGINT the server stops taking new calls (joins get 503 and
//! a clear error, `/readyz` answers `draining` so load balancers move on) while calls in
//! progress go on — their WebSockets, `/message` posts and TURN relays keep working — until
//! they have all ended or `drain_timeout` has passed. A second signal ends the drain at once.
//!
//! The TURN server keeps relaying for existing allocations during the drain and answers new
//! Allocate requests with 508, so clients holding earlier credentials move to another server.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// Waits for the first signal, drains, and resolves when the process should stop serving.
pub async fn until_drained(
    mut signals: crate::ShutdownSignals,
    state: Arc<http_api::AppState>,
    turn: Option<turn::io::StreamHandle>,
    timeout: Duration,
) {
    signals.recv().await;
    state.start_draining();
    if let Some(turn) = &turn {
        turn.start_draining();
    }
    let calls = || {
        let ws = state.ws_connections.load(Ordering::Relaxed);
        let allocations = turn.as_ref().map_or(0, |t| t.allocation_count());
        (ws, allocations)
    };
    let (ws, allocations) = calls();
    tracing::info!(websockets = ws, turn_allocations = allocations, drain_timeout = %humantime::format_duration(timeout), "shutdown requested: draining (new joins refused, calls in progress continue)");
    println!("Draining: new joins are refused; {ws} WebSocket(s) and {allocations} TURN allocation(s) open; exiting when they end or after {}", humantime::format_duration(timeout));
    let deadline = Instant::now() + timeout;
    let second = signals.recv();
    tokio::pin!(second);
    loop {
        if calls() == (0, 0) {
            tracing::info!("drain complete: no calls in progress");
            return;
        }
        tokio::select! {
            () = &mut second => {
                tracing::info!("second signal: stopping now");
                return;
            }
            () = tokio::time::sleep_until(deadline) => {
                let (ws, allocations) = calls();
                tracing::info!(websockets = ws, turn_allocations = allocations, "drain timeout reached; closing the calls still open");
                return;
            }
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}
