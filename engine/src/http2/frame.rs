//! HTTP/2 frames (RFC 9113 4, 6): the 9-byte header, and the frames a
//! client writes.

/// The client connection preface (RFC 9113 3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub const HEADER_LEN: usize = 9;
/// The largest frame payload we accept: our SETTINGS_MAX_FRAME_SIZE,
/// the default.
pub const MAX_FRAME: usize = 16_384;

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PUSH_PROMISE: u8 = 0x5;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
pub const PADDED: u8 = 0x8;
pub const PRIORITY_FLAG: u8 = 0x20;

pub const SETTINGS_ENABLE_PUSH: u16 = 0x2;
pub const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
pub const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;
pub const SETTINGS_MAX_HEADER_LIST_SIZE: u16 = 0x6;

/// Error codes (RFC 9113 7).
pub const NO_ERROR: u32 = 0x0;
pub const CANCEL: u32 = 0x8;

/// The largest flow-control window (RFC 9113 6.9.1).
pub const MAX_WINDOW: i64 = (1 << 31) - 1;

/// A frame's 9-byte header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub len: usize,
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
}

impl Head {
    /// Reads the header at the start of `b` (at least 9 bytes).
    #[inline]
    pub fn parse(b: &[u8]) -> Head {
        Head {
            len: (b[0] as usize) << 16 | (b[1] as usize) << 8 | b[2] as usize,
            kind: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
        }
    }
}

/// Appends a frame header.
#[inline]
pub fn put_head(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    let l = (len as u32).to_be_bytes();
    let s = stream.to_be_bytes();
    out.extend_from_slice(&[l[1], l[2], l[3], kind, flags, s[0], s[1], s[2], s[3]]);
}

/// Appends a SETTINGS frame holding `settings`.
pub fn put_settings(out: &mut Vec<u8>, settings: &[(u16, u32)]) {
    put_head(out, settings.len() * 6, SETTINGS, 0, 0);
    for &(id, value) in settings {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&value.to_be_bytes());
    }
}

/// Appends a WINDOW_UPDATE frame.
pub fn put_window_update(out: &mut Vec<u8>, stream: u32, increment: u32) {
    put_head(out, 4, WINDOW_UPDATE, 0, stream);
    out.extend_from_slice(&increment.to_be_bytes());
}

/// Appends a RST_STREAM frame.
pub fn put_rst(out: &mut Vec<u8>, stream: u32, code: u32) {
    put_head(out, 4, RST_STREAM, 0, stream);
    out.extend_from_slice(&code.to_be_bytes());
}

/// Appends a header block as one HEADERS frame, followed by CONTINUATION
/// frames when it is larger than the peer's frame size.
pub fn put_headers(out: &mut Vec<u8>, stream: u32, block: &[u8], end_stream: bool, max: usize) {
    let end = if end_stream { END_STREAM } else { 0 };
    let mut chunks = block.chunks(max.max(1));
    let first = chunks.next().unwrap_or(&[]);
    let more = block.len() > first.len();
    let flags = end | if more { 0 } else { END_HEADERS };
    put_head(out, first.len(), HEADERS, flags, stream);
    out.extend_from_slice(first);
    let mut rest = chunks.peekable();
    while let Some(chunk) = rest.next() {
        let flags = if rest.peek().is_none() {
            END_HEADERS
        } else {
            0
        };
        put_head(out, chunk.len(), CONTINUATION, flags, stream);
        out.extend_from_slice(chunk);
    }
}

/// The 4-byte big-endian number at the start of `b`, its top bit cleared.
#[inline]
pub fn u31(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & 0x7fff_ffff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_round_trips() {
        let mut out = Vec::new();
        put_head(
            &mut out,
            0x01_02_03,
            HEADERS,
            END_HEADERS | END_STREAM,
            0x8000_0007,
        );
        assert_eq!(out, [1, 2, 3, 1, 5, 0x80, 0, 0, 7]);
        let head = Head::parse(&out);
        // The reserved bit is not part of the stream id.
        assert_eq!(
            head,
            Head {
                len: 0x01_02_03,
                kind: HEADERS,
                flags: 5,
                stream: 7
            }
        );
    }

    #[test]
    fn a_large_block_continues_in_continuation_frames() {
        let block: Vec<u8> = (0..10u8).collect();
        let mut out = Vec::new();
        put_headers(&mut out, 3, &block, true, 4);
        let mut frames = Vec::new();
        let mut at = 0;
        while at < out.len() {
            let h = Head::parse(&out[at..]);
            frames.push((h.kind, h.flags, out[at + 9..at + 9 + h.len].to_vec()));
            at += 9 + h.len;
        }
        assert_eq!(
            frames,
            [
                (HEADERS, END_STREAM, vec![0, 1, 2, 3]),
                (CONTINUATION, 0, vec![4, 5, 6, 7]),
                (CONTINUATION, END_HEADERS, vec![8, 9]),
            ]
        );
        out.clear();
        put_headers(&mut out, 5, &block, false, 16_384);
        assert_eq!(Head::parse(&out).flags, END_HEADERS);
        assert_eq!(out.len(), 19);
    }
}
