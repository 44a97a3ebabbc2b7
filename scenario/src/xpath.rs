//! The part of XPath 1.0 LPS's plans use, over a [`roxmltree`] document:
//! what `XmlDocument.SelectNodes`/`SelectSingleNode` give for `${x/a/b}`
//! paths and `$findxml`.
//!
//! Paths: absolute (`/a/b`), `//` anywhere, relative (`a/b`, `.`, `..`),
//! element names with a prefix (`o:order`, bound by the caller) or `*`,
//! `@attr`, `@*`, `text()`, `node()`, `child::`/`attribute::`/`self::`/
//! `parent::`/`descendant::`/`descendant-or-self::` axes, and predicates:
//! a position (`[2]`, `[last()]`), comparisons (`= != < <= > >=`) with
//! XPath's node-set rules, `and`/`or`, `|`, and the functions `position
//! last count not true false string number boolean contains starts-with
//! string-length normalize-space concat local-name name`. Whitespace-only
//! text is not a node, as `XmlDocument` drops it.

use roxmltree::Node;

/// A compiled expression.
#[derive(Debug, Clone, PartialEq)]
pub struct XPath(Expr);

/// Why a text is not an XPath this module reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("xpath {0}")]
pub struct XPathError(String);

fn fail<T>(m: impl Into<String>) -> Result<T, XPathError> {
    Err(XPathError(m.into()))
}

/// How element and attribute names match.
#[derive(Debug, Clone, Copy, Default)]
pub struct Names<'n> {
    /// `prefix=uri` bindings for prefixed names.
    pub prefixes: &'n [(String, String)],
    /// Compare local names only (LPS's `ignoreNamespaces=true`).
    pub ignore_namespaces: bool,
}

/// A node or an attribute (its element and its index).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum XNode<'a, 'i> {
    Node(Node<'a, 'i>),
    Attr(Node<'a, 'i>, usize),
}

impl<'a, 'i> XNode<'a, 'i> {
    /// The text .NET's `InnerText` (an attribute's value) gives.
    pub fn text(&self) -> String {
        match self {
            XNode::Attr(n, i) => n
                .attributes()
                .nth(*i)
                .map(|a| a.value().to_string())
                .unwrap_or_default(),
            XNode::Node(n) if n.is_text() => n.text().unwrap_or("").to_string(),
            XNode::Node(n) => n
                .descendants()
                .filter(|d| is_text(d))
                .filter_map(|d| d.text())
                .collect(),
        }
    }

    fn order(&self) -> (u32, usize) {
        match self {
            XNode::Node(n) => (n.id().get(), 0),
            XNode::Attr(n, i) => (n.id().get(), i + 1),
        }
    }
}

/// A text node that `XmlDocument` keeps (not whitespace only).
fn is_text(n: &Node<'_, '_>) -> bool {
    n.is_text() && n.text().is_some_and(|t| !t.trim().is_empty())
}

impl XPath {
    pub fn compile(text: &str) -> Result<XPath, XPathError> {
        let tokens = lex(text)?;
        let mut p = Parser { t: &tokens, i: 0 };
        let e = p.or()?;
        if p.i != tokens.len() {
            return fail(format!("unexpected {:?} in {text:?}", tokens[p.i]));
        }
        Ok(XPath(e))
    }

    /// The nodes selected from `context`, in document order.
    pub fn select<'a, 'i>(
        &self,
        context: Node<'a, 'i>,
        names: Names<'_>,
    ) -> Result<Vec<XNode<'a, 'i>>, XPathError> {
        let cx = Ctx {
            node: XNode::Node(context),
            pos: 1,
            size: 1,
            names,
        };
        match eval(&self.0, &cx)? {
            V::Nodes(n) => Ok(n),
            _ => fail("the expression does not select nodes"),
        }
    }
}

/// `doc.SelectSingleNode(path)?.InnerText` of `xml`: `None` when the XML or
/// the path cannot be read, or nothing is selected.
pub fn first_text(xml: &str, path: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(xml)
        .map_err(|e| log::debug!("not XML: {e}"))
        .ok()?;
    let xpath = XPath::compile(path).map_err(|e| log::debug!("{e}")).ok()?;
    let nodes = xpath.select(doc.root(), Names::default()).ok()?;
    nodes.first().map(XNode::text)
}

// ---- syntax ----

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Op(&'static str),
    Name(String),
    Str(String),
    Num(f64),
}

fn lex(s: &str) -> Result<Vec<Tok>, XPathError> {
    const OPS: [&str; 18] = [
        "//", "::", "..", "!=", "<=", ">=", "/", "[", "]", "(", ")", "@", ",", "|", ".", "*", "=",
        "<",
    ];
    let c: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let rest: String = c[i..(i + 2).min(c.len())].iter().collect();
        if c[i].is_whitespace() {
            i += 1;
        } else if c[i] == '"' || c[i] == '\'' {
            let end = c[i + 1..]
                .iter()
                .position(|x| *x == c[i])
                .ok_or_else(|| XPathError("unterminated literal".into()))?;
            out.push(Tok::Str(c[i + 1..i + 1 + end].iter().collect()));
            i += end + 2;
        } else if c[i].is_ascii_digit()
            || (c[i] == '.' && rest.len() == 2 && rest.as_bytes()[1].is_ascii_digit())
        {
            let start = i;
            while i < c.len() && (c[i].is_ascii_digit() || c[i] == '.') {
                i += 1;
            }
            let text: String = c[start..i].iter().collect();
            out.push(Tok::Num(
                text.parse()
                    .map_err(|_| XPathError(format!("bad number {text}")))?,
            ));
        } else if c[i].is_alphabetic() || c[i] == '_' {
            let start = i;
            while i < c.len()
                && (c[i].is_alphanumeric()
                    || matches!(c[i], '_' | '-' | '.')
                    || (c[i] == ':'
                        && c.get(i + 1) != Some(&':')
                        && c.get(i.wrapping_sub(1)) != Some(&':')))
            {
                i += 1;
            }
            out.push(Tok::Name(c[start..i].iter().collect()));
        } else if let Some(op) = OPS.iter().find(|o| rest.starts_with(**o)) {
            out.push(Tok::Op(op));
            i += op.chars().count();
        } else if c[i] == '>' || c[i] == '-' {
            out.push(Tok::Op(if c[i] == '>' { ">" } else { "-" }));
            i += 1;
        } else {
            return fail(format!("unexpected {:?}", c[i]));
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Cmp(&'static str, Box<Expr>, Box<Expr>),
    Neg(Box<Expr>),
    Union(Box<Expr>, Box<Expr>),
    Str(String),
    Num(f64),
    Call(String, Vec<Expr>),
    Path { absolute: bool, steps: Vec<Step> },
}

#[derive(Debug, Clone, PartialEq)]
struct Step {
    axis: Axis,
    test: Test,
    preds: Vec<Expr>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Axis {
    Child,
    Attribute,
    SelfNode,
    Parent,
    Descendant,
    DescendantOrSelf,
}

#[derive(Debug, Clone, PartialEq)]
enum Test {
    /// `prefix:local`, `local`, `*`, `prefix:*`.
    Name(Option<String>, String),
    Text,
    Node,
}

struct Parser<'t> {
    t: &'t [Tok],
    i: usize,
}

impl Parser<'_> {
    fn peek_op(&self, op: &str) -> bool {
        matches!(self.t.get(self.i), Some(Tok::Op(o)) if *o == op)
    }

    fn peek_name(&self, name: &str) -> bool {
        matches!(self.t.get(self.i), Some(Tok::Name(n)) if n == name)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        let hit = self.peek_op(op);
        self.i += usize::from(hit);
        hit
    }

    fn expect(&mut self, op: &str) -> Result<(), XPathError> {
        if self.eat_op(op) {
            Ok(())
        } else {
            fail(format!("expected {op}"))
        }
    }

    fn or(&mut self) -> Result<Expr, XPathError> {
        let mut e = self.and()?;
        while self.peek_name("or") {
            self.i += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, XPathError> {
        let mut e = self.cmp()?;
        while self.peek_name("and") {
            self.i += 1;
            e = Expr::And(Box::new(e), Box::new(self.cmp()?));
        }
        Ok(e)
    }

    fn cmp(&mut self) -> Result<Expr, XPathError> {
        let mut e = self.unary()?;
        while let Some(Tok::Op(op @ ("=" | "!=" | "<" | "<=" | ">" | ">="))) = self.t.get(self.i) {
            self.i += 1;
            e = Expr::Cmp(op, Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Expr, XPathError> {
        if self.eat_op("-") {
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        let mut e = self.primary()?;
        while self.eat_op("|") {
            e = Expr::Union(Box::new(e), Box::new(self.primary()?));
        }
        Ok(e)
    }

    fn primary(&mut self) -> Result<Expr, XPathError> {
        match self.t.get(self.i).cloned() {
            Some(Tok::Str(s)) => {
                self.i += 1;
                Ok(Expr::Str(s))
            }
            Some(Tok::Num(n)) => {
                self.i += 1;
                Ok(Expr::Num(n))
            }
            Some(Tok::Op("(")) => {
                self.i += 1;
                let e = self.or()?;
                self.expect(")")?;
                Ok(e)
            }
            Some(Tok::Name(n))
                if !matches!(n.as_str(), "text" | "node")
                    && matches!(self.t.get(self.i + 1), Some(Tok::Op("("))) =>
            {
                self.i += 2;
                let mut args = Vec::new();
                while !self.eat_op(")") {
                    args.push(self.or()?);
                    if !self.eat_op(",") {
                        self.expect(")")?;
                        break;
                    }
                }
                Ok(Expr::Call(n, args))
            }
            Some(_) => self.path(),
            None => fail("unexpected end"),
        }
    }

    fn path(&mut self) -> Result<Expr, XPathError> {
        let mut steps = Vec::new();
        let absolute = self.peek_op("/") || self.peek_op("//");
        if self.eat_op("/") {
            if !self.starts_step() {
                return Ok(Expr::Path { absolute, steps });
            }
        } else if self.eat_op("//") {
            steps.push(any_below());
        }
        loop {
            steps.push(self.step()?);
            if self.eat_op("//") {
                steps.push(any_below());
            } else if !self.eat_op("/") {
                return Ok(Expr::Path { absolute, steps });
            }
        }
    }

    fn starts_step(&self) -> bool {
        matches!(
            self.t.get(self.i),
            Some(Tok::Name(_)) | Some(Tok::Op("." | ".." | "@" | "*"))
        )
    }

    fn step(&mut self) -> Result<Step, XPathError> {
        if self.eat_op("..") {
            return Ok(plain(Axis::Parent, Test::Node));
        }
        if self.eat_op(".") {
            return Ok(plain(Axis::SelfNode, Test::Node));
        }
        let mut axis = if self.eat_op("@") {
            Axis::Attribute
        } else {
            Axis::Child
        };
        if let (Some(Tok::Name(a)), Some(Tok::Op("::"))) =
            (self.t.get(self.i), self.t.get(self.i + 1))
        {
            axis = named_axis(a)?;
            self.i += 2;
        }
        let test = self.test()?;
        let mut preds = Vec::new();
        while self.eat_op("[") {
            preds.push(self.or()?);
            self.expect("]")?;
        }
        Ok(Step { axis, test, preds })
    }

    fn test(&mut self) -> Result<Test, XPathError> {
        if self.eat_op("*") {
            return Ok(Test::Name(None, "*".into()));
        }
        let Some(Tok::Name(n)) = self.t.get(self.i).cloned() else {
            return fail("expected a name");
        };
        self.i += 1;
        if matches!(n.as_str(), "text" | "node") && self.eat_op("(") {
            self.expect(")")?;
            return Ok(if n == "text" { Test::Text } else { Test::Node });
        }
        if let Some(prefix) = n.strip_suffix(':') {
            // `prefix:*`: the lexer stops a name before `*`.
            self.expect("*")?;
            return Ok(Test::Name(Some(prefix.into()), "*".into()));
        }
        Ok(match n.split_once(':') {
            Some((p, l)) => Test::Name(Some(p.into()), l.into()),
            None => Test::Name(None, n),
        })
    }
}

fn plain(axis: Axis, test: Test) -> Step {
    Step {
        axis,
        test,
        preds: Vec::new(),
    }
}

/// `//` is `/descendant-or-self::node()/`.
fn any_below() -> Step {
    plain(Axis::DescendantOrSelf, Test::Node)
}

fn named_axis(name: &str) -> Result<Axis, XPathError> {
    Ok(match name {
        "child" => Axis::Child,
        "attribute" => Axis::Attribute,
        "self" => Axis::SelfNode,
        "parent" => Axis::Parent,
        "descendant" => Axis::Descendant,
        "descendant-or-self" => Axis::DescendantOrSelf,
        other => return fail(format!("axis {other} is not supported")),
    })
}

// ---- evaluation ----

#[derive(Debug, Clone)]
enum V<'a, 'i> {
    Nodes(Vec<XNode<'a, 'i>>),
    Str(String),
    Num(f64),
    Bool(bool),
}

struct Ctx<'a, 'i, 'n> {
    node: XNode<'a, 'i>,
    pos: usize,
    size: usize,
    names: Names<'n>,
}

fn eval<'a, 'i>(e: &Expr, cx: &Ctx<'a, 'i, '_>) -> Result<V<'a, 'i>, XPathError> {
    Ok(match e {
        Expr::Or(l, r) => V::Bool(boolean(&eval(l, cx)?) || boolean(&eval(r, cx)?)),
        Expr::And(l, r) => V::Bool(boolean(&eval(l, cx)?) && boolean(&eval(r, cx)?)),
        Expr::Cmp(op, l, r) => V::Bool(compare(op, &eval(l, cx)?, &eval(r, cx)?)),
        Expr::Neg(x) => V::Num(-number(&eval(x, cx)?)),
        Expr::Union(l, r) => {
            let (V::Nodes(mut a), V::Nodes(b)) = (eval(l, cx)?, eval(r, cx)?) else {
                return fail("'|' needs node sets");
            };
            a.extend(b);
            V::Nodes(in_order(a))
        }
        Expr::Str(s) => V::Str(s.clone()),
        Expr::Num(n) => V::Num(*n),
        Expr::Call(name, args) => call(name, args, cx)?,
        Expr::Path { absolute, steps } => V::Nodes(walk(*absolute, steps, cx)?),
    })
}

fn walk<'a, 'i>(
    absolute: bool,
    steps: &[Step],
    cx: &Ctx<'a, 'i, '_>,
) -> Result<Vec<XNode<'a, 'i>>, XPathError> {
    let start = match (absolute, cx.node) {
        (true, XNode::Node(n) | XNode::Attr(n, _)) => XNode::Node(n.document().root()),
        (false, n) => n,
    };
    let mut set = vec![start];
    for step in steps {
        let mut next = Vec::new();
        for node in &set {
            next.extend(apply_step(step, *node, cx.names)?);
        }
        set = in_order(next);
    }
    Ok(set)
}

fn apply_step<'a, 'i>(
    step: &Step,
    node: XNode<'a, 'i>,
    names: Names<'_>,
) -> Result<Vec<XNode<'a, 'i>>, XPathError> {
    let mut found = Vec::new();
    for candidate in axis_nodes(step.axis, node) {
        if matches_test(&step.test, step.axis, candidate, names)? {
            found.push(candidate);
        }
    }
    for pred in &step.preds {
        let size = found.len();
        let mut kept = Vec::new();
        for (i, n) in found.into_iter().enumerate() {
            let cx = Ctx {
                node: n,
                pos: i + 1,
                size,
                names,
            };
            let keep = match eval(pred, &cx)? {
                V::Num(p) => p == (i + 1) as f64,
                v => boolean(&v),
            };
            if keep {
                kept.push(n);
            }
        }
        found = kept;
    }
    Ok(found)
}

fn axis_nodes<'a, 'i>(axis: Axis, node: XNode<'a, 'i>) -> Vec<XNode<'a, 'i>> {
    let XNode::Node(n) = node else {
        return match (axis, node) {
            (Axis::SelfNode | Axis::DescendantOrSelf, a) => vec![a],
            (Axis::Parent, XNode::Attr(p, _)) => vec![XNode::Node(p)],
            _ => Vec::new(),
        };
    };
    let kept = |d: &Node<'_, '_>| d.is_element() || is_text(d) || d.is_root();
    match axis {
        Axis::Child => n.children().filter(kept).map(XNode::Node).collect(),
        Axis::Attribute if n.is_element() => (0..n.attributes().len())
            .map(|i| XNode::Attr(n, i))
            .collect(),
        Axis::Attribute => Vec::new(),
        Axis::SelfNode => vec![node],
        Axis::Parent => n.parent().map(XNode::Node).into_iter().collect(),
        Axis::Descendant => n
            .descendants()
            .skip(1)
            .filter(kept)
            .map(XNode::Node)
            .collect(),
        Axis::DescendantOrSelf => n.descendants().filter(kept).map(XNode::Node).collect(),
    }
}

fn matches_test(
    test: &Test,
    axis: Axis,
    node: XNode<'_, '_>,
    names: Names<'_>,
) -> Result<bool, XPathError> {
    let (ns, local) = match (test, node) {
        (Test::Node, _) => return Ok(true),
        (Test::Text, XNode::Node(n)) => return Ok(n.is_text()),
        (Test::Text, _) => return Ok(false),
        (Test::Name(..), XNode::Attr(n, i)) if axis == Axis::Attribute => {
            match n.attributes().nth(i) {
                Some(a) => (a.namespace(), a.name()),
                None => return Ok(false),
            }
        }
        (Test::Name(..), XNode::Node(n)) if n.is_element() && axis != Axis::Attribute => {
            (n.tag_name().namespace(), n.tag_name().name())
        }
        _ => return Ok(false),
    };
    let Test::Name(prefix, want) = test else {
        return Ok(false);
    };
    if want != "*" && want != local {
        return Ok(false);
    }
    if names.ignore_namespaces {
        return Ok(true);
    }
    let want_ns = match prefix {
        None => None,
        Some(p) => match names.prefixes.iter().find(|(k, _)| k == p) {
            Some((_, uri)) => Some(uri.as_str()),
            None => return fail(format!("namespace prefix {p:?} is not declared")),
        },
    };
    Ok(ns == want_ns)
}

/// Document order, each node once.
fn in_order<'a, 'i>(mut nodes: Vec<XNode<'a, 'i>>) -> Vec<XNode<'a, 'i>> {
    nodes.sort_by_key(XNode::order);
    nodes.dedup_by_key(|n| n.order());
    nodes
}

fn string(v: &V<'_, '_>) -> String {
    match v {
        V::Nodes(n) => n.first().map(XNode::text).unwrap_or_default(),
        V::Str(s) => s.clone(),
        V::Bool(b) => b.to_string(),
        V::Num(n) if n.is_finite() && *n == n.trunc() && n.abs() < 1e15 => format!("{}", *n as i64),
        V::Num(n) if n.is_nan() => "NaN".into(),
        V::Num(n) => n.to_string(),
    }
}

fn number(v: &V<'_, '_>) -> f64 {
    match v {
        V::Num(n) => *n,
        V::Bool(b) => f64::from(u8::from(*b)),
        other => text_number(&string(other)),
    }
}

/// XPath's `number(string)`: digits with an optional point and minus, else NaN.
fn text_number(s: &str) -> f64 {
    let t = s.trim();
    let body = t.strip_prefix('-').unwrap_or(t);
    let ok = !body.is_empty()
        && body.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && body.bytes().filter(|b| *b == b'.').count() <= 1
        && body != ".";
    if ok {
        t.parse().unwrap_or(f64::NAN)
    } else {
        f64::NAN
    }
}

fn boolean(v: &V<'_, '_>) -> bool {
    match v {
        V::Nodes(n) => !n.is_empty(),
        V::Str(s) => !s.is_empty(),
        V::Num(n) => *n != 0.0 && !n.is_nan(),
        V::Bool(b) => *b,
    }
}

/// XPath 1.0's comparison: node sets compare if any member does.
fn compare(op: &str, l: &V<'_, '_>, r: &V<'_, '_>) -> bool {
    match (l, r) {
        (V::Nodes(a), V::Nodes(b)) => a.iter().any(|x| {
            let x = V::Str(x.text());
            b.iter().any(|y| compare(op, &x, &V::Str(y.text())))
        }),
        (V::Nodes(_), V::Bool(_)) | (V::Bool(_), V::Nodes(_)) => {
            scalar_compare(op, &V::Bool(boolean(l)), &V::Bool(boolean(r)))
        }
        (V::Nodes(a), other) => a
            .iter()
            .any(|x| scalar_compare(op, &V::Str(x.text()), other)),
        (other, V::Nodes(b)) => b
            .iter()
            .any(|y| scalar_compare(op, other, &V::Str(y.text()))),
        _ => scalar_compare(op, l, r),
    }
}

fn scalar_compare(op: &str, l: &V<'_, '_>, r: &V<'_, '_>) -> bool {
    let eq = |l: &V<'_, '_>, r: &V<'_, '_>| match (l, r) {
        (V::Bool(_), _) | (_, V::Bool(_)) => boolean(l) == boolean(r),
        (V::Num(_), _) | (_, V::Num(_)) => number(l) == number(r),
        _ => string(l) == string(r),
    };
    let (a, b) = (number(l), number(r));
    match op {
        "=" => eq(l, r),
        "!=" => !eq(l, r),
        "<" => a < b,
        "<=" => a <= b,
        ">" => a > b,
        _ => a >= b,
    }
}

fn call<'a, 'i>(name: &str, args: &[Expr], cx: &Ctx<'a, 'i, '_>) -> Result<V<'a, 'i>, XPathError> {
    let mut vals = Vec::with_capacity(args.len());
    for a in args {
        vals.push(eval(a, cx)?);
    }
    let this = || V::Nodes(vec![cx.node]);
    let arg = |i: usize| vals.get(i).cloned().unwrap_or_else(this);
    let s = |i: usize| string(&arg(i));
    Ok(match (name, vals.len()) {
        ("position", 0) => V::Num(cx.pos as f64),
        ("last", 0) => V::Num(cx.size as f64),
        ("count", 1) => match &vals[0] {
            V::Nodes(n) => V::Num(n.len() as f64),
            _ => return fail("count() needs a node set"),
        },
        ("not", 1) => V::Bool(!boolean(&vals[0])),
        ("boolean", 1) => V::Bool(boolean(&vals[0])),
        ("true", 0) => V::Bool(true),
        ("false", 0) => V::Bool(false),
        ("string", 0 | 1) => V::Str(s(0)),
        ("number", 0 | 1) => V::Num(number(&arg(0))),
        ("contains", 2) => V::Bool(s(0).contains(&s(1))),
        ("starts-with", 2) => V::Bool(s(0).starts_with(&s(1))),
        ("string-length", 0 | 1) => V::Num(s(0).chars().count() as f64),
        ("normalize-space", 0 | 1) => V::Str(s(0).split_whitespace().collect::<Vec<_>>().join(" ")),
        ("concat", n) if n >= 2 => V::Str((0..n).map(s).collect()),
        ("local-name" | "name", 0 | 1) => V::Str(node_name(name, &arg(0))),
        _ => {
            return fail(format!(
                "function {name}() with {} arguments is not supported",
                vals.len()
            ));
        }
    })
}

fn node_name(which: &str, v: &V<'_, '_>) -> String {
    let V::Nodes(nodes) = v else {
        return String::new();
    };
    let (prefix, local) = match nodes.first() {
        Some(XNode::Node(n)) if n.is_element() => (
            n.tag_name().namespace().and_then(|ns| n.lookup_prefix(ns)),
            n.tag_name().name(),
        ),
        Some(XNode::Attr(n, i)) => match n.attributes().nth(*i) {
            Some(a) => (a.namespace().and_then(|ns| n.lookup_prefix(ns)), a.name()),
            None => return String::new(),
        },
        _ => return String::new(),
    };
    match prefix {
        Some(p) if which == "name" && !p.is_empty() => format!("{p}:{local}"),
        _ => local.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDERS: &str = "<orders>\n  <order kind=\"online\"><id>1</id><status>shipped</status><total>150</total></order>\n  <order kind=\"store\"><id>2</id><status>pending</status><total>50</total></order>\n  <order><id>3</id><status>shipped</status><total>300</total></order>\n</orders>";

    fn texts(xml: &str, path: &str, names: Names<'_>) -> Result<Vec<String>, XPathError> {
        let doc = roxmltree::Document::parse(xml).expect("test xml");
        let nodes = XPath::compile(path)?.select(doc.root(), names)?;
        Ok(nodes.iter().map(XNode::text).collect())
    }

    fn plain_texts(path: &str) -> Vec<String> {
        texts(ORDERS, path, Names::default()).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn paths_positions_and_attributes() {
        assert_eq!(plain_texts("/orders/order/id"), ["1", "2", "3"]);
        assert_eq!(plain_texts("/orders/order[2]/id"), ["2"]);
        assert_eq!(plain_texts("/orders/order[last()]/id"), ["3"]);
        assert_eq!(plain_texts("//id"), ["1", "2", "3"]);
        assert_eq!(plain_texts("//order[@kind='store']/total"), ["50"]);
        assert_eq!(plain_texts("/orders/order[1]/@kind"), ["online"]);
        assert_eq!(
            plain_texts("/orders/order/status/text()"),
            ["shipped", "pending", "shipped"]
        );
        assert_eq!(plain_texts("/orders/order[1]"), ["1shipped150"]);
        assert_eq!(plain_texts("/orders/*[3]/id"), ["3"]);
        assert_eq!(plain_texts("//order[id=2]/../order[1]/id"), ["1"]);
        assert_eq!(plain_texts("/nope"), Vec::<String>::new());
    }

    #[test]
    fn predicates_compare_as_xpath_does() {
        assert_eq!(
            plain_texts("/orders/order[status=\"shipped\"]/id"),
            ["1", "3"]
        );
        assert_eq!(plain_texts("/orders/order[total>100]/id"), ["1", "3"]);
        assert_eq!(
            plain_texts("/orders/order[total<=50 or @kind='online']/id"),
            ["1", "2"]
        );
        assert_eq!(
            plain_texts("/orders/order[status!='shipped' and total=50]/id"),
            ["2"]
        );
        assert_eq!(plain_texts("/orders/order[not(@kind)]/id"), ["3"]);
        assert_eq!(
            plain_texts("/orders/order[contains(status,'hip')][2]/id"),
            ["3"]
        );
        assert_eq!(plain_texts("/orders/order[position()>1]/id"), ["2", "3"]);
        assert_eq!(plain_texts("/orders/order[count(*)=3][1]/id"), ["1"]);
    }

    #[test]
    fn namespaces_bind_by_prefix_or_are_ignored() {
        let xml = "<o:orders xmlns:o=\"urn:o\"><o:order><o:id>1</o:id></o:order></o:orders>";
        let bound = [("x".to_string(), "urn:o".to_string())];
        let names = Names {
            prefixes: &bound,
            ignore_namespaces: false,
        };
        assert_eq!(
            texts(xml, "/x:orders/x:order/x:id", names),
            Ok(vec!["1".to_string()])
        );
        assert_eq!(texts(xml, "/orders/order/id", Names::default()), Ok(vec![]));
        let ignore = Names {
            prefixes: &[],
            ignore_namespaces: true,
        };
        assert_eq!(
            texts(xml, "/orders/order/id", ignore),
            Ok(vec!["1".to_string()])
        );
        assert!(texts(xml, "/y:orders", Names::default()).is_err());
        let default_ns = "<a xmlns=\"urn:d\"><b>2</b></a>";
        assert_eq!(texts(default_ns, "/a/b", Names::default()), Ok(vec![]));
    }

    #[test]
    fn first_text_and_bad_input() {
        assert_eq!(
            first_text(ORDERS, "/orders/order/total").as_deref(),
            Some("150")
        );
        assert_eq!(first_text(ORDERS, "/orders/none"), None);
        assert_eq!(first_text("not xml", "/a"), None);
        assert_eq!(first_text(ORDERS, "/orders/order["), None);
        assert!(XPath::compile("/a[").is_err());
        assert!(XPath::compile("foo::a").is_err());
        assert!(XPath::compile("/a/b[@c='x").is_err());
    }
}
