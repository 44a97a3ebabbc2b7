//! How LPS's newer methods store a result (`MethodBase.StoreTypedVariableAsync`):
//! a JSON value plus an `as=`, mapped to a variable type (inferred from the
//! value when `as` is absent or names no such type), converted when it can
//! be and kept as a string when it cannot; and the number parsing and
//! printing those methods share (.NET's invariant culture).

use serde_json::Value;

use crate::expr::{self, Val};
use crate::variable::{VarType, Variable};

/// The variable LPS builds for `value` stored with `as_type`.
pub(crate) fn typed_variable(value: &Value, as_type: &str) -> Variable {
    let target = map_as(as_type).unwrap_or_else(|| infer(value));
    let converted = match target {
        VarType::Boolean => to_bool(value).map(|b| (target, b.to_string())),
        // An int out of Int32's range, or a fraction, is held as a double.
        VarType::Int => match to_long(value) {
            Some(l) if i32::try_from(l).is_ok() => Some((target, l.to_string())),
            _ => to_double(value).map(|d| (VarType::Double, format_double(d))),
        },
        VarType::Double => to_double(value).map(|d| (target, format_double(d))),
        VarType::Decimal => to_decimal(value).map(|t| (target, t)),
        VarType::Json => Some((target, json_raw(value))),
        _ => None,
    };
    match converted {
        Some((kind, text)) => Variable::new(kind, text),
        None => Variable::new(VarType::String, scalar_raw(value)),
    }
}

/// `MapAsType`: the types a method's `as=` can name.
fn map_as(as_type: &str) -> Option<VarType> {
    Some(match as_type.trim().to_ascii_lowercase().as_str() {
        "json" | "jsonstring" => VarType::Json,
        "int" | "integer" => VarType::Int,
        "double" | "float" | "number" => VarType::Double,
        "decimal" => VarType::Decimal,
        "bool" | "boolean" => VarType::Boolean,
        "string" | "text" => VarType::String,
        _ => return None,
    })
}

/// `InferVariableType`.
fn infer(value: &Value) -> VarType {
    match value {
        Value::Object(_) | Value::Array(_) => VarType::Json,
        Value::Number(n) if n.is_i64() || n.is_u64() => VarType::Int,
        Value::Number(_) => VarType::Double,
        Value::Bool(_) => VarType::Boolean,
        _ => VarType::String,
    }
}

/// `BuildValueToken`: a resolved text as the token `as_type` asks for
/// (JSON parsed, arithmetic evaluated for numbers), else the text itself.
pub(crate) fn value_token(text: &str, as_type: &str) -> Value {
    let as_type = as_type.trim().to_ascii_lowercase();
    let fallback = || Value::String(text.to_string());
    match as_type.as_str() {
        "json" | "jsonstring" => serde_json::from_str(text).unwrap_or_else(|_| fallback()),
        "int" | "integer" => eval_to_int(text).map_or_else(fallback, Value::from),
        "double" | "float" | "number" | "decimal" => eval_to_double(text)
            .and_then(|d| serde_json::Number::from_f64(d).map(Value::Number))
            .unwrap_or_else(fallback),
        _ => fallback(),
    }
}

/// `ArithmeticExpressionEvaluator.TryEvaluateToInt`: Flee's integer
/// arithmetic; a double result is converted with .NET's rounding to even.
pub(crate) fn eval_to_int(text: &str) -> Option<i32> {
    if !crate::arith::is_arithmetic(text) {
        return None;
    }
    match expr::eval(text.trim()).ok()? {
        Val::Int(i) => i32::try_from(i).ok(),
        Val::Float(f) if f.is_finite() => {
            let r = f.round_ties_even();
            (r >= f64::from(i32::MIN) && r <= f64::from(i32::MAX)).then_some(r as i32)
        }
        _ => None,
    }
}

/// `TryEvaluateToDouble` (integer division stays integer, as in Flee).
pub(crate) fn eval_to_double(text: &str) -> Option<f64> {
    if !crate::arith::is_arithmetic(text) {
        return None;
    }
    match expr::eval(text.trim()).ok()? {
        Val::Int(i) => Some(i as f64),
        Val::Float(f) => Some(f),
        _ => None,
    }
}

/// `ScalarRaw`: a token's text as a string holder keeps it.
pub(crate) fn scalar_raw(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_text(n),
        other => other.to_string(),
    }
}

/// `JsonRaw`: objects and arrays compact, scalars as [`scalar_raw`].
fn json_raw(v: &Value) -> String {
    match v {
        Value::Object(_) | Value::Array(_) => v.to_string(),
        other => scalar_raw(other),
    }
}

fn number_text(n: &serde_json::Number) -> String {
    match (n.as_i64(), n.as_u64()) {
        (Some(i), _) => i.to_string(),
        (None, Some(u)) => u.to_string(),
        _ => format_double(n.as_f64().unwrap_or(f64::NAN)),
    }
}

fn to_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        other => parse_bool(&scalar_raw(other)),
    }
}

/// .NET's `bool.TryParse`: `true`/`false` in any case, spaces around.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("true") {
        Some(true)
    } else if t.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn to_long(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) if n.is_i64() => n.as_i64(),
        other => {
            let raw = scalar_raw(other);
            let t = raw.trim();
            let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            t.strip_prefix('+').unwrap_or(t).parse().ok()
        }
    }
}

fn to_double(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        other => parse_float(&scalar_raw(other)),
    }
}

/// `decimal.TryParse(Number)`: the text, without group separators; no exponent.
fn to_decimal(v: &Value) -> Option<String> {
    if let Value::Number(n) = v {
        return Some(number_text(n));
    }
    let raw = scalar_raw(v);
    let t = raw.trim();
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    let ok = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b',')
        && body.bytes().filter(|b| *b == b'.').count() <= 1
        && body.bytes().any(|b| b.is_ascii_digit());
    ok.then(|| t.trim_start_matches('+').replace(',', ""))
}

/// .NET's `double.TryParse(Float)`: spaces, a sign, digits with a point and
/// an exponent; `thousands` also allows `,` group separators.
pub(crate) fn parse_number(s: &str, thousands: bool) -> Option<f64> {
    let t = s.trim();
    let (mantissa, _) = t.split_once(['e', 'E']).unwrap_or((t, ""));
    let ok = !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E' | b','))
        && mantissa.bytes().any(|b| b.is_ascii_digit())
        && (thousands || !t.contains(','));
    if !ok {
        return None;
    }
    t.replace(',', "").parse().ok()
}

/// `TryParseNumber` of the numeric methods: thousands separators allowed.
pub(crate) fn parse_float(s: &str) -> Option<f64> {
    parse_number(s, false)
}

/// A double as .NET prints it (`double.ToString(InvariantCulture)`): the
/// shortest text that reads back, exponent form from 1E+15 and from 1E-05 down.
pub(crate) fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{d:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..15).contains(&exp) {
        return format!("{d}");
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}E{sign}{:02}", exp.abs())
}

/// `StoreNumberResultAsync`'s text and token: whole values as integers unless
/// `force_double`.
pub(crate) fn number_result(value: f64, force_double: bool) -> (String, Value) {
    let integral = !force_double
        && value.is_finite()
        && value == value.floor()
        && value >= i64::MIN as f64
        && value <= i64::MAX as f64;
    if integral {
        let l = value as i64;
        return (l.to_string(), Value::from(l));
    }
    let token = serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number);
    (format_double(value), token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_as_dotnet_does() {
        assert_eq!(format_double(2.5), "2.5");
        assert_eq!(format_double(4.0), "4");
        assert_eq!(format_double(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_double(1e15), "1E+15");
        assert_eq!(format_double(123456789012345.0), "123456789012345");
        assert_eq!(format_double(0.0001), "0.0001");
        assert_eq!(format_double(0.00001), "1E-05");
        assert_eq!(format_double(-1.5e-7), "-1.5E-07");
        assert_eq!(format_double(f64::INFINITY), "Infinity");
        assert_eq!(format_double(f64::NAN), "NaN");
    }

    #[test]
    fn numbers_parse_as_dotnet_does() {
        assert_eq!(parse_float(" -2.5 "), Some(-2.5));
        assert_eq!(parse_float("1e3"), Some(1000.0));
        assert_eq!(parse_float("1,000"), None);
        assert_eq!(parse_number("1,000.5", true), Some(1000.5));
        assert_eq!(parse_float("abc"), None);
        assert_eq!(parse_float("inf"), None);
        assert_eq!(parse_float("."), None);
    }

    #[test]
    fn values_are_stored_typed_as_lps_stores_them() {
        let v = |value: Value, as_type: &str| {
            let var = typed_variable(&value, as_type);
            (var.kind(), var.raw().to_string())
        };
        assert_eq!(v(Value::from(5), ""), (VarType::Int, "5".into()));
        assert_eq!(v(Value::from(2.5), "auto"), (VarType::Double, "2.5".into()));
        assert_eq!(
            v(serde_json::json!([1, 3]), ""),
            (VarType::Json, "[1,3]".into())
        );
        assert_eq!(v(Value::from("7"), ""), (VarType::String, "7".into()));
        assert_eq!(v(Value::from("7"), "int"), (VarType::Int, "7".into()));
        assert_eq!(v(Value::from("x"), "int"), (VarType::String, "x".into()));
        assert_eq!(
            v(Value::from("TRUE"), "bool"),
            (VarType::Boolean, "true".into())
        );
        assert_eq!(v(Value::from(1), "xml"), (VarType::Int, "1".into()));
        assert_eq!(v(Value::Null, ""), (VarType::String, "".into()));
        assert_eq!(
            v(value_token("2+3", "int"), "int"),
            (VarType::Int, "5".into())
        );
        assert_eq!(
            v(value_token("1.5+1", "double"), "double"),
            (VarType::Double, "2.5".into())
        );
        assert_eq!(
            v(value_token("{\"a\":1}", "json"), "json"),
            (VarType::Json, "{\"a\":1}".into())
        );
    }
}
