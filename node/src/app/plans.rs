//! Plans from the command line and from files; every failure here is bad
//! input (exit code 2) with the file, line and key in its one-line message.

use std::path::Path;

use lps_config::{
    HttpRequestFile, IterationFile, IterationMode, Origin, Plan, PlanFile, RoundFile,
};

use super::cli::QuickArgs;
use crate::BadInput;

/// The plan of a quick test: one round with one iteration.
pub fn quick(q: &QuickArgs) -> Result<Plan, BadInput> {
    let file = plan_file(q)?;
    file.into_plan(Origin::new("command line")).map_err(bad)
}

/// Loads and checks a plan file.
pub fn load(path: &Path) -> Result<Plan, BadInput> {
    lps_config::load_plan(path).map_err(bad)
}

/// `lps create`: writes a new plan holding the quick-test iteration.
pub fn create(path: &Path, q: &QuickArgs) -> Result<(), BadInput> {
    if path.exists() {
        return Err(BadInput(format!(
            "{} already exists; use 'lps add' to extend it",
            path.display()
        )));
    }
    let file = plan_file(q)?;
    // Check before writing, so that a plan on disk always loads; `path:`
    // payloads are relative to the plan's directory, as when it is run.
    let origin = path.display().to_string();
    file.clone()
        .into_plan(origin_of(path, &origin))
        .map_err(bad)?;
    lps_config::save_plan_file(path, &file).map_err(bad)
}

/// `lps add`: appends the quick-test iteration to a plan file, in `round`
/// (created when missing) or the last round.
pub fn add(path: &Path, round: Option<&str>, q: &QuickArgs) -> Result<(), BadInput> {
    let mut file = lps_config::load_plan_file(path).map_err(bad)?;
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
    file.clone()
        .into_plan(origin_of(path, &origin))
        .map_err(bad)?;
    lps_config::save_plan_file(path, &file).map_err(bad)
}

fn origin_of<'a>(path: &'a Path, name: &'a str) -> Origin<'a> {
    let origin = Origin::new(name);
    match path.parent() {
        Some(dir) => origin.with_base_dir(dir),
        None => origin,
    }
}

fn plan_file(q: &QuickArgs) -> Result<PlanFile, BadInput> {
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

fn iteration_file(q: &QuickArgs) -> Result<IterationFile, BadInput> {
    let url = q
        .url
        .clone()
        .ok_or_else(|| BadInput("--url is required".into()))?;
    let mode = match &q.mode {
        Some(m) => m
            .parse::<IterationMode>()
            .map_err(|e| BadInput(format!("--iterationMode: {e}")))?,
        // A duration alone means "run for that long", as in wrk.
        None if q.duration_s.is_some() && q.request_count.is_none() => IterationMode::D,
        None => IterationMode::R,
    };
    // On the command line an option the mode ignores is a mistake (`-rc 100
    // -d 10` is mode R, for 100 requests). Files are not checked so: LPS may
    // write every key whatever the mode.
    let uses: &[&str] = match mode {
        IterationMode::R => &["requestCount"],
        IterationMode::D => &["duration"],
        IterationMode::CB => &[
            "duration",
            "batchSize",
            "coolDownTime",
            "maximizeThroughput",
        ],
        IterationMode::CRB => &[
            "requestCount",
            "batchSize",
            "coolDownTime",
            "maximizeThroughput",
        ],
        IterationMode::DCB => &[
            "duration",
            "batchSize",
            "coolDownTime",
            "maximizeThroughput",
        ],
    };
    let given = [
        ("requestCount", q.request_count.is_some()),
        ("duration", q.duration_s.is_some()),
        ("batchSize", q.batch_size.is_some()),
        ("coolDownTime", q.cool_down_ms.is_some()),
        ("maximizeThroughput", q.maximize_throughput),
    ];
    if let Some((option, _)) = given.iter().find(|(o, given)| *given && !uses.contains(o)) {
        return Err(BadInput(format!(
            "--{option} does not apply to iterationMode {mode}, which uses {}",
            uses.iter()
                .map(|o| format!("--{o}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut headers = Vec::new();
    for h in &q.headers {
        let pair = lps_config::Headers::split_line(h)
            .ok_or_else(|| BadInput(format!("--header {h:?}: expected \"Name: value\"")))?;
        headers.push(pair);
    }
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
            http_version: Some(
                q.http_version
                    .parse()
                    .map_err(|e| BadInput(format!("--httpVersion: {e}")))?,
            ),
            headers: headers.into(),
            payload: q.payload.clone(),
        },
    })
}

fn bad(e: impl std::fmt::Display) -> BadInput {
    BadInput(e.to_string())
}
