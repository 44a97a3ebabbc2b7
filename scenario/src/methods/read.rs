//! `$read(source=file|env|variable, path, name, encoding, as, variable)` and
//! the source reader it shares with `$readif` and `$jwtsign`
//! (`ReadMethod.cs`, `SourceReader.cs`): a file (relative to the current
//! directory, as LPS opens it), an environment variable, or a variable's
//! raw value; what cannot be read is "".

use super::Cx;
use super::store::value_token;

/// `$read`: returns the text read; stores it typed by `as` (default string).
pub(super) fn run(cx: &mut Cx<'_, '_>) -> String {
    let as_type = cx.text_or("as", "string");
    let content = read_source(cx);
    cx.store(&value_token(&content, &as_type), &as_type);
    content
}

/// `SourceReader.ReadAsync`: a file when `path` is given or `source=file`,
/// else an environment variable for `source=env`, else the variable `name`.
pub(super) fn read_source(cx: &mut Cx<'_, '_>) -> String {
    let source = cx.text_or("source", "");
    let path = cx.text_or("path", "");
    let name = cx.text_or("name", "");
    let encoding = cx.text_or("encoding", "utf-8");
    if !path.is_empty() || source.eq_ignore_ascii_case("file") {
        return read_file(&path, &encoding);
    }
    if source.eq_ignore_ascii_case("env") {
        return std::env::var(&name).unwrap_or_default();
    }
    match cx.scope.lookup(&name) {
        Some(var) => {
            let mut out = String::new();
            var.write_raw(&mut out);
            out
        }
        None => String::new(),
    }
}

/// `File.ReadAllTextAsync(path, encoding)`: a byte-order mark decides the
/// encoding when there is one (and is dropped), else `encoding` (utf-8,
/// unicode/utf-16 little-endian, ascii; anything else is utf-8).
fn read_file(path: &str, encoding: &str) -> String {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            log::debug!("$read: cannot read {path:?}: {e}");
            return String::new();
        }
    };
    decode(&bytes, encoding)
}

/// `bytes` as text in `encoding`, a byte-order mark deciding first.
pub(crate) fn decode(bytes: &[u8], encoding: &str) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return String::from_utf8_lossy(rest).into_owned();
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(rest, u16::from_le_bytes);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(rest, u16::from_be_bytes);
    }
    match encoding.to_ascii_lowercase().as_str() {
        "unicode" | "utf-16" => utf16(bytes, u16::from_le_bytes),
        // .NET's ASCII decoder turns every byte above 0x7F into '?'.
        "ascii" => bytes
            .iter()
            .map(|&b| if b < 0x80 { b as char } else { '?' })
            .collect(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> String {
    let units: Vec<u16> = bytes.chunks_exact(2).map(|c| unit([c[0], c[1]])).collect();
    String::from_utf16_lossy(&units)
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn encodings_and_byte_order_marks() {
        assert_eq!(decode(b"\xEF\xBB\xBFhi", "ascii"), "hi");
        assert_eq!(decode(b"h\0i\0", "unicode"), "hi");
        assert_eq!(decode(b"\xFF\xFEh\0i\0", "utf-8"), "hi");
        assert_eq!(decode("é".as_bytes(), "ascii"), "??");
        assert_eq!(decode("é".as_bytes(), "latin1"), "é");
    }
}
