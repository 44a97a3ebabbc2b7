//! Each method through a template, as a plan would call it.

use crate::scope::{Globals, Scope, Session};
use crate::template::Template;
use crate::variable::{VarType, Variable};

fn run(text: &str, g: &Globals, s: &mut Session) -> String {
    let t = Template::compile(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    t.render_string(&mut Scope::new(s, g))
}

#[test]
fn counters_count_per_client_and_reset() {
    let g = Globals::default();
    let (mut a, mut b) = (Session::new(1), Session::new(2));
    let t = "$counter(start=1, reset=3)";
    let got: Vec<String> = (0..4).map(|_| run(t, &g, &mut a)).collect();
    assert_eq!(got, ["1", "2", "3", "1"]);
    assert_eq!(run(t, &g, &mut b), "1");
    // Global: one sequence for every client.
    let t = "${iterate(start=10, step=5, isGlobal=true)}";
    assert_eq!(run(t, &g, &mut a), "10");
    assert_eq!(run(t, &g, &mut b), "15");
    // A named counter is its own.
    assert_eq!(run("$loopcounter(start=1, name=x)", &g, &mut a), "1");
}

#[test]
fn variable_stores_the_result_for_later_placeholders() {
    let g = Globals::default();
    let mut s = Session::new(1);
    assert_eq!(run("$set(variable=who, value=ann)", &g, &mut s), "ann");
    assert_eq!(run("hi ${who}", &g, &mut s), "hi ann");
    run(
        "$uuid(prefix=order-, variable=id, isGlobal=true)",
        &g,
        &mut s,
    );
    let id = g.get("id").expect("a global id");
    assert!(
        id.raw().starts_with("order-") && id.raw().len() == 42,
        "{}",
        id.raw()
    );
    assert!(s.get("id").is_none());
    run("$randomNumber(min=5, max=5, variable=n)", &g, &mut s);
    assert_eq!(s.get("n").map(|v| v.kind()), Some(VarType::Int));
    assert_eq!(run("${n}", &g, &mut s), "5");
}

#[test]
fn text_methods_resolve_their_arguments() {
    let g = Globals::default();
    g.put(
        "items",
        Variable::new(VarType::Json, r#"{"list": [1, 2, 3]}"#),
    );
    g.put("name", Variable::new(VarType::String, "Ann Lee"));
    let mut s = Session::new(1);
    assert_eq!(run("$length(${items.list})", &g, &mut s), "3");
    assert_eq!(run("$length(source=${items.nope})", &g, &mut s), "0");
    assert_eq!(run("$toUpperCase(${name})", &g, &mut s), "ANN LEE");
    assert_eq!(
        run(
            "$contains(source=${name}, value=lee, ignoreCase=true)",
            &g,
            &mut s
        ),
        "true"
    );
    assert_eq!(
        run("$startsWith(source=${name}, value=Lee)", &g, &mut s),
        "false"
    );
    assert_eq!(run("$urlencode(value=${name})", &g, &mut s), "Ann%20Lee");
    assert_eq!(run("$random(length=12)", &g, &mut s).len(), 12);
    let email = run("$generateEmail(prefix=qa, domain=x.io)", &g, &mut s);
    assert!(
        email.starts_with("qa-") && email.ends_with("@x.io"),
        "{email}"
    );
    assert_eq!(run("$timestamp(format=yyyy)", &g, &mut s).len(), 4);
}

#[test]
fn methods_lps_has_and_lps_does_not_run_yet_are_named_apart() {
    use crate::template::TemplateError;
    assert_eq!(
        Template::compile("$find(source=x)"),
        Err(TemplateError::MethodNotYet("find".into()))
    );
    assert_eq!(
        Template::compile("$frobnicate()"),
        Err(TemplateError::UnknownMethod("frobnicate".into()))
    );
}
