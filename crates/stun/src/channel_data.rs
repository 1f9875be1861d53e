//! ChannelData messages (RFC 8656 §12.4–§12.5): the TURN data path's 4-byte
//! framing — a channel number and a length — in front of the application
//! payload. Decoding borrows the payload and never allocates; encoding can
//! write just the 4-byte header in front of a payload already in place.

use crate::attributes::padded_len;
use crate::error::Error;

/// Length of the ChannelData header (channel number + length).
pub const CHANNEL_DATA_HEADER_LEN: usize = 4;

/// A TURN channel number, guaranteed to be in 0x4000..=0x4FFF
/// (RFC 8656 §12: 0x5000..=0x7FFF are reserved, everything else is not a channel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelNumber(u16);

impl ChannelNumber {
    /// Lowest valid channel number.
    pub const MIN: u16 = 0x4000;
    /// Highest valid channel number.
    pub const MAX: u16 = 0x4FFF;

    /// Checks the range and wraps the number.
    pub const fn new(n: u16) -> Result<ChannelNumber, Error> {
        if ChannelNumber::is_valid(n) {
            Ok(ChannelNumber(n))
        } else {
            Err(Error::InvalidChannelNumber(n))
        }
    }

    /// True for 0x4000..=0x4FFF.
    pub const fn is_valid(n: u16) -> bool {
        n >= ChannelNumber::MIN && n <= ChannelNumber::MAX
    }

    /// Highest channel number of RFC 5766, which allowed 0x4000..=0x7FFF. RFC 8656 reserved
    /// 0x5000..=0x7FFF (RFC 7983 demultiplexing), but coturn and its client tools still use them.
    pub const RFC5766_MAX: u16 = 0x7FFF;

    /// Like [`ChannelNumber::new`] with RFC 5766's wider range, for servers that opt in to
    /// interoperate with older clients.
    pub const fn new_rfc5766(n: u16) -> Result<ChannelNumber, Error> {
        if n >= ChannelNumber::MIN && n <= ChannelNumber::RFC5766_MAX {
            Ok(ChannelNumber(n))
        } else {
            Err(Error::InvalidChannelNumber(n))
        }
    }

    /// The number.
    pub const fn value(self) -> u16 {
        self.0
    }
}

/// A decoded ChannelData message: the channel and the borrowed payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelData<'a> {
    /// The channel the payload travels on.
    pub channel: ChannelNumber,
    /// The application data, padding excluded.
    pub data: &'a [u8],
}

impl<'a> ChannelData<'a> {
    /// Decodes a ChannelData message from a UDP datagram or a stream frame.
    /// The buffer must hold the header and `length` bytes of data, and may
    /// hold up to 3 bytes of padding after it (required on TCP/TLS, optional
    /// on UDP) but nothing more.
    pub fn decode(buf: &'a [u8]) -> Result<ChannelData<'a>, Error> {
        Self::decode_in_range(buf, false)
    }

    /// [`ChannelData::decode`] accepting RFC 5766's channel range 0x4000..=0x7FFF.
    pub fn decode_rfc5766(buf: &'a [u8]) -> Result<ChannelData<'a>, Error> {
        Self::decode_in_range(buf, true)
    }

    fn decode_in_range(buf: &'a [u8], rfc5766: bool) -> Result<ChannelData<'a>, Error> {
        let (channel, len, rest) = match buf {
            [c0, c1, l0, l1, rest @ ..] => (
                u16::from_be_bytes([*c0, *c1]),
                usize::from(u16::from_be_bytes([*l0, *l1])),
                rest,
            ),
            _ => {
                return Err(Error::TooShort {
                    needed: CHANNEL_DATA_HEADER_LEN,
                    available: buf.len(),
                })
            }
        };
        let channel = if rfc5766 { ChannelNumber::new_rfc5766(channel)? } else { ChannelNumber::new(channel)? };
        let data = rest.get(..len).ok_or(Error::TooShort {
            needed: CHANNEL_DATA_HEADER_LEN + len,
            available: buf.len(),
        })?;
        let expected = CHANNEL_DATA_HEADER_LEN + padded_len(len);
        if buf.len() > expected {
            return Err(Error::ChannelDataTrailingBytes {
                expected,
                actual: buf.len(),
            });
        }
        Ok(ChannelData { channel, data })
    }

    /// The 4-byte header for `data_len` bytes on `channel`. Write it in front of
    /// a payload received at offset 4 of a buffer to relay without copying.
    pub fn header(
        channel: ChannelNumber,
        data_len: usize,
    ) -> Result<[u8; CHANNEL_DATA_HEADER_LEN], Error> {
        let len = u16::try_from(data_len).map_err(|_| Error::MessageTooLong)?;
        let mut h = [0u8; CHANNEL_DATA_HEADER_LEN];
        h[..2].copy_from_slice(&channel.0.to_be_bytes());
        h[2..].copy_from_slice(&len.to_be_bytes());
        Ok(h)
    }

    /// Total bytes of a ChannelData message carrying `data_len` bytes;
    /// `padded` for stream transports (TCP/TLS), where padding is mandatory.
    pub const fn encoded_len(data_len: usize, padded: bool) -> usize {
        CHANNEL_DATA_HEADER_LEN
            + if padded {
                padded_len(data_len)
            } else {
                data_len
            }
    }

    /// Appends this message to `out`, zero-padded to 4 bytes if `padded`.
    pub fn encode_into(&self, out: &mut Vec<u8>, padded: bool) -> Result<(), Error> {
        out.extend_from_slice(&Self::header(self.channel, self.data.len())?);
        out.extend_from_slice(self.data);
        if padded {
            out.resize(out.len() + padded_len(self.data.len()) - self.data.len(), 0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_padding() {
        let ch = ChannelNumber::new(0x4001).unwrap();
        for padded in [false, true] {
            let mut v = Vec::new();
            ChannelData {
                channel: ch,
                data: b"hello",
            }
            .encode_into(&mut v, padded)
            .unwrap();
            assert_eq!(v.len(), ChannelData::encoded_len(5, padded));
            let d = ChannelData::decode(&v).unwrap();
            assert_eq!(d.channel, ch);
            assert_eq!(d.data, b"hello");
        }
    }

    #[test]
    fn rejects_bad_input() {
        assert!(matches!(
            ChannelData::decode(&[0x40, 0, 0]),
            Err(Error::TooShort { .. })
        ));
        assert_eq!(
            ChannelData::decode(&[0x50, 0, 0, 0]),
            Err(Error::InvalidChannelNumber(0x5000))
        );
        assert_eq!(
            ChannelData::decode(&[0x3f, 0xff, 0, 0]),
            Err(Error::InvalidChannelNumber(0x3fff))
        );
        assert!(matches!(
            ChannelData::decode(&[0x40, 0, 0, 2, 1]),
            Err(Error::TooShort { .. })
        ));
        assert_eq!(
            ChannelData::decode(&[0x40, 0, 0, 1, 1, 0, 0, 0, 0]),
            Err(Error::ChannelDataTrailingBytes {
                expected: 8,
                actual: 9
            })
        );
        assert!(ChannelData::decode(&[0x40, 0, 0, 0]).is_ok());
        assert!(ChannelNumber::is_valid(0x4FFF) && !ChannelNumber::is_valid(0x5000));
    }
}
