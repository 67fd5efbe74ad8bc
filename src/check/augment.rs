//! `augment` items: each step's arguments and ranges, and the `fill:`
//! setting, lowered to [`ir::Augmentation`].

use crate::check::args::{Param, bind, named, pos, rest};
use crate::check::error::CheckError;
use crate::check::value::{Constants, Value, eval};
use crate::ir::{self, AugmentStep, ImageFill as Fill};
use crate::source::Span;
use crate::syntax::ast::*;

/// Checks an `augment` block, reporting mistakes into `errors`, and
/// returns what it lowers to (the steps that checked clean).
pub fn augmentation(body: &Block, constants: &Constants, errors: &mut Vec<CheckError>) -> ir::Augmentation {
    let mut out = ir::Augmentation::default();
    for entry in &body.entries {
        match &entry.kind {
            EntryKind::Setting { key, value } if key.name == "fill" => {
                if let Some(fill) = fill(value, constants, errors) {
                    out.fill = fill;
                }
            }
            // Other settings are reported by the resolver (unknown keys).
            EntryKind::Step { expr, .. } => {
                if let Some(step) = step(expr, constants, errors) {
                    out.steps.push(step);
                }
            }
            _ => {}
        }
    }
    out
}

fn step(expr: &Expr, constants: &Constants, errors: &mut Vec<CheckError>) -> Option<AugmentStep> {
    let (name, args): (String, &[Arg]) = match &expr.kind {
        ExprKind::Call(call) => (call.callee.dotted(), &call.args),
        ExprKind::Path(path) => (path.dotted(), &[]),
        _ => return None,
    };
    let params: &[Param] = match name.as_str() {
        "flip" => &[rest("directions"), named("p")],
        "rotate" => &[pos("degrees", true)],
        "shift" => &[pos("x", true), pos("y", false)],
        "shear" => &[pos("factor", true)],
        "zoom" => &[pos("low", true), pos("high", false)],
        "brightness" | "contrast" | "saturation" | "hue" => &[pos("amount", true)],
        "noise" => &[pos("kind", false), named("std")],
        "cutout" => &[pos("size", true)],
        // Unknown names are reported by the resolver.
        _ => return None,
    };
    let errors_before = errors.len();
    let flip_directions = Param { required: false, ..params[0] };
    let params: Vec<Param> = if name == "flip" { vec![flip_directions, params[1]] } else { params.to_vec() };
    let b = bind(&name, &params, args, expr.span, errors);
    if errors.len() > errors_before {
        return None;
    }
    let number = |errors: &mut Vec<CheckError>, param: &str, ok: fn(f64) -> bool, rule: &str| -> Option<f64> {
        let e = b.expr(param)?;
        let value = eval(e, constants);
        match value.as_f64() {
            Some(x) if ok(x) => Some(x),
            _ => {
                errors.push(bad(
                    e.span,
                    &format!("`{name}`'s `{param}` must be {rule}"),
                    "out of range",
                    &example(&name),
                ));
                None
            }
        }
    };
    let fraction = |x: f64| (0.0..=1.0).contains(&x);
    let step = match name.as_str() {
        "flip" => {
            let p = match b.expr("p") {
                Some(_) => number(errors, "p", fraction, "a probability, 0 to 1")?,
                None => 0.5,
            };
            let mut directions = Vec::new();
            for e in b.exprs("directions") {
                match &e.kind {
                    ExprKind::Path(d) if matches!(d.dotted().as_str(), "horizontal" | "vertical") => {
                        directions.push(d.dotted())
                    }
                    _ => {
                        errors.push(bad(
                            e.span,
                            "`flip` flips `horizontal` or `vertical`",
                            "not a direction",
                            "write `flip(horizontal, p: 0.5)`",
                        ));
                        return None;
                    }
                }
            }
            let horizontal = directions.is_empty() || directions.iter().any(|d| d == "horizontal");
            AugmentStep::Flip { horizontal, vertical: directions.iter().any(|d| d == "vertical"), p }
        }
        "rotate" => AugmentStep::Rotate(number(errors, "degrees", |x| (0.0..=180.0).contains(&x), "0 to 180 degrees")?),
        "shift" => {
            let x = number(errors, "x", |x| (0.0..1.0).contains(&x), "a fraction of the size, 0 to below 1")?;
            let y = match b.expr("y") {
                Some(_) => number(errors, "y", |y| (0.0..1.0).contains(&y), "a fraction of the size, 0 to below 1")?,
                None => x,
            };
            AugmentStep::Shift(x, y)
        }
        "shear" => {
            let written = b.expr("factor")?;
            // An angle (`deg` or `rad`, which evaluate to degrees), else a factor.
            let in_degrees =
                matches!(&written.kind, ExprKind::Number(n) if matches!(n.unit, Some(Unit::Deg | Unit::Rad)));
            if in_degrees {
                let degrees =
                    number(errors, "factor", |x| (0.0..80.0).contains(&x), "an angle from 0 to below 80 degrees")?;
                AugmentStep::Shear(degrees.to_radians().tan())
            } else {
                AugmentStep::Shear(number(
                    errors,
                    "factor",
                    |x| (0.0..=5.0).contains(&x),
                    "a shear factor from 0 to 5",
                )?)
            }
        }
        "zoom" => {
            let first = number(errors, "low", |x| x > 0.0 && x < 10.0, "a positive factor")?;
            let (low, high) = match b.expr("high") {
                Some(_) => (first, number(errors, "high", |x| x > 0.0 && x < 10.0, "a positive factor")?),
                // `zoom(0.1)`: 10% either way.
                None if first < 1.0 => (1.0 - first, 1.0 + first),
                None => (1.0 / first, first),
            };
            if low > high {
                let span = b.expr("low").map_or(expr.span, |e| e.span);
                errors.push(bad(
                    span,
                    "`zoom(low, high)` needs low <= high",
                    "low above high",
                    "write `zoom(0.9, 1.1)`",
                ));
                return None;
            }
            AugmentStep::Zoom(low, high)
        }
        "brightness" => AugmentStep::Brightness(number(errors, "amount", fraction, "0 to 1")?),
        "contrast" => AugmentStep::Contrast(number(errors, "amount", fraction, "0 to 1")?),
        "saturation" => AugmentStep::Saturation(number(errors, "amount", fraction, "0 to 1")?),
        "hue" => AugmentStep::Hue(number(errors, "amount", |x| (0.0..=0.5).contains(&x), "0 to 0.5 (of a turn)")?),
        "noise" => {
            if let Some(kind) = b.expr("kind")
                && !matches!(&kind.kind, ExprKind::Path(p) if p.dotted() == "gaussian")
            {
                errors.push(bad(
                    kind.span,
                    "the noise is `gaussian`",
                    "unknown noise",
                    "write `noise(gaussian, std: 0.05)`",
                ));
                return None;
            }
            let Some(_) = b.expr("std") else {
                errors.push(CheckError::MissingArgument {
                    operation: "noise".into(),
                    name: "std".into(),
                    span: expr.span,
                });
                return None;
            };
            AugmentStep::Noise(number(errors, "std", |x| x > 0.0 && x <= 1.0, "above 0, at most 1")?)
        }
        "cutout" => AugmentStep::Cutout(number(
            errors,
            "size",
            |x| x > 0.0 && x < 1.0,
            "a fraction of the side, above 0 and below 1",
        )?),
        _ => return None,
    };
    Some(step)
}

fn fill(value: &Expr, constants: &Constants, errors: &mut Vec<CheckError>) -> Option<Fill> {
    let wrong = |errors: &mut Vec<CheckError>| {
        errors.push(bad(
            value.span,
            "`fill` is `nearest`, `reflect` or `constant(v)`",
            "not a fill",
            "write `fill: nearest`",
        ));
        None
    };
    match &value.kind {
        ExprKind::Path(p) if p.dotted() == "nearest" => Some(Fill::Nearest),
        ExprKind::Path(p) if p.dotted() == "reflect" => Some(Fill::Reflect),
        ExprKind::Call(c) if c.callee.dotted() == "constant" && c.args.len() == 1 => {
            match eval(&c.args[0].value, constants) {
                Value::Int(v) => Some(Fill::Constant(v as f64)),
                Value::Float(v) => Some(Fill::Constant(v)),
                _ => wrong(errors),
            }
        }
        _ => wrong(errors),
    }
}

fn example(name: &str) -> String {
    let example = match name {
        "flip" => "flip(horizontal, p: 0.5)",
        "rotate" => "rotate(15deg)",
        "shift" => "shift(0.1, 0.1)",
        "shear" => "shear(0.2)",
        "zoom" => "zoom(0.9, 1.1)",
        "noise" => "noise(gaussian, std: 0.05)",
        "cutout" => "cutout(0.25)",
        _ => "brightness(0.2)",
    };
    format!("for example `{example}`")
}

fn bad(span: Span, message: &str, label: &str, help: &str) -> CheckError {
    CheckError::BadArgument { message: message.into(), span, label: label.into(), help: help.into() }
}
