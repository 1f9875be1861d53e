//! Hostile input against the TURN listener: random, truncated and oversized datagrams and TCP
//! streams, and a flood of unauthenticated Allocates. The server keeps answering a well-formed
//! client afterwards, and its memory stays flat through the flood (nonces are stateless).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use common::Server;
use stun::{Class, Message, MessageBuilder, Method, TransactionId};

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("VmRSS")
}

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn binding_request(tid: u8) -> Vec<u8> {
    let mut buf = Vec::new();
    let b = MessageBuilder::new(&mut buf, Class::Request, Method::BINDING, TransactionId::new([tid; 12]));
    b.finish().unwrap();
    buf
}

fn allocate_request(n: u32) -> Vec<u8> {
    let mut tid = [0u8; 12];
    tid[..4].copy_from_slice(&n.to_be_bytes());
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::ALLOCATE, TransactionId::new(tid));
    b.requested_transport(17);
    b.finish().unwrap();
    buf
}

/// A Binding over UDP from a fresh socket gets its mapped address back.
fn assert_binding_works(turn: SocketAddr) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 1500];
    for attempt in 0..5u8 {
        s.send_to(&binding_request(attempt), turn).unwrap();
        if let Ok((n, _)) = s.recv_from(&mut buf) {
            let m = Message::parse(&buf[..n]).expect("a well-formed response");
            assert_eq!(m.class(), Class::SuccessResponse);
            assert_eq!(m.xor_mapped_address().unwrap(), Some(s.local_addr().unwrap()));
            return;
        }
    }
    panic!("no Binding response from {turn} after hostile input");
}

#[tokio::test]
async fn garbage_datagrams_and_streams_leave_the_server_serving() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let srv = Server::start_with(&["--turn-listen", &listen, "--turn-user", "user:password1"]);
    let turn: SocketAddr = listen.parse().unwrap();
    tokio::task::spawn_blocking(move || {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut rng = Lcg(42);
        for i in 0..5_000usize {
            let len = (rng.next() % 1_400) as usize;
            let mut packet = rng.bytes(len);
            match i % 5 {
                // STUN-looking header claiming more than it carries.
                0 if packet.len() >= 20 => {
                    packet[0] = 0;
                    packet[1] = 1;
                    packet[2] = 0xff;
                    packet[3] = 0xfc;
                    packet[4..8].copy_from_slice(&0x2112_A442u32.to_be_bytes());
                }
                // ChannelData with a length past the datagram.
                1 if packet.len() >= 4 => {
                    packet[0] = 0x40;
                    packet[2] = 0xff;
                }
                // A valid request cut short.
                2 => packet = allocate_request(i as u32)[..(len % 28)].to_vec(),
                _ => {}
            }
            let _ = s.send_to(&packet, turn);
        }
        // An oversized datagram (64 KiB) too.
        let _ = s.send_to(&vec![0u8; 65_000], turn);
    })
    .await
    .unwrap();
    tokio::task::spawn_blocking(move || {
        // A stream that is not STUN at all, and one that claims a huge frame and stops.
        for prefix in [&[0xffu8, 0xff, 0xff, 0xff][..], &[0x00, 0x03, 0xff, 0xfc, 0x21, 0x12, 0xa4, 0x42][..]] {
            let mut c = TcpStream::connect(turn).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let _ = c.write_all(prefix);
            let _ = c.write_all(&[0u8; 100]);
            if prefix[0] == 0xff {
                let mut b = [0u8; 16];
                assert!(matches!(c.read(&mut b), Ok(0) | Err(_)), "a non-STUN stream must be closed");
            }
        }
        // A well-formed Binding over TCP still works.
        let mut c = TcpStream::connect(turn).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        c.write_all(&binding_request(9)).unwrap();
        let mut b = [0u8; 256];
        let n = c.read(&mut b).unwrap();
        assert_eq!(Message::parse(&b[..n]).unwrap().class(), Class::SuccessResponse);
    })
    .await
    .unwrap();
    tokio::task::spawn_blocking(move || assert_binding_works(turn)).await.unwrap();
    srv.assert_room_works(&common::room("afterturnflood")).await;
}

#[tokio::test]
async fn unauthenticated_allocate_flood_keeps_memory_flat() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let srv = Server::start_with(&["--turn-listen", &listen, "--turn-user", "user:password1"]);
    let turn: SocketAddr = listen.parse().unwrap();
    let pid = srv.pid();
    let flood = move |count: u32, base: u32| {
        let sockets: Vec<UdpSocket> = (0..32).map(|_| UdpSocket::bind("127.0.0.1:0").unwrap()).collect();
        let mut answered = 0u32;
        let mut buf = [0u8; 1500];
        for s in &sockets {
            s.set_nonblocking(true).unwrap();
        }
        for i in 0..count {
            let s = &sockets[(i % 32) as usize];
            let _ = s.send_to(&allocate_request(base + i), turn);
            if i % 64 == 63 {
                // Drain answers so our own buffers don't fill; pace the flood a little.
                for s in &sockets {
                    while let Ok((n, _)) = s.recv_from(&mut buf) {
                        if Message::parse(&buf[..n]).map(|m| m.class() == Class::ErrorResponse).unwrap_or(false) {
                            answered += 1;
                        }
                    }
                }
                std::thread::sleep(Duration::from_micros(500));
            }
        }
        answered
    };
    // Warm up (allocator pools, socket buffers), then measure across a ten times larger flood.
    tokio::task::spawn_blocking(move || flood(2_000, 0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kib(pid);
    let answered = tokio::task::spawn_blocking(move || flood(20_000, 1_000_000)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = rss_kib(pid);
    assert!(answered > 10_000, "the server should answer the unauthenticated Allocates with 401 (answered {answered})");
    assert!(after <= before + 4 * 1024, "RSS grew from {before} KiB to {after} KiB over 20,000 unauthenticated Allocates");
    tokio::task::spawn_blocking(move || assert_binding_works(turn)).await.unwrap();
}
