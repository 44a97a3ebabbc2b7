//! An LPS 3.x plan lowered to what the engine runs ([`crate::Plan`]), or
//! refused with the file, line and key of what lps cannot run.

use std::time::Duration;

use super::certificate;
use super::check;
use super::load::{Loaded, Warning, WarningKind};
use super::model::{self, Payload};
use super::script;
use crate::error::ConfigError;
use crate::plan::{self, Backoff, ClientIdentity, HttpVersion, MOST_CLIENTS, Stage, Target};
use crate::plan_file::{is_framing_header, is_tchar};
use crate::rules::{self, Check, Rule};

/// A plan the engine can run, and everything to tell the user about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Lowered {
    pub plan: plan::Plan,
    /// The loader's warnings and the keys lps accepts but does not use, in
    /// line order.
    pub warnings: Vec<Warning>,
}

/// The boundary of multipart bodies. Fixed, so that a plan always sends the
/// same bytes; parts are not scanned for it (a file holding it would break
/// its body, as it would with any fixed boundary).
const BOUNDARY: &str = "lps-form-boundary-5d1c9a7e3b";

/// Lowers `loaded` (read from `file`): its scripts compiled, its rules
/// parsed, what they read checked. Reads client certificate files.
pub fn lower(loaded: Loaded, file: &str) -> Result<Lowered, ConfigError> {
    let Loaded {
        plan,
        mut warnings,
        globals,
    } = loaded;
    let mut lowering = Lowering {
        file,
        unused: Vec::new(),
        uses: Vec::new(),
        metric_refs: Vec::new(),
    };
    let mut rounds = Vec::with_capacity(plan.rounds.len());
    for (r, round) in plan.rounds.iter().enumerate() {
        // LPS skips a round without iterations, its startup delay included.
        if !round.iterations.is_empty() {
            rounds.push(lowering.round(r, round)?);
        }
    }
    check_reads(file, &plan, &lowering.uses)?;
    check_metric_refs(file, &rounds, &lowering.metric_refs)?;
    warnings.extend(lowering.unused);
    warnings.sort_by_key(|w| w.line);
    Ok(Lowered {
        plan: plan::Plan {
            name: plan.name,
            rounds,
            variables: globals,
        },
        warnings,
    })
}

/// Every `${Metrics.<round>.<iteration>...}` of a rule's expression names an
/// iteration of the plan (LPS would read nothing, and the rule never hold).
fn check_metric_refs(
    file: &str,
    rounds: &[plan::Round],
    refs: &[(usize, String, rules::MetricRef)],
) -> Result<(), ConfigError> {
    for (line, key, r) in refs {
        let found = rounds
            .iter()
            .filter(|round| round.name == r.round)
            .flat_map(|round| &round.iterations)
            .any(|it| it.name == r.iteration);
        if !found {
            return Err(ConfigError::Invalid {
                file: file.to_owned(),
                line: Some(*line),
                key: key.clone(),
                message: format!(
                    "expression: Metrics.{}.{}: the plan has no iteration {:?} in a round {:?}",
                    r.round, r.iteration, r.iteration, r.round
                ),
            });
        }
    }
    Ok(())
}

struct Lowering<'a> {
    file: &'a str,
    /// One warning per key accepted and not used, at its first use.
    unused: Vec<Warning>,
    /// Where the scripts read and set variables.
    uses: Vec<script::Use>,
    /// What rule expressions read, and where: checked once every round is known.
    metric_refs: Vec<(usize, String, rules::MetricRef)>,
}

/// Every variable a script reads by name must be set somewhere in the plan:
/// a plan or environment variable, a capture's `to`, or a method's
/// `variable=`. (LPS sends an unknown one as written; a typo would load.)
fn check_reads(file: &str, plan: &model::Plan, uses: &[script::Use]) -> Result<(), ConfigError> {
    let envs = plan.environments.iter().flat_map(|e| &e.variables);
    let mut set: std::collections::HashSet<&str> = plan
        .variables
        .iter()
        .chain(envs)
        .map(|v| v.name.as_str())
        .collect();
    set.extend(uses.iter().flat_map(|u| u.sets.iter().map(String::as_str)));
    // Rules read live metrics through this root (issue 17).
    set.insert("Metrics");
    for u in uses {
        if let Some(name) = u.reads.iter().find(|n| !set.contains(n.as_str())) {
            return Err(ConfigError::Invalid {
                file: file.to_owned(),
                line: Some(u.line),
                key: u.key.clone(),
                message: format!(
                    "variable \"{name}\" is not set by the plan (its variables, environments, a capture's to or a method's variable=)"
                ),
            });
        }
    }
    Ok(())
}

impl Lowering<'_> {
    fn refuse(&self, line: usize, key: String, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_owned(),
            line: Some(line),
            key,
            message: message.into(),
        }
    }

    fn round(&mut self, r: usize, round: &model::Round) -> Result<plan::Round, ConfigError> {
        let stages = if round.stages.is_empty() {
            vec![Stage {
                clients: round.clients,
                arrival_delay: round.arrival_delay,
                startup_delay: Duration::ZERO,
            }]
        } else {
            round
                .stages
                .iter()
                .map(|s| Stage {
                    clients: s.clients,
                    arrival_delay: s.arrival_delay,
                    startup_delay: s.startup_delay,
                })
                .collect()
        };
        let total: u64 = stages.iter().map(|s| u64::from(s.clients)).sum();
        if total > u64::from(MOST_CLIENTS) {
            return Err(self.refuse(
                round.line,
                format!("rounds[{r}].stages"),
                format!("{total} clients in all; at most {MOST_CLIENTS}"),
            ));
        }
        let mut iterations = Vec::with_capacity(round.iterations.len());
        for (i, it) in round.iterations.iter().enumerate() {
            iterations.push(self.iteration(&format!("rounds[{r}].iterations[{i}]"), it)?);
        }
        Ok(plan::Round {
            name: round.name.clone(),
            startup_delay: round.startup_delay,
            stages,
            delay_client_creation: round.delay_client_creation,
            run_in_parallel: round.run_in_parallel,
            tags: round.tags.clone(),
            iterations,
        })
    }

    fn iteration(
        &mut self,
        at: &str,
        it: &model::Iteration,
    ) -> Result<plan::Iteration, ConfigError> {
        let (script, fixed, uses) = script::lower_script(self.file, at, it)?;
        self.uses.extend(uses);
        let at = format!("{at}.httpRequest");
        Ok(plan::Iteration {
            name: it.name.clone(),
            mode: it.mode,
            maximize_throughput: it.maximize_throughput,
            startup_delay: it.startup_delay,
            request: self.request(&at, it.line, &it.request, fixed)?,
            script: script.map(std::sync::Arc::new),
            failure_rules: self.rules(&it.failure_rules)?,
            termination_rules: self.rules(&it.termination_rules)?,
        })
    }

    fn request(
        &mut self,
        at: &str,
        line: usize,
        req: &model::HttpRequest,
        fixed: script::Fixed,
    ) -> Result<plan::HttpRequest, ConfigError> {
        let client_identity = match &req.client_certificate {
            Some(cert) => Some(self.identity(cert)?),
            None => None,
        };
        self.warn_unused(req.save_response, line, "saveResponse");
        let embedded = req.download_html_embedded_resources;
        self.warn_unused(embedded, line, "downloadHtmlEmbeddedResources");
        let mut target = Target::parse(&fixed.url)
            .map_err(|e| self.refuse(line, format!("{at}.url"), format!("{:?}: {e}", req.url)))?;
        if let Some(text) = fixed.path_text {
            // Resolved per request; reports show it as written.
            target.path_and_query = text;
        }
        let mut headers = fixed.headers;
        self.check_headers(at, line, &req.headers)?;
        // LPS attaches a payload to POST, PUT and PATCH only (a method
        // resolved per request decides when it is sent).
        let body = if matches!(req.method.as_str(), "POST" | "PUT" | "PATCH")
            || check::has_placeholder(&req.method)
        {
            body(&req.payload, &mut headers)
        } else {
            Vec::new()
        };
        Ok(plan::HttpRequest {
            method: fixed.method,
            target,
            headers,
            body,
            version: match req.version {
                // lps speaks no HTTP/1.0; see `HttpVersion`.
                model::HttpVersion::Http10 | model::HttpVersion::Http11 => HttpVersion::Http11,
                model::HttpVersion::Http2 if req.support_h2c => HttpVersion::H2c,
                model::HttpVersion::Http2 => HttpVersion::Http2,
            },
            retry: req.retry.as_ref().and_then(retry),
            client_identity,
        })
    }

    /// `failureRules` or `terminationRules`, parsed as LPS's validators
    /// read them. A rule with a metric and an expression is two rules: LPS
    /// judges them as independent triggers, each with its own grace.
    fn rules(&mut self, rules: &[model::Rule]) -> Result<Vec<Rule>, ConfigError> {
        let mut out = Vec::with_capacity(rules.len());
        for rule in rules {
            let refuse = |m: String| self.refuse(rule.site.line, rule.site.key.clone(), m);
            let grace = match &rule.grace_period {
                Some(g) => {
                    rules::grace_period(g).map_err(|m| refuse(format!("gracePeriod: {m}")))?
                }
                None => Duration::ZERO,
            };
            let error_codes = match &rule.error_status_codes {
                Some(codes) => Some(rules::status_codes(codes).map_err(&refuse)?),
                None => None,
            };
            if let Some(text) = &rule.metric {
                out.push(Rule {
                    text: text.trim().to_owned(),
                    check: Check::Metric(rules::condition(text).map_err(&refuse)?),
                    error_codes,
                    grace,
                });
            }
            if let Some(text) = &rule.expression {
                let (expr, skeleton) = rules::MetricsExpr::parse(text, lps_scenario::expr::ANY)
                    .map_err(|m| refuse(format!("expression: {m}")))?;
                lps_scenario::expr::check(&skeleton).map_err(|e| {
                    refuse(format!(
                        "{text:?} is not an expression lps can evaluate: {e}"
                    ))
                })?;
                for r in expr.refs() {
                    self.metric_refs
                        .push((rule.site.line, rule.site.key.clone(), r.clone()));
                }
                out.push(Rule {
                    text: text.trim().to_owned(),
                    check: Check::Expression(expr),
                    error_codes: None,
                    grace,
                });
            }
        }
        Ok(out)
    }

    /// The certificate and key of `clientCertificatePath`, read now so that a
    /// bad file stops the plan before any load.
    fn identity(&self, cert: &model::ClientCertificate) -> Result<ClientIdentity, ConfigError> {
        certificate::read(&cert.path, cert.password.as_deref()).map_err(|m| {
            let message = format!("{:?}: {m}", cert.path.display().to_string());
            self.refuse(cert.site.line, cert.site.key.clone(), message)
        })
    }

    fn warn_unused(&mut self, used: bool, line: usize, key: &str) {
        let seen = self
            .unused
            .iter()
            .any(|w| matches!(&w.kind, WarningKind::NotUsed { key: k } if k == key));
        if used && !seen {
            self.unused.push(Warning {
                file: self.file.to_owned(),
                line,
                kind: WarningKind::NotUsed {
                    key: key.to_owned(),
                },
            });
        }
    }

    /// Header names must be tokens, values one line; lps frames the body itself.
    fn check_headers(
        &self,
        at: &str,
        line: usize,
        headers: &[(String, String)],
    ) -> Result<(), ConfigError> {
        for (name, value) in headers {
            let fault = if name.is_empty() || !name.bytes().all(is_tchar) {
                "is not a valid header name"
            } else if is_framing_header(name) {
                "is not allowed: lps frames the payload itself (Content-Length)"
            } else if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
                "has a line break or control character in its value"
            } else {
                continue;
            };
            return Err(self.refuse(line, format!("{at}.headers"), format!("{name:?} {fault}")));
        }
        Ok(())
    }
}

/// The engine's retry, or none when the request is never sent again (a
/// literal `if: false` or `stopIf: true`). Expressions are the script's.
fn retry(retry: &model::Retry) -> Option<plan::Retry> {
    if retry.resends() == Some(false) {
        return None;
    }
    Some(plan::Retry {
        max_retries: retry.max_retries,
        delay: retry.delay,
        backoff: match retry.strategy {
            model::Strategy::Fixed => Backoff::Fixed,
            model::Strategy::Exponential { max_delay } => Backoff::Exponential { max: max_delay },
        },
    })
}

/// The bytes of a payload, adding the Content-Type LPS's .NET content sets
/// unless the headers give one.
fn body(payload: &Payload, headers: &mut Vec<(String, String)>) -> Vec<u8> {
    let content_type = match payload {
        Payload::Raw(_) => None,
        Payload::Binary { .. } => Some("application/octet-stream".to_owned()),
        Payload::Multipart { .. } => Some(format!("multipart/form-data; boundary=\"{BOUNDARY}\"")),
    };
    let given = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
    if let (Some(ct), false) = (content_type, given) {
        headers.push(("Content-Type".to_owned(), ct));
    }
    match payload {
        Payload::Raw(text) => text.clone().into_bytes(),
        Payload::Binary { bytes, .. } => bytes.clone(),
        Payload::Multipart { fields, files } => multipart(fields, files),
    }
}

/// A multipart/form-data body as .NET's MultipartFormDataContent writes it:
/// text parts with `charset=utf-8` for `text/*`, file parts named by `name`.
fn multipart(fields: &[model::TextField], files: &[model::FileField]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fields {
        let ct = with_charset(&f.content_type);
        let head = format!(
            "--{BOUNDARY}\r\nContent-Type: {ct}\r\nContent-Disposition: form-data; name={}\r\n\r\n",
            f.name
        );
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(f.value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for f in files {
        let head = format!(
            "--{BOUNDARY}\r\nContent-Type: {}\r\nContent-Disposition: form-data; name={}; filename={}\r\n\r\n",
            f.content_type, f.name, f.name
        );
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(&f.bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

fn with_charset(content_type: &str) -> String {
    if content_type.starts_with("text/") && !content_type.contains("charset") {
        format!("{content_type}; charset=utf-8")
    } else {
        content_type.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::format::Format;

    fn lowered(rounds: &str) -> Result<Lowered, String> {
        let text = format!("name: P\nrounds:\n{rounds}");
        let loaded = super::super::parse(&text, "p.yaml", Format::Yaml, Path::new("."))
            .map_err(|e| e.to_string())?;
        lower(loaded, "p.yaml").map_err(|e| e.to_string())
    }

    fn one(request: &str) -> Result<Lowered, String> {
        lowered(&format!(
            "  - name: R\n    iterations:\n      - name: a\n        requestCount: 1\n        httpRequest:\n          url: http://127.0.0.1:1/x\n{request}"
        ))
    }

    #[test]
    fn a_round_without_stages_is_one_stage() {
        let p = lowered(
            "  - name: A\n    numberOfClients: 3\n    arrivalDelay: 250\n    startupDelay: 40\n    runInParallel: true\n    tags: [smoke]\n    iterations:\n      - name: a\n        startupDelay: 70\n        requestCount: 2\n        httpRequest:\n          url: http://127.0.0.1:1/\n          method: GET\n  - name: B\n    numberOfClients: 9\n    stages:\n      - numberOfClients: 2\n        arrivalDelay: 10\n      - numberOfClients: 1\n        startupDelay: 300\n    iterations:\n      - name: b\n        httpRequest:\n          url: http://127.0.0.1:1/\n          method: GET\n  - name: Empty\n",
        )
        .expect("runs");
        let [a, b] = &p.plan.rounds[..] else {
            panic!("the empty round is dropped: {:?}", p.plan.rounds);
        };
        let ms = Duration::from_millis;
        assert_eq!(
            a.stages,
            [Stage {
                clients: 3,
                arrival_delay: ms(250),
                startup_delay: ms(0)
            }]
        );
        assert_eq!(a.startup_delay, ms(40));
        assert!(a.run_in_parallel && !a.delay_client_creation);
        assert_eq!(a.tags, ["smoke"]);
        assert_eq!(a.iterations[0].startup_delay, ms(70));
        assert_eq!(b.clients(), 3);
        assert_eq!(b.stages[1].startup_delay, ms(300));
        assert!(!b.run_in_parallel);
        assert_eq!(p.plan.clients(), 3);
    }

    #[test]
    fn versions_follow_lps() {
        let cases = [
            ("          version: '1.0'\n", HttpVersion::Http11),
            ("          version: '1.1'\n", HttpVersion::Http11),
            ("", HttpVersion::Http2),
            ("          version: HTTP/1.1\n", HttpVersion::Http2),
            ("          supportH2C: true\n", HttpVersion::H2c),
        ];
        for (keys, expected) in cases {
            let p = one(&format!("          method: GET\n{keys}")).expect("runs");
            assert_eq!(
                p.plan.rounds[0].iterations[0].request.version, expected,
                "{keys}"
            );
        }
    }

    #[test]
    fn a_payload_goes_with_post_put_and_patch_only() {
        for (method, body) in [("GET", ""), ("DELETE", ""), ("post", "hi"), ("PATCH", "hi")] {
            let p = one(&format!(
                "          method: {method}\n          payload:\n            raw: hi\n"
            ))
            .expect("runs");
            let req = &p.plan.rounds[0].iterations[0].request;
            assert_eq!(req.body, body.as_bytes(), "{method}");
            assert!(req.headers.is_empty(), "{method}");
        }
    }

    #[test]
    fn multipart_becomes_a_form_data_body() {
        let p = one("          method: POST\n          payload:\n            multipart:\n              fields:\n                - name: who\n                  value: me\n").expect("runs");
        let req = &p.plan.rounds[0].iterations[0].request;
        assert_eq!(
            req.headers,
            [(
                "Content-Type".to_owned(),
                format!("multipart/form-data; boundary=\"{BOUNDARY}\"")
            )]
        );
        let expected = format!(
            "--{BOUNDARY}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Disposition: form-data; name=who\r\n\r\nme\r\n--{BOUNDARY}--\r\n"
        );
        assert_eq!(String::from_utf8_lossy(&req.body), expected);
    }

    #[test]
    fn what_lps_cannot_run_is_refused_with_its_line_and_key() {
        let cases = [
            (
                "          method: GET\n          headers:\n            Content-Length: '3'\n",
                "p.yaml:5: rounds[0].iterations[0].httpRequest.headers: \"Content-Length\" is not allowed: lps frames the payload itself (Content-Length)",
            ),
            (
                "          method: GET\n        terminationRules:\n          - metric: ErrorRate > 0.05\n            gracePeriod: 5s\n",
                "p.yaml:11: rounds[0].iterations[0].terminationRules[0]: gracePeriod: \"5s\" is not a time span (hh:mm:ss, e.g. 00:00:30)",
            ),
            (
                "          method: GET\n        failureRules:\n          - expression: ${Metrics.R.a.ErrorRate} > 0.05\n",
                "p.yaml:11: rounds[0].iterations[0].failureRules[0]: expression: ${Metrics.R.a.ErrorRate}: expected Metrics.<round>.<iteration>.<Duration|Throughput|DataTransmission>.<field>",
            ),
            (
                "          method: GET\n        failureRules:\n          - expression: ${Metrics.R.b.Throughput.ErrorRate} > 0.05\n",
                "p.yaml:11: rounds[0].iterations[0].failureRules[0]: expression: Metrics.R.b: the plan has no iteration \"b\" in a round \"R\"",
            ),
            (
                "          method: GET\n        failureRules:\n          - expression: ${Metrics.R.a.Throughput.ErrorRate} >\n",
                "p.yaml:11: rounds[0].iterations[0].failureRules[0]: \"${Metrics.R.a.Throughput.ErrorRate} >\" is not an expression lps can evaluate: unexpected end",
            ),
            (
                "          method: GET\n        failureRules:\n          - metric: WaitingTime.P90 > 5\n",
                "p.yaml:11: rounds[0].iterations[0].failureRules[0]: WaitingTime is not recorded by lps yet",
            ),
            (
                "          method: GET\n          headers:\n            X-A: $nosuch(a=1)\n",
                "p.yaml:5: rounds[0].iterations[0].httpRequest.headers.X-A: unknown method $nosuch()",
            ),
            (
                "          method: GET\n        skipIf: ${a\n",
                "p.yaml:10: rounds[0].iterations[0].skipIf: unmatched '{' in \"${a\"",
            ),
        ];
        for (keys, expected) in cases {
            assert_eq!(one(keys).map(|_| ()), Err(expected.to_owned()), "{keys}");
        }
    }

    #[test]
    fn rules_keep_their_checks_grace_and_codes() {
        let p = one("          method: GET\n        failureRules:\n          - metric: ErrorRate > 0.05\n            errorStatusCodes: '>= 500'\n        terminationRules:\n          - metric: TotalTime.P90 > 250\n            expression: ${Metrics.R.a.Throughput.RPS} < 40\n            gracePeriod: 00:00:03\n")
            .expect("runs");
        let it = &p.plan.rounds[0].iterations[0];
        let [f] = &it.failure_rules[..] else {
            panic!("{:?}", it.failure_rules)
        };
        assert!(matches!(f.check, Check::Metric(_)));
        assert_eq!(f.error_codes, Some(rules::status_codes(">= 500").unwrap()));
        assert_eq!(f.grace, Duration::ZERO);
        // A metric and an expression: two triggers, each with the grace.
        let texts: Vec<(&str, Duration)> = it
            .termination_rules
            .iter()
            .map(|r| (r.text.as_str(), r.grace))
            .collect();
        let grace = Duration::from_secs(3);
        assert_eq!(
            texts,
            [
                ("TotalTime.P90 > 250", grace),
                ("${Metrics.R.a.Throughput.RPS} < 40", grace)
            ]
        );
        assert!(matches!(
            it.termination_rules[1].check,
            Check::Expression(_)
        ));
    }

    #[test]
    fn a_feeders_file_is_read_at_load_and_its_faults_named() {
        let dir = std::env::temp_dir().join(format!("lps-lower-feed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        let good = write("users.csv", "name,password\nann,1\n");
        let short = write("short.csv", "name,password\nann,1\nbob\n");
        let feed = |args: &str| {
            one(&format!(
                "          method: GET\n        before:\n          - $feed({args})\n"
            ))
            .map(|_| ())
        };
        assert_eq!(feed(&format!("source={good}, variable=user")), Ok(()));
        // A source known only at run time is not read now.
        let dynamic = one(
            "          method: GET\n        before:\n          - $set(variable=file, value=a.csv)\n          - $feed(source=${file}, variable=user)\n",
        );
        assert_eq!(dynamic.map(|_| ()), Ok(()));
        let at = "p.yaml:11: rounds[0].iterations[0].before[0]: $feed:";
        let cases = [
            (
                format!("source={short}, strategy=queue, variable=user"),
                format!("{at} \"{short}\" line 3: 1 column(s), the header has 2"),
            ),
            (
                "source=no-such-users.csv, variable=user".to_owned(),
                format!(
                    "{at} cannot read \"no-such-users.csv\": No such file or directory (os error 2)"
                ),
            ),
            (
                format!("source={good}, strategy=shuffle, variable=user"),
                format!("{at} strategy \"shuffle\" is not queue, circular or random"),
            ),
            (
                format!("source={good}"),
                format!("{at} variable= (the name the row is stored as) is required"),
            ),
            (
                "variable=user".to_owned(),
                format!("{at} source= (the data file) is required"),
            ),
            (
                format!("source={good}, format=xml, variable=user"),
                format!("{at} format \"xml\" is not csv, json or text"),
            ),
        ];
        for (args, expected) in cases {
            assert_eq!(feed(&args), Err(expected), "{args}");
        }
        // In a request's path too, at its key.
        let err = lowered(&format!(
            "  - name: R\n    iterations:\n      - name: a\n        httpRequest:\n          method: GET\n          url: http://127.0.0.1:1/$feed(source={short}, variable=u)\n"
        ))
        .unwrap_err();
        assert!(
            err.contains("httpRequest.url: $feed:") && err.contains("line 3"),
            "{err}"
        );
    }

    #[test]
    fn scripts_are_lowered_into_templates_and_fixed_parts() {
        let p = one(
            "          method: POST\n          headers:\n            Accept: text/plain\n            Authorization: Bearer ${auth.Body.token}\n          payload:\n            raw: '{\"id\": ${id}}'\n          capture:\n            to: out\n            as: Json\n          retry:\n            if: ${out.StatusCode} >= 500\n        skipIf: ${n} = 0\n        before:\n          - $set(variable=n, value=1)\n          - $set(variable=id, value=2)\n          - $set(variable=auth, value=x)\n",
        )
        .expect("runs");
        let it = &p.plan.rounds[0].iterations[0];
        let req = &it.request;
        assert_eq!(
            req.headers,
            [("Accept".to_owned(), "text/plain".to_owned())]
        );
        assert!(req.retry.is_some(), "an expression keeps the retry");
        let script = it.script.as_deref().expect("a script");
        let text = |t: &Option<lps_scenario::Template>| t.is_some();
        assert!(text(&script.skip_if) && script.before.len() == 3);
        assert_eq!(script.request.headers.len(), 1);
        assert_eq!(script.request.headers[0].0, "Authorization");
        assert!(text(&script.request.body) && text(&script.request.retry_if));
        assert!(script.request.path.is_none() && script.request.method.is_none());
        let capture = script.request.capture.as_ref().expect("a capture");
        assert_eq!(
            (capture.to.as_str(), capture.kind, capture.global),
            ("out", lps_scenario::VarType::Json, false)
        );
        // A fixed request has no script.
        let fixed = one("          method: GET\n").expect("runs");
        assert!(fixed.plan.rounds[0].iterations[0].script.is_none());
    }

    #[test]
    fn a_templated_path_keeps_its_host_fixed() {
        let p = lowered(
            "  - name: R\n    iterations:\n      - name: I\n        before: ['$set(variable=id, value=7)']\n        httpRequest:\n          url: http://127.0.0.1:8080/items/${id}?q=$counter(start=1)\n          method: GET\n",
        )
        .expect("runs");
        let it = &p.plan.rounds[0].iterations[0];
        assert_eq!(
            it.request.target.url(),
            "http://127.0.0.1:8080/items/${id}?q=$counter(start=1)"
        );
        let path = it
            .script
            .as_ref()
            .and_then(|s| s.request.path.as_ref())
            .expect("a path template");
        assert!(!path.is_static());
        let host = lowered(
            "  - name: R\n    iterations:\n      - name: I\n        httpRequest:\n          url: http://${who}/x\n          method: GET\n",
        );
        assert_eq!(
            host.map(|_| ()),
            Err("p.yaml:5: rounds[0].iterations[0].httpRequest.url: \"http://${who}/x\": its scheme and host must come from global variables".to_owned())
        );
    }

    fn lowered_retry(keys: &str) -> Result<Option<plan::Retry>, String> {
        let p = one(&format!("          method: GET\n          retry:\n{keys}"))?;
        Ok(p.plan.rounds[0].iterations[0].request.retry)
    }

    #[test]
    fn a_retry_runs_with_lps_defaults_and_literal_conditions() {
        let ms = Duration::from_millis;
        let retry = |max_retries, delay, backoff| {
            Ok(Some(plan::Retry {
                max_retries,
                delay: ms(delay),
                backoff,
            }))
        };
        let exponential = |max: Option<u64>| Backoff::Exponential { max: max.map(ms) };
        let cases = [
            // LPS: a retry block with no `if` retries every request.
            ("            maxRetries:\n", retry(1, 100, Backoff::Fixed)),
            ("            if: ''\n", retry(1, 100, Backoff::Fixed)),
            (
                "            if: ' TRUE '\n            stopIf: False\n            maxRetries: '3'\n            delayInMs: '250'\n",
                retry(3, 250, Backoff::Fixed),
            ),
            (
                "            maxRetries: 2\n            strategy: exponential\n            delayInMs: 100\n            maxDelayInMs: '150'\n",
                retry(2, 100, exponential(Some(150))),
            ),
            (
                "            strategy: Exponential\n",
                retry(1, 100, exponential(None)),
            ),
            // A false `if` or a true `stopIf` ends the command after its first send.
            ("            if: false\n", Ok(None)),
            (
                "            stopIf: 'true'\n            maxRetries: 5\n",
                Ok(None),
            ),
        ];
        for (keys, expected) in cases {
            assert_eq!(lowered_retry(keys), expected, "{keys}");
        }
    }

    #[test]
    fn retry_values_are_checked_as_lps_ui_does() {
        let at = |line: usize, rest: &str| {
            format!("p.yaml:{line}: rounds[0].iterations[0].httpRequest.retry{rest}")
        };
        let cases = [
            (
                "            delayInMs: 0\n",
                at(11, ".delayInMs: 0 is less than 1"),
            ),
            (
                "            maxRetries: -1\n",
                at(11, ".maxRetries: -1 is less than 1"),
            ),
            (
                "            maxRetries: two\n",
                at(
                    11,
                    ".maxRetries: \"two\" is not a whole number (LPS reads a 32-bit int)",
                ),
            ),
            (
                "            maxDelayInMs: 500\n",
                at(
                    11,
                    ".maxDelayInMs: maxDelayInMs is only for strategy Exponential",
                ),
            ),
            (
                "            strategy: Linear\n",
                at(
                    11,
                    ".strategy: strategy \"Linear\" is not Fixed or Exponential",
                ),
            ),
            (
                "            if: 'true'\n            stopIf: TRUE\n",
                at(
                    12,
                    ".stopIf: retry.if and retry.stopIf are the same expression",
                ),
            ),
        ];
        for (keys, expected) in cases {
            assert_eq!(lowered_retry(keys), Err(expected), "{keys}");
        }
    }

    #[test]
    fn a_client_certificate_without_its_key_is_refused_at_its_line() {
        let dir = tempfile::tempdir().expect("scratch dir");
        let made =
            rcgen::generate_simple_self_signed(vec!["c".to_string()]).expect("a certificate");
        std::fs::write(dir.path().join("c.crt"), made.cert.pem()).expect("scratch file");
        let both = format!("{}{}", made.cert.pem(), made.signing_key.serialize_pem());
        std::fs::write(dir.path().join("c.pem"), both).expect("scratch file");
        let plan = |file: &str| {
            format!(
                "name: P\nrounds:\n  - name: R\n    iterations:\n      - name: a\n        httpRequest:\n          url: https://127.0.0.1:1/\n          method: GET\n          clientCertificatePath: {file}\n"
            )
        };
        let run = |file: &str| {
            let loaded = super::super::parse(&plan(file), "p.yaml", Format::Yaml, dir.path())
                .map_err(|e| e.to_string())?;
            lower(loaded, "p.yaml").map_err(|e| e.to_string())
        };
        let path = dir.path().join("c.crt").display().to_string();
        let message = run("c.crt").expect_err("no key");
        let expected = format!(
            "p.yaml:9: rounds[0].iterations[0].httpRequest.clientCertificatePath: {path:?}: it holds a certificate without its private key"
        );
        assert!(message.starts_with(&expected), "{message}");
        let p = run("c.pem").expect("a certificate with its key");
        let identity = p.plan.rounds[0].iterations[0]
            .request
            .client_identity
            .as_ref();
        assert_eq!(identity.map(|i| i.chain.len()), Some(1));
    }

    #[test]
    fn keys_not_used_are_warned_about_once() {
        let request = "        httpRequest:\n          url: http://127.0.0.1:1/\n          method: GET\n          saveResponse: true\n";
        let p = lowered(&format!(
            "  - name: R\n    iterations:\n      - name: a\n{request}      - name: b\n{request}"
        ))
        .expect("runs");
        let shown: Vec<String> = p.warnings.iter().map(|w| w.to_string()).collect();
        assert_eq!(
            shown,
            ["p.yaml:5: key saveResponse is accepted but not used by lps"]
        );
    }
}
