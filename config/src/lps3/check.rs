//! LPS's value rules: numbers and switches as it parses them, names, modes
//! with their required and forbidden numbers, URLs, versions, retry.
//!
//! Each check returns the message only; the caller adds file, line and key.

use std::path::Path;
use std::time::Duration;

use super::model::{HttpVersion, Site, Strategy};
use crate::plan::{LONGEST, Mode};

/// A number field as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Num {
    /// Absent, null or blank.
    Absent,
    Value(i64),
    /// Holds a placeholder; LPS resolves it when building the plan.
    Placeholder,
}

/// A present number field of an iteration, with where it is.
pub(super) struct NumField {
    pub(super) num: Num,
    pub(super) site: Site,
}

/// An iteration's `mode` and its numbers, as written.
pub(super) struct ModeFields {
    pub(super) mode: Option<String>,
    pub(super) request_count: Option<NumField>,
    pub(super) duration: Option<NumField>,
    pub(super) batch_size: Option<NumField>,
    pub(super) cool_down: Option<NumField>,
}

/// Whether LPS's resolver would change `text`: a `${...}`, `$name`,
/// `$method(...)` or the `$$` escape. A `$` before a digit, space or the
/// end is left alone by LPS (`$5` stays `$5`), so it is plain text here too.
pub(crate) fn has_placeholder(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.windows(2).any(|pair| {
        pair[0] == b'$' && (matches!(pair[1], b'{' | b'$' | b'_') || pair[1].is_ascii_alphabetic())
    })
}

/// An int as .NET's `Convert.ChangeType(s, int)` reads it: optional sign,
/// digits, surrounding spaces; `5.0` and `1e3` are not ints. Blank is absent.
pub(super) fn parse_int(text: &str) -> Result<Num, String> {
    if has_placeholder(text) {
        return Ok(Num::Placeholder);
    }
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(Num::Absent);
    }
    let (negative, digits) = match trimmed.as_bytes()[0] {
        b'+' => (false, &trimmed[1..]),
        b'-' => (true, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let magnitude = (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse::<i64>().ok())
        .flatten();
    match magnitude.map(|m| if negative { -m } else { m }) {
        Some(n) if i32::try_from(n).is_ok() => Ok(Num::Value(n)),
        _ => Err(format!(
            "\"{text}\" is not a whole number (LPS reads a 32-bit int)"
        )),
    }
}

/// A switch as .NET's `bool.Parse` reads it: `true` or `false` in any case,
/// surrounding spaces allowed; a placeholder or blank is false.
pub(super) fn parse_bool(text: &str) -> Result<bool, String> {
    let trimmed = text.trim();
    if has_placeholder(text) || trimmed.is_empty() {
        Ok(false)
    } else if trimmed.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if trimmed.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(format!("\"{text}\" is not true or false"))
    }
}

/// A plan, round or iteration name: 1 to 60 of letters, digits, space,
/// `_`, `.`, `-`, or a placeholder (LPS checks those after resolving).
pub(super) fn name(name: &str) -> Result<(), String> {
    if name.starts_with('$') {
        return Ok(());
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, ' ' | '_' | '.' | '-');
    if name.is_empty() {
        return Err("a name is required".to_owned());
    }
    if name.chars().count() > 60 || !name.chars().all(allowed) {
        return Err(format!(
            "name \"{name}\" must be 1 to 60 letters, digits, spaces, \"_\", \".\" or \"-\""
        ));
    }
    Ok(())
}

/// A variable or capture name: letters and digits; `metrics` is reserved.
pub(super) fn variable_name(name: &str) -> Result<(), String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!("name \"{name}\" must be letters and digits"));
    }
    if name.eq_ignore_ascii_case("metrics") {
        return Err("the name \"metrics\" is reserved".to_owned());
    }
    Ok(())
}

/// A delay in milliseconds: at least 0.
pub(super) fn millis(n: i64) -> Result<Duration, String> {
    u64::try_from(n)
        .map(Duration::from_millis)
        .map_err(|_| format!("{n} is negative; a delay is at least 0 ms"))
}

/// `baseUrl`: empty, a placeholder, or an absolute http(s) URL.
pub(super) fn base_url(url: &str) -> Result<(), String> {
    if url.is_empty() || has_placeholder(url) {
        return Ok(());
    }
    absolute(url).map_err(|e| format!("baseUrl \"{url}\": {e}"))
}

fn absolute(url: &str) -> Result<(), String> {
    crate::Target::parse(url)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// The request URL as written: absolute, or starting with `/` (joined to
/// the round's `baseUrl`), or a placeholder.
pub(super) fn url_as_written(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Err("url is required".to_owned());
    }
    // A placeholder in the scheme or host is checked by LPS once resolved.
    if url.starts_with('/') || has_placeholder(url) {
        return Ok(());
    }
    absolute(url)
        .map_err(|e| format!("url \"{url}\": {e}; or start it with / and give the round a baseUrl"))
}

/// LPS's join: a URL not starting with `http://` or `https://` (exact case)
/// is appended to `base` as text. Then, as LPS re-assembles URLs, empty
/// path segments are dropped (`https://h//x/` becomes `https://h/x`).
pub(super) fn join_url(base: &str, url: &str) -> Result<String, String> {
    if url.starts_with("http://") || url.starts_with("https://") {
        return Ok(tidy_path(url));
    }
    if base.starts_with('$') && url.starts_with('$') {
        return Err("baseUrl and url are both placeholders; LPS refuses that".to_owned());
    }
    let joined = format!("{base}{url}");
    if has_placeholder(&joined) {
        return Ok(joined);
    }
    absolute(&joined).map_err(|e| match base {
        "" => format!("url \"{url}\" is relative and the round has no baseUrl"),
        _ => format!("url \"{joined}\" (baseUrl + url): {e}"),
    })?;
    Ok(tidy_path(&joined))
}

/// Drops empty path segments; the query and fragment are kept as written.
fn tidy_path(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let path_start = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(path_start);
    let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
    let (path, query) = tail.split_at(path_end);
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    format!(
        "{}{authority}/{}{query}",
        &url[..scheme_end],
        segments.join("/")
    )
}

const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE",
];

/// A method LPS accepts (any case), upper-cased; placeholders as written.
pub(super) fn method(method: &str) -> Result<String, String> {
    if method.starts_with('$') {
        return Ok(method.to_owned());
    }
    if method.is_empty() {
        return Err("method (or httpMethod) is required".to_owned());
    }
    let upper = method.to_ascii_uppercase();
    if METHODS.contains(&upper.as_str()) {
        Ok(upper)
    } else {
        Err(format!(
            "method \"{method}\" is not one of {}",
            METHODS.join(", ")
        ))
    }
}

/// The version LPS sends for the text it accepts: only `1.0`, `1.1` and
/// `2.0` are mapped at send time; the `HTTP/...` spellings, though accepted,
/// all become 2.0 (an LPS quirk lps copies). A placeholder is 2.0 here.
pub(super) fn version(text: &str) -> Result<HttpVersion, String> {
    let spelled = ["HTTP/1.0", "HTTP/1.1", "HTTP/2.0", "HTTP/2"];
    match text {
        "1.0" => Ok(HttpVersion::Http10),
        "1.1" => Ok(HttpVersion::Http11),
        "2.0" => Ok(HttpVersion::Http2),
        _ if text.starts_with('$') || spelled.iter().any(|s| s.eq_ignore_ascii_case(text)) => {
            Ok(HttpVersion::Http2)
        }
        _ => Err(format!(
            "version \"{text}\" is not one of 1.0, 1.1, 2.0, HTTP/1.0, HTTP/1.1, HTTP/2.0, HTTP/2"
        )),
    }
}

/// `supportH2C: true` needs an `http://` (or relative, or placeholder) URL
/// and the version written as `2.0`.
pub(super) fn h2c(url: &str, version: &str) -> Result<(), String> {
    if !(url.starts_with("http://") || url.starts_with('/') || url.starts_with('$')) {
        return Err(format!("supportH2C needs an http:// url, not \"{url}\""));
    }
    if version != "2.0" {
        return Err(format!("supportH2C needs version 2.0, not \"{version}\""));
    }
    Ok(())
}

/// The extensions LPS accepts for a client certificate; the file must exist.
pub(super) fn certificate(path: &Path) -> Result<(), String> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if !["pfx", "p12", "pem", "cer", "crt"].contains(&extension.as_str()) {
        return Err(format!(
            "clientCertificatePath \"{}\" is not a .pfx, .p12, .pem, .cer or .crt file",
            path.display()
        ));
    }
    if !path.is_file() {
        return Err(format!(
            "clientCertificatePath \"{}\" does not exist",
            path.display()
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PayloadType {
    Raw,
    Multipart,
    Binary,
}

/// `payload.type`: a name in any case, or LPS's enum number (0, 1, 2).
pub(super) fn payload_type(text: &str) -> Result<PayloadType, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "raw" | "0" => Ok(PayloadType::Raw),
        "multipart" | "1" => Ok(PayloadType::Multipart),
        "binary" | "2" => Ok(PayloadType::Binary),
        _ => Err(format!(
            "payload type \"{text}\" is not Raw, Multipart or Binary"
        )),
    }
}

/// A multipart file's content type from its extension (a short table of
/// the common types; others are `application/octet-stream`).
pub(super) fn content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match extension.as_str() {
        "txt" => "text/plain",
        "csv" => "text/csv",
        "htm" | "html" => "text/html",
        "json" => "application/json",
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        _ => "application/octet-stream",
    }
}

/// `retry.strategy` (`Fixed` by default, any case) with its delays in ms.
/// The error's flag says whether it is about `maxDelayInMs`.
pub(super) fn strategy(
    text: Option<&str>,
    delay: u64,
    max_delay: Option<u64>,
) -> Result<Strategy, (bool, String)> {
    let text = text
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .unwrap_or("Fixed");
    if text.eq_ignore_ascii_case("fixed") {
        if max_delay.is_some() {
            return Err((
                true,
                "maxDelayInMs is only for strategy Exponential".to_owned(),
            ));
        }
        return Ok(Strategy::Fixed);
    }
    if !text.eq_ignore_ascii_case("exponential") {
        return Err((
            false,
            format!("strategy \"{text}\" is not Fixed or Exponential"),
        ));
    }
    if let Some(max) = max_delay
        && max < delay
    {
        return Err((
            true,
            format!("maxDelayInMs {max} is less than delayInMs {delay}"),
        ));
    }
    Ok(Strategy::Exponential {
        max_delay: max_delay.map(Duration::from_millis),
    })
}

/// The iteration mode with its numbers, checked as LPS's validators do:
/// each mode's numbers are required (above 0) and the others must be
/// absent (or a placeholder); CRB needs `batchSize < requestCount`, DCB
/// `duration * 1000 > coolDownTime`. `requestCount` defaults to 1 only when
/// the mode is blank or `R`. The error names the field at fault, when one is.
///
/// The mode is case-sensitive, as LPS's plan validator compares it; LPS also
/// lets `Default` and numbers (`"4"`) through, which lps does not.
/// A placeholder mode or number gets a stand-in of 1 (see
/// [`Plan::placeholders`](super::model::Plan::placeholders)).
pub(super) fn mode(fields: &ModeFields) -> Result<Mode, (Option<&Site>, String)> {
    let written = fields.mode.as_deref().map(str::trim).unwrap_or("");
    let code = if written.is_empty() { "R" } else { written };
    if has_placeholder(code) {
        return Ok(Mode::Requests { requests: 1 });
    }
    let Some((required, forbidden)) = mode_fields(code) else {
        return Err((
            None,
            format!("mode \"{written}\" is not one of R, D, CB, CRB, DCB (upper case)"),
        ));
    };
    let get = |key: &str| match key {
        "requestCount" => fields.request_count.as_ref(),
        "duration" => fields.duration.as_ref(),
        "batchSize" => fields.batch_size.as_ref(),
        _ => fields.cool_down.as_ref(),
    };
    let mut values = [1i64; 4];
    for (slot, key) in ["requestCount", "duration", "batchSize", "coolDownTime"]
        .iter()
        .enumerate()
    {
        match get(key) {
            None if *key == "requestCount" && code == "R" => {}
            None if required.contains(key) => {
                return Err((None, format!("mode {code} requires {key}")));
            }
            Some(field) if forbidden.contains(key) => {
                if let Num::Value(_) = field.num {
                    return Err((
                        Some(&field.site),
                        format!("mode {code} does not take {key}"),
                    ));
                }
            }
            Some(NumField {
                num: Num::Value(n),
                site,
            }) if *n < 1 => {
                return Err((Some(site), format!("{key} must be at least 1, not {n}")));
            }
            Some(NumField {
                num: Num::Value(n), ..
            }) => values[slot] = *n,
            _ => {}
        }
    }
    build_mode(code, values, fields)
}

/// The fields mode `code` requires and those it does not take; `None`
/// when it is no mode.
fn mode_fields(code: &str) -> Option<(&'static [&'static str], &'static [&'static str])> {
    Some(match code {
        "R" => (
            &["requestCount"],
            &["duration", "batchSize", "coolDownTime"],
        ),
        "D" => (
            &["duration"],
            &["requestCount", "batchSize", "coolDownTime"],
        ),
        "CB" => (
            &["batchSize", "coolDownTime"],
            &["requestCount", "duration"],
        ),
        "CRB" => (
            &["requestCount", "batchSize", "coolDownTime"],
            &["duration"],
        ),
        "DCB" => (
            &["duration", "batchSize", "coolDownTime"],
            &["requestCount"],
        ),
        _ => return None,
    })
}

/// The checked numbers as a [`Mode`], after the cross-field checks.
fn site(field: &Option<NumField>) -> Option<&Site> {
    field.as_ref().map(|f| &f.site)
}

fn build_mode<'f>(
    code: &str,
    values: [i64; 4],
    fields: &'f ModeFields,
) -> Result<Mode, (Option<&'f Site>, String)> {
    let [requests, seconds, batch, cool_down] = values.map(|v| u64::try_from(v).unwrap_or(1));
    let given = |f: &Option<NumField>| {
        matches!(
            f,
            Some(NumField {
                num: Num::Value(_),
                ..
            })
        )
    };
    let duration = Duration::from_secs(seconds);
    if duration > LONGEST {
        return Err((
            site(&fields.duration),
            format!("duration {seconds} s is longer than a year"),
        ));
    }
    let cooldown = Duration::from_millis(cool_down);
    let batch_u32 = u32::try_from(batch).unwrap_or(u32::MAX);
    match code {
        "R" => Ok(Mode::Requests { requests }),
        "D" => Ok(Mode::Duration { duration }),
        "CB" => Ok(Mode::CooldownBatch {
            batch: batch_u32,
            cooldown,
            duration: None,
        }),
        "CRB" => {
            if given(&fields.batch_size) && given(&fields.request_count) && batch >= requests {
                return Err((
                    site(&fields.batch_size),
                    format!("batchSize {batch} must be less than requestCount {requests}"),
                ));
            }
            Ok(Mode::CooldownRequestBatch {
                requests,
                batch: batch_u32,
                cooldown,
            })
        }
        _ => {
            if given(&fields.duration) && given(&fields.cool_down) && seconds * 1000 <= cool_down {
                return Err((
                    site(&fields.cool_down),
                    format!("coolDownTime {cool_down} ms must be less than duration {seconds} s"),
                ));
            }
            Ok(Mode::DurationCooldownBatch {
                duration,
                batch: batch_u32,
                cooldown,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        let cases = [
            ("${x}", true),
            ("a $name b", true),
            ("$random(length=3)", true),
            ("$$", true),
            ("costs $5", false),
            ("$", false),
            ("no dollar", false),
        ];
        for (text, expected) in cases {
            assert_eq!(has_placeholder(text), expected, "{text}");
        }
    }

    #[test]
    fn ints_and_bools_as_dotnet_reads_them() {
        assert_eq!(parse_int(" 10 "), Ok(Num::Value(10)));
        assert_eq!(parse_int("+7"), Ok(Num::Value(7)));
        assert_eq!(parse_int("-3"), Ok(Num::Value(-3)));
        assert_eq!(parse_int(""), Ok(Num::Absent));
        assert_eq!(parse_int("${n}"), Ok(Num::Placeholder));
        for bad in ["5.0", "1e3", "2147483648", "ten", "++1"] {
            assert!(parse_int(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_bool(" TRUE "), Ok(true));
        assert_eq!(parse_bool("False"), Ok(false));
        assert!(parse_bool("yes").is_err());
    }

    #[test]
    fn joins_and_tidies_urls() {
        let cases = [
            ("https://h", "/x", Ok("https://h/x")),
            ("https://h/", "/x", Ok("https://h/x")),
            (
                "https://h/api/",
                "/x//y/?q=a//b",
                Ok("https://h/api/x/y?q=a//b"),
            ),
            ("https://other", "http://h:8080/a/", Ok("http://h:8080/a")),
            ("", "http://h", Ok("http://h/")),
            (
                "",
                "/x",
                Err("url \"/x\" is relative and the round has no baseUrl"),
            ),
            (
                "${b}",
                "${u}",
                Err("baseUrl and url are both placeholders; LPS refuses that"),
            ),
            ("${b}", "/x", Ok("${b}/x")),
        ];
        for (base, url, expected) in cases {
            assert_eq!(
                join_url(base, url).as_deref(),
                expected.map_err(String::from).as_deref(),
                "{base} + {url}"
            );
        }
    }

    #[test]
    fn versions_follow_lps_send_mapping() {
        let cases = [
            ("1.0", HttpVersion::Http10),
            ("1.1", HttpVersion::Http11),
            ("2.0", HttpVersion::Http2),
            ("HTTP/1.1", HttpVersion::Http2),
            ("http/1.0", HttpVersion::Http2),
            ("HTTP/2", HttpVersion::Http2),
        ];
        for (text, expected) in cases {
            assert_eq!(version(text), Ok(expected), "{text}");
        }
        assert!(version("2").is_err());
        assert!(version("1.1 ").is_err());
    }
}
