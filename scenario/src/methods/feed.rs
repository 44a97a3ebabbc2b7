//! `$feed(source, strategy, format, variable)`, beyond LPS: the next row of
//! a data file for this client (see [`crate::feed`]), stored in `variable`
//! as a JSON object so that `${variable.field}` reads a field. When there is
//! no row (a `queue` used up, an empty share, a file that cannot be read)
//! the variable is set to an empty string (a row from before must not be
//! sent again) and the call counts as a placeholder that read nothing.

use std::sync::Arc;

use super::Cx;
use crate::feed::{Format, Strategy};
use crate::variable::{VarType, Variable};

/// `$feed`: returns the row's JSON text ("" when there is none).
pub(super) fn run(cx: &mut Cx<'_, '_>) -> String {
    let source = cx.text_or_positional("source").unwrap_or_default();
    let source = source.trim();
    let strategy = Strategy::parse(&cx.text_or("strategy", "queue"));
    let format = Format::parse(&cx.text_or("format", ""), source);
    let name = cx.variable();
    let row = match (strategy, format) {
        (Some(strategy), Some(format)) if !source.is_empty() => {
            cx.scope.globals.feeds().next(source, format, strategy)
        }
        _ => None,
    };
    let Some(row) = row else {
        cx.scope.session.miss();
        if !name.is_empty() {
            cx.scope
                .session
                .put(&name, Variable::new(VarType::String, ""));
        }
        return String::new();
    };
    let mut out = String::new();
    row.write_raw(&mut out);
    if !name.is_empty() {
        cx.scope.session.put_shared(&name, Arc::clone(&row));
    }
    out
}
