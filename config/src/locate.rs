//! Finding the line of a key in plan or settings text.
//!
//! Checks that run after deserialisation (a zero count, a bad URL) know the
//! key path of the fault but not its line. Only when such a check fails is
//! the text parsed once more into a tree of line numbers, and the path looked
//! up there: for YAML with serde-saphyr's [`Spanned`], for JSON with a small
//! scanner (serde_json keeps no positions).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::Format;

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A key path such as `rounds[0].iterations[1].httpRequest.url`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(pub(crate) Vec<Seg>);

impl KeyPath {
    pub(crate) fn key(&self, key: impl Into<String>) -> KeyPath {
        let mut path = self.clone();
        path.0.push(Seg::Key(key.into()));
        path
    }

    pub(crate) fn index(&self, index: usize) -> KeyPath {
        let mut path = self.clone();
        path.0.push(Seg::Index(index));
        path
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(key) if i == 0 => write!(f, "{key}")?,
                Seg::Key(key) => write!(f, ".{key}")?,
                Seg::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// The 1-based line of the first of `paths` that exists in `text`, or,
/// when none exists fully (a missing key), of the deepest existing ancestor
/// among them. `None` when the text cannot be parsed again (it was parsed
/// once already, so this is not expected) or no path is given.
pub(crate) fn line_of_any(text: &str, format: Format, paths: &[KeyPath]) -> Option<usize> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let root = match format {
        Format::Yaml => yaml_tree(text)?,
        Format::Json => JsonScanner::new(text).tree()?,
    };
    let mut best: Option<(usize, usize)> = None;
    for path in paths {
        let (depth, line) = deepest(&root, path);
        if depth == path.0.len() {
            return Some(line);
        }
        if best.is_none_or(|(best_depth, _)| depth > best_depth) {
            best = Some((depth, line));
        }
    }
    best.map(|(_, line)| line)
}

/// How many segments of `path` exist under `root`, and the line of the last.
fn deepest(root: &Node, path: &KeyPath) -> (usize, usize) {
    let mut node = root;
    let mut depth = 0;
    for seg in &path.0 {
        let next = match (seg, &node.kind) {
            (Seg::Key(key), Kind::Map(entries)) => entries
                .iter()
                .find(|(name, _)| name == key)
                .map(|(_, child)| child),
            (Seg::Index(index), Kind::Seq(items)) => items.get(*index),
            _ => None,
        };
        match next {
            Some(child) => {
                node = child;
                depth += 1;
            }
            None => break,
        }
    }
    (depth, node.line)
}

/// A value of the text with the line it starts on (for a map entry: the
/// line of its key).
#[derive(Debug)]
struct Node {
    line: usize,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
    Scalar,
}

// ---------------------------------------------------------------- YAML

fn yaml_tree(text: &str) -> Option<Node> {
    let root: Spanned<YamlKind> = serde_saphyr::from_str(text).ok()?;
    Some(Node {
        line: line_from(root.referenced),
        kind: root.value.0,
    })
}

fn line_from(location: serde_saphyr::Location) -> usize {
    usize::try_from(location.line())
        .unwrap_or(usize::MAX)
        .max(1)
}

/// The kind of a YAML node, its children carrying their own lines.
struct YamlKind(Kind);

/// A mapping key of any scalar type, as text.
struct YamlKey(String);

impl<'de> Deserialize<'de> for YamlKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(YamlKindVisitor)
    }
}

struct YamlKindVisitor;

macro_rules! scalar_visits {
    ($($method:ident: $ty:ty),*) => {
        $(fn $method<E: de::Error>(self, _: $ty) -> Result<Self::Value, E> {
            Ok(YamlKind(Kind::Scalar))
        })*
    };
}

impl<'de> Visitor<'de> for YamlKindVisitor {
    type Value = YamlKind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    scalar_visits!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_i128: i128,
        visit_u128: u128, visit_f64: f64, visit_str: &str, visit_bytes: &[u8]);

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(YamlKind(Kind::Scalar))
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(YamlKind(Kind::Scalar))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        YamlKind::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<YamlKind>>()? {
            items.push(Node {
                line: line_from(item.referenced),
                kind: item.value.0,
            });
        }
        Ok(YamlKind(Kind::Seq(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<YamlKey>>()? {
            let value = map.next_value::<Spanned<YamlKind>>()?;
            entries.push((
                key.value.0,
                Node {
                    line: line_from(key.referenced),
                    kind: value.value.0,
                },
            ));
        }
        Ok(YamlKind(Kind::Map(entries)))
    }
}

impl<'de> Deserialize<'de> for YamlKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl Visitor<'_> for KeyVisitor {
            type Value = YamlKey;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar mapping key")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<YamlKey, E> {
                Ok(YamlKey(v.to_owned()))
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<YamlKey, E> {
                Ok(YamlKey(v.to_string()))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<YamlKey, E> {
                Ok(YamlKey(v.to_string()))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<YamlKey, E> {
                Ok(YamlKey(v.to_string()))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<YamlKey, E> {
                Ok(YamlKey(v.to_string()))
            }

            fn visit_unit<E: de::Error>(self) -> Result<YamlKey, E> {
                Ok(YamlKey(String::new()))
            }
        }

        deserializer.deserialize_any(KeyVisitor)
    }
}

// ---------------------------------------------------------------- JSON

/// A lenient scanner over JSON text that serde_json has already accepted.
struct JsonScanner<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> JsonScanner<'a> {
    fn new(text: &'a str) -> Self {
        JsonScanner {
            text,
            pos: 0,
            line: 1,
        }
    }

    fn tree(mut self) -> Option<Node> {
        self.skip_space();
        self.value()
    }

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

    fn eat(&mut self, byte: u8) -> Option<()> {
        self.skip_space();
        if self.peek() == Some(byte) {
            self.bump();
            Some(())
        } else {
            None
        }
    }

    fn value(&mut self) -> Option<Node> {
        self.skip_space();
        let line = self.line;
        let kind = match self.peek()? {
            b'{' => self.object()?,
            b'[' => self.array()?,
            b'"' => {
                self.string()?;
                Kind::Scalar
            }
            _ => {
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n')
                ) {
                    self.bump();
                }
                Kind::Scalar
            }
        };
        Some(Node { line, kind })
    }

    fn object(&mut self) -> Option<Kind> {
        self.eat(b'{')?;
        let mut entries = Vec::new();
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.bump();
            return Some(Kind::Map(entries));
        }
        loop {
            self.skip_space();
            let line = self.line;
            let key = self.string()?;
            self.eat(b':')?;
            let value = self.value()?;
            entries.push((
                key,
                Node {
                    line,
                    kind: value.kind,
                },
            ));
            self.skip_space();
            match self.peek()? {
                b',' => self.bump(),
                b'}' => {
                    self.bump();
                    return Some(Kind::Map(entries));
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self) -> Option<Kind> {
        self.eat(b'[')?;
        let mut items = Vec::new();
        self.skip_space();
        if self.peek() == Some(b']') {
            self.bump();
            return Some(Kind::Seq(items));
        }
        loop {
            items.push(self.value()?);
            self.skip_space();
            match self.peek()? {
                b',' => self.bump(),
                b']' => {
                    self.bump();
                    return Some(Kind::Seq(items));
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

    fn path(segs: &[Seg]) -> KeyPath {
        KeyPath(segs.to_vec())
    }

    fn k(key: &str) -> Seg {
        Seg::Key(key.into())
    }

    const YAML: &str = "\
name: P
rounds:
  - name: R1
    iterations:
      - name: home
        iterationMode: R
        httpRequest:
          url: http://h/
          headers:
            Accept: text/plain
  - name: R2
    iterations: []
";

    const JSON: &str = r#"{
  "name": "P",
  "rounds": [
    {
      "name": "R1",
      "iterations": [
        { "name": "home", "iterationMode": "R",
          "httpRequest": {
            "url": "http://h/",
            "headers": { "Acc\u0065pt": "text/plain" }
          }
        }
      ]
    },
    { "name": "R2", "iterations": [] }
  ]
}"#;

    #[test]
    fn finds_lines_in_yaml_and_json() {
        let it = |rest: &[Seg]| {
            let mut segs = vec![k("rounds"), Seg::Index(0), k("iterations"), Seg::Index(0)];
            segs.extend_from_slice(rest);
            path(&segs)
        };
        let cases = [
            (path(&[]), 1, 1),
            (path(&[k("name")]), 1, 2),
            (path(&[k("rounds")]), 2, 3),
            (path(&[k("rounds"), Seg::Index(0)]), 3, 4),
            (it(&[]), 5, 7),
            (it(&[k("iterationMode")]), 6, 7),
            // A missing key falls back to its parent.
            (it(&[k("requestCount")]), 5, 7),
            (it(&[k("httpRequest"), k("url")]), 8, 9),
            (it(&[k("httpRequest"), k("headers"), k("Accept")]), 10, 10),
            (it(&[k("httpRequest"), k("headers"), k("Other")]), 9, 10),
            (path(&[k("rounds"), Seg::Index(1), k("iterations")]), 12, 15),
            (path(&[k("rounds"), Seg::Index(7)]), 2, 3),
        ];
        for (key_path, yaml_line, json_line) in cases {
            assert_eq!(
                line_of_any(YAML, Format::Yaml, std::slice::from_ref(&key_path)),
                Some(yaml_line),
                "yaml {key_path}"
            );
            assert_eq!(
                line_of_any(JSON, Format::Json, std::slice::from_ref(&key_path)),
                Some(json_line),
                "json {key_path}"
            );
        }
    }

    #[test]
    fn key_path_display() {
        let p = KeyPath::default()
            .key("rounds")
            .index(0)
            .key("iterations")
            .index(2)
            .key("url");
        assert_eq!(p.to_string(), "rounds[0].iterations[2].url");
    }
}
