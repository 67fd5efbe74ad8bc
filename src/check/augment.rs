//! `augment` items: each step declared once in [`STEPS`] (parameters, doc,
//! an example, and the rule that checks its ranges and lowers it to
//! [`ir::AugmentStep`]), and the `fill:` setting.

use crate::check::args::{Bound, Param, bind, named, pos, rest};
use crate::check::error::{CheckError, Mistake};
use crate::check::value::{Constants, Value, eval};
use crate::ir::{self, AugmentStep, ImageFill as Fill};
use crate::syntax::ast::*;

/// An augmentation step, declared once.
pub struct Step {
    /// The name written in an `augment` block.
    pub name: &'static str,
    /// Its parameters.
    pub params: &'static [Param],
    /// What it does, in one line.
    pub doc: &'static str,
    /// A call that checks clean, for help lines.
    pub example: &'static str,
    /// Checks a call's values (mistakes into the call's errors) and returns
    /// its IR, `None` after a mistake.
    pub rule: fn(&mut StepCall) -> Option<AugmentStep>,
}

/// One call of an augmentation step.
pub struct StepCall<'a> {
    /// The step.
    pub step: &'static Step,
    /// The whole call.
    pub expr: &'a Expr,
    /// Its arguments, matched to the step's parameters.
    pub args: &'a Bound<'a>,
    /// `let` constants.
    pub constants: &'a Constants,
    /// Where mistakes go.
    pub errors: &'a mut Vec<CheckError>,
}

impl StepCall<'_> {
    /// The number given for `param` if it passes `ok` (`rule` says what
    /// passes); `None`, with a mistake reported, when it is not a number
    /// or does not pass; `None` silently when it was not given.
    fn number(&mut self, param: &str, ok: fn(f64) -> bool, rule: &str) -> Option<f64> {
        let e = self.args.expr(param)?;
        let value = eval(e, self.constants);
        let kind = match value.as_f64() {
            Some(x) if ok(x) => return Some(x),
            Some(_) => Mistake::OutOfRange,
            None => Mistake::WrongType,
        };
        self.errors.push(kind.at(
            e.span,
            format!("`{}`'s `{param}` must be {rule}", self.step.name),
            if kind == Mistake::OutOfRange { "out of range" } else { "not a number" },
            format!("for example `{}`", self.step.example),
        ));
        None
    }

    /// Whether `param` was given.
    fn given(&self, param: &str) -> bool {
        self.args.expr(param).is_some()
    }
}

const FRACTION: fn(f64) -> bool = |x| (0.0..=1.0).contains(&x);
const AMOUNT: &[Param] = &[pos("amount", true)];

/// Every augmentation step.
pub const STEPS: &[Step] = &[
    Step {
        name: "flip",
        params: &[Param { required: false, ..rest("directions") }, named("p")],
        doc: "Mirrors left-right (`horizontal`, the default) and/or top-bottom (`vertical`) with probability p (0.5)",
        example: "flip(horizontal, p: 0.5)",
        rule: flip,
    },
    Step {
        name: "rotate",
        params: &[pos("degrees", true)],
        doc: "Rotates by an angle drawn from [-degrees, degrees]",
        example: "rotate(15deg)",
        rule: |c| Some(AugmentStep::Rotate(c.number("degrees", |x| (0.0..=180.0).contains(&x), "0 to 180 degrees")?)),
    },
    Step {
        name: "shift",
        params: &[pos("x", true), pos("y", false)],
        doc: "Moves by fractions of the width and height drawn from [-x, x], [-y, y] (y = x unless given)",
        example: "shift(0.1, 0.1)",
        rule: shift,
    },
    Step {
        name: "shear",
        params: &[pos("factor", true)],
        doc: "Shears along x by a factor (or an angle with `deg`) drawn from [-s, s]",
        example: "shear(0.2)",
        rule: shear,
    },
    Step {
        name: "zoom",
        params: &[pos("low", true), pos("high", false)],
        doc: "Scales by a factor drawn from [low, high] (`zoom(0.1)`: 10% either way)",
        example: "zoom(0.9, 1.1)",
        rule: zoom,
    },
    Step {
        name: "brightness",
        params: AMOUNT,
        doc: "Adds a value drawn from [-amount, amount]",
        example: "brightness(0.2)",
        rule: |c| Some(AugmentStep::Brightness(c.number("amount", FRACTION, "0 to 1")?)),
    },
    Step {
        name: "contrast",
        params: AMOUNT,
        doc: "Scales each channel's distance from its mean by [1 - amount, 1 + amount]",
        example: "contrast(0.2)",
        rule: |c| Some(AugmentStep::Contrast(c.number("amount", FRACTION, "0 to 1")?)),
    },
    Step {
        name: "saturation",
        params: AMOUNT,
        doc: "Scales the distance from grey by [1 - amount, 1 + amount] (colour)",
        example: "saturation(0.2)",
        rule: |c| Some(AugmentStep::Saturation(c.number("amount", FRACTION, "0 to 1")?)),
    },
    Step {
        name: "hue",
        params: AMOUNT,
        doc: "Turns the hue by up to amount of a circle (colour)",
        example: "hue(0.05)",
        rule: |c| Some(AugmentStep::Hue(c.number("amount", |x| (0.0..=0.5).contains(&x), "0 to 0.5 (of a turn)")?)),
    },
    Step {
        name: "noise",
        params: &[pos("kind", false), Param { required: true, ..named("std") }],
        doc: "Adds Gaussian noise of this standard deviation",
        example: "noise(gaussian, std: 0.05)",
        rule: noise,
    },
    Step {
        name: "cutout",
        params: &[pos("size", true)],
        doc: "Blanks a square of this fraction of the shorter side",
        example: "cutout(0.25)",
        rule: |c| {
            let size = c.number("size", |x| x > 0.0 && x < 1.0, "a fraction of the side, above 0 and below 1")?;
            Some(AugmentStep::Cutout(size))
        },
    },
];

/// The names of every augmentation step, in declaration order.
pub fn step_names() -> Vec<&'static str> {
    STEPS.iter().map(|s| s.name).collect()
}

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
    // Unknown names are reported by the resolver.
    let step = STEPS.iter().find(|s| s.name == name)?;
    let before = errors.len();
    let args = bind(&name, step.params, args, expr.span, errors);
    if errors.len() > before {
        return None;
    }
    (step.rule)(&mut StepCall { step, expr, args: &args, constants, errors })
}

fn flip(c: &mut StepCall) -> Option<AugmentStep> {
    let p = if c.given("p") { c.number("p", FRACTION, "a probability, 0 to 1")? } else { 0.5 };
    let (mut horizontal, mut vertical) = (false, false);
    for e in c.args.exprs("directions") {
        match &e.kind {
            ExprKind::Path(d) if d.dotted() == "horizontal" => horizontal = true,
            ExprKind::Path(d) if d.dotted() == "vertical" => vertical = true,
            _ => {
                c.errors.push(Mistake::UnknownValue.at(
                    e.span,
                    "`flip` flips `horizontal` or `vertical`",
                    "not a direction",
                    "write `flip(horizontal, p: 0.5)`",
                ));
                return None;
            }
        }
    }
    // `flip()` alone flips left-right, as Keras' RandomFlip("horizontal").
    Some(AugmentStep::Flip { horizontal: horizontal || !vertical, vertical, p })
}

fn shift(c: &mut StepCall) -> Option<AugmentStep> {
    let rule = "a fraction of the size, 0 to below 1";
    let x = c.number("x", |x| (0.0..1.0).contains(&x), rule)?;
    let y = if c.given("y") { c.number("y", |y| (0.0..1.0).contains(&y), rule)? } else { x };
    Some(AugmentStep::Shift(x, y))
}

fn shear(c: &mut StepCall) -> Option<AugmentStep> {
    let written = c.args.expr("factor")?;
    // An angle (`deg` or `rad`, which evaluate to degrees), else a factor.
    let in_degrees = matches!(&written.kind, ExprKind::Number(n) if matches!(n.unit, Some(Unit::Deg | Unit::Rad)));
    let factor = if in_degrees {
        c.number("factor", |x| (0.0..80.0).contains(&x), "an angle from 0 to below 80 degrees")?.to_radians().tan()
    } else {
        c.number("factor", |x| (0.0..=5.0).contains(&x), "a shear factor from 0 to 5")?
    };
    Some(AugmentStep::Shear(factor))
}

fn zoom(c: &mut StepCall) -> Option<AugmentStep> {
    let positive = |x: f64| x > 0.0 && x < 10.0;
    let first = c.number("low", positive, "a positive factor, below 10")?;
    let (low, high) = if c.given("high") {
        (first, c.number("high", positive, "a positive factor, below 10")?)
    } else if first < 1.0 {
        // `zoom(0.1)`: 10% either way.
        (1.0 - first, 1.0 + first)
    } else {
        (1.0 / first, first)
    };
    if low > high {
        let span = c.args.expr("low").map_or(c.expr.span, |e| e.span);
        c.errors.push(Mistake::Conflict.at(
            span,
            "`zoom(low, high)` needs low <= high",
            "low above high",
            "write `zoom(0.9, 1.1)`",
        ));
        return None;
    }
    Some(AugmentStep::Zoom(low, high))
}

fn noise(c: &mut StepCall) -> Option<AugmentStep> {
    if let Some(kind) = c.args.expr("kind")
        && !matches!(&kind.kind, ExprKind::Path(p) if p.dotted() == "gaussian")
    {
        c.errors.push(Mistake::UnknownValue.at(
            kind.span,
            "the noise is `gaussian`",
            "unknown noise",
            "write `noise(gaussian, std: 0.05)`",
        ));
        return None;
    }
    Some(AugmentStep::Noise(c.number("std", |x| x > 0.0 && x <= 1.0, "above 0, at most 1")?))
}

fn fill(value: &Expr, constants: &Constants, errors: &mut Vec<CheckError>) -> Option<Fill> {
    let wrong = |errors: &mut Vec<CheckError>| {
        errors.push(Mistake::UnknownValue.at(
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
