//! TCP clients: STUN and ChannelData frames on a stream (RFC 8656 §3.1, padding to 4 bytes).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::runtime::{Shared, SocketBinder};
use crate::core::{ClientAddr, Event, Output, Transport};

/// Largest frame accepted on a stream (a STUN message or ChannelData is at most 64 KiB + header).
const MAX_FRAME: usize = 65_536 + 4;
/// A TCP client that sends nothing for this long is dropped (its allocation goes with it).
const IDLE: Duration = Duration::from_secs(3600);

pub(crate) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(shared.clone(), stream, peer));
            }
            Err(e) => {
                tracing::debug!(error = %e, "TURN TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let client = ClientAddr { transport: Transport::Tcp, addr: peer };
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(1024);
    shared.tcp_clients.write().insert(client, tx);
    let (mut reader, mut writer) = stream.into_split();
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut out = Vec::with_capacity(1500);
    'conn: loop {
        tokio::select! {
            read = tokio::time::timeout(IDLE, reader.read(&mut chunk)) => {
                let n = match read {
                    Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                    Ok(Ok(n)) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                loop {
                    let frame = match stun::next_frame(&buf) {
                        Ok(Some(f)) => f,
                        Ok(None) => {
                            if buf.len() > MAX_FRAME {
                                break 'conn;
                            }
                            break;
                        }
                        // Not STUN or ChannelData: the stream cannot be re-synchronised.
                        Err(_) => break 'conn,
                    };
                    if frame.len > buf.len() {
                        break;
                    }
                    let mut events: Vec<Event> = Vec::new();
                    let reply = {
                        let mut core = shared.core.lock();
                        let mut binder = SocketBinder { pending: &shared.pending };
                        let o = core.handle_client(client, &buf[..frame.len], Instant::now(), &mut out, &mut binder);
                        events.extend(core.drain_events());
                        match o {
                            Output::None => false,
                            Output::ToClient => true,
                            Output::ToPeer { relay, peer, data } => {
                                shared.send_to_peer(relay, peer, data);
                                false
                            }
                        }
                    };
                    if !events.is_empty() {
                        shared.apply_events(events);
                    }
                    if reply && writer.write_all(&out).await.is_err() {
                        break 'conn;
                    }
                    buf.drain(..frame.len);
                }
            }
            Some(bytes) = rx.recv() => {
                if writer.write_all(&bytes).await.is_err() {
                    break;
                }
            }
        }
    }
    shared.tcp_clients.write().remove(&client);
    let events: Vec<Event> = {
        let mut core = shared.core.lock();
        core.client_closed(client);
        core.drain_events().collect()
    };
    shared.apply_events(events);
}
