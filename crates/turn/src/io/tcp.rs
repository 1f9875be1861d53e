//! TCP clients: STUN and ChannelData frames on a stream (RFC 8656 §3.1, padding to 4 bytes).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::runtime::{ReadyEvent, Shared, SocketBinder, StreamBinder};
use crate::core::{ClientAddr, ConnectionId, Output, Transport};

/// Largest frame accepted on a stream (a STUN message or ChannelData is at most 64 KiB + header).
const MAX_FRAME: usize = 65_536 + 4;
/// A TCP client that sends nothing for this long is dropped (its allocation goes with it; a
/// live client refreshes well within the 600 s default lifetime).
const IDLE: Duration = Duration::from_secs(600);

/// Accepts TCP clients, at most `max_connections` at once (more are closed at once).
pub(crate) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, max_connections: usize) {
    let slots = Arc::new(tokio::sync::Semaphore::new(max_connections));
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    metrics::counter!("switchboard_turn_tcp_refused_total").increment(1);
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                tokio::spawn(async move {
                    serve(shared, stream, peer).await;
                    drop(permit);
                });
            }
            Err(e) => {
                tracing::debug!(error = %e, "TURN TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Serves one stream client. Generic over the stream so a TLS listener (`turns:`) can hand over
/// its decrypted streams unchanged.
pub(crate) async fn serve<S>(shared: Arc<Shared>, stream: S, peer: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let client = ClientAddr { transport: Transport::Tcp, addr: peer };
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(1024);
    shared.tcp_clients.write().insert(client, tx);
    // Pinned on the heap so that the halves can be joined again for a splice (RFC 6062).
    let (mut reader, mut writer) = tokio::io::split(Box::pin(stream));
    // Set when this connection became an RFC 6062 client data connection.
    let mut splice: Option<ConnectionId> = None;
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
                    let mut events = Vec::new();
                    let reply = {
                        let mut core = shared.core.lock();
                        let mut binder = StreamBinder { udp: SocketBinder { pending: &shared.pending }, tcp: &shared.tcp_relays.pending };
                        let o = core.handle_client(client, &buf[..frame.len], Instant::now(), &mut out, &mut binder);
                        shared.claim_events(&mut core, &mut events);
                        // TCP relay listeners bound for a request that then failed are closed.
                        shared.tcp_relays.pending.lock().clear();
                        match o {
                            Output::None => false,
                            Output::ToClient => true,
                            Output::ToPeer { relay, peer, data } => {
                                shared.send_to_peer(relay, peer, data);
                                false
                            }
                        }
                    };
                    let bound = events.iter().find_map(|e| match e {
                        ReadyEvent::TcpBound { id, data } if *data == client => Some(*id),
                        _ => None,
                    });
                    if !events.is_empty() {
                        shared.apply(events);
                    }
                    if reply && writer.write_all(&out).await.is_err() {
                        break 'conn;
                    }
                    buf.drain(..frame.len);
                    if bound.is_some() {
                        // ConnectionBind answered: no more frames on this connection, only the
                        // peer's bytes (those already read go first).
                        splice = bound;
                        break 'conn;
                    }
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
    if let Some(id) = splice {
        super::tcp_relay::splice(&shared, id, reader.unsplit(writer), &buf).await;
    }
    let mut events = Vec::new();
    {
        let mut core = shared.core.lock();
        core.client_closed(client);
        shared.claim_events(&mut core, &mut events);
    }
    shared.apply(events);
}
