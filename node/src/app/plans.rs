//! Plans from the command line and from files; every failure here is bad
//! input (exit code 2) with the file, line and key, or the option, in its
//! one-line message.

use std::path::{Path, PathBuf};

use lps_config::{
    ConfigError, HttpRequestFile, IterationFile, IterationMode, Origin, Plan, PlanFile, Round,
    RoundFile, UnknownValue, lps3,
};

use super::cli::QuickArgs;

/// Why a plan could not be made, loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The plan file, or the plan the options make, is not acceptable.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// `lps create` does not overwrite a plan.
    #[error("{} already exists; use 'lps add' to extend it", .path.display())]
    Exists { path: PathBuf },

    /// `lps create` and `lps add` without `--url`.
    #[error("--url is required")]
    UrlRequired,

    #[error("--iterationMode: {0}")]
    Mode(UnknownValue),

    #[error("--httpVersion: {0}")]
    HttpVersion(UnknownValue),

    /// An option the iteration mode ignores (`-rc 100 -d 10` is mode R).
    #[error("--{option} does not apply to iterationMode {mode}, which uses {}", flags(.uses))]
    NotForMode {
        option: &'static str,
        mode: IterationMode,
        uses: &'static [&'static str],
    },

    /// `-rn` / `-t` matched no round of the plan.
    #[error("{file}: no round matches {}", describe(.select))]
    NoRound { file: String, select: RoundSelect },

    /// `-e` on a plan with variables: environments need the resolver.
    #[error(
        "{file}: -e/--environment: environments set variables, which lps does not run yet (issue 16)"
    )]
    Environment { file: String },

    #[error("--header {header:?}: expected \"Name: value\"")]
    Header { header: String },

    /// `Content-Length` or `Transfer-Encoding`: lps frames the body itself.
    #[error(
        "--header {header:?}: lps frames the payload itself (Content-Length); leave out Content-Length and Transfer-Encoding"
    )]
    FramingHeader { header: String },
}

/// `--a, --b`.
fn flags(options: &[&str]) -> String {
    options
        .iter()
        .map(|o| format!("--{o}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The plan of a quick test: one round with one iteration.
pub fn quick(q: &QuickArgs) -> Result<Plan, PlanError> {
    let file = plan_file(q)?;
    file.into_plan(Origin::new("command line"))
        .map_err(PlanError::from)
}

/// Which rounds `lps run` runs (LPS: a round runs when its name is among
/// `-rn` or one of its tags among `-t`, both case-insensitive; all rounds
/// when neither is given), and the environments `-e` selects.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct RoundSelect {
    /// [-rn] Run the round of this name (repeatable, case-insensitive).
    #[arg(
        long = "roundname",
        alias = "runName",
        value_name = "NAME",
        help_heading = "Rounds"
    )]
    pub rounds: Vec<String>,
    /// [-t] Run the rounds with this tag (repeatable, case-insensitive).
    #[arg(long = "tag", short = 't', value_name = "TAG", help_heading = "Rounds")]
    pub tags: Vec<String>,
    /// [-e] Environment whose variables to use (needs variables: refused for now).
    #[arg(
        long = "environment",
        short = 'e',
        value_name = "NAME",
        help_heading = "Rounds"
    )]
    pub environments: Vec<String>,
}

impl RoundSelect {
    fn is_all(&self) -> bool {
        self.rounds.is_empty() && self.tags.is_empty()
    }

    fn takes(&self, round: &Round) -> bool {
        let any = |list: &[String], text: &str| list.iter().any(|n| n.eq_ignore_ascii_case(text));
        self.is_all()
            || any(&self.rounds, &round.name)
            || round.tags.iter().any(|t| any(&self.tags, t))
    }
}

/// `-rn "A" -t "smoke"`.
fn describe(select: &RoundSelect) -> String {
    let names = select.rounds.iter().map(|n| format!("-rn {n:?}"));
    let tags = select.tags.iter().map(|t| format!("-t {t:?}"));
    names.chain(tags).collect::<Vec<_>>().join(" ")
}

/// Loads and checks a plan file: LPS 3.x, unless it is in lps's older
/// format (then a line says so). Warnings go to stderr, one line each;
/// only the rounds `select` takes are kept.
pub fn load(path: &Path, select: &RoundSelect) -> Result<Plan, PlanError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let format = lps_config::Format::detect(Some(path), &text);
    let mut plan = if lps3::is_older_format(&text, format) {
        eprintln!(
            "lps: {file} is in the older lps plan format; LPS 3.x plans put numberOfClients on rounds"
        );
        lps_config::load_plan(path)?
    } else {
        let loaded = lps3::load(path)?;
        let p = &loaded.plan;
        let has_variables = !p.variables.is_empty() || !p.environments.is_empty();
        if !select.environments.is_empty() && has_variables {
            return Err(PlanError::Environment { file });
        }
        let lowered = lps3::lower(loaded, &file)?;
        for warning in &lowered.warnings {
            eprintln!("warning: {warning}");
        }
        lowered.plan
    };
    for name in &select.environments {
        // As LPS, which logs "Environment 'x' not found." and runs.
        eprintln!("warning: {file}: environment {name:?} is not in the plan; ignored");
    }
    plan.rounds.retain(|r| select.takes(r));
    if plan.rounds.is_empty() && !select.is_all() {
        return Err(PlanError::NoRound {
            file,
            select: select.clone(),
        });
    }
    Ok(plan)
}

/// `lps create`: writes a new plan holding the quick-test iteration.
pub fn create(path: &Path, q: &QuickArgs) -> Result<(), PlanError> {
    if path.exists() {
        return Err(PlanError::Exists {
            path: path.to_path_buf(),
        });
    }
    let file = plan_file(q)?;
    // Check before writing, so that a plan on disk always loads; `path:`
    // payloads are relative to the plan's directory, as when it is run.
    let origin = path.display().to_string();
    file.clone().into_plan(origin_of(path, &origin))?;
    lps_config::save_plan_file(path, &file).map_err(PlanError::from)
}

/// `lps add`: appends the quick-test iteration to a plan file, in `round`
/// (created when missing) or the last round.
pub fn add(path: &Path, round: Option<&str>, q: &QuickArgs) -> Result<(), PlanError> {
    let mut file = lps_config::load_plan_file(path)?;
    let iteration = iteration_file(q)?;
    match round {
        Some(name) => match file.rounds.iter_mut().find(|r| r.name == name) {
            Some(r) => r.iterations.push(iteration),
            None => file.rounds.push(RoundFile {
                name: name.to_string(),
                iterations: vec![iteration],
            }),
        },
        None => match file.rounds.last_mut() {
            Some(r) => r.iterations.push(iteration),
            None => file.rounds.push(RoundFile {
                name: "Round-1".into(),
                iterations: vec![iteration],
            }),
        },
    }
    let origin = path.display().to_string();
    file.clone().into_plan(origin_of(path, &origin))?;
    lps_config::save_plan_file(path, &file).map_err(PlanError::from)
}

fn origin_of<'a>(path: &'a Path, name: &'a str) -> Origin<'a> {
    let origin = Origin::new(name);
    match path.parent() {
        Some(dir) => origin.with_base_dir(dir),
        None => origin,
    }
}

fn plan_file(q: &QuickArgs) -> Result<PlanFile, PlanError> {
    Ok(PlanFile {
        name: q.test_name.clone(),
        number_of_clients: Some(q.clients),
        rampup_period: Some(q.rampup_ms),
        delay_client_creation: Some(q.delay_client_creation),
        run_in_parallel: Some(q.run_in_parallel),
        rounds: vec![RoundFile {
            name: "Round-1".into(),
            iterations: vec![iteration_file(q)?],
        }],
    })
}

/// The quick-test iteration.
fn iteration_file(q: &QuickArgs) -> Result<IterationFile, PlanError> {
    let url = q.url.clone().ok_or(PlanError::UrlRequired)?;
    let mode = mode_of(q)?;
    check_options_apply(q, mode)?;
    let headers = q
        .headers
        .iter()
        .map(|h| match lps_config::Headers::split_line(h) {
            None => Err(PlanError::Header { header: h.clone() }),
            Some((name, _)) if lps_config::is_framing_header(&name) => {
                Err(PlanError::FramingHeader { header: h.clone() })
            }
            Some(header) => Ok(header),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(IterationFile {
        name: q.run_name.clone(),
        iteration_mode: Some(mode),
        request_count: q.request_count,
        duration: q.duration_s,
        batch_size: q.batch_size,
        cool_down_time: q.cool_down_ms,
        maximize_throughput: q.maximize_throughput.then_some(true),
        http_request: HttpRequestFile {
            method: Some(q.method.to_ascii_uppercase()),
            url,
            http_version: Some(q.http_version.parse().map_err(PlanError::HttpVersion)?),
            headers: headers.into(),
            payload: q.payload.clone(),
        },
    })
}

/// `--iterationMode`, or what the other options imply.
fn mode_of(q: &QuickArgs) -> Result<IterationMode, PlanError> {
    match &q.mode {
        Some(m) => m.parse().map_err(PlanError::Mode),
        // A duration alone means "run for that long", as in wrk.
        None if q.duration_s.is_some() && q.request_count.is_none() => Ok(IterationMode::D),
        None => Ok(IterationMode::R),
    }
}

/// On the command line an option the mode ignores is a mistake (`-rc 100
/// -d 10` is mode R, for 100 requests). Files are not checked so: LPS may
/// write every key whatever the mode.
fn check_options_apply(q: &QuickArgs, mode: IterationMode) -> Result<(), PlanError> {
    let uses = options_used_by(mode);
    let given = [
        ("requestCount", q.request_count.is_some()),
        ("duration", q.duration_s.is_some()),
        ("batchSize", q.batch_size.is_some()),
        ("coolDownTime", q.cool_down_ms.is_some()),
        ("maximizeThroughput", q.maximize_throughput),
    ];
    match given.iter().find(|(o, given)| *given && !uses.contains(o)) {
        Some((option, _)) => Err(PlanError::NotForMode { option, mode, uses }),
        None => Ok(()),
    }
}

/// The iteration options that `mode` reads.
fn options_used_by(mode: IterationMode) -> &'static [&'static str] {
    const BATCHES: [&str; 3] = ["batchSize", "coolDownTime", "maximizeThroughput"];
    match mode {
        IterationMode::R => &["requestCount"],
        IterationMode::D => &["duration"],
        IterationMode::CB | IterationMode::DCB => &["duration", BATCHES[0], BATCHES[1], BATCHES[2]],
        IterationMode::CRB => &["requestCount", BATCHES[0], BATCHES[1], BATCHES[2]],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick(args: &[&str]) -> QuickArgs {
        use clap::Parser;
        #[derive(Parser)]
        #[command(disable_help_flag = true)]
        struct Q {
            #[command(flatten)]
            quick: QuickArgs,
        }
        let args = std::iter::once("lps")
            .chain(args.iter().copied())
            .map(String::from);
        Q::try_parse_from(super::super::cli::normalize(args))
            .expect("the test's options parse")
            .quick
    }

    #[test]
    fn options_the_mode_ignores_are_refused() {
        let cases: &[(&[&str], Result<IterationMode, &str>)] = &[
            (&["-rc", "5"], Ok(IterationMode::R)),
            (&["-d", "5"], Ok(IterationMode::D)),
            (
                &["-d", "5", "-im", "cb", "-bs", "2", "-mt"],
                Ok(IterationMode::CB),
            ),
            (
                &["-rc", "100", "-d", "10"],
                Err("--duration does not apply to iterationMode R, which uses --requestCount"),
            ),
            (
                &["-im", "CRB", "-d", "1"],
                Err(
                    "--duration does not apply to iterationMode CRB, which uses --requestCount, --batchSize, --coolDownTime, --maximizeThroughput",
                ),
            ),
            (
                &["-im", "X"],
                Err("--iterationMode: \"X\" is not one of R, D, CB, CRB, DCB"),
            ),
        ];
        for (args, expected) in cases {
            let q = quick(args);
            let got = mode_of(&q).and_then(|mode| check_options_apply(&q, mode).map(|()| mode));
            assert_eq!(
                got.map_err(|e| e.to_string()),
                expected.map_err(String::from),
                "{args:?}"
            );
        }
    }

    #[test]
    fn headers_need_a_colon() {
        let q = quick(&["-u", "http://127.0.0.1:1/", "-rc", "1", "-h", "NoColon"]);
        let e = iteration_file(&q).expect_err("no colon");
        assert_eq!(
            e.to_string(),
            "--header \"NoColon\": expected \"Name: value\""
        );
        let q = quick(&["-rc", "1"]);
        assert_eq!(
            iteration_file(&q).expect_err("no url").to_string(),
            "--url is required"
        );
    }
}
