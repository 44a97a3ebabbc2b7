//! Boolean expressions as LPS evaluates `skipIf`, `retry.if`, `stopIf` and
//! rule expressions: placeholders resolved first, then C#-style operators
//! rewritten (`!=` to `<>`, `==` to `=`, `&&`/`&` to `and`, `|` to `or`; not
//! quote-aware, as LPS does), then evaluated as a Flee expression. Any
//! error is false (`LPS:Skip/ExpressionEvaluator.cs`).
//!
//! The part of Flee plans use: `or xor and not`, `= <> < > <= >=`,
//! `+ - * / %` (integer division on integers), string literals in double
//! quotes, numbers, `true`/`false`, `if(c, a, b)`, string members
//! (`StartsWith Contains EndsWith ToUpper ToLower Trim Length IndexOf
//! Replace Substring Equals`) and `Math.*`, `String.IsNullOrEmpty`,
//! `Convert.To*`. Keywords and members in any case (Flee's default).

use crate::scope::Scope;
use crate::template::Template;

/// A value while evaluating.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    /// A placeholder's value while a plan is checked ([`check`]): any of
    /// the above; what it meets gives `Any` rather than an error.
    Any,
}

/// Stands for a placeholder in the skeleton [`check`] reads.
pub const ANY: char = '\u{E000}';

/// Checks an expression before any value is known: `skeleton` is its text
/// with each placeholder replaced by [`ANY`]. Errors are what no value can
/// mend: syntax, `||`, unknown functions or members, a result that is not
/// a boolean.
pub fn check(skeleton: &str) -> Result<(), ExprError> {
    match eval(skeleton)? {
        Val::Bool(_) | Val::Any => Ok(()),
        other => err(format!("it gives {other:?}, not true or false")),
    }
}

/// Why an expression has no value (LPS logs it and takes false).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExprError(String);

fn err<T>(m: impl Into<String>) -> Result<T, ExprError> {
    Err(ExprError(m.into()))
}

/// `template` resolved for the client of `scope`, then evaluated: false on
/// any error or a value that is not a boolean; an empty text is false.
pub fn eval_template(template: &Template, scope: &mut Scope<'_>) -> bool {
    let resolved = template.render_string(scope);
    eval_bool(&resolved)
}

/// A resolved expression's truth (errors are false).
pub fn eval_bool(resolved: &str) -> bool {
    match eval(resolved) {
        Ok(Val::Bool(b)) => b,
        Ok(_) => false,
        Err(e) => {
            log::debug!("expression {resolved:?} is false: {e}");
            false
        }
    }
}

/// Evaluates a resolved expression after LPS's operator rewrite.
pub fn eval(resolved: &str) -> Result<Val, ExprError> {
    if resolved.trim().is_empty() {
        return err("empty expression");
    }
    let text = normalize(resolved);
    let tokens = lex(&text)?;
    let mut p = Parser { t: &tokens, i: 0 };
    let v = p.or()?;
    if p.i != tokens.len() {
        return err(format!("unexpected {:?}", tokens[p.i]));
    }
    Ok(v)
}

/// LPS's `NormalizeOperators`, in its order.
fn normalize(s: &str) -> String {
    s.replace("!=", "<>")
        .replace("==", "=")
        .replace("&&", "and")
        .replace('&', "and")
        .replace('|', "or")
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(Val),
    Str(String),
    Ident(String),
    Op(&'static str),
}

fn lex(s: &str) -> Result<Vec<Tok>, ExprError> {
    let c: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == ANY {
            out.push(Tok::Num(Val::Any));
            i += 1;
        } else if ch == '"' {
            let (text, next) = string_literal(&c, i + 1)?;
            out.push(Tok::Str(text));
            i = next;
        } else if ch.is_ascii_digit()
            || (ch == '.' && c.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            while i < c.len() && (c[i].is_ascii_digit() || c[i] == '.') {
                i += 1;
            }
            let text: String = c[start..i].iter().collect();
            let v = if text.contains('.') {
                Val::Float(
                    text.parse()
                        .map_err(|_| ExprError(format!("bad number {text}")))?,
                )
            } else {
                Val::Int(
                    text.parse()
                        .map_err(|_| ExprError(format!("bad number {text}")))?,
                )
            };
            out.push(Tok::Num(v));
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(c[start..i].iter().collect()));
        } else {
            let two: String = c[i..(i + 2).min(c.len())].iter().collect();
            let op = ["<>", "<=", ">="].into_iter().find(|o| *o == two);
            let op = match op {
                Some(o) => o,
                None => match ch {
                    '=' => "=",
                    '<' => "<",
                    '>' => ">",
                    '+' => "+",
                    '-' => "-",
                    '*' => "*",
                    '/' => "/",
                    '%' => "%",
                    '(' => "(",
                    ')' => ")",
                    ',' => ",",
                    '.' => ".",
                    other => return err(format!("unexpected character {other:?}")),
                },
            };
            i += op.len();
            out.push(Tok::Op(op));
        }
    }
    Ok(out)
}

/// A `"..."` literal from `from` (after the quote): its text and the index
/// after the closing quote; `\"`, `\\`, `\n`, `\t` escapes.
fn string_literal(c: &[char], from: usize) -> Result<(String, usize), ExprError> {
    let mut text = String::new();
    let mut i = from;
    while i < c.len() {
        match c[i] {
            '"' => return Ok((text, i + 1)),
            '\\' if i + 1 < c.len() => {
                text.push(match c[i + 1] {
                    'n' => '\n',
                    't' => '\t',
                    other => other,
                });
                i += 2;
            }
            other => {
                text.push(other);
                i += 1;
            }
        }
    }
    err("unterminated string")
}

struct Parser<'a> {
    t: &'a [Tok],
    i: usize,
}

impl Parser<'_> {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.t.get(self.i), Some(Tok::Ident(w)) if w.eq_ignore_ascii_case(word))
    }

    fn peek_op(&self, op: &str) -> bool {
        matches!(self.t.get(self.i), Some(Tok::Op(o)) if *o == op)
    }

    fn expect_op(&mut self, op: &str) -> Result<(), ExprError> {
        if self.peek_op(op) {
            self.i += 1;
            Ok(())
        } else {
            err(format!("expected {op}"))
        }
    }

    fn or(&mut self) -> Result<Val, ExprError> {
        let mut v = self.and()?;
        loop {
            let xor = self.peek_word("xor");
            if !xor && !self.peek_word("or") {
                return Ok(v);
            }
            self.i += 1;
            let r = self.and()?;
            v = Val::Bool(if xor {
                truth(&v)? ^ truth(&r)?
            } else {
                truth(&v)? | truth(&r)?
            });
        }
    }

    fn and(&mut self) -> Result<Val, ExprError> {
        let mut v = self.not()?;
        while self.peek_word("and") {
            self.i += 1;
            let r = self.not()?;
            v = Val::Bool(truth(&v)? & truth(&r)?);
        }
        Ok(v)
    }

    fn not(&mut self) -> Result<Val, ExprError> {
        if self.peek_word("not") {
            self.i += 1;
            return Ok(Val::Bool(!truth(&self.not()?)?));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Val, ExprError> {
        let l = self.additive()?;
        let op = match self.t.get(self.i) {
            Some(Tok::Op(o @ ("=" | "<>" | "<" | ">" | "<=" | ">="))) => *o,
            _ => return Ok(l),
        };
        self.i += 1;
        let r = self.additive()?;
        compare(op, &l, &r).map(Val::Bool)
    }

    fn additive(&mut self) -> Result<Val, ExprError> {
        let mut v = self.multiplicative()?;
        while let Some(Tok::Op(o @ ("+" | "-"))) = self.t.get(self.i) {
            self.i += 1;
            let r = self.multiplicative()?;
            v = arith(o, &v, &r)?;
        }
        Ok(v)
    }

    fn multiplicative(&mut self) -> Result<Val, ExprError> {
        let mut v = self.unary()?;
        while let Some(Tok::Op(o @ ("*" | "/" | "%"))) = self.t.get(self.i) {
            self.i += 1;
            let r = self.unary()?;
            v = arith(o, &v, &r)?;
        }
        Ok(v)
    }

    fn unary(&mut self) -> Result<Val, ExprError> {
        if self.peek_op("-") {
            self.i += 1;
            return match self.unary()? {
                Val::Int(n) => n
                    .checked_neg()
                    .map(Val::Int)
                    .ok_or(ExprError("overflow".into())),
                Val::Float(f) => Ok(Val::Float(-f)),
                Val::Any => Ok(Val::Any),
                _ => err("'-' needs a number"),
            };
        }
        if self.peek_op("+") {
            self.i += 1;
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Val, ExprError> {
        let mut v = self.primary()?;
        while self.peek_op(".") {
            self.i += 1;
            let Some(Tok::Ident(name)) = self.t.get(self.i).cloned() else {
                return err("expected a member name");
            };
            self.i += 1;
            let args = if self.peek_op("(") {
                self.call_args()?
            } else {
                Vec::new()
            };
            v = member(&v, &name, &args)?;
        }
        Ok(v)
    }

    fn call_args(&mut self) -> Result<Vec<Val>, ExprError> {
        self.expect_op("(")?;
        let mut args = Vec::new();
        if self.peek_op(")") {
            self.i += 1;
            return Ok(args);
        }
        loop {
            args.push(self.or()?);
            if self.peek_op(",") {
                self.i += 1;
                continue;
            }
            self.expect_op(")")?;
            return Ok(args);
        }
    }

    fn primary(&mut self) -> Result<Val, ExprError> {
        let Some(tok) = self.t.get(self.i).cloned() else {
            return err("unexpected end");
        };
        self.i += 1;
        match tok {
            Tok::Num(v) => Ok(v),
            Tok::Str(s) => Ok(Val::Str(s)),
            Tok::Op("(") => {
                let v = self.or()?;
                self.expect_op(")")?;
                Ok(v)
            }
            Tok::Ident(w) => self.word(&w),
            Tok::Op(o) => err(format!("unexpected {o}")),
        }
    }

    /// `true`, `false`, `if(c, a, b)`, or a static call `Type.Member(...)`.
    fn word(&mut self, w: &str) -> Result<Val, ExprError> {
        let lower = w.to_ascii_lowercase();
        match lower.as_str() {
            "true" => return Ok(Val::Bool(true)),
            "false" => return Ok(Val::Bool(false)),
            "if" => {
                let args = self.call_args()?;
                let [c, a, b] =
                    <[Val; 3]>::try_from(args).map_err(|_| ExprError("if takes 3".into()))?;
                return Ok(if truth(&c)? { a } else { b });
            }
            _ => {}
        }
        // `Math.Abs(x)`, `String.IsNullOrEmpty(s)`, `Convert.ToInt32(s)`; a
        // bare member of Math too, as Flee imports it.
        let (ty, name) = if self.peek_op(".") {
            self.i += 1;
            match self.t.get(self.i).cloned() {
                Some(Tok::Ident(n)) => {
                    self.i += 1;
                    (lower, n.to_ascii_lowercase())
                }
                _ => return err("expected a member name"),
            }
        } else {
            ("math".to_string(), lower)
        };
        let args = if self.peek_op("(") {
            self.call_args()?
        } else {
            Vec::new()
        };
        static_call(&ty, &name, &args)
    }
}

fn truth(v: &Val) -> Result<bool, ExprError> {
    match v {
        Val::Bool(b) => Ok(*b),
        Val::Any => Ok(true),
        other => err(format!("{other:?} is not a boolean")),
    }
}

fn num(v: &Val) -> Option<f64> {
    match v {
        Val::Int(n) => Some(*n as f64),
        Val::Float(f) => Some(*f),
        _ => None,
    }
}

fn compare(op: &str, l: &Val, r: &Val) -> Result<bool, ExprError> {
    use std::cmp::Ordering;
    if *l == Val::Any || *r == Val::Any {
        return Ok(true);
    }
    let ord = match (l, r) {
        (Val::Int(a), Val::Int(b)) => a.cmp(b),
        (Val::Str(a), Val::Str(b)) => match op {
            "=" => return Ok(a == b),
            "<>" => return Ok(a != b),
            _ => a.cmp(b),
        },
        (Val::Bool(a), Val::Bool(b)) => match op {
            "=" => return Ok(a == b),
            "<>" => return Ok(a != b),
            _ => return err("booleans are not ordered"),
        },
        _ => match (num(l), num(r)) {
            (Some(a), Some(b)) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
            _ => return err(format!("cannot compare {l:?} with {r:?}")),
        },
    };
    Ok(match op {
        "=" => ord == Ordering::Equal,
        "<>" => ord != Ordering::Equal,
        "<" => ord == Ordering::Less,
        ">" => ord == Ordering::Greater,
        "<=" => ord != Ordering::Greater,
        _ => ord != Ordering::Less,
    })
}

fn arith(op: &str, l: &Val, r: &Val) -> Result<Val, ExprError> {
    if *l == Val::Any || *r == Val::Any {
        return Ok(Val::Any);
    }
    if op == "+"
        && let (Val::Str(_), _) | (_, Val::Str(_)) = (l, r)
    {
        return Ok(Val::Str(format!("{}{}", text(l), text(r))));
    }
    let overflow = || ExprError("overflow".into());
    match (l, r) {
        (Val::Int(a), Val::Int(b)) => Ok(Val::Int(match op {
            "+" => a.checked_add(*b).ok_or_else(overflow)?,
            "-" => a.checked_sub(*b).ok_or_else(overflow)?,
            "*" => a.checked_mul(*b).ok_or_else(overflow)?,
            "/" => a
                .checked_div(*b)
                .ok_or_else(|| ExprError("division by zero".into()))?,
            _ => a
                .checked_rem(*b)
                .ok_or_else(|| ExprError("division by zero".into()))?,
        })),
        _ => match (num(l), num(r)) {
            (Some(a), Some(b)) => Ok(Val::Float(match op {
                "+" => a + b,
                "-" => a - b,
                "*" => a * b,
                "/" => a / b,
                _ => a % b,
            })),
            _ => err(format!("{op} needs numbers")),
        },
    }
}

/// A value as .NET's `ToString()` writes it.
fn text(v: &Val) -> String {
    match v {
        Val::Int(n) => n.to_string(),
        Val::Float(f) => f.to_string(),
        Val::Str(s) => s.clone(),
        Val::Bool(true) => "True".into(),
        Val::Bool(false) => "False".into(),
        Val::Any => String::new(),
    }
}

fn str_arg(args: &[Val], i: usize) -> Result<&str, ExprError> {
    match args.get(i) {
        Some(Val::Str(s)) => Ok(s),
        _ => err("expected a string argument"),
    }
}

fn int_arg(args: &[Val], i: usize) -> Result<usize, ExprError> {
    match args.get(i) {
        Some(Val::Int(n)) if *n >= 0 => Ok(*n as usize),
        _ => err("expected a non-negative integer argument"),
    }
}

/// A member of a string value.
fn member(v: &Val, name: &str, args: &[Val]) -> Result<Val, ExprError> {
    if *v == Val::Any || args.contains(&Val::Any) {
        let known = MEMBERS.contains(&name.to_ascii_lowercase().as_str());
        return if known {
            Ok(Val::Any)
        } else {
            err(format!("no member {name}"))
        };
    }
    let Val::Str(s) = v else {
        return match name.to_ascii_lowercase().as_str() {
            "tostring" => Ok(Val::Str(text(v))),
            _ => err(format!("{v:?} has no member {name}")),
        };
    };
    Ok(match name.to_ascii_lowercase().as_str() {
        "startswith" => Val::Bool(s.starts_with(str_arg(args, 0)?)),
        "endswith" => Val::Bool(s.ends_with(str_arg(args, 0)?)),
        "contains" => Val::Bool(s.contains(str_arg(args, 0)?)),
        "equals" => Val::Bool(s == str_arg(args, 0)?),
        "toupper" | "toupperinvariant" => Val::Str(s.to_uppercase()),
        "tolower" | "tolowerinvariant" => Val::Str(s.to_lowercase()),
        "trim" => Val::Str(s.trim().to_string()),
        "tostring" => Val::Str(s.clone()),
        "length" => Val::Int(s.chars().count() as i64),
        "indexof" => Val::Int(
            s.find(str_arg(args, 0)?)
                .map_or(-1, |b| s[..b].chars().count() as i64),
        ),
        "replace" => Val::Str(s.replace(str_arg(args, 0)?, str_arg(args, 1)?)),
        "substring" => {
            let chars: Vec<char> = s.chars().collect();
            let from = int_arg(args, 0)?;
            let len = if args.len() > 1 {
                int_arg(args, 1)?
            } else {
                chars.len().saturating_sub(from)
            };
            match chars.get(from..from + len) {
                Some(part) => Val::Str(part.iter().collect()),
                None => return err("substring out of range"),
            }
        }
        _ => return err(format!("string has no member {name}")),
    })
}

/// `Math.*`, `String.*`, `Convert.*`.
/// The string members [`member`] knows.
const MEMBERS: &[&str] = &[
    "startswith",
    "endswith",
    "contains",
    "equals",
    "toupper",
    "toupperinvariant",
    "tolower",
    "tolowerinvariant",
    "trim",
    "tostring",
    "length",
    "indexof",
    "replace",
    "substring",
];

/// The functions [`static_call`] knows, as `type.name`.
const STATICS: &[&str] = &[
    "math.abs",
    "math.max",
    "math.min",
    "math.floor",
    "math.ceiling",
    "math.round",
    "math.pow",
    "math.sqrt",
    "string.isnullorempty",
    "string.isnullorwhitespace",
    "convert.toint32",
    "convert.toint64",
    "convert.todouble",
    "convert.todecimal",
    "convert.tostring",
    "convert.toboolean",
];

fn static_call(ty: &str, name: &str, args: &[Val]) -> Result<Val, ExprError> {
    if args.contains(&Val::Any) {
        let known = STATICS.contains(&format!("{ty}.{name}").as_str());
        return if known {
            Ok(Val::Any)
        } else {
            err(format!("unknown {ty}.{name}"))
        };
    }
    let n = |i: usize| {
        args.get(i)
            .and_then(num)
            .ok_or(ExprError("expected a number".into()))
    };
    let keep_int = |f: f64| match args.first() {
        Some(Val::Int(_)) => Val::Int(f as i64),
        _ => Val::Float(f),
    };
    Ok(match (ty, name) {
        ("math", "abs") => keep_int(n(0)?.abs()),
        ("math", "max") => keep_int(n(0)?.max(n(1)?)),
        ("math", "min") => keep_int(n(0)?.min(n(1)?)),
        ("math", "floor") => Val::Float(n(0)?.floor()),
        ("math", "ceiling") => Val::Float(n(0)?.ceil()),
        ("math", "round") => Val::Float(n(0)?.round_ties_even()),
        ("math", "pow") => Val::Float(n(0)?.powf(n(1)?)),
        ("math", "sqrt") => Val::Float(n(0)?.sqrt()),
        ("string", "isnullorempty") => Val::Bool(str_arg(args, 0)?.is_empty()),
        ("string", "isnullorwhitespace") => Val::Bool(str_arg(args, 0)?.trim().is_empty()),
        ("convert", "toint32" | "toint64") => match args.first() {
            Some(Val::Str(s)) => Val::Int(
                s.trim()
                    .parse()
                    .map_err(|_| ExprError("not an integer".into()))?,
            ),
            Some(v) => Val::Int(
                num(v)
                    .ok_or(ExprError("not a number".into()))?
                    .round_ties_even() as i64,
            ),
            None => return err("expected an argument"),
        },
        ("convert", "todouble" | "todecimal") => match args.first() {
            Some(Val::Str(s)) => Val::Float(
                s.trim()
                    .parse()
                    .map_err(|_| ExprError("not a number".into()))?,
            ),
            Some(v) => Val::Float(num(v).ok_or(ExprError("not a number".into()))?),
            None => return err("expected an argument"),
        },
        ("convert", "tostring") => Val::Str(args.first().map(text).unwrap_or_default()),
        ("convert", "toboolean") => match args.first() {
            Some(Val::Str(s)) if s.eq_ignore_ascii_case("true") => Val::Bool(true),
            Some(Val::Str(s)) if s.eq_ignore_ascii_case("false") => Val::Bool(false),
            Some(Val::Bool(b)) => Val::Bool(*b),
            _ => return err("not a boolean"),
        },
        _ => return err(format!("unknown {ty}.{name}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lps_docs_expressions() {
        let cases = [
            ("10 = 10", true),
            ("9 = 10", false),
            ("\"\" = \"\" or 200 <>200", true),
            ("\"tok\" = \"\" or 200 <>200", false),
            ("1 != 1 or \"Bret\" != \"Bret\"", false),
            ("2 != 1 or \"Bret\" != \"Bret\"", true),
            ("401 = 401", true),
            ("\"Clementina DuBuque\".StartsWith(\"Clementina\")", true),
            ("\"Leanne Graham\".ToUpper() = \"LEANNE GRAHAM\"", true),
            ("\"a@b.biz\".EndsWith(\".biz\")", true),
            ("\"x\" == \"\"", false),
            ("true", true),
            ("True != true", false),
            ("false", false),
            ("3 < 2", false),
            ("503 >= 500", true),
            ("5 - 1 = 4 and not (1 > 2)", true),
            ("7 / 2 = 3", true),
            ("7.0 / 2 = 3.5", true),
            ("(1 = 1) xor (2 = 2)", false),
            ("if(1 > 0, \"a\", \"b\") = \"a\"", true),
            ("Math.Max(3, 9) = 9", true),
            ("String.IsNullOrEmpty(\"\")", true),
            ("Convert.ToInt32(\"42\") = 42", true),
            ("\"abc\".Length = 3", true),
            ("\"ab\" + 1 = \"ab1\"", true),
        ];
        for (text, want) in cases {
            assert_eq!(eval(text), Ok(Val::Bool(want)), "{text}");
        }
    }

    #[test]
    fn a_plan_s_expressions_are_checked_before_their_values_are_known() {
        let a = ANY.to_string();
        let fine = [
            format!("{a} = 10"),
            format!("\"{a}\" == \"\" or {a} <>200"),
            format!("{a}.StartsWith(\"Clementina\")"),
            format!("Math.Max({a}, 3) > 2 and not ({a} < 1)"),
            a.clone(),
        ];
        for text in fine {
            assert_eq!(check(&text), Ok(()), "{text}");
        }
        for text in [
            format!("{a} = 1 || {a} = 2"),
            format!("({a} = 1"),
            format!("{a}.Frob()"),
            format!("Math.Frob({a})"),
            "5".to_string(),
        ] {
            assert!(check(&text).is_err(), "{text}");
        }
    }

    #[test]
    fn errors_are_false() {
        for text in [
            "",
            "1 || 2",
            "Bret = 1",
            "\"a\" = 1",
            "1 +",
            "\"unterminated",
            "5",
            "1 / 0 = 1",
            "x.Frob()",
        ] {
            assert!(!eval_bool(text), "{text}");
        }
        // `||` becomes `oror`, an error, as in LPS.
        assert!(eval("true || true").is_err());
        // The rewrite is not quote-aware: "a|b" becomes "aorb".
        assert_eq!(eval("\"a|b\" = \"aorb\""), Ok(Val::Bool(true)));
    }
}
