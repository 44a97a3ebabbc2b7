//! An iteration's LPS 3.x script lowered for the engine: its expressions
//! (`skipIf`, `before`, `after`, `retry.if`, `stopIf`), the parts of its
//! request LPS resolves per request (method, path and query, header values,
//! a raw payload) compiled into templates, and its capture. A fault names
//! the plan file, line and key.

use std::cell::RefCell;

use lps_scenario::feed::{self, Format, Strategy};
use lps_scenario::methods::MethodId;
use lps_scenario::{Call, Template, VarType, expr};

use super::check;
use super::model::{self, Payload, Site};
use crate::error::ConfigError;
use crate::plan::{Capture, RequestScript, Script};

/// What [`lower_script`] splits off a request: its fixed parts.
pub(super) struct Fixed {
    /// The URL with any per-request path replaced by `/`.
    pub url: String,
    /// The per-request path and query as written, shown in reports.
    pub path_text: Option<String>,
    /// Headers whose values hold no placeholder.
    pub headers: Vec<(String, String)>,
    /// The method, `GET` when it is a template.
    pub method: String,
}

/// Where a template reads and sets variables, for the check that every
/// variable read is set somewhere in the plan.
pub(super) struct Use {
    pub line: usize,
    pub key: String,
    pub reads: Vec<String>,
    pub sets: Vec<String>,
}

/// The iteration's script, `None` when it has nothing per request (then
/// the engine sends fixed bytes), the request's fixed parts, and where its
/// templates read and set variables.
pub(super) fn lower_script(
    file: &str,
    at: &str,
    it: &model::Iteration,
) -> Result<(Option<Script>, Fixed, Vec<Use>), ConfigError> {
    let c = Compiler {
        file,
        uses: RefCell::new(Vec::new()),
    };
    let req = &it.request;
    let line = it.line;
    let (url, path) = c.split_url(line, &format!("{at}.httpRequest.url"), &req.url)?;
    let mut script = RequestScript {
        path,
        ..RequestScript::default()
    };
    let path_text = url
        .find("://")
        .and_then(|at| url[at + 3..].find(['/', '?']).map(|p| at + 3 + p))
        .filter(|_| script.path.is_some())
        .map(|p| req.url[p..].to_owned());
    let mut fixed = Fixed {
        url,
        path_text,
        headers: Vec::new(),
        method: req.method.clone(),
    };
    if check::has_placeholder(&req.method) {
        script.method = Some(c.compile(line, &format!("{at}.httpRequest.method"), &req.method)?);
        fixed.method = "GET".into();
    }
    for (name, value) in &req.headers {
        let key = format!("{at}.httpRequest.headers.{name}");
        if check::has_placeholder(name) {
            return Err(c.refuse(line, &key, "a header name cannot hold a placeholder"));
        }
        if check::has_placeholder(value) {
            script
                .headers
                .push((name.clone(), c.compile(line, &key, value)?));
        } else {
            fixed.headers.push((name.clone(), value.clone()));
        }
    }
    script.body = c.body(line, &format!("{at}.httpRequest.payload"), &req.payload)?;
    script.capture = req.capture.as_ref().map(|cap| c.capture(cap)).transpose()?;
    script.skip_if = c.condition(req.skip_if.as_ref())?;
    script.before = c.all(&req.before)?;
    script.after = c.all(&req.after)?;
    if let Some(retry) = &req.retry {
        script.retry_if = c.expression(retry.retry_if.as_ref())?;
        script.stop_if = c.expression(retry.stop_if.as_ref())?;
    }
    let script = Script {
        skip_if: c.condition(it.skip_if.as_ref())?,
        before: c.all(&it.before)?,
        after: c.all(&it.after)?,
        request: script,
    };
    let empty = script == Script::default();
    Ok(((!empty).then_some(script), fixed, c.uses.into_inner()))
}

struct Compiler<'a> {
    file: &'a str,
    uses: RefCell<Vec<Use>>,
}

impl Compiler<'_> {
    fn refuse(&self, line: usize, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_owned(),
            line: Some(line),
            key: key.to_owned(),
            message: message.into(),
        }
    }

    fn compile(&self, line: usize, key: &str, text: &str) -> Result<Template, ConfigError> {
        let template =
            Template::compile(text).map_err(|e| self.refuse(line, key, e.to_string()))?;
        for call in template.calls() {
            if call.method == MethodId::Feed {
                self.feed(call)
                    .map_err(|m| self.refuse(line, key, format!("$feed: {m}")))?;
            }
        }
        self.uses.borrow_mut().push(Use {
            line,
            key: key.to_owned(),
            reads: template.reads().into_iter().map(str::to_owned).collect(),
            sets: template.sets().into_iter().map(str::to_owned).collect(),
        });
        Ok(template)
    }

    /// A `$feed` call's fixed arguments, and its file read now when its
    /// `source` is fixed, so that a missing file or a short CSV row stops
    /// the plan before any load.
    fn feed(&self, call: &Call) -> Result<(), String> {
        let fixed = |key: &str| call.args.get(key).and_then(Template::as_static);
        if call.args.get("variable").is_none() {
            return Err("variable= (the name the row is stored as) is required".into());
        }
        if let Some(s) = fixed("strategy")
            && Strategy::parse(&s).is_none()
        {
            return Err(format!("strategy {s:?} is not queue, circular or random"));
        }
        let source = call.args.get_or_positional("source");
        let Some(source) = source.and_then(Template::as_static) else {
            return match source {
                None => Err("source= (the data file) is required".into()),
                // Known only at run time: a file that cannot be read then gives no rows.
                Some(_) => Ok(()),
            };
        };
        let format_name = fixed("format").unwrap_or_default();
        let format = Format::parse(&format_name, source.trim())
            .ok_or_else(|| format!("format {format_name:?} is not csv, json or text"))?;
        feed::load(source.trim(), format)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    fn one(&self, script: Option<&model::Script>) -> Result<Option<Template>, ConfigError> {
        script
            .map(|s| self.compile(s.site.line, &s.site.key, &s.text))
            .transpose()
    }

    fn all(&self, scripts: &[model::Script]) -> Result<Vec<Template>, ConfigError> {
        scripts
            .iter()
            .map(|s| self.compile(s.site.line, &s.site.key, &s.text))
            .collect()
    }

    /// A retry condition that is an expression; a literal `true`/`false`
    /// is lowered as such elsewhere.
    fn expression(&self, script: Option<&model::Script>) -> Result<Option<Template>, ConfigError> {
        match script {
            Some(s) if model::literal_bool(&s.text).is_none() => self.condition(Some(s)),
            _ => Ok(None),
        }
    }

    /// An expression (`skipIf`, a retry's `if`/`stopIf`), checked before its
    /// values are known: LPS would take a malformed one as false on every
    /// request.
    fn condition(&self, script: Option<&model::Script>) -> Result<Option<Template>, ConfigError> {
        let Some(t) = self.one(script)? else {
            return Ok(None);
        };
        if let Some(s) = script {
            expr::check(&t.skeleton(expr::ANY)).map_err(|e| {
                self.refuse(
                    s.site.line,
                    &s.site.key,
                    format!("{:?} is not an expression lps can evaluate: {e}", s.text),
                )
            })?;
        }
        Ok(Some(t))
    }

    /// The URL's fixed part and its per-request path and query, if any.
    /// Its scheme and host must be known by now (global variables were
    /// resolved when the plan was read).
    fn split_url(
        &self,
        line: usize,
        key: &str,
        url: &str,
    ) -> Result<(String, Option<Template>), ConfigError> {
        if !check::has_placeholder(url) {
            return Ok((url.to_owned(), None));
        }
        let Some(at) = url.find("://") else {
            return Err(self.refuse(
                line,
                key,
                format!("{url:?}: its scheme and host must come from global variables"),
            ));
        };
        let rest = &url[at + 3..];
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &url[..at + 3 + end];
        if check::has_placeholder(authority) {
            return Err(self.refuse(
                line,
                key,
                format!("{url:?}: its scheme and host must come from global variables"),
            ));
        }
        let path = &rest[end..];
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        Ok((
            format!("{authority}/"),
            Some(self.compile(line, key, &path)?),
        ))
    }

    /// A raw payload with placeholders; files and multipart parts are
    /// fixed (their placeholders are refused).
    fn body(
        &self,
        line: usize,
        key: &str,
        payload: &Payload,
    ) -> Result<Option<Template>, ConfigError> {
        match payload {
            Payload::Raw(text) if check::has_placeholder(text) => {
                Ok(Some(self.compile(line, key, text)?))
            }
            Payload::Multipart { fields, .. }
                if fields.iter().any(|f| check::has_placeholder(&f.value)) =>
            {
                Err(self.refuse(
                    line,
                    key,
                    "placeholders in multipart field values are not supported by lps yet",
                ))
            }
            _ => Ok(None),
        }
    }

    fn capture(&self, c: &model::Capture) -> Result<Capture, ConfigError> {
        let Site { line, key } = &c.site;
        let kind = VarType::parse(&c.as_type).ok_or_else(|| {
            self.refuse(
                *line,
                key,
                format!("as {:?} is not an LPS variable type", c.as_type),
            )
        })?;
        let regex = match c.regex.trim() {
            "" => None,
            r => {
                regex::Regex::new(r)
                    .map_err(|e| self.refuse(*line, key, format!("regex {r:?}: {e}")))?;
                Some(r.to_owned())
            }
        };
        self.uses.borrow_mut().push(Use {
            line: *line,
            key: key.clone(),
            reads: Vec::new(),
            sets: vec![c.to.clone()],
        });
        Ok(Capture {
            to: c.to.clone(),
            kind,
            regex,
            global: c.make_global,
        })
    }
}
