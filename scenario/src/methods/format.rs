//! `$format(template, args)` as `FormatMethod.cs`: .NET's `string.Format`
//! of `template` with `args` split on every comma (not trimmed), then the
//! placeholders in the result resolved; a bad template gives "".

use super::Cx;
use crate::template::Template;

/// Runs `$format`; stores and returns its result.
pub(super) fn run(cx: &mut Cx<'_, '_>) -> String {
    let template = cx.text_or("template", "");
    let args = cx.text_or("args", "");
    let parts: Vec<&str> = args.split(',').collect();
    let result = match dotnet_format(&template, &parts) {
        Ok(text) => match Template::compile(&text) {
            Ok(t) => t.render_string(cx.scope),
            Err(e) => {
                log::debug!("$format(): {e}");
                String::new()
            }
        },
        Err(e) => {
            log::debug!("$format(): template {template:?}: {e}");
            String::new()
        }
    };
    cx.store_text(&result);
    result
}

/// `string.Format(template, args)` for string arguments: `{i}`, `{i,width}`
/// (negative: left-aligned), `{i:format}` (ignored for strings), `{{`, `}}`.
fn dotnet_format(template: &str, args: &[&str]) -> Result<String, &'static str> {
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '}' => return Err("unmatched '}'"),
            '{' => {
                let mut item = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(ch) => item.push(ch),
                        None => return Err("unmatched '{'"),
                    }
                }
                out.push_str(&format_item(&item, args)?);
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// One `{index,alignment:format}` item.
fn format_item(item: &str, args: &[&str]) -> Result<String, &'static str> {
    let spec = item.split_once(':').map_or(item, |(s, _)| s);
    let (index, width) = match spec.split_once(',') {
        Some((i, w)) => (
            i,
            Some(w.trim().parse::<i64>().map_err(|_| "bad alignment")?),
        ),
        None => (spec, None),
    };
    let index: usize = index.trim().parse().map_err(|_| "bad index")?;
    let value = *args.get(index).ok_or("index out of range")?;
    let len = value.chars().count() as i64;
    Ok(match width {
        Some(w) if w.abs() > len => {
            let pad = " ".repeat((w.abs() - len) as usize);
            if w > 0 {
                pad + value
            } else {
                value.to_string() + &pad
            }
        }
        _ => value.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::dotnet_format;

    #[test]
    fn string_format_as_dotnet() {
        assert_eq!(dotnet_format("{0}-{1}", &["a", "b"]), Ok("a-b".into()));
        assert_eq!(dotnet_format("{1}{0}{1}", &["a", "b"]), Ok("bab".into()));
        assert_eq!(dotnet_format("{{{0}}}", &["x"]), Ok("{x}".into()));
        assert_eq!(
            dotnet_format("[{0,4}|{0,-4}]", &["ab"]),
            Ok("[  ab|ab  ]".into())
        );
        assert_eq!(dotnet_format("{0:D3}", &["7"]), Ok("7".into()));
        assert!(dotnet_format("{2}", &["a"]).is_err());
        assert!(dotnet_format("{0", &["a"]).is_err());
        assert!(dotnet_format("a}b", &["a"]).is_err());
    }
}
