//! `$findxml(source, path, where, select, match, default, namespaces,
//! ignoreNamespaces, as, variable)`, as `FindXmlMethod.cs`: the nodes at
//! `path` (default `/*/*`) filtered by `where` (an XPath predicate without
//! its brackets), each projected by `select` (a relative XPath) to its text,
//! picked by `match` as `$find` picks.

use serde_json::Value;

use super::Cx;
use super::find::Pick;
use super::store::scalar_raw;
use crate::xpath::{Names, XNode, XPath};

/// Runs `$findxml`; stores and returns its result.
pub(super) fn run(cx: &mut Cx<'_, '_>) -> String {
    let source = cx.text_or("source", "");
    let path = cx.text_or("path", "/*/*");
    let where_ = cx.text_or("where", "");
    let select = cx.text_or("select", "");
    let pick = Pick::parse(&cx.text_or("match", "first"));
    let as_type = cx.text_or("as", "auto").trim().to_string();
    let namespaces = cx.text_or("namespaces", "");
    let ignore_namespaces = cx.flag("ignoreNamespaces", false);
    let prefixes = if ignore_namespaces {
        Vec::new()
    } else {
        bindings(&namespaces)
    };
    let names = Names {
        prefixes: &prefixes,
        ignore_namespaces,
    };
    let value = match texts(&source, &path, &where_, &select, pick, names) {
        Ok(found) => pick_value(cx, pick, found),
        Err(e) => {
            log::debug!("$findxml(): {e}");
            no_match(cx, pick)
        }
    };
    cx.store(&value, &as_type);
    scalar_raw(&value)
}

/// The projected texts of the matching nodes (only as many as `pick` needs);
/// `Err` when the source is not XML or an XPath cannot be read.
fn texts(
    source: &str,
    path: &str,
    where_: &str,
    select: &str,
    pick: Pick,
    names: Names<'_>,
) -> Result<Vec<String>, String> {
    if source.trim().is_empty() {
        return Err("no source".into());
    }
    let doc = roxmltree::Document::parse(source).map_err(|e| format!("not XML: {e}"))?;
    let mut full = if path.trim().is_empty() {
        "/*/*"
    } else {
        path.trim()
    }
    .to_string();
    if !where_.trim().is_empty() {
        full = format!("{full}[{}]", where_.trim());
    }
    let nodes = XPath::compile(&full)
        .and_then(|x| x.select(doc.root(), names))
        .map_err(|e| e.to_string())?;
    if pick == Pick::Count {
        return Ok(vec![String::new(); nodes.len()]);
    }
    let projection = match select.trim() {
        "" => None,
        s => Some(XPath::compile(s).map_err(|e| e.to_string())?),
    };
    let mut out = Vec::new();
    for node in nodes {
        out.push(project(node, projection.as_ref(), names)?);
        if pick.done(out.len()) {
            break;
        }
    }
    Ok(out)
}

/// `ProjectXml`: the node's text, or the text of the first node `select` gives.
fn project(
    node: XNode<'_, '_>,
    select: Option<&XPath>,
    names: Names<'_>,
) -> Result<String, String> {
    let Some(select) = select else {
        return Ok(node.text());
    };
    let XNode::Node(context) = node else {
        return Ok(String::new());
    };
    let found = select.select(context, names).map_err(|e| e.to_string())?;
    Ok(found.first().map(XNode::text).unwrap_or_default())
}

fn pick_value(cx: &mut Cx<'_, '_>, pick: Pick, found: Vec<String>) -> Value {
    match pick {
        Pick::Count => Value::from(found.len()),
        Pick::All => Value::Array(found.into_iter().map(Value::String).collect()),
        _ => match pick.take(&found) {
            Some(text) => Value::String(text),
            None => no_match(cx, pick),
        },
    }
}

/// `StoreNoMatchAsync`: 0 for count, [] for all, else `default` as text.
fn no_match(cx: &mut Cx<'_, '_>, pick: Pick) -> Value {
    match pick {
        Pick::Count => Value::from(0),
        Pick::All => Value::Array(Vec::new()),
        _ => Value::String(match cx.template("default").cloned() {
            Some(t) => t.render_string(cx.scope),
            None => String::new(),
        }),
    }
}

/// `prefix=uri;prefix=uri`, split on each binding's first `=`.
fn bindings(text: &str) -> Vec<(String, String)> {
    text.split(';')
        .filter_map(|b| b.split_once('='))
        .map(|(p, u)| (p.trim().to_string(), u.trim().to_string()))
        .filter(|(p, u)| !p.is_empty() && !u.is_empty())
        .collect()
}
