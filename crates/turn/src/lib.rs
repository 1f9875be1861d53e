//! Switchboard's STUN/TURN server (RFC 8489, RFC 8656, RFC 6156).
//!
//! `core` holds the protocol as sans-IO state machines; the I/O layer drives them with sockets.
#![forbid(unsafe_code)]

pub mod policy;
