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
fn every_lps_method_compiles_and_unknown_ones_are_named() {
    use crate::template::TemplateError;
    for name in [
        "randomItem",
        "hash",
        "hmac",
        "format",
        "jwtclaim",
        "jwtsign",
        "read",
        "readif",
        "find",
        "findxml",
        "setvariableif",
        "setif",
        "sum",
        "min",
        "max",
        "multiply",
        "average",
        "avg",
        "divide",
        "subtract",
        "mod",
        "pow",
        "abs",
        "floor",
        "ceil",
        "round",
        "clamp",
        "greaterthan",
        "smallerthan",
        "greaterthanorequal",
        "smallerthanorequal",
        "greater",
        "less",
        "equal",
        "stringequals",
    ] {
        let text = format!("${name}(source=x)");
        assert!(Template::compile(&text).is_ok(), "{text}");
    }
    assert_eq!(
        Template::compile("$frobnicate()"),
        Err(TemplateError::UnknownMethod("frobnicate".into()))
    );
}

/// The stored variable's type and raw text.
fn stored(s: &Session, g: &Globals, name: &str) -> Option<(VarType, String)> {
    let v = s.get(name).or_else(|| g.get(name))?;
    Some((v.kind(), v.raw().to_string()))
}

fn put(g: &Globals, name: &str, kind: VarType, value: &str) {
    g.put(name, Variable::new(kind, value));
}

#[test]
fn numeric_methods_as_lps_documents_them() {
    let g = Globals::default();
    put(&g, "x", VarType::String, "5");
    put(&g, "z", VarType::String, "7");
    put(&g, "prices", VarType::Json, "[1, 2, 3]");
    let mut s = Session::new(1);
    let cases = [
        ("$sum(source=[1, 2, 3, 4], variable=total)", "10"),
        ("$sum(source=[${x}, 10, 4, ${z}], variable=total)", "26"),
        ("$sum(source=${prices})", "6"),
        ("$sum(source=[1, abc, 3])", "4"),
        ("$sum(variable=none)", ""),
        ("$min(source=[8, 2, 5], variable=lowest)", "2"),
        ("$max(source=[8, 2, 5], variable=highest)", "8"),
        ("$multiply(source=[2, 3, 4])", "24"),
        ("$average(source=[1, 2, 3, 4], variable=mean)", "2.5"),
        ("$avg(source=[2, 4, 6])", "4"),
        ("$divide(a=10, b=4, variable=ratio)", "2.5"),
        ("$divide(a=10, b=0)", ""),
        ("$subtract(a=5, b=2)", "3"),
        ("$mod(a=10, b=3, variable=leftover)", "1"),
        ("$mod(a=10, b=0)", ""),
        ("$pow(base=2, exponent=10, variable=capacity)", "1024"),
        ("$abs(source=-5, variable=magnitude)", "5"),
        ("$abs(-7, variable=magnitude2)", "7"),
        ("$floor(source=2.7)", "2"),
        ("$ceil(source=2.1)", "3"),
        ("$round(source=3.14159, digits=2, variable=pi)", "3.14"),
        ("$round(source=2.6, variable=nearest)", "3"),
        ("$round(source=2.5)", "3"),
        ("$round(source=-2.5)", "-3"),
        ("$clamp(value=15, min=0, max=10, variable=bounded)", "10"),
        ("$clamp(value=-4, min=0, max=10)", "0"),
        ("$clamp(value=5, min=10, max=0)", "5"),
        ("$greater(a=8, b=3)", "8"),
        ("$less(a=8, b=3)", "3"),
        ("$sum(source=[0.1, 0.2])", "0.30000000000000004"),
        ("$sum(source=[\"1,000\", 1])", "1001"),
        ("$multiply(source=[1e10, 1e10])", "1E+20"),
        ("$multiply(source=[1e9, 1e9])", "1000000000000000000"),
    ];
    for (text, want) in cases {
        assert_eq!(run(text, &g, &mut s), want, "{text}");
    }
    assert_eq!(
        stored(&s, &g, "mean"),
        Some((VarType::Double, "2.5".into()))
    );
    assert_eq!(
        stored(&s, &g, "capacity"),
        Some((VarType::Int, "1024".into()))
    );
    assert_eq!(stored(&s, &g, "none"), Some((VarType::String, "".into())));
    assert_eq!(stored(&s, &g, "pi"), Some((VarType::Double, "3.14".into())));
    // `as=` overrides the stored type; a method's `isGlobal` stores for all.
    run(
        "$sum(source=[1, 2], as=string, variable=t, isGlobal=true)",
        &g,
        &mut s,
    );
    assert_eq!(
        g.get("t").map(|v| (v.kind(), v.raw().to_string())),
        Some((VarType::String, "3".into()))
    );
}

#[test]
fn comparisons_give_booleans_and_the_number_variable() {
    let g = Globals::default();
    put(&g, "status", VarType::String, "OK");
    let mut s = Session::new(1);
    let t = "$greaterthan(a=8, b=3, variable=isBigger, numberVariable=peak)";
    assert_eq!(run(t, &g, &mut s), "true");
    assert_eq!(
        stored(&s, &g, "isBigger"),
        Some((VarType::Boolean, "true".into()))
    );
    assert_eq!(stored(&s, &g, "peak"), Some((VarType::Int, "8".into())));
    let t = "$smallerthan(a=3, b=8, variable=isSmaller, numberVariable=low)";
    assert_eq!(run(t, &g, &mut s), "true");
    assert_eq!(stored(&s, &g, "low"), Some((VarType::Int, "3".into())));
    let cases = [
        (
            "$greaterthanorequal(a=5, b=5, variable=atLeastFive)",
            "true",
        ),
        (
            "$smallerthanorequal(a=9, b=5, variable=withinFive)",
            "false",
        ),
        ("$greaterthan(a=8)", "false"),
        ("$equal(a=5, b=5)", "true"),
        ("$equal(a=5, b=6)", "false"),
        ("$equal(a=10, b=12, tolerance=3)", "true"),
        ("$equal(a=10, b=14, tolerance=3)", "false"),
        ("$stringequals(a=Hello, b=hello)", "false"),
        ("$stringequals(a=Hello, b=hello, ignoreCase=true)", "true"),
        ("$stringequals(a=${status}, b=OK, variable=isOk)", "true"),
    ];
    for (text, want) in cases {
        assert_eq!(run(text, &g, &mut s), want, "{text}");
    }
    assert_eq!(
        stored(&s, &g, "isOk"),
        Some((VarType::Boolean, "true".into()))
    );
    assert_eq!(
        run("$greaterthan(a=x, b=1, variable=bad)", &g, &mut s),
        "false"
    );
    assert_eq!(
        stored(&s, &g, "bad"),
        Some((VarType::Boolean, "false".into()))
    );
}

#[test]
fn set_stores_typed_and_nested_methods_resolve_first() {
    let g = Globals::default();
    let mut s = Session::new(1);
    assert_eq!(
        run("$setvariable(variable=count, value=42, as=int)", &g, &mut s),
        "42"
    );
    assert_eq!(stored(&s, &g, "count"), Some((VarType::Int, "42".into())));
    assert_eq!(
        run("$set(variable=sum, value=2+3, as=int)", &g, &mut s),
        "2+3"
    );
    assert_eq!(stored(&s, &g, "sum"), Some((VarType::Int, "5".into())));
    run("$set(variable=ratio, value=1.5+1, as=double)", &g, &mut s);
    assert_eq!(
        stored(&s, &g, "ratio"),
        Some((VarType::Double, "2.5".into()))
    );
    run("$set(variable=expr, value=2+3)", &g, &mut s);
    assert_eq!(
        stored(&s, &g, "expr"),
        Some((VarType::String, "2+3".into()))
    );
    let t = "${setvariable(variable=total, value=$sum(source=[2,3]), as=int)}";
    assert_eq!(run(t, &g, &mut s), "5");
    let t = "${setvariable(variable=x, value=$multiply(source=[$sum(source=[2,3]), 2]), as=int)}";
    assert_eq!(run(t, &g, &mut s), "10");
    assert_eq!(stored(&s, &g, "x"), Some((VarType::Int, "10".into())));
    run(
        "$set(variable=o, value={\"a\": {\"b\": 7}}, as=json)",
        &g,
        &mut s,
    );
    assert_eq!(run("${o.a.b}", &g, &mut s), "7");
}

#[test]
fn setif_stores_the_branch_the_condition_takes() {
    let g = Globals::default();
    put(&g, "score", VarType::Int, "90");
    let mut s = Session::new(1);
    let r = |t: &str, s: &mut Session| run(t, &g, s);
    assert_eq!(
        r(
            "$setvariableif(variable=size, condition=10 > 5, value=big)",
            &mut s
        ),
        "big"
    );
    assert_eq!(
        stored(&s, &g, "size"),
        Some((VarType::String, "big".into()))
    );
    let t = "$setvariableif(variable=size, condition=10 < 5, value=big, default=small)";
    assert_eq!(r(t, &mut s), "small");
    assert_eq!(
        stored(&s, &g, "size"),
        Some((VarType::String, "small".into()))
    );
    // False without a default: untouched.
    assert_eq!(
        r("$setif(variable=size, condition=10 < 5, value=big)", &mut s),
        ""
    );
    assert_eq!(
        stored(&s, &g, "size"),
        Some((VarType::String, "small".into()))
    );
    let t = "$setif(variable=grade, condition=${score} >= 80 && ${score} < 100, value=high)";
    assert_eq!(r(t, &mut s), "high");
    assert_eq!(
        r(
            "$setif(variable=n, condition=1 == 1, value=2+3, as=int)",
            &mut s
        ),
        "5"
    );
    assert_eq!(stored(&s, &g, "n"), Some((VarType::Int, "5".into())));
    assert_eq!(
        r(
            "$setif(variable=o, condition=true, value={\"a\":1}, as=json)",
            &mut s
        ),
        "{\"a\":1}"
    );
    assert_eq!(
        stored(&s, &g, "o"),
        Some((VarType::Json, "{\"a\":1}".into()))
    );
    // No variable, or no condition: nothing.
    assert_eq!(r("$setif(condition=1 == 1, value=x)", &mut s), "");
    assert_eq!(r("$setif(variable=size, value=x)", &mut s), "");
    assert_eq!(
        stored(&s, &g, "size"),
        Some((VarType::String, "small".into()))
    );
}

/// A scratch file under the target dir, removed on drop.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str, bytes: &[u8]) -> Scratch {
        let dir = std::env::temp_dir().join(format!("lps-scenario-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("scratch file");
        Scratch(path)
    }

    fn path(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Best effort: a leftover file in the temp dir harms nothing.
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn read_gives_files_env_and_variables() {
    let g = Globals::default();
    put(&g, "src", VarType::String, "hello");
    let mut s = Session::new(1);
    let ten = Scratch::new("ten.txt", b"10");
    let t = format!("$read(source=file, path={}, variable=out)", ten.path());
    assert_eq!(run(&t, &g, &mut s), "10");
    assert_eq!(stored(&s, &g, "out"), Some((VarType::String, "10".into())));
    let t = format!("$read(path={}, as=int, variable=n)", ten.path());
    assert_eq!(run(&t, &g, &mut s), "10");
    assert_eq!(stored(&s, &g, "n"), Some((VarType::Int, "10".into())));
    let json = Scratch::new("a.json", b"\xEF\xBB\xBF{\"a\": {\"b\": 7}}");
    run(
        &format!("$read(path={}, as=json, variable=j)", json.path()),
        &g,
        &mut s,
    );
    assert_eq!(run("${j.a.b}", &g, &mut s), "7");
    assert_eq!(
        run("$read(path=/no/such/file, variable=missing)", &g, &mut s),
        ""
    );
    assert_eq!(
        stored(&s, &g, "missing"),
        Some((VarType::String, "".into()))
    );
    // SAFETY: the variable name is this test's own; no other test reads it.
    unsafe { std::env::set_var("LPS_SCENARIO_TEST_TOKEN", "tok-1") };
    assert_eq!(
        run(
            "$read(source=env, name=LPS_SCENARIO_TEST_TOKEN)",
            &g,
            &mut s
        ),
        "tok-1"
    );
    assert_eq!(
        run("$read(source=env, name=LPS_SCENARIO_NOT_SET)", &g, &mut s),
        ""
    );
    assert_eq!(run("$read(source=variable, name=src)", &g, &mut s), "hello");
    let t = "$setvariable(variable=copy, value=$read(source=variable, name=src))";
    assert_eq!(run(t, &g, &mut s), "hello");
}

#[test]
fn readif_reads_only_when_the_condition_holds() {
    let g = Globals::default();
    put(&g, "src", VarType::String, "hello");
    put(&g, "useOverrides", VarType::Boolean, "false");
    let mut s = Session::new(1);
    let r = |t: &str, s: &mut Session| run(t, &g, s);
    assert_eq!(
        r(
            "$readif(condition=1 == 1, source=variable, name=src, variable=out)",
            &mut s
        ),
        "hello"
    );
    assert_eq!(
        r(
            "$readif(condition=1 == 2, source=variable, name=src, variable=o2)",
            &mut s
        ),
        ""
    );
    assert_eq!(stored(&s, &g, "o2"), None);
    let t = "$readif(condition=1 == 2, source=variable, name=src, variable=o3, default=fallback)";
    assert_eq!(r(t, &mut s), "fallback");
    assert_eq!(
        stored(&s, &g, "o3"),
        Some((VarType::String, "fallback".into()))
    );
    let file = Scratch::new("content.txt", b"file-content");
    let t = format!(
        "$readif(condition=true, source=file, path={}, variable=f)",
        file.path()
    );
    assert_eq!(r(&t, &mut s), "file-content");
    let t = "$readif(condition=${useOverrides} == true, source=file, path=x.json, as=json, variable=overrides, default={})";
    assert_eq!(r(t, &mut s), "{}");
    assert_eq!(
        stored(&s, &g, "overrides"),
        Some((VarType::Json, "{}".into()))
    );
    assert_eq!(
        r("$readif(source=variable, name=src, variable=none)", &mut s),
        ""
    );
}

#[test]
fn random_item_picks_an_item_as_json() {
    let g = Globals::default();
    put(&g, "users", VarType::Json, r#"[{"id": 1}, {"id": 2}]"#);
    put(&g, "one", VarType::Json, r#"["only"]"#);
    let mut s = Session::new(1);
    let got = run(
        "$randomItem(source=$users, variable=randomUser)",
        &g,
        &mut s,
    );
    assert!(got == r#"{"id":1}"# || got == r#"{"id":2}"#, "{got}");
    assert_eq!(
        stored(&s, &g, "randomUser").map(|v| v.0),
        Some(VarType::String)
    );
    assert_eq!(run("$randomItem($one)", &g, &mut s), "\"only\"");
    assert_eq!(run("$randomItem(source=\"[7]\")", &g, &mut s), "7");
    assert_eq!(run("$randomItem(source=[])", &g, &mut s), "");
    assert_eq!(run("$randomItem(source=nope, variable=r)", &g, &mut s), "");
    assert_eq!(stored(&s, &g, "r"), Some((VarType::String, "".into())));
}

const ORDERS: &str = r#"[{"id":1,"status":"shipped","total":150},{"id":2,"status":"pending","total":50},{"id":3,"status":"shipped","total":300}]"#;

#[test]
fn find_filters_projects_and_picks() {
    let g = Globals::default();
    put(&g, "orders", VarType::Json, ORDERS);
    put(&g, "threshold", VarType::String, "100");
    let mut s = Session::new(1);
    let find =
        |rest: &str, s: &mut Session| run(&format!("$find(source=${{orders}}, {rest})"), &g, s);
    let w = r#"where=item.status == "shipped""#;
    assert_eq!(
        find(
            &format!("{w}, select=item.id, match=first, variable=firstId"),
            &mut s
        ),
        "1"
    );
    assert_eq!(stored(&s, &g, "firstId"), Some((VarType::Int, "1".into())));
    assert_eq!(
        find(
            &format!("{w}, select=item.id, match=all, variable=ids"),
            &mut s
        ),
        "[1,3]"
    );
    assert_eq!(stored(&s, &g, "ids"), Some((VarType::Json, "[1,3]".into())));
    assert_eq!(find(&format!("{w}, match=count, variable=c"), &mut s), "2");
    assert_eq!(stored(&s, &g, "c"), Some((VarType::Int, "2".into())));
    assert_eq!(
        find(&format!("{w}, select=item.id, match=last"), &mut s),
        "3"
    );
    assert_eq!(
        find(&format!("{w}, select=item.id, match=index:1"), &mut s),
        "3"
    );
    let none = r#"where=item.status == "cancelled", select=item.id, default=NONE"#;
    assert_eq!(find(none, &mut s), "NONE");
    assert_eq!(
        find(
            "where=item.total > ${threshold}, select=item.id, match=all",
            &mut s
        ),
        "[1,3]"
    );
    find(&format!("{w}, match=first, variable=firstOrder"), &mut s);
    assert_eq!(
        stored(&s, &g, "firstOrder").map(|v| v.0),
        Some(VarType::Json)
    );
    assert_eq!(run("${firstOrder.total}", &g, &mut s), "150");
    assert_eq!(find("match=count", &mut s), "3");
    // A projection that is not one reference is text, not arithmetic (LPS).
    assert_eq!(find("select=item.id * 10, match=last", &mut s), "3 * 10");
    let t = r#"$find(source=not-json, where=item.status == "shipped", select=item.id, default=fallback)"#;
    assert_eq!(run(t, &g, &mut s), "fallback");
    assert_eq!(run("$find(source=not-json, match=count)", &g, &mut s), "0");
}

#[test]
fn find_reads_nested_fields_paths_and_dollar_text() {
    let g = Globals::default();
    put(
        &g,
        "users",
        VarType::Json,
        r#"[{"id":1,"username":"Bret","company":{"name":"Romaguera-Crona"},"note":"pay $99 now"},{"id":5,"username":"Kamren","phone":"(254)954-1289","company":{"name":"Keebler LLC"}}]"#,
    );
    put(
        &g,
        "doc",
        VarType::Json,
        r#"{"data": {"items": [{"n": "a"}, {"n": "b"}]}}"#,
    );
    let mut s = Session::new(1);
    let t = r#"$find(source=${users}, where=item.company.name == "Romaguera-Crona", select=item.id, match=first, variable=matchedUser)"#;
    assert_eq!(run(t, &g, &mut s), "1");
    let t = r#"$find(source=$users, where=item.username == "Bret", select=item.company.name)"#;
    assert_eq!(run(t, &g, &mut s), "Romaguera-Crona");
    assert_eq!(
        run(
            "$find(source=$users, where=item.id == 1, select=item.note)",
            &g,
            &mut s
        ),
        "pay $99 now"
    );
    assert_eq!(
        run(
            "$find(source=$users, where=item.phone != \"\", select=item.id)",
            &g,
            &mut s
        ),
        "5"
    );
    // `$.` would read as a placeholder (as in LPS): `$$.` or no `$`.
    assert_eq!(
        run(
            "$find(source=$doc, path=$$.data.items, select=item.n, match=all)",
            &g,
            &mut s
        ),
        r#"["a","b"]"#
    );
    assert_eq!(
        run(
            "$find(source=$doc, path=data.items[1], select=item.n)",
            &g,
            &mut s
        ),
        "b"
    );
    assert_eq!(
        run("$find(source=$doc, path=..n, match=all)", &g, &mut s),
        r#"["a","b"]"#
    );
    assert_eq!(
        run(
            "$find(source=$doc, path=$$.data.items[*].n, match=count)",
            &g,
            &mut s
        ),
        "2"
    );
    assert_eq!(
        run("$find(source=$doc, path=nope, match=count)", &g, &mut s),
        "0"
    );
}

const XML_ORDERS: &str = "<orders><order kind=\"online\"><id>1</id><status>shipped</status><total>150</total></order><order kind=\"store\"><id>2</id><status>pending</status><total>50</total></order><order><id>3</id><status>shipped</status><total>300</total></order></orders>";

#[test]
fn findxml_as_lps_documents_it() {
    let g = Globals::default();
    put(&g, "orders", VarType::Xml, XML_ORDERS);
    let mut s = Session::new(1);
    let fx = |rest: &str, s: &mut Session| {
        run(
            &format!("$findxml(source=$orders, path=/orders/order, {rest})"),
            &g,
            s,
        )
    };
    let w = r#"where=status="shipped""#;
    assert_eq!(
        fx(
            &format!("{w}, select=id, match=first, variable=firstShippedId"),
            &mut s
        ),
        "1"
    );
    assert_eq!(
        stored(&s, &g, "firstShippedId"),
        Some((VarType::String, "1".into()))
    );
    assert_eq!(fx(&format!("{w}, select=total, match=last"), &mut s), "300");
    assert_eq!(
        fx(&format!("{w}, match=count, variable=shippedCount"), &mut s),
        "2"
    );
    assert_eq!(
        stored(&s, &g, "shippedCount"),
        Some((VarType::Int, "2".into()))
    );
    assert_eq!(
        fx(&format!("{w}, select=id, match=all, variable=ids"), &mut s),
        r#"["1","3"]"#
    );
    assert_eq!(
        stored(&s, &g, "ids"),
        Some((VarType::Json, r#"["1","3"]"#.into()))
    );
    assert_eq!(fx("where=total>100, select=id, match=index:1", &mut s), "3");
    assert_eq!(fx(r#"where=@kind="store", select=@kind"#, &mut s), "store");
    assert_eq!(
        fx(
            r#"where=status="cancelled", select=id, default=NONE"#,
            &mut s
        ),
        "NONE"
    );
    assert_eq!(fx(r#"where=status="cancelled", match=all"#, &mut s), "[]");
    assert_eq!(
        run(
            "$findxml(source=<root><name>Leanne</name></root>, path=/root/name)",
            &g,
            &mut s
        ),
        "Leanne"
    );
    assert_eq!(
        run(
            "$findxml(source=not-xml, path=/a, default=NONE)",
            &g,
            &mut s
        ),
        "NONE"
    );
    assert_eq!(
        run("$findxml(source=not-xml, match=count)", &g, &mut s),
        "0"
    );
    assert_eq!(
        run("$findxml(source=$orders, match=count)", &g, &mut s),
        "3"
    );
}

#[test]
fn findxml_namespaces_by_prefix_or_ignored() {
    use crate::variable::Response;
    let g = Globals::default();
    let ok = || Response {
        status: 200,
        reason: "OK".into(),
        headers: Vec::new(),
    };
    let soap = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><o:order xmlns:o="urn:shop:orders"><o:id>7</o:id><o:status>pending</o:status></o:order><o:order xmlns:o="urn:shop:orders"><o:id>8</o:id><o:status>shipped</o:status></o:order></s:Body></s:Envelope>"#;
    g.put("soap", Variable::response(VarType::Xml, soap, ok()));
    put(
        &g,
        "plain",
        VarType::Xml,
        r#"<orders xmlns="urn:acme:orders"><order><id>1</id><status>shipped</status></order></orders>"#,
    );
    let mut s = Session::new(1);
    let t = r#"$findxml(source=$soap.Body, namespaces=s=http://schemas.xmlsoap.org/soap/envelope/;o=urn:shop:orders, path=/s:Envelope/s:Body/o:order, where=o:status="shipped", select=o:id, match=first, variable=shippedId)"#;
    assert_eq!(run(t, &g, &mut s), "8");
    let t = r#"$findxml(source=$soap, ignoreNamespaces=true, path=/Envelope/Body/order, where=status="shipped", select=id, match=first)"#;
    assert_eq!(run(t, &g, &mut s), "8");
    let t = r#"$findxml(source=$plain, path=/orders/order, where=status="shipped", select=id, default=NONE)"#;
    assert_eq!(run(t, &g, &mut s), "NONE");
    let t = r#"$findxml(source=$plain, path=/orders/order, where=status="shipped", select=id, ignoreNamespaces=true)"#;
    assert_eq!(run(t, &g, &mut s), "1");
}

#[test]
fn xml_variables_take_xpath_paths() {
    use crate::variable::Response;
    let g = Globals::default();
    put(&g, "x", VarType::Xml, XML_ORDERS);
    put(&g, "q", VarType::QXml, XML_ORDERS);
    let response = Response {
        status: 200,
        reason: "OK".into(),
        headers: Vec::new(),
    };
    g.put(
        "resp",
        Variable::response(VarType::Xml, XML_ORDERS, response),
    );
    let mut s = Session::new(1);
    assert_eq!(run("${x/orders/order/id}", &g, &mut s), "1");
    assert_eq!(run("${x//order[2]/total}", &g, &mut s), "50");
    assert_eq!(run("${x/orders/order[2+1]/id}", &g, &mut s), "3");
    assert_eq!(run("${x/orders/order[@kind='store']/id}", &g, &mut s), "2");
    assert_eq!(run("${x/orders/order[1]/@kind}", &g, &mut s), "online");
    assert_eq!(run("${q/orders/order/id}", &g, &mut s), "\"1\"");
    assert_eq!(
        run("${resp.Body/orders/order[3]/status}", &g, &mut s),
        "shipped"
    );
    assert_eq!(run("${resp.StatusCode}", &g, &mut s), "200");
    assert_eq!(s.take_misses(), 0);
    assert_eq!(run("${x/orders/none}", &g, &mut s), "");
    assert_eq!(run("${x.orders}", &g, &mut s), "");
    assert_eq!(s.take_misses(), 2);
}

#[test]
fn hash_and_hmac_match_known_digests() {
    let g = Globals::default();
    let mut s = Session::new(1);
    let cases = [
        (
            "$hash(value=abc)",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            "$hash(value=abc, algorithm=md5)",
            "900150983cd24fb0d6963f7d28e17f72",
        ),
        (
            "$hash(value=abc, algorithm=SHA1)",
            "a9993e364706816aba3e25717850c26c9cd0d89d",
        ),
        (
            "$hash(value=abc, algorithm=SHA384)",
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
        ),
        (
            "$hash(value=abc, algorithm=SHA512)",
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ),
        ("$hash(value=abc, algorithm=CRC32, variable=h)", ""),
        // RFC 4231 test case 2.
        (
            "$hmac(value=what do ya want for nothing?, key=Jefe)",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            "$hmac(value=what do ya want for nothing?, key=Jefe, encoding=base64)",
            "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=",
        ),
        ("$hmac(value=payload, algorithm=SHA256)", ""),
        ("$hmac(value=payload, key=secret, algorithm=MD5)", ""),
    ];
    for (text, want) in cases {
        assert_eq!(run(text, &g, &mut s), want, "{text}");
    }
    assert_eq!(stored(&s, &g, "h"), Some((VarType::String, "".into())));
}

fn b64url(part: &str) -> serde_json::Value {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

#[test]
fn jwtsign_hs256_signs_what_jwtclaim_reads() {
    let g = Globals::default();
    put(&g, "clientId", VarType::String, "c-1");
    let mut s = Session::new(1);
    let t = r#"$jwtsign(claims={"iss":"${clientId}","sub":"123"}, key=secret, algorithm=HS256, expiresIn=300, variable=assertion)"#;
    let jwt = run(t, &g, &mut s);
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "{jwt}");
    assert_eq!(
        b64url(parts[0]),
        serde_json::json!({"alg": "HS256", "typ": "JWT"})
    );
    let payload = b64url(parts[1]);
    assert_eq!(payload["iss"], "c-1");
    let iat = payload["iat"].as_i64().expect("iat");
    assert_eq!(payload["exp"].as_i64(), Some(iat + 300));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"secret");
    let sig = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[2])
            .expect("sig")
    };
    let input = format!("{}.{}", parts[0], parts[1]);
    assert!(ring::hmac::verify(&key, input.as_bytes(), &sig).is_ok());
    assert_eq!(stored(&s, &g, "assertion").map(|v| v.1), Some(jwt.clone()));
    // jwtclaim reads it back, typed by `as`.
    assert_eq!(
        run("$jwtclaim(token=${assertion}, claim=sub)", &g, &mut s),
        "123"
    );
    assert_eq!(
        run(
            "$jwtclaim(token=${assertion}, claim=exp, as=int, variable=exp)",
            &g,
            &mut s
        ),
        (iat + 300).to_string()
    );
    assert_eq!(stored(&s, &g, "exp").map(|v| v.0), Some(VarType::Int));
    assert_eq!(
        run("$jwtclaim(token=${assertion}, claim=nope)", &g, &mut s),
        ""
    );
    // An `exp` already in the claims stays; bad input gives "".
    let jwt = run(
        r#"$jwtsign(claims={"sub":"1","exp":99}, key=secret, expiresIn=300)"#,
        &g,
        &mut s,
    );
    assert_eq!(b64url(jwt.split('.').nth(1).unwrap_or(""))["exp"], 99);
    assert_eq!(
        run(
            r#"$jwtsign(claims={"sub":"1"}, key=secret, algorithm=PS256)"#,
            &g,
            &mut s
        ),
        ""
    );
    assert_eq!(run("$jwtsign(key=secret, algorithm=HS256)", &g, &mut s), "");
    assert_eq!(
        run(
            r#"$jwtsign(claims={"sub":"1"}, algorithm=RS256)"#,
            &g,
            &mut s
        ),
        ""
    );
    assert_eq!(run("$jwtclaim(token=abc, claim=sub)", &g, &mut s), "");
}

#[test]
fn jwtclaim_reads_typed_claims() {
    let g = Globals::default();
    // {"sub":"user123","exp":1735689600,"email_verified":true,"roles":["admin","editor"],"n":"a~b?"}
    let payload = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            r#"{"sub":"user123","exp":1735689600,"email_verified":true,"roles":["admin","editor"],"n":"a~b?"}"#,
        )
    };
    put(
        &g,
        "jwt",
        VarType::String,
        &format!("eyJhbGciOiJIUzI1NiJ9.{payload}.sig"),
    );
    let mut s = Session::new(1);
    assert_eq!(
        run(
            "$jwtclaim(token=$jwt, claim=exp, as=int, variable=exp)",
            &g,
            &mut s
        ),
        "1735689600"
    );
    assert_eq!(
        stored(&s, &g, "exp"),
        Some((VarType::Int, "1735689600".into()))
    );
    run(
        "$jwtclaim(token=$jwt, claim=email_verified, as=bool, variable=verified)",
        &g,
        &mut s,
    );
    assert_eq!(
        stored(&s, &g, "verified"),
        Some((VarType::Boolean, "true".into()))
    );
    run(
        "$jwtclaim(token=$jwt, claim=roles, as=json, variable=roles)",
        &g,
        &mut s,
    );
    assert_eq!(
        stored(&s, &g, "roles"),
        Some((VarType::Json, r#"["admin","editor"]"#.into()))
    );
    assert_eq!(run("${roles[0]}", &g, &mut s), "admin");
    assert_eq!(run("$jwtclaim(token=$jwt, claim=n)", &g, &mut s), "a~b?");
}

#[test]
fn jwtsign_es256_with_a_pem_key() {
    use base64::Engine;
    use ring::signature::{self, KeyPair};
    let rng = ring::rand::SystemRandom::new();
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("key");
    let pair = signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("pair");
    let b64 = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref());
    let pem = format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n");
    let key_file = Scratch::new("ec.pem", pem.as_bytes());
    let g = Globals::default();
    let mut s = Session::new(1);
    let t = format!(
        r#"$jwtsign(claims={{"sub":"1"}}, path={}, algorithm=ES256)"#,
        key_file.path()
    );
    let jwt = run(&t, &g, &mut s);
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "{jwt}");
    assert_eq!(b64url(parts[0])["alg"], "ES256");
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[2])
        .expect("sig");
    assert_eq!(sig.len(), 64);
    let public = signature::UnparsedPublicKey::new(
        &signature::ECDSA_P256_SHA256_FIXED,
        pair.public_key().as_ref(),
    );
    let input = format!("{}.{}", parts[0], parts[1]);
    assert!(public.verify(input.as_bytes(), &sig).is_ok());
}

#[test]
fn format_fills_indexes_then_resolves() {
    let g = Globals::default();
    put(&g, "user", VarType::String, "ann");
    let mut s = Session::new(1);
    assert_eq!(
        run(
            "$format(template=/users/{0}/orders/{1}, args=[7, 9], variable=p)",
            &g,
            &mut s
        ),
        "/users/[7/orders/ 9]"
    );
    assert_eq!(
        run("$format(template=Hi {0}, args=$user)", &g, &mut s),
        "Hi ann"
    );
    assert_eq!(run("$format(template=id-{0}, args=5)", &g, &mut s), "id-5");
    assert_eq!(
        run("$format(template={1}, args=5, variable=bad)", &g, &mut s),
        ""
    );
    assert_eq!(stored(&s, &g, "bad"), Some((VarType::String, "".into())));
}

/// A throwaway 2048-bit test key (ring cannot make RSA keys), in both PEM forms.
const RSA_PKCS8: &str = include_str!("testdata/rsa2048-pkcs8.pem");
const RSA_PKCS1: &str = include_str!("testdata/rsa2048-pkcs1.pem");

#[test]
fn jwtsign_rs256_with_pkcs8_and_pkcs1_pem_keys() {
    use base64::Engine;
    use ring::signature::{self, KeyPair};
    let der = {
        let b64: String = RSA_PKCS8
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("test key")
    };
    let pair = signature::RsaKeyPair::from_pkcs8(&der).expect("test key");
    let public = signature::UnparsedPublicKey::new(
        &signature::RSA_PKCS1_2048_8192_SHA256,
        pair.public_key().as_ref().to_vec(),
    );
    let g = Globals::default();
    put(&g, "privatePem", VarType::String, RSA_PKCS1);
    let file = Scratch::new("rsa.pem", RSA_PKCS8.as_bytes());
    let mut s = Session::new(1);
    let by_path = format!(
        r#"$jwtsign(claims={{"sub":"123"}}, path={}, algorithm=RS256, expiresIn=300)"#,
        file.path()
    );
    let by_variable =
        r#"$jwtsign(claims={"sub":"123"}, source=variable, name=privatePem, algorithm=RS256)"#;
    for t in [by_path.as_str(), by_variable] {
        let jwt = run(t, &g, &mut s);
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3, "{t}: {jwt}");
        assert_eq!(b64url(parts[0])["alg"], "RS256");
        assert_eq!(b64url(parts[1])["sub"], "123");
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[2])
            .expect("sig");
        let input = format!("{}.{}", parts[0], parts[1]);
        assert!(public.verify(input.as_bytes(), &sig).is_ok(), "{t}");
    }
    let t = r#"$jwtsign(claims={"sub":"1"}, key=not-a-pem, algorithm=RS256)"#;
    assert_eq!(run(t, &g, &mut s), "");
}

#[test]
fn feed_gives_each_call_the_next_row_then_an_empty_variable() {
    let dir = std::env::temp_dir().join(format!("lps-feed-method-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("users.csv");
    std::fs::write(&path, "name,role\nann,admin\nbob,user\n").unwrap();
    let call = format!(
        "$feed(source={}, strategy=queue, variable=user)",
        path.display()
    );
    let g = Globals::default();
    let (mut a, mut b) = (Session::new(1), Session::new(2));
    assert_eq!(run(&call, &g, &mut a), r#"{"name":"ann","role":"admin"}"#);
    assert_eq!(run(&call, &g, &mut b), r#"{"name":"bob","role":"user"}"#);
    assert_eq!(run("${user.name}/${user.role}", &g, &mut a), "ann/admin");
    assert_eq!(run("${user.name}", &g, &mut b), "bob");
    assert_eq!(a.take_misses() + b.take_misses(), 0);
    // Used up: the client's row from before is gone, the call and the
    // field's read count as reads of nothing, and skipIf can tell.
    assert_eq!(run(&call, &g, &mut a), "");
    assert_eq!(run("${user.name}", &g, &mut a), "");
    assert_eq!(a.take_misses(), 2);
    let skip = Template::compile(r#""${user.name}" == """#).unwrap();
    assert!(crate::expr::eval_template(
        &skip,
        &mut Scope::new(&mut a, &g)
    ));
    assert!(!crate::expr::eval_template(
        &skip,
        &mut Scope::new(&mut b, &g)
    ));
    // Circular keeps going; the default strategy is queue.
    let circular = format!("$feed({}, strategy=Circular, variable=u)", path.display());
    let got: Vec<String> = (0..3)
        .map(|_| run(&format!("{circular}${{u.name}}"), &g, &mut a))
        .map(|t| t.rsplit('}').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(got, ["ann", "bob", "ann"]);
    let default = format!("$feed(source={}, variable=v)", path.display());
    assert_eq!(run(&default, &g, &mut b), "");
}
