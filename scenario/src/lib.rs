//! LPS 3.x's scenario model, compiled once and evaluated per client:
//! variables and their types, templates with `${...}` placeholders, paths
//! into captured JSON, CSV and responses, and the declarative methods.
//!
//! The engine keeps a [`Session`] per client and one [`Globals`] per run; a
//! request's [`Template`]s render in their [`Scope`]. A text without a
//! placeholder compiles to a static template, which the engine sends as
//! pre-built bytes, so plans that use none of this pay nothing for it.
//!
//! # Layout
//! - `template`: the placeholder grammar, compiled; rendering.
//! - `args`: a method call's arguments.
//! - `variable`: [`Variable`], [`VarType`] and reading a path into a value.
//! - `scope`: [`Session`], [`Globals`], [`Scope`].
//! - `methods`: the declarative methods.
//! - `feed`: feeders (`$feed`, beyond LPS): data files' rows, shared by
//!   every core, split across a cluster's nodes.
//! - `expr`: the boolean expressions of `skipIf`, `retry.if` and rules.
//! - `arith`: integer arithmetic inside paths.
//! - `xpath`: the XPath subset for XML variables and `$findxml`.

mod args;
mod arith;
pub mod expr;
pub mod feed;
pub mod methods;
mod scope;
mod template;
mod variable;
mod xpath;

pub use args::Args;
pub use scope::{Globals, Scope, Session};
pub use template::{Call, Template, TemplateError};
pub use variable::{Response, VarType, Variable, csv_records, json_text, select};
