//! The numeric and comparison methods (`SumMethod.cs` ... `StringEqualsMethod.cs`):
//! lists from `source` (a JSON array, `[a, b]` with unquoted items, a
//! variable holding an array, or one number), operands `a`/`b`; results as
//! .NET prints them; a failure gives "" (comparisons: "false") and stores it.

use serde_json::Value;

use super::store::{self, number_result, parse_number};
use super::{Cx, MethodId};

/// True for the methods this file runs.
pub(super) fn handles(method: MethodId) -> bool {
    use MethodId as M;
    matches!(
        method,
        M::Sum
            | M::Min
            | M::Max
            | M::Multiply
            | M::Average
            | M::Divide
            | M::Subtract
            | M::Mod
            | M::Pow
            | M::Abs
            | M::Floor
            | M::Ceil
            | M::Round
            | M::Clamp
            | M::GreaterThan
            | M::SmallerThan
            | M::GreaterThanOrEqual
            | M::SmallerThanOrEqual
            | M::Greater
            | M::Less
            | M::Equal
            | M::StringEquals
    )
}

/// Runs `method`, stores its result in `variable=` and returns it.
pub(super) fn run(method: MethodId, cx: &mut Cx<'_, '_>) -> String {
    use MethodId as M;
    match method {
        M::Sum | M::Min | M::Max | M::Multiply | M::Average => over_list(method, cx),
        M::Abs | M::Floor | M::Ceil | M::Round => unary(method, cx),
        M::Clamp => clamp(cx),
        M::GreaterThan | M::SmallerThan | M::GreaterThanOrEqual | M::SmallerThanOrEqual => {
            compare(method, cx)
        }
        M::Equal => equal(cx),
        M::StringEquals => string_equals(cx),
        _ => binary(method, cx),
    }
}

/// `sum`, `min`, `max`, `multiply`, `average` over `source`.
fn over_list(method: MethodId, cx: &mut Cx<'_, '_>) -> String {
    let source = cx.text_or_positional("source").unwrap_or_default();
    let values = number_list(&source);
    if values.is_empty() {
        return fail(cx, method);
    }
    let n = values.len() as f64;
    let value = match method {
        MethodId::Sum => values.iter().sum(),
        MethodId::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
        MethodId::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        MethodId::Multiply => values.iter().product(),
        _ => values.iter().sum::<f64>() / n,
    };
    number(cx, value, method == MethodId::Average)
}

/// `subtract`, `divide`, `mod`, `pow`, `greater`, `less`.
fn binary(method: MethodId, cx: &mut Cx<'_, '_>) -> String {
    let (ka, kb) = match method {
        MethodId::Pow => ("base", "exponent"),
        _ => ("a", "b"),
    };
    let (Some(a), Some(b)) = (operand(cx, ka), operand(cx, kb)) else {
        return fail(cx, method);
    };
    let value = match method {
        MethodId::Subtract => a - b,
        MethodId::Divide | MethodId::Mod if b == 0.0 => return fail(cx, method),
        MethodId::Divide => a / b,
        // C#'s `%` on doubles: the sign of the dividend, as Rust's.
        MethodId::Mod => a % b,
        MethodId::Pow => a.powf(b),
        MethodId::Greater => a.max(b),
        _ => a.min(b),
    };
    number(cx, value, method == MethodId::Divide)
}

/// `abs`, `floor`, `ceil`, `round` of `source` (or the positional value).
fn unary(method: MethodId, cx: &mut Cx<'_, '_>) -> String {
    let digits = cx.number("digits", 0).clamp(0, 15) as i32;
    let Some(v) = cx
        .text_or_positional("source")
        .and_then(|s| parse_number(&s, true))
    else {
        return fail(cx, method);
    };
    let value = match method {
        MethodId::Abs => v.abs(),
        MethodId::Floor => v.floor(),
        MethodId::Ceil => v.ceil(),
        _ => round_away(v, digits),
    };
    number(cx, value, method == MethodId::Round && digits > 0)
}

/// `Math.Round(v, digits, MidpointRounding.AwayFromZero)`.
fn round_away(v: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    let scaled = v * scale;
    if !scaled.is_finite() {
        return v;
    }
    scaled.round() / scale
}

/// `clamp(value, min, max)`; bounds given the wrong way round are swapped.
fn clamp(cx: &mut Cx<'_, '_>) -> String {
    let (v, lo, hi) = (operand(cx, "value"), operand(cx, "min"), operand(cx, "max"));
    let (Some(v), Some(lo), Some(hi)) = (v, lo, hi) else {
        return fail(cx, MethodId::Clamp);
    };
    let (lo, hi) = if lo > hi { (hi, lo) } else { (lo, hi) };
    number(cx, v.max(lo).min(hi), false)
}

/// The four comparisons: "true"/"false"; `numberVariable=` gets the larger
/// (greater…) or smaller (smaller…) operand.
fn compare(method: MethodId, cx: &mut Cx<'_, '_>) -> String {
    let (Some(a), Some(b)) = (operand(cx, "a"), operand(cx, "b")) else {
        log::debug!("${method:?}(): both numeric operands 'a' and 'b' are required");
        return cx.store_bool(false);
    };
    let (hit, pick) = match method {
        MethodId::GreaterThan => (a > b, a.max(b)),
        MethodId::GreaterThanOrEqual => (a >= b, a.max(b)),
        MethodId::SmallerThan => (a < b, a.min(b)),
        _ => (a <= b, a.min(b)),
    };
    let text = cx.store_bool(hit);
    let name = cx.text_or("numberVariable", "");
    if !name.trim().is_empty() {
        let global = cx.flag("isGlobal", false);
        let (_, token) = number_result(pick, false);
        let var = store::typed_variable(&token, "");
        cx.scope.store(name.trim(), var, global);
    }
    text
}

/// `equal(a, b, tolerance)`: |a - b| <= |tolerance|.
fn equal(cx: &mut Cx<'_, '_>) -> String {
    let (Some(a), Some(b)) = (operand(cx, "a"), operand(cx, "b")) else {
        return cx.store_bool(false);
    };
    let tolerance = operand(cx, "tolerance").unwrap_or(0.0);
    cx.store_bool((a - b).abs() <= tolerance.abs())
}

/// `stringequals(a, b, ignoreCase)`: ordinal, or ordinal ignoring case.
fn string_equals(cx: &mut Cx<'_, '_>) -> String {
    let a = cx.text_or("a", "");
    let b = cx.text_or("b", "");
    let same = if cx.flag("ignoreCase", false) {
        a.to_lowercase() == b.to_lowercase()
    } else {
        a == b
    };
    cx.store_bool(same)
}

/// A named numeric operand (`ResolveNumberParamAsync`), thousands allowed.
fn operand(cx: &mut Cx<'_, '_>, key: &str) -> Option<f64> {
    cx.text(key).and_then(|s| parse_number(&s, true))
}

/// `ResolveNumberArrayAsync`: a JSON array's numbers (numeric strings too),
/// else `[a, b]` split on commas, else one number; what is not a number is
/// skipped.
pub(super) fn number_list(raw: &str) -> Vec<f64> {
    let t = raw.trim();
    if t.is_empty() {
        return Vec::new();
    }
    if !(t.starts_with('[') && t.ends_with(']')) {
        return parse_number(t, true).into_iter().collect();
    }
    match serde_json::from_str::<Value>(t) {
        Ok(Value::Array(items)) => items
            .iter()
            .filter_map(|v| match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => parse_number(s, true),
                _ => None,
            })
            .collect(),
        _ => t[1..t.len() - 1]
            .split(',')
            .map(|p| p.trim().trim_matches('"'))
            .filter(|p| !p.is_empty())
            .filter_map(|p| parse_number(p, true))
            .collect(),
    }
}

/// `StoreNumberResultAsync`: the number's text, stored with `as=`.
fn number(cx: &mut Cx<'_, '_>, value: f64, force_double: bool) -> String {
    let (text, token) = number_result(value, force_double);
    let as_type = cx.text_or("as", "");
    cx.store(&token, &as_type);
    text
}

/// `FailNumberAsync`: logs, stores "" and returns it.
fn fail(cx: &mut Cx<'_, '_>, method: MethodId) -> String {
    log::debug!("${method:?}() failed: no numeric value");
    cx.store_text("");
    String::new()
}
