//! Reading an LPS 3.x plan file into a [`Plan`] with LPS's key rules.
//!
//! LPS (YamlDotNet) reads two kinds of level differently:
//! - plan, round, stage, variable, environment, capture, payload and rule
//!   keys are exact camelCase, and an unknown key fails the whole plan;
//! - iteration, `httpRequest` and `retry` keys are matched case-insensitively
//!   against the name and its aliases, the first match in document order
//!   wins, and an unknown key is ignored (lps reports it as a [`Warning`]).
//!
//! Every scalar may be written as a string (`"10"`, `"true"`).
//!
//! JSON is read more leniently than LPS does: LPS's System.Text.Json reader
//! ignores the aliases (`method`, `headers`, `version`, `delay`) and refuses
//! numbers and booleans; lps accepts both, and reads every level of a JSON
//! plan case-insensitively with unknown keys as warnings, as LPS's JSON
//! reader does.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::check::{self, Num};
use super::model::{Environment, Iteration, Plan, Round, Script, Site, Stage, Variable};
use super::vars;
use crate::error::ConfigError;
use crate::format::{self, Format};
use crate::locate::KeyPath;
use crate::plan::MOST_CLIENTS;
use crate::tree::{self, Entry, Node, Value};

/// A loaded plan and what was ignored on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub plan: Plan,
    /// In document order; each names a distinct place.
    pub warnings: Vec<Warning>,
    /// The global variables with the environments chosen over them, each
    /// with the value it took.
    pub globals: Vec<crate::plan::GlobalVariable>,
}

/// Something LPS ignores silently that lps reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub file: String,
    pub line: usize,
    pub kind: WarningKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WarningKind {
    /// A key LPS ignores (iteration, request or retry level; any level in JSON).
    UnknownKey { key: String },
    /// A second spelling of a key already given (`startupDelay` after `delay`).
    Repeated { key: String, first: String },
    /// A `reference` to a plan-level iteration that does not exist; LPS
    /// logs it and runs the round without it.
    MissingReference { round: String, name: String },
    /// A key lps accepts and does not act on (`saveResponse`, ...); given once
    /// per plan, at its first use.
    NotUsed { key: String },
    /// `-e` named an environment the plan does not have; LPS logs
    /// "Environment 'x' not found." and runs.
    MissingEnvironment { name: String },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        match &self.kind {
            WarningKind::UnknownKey { key } => write!(f, "key {key} is not an LPS key; ignored"),
            WarningKind::Repeated { key, first } => {
                write!(f, "key {key} repeats {first}, which is used; ignored")
            }
            WarningKind::MissingReference { round, name } => write!(
                f,
                "{round}: referenced iteration \"{name}\" is not among the plan's iterations; skipped"
            ),
            WarningKind::NotUsed { key } => write!(f, "key {key} is accepted but not used by lps"),
            WarningKind::MissingEnvironment { name } => {
                write!(f, "environment {name:?} is not in the plan; ignored")
            }
        }
    }
}

/// Reads the LPS 3.x plan in `path`: JSON for `.json`, YAML for `.yaml` and
/// `.yml`, otherwise by its content. Payload and certificate files are
/// read relative to the plan's directory.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    load_with(path, &[])
}

/// [`load`] with the environments `-e` names applied over the plan's variables.
pub fn load_with(path: &Path, environments: &[String]) -> Result<Loaded, ConfigError> {
    let text = format::read(path)?;
    let format = Format::detect(Some(path), &text);
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    parse_with(
        &text,
        &path.display().to_string(),
        format,
        dir,
        environments,
    )
}

/// Reads LPS 3.x plan text; `origin` names it in messages and `dir` is where
/// relative file paths start.
pub fn parse(text: &str, origin: &str, format: Format, dir: &Path) -> Result<Loaded, ConfigError> {
    parse_with(text, origin, format, dir, &[])
}

/// [`parse`] with environments: the plan is read, its variables evaluated
/// with the environments over them, and, when it has variables, read again
/// with its build-time placeholders resolved.
pub fn parse_with(
    text: &str,
    origin: &str,
    format: Format,
    dir: &Path,
    environments: &[String],
) -> Result<Loaded, ConfigError> {
    let root = tree::parse(text, origin, format)?;
    let first = read(&root, origin, format, dir)?;
    let p = &first.plan;
    let built = vars::build(origin, &p.variables, &p.environments, environments)?;
    let mut loaded =
        if p.variables.is_empty() && p.environments.is_empty() && p.placeholders.is_empty() {
            first
        } else {
            let resolved = vars::resolve_tree(&root, &built.globals, origin)?;
            read(&resolved, origin, format, dir)?
        };
    for name in built.missing {
        // As LPS, which logs "Environment 'x' not found." and runs.
        loaded.warnings.push(Warning {
            file: origin.to_owned(),
            line: 1,
            kind: WarningKind::MissingEnvironment { name },
        });
    }
    loaded.globals = built.defs;
    Ok(loaded)
}

/// One reading of the tree.
fn read(root: &Node, origin: &str, format: Format, dir: &Path) -> Result<Loaded, ConfigError> {
    let mut reader = Reader {
        file: origin.to_owned(),
        dir: dir.to_owned(),
        json: format == Format::Json,
        warnings: Vec::new(),
        placeholders: Vec::new(),
    };
    let mut plan = reader.plan(root)?;
    plan.placeholders = std::mem::take(&mut reader.placeholders);
    plan.placeholders.sort_by_key(|p| p.site.line);
    reader.warnings.sort_by_key(|w| w.line);
    Ok(Loaded {
        plan,
        warnings: reader.warnings,
        globals: Vec::new(),
    })
}

/// Walks the tree, collecting warnings and placeholder uses.
pub(super) struct Reader {
    pub(super) file: String,
    pub(super) dir: PathBuf,
    /// JSON: every level is read case-insensitively, unknown keys are warnings.
    json: bool,
    warnings: Vec<Warning>,
    placeholders: Vec<Script>,
}

/// How a level matches its keys.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Keys {
    /// Exact camelCase; an unknown key is an error.
    Exact,
    /// Case-insensitive with aliases; an unknown key is a warning.
    Loose,
}

/// A mapping being read: its entries and which were taken.
pub(super) struct Fields<'t> {
    pub(super) site: Site,
    path: KeyPath,
    entries: &'t [Entry],
    used: Vec<bool>,
    /// Each taken key's spellings, and the key as written that was used.
    taken: Vec<(Vec<String>, String)>,
    keys: Keys,
    /// What the level is called in the unknown-key error (`a round`).
    what: &'static str,
    known: &'static [&'static str],
}

/// A key that was found, with its value.
pub(super) struct Field<'t> {
    pub(super) site: Site,
    pub(super) path: KeyPath,
    pub(super) node: &'t Node,
}

impl<'t> Fields<'t> {
    /// The value of the first key (document order) that is one of `names`.
    pub(super) fn take(&mut self, names: &[&str]) -> Option<Field<'t>> {
        let mut found = None;
        for (i, entry) in self.entries.iter().enumerate() {
            let matches = match self.keys {
                Keys::Exact => names.contains(&entry.key.as_str()),
                Keys::Loose => names.iter().any(|n| n.eq_ignore_ascii_case(&entry.key)),
            };
            if matches && found.is_none() {
                self.used[i] = true;
                found = Some(entry);
            }
        }
        let entry = found?;
        let names = names.iter().map(|n| n.to_string()).collect();
        self.taken.push((names, entry.key.clone()));
        Some(self.field(entry))
    }

    /// The next entry not yet taken, in document order, with its key as written.
    pub(super) fn next_entry(&mut self) -> Option<(String, Field<'t>)> {
        let i = self.used.iter().position(|used| !used)?;
        self.used[i] = true;
        let entry = &self.entries[i];
        Some((entry.key.clone(), self.field(entry)))
    }

    fn field(&self, entry: &'t Entry) -> Field<'t> {
        let path = self.path.key(entry.key.clone());
        Field {
            site: Site {
                key: path.to_string(),
                line: entry.line,
            },
            path,
            node: &entry.node,
        }
    }

    /// Ends the level: an unused key is an error (exact levels) or a warning.
    pub(super) fn finish(self, reader: &mut Reader) -> Result<(), ConfigError> {
        for (i, entry) in self.entries.iter().enumerate() {
            if self.used[i] {
                continue;
            }
            let key = self.path.key(entry.key.clone()).to_string();
            let earlier = self
                .taken
                .iter()
                .find(|(names, _)| names.iter().any(|n| n.eq_ignore_ascii_case(&entry.key)));
            let kind = match (self.keys, earlier) {
                (Keys::Exact, _) => {
                    return Err(reader.invalid(
                        &Site {
                            key: self.site.key.clone(),
                            line: entry.line,
                        },
                        format!(
                            "unknown key \"{}\"; {} has the keys {}",
                            entry.key,
                            self.what,
                            self.known.join(", ")
                        ),
                    ));
                }
                (Keys::Loose, Some((_, first))) => WarningKind::Repeated {
                    key,
                    first: first.clone(),
                },
                (Keys::Loose, None) => WarningKind::UnknownKey { key },
            };
            reader.warn(entry.line, kind);
        }
        Ok(())
    }
}

impl Reader {
    pub(super) fn invalid(&self, site: &Site, message: impl Into<String>) -> ConfigError {
        let key = match site.key.as_str() {
            "" => "plan".to_owned(),
            key => key.to_owned(),
        };
        ConfigError::Invalid {
            file: self.file.clone(),
            line: Some(site.line),
            key,
            message: message.into(),
        }
    }

    fn warn(&mut self, line: usize, kind: WarningKind) {
        self.warnings.push(Warning {
            file: self.file.clone(),
            line,
            kind,
        });
    }

    /// `node` as a mapping read with `keys` (always loose in JSON). `known`
    /// lists its keys with aliases, for matching repeats and for the message.
    pub(super) fn fields<'t>(
        &self,
        node: &'t Node,
        path: &KeyPath,
        keys: Keys,
        what: &'static str,
        known: &'static [&'static str],
    ) -> Result<Fields<'t>, ConfigError> {
        let site = Site {
            key: path.to_string(),
            line: node.line,
        };
        let entries = match &node.value {
            Value::Map(entries) => entries.as_slice(),
            Value::Null => &[],
            other => {
                return Err(
                    self.invalid(&site, format!("expected a mapping, found {}", kind(other)))
                );
            }
        };
        Ok(Fields {
            site,
            path: path.clone(),
            entries,
            used: vec![false; entries.len()],
            taken: Vec::new(),
            keys: if self.json { Keys::Loose } else { keys },
            what,
            known,
        })
    }

    /// [`Reader::fields`] for a mapping under a key: messages about the
    /// mapping name the key's line.
    pub(super) fn fields_at<'t>(
        &self,
        field: &Field<'t>,
        keys: Keys,
        what: &'static str,
        known: &'static [&'static str],
    ) -> Result<Fields<'t>, ConfigError> {
        let mut fields = self.fields(field.node, &field.path, keys, what, known)?;
        fields.site.line = field.site.line;
        Ok(fields)
    }

    /// The text of a scalar, `None` for null; a placeholder in it is recorded.
    pub(super) fn text(&mut self, field: Option<&Field>) -> Result<Option<String>, ConfigError> {
        let Some(text) = self.raw_text(field)? else {
            return Ok(None);
        };
        if let Some(field) = field
            && check::has_placeholder(&text)
        {
            self.placeholders.push(Script {
                site: field.site.clone(),
                text: text.clone(),
            });
        }
        Ok(Some(text))
    }

    /// The text of a scalar as written, with no placeholder check.
    pub(super) fn raw_text(&self, field: Option<&Field>) -> Result<Option<String>, ConfigError> {
        let Some(field) = field else { return Ok(None) };
        match &field.node.value {
            Value::Null => Ok(None),
            Value::Text(text) => Ok(Some(text.clone())),
            other => Err(self.invalid(
                &field.site,
                format!("expected a text or number, found {}", kind(other)),
            )),
        }
    }

    /// An expression kept for later: `None` when absent or blank.
    pub(super) fn script(&self, field: Option<&Field>) -> Result<Option<Script>, ConfigError> {
        let text = self.raw_text(field)?;
        Ok(field
            .zip(text.filter(|t| !t.trim().is_empty()))
            .map(|(f, text)| Script {
                site: f.site.clone(),
                text,
            }))
    }

    /// A list of expressions (`before`, `after`).
    pub(super) fn scripts(&self, field: Option<&Field>) -> Result<Vec<Script>, ConfigError> {
        let mut scripts = Vec::new();
        for (i, node) in self.list(field)?.iter().enumerate() {
            let item = item_field(field, i, node);
            scripts.extend(self.script(item.as_ref())?);
        }
        Ok(scripts)
    }

    /// The items of a list; none when absent or null.
    pub(super) fn list<'t>(&self, field: Option<&Field<'t>>) -> Result<&'t [Node], ConfigError> {
        let Some(field) = field else { return Ok(&[]) };
        match &field.node.value {
            Value::Null => Ok(&[]),
            Value::List(items) => Ok(items),
            other => Err(self.invalid(
                &field.site,
                format!("expected a list, found {}", kind(other)),
            )),
        }
    }

    /// A whole number as LPS reads it (`Convert.ChangeType(s, int)`); a blank
    /// text is absent.
    pub(super) fn int(&mut self, field: Option<&Field>) -> Result<Num, ConfigError> {
        let Some(text) = self.text(field)? else {
            return Ok(Num::Absent);
        };
        let field = field.expect("text is Some only for a field");
        check::parse_int(&text).map_err(|message| self.invalid(&field.site, message))
    }

    /// A switch as LPS reads it (`bool.Parse`: `true`/`false`, any case).
    pub(super) fn flag(&mut self, field: Option<&Field>) -> Result<bool, ConfigError> {
        let Some(text) = self.text(field)? else {
            return Ok(false);
        };
        let field = field.expect("text is Some only for a field");
        check::parse_bool(&text).map_err(|message| self.invalid(&field.site, message))
    }

    fn plan(&mut self, root: &Node) -> Result<Plan, ConfigError> {
        let mut fields =
            self.fields(root, &KeyPath::default(), Keys::Exact, "a plan", PLAN_KEYS)?;
        fields.take(&["id"]);
        let name = self.name(fields.take(&["name"]).as_ref(), &fields.site)?;
        let variables = self.variables(fields.take(&["variables"]).as_ref())?;
        let environments = self.environments(fields.take(&["environments"]).as_ref())?;
        let iterations = self.iterations(fields.take(&["iterations"]).as_ref())?;
        let rounds_field = fields.take(&["rounds"]);
        fields.finish(self)?;
        let mut rounds = Vec::new();
        for (i, node) in self.list(rounds_field.as_ref())?.iter().enumerate() {
            let path = rounds_field
                .as_ref()
                .map(|f| f.path.index(i))
                .unwrap_or_default();
            let round = self.round(node, &path, &iterations)?;
            self.unique(&rounds, &round.name, |r: &Round| &r.name, &path, node.line)?;
            rounds.push(round);
        }
        Ok(Plan {
            name,
            variables,
            environments,
            iterations,
            rounds,
            placeholders: Vec::new(),
        })
    }

    /// A plan, round or iteration name: required, checked.
    pub(super) fn name(
        &mut self,
        field: Option<&Field>,
        item: &Site,
    ) -> Result<String, ConfigError> {
        let name = self.text(field)?.unwrap_or_default();
        let site = field.map_or(item, |f| &f.site);
        check::name(&name).map_err(|message| self.invalid(site, message))?;
        Ok(name)
    }

    /// An error when `name` is already used in `items` (case-insensitively, as LPS).
    fn unique<T>(
        &self,
        items: &[T],
        name: &str,
        name_of: impl Fn(&T) -> &String,
        path: &KeyPath,
        line: usize,
    ) -> Result<(), ConfigError> {
        if items
            .iter()
            .any(|item| name_of(item).eq_ignore_ascii_case(name))
        {
            let site = Site {
                key: path.to_string(),
                line,
            };
            return Err(self.invalid(
                &site,
                format!("name \"{name}\" is used twice (LPS compares names case-insensitively)"),
            ));
        }
        Ok(())
    }

    /// A list of iterations (plan-level or a round's inline ones), URLs as written.
    fn iterations(&mut self, field: Option<&Field>) -> Result<Vec<Iteration>, ConfigError> {
        let mut iterations = Vec::new();
        for (i, node) in self.list(field)?.iter().enumerate() {
            let path = field.map(|f| f.path.index(i)).unwrap_or_default();
            let iteration = self.iteration(node, &path)?;
            self.unique(
                &iterations,
                &iteration.name,
                |it: &Iteration| &it.name,
                &path,
                node.line,
            )?;
            iterations.push(iteration);
        }
        Ok(iterations)
    }

    fn round(
        &mut self,
        node: &Node,
        path: &KeyPath,
        plan_iterations: &[Iteration],
    ) -> Result<Round, ConfigError> {
        let mut fields = self.fields(node, path, Keys::Exact, "a round", ROUND_KEYS)?;
        fields.take(&["id"]);
        let name = self.name(fields.take(&["name"]).as_ref(), &fields.site)?;
        let base_url = self.base_url(fields.take(&["baseUrl"]).as_ref())?;
        let startup_delay = self.millis(fields.take(&["startupDelay"]).as_ref())?;
        let clients = self
            .clients(fields.take(&["numberOfClients"]).as_ref())?
            .unwrap_or(1);
        let arrival_delay = self.millis(fields.take(&["arrivalDelay"]).as_ref())?;
        let delay_client_creation =
            self.flag(fields.take(&["delayClientCreationUntilIsNeeded"]).as_ref())?;
        let run_in_parallel = self.flag(fields.take(&["runInParallel"]).as_ref())?;
        let tags = self.tags(fields.take(&["tags"]).as_ref())?;
        let stages = self.stages(fields.take(&["stages"]).as_ref())?;
        let inline = self.iterations(fields.take(&["iterations"]).as_ref())?;
        let reference = fields.take(&["reference"]);
        fields.finish(self)?;
        let mut iterations = inline;
        iterations.extend(self.references(reference.as_ref(), &name, plan_iterations)?);
        for iteration in &mut iterations {
            self.join_url(&base_url, iteration, path)?;
        }
        Ok(Round {
            name,
            line: node.line,
            base_url,
            startup_delay,
            clients,
            arrival_delay,
            delay_client_creation,
            run_in_parallel,
            tags,
            stages,
            iterations,
        })
    }

    fn base_url(&mut self, field: Option<&Field>) -> Result<String, ConfigError> {
        let url = self.text(field)?.unwrap_or_default();
        if let Some(field) = field {
            check::base_url(&url).map_err(|message| self.invalid(&field.site, message))?;
        }
        Ok(url)
    }

    /// Copies of the referenced plan-level iterations, in `reference` order.
    ///
    /// Each round gets its own copy, so each joins its own `baseUrl`. LPS
    /// joins into the shared plan-level iteration instead, so a second round
    /// referencing it inherits the first round's base URL (a quirk lps does
    /// not copy).
    fn references(
        &mut self,
        field: Option<&Field>,
        round: &str,
        plan_iterations: &[Iteration],
    ) -> Result<Vec<Iteration>, ConfigError> {
        let mut found = Vec::new();
        for (i, node) in self.list(field)?.iter().enumerate() {
            let item = item_field(field, i, node);
            let name = self.text(item.as_ref())?.unwrap_or_default();
            match plan_iterations
                .iter()
                .find(|it| it.name.eq_ignore_ascii_case(&name))
            {
                Some(iteration) => found.push(iteration.clone()),
                None => self.warn(
                    node.line,
                    WarningKind::MissingReference {
                        round: round.to_owned(),
                        name,
                    },
                ),
            }
        }
        Ok(found)
    }

    /// Joins `base` onto a relative URL (LPS: plain concatenation when the URL
    /// does not start with `http://` or `https://`), then checks the result.
    fn join_url(
        &self,
        base: &str,
        iteration: &mut Iteration,
        round: &KeyPath,
    ) -> Result<(), ConfigError> {
        let url = &iteration.request.url;
        let site = Site {
            key: format!("{round} iteration \"{}\"", iteration.name),
            line: iteration.line,
        };
        let joined = check::join_url(base, url).map_err(|message| self.invalid(&site, message))?;
        iteration.request.url = joined;
        Ok(())
    }

    fn tags(&mut self, field: Option<&Field>) -> Result<Vec<String>, ConfigError> {
        let mut tags = Vec::new();
        for (i, node) in self.list(field)?.iter().enumerate() {
            let item = item_field(field, i, node);
            tags.extend(self.text(item.as_ref())?);
        }
        Ok(tags)
    }

    fn stages(&mut self, field: Option<&Field>) -> Result<Vec<Stage>, ConfigError> {
        let mut stages = Vec::new();
        for (i, node) in self.list(field)?.iter().enumerate() {
            let path = field.map(|f| f.path.index(i)).unwrap_or_default();
            let mut fields = self.fields(node, &path, Keys::Exact, "a stage", STAGE_KEYS)?;
            let Some(clients) = self.clients(fields.take(&["numberOfClients"]).as_ref())? else {
                return Err(self.invalid(&fields.site, "numberOfClients is required in a stage"));
            };
            let arrival_delay = self.millis(fields.take(&["arrivalDelay"]).as_ref())?;
            let startup_delay = self.millis(fields.take(&["startupDelay"]).as_ref())?;
            fields.finish(self)?;
            stages.push(Stage {
                clients,
                arrival_delay,
                startup_delay,
            });
        }
        Ok(stages)
    }

    /// `numberOfClients`: `None` when absent or blank, else at least 1 and at
    /// most [`MOST_CLIENTS`] (lps's own bound; LPS allows any int).
    fn clients(&mut self, field: Option<&Field>) -> Result<Option<u32>, ConfigError> {
        let num = self.int(field)?;
        let Some(field) = field else { return Ok(None) };
        match num {
            Num::Absent => Ok(None),
            Num::Placeholder => Ok(Some(1)),
            Num::Value(n) => u32::try_from(n)
                .ok()
                .filter(|n| (1..=MOST_CLIENTS).contains(n))
                .map(Some)
                .ok_or_else(|| {
                    self.invalid(
                        &field.site,
                        format!("numberOfClients {n} is not between 1 and {MOST_CLIENTS}"),
                    )
                }),
        }
    }

    /// A delay in milliseconds: at least 0, 0 when absent.
    pub(super) fn millis(&mut self, field: Option<&Field>) -> Result<Duration, ConfigError> {
        match (self.int(field)?, field) {
            (Num::Value(n), Some(field)) => {
                check::millis(n).map_err(|message| self.invalid(&field.site, message))
            }
            _ => Ok(Duration::ZERO),
        }
    }

    fn variables(&mut self, field: Option<&Field>) -> Result<Vec<Variable>, ConfigError> {
        let mut variables = Vec::new();
        for (i, node) in self.list(field)?.iter().enumerate() {
            let path = field.map(|f| f.path.index(i)).unwrap_or_default();
            variables.push(self.variable(node, &path)?);
        }
        Ok(variables)
    }

    fn variable(&mut self, node: &Node, path: &KeyPath) -> Result<Variable, ConfigError> {
        let mut fields = self.fields(node, path, Keys::Exact, "a variable", VARIABLE_KEYS)?;
        let name_field = fields.take(&["name"]);
        let name = self.raw_text(name_field.as_ref())?.unwrap_or_default();
        let value = self.raw_text(fields.take(&["value"]).as_ref())?;
        let as_type = self.raw_text(fields.take(&["as"]).as_ref())?;
        let regex = self.raw_text(fields.take(&["regex"]).as_ref())?;
        let site = fields.site.clone();
        fields.finish(self)?;
        let name_site = name_field.map_or(site.clone(), |f| f.site);
        check::variable_name(&name).map_err(|message| self.invalid(&name_site, message))?;
        let Some(value) = value else {
            return Err(self.invalid(&site, format!("variable \"{name}\" has no value")));
        };
        Ok(Variable {
            site,
            name,
            value,
            as_type: as_type.unwrap_or_else(|| "String".to_owned()),
            regex: regex.unwrap_or_default(),
        })
    }

    fn environments(&mut self, field: Option<&Field>) -> Result<Vec<Environment>, ConfigError> {
        let mut environments = Vec::new();
        for (i, node) in self.list(field)?.iter().enumerate() {
            let path = field.map(|f| f.path.index(i)).unwrap_or_default();
            let mut fields =
                self.fields(node, &path, Keys::Exact, "an environment", ENVIRONMENT_KEYS)?;
            let name = self
                .raw_text(fields.take(&["name"]).as_ref())?
                .unwrap_or_default();
            let variables = self.variables(fields.take(&["variables"]).as_ref())?;
            let site = fields.site.clone();
            fields.finish(self)?;
            if name.trim().is_empty() {
                return Err(self.invalid(&site, "an environment needs a name"));
            }
            environments.push(Environment {
                site,
                name,
                variables,
            });
        }
        Ok(environments)
    }
}

/// A list item as a field of its own, for messages and placeholders.
pub(super) fn item_field<'t>(
    list: Option<&Field>,
    index: usize,
    node: &'t Node,
) -> Option<Field<'t>> {
    let path = list?.path.index(index);
    Some(Field {
        site: Site {
            key: path.to_string(),
            line: node.line,
        },
        path,
        node,
    })
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Text(_) => "a text",
        Value::List(_) => "a list",
        Value::Map(_) => "a mapping",
    }
}

const PLAN_KEYS: &[&str] = &[
    "name",
    "rounds",
    "variables",
    "environments",
    "iterations",
    "id",
];
const ROUND_KEYS: &[&str] = &[
    "name",
    "baseUrl",
    "startupDelay",
    "numberOfClients",
    "arrivalDelay",
    "delayClientCreationUntilIsNeeded",
    "runInParallel",
    "tags",
    "stages",
    "iterations",
    "reference",
    "id",
];
const STAGE_KEYS: &[&str] = &["numberOfClients", "arrivalDelay", "startupDelay"];
const VARIABLE_KEYS: &[&str] = &["name", "value", "as", "regex"];
const ENVIRONMENT_KEYS: &[&str] = &["name", "variables"];
