//! The settings of training runs and evaluations: every key known, every
//! value of the right kind and range, devices and precisions that this
//! build and its devices can run.

use crate::check::args::{Param, bind, named, pos};
use crate::check::error::CheckError;
use crate::check::schema::{DType, Schema};
use crate::check::value::{Constants, Value, eval};
use crate::source::Span;
use crate::suggest::closest;
use crate::syntax::ast::*;

/// The keys of a `train` block.
pub const TRAIN_KEYS: [&str; 20] = [
    "target",
    "validate",
    "loss",
    "optimizer",
    "schedule",
    "batch",
    "epochs",
    "early_stop",
    "precision",
    "device",
    "log",
    "regularize",
    "clip",
    "accumulate",
    "seed",
    "save",
    "checkpoint",
    "augment",
    "class_weight",
    "cudnn_benchmark",
];

/// The keys of an `evaluate` block.
pub const EVALUATE_KEYS: [&str; 1] = ["metrics"];

/// The types a model may compute in (`precision:`).
pub const PRECISIONS: [&str; 3] = ["f32", "f16", "bf16"];

/// Losses, and whether each is for classes.
const LOSSES: [(&str, bool); 5] =
    [("cross_entropy", true), ("binary_cross_entropy", true), ("mse", false), ("mae", false), ("huber", false)];

/// Metrics `evaluate` and `early_stop` know, and whether each needs classes
/// (`Some(true)`), numbers (`Some(false)`) or either (`None`).
const METRICS: [(&str, Option<bool>); 8] = [
    ("loss", None),
    ("accuracy", Some(true)),
    ("precision", Some(true)),
    ("recall", Some(true)),
    ("f1", Some(true)),
    ("confusion", Some(true)),
    ("mse", Some(false)),
    ("mae", Some(false)),
];

/// Checks settings against their rules.
pub struct Settings<'a> {
    constants: &'a Constants,
    /// Mistakes found.
    pub errors: Vec<CheckError>,
}

impl<'a> Settings<'a> {
    /// A checker using these constants.
    pub fn new(constants: &'a Constants) -> Self {
        Settings { constants, errors: Vec::new() }
    }

    fn value(&self, expr: &Expr) -> Value {
        eval(expr, self.constants)
    }

    fn bad(&mut self, span: Span, message: &str, label: &str, help: &str) {
        self.errors.push(CheckError::BadArgument {
            message: message.into(),
            span,
            label: label.into(),
            help: help.into(),
        });
    }

    /// Every entry of a block is a known `key: value` setting.
    fn keys<'b>(&mut self, block: &'b Block, keys: &[&str], what: &str) -> Vec<(&'b Ident, &'b Expr)> {
        let mut settings = Vec::new();
        for entry in &block.entries {
            let EntryKind::Setting { key, value } = &entry.kind else {
                self.bad(
                    entry.span,
                    &format!("{what} holds settings, written `key: value`"),
                    "not a setting",
                    &format!("the settings are {}", keys.join(", ")),
                );
                continue;
            };
            if !keys.contains(&key.name.as_str()) {
                let help = closest(&key.name, keys.iter().copied()).map_or_else(
                    || format!("the settings are {}", keys.join(", ")),
                    |k| format!("did you mean `{k}`?"),
                );
                self.errors.push(CheckError::UnknownSetting {
                    key: key.name.clone(),
                    span: key.span,
                    block: what.into(),
                    help,
                });
                continue;
            }
            if let Some((first, _)) = settings.iter().find(|(k, _): &&(&Ident, &Expr)| k.name == key.name) {
                self.errors.push(CheckError::DuplicateName {
                    name: key.name.clone(),
                    span: key.span,
                    first: first.span,
                });
                continue;
            }
            settings.push((key, value));
        }
        settings
    }

    /// The settings of a `train` item; `data` is what it trains on, when known.
    pub fn train(&mut self, train: &TrainItem, data: Option<&Schema>) {
        let settings = self.keys(&train.body, &TRAIN_KEYS, "a training run");
        let get = |key: &str| settings.iter().find(|(k, _)| k.name == key).map(|(_, v)| *v);
        let classes = classification(get("loss"), get("target"), data);
        let validated = get("validate").is_some();
        for &(key, value) in &settings {
            match key.name.as_str() {
                "loss" => self.loss(value),
                "optimizer" => self.optimizer(value),
                "schedule" => self.schedule(value),
                "batch" => self.count_or(
                    value,
                    "batch",
                    "auto",
                    1,
                    "the number of samples per step, or `auto` for the largest that fits",
                ),
                "accumulate" => self.count_or(value, &key.name, "", 1, "a whole number, 1 or more"),
                // 0 trains nothing: the model keeps the weights it starts
                // from (imported, loaded or fresh) and still evaluates.
                "epochs" => self.count_or(value, &key.name, "", 0, "a whole number, 0 or more"),
                "seed" => self.seed(value),
                "early_stop" => self.early_stop(value, validated, classes),
                "device" => self.device(value),
                "regularize" => self.regularize(value),
                "clip" => self.clip(value),
                "log" => self.log(value),
                "save" => self.path(value, "save"),
                "checkpoint" => self.checkpoint(value),
                "augment" => self.augment(value, data),
                "class_weight" => self.class_weight(value),
                _ => {}
            }
        }
        if let Some(precision) = get("precision") {
            self.precision(precision);
        }
        if let Some(benchmark) = get("cudnn_benchmark") {
            self.cudnn_benchmark(benchmark, get("device"));
        }
    }

    /// `cudnn_benchmark: true`: cuDNN's autotuning, a libtorch switch; the
    /// other backends have no cuDNN.
    fn cudnn_benchmark(&mut self, value: &Expr, device: Option<&Expr>) {
        if !matches!(self.value(value), Value::Bool(_)) {
            self.bad(
                value.span,
                "`cudnn_benchmark` is true or false",
                "not a boolean",
                "write `cudnn_benchmark: true`",
            );
            return;
        }
        let devices = device.map(Expr::one_or_many).unwrap_or_default();
        let not_torch = devices.iter().find(|d| !device_name(d).starts_with("torch."));
        if devices.is_empty() || not_torch.is_some() {
            let (span, backend) = match not_torch {
                Some(d) if device_name(d) == "cuda" => (d.span, "CubeCL (`cuda`)"),
                Some(d) => (d.span, "flex (`cpu`)"),
                None => (value.span, "flex, the default device,"),
            };
            self.errors.push(CheckError::Unsupported {
                message: format!("`cudnn_benchmark` is a libtorch setting, and {backend} has no cuDNN"),
                span,
                label: "not a libtorch device".into(),
                help: "train on `device: torch.cuda` (a `--features tch` build), or remove `cudnn_benchmark`".into(),
            });
        }
    }

    /// The settings of an `evaluate` item.
    pub fn evaluate(&mut self, body: &Block, classes: Option<bool>) {
        for (_, value) in self.keys(body, &EVALUATE_KEYS, "an evaluation") {
            let Value::List(items) = self.value(value) else {
                self.bad(value.span, "`metrics` is a list", "not a list", "write `metrics: [accuracy, f1]`");
                continue;
            };
            for (item, span) in items {
                self.metric(&item, span, classes);
            }
        }
    }

    fn metric(&mut self, value: &Value, span: Span, classes: Option<bool>) {
        let names: Vec<&str> = METRICS.iter().map(|(m, _)| *m).collect();
        let Value::Name(name) = value else {
            return self.bad(
                span,
                "a metric is a name",
                "not a metric",
                &format!("the metrics are {}", names.join(", ")),
            );
        };
        match METRICS.iter().find(|(m, _)| m == name) {
            None => {
                let help = closest(name, names.iter().copied()).map_or_else(
                    || format!("the metrics are {}", names.join(", ")),
                    |m| format!("did you mean `{m}`?"),
                );
                self.bad(span, &format!("unknown metric `{name}`"), "not a metric", &help);
            }
            Some((_, Some(needs_classes))) if classes.is_some_and(|c| c != *needs_classes) => {
                let task = if *needs_classes { "classification" } else { "regression" };
                self.bad(span, &format!("`{name}` is a {task} metric, but this model is trained for the other task"), "not computed for this task", "classification gets accuracy, precision, recall, f1, confusion; regression gets mse, mae; both get loss");
            }
            _ => {}
        }
    }

    fn loss(&mut self, value: &Expr) {
        let names: Vec<&str> = LOSSES.iter().map(|(l, _)| *l).collect();
        match self.value(value) {
            Value::Name(n) if names.contains(&n.as_str()) => {}
            Value::Name(n) => {
                let help = closest(&n, names.iter().copied())
                    .map_or_else(|| format!("the losses are {}", names.join(", ")), |l| format!("did you mean `{l}`?"));
                self.bad(value.span, &format!("unknown loss `{n}`"), "not a loss", &help);
            }
            _ => {
                self.bad(value.span, "a loss is a name", "not a loss", &format!("the losses are {}", names.join(", ")))
            }
        }
    }

    /// A call (or a bare name) with its arguments bound.
    fn call<'e>(
        &mut self,
        value: &'e Expr,
        known: &[(&str, &[Param])],
        what: &str,
    ) -> Option<(String, crate::check::args::Bound<'e>)> {
        let (name, args, span): (String, &[Arg], Span) = match &value.kind {
            ExprKind::Call(call) => (call.callee.dotted(), &call.args, value.span),
            ExprKind::Path(path) => (path.dotted(), &[], value.span),
            _ => {
                let list: Vec<&str> = known.iter().map(|(n, _)| *n).collect();
                self.bad(
                    value.span,
                    &format!("this is not {what}"),
                    &format!("expected {what}"),
                    &format!("write one of {}", list.join(", ")),
                );
                return None;
            }
        };
        let Some((_, params)) = known.iter().find(|(n, _)| *n == name) else {
            let list: Vec<&str> = known.iter().map(|(n, _)| *n).collect();
            let help = closest(&name, list.iter().copied())
                .map_or_else(|| format!("write one of {}", list.join(", ")), |n| format!("did you mean `{n}`?"));
            self.errors.push(CheckError::UnknownOperation {
                what: what.trim_start_matches("an ").trim_start_matches("a ").into(),
                name,
                span,
                help,
            });
            return None;
        };
        let bound = bind(&name, params, args, span, &mut self.errors);
        Some((name, bound))
    }

    /// A number argument that must satisfy `ok`, described by `rule`.
    fn number(&mut self, b: &crate::check::args::Bound, param: &str, ok: fn(f64) -> bool, rule: &str) -> Option<f64> {
        let (value, span) = b.value(param, self.constants)?;
        match value.as_f64() {
            Some(x) if ok(x) => Some(x),
            _ => {
                let help = example(param).to_owned();
                self.bad(span, &format!("`{param}` must be {rule}"), &format!("this is {}", shown(&value)), &help);
                None
            }
        }
    }

    fn optimizer(&mut self, value: &Expr) {
        const SGD: &[Param] = &[pos("lr", false), named("momentum"), named("nesterov"), named("weight_decay")];
        const ADAM: &[Param] = &[pos("lr", false), named("beta1"), named("beta2"), named("eps"), named("weight_decay")];
        const RMSPROP: &[Param] =
            &[pos("lr", false), named("alpha"), named("eps"), named("momentum"), named("weight_decay")];
        let known: &[(&str, &[Param])] = &[("sgd", SGD), ("adam", ADAM), ("adamw", ADAM), ("rmsprop", RMSPROP)];
        let Some((_, b)) = self.call(value, known, "an optimizer") else { return };
        self.number(&b, "lr", |x| x > 0.0 && x.is_finite(), "greater than 0");
        self.number(&b, "momentum", |x| (0.0..1.0).contains(&x), "in [0, 1)");
        self.number(&b, "weight_decay", |x| x >= 0.0 && x.is_finite(), "0 or more");
        for beta in ["beta1", "beta2", "alpha"] {
            self.number(&b, beta, |x| (0.0..1.0).contains(&x), "in [0, 1)");
        }
        self.number(&b, "eps", |x| x > 0.0 && x.is_finite(), "greater than 0");
        if let Some((v, span)) = b.value("nesterov", self.constants)
            && !matches!(v, Value::Bool(_))
        {
            self.bad(span, "`nesterov` is true or false", &format!("this is {}", shown(&v)), "write `nesterov: true`");
        }
    }

    fn schedule(&mut self, value: &Expr) {
        let phases: Vec<&Expr> = match &value.kind {
            ExprKind::Then { phases } => phases.iter().collect(),
            _ => vec![value],
        };
        let last = phases.len() - 1;
        for (i, phase) in phases.into_iter().enumerate() {
            self.schedule_phase(phase, i < last);
        }
    }

    fn schedule_phase(&mut self, phase: &Expr, followed: bool) {
        const WARMUP: &[Param] = &[named("epochs"), named("steps")];
        const STEP: &[Param] = &[named("every"), named("gamma")];
        const EXPONENTIAL: &[Param] = &[pos("gamma", true)];
        const COSINE: &[Param] = &[named("min_lr")];
        const PLATEAU: &[Param] = &[named("patience"), named("factor")];
        let known: &[(&str, &[Param])] = &[
            ("constant", &[]),
            ("warmup", WARMUP),
            ("step", STEP),
            ("exponential", EXPONENTIAL),
            ("cosine", COSINE),
            ("on_plateau", PLATEAU),
        ];
        let Some((name, b)) = self.call(phase, known, "a schedule") else { return };
        if followed && name != "warmup" {
            self.bad(
                phase.span,
                "only `warmup(...)` comes before `then`",
                "not a warmup",
                "write `warmup(epochs: 2) then cosine()`",
            );
        }
        if name == "warmup" && b.expr("epochs").is_none() && b.expr("steps").is_none() {
            self.bad(phase.span, "`warmup` needs `epochs:` or `steps:`", "how long?", "write `warmup(epochs: 2)`");
        }
        for count in ["epochs", "steps", "every", "patience"] {
            self.number(&b, count, |x| x >= 1.0 && x.fract() == 0.0, "a whole number, 1 or more");
        }
        for factor in ["gamma", "factor"] {
            self.number(&b, factor, |x| x > 0.0 && x <= 1.0, "in (0, 1]");
        }
        self.number(&b, "min_lr", |x| x >= 0.0 && x.is_finite(), "0 or more");
    }

    /// A whole number of at least `least`, or `word` when there is one.
    fn count_or(&mut self, value: &Expr, key: &str, word: &str, least: i64, help: &str) {
        match self.value(value) {
            Value::Name(n) if !word.is_empty() && n == word => {}
            v if v.as_i64().is_some_and(|n| n >= least) && !matches!(v, Value::Float(f) if f.fract() != 0.0) => {}
            v => self.bad(
                value.span,
                &format!("`{key}` is {help}"),
                &format!("this is {}", shown(&v)),
                &format!("write `{key}: 32`"),
            ),
        }
    }

    fn seed(&mut self, value: &Expr) {
        let v = self.value(value);
        if v.as_i64().is_none_or(|n| n < 0) {
            self.bad(
                value.span,
                "a seed is a whole number, 0 or more",
                &format!("this is {}", shown(&v)),
                "write `seed: 42`",
            );
        }
    }

    /// `patience(3, on: val.loss, min_delta: 0.001, restore_best: true)`
    fn early_stop(&mut self, value: &Expr, validated: bool, classes: Option<bool>) {
        const PATIENCE: &[Param] = &[pos("patience", true), named("on"), named("min_delta"), named("restore_best")];
        let Some((_, b)) = self.call(value, &[("patience", PATIENCE)], "an early-stopping rule") else { return };
        self.number(&b, "patience", |x| x >= 1.0 && x.fract() == 0.0, "a whole number, 1 or more");
        self.number(&b, "min_delta", |x| x >= 0.0 && x.is_finite(), "0 or more");
        let Some(on) = b.expr("on") else { return };
        let ExprKind::Path(path) = &on.kind else {
            return self.bad(on.span, "`on` names a metric, as in `val.loss`", "not a metric", "write `on: val.loss`");
        };
        let parts: Vec<&str> = path.parts.iter().map(|p| p.name.as_str()).collect();
        let (split, metric) = match parts.as_slice() {
            [split, metric] => (*split, *metric),
            [metric] => ("val", *metric),
            _ => {
                return self.bad(
                    on.span,
                    "`on` is `val.<metric>` or `train.<metric>`",
                    "not a metric",
                    "write `on: val.loss`",
                );
            }
        };
        if split != "val" && split != "train" {
            return self.bad(
                path.parts[0].span,
                &format!("`{split}` is not `val` or `train`"),
                "unknown split",
                "write `on: val.loss`",
            );
        }
        if split == "val" && !validated {
            return self.bad(
                on.span,
                &format!("`val.{metric}` is not computed: this run has no `validate:` data"),
                "never computed",
                "add `validate: <data>`, or stop on `train.loss`",
            );
        }
        self.metric(&Value::Name(metric.into()), path.parts[path.parts.len() - 1].span, classes);
    }

    /// Each device must be known and compiled into this build.
    fn device(&mut self, value: &Expr) {
        let devices = value.one_or_many();
        for device in devices {
            let (name, index) = match &device.kind {
                ExprKind::Path(p) => (p.dotted(), None),
                ExprKind::Call(c) => (c.callee.dotted(), c.args.first().map(|a| self.value(&a.value))),
                _ => (String::new(), None),
            };
            let known = ["cpu", "cuda", "torch.cpu", "torch.cuda"];
            if !known.contains(&name.as_str()) || index.as_ref().is_some_and(|i| i.as_i64().is_none_or(|n| n < 0)) {
                self.bad(
                    device.span,
                    "unknown device",
                    "not a device",
                    "devices are cpu, cuda, cuda(N), torch.cpu, torch.cuda, torch.cuda(N)",
                );
                continue;
            }
            if name.starts_with("torch.") && !crate::backend::has_libtorch() {
                self.errors.push(CheckError::Unsupported {
                    message: format!("`{name}` needs the libtorch backend, which this build of pipe lacks"),
                    span: device.span,
                    label: "libtorch device".into(),
                    help: "build pipe with `--features tch` (see the README's GPU set-up), or use `device: cpu`".into(),
                });
            }
            if name == "cuda" && !crate::backend::has_cubecl_cuda() {
                self.errors.push(CheckError::Unsupported {
                    message: "`cuda` (CubeCL) needs the `cuda` feature, which this build of pipe lacks".into(),
                    span: device.span,
                    label: "CubeCL device".into(),
                    help: "for NVIDIA GPUs use `torch.cuda` with a `--features tch` build, or use `device: cpu`".into(),
                });
            }
        }
    }

    /// `f16`/`bf16`: every backend pipe builds with computes in both (flex
    /// and libtorch, CPU and CUDA), so only the name is checked.
    fn precision(&mut self, value: &Expr) {
        match self.value(value) {
            Value::Name(p) if PRECISIONS.contains(&p.as_str()) => {}
            v => {
                let near = if let Value::Name(n) = &v { closest(n, PRECISIONS.iter().copied()) } else { None };
                let help = format!("write `precision: {}`", near.unwrap_or("bf16"));
                self.bad(value.span, "`precision` is f32, f16 or bf16", &format!("this is {}", shown(&v)), &help)
            }
        }
    }

    fn regularize(&mut self, value: &Expr) {
        let terms = value.one_or_many();
        const WEIGHT: &[Param] = &[pos("weight", true)];
        for term in terms {
            let Some((_, b)) = self.call(term, &[("l1", WEIGHT), ("l2", WEIGHT)], "a regularizer") else { continue };
            self.number(&b, "weight", |x| x >= 0.0 && x.is_finite(), "0 or more");
        }
    }

    fn clip(&mut self, value: &Expr) {
        const LIMIT: &[Param] = &[pos("limit", true)];
        let Some((_, b)) = self.call(value, &[("norm", LIMIT), ("value", LIMIT)], "a clipping rule") else { return };
        self.number(&b, "limit", |x| x > 0.0 && x.is_finite(), "greater than 0");
    }

    fn log(&mut self, value: &Expr) {
        let sinks = value.one_or_many();
        const PATH: &[Param] = &[pos("path", true)];
        let known: &[(&str, &[Param])] = &[("console", &[]), ("tensorboard", PATH), ("csv", PATH), ("jsonl", PATH)];
        for sink in sinks {
            if let Some((_, b)) = self.call(sink, known, "a log")
                && let Some(path) = b.expr("path")
            {
                self.path(path, "a log");
            }
        }
    }

    fn path(&mut self, value: &Expr, what: &str) {
        if !matches!(self.value(value), Value::Str(_)) {
            self.bad(
                value.span,
                &format!("{what} takes a path in quotes"),
                "not a string",
                "write it like `\"runs/income\"`",
            );
        }
    }

    fn checkpoint(&mut self, value: &Expr) {
        const EVERY: &[Param] = &[named("every"), named("keep")];
        let Some((_, b)) = self.call(value, &[("checkpoint", EVERY)], "a checkpoint rule") else { return };
        self.number(&b, "every", |x| x >= 1.0 && x.fract() == 0.0, "a whole number of epochs, 1 or more");
        self.number(&b, "keep", |x| x >= 1.0 && x.fract() == 0.0, "a whole number, 1 or more");
    }

    /// Augmentation transforms images: the data must have an image column.
    fn augment(&mut self, value: &Expr, data: Option<&Schema>) {
        let Some(schema) = data else { return };
        if !schema.columns.iter().any(|c| matches!(c.dtype, DType::Image(_))) {
            self.bad(
                value.span,
                "augmentation applies to images, but this data has no image column",
                "tabular data",
                "augment image data from `images(...)`; tabular data is not augmented",
            );
        }
    }

    fn class_weight(&mut self, value: &Expr) {
        if !matches!(&value.kind, ExprKind::Path(p) if p.dotted() == "balanced") {
            self.bad(value.span, "`class_weight` is `balanced`", "not a weighting", "write `class_weight: balanced`");
        }
    }
}

/// Whether a run learns classes (`Some(true)`), numbers (`Some(false)`), or
/// it cannot be told.
pub fn classification(loss: Option<&Expr>, target: Option<&Expr>, data: Option<&Schema>) -> Option<bool> {
    if let Some(ExprKind::Path(p)) = loss.map(|l| &l.kind) {
        return LOSSES.iter().find(|(l, _)| *l == p.dotted()).map(|(_, c)| *c);
    }
    let ExprKind::Path(target) = &target?.kind else { return None };
    let column = data?.get(&target.dotted())?;
    Some(!matches!(column.dtype, DType::F64))
}

/// A typical value of a setting's argument, for help lines.
fn example(param: &str) -> &'static str {
    match param {
        "lr" => "learning rates are positive, typically 1e-4 to 1e-1: `adam(lr: 1e-3)`",
        "momentum" => "momentum is a fraction, typically 0.9: `sgd(lr: 0.05, momentum: 0.9)`",
        "weight_decay" => "weight decay is 0 or more, typically 1e-4",
        "beta1" | "beta2" | "alpha" => "these averaging factors are fractions below 1, such as 0.9 or 0.999",
        "eps" => "eps is a small positive number, such as 1e-8",
        "patience" => "patience counts epochs without improvement: `patience(3, on: val.loss)`",
        "gamma" | "factor" => "a decay factor multiplies the rate: a fraction such as 0.5",
        "min_lr" | "min_delta" => "this is 0 or a small positive number",
        "weight" => "a regularization weight is 0 or more, such as `l2(1e-4)`",
        "limit" => "a clipping limit is positive, such as `norm(1.0)`",
        _ => "see the settings in docs/language.md",
    }
}

fn shown(value: &Value) -> String {
    match value {
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Str(s) => format!("\"{s}\""),
        Value::Name(n) => format!("`{n}`"),
        other => other.described().into(),
    }
}

/// A device's name as written: `torch.cuda` in `torch.cuda(1)`.
fn device_name(device: &Expr) -> String {
    match &device.kind {
        ExprKind::Path(p) => p.dotted(),
        ExprKind::Call(c) => c.callee.dotted(),
        _ => String::new(),
    }
}
