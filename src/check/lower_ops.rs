//! From a checked operation call to its IR form. Runs only after the
//! operation was checked without errors, so every value is known good.

use std::path::PathBuf;

use crate::check::args::{Bound, bind, named, pos, rest};
use crate::check::columns::{Frame, select};
use crate::check::ops::{Call, sorted_levels};
use crate::check::value::{Constants, Value, eval};
use crate::ir::{BinaryOp as IrBinaryOp, Fill, Op, RowExpr, RowFunction, SampleSize};
use crate::schema::{DType, Schema};
use crate::syntax::ast::{BinaryOp, Expr, ExprKind, UnaryOp};

/// The IR of a data operation that checked clean; `before` is its input
/// schema and `after` its output.
pub fn lower(call: &Call, before: &Schema, after: &Schema, constants: &Constants) -> Option<Op> {
    let mut scratch = Vec::new();
    let cols = |b: &Bound, param: &str| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for e in b.exprs(param) {
            for selected in select(e, Frame { schema: before, span: None }, &mut Vec::new()) {
                // A column named twice is one column.
                if !out.contains(&selected.name) {
                    out.push(selected.name);
                }
            }
        }
        out
    };
    let value = |b: &Bound, param: &str| b.value(param, constants).map(|(v, _)| v);
    let one = |b: &Bound, param: &str| cols(b, param).into_iter().next();
    let alias = || call.alias.map(|a| a.name.clone());
    Some(match call.name {
        "filter" => {
            let b = bind(call.name, &[pos("condition", true)], call.args, call.span, &mut scratch);
            Op::Filter(row_expr(b.expr("condition")?, before, constants)?)
        }
        "select" => {
            Op::Select(cols(&bind(call.name, &[rest("columns")], call.args, call.span, &mut scratch), "columns"))
        }
        "drop" => Op::Drop(cols(&bind(call.name, &[rest("columns")], call.args, call.span, &mut scratch), "columns")),
        "drop_nulls" => {
            let optional = [crate::check::args::Param { required: false, ..rest("columns") }];
            Op::DropNulls(cols(&bind(call.name, &optional, call.args, call.span, &mut scratch), "columns"))
        }
        "rename" => Op::Rename(
            call.args.iter().filter_map(|a| Some((a.name.as_ref()?.name.clone(), name_of(&a.value)?))).collect(),
        ),
        "with" => Op::With(
            call.args
                .iter()
                .filter_map(|a| Some((a.name.as_ref()?.name.clone(), row_expr(&a.value, before, constants)?)))
                .collect(),
        ),
        "fill_nulls" => {
            let b = bind(call.name, &[pos("columns", true), pos("value", true)], call.args, call.span, &mut scratch);
            let fill = match value(&b, "value")? {
                Value::Name(n) if n == "mean" => Fill::Mean,
                Value::Name(n) if n == "median" => Fill::Median,
                Value::Str(s) => Fill::Text(s),
                v => Fill::Number(v.as_f64()?),
            };
            Op::FillNulls { columns: cols(&b, "columns"), value: fill }
        }
        "cast" => {
            let b = bind(call.name, &[pos("columns", true), pos("dtype", true)], call.args, call.span, &mut scratch);
            let columns = cols(&b, "columns");
            let dtype = after.get(columns.first()?)?.dtype.clone();
            Op::Cast { columns, dtype }
        }
        "cut" => {
            let params = [pos("column", true), pos("edges", true), named("labels"), named("include_lowest")];
            let b = bind(call.name, &params, call.args, call.span, &mut scratch);
            let column = one(&b, "column")?;
            let edges = numbers(value(&b, "edges")?)?;
            let output = alias().unwrap_or_else(|| column.clone());
            let labels = levels(after, &output)?;
            let include_lowest = value(&b, "include_lowest") == Some(Value::Bool(true));
            Op::Cut { column, edges, labels, include_lowest, output }
        }
        "qcut" => {
            let params = [pos("column", true), pos("q", true), named("labels"), named("duplicates")];
            let b = bind(call.name, &params, call.args, call.span, &mut scratch);
            let column = one(&b, "column")?;
            let quantiles = match value(&b, "q")? {
                Value::Int(q) => (0..=q).map(|i| i as f64 / q as f64).collect(),
                list => numbers(list)?,
            };
            let output = alias().unwrap_or_else(|| column.clone());
            let labels = levels(after, &output)?;
            let drop_duplicates = matches!(value(&b, "duplicates"), Some(Value::Name(n)) if n == "drop");
            Op::QCut { column, quantiles, labels, drop_duplicates, output }
        }
        "standard" => {
            Op::Standard(cols(&bind(call.name, &[rest("columns")], call.args, call.span, &mut scratch), "columns"))
        }
        "robust" => {
            Op::Robust(cols(&bind(call.name, &[rest("columns")], call.args, call.span, &mut scratch), "columns"))
        }
        "minmax" => {
            let b = bind(call.name, &[rest("columns"), named("range")], call.args, call.span, &mut scratch);
            let range = match value(&b, "range").and_then(numbers).as_deref() {
                Some([lo, hi]) => [*lo, *hi],
                _ => [0.0, 1.0],
            };
            Op::MinMax { columns: cols(&b, "columns"), range }
        }
        "onehot" => {
            let b = bind(call.name, &[rest("columns"), named("drop_first")], call.args, call.span, &mut scratch);
            let columns = cols(&b, "columns")
                .into_iter()
                .filter_map(|c| Some((c.clone(), sorted_levels(before.get(&c)?))))
                .collect();
            Op::OneHot { columns, drop_first: value(&b, "drop_first") == Some(Value::Bool(true)) }
        }
        "pixels" => {
            let b =
                bind(call.name, &[rest("columns"), named("shape"), named("max")], call.args, call.span, &mut scratch);
            let dims: Vec<usize> = match value(&b, "shape")? {
                Value::List(items) => items.iter().filter_map(|(v, _)| v.as_i64().map(|d| d as usize)).collect(),
                _ => return None,
            };
            let shape = [*dims.first()?, *dims.get(1)?, *dims.get(2)?];
            let max = value(&b, "max").and_then(|v| v.as_f64()).unwrap_or(1.0);
            Op::Pixels { columns: cols(&b, "columns"), shape, max, name: alias().unwrap_or_else(|| "image".into()) }
        }
        "pca" => {
            let b = bind(
                call.name,
                &[pos("columns", true), pos("k", true), named("whiten"), named("keep")],
                call.args,
                call.span,
                &mut scratch,
            );
            let k = value(&b, "k")?.as_i64()? as usize;
            let whiten = value(&b, "whiten") == Some(Value::Bool(true));
            let keep = value(&b, "keep") == Some(Value::Bool(true));
            Op::Pca { columns: cols(&b, "columns"), k, whiten, keep, prefix: alias().unwrap_or_else(|| "pc".into()) }
        }
        "oversample" => {
            Op::Oversample(one(&bind(call.name, &[pos("column", true)], call.args, call.span, &mut scratch), "column")?)
        }
        "sample" => {
            let b =
                bind(call.name, &[pos("n", false), named("frac"), named("seed")], call.args, call.span, &mut scratch);
            let size = match (value(&b, "n"), value(&b, "frac")) {
                (Some(n), _) => SampleSize::Rows(n.as_i64()? as u64),
                (None, Some(f)) => SampleSize::Fraction(f.as_f64()?),
                (None, None) => return None,
            };
            Op::Sample { size, seed: value(&b, "seed").and_then(|s| s.as_i64()).map(|s| s as u64) }
        }
        "cache" => Op::Cache,
        "write" => {
            let b = bind(call.name, &[pos("path", true)], call.args, call.span, &mut scratch);
            match value(&b, "path")? {
                Value::Str(path) => Op::Write(PathBuf::from(path)),
                _ => return None,
            }
        }
        _ => return None,
    })
}

fn name_of(expr: &Expr) -> Option<String> {
    match &expr.kind {
        ExprKind::Path(p) if p.parts.len() == 1 => Some(p.parts[0].name.clone()),
        ExprKind::String(s) => Some(s.value.clone()),
        _ => None,
    }
}

fn numbers(value: Value) -> Option<Vec<f64>> {
    match value {
        Value::List(items) => items.iter().map(|(v, _)| v.as_f64()).collect(),
        _ => None,
    }
}

fn levels(schema: &Schema, column: &str) -> Option<Vec<String>> {
    match &schema.get(column)?.dtype {
        DType::Cat(levels) => Some(levels.clone()),
        _ => None,
    }
}

/// A checked row expression: names are columns of `schema`, or constants.
pub fn row_expr(expr: &Expr, schema: &Schema, constants: &Constants) -> Option<RowExpr> {
    Some(match &expr.kind {
        ExprKind::Number(n) if n.is_int && n.unit.is_none() => RowExpr::Int(n.value as i64),
        ExprKind::Number(_) | ExprKind::Inf => RowExpr::Float(eval(expr, constants).as_f64()?),
        ExprKind::String(s) => RowExpr::Str(s.value.clone()),
        ExprKind::Bool { value } => RowExpr::Bool(*value),
        ExprKind::Path(p) if p.parts.len() == 1 => {
            let name = &p.parts[0].name;
            if schema.get(name).is_some() {
                RowExpr::Column(name.clone())
            } else {
                match constants.get(name)? {
                    Value::Int(i) => RowExpr::Int(*i),
                    Value::Float(f) => RowExpr::Float(*f),
                    Value::Str(s) => RowExpr::Str(s.clone()),
                    Value::Bool(b) => RowExpr::Bool(*b),
                    _ => return None,
                }
            }
        }
        ExprKind::Unary { op: UnaryOp::Neg, operand } => RowExpr::Neg(Box::new(row_expr(operand, schema, constants)?)),
        ExprKind::Unary { op: UnaryOp::Not, operand } => RowExpr::Not(Box::new(row_expr(operand, schema, constants)?)),
        ExprKind::Binary { op, lhs, rhs } => RowExpr::Binary {
            op: binary_op(*op)?,
            lhs: Box::new(row_expr(lhs, schema, constants)?),
            rhs: Box::new(row_expr(rhs, schema, constants)?),
        },
        ExprKind::Call(call) => RowExpr::Function {
            function: RowFunction::from_name(&call.callee.dotted())?,
            arg: Box::new(row_expr(&call.args.first()?.value, schema, constants)?),
        },
        _ => return None,
    })
}

/// The IR's operator for a parsed one (`None` for a column range, which
/// the checker refuses in a row expression).
fn binary_op(op: BinaryOp) -> Option<IrBinaryOp> {
    Some(match op {
        BinaryOp::Or => IrBinaryOp::Or,
        BinaryOp::And => IrBinaryOp::And,
        BinaryOp::Eq => IrBinaryOp::Eq,
        BinaryOp::Ne => IrBinaryOp::Ne,
        BinaryOp::Lt => IrBinaryOp::Lt,
        BinaryOp::Le => IrBinaryOp::Le,
        BinaryOp::Gt => IrBinaryOp::Gt,
        BinaryOp::Ge => IrBinaryOp::Ge,
        BinaryOp::Add => IrBinaryOp::Add,
        BinaryOp::Sub => IrBinaryOp::Sub,
        BinaryOp::Mul => IrBinaryOp::Mul,
        BinaryOp::Div => IrBinaryOp::Div,
        BinaryOp::Rem => IrBinaryOp::Rem,
        BinaryOp::Range => return None,
    })
}
