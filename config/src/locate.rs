//! Finding the line of a key in plan or settings text.
//!
//! Checks that run after deserialisation (a zero count, a bad URL) know the
//! key path of the fault but not its line. Only when such a check fails is
//! the text parsed once more into a tree with lines (`tree`), and the path
//! looked up there.

use std::fmt;

use crate::Format;
use crate::tree::{self, Node, Value};

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
    let root = tree::parse(text, "", format).ok()?;
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

/// How many segments of `path` exist under `root`, and the line of the last
/// (for a map entry: the line of its key).
fn deepest(root: &Node, path: &KeyPath) -> (usize, usize) {
    let mut node = root;
    let mut line = root.line;
    let mut depth = 0;
    for seg in &path.0 {
        let next = match (seg, &node.value) {
            (Seg::Key(key), Value::Map(entries)) => entries
                .iter()
                .find(|e| &e.key == key)
                .map(|e| (&e.node, e.line)),
            (Seg::Index(index), Value::List(items)) => items.get(*index).map(|n| (n, n.line)),
            _ => None,
        };
        match next {
            Some((child, at)) => {
                node = child;
                line = at;
                depth += 1;
            }
            None => break,
        }
    }
    (depth, line)
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
