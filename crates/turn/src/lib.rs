//! Switchboard's STUN/TURN server (RFC 8489, RFC 8656, RFC 6156).
//!
//! [`core`] holds the protocol as a sans-IO state machine: it is fed datagrams, stream frames and
//! the time, and answers with what to send where. The I/O layer drives it with sockets.
// `unsafe` is denied everywhere but io::batch (recvmmsg/sendmmsg), which says why.
#![deny(unsafe_code)]

pub mod core;
pub mod io;
pub mod policy;
