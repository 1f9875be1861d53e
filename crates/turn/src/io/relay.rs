//! A relay socket's reader: datagrams from peers go through the core to the client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::UdpSocket;

use super::runtime::Shared;

pub(crate) async fn run(shared: Arc<Shared>, relay: SocketAddr, socket: Arc<UdpSocket>) {
    let mut buf = vec![0u8; 65_536];
    let mut out = Vec::with_capacity(1600);
    loop {
        let (n, peer) = match socket.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(_) => continue,
        };
        let client = shared.core.lock().handle_peer(relay, peer, &buf[..n], Instant::now(), &mut out);
        if let Some(client) = client {
            shared.send_to_client(client, &out);
        }
    }
}
