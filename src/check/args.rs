//! Matching a call's arguments to an operation's parameters: positional in
//! order, or by name; unknown, repeated and missing arguments are errors.

use crate::check::error::CheckError;
use crate::check::value::{Constants, Value, eval};
use crate::source::Span;
use crate::suggest::closest;
use crate::syntax::ast::{Arg, Expr};

/// One parameter of an operation.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    /// Its name (also the name of a named argument).
    pub name: &'static str,
    /// Whether the call must give it.
    pub required: bool,
    /// Whether it may be given by position (else only by name).
    pub positional: bool,
    /// Whether it takes every remaining positional argument
    /// (`onehot(city, age_group)`).
    pub rest: bool,
}

/// A parameter that may be given by position.
pub const fn pos(name: &'static str, required: bool) -> Param {
    Param { name, required, positional: true, rest: false }
}

/// A parameter given only by name.
pub const fn named(name: &'static str) -> Param {
    Param { name, required: false, positional: false, rest: false }
}

/// A required parameter that takes all remaining positional arguments.
pub const fn rest(name: &'static str) -> Param {
    Param { name, required: true, positional: true, rest: true }
}

/// A builtin declared once: its name, what the checker matches (an enum,
/// matched exhaustively, or `()` for a builtin of its own), its parameters
/// and one line of doc (editors' signatures and hover come from these).
pub struct Declared<K: 'static> {
    /// The name written.
    pub name: &'static str,
    /// What the checker matches.
    pub kind: K,
    /// Its parameters.
    pub params: &'static [Param],
    /// What it does, in one line.
    pub doc: &'static str,
}

/// A [`Declared`] builtin.
pub const fn declared<K>(name: &'static str, kind: K, params: &'static [Param], doc: &'static str) -> Declared<K> {
    Declared { name, kind, params, doc }
}

/// The signature editors show for `name` taking `params`: `cut(column,
/// edges, labels:, include_lowest:)`; `name:` marks a parameter given only
/// by name, `...` one that takes every remaining positional argument.
pub fn signature(name: &str, params: &[Param]) -> String {
    let inside: Vec<String> = params
        .iter()
        .map(|p| match (p.positional, p.rest) {
            (true, true) => format!("{}...", p.name),
            (true, false) => p.name.to_owned(),
            (false, _) => format!("{}:", p.name),
        })
        .collect();
    format!("{name}({})", inside.join(", "))
}

/// The arguments of one call, matched to parameters.
pub struct Bound<'a> {
    /// For each parameter, the arguments given (one, or several for `rest`).
    values: Vec<Vec<&'a Expr>>,
    /// The parameters' names, in order.
    names: Vec<&'static str>,
}

impl<'a> Bound<'a> {
    /// The expression given for a parameter (the first, for `rest`).
    pub fn expr(&self, name: &str) -> Option<&'a Expr> {
        self.exprs(name).first().copied()
    }

    /// Every expression given for a parameter.
    pub fn exprs(&self, name: &str) -> &[&'a Expr] {
        self.names.iter().position(|n| *n == name).map_or(&[], |i| self.values[i].as_slice())
    }

    /// The value given for a parameter, evaluated, with its span.
    pub fn value(&self, name: &str, constants: &Constants) -> Option<(Value, Span)> {
        self.expr(name).map(|e| (eval(e, constants), e.span))
    }
}

/// Matches `args` of a call to `operation` (written at `span`) against
/// `params`, reporting mistakes into `errors`.
pub fn bind<'a>(
    operation: &str,
    params: &[Param],
    args: &'a [Arg],
    span: Span,
    errors: &mut Vec<CheckError>,
) -> Bound<'a> {
    let mut values: Vec<Vec<&'a Expr>> = vec![Vec::new(); params.len()];
    let positional: Vec<usize> = (0..params.len()).filter(|&i| params[i].positional).collect();
    let mut next_positional = 0;
    for arg in args {
        let slot = match &arg.name {
            Some(name) => match params.iter().position(|p| p.name == name.name) {
                Some(i) => i,
                None => {
                    errors.push(unknown_argument(operation, params, &name.name, name.span));
                    continue;
                }
            },
            None => match positional.get(next_positional) {
                Some(&i) if params[i].rest => i,
                Some(&i) => {
                    next_positional += 1;
                    i
                }
                None => {
                    errors.push(CheckError::TooManyArguments {
                        operation: operation.into(),
                        count: positional.len(),
                        span: arg.value.span,
                    });
                    continue;
                }
            },
        };
        let another_rest_value = params[slot].rest && arg.name.is_none();
        if !values[slot].is_empty() && !another_rest_value {
            let span = arg.name.as_ref().map_or(arg.value.span, |n| n.span);
            errors.push(CheckError::RepeatedArgument {
                operation: operation.into(),
                name: params[slot].name.into(),
                span,
            });
            continue;
        }
        values[slot].push(&arg.value);
    }
    for (i, param) in params.iter().enumerate() {
        if param.required && values[i].is_empty() {
            errors.push(CheckError::MissingArgument { operation: operation.into(), name: param.name.into(), span });
        }
    }
    Bound { values, names: params.iter().map(|p| p.name).collect() }
}

fn unknown_argument(operation: &str, params: &[Param], name: &str, span: Span) -> CheckError {
    let names: Vec<&str> = params.iter().map(|p| p.name).collect();
    let layer = crate::check::layers::is_layer(operation);
    let familiar = layer.then(|| crate::check::familiar::lookup(crate::check::familiar::Place::LayerArgument, name));
    let help = match closest(name, names.iter().copied()) {
        _ if familiar.flatten().is_some() => familiar.flatten().unwrap_or_default().to_owned(),
        Some(near) => format!("did you mean `{near}`?"),
        None if names.is_empty() => format!("`{operation}` takes no arguments"),
        None => {
            format!("`{operation}` takes: {}", names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "))
        }
    };
    CheckError::UnknownArgument { operation: operation.into(), name: name.into(), span, help }
}
