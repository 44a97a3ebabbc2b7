//! Identifiers, randomness, time, counters, variables and text: each as
//! LPS's method of the same name computes it (`Methods/*Method.cs`).

use std::time::{SystemTime, UNIX_EPOCH};

use super::{Cx, MethodId};
use crate::variable::VarType;

/// Runs `method`; its result and the type `variable=` stores it as.
pub(super) fn run(method: MethodId, cx: &mut Cx<'_, '_>) -> (String, VarType) {
    use MethodId as M;
    let text = |s: String| (s, VarType::String);
    match method {
        M::Guid => text(uuid_v4()),
        M::Uuid => {
            let prefix = cx.text_or("prefix", "");
            text(prefix + &uuid_v4())
        }
        M::Random => text(random_text(cx.number("length", 10))),
        M::RandomNumber => {
            let (min, max) = (cx.number("min", 1), cx.number("max", 100));
            let n = if min > max {
                String::new()
            } else {
                fastrand::i64(min..=max).to_string()
            };
            (n, VarType::Int)
        }
        M::Timestamp => {
            let format = cx.text_or("format", "yyyy-MM-ddTHH:mm:ss");
            let offset = cx.number("offsetHours", 0);
            text(timestamp(&format, offset))
        }
        M::Iterate => (iterate(cx), VarType::Int),
        M::Length => (length(cx).to_string(), VarType::Int),
        M::Base64Encode => text(base64_encode(cx.text_or("value", "").as_bytes())),
        M::Base64Decode => text(base64_decode(&cx.text_or("value", ""))),
        M::UrlEncode => text(url_encode(&cx.text_or("value", ""))),
        M::UrlDecode => text(url_decode(&cx.text_or("value", ""))),
        M::ToLowerCase => text(
            cx.text_or_positional("source")
                .unwrap_or_default()
                .to_lowercase(),
        ),
        M::ToUpperCase => text(
            cx.text_or_positional("source")
                .unwrap_or_default()
                .to_uppercase(),
        ),
        M::Strcat => {
            let values = cx.text_or("values", "");
            let separator = unquote(&cx.text_or("separator", "")).to_string();
            text(strcat(&values, &separator))
        }
        M::Contains | M::StartsWith | M::EndsWith => (compare(method, cx), VarType::Boolean),
        M::GenerateEmail => {
            let prefix = cx.text_or("prefix", "user");
            let domain = cx.text_or("domain", "example.com");
            text(format!(
                "{prefix}-{}@{domain}",
                &uuid_v4().replace('-', "")[..8]
            ))
        }
        // The other methods live in their own files (`methods::call` routes them).
        _ => text(String::new()),
    }
}

/// A random (version 4) UUID in its hyphenated form.
fn uuid_v4() -> String {
    let mut b: [u8; 16] = fastrand::u128(..).to_le_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn random_text(length: i64) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..length.max(0))
        .map(|_| CHARS[fastrand::usize(..CHARS.len())] as char)
        .collect()
}

/// `$iterate`/`$counter`: `start`, then `+ step` per call, back to `start`
/// past `reset`; one counter per client (per run with `isGlobal=true`) for
/// each `start`, `reset` and `name`.
fn iterate(cx: &mut Cx<'_, '_>) -> String {
    let start = cx.number("start", 0);
    let reset = cx.number("reset", 100_000);
    let step = cx.number("step", 1);
    let name = cx.text_or("name", "");
    let global = cx.flag("isGlobal", false);
    let key = format!("{start}_{reset}_{}", name.trim());
    let value = cx.scope.counter(&key, global, |current| {
        let next = match current {
            None => start,
            Some(c) => {
                let n = c.saturating_add(step);
                let past = if step > 0 { n > reset } else { n < reset };
                if past { start } else { n }
            }
        };
        (next, next)
    });
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// `$length`: the number of items of a JSON array, else 0.
fn length(cx: &mut Cx<'_, '_>) -> usize {
    let source = cx.text_or_positional("source").unwrap_or_default();
    match serde_json::from_str::<serde_json::Value>(source.trim()) {
        Ok(serde_json::Value::Array(items)) => items.len(),
        _ => 0,
    }
}

/// `$contains`, `$startsWith`, `$endsWith`: "true" or "false".
fn compare(method: MethodId, cx: &mut Cx<'_, '_>) -> String {
    let source = cx.text_or_positional("source").unwrap_or_default();
    let value = cx.text_or("value", "");
    let ignore_case = cx.flag("ignoreCase", false);
    if source.trim().is_empty() || value.trim().is_empty() {
        return "false".into();
    }
    let (s, v) = if ignore_case {
        (source.to_lowercase(), value.to_lowercase())
    } else {
        (source, value)
    };
    let hit = match method {
        MethodId::StartsWith => s.starts_with(&v),
        MethodId::EndsWith => s.ends_with(&v),
        _ => s.contains(&v),
    };
    hit.to_string()
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(v)
}

/// `$strcat`: a bracketed list joined by the separator, else the value.
fn strcat(values: &str, separator: &str) -> String {
    let t = values.trim();
    match t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        Some(inner) => inner
            .split(',')
            .map(|p| unquote(p.trim()))
            .collect::<Vec<_>>()
            .join(separator),
        None => unquote(t).to_string(),
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes base64, padded or not (LPS pads it); "" when it is not base64 or
/// not UTF-8.
fn base64_decode(text: &str) -> String {
    use base64::Engine;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT
        .decode(text.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default()
}

/// `Uri.EscapeDataString`: everything but the unreserved characters.
fn url_encode(text: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    utf8_percent_encode(text, ESCAPED).to_string()
}

/// `Uri.UnescapeDataString` (`+` stays `+`).
fn url_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// The UTC time `offset_hours` from now in a .NET custom format.
fn timestamp(format: &str, offset_hours: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let ms = now.as_millis() as i64 + offset_hours * 3_600_000;
    dotnet_format(format, ms)
}

/// Formats the instant `ms` (Unix milliseconds, UTC) with .NET's custom
/// specifiers: `yyyy yy MM M dd d HH H hh h mm m ss s fff ff f tt`, quoted
/// and `\`-escaped literals; "o", "s" and "u" as .NET's standard ones.
pub(crate) fn dotnet_format(format: &str, ms: i64) -> String {
    let format = match format {
        "o" | "O" => "yyyy-MM-ddTHH:mm:ss.fffffff'Z'",
        "s" => "yyyy-MM-ddTHH:mm:ss",
        "u" => "yyyy-MM-dd HH:mm:ss'Z'",
        f => f,
    };
    let days = ms.div_euclid(86_400_000);
    let day_ms = ms.rem_euclid(86_400_000);
    let (y, mo, d) = civil(days);
    let (h, mi, s, frac) = (
        day_ms / 3_600_000,
        day_ms / 60_000 % 60,
        day_ms / 1000 % 60,
        day_ms % 1000,
    );
    let f: Vec<char> = format.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < f.len() {
        let c = f[i];
        let run = f[i..].iter().take_while(|x| **x == c).count();
        let piece = match c {
            'y' if run >= 4 => format!("{y:04}"),
            'y' => format!("{:02}", y % 100),
            'M' if run >= 2 => format!("{mo:02}"),
            'M' => mo.to_string(),
            'd' if run >= 2 => format!("{d:02}"),
            'd' => d.to_string(),
            'H' if run >= 2 => format!("{h:02}"),
            'H' => h.to_string(),
            'h' if run >= 2 => format!("{:02}", (h + 11) % 12 + 1),
            'h' => ((h + 11) % 12 + 1).to_string(),
            'm' if run >= 2 => format!("{mi:02}"),
            'm' => mi.to_string(),
            's' if run >= 2 => format!("{s:02}"),
            's' => s.to_string(),
            'f' | 'F' => {
                let digits = format!("{frac:03}0000");
                digits[..run.min(7)].to_string()
            }
            't' => (if h < 12 { "AM" } else { "PM" })[..run.min(2)].to_string(),
            '\'' | '"' => {
                let end = f[i + 1..]
                    .iter()
                    .position(|x| *x == c)
                    .map_or(f.len(), |p| i + 1 + p);
                out.extend(&f[i + 1..end]);
                i = end + 1;
                continue;
            }
            '\\' => {
                if let Some(next) = f.get(i + 1) {
                    out.push(*next);
                }
                i += 2;
                continue;
            }
            _ => {
                out.push(c);
                i += 1;
                continue;
            }
        };
        out.push_str(&piece);
        i += run;
    }
    out
}

/// The civil date of `days` since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotnet_formats() {
        // 2024-02-29T13:05:09.042Z
        let ms = 1_709_211_909_042;
        assert_eq!(
            dotnet_format("yyyy-MM-ddTHH:mm:ss", ms),
            "2024-02-29T13:05:09"
        );
        assert_eq!(dotnet_format("yyyyMMddHHmmssfff", ms), "20240229130509042");
        assert_eq!(dotnet_format("d/M/yy h:m tt", ms), "29/2/24 1:5 PM");
        assert_eq!(dotnet_format("'at' HH\\h", ms), "at 13h");
        assert_eq!(dotnet_format("s", ms), "2024-02-29T13:05:09");
        assert_eq!(dotnet_format("yyyy", -1), "1969");
    }

    #[test]
    fn encodings_round_trip() {
        for s in ["", "a", "ab", "abc", "hello world ✓"] {
            assert_eq!(base64_decode(&base64_encode(s.as_bytes())), s);
        }
        assert_eq!(base64_encode(b"hello"), "aGVsbG8=");
        assert_eq!(base64_decode("aGVsbG8"), "hello");
        assert_eq!(base64_decode("*"), "");
        assert_eq!(url_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(url_decode("a%20b+c%C3%A9"), "a b+cé");
    }

    #[test]
    fn strcat_and_uuids() {
        assert_eq!(strcat("[a, \"b\", c]", "-"), "a-b-c");
        assert_eq!(strcat("\"one\"", ","), "one");
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(u, uuid_v4());
    }
}
