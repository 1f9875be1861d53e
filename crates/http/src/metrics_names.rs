//! Metric names and their descriptions, in one place so dashboards have one list to read.

/// Rooms in the room server.
pub const ROOMS: &str = "switchboard_rooms";
/// Rooms in the signaling hub.
pub const SIGNALING_ROOMS: &str = "switchboard_signaling_rooms";
/// Clients in the signaling hub, with or without a socket.
pub const SIGNALING_CLIENTS: &str = "switchboard_signaling_clients";
/// Clients with a registered WebSocket.
pub const REGISTERED_CLIENTS: &str = "switchboard_registered_clients";
/// Open WebSocket connections.
pub const WS_CONNECTIONS: &str = "switchboard_ws_connections";
/// Joins, by `result` (SUCCESS, FULL, DUPLICATE_CLIENT, ERROR).
pub const JOINS: &str = "switchboard_joins_total";
/// Messages written to a peer's WebSocket.
pub const MESSAGES_RELAYED: &str = "switchboard_messages_relayed_total";
/// Messages stored by the room server for the next joiner.
pub const MESSAGES_STORED: &str = "switchboard_messages_stored_total";
/// Errors, by `kind`.
pub const ERRORS: &str = "switchboard_errors_total";
/// Seats released because signaling removed their client.
pub const SEATS_RELEASED: &str = "switchboard_seats_released_total";
/// Connections refused because the connection cap was reached.
pub const CONNECTIONS_REFUSED: &str = "switchboard_connections_refused_total";

/// Registers descriptions for every metric (call once after installing the recorder).
pub fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge};
    describe_gauge!(ROOMS, "Rooms in the room server.");
    describe_gauge!(SIGNALING_ROOMS, "Rooms in the signaling hub.");
    describe_gauge!(SIGNALING_CLIENTS, "Clients in the signaling hub, with or without a socket.");
    describe_gauge!(REGISTERED_CLIENTS, "Clients with a registered WebSocket.");
    describe_gauge!(WS_CONNECTIONS, "Open WebSocket connections.");
    describe_counter!(JOINS, "Joins by result.");
    describe_counter!(MESSAGES_RELAYED, "Messages written to a peer's WebSocket.");
    describe_counter!(MESSAGES_STORED, "Messages stored for the next joiner.");
    describe_counter!(ERRORS, "Errors by kind.");
    describe_counter!(SEATS_RELEASED, "Room seats released because signaling removed the client.");
    describe_counter!(CONNECTIONS_REFUSED, "TCP connections refused at the connection cap.");
}
