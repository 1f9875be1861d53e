//! The only `unsafe` in this crate: thin wrappers over `recvmmsg(2)`, `sendmmsg(2)`, socket
//! options, a SIGTERM/SIGINT flag and the CPU clocks. Every buffer handed to the kernel is
//! owned by the caller's `Batch` (or is a local) and outlives the call; lengths come from the
//! slices and types themselves.

use std::io;
use std::net::{SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// CPU time (user + system) consumed so far by the calling thread, in seconds.
pub fn thread_cpu_secs() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn to_sockaddr(a: &SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(*a.ip()).to_be() },
        sin_zero: [0; 8],
    }
}

/// A set of `n` datagram buffers with their headers, reused for every call.
pub struct Batch {
    bufs: Vec<Vec<u8>>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    addrs: Vec<libc::sockaddr_in>,
}

// The raw pointers inside point into the Batch's own heap buffers.
unsafe impl Send for Batch {}

impl Batch {
    pub fn new(n: usize, buf_len: usize) -> Batch {
        let mut b = Batch {
            bufs: vec![vec![0u8; buf_len]; n],
            iovs: Vec::with_capacity(n),
            // SAFETY: mmsghdr and sockaddr_in are plain C structs for which all-zero is valid.
            hdrs: vec![unsafe { std::mem::zeroed() }; n],
            addrs: vec![unsafe { std::mem::zeroed() }; n],
        };
        for i in 0..n {
            b.iovs.push(libc::iovec { iov_base: b.bufs[i].as_mut_ptr().cast(), iov_len: buf_len });
        }
        for i in 0..n {
            let h = &mut b.hdrs[i].msg_hdr;
            h.msg_iov = &mut b.iovs[i];
            h.msg_iovlen = 1;
        }
        b
    }

    pub fn buf_mut(&mut self, i: usize) -> &mut [u8] {
        &mut self.bufs[i]
    }

    /// Length of datagram `i` after `recv`.
    pub fn len(&self, i: usize) -> usize {
        self.hdrs[i].msg_len as usize
    }

    /// Receive up to `capacity()` datagrams; blocks (subject to SO_RCVTIMEO) until at least one.
    pub fn recv(&mut self, sock: &UdpSocket) -> io::Result<usize> {
        let n = self.bufs.len();
        for i in 0..n {
            self.iovs[i].iov_len = self.bufs[i].len();
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_in).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
        }
        // SAFETY: hdrs[0..n] point at iovs/addrs/bufs owned by self, all live across the call.
        let rc = unsafe {
            libc::recvmmsg(sock.as_raw_fd(), self.hdrs.as_mut_ptr(), n as libc::c_uint,
                           libc::MSG_WAITFORONE, std::ptr::null_mut())
        };
        if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(rc as usize) }
    }

    /// After `recv` returned `count`: send each datagram 0..count back, unchanged, to the
    /// address it came from. Returns (sent, failed); a datagram the kernel refuses is counted
    /// as failed and skipped, the rest of the batch is still sent.
    pub fn send_back(&mut self, sock: &UdpSocket, count: usize) -> (usize, usize) {
        let count = count.min(self.bufs.len());
        for i in 0..count {
            // msg_name/msg_namelen still hold the source address written by recvmmsg.
            self.iovs[i].iov_len = self.hdrs[i].msg_len as usize;
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
        }
        let (mut done, mut failed) = (0, 0);
        while done < count {
            // SAFETY: hdrs[done..count] point at iovs/addrs/bufs owned by self, initialised
            // above and by the preceding recvmmsg, all live across the call.
            let rc = unsafe {
                libc::sendmmsg(sock.as_raw_fd(), self.hdrs.as_mut_ptr().add(done),
                               (count - done) as libc::c_uint, 0)
            };
            if rc < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted { continue; }
                // hdrs[done] was refused (e.g. ENOBUFS, ECONNREFUSED): skip it.
                failed += 1;
                done += 1;
            } else {
                done += rc as usize;
            }
        }
        (count - failed, failed)
    }

    /// Send datagrams 0..count, datagram i with length `lens[i]`, all to `dest`
    /// (or to the socket's connected peer when `dest` is None). Returns how many were sent.
    pub fn send(&mut self, sock: &UdpSocket, lens: &[usize], dest: Option<SocketAddrV4>) -> io::Result<usize> {
        let count = lens.len().min(self.bufs.len());
        let sa = dest.map(|d| to_sockaddr(&d));
        for i in 0..count {
            self.iovs[i].iov_len = lens[i];
            if let Some(sa) = sa { self.addrs[i] = sa; }
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            if sa.is_some() {
                h.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_in).cast();
                h.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            } else {
                h.msg_name = std::ptr::null_mut();
                h.msg_namelen = 0;
            }
        }
        let mut done = 0;
        while done < count {
            // SAFETY: as in `recv`; hdrs[done..count] are initialised above.
            let rc = unsafe {
                libc::sendmmsg(sock.as_raw_fd(), self.hdrs.as_mut_ptr().add(done),
                               (count - done) as libc::c_uint, 0)
            };
            if rc < 0 {
                let e = io::Error::last_os_error();
                if done > 0 { return Ok(done); }
                return Err(e);
            }
            done += rc as usize;
        }
        Ok(done)
    }
}

/// Set SO_RCVBUF and SO_SNDBUF (capped by net.core.{r,w}mem_max).
pub fn set_buffers(sock: &UdpSocket, bytes: i32) {
    for opt in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
        // SAFETY: passes a pointer to a live c_int of the right size.
        unsafe {
            libc::setsockopt(sock.as_raw_fd(), libc::SOL_SOCKET, opt,
                             (&bytes as *const i32).cast(), std::mem::size_of::<i32>() as libc::socklen_t);
        }
    }
}

/// CPU time (user + system) consumed so far by the whole process, in seconds.
pub fn process_cpu_secs() -> f64 {
    // SAFETY: `ru` is a valid, writable rusage.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(rc, 0, "getrusage");
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// A 127.0.0.1 UDP socket bound to `addr`, with SO_REUSEPORT set before bind when `reuseport`
/// (so that several sockets, one per thread, share the port; the kernel spreads the flows).
pub fn bind_udp(addr: SocketAddrV4, reuseport: bool) -> io::Result<UdpSocket> {
    // SAFETY: plain socket(2); the fd is owned by the UdpSocket below (or closed on error).
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 { return Err(io::Error::last_os_error()); }
    // SAFETY: `fd` is a fresh socket that nothing else owns.
    let sock = unsafe { UdpSocket::from_raw_fd(fd) };
    if reuseport {
        setsockopt_int(&sock, libc::SO_REUSEPORT, 1)?;
    }
    let sa = to_sockaddr(&addr);
    // SAFETY: `sa` is a valid sockaddr_in and its size is passed.
    let rc = unsafe {
        libc::bind(fd, (&sa as *const libc::sockaddr_in).cast(),
                   std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t)
    };
    if rc < 0 { return Err(io::Error::last_os_error()); }
    Ok(sock)
}

fn setsockopt_int(sock: &UdpSocket, opt: libc::c_int, v: libc::c_int) -> io::Result<()> {
    // SAFETY: passes a pointer to a live c_int of the right size.
    let rc = unsafe {
        libc::setsockopt(sock.as_raw_fd(), libc::SOL_SOCKET, opt,
                         (&v as *const libc::c_int).cast(), std::mem::size_of::<libc::c_int>() as libc::socklen_t)
    };
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

fn getsockopt_int(sock: &UdpSocket, opt: libc::c_int) -> i64 {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` and `len` are live and `len` is v's size.
    let rc = unsafe { libc::getsockopt(sock.as_raw_fd(), libc::SOL_SOCKET, opt, (&mut v as *mut libc::c_int).cast(), &mut len) };
    if rc < 0 { -1 } else { v as i64 }
}

/// Receive and send buffers of `bytes`: SO_RCVBUFFORCE/SO_SNDBUFFORCE (CAP_NET_ADMIN, not
/// capped by net.core.{r,w}mem_max), falling back to SO_RCVBUF/SO_SNDBUF. Returns the
/// effective sizes as the kernel reports them (twice the request, for its bookkeeping) and
/// whether the FORCE options were accepted.
pub fn set_buffers_force(sock: &UdpSocket, bytes: i32) -> (i64, i64, bool) {
    let mut forced = true;
    for (force, plain) in [(libc::SO_RCVBUFFORCE, libc::SO_RCVBUF), (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF)] {
        if setsockopt_int(sock, force, bytes).is_err() {
            forced = false;
            let _ = setsockopt_int(sock, plain, bytes);
        }
    }
    (getsockopt_int(sock, libc::SO_RCVBUF), getsockopt_int(sock, libc::SO_SNDBUF), forced)
}

/// Datagrams the kernel dropped on this socket so far (full receive buffer), from SO_MEMINFO.
pub fn socket_drops(sock: &UdpSocket) -> Option<u64> {
    let mut info = [0u32; 16]; // SK_MEMINFO_VARS is 9 today; room to spare
    let mut len = std::mem::size_of_val(&info) as libc::socklen_t;
    // SAFETY: `info` and `len` are live; `len` is info's size in bytes.
    let rc = unsafe {
        libc::getsockopt(sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_MEMINFO, info.as_mut_ptr().cast(), &mut len)
    };
    if rc < 0 || (len as usize) <= libc::SK_MEMINFO_DROPS as usize * 4 { return None; }
    Some(info[libc::SK_MEMINFO_DROPS as usize] as u64)
}

/// Set by SIGTERM/SIGINT once `install_term_handler` has run.
pub static TERMINATED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_sig: libc::c_int) {
    TERMINATED.store(true, Ordering::Relaxed); // async-signal-safe: a lock-free atomic store
}

/// SIGTERM and SIGINT set `TERMINATED` (no SA_RESTART: a blocked recvmmsg returns EINTR).
pub fn install_term_handler() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: a zeroed sigaction with a valid handler and an empty mask; `on_term` only
        // performs an atomic store.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_term as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = 0;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}
