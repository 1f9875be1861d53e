//! The one shared state of the HTTP layer.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rooms::{ClientId, LeaveOutcome, RoomId, RoomStore};
use signaling::{Hub, HubConfig};

use crate::metrics_names as m;
use crate::{HttpConfig, WsConnection};

/// The signaling message a client sends when it hangs up (§4.1).
const BYE: &str = "{\"type\":\"bye\"}";

/// Renders the metrics registry as Prometheus text.
pub type MetricsRender = Box<dyn Fn() -> String + Send + Sync>;

/// Shared by every handler: configuration, the room store, the signaling hub and counters.
pub struct AppState {
    /// HTTP-layer settings.
    pub config: HttpConfig,
    /// Room server state.
    pub rooms: Arc<dyn RoomStore>,
    /// Collider state.
    pub hub: Hub<WsConnection>,
    /// When the server started (Collider's `upsec`).
    pub started: Instant,
    /// Error frames sent on WebSockets (Collider's `wserrors`).
    pub ws_errors: AtomicU64,
    /// Error answers on Collider's HTTP interface (Collider's `httperrors`).
    pub http_errors: AtomicU64,
    /// Open WebSocket connections, registered or not.
    pub ws_connections: AtomicUsize,
    next_connection_id: AtomicU64,
    metrics_render: MetricsRender,
    draining: AtomicBool,
}

impl AppState {
    /// Builds the state around a room store.
    pub fn new(config: HttpConfig, rooms: Arc<dyn RoomStore>, hub: HubConfig, metrics_render: MetricsRender) -> Arc<Self> {
        Arc::new(Self {
            config,
            rooms,
            hub: Hub::new(hub),
            started: Instant::now(),
            ws_errors: AtomicU64::new(0),
            http_errors: AtomicU64::new(0),
            ws_connections: AtomicUsize::new(0),
            next_connection_id: AtomicU64::new(1),
            metrics_render,
            draining: AtomicBool::new(false),
        })
    }

    /// From now on refuse new joins and report not ready (`/readyz`): the process is shutting
    /// down and lets calls in progress finish.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether [`AppState::start_draining`] was called.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// A fresh id for a WebSocket connection.
    pub fn connection_id(&self) -> u64 {
        self.next_connection_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Frees `client`'s room seat because signaling removed it (DELETE, or the reconnect window
    /// passed). This is the in-process form of Collider's `/bye` that AppRTC's room server never
    /// handled, the cause of stale "room full".
    pub fn release_seat(&self, room: &RoomId, client: &ClientId) {
        if let LeaveOutcome::Left { .. } = self.rooms.leave(room, client, Instant::now()) {
            metrics::counter!(m::SEATS_RELEASED).increment(1);
            tracing::debug!(%room, %client, "seat released after signaling removed the client");
        }
    }

    /// Removes expired signaling clients (freeing their seats) and expired rooms. The client
    /// left behind gets a `bye`, as if its peer had hung up: AppRTC's web client then becomes the
    /// initiator and posts a fresh offer for whoever joins next, instead of waiting on a peer that
    /// will never answer.
    pub fn expire(&self, now: Instant) {
        let bye: Arc<str> = Arc::from(BYE);
        for removal in self.hub.expire(now) {
            self.release_seat(&removal.room, &removal.client);
            self.hub.deliver_to_room(&removal.room, &bye);
        }
        self.rooms.expire(now);
    }

    /// Runs [`AppState::expire`] at a steady pace until the process ends.
    pub async fn housekeeping(self: Arc<Self>) {
        let window = self.hub.config().reconnect_window;
        let period = (window / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.expire(Instant::now());
        }
    }

    /// Prometheus text of all metrics, with gauges brought up to date first.
    pub fn render_metrics(&self) -> String {
        let status = self.hub.status();
        metrics::gauge!(m::ROOMS).set(self.rooms.room_count() as f64);
        metrics::gauge!(m::SIGNALING_ROOMS).set(status.rooms as f64);
        metrics::gauge!(m::SIGNALING_CLIENTS).set(status.clients as f64);
        metrics::gauge!(m::REGISTERED_CLIENTS).set(status.open_ws as f64);
        metrics::gauge!(m::WS_CONNECTIONS).set(self.ws_connections.load(Ordering::Relaxed) as f64);
        (self.metrics_render)()
    }
}
