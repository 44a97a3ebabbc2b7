//! Setting variables: `$setvariable` (`$set`), `$setvariableif` (`$setif`)
//! and `$readif` with a `condition` evaluated by [`crate::expr`], and
//! `$randomItem` of a JSON array (`SetVariableMethod.cs`,
//! `SetVariableIfMethod.cs`, `ReadIfMethod.cs`, `RandomItemMethod.cs`).

use serde_json::Value;

use super::store::{scalar_raw, value_token};
use super::{Cx, MethodId, read};

/// Runs `method` and returns its text.
pub(super) fn run(method: MethodId, cx: &mut Cx<'_, '_>) -> String {
    match method {
        MethodId::SetVariable => set(cx),
        MethodId::SetVariableIf => set_if(cx),
        MethodId::ReadIf => read_if(cx),
        _ => random_item(cx),
    }
}

/// `$set(variable, value, as)`: returns the value as given; stores it typed
/// (`as=int` evaluates arithmetic, `as=json` parses).
fn set(cx: &mut Cx<'_, '_>) -> String {
    let value = cx.text_or("value", "");
    let as_type = cx.text_or("as", "");
    if cx.variable().is_empty() {
        log::debug!("$setvariable(): a 'variable' name is required");
        return value;
    }
    cx.store(&value_token(&value, &as_type), &as_type);
    value
}

/// The `condition`'s truth: `None` when none is given.
fn condition(cx: &mut Cx<'_, '_>) -> Option<bool> {
    let text = cx.text("condition")?;
    if text.trim().is_empty() {
        return None;
    }
    Some(crate::expr::eval_bool(&text))
}

/// Stores `resolved` as `as=` asks and returns what LPS displays.
fn store_resolved(cx: &mut Cx<'_, '_>, resolved: &str) -> String {
    let as_type = cx.text_or("as", "auto");
    let token = value_token(resolved, as_type.trim());
    cx.store(&token, as_type.trim());
    match &token {
        Value::Array(_) | Value::Object(_) => token.to_string(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        other => scalar_raw(other),
    }
}

/// The `default` branch: stored when given, else the variable is untouched.
fn otherwise(cx: &mut Cx<'_, '_>) -> String {
    match cx.template("default").cloned() {
        Some(t) => {
            let resolved = t.render_string(cx.scope);
            store_resolved(cx, &resolved)
        }
        None => String::new(),
    }
}

/// `$setvariableif(variable, condition, value, default, as)`.
fn set_if(cx: &mut Cx<'_, '_>) -> String {
    if cx.variable().is_empty() {
        log::debug!("$setvariableif(): a 'variable' name is required");
        return String::new();
    }
    match condition(cx) {
        None => {
            log::debug!("$setvariableif(): a 'condition' is required");
            String::new()
        }
        Some(true) => {
            let value = cx.text_or("value", "");
            store_resolved(cx, &value)
        }
        Some(false) => otherwise(cx),
    }
}

/// `$readif(condition, source, path, name, encoding, variable, default, as)`.
fn read_if(cx: &mut Cx<'_, '_>) -> String {
    if cx.variable().is_empty() {
        log::debug!("$readif(): a 'variable' name is required");
        return String::new();
    }
    match condition(cx) {
        None => {
            log::debug!("$readif(): a 'condition' is required");
            String::new()
        }
        Some(true) => {
            let content = read::read_source(cx);
            store_resolved(cx, &content)
        }
        Some(false) => otherwise(cx),
    }
}

/// `$randomItem(source)`: one item of a JSON array (a quoted array, or a
/// string holding one, too) as compact JSON; "" when there is none.
fn random_item(cx: &mut Cx<'_, '_>) -> String {
    let source = cx
        .text("source")
        .filter(|s| !s.trim().is_empty())
        .or_else(|| cx.positional_text())
        .unwrap_or_default();
    let picked = json_array(&source)
        .filter(|items| !items.is_empty())
        .map(|items| items[fastrand::usize(..items.len())].to_string());
    let result = picked.unwrap_or_else(|| {
        log::debug!("$randomItem(): {source:?} is not a non-empty JSON array");
        String::new()
    });
    cx.store_text(&result);
    result
}

/// `TryGetJsonArray`: the array `text` is, or holds in quotes or in a JSON string.
fn json_array(text: &str) -> Option<Vec<Value>> {
    let t = text.trim();
    if t.len() >= 2
        && t.starts_with('"')
        && t.ends_with('"')
        && let Some(items) = parse_array(t[1..t.len() - 1].trim())
    {
        return Some(items);
    }
    parse_array(text)
}

fn parse_array(text: &str) -> Option<Vec<Value>> {
    match serde_json::from_str::<Value>(text).ok()? {
        Value::Array(items) => Some(items),
        Value::String(inner) if inner.trim().starts_with(['[', '{']) => {
            match serde_json::from_str::<Value>(inner.trim()).ok()? {
                Value::Array(items) => Some(items),
                _ => None,
            }
        }
        _ => None,
    }
}
