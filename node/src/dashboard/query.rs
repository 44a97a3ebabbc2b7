//! Query-string parsing for `?token=` and `?since=` (axum is built without
//! its query extractor).

/// The first value of `name` in a query string, percent-decoded.
pub(super) fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k) == name).then(|| percent_decode(v))
        })
        .next()
}

/// Decodes `%XX` and `+`; a malformed escape is kept as it is.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match hex_byte(bytes.get(i + 1..i + 3)) {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The byte two hex digits stand for; `None` unless there are two of them.
fn hex_byte(digits: Option<&[u8]>) -> Option<u8> {
    digits
        .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
        .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_are_decoded() {
        for (query, name, value) in [
            ("token=abc", "token", Some("abc")),
            ("since=3.5&token=a%2Bb%20c", "token", Some("a+b c")),
            ("token=a+b", "token", Some("a b")),
            ("x=1&token", "token", Some("")),
            ("tokens=1", "token", None),
            ("", "token", None),
            ("token=%zz%4", "token", Some("%zz%4")),
            ("token=first&token=second", "token", Some("first")),
        ] {
            assert_eq!(query_param(query, name).as_deref(), value, "{query} {name}");
        }
    }
}
