//! The data operations: each checks its arguments against the input schema
//! and says what the output schema is.

use crate::check::args::{Bound, Param, bind, named, pos, rest};
use crate::check::columns::{Frame, Selected, select, unknown_column};
use crate::check::error::CheckError;
use crate::check::exprs::expr_type;
use crate::check::value::{Constants, Value};
use crate::schema::{Column, DTYPE_NAMES, DType, Schema};
use crate::source::Span;
use crate::syntax::ast::{Arg, ExprKind, Ident};

/// What an operation needs besides its arguments.
pub struct Context<'a> {
    /// `let` constants.
    pub constants: &'a Constants,
    /// Where mistakes go.
    pub errors: &'a mut Vec<CheckError>,
    /// The expression that made the input frame, for labels.
    pub frame_span: Option<Span>,
}

/// One call of a data operation: `name(args) [as alias]`.
pub struct Call<'c> {
    /// The operation's name.
    pub name: &'c str,
    /// Its arguments.
    pub args: &'c [Arg],
    /// The name given with `as`.
    pub alias: Option<&'c Ident>,
    /// The whole call.
    pub span: Span,
}

const COLUMNS: &[Param] = &[rest("columns")];

/// Most bins `qcut` makes from a count (more is surely a mistake).
const MAX_BINS: i64 = 1000;
const OPTIONAL_COLUMNS: &[Param] = &[Param { required: false, ..rest("columns") }];

/// Applies a data operation (not `predict`, which the caller handles) to
/// `schema`.
pub fn apply(call: &Call, schema: Schema, cx: &mut Context) -> Schema {
    if call.alias.is_some() && !matches!(call.name, "cut" | "qcut" | "pca" | "pixels") {
        cx.errors.push(bad(
            call.alias.map_or(call.span, |a| a.span),
            "`as` names only what `cut`, `qcut` and `pca` make",
            "not a new column",
            "remove `as ...`",
        ));
    }
    match call.name {
        "filter" => filter(call, schema, cx),
        "select" => select_columns(call, schema, cx),
        "drop" => drop(call, schema, cx),
        "rename" => rename(call, schema, cx),
        "with" => with(call, schema, cx),
        "drop_nulls" => {
            let b = bind(call.name, OPTIONAL_COLUMNS, call.args, call.span, cx.errors);
            columns(&b, "columns", &schema, cx);
            schema
        }
        "fill_nulls" => fill_nulls(call, schema, cx),
        "cast" => cast(call, schema, cx),
        "cut" => cut(call, schema, cx),
        "qcut" => qcut(call, schema, cx),
        "standard" | "robust" => scale(call, COLUMNS, schema, cx),
        "minmax" => minmax(call, schema, cx),
        "onehot" => onehot(call, schema, cx),
        "pca" => pca(call, schema, cx),
        "pixels" => pixels(call, schema, cx),
        "oversample" => {
            let b = bind(call.name, &[pos("column", true)], call.args, call.span, cx.errors);
            discrete_column(&b, "column", call.name, &schema, cx);
            schema
        }
        "sample" => sample(call, schema, cx),
        "split" => split(call, schema, cx),
        "cache" => {
            bind(call.name, &[], call.args, call.span, cx.errors);
            schema
        }
        "write" => write(call, schema, cx),
        _ => schema,
    }
}

fn bad(span: Span, message: &str, label: &str, help: &str) -> CheckError {
    CheckError::BadArgument { message: message.into(), span, label: label.into(), help: help.into() }
}

fn frame<'a>(schema: &'a Schema, cx: &Context) -> Frame<'a> {
    Frame { schema, span: cx.frame_span }
}

/// The columns a selector argument names.
fn columns(b: &Bound, param: &str, schema: &Schema, cx: &mut Context) -> Vec<Selected> {
    let mut selected = Vec::new();
    for e in b.exprs(param) {
        selected.extend(select(e, frame(schema, cx), cx.errors));
    }
    selected
}

/// The selected columns, each required to be numeric.
fn numeric_columns(b: &Bound, param: &str, operation: &str, schema: &Schema, cx: &mut Context) -> Vec<Selected> {
    let selected = columns(b, param, schema, cx);
    selected
        .into_iter()
        .filter(|s| {
            let column = schema.get(&s.name);
            let ok = column.is_some_and(|c| c.dtype.is_numeric());
            if let (false, Some(c)) = (ok, column) {
                cx.errors.push(column_type(
                    operation,
                    c,
                    s.span,
                    "numeric columns",
                    "cast it with `cast(col, f64)`, or encode a category with `onehot`",
                ));
            }
            ok
        })
        .collect()
}

fn column_type(operation: &str, column: &Column, span: Span, expected: &str, help: &str) -> CheckError {
    CheckError::ColumnType {
        operation: format!("`{operation}`"),
        column: column.name.clone(),
        dtype: column.dtype.to_string(),
        expected: expected.into(),
        span,
        origin: Some(column.origin).filter(|o| *o != span),
        help: help.into(),
    }
}

/// Exactly one column, which must exist.
fn one_column(b: &Bound, param: &str, operation: &str, schema: &Schema, cx: &mut Context) -> Option<Selected> {
    let selected = columns(b, param, schema, cx);
    match selected.as_slice() {
        [one] => Some(one.clone()),
        [] => None,
        [_, second, ..] => {
            cx.errors.push(bad(
                second.span,
                &format!("`{operation}` works on one column"),
                "a second column",
                "apply it once per column",
            ));
            None
        }
    }
}

fn discrete_column(b: &Bound, param: &str, operation: &str, schema: &Schema, cx: &mut Context) -> Option<Selected> {
    let selected = one_column(b, param, operation, schema, cx)?;
    let column = schema.get(&selected.name)?;
    if !column.dtype.is_discrete() {
        cx.errors.push(column_type(
            operation,
            column,
            selected.span,
            "a discrete column (text, category, integer or bool)",
            "bucket a continuous column first with `cut` or `qcut`",
        ));
        return None;
    }
    Some(selected)
}

fn filter(call: &Call, schema: Schema, cx: &mut Context) -> Schema {
    let b = bind(call.name, &[pos("condition", true)], call.args, call.span, cx.errors);
    if let Some(condition) = b.expr("condition") {
        let dtype = expr_type(condition, frame(&schema, cx), cx.constants, cx.errors);
        if let Some(dtype) = dtype.filter(|d| *d != DType::Bool) {
            cx.errors.push(bad(
                condition.span,
                &format!("`filter` needs a condition, but this is {dtype}"),
                "not true or false",
                "compare it, as in `age >= 18`",
            ));
        }
    }
    schema
}

fn select_columns(call: &Call, schema: Schema, cx: &mut Context) -> Schema {
    let b = bind(call.name, COLUMNS, call.args, call.span, cx.errors);
    let mut out = Schema::default();
    for s in columns(&b, "columns", &schema, cx) {
        if let (Some(column), None) = (schema.get(&s.name), out.get(&s.name)) {
            out.columns.push(column.clone());
        }
    }
    out
}

fn drop(call: &Call, mut schema: Schema, cx: &mut Context) -> Schema {
    let b = bind(call.name, COLUMNS, call.args, call.span, cx.errors);
    let names: Vec<String> = columns(&b, "columns", &schema, cx).into_iter().map(|s| s.name).collect();
    schema.remove(&names);
    schema
}

/// `rename(old: new, ...)`
fn rename(call: &Call, mut schema: Schema, cx: &mut Context) -> Schema {
    for arg in call.args {
        let Some(old) = &arg.name else {
            cx.errors.push(bad(
                arg.value.span,
                "`rename` takes `old: new` pairs",
                "no old name",
                "write `rename(income: salary)`",
            ));
            continue;
        };
        let new = match &arg.value.kind {
            ExprKind::Path(p) if p.parts.len() == 1 => p.parts[0].name.clone(),
            ExprKind::String(s) => s.value.clone(),
            _ => {
                cx.errors.push(bad(
                    arg.value.span,
                    "the new name must be a name or a string",
                    "not a name",
                    "write `rename(income: salary)`",
                ));
                continue;
            }
        };
        let Some(position) = schema.position(&old.name) else {
            cx.errors.push(unknown_column(&old.name, old.span, frame(&schema, cx)));
            continue;
        };
        if new != old.name && schema.get(&new).is_some() {
            cx.errors.push(bad(
                arg.value.span,
                &format!("`{new}` is already a column"),
                "taken",
                "pick a name the frame does not have, or drop that column first",
            ));
            continue;
        }
        schema.columns[position].name = new;
        schema.columns[position].origin = arg.value.span;
    }
    schema
}

/// `with(name: expr, ...)`
fn with(call: &Call, mut schema: Schema, cx: &mut Context) -> Schema {
    for arg in call.args {
        let Some(name) = &arg.name else {
            cx.errors.push(bad(
                arg.value.span,
                "`with` takes `name: expression` pairs",
                "no column name",
                "write `with(ratio: income / age)`",
            ));
            continue;
        };
        if let Some(dtype) = expr_type(&arg.value, frame(&schema, cx), cx.constants, cx.errors) {
            schema.set(Column::new(name.name.clone(), dtype, name.span.to(arg.value.span)));
        }
    }
    schema
}

fn fill_nulls(call: &Call, mut schema: Schema, cx: &mut Context) -> Schema {
    let b = bind(call.name, &[pos("columns", true), pos("value", true)], call.args, call.span, cx.errors);
    let selected = columns(&b, "columns", &schema, cx);
    let Some((value, span)) = b.value("value", cx.constants) else { return schema };
    let needs_numbers = matches!(&value, Value::Name(n) if n == "mean" || n == "median") || value.as_f64().is_some();
    match &value {
        Value::Name(n) if n != "mean" && n != "median" => {
            cx.errors.push(bad(
                span,
                &format!("`{n}` is not a fill value"),
                "unknown",
                "fill with a number, a string, `mean` or `median`",
            ));
        }
        Value::List(_) | Value::Other => cx.errors.push(bad(
            span,
            "a fill value is a number, a string, `mean` or `median`",
            "not a fill value",
            "write `fill_nulls(income, median)`",
        )),
        _ => {}
    }
    for s in &selected {
        let Some(column) = schema.get(&s.name) else { continue };
        let fits = if needs_numbers { column.dtype.is_numeric() } else { !column.dtype.is_numeric() };
        if !fits {
            let expected = if needs_numbers { "numeric columns" } else { "text or category columns" };
            cx.errors.push(column_type(
                "fill_nulls",
                column,
                s.span,
                expected,
                "fill numbers with a number, `mean` or `median`, and text with a string",
            ));
            continue;
        }
        // A new text value is a new level: later steps (`onehot`) see it,
        // so the feature count the checker promises is the run's.
        if let (Value::Str(text), Some(position)) = (&value, schema.position(&s.name)) {
            let column = &mut schema.columns[position];
            match &mut column.dtype {
                DType::Cat(levels) if !levels.contains(text) => levels.push(text.clone()),
                DType::Str if !column.sample_levels.is_empty() && !column.sample_levels.contains(text) => {
                    let mut levels = column.sample_levels.to_vec();
                    levels.push(text.clone());
                    levels.sort();
                    column.sample_levels = levels.into();
                }
                _ => {}
            }
        }
    }
    schema
}

fn cast(call: &Call, mut schema: Schema, cx: &mut Context) -> Schema {
    let b = bind(call.name, &[pos("columns", true), pos("dtype", true)], call.args, call.span, cx.errors);
    let selected = columns(&b, "columns", &schema, cx);
    let Some((value, span)) = b.value("dtype", cx.constants) else { return schema };
    let dtype = match &value {
        Value::Name(n) => DType::from_name(n),
        _ => None,
    };
    let Some(dtype) = dtype else {
        cx.errors.push(bad(span, "unknown type", "not a type", &format!("the types are {}", DTYPE_NAMES.join(", "))));
        return schema;
    };
    for s in selected {
        if let Some(i) = schema.position(&s.name) {
            let column = &mut schema.columns[i];
            column.dtype = match &dtype {
                DType::Cat(_) => DType::Cat(sorted_levels(column)),
                other => other.clone(),
            };
            column.origin = call.span;
        }
    }
    schema
}

/// The levels of a column, as far as the checker knows them.
pub fn sorted_levels(column: &Column) -> Vec<String> {
    match &column.dtype {
        DType::Cat(levels) => levels.clone(),
        DType::Bool => vec!["false".into(), "true".into()],
        DType::I64 => {
            let mut levels: Vec<(i64, String)> =
                column.sample_levels.iter().filter_map(|l| l.parse().ok().map(|n| (n, l.clone()))).collect();
            levels.sort();
            levels.into_iter().map(|(_, l)| l).collect()
        }
        _ => column.sample_levels.to_vec(),
    }
}

/// The numbers of a list argument, with their spans.
fn numbers(value: &Value, span: Span, what: &str, cx: &mut Context) -> Option<Vec<(f64, Span)>> {
    let Value::List(items) = value else {
        cx.errors.push(bad(
            span,
            &format!("{what} must be a list of numbers"),
            "not a list",
            "write them in brackets, as in `[0, 18, 65, inf]`",
        ));
        return None;
    };
    let mut out = Vec::new();
    for (item, item_span) in items {
        match item.as_f64() {
            Some(x) => out.push((x, *item_span)),
            None => {
                cx.errors.push(bad(
                    *item_span,
                    &format!("{what} must be numbers"),
                    &format!("this is {}", item.described()),
                    "write numbers, or `inf`",
                ));
                return None;
            }
        }
    }
    Some(out)
}

/// Level names from `labels:`, checked to number `count`.
fn labels(b: &Bound, count: usize, cx: &mut Context) -> Option<Vec<String>> {
    let (value, span) = b.value("labels", cx.constants)?;
    let Value::List(items) = value else {
        cx.errors.push(bad(span, "`labels` must be a list of names", "not a list", "write `labels: [low, mid, high]`"));
        return None;
    };
    let names: Vec<String> = items
        .iter()
        .filter_map(|(v, _)| match v {
            Value::Name(n) | Value::Str(n) => Some(n.clone()),
            Value::Int(i) => Some(i.to_string()),
            _ => None,
        })
        .collect();
    if names.len() != items.len() || names.len() != count {
        let message = format!("{} labels for {count} bins", items.len());
        cx.errors.push(bad(
            span,
            &message,
            &format!("expected {count} labels"),
            "give one label per bin (edges minus one)",
        ));
        return None;
    }
    Some(names)
}

/// The column a bucketing step writes: the alias, or the input replaced.
fn bucket_output(call: &Call, input: &Selected, levels: Vec<String>, mut schema: Schema) -> Schema {
    let name = call.alias.map_or(input.name.clone(), |a| a.name.clone());
    let origin = call.alias.map_or(call.span, |a| a.span);
    schema.set(Column::new(name, DType::Cat(levels), origin));
    schema
}

fn cut(call: &Call, schema: Schema, cx: &mut Context) -> Schema {
    let params = &[pos("column", true), pos("edges", true), named("labels"), named("include_lowest")];
    let b = bind(call.name, params, call.args, call.span, cx.errors);
    let Some(input) = numeric_columns(&b, "column", "cut", &schema, cx).into_iter().next() else { return schema };
    let Some((value, span)) = b.value("edges", cx.constants) else { return schema };
    let Some(edges) = numbers(&value, span, "cut edges", cx) else { return schema };
    if edges.len() < 2 {
        cx.errors.push(bad(
            span,
            "`cut` needs at least two edges",
            "one bin needs two edges",
            "write the bin edges, as in `[0, 18, 65, inf]`",
        ));
        return schema;
    }
    if let Some(w) = edges.windows(2).find(|w| w[0].0 >= w[1].0) {
        cx.errors.push(bad(
            w[1].1,
            "cut edges must increase",
            &format!("not above {}", w[0].0),
            "list the edges from lowest to highest",
        ));
        return schema;
    }
    let bins = edges.len() - 1;
    let levels = labels(&b, bins, cx).unwrap_or_else(|| (0..bins).map(|i| i.to_string()).collect());
    bucket_output(call, &input, levels, schema)
}

fn qcut(call: &Call, schema: Schema, cx: &mut Context) -> Schema {
    let params = &[pos("column", true), pos("q", true), named("labels"), named("duplicates")];
    let b = bind(call.name, params, call.args, call.span, cx.errors);
    let Some(input) = numeric_columns(&b, "column", "qcut", &schema, cx).into_iter().next() else { return schema };
    let Some((value, span)) = b.value("q", cx.constants) else { return schema };
    let bins = match &value {
        Value::Int(q) if (2..=MAX_BINS).contains(q) => *q as usize,
        Value::List(_) => {
            let Some(quantiles) = numbers(&value, span, "quantiles", cx) else { return schema };
            let ordered = quantiles.windows(2).all(|w| w[0].0 < w[1].0);
            let in_range = quantiles.iter().all(|(q, _)| (0.0..=1.0).contains(q));
            if quantiles.len() < 2 || !ordered || !in_range {
                cx.errors.push(bad(
                    span,
                    "quantiles must increase within [0, 1]",
                    "not increasing quantiles",
                    "write them like `[0, 0.25, 0.5, 0.75, 1]`",
                ));
                return schema;
            }
            quantiles.len() - 1
        }
        _ => {
            cx.errors.push(bad(
                span,
                "`q` is the number of bins (2 to 1,000) or a list of quantiles",
                "not a bin count",
                "write `qcut(income, 4)` for quartiles",
            ));
            return schema;
        }
    };
    if let Some((value, span)) = b.value("duplicates", cx.constants)
        && !matches!(&value, Value::Name(n) if n == "drop" || n == "raise")
    {
        cx.errors.push(bad(
            span,
            "`duplicates` is `drop` or `raise`",
            "unknown",
            "`raise` (the default) stops on repeated edges; `drop` merges their bins",
        ));
    }
    let levels = labels(&b, bins, cx).unwrap_or_else(|| (0..bins).map(|i| i.to_string()).collect());
    bucket_output(call, &input, levels, schema)
}

/// `standard` and `robust`: numeric columns, scaled in place to f64.
fn scale(call: &Call, params: &[Param], mut schema: Schema, cx: &mut Context) -> Schema {
    let b = bind(call.name, params, call.args, call.span, cx.errors);
    for s in numeric_columns(&b, "columns", call.name, &schema, cx) {
        if let Some(i) = schema.position(&s.name) {
            schema.columns[i].dtype = DType::F64;
            schema.columns[i].origin = call.span;
        }
    }
    schema
}

fn minmax(call: &Call, schema: Schema, cx: &mut Context) -> Schema {
    let params = &[rest("columns"), named("range")];
    let b = bind(call.name, params, call.args, call.span, cx.errors);
    if let Some((value, span)) = b.value("range", cx.constants)
        && let Some(bounds) = numbers(&value, span, "`range`", cx)
    {
        let valid = bounds.len() == 2 && bounds[0].0 < bounds[1].0 && bounds.iter().all(|b| b.0.is_finite());
        if !valid {
            cx.errors.push(bad(
                span,
                "`range` is two finite numbers, low then high",
                "not a range",
                "write `range: [0, 1]`",
            ));
        }
    }
    scale(call, params, schema, cx)
}

fn onehot(call: &Call, mut schema: Schema, cx: &mut Context) -> Schema {
    let params = &[rest("columns"), named("drop_first")];
    let b = bind(call.name, params, call.args, call.span, cx.errors);
    let drop_first = matches!(b.value("drop_first", cx.constants), Some((Value::Bool(true), _)));
    for s in columns(&b, "columns", &schema, cx) {
        let Some(position) = schema.position(&s.name) else { continue };
        let column = schema.columns[position].clone();
        if !column.dtype.is_discrete() {
            cx.errors.push(column_type(
                "onehot",
                &column,
                s.span,
                "a discrete column (text, category, integer or bool)",
                "bucket it first with `cut` or `qcut`, then one-hot the buckets",
            ));
            continue;
        }
        let levels = sorted_levels(&column);
        if levels.is_empty() {
            cx.errors.push(bad(
                s.span,
                &format!("the levels of `{}` are not known before running", column.name),
                "levels unknown",
                "one-hot a column read from a file, or made by `cut`/`qcut`/`cast(col, cat)`",
            ));
            continue;
        }
        let dummies: Vec<Column> = levels
            .iter()
            .skip(usize::from(drop_first))
            .map(|l| Column::new(format!("{}_{l}", column.name), DType::F64, call.span))
            .collect();
        if let Some(taken) = dummies.iter().find(|d| schema.get(&d.name).is_some()) {
            cx.errors.push(bad(
                s.span,
                &format!(
                    "one-hot encoding `{}` makes a column `{}`, which the frame already has",
                    column.name, taken.name
                ),
                "a made column would be overwritten",
                "rename or drop the existing column first",
            ));
            continue;
        }
        schema.columns.splice(position..=position, dummies);
    }
    schema
}

/// `pixels(p0..p63, shape: [1, 8, 8], max: 16)`: numeric columns become
/// one image column (where the first of them was).
fn pixels(call: &Call, mut schema: Schema, cx: &mut Context) -> Schema {
    let params = &[rest("columns"), named("shape"), named("max")];
    let b = bind(call.name, params, call.args, call.span, cx.errors);
    let inputs = numeric_columns(&b, "columns", "pixels", &schema, cx);
    let Some(shape) = pixel_shape(&b, call, cx) else { return schema };
    if let Some((value, span)) = b.value("max", cx.constants)
        && !value.as_f64().is_some_and(|m| m > 0.0)
    {
        cx.errors.push(bad(
            span,
            "`max` is the largest pixel value, above 0",
            "not a positive number",
            "write `max: 255`",
        ));
        return schema;
    }
    let count: usize = shape.iter().product();
    if inputs.is_empty() {
        return schema;
    }
    if inputs.len() != count {
        let [c, h, w] = shape;
        cx.errors.push(bad(
            call.span,
            &format!("`pixels` has {} columns for a {c}x{h}x{w} image ({count} values)", inputs.len()),
            &format!("{} columns", inputs.len()),
            "name one column per value, channel by channel, row by row",
        ));
        return schema;
    }
    let name = call.alias.map_or("image".to_owned(), |a| a.name.clone());
    if schema.get(&name).is_some() && !inputs.iter().any(|s| s.name == name) {
        cx.errors.push(bad(
            call.alias.map_or(call.span, |a| a.span),
            &format!("`pixels` makes a column `{name}`, which the frame already has"),
            "a made column would be overwritten",
            "name the image column differently with `as`, as in `pixels(p0..p63, shape: [1, 8, 8]) as digit`",
        ));
        return schema;
    }
    let first = inputs.iter().filter_map(|s| schema.position(&s.name)).min().unwrap_or(schema.columns.len());
    let image = Column::new(name, DType::Image(shape), call.alias.map_or(call.span, |a| a.span));
    schema.columns.retain(|c| !inputs.iter().any(|s| s.name == c.name));
    schema.columns.insert(first.min(schema.columns.len()), image);
    schema
}

/// `shape: [channels, height, width]` of `pixels`.
fn pixel_shape(b: &crate::check::args::Bound, call: &Call, cx: &mut Context) -> Option<[usize; 3]> {
    let Some((value, span)) = b.value("shape", cx.constants) else {
        cx.errors.push(CheckError::MissingArgument {
            operation: "pixels".into(),
            name: "shape".into(),
            span: call.span,
        });
        return None;
    };
    let dims: Option<Vec<usize>> = match &value {
        Value::List(items) => items.iter().map(|(v, _)| v.as_i64().filter(|d| *d >= 1).map(|d| d as usize)).collect(),
        _ => None,
    };
    match dims.as_deref() {
        Some([c @ (1 | 3), h, w]) => Some([*c, *h, *w]),
        _ => {
            cx.errors.push(bad(
                span,
                "`shape` is `[channels, height, width]`, with 1 or 3 channels",
                "not an image shape",
                "write `shape: [1, 8, 8]`",
            ));
            None
        }
    }
}

fn pca(call: &Call, mut schema: Schema, cx: &mut Context) -> Schema {
    let params = &[pos("columns", true), pos("k", true), named("whiten"), named("keep")];
    let b = bind(call.name, params, call.args, call.span, cx.errors);
    let keep = matches!(b.value("keep", cx.constants), Some((Value::Bool(true), _)));
    let mut inputs = numeric_columns(&b, "columns", "pca", &schema, cx);
    // A column named twice is one input.
    let mut seen = std::collections::HashSet::new();
    inputs.retain(|s| seen.insert(s.name.clone()));
    let Some((value, span)) = b.value("k", cx.constants) else { return schema };
    let Some(k) = value.as_i64().filter(|k| *k >= 1) else {
        cx.errors.push(bad(
            span,
            "`k` is the number of components, 1 or more",
            "not a count",
            "write `pca(f0..f31, 8)`",
        ));
        return schema;
    };
    if inputs.is_empty() {
        return schema;
    }
    if k as usize > inputs.len() {
        let message = format!("`pca` asks for {k} components from {} columns", inputs.len());
        cx.errors.push(bad(
            span,
            &message,
            &format!("at most {}", inputs.len()),
            "a projection cannot have more components than input columns; lower `k` or select more columns",
        ));
        return schema;
    }
    let prefix = call.alias.map_or("pc".to_owned(), |a| a.name.clone());
    let origin = call.alias.map_or(call.span, |a| a.span);
    let components: Vec<Column> = (0..k).map(|i| Column::new(format!("{prefix}{i}"), DType::F64, origin)).collect();
    if let Some(taken) =
        components.iter().find(|c| schema.get(&c.name).is_some() && !inputs.iter().any(|s| s.name == c.name))
    {
        cx.errors.push(bad(
            call.alias.map_or(call.span, |a| a.span),
            &format!("`pca` makes a column `{}`, which the frame already has", taken.name),
            "a made column would be overwritten",
            "name the components differently with `as`, as in `pca(f0..f31, 8) as pca_`",
        ));
        return schema;
    }
    let names: Vec<String> = inputs.iter().map(|s| s.name.clone()).collect();
    let positions = inputs.iter().filter_map(|s| schema.position(&s.name));
    let at = if keep {
        // After the last input column.
        positions.max().map_or(schema.columns.len(), |last| last + 1)
    } else {
        // Where the first input column was.
        let first = positions.min().unwrap_or(schema.columns.len());
        let before = schema.columns[..first].iter().filter(|c| !names.contains(&c.name)).count();
        schema.remove(&names);
        before
    };
    schema.columns.splice(at..at, components);
    schema
}

fn sample(call: &Call, schema: Schema, cx: &mut Context) -> Schema {
    let params = &[pos("n", false), named("frac"), named("seed")];
    let b = bind(call.name, params, call.args, call.span, cx.errors);
    let either = "`sample` takes either `n` or `frac`";
    match (b.value("n", cx.constants), b.value("frac", cx.constants)) {
        (Some(_), Some((_, span))) => {
            cx.errors.push(bad(span, either, "not both", "write `sample(1000)` or `sample(frac: 0.1)`"))
        }
        (None, None) => {
            cx.errors.push(bad(call.span, either, "neither is given", "write `sample(1000)` or `sample(frac: 0.1)`"))
        }
        (Some((n, span)), None) if n.as_i64().is_none_or(|n| n < 1) => {
            cx.errors.push(bad(span, "`n` is a number of rows, 1 or more", "not a row count", "write `sample(1000)`"));
        }
        (None, Some((f, span))) if f.as_f64().is_none_or(|f| !(f > 0.0 && f <= 1.0)) => {
            cx.errors.push(bad(span, "`frac` is a fraction in (0, 1]", "not a fraction", "write `sample(frac: 0.1)`"));
        }
        _ => {}
    }
    seed(&b, cx);
    schema
}

fn seed(b: &Bound, cx: &mut Context) {
    if let Some((value, span)) = b.value("seed", cx.constants)
        && value.as_i64().is_none_or(|s| s < 0)
    {
        cx.errors.push(bad(span, "a seed is a whole number, 0 or more", "not a seed", "write `seed: 42`"));
    }
}

/// `split([0.7, 0.15, 0.15], stratify: label, seed: 42)`: the parts are
/// checked here; their count against the names by the `split` item.
fn split(call: &Call, schema: Schema, cx: &mut Context) -> Schema {
    let params = &[pos("fractions", true), named("stratify"), named("seed")];
    let b = bind(call.name, params, call.args, call.span, cx.errors);
    if let Some((value, span)) = b.value("fractions", cx.constants)
        && let Some(parts) = numbers(&value, span, "split fractions", cx)
    {
        if let Some((_, s)) = parts.iter().find(|(f, _)| !(*f > 0.0 && *f < 1.0)) {
            cx.errors.push(bad(
                *s,
                "each split fraction is between 0 and 1",
                "not a fraction",
                "write fractions such as `[0.8, 0.2]`",
            ));
        }
        let sum: f64 = parts.iter().map(|(f, _)| f).sum();
        if (sum - 1.0).abs() > 1e-9 {
            cx.errors.push(bad(
                span,
                &format!("split fractions add up to {}, not 1", round(sum)),
                &format!("sum {}", round(sum)),
                "make the parts add up to exactly 1",
            ));
        }
    }
    if b.expr("stratify").is_some() {
        discrete_column(&b, "stratify", "split(stratify:)", &schema, cx);
    }
    seed(&b, cx);
    schema
}

fn round(x: f64) -> f64 {
    (x * 1e9).round() / 1e9
}

fn write(call: &Call, schema: Schema, cx: &mut Context) -> Schema {
    let b = bind(call.name, &[pos("path", true)], call.args, call.span, cx.errors);
    match b.value("path", cx.constants) {
        Some((Value::Str(path), span)) => {
            let known = [".csv", ".parquet"].iter().any(|ext| path.ends_with(ext));
            if !known {
                cx.errors.push(bad(
                    span,
                    "`write` writes `.csv` or `.parquet` files",
                    "unknown file type",
                    "end the path in `.csv` or `.parquet`",
                ));
            }
            let image = schema.columns.iter().find(|c| matches!(c.dtype, DType::Image(_)));
            if let Some(image) = image.filter(|_| path.ends_with(".csv")) {
                cx.errors.push(bad(
                    span,
                    &format!("a CSV file cannot hold the image column `{}`", image.name),
                    "CSV",
                    &format!("write Parquet (`.parquet`), or drop the images first (`drop({})`)", image.name),
                ));
            }
        }
        Some((_, span)) => cx.errors.push(bad(
            span,
            "`write` takes a path string",
            "not a string",
            "write `write(\"out/data.parquet\")`",
        )),
        None => {}
    }
    schema
}
