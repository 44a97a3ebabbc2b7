//! LPS's declarative methods (`$uuid()`, `$counter(start=1)`, ...): the
//! registry that names them (case-insensitive, with LPS's aliases), and the
//! context a method runs in. Each method resolves only the arguments it
//! reads, writes its result, and stores it in `variable=` when asked
//! (`isGlobal=true`: for every client).
//!
//! - `core`: identifiers, randomness, time, counters, variables, text.

mod core;

use crate::args::Args;
use crate::arith;
use crate::scope::Scope;
use crate::template::Call;
use crate::variable::{VarType, Variable};

/// A method lps runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodId {
    Guid,
    Uuid,
    Random,
    RandomNumber,
    Timestamp,
    Iterate,
    SetVariable,
    Length,
    Base64Encode,
    Base64Decode,
    UrlEncode,
    UrlDecode,
    ToLowerCase,
    ToUpperCase,
    Strcat,
    Contains,
    StartsWith,
    EndsWith,
    GenerateEmail,
}

/// Why a method name is not runnable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Not one of LPS's methods.
    Unknown,
    /// One of LPS's, which lps does not run yet.
    NotYet,
}

/// LPS's methods lps does not run yet: named apart so that the error says so.
const NOT_YET: &[&str] = &[
    "randomitem",
    "hash",
    "hmac",
    "format",
    "jwtclaim",
    "jwtsign",
    "read",
    "readif",
    "find",
    "findxml",
    "setvariableif",
    "setif",
    "sum",
    "min",
    "max",
    "multiply",
    "average",
    "avg",
    "divide",
    "subtract",
    "mod",
    "pow",
    "abs",
    "floor",
    "ceil",
    "round",
    "clamp",
    "greaterthan",
    "smallerthan",
    "greaterthanorequal",
    "smallerthanorequal",
    "greater",
    "less",
    "equal",
    "stringequals",
];

/// The method `name` calls (any case; LPS's aliases).
pub fn lookup(name: &str) -> Result<MethodId, Lookup> {
    use MethodId as M;
    let lower = name.trim().to_ascii_lowercase();
    Ok(match lower.as_str() {
        "guid" => M::Guid,
        "uuid" => M::Uuid,
        "random" => M::Random,
        "randomnumber" => M::RandomNumber,
        "timestamp" | "datetime" => M::Timestamp,
        "iterate" | "counter" | "loopcounter" => M::Iterate,
        "setvariable" | "set" => M::SetVariable,
        "length" => M::Length,
        "base64encode" => M::Base64Encode,
        "base64decode" => M::Base64Decode,
        "urlencode" => M::UrlEncode,
        "urldecode" => M::UrlDecode,
        "tolowercase" => M::ToLowerCase,
        "touppercase" => M::ToUpperCase,
        "strcat" => M::Strcat,
        "contains" => M::Contains,
        "startswith" => M::StartsWith,
        "endswith" => M::EndsWith,
        "generateemail" => M::GenerateEmail,
        other if NOT_YET.contains(&other) => return Err(Lookup::NotYet),
        _ => return Err(Lookup::Unknown),
    })
}

/// Runs `call` for the client of `scope`, appending its result to `out`.
pub fn call(call: &Call, scope: &mut Scope<'_>, out: &mut String) {
    let mut cx = Cx {
        args: &call.args,
        scope,
    };
    let (result, kind) = core::run(call.method, &mut cx);
    cx.keep(&result, kind);
    out.push_str(&result);
}

/// What a method runs with: its arguments and the client's scope.
pub(crate) struct Cx<'c, 's> {
    pub args: &'c Args,
    pub scope: &'c mut Scope<'s>,
}

impl Cx<'_, '_> {
    /// `key` resolved, if given.
    pub fn text(&mut self, key: &str) -> Option<String> {
        let t = self.args.get(key)?;
        Some(t.render_string(self.scope))
    }

    /// `key` resolved, else `default`.
    pub fn text_or(&mut self, key: &str, default: &str) -> String {
        self.text(key).unwrap_or_else(|| default.to_string())
    }

    /// `key` resolved, else the first positional argument resolved.
    pub fn text_or_positional(&mut self, key: &str) -> Option<String> {
        let t = self.args.get_or_positional(key)?;
        Some(t.render_string(self.scope))
    }

    /// `key` as an integer (arithmetic allowed), else `default`, as LPS's
    /// `ExtractNumberAsync` falls back.
    pub fn number(&mut self, key: &str, default: i64) -> i64 {
        match self.text(key) {
            Some(v) => v
                .trim()
                .parse()
                .ok()
                .or_else(|| arith::eval_int(&v))
                .unwrap_or(default),
            None => default,
        }
    }

    /// `key` as a boolean (`true`/`false`, any case), else `default`.
    pub fn flag(&mut self, key: &str, default: bool) -> bool {
        match self.text(key).map(|v| v.trim().to_ascii_lowercase()) {
            Some(v) if v == "true" => true,
            Some(v) if v == "false" => false,
            _ => default,
        }
    }

    /// Stores `result` in `variable=` when given, as `kind` (or `as=`).
    fn keep(&mut self, result: &str, kind: VarType) {
        let Some(name) = self.text("variable").filter(|n| !n.trim().is_empty()) else {
            return;
        };
        let kind = self
            .text("as")
            .and_then(|a| VarType::parse(&a))
            .unwrap_or(kind);
        let global = self.flag("isGlobal", false);
        self.scope
            .store(name.trim(), Variable::new(kind, result), global);
    }
}

#[cfg(test)]
mod tests;
