//! A YAML or JSON file as a tree of text values, each with its line.
//!
//! LPS reads every scalar of a plan as a string (its DTO fields are all
//! `string`), and its key rules differ by level (exact keys here,
//! case-insensitive aliases there). So an LPS 3.x plan is first read into
//! this untyped tree, with scalars kept as the text written (`010`, `True`,
//! `5.0` stay as they are), and `lps3::load` applies LPS's rules level by
//! level. `locate` finds the line of a key path in it.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::error::ConfigError;
use crate::format::Format;
use crate::format::{to_usize, yaml_error};

/// A value and the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) line: usize,
    pub(crate) value: Value,
}

impl Node {
    /// An empty mapping on `line`, for a level the file leaves out.
    pub(crate) fn empty(line: usize) -> Node {
        Node {
            line,
            value: Value::Map(Vec::new()),
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        self.value == Value::Null
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// YAML `null`, `~` or nothing after the colon; JSON `null`.
    Null,
    /// Any other scalar, as written (quotes removed, escapes decoded).
    Text(String),
    List(Vec<Node>),
    /// Entries in document order.
    Map(Vec<Entry>),
}

/// One `key: value` of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub(crate) key: String,
    /// Line of the key.
    pub(crate) line: usize,
    pub(crate) node: Node,
}

/// Parses `text` into a tree; a malformed text gives a one-line
/// [`ConfigError::Syntax`] naming `origin`, line and column.
pub(crate) fn parse(text: &str, origin: &str, format: Format) -> Result<Node, ConfigError> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    match format {
        Format::Yaml => parse_yaml(text, origin),
        Format::Json => parse_json(text, origin),
    }
}

fn syntax(origin: &str, line: usize, column: usize, message: String) -> ConfigError {
    ConfigError::Syntax {
        file: origin.to_owned(),
        line: line.max(1),
        column: column.max(1),
        key: String::new(),
        message,
    }
}

// ---------------------------------------------------------------- YAML

fn parse_yaml(text: &str, origin: &str) -> Result<Node, ConfigError> {
    let root: Spanned<Raw> = serde_saphyr::from_str(text).map_err(|e| {
        let (line, column, message) = yaml_error(e);
        syntax(origin, line, column, message)
    })?;
    Ok(to_node(root, text))
}

/// A YAML value before its plain scalars are read back from the text.
enum Raw {
    Null,
    Text(String),
    /// A plain scalar that YAML typed as a number or boolean; the text as
    /// written is taken from the source by [`to_node`], this is the fallback.
    Typed(String),
    List(Vec<Spanned<Raw>>),
    Map(Vec<(Spanned<Key>, Spanned<Raw>)>),
}

/// A mapping key of any scalar type, as text.
struct Key(String);

fn to_node(raw: Spanned<Raw>, text: &str) -> Node {
    let line = line_of(&raw.referenced);
    let value = match raw.value {
        Raw::Null => Value::Null,
        Raw::Text(s) => Value::Text(s),
        Raw::Typed(fallback) => Value::Text(source_slice(&raw.defined, text).unwrap_or(fallback)),
        Raw::List(items) => Value::List(items.into_iter().map(|i| to_node(i, text)).collect()),
        Raw::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(key, node)| Entry {
                    line: line_of(&key.referenced),
                    key: key.value.0,
                    node: to_node(node, text),
                })
                .collect(),
        ),
    };
    Node { line, value }
}

fn line_of(location: &serde_saphyr::Location) -> usize {
    to_usize(location.line()).max(1)
}

/// The text of a plain scalar as written (`010`, `True`), when the
/// location carries byte offsets into `text`.
fn source_slice(location: &serde_saphyr::Location, text: &str) -> Option<String> {
    let span = location.span();
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let len = usize::try_from(span.byte_len()?).ok()?;
    let slice = text.get(start..start.checked_add(len)?)?.trim();
    (!slice.is_empty()).then(|| slice.to_owned())
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

macro_rules! typed_visits {
    ($($method:ident: $ty:ty),*) => {
        $(fn $method<E: de::Error>(self, v: $ty) -> Result<Raw, E> {
            Ok(Raw::Typed(v.to_string()))
        })*
    };
}

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    typed_visits!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_i128: i128,
        visit_u128: u128, visit_f64: f64);

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Text(v.to_owned()))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Raw, E> {
        Ok(Raw::Text(String::from_utf8_lossy(v).into_owned()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Raw, D::Error> {
        Raw::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Raw>>()? {
            items.push(item);
        }
        Ok(Raw::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Key>>()? {
            entries.push((key, map.next_value::<Spanned<Raw>>()?));
        }
        Ok(Raw::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        macro_rules! key_visits {
            ($($method:ident: $ty:ty),*) => {
                $(fn $method<E: de::Error>(self, v: $ty) -> Result<Key, E> {
                    Ok(Key(v.to_string()))
                })*
            };
        }

        impl Visitor<'_> for KeyVisitor {
            type Value = Key;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar mapping key")
            }

            key_visits!(visit_str: &str, visit_bool: bool, visit_i64: i64, visit_u64: u64,
                visit_f64: f64);

            fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
                Ok(Key(String::new()))
            }
        }

        deserializer.deserialize_any(KeyVisitor)
    }
}

// ---------------------------------------------------------------- JSON

fn parse_json(text: &str, origin: &str) -> Result<Node, ConfigError> {
    // serde_json checks the syntax and words the error; the scanner below
    // then only walks text known to be well-formed.
    serde_json::from_str::<serde_json::Value>(text).map_err(|e| {
        let (line, column) = (e.line(), e.column());
        let full = e.to_string();
        let suffix = format!(" at line {line} column {column}");
        let message = full.strip_suffix(&suffix).unwrap_or(&full);
        syntax(origin, line, column, message.to_owned())
    })?;
    let mut scanner = JsonScanner {
        text,
        pos: 0,
        line: 1,
    };
    scanner
        .value()
        .ok_or_else(|| syntax(origin, scanner.line, 1, "malformed JSON".to_owned()))
}

/// A scanner over JSON text that serde_json has already accepted; it keeps
/// the line of every key and value.
struct JsonScanner<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

impl JsonScanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn bump(&mut self) {
        if self.peek() == Some(b'\n') {
            self.line += 1;
        }
        self.pos += 1;
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.bump();
        }
    }

    /// Skips space, then `byte`.
    fn eat(&mut self, byte: u8) -> Option<()> {
        self.skip_space();
        (self.peek() == Some(byte)).then(|| self.bump())
    }

    fn value(&mut self) -> Option<Node> {
        self.skip_space();
        let line = self.line;
        let value = match self.peek()? {
            b'{' => self.object()?,
            b'[' => self.array()?,
            b'"' => Value::Text(self.string()?),
            _ => {
                let start = self.pos;
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n')
                ) {
                    self.bump();
                }
                match self.text.get(start..self.pos)? {
                    "null" => Value::Null,
                    literal => Value::Text(literal.to_owned()),
                }
            }
        };
        Some(Node { line, value })
    }

    fn object(&mut self) -> Option<Value> {
        self.eat(b'{')?;
        let mut entries = Vec::new();
        if self.eat(b'}').is_some() {
            return Some(Value::Map(entries));
        }
        loop {
            self.skip_space();
            let line = self.line;
            let key = self.string()?;
            self.eat(b':')?;
            let node = self.value()?;
            entries.push(Entry { key, line, node });
            self.skip_space();
            match self.peek()? {
                b',' => self.bump(),
                b'}' => {
                    self.bump();
                    return Some(Value::Map(entries));
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self) -> Option<Value> {
        self.eat(b'[')?;
        let mut items = Vec::new();
        if self.eat(b']').is_some() {
            return Some(Value::List(items));
        }
        loop {
            items.push(self.value()?);
            self.skip_space();
            match self.peek()? {
                b',' => self.bump(),
                b']' => {
                    self.bump();
                    return Some(Value::List(items));
                }
                _ => return None,
            }
        }
    }

    /// Reads a string literal and returns it decoded.
    fn string(&mut self) -> Option<String> {
        let start = self.pos;
        if self.peek() != Some(b'"') {
            return None;
        }
        self.bump();
        loop {
            match self.peek()? {
                b'\\' => {
                    self.bump();
                    self.bump();
                }
                b'"' => {
                    self.bump();
                    break;
                }
                _ => self.bump(),
            }
        }
        serde_json::from_str(self.text.get(start..self.pos)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(line: usize, s: &str) -> Node {
        Node {
            line,
            value: Value::Text(s.into()),
        }
    }

    fn entry(key: &str, line: usize, node: Node) -> Entry {
        Entry {
            key: key.into(),
            line,
            node,
        }
    }

    #[test]
    fn yaml_scalars_keep_their_text_and_lines() {
        let yaml = "a: 010\nb: True\nc: \"5\"\nd:\ne: 5.0\nf:\n  - x\n  - 1e3\n";
        let root = parse(yaml, "p.yaml", Format::Yaml).expect("valid yaml");
        let expected = Value::Map(vec![
            entry("a", 1, text(1, "010")),
            entry("b", 2, text(2, "True")),
            entry("c", 3, text(3, "5")),
            entry(
                "d",
                4,
                Node {
                    line: 4,
                    value: Value::Null,
                },
            ),
            entry("e", 5, text(5, "5.0")),
            entry(
                "f",
                6,
                Node {
                    line: 7,
                    value: Value::List(vec![text(7, "x"), text(8, "1e3")]),
                },
            ),
        ]);
        assert_eq!(root.value, expected);
    }

    #[test]
    fn json_scalars_keep_their_text_and_lines() {
        let json = "{\n  \"a\": 10,\n  \"b\": true,\n  \"c\": \"x\\u0065\",\n  \"d\": null,\n  \"e\": [1.50, {}]\n}";
        let root = parse(json, "p.json", Format::Json).expect("valid json");
        let expected = Value::Map(vec![
            entry("a", 2, text(2, "10")),
            entry("b", 3, text(3, "true")),
            entry("c", 4, text(4, "xe")),
            entry(
                "d",
                5,
                Node {
                    line: 5,
                    value: Value::Null,
                },
            ),
            entry(
                "e",
                6,
                Node {
                    line: 6,
                    value: Value::List(vec![
                        text(6, "1.50"),
                        Node {
                            line: 6,
                            value: Value::Map(vec![]),
                        },
                    ]),
                },
            ),
        ]);
        assert_eq!(root.value, expected);
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let cases = [
            ("a: [1\n", Format::Yaml, "p:1:4: unclosed bracket '['"),
            ("{\n  \"a\": 1,\n}", Format::Json, "p:3:1: trailing comma"),
        ];
        for (text, format, expected) in cases {
            let error = parse(text, "p", format).expect_err(text).to_string();
            assert_eq!(error, expected);
        }
    }
}
