//! Text with LPS placeholders (`${name.path}`, `$name`, `$method(args)`,
//! `$$`), compiled once into parts and rendered per request.
//!
//! The grammar is LPS's resolver's (`PlaceholderResolverService`): a `${`
//! runs to its matching `}`; a bare `$name` stops at the first character
//! that is not a letter, a digit or one of `. / [ ]`, outside brackets and
//! parentheses; a placeholder ending in `)` is a method call whose
//! arguments the method resolves itself; a variable placeholder that holds
//! another (`${a.${p}}`) resolves the inner one first.

use crate::args::Args;
use crate::methods::{self, MethodId};
use crate::scope::Scope;

/// Most nested placeholders resolved inside one another (LPS's limit).
const MAX_DEPTH: usize = 10;

/// Compiled text; [`Template::render`] writes it out for one client.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    /// A variable and its path, known when compiled.
    Var {
        name: String,
        path: String,
    },
    /// A variable whose name or path holds placeholders.
    DynVar(Template),
    Call(Call),
}

/// A method call: the method and its arguments, unresolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub method: MethodId,
    pub args: Args,
}

/// Why a text is not a template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unmatched '{{' in {0:?}")]
    Unmatched(String),
    #[error("unknown method ${0}()")]
    UnknownMethod(String),
    #[error("method ${0}() is not supported by lps yet")]
    MethodNotYet(String),
    #[error("placeholders nest deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

impl Template {
    /// Compiles `text`; a text with a placeholder is trimmed first, as LPS
    /// trims what it resolves.
    pub fn compile(text: &str) -> Result<Template, TemplateError> {
        compile_at(text, 0)
    }

    /// A template that renders `text` as it is.
    pub fn text(text: impl Into<String>) -> Template {
        Template {
            parts: vec![Part::Text(text.into())],
        }
    }

    /// True when rendering gives the same text every time: no placeholder.
    pub fn is_static(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// The text of a static template.
    pub fn as_static(&self) -> Option<String> {
        self.is_static().then(|| {
            self.parts
                .iter()
                .map(|p| match p {
                    Part::Text(t) => t.as_str(),
                    _ => "",
                })
                .collect()
        })
    }

    /// The methods this template calls, nested arguments included.
    pub fn methods(&self) -> Vec<MethodId> {
        self.calls().into_iter().map(|c| c.method).collect()
    }

    /// The method calls of this template, nested arguments included.
    pub fn calls(&self) -> Vec<&Call> {
        let mut out = Vec::new();
        self.collect_calls(&mut out);
        out
    }

    fn collect_calls<'t>(&'t self, out: &mut Vec<&'t Call>) {
        for part in &self.parts {
            match part {
                Part::Call(c) => {
                    out.push(c);
                    for t in c.args.templates() {
                        t.collect_calls(out);
                    }
                }
                Part::DynVar(t) => t.collect_calls(out),
                _ => {}
            }
        }
    }

    /// The names of the variables this template reads (not those a dynamic
    /// name builds at run time).
    pub fn variables(&self) -> Vec<&str> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Var { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The text with each placeholder replaced by `marker`: what an
    /// expression looks like before its values are known.
    pub fn skeleton(&self, marker: char) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.clone(),
                _ => marker.to_string(),
            })
            .collect()
    }

    /// Every variable this template reads by a name known when compiled,
    /// in method arguments and nested placeholders too.
    pub fn reads(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_reads(&mut out);
        out
    }

    fn collect_reads<'t>(&'t self, out: &mut Vec<&'t str>) {
        for part in &self.parts {
            match part {
                Part::Var { name, .. } => out.push(name),
                Part::DynVar(inner) => inner.collect_reads(out),
                Part::Call(c) => c.args.templates().for_each(|t| t.collect_reads(out)),
                Part::Text(_) => {}
            }
        }
    }

    /// The variables this template's method calls store (`variable=NAME`,
    /// and the comparisons' `numberVariable=NAME`, written out).
    pub fn sets(&self) -> Vec<&str> {
        self.calls()
            .into_iter()
            .flat_map(|c| [c.args.raw("variable"), c.args.raw("numberVariable")])
            .flatten()
            .filter(|name| !name.contains('$') && !name.is_empty())
            .collect()
    }

    /// Appends the text for the client of `scope` to `out`.
    pub fn render(&self, scope: &mut Scope<'_>, out: &mut String) {
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Var { name, path } => scope.write_variable(name, path, out),
                Part::DynVar(inner) => {
                    let mut name = String::new();
                    inner.render(scope, &mut name);
                    let (name, path) = split_name(&name);
                    scope.write_variable(name, path, out);
                }
                Part::Call(call) => methods::call(call, scope, out),
            }
        }
    }

    /// The text for the client of `scope`.
    pub fn render_string(&self, scope: &mut Scope<'_>) -> String {
        let mut out = String::new();
        self.render(scope, &mut out);
        out
    }
}

fn compile_at(text: &str, depth: usize) -> Result<Template, TemplateError> {
    if depth > MAX_DEPTH {
        return Err(TemplateError::TooDeep);
    }
    let text = if text.contains('$') {
        text.trim()
    } else {
        text
    };
    let s: Vec<char> = text.chars().collect();
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut i = 0;
    while i < s.len() {
        if s[i] != '$' || i + 1 >= s.len() {
            literal.push(s[i]);
            i += 1;
            continue;
        }
        if s[i + 1] == '$' {
            literal.push('$');
            i += 2;
            continue;
        }
        let (content, next) = if s[i + 1] == '{' && i + 2 < s.len() {
            let end =
                matching_brace(&s, i + 2).ok_or_else(|| TemplateError::Unmatched(text.into()))?;
            (&s[i + 2..end], end + 1)
        } else {
            let end = bare_end(&s, i + 1);
            (&s[i + 1..end], end)
        };
        if content.is_empty() {
            // A lone `$` (LPS would print `${}` for it).
            literal.push('$');
            i += 1;
            continue;
        }
        if !literal.is_empty() {
            parts.push(Part::Text(std::mem::take(&mut literal)));
        }
        let content: String = content.iter().collect();
        parts.push(placeholder(&content, depth)?);
        i = next;
    }
    if !literal.is_empty() {
        parts.push(Part::Text(literal));
    }
    Ok(Template { parts })
}

/// One placeholder's content: a method call or a variable.
fn placeholder(content: &str, depth: usize) -> Result<Part, TemplateError> {
    if content.ends_with(')')
        && let Some(open) = content.find('(')
    {
        let name = content[..open].trim();
        let method = methods::lookup(name).map_err(|e| match e {
            methods::Lookup::Unknown => TemplateError::UnknownMethod(name.into()),
            methods::Lookup::NotYet => TemplateError::MethodNotYet(name.into()),
        })?;
        let raw = content[open + 1..content.len() - 1].trim();
        let args = Args::parse(raw, |t| compile_at(t, depth + 1))?;
        return Ok(Part::Call(Call { method, args }));
    }
    if content.contains('$') {
        return Ok(Part::DynVar(compile_at(content, depth + 1)?));
    }
    let (name, path) = split_name(content);
    Ok(Part::Var {
        name: name.into(),
        path: path.into(),
    })
}

/// A variable placeholder's name, and its path from the first `.`, `/` or `[`.
pub(crate) fn split_name(content: &str) -> (&str, &str) {
    match content.find(['.', '/', '[']) {
        Some(at) => (&content[..at], &content[at..]),
        None => (content, ""),
    }
}

/// Index of the `}` closing a `${` whose content starts at `from`.
fn matching_brace(s: &[char], from: usize) -> Option<usize> {
    let mut balance = 1;
    for (at, c) in s.iter().enumerate().skip(from) {
        match c {
            '{' => balance += 1,
            '}' => {
                balance -= 1;
                if balance == 0 {
                    return Some(at);
                }
            }
            _ => {}
        }
    }
    None
}

/// Where a bare `$name` placeholder starting at `from` ends (exclusive):
/// LPS's `FindStopperIndex`.
fn bare_end(s: &[char], from: usize) -> usize {
    let mut end = from;
    let (mut parens, mut brackets) = (0i32, 0i32);
    let mut is_method = false;
    let (mut last, mut current) = (' ', ' ');
    while end < s.len() {
        current = s[end];
        match current {
            '(' => {
                parens += 1;
                is_method = true;
            }
            ')' => parens -= 1,
            '[' => brackets += 1,
            ']' => brackets -= 1,
            _ => {}
        }
        let path_char = matches!(current, '.' | '/' | '[' | ']');
        if (parens <= 0 && brackets <= 0 && !current.is_alphanumeric() && !path_char)
            || parens < 0
            || brackets < 0
        {
            break;
        }
        last = current;
        end += 1;
    }
    if is_method && current == ')' && parens == 0 {
        end += 1;
    }
    // "[$x, $y]": the `]` closes the list, not `$y`.
    if brackets != 0 && (last == '[' || last == ']') {
        end -= 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::{Globals, Session};
    use crate::variable::{VarType, Variable};

    fn render(text: &str, globals: &Globals, session: &mut Session) -> String {
        let t = Template::compile(text).expect(text);
        let mut scope = Scope::new(session, globals);
        t.render_string(&mut scope)
    }

    fn globals(vars: &[(&str, VarType, &str)]) -> Globals {
        let g = Globals::default();
        for (name, kind, value) in vars {
            g.put(name, Variable::new(*kind, *value));
        }
        g
    }

    #[test]
    fn text_without_placeholders_is_static_and_untouched() {
        let t = Template::compile("  /api/items?a=1  ").unwrap();
        assert!(t.is_static());
        assert_eq!(t.as_static().as_deref(), Some("  /api/items?a=1  "));
        let g = Globals::default();
        assert_eq!(render("price $$5", &g, &mut Session::new(1)), "price $5");
        assert_eq!(render("a $ b", &g, &mut Session::new(1)), "a $ b");
        assert_eq!(
            render("ends with $", &g, &mut Session::new(1)),
            "ends with $"
        );
    }

    #[test]
    fn variables_resolve_in_braces_and_bare() {
        let g = globals(&[
            ("host", VarType::String, "example"),
            ("n", VarType::Int, "7"),
        ]);
        let mut s = Session::new(1);
        assert_eq!(
            render("http://${host}:8080/", &g, &mut s),
            "http://example:8080/"
        );
        assert_eq!(render("$host,$n;", &g, &mut s), "example,7;");
        assert_eq!(render("$host_x", &g, &mut s), "example_x");
        // An unknown variable stays as written, path included (LPS).
        assert_eq!(render("${nope.a[0]}", &g, &mut s), "${nope.a[0]}");
    }

    #[test]
    fn the_session_wins_over_the_globals() {
        let g = globals(&[("user", VarType::String, "global")]);
        let mut s = Session::new(1);
        s.put("user", Variable::new(VarType::String, "mine"));
        assert_eq!(render("${user}", &g, &mut s), "mine");
        assert_eq!(render("${user}", &g, &mut Session::new(2)), "global");
    }

    #[test]
    fn json_paths_and_nested_placeholders() {
        let g = globals(&[
            (
                "doc",
                VarType::Json,
                r#"{"items": [{"id": 4}, {"id": 9}], "k": "id"}"#,
            ),
            ("i", VarType::Int, "1"),
            ("field", VarType::String, "k"),
        ]);
        let mut s = Session::new(1);
        assert_eq!(render("${doc.items[1].id}", &g, &mut s), "9");
        assert_eq!(render("${doc.items[${i}].id}", &g, &mut s), "9");
        assert_eq!(render("${doc.${field}}", &g, &mut s), "id");
        assert_eq!(render("${doc.items[2-1].id}", &g, &mut s), "9");
        assert_eq!(render("${doc.missing}", &g, &mut s), "");
    }

    #[test]
    fn bare_placeholders_stop_where_lps_stops() {
        let s: Vec<char> = "$a.b[0],x".chars().collect();
        assert_eq!(bare_end(&s, 1), 7);
        let s: Vec<char> = "[$x, $y]".chars().collect();
        assert_eq!(bare_end(&s, 2), 3);
        assert_eq!(bare_end(&s, 6), 7);
        let s: Vec<char> = "$uuid() tail".chars().collect();
        assert_eq!(bare_end(&s, 1), 7);
    }

    #[test]
    fn unknown_methods_and_unmatched_braces_are_errors() {
        assert_eq!(
            Template::compile("${nosuch(a=1)}"),
            Err(TemplateError::UnknownMethod("nosuch".into()))
        );
        assert!(matches!(
            Template::compile("x ${a"),
            Err(TemplateError::Unmatched(_))
        ));
    }
}
