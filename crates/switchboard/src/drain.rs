//! Graceful shutdown: on SIGTERM or SIGINT the server stops taking new calls (joins get 503 and
//! a clear error, `/readyz` answers `draining` so load balancers move on) while calls in
//! progress go on — their WebSockets, `/message` posts and TURN relays keep working — until
//! they have all ended or `drain_timeout` has passed. A second signal ends the drain at once.
//!
//! The TURN server keeps relaying for existing allocations during the drain; its core has no
//! switch to refuse new allocations yet, but no new credentials are handed out to new joins.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// Waits for the first signal, drains, and resolves when the process should stop serving.
pub async fn until_drained(state: Arc<http_api::AppState>, turn: Option<turn::io::StreamHandle>, timeout: Duration) {
    crate::shutdown_signal().await;
    state.start_draining();
    let calls = || {
        let ws = state.ws_connections.load(Ordering::Relaxed);
        let allocations = turn.as_ref().map_or(0, |t| t.allocation_count());
        (ws, allocations)
    };
    let (ws, allocations) = calls();
    tracing::info!(websockets = ws, turn_allocations = allocations, drain_timeout = %humantime::format_duration(timeout), "shutdown requested: draining (new joins refused, calls in progress continue)");
    println!("Draining: new joins are refused; {ws} WebSocket(s) and {allocations} TURN allocation(s) open; exiting when they end or after {}", humantime::format_duration(timeout));
    let deadline = Instant::now() + timeout;
    let second = crate::shutdown_signal();
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
