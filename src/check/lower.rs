//! Training runs and evaluations into the IR, from what the frame, model
//! and settings checks produced; and the guard that keeps the promise: a
//! clean check lowers every item that runs.

use std::collections::HashMap;

use crate::check::error::CheckError;
use crate::check::scope::Scope;
use crate::check::value::Constants;
use crate::check::{augment, frames, settings};
use crate::ir::{self, Activation, LayerKind, Loss, TrainSettings};
use crate::source::Span;
use crate::syntax::ast::*;

/// Settings lowered by [`settings::Settings`], by item index.
#[derive(Default)]
pub struct LoweredSettings {
    /// Each `train` item's settings that checked clean.
    pub train: HashMap<usize, TrainSettings>,
    /// Each `evaluate` item's settings.
    pub evaluate: HashMap<usize, settings::EvaluateSettings>,
    /// Each swept `train` item's points.
    pub sweeps: HashMap<usize, ir::Sweep>,
}

/// Lowers the runs of one file.
pub struct Runs<'a> {
    /// The file.
    pub program: &'a Program,
    /// Its names.
    pub scope: &'a Scope,
    /// Its constants.
    pub constants: &'a Constants,
    /// Whether the file checked clean so far (the data checks run only
    /// then, so one mistake is not reported twice).
    pub clean: bool,
    /// Mistakes found while lowering: data that skipped a transform, an
    /// output activation before a loss that applies its own.
    pub errors: Vec<CheckError>,
}

impl Runs<'_> {
    /// Adds the training runs (with their models) and evaluations to `ir`.
    pub fn lower(
        &mut self,
        ir: &mut ir::Program,
        frames: &mut frames::Frames,
        models: Vec<(usize, ir::Model)>,
        mut settings: LoweredSettings,
    ) {
        let program = self.program;
        for (index, model) in models {
            let item = &program.items[index];
            let ItemKind::Train(train) = &item.kind else { continue };
            let (Some((data, validate)), Some(mut lowered)) =
                (frames.train_frames.remove(&index), settings.train.remove(&index))
            else {
                continue;
            };
            let Some(ExprKind::Path(target)) = frames::setting(&train.body, "target").map(|t| &t.kind) else {
                continue;
            };
            let loss = frames::setting(&train.body, "loss");
            let target_expr = frames::setting(&train.body, "target");
            let Some(task) = settings::classification(loss, target_expr, Some(&data.schema)) else { continue };
            lowered.augment = self.augmentation(&train.body);
            if let (Some(augmentation), Some(setting)) = (&lowered.augment, frames::setting(&train.body, "augment")) {
                self.colour_steps_on_grey(augmentation, &model, setting.span);
            }
            if let (Some(val), Some(val_expr)) = (&validate, frames::setting(&train.body, "validate")) {
                let trained = Trained { frame: &data, span: train.data.span };
                self.same_transforms(ir, trained, val, val_expr.span, "the validation data", Fix::of(val_expr));
            }
            self.output_activation(&model, lowered.loss, loss.map_or(train.model.span, |l| l.span));
            if lowered.batch == ir::Batch::Rows(1)
                && model.has_batch_norm()
                && let Some(batch) = frames::setting(&train.body, "batch")
            {
                self.errors.push(CheckError::BatchNormOneRow { span: batch.span });
            }
            let classes = match task {
                ir::Task::Classification => {
                    data.schema.get(&target.dotted()).map(crate::check::ops::known_classes).filter(|c| !c.is_empty())
                }
                ir::Task::Regression => None,
            };
            let loss_span = loss.map_or(train.model.span, |l| l.span);
            let sweep = settings.sweeps.remove(&index).map(|mut sweep| {
                for trial in &mut sweep.trials {
                    trial.settings.augment = lowered.augment.clone();
                    self.output_activation(&trial.model, trial.settings.loss, loss_span);
                }
                sweep
            });
            let target = target.dotted();
            let run =
                ir::Train { model, data, validate, target, classes, task, settings: lowered, sweep, folds: Vec::new() };
            ir.items[index] = Some(ir::Item {
                name: train.name.name.clone(),
                span: item.span,
                kind: ir::ItemKind::Train(Box::new(run)),
            });
        }
        self.starts_from_sweeps(ir);
        for (index, data) in std::mem::take(&mut frames.evaluate_frames) {
            let item = &program.items[index];
            let ItemKind::Evaluate(eval) = &item.kind else { continue };
            let ExprKind::Path(run) = &eval.model.kind else { continue };
            let Some((_, symbol)) = self.scope.lookup(&run.dotted()) else { continue };
            if let (Some(ir::ItemKind::Train(run)), ItemKind::Train(written)) =
                (ir.items.get(symbol.item).and_then(|i| i.as_ref()).map(|i| &i.kind), &program.items[symbol.item].kind)
            {
                let run_data = run.data.clone();
                let trained = Trained { frame: &run_data, span: written.data.span };
                self.same_transforms(ir, trained, &data, eval.data.span, "the evaluation data", Fix::of(&eval.data));
            }
            let evaluation = settings.evaluate.remove(&index).unwrap_or_default();
            if let Some((_, span)) = evaluation.threshold {
                self.two_classes(ir, symbol.item, span);
            }
            let (metrics, threshold) = (evaluation.metrics, evaluation.threshold.map(|(t, _)| t));
            let curves = evaluation.curves.map(|(c, _)| c);
            let name = eval.name.as_ref().map_or_else(|| format!("evaluate {}", run.dotted()), |n| n.name.clone());
            let kind = ir::ItemKind::Evaluate { run: symbol.item, data, metrics, threshold, curves };
            ir.items[index] = Some(ir::Item { name, span: item.span, kind });
        }
        self.predictions(ir);
    }

    /// A model that starts from a trained run (`fit_a |> ...`) cannot
    /// start from a sweep: which point wins, and so which layers it has, is
    /// known only once every point has trained.
    fn starts_from_sweeps(&mut self, ir: &ir::Program) {
        for (index, item) in ir.items.iter().enumerate() {
            let Some(ir::Item { kind: ir::ItemKind::Train(train), .. }) = item else { continue };
            let Some(ir::Pretrained { from: ir::PretrainedFrom::Run(run), .. }) = &train.model.pretrained else {
                continue;
            };
            let Some(Some(ir::Item { kind: ir::ItemKind::Train(from), name, .. })) = ir.items.get(*run) else {
                continue;
            };
            let ItemKind::Train(written) = &self.program.items[index].kind else { continue };
            if from.sweep.is_some() {
                self.errors.push(crate::check::error::Mistake::Unsupported.at(
                    written.model.span,
                    format!("a model cannot start from `{name}`: it is a sweep, whose best point is known only once every point has trained"),
                    "starts from a sweep",
                    format!("write the best point of `{name}` as a run of its own, and start from that run"),
                ));
            }
        }
    }

    /// A `threshold:` needs a run that tells two classes apart: one output
    /// (`binary_cross_entropy`) or two (`cross_entropy`, `focal`).
    fn two_classes(&mut self, ir: &ir::Program, run: usize, span: Span) {
        let Some(Some(ir::Item { kind: ir::ItemKind::Train(train), name, .. })) = ir.items.get(run) else { return };
        let width = match train.model.output {
            ir::Shape::Flat(n) => n,
            ir::Shape::Image(_) | ir::Shape::Seq(_) => 0,
        };
        let binary = match train.settings.loss {
            Loss::BinaryCrossEntropy => width == 1 || width == 2,
            Loss::CrossEntropy | Loss::Focal => width == 2,
            Loss::Mse | Loss::Mae | Loss::Huber => false,
        };
        if !binary {
            self.errors.push(crate::check::error::Mistake::Conflict.at(
                span,
                format!("`threshold` needs a run that tells two classes apart, and `{name}` has {width} outputs"),
                "not two classes",
                "for more classes the prediction is the most probable one; compare `probability` instead",
            ));
        }
    }

    /// `predict(run)` in a data item: the rows it predicts for have been
    /// through the transforms the run's training data went through.
    fn predictions(&mut self, ir: &ir::Program) {
        let program = self.program;
        for item in ir.items.iter().flatten() {
            let (ir::ItemKind::Stage(frame) | ir::ItemKind::Output(frame)) = &item.kind else { continue };
            for (i, op) in frame.ops.iter().enumerate() {
                let ir::Op::Predict { run, threshold, .. } = op else { continue };
                if threshold.is_some() {
                    self.two_classes(ir, *run, frame.spans[i]);
                }
                let (Some(Some(ir::Item { kind: ir::ItemKind::Train(train), .. })), ItemKind::Train(written)) =
                    (ir.items.get(*run), &program.items[*run].kind)
                else {
                    continue;
                };
                let before = ir::Frame { ops: frame.ops[..i].to_vec(), ..frame.clone() };
                let trained = Trained { frame: &train.data, span: written.data.span };
                let fix = Fix::BeforePredict(item_name(ir, *run));
                self.same_transforms(ir, trained, &before, frame.spans[i], "the data predicted for", fix);
            }
        }
    }

    /// `other` (validation, evaluation or prediction data) has been through
    /// the same fitted transforms as the training data; else the model
    /// would see features on another scale (0.53 accuracy on iris instead
    /// of 0.97), which no column check catches when the columns agree.
    fn same_transforms(
        &mut self,
        ir: &ir::Program,
        trained: Trained,
        other: &ir::Frame,
        span: Span,
        what: &str,
        fix: Fix,
    ) {
        if !self.clean {
            return;
        }
        let had = provenance(trained.frame, &ir.items);
        let has = provenance(other, &ir.items);
        if let Some(extra) = has.iter().find(|t| !had.contains(t)) {
            let name = item_name(ir, *extra);
            self.errors.push(CheckError::ExtraTransform {
                what: what.into(),
                transform: name.clone(),
                span,
                trained: trained.span,
                help: format!("train on data through `{name}` too (`{name}(train)`), or give this data as the training data was prepared"),
            });
            return;
        }
        let Some(missing) = had.iter().find(|t| !has.contains(t)) else { return };
        let name = item_name(ir, *missing);
        let help = match fix {
            Fix::Wrap(Some(data)) => format!(
                "apply what the training data went through: write `{name}({data})`; `{name}` keeps the numbers it learned from its fit data, so every data set is scaled alike"
            ),
            Fix::Wrap(None) => format!(
                "apply what the training data went through: write `{name}(...)` around it; `{name}` keeps the numbers it learned from its fit data, so every data set is scaled alike"
            ),
            Fix::BeforePredict(run) => {
                format!("apply `{name}` to the rows before `predict`: `... |> {name} |> predict({run})`")
            }
        };
        self.errors.push(CheckError::UntransformedData {
            what: what.into(),
            transform: name,
            span,
            trained: trained.span,
            help,
        });
    }

    /// Saturation and hue change colour: on one-channel (grey) images they
    /// would run and change nothing.
    fn colour_steps_on_grey(&mut self, augmentation: &ir::Augmentation, model: &ir::Model, span: Span) {
        let ir::Shape::Image([1, _, _]) = model.input else { return };
        let colour = augmentation.steps.iter().find_map(|step| match step {
            ir::AugmentStep::Saturation(_) => Some("saturation"),
            ir::AugmentStep::Hue(_) => Some("hue"),
            _ => None,
        });
        let Some(step) = colour else { return };
        self.errors.push(crate::check::error::Mistake::Conflict.at(
            span,
            format!("`{step}` changes colour, and these images have one channel (grey): it would change nothing"),
            "grey images",
            format!("remove `{step}` from the augmentation, or read the images in colour (`images(..., channels: 3)`)"),
        ));
    }

    /// The augmentation a training block names (a local `augment` item).
    fn augmentation(&self, body: &Block) -> Option<ir::Augmentation> {
        let ExprKind::Path(name) = &frames::setting(body, "augment")?.kind else { return None };
        let (_, symbol) = self.scope.lookup(&name.dotted())?;
        let ItemKind::Augment(item) = &self.program.items.get(symbol.item)?.kind else { return None };
        // Reported where the item is checked.
        let mut errors = Vec::new();
        Some(augment::augmentation(&item.body, self.constants, &mut errors))
    }

    /// The losses take raw outputs (logits): a softmax or sigmoid as the
    /// model's last layer, before a loss that applies its own, squashes
    /// the logits twice and trains badly without a word (Keras' habit of
    /// `Dense(1, activation="sigmoid")` with `from_logits=False`).
    fn output_activation(&mut self, model: &ir::Model, loss: Loss, span: Span) {
        let Some(last) = model.layers.last() else { return };
        let LayerKind::Activation(activation) = last.kind else { return };
        let Some(own) = loss.applies() else { return };
        let applied = match activation {
            Activation::Softmax => "softmax",
            Activation::Sigmoid => "sigmoid",
            Activation::HardSigmoid => "hard_sigmoid",
            _ => return,
        };
        self.errors.push(CheckError::ActivationBeforeLoss {
            activation: applied.into(),
            loss: loss.name().into(),
            span,
            help: format!(
                "remove the last `{applied}()` from the model: `{}` applies {own} to the raw outputs itself, and predictions, probabilities and metrics are computed from them",
                loss.name()
            ),
        });
    }
}

/// After a clean check: every item that runs has its IR. An item the
/// checker accepted and could not lower would be skipped (or fail) at run
/// time, so it is reported here, where the generator tests catch it.
pub fn unlowered(program: &Program, ir: &ir::Program) -> Vec<CheckError> {
    let mut errors = Vec::new();
    for (index, item) in program.items.iter().enumerate() {
        let runs = match &item.kind {
            ItemKind::Source(_)
            | ItemKind::Stage(_)
            | ItemKind::Split(_)
            | ItemKind::Output(_)
            | ItemKind::Train(_)
            | ItemKind::Evaluate(_) => true,
            ItemKind::Transform(t) => matches!(t.form, TransformForm::Fitted(_)),
            ItemKind::Let(_) | ItemKind::Import(_) | ItemKind::Augment(_) | ItemKind::Model(_) => false,
        };
        if runs && ir.items.get(index).is_none_or(Option::is_none) {
            errors.push(CheckError::NotLowered { keyword: item.kind.keyword().into(), span: item.span });
        }
    }
    errors
}

/// How to write the transform a frame misses.
enum Fix {
    /// Around the data, named when it is a name: `prep(test)`.
    Wrap(Option<String>),
    /// Before `predict(run)` in a chain.
    BeforePredict(String),
}

impl Fix {
    fn of(data: &Expr) -> Self {
        match &data.kind {
            ExprKind::Path(p) => Fix::Wrap(Some(p.dotted())),
            _ => Fix::Wrap(None),
        }
    }
}

/// A run's training data and where it is written.
#[derive(Clone, Copy)]
struct Trained<'f> {
    frame: &'f ir::Frame,
    span: Span,
}

/// The fitted transforms a frame's rows have been through, through the
/// items it reads (stages, outputs and splits pass theirs on).
pub fn provenance(frame: &ir::Frame, items: &[Option<ir::Item>]) -> Vec<ir::ItemId> {
    let mut out = Vec::new();
    frame_provenance(frame, items, &mut out);
    out
}

fn frame_provenance(frame: &ir::Frame, items: &[Option<ir::Item>], out: &mut Vec<ir::ItemId>) {
    match &frame.input {
        ir::FrameInput::Item(id) | ir::FrameInput::Part { split: id, .. } => item_provenance(*id, items, out),
        ir::FrameInput::Transformed { transform, input } => {
            out.push(*transform);
            frame_provenance(input, items, out);
        }
    }
    for op in &frame.ops {
        if let ir::Op::Transform(id) = op {
            out.push(*id);
        }
    }
}

fn item_provenance(id: ir::ItemId, items: &[Option<ir::Item>], out: &mut Vec<ir::ItemId>) {
    let Some(Some(item)) = items.get(id) else { return };
    match &item.kind {
        ir::ItemKind::Stage(frame) | ir::ItemKind::Output(frame) => frame_provenance(frame, items, out),
        ir::ItemKind::Split { input, .. } => frame_provenance(input, items, out),
        ir::ItemKind::Source(_)
        | ir::ItemKind::Transform { .. }
        | ir::ItemKind::Train(_)
        | ir::ItemKind::Evaluate { .. } => {}
    }
}

fn item_name(ir: &ir::Program, id: ir::ItemId) -> String {
    ir.items.get(id).and_then(|i| i.as_ref()).map_or_else(String::new, |i| i.name.clone())
}
