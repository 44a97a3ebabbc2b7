//! A variable as LPS keeps it: its type (`as`), its raw text, an optional
//! regex, and for a captured response its status, reason and headers; and
//! how a path reads into it (`.a.b[0]` for JSON, `[row,col]` for CSV,
//! `.Body…`, `.StatusCode`, `.Headers.X[0]` for a response).

use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

use crate::arith;

/// LPS's variable types (`as`), by the names it accepts (case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarType {
    String,
    QString,
    Json,
    QJson,
    Xml,
    QXml,
    Csv,
    QCsv,
    Float,
    Double,
    Int,
    Decimal,
    Boolean,
    HttpResponse,
}

impl VarType {
    /// The type an `as` names (`LPS:VariableTypeExtensions`); `None` for an
    /// unknown name or one lps does not hold (`Multiple`, `KeyValue`).
    pub fn parse(name: &str) -> Option<VarType> {
        use VarType as T;
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "string" | "text" => T::String,
            "qstring" => T::QString,
            "json" | "jsonstring" => T::Json,
            "qjson" | "qjsonstring" => T::QJson,
            "xml" | "xmlstring" => T::Xml,
            "qxml" | "qxmlstring" => T::QXml,
            "csv" | "csvstring" => T::Csv,
            "qcsv" | "qcsvstring" => T::QCsv,
            "float" | "single" => T::Float,
            "double" => T::Double,
            "int" | "integer" => T::Int,
            "decimal" => T::Decimal,
            "bool" | "boolean" => T::Boolean,
            "httpresponse" | "http-response" | "http_response" | "response" => T::HttpResponse,
            _ => return None,
        })
    }

    /// The quoted forms print their values in double quotes.
    fn quoted(self) -> bool {
        matches!(
            self,
            VarType::QString | VarType::QJson | VarType::QXml | VarType::QCsv
        )
    }

    /// Numbers and booleans take no path: a path on them gives the value.
    fn scalar(self) -> bool {
        matches!(
            self,
            VarType::Float | VarType::Double | VarType::Int | VarType::Decimal | VarType::Boolean
        )
    }
}

/// One variable's value.
#[derive(Debug)]
pub struct Variable {
    kind: VarType,
    raw: String,
    regex: Option<Regex>,
    /// The JSON, parsed on first use (`None`: not JSON).
    json: OnceLock<Option<Value>>,
    response: Option<Box<Response>>,
}

/// What a captured response holds besides its body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// Names as received; looked up case-insensitively.
    pub headers: Vec<(String, String)>,
}

impl Variable {
    pub fn new(kind: VarType, raw: impl Into<String>) -> Variable {
        Variable {
            kind,
            raw: raw.into(),
            regex: None,
            json: OnceLock::new(),
            response: None,
        }
    }

    /// A variable whose path reads go through `regex` (the first match).
    pub fn with_regex(mut self, regex: Option<Regex>) -> Variable {
        self.regex = regex;
        self
    }

    /// A captured response: `body` read as `kind`.
    pub fn response(kind: VarType, body: impl Into<String>, response: Response) -> Variable {
        Variable {
            response: Some(Box::new(response)),
            ..Variable::new(kind, body)
        }
    }

    pub fn kind(&self) -> VarType {
        self.kind
    }

    /// The raw text (a response's body).
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Writes the value without a path (quoted for the `Q` types).
    pub fn write_raw(&self, out: &mut String) {
        if self.kind.quoted() {
            out.push('"');
            out.push_str(&self.raw);
            out.push('"');
        } else {
            out.push_str(&self.raw);
        }
    }

    /// Writes what `path` reads; false when it reads nothing (written: "").
    pub fn write_path(&self, path: &str, out: &mut String) -> bool {
        if path.trim().is_empty() {
            self.write_raw(out);
            return true;
        }
        if let Some(response) = &self.response {
            return self.write_response_path(response, path.trim(), out);
        }
        self.write_body_path(path, out)
    }

    fn write_response_path(&self, r: &Response, path: &str, out: &mut String) -> bool {
        if let Some(rest) = strip_prefix_ci(path, ".Body") {
            return self.write_body_path(rest.trim(), out);
        }
        if path.eq_ignore_ascii_case(".StatusCode") {
            out.push_str(&r.status.to_string());
            return true;
        }
        if path.eq_ignore_ascii_case(".StatusReason") {
            out.push_str(&r.reason);
            return true;
        }
        match strip_prefix_ci(path, ".Headers.") {
            Some(name) => match header(r, name.trim()) {
                Some(v) => {
                    out.push_str(&v);
                    true
                }
                None => false,
            },
            None => false,
        }
    }

    /// A path into the body: JSON, CSV, XML (XPath), through the
    /// regex, quoted for the `Q` types.
    fn write_body_path(&self, path: &str, out: &mut String) -> bool {
        if path.is_empty() {
            self.write_raw(out);
            return true;
        }
        let found = match self.kind {
            VarType::String | VarType::QString => None,
            VarType::Json | VarType::QJson => self.json_at(path),
            VarType::Csv | VarType::QCsv => csv_at(&self.raw, path),
            VarType::Xml | VarType::QXml => xml_at(&self.raw, path),
            _ if self.kind.scalar() => Some(self.raw.clone()),
            _ => None,
        };
        let value = found.as_deref().map(|v| self.through_regex(v));
        let ok = value.as_ref().is_some_and(|v| v.is_some());
        let text = value.flatten().unwrap_or("");
        if self.kind.quoted() {
            out.push('"');
            out.push_str(text);
            out.push('"');
        } else {
            out.push_str(text);
        }
        ok
    }

    fn through_regex<'v>(&self, v: &'v str) -> Option<&'v str> {
        match &self.regex {
            None => Some(v),
            Some(re) => re.find(v).map(|m| m.as_str()),
        }
    }

    /// The JSON value, parsed once.
    pub fn json(&self) -> Option<&Value> {
        self.json
            .get_or_init(|| serde_json::from_str(&self.raw).ok())
            .as_ref()
    }

    fn json_at(&self, path: &str) -> Option<String> {
        select(self.json()?, path).map(json_text)
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// A header's value: `Name` joins repeated ones with `,`; `Name[i]` picks one.
fn header(r: &Response, spec: &str) -> Option<String> {
    let (name, index) = match spec.rfind('[') {
        Some(lb) if spec.ends_with(']') => match spec[lb + 1..spec.len() - 1].parse::<usize>() {
            Ok(i) => (&spec[..lb], Some(i)),
            Err(_) => (spec, None),
        },
        _ => (spec, None),
    };
    let values: Vec<&str> = r
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect();
    match index {
        Some(i) => values.get(i).map(|v| v.to_string()),
        None if values.is_empty() => None,
        None => Some(values.join(",")),
    }
}

/// A JSON value as Newtonsoft's `JToken.ToString()` gives it.
pub fn json_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

/// The value at `path` (`$`, `.name`, `['name']`, `[n]` with integer
/// arithmetic), the part of JSONPath LPS's plans use.
pub fn select<'v>(root: &'v Value, path: &str) -> Option<&'v Value> {
    let p: Vec<char> = path.trim().chars().collect();
    let mut i = usize::from(p.first() == Some(&'$'));
    let mut at = root;
    while i < p.len() {
        if p[i] == '[' {
            let close = (i..p.len()).find(|&j| p[j] == ']')?;
            let inner: String = p[i + 1..close].iter().collect();
            let inner = inner.trim();
            at = if let Some(name) = quoted(inner) {
                at.get(name)?
            } else {
                let n = inner
                    .parse::<i64>()
                    .ok()
                    .or_else(|| arith::eval_int(inner))?;
                at.get(usize::try_from(n).ok()?)?
            };
            i = close + 1;
            continue;
        }
        // `.name`, or a bare name (a path without a leading dot names a
        // property too).
        let start = i + usize::from(p[i] == '.');
        let end = (start..p.len())
            .find(|&j| p[j] == '.' || p[j] == '[')
            .unwrap_or(p.len());
        let name: String = p[start..end].iter().collect();
        at = at.get(name.as_str())?;
        i = end;
    }
    Some(at)
}

/// `'name'` without its quotes.
fn quoted(s: &str) -> Option<&str> {
    s.strip_prefix('\'').and_then(|s| s.strip_suffix('\''))
}

/// The text of the first node `path` (an XPath; `[1+1]` evaluated) selects.
fn xml_at(text: &str, path: &str) -> Option<String> {
    crate::xpath::first_text(text, &arith_brackets(path))
}

/// LPS's `NormalizeBracketNumericExpressions`: `[2-1]` becomes `[1]`.
fn arith_brackets(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']').map(|c| open + c) else {
            break;
        };
        let inner = &rest[open + 1..close];
        out.push_str(&rest[..open]);
        match arith::eval_int(inner) {
            Some(n) if inner.trim().parse::<i64>().is_err() => out.push_str(&format!("[{n}]")),
            _ => out.push_str(&rest[open..=close]),
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// `[row,col]` of a CSV with a header line (rows and columns from 0).
fn csv_at(text: &str, path: &str) -> Option<String> {
    let inner = path.trim().trim_start_matches('[').trim_end_matches(']');
    let (r, c) = inner.split_once(',')?;
    let index = |s: &str| s.trim().parse::<i64>().ok().or_else(|| arith::eval_int(s));
    let (row, col) = (
        usize::try_from(index(r)?).ok()?,
        usize::try_from(index(c)?).ok()?,
    );
    let records = csv_records(text);
    records.get(row + 1)?.get(col).cloned()
}

/// The records of a CSV text, the header first; fields may be quoted.
pub fn csv_records(text: &str) -> Vec<Vec<String>> {
    csv_records_at(text).into_iter().map(|(_, r)| r).collect()
}

/// [`csv_records`], each with the line it starts on (1-based; a quoted
/// field may hold line breaks).
pub fn csv_records_at(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let (mut line, mut start) = (1, 1);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => record.push(std::mem::take(&mut field)),
            ('\r', false) => {}
            ('\n', false) => {
                record.push(std::mem::take(&mut field));
                records.push((start, std::mem::take(&mut record)));
                line += 1;
                start = line;
            }
            ('\n', true) => {
                field.push(c);
                line += 1;
            }
            _ => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push((start, record));
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(v: &Variable, p: &str) -> (bool, String) {
        let mut out = String::new();
        let ok = v.write_path(p, &mut out);
        (ok, out)
    }

    #[test]
    fn types_by_lps_names() {
        assert_eq!(VarType::parse(" JSON "), Some(VarType::Json));
        assert_eq!(VarType::parse("QJsonString"), Some(VarType::QJson));
        assert_eq!(VarType::parse("integer"), Some(VarType::Int));
        assert_eq!(VarType::parse("http_response"), Some(VarType::HttpResponse));
        assert_eq!(VarType::parse("multiple"), None);
    }

    #[test]
    fn json_paths_read_as_newtonsoft_prints() {
        let v = Variable::new(
            VarType::Json,
            r#"{"a": {"b": [1, 2.5, "x", true, null, {"c": 1}]}, "n s": 3}"#,
        );
        assert_eq!(path(&v, ".a.b[0]"), (true, "1".into()));
        assert_eq!(path(&v, "$.a.b[1]"), (true, "2.5".into()));
        assert_eq!(path(&v, ".a.b[2]"), (true, "x".into()));
        assert_eq!(path(&v, ".a.b[3]"), (true, "True".into()));
        assert_eq!(path(&v, ".a.b[4]"), (true, "".into()));
        assert_eq!(path(&v, ".a.b[5]"), (true, "{\n  \"c\": 1\n}".into()));
        assert_eq!(path(&v, "['n s']"), (true, "3".into()));
        assert_eq!(path(&v, ".a.b[6]"), (false, "".into()));
        assert_eq!(path(&v, ".nope"), (false, "".into()));
        let q = Variable::new(VarType::QJson, r#"{"id": 7}"#);
        assert_eq!(path(&q, ".id"), (true, "\"7\"".into()));
        let mut raw = String::new();
        q.write_raw(&mut raw);
        assert_eq!(raw, "\"{\"id\": 7}\"");
    }

    #[test]
    fn regex_picks_from_what_the_path_read() {
        let v = Variable::new(VarType::Json, r#"{"t": "Bearer abc123"}"#)
            .with_regex(Some(Regex::new("[a-z]+[0-9]+").unwrap()));
        assert_eq!(path(&v, ".t"), (true, "abc123".into()));
        let none = Variable::new(VarType::Json, r#"{"t": "x"}"#)
            .with_regex(Some(Regex::new("[0-9]+").unwrap()));
        assert_eq!(path(&none, ".t"), (false, "".into()));
    }

    #[test]
    fn csv_cells_by_row_and_column_after_the_header() {
        let v = Variable::new(VarType::Csv, "user,pass\nann,\"p,1\"\r\nbob,p2\n");
        assert_eq!(path(&v, "[0,0]"), (true, "ann".into()));
        assert_eq!(path(&v, "[0,1]"), (true, "p,1".into()));
        assert_eq!(path(&v, "[1, 2-1]"), (true, "p2".into()));
        assert_eq!(path(&v, "[2,0]"), (false, "".into()));
    }

    #[test]
    fn responses_give_body_status_and_headers() {
        let r = Response {
            status: 201,
            reason: "Created".into(),
            headers: vec![
                ("Set-Cookie".into(), "a=1".into()),
                ("set-cookie".into(), "b=2".into()),
                ("X-Id".into(), "9".into()),
            ],
        };
        let v = Variable::response(VarType::Json, r#"{"token": "t0"}"#, r);
        assert_eq!(path(&v, ".Body.token"), (true, "t0".into()));
        assert_eq!(path(&v, ".body"), (true, r#"{"token": "t0"}"#.into()));
        assert_eq!(path(&v, ".StatusCode"), (true, "201".into()));
        assert_eq!(path(&v, ".StatusReason"), (true, "Created".into()));
        assert_eq!(path(&v, ".Headers.x-id"), (true, "9".into()));
        assert_eq!(path(&v, ".Headers.Set-Cookie[1]"), (true, "b=2".into()));
        assert_eq!(path(&v, ".Headers.Set-Cookie"), (true, "a=1,b=2".into()));
        assert_eq!(path(&v, ".Headers.Nope"), (false, "".into()));
        assert_eq!(path(&v, ".Other"), (false, "".into()));
    }

    #[test]
    fn scalars_ignore_a_path_and_strings_take_none() {
        assert_eq!(
            path(&Variable::new(VarType::Int, "5"), ".x"),
            (true, "5".into())
        );
        assert_eq!(
            path(&Variable::new(VarType::String, "abc"), ".x"),
            (false, "".into())
        );
        assert_eq!(
            path(&Variable::new(VarType::QString, "abc"), ".x"),
            (false, "\"\"".into())
        );
    }
}
