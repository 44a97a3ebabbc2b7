//! HPACK (RFC 7541) as lps needs it: request blocks encoded once with the
//! static table and literals that are never indexed, and response blocks
//! decoded with an exact dynamic table, where a value that is neither
//! needed nor inserted is only measured, not copied.

use std::collections::VecDeque;

use super::huffman;

/// Our SETTINGS_HEADER_TABLE_SIZE: the default, 4,096 bytes.
pub const TABLE_SIZE: usize = 4096;

/// A header block that does not decode (a COMPRESSION_ERROR).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("bad HPACK header block")]
pub struct BadBlock;

impl From<huffman::BadHuffman> for BadBlock {
    fn from(_: huffman::BadHuffman) -> BadBlock {
        BadBlock
    }
}

/// RFC 7541 Appendix A.
const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// Appends `value` as an HPACK integer with an `n`-bit prefix, the
/// prefix's other bits being `flags` (RFC 7541 5.1).
fn put_int(out: &mut Vec<u8>, flags: u8, n: u32, mut value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

/// Appends a string literal, not Huffman-coded.
fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    put_int(out, 0, 7, s.len());
    out.extend_from_slice(s);
}

/// Appends one field to a request block: an index when the static table
/// holds it whole; else a literal that is never inserted into the peer's
/// table (so the block stays the same for every request), naming the
/// static entry when one has the name. `name` is lowercase.
pub fn encode_field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    let mut name_at = None;
    for (i, &(n, v)) in STATIC.iter().enumerate() {
        if n == name {
            if v.as_bytes() == value {
                put_int(out, 0x80, 7, i + 1);
                return;
            }
            name_at.get_or_insert(i + 1);
        }
    }
    match name_at {
        Some(i) => put_int(out, 0x00, 4, i),
        None => {
            out.push(0x00);
            put_str(out, name.as_bytes());
        }
    }
    put_str(out, value);
}

/// Reads an integer with an `n`-bit prefix at `src[*at]`, moving `at` past it.
fn get_int(src: &[u8], at: &mut usize, n: u32) -> Result<usize, BadBlock> {
    let max = (1usize << n) - 1;
    let first = *src.get(*at).ok_or(BadBlock)? as usize & max;
    *at += 1;
    if first < max {
        return Ok(first);
    }
    let mut value = max;
    let mut shift = 0;
    loop {
        let b = *src.get(*at).ok_or(BadBlock)?;
        *at += 1;
        // Beyond 28 bits no length or index in a block can be meant.
        if shift > 21 {
            return Err(BadBlock);
        }
        value += ((b & 0x7f) as usize) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
}

/// Reads a string literal's header: the encoded bytes and whether they
/// are Huffman-coded.
fn get_str<'a>(src: &'a [u8], at: &mut usize) -> Result<(&'a [u8], bool), BadBlock> {
    let huffman = src.get(*at).ok_or(BadBlock)? & 0x80 != 0;
    let len = get_int(src, at, 7)?;
    let end = at.checked_add(len).ok_or(BadBlock)?;
    let s = src.get(*at..end).ok_or(BadBlock)?;
    *at = end;
    Ok((s, huffman))
}

/// A decoded field's value: its bytes, or only its length when it was not
/// needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Bytes(&'a [u8]),
    Len(usize),
}

impl Value<'_> {
    pub fn len(&self) -> usize {
        match self {
            Value::Bytes(b) => b.len(),
            Value::Len(n) => *n,
        }
    }
}

/// The dynamic table (RFC 7541 2.3.2, 4): entries newest first, their
/// bytes kept in one buffer so that inserting allocates nothing once the
/// buffer has grown.
#[derive(Debug)]
struct Table {
    /// Per entry, newest first: where its name starts in `bytes` (an
    /// absolute offset, `base` being that of `bytes[0]`), its name's and
    /// its value's lengths.
    entries: VecDeque<(usize, usize, usize)>,
    bytes: Vec<u8>,
    base: usize,
    /// Sum of the entries' sizes (name + value + 32).
    size: usize,
    /// The size the encoder set (at most [`TABLE_SIZE`]).
    max: usize,
}

impl Table {
    fn new() -> Table {
        Table {
            entries: VecDeque::new(),
            bytes: Vec::new(),
            base: 0,
            size: 0,
            max: TABLE_SIZE,
        }
    }

    /// Entry `index` from 1 (the static table, then the dynamic one).
    fn get(&self, index: usize) -> Result<(&[u8], &[u8]), BadBlock> {
        if index == 0 {
            return Err(BadBlock);
        }
        if index <= STATIC.len() {
            let (n, v) = STATIC[index - 1];
            return Ok((n.as_bytes(), v.as_bytes()));
        }
        let &(at, n, v) = self.entries.get(index - STATIC.len() - 1).ok_or(BadBlock)?;
        let at = at - self.base;
        Ok((&self.bytes[at..at + n], &self.bytes[at + n..at + n + v]))
    }

    fn evict_to(&mut self, size: usize) {
        while self.size > size {
            // The size counts only entries present, so one is left to evict.
            let (_, n, v) = self.entries.pop_back().expect("size > 0 has an entry");
            self.size -= n + v + 32;
        }
    }

    fn resize(&mut self, max: usize) -> Result<(), BadBlock> {
        if max > TABLE_SIZE {
            return Err(BadBlock);
        }
        self.max = max;
        self.evict_to(max);
        Ok(())
    }

    fn insert(&mut self, name: &[u8], value: &[u8]) {
        let size = name.len() + value.len() + 32;
        if size > self.max {
            // RFC 7541 4.4: an entry larger than the table empties it.
            self.evict_to(0);
            return;
        }
        self.evict_to(self.max - size);
        // Drop the bytes of evicted entries once they are half the buffer.
        let live = self
            .entries
            .back()
            .map_or(self.base + self.bytes.len(), |e| e.0);
        if live - self.base > TABLE_SIZE {
            self.bytes.drain(..live - self.base);
            self.base = live;
        }
        let at = self.base + self.bytes.len();
        self.bytes.extend_from_slice(name);
        self.bytes.extend_from_slice(value);
        self.entries.push_front((at, name.len(), value.len()));
        self.size += size;
    }
}

/// Decodes response header blocks, keeping the dynamic table.
#[derive(Debug)]
pub struct Decoder {
    table: Table,
    /// A literal's name and value, decoded (reused).
    name: Vec<u8>,
    value: Vec<u8>,
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder {
            table: Table::new(),
            name: Vec::new(),
            value: Vec::new(),
        }
    }
}

impl Decoder {
    /// Decodes `block`, handing each field to `field`: values are given in
    /// full when `all`, or for pseudo-headers (`:status`); other values
    /// only by their length, measured without being copied.
    pub fn decode(
        &mut self,
        block: &[u8],
        all: bool,
        mut field: impl FnMut(&[u8], Value<'_>),
    ) -> Result<(), BadBlock> {
        let mut at = 0;
        while at < block.len() {
            let b = block[at];
            if b & 0x80 != 0 {
                let index = get_int(block, &mut at, 7)?;
                let (n, v) = self.table.get(index)?;
                field(n, Value::Bytes(v));
            } else if b & 0x40 != 0 {
                self.literal(block, &mut at, 6, true, all, &mut field)?;
            } else if b & 0x20 != 0 {
                let max = get_int(block, &mut at, 5)?;
                self.table.resize(max)?;
            } else {
                self.literal(block, &mut at, 4, false, all, &mut field)?;
            }
        }
        Ok(())
    }

    /// A literal field (RFC 7541 6.2), inserted into the table when `index`.
    fn literal(
        &mut self,
        block: &[u8],
        at: &mut usize,
        prefix: u32,
        index: bool,
        all: bool,
        field: &mut impl FnMut(&[u8], Value<'_>),
    ) -> Result<(), BadBlock> {
        let name_index = get_int(block, at, prefix)?;
        self.name.clear();
        if name_index == 0 {
            let (s, huffman) = get_str(block, at)?;
            if huffman {
                huffman::decode(s, &mut self.name)?;
            } else {
                self.name.extend_from_slice(s);
            }
        } else {
            // Copied: inserting this field may evict the entry it names.
            self.name.extend_from_slice(self.table.get(name_index)?.0);
        }
        let (s, huffman) = get_str(block, at)?;
        let needed = index || all || self.name.first() == Some(&b':');
        let value = match (needed, huffman) {
            (false, false) => Value::Len(s.len()),
            (false, true) => Value::Len(huffman::decoded_len(s)?),
            (true, false) => Value::Bytes(s),
            (true, true) => {
                self.value.clear();
                huffman::decode(s, &mut self.value)?;
                Value::Bytes(&self.value)
            }
        };
        if index && let Value::Bytes(v) = value {
            self.table.insert(&self.name, v);
        }
        field(&self.name, value);
        Ok(())
    }

    /// The dynamic table's size by RFC 7541 4.1, and its entries.
    #[cfg(test)]
    fn table(&self) -> (usize, usize) {
        (self.table.size, self.table.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http2::tests::hex;

    fn decode_all(d: &mut Decoder, block: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        d.decode(&hex(block), true, |n, v| {
            let Value::Bytes(v) = v else {
                panic!("all values are wanted")
            };
            out.push((
                String::from_utf8(n.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            ));
        })
        .unwrap();
        out
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn integers_as_in_rfc_7541_c_1() {
        let mut out = Vec::new();
        put_int(&mut out, 0, 5, 10);
        put_int(&mut out, 0, 5, 1337);
        put_int(&mut out, 0, 8, 42);
        assert_eq!(out, [0x0a, 0x1f, 0x9a, 0x0a, 0x2a]);
        let mut at = 0;
        assert_eq!(get_int(&out, &mut at, 5), Ok(10));
        assert_eq!(get_int(&out, &mut at, 5), Ok(1337));
        assert_eq!(get_int(&out, &mut at, 8), Ok(42));
        assert_eq!(at, out.len());
        // Truncated, and too long to mean anything.
        assert_eq!(get_int(&[0x1f, 0x9a], &mut 0, 5), Err(BadBlock));
        assert_eq!(
            get_int(&[0x1f, 0xff, 0xff, 0xff, 0xff, 0x0f], &mut 0, 5),
            Err(BadBlock)
        );
    }

    /// RFC 7541 C.3 (requests, no Huffman) and C.4 (the same, Huffman-coded).
    #[test]
    fn rfc_7541_request_examples() {
        let blocks = [
            [
                "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                "8286 84be 5808 6e6f 2d63 6163 6865",
                "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
            ],
            [
                "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
                "8286 84be 5886 a8eb 1064 9cbf",
                "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
            ],
        ];
        let base = [
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com"),
        ];
        for coded in blocks {
            let mut d = Decoder::default();
            assert_eq!(decode_all(&mut d, coded[0]), pairs(&base));
            assert_eq!(d.table(), (57, 1));
            let mut second = base.to_vec();
            second.push(("cache-control", "no-cache"));
            assert_eq!(decode_all(&mut d, coded[1]), pairs(&second));
            assert_eq!(d.table(), (110, 2));
            let third = [
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/index.html"),
                (":authority", "www.example.com"),
                ("custom-key", "custom-value"),
            ];
            assert_eq!(decode_all(&mut d, coded[2]), pairs(&third));
            assert_eq!(d.table(), (164, 3));
        }
    }

    /// RFC 7541 C.5 and C.6: responses in a 256-byte table, with evictions.
    #[test]
    fn rfc_7541_response_examples_with_evictions() {
        let blocks = [
            [
                "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                "4803 3330 37c1 c0bf",
                "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
            ],
            [
                "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
                "4883 640e ffc1 c0bf",
                "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
            ],
        ];
        let first = [
            (":status", "302"),
            ("cache-control", "private"),
            ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
            ("location", "https://www.example.com"),
        ];
        for coded in blocks {
            let mut d = Decoder::default();
            d.table.resize(256).unwrap();
            assert_eq!(decode_all(&mut d, coded[0]), pairs(&first));
            assert_eq!(d.table(), (222, 4));
            let mut second = first;
            second[0].1 = "307";
            // ":status: 302" is evicted to make room for ":status: 307".
            assert_eq!(decode_all(&mut d, coded[1]), pairs(&second));
            assert_eq!(d.table(), (222, 4));
            let third = [
                (":status", "200"),
                ("cache-control", "private"),
                ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
                ("location", "https://www.example.com"),
                ("content-encoding", "gzip"),
                (
                    "set-cookie",
                    "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
                ),
            ];
            assert_eq!(decode_all(&mut d, coded[2]), pairs(&third));
            assert_eq!(d.table(), (215, 3));
            let newest: Vec<_> = (62..65)
                .map(|i| {
                    let (n, v) = d.table.get(i).unwrap();
                    (String::from_utf8_lossy(n).into_owned(), v.len())
                })
                .collect();
            assert_eq!(
                newest,
                [
                    ("set-cookie".to_owned(), 56),
                    ("content-encoding".to_owned(), 4),
                    ("date".to_owned(), 29)
                ]
            );
        }
    }

    #[test]
    fn values_not_needed_are_only_measured() {
        // C.6.1 without indexing: 0x0f 0x.. literals (name index 24, 33).
        let mut block = vec![0x88];
        block.push(0x0f);
        block.push(0x09); // cache-control (24 = 15 + 9)
        block.extend_from_slice(&hex("85 aec3 771a 4b"));
        let mut d = Decoder::default();
        let mut seen = Vec::new();
        d.decode(&block, false, |n, v| {
            let v = match v {
                Value::Bytes(b) => Ok(b.to_vec()),
                Value::Len(n) => Err(n),
            };
            seen.push((n.to_vec(), v))
        })
        .unwrap();
        assert_eq!(
            seen,
            [
                (b":status".to_vec(), Ok(b"200".to_vec())),
                (b"cache-control".to_vec(), Err(7))
            ]
        );
        assert_eq!(d.table(), (0, 0));
    }

    #[test]
    fn a_size_update_evicts_and_a_too_large_one_is_refused() {
        let mut d = Decoder::default();
        decode_all(&mut d, "4803 3330 32");
        assert_eq!(d.table(), (42, 1));
        // Size update to 0, then to 4096 again: the table is empty.
        d.decode(&hex("20 3fe1 1f"), true, |_, _| ()).unwrap();
        assert_eq!(d.table(), (0, 0));
        assert_eq!(d.table.max, 4096);
        // 4097 is more than our SETTINGS_HEADER_TABLE_SIZE.
        assert_eq!(d.decode(&hex("3fe2 1f"), true, |_, _| ()), Err(BadBlock));
        // An index past the table.
        assert_eq!(d.decode(&hex("be"), true, |_, _| ()), Err(BadBlock));
        assert_eq!(d.decode(&hex("80"), true, |_, _| ()), Err(BadBlock));
    }

    #[test]
    fn many_inserts_keep_the_buffer_bounded() {
        let mut d = Decoder::default();
        let mut block = Vec::new();
        for i in 0..2000u32 {
            block.clear();
            block.push(0x40);
            put_str(&mut block, format!("x-name-{i}").as_bytes());
            put_str(&mut block, &vec![b'v'; (i % 300) as usize]);
            d.decode(&block, false, |_, _| ()).unwrap();
            assert!(d.table.size <= TABLE_SIZE);
            let (n, v) = d.table.get(62).unwrap();
            assert_eq!(n, format!("x-name-{i}").as_bytes());
            assert_eq!(v.len(), (i % 300) as usize);
        }
        assert!(
            d.table.bytes.len() <= 2 * TABLE_SIZE,
            "{}",
            d.table.bytes.len()
        );
    }

    #[test]
    fn request_blocks_use_the_static_table_and_plain_literals() {
        let mut out = Vec::new();
        encode_field(&mut out, ":method", b"GET");
        encode_field(&mut out, ":path", b"/a");
        encode_field(&mut out, "x-k", b"v");
        assert_eq!(out, hex("82 0402 2f61 0003 782d 6b01 76"));
        let mut d = Decoder::default();
        let got = decode_all(
            &mut d,
            &out.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        );
        assert_eq!(
            got,
            pairs(&[(":method", "GET"), (":path", "/a"), ("x-k", "v")])
        );
        assert_eq!(d.table(), (0, 0));
    }
}
