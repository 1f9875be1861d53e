//! One WebSocket's life in Collider's protocol: register once, then send (§3.2).

use std::sync::Arc;
use std::time::Instant;

use rooms::{ClientId, RoomId};

use crate::{parse_command_ref, CommandRef, Connection, Frame, Hub, SignalingError};

/// What the socket layer should do after a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionAction {
    /// Nothing to answer (success is silent in Collider).
    Continue,
    /// The hub refused a `send`; Collider ignores this on the WebSocket path, so nothing is
    /// answered, but the layer may count it.
    Ignored(SignalingError),
    /// Send an error frame and keep the socket open.
    Error(SignalingError),
    /// Send an error frame, then close the socket.
    ErrorAndClose(SignalingError),
}

/// The protocol state of one socket.
#[derive(Debug)]
pub struct Session {
    registered: Option<(RoomId, ClientId)>,
    max_id_len: usize,
}

impl Session {
    /// A fresh socket; ids longer than `max_id_len` are refused at register.
    pub fn new(max_id_len: usize) -> Self {
        Self { registered: None, max_id_len }
    }

    /// The `(room, client)` this socket registered as, if it did.
    pub fn registration(&self) -> Option<&(RoomId, ClientId)> {
        self.registered.as_ref()
    }

    /// Handles one text (or binary, decoded as text) frame.
    pub fn on_frame<C: Connection>(&mut self, text: &str, hub: &Hub<C>, conn: &Arc<C>, now: Instant) -> SessionAction {
        let command = match parse_command_ref(text) {
            Ok(c) => c,
            Err(e) => return SessionAction::ErrorAndClose(e),
        };
        match command {
            CommandRef::Register { room, client } => self.register(&room, &client, hub, conn, now),
            CommandRef::Send { msg } => {
                let Some((room, client)) = &self.registered else {
                    return SessionAction::ErrorAndClose(SignalingError::NotRegistered);
                };
                if msg.is_empty() {
                    return SessionAction::ErrorAndClose(SignalingError::MissingMsg);
                }
                match hub.send(room, client, Frame::message(&msg), now) {
                    Ok(()) => SessionAction::Continue,
                    Err(e) => SessionAction::Ignored(e),
                }
            }
            CommandRef::Unknown => SessionAction::Error(SignalingError::UnexpectedCmd),
        }
    }

    fn register<C: Connection>(&mut self, room: &str, client: &str, hub: &Hub<C>, conn: &Arc<C>, now: Instant) -> SessionAction {
        if self.registered.is_some() {
            return SessionAction::ErrorAndClose(SignalingError::DuplicatedRegisterRequest);
        }
        if room.is_empty() || client.is_empty() {
            return SessionAction::ErrorAndClose(SignalingError::InvalidRegister);
        }
        let ids = RoomId::parse(room, self.max_id_len)
            .and_then(|r| ClientId::parse(client, self.max_id_len).map(|c| (r, c)));
        let (room, client) = match ids {
            Ok(ids) => ids,
            Err(e) => return SessionAction::ErrorAndClose(SignalingError::InvalidId(e.to_string())),
        };
        match hub.register(&room, &client, conn.clone(), now) {
            Ok(()) => {
                self.registered = Some((room, client));
                SessionAction::Continue
            }
            Err(e) => SessionAction::ErrorAndClose(e),
        }
    }

    /// The socket closed: its client stays in the hub for the reconnect window.
    pub fn on_close<C: Connection>(&mut self, hub: &Hub<C>, conn: &Arc<C>, now: Instant) {
        if let Some((room, client)) = self.registered.take() {
            hub.deregister(&room, &client, conn.id(), now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::tests::{client, room, FakeConnection};
    use crate::HubConfig;

    fn reg(room: &str, client: &str) -> String {
        format!(r#"{{"cmd":"register","roomid":"{room}","clientid":"{client}"}}"#)
    }

    #[test]
    fn register_then_send_reaches_the_peer() {
        let hub = Hub::new(HubConfig::default());
        let now = Instant::now();
        let (ca, cb) = (FakeConnection::new(1), FakeConnection::new(2));
        let (mut a, mut b) = (Session::new(64), Session::new(64));
        assert_eq!(a.on_frame(&reg("abc", "a"), &hub, &ca, now), SessionAction::Continue);
        assert_eq!(b.on_frame(&reg("abc", "b"), &hub, &cb, now), SessionAction::Continue);
        assert_eq!(a.on_frame(r#"{"cmd":"send","msg":"hello"}"#, &hub, &ca, now), SessionAction::Continue);
        assert_eq!(cb.messages(), vec!["hello"]);
    }

    #[test]
    fn protocol_errors_as_collider_reports_them() {
        let hub = Hub::new(HubConfig::default());
        let now = Instant::now();
        let c = FakeConnection::new(1);
        let mut s = Session::new(64);
        assert_eq!(
            s.on_frame(r#"{"cmd":"send","msg":"x"}"#, &hub, &c, now),
            SessionAction::ErrorAndClose(SignalingError::NotRegistered)
        );
        assert_eq!(s.on_frame(r#"{"cmd":"nope"}"#, &hub, &c, now), SessionAction::Error(SignalingError::UnexpectedCmd));
        assert_eq!(
            s.on_frame(r#"{"cmd":"register","roomid":"r"}"#, &hub, &c, now),
            SessionAction::ErrorAndClose(SignalingError::InvalidRegister)
        );
        assert!(matches!(s.on_frame(&reg("bad.room", "1"), &hub, &c, now), SessionAction::ErrorAndClose(SignalingError::InvalidId(_))));
        assert!(matches!(s.on_frame("not json", &hub, &c, now), SessionAction::ErrorAndClose(SignalingError::Malformed(_))));
        assert_eq!(s.on_frame(&reg("r", "1"), &hub, &c, now), SessionAction::Continue);
        assert_eq!(
            s.on_frame(&reg("r", "1"), &hub, &c, now),
            SessionAction::ErrorAndClose(SignalingError::DuplicatedRegisterRequest)
        );
        assert_eq!(
            s.on_frame(r#"{"cmd":"send"}"#, &hub, &c, now),
            SessionAction::ErrorAndClose(SignalingError::MissingMsg)
        );
    }

    #[test]
    fn close_deregisters_but_keeps_the_client() {
        let hub = Hub::new(HubConfig::default());
        let now = Instant::now();
        let c = FakeConnection::new(7);
        let mut s = Session::new(64);
        s.on_frame(&reg("r", "1"), &hub, &c, now);
        s.on_close(&hub, &c, now);
        assert_eq!(hub.status().open_ws, 0);
        assert_eq!(hub.queued(&room("r"), &client("1")), Some(0));
    }
}
