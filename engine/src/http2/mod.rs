//! A lean HTTP/2 client for the hot path: requests whose header block is
//! encoded once, responses read by the lanes themselves, nothing allocated
//! per request.
//!
//! Every HTTP/2 request takes this path (h2c with prior knowledge, and TLS
//! where ALPN picks `h2`), plain or scripted, captured or not, with or
//! without a body, one stream per connection or several lanes multiplexed
//! on one. The `h2` crate remains the fallback, taken for every HTTP/2
//! request of a run whose [`crate::RunOptions::h2_crate`] is set (to compare
//! the two, or should this client meet a server it cannot talk to).
//!
//! # Layout
//! - `frame`: frame headers and the frames a client writes.
//! - `hpack`: request blocks (static table, literals never indexed) and
//!   response blocks (an exact dynamic table; values measured, not copied,
//!   when not needed).
//! - `huffman`: HPACK's Huffman code, decoded four bits at a time.
//! - `conn`: the connection, its streams and flow control, driven by the
//!   lanes waiting on it.

mod conn;
mod frame;
pub(crate) mod hpack;
mod huffman;

pub(crate) use conn::Conn;

/// Encodes a request's header block: the pseudo-headers, then `headers`
/// (names lowercased, as HTTP/2 requires).
pub(crate) fn request_block(
    out: &mut Vec<u8>,
    (method, scheme, authority, path): (&str, &str, &str, &str),
    headers: &http::HeaderMap,
) {
    out.clear();
    hpack::encode_field(out, ":method", method.as_bytes());
    hpack::encode_field(out, ":scheme", scheme.as_bytes());
    hpack::encode_field(out, ":authority", authority.as_bytes());
    hpack::encode_field(out, ":path", path.as_bytes());
    for (name, value) in headers {
        hpack::encode_field(out, name.as_str(), value.as_bytes());
    }
}

#[cfg(test)]
pub(crate) mod tests {
    /// The bytes of RFC 7541's hex dumps ("8286 8441 0f77"), spaces ignored.
    pub fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
