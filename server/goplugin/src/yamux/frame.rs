//! The 12-byte yamux frame header (big-endian), as in hashicorp/yamux `const.go`.

use std::fmt;

/// Header size on the wire.
pub const HEADER_LEN: usize = 12;
/// The only protocol version.
pub const VERSION: u8 = 0;

/// Flag bits (`flags` field).
pub const FLAG_SYN: u16 = 1;
pub const FLAG_ACK: u16 = 2;
pub const FLAG_FIN: u16 = 4;
pub const FLAG_RST: u16 = 8;

/// GoAway codes (`length` field of a GoAway frame).
pub const GO_AWAY_NORMAL: u32 = 0;
pub const GO_AWAY_PROTOCOL_ERROR: u32 = 1;
pub const GO_AWAY_INTERNAL_ERROR: u32 = 2;

/// Frame type (second header byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameType {
    /// `length` payload bytes follow.
    Data = 0,
    /// `length` is an additive send-window delta.
    WindowUpdate = 1,
    /// `length` is an opaque ping value; stream id 0.
    Ping = 2,
    /// `length` is the reason code; stream id 0.
    GoAway = 3,
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub frame_type: FrameType,
    pub flags: u16,
    pub stream_id: u32,
    pub length: u32,
}

/// Why a header could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("invalid yamux protocol version {0}")]
    Version(u8),
    #[error("invalid yamux frame type {0}")]
    Type(u8),
}

impl Header {
    pub fn new(frame_type: FrameType, flags: u16, stream_id: u32, length: u32) -> Header {
        Header {
            frame_type,
            flags,
            stream_id,
            length,
        }
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = VERSION;
        out[1] = self.frame_type as u8;
        out[2..4].copy_from_slice(&self.flags.to_be_bytes());
        out[4..8].copy_from_slice(&self.stream_id.to_be_bytes());
        out[8..12].copy_from_slice(&self.length.to_be_bytes());
        out
    }

    pub fn decode(raw: &[u8; HEADER_LEN]) -> Result<Header, HeaderError> {
        let [version, kind, f0, f1, s0, s1, s2, s3, l0, l1, l2, l3] = *raw;
        if version != VERSION {
            return Err(HeaderError::Version(version));
        }
        let frame_type = match kind {
            0 => FrameType::Data,
            1 => FrameType::WindowUpdate,
            2 => FrameType::Ping,
            3 => FrameType::GoAway,
            other => return Err(HeaderError::Type(other)),
        };
        Ok(Header {
            frame_type,
            flags: u16::from_be_bytes([f0, f1]),
            stream_id: u32::from_be_bytes([s0, s1, s2, s3]),
            length: u32::from_be_bytes([l0, l1, l2, l3]),
        })
    }

    pub fn has(&self, flag: u16) -> bool {
        self.flags & flag == flag
    }
}

impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} flags={} stream={} length={}",
            self.frame_type, self.flags, self.stream_id, self.length
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_go() {
        // Broker example from protocol.md §2.4: WindowUpdate+SYN on stream 2, then Data of 4 bytes.
        let syn = Header::new(FrameType::WindowUpdate, FLAG_SYN, 2, 0).encode();
        assert_eq!(syn, [0, 1, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0]);
        let data = Header::new(FrameType::Data, 0, 2, 4).encode();
        assert_eq!(data, [0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 4]);
        let ping = Header::new(FrameType::Ping, FLAG_ACK, 0, 0x0102_0304).encode();
        assert_eq!(ping, [0, 2, 0, 2, 0, 0, 0, 0, 1, 2, 3, 4]);
        let big = Header::new(FrameType::GoAway, 0x0a0b, 0x1122_3344, 0x5566_7788).encode();
        assert_eq!(
            big,
            [
                0, 3, 0x0a, 0x0b, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88
            ]
        );
    }

    #[test]
    fn decode_roundtrip_and_errors() {
        let h = Header::new(FrameType::Data, FLAG_FIN | FLAG_ACK, 7, 65536);
        assert_eq!(Header::decode(&h.encode()), Ok(h));
        let mut bad = h.encode();
        bad[0] = 1;
        assert_eq!(Header::decode(&bad), Err(HeaderError::Version(1)));
        let mut bad = h.encode();
        bad[1] = 4;
        assert_eq!(Header::decode(&bad), Err(HeaderError::Type(4)));
    }
}
