//! The LPS 3.x quick test (`lps -u URL [options]`): the plan its options
//! make (one round of one iteration), and the iteration that `lps
//! iteration` writes from the same options.
//!
//! The options are kept as written and put into an LPS plan document, which
//! is then read as a plan file is: a value is accepted or refused exactly as
//! it would be in a file, and the message names the option.

use std::path::Path;

use lps_config::lps3::{self, Document, IterationSpec, RequestSpec, RoundSpec, RuleSpec};
use lps_config::{ConfigError, Format};

use super::cli::{IterationArgs, QuickArgs};

/// Why the quick-test options (or `lps iteration`'s) make no plan.
#[derive(Debug, thiserror::Error)]
pub enum QuickError {
    #[error("--url is required")]
    UrlRequired,
    /// `lps iteration` without one of its required options.
    #[error("{0} is required")]
    Required(&'static str),
    /// LPS turns an unknown mode into R silently; lps refuses it.
    #[error("-im/--iterationMode: {0:?} is not one of R, D, CB, CRB, DCB")]
    Mode(String),
    #[error("-h/--header {0:?}: expected \"Name: value\"")]
    Header(String),
    /// `Content-Length` or `Transfer-Encoding`: lps frames the body itself.
    #[error(
        "-h/--header {0:?}: lps frames the payload itself (Content-Length); leave out Content-Length and Transfer-Encoding"
    )]
    FramingHeader(String),
    #[error("-p/--payload {given:?}: {message}")]
    Payload { given: String, message: String },
    /// An option of `lps iteration` given to the quick test.
    #[error("--{0} is an option of 'lps iteration', not of the quick test")]
    NotQuick(&'static str),
    /// A value the plan's checks refuse, with the option that gave it.
    #[error("{option}: {message}")]
    Invalid { option: String, message: String },
    #[error(transparent)]
    Plan(#[from] ConfigError),
    #[error(transparent)]
    Edit(#[from] lps3::EditError),
}

/// The name the plan document goes by in messages (never written).
const ORIGIN: &str = "command line";

/// The LPS 3.x plan of a quick test: one round of one iteration.
pub fn quick_plan(q: &QuickArgs) -> Result<lps3::Plan, QuickError> {
    let it = &q.iteration;
    let iteration_only = [
        ("roundName of lps iteration", it.round.is_some()),
        ("global", it.global.is_some()),
        ("startupDelay of lps iteration", it.startup_delay.is_some()),
    ];
    if let Some((option, _)) = iteration_only.iter().find(|(_, given)| *given) {
        return Err(QuickError::NotQuick(option));
    }
    let iteration = iteration_spec(it, true)?;
    let round = RoundSpec {
        name: q.round_name.clone(),
        startup_delay: q.startup_delay.clone(),
        number_of_clients: Some(q.clients.clone()),
        arrival_delay: q.arrival_delay.clone(),
        delay_client_creation: q.delay_client_creation.clone(),
        run_in_parallel: q.run_in_parallel.clone(),
        ..RoundSpec::default()
    };
    let mut doc = Document::new(Path::new(ORIGIN), Format::Json);
    doc.set_name(&q.name)?;
    doc.upsert_round(&round)?;
    doc.upsert_iteration(Some(&q.round_name), &iteration)?;
    let loaded = doc.check().map_err(named_by_option)?;
    Ok(loaded.plan)
}

/// The iteration the options describe; `quick` applies the quick test's
/// defaults where `lps iteration` requires the option.
pub fn iteration_spec(it: &IterationArgs, quick: bool) -> Result<IterationSpec, QuickError> {
    let url = it.url.clone().ok_or(QuickError::UrlRequired)?;
    let name = match (&it.name, quick) {
        (Some(name), _) => name.clone(),
        (None, true) => "Quick-Http-Iteration".into(),
        (None, false) => return Err(QuickError::Required("-n/--name")),
    };
    let method = match (&it.method, quick) {
        (Some(method), _) => method.clone(),
        (None, true) => "GET".into(),
        (None, false) => return Err(QuickError::Required("-hm/--httpMethod")),
    };
    let mode = match (mode_of(it)?, quick) {
        (None, false) => return Err(QuickError::Required("-im/--iterationMode")),
        (mode, _) => mode,
    };
    Ok(IterationSpec {
        name,
        startup_delay: it.startup_delay.clone(),
        mode,
        request_count: it.request_count.clone(),
        duration: it.duration.clone(),
        batch_size: it.batch_size.clone(),
        cool_down_time: it.cool_down.clone(),
        maximize_throughput: it.maximize_throughput.clone(),
        request: RequestSpec {
            url: Some(url),
            method: Some(method),
            version: Some(it.http_version.clone()),
            headers: headers(&it.headers)?,
            payload: it.payload.as_deref().map(payload).transpose()?,
            save_response: it.save_response.clone(),
            download_html_embedded_resources: it.download_html.clone(),
            support_h2c: it.support_h2c.clone(),
            client_certificate_path: it.client_certificate_path.clone(),
            client_certificate_password: it.client_certificate_password.clone(),
        },
        failure_rules: rules(&it.failure_rules, false)?,
        termination_rules: rules(&it.termination_rules, true)?,
    })
}

/// `-fr "metric[;errorStatusCodes]"` and `-tr "metric;gracePeriod[;errorStatusCodes]"`,
/// split on `;` as LPS splits them. (LPS drops a `-tr` without its grace
/// period silently; lps says so.)
fn rules(given: &[String], termination: bool) -> Result<Vec<RuleSpec>, QuickError> {
    let option = if termination {
        "-tr/--terminationRule"
    } else {
        "-fr/--failureRule"
    };
    let invalid = |message: String| QuickError::Invalid {
        option: option.to_owned(),
        message,
    };
    let mut out = Vec::with_capacity(given.len());
    for text in given {
        let parts: Vec<&str> = text.split(';').map(str::trim).collect();
        let nonempty = |p: Option<&&str>| p.filter(|s| !s.is_empty()).map(|s| s.to_string());
        let rule = match (termination, parts.len()) {
            (false, 1 | 2) => RuleSpec {
                metric: parts[0].to_owned(),
                grace_period: None,
                error_status_codes: nonempty(parts.get(1)),
            },
            (true, 2 | 3) => RuleSpec {
                metric: parts[0].to_owned(),
                grace_period: nonempty(parts.get(1)),
                error_status_codes: nonempty(parts.get(2)),
            },
            (false, _) => {
                return Err(invalid(format!(
                    "{text:?}: expected \"metric[;errorStatusCodes]\""
                )));
            }
            (true, _) => {
                return Err(invalid(format!(
                    "{text:?}: expected \"metric;gracePeriod[;errorStatusCodes]\", e.g. \"ErrorRate > 0.1;00:00:05\""
                )));
            }
        };
        if rule.metric.is_empty() {
            return Err(invalid(format!("{text:?}: the metric is empty")));
        }
        out.push(rule);
    }
    Ok(out)
}

/// `-im` in any case, upper-cased as LPS's file reader needs it; without
/// it, D when only a duration is given (an lps addition: LPS takes R, and
/// then refuses the duration), else LPS's default R.
fn mode_of(it: &IterationArgs) -> Result<Option<String>, QuickError> {
    match &it.mode {
        Some(m) if m.starts_with('$') => Ok(Some(m.clone())),
        Some(m) => {
            let upper = m.to_ascii_uppercase();
            match ["R", "D", "CB", "CRB", "DCB"].contains(&upper.as_str()) {
                true => Ok(Some(upper)),
                false => Err(QuickError::Mode(m.clone())),
            }
        }
        None if it.duration.is_some() && it.request_count.is_none() => Ok(Some("D".into())),
        None => Ok(None),
    }
}

/// `"Name: value"` headers, split at the first colon and trimmed.
fn headers(given: &[String]) -> Result<Vec<(String, String)>, QuickError> {
    given
        .iter()
        .map(|h| match lps_config::Headers::split_line(h) {
            None => Err(QuickError::Header(h.clone())),
            Some((name, _)) if lps_config::is_framing_header(&name) => {
                Err(QuickError::FramingHeader(h.clone()))
            }
            Some(header) => Ok(header),
        })
        .collect()
}

/// The body `-p` gives: `Path:FILE` the file's text, `URL:URL` the body of
/// a GET of it, else the text itself (prefixes in any case, as LPS).
fn payload(given: &str) -> Result<String, QuickError> {
    let fail = |message: String| QuickError::Payload {
        given: given.to_owned(),
        message,
    };
    let prefixed = |prefix: &str| {
        given
            .get(..prefix.len())
            .filter(|p| p.eq_ignore_ascii_case(prefix))
            .map(|_| &given[prefix.len()..])
    };
    if let Some(file) = prefixed("Path:") {
        return std::fs::read_to_string(file)
            .map_err(|e| fail(format!("cannot read {file:?}: {e}")));
    }
    if let Some(url) = prefixed("URL:") {
        return fetch::get(url).map_err(fail);
    }
    Ok(given.to_owned())
}

/// Rewords a check of the plan the options made, naming the option instead
/// of the key of the document (which the user never saw).
fn named_by_option(e: ConfigError) -> QuickError {
    let (key, message) = match &e {
        ConfigError::Invalid { key, message, .. } => (key.as_str(), message.as_str()),
        ConfigError::Syntax { key, message, .. } => (key.as_str(), message.as_str()),
        _ => return QuickError::Plan(e),
    };
    // The key at fault is the path's last part, or the message's first word
    // when the path names the item (`rounds[0].iterations[0] "x"`).
    let last = key.rsplit('.').next().unwrap_or(key);
    let first = message.split([' ', ':']).next().unwrap_or("");
    let option = match [last, first]
        .into_iter()
        .find(|k| option_of_key(k).is_some())
    {
        // Three options set a `name`: the path says whose.
        Some("name") if key.contains("iterations") => Some("-in/--iterationName"),
        Some("name") if key.contains("rounds") => Some("-rn/--roundName"),
        Some("name") => Some("-n/--name"),
        found => found.and_then(option_of_key),
    };
    match option {
        Some(option) => QuickError::Invalid {
            option: option.to_owned(),
            message: message.to_owned(),
        },
        None => QuickError::Invalid {
            option: key.to_owned(),
            message: message.to_owned(),
        },
    }
}

/// The quick-test option that sets a key of the plan document.
fn option_of_key(key: &str) -> Option<&'static str> {
    const KEYS: &[(&str, &str)] = &[
        ("name", "-n/--name"),
        ("startupDelay", "-sd/--startupDelay"),
        ("numberOfClients", "-nc/--numberOfClients"),
        ("arrivalDelay", "-ad/--arrivalDelay"),
        (
            "delayClientCreationUntilIsNeeded",
            "-dcc/--delayClientCreation",
        ),
        ("runInParallel", "-rip/--runInParallel"),
        ("mode", "-im/--iterationMode"),
        ("requestCount", "-rc/--requestCount"),
        ("duration", "-d/--duration"),
        ("batchSize", "-bs/--batchSize"),
        ("coolDownTime", "-cdt/--coolDownTime"),
        ("maximizeThroughput", "-mt/--maximizeThroughput"),
        ("url", "-u/--url"),
        ("method", "-hm/--httpMethod"),
        ("httpMethod", "-hm/--httpMethod"),
        ("version", "-hv/--httpVersion"),
        ("httpVersion", "-hv/--httpVersion"),
        ("httpHeaders", "-h/--header"),
        ("supportH2C", "-h2c/--supportH2C"),
        ("saveResponse", "-sr/--saveResponse"),
        (
            "downloadHtmlEmbeddedResources",
            "-dhtmler/--downloadHtmlEmbeddedResources",
        ),
        ("clientCertificatePath", "-ccp/--clientCertificatePath"),
        ("failureRules", "-fr/--failureRule"),
        ("terminationRules", "-tr/--terminationRule"),
    ];
    let key = key.split('[').next().unwrap_or(key);
    KEYS.iter().find(|(k, _)| *k == key).map(|(_, o)| *o)
}

mod fetch {
    //! `-p URL:...`: one GET over HTTP/1.1, at start.

    use std::time::Duration;

    use http_body_util::{BodyExt, Empty};
    use hyper_util::rt::TokioIo;

    /// The body of a GET of `url` (http:// only), as text.
    pub fn get(url: &str) -> Result<String, String> {
        let target = lps_config::Target::parse(url).map_err(|e| e.to_string())?;
        if target.scheme != lps_config::Scheme::Http {
            return Err("URL: payloads are fetched over http:// only".into());
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let fetch = async {
            let stream = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
                .await
                .map_err(|e| format!("cannot connect: {e}"))?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            let request = hyper::Request::get(target.path_and_query.as_str())
                .header(hyper::header::HOST, target.authority())
                .body(Empty::<bytes::Bytes>::new())
                .map_err(|e| e.to_string())?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!("GET answered {status}"));
            }
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?;
            String::from_utf8(body.to_bytes().to_vec()).map_err(|_| "the body is not UTF-8".into())
        };
        runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(30), fetch)
                .await
                .map_err(|_| "no answer within 30 s".to_owned())?
        })
    }
}

/// The quick test's plan as the engine runs it (the LPS 3.x lowering, as
/// for a plan file); what lps accepts and does not use is said once each.
pub fn lowered(plan: lps3::Plan) -> Result<lps_config::Plan, QuickError> {
    let loaded = lps3::Loaded {
        plan,
        warnings: Vec::new(),
        globals: Vec::new(),
    };
    // A client certificate file is read here: its fault names the option.
    let lowered = lps3::lower(loaded, ORIGIN).map_err(named_by_option)?;
    for warning in &lowered.warnings {
        log::warn!("warning: {warning}");
    }
    Ok(lowered.plan)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::time::Duration;

    use lps_config::Mode;
    use lps_config::lps3::{HttpVersion, Payload};

    use super::*;

    fn args(line: &[&str]) -> QuickArgs {
        use clap::Parser;
        let args = std::iter::once("lps").chain(line.iter().copied());
        let args = super::super::cli::normalize(args.map(String::from)).expect("not refused");
        super::super::cli::Cli::try_parse_from(args)
            .expect("the test's options parse")
            .quick
    }

    fn plan(line: &[&str]) -> lps3::Plan {
        let mut all = vec!["-u", "http://127.0.0.1:9/x"];
        all.extend_from_slice(line);
        quick_plan(&args(&all)).expect("a plan")
    }

    fn refused(line: &[&str]) -> String {
        let mut all = vec!["-u", "http://127.0.0.1:9/x"];
        all.extend_from_slice(line);
        quick_plan(&args(&all)).expect_err("refused").to_string()
    }

    #[test]
    fn defaults_are_lps_3s() {
        let p = plan(&[]);
        assert_eq!(p.name, "Quick-Test-Plan");
        let [round] = p.rounds.as_slice() else {
            panic!("one round")
        };
        assert_eq!(round.name, "Quick-Test-Round");
        assert_eq!(
            (round.clients, round.startup_delay, round.arrival_delay),
            (1, Duration::ZERO, Duration::ZERO)
        );
        assert!(!round.delay_client_creation && !round.run_in_parallel);
        let [it] = round.iterations.as_slice() else {
            panic!("one iteration")
        };
        assert_eq!(it.name, "Quick-Http-Iteration");
        // -rc is 1 when the mode is R.
        assert_eq!(it.mode, Mode::Requests { requests: 1 });
        assert!(!it.maximize_throughput);
        let r = &it.request;
        assert_eq!(
            (r.method.as_str(), r.url.as_str()),
            ("GET", "http://127.0.0.1:9/x")
        );
        assert_eq!(r.version, HttpVersion::Http2);
        assert!(!r.support_h2c && !r.save_response && !r.download_html_embedded_resources);
        assert_eq!(r.payload, Payload::Raw(String::new()));
        assert_eq!(r.client_certificate, None);
    }

    #[test]
    fn each_option_sets_its_key() {
        let p = plan(&[
            "-n", "P", "-rn", "R", "-in", "I", "-sd", "15", "-nc", "4", "-ad", "25", "-dcc",
            "-rip", "true",
        ]);
        let round = &p.rounds[0];
        assert_eq!((p.name.as_str(), round.name.as_str()), ("P", "R"));
        assert_eq!(round.iterations[0].name, "I");
        assert_eq!(round.startup_delay, Duration::from_millis(15));
        assert_eq!(round.clients, 4);
        assert_eq!(round.arrival_delay, Duration::from_millis(25));
        assert!(round.delay_client_creation && round.run_in_parallel);

        let it = &plan(&["-im", "crb", "-rc", "10", "-bs", "5", "-cdt", "30", "-mt"]).rounds[0]
            .iterations[0];
        let cooldown = Duration::from_millis(30);
        assert_eq!(
            it.mode,
            Mode::CooldownRequestBatch {
                requests: 10,
                batch: 5,
                cooldown
            }
        );
        assert!(it.maximize_throughput);
        let it =
            &plan(&["-im", "DCB", "-d", "3", "-bs", "2", "-cdt", "30"]).rounds[0].iterations[0];
        let duration = Duration::from_secs(3);
        assert_eq!(
            it.mode,
            Mode::DurationCooldownBatch {
                duration,
                batch: 2,
                cooldown
            }
        );
        // An lps addition: -d alone means mode D.
        let it = &plan(&["-d", "2"]).rounds[0].iterations[0];
        assert_eq!(
            it.mode,
            Mode::Duration {
                duration: Duration::from_secs(2)
            }
        );

        let r = &plan(&[
            "--method", "post", "-hv", "2.0", "-h2c", "-sr", "-dhtmler", "-h", "A: 1", "B: x:y",
            "-h", "C: 3", "-p", "body",
        ])
        .rounds[0]
            .iterations[0]
            .request;
        assert_eq!(r.method, "POST");
        assert!(r.support_h2c && r.save_response && r.download_html_embedded_resources);
        let h = |n: &str, v: &str| (n.to_owned(), v.to_owned());
        assert_eq!(r.headers, [h("A", "1"), h("B", "x:y"), h("C", "3")]);
        assert_eq!(r.payload, Payload::Raw("body".into()));
        let r = &plan(&["-hv", "1.1"]).rounds[0].iterations[0].request;
        assert_eq!(r.version, HttpVersion::Http11);
    }

    #[test]
    fn client_certificate_options_are_kept() {
        let dir = std::env::temp_dir().join(format!("lps-quick-ccp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pem = dir.join("c.pem");
        std::fs::write(
            &pem,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let pem_s = pem.to_str().unwrap();
        let url = "https://127.0.0.1:9/";
        let p = quick_plan(&args(&["-u", url, "-ccp", pem_s, "-ccpw", "pw"])).unwrap();
        let cert = p.rounds[0].iterations[0]
            .request
            .client_certificate
            .clone()
            .unwrap();
        assert_eq!(
            (cert.path, cert.password.as_deref()),
            (pem.clone(), Some("pw"))
        );
        // The file has a certificate and no key: refused when lowered.
        let e = lowered(p).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("-ccp/--clientCertificatePath: \"")
                && e.to_string().contains("without its private key"),
            "{e}"
        );
        let e = quick_plan(&args(&["-u", url, "-ccp", "missing.pem"])).unwrap_err();
        assert!(
            e.to_string().starts_with("-ccp/--clientCertificatePath: "),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn payload_prefixes_read_a_file_or_a_url() {
        let dir = std::env::temp_dir().join(format!("lps-quick-payload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("body.txt");
        std::fs::write(&file, "from a file").unwrap();
        for prefix in ["Path:", "path:", "PATH:"] {
            let given = format!("{prefix}{}", file.display());
            assert_eq!(payload(&given).unwrap(), "from a file");
        }
        std::fs::remove_dir_all(&dir).unwrap();

        // A one-shot HTTP/1.1 server on loopback.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            for _ in 0..2 {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = [0u8; 1024];
                let n = s.read(&mut buf).unwrap();
                assert!(buf[..n].starts_with(b"GET /body HTTP/1.1\r\n"));
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nfrom url")
                    .unwrap();
            }
        });
        for prefix in ["URL:", "url:"] {
            assert_eq!(
                payload(&format!("{prefix}http://{addr}/body")).unwrap(),
                "from url"
            );
        }
        server.join().unwrap();
        assert_eq!(payload("plain: text").unwrap(), "plain: text");
        let e = payload("Path:/nonexistent/body").unwrap_err().to_string();
        assert!(
            e.starts_with("-p/--payload \"Path:/nonexistent/body\": cannot read"),
            "{e}"
        );
    }

    #[test]
    fn rules_from_the_command_line_are_the_iteration_s() {
        let p = plan(&[
            "-fr",
            "ErrorRate > 0.05;>= 500",
            "TotalTime.P90 > 250",
            "-tr",
            "TotalTime.P99 > 900;00:00:05;",
        ]);
        let it = &p.rounds[0].iterations[0];
        let rule = |r: &lps3::Rule| {
            let text = |t: &Option<String>| t.clone().unwrap_or_default();
            (
                text(&r.metric),
                text(&r.error_status_codes),
                text(&r.grace_period),
            )
        };
        let failure: Vec<_> = it.failure_rules.iter().map(rule).collect();
        let s = |t: &str| t.to_owned();
        assert_eq!(
            failure,
            [
                (s("ErrorRate > 0.05"), s(">= 500"), s("")),
                (s("TotalTime.P90 > 250"), s(""), s(""))
            ]
        );
        let termination: Vec<_> = it.termination_rules.iter().map(rule).collect();
        assert_eq!(
            termination,
            [(s("TotalTime.P99 > 900"), s(""), s("00:00:05"))]
        );
        let lowered = lowered(p).expect("lowers");
        let it = &lowered.rounds[0].iterations[0];
        assert_eq!(it.termination_rules[0].grace, Duration::from_secs(5));
    }

    #[test]
    fn bad_values_name_their_option() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["-im", "X"],
                "-im/--iterationMode: \"X\" is not one of R, D, CB, CRB, DCB",
            ),
            (&["-nc", "0"], "-nc/--numberOfClients: "),
            (
                &["-rc", "5", "-d", "10", "-im", "R"],
                "-d/--duration: mode R does not take duration",
            ),
            (&["-hv", "2"], "-hv/--httpVersion: "),
            (&["-hv", "1.1", "-h2c"], "-h2c/--supportH2C: "),
            (&["-n", "a/b"], "-n/--name: "),
            (&["-rn", "a/b"], "-rn/--roundName: "),
            (&["-in", "a/b"], "-in/--iterationName: "),
            (&["-hm", "FETCH"], "-hm/--httpMethod: "),
            (&["-ad", "-1"], "-ad/--arrivalDelay: "),
            (&["-sd", "x"], "-sd/--startupDelay: "),
            (
                &["-h", "NoColon"],
                "-h/--header \"NoColon\": expected \"Name: value\"",
            ),
            (
                &["-h", "Content-Length: 0"],
                "lps frames the payload itself",
            ),
            (
                &["-tr", "ErrorRate > 0.1"],
                "-tr/--terminationRule: \"ErrorRate > 0.1\": expected \"metric;gracePeriod[;errorStatusCodes]\"",
            ),
            (&["-fr", "a;b;c"], "-fr/--failureRule: \"a;b;c\": expected"),
            (
                &["-fr", ";>= 500"],
                "-fr/--failureRule: \";>= 500\": the metric is empty",
            ),
        ];
        for (line, expected) in cases {
            let got = refused(line);
            assert!(
                got.starts_with(expected) || got.contains(expected),
                "{line:?}: {got}"
            );
        }
        let no_url = quick_plan(&args(&["-rc", "1"])).unwrap_err();
        assert_eq!(no_url.to_string(), "--url is required");
    }

    #[test]
    fn the_quick_plan_lowers_to_what_the_engine_runs() {
        let p = plan(&[
            "-nc", "3", "-ad", "20", "-rip", "-hv", "2.0", "-h2c", "-rc", "7", "-sd", "5",
        ]);
        let engine_plan = lowered(p).unwrap();
        let round = &engine_plan.rounds[0];
        assert_eq!(round.clients(), 3);
        assert_eq!(round.arrival(1), Duration::from_millis(20));
        assert_eq!(round.startup_delay, Duration::from_millis(5));
        assert!(round.run_in_parallel);
        let it = &round.iterations[0];
        assert_eq!(it.request.version, lps_config::HttpVersion::H2c);
        assert_eq!(it.mode, Mode::Requests { requests: 7 });
        // 2.0 without -h2c is negotiated: HTTP/1.1 on http://, as in LPS.
        let plain = lowered(plan(&[])).unwrap();
        assert_eq!(
            plain.rounds[0].iterations[0].request.version,
            lps_config::HttpVersion::Http2
        );
    }
}
