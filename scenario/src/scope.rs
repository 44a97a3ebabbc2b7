//! Where variables live: a client's [`Session`] (its own, as LPS's session
//! scope) and the run's [`Globals`] (plan variables, environments, global
//! captures), the session winning on a clash; a [`Scope`] is the pair a
//! template renders in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use crate::feed::{Feeds, Share};
use crate::variable::Variable;

/// The run's global variables, counters and feeders, shared by every
/// client of every core; written rarely (global captures, `isGlobal=true`).
#[derive(Debug, Default)]
pub struct Globals {
    vars: RwLock<HashMap<String, Arc<Variable>>>,
    counters: Mutex<HashMap<String, i64>>,
    feeds: Feeds,
}

impl Globals {
    /// Globals whose feeders hand out this node's `share` of each file.
    pub fn with_feed_share(share: Share) -> Globals {
        Globals {
            feeds: Feeds::new(share),
            ..Globals::default()
        }
    }

    /// The run's feeders (`$feed`).
    pub fn feeds(&self) -> &Feeds {
        &self.feeds
    }

    /// Sets `name` (names are case-sensitive, as in LPS).
    pub fn put(&self, name: &str, value: Variable) {
        if let Ok(mut vars) = self.vars.write() {
            vars.insert(name.to_string(), Arc::new(value));
        }
    }

    pub fn get(&self, name: &str) -> Option<Arc<Variable>> {
        self.vars.read().ok()?.get(name).cloned()
    }

    /// Runs `f` on the global counter `key` (under its lock).
    pub fn counter<T>(&self, key: &str, f: impl FnOnce(Option<i64>) -> (i64, T)) -> Option<T> {
        let mut counters = self.counters.lock().ok()?;
        let (next, out) = f(counters.get(key).copied());
        counters.insert(key.to_string(), next);
        Some(out)
    }
}

/// One client's variables and counters, and how many of its placeholders
/// read nothing (an unknown variable, a path that is not there).
#[derive(Debug, Default)]
pub struct Session {
    id: u64,
    vars: HashMap<String, Arc<Variable>>,
    counters: HashMap<String, i64>,
    misses: u64,
}

impl Session {
    /// A client's session; `id` tells clients apart (LPS's session id).
    pub fn new(id: u64) -> Session {
        Session {
            id,
            ..Session::default()
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn put(&mut self, name: &str, value: Variable) {
        self.vars.insert(name.to_string(), Arc::new(value));
    }

    /// Sets `name` to a value other clients hold too (a feeder's row).
    pub fn put_shared(&mut self, name: &str, value: Arc<Variable>) {
        self.vars.insert(name.to_string(), value);
    }

    /// Counts a read of nothing that is not a placeholder's (`$feed`).
    pub(crate) fn miss(&mut self) {
        self.misses += 1;
    }

    pub fn get(&self, name: &str) -> Option<Arc<Variable>> {
        self.vars.get(name).cloned()
    }

    /// Placeholders that read nothing since the last call; resets the count.
    pub fn take_misses(&mut self) -> u64 {
        std::mem::take(&mut self.misses)
    }
}

/// A client's session and the run's globals, as a template sees them.
pub struct Scope<'a> {
    pub session: &'a mut Session,
    pub globals: &'a Globals,
}

impl<'a> Scope<'a> {
    pub fn new(session: &'a mut Session, globals: &'a Globals) -> Scope<'a> {
        Scope { session, globals }
    }

    /// The session's variable, else the global one.
    pub fn lookup(&self, name: &str) -> Option<Arc<Variable>> {
        self.session.get(name).or_else(|| self.globals.get(name))
    }

    /// Writes variable `name` read through `path`. An unknown variable is
    /// written back as its placeholder, as LPS leaves it; a path that reads
    /// nothing writes nothing. Both count as misses.
    pub fn write_variable(&mut self, name: &str, path: &str, out: &mut String) {
        match self.lookup(name) {
            Some(var) => {
                if !var.write_path(path, out) {
                    self.session.misses += 1;
                    log::debug!("{name}{path}: the path reads nothing");
                }
            }
            None => {
                self.session.misses += 1;
                log::debug!("variable {name:?} not found");
                out.push_str("${");
                out.push_str(name);
                out.push_str(path);
                out.push('}');
            }
        }
    }

    /// Stores `value` as `name`: the session's unless `global`.
    pub fn store(&mut self, name: &str, value: Variable, global: bool) {
        if name.is_empty() {
            return;
        }
        if global {
            self.globals.put(name, value);
        } else {
            self.session.put(name, value);
        }
    }

    /// Runs `f` on counter `key`: the session's, or the run's when `global`.
    pub fn counter<T>(
        &mut self,
        key: &str,
        global: bool,
        f: impl FnOnce(Option<i64>) -> (i64, T),
    ) -> Option<T> {
        if global {
            return self.globals.counter(key, f);
        }
        let (next, out) = f(self.session.counters.get(key).copied());
        self.session.counters.insert(key.to_string(), next);
        Some(out)
    }
}
