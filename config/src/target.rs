//! Parsing `http://` and `https://` URLs into a [`Target`].
//!
//! Hand-written because lps needs only a small, strict subset of URLs: a
//! scheme, a host (name, IPv4 or bracketed IPv6), an optional port and a
//! request target. Anything else is refused with a reason.

use std::net::Ipv6Addr;
use std::str::FromStr;

use crate::plan::{Scheme, Target};

/// Why a URL is not an acceptable target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("expected http://HOST/... or https://HOST/...")]
    NoScheme,
    #[error("scheme \"{0}\" is not http or https")]
    BadScheme(String),
    #[error("missing host")]
    MissingHost,
    #[error("user info (\"user@\") is not supported")]
    UserInfo,
    #[error("invalid host \"{0}\"")]
    BadHost(String),
    #[error("invalid IPv6 address \"{0}\"")]
    BadIpv6(String),
    #[error("invalid port \"{0}\"")]
    BadPort(String),
}

impl Target {
    /// Parses an absolute `http://` or `https://` URL.
    ///
    /// The scheme is case-insensitive; the port defaults to 80 or 443; an
    /// empty path becomes `/`; a fragment (`#...`) is dropped since it is never
    /// sent; spaces, control and non-ASCII characters in the path are
    /// percent-encoded.
    pub fn parse(url: &str) -> Result<Target, UrlError> {
        let url = url.trim();
        let (scheme, rest) = url.split_once("://").ok_or(UrlError::NoScheme)?;
        let scheme = if scheme.eq_ignore_ascii_case("http") {
            Scheme::Http
        } else if scheme.eq_ignore_ascii_case("https") {
            Scheme::Https
        } else {
            return Err(UrlError::BadScheme(scheme.to_owned()));
        };
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, request_target) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(UrlError::UserInfo);
        }
        let (host, port) = split_host_port(authority)?;
        let port = match port {
            None | Some("") => match scheme {
                Scheme::Http => 80,
                Scheme::Https => 443,
            },
            Some(port) => parse_port(port)?,
        };
        let path_and_query = if request_target.starts_with('/') {
            encode_request_target(request_target)
        } else {
            // Empty, or a bare query (`http://h?x=1`): the path is `/`.
            format!("/{}", encode_request_target(request_target))
        };
        Ok(Target {
            scheme,
            host,
            port,
            path_and_query,
        })
    }
}

impl FromStr for Target {
    type Err = UrlError;

    fn from_str(url: &str) -> Result<Target, UrlError> {
        Target::parse(url)
    }
}

/// Splits `host[:port]` or `[v6][:port]`; the port is returned unparsed.
fn split_host_port(authority: &str) -> Result<(String, Option<&str>), UrlError> {
    if authority.is_empty() {
        return Err(UrlError::MissingHost);
    }
    if let Some(bracketed) = authority.strip_prefix('[') {
        let (address, after) = bracketed
            .split_once(']')
            .ok_or_else(|| UrlError::BadIpv6(authority.to_owned()))?;
        if address.parse::<Ipv6Addr>().is_err() {
            return Err(UrlError::BadIpv6(address.to_owned()));
        }
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| UrlError::BadPort(after.to_owned()))?,
            ),
        };
        return Ok((address.to_owned(), port));
    }
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if host.is_empty() {
        return Err(UrlError::MissingHost);
    }
    let valid = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if !valid {
        return Err(UrlError::BadHost(host.to_owned()));
    }
    Ok((host.to_owned(), port))
}

fn parse_port(port: &str) -> Result<u16, UrlError> {
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError::BadPort(port.to_owned()));
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(UrlError::BadPort(port.to_owned())),
        Ok(port) => Ok(port),
    }
}

/// Percent-encodes the bytes that may not appear in an HTTP request target.
pub fn encode_request_target(target: &str) -> String {
    let mut out = String::with_capacity(target.len());
    for &b in target.as_bytes() {
        let keep = b.is_ascii_graphic()
            && !matches!(
                b,
                b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
            );
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(scheme: Scheme, host: &str, port: u16, path: &str) -> Target {
        Target {
            scheme,
            host: host.into(),
            port,
            path_and_query: path.into(),
        }
    }

    #[test]
    fn parses_valid_urls() {
        use Scheme::{Http, Https};
        let cases = [
            (
                "http://127.0.0.1:8080/",
                target(Http, "127.0.0.1", 8080, "/"),
            ),
            ("http://127.0.0.1", target(Http, "127.0.0.1", 80, "/")),
            (
                "https://example.com",
                target(Https, "example.com", 443, "/"),
            ),
            (
                "HTTPS://Example.com:8443/a/b",
                target(Https, "Example.com", 8443, "/a/b"),
            ),
            ("http://h:80/x?y=1&z=2", target(Http, "h", 80, "/x?y=1&z=2")),
            ("http://h?y=1", target(Http, "h", 80, "/?y=1")),
            ("http://h/p#frag", target(Http, "h", 80, "/p")),
            ("http://h:/p", target(Http, "h", 80, "/p")),
            (
                "http://[::1]:8080/bytes/1024",
                target(Http, "::1", 8080, "/bytes/1024"),
            ),
            ("http://[::1]", target(Http, "::1", 80, "/")),
            (
                "https://[2001:db8::1]/",
                target(Https, "2001:db8::1", 443, "/"),
            ),
            (
                "http://my_host.local:1/a b",
                target(Http, "my_host.local", 1, "/a%20b"),
            ),
            ("http://h/é", target(Http, "h", 80, "/%C3%A9")),
            ("  http://h/  ", target(Http, "h", 80, "/")),
        ];
        for (url, expected) in cases {
            assert_eq!(Target::parse(url), Ok(expected), "{url}");
        }
    }

    #[test]
    fn rejects_invalid_urls() {
        let cases = [
            ("127.0.0.1:8080/", UrlError::NoScheme),
            ("http:/h/", UrlError::NoScheme),
            ("ftp://h/", UrlError::BadScheme("ftp".into())),
            ("ws://h/", UrlError::BadScheme("ws".into())),
            ("http:///path", UrlError::MissingHost),
            ("http://", UrlError::MissingHost),
            ("http://:8080/", UrlError::MissingHost),
            ("http://user:pw@h/", UrlError::UserInfo),
            ("http://h st/", UrlError::BadHost("h st".into())),
            ("http://[::1/", UrlError::BadIpv6("[::1".into())),
            ("http://[::g]/", UrlError::BadIpv6("::g".into())),
            ("http://[::1]x/", UrlError::BadPort("x".into())),
            ("http://h:0/", UrlError::BadPort("0".into())),
            ("http://h:65536/", UrlError::BadPort("65536".into())),
            ("http://h:+80/", UrlError::BadPort("+80".into())),
            ("http://h:8a/", UrlError::BadPort("8a".into())),
        ];
        for (url, expected) in cases {
            assert_eq!(Target::parse(url), Err(expected), "{url}");
        }
    }

    #[test]
    fn url_round_trips_through_parse() {
        let cases = [
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/"),
            ("https://h:443/x", "https://h/x"),
            ("http://[::1]:8080/q?a=1", "http://[::1]:8080/q?a=1"),
        ];
        for (url, expected) in cases {
            let parsed = Target::parse(url).expect("valid in the table");
            assert_eq!(parsed.url(), expected);
            assert_eq!(Target::parse(&parsed.url()), Ok(parsed));
        }
    }
}
