//! Column selectors: a name, `f0..f15`, `[a, b]`, `numeric()`,
//! `categorical()`, `matching("re")`, expanded against a schema.

use crate::check::error::{CheckError, Mistake};
use crate::schema::{DType, Schema};
use crate::source::Span;
use crate::suggest::closest;
use crate::syntax::ast::{BinaryOp, Expr, ExprKind};

/// A selected column: its name and where the selector named it.
#[derive(Clone, Debug, PartialEq)]
pub struct Selected {
    /// The column's name.
    pub name: String,
    /// The selector (or the part of it) that picked it.
    pub span: Span,
}

/// The frame a lookup happens in, for the "this frame has ..." label.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// Its schema.
    pub schema: &'a Schema,
    /// The expression that made it, if worth pointing at.
    pub span: Option<Span>,
}

/// Expands a selector; unknown columns are reported and left out.
pub fn select(selector: &Expr, frame: Frame, errors: &mut Vec<CheckError>) -> Vec<Selected> {
    let mut out = Vec::new();
    expand(selector, frame, errors, &mut out);
    out
}

fn expand(selector: &Expr, frame: Frame, errors: &mut Vec<CheckError>, out: &mut Vec<Selected>) {
    let span = selector.span;
    match &selector.kind {
        ExprKind::Path(path) if path.parts.len() == 1 => {
            if let Some(name) = lookup(&path.parts[0].name, span, frame, errors) {
                out.push(Selected { name, span });
            }
        }
        ExprKind::String(s) => {
            if let Some(name) = lookup(&s.value, span, frame, errors) {
                out.push(Selected { name, span });
            }
        }
        ExprKind::List { items } => items.iter().for_each(|item| expand(item, frame, errors, out)),
        ExprKind::Binary { op: BinaryOp::Range, lhs, rhs } => range(lhs, rhs, span, frame, errors, out),
        ExprKind::Call(call) => by_kind(&call.callee.dotted(), &call.args, span, frame, errors, out),
        _ => errors.push(not_a_selector(span)),
    }
}

/// The column named `name`, or an error with the closest names.
pub fn lookup(name: &str, span: Span, frame: Frame, errors: &mut Vec<CheckError>) -> Option<String> {
    if frame.schema.get(name).is_some() {
        return Some(name.to_owned());
    }
    errors.push(unknown_column(name, span, frame));
    None
}

/// The error for a column `frame` does not have.
pub fn unknown_column(name: &str, span: Span, frame: Frame) -> CheckError {
    let names = frame.schema.names();
    let shown: Vec<String> = names.iter().take(12).map(|n| format!("`{n}`")).collect();
    let more = if names.len() > 12 { format!(" and {} more", names.len() - 12) } else { String::new() };
    let help = match closest(name, names.iter().copied()) {
        Some(near) => format!("did you mean `{near}`?"),
        None => format!("the columns are {}{more}", shown.join(", ")),
    };
    let frame_note = format!("this frame has {} columns", names.len());
    CheckError::UnknownColumn { name: name.into(), span, help, frame: frame.span.filter(|s| *s != span), frame_note }
}

fn not_a_selector(span: Span) -> CheckError {
    Mistake::WrongType.at(
        span,
        "this does not select columns",
        "expected columns",
        "select columns with a name, `f0..f15`, `[a, b]`, `numeric()`, `categorical()` or `matching(\"re\")`",
    )
}

/// `f0..f15`: both ends share a prefix and end in numbers (`x01..x12`
/// keeps the zero padding of its first end).
fn range(lhs: &Expr, rhs: &Expr, span: Span, frame: Frame, errors: &mut Vec<CheckError>, out: &mut Vec<Selected>) {
    let (Some(first), Some(last)) = (numbered(lhs), numbered(rhs)) else {
        return errors.push(Mistake::WrongType.at(
            span,
            "a column range joins two numbered names",
            "not `name0..name9`",
            "write the first and last column, as in `f0..f15`",
        ));
    };
    if first.prefix != last.prefix || first.number > last.number {
        return errors.push(Mistake::WrongType.at(
            span,
            format!("`{}..{}` is not a range", first.written, last.written),
            "the names must share a prefix and count up",
            "write the first and last column, as in `f0..f15`",
        ));
    }
    let name = |i: u32| format!("{}{i:0width$}", first.prefix, width = first.width);
    for i in first.number..=last.number {
        if frame.schema.get(&name(i)).is_none() {
            let present = (first.number..i).last().map(name);
            return errors.push(range_gap(&name(first.number), present, &name(i), span, frame));
        }
        out.push(Selected { name: name(i), span });
    }
}

/// A numbered column name, as in `f15` or `x01`.
struct Numbered {
    written: String,
    prefix: String,
    number: u32,
    /// Digits to pad to (0: no padding).
    width: usize,
}

fn numbered(expr: &Expr) -> Option<Numbered> {
    let ExprKind::Path(path) = &expr.kind else { return None };
    let [ident] = path.parts.as_slice() else { return None };
    let digits = ident.name.len() - ident.name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 || digits == ident.name.len() {
        return None;
    }
    let (prefix, number) = ident.name.split_at(ident.name.len() - digits);
    let width = if number.starts_with('0') && number.len() > 1 { number.len() } else { 0 };
    Some(Numbered { written: ident.name.clone(), prefix: prefix.to_owned(), number: number.parse().ok()?, width })
}

/// Whether a column (by name and type) is selected.
type ColumnTest = dyn Fn(&str, &DType) -> bool;

/// `numeric()`, `categorical()`, `matching("re")`.
fn by_kind(
    name: &str,
    args: &[crate::syntax::ast::Arg],
    span: Span,
    frame: Frame,
    errors: &mut Vec<CheckError>,
    out: &mut Vec<Selected>,
) {
    let keep: Box<ColumnTest> = match name {
        "numeric" => Box::new(|_, d| d.is_numeric()),
        "categorical" => Box::new(|_, d| matches!(d, DType::Str | DType::Cat(_) | DType::Bool)),
        "matching" => match args.first().map(|a| &a.value.kind) {
            Some(ExprKind::String(pattern)) => match regex::Regex::new(&pattern.value) {
                Ok(re) => Box::new(move |n, _| re.is_match(n)),
                Err(e) => {
                    return errors.push(Mistake::BadPattern.at(
                        pattern.span,
                        "invalid regular expression",
                        first_line(&e.to_string()),
                        "`matching` takes a regular expression, as in `matching(\"^f[0-9]+$\")`",
                    ));
                }
            },
            _ => return errors.push(not_a_selector(span)),
        },
        _ => return errors.push(not_a_selector(span)),
    };
    let before = out.len();
    out.extend(
        frame
            .schema
            .columns
            .iter()
            .filter(|c| keep(&c.name, &c.dtype))
            .map(|c| Selected { name: c.name.clone(), span }),
    );
    if out.len() == before {
        errors.push(Mistake::BadPattern.at(
            span,
            format!("`{name}(...)` selects no column"),
            "matches nothing in this frame",
            format!("the columns are {}", frame.schema.names().join(", ")),
        ));
    }
}

fn first_line(text: &str) -> String {
    text.lines().last().unwrap_or(text).trim().to_owned()
}

/// `f0..f40` over `f0`..`f31`: say where the columns stop.
fn range_gap(first: &str, last_present: Option<String>, missing: &str, span: Span, frame: Frame) -> CheckError {
    let help = match last_present {
        Some(last) => format!("the columns from `{first}` stop at `{last}`: write `{first}..{last}`"),
        None => format!("this frame has no column `{first}`"),
    };
    let frame_note = format!("this frame has {} columns", frame.schema.columns.len());
    CheckError::UnknownColumn { name: missing.into(), span, help, frame: frame.span.filter(|s| *s != span), frame_note }
}
