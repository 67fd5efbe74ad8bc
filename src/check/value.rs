//! Constant values: what an argument is when the checker can know it
//! (literals, `let` constants, lists of them, arithmetic on numbers).

use std::collections::HashMap;

use crate::source::Span;
use crate::syntax::ast::{BinaryOp, Expr, ExprKind, UnaryOp, Unit};

/// A value known before running.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// An integer.
    Int(i64),
    /// A float (angles in degrees, durations in seconds).
    Float(f64),
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// A bare name that is not a constant: a column, or a symbol such as
    /// `cross_entropy`; what it means depends on where it is used.
    Name(String),
    /// A list.
    List(Vec<(Value, Span)>),
    /// Anything else (a call, a range, an expression over columns).
    Other,
}

impl Value {
    /// The value as a float, for numbers.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The value as an integer, for integers (and floats with no fraction).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Float(f) if f.fract() == 0.0 && f.is_finite() && f.abs() < 9e15 => Some(*f as i64),
            _ => None,
        }
    }

    /// What kind of value this is, for messages.
    pub fn described(&self) -> &'static str {
        match self {
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Bool(_) => "a boolean",
            Value::Name(_) => "a name",
            Value::List(_) => "a list",
            Value::Other => "an expression",
        }
    }
}

/// The values of `let` constants, by name.
pub type Constants = HashMap<String, Value>;

/// Evaluates what can be evaluated before running.
pub fn eval(expr: &Expr, constants: &Constants) -> Value {
    match &expr.kind {
        ExprKind::Number(n) => number(n.value, n.is_int, n.unit),
        ExprKind::String(s) => Value::Str(s.value.clone()),
        ExprKind::Bool { value } => Value::Bool(*value),
        ExprKind::Inf => Value::Float(f64::INFINITY),
        ExprKind::Path(path) if path.parts.len() == 1 => {
            let name = &path.parts[0].name;
            constants.get(name).cloned().unwrap_or_else(|| Value::Name(name.clone()))
        }
        ExprKind::List { items } => Value::List(items.iter().map(|e| (eval(e, constants), e.span)).collect()),
        ExprKind::Unary { op: UnaryOp::Neg, operand } => match eval(operand, constants) {
            Value::Int(i) => i.checked_neg().map_or(Value::Other, Value::Int),
            Value::Float(f) => Value::Float(-f),
            _ => Value::Other,
        },
        ExprKind::Binary { op, lhs, rhs } => arithmetic(*op, eval(lhs, constants), eval(rhs, constants)),
        _ => Value::Other,
    }
}

fn number(value: f64, is_int: bool, unit: Option<Unit>) -> Value {
    let scaled = match unit {
        None | Some(Unit::Deg) | Some(Unit::S) => value,
        Some(Unit::Rad) => value.to_degrees(),
        Some(Unit::Ms) => value / 1000.0,
        Some(Unit::Min) => value * 60.0,
        Some(Unit::H) => value * 3600.0,
    };
    if is_int && unit.is_none() { Value::Int(value as i64) } else { Value::Float(scaled) }
}

fn arithmetic(op: BinaryOp, lhs: Value, rhs: Value) -> Value {
    if let (Value::Int(a), Value::Int(b)) = (&lhs, &rhs) {
        let result = match op {
            BinaryOp::Add => a.checked_add(*b),
            BinaryOp::Sub => a.checked_sub(*b),
            BinaryOp::Mul => a.checked_mul(*b),
            _ => None,
        };
        if let Some(r) = result {
            return Value::Int(r);
        }
    }
    match (lhs.as_f64(), rhs.as_f64()) {
        (Some(a), Some(b)) => match op {
            BinaryOp::Add => Value::Float(a + b),
            BinaryOp::Sub => Value::Float(a - b),
            BinaryOp::Mul => Value::Float(a * b),
            BinaryOp::Div if b != 0.0 => Value::Float(a / b),
            _ => Value::Other,
        },
        _ => Value::Other,
    }
}

/// Largest constant kept as a value (list elements, counted through nested
/// lists), and deepest nesting: beyond either the constant is
/// [`Value::Other`], so that constants built from constants cannot grow
/// without bound (`let b = [a, a]`, `let c = [b, b]`, ...).
const MAX_SIZE: usize = 10_000;
const MAX_DEPTH: usize = 16;

/// The value, or [`Value::Other`] when it is too large to keep.
pub fn bounded(value: Value) -> Value {
    if fits(&value, 0, &mut 0) { value } else { Value::Other }
}

fn fits(value: &Value, depth: usize, size: &mut usize) -> bool {
    *size += 1;
    if depth > MAX_DEPTH || *size > MAX_SIZE {
        return false;
    }
    match value {
        Value::List(items) => items.iter().all(|(v, _)| fits(v, depth + 1, size)),
        _ => true,
    }
}
