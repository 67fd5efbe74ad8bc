//! Types of expressions over columns, as in `filter(age >= 18)` and
//! `with(ratio: income / (age + 1))`.

use crate::check::columns::{Frame, unknown_column};
use crate::check::error::{CheckError, Mistake};
use crate::check::value::{Constants, Value, eval};
use crate::ir::{BinaryOp as IrBinaryOp, RowExpr, RowFunction};
use crate::schema::{DType, Schema};
use crate::source::Span;
use crate::syntax::ast::{BinaryOp, Expr, ExprKind, UnaryOp};

/// The type of `expr` evaluated row by row over `frame`; `None` after a
/// reported mistake (so one mistake is reported once).
pub fn expr_type(expr: &Expr, frame: Frame, constants: &Constants, errors: &mut Vec<CheckError>) -> Option<DType> {
    match &expr.kind {
        ExprKind::Number(n) => Some(if n.is_int && n.unit.is_none() { DType::I64 } else { DType::F64 }),
        ExprKind::String(_) => Some(DType::Str),
        ExprKind::Bool { .. } => Some(DType::Bool),
        ExprKind::Inf => Some(DType::F64),
        ExprKind::Path(path) if path.parts.len() == 1 => {
            name_type(&path.parts[0].name, expr.span, frame, constants, errors)
        }
        ExprKind::Unary { op, operand } => {
            let inner = expr_type(operand, frame, constants, errors)?;
            match op {
                UnaryOp::Neg if inner.is_numeric() => Some(inner),
                UnaryOp::Not if inner == DType::Bool => Some(DType::Bool),
                UnaryOp::Neg => mismatch(operand.span, "`-` needs a number", &inner, errors),
                UnaryOp::Not => mismatch(operand.span, "`not` needs true or false", &inner, errors),
            }
        }
        ExprKind::Binary { op, lhs, rhs } => binary(*op, lhs, rhs, frame, constants, errors),
        ExprKind::Call(call) => function(&call.callee.dotted(), &call.args, expr.span, frame, constants, errors),
        _ => {
            errors.push(Mistake::WrongType.at(
                expr.span,
                "this is not a value of a row",
                "not a column expression",
                "use columns, numbers, strings, arithmetic, comparisons, `and`, `or`, `not`",
            ));
            None
        }
    }
}

/// A column, or a constant.
fn name_type(
    name: &str,
    span: Span,
    frame: Frame,
    constants: &Constants,
    errors: &mut Vec<CheckError>,
) -> Option<DType> {
    if let Some(column) = frame.schema.get(name) {
        return Some(column.dtype.clone());
    }
    match constants.get(name) {
        Some(Value::Int(_)) => Some(DType::I64),
        Some(Value::Float(_)) => Some(DType::F64),
        Some(Value::Str(_)) => Some(DType::Str),
        Some(Value::Bool(_)) => Some(DType::Bool),
        _ => {
            errors.push(unknown_column(name, span, frame));
            None
        }
    }
}

fn mismatch(span: Span, message: &str, found: &DType, errors: &mut Vec<CheckError>) -> Option<DType> {
    let help = if message.starts_with("cannot compare") {
        "compare numbers with numbers and text with text, as in `city == \"c01\"`"
    } else {
        "convert it with `cast(col, type)` first, or compare it to get true or false"
    };
    errors.push(Mistake::WrongType.at(span, message, format!("this is {found}"), help));
    None
}

fn binary(
    op: BinaryOp,
    lhs: &Expr,
    rhs: &Expr,
    frame: Frame,
    constants: &Constants,
    errors: &mut Vec<CheckError>,
) -> Option<DType> {
    let left = expr_type(lhs, frame, constants, errors);
    let right = expr_type(rhs, frame, constants, errors);
    let (left, right) = (left?, right?);
    use BinaryOp::*;
    match op {
        Add | Sub | Mul | Div | Rem => {
            if !left.is_numeric() {
                return mismatch(lhs.span, &format!("`{}` needs numbers", op.symbol()), &left, errors);
            }
            if !right.is_numeric() {
                return mismatch(rhs.span, &format!("`{}` needs numbers", op.symbol()), &right, errors);
            }
            let integer = left == DType::I64 && right == DType::I64 && op != Div;
            Some(if integer { DType::I64 } else { DType::F64 })
        }
        Eq | Ne | Lt | Le | Gt | Ge => {
            let comparable = (left.is_numeric() && right.is_numeric())
                || (is_text(&left) && is_text(&right))
                || (left == DType::Bool && right == DType::Bool && matches!(op, Eq | Ne));
            if comparable {
                Some(DType::Bool)
            } else {
                let message = format!("cannot compare {left} with {right}");
                mismatch(rhs.span, &message, &right, errors)
            }
        }
        And | Or => {
            if left != DType::Bool {
                return mismatch(lhs.span, &format!("`{}` needs true or false", op.symbol()), &left, errors);
            }
            if right != DType::Bool {
                return mismatch(rhs.span, &format!("`{}` needs true or false", op.symbol()), &right, errors);
            }
            Some(DType::Bool)
        }
        Range => {
            errors.push(Mistake::WrongType.at(
                lhs.span.to(rhs.span),
                "a range selects columns; it is not a value",
                "not a value",
                "compare with bounds instead: `a >= 1 and a <= 9`",
            ));
            None
        }
    }
}

fn is_text(dtype: &DType) -> bool {
    matches!(dtype, DType::Str | DType::Cat(_))
}

fn function(
    name: &str,
    args: &[crate::syntax::ast::Arg],
    span: Span,
    frame: Frame,
    constants: &Constants,
    errors: &mut Vec<CheckError>,
) -> Option<DType> {
    let Some(function) = RowFunction::from_name(name) else {
        let known = RowFunction::names();
        let help = match crate::suggest::closest(name, known.iter().copied()) {
            Some(near) => format!("did you mean `{near}`?"),
            None => format!("the functions are {}", known.join(", ")),
        };
        errors.push(CheckError::UnknownOperation { what: "function".into(), name: name.into(), span, help });
        return None;
    };
    if args.len() != 1 || args.iter().any(|a| a.name.is_some()) {
        errors.push(Mistake::CountMismatch.at(
            span,
            format!("`{name}` takes 1 argument"),
            format!("{} given", args.len()),
            format!("write `{name}(column)`"),
        ));
        return None;
    }
    let inner = expr_type(&args[0].value, frame, constants, errors)?;
    match function {
        RowFunction::IsNull => Some(DType::Bool),
        _ if !inner.is_numeric() => mismatch(args[0].value.span, &format!("`{name}` needs a number"), &inner, errors),
        RowFunction::Abs => Some(inner),
        RowFunction::Sqrt | RowFunction::Log | RowFunction::Exp => Some(DType::F64),
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
