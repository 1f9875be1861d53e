//! A UDP worker: one SO_REUSEPORT socket on the listen address, fed to the core.

use std::sync::Arc;
use std::time::Instant;

use tokio::net::UdpSocket;

use super::runtime::{Shared, SocketBinder};
use crate::core::{ClientAddr, Event, Output, Transport};

/// Largest datagram read (a UDP payload cannot exceed it).
const MAX_DATAGRAM: usize = 65_536;

pub(crate) async fn run(shared: Arc<Shared>, socket: Arc<UdpSocket>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut out = Vec::with_capacity(1500);
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(x) => x,
            // ICMP errors surface as recv errors on some systems; keep serving.
            Err(_) => continue,
        };
        let client = ClientAddr { transport: Transport::Udp, addr: from };
        let mut events: Vec<Event> = Vec::new();
        let output = {
            let mut core = shared.core.lock();
            let mut binder = SocketBinder { pending: &shared.pending };
            let output = core.handle_client(client, &buf[..n], Instant::now(), &mut out, &mut binder);
            events.extend(core.drain_events());
            output
        };
        if !events.is_empty() {
            shared.apply_events(events);
        }
        match output {
            Output::None => {}
            Output::ToClient => {
                let _ = socket.try_send_to(&out, from);
            }
            Output::ToPeer { relay, peer, data } => shared.send_to_peer(relay, peer, data),
        }
    }
}
