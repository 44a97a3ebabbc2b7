//! Response heads: the status and what the headers say about the body and
//! the connection.
//!
//! Nearly every server sends heads of one plain shape: `HTTP/1.x`, a 3-digit
//! status, CRLF line endings, `name:value` lines. [`scan`] reads that shape
//! in one pass, validating each byte as httparse would, and hands everything
//! else (bare LF, obs-fold, spaces before a colon, a head not yet complete, a
//! bad byte) to httparse, which decides between "wait for more", "error" and
//! the lenient forms it accepts. So the two paths agree on every input: the
//! tests check it on crafted and random heads. On nginx's head the scan
//! takes about two thirds of httparse's time (benches `head/*`): it keeps no
//! header array and checks value bytes eight at a time. [`LastHead`] spares
//! most heads even that: a server repeats its head byte for byte.

use std::mem::MaybeUninit;

use crate::stats::ErrorKind;

/// A response head larger than this is a protocol error.
pub const MAX_HEAD: usize = 64 * 1024;
/// Most headers a response may carry.
pub const MAX_HEADERS: usize = 64;

/// A complete, valid response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    /// Bytes of the head, through its empty line.
    pub len: usize,
    pub framing: Framing,
}

/// What the headers say about the body and the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    /// `Connection: close`, or HTTP/1.0 without `Connection: keep-alive`.
    pub close: bool,
    /// The `Content-Length` (the first, when it is repeated).
    pub length: Option<u64>,
    /// `Transfer-Encoding` ends in `chunked`.
    pub chunked: bool,
    /// A `Content-Length` that is not a number, or two that differ: the
    /// response is malformed (RFC 9112 6.3), its end cannot be known.
    pub bad_length: bool,
}

impl Framing {
    fn new(http10: bool) -> Framing {
        Framing {
            close: http10,
            length: None,
            chunked: false,
            bad_length: false,
        }
    }

    /// Takes one header into account; values may carry their surrounding
    /// whitespace (every use trims).
    fn header(&mut self, name: &[u8], value: &[u8]) {
        // The length picks at most one comparison per header.
        match name.len() {
            14 if eq_lower(name, b"content-length") => match parse_decimal(value) {
                Some(n) if self.length.is_none_or(|first| first == n) => self.length = Some(n),
                _ => self.bad_length = true,
            },
            17 if eq_lower(name, b"transfer-encoding") => {
                self.chunked = last_token_is(value, b"chunked");
            }
            10 if eq_lower(name, b"connection") => {
                // One token, as servers send it, without splitting.
                let one = value.trim_ascii();
                if eq_lower(one, b"keep-alive") {
                    self.close = false;
                } else if eq_lower(one, b"close") || contains_token(value, b"close") {
                    self.close = true;
                } else if contains_token(value, b"keep-alive") {
                    self.close = false;
                }
            }
            _ => {}
        }
    }
}

/// Heads longer than this are parsed every time rather than kept.
const KEEP_HEAD: usize = 2048;

/// The last head a connection parsed, to answer at once for the same bytes.
///
/// A server answers a repeated request with the same head byte for byte, but
/// for a `Date` that changes once a second: comparing with the last head is
/// one memcmp where parsing checks every byte. The answer is exact, since a
/// head's parse depends on its own bytes only: equal bytes, equal head.
#[derive(Debug, Default)]
pub struct LastHead {
    bytes: Vec<u8>,
    head: Option<Head>,
}

impl LastHead {
    /// [`parse`], answered from the last head when `data` starts with it.
    pub fn parse(&mut self, data: &[u8]) -> Result<Option<Head>, ErrorKind> {
        if let Some(head) = self.head
            && data.get(..head.len) == Some(&self.bytes[..])
        {
            return Ok(Some(head));
        }
        let parsed = parse(data)?;
        if let Some(head) = parsed
            && head.len <= KEEP_HEAD
        {
            self.bytes.clear();
            self.bytes.extend_from_slice(&data[..head.len]);
            self.head = Some(head);
        }
        Ok(parsed)
    }
}

/// Parses the head at the start of `data`: `Ok(None)` while it is incomplete.
pub fn parse(data: &[u8]) -> Result<Option<Head>, ErrorKind> {
    // Nothing read yet: the first call of every exchange.
    if data.is_empty() {
        return Ok(None);
    }
    match scan(data) {
        Some(head) => Ok(Some(head)),
        None => parse_httparse(data),
    }
}

/// The plain shape in one pass; `None` for anything else, including a head
/// that is not complete yet.
pub fn scan(data: &[u8]) -> Option<Head> {
    let http10 = match data.get(..8)? {
        b"HTTP/1.1" => false,
        b"HTTP/1.0" => true,
        _ => return None,
    };
    let &[b' ', d0, d1, d2, after] = data.get(8..13)? else {
        return None;
    };
    if !(d0.is_ascii_digit() && d1.is_ascii_digit() && d2.is_ascii_digit()) {
        return None;
    }
    let status = u16::from(d0 - b'0') * 100 + u16::from(d1 - b'0') * 10 + u16::from(d2 - b'0');
    // The reason phrase allows the bytes a header value does.
    let mut i = match after {
        b' ' => line_end(data, 13)?,
        b'\r' => 12,
        _ => return None,
    };
    if *data.get(i + 1)? != b'\n' {
        return None;
    }
    i += 2;
    let mut framing = Framing::new(http10);
    let mut headers = 0;
    loop {
        if *data.get(i)? == b'\r' {
            if *data.get(i + 1)? != b'\n' {
                return None;
            }
            return Some(Head {
                status,
                len: i + 2,
                framing,
            });
        }
        headers += 1;
        if headers > MAX_HEADERS {
            return None;
        }
        let rest = data.get(i..)?;
        let name_len = rest.iter().position(|&b| !TOKEN[usize::from(b)])?;
        if name_len == 0 || rest[name_len] != b':' {
            return None;
        }
        let name = &rest[..name_len];
        let value_start = i + name_len + 1;
        i = line_end(data, value_start)?;
        if *data.get(i + 1)? != b'\n' {
            return None;
        }
        framing.header(name, &data[value_start..i]);
        i += 2;
    }
}

/// Index of the CR ending the field that starts at `i`, when every byte
/// before it is HTAB, SP, VCHAR or obs-text (httparse's rule for header
/// values and reason phrases).
///
/// Eight bytes at a time: a word holding none of the bytes below 0x20 or
/// 0x7F is skipped whole; otherwise the lowest flagged byte (exact: the
/// borrow tricks only add false flags above a true one) is looked at.
fn line_end(data: &[u8], mut i: usize) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    while let Some(word) = data.get(i..i + 8) {
        let x = u64::from_le_bytes(word.try_into().ok()?);
        let control = x.wrapping_sub(0x20 * ONES) & !x & HIGH;
        let del = x ^ (0x7F * ONES);
        let del = del.wrapping_sub(ONES) & !del & HIGH;
        let flagged = control | del;
        if flagged == 0 {
            i += 8;
            continue;
        }
        i += (flagged.trailing_zeros() / 8) as usize;
        match data[i] {
            b'\r' => return Some(i),
            b'\t' => i += 1,
            _ => return None,
        }
    }
    loop {
        match *data.get(i)? {
            b'\r' => return Some(i),
            b'\t' => {}
            b if b >= 0x20 && b != 0x7F => {}
            _ => return None,
        }
        i += 1;
    }
}

/// Token characters (httparse's set, RFC 9110's `tchar`), for header names.
static TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = lps_config::is_tchar(b as u8);
        b += 1;
    }
    t
};

/// Everything [`scan`] leaves: httparse with its default (strict) settings.
fn parse_httparse(data: &[u8]) -> Result<Option<Head>, ErrorKind> {
    // Uninitialised header slots: httparse writes only those it fills,
    // so no 2 KiB of zeroes per response.
    let mut headers = [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut res,
        data,
        &mut headers,
    );
    let len = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if data.len() >= MAX_HEAD => return Err(ErrorKind::Protocol),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(ErrorKind::Protocol),
    };
    let mut framing = Framing::new(res.version == Some(0));
    for h in res.headers.iter() {
        framing.header(h.name.as_bytes(), h.value);
    }
    Ok(Some(Head {
        status: res.code.unwrap_or(0),
        len,
        framing,
    }))
}

/// A content-length value: decimal digits, optionally padded with spaces.
fn parse_decimal(value: &[u8]) -> Option<u64> {
    let digits = value.trim_ascii();
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// `bytes` equals `lower` (lowercase letters and `-`) ignoring ASCII case.
///
/// Setting bit 0x20 lowercases a letter and leaves `-` as it is; the only
/// other byte it maps onto one of those is CR (onto `-`), which is in no
/// header name. Branch-free over the bytes, unlike `eq_ignore_ascii_case`,
/// which lowercases both sides byte by byte: this runs for every header of
/// every response.
fn eq_lower(bytes: &[u8], lower: &[u8]) -> bool {
    let n = bytes.len();
    if n != lower.len() {
        return false;
    }
    if n < 8 {
        return bytes
            .iter()
            .zip(lower)
            .fold(0u8, |diff, (a, b)| diff | ((a | 0x20) ^ b))
            == 0;
    }
    // Eight bytes at a time, the last word overlapping the one before.
    let word = |s: &[u8], at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[at..at + 8]);
        u64::from_le_bytes(w)
    };
    const CASE: u64 = u64::from_ne_bytes([0x20; 8]);
    let mut diff = 0;
    let mut at = 0;
    while at + 8 < n {
        diff |= (word(bytes, at) | CASE) ^ word(lower, at);
        at += 8;
    }
    diff |= (word(bytes, n - 8) | CASE) ^ word(lower, n - 8);
    diff == 0
}

fn contains_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|b| *b == b',')
        .any(|t| eq_lower(t.trim_ascii(), token))
}

fn last_token_is(value: &[u8], token: &[u8]) -> bool {
    value
        .rsplit(|b| *b == b',')
        .next()
        .is_some_and(|t| eq_lower(t.trim_ascii(), token))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NGINX: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 26 Nov 2026 10:00:00 GMT\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\nhello world\n";

    /// A repeatable stream of pseudo-random numbers (xorshift64).
    fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }

    /// Both paths on `data`: the scan, when it answers, must say exactly
    /// what httparse says.
    fn agree(data: &[u8]) -> Option<Head> {
        let fast = scan(data);
        if let Some(head) = fast {
            assert_eq!(
                parse_httparse(data),
                Ok(Some(head)),
                "scan and httparse differ on {:?}",
                String::from_utf8_lossy(data)
            );
        }
        fast
    }

    #[test]
    fn plain_heads_take_the_scan_and_agree_with_httparse() {
        let cases: &[(&[u8], u16, Framing)] = &[
            (NGINX, 200, Framing { close: false, length: Some(12), chunked: false, bad_length: false }),
            (b"HTTP/1.1 204\r\n\r\n", 204, Framing::new(false)),
            (b"HTTP/1.0 200 OK\r\n\r\n", 200, Framing::new(true)),
            (b"HTTP/1.0 200 OK\r\nconnection: Keep-Alive\r\n\r\n", 200, Framing::new(false)),
            (
                b"HTTP/1.1 503 Service \t Unavailable \xff\r\nCONTENT-LENGTH:\t 7 \t\r\nConnection: upgrade, close\r\n\r\n",
                503,
                Framing { close: true, length: Some(7), chunked: false, bad_length: false },
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nX-Long-Value: 0123456789abcdefghijklmnopqrstuvwxyz\r\n\r\n",
                200,
                Framing { close: false, length: None, chunked: true, bad_length: false },
            ),
            (
                b"HTTP/1.1 200 OK\r\nX_Custom.Header~9!#$%&'*+^`|: v\r\nA: b\r\nX-A-Rather-Long-Header-Name-0123: v\r\nContent-Length:0\r\n\r\n",
                200,
                Framing { close: false, length: Some(0), chunked: false, bad_length: false },
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
                200,
                Framing { close: false, length: None, chunked: false, bad_length: true },
            ),
            // Two lengths that differ: which one frames the body is unknowable.
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\ncontent-length: 100\r\n\r\n",
                200,
                Framing { close: false, length: Some(2), chunked: false, bad_length: true },
            ),
            // The same length twice is the one length (RFC 9112 6.3).
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length:7\r\n\r\n",
                200,
                Framing { close: false, length: Some(7), chunked: false, bad_length: false },
            ),
        ];
        for (data, status, framing) in cases {
            let head = agree(data)
                .unwrap_or_else(|| panic!("scan declined {:?}", String::from_utf8_lossy(data)));
            assert_eq!((head.status, head.framing), (*status, *framing));
            let end = data.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            assert_eq!(head.len, end);
        }
    }

    #[test]
    fn other_shapes_go_to_httparse() {
        // The status, None while incomplete, or the error.
        type Want = Result<Option<u16>, ErrorKind>;
        let cases: &[(&[u8], Want)] = &[
            // Lenient forms httparse accepts.
            (b"HTTP/1.1 200 OK\nContent-Length: 0\n\n", Ok(Some(200))),
            (b"\r\nHTTP/1.1 200 OK\r\n\r\n", Ok(Some(200))),
            // Incomplete heads wait for more.
            (b"HTTP/1.1 200 OK\r\nContent-Len", Ok(None)),
            (b"HTTP/1.1 200 OK\r\n\r", Ok(None)),
            (b"HTTP/1.", Ok(None)),
            // Malformed ones are errors.
            (
                b"HTTP/1.1 200 OK\r\nContent Length: 1\r\n\r\n",
                Err(ErrorKind::Protocol),
            ),
            (
                b"HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n",
                Err(ErrorKind::Protocol),
            ),
            (
                b"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n",
                Err(ErrorKind::Protocol),
            ),
            (
                b"HTTP/1.1 200 OK\r\nX-A: \x01\r\n\r\n",
                Err(ErrorKind::Protocol),
            ),
            (
                b"HTTP/1.1 200 OK\r\nX-A: \x7f\r\n\r\n",
                Err(ErrorKind::Protocol),
            ),
            (
                b"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
                Err(ErrorKind::Protocol),
            ),
            (
                b"HTTP/1.1 200 OK\r\nX-\xc3\xa9t\xc3\xa9: 1\r\n\r\n",
                Err(ErrorKind::Protocol),
            ),
            (
                b"HTTP/1.1 200 OK\r\nX-Some-Long@Name: 1\r\n\r\n",
                Err(ErrorKind::Protocol),
            ),
            (
                b"HTTP/1.1 200 OK\r\nX-Some-Long[Name: 1\r\n\r\n",
                Err(ErrorKind::Protocol),
            ),
            (
                b"HTTP/1.1 200 OK\r\nX-Some-Long{Name: 1\r\n\r\n",
                Err(ErrorKind::Protocol),
            ),
            (
                b"HTTP/1.1 200 OK\r\nX-Some-Long/Name: 1\r\n\r\n",
                Err(ErrorKind::Protocol),
            ),
            (b"HTTP/1.1 20 OK\r\n\r\n", Err(ErrorKind::Protocol)),
            (b"HTTP/2.0 200 OK\r\n\r\n", Err(ErrorKind::Protocol)),
            (b"HTTP/1.1 200 OK\x00\r\n\r\n", Err(ErrorKind::Protocol)),
        ];
        for (data, want) in cases {
            assert_eq!(
                scan(data),
                None,
                "scan took {:?}",
                String::from_utf8_lossy(data)
            );
            let got = parse(data).map(|h| h.map(|h| h.status));
            assert_eq!(&got, want, "{:?}", String::from_utf8_lossy(data));
        }
    }

    #[test]
    fn header_count_limit_is_httparse_s() {
        let head = |n: usize| {
            let mut h = b"HTTP/1.1 200 OK\r\n".to_vec();
            for i in 0..n {
                h.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
            }
            h.extend_from_slice(b"\r\n");
            h
        };
        assert!(agree(&head(MAX_HEADERS)).is_some());
        assert_eq!(scan(&head(MAX_HEADERS + 1)), None);
        assert_eq!(parse(&head(MAX_HEADERS + 1)), Err(ErrorKind::Protocol));
    }

    #[test]
    fn every_prefix_of_a_head_is_incomplete_for_both() {
        let end = NGINX.len() - 12;
        for cut in 0..end {
            assert_eq!(scan(&NGINX[..cut]), None, "cut at {cut}");
            assert_eq!(parse(&NGINX[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(agree(&NGINX[..end]).is_some());
    }

    /// Random heads built from pieces that are valid, nearly valid and
    /// invalid, with single bytes flipped: wherever the scan answers,
    /// httparse must give the same answer, and the scan must answer for a
    /// good share of them (or it would test nothing).
    #[test]
    fn random_heads_agree() {
        let pieces: &[&[u8]] = &[
            b"HTTP/1.1 ",
            b"HTTP/1.0 ",
            b"200",
            b"204",
            b" OK",
            b"\r\n",
            b"\n",
            b"\r",
            b":",
            b" ",
            b"\t",
            b"Content-Length",
            b"content-length",
            b"Transfer-Encoding",
            b"Connection",
            b"X-Y",
            b": 12",
            b": chunked",
            b": close",
            b": keep-alive",
            b"gzip, chunked",
            b"0123456789",
            b"\x7f",
            b"\x00",
            b"\x80\xff",
            b"(",
            b"\"",
            b"abcdefgh",
            b"1x",
        ];
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15u64);
        let mut answered = 0;
        let rounds = 20_000;
        for _ in 0..rounds {
            let mut data = b"HTTP/1.1 200 OK\r\n".to_vec();
            let lines = next() % 6;
            for _ in 0..lines {
                for _ in 0..1 + next() % 4 {
                    data.extend_from_slice(pieces[(next() % pieces.len() as u64) as usize]);
                }
                if !next().is_multiple_of(4) {
                    let line: [&[u8]; 3] =
                        [b"Content-Length: 5", b"Connection: close", b"X-Ab: c\td"];
                    data.extend_from_slice(line[(next() % 3) as usize]);
                }
                data.extend_from_slice(b"\r\n");
            }
            data.extend_from_slice(b"\r\n");
            if next().is_multiple_of(3) {
                let at = (next() % data.len() as u64) as usize;
                data[at] = next() as u8;
            }
            if agree(&data).is_some() {
                answered += 1;
            }
            // And every cut of it.
            let cut = (next() % (data.len() as u64 + 1)) as usize;
            agree(&data[..cut]);
        }
        assert!(
            answered > rounds / 20,
            "the scan answered only {answered} of {rounds}"
        );
    }

    /// A connection's stream of responses: the same heads again and again,
    /// with other bodies after them, a byte changed here and there (a new
    /// `Date`, another length), cut short, or replaced by heads only httparse
    /// takes. Answered from the last head or not, each must be what a fresh
    /// parse says.
    #[test]
    fn last_head_answers_as_a_fresh_parse() {
        let heads: &[&[u8]] = &[
            b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 26 Nov 2026 10:00:00 GMT\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 26 Nov 2026 10:00:01 GMT\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: keep-alive\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 3\r\n\r\n",
            b"HTTP/1.0 200 OK\nContent-Length: 3\n\n",
        ];
        let mut next = xorshift(0x2545_F491_4F6C_DD1Du64);
        let mut last = LastHead::default();
        let mut previous: Option<Head> = None;
        let mut repeats = 0;
        for _ in 0..5_000 {
            let head = heads[(next() % heads.len() as u64) as usize];
            let mut data = head.to_vec();
            if next().is_multiple_of(4) {
                let at = (next() % data.len() as u64) as usize;
                data[at] = next() as u8;
            }
            for _ in 0..next() % 24 {
                data.push(next() as u8);
            }
            if next().is_multiple_of(5) {
                data.truncate((next() % (data.len() as u64 + 1)) as usize);
            }
            let fresh = parse(&data);
            if let (Some(p), Ok(Some(h))) = (previous, fresh) {
                repeats += usize::from(p == h);
            }
            assert_eq!(
                last.parse(&data),
                fresh,
                "on {:?}",
                String::from_utf8_lossy(&data)
            );
            if let Ok(Some(h)) = fresh {
                previous = Some(h);
            }
        }
        assert!(
            repeats > 500,
            "only {repeats} repeated heads: the cache went untested"
        );
    }

    #[test]
    fn eq_lower_is_eq_ignore_ascii_case_for_every_byte_but_cr() {
        let targets = b"abcdefghijklmnopqrstuvwxyz-";
        for &t in targets {
            for c in 0..=255u8 {
                if c == b'\r' {
                    continue;
                }
                assert_eq!(
                    eq_lower(&[c], &[t]),
                    c.eq_ignore_ascii_case(&t),
                    "byte {c:#04x} against {:?}",
                    t as char
                );
            }
        }
        // Every length and position, through the word-at-a-time path too.
        let lower = b"transfer-encoding-and-more";
        for n in 1..=lower.len() {
            let upper = lower[..n].to_ascii_uppercase();
            assert!(eq_lower(&upper, &lower[..n]), "length {n}");
            for at in 0..n {
                let mut other = upper.clone();
                other[at] = b'_';
                assert!(!eq_lower(&other, &lower[..n]), "length {n}, '_' at {at}");
            }
        }
        assert!(eq_lower(b"Content-Length", b"content-length"));
        assert!(eq_lower(b"CONNECTION", b"connection"));
        assert!(!eq_lower(b"Content_Length", b"content-length"));
        assert!(!eq_lower(b"Content-Lengt", b"content-length"));
        assert!(!eq_lower(b"", b"close"));
        assert!(contains_token(b"Keep-Alive, Upgrade", b"keep-alive"));
        assert!(last_token_is(b"gzip, Chunked ", b"chunked"));
        assert!(!last_token_is(b"chunked, gzip", b"chunked"));
    }

    #[test]
    fn content_length_values() {
        let cases: &[(&[u8], Option<u64>)] = &[
            (b"0", Some(0)),
            (b"12", Some(12)),
            (b" 42 ", Some(42)),
            (b"18446744073709551615", Some(u64::MAX)),
            (b"18446744073709551616", None),
            (b"", None),
            (b"  ", None),
            (b"1 2", None),
            (b"-1", None),
            (b"+1", None),
            (b"0x10", None),
        ];
        for (value, want) in cases {
            assert_eq!(
                parse_decimal(value),
                *want,
                "{:?}",
                String::from_utf8_lossy(value)
            );
        }
    }
}
