//! Framing on stream transports (TCP, TLS): STUN messages and ChannelData
//! messages arrive back to back (RFC 8656 §12.5), told apart by the first two
//! bits (RFC 7983: `0b00` STUN, `0b01` ChannelData). This module says how long
//! the next frame is, so the I/O layer can cut the stream without parsing.

use crate::attributes::padded_len;
use crate::channel_data::CHANNEL_DATA_HEADER_LEN;
use crate::error::Error;
use crate::header::{HEADER_LEN, MAGIC_COOKIE};

/// What kind of frame starts the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A STUN message (first two bits `0b00`).
    Stun,
    /// A ChannelData message (first two bits `0b01`).
    ChannelData,
}

/// The next frame in a stream buffer: its kind and total length in bytes
/// (for ChannelData, including the mandatory padding to 4 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// STUN or ChannelData.
    pub kind: FrameKind,
    /// Total bytes the frame occupies in the stream.
    pub len: usize,
}

/// Classifies the first byte of a datagram or frame (RFC 7983 demultiplexing):
/// `None` if it is neither STUN nor ChannelData.
pub const fn frame_kind(first_byte: u8) -> Option<FrameKind> {
    match first_byte >> 6 {
        0b00 => Some(FrameKind::Stun),
        0b01 => Some(FrameKind::ChannelData),
        _ => None,
    }
}

/// Length of the next frame at the start of a stream buffer.
///
/// `Ok(None)` means fewer than 4 bytes are buffered (or 8 for STUN, to check
/// the magic cookie): read more. `Ok(Some(frame))` gives the frame's total
/// length, which may exceed `buf.len()` — read until it is buffered, then
/// hand `&buf[..frame.len]` to [`Message::parse`](crate::Message::parse) or
/// [`ChannelData::decode`](crate::ChannelData::decode). `Err` means the stream
/// is out of sync or hostile, and the connection should be closed.
pub fn next_frame(buf: &[u8]) -> Result<Option<Frame>, Error> {
    let (b0, b1, l0, l1) = match buf {
        [b0, b1, l0, l1, ..] => (*b0, *b1, *l0, *l1),
        _ => return Ok(None),
    };
    let length = u16::from_be_bytes([l0, l1]);
    match frame_kind(b0) {
        Some(FrameKind::Stun) => {
            if length & 3 != 0 {
                return Err(Error::UnalignedLength(length));
            }
            let cookie = match buf.get(4..8) {
                Some([c0, c1, c2, c3]) => u32::from_be_bytes([*c0, *c1, *c2, *c3]),
                _ => return Ok(None),
            };
            if cookie != MAGIC_COOKIE {
                return Err(Error::BadMagicCookie(cookie));
            }
            Ok(Some(Frame {
                kind: FrameKind::Stun,
                len: HEADER_LEN + usize::from(length),
            }))
        }
        Some(FrameKind::ChannelData) => {
            // The first two bits say ChannelData; whether the number is a valid channel
            // (RFC 8656 or RFC 5766 range) is for the decoder to judge, so framing serves both.
            let _ = b1;
            Ok(Some(Frame {
                kind: FrameKind::ChannelData,
                len: CHANNEL_DATA_HEADER_LEN + padded_len(usize::from(length)),
            }))
        }
        None => Err(Error::UnknownFrame(b0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        assert_eq!(next_frame(&[0x40, 0x00, 0x00]), Ok(None));
        assert_eq!(
            next_frame(&[0x40, 0x00, 0x00, 0x05]),
            Ok(Some(Frame {
                kind: FrameKind::ChannelData,
                len: 12
            }))
        );
        assert_eq!(next_frame(&[0x00, 0x01, 0x00, 0x08]), Ok(None));
        assert_eq!(
            next_frame(&[0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42]),
            Ok(Some(Frame {
                kind: FrameKind::Stun,
                len: 28
            }))
        );
        assert_eq!(
            next_frame(&[0x00, 0x01, 0x00, 0x07]),
            Err(Error::UnalignedLength(7))
        );
        assert_eq!(next_frame(&[0x80, 0, 0, 0]), Err(Error::UnknownFrame(0x80)));
        // Framing cuts RFC 5766 channels too; the decoder judges the range.
        assert_eq!(
            next_frame(&[0x50, 0, 0, 0]),
            Ok(Some(Frame { kind: FrameKind::ChannelData, len: 4 }))
        );
        assert!(crate::ChannelData::decode(&[0x50, 0, 0, 0]).is_err());
        assert!(crate::ChannelData::decode_rfc5766(&[0x7b, 0xf7, 0, 0]).is_ok());
        assert!(next_frame(&[0, 1, 0, 0, 1, 2, 3, 4]).is_err());
    }
}
