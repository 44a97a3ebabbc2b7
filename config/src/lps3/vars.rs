//! The plan's global variables and what LPS resolves with them when it
//! builds the plan: plan `variables`, then each environment `-e` names over
//! them, each value resolved once (a `$random()` in it is drawn once); then
//! the placeholders of build-time fields (numbers, switches, the mode,
//! `baseUrl`, the scheme and host of a `url`) are replaced in the file's
//! tree, so the plan is read again with their values (spec 5.2).

use lps_scenario::{Globals, Scope, Session, Template, VarType, Variable as Value};

use super::check;
use super::model::{Environment, Variable};
use crate::error::ConfigError;
use crate::plan::GlobalVariable;
use crate::tree::{Entry, Node, Value as Tree};

/// Keys read once, when the plan is built, in rounds, stages, iterations,
/// requests and retries (case-insensitive).
const BUILD_TIME: &[&str] = &[
    "numberOfClients",
    "arrivalDelay",
    "startupDelay",
    "delay",
    "runInParallel",
    "delayClientCreationUntilIsNeeded",
    "mode",
    "requestCount",
    "duration",
    "batchSize",
    "coolDownTime",
    "maximizeThroughput",
    "version",
    "httpVersion",
    "supportH2C",
    "saveResponse",
    "downloadHtmlEmbeddedResources",
    "maxRetries",
    "delayInMs",
    "maxDelayInMs",
    "strategy",
    "makeGlobal",
    "baseUrl",
    "file",
    "path",
    "clientCertificatePath",
    "clientCertificatePassword",
];

/// The run's globals and their definitions, in the order they were set.
pub(super) struct Built {
    pub globals: Globals,
    pub defs: Vec<GlobalVariable>,
    /// Names `-e` gave that the plan has no environment for.
    pub missing: Vec<String>,
}

/// Evaluates the plan's variables with the environments `selected` over
/// them (matched case-insensitively, applied in the order given).
pub(super) fn build(
    file: &str,
    variables: &[Variable],
    environments: &[Environment],
    selected: &[String],
) -> Result<Built, ConfigError> {
    let mut built = Built {
        globals: Globals::default(),
        defs: Vec::new(),
        missing: Vec::new(),
    };
    for v in variables {
        set(file, &mut built, v)?;
    }
    for name in selected {
        let found = environments
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(name));
        match found {
            Some(env) => {
                for v in &env.variables {
                    set(file, &mut built, v)?;
                }
            }
            None => built.missing.push(name.clone()),
        }
    }
    Ok(built)
}

/// Evaluates `v` with the globals set so far and stores it.
fn set(file: &str, built: &mut Built, v: &Variable) -> Result<(), ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        file: file.to_owned(),
        line: Some(v.site.line),
        key: v.site.key.clone(),
        message,
    };
    let kind = VarType::parse(&v.as_type)
        .filter(|k| *k != VarType::HttpResponse)
        .ok_or_else(|| {
            invalid(format!(
                "variable \"{}\": as \"{}\" is not a type a plan variable takes",
                v.name, v.as_type
            ))
        })?;
    let regex = match v.regex.trim() {
        "" => None,
        r => Some(regex::Regex::new(r).map_err(|e| invalid(format!("regex {r:?}: {e}")))?),
    };
    let template = Template::compile(&v.value).map_err(|e| invalid(e.to_string()))?;
    let value = render(&template, &built.globals);
    built
        .globals
        .put(&v.name, Value::new(kind, value.clone()).with_regex(regex));
    built.defs.retain(|d| d.name != v.name);
    built.defs.push(GlobalVariable {
        name: v.name.clone(),
        kind,
        raw: v.value.clone(),
        value,
        regex: (!v.regex.trim().is_empty()).then(|| v.regex.trim().to_owned()),
    });
    Ok(())
}

/// `template` rendered with the globals alone (no client yet).
pub(super) fn render(template: &Template, globals: &Globals) -> String {
    let mut session = Session::new(0);
    template.render_string(&mut Scope::new(&mut session, globals))
}

/// The tree with every build-time field's placeholders resolved; a field
/// that still holds one names a variable the plan does not have.
pub(super) fn resolve_tree(
    root: &Node,
    globals: &Globals,
    file: &str,
) -> Result<Node, ConfigError> {
    let mut tree = root.clone();
    walk(&mut tree, "", globals, file)?;
    Ok(tree)
}

fn walk(node: &mut Node, key: &str, globals: &Globals, file: &str) -> Result<(), ConfigError> {
    match &mut node.value {
        Tree::Map(entries) => {
            for Entry { key, node, .. } in entries.iter_mut() {
                // Variables keep their texts: they were evaluated in order.
                if key == "variables" || key == "environments" {
                    continue;
                }
                walk(node, key, globals, file)?;
            }
        }
        Tree::List(items) => {
            for item in items {
                walk(item, key, globals, file)?;
            }
        }
        Tree::Text(text) if check::has_placeholder(text) => {
            let resolved = if key.eq_ignore_ascii_case("url") {
                resolve_authority(text, globals)
            } else if BUILD_TIME.iter().any(|k| k.eq_ignore_ascii_case(key)) {
                let t = Template::compile(text)
                    .map_err(|e| unresolved(file, node.line, key, e.to_string()))?;
                let out = render(&t, globals);
                if check::has_placeholder(&out) {
                    return Err(unresolved(
                        file,
                        node.line,
                        key,
                        format!("{text:?} names a variable the plan does not have"),
                    ));
                }
                out
            } else {
                return Ok(());
            };
            *text = resolved;
        }
        _ => {}
    }
    Ok(())
}

fn unresolved(file: &str, line: usize, key: &str, message: String) -> ConfigError {
    ConfigError::Invalid {
        file: file.to_owned(),
        line: Some(line),
        key: key.to_owned(),
        message,
    }
}

/// A `url` whose scheme and host come from global variables
/// (`${baseUrl}/items`, `$api/x`, `http://${host}:8080/`): the placeholders
/// up to the path resolved with the globals, the rest (resolved per
/// request) kept.
fn resolve_authority(url: &str, globals: &Globals) -> String {
    let mut out = url.trim().to_owned();
    for _ in 0..4 {
        if has_authority(&out) {
            break;
        }
        let Some((name, rest)) = leading_variable(&out) else {
            break;
        };
        let Some(value) = globals.get(name) else {
            break;
        };
        out = format!("{}{rest}", value.raw());
    }
    let Some(at) = out.find("://") else {
        return out;
    };
    let rest = &out[at + 3..];
    let end = authority_end(rest);
    let authority = &rest[..end];
    if !check::has_placeholder(authority) {
        return out;
    }
    match Template::compile(authority) {
        Ok(t) => format!("{}{}{}", &out[..at + 3], render(&t, globals), &rest[end..]),
        Err(_) => out,
    }
}

/// Where the authority of `rest` (after `://`) ends: the first `/` or `?`
/// outside a `${...}`.
fn authority_end(rest: &str) -> usize {
    let mut depth = 0usize;
    let mut prev = ' ';
    for (i, c) in rest.char_indices() {
        match c {
            '{' if prev == '$' || depth > 0 => depth += 1,
            '}' if depth > 0 => depth -= 1,
            '/' | '?' if depth == 0 => return i,
            _ => {}
        }
        prev = c;
    }
    rest.len()
}

/// True once `scheme://host` is written out, up to the path.
fn has_authority(url: &str) -> bool {
    let Some(at) = url.find("://") else {
        return false;
    };
    let authority = &url[at + 3..];
    let end = authority.find('/').unwrap_or(authority.len());
    !authority[..end].contains('$') && !url[..at].contains('$')
}

/// `${name}` or `$name` at the start of `url`, when it is a plain variable.
fn leading_variable(url: &str) -> Option<(&str, &str)> {
    if let Some(rest) = url.strip_prefix("${") {
        let end = rest.find('}')?;
        let name = &rest[..end];
        let plain = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        return plain.then(|| (name, &rest[end + 1..]));
    }
    let rest = url.strip_prefix('$')?;
    let end = rest
        .find(|c: char| !c.is_alphanumeric())
        .unwrap_or(rest.len());
    (end > 0).then(|| (&rest[..end], &rest[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_take_their_host_from_globals_and_keep_the_rest() {
        let g = Globals::default();
        g.put("base", Value::new(VarType::String, "http://h:1"));
        g.put("api", Value::new(VarType::String, "https://a.io/v1"));
        assert_eq!(
            resolve_authority("${base}/items/${id}", &g),
            "http://h:1/items/${id}"
        );
        assert_eq!(
            resolve_authority("$api/x?p=$counter(start=1)", &g),
            "https://a.io/v1/x?p=$counter(start=1)"
        );
        assert_eq!(resolve_authority("'${nope}/x'", &g), "'${nope}/x'");
        assert_eq!(resolve_authority("http://h/${a}", &g), "http://h/${a}");
        g.put("host", Value::new(VarType::String, "127.0.0.1"));
        assert_eq!(
            resolve_authority("http://${host}:8080/${a}", &g),
            "http://127.0.0.1:8080/${a}"
        );
        assert_eq!(resolve_authority("http://${x/y}/p", &g), "http://${x/y}/p");
    }
}
