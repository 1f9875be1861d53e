//! The only `unsafe` in this crate: thin wrappers over `recvmmsg(2)`, `sendmmsg(2)` and the
//! calling thread's CPU clock. Every buffer handed to the kernel is owned by the caller's
//! `Batch` and outlives the call; lengths come from the slices themselves.

use std::io;
use std::net::{SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;

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
