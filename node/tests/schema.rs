//! Every JSON report validates against the documented schema
//! (`docs/report.schema.json`), checked by a small validator of the JSON
//! Schema keywords that file uses.

mod common;

use std::time::Duration;

use common::{Scratch, Target, closed_port, lps_json};
use serde_json::Value;

fn schema() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/report.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Checks `v` against `s`; returns the first violation with its JSON path.
fn validate(root: &Value, s: &Value, v: &Value, path: &str) -> Result<(), String> {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r
            .strip_prefix("#/$defs/")
            .ok_or(format!("unsupported $ref {r}"))?;
        return validate(root, &root["$defs"][name], v, path);
    }
    let fail = |what: String| Err(format!("{path}: {what} (value {v})"));
    if let Some(c) = s.get("const")
        && c != v
    {
        return fail(format!("expected {c}"));
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        return fail(format!("not one of {e:?}"));
    }
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => return fail("bad type keyword".into()),
        };
        let ok = types.iter().any(|t| match *t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "number" => v.is_number(),
            "integer" => v.is_u64() || v.is_i64(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            _ => false,
        });
        if !ok {
            return fail(format!("not of type {types:?}"));
        }
    }
    if let (Some(min), Some(n)) = (s.get("minimum").and_then(Value::as_f64), v.as_f64())
        && n < min
    {
        return fail(format!("below minimum {min}"));
    }
    if let (Some(p), Some(text)) = (s.get("pattern").and_then(Value::as_str), v.as_str())
        && !regex_lite::Regex::new(p).unwrap().is_match(text)
    {
        return fail(format!("does not match {p}"));
    }
    if let Some(obj) = v.as_object() {
        for key in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = key.as_str().unwrap();
            if !obj.contains_key(key) {
                return fail(format!("missing required {key}"));
            }
        }
        let props = s.get("properties").and_then(Value::as_object);
        let patterns = s.get("patternProperties").and_then(Value::as_object);
        for (key, value) in obj {
            let sub = format!("{path}.{key}");
            if let Some(ps) = props.and_then(|p| p.get(key)) {
                validate(root, ps, value, &sub)?;
                continue;
            }
            let by_pattern = patterns.and_then(|pp| {
                pp.iter()
                    .find(|(re, _)| regex_lite::Regex::new(re).unwrap().is_match(key))
            });
            if let Some((_, ps)) = by_pattern {
                validate(root, ps, value, &sub)?;
                continue;
            }
            if s.get("additionalProperties") == Some(&Value::Bool(false)) {
                return fail(format!("unexpected property {key}"));
            }
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
        for (i, item) in arr.iter().enumerate() {
            validate(root, items, item, &format!("{path}[{i}]"))?;
        }
    }
    Ok(())
}

#[test]
fn the_validator_rejects_what_the_schema_forbids() {
    let s = schema();
    let target = Target::start(&[]);
    let url = target.url("/");
    let (_, good, _) = lps_json(&["--url", &url, "-rc", "10"], Duration::from_secs(30));
    validate(&s, &s, &good, "$").unwrap();
    let mut extra = good.clone();
    extra["surprise"] = Value::from(1);
    assert!(
        validate(&s, &s, &extra, "$")
            .unwrap_err()
            .contains("unexpected property surprise")
    );
    let mut missing = good.clone();
    missing["latency_us"]
        .as_object_mut()
        .unwrap()
        .remove("p999");
    assert!(
        validate(&s, &s, &missing, "$")
            .unwrap_err()
            .contains("missing required p999")
    );
    let mut wrong = good;
    wrong["iterations"][0]["mode"] = Value::from("Z");
    assert!(
        validate(&s, &s, &wrong, "$")
            .unwrap_err()
            .contains("$.iterations[0].mode")
    );
}

#[test]
fn reports_of_every_kind_of_run_validate() {
    let s = schema();
    let target = Target::start(&[]);
    let ok = target.url("/");
    let status = target.url("/status/404");
    let closed = format!("http://127.0.0.1:{}/", closed_port());
    let runs: Vec<Vec<&str>> = vec![
        vec!["--url", &ok, "-rc", "50", "-nc", "2"],
        vec!["--url", &ok, "-im", "D", "-d", "1", "--rate", "100"],
        vec!["--url", &status, "-rc", "5", "-hv", "2.0", "-h2c"],
        vec!["--url", &closed, "-rc", "3"],
        vec![
            "--url", &ok, "-im", "CRB", "-rc", "6", "-bs", "3", "-cdt", "10",
        ],
        // Rules: a failure rule that holds, a termination rule that fires.
        vec![
            "--url",
            &status,
            "-im",
            "D",
            "-d",
            "20",
            "-fr",
            "ErrorRate > 0.5",
            "-tr",
            "TotalTime.Max >= 0;00:00:00",
        ],
    ];
    for args in runs {
        let (_, report, stderr) = lps_json(&args, Duration::from_secs(30));
        if let Err(e) = validate(&s, &s, &report, "$") {
            panic!("{args:?}: {e}\nstderr: {stderr}");
        }
    }
}

#[test]
fn reports_with_the_watchdogs_pauses_validate() {
    let s = schema();
    let target = Target::start(&[]);
    let url = target.url("/");
    let dir = Scratch::new("schema-watchdog");
    // Paused throughout (every process is over 2 MB), and never paused.
    for (name, watchdog) in [
        (
            "paused.json",
            r#"{"MaxMemoryMB": 2, "CoolDownMemoryMB": 1}"#,
        ),
        (
            "free.json",
            r#"{"MaxMemoryMB": 1000000, "CoolDownMemoryMB": 1}"#,
        ),
    ] {
        let settings = dir.write(
            name,
            format!(r#"{{"LPSAppSettings": {{"Watchdog": {watchdog}}}}}"#),
        );
        let settings = settings.to_str().expect("utf-8 path");
        let args = ["--url", &url, "-im", "D", "-d", "1", "--settings", settings];
        let (_, report, stderr) = lps_json(&args, Duration::from_secs(30));
        assert!(report.get("watchdog").is_some(), "{report}");
        if let Err(e) = validate(&s, &s, &report, "$") {
            panic!("{name}: {e}\nstderr: {stderr}");
        }
    }
}

#[test]
fn a_node_that_caught_up_a_restarted_master_validates() {
    let s = schema();
    let target = Target::start(&[]);
    let url = target.url("/");
    let (_, mut report, _) = lps_json(&["--url", &url, "-rc", "10"], Duration::from_secs(30));
    // A cluster report's node, as the master writes it.
    let node = |caught_up: Option<bool>| {
        let mut n = serde_json::json!({
            "id": "w1", "host": "127.0.0.2", "role": "worker", "state": "Finished", "cores": 1,
            "requests": report["requests"], "errors": 0, "latency_us": report["latency_us"],
            "throughput_rps": report["throughput_rps"], "bytes": report["bytes"],
        });
        if let Some(c) = caught_up {
            n["caught_up"] = Value::from(c);
        }
        n
    };
    let nodes = vec![node(None), node(Some(true))];
    let bad = node(Some(false));
    report["nodes"] = Value::from(nodes);
    validate(&s, &s, &report, "$").unwrap();
    // Left out when false, never written as false.
    report["nodes"][0] = bad;
    assert!(
        validate(&s, &s, &report, "$")
            .unwrap_err()
            .contains("$.nodes[0].caught_up")
    );
}
