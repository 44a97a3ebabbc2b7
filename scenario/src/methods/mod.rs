//! LPS's declarative methods (`$uuid()`, `$counter(start=1)`, ...): the
//! registry that names them (case-insensitive, with LPS's aliases), and the
//! context a method runs in. Each method resolves only the arguments it
//! reads, writes its result, and stores it in `variable=` when asked
//! (`isGlobal=true`: for every client).
//!
//! - `core`: identifiers, randomness, time, counters, variables, text.
//! - `math`: arithmetic over numbers and lists, and comparisons.
//! - `cond`: `$setvariableif`, `$readif`, `$randomItem`.
//! - `read`: `$read` and the source reader `$readif` and `$jwtsign` share.
//! - `find`: `$find` over JSON.
//! - `findxml`: `$findxml` over XML.
//! - `crypto`: `$hash`, `$hmac`, `$jwtsign`, `$jwtclaim`.
//! - `format`: `$format`.
//! - `feed`: `$feed`, beyond LPS: a data file's next row for the client.
//! - `store`: storing a typed result; .NET number text.

mod cond;
mod core;
mod crypto;
mod feed;
mod find;
mod findxml;
mod format;
mod math;
mod read;
pub(crate) mod store;

pub(crate) use read::decode;

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
    RandomItem,
    Hash,
    Hmac,
    Format,
    JwtClaim,
    JwtSign,
    Read,
    ReadIf,
    Find,
    FindXml,
    SetVariableIf,
    Sum,
    Min,
    Max,
    Multiply,
    Average,
    Divide,
    Subtract,
    Mod,
    Pow,
    Abs,
    Floor,
    Ceil,
    Round,
    Clamp,
    GreaterThan,
    SmallerThan,
    GreaterThanOrEqual,
    SmallerThanOrEqual,
    Greater,
    Less,
    Equal,
    StringEquals,
    /// Beyond LPS: a feeder's next row.
    Feed,
}

/// Why a method name is not runnable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Not one of LPS's methods.
    Unknown,
    /// One of LPS's, which lps does not run yet.
    NotYet,
}

/// LPS's methods lps does not run yet, named apart so that the error says
/// so (none left; kept for methods LPS adds).
const NOT_YET: &[&str] = &[];

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
        "randomitem" => M::RandomItem,
        "hash" => M::Hash,
        "hmac" => M::Hmac,
        "format" => M::Format,
        "jwtclaim" => M::JwtClaim,
        "jwtsign" => M::JwtSign,
        "read" => M::Read,
        "readif" => M::ReadIf,
        "find" => M::Find,
        "findxml" => M::FindXml,
        "setvariableif" | "setif" => M::SetVariableIf,
        "feed" => M::Feed,
        other => return math_lookup(other),
    })
}

/// The math and comparison methods' names.
fn math_lookup(lower: &str) -> Result<MethodId, Lookup> {
    use MethodId as M;
    Ok(match lower {
        "sum" => M::Sum,
        "min" => M::Min,
        "max" => M::Max,
        "multiply" => M::Multiply,
        "average" | "avg" => M::Average,
        "divide" => M::Divide,
        "subtract" => M::Subtract,
        "mod" => M::Mod,
        "pow" => M::Pow,
        "abs" => M::Abs,
        "floor" => M::Floor,
        "ceil" => M::Ceil,
        "round" => M::Round,
        "clamp" => M::Clamp,
        "greaterthan" => M::GreaterThan,
        "smallerthan" => M::SmallerThan,
        "greaterthanorequal" => M::GreaterThanOrEqual,
        "smallerthanorequal" => M::SmallerThanOrEqual,
        "greater" => M::Greater,
        "less" => M::Less,
        "equal" => M::Equal,
        "stringequals" => M::StringEquals,
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
    use MethodId as M;
    let result = match call.method {
        M::SetVariable | M::RandomItem | M::SetVariableIf | M::ReadIf => {
            cond::run(call.method, &mut cx)
        }
        M::Read => read::run(&mut cx),
        M::Find => find::run(&mut cx),
        M::FindXml => findxml::run(&mut cx),
        M::Hash | M::Hmac | M::JwtSign | M::JwtClaim => crypto::run(call.method, &mut cx),
        M::Format => format::run(&mut cx),
        M::Feed => feed::run(&mut cx),
        m if math::handles(m) => math::run(m, &mut cx),
        m => {
            let (result, kind) = core::run(m, &mut cx);
            cx.keep(&result, kind);
            result
        }
    };
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

    /// The first positional argument resolved.
    pub fn positional_text(&mut self) -> Option<String> {
        let t = self.args.positional()?;
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

    /// `key`'s template, to render only when needed (`default`, `value`).
    pub fn template(&self, key: &str) -> Option<&crate::template::Template> {
        self.args.get(key)
    }

    /// `variable=`, trimmed ("" when not given).
    pub fn variable(&mut self) -> String {
        self.text_or("variable", "").trim().to_string()
    }

    /// Stores `value` in `variable=` as LPS's `StoreTypedVariableAsync` does
    /// with `as_type` (`isGlobal=true`: for every client).
    pub fn store(&mut self, value: &serde_json::Value, as_type: &str) {
        let name = self.variable();
        if name.is_empty() {
            return;
        }
        let global = self.flag("isGlobal", false);
        let var = store::typed_variable(value, as_type);
        self.scope.store(&name, var, global);
    }

    /// Stores `text` as a string (what LPS's text methods and failures do).
    pub fn store_text(&mut self, text: &str) {
        self.store(&serde_json::Value::String(text.to_string()), "string");
    }

    /// Stores "true"/"false" as a boolean and returns it.
    pub fn store_bool(&mut self, value: bool) -> String {
        self.store(&serde_json::Value::Bool(value), "bool");
        value.to_string()
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
