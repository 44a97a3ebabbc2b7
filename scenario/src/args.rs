//! A method call's arguments: `key=value` pairs split on the commas that
//! are outside quotes, braces, brackets and parentheses (LPS's
//! `SplitParametersAware`), each value kept raw and compiled, so a method
//! resolves only the arguments it uses.

use crate::template::{Template, TemplateError};

/// The arguments of one call.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Args {
    items: Vec<Arg>,
}

#[derive(Debug, Clone, PartialEq)]
struct Arg {
    /// `None` for a positional argument (no `=`).
    key: Option<String>,
    raw: String,
    value: Template,
}

impl Args {
    /// Splits `raw` and compiles each value with `compile`.
    pub fn parse(
        raw: &str,
        compile: impl Fn(&str) -> Result<Template, TemplateError>,
    ) -> Result<Args, TemplateError> {
        let mut items = Vec::new();
        for piece in split(raw) {
            let (key, value) = match piece.split_once('=') {
                // `a==b` or `x>=1` are positional text, not a key.
                Some((k, v)) if is_key(k.trim()) && !v.starts_with('=') => {
                    (Some(k.trim().to_string()), v.trim())
                }
                _ => (None, piece.trim()),
            };
            if key.is_none() && value.is_empty() {
                continue;
            }
            items.push(Arg {
                key,
                raw: value.to_string(),
                value: compile(value)?,
            });
        }
        Ok(Args { items })
    }

    /// The compiled value of `key` (the first one given; keys are case-sensitive, as in LPS).
    pub fn get(&self, key: &str) -> Option<&Template> {
        self.find(key).map(|a| &a.value)
    }

    /// The raw text of `key`, for arguments a method evaluates itself later
    /// (`where`, `condition`).
    pub fn raw(&self, key: &str) -> Option<&str> {
        self.find(key).map(|a| a.raw.as_str())
    }

    /// The first argument given without a key.
    pub fn positional(&self) -> Option<&Template> {
        self.items
            .iter()
            .find(|a| a.key.is_none())
            .map(|a| &a.value)
    }

    /// The raw text of the first argument without a key.
    pub fn positional_raw(&self) -> Option<&str> {
        self.items
            .iter()
            .find(|a| a.key.is_none())
            .map(|a| a.raw.as_str())
    }

    /// `key`'s value, else the first positional one.
    pub fn get_or_positional(&self, key: &str) -> Option<&Template> {
        self.get(key).or_else(|| self.positional())
    }

    /// Every compiled value, for checks over the whole call.
    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        self.items.iter().map(|a| &a.value)
    }

    /// The keys given, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.items.iter().filter_map(|a| a.key.as_deref())
    }

    fn find(&self, key: &str) -> Option<&Arg> {
        self.items.iter().find(|a| a.key.as_deref() == Some(key))
    }
}

fn is_key(k: &str) -> bool {
    !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// LPS's `SplitParametersAware`: commas split outside `"..."`, `{}`, `()`, `[]`.
fn split(raw: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let (mut braces, mut parens, mut brackets) = (0i32, 0i32, 0i32);
    let mut quoted = false;
    for c in raw.chars() {
        if c == '"' {
            quoted = !quoted;
            current.push(c);
            continue;
        }
        if quoted {
            current.push(c);
            continue;
        }
        match c {
            '{' => braces += 1,
            '}' => braces -= 1,
            '(' => parens += 1,
            ')' => parens -= 1,
            '[' => brackets += 1,
            ']' => brackets -= 1,
            ',' if braces == 0 && parens == 0 && brackets == 0 => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(raw: &str) -> Args {
        Args::parse(raw, |t| Ok(Template::text(t))).unwrap()
    }

    #[test]
    fn commas_inside_quotes_and_brackets_do_not_split() {
        let a = args(r#"source=${users.Body}, path=$.items[?(@.a,b)], where="x,y", variable=out"#);
        assert_eq!(a.raw("source"), Some("${users.Body}"));
        assert_eq!(a.raw("path"), Some("$.items[?(@.a,b)]"));
        assert_eq!(a.raw("where"), Some("\"x,y\""));
        assert_eq!(a.raw("variable"), Some("out"));
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            ["source", "path", "where", "variable"]
        );
    }

    #[test]
    fn a_value_without_a_key_is_positional() {
        let a = args("$users.Body, variable=n");
        assert_eq!(a.positional_raw(), Some("$users.Body"));
        assert_eq!(a.raw("variable"), Some("n"));
        assert_eq!(args("a==b").positional_raw(), Some("a==b"));
        // The first of a key wins.
        assert_eq!(args("a=1, a=2").raw("a"), Some("1"));
        assert!(args("").positional_raw().is_none());
    }
}
