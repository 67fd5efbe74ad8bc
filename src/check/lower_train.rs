//! From a checked `train` block to its IR settings. Runs after the settings
//! were checked, so values are known to be of the right kind and range.

use std::path::PathBuf;

use crate::check::value::{Constants, Value, eval};
use crate::ir::{Device, EarlyStop, Optimizer, Phase, TrainSettings};
use crate::syntax::ast::*;

/// The settings of a training block.
pub fn settings(body: &Block, constants: &Constants) -> TrainSettings {
    let mut out = TrainSettings::default();
    for entry in &body.entries {
        let EntryKind::Setting { key, value } = &entry.kind else { continue };
        let v = eval(value, constants);
        match key.name.as_str() {
            "loss" => out.loss = name(&v),
            "optimizer" => out.optimizer = optimizer(value, constants),
            "schedule" => out.schedule = schedule(value, constants),
            "batch" => out.batch = Some(v.as_i64().map(|b| b as u64)),
            "epochs" => out.epochs = count(&v),
            "accumulate" => out.accumulate = count(&v),
            "seed" => out.seed = count(&v),
            "early_stop" => out.early_stop = early_stop(value, constants),
            "precision" => out.precision = name(&v),
            "cudnn_benchmark" => out.cudnn_benchmark = if let Value::Bool(b) = v { Some(b) } else { None },
            "device" => out.devices = devices(value, constants),
            "regularize" => regularize(value, constants, &mut out),
            "clip" => out.clip = call(value).and_then(|(n, args)| Some((n, number(args, "limit", 0, constants)?))),
            "log" => out.logs = logs(value, constants),
            "save" => out.save = path(&v),
            "checkpoint" => {
                let args = call(value).map_or(&[][..], |(_, a)| a);
                out.checkpoint_every = whole(args, "every", usize::MAX, constants);
                out.checkpoint_keep = whole(args, "keep", usize::MAX, constants);
            }
            "class_weight" => out.balanced_classes = matches!(&v, Value::Name(n) if n == "balanced"),
            _ => {}
        }
    }
    out
}

fn name(v: &Value) -> Option<String> {
    if let Value::Name(n) = v { Some(n.clone()) } else { None }
}

fn count(v: &Value) -> Option<u64> {
    v.as_i64().and_then(|n| u64::try_from(n).ok())
}

fn path(v: &Value) -> Option<PathBuf> {
    if let Value::Str(s) = v { Some(PathBuf::from(s)) } else { None }
}

/// A call's name and arguments (a bare name is a call without arguments).
fn call(expr: &Expr) -> Option<(String, &[Arg])> {
    match &expr.kind {
        ExprKind::Call(c) => Some((c.callee.dotted(), &c.args)),
        ExprKind::Path(p) => Some((p.dotted(), &[])),
        _ => None,
    }
}

/// An argument by name, or at a position when given positionally.
fn arg<'a>(args: &'a [Arg], name: &str, position: usize) -> Option<&'a Expr> {
    let by_name = args.iter().find(|a| a.name.as_ref().is_some_and(|n| n.name == name));
    by_name.or_else(|| args.iter().filter(|a| a.name.is_none()).nth(position)).map(|a| &a.value)
}

fn number(args: &[Arg], name: &str, position: usize, constants: &Constants) -> Option<f64> {
    eval(arg(args, name, position)?, constants).as_f64()
}

fn whole(args: &[Arg], name: &str, position: usize, constants: &Constants) -> Option<u64> {
    count(&eval(arg(args, name, position)?, constants))
}

fn optimizer(expr: &Expr, constants: &Constants) -> Option<Optimizer> {
    let (name, args) = call(expr)?;
    let named = |n: &str| number(args, n, usize::MAX, constants);
    Some(Optimizer {
        lr: number(args, "lr", 0, constants),
        momentum: named("momentum"),
        nesterov: arg(args, "nesterov", usize::MAX).is_some_and(|e| eval(e, constants) == Value::Bool(true)),
        weight_decay: named("weight_decay"),
        beta1: named("beta1"),
        beta2: named("beta2"),
        eps: named("eps"),
        alpha: named("alpha"),
        name,
    })
}

fn schedule(expr: &Expr, constants: &Constants) -> Vec<Phase> {
    let phases: Vec<&Expr> = match &expr.kind {
        ExprKind::Then { phases } => phases.iter().collect(),
        _ => vec![expr],
    };
    phases
        .into_iter()
        .filter_map(|p| {
            let (name, args) = call(p)?;
            let named = |n: &str| number(args, n, usize::MAX, constants);
            Some(match name.as_str() {
                "warmup" => Phase::Warmup {
                    epochs: whole(args, "epochs", usize::MAX, constants),
                    steps: whole(args, "steps", usize::MAX, constants),
                },
                "step" => Phase::Step {
                    every: whole(args, "every", usize::MAX, constants).unwrap_or(1),
                    gamma: named("gamma").unwrap_or(0.1),
                },
                "exponential" => Phase::Exponential { gamma: number(args, "gamma", 0, constants)? },
                "cosine" => Phase::Cosine { min_lr: named("min_lr").unwrap_or(0.0) },
                "on_plateau" => Phase::OnPlateau {
                    patience: whole(args, "patience", usize::MAX, constants).unwrap_or(10),
                    factor: named("factor").unwrap_or(0.1),
                },
                _ => Phase::Constant,
            })
        })
        .collect()
}

fn early_stop(expr: &Expr, constants: &Constants) -> Option<EarlyStop> {
    let (_, args) = call(expr)?;
    let on = match arg(args, "on", usize::MAX).map(|e| &e.kind) {
        Some(ExprKind::Path(p)) => {
            let parts: Vec<String> = p.parts.iter().map(|i| i.name.clone()).collect();
            match parts.as_slice() {
                [split, metric] => (split.clone(), metric.clone()),
                [metric] => ("val".into(), metric.clone()),
                _ => return None,
            }
        }
        _ => ("val".into(), "loss".into()),
    };
    Some(EarlyStop {
        patience: whole(args, "patience", 0, constants)?,
        on,
        min_delta: number(args, "min_delta", usize::MAX, constants).unwrap_or(0.0),
        restore_best: arg(args, "restore_best", usize::MAX).is_some_and(|e| eval(e, constants) == Value::Bool(true)),
    })
}

fn devices(expr: &Expr, constants: &Constants) -> Vec<Device> {
    let list = expr.one_or_many();
    list.into_iter()
        .filter_map(|d| {
            let (name, args) = call(d)?;
            Some(Device { name, index: whole(args, "index", 0, constants) })
        })
        .collect()
}

fn regularize(expr: &Expr, constants: &Constants, out: &mut TrainSettings) {
    let terms = expr.one_or_many();
    for term in terms {
        let Some((name, args)) = call(term) else { continue };
        let weight = number(args, "weight", 0, constants);
        match name.as_str() {
            "l1" => out.l1 = weight,
            "l2" => out.l2 = weight,
            _ => {}
        }
    }
}

fn logs(expr: &Expr, constants: &Constants) -> Vec<(String, Option<PathBuf>)> {
    let sinks = expr.one_or_many();
    sinks
        .into_iter()
        .filter_map(|s| {
            let (name, args) = call(s)?;
            let file = arg(args, "path", 0).and_then(|e| path(&eval(e, constants)));
            Some((name, file))
        })
        .collect()
}
