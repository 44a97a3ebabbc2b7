//! Feeders, beyond LPS: a data file's rows handed to clients one call at a
//! time (`$feed`), with Gatling's strategies. The run's [`Feeds`] reads each
//! file once (on its first call), keeps its rows, and hands them out with
//! counters every core shares, so a `queue` row goes to one client only.
//!
//! In a cluster each node takes its [`Share`] of a file: node `index` of
//! `nodes` the rows `index`, `index + nodes`, `index + 2·nodes`... for
//! `queue` and `circular`, so that no row is handed out on two nodes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use serde_json::{Map, Value};

use crate::methods::store::typed_variable;
use crate::variable::{Variable, csv_records_at};

/// How a feeder hands out its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Each row once, in file order; then nothing.
    Queue,
    /// Row after row, from the first again after the last.
    Circular,
    /// Any row of the file, at random.
    Random,
}

impl Strategy {
    /// The strategy `name` names (any case).
    pub fn parse(name: &str) -> Option<Strategy> {
        match name.trim().to_ascii_lowercase().as_str() {
            "queue" => Some(Strategy::Queue),
            "circular" => Some(Strategy::Circular),
            "random" => Some(Strategy::Random),
            _ => None,
        }
    }
}

/// How a feeder's file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A header line, then one row per record: `{header: field, ...}`.
    Csv,
    /// A JSON array: one row per item.
    Json,
    /// One row per non-blank line: `{"line": "..."}`.
    Text,
}

impl Format {
    /// The format `name` names (any case), else the one `path`'s extension
    /// says (`.csv`, `.json`, anything else is text) when `name` is empty.
    pub fn parse(name: &str, path: &str) -> Option<Format> {
        match name.trim().to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            "text" | "txt" | "lines" => Some(Format::Text),
            "" => Some(Format::of_path(path)),
            _ => None,
        }
    }

    fn of_path(path: &str) -> Format {
        let ext = Path::new(path)
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv") => Format::Csv,
            Some("json") => Format::Json,
            _ => Format::Text,
        }
    }
}

/// Why a feeder's file gives no rows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    #[error("cannot read {path:?}: {message}")]
    Read { path: String, message: String },
    #[error("{path:?} line {line}: {found} column(s), the header has {expected}")]
    Columns {
        path: String,
        line: usize,
        found: usize,
        expected: usize,
    },
    #[error("{path:?} line {line}: the header has an empty or repeated column name {name:?}")]
    Header {
        path: String,
        line: usize,
        name: String,
    },
    #[error("{path:?} is not a JSON array: {message}")]
    NotArray { path: String, message: String },
    #[error("{path:?} has no rows")]
    Empty { path: String },
}

/// The rows of the file at `path` (relative to the current directory, as
/// LPS's `$read` opens files), read as `format`; each row a JSON value.
pub fn load(path: &str, format: Format) -> Result<Vec<Value>, FeedError> {
    let bytes = std::fs::read(path).map_err(|e| FeedError::Read {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let text = crate::methods::decode(&bytes, "utf-8");
    let rows = match format {
        Format::Csv => csv_rows(path, &text)?,
        Format::Json => json_rows(path, &text)?,
        Format::Text => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let mut row = Map::new();
                row.insert("line".into(), Value::String(l.to_owned()));
                Value::Object(row)
            })
            .collect(),
    };
    if rows.is_empty() {
        return Err(FeedError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(rows)
}

/// A CSV's records after its header, each an object of the header's
/// names; blank lines are skipped, a record of another width is refused.
fn csv_rows(path: &str, text: &str) -> Result<Vec<Value>, FeedError> {
    let blank = |r: &Vec<String>| r.len() == 1 && r[0].trim().is_empty();
    let mut records = csv_records_at(text).into_iter().filter(|(_, r)| !blank(r));
    let Some((header_line, header)) = records.next() else {
        return Ok(Vec::new());
    };
    for (i, name) in header.iter().enumerate() {
        if name.trim().is_empty() || header[..i].contains(name) {
            return Err(FeedError::Header {
                path: path.to_owned(),
                line: header_line,
                name: name.clone(),
            });
        }
    }
    records
        .map(|(line, record)| {
            if record.len() != header.len() {
                return Err(FeedError::Columns {
                    path: path.to_owned(),
                    line,
                    found: record.len(),
                    expected: header.len(),
                });
            }
            let row = header
                .iter()
                .cloned()
                .zip(record.into_iter().map(Value::String));
            Ok(Value::Object(row.collect()))
        })
        .collect()
}

fn json_rows(path: &str, text: &str) -> Result<Vec<Value>, FeedError> {
    let not_array = |message: String| FeedError::NotArray {
        path: path.to_owned(),
        message,
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => Ok(items),
        Ok(_) => Err(not_array("it holds another JSON value".into())),
        Err(e) => Err(not_array(e.to_string())),
    }
}

/// A node's part of every feeder's rows: node `index` of `nodes` takes the
/// rows whose number modulo `nodes` is `index`. `nodes` 0: no rows (a
/// worker that joined a cluster's run after its start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub index: u32,
    pub nodes: u32,
}

impl Share {
    /// A node alone: every row.
    pub const ALL: Share = Share { index: 0, nodes: 1 };

    /// How many of `rows` rows are this node's.
    pub fn len(self, rows: usize) -> usize {
        let (index, nodes) = (self.index as usize, self.nodes as usize);
        if index >= nodes || index >= rows {
            return 0;
        }
        (rows - index - 1) / nodes + 1
    }

    /// The file row of this node's `i`th row.
    pub fn row(self, i: usize) -> usize {
        self.index as usize + i * self.nodes as usize
    }
}

impl Default for Share {
    fn default() -> Self {
        Share::ALL
    }
}

/// One file's rows and the counters its strategies share.
#[derive(Debug)]
struct Feed {
    /// Every row of the file (random draws from all of them).
    rows: Vec<Arc<Variable>>,
    /// Calls so far with `queue`, and with `circular`, on this node.
    queue: AtomicU64,
    circular: AtomicU64,
}

/// The run's feeders: each file read once (by path), its rows handed out
/// under counters shared by every core.
#[derive(Debug, Default)]
pub struct Feeds {
    share: Share,
    files: RwLock<HashMap<String, Arc<Feed>>>,
}

impl Feeds {
    /// Feeds taking `share` of each file.
    pub fn new(share: Share) -> Feeds {
        Feeds {
            share,
            files: RwLock::default(),
        }
    }

    /// The next row of `path` for `strategy`; `None` when a `queue` is
    /// exhausted, when this node's share is empty, or when the file cannot
    /// be read (logged once; its later calls give nothing either).
    pub fn next(&self, path: &str, format: Format, strategy: Strategy) -> Option<Arc<Variable>> {
        let feed = self.feed(path, format);
        let share = self.share;
        let mine = share.len(feed.rows.len()) as u64;
        let at = match strategy {
            Strategy::Queue => {
                let n = feed.queue.fetch_add(1, Ordering::Relaxed);
                (n < mine).then(|| share.row(n as usize))?
            }
            Strategy::Circular => {
                let n = feed.circular.fetch_add(1, Ordering::Relaxed);
                (mine > 0).then(|| share.row((n % mine) as usize))?
            }
            Strategy::Random if feed.rows.is_empty() => return None,
            Strategy::Random => fastrand::usize(..feed.rows.len()),
        };
        feed.rows.get(at).cloned()
    }

    /// The feed of `path`, read on its first call.
    fn feed(&self, path: &str, format: Format) -> Arc<Feed> {
        if let Some(feed) = self.files.read().ok().and_then(|f| f.get(path).cloned()) {
            return feed;
        }
        // Read outside the lock; two cores reading at once keep the first.
        let rows = match load(path, format) {
            Ok(rows) => rows,
            Err(e) => {
                log::warn!("$feed: {e}; its calls give no row");
                Vec::new()
            }
        };
        let feed = Arc::new(Feed {
            rows: rows
                .iter()
                .map(|v| Arc::new(typed_variable(v, "")))
                .collect(),
            queue: AtomicU64::new(0),
            circular: AtomicU64::new(0),
        });
        match self.files.write() {
            Ok(mut files) => files.entry(path.to_owned()).or_insert(feed).clone(),
            // A poisoned lock (a core panicked): serve this call unshared.
            Err(_) => feed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variable::VarType;

    fn file(name: &str, text: &str) -> String {
        let dir = std::env::temp_dir().join(format!("lps-feed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    }

    fn names(feeds: &Feeds, path: &str, strategy: Strategy, calls: usize) -> Vec<String> {
        (0..calls)
            .map(|_| match feeds.next(path, Format::Csv, strategy) {
                Some(row) => {
                    let mut out = String::new();
                    row.write_path(".name", &mut out);
                    out
                }
                None => "-".into(),
            })
            .collect()
    }

    const USERS: &str = "name,password\nann,1\nbob,2\n\"c, d\",3\ndan,4\neve,5\n";

    #[test]
    fn a_queue_hands_each_row_once_then_nothing() {
        let path = file("queue.csv", USERS);
        let feeds = Feeds::default();
        assert_eq!(
            names(&feeds, &path, Strategy::Queue, 7),
            ["ann", "bob", "c, d", "dan", "eve", "-", "-"]
        );
        // The circular counter is its own.
        assert_eq!(
            names(&feeds, &path, Strategy::Circular, 7),
            ["ann", "bob", "c, d", "dan", "eve", "ann", "bob"]
        );
    }

    #[test]
    fn a_queue_shared_by_threads_hands_each_row_to_one_of_them() {
        let rows: String = (0..1000).map(|i| format!("u{i}\n")).collect();
        let path = file("many.txt", &rows);
        let feeds = Arc::new(Feeds::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (feeds, path) = (feeds.clone(), path.clone());
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    while let Some(row) = feeds.next(&path, Format::Text, Strategy::Queue) {
                        let mut out = String::new();
                        row.write_path(".line", &mut out);
                        got.push(out);
                    }
                    got
                })
            })
            .map(|t| t.join().unwrap())
            .collect();
        let mut all: Vec<String> = threads.into_iter().flatten().collect();
        all.sort();
        let mut expected: Vec<String> = (0..1000).map(|i| format!("u{i}")).collect();
        expected.sort();
        assert_eq!(all, expected);
    }

    #[test]
    fn nodes_take_disjoint_shares_for_queue_and_circular() {
        let path = file("share.csv", USERS);
        let share = |index, nodes| Feeds::new(Share { index, nodes });
        assert_eq!(
            names(&share(0, 2), &path, Strategy::Queue, 4),
            ["ann", "c, d", "eve", "-"]
        );
        assert_eq!(
            names(&share(1, 2), &path, Strategy::Queue, 3),
            ["bob", "dan", "-"]
        );
        assert_eq!(
            names(&share(1, 2), &path, Strategy::Circular, 5),
            ["bob", "dan", "bob", "dan", "bob"]
        );
        // More nodes than rows: the last nodes have none.
        assert_eq!(
            names(&share(6, 7), &path, Strategy::Circular, 2),
            ["-", "-"]
        );
        // A late worker (no share) gets nothing from queue or circular...
        let late = share(0, 0);
        assert_eq!(names(&late, &path, Strategy::Queue, 1), ["-"]);
        assert_eq!(names(&late, &path, Strategy::Circular, 1), ["-"]);
        // ...but random draws from the whole file on every node.
        assert_ne!(names(&late, &path, Strategy::Random, 1), ["-"]);
    }

    #[test]
    fn shares_split_rows_exactly() {
        // (rows, index, nodes) -> rows of the share.
        let cases = [
            (6, 0, 3, 2),
            (6, 2, 3, 2),
            (7, 0, 3, 3),
            (7, 1, 3, 2),
            (2, 2, 3, 0),
            (0, 0, 1, 0),
            (5, 0, 1, 5),
            (5, 0, 0, 0),
            (5, 3, 3, 0),
        ];
        for (rows, index, nodes, len) in cases {
            assert_eq!(
                Share { index, nodes }.len(rows),
                len,
                "{rows} rows, node {index} of {nodes}"
            );
        }
        assert_eq!(Share { index: 1, nodes: 3 }.row(2), 7);
    }

    #[test]
    fn random_draws_rows_of_the_file() {
        let path = file("random.csv", USERS);
        let feeds = Feeds::default();
        let got = names(&feeds, &path, Strategy::Random, 200);
        assert!(got.iter().all(|n| USERS.contains(n.as_str())), "{got:?}");
        // 200 draws of 5 rows: every row comes up (a miss has odds ~5e-20).
        for name in ["ann", "bob", "c, d", "dan", "eve"] {
            assert!(got.iter().any(|n| n == name), "{name} never drawn");
        }
    }

    #[test]
    fn csv_json_and_text_files_give_rows() {
        let csv = load(
            &file("a.csv", "a,b\r\n1,\"x\"\"y\"\r\n\r\n2,z\r\n"),
            Format::Csv,
        );
        assert_eq!(
            csv.unwrap(),
            [
                serde_json::json!({"a": "1", "b": "x\"y"}),
                serde_json::json!({"a": "2", "b": "z"})
            ]
        );
        let json = load(&file("a.json", r#"[{"id": 1}, "two"]"#), Format::Json);
        assert_eq!(json.unwrap(), [serde_json::json!({"id": 1}), "two".into()]);
        let text = load(&file("a.txt", "\u{feff}one\n\n two \n"), Format::Text);
        assert_eq!(
            text.unwrap(),
            [
                serde_json::json!({"line": "one"}),
                serde_json::json!({"line": " two "})
            ]
        );
        // Stored as JSON: `${row.a}` reads a field.
        let v = typed_variable(&serde_json::json!({"a": "1"}), "");
        assert_eq!(v.kind(), VarType::Json);
    }

    #[test]
    fn bad_files_say_where() {
        let path = file("short.csv", "name,password\nann,1\nbob\n");
        assert_eq!(
            load(&path, Format::Csv),
            Err(FeedError::Columns {
                path: path.clone(),
                line: 3,
                found: 1,
                expected: 2
            })
        );
        let err = load("no/such/file.csv", Format::Csv).unwrap_err();
        assert!(matches!(err, FeedError::Read { .. }), "{err}");
        let path = file("dup.csv", "a,a\n1,2\n");
        assert!(matches!(
            load(&path, Format::Csv),
            Err(FeedError::Header { line: 1, .. })
        ));
        let path = file("obj.json", r#"{"a": 1}"#);
        assert!(matches!(
            load(&path, Format::Json),
            Err(FeedError::NotArray { .. })
        ));
        let path = file("empty.csv", "name\n");
        assert_eq!(load(&path, Format::Csv), Err(FeedError::Empty { path }));
        // A quoted field over two lines: the next record's line is right.
        let path = file("multi.csv", "a,b\n\"x\ny\",1\n2\n");
        assert!(matches!(
            load(&path, Format::Csv),
            Err(FeedError::Columns { line: 4, .. })
        ));
    }

    #[test]
    fn strategies_and_formats_by_name() {
        assert_eq!(Strategy::parse(" Queue "), Some(Strategy::Queue));
        assert_eq!(Strategy::parse("CIRCULAR"), Some(Strategy::Circular));
        assert_eq!(Strategy::parse("shuffle"), None);
        assert_eq!(Format::parse("", "data/users.CSV"), Some(Format::Csv));
        assert_eq!(Format::parse("", "a.json"), Some(Format::Json));
        assert_eq!(Format::parse("", "words"), Some(Format::Text));
        assert_eq!(Format::parse("json", "a.csv"), Some(Format::Json));
        assert_eq!(Format::parse("xml", "a.csv"), None);
    }
}
