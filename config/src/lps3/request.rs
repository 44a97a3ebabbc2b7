//! Reading iterations and their requests: the case-insensitive levels
//! (iteration, `httpRequest`, `retry`) and the exact ones inside them
//! (payload, capture, rules).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::check::{self, ModeFields, Num, NumField};
use super::load::{Field, Fields, Keys, Reader, item_field};
use super::model::{
    Capture, ClientCertificate, FileField, HttpRequest, HttpVersion, Iteration, Payload, Retry,
    Rule, Site, TextField,
};
use crate::error::ConfigError;
use crate::locate::KeyPath;
use crate::tree::Node;

impl Reader {
    pub(super) fn iteration(
        &mut self,
        node: &Node,
        path: &KeyPath,
    ) -> Result<Iteration, ConfigError> {
        let mut fields = self.fields(node, path, Keys::Loose, "an iteration", ITERATION_KEYS)?;
        let name = self.name(fields.take(&["name"]).as_ref(), &fields.site)?;
        let startup_delay = self.millis(fields.take(&["delay", "startupDelay"]).as_ref())?;
        let mode = ModeFields {
            mode: self.text(fields.take(&["mode"]).as_ref())?,
            request_count: self.num_field(fields.take(&["requestCount"]).as_ref())?,
            duration: self.num_field(fields.take(&["duration"]).as_ref())?,
            batch_size: self.num_field(fields.take(&["batchSize"]).as_ref())?,
            cool_down: self.num_field(fields.take(&["coolDownTime"]).as_ref())?,
        };
        let mode_site = Site {
            key: format!("{} \"{name}\"", fields.site.key),
            line: node.line,
        };
        let mode =
            check::mode(&mode).map_err(|(site, m)| self.invalid(site.unwrap_or(&mode_site), m))?;
        let maximize_throughput = self.flag(fields.take(&["maximizeThroughput"]).as_ref())?;
        let skip_if = self.script(fields.take(&["skipIf"]).as_ref())?;
        let before = self.scripts(fields.take(&["before"]).as_ref())?;
        let after = self.scripts(fields.take(&["after"]).as_ref())?;
        let failure_rules = self.rules(fields.take(&["failureRules"]).as_ref(), false)?;
        let termination_rules = self.rules(fields.take(&["terminationRules"]).as_ref(), true)?;
        let request_field = fields.take(&["httpRequest"]);
        let request_path = path.key("httpRequest");
        let empty = Node::empty(node.line);
        let request = match request_field {
            Some(field) => self.request(&field)?,
            None => self.request(&Field {
                site: Site {
                    key: request_path.to_string(),
                    line: node.line,
                },
                path: request_path,
                node: &empty,
            })?,
        };
        fields.finish(self)?;
        Ok(Iteration {
            name,
            line: node.line,
            mode,
            maximize_throughput,
            startup_delay,
            request,
            skip_if,
            before,
            after,
            failure_rules,
            termination_rules,
        })
    }

    fn num_field(&mut self, field: Option<&Field>) -> Result<Option<NumField>, ConfigError> {
        let num = self.int(field)?;
        Ok(field.and_then(|f| {
            (!matches!(num, Num::Absent)).then(|| NumField {
                num,
                site: f.site.clone(),
            })
        }))
    }

    fn request(&mut self, field: &Field) -> Result<HttpRequest, ConfigError> {
        let mut fields = self.fields_at(field, Keys::Loose, "httpRequest", REQUEST_KEYS)?;
        let url_field = fields.take(&["url"]);
        let url = self.text(url_field.as_ref())?.unwrap_or_default();
        let url_site = url_field.as_ref().map_or(&fields.site, |f| &f.site).clone();
        check::url_as_written(&url).map_err(|m| self.invalid(&url_site, m))?;
        let method = self.method(
            fields.take(&["method", "httpMethod"]).as_ref(),
            &fields.site,
        )?;
        let (version, support_h2c) = self.version(&mut fields, &url)?;
        let headers = self.headers(fields.take(&["headers", "httpHeaders"]).as_ref())?;
        let payload = match fields.take(&["payload"]) {
            Some(field) => self.payload(&field)?,
            None => Payload::Raw(String::new()),
        };
        let save_response = self.flag(fields.take(&["saveResponse"]).as_ref())?;
        let download_html_embedded_resources =
            self.flag(fields.take(&["downloadHtmlEmbeddedResources"]).as_ref())?;
        let retry = match fields.take(&["retry"]) {
            Some(field) if !field.node.is_null() => Some(self.retry(&field)?),
            _ => None,
        };
        let client_certificate = self.certificate(&mut fields)?;
        let capture = match fields.take(&["capture"]) {
            Some(field) if !field.node.is_null() => Some(self.capture(&field)?),
            _ => None,
        };
        let skip_if = self.script(fields.take(&["skipIf"]).as_ref())?;
        let before = self.scripts(fields.take(&["before"]).as_ref())?;
        let after = self.scripts(fields.take(&["after"]).as_ref())?;
        fields.finish(self)?;
        Ok(HttpRequest {
            method,
            url,
            version,
            support_h2c,
            headers,
            payload,
            save_response,
            download_html_embedded_resources,
            retry,
            client_certificate,
            capture,
            skip_if,
            before,
            after,
        })
    }

    /// `version` (default `2.0`) and `supportH2C`, which needs an `http://`
    /// URL and the version written as `2.0`.
    fn version(
        &mut self,
        fields: &mut Fields,
        url: &str,
    ) -> Result<(HttpVersion, bool), ConfigError> {
        let version_field = fields.take(&["version", "httpVersion"]);
        let version_text = self
            .text(version_field.as_ref())?
            .unwrap_or_else(|| "2.0".to_owned());
        let version_site = version_field
            .as_ref()
            .map_or(&fields.site, |f| &f.site)
            .clone();
        let version = check::version(&version_text).map_err(|m| self.invalid(&version_site, m))?;
        let h2c_field = fields.take(&["supportH2C"]);
        let support_h2c = self.flag(h2c_field.as_ref())?;
        if support_h2c {
            let site = h2c_field.as_ref().map_or(&fields.site, |f| &f.site);
            check::h2c(url, &version_text).map_err(|m| self.invalid(site, m))?;
        }
        Ok((version, support_h2c))
    }

    fn method(&mut self, field: Option<&Field>, request: &Site) -> Result<String, ConfigError> {
        let method = self.text(field)?.unwrap_or_default();
        let site = field.map_or(request, |f| &f.site);
        check::method(&method).map_err(|m| self.invalid(site, m))
    }

    /// Headers in file order; a null value is an empty one (as LPS).
    fn headers(&mut self, field: Option<&Field>) -> Result<Vec<(String, String)>, ConfigError> {
        let Some(field) = field else {
            return Ok(Vec::new());
        };
        let mut fields = self.fields_at(field, Keys::Loose, "headers", &[])?;
        let mut headers = Vec::new();
        while let Some(entry) = fields.next_entry() {
            let value = self.text(Some(&entry.1))?.unwrap_or_default();
            headers.push((entry.0, value));
        }
        Ok(headers)
    }

    fn certificate(
        &mut self,
        fields: &mut Fields,
    ) -> Result<Option<ClientCertificate>, ConfigError> {
        let path_field = fields.take(&["clientCertificatePath"]);
        let password = self.text(fields.take(&["clientCertificatePassword"]).as_ref())?;
        let Some(path) = self.text(path_field.as_ref())?.filter(|p| !p.is_empty()) else {
            return Ok(None);
        };
        let site = &path_field
            .as_ref()
            .expect("a path came from the field")
            .site;
        let path = if check::has_placeholder(&path) {
            PathBuf::from(path)
        } else {
            let full = self.dir.join(&path);
            check::certificate(&full).map_err(|m| self.invalid(site, m))?;
            full
        };
        Ok(Some(ClientCertificate {
            site: site.clone(),
            path,
            password,
        }))
    }

    /// `payload` (exact keys `type`, `raw`, `file`, `multipart`); a file is
    /// read now, relative to the plan's directory (LPS: the working directory).
    fn payload(&mut self, field: &Field) -> Result<Payload, ConfigError> {
        let mut fields = self.fields_at(field, Keys::Exact, "payload", PAYLOAD_KEYS)?;
        let type_field = fields.take(&["type"]);
        let kind = self.text(type_field.as_ref())?;
        let raw = self.text(fields.take(&["raw"]).as_ref())?;
        let file_field = fields.take(&["file"]);
        let file = self.text(file_field.as_ref())?.filter(|f| !f.is_empty());
        let multipart = fields.take(&["multipart"]).filter(|f| !f.node.is_null());
        let site = fields.site.clone();
        fields.finish(self)?;
        let type_site = type_field.as_ref().map_or(&site, |f| &f.site);
        let kind = match kind {
            Some(kind) => check::payload_type(&kind).map_err(|m| self.invalid(type_site, m))?,
            // LPS's MapPayload: a file means Binary, else multipart, else Raw.
            None if file.is_some() => check::PayloadType::Binary,
            None if multipart.is_some() => check::PayloadType::Multipart,
            None => check::PayloadType::Raw,
        };
        match kind {
            check::PayloadType::Raw => Ok(Payload::Raw(raw.unwrap_or_default())),
            check::PayloadType::Binary => {
                let file_site = file_field.as_ref().map_or(&site, |f| &f.site);
                let Some(file) = file else {
                    return Err(self.invalid(&site, "payload type Binary needs file"));
                };
                let (path, bytes) = self.read_file(&file, file_site)?;
                Ok(Payload::Binary { path, bytes })
            }
            check::PayloadType::Multipart => match multipart {
                Some(field) => self.multipart(&field),
                None => Err(self.invalid(&site, "payload type Multipart needs multipart")),
            },
        }
    }

    /// Reads a payload file relative to the plan's directory.
    fn read_file(&self, file: &str, site: &Site) -> Result<(PathBuf, Vec<u8>), ConfigError> {
        let path = self.dir.join(file);
        match std::fs::read(&path) {
            Ok(bytes) => Ok((path, bytes)),
            Err(e) => Err(self.invalid(site, format!("cannot read {}: {e}", path.display()))),
        }
    }

    fn multipart(&mut self, field: &Field) -> Result<Payload, ConfigError> {
        let mut fields = self.fields_at(field, Keys::Exact, "multipart", MULTIPART_KEYS)?;
        let text_list = fields.take(&["fields"]);
        let file_list = fields.take(&["files"]);
        let site = fields.site.clone();
        fields.finish(self)?;
        let mut texts = Vec::new();
        for (i, node) in self.list(text_list.as_ref())?.iter().enumerate() {
            let item = item_field(text_list.as_ref(), i, node).expect("an item of a list");
            texts.push(self.text_part(&item)?);
        }
        let mut files = Vec::new();
        for (i, node) in self.list(file_list.as_ref())?.iter().enumerate() {
            let item = item_field(file_list.as_ref(), i, node).expect("an item of a list");
            files.push(self.file_part(&item)?);
        }
        if texts.is_empty() && files.is_empty() {
            return Err(self.invalid(&site, "multipart needs at least one of fields or files"));
        }
        Ok(Payload::Multipart {
            fields: texts,
            files,
        })
    }

    fn text_part(&mut self, item: &Field) -> Result<TextField, ConfigError> {
        let mut fields = self.fields(
            item.node,
            &item.path,
            Keys::Exact,
            "a multipart field",
            TEXT_FIELD_KEYS,
        )?;
        let name = self
            .text(fields.take(&["name"]).as_ref())?
            .unwrap_or_default();
        let value = self
            .text(fields.take(&["value"]).as_ref())?
            .unwrap_or_default();
        let content_type = self.text(fields.take(&["contentType"]).as_ref())?;
        fields.finish(self)?;
        if name.is_empty() || value.is_empty() {
            return Err(self.invalid(&item.site, "a multipart field needs a name and a value"));
        }
        Ok(TextField {
            name,
            value,
            content_type: content_type.unwrap_or_else(|| "text/plain".to_owned()),
        })
    }

    fn file_part(&mut self, item: &Field) -> Result<FileField, ConfigError> {
        let mut fields = self.fields(
            item.node,
            &item.path,
            Keys::Exact,
            "a multipart file",
            FILE_FIELD_KEYS,
        )?;
        let name = self.text(fields.take(&["name"]).as_ref())?;
        let path_field = fields.take(&["path"]);
        let file = self.text(path_field.as_ref())?.unwrap_or_default();
        let content_type = self.text(fields.take(&["contentType"]).as_ref())?;
        fields.finish(self)?;
        if file.is_empty() {
            return Err(self.invalid(&item.site, "a multipart file needs a path"));
        }
        let site = path_field.as_ref().map_or(&item.site, |f| &f.site);
        let (path, bytes) = self.read_file(&file, site)?;
        let file_name = Path::new(&file)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        Ok(FileField {
            name: name.unwrap_or_else(|| file_name.unwrap_or_default().to_lowercase()),
            content_type: content_type.unwrap_or_else(|| check::content_type(&path).to_owned()),
            path,
            bytes,
        })
    }

    /// `retry` (case-insensitive keys). LPS refuses placeholders in its
    /// numbers and strategy, so these are read as literals.
    fn retry(&mut self, field: &Field) -> Result<Retry, ConfigError> {
        let mut fields = self.fields_at(field, Keys::Loose, "retry", RETRY_KEYS)?;
        let retry_if = self.script(fields.take(&["if"]).as_ref())?;
        let stop_if = self.script(fields.take(&["stopIf"]).as_ref())?;
        let max_retries = self.literal(fields.take(&["maxRetries"]).as_ref(), 1, 1)?;
        let strategy_field = fields.take(&["strategy"]);
        let strategy = self.raw_text(strategy_field.as_ref())?;
        let delay = self.literal(fields.take(&["delayInMs"]).as_ref(), 100, 1)?;
        let max_delay_field = fields.take(&["maxDelayInMs"]);
        let max_delay = match self
            .raw_text(max_delay_field.as_ref())?
            .filter(|t| !t.trim().is_empty())
        {
            Some(_) => Some(self.literal(max_delay_field.as_ref(), 0, 1)?),
            None => None,
        };
        let site = fields.site.clone();
        fields.finish(self)?;
        let strategy_site = strategy_field.as_ref().map_or(&site, |f| &f.site);
        let max_site = max_delay_field.as_ref().map_or(&site, |f| &f.site);
        let strategy =
            check::strategy(strategy.as_deref(), delay, max_delay).map_err(|(on_max, m)| {
                self.invalid(if on_max { max_site } else { strategy_site }, m)
            })?;
        if let (Some(a), Some(b)) = (&retry_if, &stop_if)
            && a.text.trim().eq_ignore_ascii_case(b.text.trim())
        {
            return Err(self.invalid(&b.site, "retry.if and retry.stopIf are the same expression"));
        }
        Ok(Retry {
            retry_if,
            stop_if,
            max_retries: u32::try_from(max_retries).unwrap_or(u32::MAX),
            strategy,
            delay: Duration::from_millis(delay),
        })
    }

    /// A literal whole number of at least `min`; `default` when absent.
    fn literal(&self, field: Option<&Field>, default: u64, min: u64) -> Result<u64, ConfigError> {
        let Some(text) = self.raw_text(field)?.filter(|t| !t.trim().is_empty()) else {
            return Ok(default);
        };
        let field = field.expect("text came from the field");
        match check::parse_int(&text) {
            Ok(Num::Value(n)) => u64::try_from(n)
                .ok()
                .filter(|n| *n >= min)
                .ok_or_else(|| self.invalid(&field.site, format!("{n} is less than {min}"))),
            Ok(_) => Err(self.invalid(&field.site, "LPS does not allow a placeholder here")),
            Err(m) => Err(self.invalid(&field.site, m)),
        }
    }

    /// `capture` (exact keys `to`, `as`, `makeGlobal`, `regex`).
    fn capture(&mut self, field: &Field) -> Result<Capture, ConfigError> {
        let mut fields = self.fields_at(field, Keys::Exact, "capture", CAPTURE_KEYS)?;
        let to = self
            .raw_text(fields.take(&["to"]).as_ref())?
            .unwrap_or_default();
        let as_type = self.raw_text(fields.take(&["as"]).as_ref())?;
        let make_global = self.raw_text(fields.take(&["makeGlobal"]).as_ref())?;
        let regex = self.raw_text(fields.take(&["regex"]).as_ref())?;
        fields.finish(self)?;
        check::variable_name(&to)
            .map_err(|m| self.invalid(&field.site, format!("capture.to: {m}")))?;
        let make_global = match make_global {
            Some(text) => check::parse_bool(&text).map_err(|m| self.invalid(&field.site, m))?,
            None => false,
        };
        Ok(Capture {
            site: field.site.clone(),
            to,
            as_type: as_type.unwrap_or_else(|| "String".to_owned()),
            make_global,
            regex: regex.unwrap_or_default(),
        })
    }

    /// `failureRules` / `terminationRules` (exact keys), kept as written.
    fn rules(
        &mut self,
        field: Option<&Field>,
        termination: bool,
    ) -> Result<Vec<Rule>, ConfigError> {
        let mut rules = Vec::new();
        for (i, node) in self.list(field)?.iter().enumerate() {
            let item = item_field(field, i, node).expect("an item of a list");
            let (what, keys) = if termination {
                ("a termination rule", TERMINATION_RULE_KEYS)
            } else {
                ("a failure rule", FAILURE_RULE_KEYS)
            };
            let mut fields = self.fields(node, &item.path, Keys::Exact, what, keys)?;
            let metric = self.raw_text(fields.take(&["metric"]).as_ref())?;
            let error_status_codes = self.raw_text(fields.take(&["errorStatusCodes"]).as_ref())?;
            let expression = self.raw_text(fields.take(&["expression"]).as_ref())?;
            let grace_period = match termination {
                true => self.raw_text(fields.take(&["gracePeriod"]).as_ref())?,
                false => None,
            };
            fields.finish(self)?;
            if metric.is_none() && expression.is_none() {
                return Err(self.invalid(&item.site, "a rule needs metric or expression"));
            }
            rules.push(Rule {
                site: item.site.clone(),
                metric,
                error_status_codes,
                expression,
                grace_period,
            });
        }
        Ok(rules)
    }
}

const ITERATION_KEYS: &[&str] = &[
    "name",
    "startupDelay",
    "delay",
    "mode",
    "requestCount",
    "duration",
    "batchSize",
    "coolDownTime",
    "maximizeThroughput",
    "skipIf",
    "before",
    "after",
    "failureRules",
    "terminationRules",
    "httpRequest",
];
const REQUEST_KEYS: &[&str] = &[
    "url",
    "method",
    "httpMethod",
    "version",
    "httpVersion",
    "headers",
    "httpHeaders",
    "payload",
    "skipIf",
    "before",
    "after",
    "retry",
    "saveResponse",
    "downloadHtmlEmbeddedResources",
    "supportH2C",
    "clientCertificatePath",
    "clientCertificatePassword",
    "capture",
];
const RETRY_KEYS: &[&str] = &[
    "if",
    "stopIf",
    "maxRetries",
    "strategy",
    "delayInMs",
    "maxDelayInMs",
];
const PAYLOAD_KEYS: &[&str] = &["type", "raw", "file", "multipart"];
const MULTIPART_KEYS: &[&str] = &["fields", "files"];
const TEXT_FIELD_KEYS: &[&str] = &["name", "value", "contentType"];
const FILE_FIELD_KEYS: &[&str] = &["name", "path", "contentType"];
const CAPTURE_KEYS: &[&str] = &["to", "as", "makeGlobal", "regex"];
const FAILURE_RULE_KEYS: &[&str] = &["metric", "errorStatusCodes", "expression"];
const TERMINATION_RULE_KEYS: &[&str] = &["metric", "gracePeriod", "errorStatusCodes", "expression"];
