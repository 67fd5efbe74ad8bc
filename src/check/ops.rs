//! The data operations, each declared once in [`OPERATIONS`]: its
//! parameters and doc, the rule that checks its arguments against the input
//! schema and says what the output schema is, and its lowering to the IR.

use std::path::PathBuf;

use crate::check::args::{Bound, Param, bind, named, pos, rest};
use crate::check::columns::{Frame, Selected, select, unknown_column};
use crate::check::error::{CheckError, Mistake};
use crate::check::exprs::{expr_type, row_expr};
use crate::check::limits;
use crate::check::value::{Constants, Value};
use crate::ir::{Codec, Dummy, Fill, Op, SampleSize};
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

/// A data operation, declared once: its name, parameters and one line of
/// doc (the resolver's list, the LSP's completion, signatures and hover
/// come from here), the rule that checks a call on its input schema and
/// gives the output schema, and the lowering of a call that checked clean.
pub struct Operation {
    /// The name written after `|>`.
    pub name: &'static str,
    /// Its parameters.
    pub params: Params,
    /// What it does, in one line.
    pub doc: &'static str,
    /// Whether `as name` names what it makes.
    pub aliased: bool,
    /// The schema rule: checks the call (mistakes into the context) and
    /// returns the output schema (as good a guess as there is after a
    /// mistake, so later steps are checked too).
    pub check: fn(&Call, &Bound, Schema, &mut Context) -> Schema,
    /// The IR of a call that checked clean: `Some` for every such call
    /// (a `None` there is a checker bug, reported as `not_lowered`).
    pub lower: fn(&Lowering) -> Option<Op>,
}

/// How an operation takes its arguments.
pub enum Params {
    /// Parameters, by position or name.
    List(&'static [Param]),
    /// `name: value` pairs of the user's choosing (`rename`, `with`),
    /// written in signatures as this.
    Pairs(&'static str),
}

impl Operation {
    /// The signature editors show: `cut(column, edges, labels:,
    /// include_lowest:)`; `name:` marks a parameter given only by name,
    /// `...` one that takes every remaining positional argument.
    pub fn signature(&self) -> String {
        match &self.params {
            Params::Pairs(pairs) => format!("{}({pairs})", self.name),
            Params::List(params) => crate::check::args::signature(self.name, params),
        }
    }
}

const COLUMNS: &[Param] = &[rest("columns")];
const OPTIONAL_COLUMNS: &[Param] = &[Param { required: false, ..rest("columns") }];

/// Most bins `qcut` makes from a count (more is surely a mistake).
const MAX_BINS: i64 = 1000;

const fn op(
    name: &'static str,
    params: Params,
    doc: &'static str,
    check: fn(&Call, &Bound, Schema, &mut Context) -> Schema,
    lower: fn(&Lowering) -> Option<Op>,
) -> Operation {
    Operation { name, params, doc, aliased: false, check, lower }
}

const fn named_output(operation: Operation) -> Operation {
    Operation { aliased: true, ..operation }
}

use Params::{List, Pairs};

/// Every data operation.
pub const OPERATIONS: &[Operation] = &[
    op("filter", List(&[pos("condition", true)]), "Keeps the rows where the condition holds", filter, lower_filter),
    op("select", List(COLUMNS), "Keeps only these columns, in this order", select_columns, lower_select),
    op("drop", List(COLUMNS), "Removes these columns", drop, lower_drop),
    op("rename", Pairs("old: new, ..."), "Renames columns", rename, lower_rename),
    op("with", Pairs("name: expression, ..."), "Adds or replaces computed columns", with, lower_with),
    op(
        "drop_nulls",
        List(OPTIONAL_COLUMNS),
        "Drops rows with a null in these columns (all columns when none are named)",
        drop_nulls,
        lower_drop_nulls,
    ),
    op(
        "fill_nulls",
        List(&[pos("columns", true), pos("value", true)]),
        "Fills nulls with a value, or the fitted `mean` or `median`",
        fill_nulls,
        lower_fill_nulls,
    ),
    op("cast", List(&[pos("columns", true), pos("dtype", true)]), "Converts columns to another type", cast, lower_cast),
    named_output(op(
        "cut",
        List(&[pos("column", true), pos("edges", true), named("labels"), named("include_lowest")]),
        "Buckets a number into right-closed bins (pandas.cut)",
        cut,
        lower_cut,
    )),
    named_output(op(
        "qcut",
        List(&[pos("column", true), pos("q", true), named("labels"), named("duplicates")]),
        "Buckets a number into fitted quantile bins (pandas.qcut)",
        qcut,
        lower_qcut,
    )),
    op(
        "standard",
        List(COLUMNS),
        "Standard scaling: (x - mean) / std, fitted (sklearn StandardScaler)",
        scale,
        lower_standard,
    ),
    op(
        "minmax",
        List(&[rest("columns"), named("range")]),
        "Min-max scaling to [0, 1] or `range`, fitted (sklearn MinMaxScaler)",
        minmax,
        lower_minmax,
    ),
    op("log1p", List(COLUMNS), "ln(1 + x) of numeric columns, in place, as f64 (numpy.log1p)", log1p, lower_log1p),
    op("robust", List(COLUMNS), "(x - median) / IQR, fitted (sklearn RobustScaler)", scale, lower_robust),
    op(
        "onehot",
        List(&[rest("columns"), named("drop_first"), named("dtype")]),
        "One 0/1 column per fitted level (sklearn OneHotEncoder); `dtype: bool` for true/false (pandas get_dummies)",
        onehot,
        lower_onehot,
    ),
    op(
        "encode",
        List(COLUMNS),
        "Integer ids 1..n per fitted level, 0 for missing or unseen ones: what `embedding` reads (Keras StringLookup)",
        encode,
        lower_encode,
    ),
    op(
        "tokenize",
        List(&[pos("column", true), named("vocab"), named("length")]),
        "A text as `length` word ids: the `vocab` most frequent fitted words, 0 padding, 1 unknown (Keras TextVectorization)",
        tokenize,
        lower_tokenize,
    ),
    named_output(op(
        "pca",
        List(&[pos("columns", true), pos("k", true), named("whiten"), named("keep")]),
        "Projects columns onto k fitted principal components",
        pca,
        lower_pca,
    )),
    named_output(op(
        "pixels",
        List(&[rest("columns"), named("shape"), named("max")]),
        "Columns of a table as one image column (`as name`; default `image`)",
        pixels,
        lower_pixels,
    )),
    op(
        "oversample",
        List(&[pos("column", true)]),
        "Repeats rows of smaller classes until the classes are even",
        oversample,
        lower_oversample,
    ),
    op(
        "sample",
        List(&[pos("n", false), named("frac"), named("seed")]),
        "A seeded random sample of rows",
        sample,
        lower_sample,
    ),
    op(
        "split",
        List(&[pos("fractions", true), named("stratify"), named("seed")]),
        "Cuts the rows into seeded parts, stratified by a column if given (the end of a `split` item)",
        split,
        // A `split` item lowers its own call; anywhere else the frame
        // checker refuses it.
        |_| None,
    ),
    op(
        "kfold",
        List(&[pos("k", true), named("stratify"), named("seed")]),
        "Cuts the rows into k seeded folds, stratified by a column if given (sklearn StratifiedKFold): `split folds = data |> kfold(5)` makes `folds.train` and `folds.val`, and a run on them trains once per fold",
        kfold,
        // A `split` item lowers its own call; anywhere else the frame
        // checker refuses it.
        |_| None,
    ),
    op("cache", List(&[]), "Marks a stage worth keeping (every stage is cached)", cache, |_| Some(Op::Cache)),
    op(
        "write",
        List(&[pos("path", true), named("compression")]),
        "Writes CSV or Parquet (by extension), atomically; `compression:` a Parquet codec (default zstd)",
        write,
        lower_write,
    ),
];

/// The operation called `name`.
pub fn operation(name: &str) -> Option<&'static Operation> {
    OPERATIONS.iter().find(|o| o.name == name)
}

/// Checks a data operation (not `predict`, which the caller handles) on
/// `schema`: the output schema, and the operation's IR when the call
/// checked clean.
pub fn apply(call: &Call, schema: Schema, cx: &mut Context) -> (Schema, Option<Op>) {
    let Some(operation) = operation(call.name) else { return (schema, None) };
    let errors_before = cx.errors.len();
    if let Some(alias) = call.alias.filter(|_| !operation.aliased) {
        let makers: Vec<String> = OPERATIONS.iter().filter(|o| o.aliased).map(|o| format!("`{}`", o.name)).collect();
        cx.errors.push(Mistake::Misplaced.at(
            alias.span,
            format!("`as` names only what {} make", makers.join(", ")),
            "not a new column",
            "remove `as ...`",
        ));
    }
    let params = match &operation.params {
        Params::List(params) => params,
        Params::Pairs(_) => &[][..],
    };
    let bound = match &operation.params {
        Params::List(_) => bind(call.name, params, call.args, call.span, cx.errors),
        // Pairs are the rule's to read.
        Params::Pairs(_) => bind(call.name, params, &[], call.span, cx.errors),
    };
    let before = schema.clone();
    let after = (operation.check)(call, &bound, schema, cx);
    if cx.errors.len() > errors_before {
        return (after, None);
    }
    let lowering = Lowering { call, b: &bound, before: &before, after: &after, constants: cx.constants };
    let lowered = (operation.lower)(&lowering);
    if lowered.is_none() && !matches!(call.name, "split" | "kfold") {
        cx.errors.push(CheckError::NotLowered { keyword: format!("`{}`", call.name), span: call.span });
    }
    (after, lowered)
}

/// What lowering a clean call reads.
pub struct Lowering<'l> {
    /// The call.
    pub call: &'l Call<'l>,
    /// Its arguments.
    pub b: &'l Bound<'l>,
    /// The input schema.
    pub before: &'l Schema,
    /// The output schema.
    pub after: &'l Schema,
    /// `let` constants.
    pub constants: &'l Constants,
}

impl Lowering<'_> {
    /// The columns a selector argument names (each once).
    fn cols(&self, param: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for e in self.b.exprs(param) {
            for selected in select(e, Frame { schema: self.before, span: None }, &mut Vec::new()) {
                if !out.contains(&selected.name) {
                    out.push(selected.name);
                }
            }
        }
        out
    }

    fn one(&self, param: &str) -> Option<String> {
        self.cols(param).into_iter().next()
    }

    fn value(&self, param: &str) -> Option<Value> {
        self.b.value(param, self.constants).map(|(v, _)| v)
    }

    fn flag(&self, param: &str) -> bool {
        self.value(param) == Some(Value::Bool(true))
    }

    fn alias(&self) -> Option<String> {
        self.call.alias.map(|a| a.name.clone())
    }
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
            cx.errors.push(Mistake::CountMismatch.at(
                second.span,
                format!("`{operation}` works on one column"),
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

fn filter(_: &Call, b: &Bound, schema: Schema, cx: &mut Context) -> Schema {
    if let Some(condition) = b.expr("condition") {
        let dtype = expr_type(condition, frame(&schema, cx), cx.constants, cx.errors);
        if let Some(dtype) = dtype.filter(|d| *d != DType::Bool) {
            cx.errors.push(Mistake::WrongType.at(
                condition.span,
                format!("`filter` needs a condition, but this is {dtype}"),
                "not true or false",
                "compare it, as in `age >= 18`",
            ));
        }
    }
    schema
}

fn select_columns(_: &Call, b: &Bound, schema: Schema, cx: &mut Context) -> Schema {
    let mut out = Schema::default();
    for s in columns(b, "columns", &schema, cx) {
        if let (Some(column), None) = (schema.get(&s.name), out.get(&s.name)) {
            out.columns.push(column.clone());
        }
    }
    out
}

fn drop(_: &Call, b: &Bound, mut schema: Schema, cx: &mut Context) -> Schema {
    let names: Vec<String> = columns(b, "columns", &schema, cx).into_iter().map(|s| s.name).collect();
    schema.remove(&names);
    schema
}

/// `rename(old: new, ...)`
fn rename(call: &Call, _: &Bound, mut schema: Schema, cx: &mut Context) -> Schema {
    for arg in call.args {
        let Some(old) = &arg.name else {
            cx.errors.push(Mistake::WrongType.at(
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
                cx.errors.push(Mistake::WrongType.at(
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
            cx.errors.push(Mistake::Conflict.at(
                arg.value.span,
                format!("`{new}` is already a column"),
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

/// `with(name: expr, ...)`: every expression reads the input frame (the
/// columns are computed side by side, as Polars' `with_columns` does), so
/// a column made here is not visible to the others of the same call.
fn with(call: &Call, _: &Bound, mut schema: Schema, cx: &mut Context) -> Schema {
    let input = schema.clone();
    let mut made: Vec<&Ident> = Vec::new();
    for arg in call.args {
        let Some(name) = &arg.name else {
            cx.errors.push(Mistake::WrongType.at(
                arg.value.span,
                "`with` takes `name: expression` pairs",
                "no column name",
                "write `with(ratio: income / age)`",
            ));
            continue;
        };
        if let Some(first) = made.iter().find(|m| m.name == name.name) {
            cx.errors.push(CheckError::DuplicateName { name: name.name.clone(), span: name.span, first: first.span });
            continue;
        }
        made.push(name);
        if let Some(dtype) = expr_type(&arg.value, frame(&input, cx), cx.constants, cx.errors) {
            schema.set(Column::new(name.name.clone(), dtype, name.span.to(arg.value.span)));
        }
    }
    schema
}

fn fill_nulls(_: &Call, b: &Bound, mut schema: Schema, cx: &mut Context) -> Schema {
    let selected = columns(b, "columns", &schema, cx);
    let Some((value, span)) = b.value("value", cx.constants) else { return schema };
    let needs_numbers = matches!(&value, Value::Name(n) if n == "mean" || n == "median") || value.as_f64().is_some();
    match &value {
        Value::Name(n) if n != "mean" && n != "median" => {
            cx.errors.push(Mistake::UnknownValue.at(
                span,
                format!("`{n}` is not a fill value"),
                "unknown",
                "fill with a number, a string, `mean` or `median`",
            ));
        }
        Value::List(_) | Value::Other | Value::Bool(_) => cx.errors.push(Mistake::WrongType.at(
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

fn cast(call: &Call, b: &Bound, mut schema: Schema, cx: &mut Context) -> Schema {
    let selected = columns(b, "columns", &schema, cx);
    let Some((value, span)) = b.value("dtype", cx.constants) else { return schema };
    let dtype = match &value {
        Value::Name(n) => DType::from_name(n),
        _ => None,
    };
    let Some(dtype) = dtype else {
        cx.errors.push(Mistake::UnknownValue.at(
            span,
            "unknown type",
            "not a type",
            format!("the types are {}", DTYPE_NAMES.join(", ")),
        ));
        return schema;
    };
    for s in selected {
        if let Some(i) = schema.position(&s.name) {
            let column = &mut schema.columns[i];
            // Polars has no cast from text to booleans.
            if dtype == DType::Bool && matches!(column.dtype, DType::Str | DType::Cat(_)) {
                let help = format!("compare it instead: `with({0}: {0} == \"yes\")`", column.name);
                cx.errors.push(column_type("cast", column, s.span, "numbers or booleans to make booleans", &help));
                continue;
            }
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

/// The classes of a target column as a run orders them (its levels
/// sorted, integers as numbers): what a classification model's outputs
/// stand for. Empty when the check does not know them.
pub fn known_classes(column: &Column) -> Vec<String> {
    let mut levels = sorted_levels(column);
    if column.dtype != DType::I64 {
        levels.sort();
    }
    levels
}

/// The numbers of a list argument, with their spans.
fn numbers(value: &Value, span: Span, what: &str, cx: &mut Context) -> Option<Vec<(f64, Span)>> {
    let Value::List(items) = value else {
        cx.errors.push(Mistake::WrongType.at(
            span,
            format!("{what} must be a list of numbers"),
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
                cx.errors.push(Mistake::WrongType.at(
                    *item_span,
                    format!("{what} must be numbers"),
                    format!("this is {}", item.described()),
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
        cx.errors.push(Mistake::WrongType.at(
            span,
            "`labels` must be a list of names",
            "not a list",
            "write `labels: [low, mid, high]`",
        ));
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
        cx.errors.push(Mistake::CountMismatch.at(
            span,
            &message,
            format!("expected {count} labels"),
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

fn cut(call: &Call, b: &Bound, schema: Schema, cx: &mut Context) -> Schema {
    let Some(input) = numeric_columns(b, "column", "cut", &schema, cx).into_iter().next() else { return schema };
    let Some((value, span)) = b.value("edges", cx.constants) else { return schema };
    let Some(edges) = numbers(&value, span, "cut edges", cx) else { return schema };
    if edges.len() < 2 {
        cx.errors.push(Mistake::CountMismatch.at(
            span,
            "`cut` needs at least two edges",
            "one bin needs two edges",
            "write the bin edges, as in `[0, 18, 65, inf]`",
        ));
        return schema;
    }
    if let Some(w) = edges.windows(2).find(|w| w[0].0 >= w[1].0) {
        cx.errors.push(Mistake::OutOfRange.at(
            w[1].1,
            "cut edges must increase",
            format!("not above {}", w[0].0),
            "list the edges from lowest to highest",
        ));
        return schema;
    }
    let bins = edges.len() - 1;
    let levels = labels(b, bins, cx).unwrap_or_else(|| (0..bins).map(|i| i.to_string()).collect());
    bucket_output(call, &input, levels, schema)
}

fn qcut(call: &Call, b: &Bound, schema: Schema, cx: &mut Context) -> Schema {
    let Some(input) = numeric_columns(b, "column", "qcut", &schema, cx).into_iter().next() else { return schema };
    let Some((value, span)) = b.value("q", cx.constants) else { return schema };
    let bins = match &value {
        Value::Int(q) if (2..=MAX_BINS).contains(q) => *q as usize,
        Value::List(_) => {
            let Some(quantiles) = numbers(&value, span, "quantiles", cx) else { return schema };
            let ordered = quantiles.windows(2).all(|w| w[0].0 < w[1].0);
            let in_range = quantiles.iter().all(|(q, _)| (0.0..=1.0).contains(q));
            if quantiles.len() < 2 || !ordered || !in_range {
                cx.errors.push(Mistake::OutOfRange.at(
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
            cx.errors.push(Mistake::range_or_type(value.as_f64().is_some()).at(
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
        cx.errors.push(Mistake::UnknownValue.at(
            span,
            "`duplicates` is `drop` or `raise`",
            "unknown",
            "`raise` (the default) stops on repeated edges; `drop` merges their bins",
        ));
    }
    let levels = labels(b, bins, cx).unwrap_or_else(|| (0..bins).map(|i| i.to_string()).collect());
    bucket_output(call, &input, levels, schema)
}

/// `standard` and `robust`: numeric columns, scaled in place to f64.
fn scale(call: &Call, b: &Bound, mut schema: Schema, cx: &mut Context) -> Schema {
    for s in numeric_columns(b, "columns", call.name, &schema, cx) {
        if let Some(i) = schema.position(&s.name) {
            schema.columns[i].dtype = DType::F64;
            schema.columns[i].origin = call.span;
        }
    }
    schema
}

fn minmax(call: &Call, b: &Bound, schema: Schema, cx: &mut Context) -> Schema {
    if let Some((value, span)) = b.value("range", cx.constants)
        && let Some(bounds) = numbers(&value, span, "`range`", cx)
    {
        let valid = bounds.len() == 2 && bounds[0].0 < bounds[1].0 && bounds.iter().all(|b| b.0.is_finite());
        if !valid {
            cx.errors.push(Mistake::WrongType.at(
                span,
                "`range` is two finite numbers, low then high",
                "not a range",
                "write `range: [0, 1]`",
            ));
        }
    }
    scale(call, b, schema, cx)
}

/// `onehot`'s `dtype:` (f64 when left out); a name that is no dummy type
/// is unknown, a number or a list of the wrong kind.
fn dummy_type(b: &Bound, cx: &mut Context) -> Dummy {
    let Some((value, span)) = b.value("dtype", cx.constants) else { return Dummy::default() };
    let mistake = match &value {
        Value::Name(name) | Value::Str(name) => match Dummy::named(name) {
            Some(dummy) => return dummy,
            None => Mistake::UnknownValue,
        },
        _ => Mistake::WrongType,
    };
    let names = Dummy::ALL.iter().map(|(n, _)| format!("`{n}`")).collect::<Vec<_>>().join(" or ");
    cx.errors.push(mistake.at(
        span,
        format!("`onehot`'s columns are {names}"),
        "not a dummy type",
        "write `dtype: bool` (pandas' get_dummies) or leave it out for f64 (scikit-learn's OneHotEncoder)",
    ));
    Dummy::default()
}

fn onehot(call: &Call, b: &Bound, mut schema: Schema, cx: &mut Context) -> Schema {
    let drop_first = matches!(b.value("drop_first", cx.constants), Some((Value::Bool(true), _)));
    let dummy = dummy_type(b, cx);
    for s in columns(b, "columns", &schema, cx) {
        let Some(position) = schema.position(&s.name) else { continue };
        let column = schema.columns[position].clone();
        let asked = Leveled {
            operation: "onehot",
            bucket: "bucket it first with `cut` or `qcut`, then one-hot the buckets",
            unknown: "one-hot a column read from a file, or made by `cut`/`qcut`/`cast(col, cat)`",
        };
        let Some(levels) = known_levels(&column, s.span, &asked, cx) else { continue };
        let dummies: Vec<Column> = levels
            .iter()
            .skip(usize::from(drop_first))
            .map(|l| Column::new(format!("{}_{l}", column.name), dummy.dtype(), call.span))
            .collect();
        if let Some(taken) = dummies.iter().find(|d| schema.get(&d.name).is_some()) {
            cx.errors.push(Mistake::Conflict.at(
                s.span,
                format!(
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

/// An operation that needs a column's levels, and what to advise.
struct Leveled {
    operation: &'static str,
    /// The fix for a column that is not discrete.
    bucket: &'static str,
    /// The fix for a column whose levels the check does not know.
    unknown: &'static str,
}

/// The levels of a discrete column the check knows (`onehot`, `encode`),
/// or `None` after saying why there are none.
fn known_levels(column: &Column, span: Span, asked: &Leveled, cx: &mut Context) -> Option<Vec<String>> {
    if !column.dtype.is_discrete() {
        let expected = "a discrete column (text, category, integer or bool)";
        cx.errors.push(column_type(asked.operation, column, span, expected, asked.bucket));
        return None;
    }
    let levels = sorted_levels(column);
    if levels.is_empty() {
        cx.errors.push(Mistake::Unsupported.at(
            span,
            format!("the levels of `{}` are not known before running", column.name),
            "levels unknown",
            asked.unknown,
        ));
        return None;
    }
    Some(levels)
}

/// `encode(city, country)`: each discrete column, in place, as integer
/// ids (`codes[n + 1]`: 1 to n for the levels the check knows, 0 for the
/// rest), which only an `embedding` layer reads.
fn encode(_call: &Call, b: &Bound, mut schema: Schema, cx: &mut Context) -> Schema {
    for s in columns(b, "columns", &schema, cx) {
        let Some(position) = schema.position(&s.name) else { continue };
        let column = schema.columns[position].clone();
        let asked = Leveled {
            operation: "encode",
            bucket: "bucket numbers first with `cut` or `qcut`, then encode the buckets",
            unknown: "encode a column read from a file, or made by `cut`/`qcut`/`cast(col, cat)`",
        };
        let Some(levels) = known_levels(&column, s.span, &asked, cx) else { continue };
        let ids = levels.len().saturating_add(1);
        if ids > MAX_CODES {
            cx.errors.push(Mistake::OutOfRange.at(
                s.span,
                format!("`{}` has {} levels; `encode` numbers at most {}", column.name, levels.len(), MAX_CODES - 1),
                "too many levels",
                "ids travel to the model as f32 features, exact up to 2^24; bucket or hash the column first",
            ));
            continue;
        }
        schema.columns[position] = Column { dtype: DType::Codes(ids), origin: s.span, ..column };
    }
    schema
}

/// `tokenize(review, vocab: 20000, length: 200)`: a text column, in place,
/// as `tokens[length of vocab + 2]`.
fn tokenize(_call: &Call, b: &Bound, mut schema: Schema, cx: &mut Context) -> Schema {
    let Some(s) = one_column(b, "column", "tokenize", &schema, cx) else { return schema };
    let vocab = token_count(b, "vocab", TOKENS_VOCAB, MAX_CODES - 2, cx);
    let length = token_count(b, "length", TOKENS_LENGTH, MAX_TOKENS_LENGTH, cx);
    let Some(position) = schema.position(&s.name) else { return schema };
    let column = schema.columns[position].clone();
    if !matches!(column.dtype, DType::Str | DType::Cat(_)) {
        cx.errors.push(column_type("tokenize", &column, s.span, "a text column", "tokenize a column of text"));
        return schema;
    }
    let (Some(vocab), Some(length)) = (vocab, length) else { return schema };
    schema.columns[position] = Column { dtype: DType::Tokens { ids: vocab + 2, length }, origin: s.span, ..column };
    schema
}

/// Words a `tokenize` vocabulary keeps unless `vocab:` says (Keras'
/// `max_tokens` of 20,000 in its text examples).
const TOKENS_VOCAB: usize = 20_000;
/// Ids a row unless `length:` says.
const TOKENS_LENGTH: usize = 200;
/// The most ids a row may have.
const MAX_TOKENS_LENGTH: usize = 100_000;

/// `vocab:` or `length:` of `tokenize`: a whole number from 1 to `max`.
fn token_count(b: &Bound, param: &str, default: usize, max: usize, cx: &mut Context) -> Option<usize> {
    let Some((value, span)) = b.value(param, cx.constants) else { return Some(default) };
    match value.as_i64() {
        Some(n) if n >= 1 && (n as u64) <= max as u64 => Some(n as usize),
        found => {
            cx.errors.push(Mistake::range_or_type(found.is_some() || value.as_f64().is_some()).at(
                span,
                format!("`{param}` of `tokenize` is a whole number from 1 to {max}"),
                "not a count in range",
                format!("write `tokenize(text, {param}: {default})`"),
            ));
            None
        }
    }
}

/// The most ids an encoded column may have: features reach the model as
/// f32, whose integers are exact up to 2^24.
const MAX_CODES: usize = 1 << 24;

/// `pixels(p0..p63, shape: [1, 8, 8], max: 16)`: numeric columns become
/// one image column (where the first of them was).
fn pixels(call: &Call, b: &Bound, mut schema: Schema, cx: &mut Context) -> Schema {
    let inputs = numeric_columns(b, "columns", "pixels", &schema, cx);
    let Some(shape) = pixel_shape(b, call, cx) else { return schema };
    if let Some((value, span)) = b.value("max", cx.constants)
        && !value.as_f64().is_some_and(|m| m > 0.0)
    {
        cx.errors.push(Mistake::range_or_type(value.as_f64().is_some()).at(
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
        cx.errors.push(Mistake::CountMismatch.at(
            call.span,
            format!("`pixels` has {} columns for a {c}x{h}x{w} image ({count} values)", inputs.len()),
            format!("{} columns", inputs.len()),
            "name one column per value, channel by channel, row by row",
        ));
        return schema;
    }
    let name = call.alias.map_or("image".to_owned(), |a| a.name.clone());
    if schema.get(&name).is_some() && !inputs.iter().any(|s| s.name == name) {
        cx.errors.push(Mistake::Conflict.at(
            call.alias.map_or(call.span, |a| a.span),
            format!("`pixels` makes a column `{name}`, which the frame already has"),
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
        Some([c @ (1 | 3), h, w]) if limits::image_values([*c, *h, *w]).is_none() => {
            cx.errors.push(Mistake::OutOfRange.at(
                span,
                format!("an image holds at most {} values (channels x height x width)", limits::MAX_IMAGE_VALUES),
                "too large",
                "write the shape of the images the columns hold, as in `shape: [1, 8, 8]`",
            ));
            None
        }
        Some([c @ (1 | 3), h, w]) => Some([*c, *h, *w]),
        _ => {
            cx.errors.push(Mistake::WrongType.at(
                span,
                "`shape` is `[channels, height, width]`, with 1 or 3 channels",
                "not an image shape",
                "write `shape: [1, 8, 8]`",
            ));
            None
        }
    }
}

fn pca(call: &Call, b: &Bound, mut schema: Schema, cx: &mut Context) -> Schema {
    let keep = matches!(b.value("keep", cx.constants), Some((Value::Bool(true), _)));
    let mut inputs = numeric_columns(b, "columns", "pca", &schema, cx);
    // A column named twice is one input.
    let mut seen = std::collections::HashSet::new();
    inputs.retain(|s| seen.insert(s.name.clone()));
    let Some((value, span)) = b.value("k", cx.constants) else { return schema };
    let Some(k) = value.as_i64().filter(|k| *k >= 1) else {
        cx.errors.push(Mistake::range_or_type(value.as_f64().is_some()).at(
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
        cx.errors.push(Mistake::OutOfRange.at(
            span,
            &message,
            format!("at most {}", inputs.len()),
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
        cx.errors.push(Mistake::Conflict.at(
            call.alias.map_or(call.span, |a| a.span),
            format!("`pca` makes a column `{}`, which the frame already has", taken.name),
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

fn sample(call: &Call, b: &Bound, schema: Schema, cx: &mut Context) -> Schema {
    let either = "`sample` takes either `n` or `frac`";
    match (b.value("n", cx.constants), b.value("frac", cx.constants)) {
        (Some(_), Some((_, span))) => cx.errors.push(Mistake::Conflict.at(
            span,
            either,
            "not both",
            "write `sample(1000)` or `sample(frac: 0.1)`",
        )),
        (None, None) => cx.errors.push(Mistake::Incomplete.at(
            call.span,
            either,
            "neither is given",
            "write `sample(1000)` or `sample(frac: 0.1)`",
        )),
        (Some((n, span)), None) if n.as_i64().is_none_or(|n| n < 1) => {
            cx.errors.push(Mistake::range_or_type(n.as_f64().is_some()).at(
                span,
                "`n` is a number of rows, 1 or more",
                "not a row count",
                "write `sample(1000)`",
            ));
        }
        (None, Some((f, span))) if f.as_f64().is_none_or(|f| !(f > 0.0 && f <= 1.0)) => {
            cx.errors.push(Mistake::range_or_type(f.as_f64().is_some()).at(
                span,
                "`frac` is a fraction in (0, 1]",
                "not a fraction",
                "write `sample(frac: 0.1)`",
            ));
        }
        _ => {}
    }
    seed(b, cx);
    schema
}

fn seed(b: &Bound, cx: &mut Context) {
    if let Some((value, span)) = b.value("seed", cx.constants)
        && value.as_i64().is_none_or(|s| s < 0)
    {
        cx.errors.push(Mistake::range_or_type(value.as_f64().is_some()).at(
            span,
            "a seed is a whole number, 0 or more",
            "not a seed",
            "write `seed: 42`",
        ));
    }
}

/// `split([0.7, 0.15, 0.15], stratify: label, seed: 42)`: the parts are
/// checked here; their count against the names by the `split` item.
fn split(_: &Call, b: &Bound, schema: Schema, cx: &mut Context) -> Schema {
    if let Some((value, span)) = b.value("fractions", cx.constants)
        && let Some(parts) = numbers(&value, span, "split fractions", cx)
    {
        if let Some((_, s)) = parts.iter().find(|(f, _)| !(*f > 0.0 && *f < 1.0)) {
            cx.errors.push(Mistake::OutOfRange.at(
                *s,
                "each split fraction is between 0 and 1",
                "not a fraction",
                "write fractions such as `[0.8, 0.2]`",
            ));
        }
        let sum: f64 = parts.iter().map(|(f, _)| f).sum();
        if (sum - 1.0).abs() > 1e-9 {
            cx.errors.push(Mistake::OutOfRange.at(
                span,
                format!("split fractions add up to {}, not 1", round(sum)),
                format!("sum {}", round(sum)),
                "make the parts add up to exactly 1",
            ));
        }
    }
    if b.expr("stratify").is_some() {
        discrete_column(b, "stratify", "split(stratify:)", &schema, cx);
    }
    seed(b, cx);
    schema
}

/// The most folds a `kfold` split may have: each fold trains a model.
pub const MAX_FOLDS: i64 = 100;

/// `kfold(5, stratify: label, seed: 1)`: k from 2 to [`MAX_FOLDS`].
fn kfold(_: &Call, b: &Bound, schema: Schema, cx: &mut Context) -> Schema {
    if let Some((value, span)) = b.value("k", cx.constants)
        && value.as_i64().is_none_or(|k| !(2..=MAX_FOLDS).contains(&k))
    {
        cx.errors.push(Mistake::range_or_type(value.as_f64().is_some()).at(
            span,
            format!("`kfold` takes a whole number of folds from 2 to {MAX_FOLDS}"),
            "not a number of folds",
            "write `kfold(5)`",
        ));
    }
    if b.expr("stratify").is_some() {
        discrete_column(b, "stratify", "kfold(stratify:)", &schema, cx);
    }
    seed(b, cx);
    schema
}

fn round(x: f64) -> f64 {
    (x * 1e9).round() / 1e9
}

fn write(_: &Call, b: &Bound, schema: Schema, cx: &mut Context) -> Schema {
    match b.value("path", cx.constants) {
        Some((Value::Str(path), span)) => {
            let known = [".csv", ".parquet"].iter().any(|ext| path.ends_with(ext));
            if !known {
                cx.errors.push(Mistake::UnknownValue.at(
                    span,
                    "`write` writes `.csv` or `.parquet` files",
                    "unknown file type",
                    "end the path in `.csv` or `.parquet`",
                ));
            }
            let listed = schema.columns.iter().find(|c| matches!(c.dtype, DType::Image(_) | DType::Tokens { .. }));
            if let Some(column) = listed.filter(|_| path.ends_with(".csv")) {
                let what = if matches!(column.dtype, DType::Image(_)) { "image" } else { "token" };
                cx.errors.push(Mistake::Unsupported.at(
                    span,
                    format!("a CSV file cannot hold the {what} column `{}` (a list a row)", column.name),
                    "CSV",
                    format!("write Parquet (`.parquet`), or drop it first (`drop({})`)", column.name),
                ));
            }
        }
        Some((_, span)) => cx.errors.push(Mistake::WrongType.at(
            span,
            "`write` takes a path string",
            "not a string",
            "write `write(\"out/data.parquet\")`",
        )),
        None => {}
    }
    if let Some((value, span)) = b.value("compression", cx.constants) {
        compression(&value, span, b, cx);
    }
    schema
}

/// `compression:` of `write`: a Parquet codec's name, for a Parquet file.
fn compression(value: &Value, span: Span, b: &Bound, cx: &mut Context) {
    let names = || Codec::ALL.iter().map(|(n, _)| format!("`{n}`")).collect::<Vec<_>>().join(", ");
    match value {
        Value::Name(name) | Value::Str(name) if Codec::named(name).is_none() => {
            let near = crate::suggest::closest(name, Codec::ALL.iter().map(|(n, _)| *n));
            let help = match near {
                Some(near) => format!("did you mean `{near}`? The codecs are {}", names()),
                None => format!("the codecs are {}", names()),
            };
            cx.errors.push(Mistake::UnknownValue.at(span, format!("`{name}` is not a Parquet codec"), "unknown", help));
        }
        Value::Name(_) | Value::Str(_) => {
            let csv = matches!(b.value("path", cx.constants), Some((Value::Str(path), _)) if path.ends_with(".csv"));
            if csv {
                cx.errors.push(Mistake::Unsupported.at(
                    span,
                    "`compression` is a Parquet setting: a CSV file is written as plain text",
                    "not for CSV",
                    "write Parquet (`.parquet`), or remove `compression:`",
                ));
            }
        }
        _ => cx.errors.push(Mistake::WrongType.at(
            span,
            "`compression` names a Parquet codec",
            "not a codec name",
            format!("write `compression: snappy`; the codecs are {}", names()),
        )),
    }
}

/// `log1p(cols)`: numeric columns become f64 in place.
fn log1p(call: &Call, b: &Bound, mut schema: Schema, cx: &mut Context) -> Schema {
    for s in numeric_columns(b, "columns", call.name, &schema, cx) {
        if let Some(position) = schema.position(&s.name) {
            schema.columns[position].dtype = DType::F64;
            schema.columns[position].origin = call.span;
        }
    }
    schema
}

fn lower_log1p(l: &Lowering) -> Option<Op> {
    Some(Op::Log1p(l.cols("columns")))
}

fn drop_nulls(_: &Call, b: &Bound, schema: Schema, cx: &mut Context) -> Schema {
    columns(b, "columns", &schema, cx);
    schema
}

fn oversample(call: &Call, b: &Bound, schema: Schema, cx: &mut Context) -> Schema {
    discrete_column(b, "column", call.name, &schema, cx);
    schema
}

fn cache(_: &Call, _: &Bound, schema: Schema, _: &mut Context) -> Schema {
    schema
}

// -- lowering: each operation's IR, from a call that checked clean --------------

fn lower_filter(l: &Lowering) -> Option<Op> {
    Some(Op::Filter(row_expr(l.b.expr("condition")?, l.before, l.constants)?))
}

fn lower_select(l: &Lowering) -> Option<Op> {
    Some(Op::Select(l.cols("columns")))
}

fn lower_drop(l: &Lowering) -> Option<Op> {
    Some(Op::Drop(l.cols("columns")))
}

fn lower_drop_nulls(l: &Lowering) -> Option<Op> {
    Some(Op::DropNulls(l.cols("columns")))
}

fn lower_rename(l: &Lowering) -> Option<Op> {
    let pairs = l.call.args.iter().map(|a| Some((a.name.as_ref()?.name.clone(), name_of(&a.value)?)));
    Some(Op::Rename(pairs.collect::<Option<Vec<_>>>()?))
}

fn lower_with(l: &Lowering) -> Option<Op> {
    let columns =
        l.call.args.iter().map(|a| Some((a.name.as_ref()?.name.clone(), row_expr(&a.value, l.before, l.constants)?)));
    Some(Op::With(columns.collect::<Option<Vec<_>>>()?))
}

fn lower_fill_nulls(l: &Lowering) -> Option<Op> {
    let value = match l.value("value")? {
        Value::Name(n) if n == "mean" => Fill::Mean,
        Value::Name(n) if n == "median" => Fill::Median,
        Value::Str(s) => Fill::Text(s),
        v => Fill::Number(v.as_f64()?),
    };
    Some(Op::FillNulls { columns: l.cols("columns"), value })
}

fn lower_cast(l: &Lowering) -> Option<Op> {
    let columns = l.cols("columns");
    let dtype = l.after.get(columns.first()?)?.dtype.clone();
    Some(Op::Cast { columns, dtype })
}

fn lower_cut(l: &Lowering) -> Option<Op> {
    let column = l.one("column")?;
    let edges = list_of_numbers(l.value("edges")?)?;
    let output = l.alias().unwrap_or_else(|| column.clone());
    let labels = levels_of(l.after, &output)?;
    Some(Op::Cut { column, edges, labels, include_lowest: l.flag("include_lowest"), output })
}

fn lower_qcut(l: &Lowering) -> Option<Op> {
    let column = l.one("column")?;
    let quantiles = match l.value("q")? {
        Value::Int(q) => (0..=q).map(|i| i as f64 / q as f64).collect(),
        list => list_of_numbers(list)?,
    };
    let output = l.alias().unwrap_or_else(|| column.clone());
    let labels = levels_of(l.after, &output)?;
    let drop_duplicates = matches!(l.value("duplicates"), Some(Value::Name(n)) if n == "drop");
    Some(Op::QCut { column, quantiles, labels, drop_duplicates, output })
}

fn lower_standard(l: &Lowering) -> Option<Op> {
    Some(Op::Standard(l.cols("columns")))
}

fn lower_robust(l: &Lowering) -> Option<Op> {
    Some(Op::Robust(l.cols("columns")))
}

fn lower_minmax(l: &Lowering) -> Option<Op> {
    let range = match l.value("range").and_then(list_of_numbers).as_deref() {
        Some([low, high]) => [*low, *high],
        _ => [0.0, 1.0],
    };
    Some(Op::MinMax { columns: l.cols("columns"), range })
}

fn lower_onehot(l: &Lowering) -> Option<Op> {
    let columns = l.cols("columns").into_iter().map(|c| Some((c.clone(), sorted_levels(l.before.get(&c)?))));
    let dtype = match l.value("dtype") {
        None => Dummy::default(),
        Some(Value::Name(name) | Value::Str(name)) => Dummy::named(&name)?,
        Some(_) => return None,
    };
    Some(Op::OneHot { columns: columns.collect::<Option<Vec<_>>>()?, drop_first: l.flag("drop_first"), dtype })
}

fn lower_encode(l: &Lowering) -> Option<Op> {
    let columns = l.cols("columns").into_iter().map(|c| Some((c.clone(), sorted_levels(l.before.get(&c)?))));
    Some(Op::Encode(columns.collect::<Option<Vec<_>>>()?))
}

fn lower_tokenize(l: &Lowering) -> Option<Op> {
    let column = l.cols("column").into_iter().next()?;
    let DType::Tokens { ids, length } = l.after.get(&column)?.dtype else { return None };
    Some(Op::Tokenize { column, vocab: ids.saturating_sub(2), length })
}

fn lower_pca(l: &Lowering) -> Option<Op> {
    let k = usize::try_from(l.value("k")?.as_i64()?).ok()?;
    let prefix = l.alias().unwrap_or_else(|| "pc".into());
    Some(Op::Pca { columns: l.cols("columns"), k, whiten: l.flag("whiten"), keep: l.flag("keep"), prefix })
}

fn lower_pixels(l: &Lowering) -> Option<Op> {
    let dims: Vec<usize> = match l.value("shape")? {
        Value::List(items) => {
            items.iter().map(|(v, _)| v.as_i64().and_then(|d| usize::try_from(d).ok())).collect::<Option<_>>()?
        }
        _ => return None,
    };
    let shape = [*dims.first()?, *dims.get(1)?, *dims.get(2)?];
    let max = l.value("max").and_then(|v| v.as_f64()).unwrap_or(1.0);
    Some(Op::Pixels { columns: l.cols("columns"), shape, max, name: l.alias().unwrap_or_else(|| "image".into()) })
}

fn lower_oversample(l: &Lowering) -> Option<Op> {
    Some(Op::Oversample(l.one("column")?))
}

fn lower_sample(l: &Lowering) -> Option<Op> {
    let size = match (l.value("n"), l.value("frac")) {
        (Some(n), _) => SampleSize::Rows(u64::try_from(n.as_i64()?).ok()?),
        (None, Some(f)) => SampleSize::Fraction(f.as_f64()?),
        (None, None) => return None,
    };
    let seed = l.value("seed").and_then(|s| s.as_i64()).and_then(|s| u64::try_from(s).ok());
    Some(Op::Sample { size, seed })
}

fn lower_write(l: &Lowering) -> Option<Op> {
    let codec = match l.value("compression") {
        None => Codec::default(),
        Some(Value::Name(name) | Value::Str(name)) => Codec::named(&name)?,
        Some(_) => return None,
    };
    match l.value("path")? {
        Value::Str(path) => Some(Op::Write(PathBuf::from(path), codec)),
        _ => None,
    }
}

fn name_of(expr: &crate::syntax::ast::Expr) -> Option<String> {
    match &expr.kind {
        ExprKind::Path(p) if p.parts.len() == 1 => Some(p.parts[0].name.clone()),
        ExprKind::String(s) => Some(s.value.clone()),
        _ => None,
    }
}

fn list_of_numbers(value: Value) -> Option<Vec<f64>> {
    match value {
        Value::List(items) => items.iter().map(|(v, _)| v.as_f64()).collect(),
        _ => None,
    }
}

fn levels_of(schema: &Schema, column: &str) -> Option<Vec<String>> {
    match &schema.get(column)?.dtype {
        DType::Cat(levels) => Some(levels.clone()),
        _ => None,
    }
}
