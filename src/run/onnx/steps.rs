//! The data steps of an ONNX export: each operation (with what it
//! learned, for a fitted step) as nodes on the columns' values, computing
//! what `run::fitted::apply` computes.

use super::proto::{Attr, Elem};
use super::{Builder, refuse};
use crate::ir::{BinaryOp, Fill, Op, RowExpr, RowFunction};
use crate::run::error::RunResult;
use crate::run::fitted::Fitted;
use crate::schema::DType;

/// Lowers one step (`fitted`: what it learned, inside a transform).
pub(super) fn op(b: &mut Builder, op: &Op, fitted: Option<&Fitted>) -> RunResult<()> {
    match (op, fitted) {
        (Op::Select(names), _) => {
            b.columns.retain(|name, _| names.contains(name));
            Ok(())
        }
        (Op::Drop(names), _) => {
            b.columns.retain(|name, _| !names.contains(name));
            Ok(())
        }
        (Op::Rename(pairs), _) => {
            for (from, to) in pairs {
                let col = b.column(from)?;
                b.columns.remove(from);
                b.columns.insert(to.clone(), col);
            }
            Ok(())
        }
        (Op::Cache | Op::Write(..), _) => Ok(()),
        (Op::With(columns), _) => {
            // Each expression reads the columns as they were before the step.
            let mut made = Vec::new();
            for (name, expr) in columns {
                let (value, kind) = row(b, expr)?;
                let value = match kind {
                    Kind::Bool => b.node("Cast", vec![value], vec![Attr::Int("to", Elem::F64 as i64)]),
                    Kind::Number => value,
                };
                made.push((name, value));
            }
            for (name, value) in made {
                b.set(name, value, false);
            }
            Ok(())
        }
        (Op::Cast { columns, dtype }, _) => {
            for name in columns {
                let col = b.column(name)?;
                let value = match (col.text, dtype) {
                    (false, DType::F64 | DType::Bool) | (true, DType::Str | DType::Cat(_)) => col.value,
                    // Truncated toward zero, as Polars casts.
                    (false, DType::I64) => {
                        let whole = b.node("Cast", vec![col.value], vec![Attr::Int("to", Elem::I64 as i64)]);
                        b.node("Cast", vec![whole], vec![Attr::Int("to", Elem::F64 as i64)])
                    }
                    // Whole numbers as their digits (`2007`).
                    (false, DType::Str | DType::Cat(_)) => {
                        let whole = b.node("Cast", vec![col.value], vec![Attr::Int("to", Elem::I64 as i64)]);
                        b.node("Cast", vec![whole], vec![Attr::Int("to", Elem::Str as i64)])
                    }
                    _ => {
                        return Err(refuse(
                            format!("`cast({name}, {dtype})` has no ONNX form yet"),
                            "cast before the split, so the column arrives in its type",
                        ));
                    }
                };
                let text = matches!(dtype, DType::Str | DType::Cat(_));
                b.set(name, value, text);
            }
            Ok(())
        }
        (_, Some(Fitted::Scale { columns, center, scale })) => {
            for ((name, c), s) in columns.iter().zip(center).zip(scale) {
                let x = b.number(name)?;
                let (c, s) = (b.constant_f64(&[*c], &[1]), b.constant_f64(&[*s], &[1]));
                let centred = b.node("Sub", vec![x, c], vec![]);
                let scaled = b.node("Div", vec![centred, s], vec![]);
                b.set(name, scaled, false);
            }
            Ok(())
        }
        (_, Some(Fitted::Linear { columns, scale, offset, .. })) => {
            for ((name, s), o) in columns.iter().zip(scale).zip(offset) {
                let x = b.number(name)?;
                let (s, o) = (b.constant_f64(&[*s], &[1]), b.constant_f64(&[*o], &[1]));
                let times = b.node("Mul", vec![x, s], vec![]);
                let moved = b.node("Add", vec![times, o], vec![]);
                b.set(name, moved, false);
            }
            Ok(())
        }
        (Op::FillNulls { columns, value }, fitted) => {
            let values: Vec<f64> = match (value, fitted) {
                (_, Some(Fitted::Fill { values, .. })) => values.clone(),
                (Fill::Number(x), _) => vec![*x; columns.len()],
                _ => {
                    return Err(refuse(
                        "`fill_nulls` with text has no ONNX form here",
                        "fill text columns before the split",
                    ));
                }
            };
            for (name, v) in columns.iter().zip(values) {
                let x = b.number(name)?;
                let missing = b.node("IsNaN", vec![x.clone()], vec![]);
                let v = b.constant_f64(&[v], &[1]);
                let filled = b.node("Where", vec![missing, v, x], vec![]);
                b.set(name, filled, false);
            }
            Ok(())
        }
        (Op::Log1p(columns), _) => {
            for name in columns {
                let x = b.number(name)?;
                let one = b.constant_f64(&[1.0], &[1]);
                let plus = b.node("Add", vec![x, one], vec![]);
                let log = b.node("Log", vec![plus], vec![]);
                b.set(name, log, false);
            }
            Ok(())
        }
        (Op::Cut { column, edges, labels, include_lowest, output }, _) => {
            bins(b, column, edges, labels, *include_lowest, output)
        }
        (Op::QCut { column, labels, output, .. }, Some(Fitted::Edges { edges })) => {
            bins(b, column, edges, labels, true, output)
        }
        (Op::OneHot { drop_first, .. }, Some(Fitted::Levels(levels))) => {
            for (column, column_levels) in &levels.columns {
                let col = b.column(column)?;
                for level in column_levels.iter().skip(usize::from(*drop_first)) {
                    let hot = if col.text {
                        let one = b.ml_node(
                            "LabelEncoder",
                            vec![col.value.clone()],
                            vec![
                                Attr::Strs("keys_strings", vec![level.clone()]),
                                Attr::Floats("values_floats", vec![1.0]),
                                Attr::Float("default_float", 0.0),
                            ],
                        );
                        b.node("Cast", vec![one], vec![Attr::Int("to", Elem::F64 as i64)])
                    } else {
                        // Levels of a number (or boolean: 1 or 0) column are
                        // its values as text.
                        let value: f64 = match level.as_str() {
                            "true" => 1.0,
                            "false" => 0.0,
                            _ => level.parse().map_err(|_| {
                                refuse(
                                    format!("the level `{level}` of `{column}` is not a number"),
                                    "this is a bug in pipe's export; please report it",
                                )
                            })?,
                        };
                        let v = b.constant_f64(&[value], &[1]);
                        let equal = b.node("Equal", vec![col.value.clone(), v], vec![]);
                        b.node("Cast", vec![equal], vec![Attr::Int("to", Elem::F64 as i64)])
                    };
                    b.set(&format!("{column}_{level}"), hot, false);
                }
                b.columns.remove(column);
            }
            Ok(())
        }
        (Op::Encode(_), Some(Fitted::Codes(vocabulary))) => {
            for coded in &vocabulary.columns {
                let col = b.column(&coded.name)?;
                let ids: Vec<i64> = coded.ids.iter().map(|(_, id)| *id).collect();
                // Each fitted level its id; a missing or unseen one 0.
                let id = if col.text {
                    let levels = coded.ids.iter().map(|(l, _)| l.clone()).collect();
                    let keys = Attr::Strs("keys_strings", levels);
                    let attrs = vec![keys, Attr::Ints("values_int64s", ids), Attr::Int("default_int64", 0)];
                    b.ml_node("LabelEncoder", vec![col.value], attrs)
                } else {
                    whole_number_ids(b, col.value, &coded.ids)?
                };
                let id = b.node("Cast", vec![id], vec![Attr::Int("to", Elem::F64 as i64)]);
                b.set(&coded.name, id, false);
            }
            Ok(())
        }
        (Op::Pca { prefix, keep, .. }, Some(Fitted::Pca(p))) => {
            let inputs = p.columns.iter().map(|c| b.number(c)).collect::<RunResult<Vec<_>>>()?;
            let (m, k) = (p.columns.len(), p.components.len());
            let x = b.node("Concat", inputs, vec![Attr::Int("axis", 1)]);
            let mean = b.constant_f64(&p.mean, &[m as i64]);
            let centred = b.node("Sub", vec![x, mean], vec![]);
            // Loadings as `[m, k]`, each component divided by its
            // standard deviation when whitening.
            let loadings: Vec<f64> = (0..m)
                .flat_map(|i| {
                    p.components.iter().zip(&p.explained_variance).map(move |(component, variance)| {
                        let whiten = if p.whiten { variance.sqrt() } else { 1.0 };
                        component.get(i).copied().unwrap_or(0.0) / whiten
                    })
                })
                .collect();
            let w = b.constant_f64(&loadings, &[m as i64, k as i64]);
            let scores = b.node("MatMul", vec![centred, w], vec![]);
            for j in 0..k {
                let j = j as i64;
                let (start, end) = (b.constant_i64(&[j], &[1]), b.constant_i64(&[j.saturating_add(1)], &[1]));
                let axis = b.constant_i64(&[1], &[1]);
                let score = b.node("Slice", vec![scores.clone(), start, end, axis], vec![]);
                b.set(&format!("{prefix}{j}"), score, false);
            }
            if !keep {
                b.columns.retain(|name, _| !p.columns.contains(name));
            }
            Ok(())
        }
        (op, _) => Err(refuse(
            format!("the step `{}` has no ONNX form yet", crate::run::names::op_name(op)),
            "the export lowers select, drop, rename, fill_nulls, log1p, cut, qcut, standard, robust, minmax, onehot and pca; predict with `pipe predict` or `pipe serve` instead",
        )),
    }
}

/// What a row expression's value is in the graph.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A double.
    Number,
    /// A boolean.
    Bool,
}

/// The ids of a whole-number or boolean column (a double value `[N, 1]`)
/// by its fitted levels (`pipe check` refuses `encode` on continuous
/// numbers): keys as int64, so ids past 2^24 keep their own id (as f32
/// keys, 100000001 and 100000002 are one key); a value that is not whole
/// (or missing: NaN) is unseen, id 0, as in `pipe predict`.
fn whole_number_ids(b: &mut Builder, value: String, levels: &[(String, i64)]) -> RunResult<String> {
    let keys = levels
        .iter()
        .map(|(l, _)| match l.as_str() {
            "true" => Ok(1),
            "false" => Ok(0),
            _ => l.parse::<i64>().map_err(|_| refuse(format!("the level `{l}` is not a whole number"), "")),
        })
        .collect::<RunResult<Vec<i64>>>()?;
    let ids = levels.iter().map(|(_, id)| *id).collect();
    let whole = b.node("Cast", vec![value.clone()], vec![Attr::Int("to", Elem::I64 as i64)]);
    let attrs = vec![Attr::Ints("keys_int64s", keys), Attr::Ints("values_int64s", ids), Attr::Int("default_int64", 0)];
    let id = b.ml_node("LabelEncoder", vec![whole.clone()], attrs);
    // The cast truncates (and NaN becomes some integer): only a value the
    // integer gives back exactly has that integer's id.
    let back = b.node("Cast", vec![whole], vec![Attr::Int("to", Elem::F64 as i64)]);
    let exact = b.node("Equal", vec![back, value], vec![]);
    let unseen = b.constant_i64(&[0], &[1, 1]);
    Ok(b.node("Where", vec![exact, id, unseen], vec![]))
}

/// A row expression of numbers (and booleans) as nodes; a missing number
/// is NaN, so arithmetic keeps it missing, and a comparison with it is
/// false (where Polars gives a missing boolean).
fn row(b: &mut Builder, expr: &RowExpr) -> RunResult<(String, Kind)> {
    let not_here = |what: &str| {
        refuse(
            format!("a row expression with {what} has no ONNX form yet"),
            "compute text and remainders before the split, so the column arrives made",
        )
    };
    Ok(match expr {
        RowExpr::Column(name) => match b.column(name)? {
            col if col.text => return Err(not_here("text")),
            col => (col.value, Kind::Number),
        },
        RowExpr::Int(i) => (b.constant_f64(&[*i as f64], &[1]), Kind::Number),
        RowExpr::Float(f) => (b.constant_f64(&[*f], &[1]), Kind::Number),
        RowExpr::Bool(v) => {
            let one = b.constant_f64(&[f64::from(u8::from(*v))], &[1]);
            let half = b.constant_f64(&[0.5], &[1]);
            (b.node("Greater", vec![one, half], vec![]), Kind::Bool)
        }
        RowExpr::Str(_) => return Err(not_here("text")),
        RowExpr::Neg(x) => {
            let (x, _) = number(b, x)?;
            (b.node("Neg", vec![x], vec![]), Kind::Number)
        }
        RowExpr::Not(x) => {
            let x = boolean(b, x)?;
            (b.node("Not", vec![x], vec![]), Kind::Bool)
        }
        RowExpr::Function { function, arg } => match function {
            RowFunction::IsNull => {
                let (x, _) = number(b, arg)?;
                (b.node("IsNaN", vec![x], vec![]), Kind::Bool)
            }
            f => {
                let (x, _) = number(b, arg)?;
                let op = match f {
                    RowFunction::Abs => "Abs",
                    RowFunction::Sqrt => "Sqrt",
                    RowFunction::Log => "Log",
                    RowFunction::Exp => "Exp",
                    RowFunction::IsNull => "IsNaN",
                };
                (b.node(op, vec![x], vec![]), Kind::Number)
            }
        },
        RowExpr::Binary { op, lhs, rhs } => match op {
            BinaryOp::And | BinaryOp::Or => {
                let (l, r) = (boolean(b, lhs)?, boolean(b, rhs)?);
                let name = if *op == BinaryOp::And { "And" } else { "Or" };
                (b.node(name, vec![l, r], vec![]), Kind::Bool)
            }
            BinaryOp::Rem => return Err(not_here("`%`")),
            _ => {
                let ((l, _), (r, _)) = (number(b, lhs)?, number(b, rhs)?);
                let (name, kind) = match op {
                    BinaryOp::Add => ("Add", Kind::Number),
                    BinaryOp::Sub => ("Sub", Kind::Number),
                    BinaryOp::Mul => ("Mul", Kind::Number),
                    BinaryOp::Div => ("Div", Kind::Number),
                    BinaryOp::Eq | BinaryOp::Ne => ("Equal", Kind::Bool),
                    BinaryOp::Lt => ("Less", Kind::Bool),
                    BinaryOp::Le => ("LessOrEqual", Kind::Bool),
                    BinaryOp::Gt => ("Greater", Kind::Bool),
                    BinaryOp::Ge => ("GreaterOrEqual", Kind::Bool),
                    BinaryOp::And | BinaryOp::Or | BinaryOp::Rem => return Err(not_here("`%`")),
                };
                let value = b.node(name, vec![l, r], vec![]);
                if *op == BinaryOp::Ne { (b.node("Not", vec![value], vec![]), Kind::Bool) } else { (value, kind) }
            }
        },
    })
}

/// A row expression as a number (a boolean as 1 or 0).
fn number(b: &mut Builder, expr: &RowExpr) -> RunResult<(String, Kind)> {
    let (value, kind) = row(b, expr)?;
    Ok(match kind {
        Kind::Number => (value, kind),
        Kind::Bool => (b.node("Cast", vec![value], vec![Attr::Int("to", Elem::F64 as i64)]), Kind::Number),
    })
}

/// A row expression as a boolean (a number: whether it is not 0, as a
/// boolean column stored as 1 or 0 reads).
fn boolean(b: &mut Builder, expr: &RowExpr) -> RunResult<String> {
    let (value, kind) = row(b, expr)?;
    Ok(match kind {
        Kind::Bool => value,
        Kind::Number => {
            let zero = b.constant_f64(&[0.0], &[1]);
            let equal = b.node("Equal", vec![value, zero], vec![]);
            b.node("Not", vec![equal], vec![])
        }
    })
}

/// `cut` and `qcut`: a number's bin as its label (text); outside every
/// bin (or missing), the empty text, which no one-hot level matches.
fn bins(b: &mut Builder, column: &str, edges: &[f64], labels: &[String], lowest: bool, output: &str) -> RunResult<()> {
    let x = b.number(column)?;
    let n = edges.len().saturating_sub(1);
    // The bin index: how many inner edges the value is above (bins are
    // closed on the right).
    let mut index = b.constant_i64(&[0], &[1]);
    for edge in edges.iter().skip(1).take(n.saturating_sub(1)) {
        let e = b.constant_f64(&[*edge], &[1]);
        let above = b.node("Greater", vec![x.clone(), e], vec![]);
        let one = b.node("Cast", vec![above], vec![Attr::Int("to", Elem::I64 as i64)]);
        index = b.node("Add", vec![index, one], vec![]);
    }
    let (first, last) = (edges.first().copied().unwrap_or(0.0), edges.last().copied().unwrap_or(0.0));
    let (lo, hi) = (b.constant_f64(&[first], &[1]), b.constant_f64(&[last], &[1]));
    let low_op = if lowest { "GreaterOrEqual" } else { "Greater" };
    let above_low = b.node(low_op, vec![x.clone(), lo], vec![]);
    let below_high = b.node("LessOrEqual", vec![x, hi], vec![]);
    let inside = b.node("And", vec![above_low, below_high], vec![]);
    let none = b.constant_i64(&[-1], &[1]);
    let index = b.node("Where", vec![inside, index, none], vec![]);
    let label = b.ml_node(
        "LabelEncoder",
        vec![index],
        vec![
            Attr::Ints("keys_int64s", (0..labels.len() as i64).collect()),
            Attr::Strs("values_strings", labels.to_vec()),
            Attr::Str("default_string", String::new()),
        ],
    );
    b.set(output, label, true);
    Ok(())
}
