//! `$find(source, path, where, select, match, default, as, variable)` over
//! JSON, as `FindMethod.cs`: the elements at `path` (arrays flattened),
//! those whose `where` holds once each bare `item...` reference is replaced
//! by the element's field (strings quoted, numbers bare), projected by
//! `select`, picked by `match` (first, last, index:N, count, all).

use std::sync::OnceLock;

use regex::{Captures, Regex};
use serde_json::Value;

use super::Cx;
use super::store::{format_double, scalar_raw};
use crate::variable::select;

/// How `match=` picks among the matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pick {
    First,
    Last,
    Index(usize),
    Count,
    All,
}

impl Pick {
    /// `ParseMatchMode`: anything unknown is `first`; a bad index is 0.
    pub(super) fn parse(text: &str) -> Pick {
        let v = text.trim().to_lowercase();
        if v.starts_with("index") {
            let n = match v.split(':').collect::<Vec<_>>()[..] {
                [_, n] => n.parse().unwrap_or(0),
                _ => 0,
            };
            return Pick::Index(n);
        }
        match v.as_str() {
            "last" => Pick::Last,
            "count" => Pick::Count,
            "all" => Pick::All,
            _ => Pick::First,
        }
    }

    /// True once `found` matches are all this pick needs.
    pub(super) fn done(self, found: usize) -> bool {
        match self {
            Pick::First => found >= 1,
            Pick::Index(i) => found > i,
            _ => false,
        }
    }

    /// The match this pick takes, if there is one.
    pub(super) fn take<T: Clone>(self, matches: &[T]) -> Option<T> {
        match self {
            Pick::Last => matches.last().cloned(),
            Pick::Index(i) => matches.get(i).cloned(),
            _ => matches.first().cloned(),
        }
    }
}

/// Runs `$find`; stores and returns its result.
pub(super) fn run(cx: &mut Cx<'_, '_>) -> String {
    let source = cx.text_or("source", "");
    let where_ = cx.text_or("where", "");
    let select_ = cx.text_or("select", "");
    let path = cx.text_or("path", "");
    let match_ = cx.text_or("match", "first");
    let as_type = cx.text_or("as", "auto").trim().to_string();
    let pick = Pick::parse(&match_);
    let Some(elements) = elements(&source, &path) else {
        log::debug!("$find(): the source is not JSON");
        let value = if match_.trim().eq_ignore_ascii_case("count") {
            Value::from(0)
        } else {
            no_match(cx)
        };
        return store_and_show(cx, &value, &as_type);
    };
    let mut matches = Vec::new();
    let mut count = 0usize;
    for element in &elements {
        if !where_.trim().is_empty() && !crate::expr::eval_bool(&substitute(&where_, element)) {
            continue;
        }
        count += 1;
        if pick != Pick::Count {
            matches.push(project(element, &select_));
        }
        if pick.done(matches.len()) {
            break;
        }
    }
    let value = match pick {
        Pick::Count => Value::from(count),
        Pick::All => Value::Array(matches),
        _ => match pick.take(&matches) {
            Some(v) => v,
            None => no_match(cx),
        },
    };
    store_and_show(cx, &value, &as_type)
}

/// `default=` resolved and read as a value, else "".
fn no_match(cx: &mut Cx<'_, '_>) -> Value {
    let Some(t) = cx.template("default").cloned() else {
        return Value::String(String::new());
    };
    let resolved = t.render_string(cx.scope);
    if resolved.trim().is_empty() {
        return Value::String(String::new());
    }
    text_to_value(&resolved)
}

fn store_and_show(cx: &mut Cx<'_, '_>, value: &Value, as_type: &str) -> String {
    cx.store(value, as_type);
    scalar_raw(value)
}

/// `TryGetElements`: the values at `path` in `source` (a JSON string holding
/// JSON is read through), arrays flattened; `None` when it is not JSON.
pub(super) fn elements(source: &str, path: &str) -> Option<Vec<Value>> {
    if source.trim().is_empty() {
        return None;
    }
    let mut root: Value = serde_json::from_str(source).ok()?;
    if let Value::String(inner) = &root {
        let inner = inner.trim();
        if inner.starts_with(['[', '{']) {
            root = serde_json::from_str(inner).ok()?;
        }
    }
    let selected = if path.trim().is_empty() {
        vec![&root]
    } else {
        select_all(&root, path.trim())
    };
    let mut out = Vec::new();
    for v in selected {
        match v {
            Value::Array(items) => out.extend(items.iter().cloned()),
            other => out.push(other.clone()),
        }
    }
    Some(out)
}

/// The part of JSONPath `path=` takes: `$`, `.name`, `['name']`, `[n]`,
/// `[*]`, `.*` and `..name`; anything else selects nothing (as LPS treats
/// a path it cannot read).
fn select_all<'v>(root: &'v Value, path: &str) -> Vec<&'v Value> {
    let mut current = vec![root];
    let mut rest = path.strip_prefix('$').unwrap_or(path);
    while !rest.is_empty() {
        let (step, descend, next) = match next_step(rest) {
            Some(s) => s,
            None => return Vec::new(),
        };
        let scope: Vec<&Value> = if descend {
            current.iter().flat_map(|v| descendants(v)).collect()
        } else {
            current
        };
        current = scope.into_iter().flat_map(|v| apply(v, &step)).collect();
        rest = next;
    }
    current
}

enum Step {
    Name(String),
    Index(usize),
    All,
}

/// The next step of a path: the step, whether it is `..`, and what follows.
fn next_step(p: &str) -> Option<(Step, bool, &str)> {
    let (descend, p) = match p.strip_prefix("..") {
        Some(r) => (true, r),
        None => (false, p.strip_prefix('.').unwrap_or(p)),
    };
    if let Some(inner) = p.strip_prefix('[') {
        let close = inner.find(']')?;
        let body = inner[..close].trim();
        let step = if body == "*" {
            Step::All
        } else if let Some(name) = body.strip_prefix('\'').and_then(|b| b.strip_suffix('\'')) {
            Step::Name(name.to_string())
        } else {
            Step::Index(body.parse().ok()?)
        };
        return Some((step, descend, &inner[close + 1..]));
    }
    let end = p.find(['.', '[']).unwrap_or(p.len());
    let name = &p[..end];
    let step = match name {
        "" => return None,
        "*" => Step::All,
        n => Step::Name(n.to_string()),
    };
    Some((step, descend, &p[end..]))
}

fn apply<'v>(v: &'v Value, step: &Step) -> Vec<&'v Value> {
    match (step, v) {
        (Step::Name(n), Value::Object(m)) => m.get(n).into_iter().collect(),
        (Step::Index(i), Value::Array(a)) => a.get(*i).into_iter().collect(),
        (Step::All, Value::Array(a)) => a.iter().collect(),
        (Step::All, Value::Object(m)) => m.values().collect(),
        _ => Vec::new(),
    }
}

/// `v` and everything below it, parents first.
fn descendants(v: &Value) -> Vec<&Value> {
    let mut out = vec![v];
    let mut i = 0;
    while i < out.len() {
        match out[i] {
            Value::Array(a) => out.extend(a.iter()),
            Value::Object(m) => out.extend(m.values()),
            _ => {}
        }
        i += 1;
    }
    out
}

/// A bare `item` reference and its path (`item.a.b`, `item[0].c`).
fn item_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // Fixed pattern: the `expect` cannot fire.
        Regex::new(r#"\bitem\b((?:\.[^.\[\]\s()=<>!&|"']+|\[[^\]]*\])*)"#).expect("item pattern")
    })
}

/// `SubstituteItemTokens`: each `item...` replaced by its value as a Flee literal.
fn substitute(expression: &str, element: &Value) -> String {
    item_regex()
        .replace_all(expression, |c: &Captures<'_>| {
            flee_literal(item_value(element, &c[1]))
        })
        .into_owned()
}

fn item_value<'v>(element: &'v Value, path: &str) -> Option<&'v Value> {
    if path.is_empty() {
        return Some(element);
    }
    select(element, path)
}

/// A value as the expression evaluator reads it: strings (and objects)
/// quoted, numbers and booleans bare, nothing as `""`.
fn flee_literal(v: Option<&Value>) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    match v {
        None | Some(Value::Null) => "\"\"".into(),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => format_double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::String(s)) => quote(s),
        Some(other) => quote(&other.to_string()),
    }
}

/// `Project`: the element, a single `item...` reference's value (typed),
/// or the text with the references substituted, read as a value.
fn project(element: &Value, select_: &str) -> Value {
    let t = select_.trim();
    if t.is_empty() {
        return element.clone();
    }
    if let Some(m) = item_regex().captures(t)
        && m.get(0)
            .is_some_and(|whole| whole.start() == 0 && whole.end() == t.len())
    {
        return item_value(element, &m[1]).cloned().unwrap_or(Value::Null);
    }
    text_to_value(&substitute(t, element))
}

/// `StringToJToken`: JSON when it looks like it, numbers (not with a leading
/// zero), booleans, else the text.
pub(super) fn text_to_value(text: &str) -> Value {
    let t = text.trim();
    if t.is_empty() {
        return Value::String(String::new());
    }
    if (t.starts_with(['{', '[']) || (t.len() > 1 && t.starts_with('"') && t.ends_with('"')))
        && let Ok(v) = serde_json::from_str(t)
    {
        return v;
    }
    let leading_zero = t.len() > 1 && t.starts_with('0') && t.as_bytes()[1].is_ascii_digit();
    if !leading_zero {
        if let Ok(l) = t.parse::<i64>() {
            return Value::from(l);
        }
        if let Some(d) = super::store::parse_float(t)
            && let Some(n) = serde_json::Number::from_f64(d)
        {
            return Value::Number(n);
        }
    }
    match super::store::parse_bool(t) {
        Some(b) => Value::Bool(b),
        None => Value::String(text.to_string()),
    }
}
