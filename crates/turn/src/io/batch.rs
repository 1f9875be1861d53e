//! Batched UDP I/O: `recvmmsg` and `sendmmsg`, many datagrams per system call.
//!
//! The relay is kernel-bound (turn.md, "Data path"): per-datagram system calls dominate its cost,
//! so the data path reads up to [`BATCH`] datagrams per call and writes many per call. No crate
//! wraps both calls for many destinations on one socket (quinn-udp batches receives but sends one
//! destination at a time), so this is the crate's single `unsafe` module. Each `unsafe` block
//! only hands the kernel pointers into buffers that outlive the call.
#![allow(unsafe_code)]

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// Datagrams per system call.
pub(crate) const BATCH: usize = 32;
/// Room for one datagram. Larger ones arrive truncated and are dropped: media packets are
/// below 1,500 bytes and STUN messages far below this.
pub(crate) const SLOT: usize = 8 * 1024;

/// Buffers for `recvmmsg`, wired together once and reused call after call.
pub(crate) struct RecvBatch {
    buf: Box<[u8]>,
    names: Box<[libc::sockaddr_storage; BATCH]>,
    iovecs: Box<[libc::iovec; BATCH]>,
    headers: Box<[libc::mmsghdr; BATCH]>,
    count: usize,
}

// SAFETY: the raw pointers inside `iovecs` and `headers` point only into this value's own
// heap buffers, which move with it.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    pub(crate) fn new() -> Self {
        // SAFETY: sockaddr_storage, iovec and mmsghdr are plain old data; all zeroes is valid.
        let (names, iovecs, headers) = unsafe { (Box::new(zeroed()), Box::new(zeroed()), Box::new(zeroed())) };
        let mut batch = Self { buf: vec![0u8; BATCH * SLOT].into_boxed_slice(), names, iovecs, headers, count: 0 };
        for i in 0..BATCH {
            batch.iovecs[i] = libc::iovec { iov_base: batch.buf[i * SLOT..].as_mut_ptr().cast(), iov_len: SLOT };
            let h = &mut batch.headers[i].msg_hdr;
            h.msg_name = (&mut batch.names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_iov = &mut batch.iovecs[i];
            h.msg_iovlen = 1;
        }
        batch
    }

    /// Reads up to [`BATCH`] datagrams without blocking; returns how many (`WouldBlock` when none).
    pub(crate) fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        for h in self.headers.iter_mut() {
            h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        }
        // SAFETY: every header points at its own name and iovec, and every iovec at a distinct
        // SLOT-sized part of `buf`, all owned by `self` and alive across the call.
        let n = unsafe { libc::recvmmsg(fd, self.headers.as_mut_ptr(), BATCH as libc::c_uint, libc::MSG_DONTWAIT, std::ptr::null_mut()) };
        if n < 0 {
            self.count = 0;
            return Err(io::Error::last_os_error());
        }
        self.count = n as usize;
        Ok(self.count)
    }

    /// Datagram `i` of the last call: its source and bytes, or `None` if it was truncated or its
    /// source is not an IP address.
    pub(crate) fn get(&self, i: usize) -> Option<(SocketAddr, &[u8])> {
        if i >= self.count || self.headers[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
            return None;
        }
        let from = from_storage(&self.names[i])?;
        let len = (self.headers[i].msg_len as usize).min(SLOT);
        Some((from, &self.buf[i * SLOT..i * SLOT + len]))
    }

    /// The whole buffer, so callers can turn a sub-slice of a datagram back into an offset.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }
}

/// Buffers for `sendmmsg`, wired together once and reused call after call.
pub(crate) struct SendBatch {
    names: Box<[libc::sockaddr_storage; BATCH]>,
    iovecs: Box<[libc::iovec; BATCH]>,
    headers: Box<[libc::mmsghdr; BATCH]>,
}

// SAFETY: the raw pointers inside `headers` point only into this value's own heap buffers; the
// payload pointers in `iovecs` are written just before each call and not used after it.
unsafe impl Send for SendBatch {}

impl SendBatch {
    pub(crate) fn new() -> Self {
        // SAFETY: sockaddr_storage, iovec and mmsghdr are plain old data; all zeroes is valid.
        let (names, iovecs, headers) = unsafe { (Box::new(zeroed()), Box::new(zeroed()), Box::new(zeroed())) };
        let mut batch = Self { names, iovecs, headers };
        for i in 0..BATCH {
            let h = &mut batch.headers[i].msg_hdr;
            h.msg_name = (&mut batch.names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_iov = &mut batch.iovecs[i];
            h.msg_iovlen = 1;
        }
        batch
    }

    /// Sends every `(bytes, destination)` with as few `sendmmsg` calls as the kernel allows. A
    /// datagram the kernel refuses (full buffer, unreachable) is dropped, as UDP may; returns
    /// how many were dropped.
    pub(crate) fn send<'a>(&mut self, fd: RawFd, packets: impl IntoIterator<Item = (&'a [u8], SocketAddr)>) -> usize {
        let mut packets = packets.into_iter().peekable();
        let mut dropped = 0;
        while packets.peek().is_some() {
            let mut count = 0;
            for (bytes, to) in packets.by_ref().take(BATCH) {
                self.headers[count].msg_hdr.msg_namelen = write_storage(&mut self.names[count], to);
                // The kernel only reads from the buffer on send.
                self.iovecs[count] = libc::iovec { iov_base: bytes.as_ptr() as *mut libc::c_void, iov_len: bytes.len() };
                count += 1;
            }
            dropped += self.send_prepared(fd, count);
        }
        dropped
    }

    /// Sends the first `count` prepared datagrams; returns how many were dropped.
    fn send_prepared(&mut self, fd: RawFd, count: usize) -> usize {
        let mut sent = 0;
        let mut dropped = 0;
        while sent < count {
            let rest = &mut self.headers[sent..count];
            // SAFETY: the headers point at names and iovecs owned by `self`, and the iovecs at
            // payloads the caller keeps borrowed for the whole `send` call.
            let n = unsafe { libc::sendmmsg(fd, rest.as_mut_ptr(), rest.len() as libc::c_uint, libc::MSG_DONTWAIT) };
            if n > 0 {
                sent += n as usize;
                continue;
            }
            match io::Error::last_os_error().kind() {
                io::ErrorKind::Interrupted => {}
                // The socket buffer is full: the rest of this chunk is dropped.
                io::ErrorKind::WouldBlock => return dropped + count - sent,
                // The first datagram of the rest failed (a pending ICMP error): skip it.
                _ => {
                    sent += 1;
                    dropped += 1;
                }
            }
        }
        dropped
    }
}

/// Sets a socket's receive and send buffers to `bytes`. The kernel caps plain SO_RCVBUF and
/// SO_SNDBUF at `net.core.rmem_max`/`wmem_max` (about 200 KiB by default, 2 ms of a busy relay's
/// traffic), so where the process may (CAP_NET_ADMIN) the cap is lifted with the FORCE variants;
/// elsewhere the capped sizes stay. Buffers are limits, not allocations: memory is only used by
/// datagrams actually waiting.
pub(crate) fn set_buffer_sizes(socket: &socket2::Socket, bytes: usize) {
    let _ = socket.set_recv_buffer_size(bytes);
    let _ = socket.set_send_buffer_size(bytes);
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    for option in [libc::SO_RCVBUFFORCE, libc::SO_SNDBUFFORCE] {
        // SAFETY: `value` is a live c_int and its size is passed with it.
        unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(socket),
                libc::SOL_SOCKET,
                option,
                (&value as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

fn from_storage(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large enough for.
            let v4: &libc::sockaddr_in = unsafe { &*(s as *const libc::sockaddr_storage).cast() };
            let ip = Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(v4.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6, which it is large enough for.
            let v6: &libc::sockaddr_in6 = unsafe { &*(s as *const libc::sockaddr_storage).cast() };
            let ip = Ipv6Addr::from(v6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(ip, u16::from_be(v6.sin6_port), v6.sin6_flowinfo, v6.sin6_scope_id)))
        }
        _ => None,
    }
}

/// Writes `addr` into `storage` as a sockaddr_in or sockaddr_in6; returns its length.
fn write_storage(storage: &mut libc::sockaddr_storage, addr: SocketAddr) -> libc::socklen_t {
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large enough and aligned for a sockaddr_in.
            let v4: &mut libc::sockaddr_in = unsafe { &mut *(storage as *mut libc::sockaddr_storage).cast() };
            *v4 = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from(*a.ip()).to_be() },
                sin_zero: [0; 8],
            };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_storage is large enough and aligned for a sockaddr_in6.
            let v6: &mut libc::sockaddr_in6 = unsafe { &mut *(storage as *mut libc::sockaddr_storage).cast() };
            *v6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                sin6_scope_id: a.scope_id(),
            };
            size_of::<libc::sockaddr_in6>()
        }
    };
    len as libc::socklen_t
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    #[test]
    fn a_batch_goes_out_and_comes_back_with_sources_and_lengths() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = b.local_addr().unwrap();
        let payloads: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; usize::from(i) + 1]).collect();
        let packets: Vec<(&[u8], SocketAddr)> = payloads.iter().map(|p| (p.as_slice(), to)).collect();
        assert_eq!(SendBatch::new().send(a.as_raw_fd(), packets), 0);
        let mut batch = RecvBatch::new();
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while got.len() < 40 && std::time::Instant::now() < deadline {
            match batch.recv(b.as_raw_fd()) {
                Ok(n) => {
                    assert!(n <= BATCH);
                    for i in 0..n {
                        let (from, bytes) = batch.get(i).unwrap();
                        assert_eq!(from, a.local_addr().unwrap());
                        got.push(bytes.to_vec());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got, payloads);
    }

    #[test]
    fn buffers_grow_past_the_plain_cap_where_the_process_may() {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        let before = socket.recv_buffer_size().unwrap();
        set_buffer_sizes(&socket, 8 << 20);
        let after = socket.recv_buffer_size().unwrap();
        assert!(after >= before, "{after} < {before}");
        // As root (CI, and this project's test machines) the FORCE variant lifts rmem_max's cap.
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            assert!(after >= 8 << 20, "{after}");
        }
    }

    #[test]
    fn ipv6_addresses_survive_the_round_trip() {
        // SAFETY: sockaddr_storage is plain old data; all zeroes is a valid value.
        let mut s: libc::sockaddr_storage = unsafe { zeroed() };
        for addr in ["[2001:db8::7]:4242", "192.0.2.1:9"] {
            let addr: SocketAddr = addr.parse().unwrap();
            write_storage(&mut s, addr);
            assert_eq!(from_storage(&s), Some(addr));
        }
    }
}
