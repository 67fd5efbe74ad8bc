//! Schemas of the data items: what each source reads (its header and a
//! sample), and what each stage, split, transform and output makes of it.

use std::collections::HashMap;
use std::path::Path;

use crate::check::args::{Declared, bind, declared, named, pos};
use crate::check::columns::{Frame, unknown_column};
use crate::check::error::{CheckError, Mistake};
use crate::check::ops::{self, Context};
use crate::check::scope::{Kind, Scope};
use crate::check::settings::classification;
use crate::check::value::{Constants, Value};
use crate::files::probe;
use crate::ir::{self, Task};
use crate::schema::{Column, DType, Schema};
use crate::source::Span;
use crate::syntax::ast::*;

/// `predict(run)`, the data operation that is no declared operation (it
/// needs a trained run, not a schema rule): name, parameters, doc.
pub const PREDICT: Declared<()> = declared(
    "predict",
    (),
    &[pos("run", true), named("probabilities"), named("threshold")],
    "Adds the trained run's `prediction` column; `probabilities: true` adds `probability`, the predicted class's, and `probability_<class>` for each class; `threshold:` (two classes) is where the second class starts",
);

/// How deep recipes may use recipes.
const MAX_RECIPE_DEPTH: usize = 16;

/// `a, b = 1` for messages.
fn param_names(params: &[Param]) -> String {
    let names: Vec<String> = params.iter().map(|p| format!("`{}`", p.name.name)).collect();
    if names.is_empty() { "none".into() } else { names.join(", ") }
}

/// A copy of `expr` with each bare name that is a key of `bindings`
/// replaced by its expression.
fn substitute(expr: &Expr, bindings: &HashMap<String, Expr>) -> Expr {
    let sub = |e: &Expr| substitute(e, bindings);
    let kind = match &expr.kind {
        ExprKind::Path(p) if p.parts.len() == 1 => match bindings.get(&p.parts[0].name) {
            Some(bound) => return bound.clone(),
            None => expr.kind.clone(),
        },
        ExprKind::List { items } => ExprKind::List { items: items.iter().map(sub).collect() },
        ExprKind::Record { fields } => ExprKind::Record {
            fields: fields.iter().map(|f| Field { key: f.key.clone(), value: sub(&f.value) }).collect(),
        },
        ExprKind::Call(call) => ExprKind::Call(Call {
            callee: call.callee.clone(),
            args: call.args.iter().map(|a| Arg { name: a.name.clone(), value: sub(&a.value) }).collect(),
        }),
        ExprKind::Unary { op, operand } => ExprKind::Unary { op: *op, operand: Box::new(sub(operand)) },
        ExprKind::Binary { op, lhs, rhs } => {
            ExprKind::Binary { op: *op, lhs: Box::new(sub(lhs)), rhs: Box::new(sub(rhs)) }
        }
        ExprKind::Pipeline { input, stages } => {
            ExprKind::Pipeline { input: Box::new(sub(input)), stages: stages.iter().map(sub).collect() }
        }
        ExprKind::Then { phases } => ExprKind::Then { phases: phases.iter().map(sub).collect() },
        other => other.clone(),
    };
    Expr { kind, span: expr.span }
}

/// What a transform learned its statistics from and what it makes.
#[derive(Clone, Debug)]
pub struct TransformSchemas {
    /// The schema of the data it is fitted on.
    pub input: Schema,
    /// The schema it produces.
    pub output: Schema,
}

#[derive(Clone, Debug)]
enum State {
    Pending,
    Running,
    Done(Option<Schema>),
}

/// Computes item schemas on demand, each once.
pub struct Frames<'a> {
    pub(super) items: &'a [Item],
    pub(super) scope: &'a Scope,
    pub(super) constants: &'a Constants,
    pub(super) dir: Option<&'a Path>,
    states: Vec<State>,
    pub(super) probes: &'a mut probe::Cache,
    /// While a `split` item's data is checked: the span of the call that
    /// ends it, the one place `split(...)` may appear.
    split_call: Option<Span>,
    /// Fitted transforms' schemas, by item index.
    pub transforms: HashMap<usize, TransformSchemas>,
    /// The data each training run learns from, by item index.
    pub train_inputs: HashMap<usize, Schema>,
    /// The lowered data items, by item index.
    pub ir: Vec<Option<ir::Item>>,
    /// Each training run's data and validation frames, by item index.
    pub train_frames: HashMap<usize, (ir::Frame, Option<ir::Frame>)>,
    /// Each evaluation's data frame, by item index.
    pub evaluate_frames: HashMap<usize, ir::Frame>,
    /// Mistakes found.
    pub errors: Vec<CheckError>,
    /// Where columns of a known frame may be named: each operation call
    /// (and training block) with the schema it sees, for editors.
    pub column_scopes: Vec<(Span, Schema)>,
}

impl<'a> Frames<'a> {
    /// Schemas for the items of one file (`dir`: where its paths start).
    pub fn new(
        items: &'a [Item],
        scope: &'a Scope,
        constants: &'a Constants,
        dir: Option<&'a Path>,
        probes: &'a mut probe::Cache,
    ) -> Self {
        let states = vec![State::Pending; items.len()];
        Frames {
            items,
            scope,
            constants,
            dir,
            states,
            probes,
            split_call: None,
            transforms: HashMap::new(),
            train_inputs: HashMap::new(),
            ir: vec![None; items.len()],
            train_frames: HashMap::new(),
            evaluate_frames: HashMap::new(),
            errors: Vec::new(),
            column_scopes: Vec::new(),
        }
    }

    /// The schema of an item's data (`None`: not data, unknown, or wrong).
    pub fn item(&mut self, index: usize) -> Option<Schema> {
        match &self.states[index] {
            State::Done(schema) => return schema.clone(),
            // A cycle, reported by the graph check.
            State::Running => return None,
            State::Pending => {}
        }
        self.states[index] = State::Running;
        let items = self.items;
        let lowered = match &items[index].kind {
            ItemKind::Source(b) => self.source(&b.value).map(|(schema, source)| (schema, ir::ItemKind::Source(source))),
            ItemKind::Stage(b) => self.data(&b.value).map(|f| (f.schema.clone(), ir::ItemKind::Stage(f))),
            ItemKind::Split(s) => self.split(s),
            ItemKind::Transform(t) => match &t.form {
                TransformForm::Fitted(fit_on) => self.transform(index, fit_on, &t.body),
                // A recipe is checked where it is used, on that data.
                TransformForm::Recipe(_) => None,
            },
            ItemKind::Output(o) => self.data(&o.value).map(|f| (f.schema.clone(), ir::ItemKind::Output(f))),
            ItemKind::Train(t) => {
                if let Some(data) = self.train(index, t) {
                    self.train_inputs.insert(index, data);
                }
                None
            }
            ItemKind::Evaluate(e) => {
                if let Some(frame) = self.data(&e.data) {
                    self.matches_training(&e.model, &frame.schema, e.data.span);
                    self.evaluate_frames.insert(index, frame);
                }
                None
            }
            _ => None,
        };
        let schema = lowered.map(|(schema, kind)| {
            let item = &items[index];
            let names: Vec<&str> = item.kind.declared_names().iter().map(|n| n.name.as_str()).collect();
            self.ir[index] = Some(ir::Item { name: names.join(", "), span: item.span, kind });
            schema
        });
        self.states[index] = State::Done(schema.clone());
        schema
    }

    fn context(&mut self, frame_span: Option<Span>) -> Context<'_> {
        Context { constants: self.constants, errors: &mut self.errors, frame_span }
    }

    // -- data expressions ----------------------------------------------------------

    /// A data expression as a frame (with its schema).
    pub fn data(&mut self, expr: &Expr) -> Option<ir::Frame> {
        match &expr.kind {
            // `folds.train`: a k-fold split's part is named with a dot.
            ExprKind::Path(path) => self.named_data(&path.dotted()),
            ExprKind::Call(call) if call.callee.parts.len() == 1 => {
                let input_expr = call.args.iter().find(|a| a.name.is_none())?;
                let input = self.data(&input_expr.value)?;
                self.apply_transform(&call.callee.parts[0].name, input, input_expr.value.span)
            }
            ExprKind::Pipeline { input, stages } => {
                let mut frame = self.data(input)?;
                for stage in stages {
                    frame = self.stage(stage, frame, input.span)?;
                }
                Some(frame)
            }
            _ => None,
        }
    }

    fn named_data(&mut self, name: &str) -> Option<ir::Frame> {
        let (_, symbol) = self.scope.lookup(name)?;
        if symbol.imported || !symbol.kind.is_data() {
            return None;
        }
        let item = symbol.item;
        let input = match &self.items[item].kind {
            ItemKind::Split(split) => {
                let part = split.names.iter().position(|n| n.name == name)?;
                ir::FrameInput::Part { split: item, part }
            }
            _ => ir::FrameInput::Item(item),
        };
        let schema = self.item(item)?;
        Some(ir::Frame { input, ops: Vec::new(), spans: Vec::new(), schema })
    }

    /// One `|> stage` applied to `frame`.
    fn stage(&mut self, stage: &Expr, mut frame: ir::Frame, frame_span: Span) -> Option<ir::Frame> {
        let (callee, args): (&crate::syntax::ast::Path, &[Arg]) = match &stage.kind {
            ExprKind::Call(call) => (&call.callee, &call.args),
            ExprKind::Path(path) => (path, &[]),
            _ => return None,
        };
        let name = callee.dotted();
        if self.scope.lookup(&name).is_some_and(|(_, s)| s.kind == Kind::Transform) {
            return self.apply_transform(&name, frame, frame_span);
        }
        if name == "predict" {
            return self.predict(args, stage.span, frame, frame_span);
        }
        let mut out = Vec::new();
        self.step(stage, None, &mut frame.schema, frame_span, &mut out, None, 0);
        for (op, span) in out {
            frame.ops.push(op);
            frame.spans.push(span);
        }
        Some(frame)
    }

    /// Checks one operation on `schema` (updating it) and returns its IR
    /// when it checked clean.
    fn apply_op(&mut self, call: &ops::Call, schema: &mut Schema, frame_span: Option<Span>) -> Option<ir::Op> {
        if matches!(call.name, "split" | "kfold") && self.split_call != Some(call.span) {
            let help = if call.name == "split" {
                "write `split train, test = data |> split([0.8, 0.2])` and use the parts by name"
            } else {
                "write `split folds = data |> kfold(5)` and use `folds.train`, `folds.val`"
            };
            self.errors.push(Mistake::Misplaced.at(
                call.span,
                format!("`{}(...)` cuts data into named parts, and ends a `split` item", call.name),
                "not at the end of a `split` item",
                help,
            ));
            return None;
        }
        let before = std::mem::take(schema);
        let (after, op) = ops::apply(call, before, &mut self.context(frame_span));
        *schema = after;
        op
    }

    /// `prep(data)`: the data must have the columns `prep` was fitted on.
    fn apply_transform(&mut self, name: &str, input: ir::Frame, input_span: Span) -> Option<ir::Frame> {
        let (_, symbol) = self.scope.lookup(name)?;
        if symbol.imported || symbol.kind != Kind::Transform {
            return None;
        }
        let item = symbol.item;
        self.item(item)?;
        let schemas = self.transforms.get(&item)?.clone();
        if let Some((column, found)) = first_mismatch(&schemas.input, &input.schema) {
            self.errors.push(Mistake::SchemaMismatch.at(
                input_span,
                format!("`{name}` was fitted on data with a column `{}`: {}", column.name, column.dtype),
                mismatch_label(column, found),
                format!("apply `{name}` to data with the columns it was fitted on"),
            ));
            return None;
        }
        let input = ir::FrameInput::Transformed { transform: item, input: Box::new(input) };
        Some(ir::Frame { input, ops: Vec::new(), spans: Vec::new(), schema: schemas.output })
    }

    /// Data given to a trained run (to evaluate or predict) must have the
    /// columns, and types, the run was trained on.
    fn matches_training(&mut self, run: &Expr, schema: &Schema, span: Span) {
        let ExprKind::Path(path) = &run.kind else { return };
        let Some((_, symbol)) = self.scope.lookup(&path.dotted()) else { return };
        if symbol.kind != Kind::Train || symbol.imported {
            return;
        }
        let (item, name) = (symbol.item, path.dotted());
        self.item(item);
        let Some(mut trained) = self.train_inputs.get(&item).cloned() else { return };
        // The rows' training weights (`weights:`) are no input of the model.
        if let ItemKind::Train(train) = &self.items[item].kind
            && let Some(ExprKind::Path(weights)) = setting(&train.body, "weights").map(|w| &w.kind)
        {
            trained.columns.retain(|c| c.name != weights.dotted());
        }
        if let Some((column, found)) = first_mismatch(&trained, schema) {
            self.errors.push(Mistake::SchemaMismatch.at(
                span,
                format!("`{name}` was trained on data with a column `{}`: {}", column.name, column.dtype),
                mismatch_label(column, found),
                "give it data prepared like its training data, e.g. through the same transform: `prep(test)`",
            ));
        }
    }

    /// Validation data must have every column of the training data.
    fn same_columns(&mut self, reference: &Schema, other: &Schema, span: Span, what: &str) {
        if let Some((column, found)) = first_mismatch(reference, other) {
            self.errors.push(Mistake::SchemaMismatch.at(
                span,
                format!("the {what} lacks the training data's column `{}`: {}", column.name, column.dtype),
                mismatch_label(column, found),
                "prepare it like the training data, e.g. through the same transform: `prep(val)`",
            ));
        }
    }

    /// `predict(run)` adds the column `prediction`, of the target's type.
    fn predict(&mut self, args: &[Arg], span: Span, mut frame: ir::Frame, frame_span: Span) -> Option<ir::Frame> {
        let Declared { name, params, .. } = PREDICT;
        let before = self.errors.len();
        let b = bind(name, params, args, span, &mut self.errors);
        if self.errors.len() > before {
            return None;
        }
        let run = b.expr("run")?;
        // The resolver reports a run that is not a name.
        let ExprKind::Path(path) = &run.kind else { return None };
        self.matches_training(run, &frame.schema, frame_span);
        let dtype = self.target_dtype(&path.dotted()).unwrap_or(DType::F64);
        frame.schema.set(Column::new(ir::PREDICTION, dtype, run.span));
        let (_, symbol) = self.scope.lookup(&path.dotted())?;
        let item = symbol.item;
        let probability = match b.expr("probabilities") {
            None => false,
            Some(given) => self.probabilities(given, item, &path.dotted())?,
        };
        let classes = if probability { self.target_classes(&path.dotted()) } else { Vec::new() };
        if probability {
            frame.schema.set(Column::new(ir::PROBABILITY, DType::F64, run.span));
            for class in &classes {
                let name = ir::class_probability(class);
                if frame.schema.get(&name).is_some() {
                    self.errors.push(Mistake::Conflict.at(
                        run.span,
                        format!("`probabilities: true` adds a column `{name}`, which the frame already has"),
                        "a column would be overwritten",
                        format!("rename or drop `{name}` first"),
                    ));
                    return None;
                }
                frame.schema.set(Column::new(name, DType::F64, run.span));
            }
        }
        let threshold = match b.expr("threshold") {
            None => None,
            Some(given) => Some(self.threshold(given, item, &path.dotted())?),
        };
        frame.ops.push(ir::Op::Predict { run: item, probability, classes, threshold });
        frame.spans.push(run.span);
        Some(frame)
    }

    /// `probabilities: true` or `false`, for a run that predicts classes.
    fn probabilities(&mut self, given: &Expr, run: usize, name: &str) -> Option<bool> {
        let ExprKind::Bool { value } = given.kind else {
            self.errors.push(Mistake::WrongType.at(
                given.span,
                "`probabilities` is true or false",
                "not true or false",
                "write `probabilities: true`",
            ));
            return None;
        };
        if value && self.run_task(run) == Some(Task::Regression) {
            self.errors.push(Mistake::Conflict.at(
                given.span,
                format!("`{name}` predicts numbers, which have no class probabilities"),
                "a regression run",
                "drop `probabilities:`: the prediction is the number itself",
            ));
            return None;
        }
        Some(value)
    }

    /// `threshold:` of `predict`: a probability in (0, 1), for a run that
    /// learns classes (two of them: checked where its model is known).
    fn threshold(&mut self, given: &Expr, run: usize, name: &str) -> Option<f64> {
        let value = crate::check::value::eval(given, self.constants);
        let Some(p) = value.as_f64().filter(|p| *p > 0.0 && *p < 1.0) else {
            self.errors.push(Mistake::OutOfRange.at(
                given.span,
                "`threshold` is a probability between 0 and 1",
                "not in (0, 1)",
                "write `threshold: 0.3` to predict the second class more often, `0.7` less",
            ));
            return None;
        };
        if self.run_task(run) == Some(Task::Regression) {
            self.errors.push(Mistake::Conflict.at(
                given.span,
                format!("`{name}` predicts numbers, and `threshold` turns probabilities into classes"),
                "a regression run",
                "remove `threshold`",
            ));
            return None;
        }
        Some(p)
    }

    /// Whether run `run` learns classes or numbers (`None`: not known, or
    /// not a run).
    fn run_task(&self, run: usize) -> Option<Task> {
        let ItemKind::Train(train) = &self.items[run].kind else { return None };
        let (loss, target) = (setting(&train.body, "loss"), setting(&train.body, "target"));
        classification(loss, target, self.train_inputs.get(&run))
    }

    /// The classes a run's target has, as training orders them (sorted;
    /// integers as numbers), when the checker knows them (else none).
    fn target_classes(&mut self, run: &str) -> Vec<String> {
        let Some((_, symbol)) = self.scope.lookup(run) else { return Vec::new() };
        let ItemKind::Train(train) = &self.items[symbol.item].kind else { return Vec::new() };
        let Some(ExprKind::Path(target)) = setting(&train.body, "target").map(|t| &t.kind) else { return Vec::new() };
        let Some(schema) = self.train_inputs.get(&symbol.item) else { return Vec::new() };
        let Some(column) = schema.get(&target.dotted()) else { return Vec::new() };
        ops::known_classes(column)
    }

    /// The type of a run's predictions: the target's for classes (the
    /// class names), f64 for numbers (an integer target regressed with
    /// `loss: mse` is predicted as a float).
    fn target_dtype(&mut self, run: &str) -> Option<DType> {
        let (_, symbol) = self.scope.lookup(run)?;
        let ItemKind::Train(train) = &self.items[symbol.item].kind else { return None };
        let target = setting(&train.body, "target")?;
        let ExprKind::Path(p) = &target.kind else { return None };
        let frame = self.data(&train.data)?;
        let loss = setting(&train.body, "loss");
        if classification(loss, Some(target), Some(&frame.schema)) == Some(Task::Regression) {
            return Some(DType::F64);
        }
        frame.schema.get(&p.dotted()).map(|c| c.dtype.clone())
    }

    // -- items ---------------------------------------------------------------------

    fn split(&mut self, split: &SplitItem) -> Option<(Schema, ir::ItemKind)> {
        let last_stage = match &split.value.kind {
            ExprKind::Pipeline { stages, .. } => stages.last(),
            _ => None,
        };
        let last_call = last_stage.and_then(|s| if let ExprKind::Call(c) = &s.kind { Some(c) } else { None });
        // Only the call that ends this item may split.
        let outer = self.split_call.replace(last_stage.map_or(split.value.span, |s| s.span));
        let frame = self.data(&split.value);
        self.split_call = outer;
        let frame = frame?;
        if let Some(call) = last_call.filter(|c| c.callee.dotted() == "kfold") {
            return self.kfold_split(split, call, frame);
        }
        let Some(call) = last_call.filter(|c| c.callee.dotted() == "split") else {
            self.errors.push(Mistake::Misplaced.at(
                split.value.span,
                "a `split` item ends in `|> split([...])` or `|> kfold(k)`",
                "no `split(...)` or `kfold(...)` here",
                "write `split train, test = data |> split([0.8, 0.2])`, or `split folds = data |> kfold(5)`",
            ));
            return None;
        };
        if split.names.len() < 2 {
            self.errors.push(Mistake::CountMismatch.at(
                split.names[0].span,
                "a `split([...])` item names each of its parts",
                "one name",
                "write `split train, test = data |> split([0.8, 0.2])`, or `split folds = data |> kfold(5)`",
            ));
            return None;
        }
        let fractions = call
            .args
            .first()
            .filter(|a| a.name.is_none())
            .map(|a| (crate::check::value::eval(&a.value, self.constants), a.value.span));
        if let Some((Value::List(parts), _)) = fractions
            && parts.len() != split.names.len()
        {
            let message = format!("{} names for {} parts", split.names.len(), parts.len());
            let names_span = split.names[0].span.to(split.names[split.names.len() - 1].span);
            let help = format!("give one name per part: the fractions make {} parts", parts.len());
            self.errors.push(Mistake::CountMismatch.at(
                names_span,
                &message,
                format!("{} names", split.names.len()),
                &help,
            ));
            return None;
        }
        self.column_scopes.push((split.value.span, frame.schema.clone()));
        // `split(...)` is checked but adds no operation: the frame is its input.
        let lowered = self.split_ir(call, frame.clone(), split.value.span);
        Some((frame.schema, lowered?))
    }

    /// `split folds = data |> kfold(k, stratify:, seed:)`: one name, whose
    /// parts are `folds.train` and `folds.val`. Lowered as the first fold;
    /// `check::folds` adds the others.
    fn kfold_split(&mut self, split: &SplitItem, call: &Call, frame: ir::Frame) -> Option<(Schema, ir::ItemKind)> {
        if split.folds.is_none() {
            let names_span = split.names[0].span.to(split.names[split.names.len() - 1].span);
            self.errors.push(Mistake::CountMismatch.at(
                names_span,
                format!("a `kfold` split has one name; its parts are `<name>.{}`", FOLD_PARTS.join("`, `<name>.")),
                format!("{} names", split.names.len()),
                "write `split folds = data |> kfold(5)` and train on `folds.train`, validate on `folds.val`",
            ));
            return None;
        }
        self.column_scopes.push((split.value.span, frame.schema.clone()));
        let mut scratch = Vec::new();
        let params = [pos("k", true), named("stratify"), named("seed")];
        let b = bind("kfold", &params, &call.args, split.value.span, &mut scratch);
        let k = b.value("k", self.constants)?.0.as_i64().and_then(|k| usize::try_from(k).ok())?;
        let stratify =
            b.expr("stratify").and_then(|e| if let ExprKind::Path(p) = &e.kind { Some(p.dotted()) } else { None });
        let seed = b.value("seed", self.constants).and_then(|(v, _)| v.as_i64()).map(|s| s as u64);
        let share = 1.0 / k as f64;
        let kind = ir::ItemKind::Split {
            input: frame.clone(),
            fractions: vec![1.0 - share, share],
            stratify,
            seed,
            fold: Some(ir::Fold { k, index: 0 }),
        };
        Some((frame.schema, kind))
    }

    /// The IR of a split: the frame it cuts, and its arguments.
    fn split_ir(&mut self, call: &Call, input: ir::Frame, span: Span) -> Option<ir::ItemKind> {
        let mut scratch = Vec::new();
        let params = [pos("fractions", true), named("stratify"), named("seed")];
        let b = bind("split", &params, &call.args, span, &mut scratch);
        let fractions = match b.value("fractions", self.constants)?.0 {
            Value::List(items) => items.iter().map(|(v, _)| v.as_f64()).collect::<Option<Vec<f64>>>()?,
            _ => return None,
        };
        let stratify =
            b.expr("stratify").and_then(|e| if let ExprKind::Path(p) = &e.kind { Some(p.dotted()) } else { None });
        let seed = b.value("seed", self.constants).and_then(|(v, _)| v.as_i64()).map(|s| s as u64);
        Some(ir::ItemKind::Split { input, fractions, stratify, seed, fold: None })
    }

    fn transform(&mut self, index: usize, fit_on: &Expr, body: &Block) -> Option<(Schema, ir::ItemKind)> {
        let fit_frame = self.data(fit_on)?;
        let input = fit_frame.schema.clone();
        let mut schema = input.clone();
        let mut steps = Vec::new();
        for entry in &body.entries {
            let EntryKind::Step { expr, alias } = &entry.kind else { continue };
            self.step(expr, alias.as_ref(), &mut schema, fit_on.span, &mut steps, None, 0);
        }
        self.transforms.insert(index, TransformSchemas { input: input.clone(), output: schema.clone() });
        let (steps, spans) = steps.into_iter().unzip();
        Some((schema, ir::ItemKind::Transform { fit_on: fit_frame, steps, spans, input }))
    }

    /// Checks one step of a transform or recipe (an operation, or a recipe
    /// expanded into its steps) on `schema`, adding the operations to `out`
    /// with the span diagnostics met while running point at: `site` (the
    /// outermost recipe call), else the step.
    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        expr: &Expr,
        alias: Option<&Ident>,
        schema: &mut Schema,
        frame_span: Span,
        out: &mut Vec<(ir::Op, Span)>,
        site: Option<Span>,
        depth: usize,
    ) {
        let (name, args) = match &expr.kind {
            ExprKind::Call(call) => (call.callee.dotted(), call.args.as_slice()),
            ExprKind::Path(path) => (path.dotted(), &[][..]),
            _ => return,
        };
        if self.scope.lookup(&name).is_some_and(|(_, s)| s.kind == Kind::Recipe) {
            let site = site.unwrap_or(expr.span);
            return self.recipe(&name, args, expr.span, schema, frame_span, out, site, depth);
        }
        if !crate::check::builtins::is_data_operation(&name) {
            return;
        }
        if site.is_none() {
            self.column_scopes.push((expr.span, schema.clone()));
        }
        let call = ops::Call { name: &name, args, alias, span: expr.span };
        if let Some(op) = self.apply_op(&call, schema, Some(frame_span)) {
            out.push((op, site.unwrap_or(expr.span)));
        }
    }

    /// A recipe's steps, its parameters replaced by the arguments.
    #[allow(clippy::too_many_arguments)]
    fn recipe(
        &mut self,
        name: &str,
        args: &[Arg],
        span: Span,
        schema: &mut Schema,
        frame_span: Span,
        out: &mut Vec<(ir::Op, Span)>,
        site: Span,
        depth: usize,
    ) {
        let Some((_, symbol)) = self.scope.lookup(name) else { return };
        let module = symbol.definition.clone();
        let items = self.items;
        let item = match &module {
            Some((program, index)) => program.items.get(*index),
            None => items.get(symbol.item),
        };
        let Some(Item {
            kind: ItemKind::Transform(TransformItem { form: TransformForm::Recipe(params), body, .. }),
            ..
        }) = item
        else {
            return;
        };
        // Only a recipe that uses itself nests this deep: the graph check
        // reports the cycle, and the expansion stops here.
        if depth >= MAX_RECIPE_DEPTH {
            return;
        }
        let Some(bindings) = self.bind_recipe(name, params, args, span) else { return };
        for entry in &body.entries {
            let EntryKind::Step { expr, alias } = &entry.kind else { continue };
            let expr = substitute(expr, &bindings);
            self.step(&expr, alias.as_ref(), schema, frame_span, out, Some(site), depth + 1);
        }
    }

    /// Each parameter of a recipe with the expression it stands for: the
    /// argument given (by position, then by name), else its default.
    fn bind_recipe(&mut self, name: &str, params: &[Param], args: &[Arg], span: Span) -> Option<HashMap<String, Expr>> {
        let mut bound: HashMap<String, Expr> = HashMap::new();
        let positional: Vec<&Arg> = args.iter().filter(|a| a.name.is_none()).collect();
        if positional.len() > params.len() {
            self.errors.push(CheckError::TooManyArguments {
                operation: name.into(),
                count: params.len(),
                span: positional[params.len()].value.span,
            });
            return None;
        }
        for (param, arg) in params.iter().zip(&positional) {
            bound.insert(param.name.name.clone(), arg.value.clone());
        }
        for arg in args {
            let Some(arg_name) = &arg.name else { continue };
            if !params.iter().any(|p| p.name.name == arg_name.name) {
                self.errors.push(CheckError::UnknownArgument {
                    operation: name.into(),
                    name: arg_name.name.clone(),
                    span: arg_name.span,
                    help: format!("its parameters are: {}", param_names(params)),
                });
                return None;
            }
            bound.insert(arg_name.name.clone(), arg.value.clone());
        }
        for param in params {
            if !bound.contains_key(&param.name.name) {
                match &param.default {
                    Some(default) => {
                        bound.insert(param.name.name.clone(), default.clone());
                    }
                    None => {
                        let operation = name.to_owned();
                        self.errors.push(CheckError::MissingArgument {
                            operation,
                            name: param.name.name.clone(),
                            span,
                        });
                        return None;
                    }
                }
            }
        }
        Some(bound)
    }

    /// A training run: its data, validation data, and target. Returns the
    /// data it trains on.
    fn train(&mut self, index: usize, train: &TrainItem) -> Option<Schema> {
        let frame = self.data(&train.data);
        let validate_expr = setting(&train.body, "validate");
        let validate = validate_expr.and_then(|v| self.data(v));
        let data = frame.as_ref().map(|f| f.schema.clone());
        // Validation data must look like the training data.
        if let (Some(train_schema), Some(val), Some(val_expr)) = (&data, &validate, validate_expr) {
            self.same_columns(train_schema, &val.schema, val_expr.span, "validation data");
        }
        if let Some(frame) = frame {
            self.column_scopes.push((train.body.span, frame.schema.clone()));
            self.train_frames.insert(index, (frame, validate));
        }
        let schema = data?;
        let Some(target) = setting(&train.body, "target") else {
            let last = schema.columns.last().map_or("label", |c| c.name.as_str());
            self.errors.push(CheckError::MissingSetting {
                what: format!("training run `{}`", train.name.name),
                key: "target".into(),
                span: train.name.span,
                help: format!("name the column to predict: `target: {last}` (the columns: {})", column_list(&schema)),
            });
            return None;
        };
        let ExprKind::Path(p) = &target.kind else {
            self.errors.push(Mistake::WrongType.at(
                target.span,
                "`target` names a column",
                "not a column",
                "write `target: label`",
            ));
            return None;
        };
        let frame = Frame { schema: &schema, span: Some(train.data.span) };
        let Some(column) = schema.get(&p.dotted()) else {
            self.errors.push(unknown_column(&p.dotted(), target.span, frame));
            return None;
        };
        if let DType::Codes(_) | DType::Tokens { .. } = column.dtype {
            let step = if matches!(column.dtype, DType::Codes(_)) { "encode" } else { "tokenize" };
            self.errors.push(CheckError::ColumnType {
                operation: "the target".into(),
                column: column.name.clone(),
                dtype: column.dtype.to_string(),
                expected: "class labels or numbers".into(),
                span: target.span,
                origin: Some(column.origin),
                help: format!("`{step}` the features only: leave `{}` out of the `{step}` step", column.name),
            });
            return None;
        }
        if let Some(loss) = setting(&train.body, "loss") {
            let column = column.clone();
            self.loss_fits_target(loss, &column, target.span);
        }
        if let Some(weights) = setting(&train.body, "weights") {
            self.weights_column(weights, &p.dotted(), &schema)?;
        }
        Some(schema)
    }

    /// `weights: w`: a numeric column of the training data, not the target.
    fn weights_column(&mut self, weights: &Expr, target: &str, schema: &Schema) -> Option<()> {
        let ExprKind::Path(p) = &weights.kind else {
            self.errors.push(Mistake::WrongType.at(
                weights.span,
                "`weights` names a column of the training data",
                "not a column",
                "write `weights: w`, with `w` a numeric column whose values weigh each row's loss",
            ));
            return None;
        };
        let frame = Frame { schema, span: None };
        let Some(column) = schema.get(&p.dotted()) else {
            self.errors.push(unknown_column(&p.dotted(), weights.span, frame));
            return None;
        };
        if column.name == target {
            self.errors.push(Mistake::Conflict.at(
                weights.span,
                format!("`{target}` is the target: it cannot also weigh the rows"),
                "the target",
                "name a column of weights, or remove `weights`",
            ));
            return None;
        }
        if !column.dtype.is_numeric() {
            self.errors.push(CheckError::ColumnType {
                operation: "`weights`".into(),
                column: column.name.clone(),
                dtype: column.dtype.to_string(),
                expected: "a numeric column".into(),
                span: weights.span,
                origin: Some(column.origin),
                help: "weigh rows by a number (0 or more) per row".into(),
            });
            return None;
        }
        Some(())
    }

    /// `cross_entropy` needs classes; `mse` and `mae` need numbers.
    fn loss_fits_target(&mut self, loss: &Expr, target: &Column, target_span: Span) {
        // An unknown loss is reported where the settings are checked.
        let Some(loss_name) = crate::check::settings::loss_name(loss) else { return };
        let Some(kind) = ir::Loss::from_name(&loss_name) else { return };
        let (fits, needs) = match kind.task() {
            Task::Classification => (
                matches!(target.dtype, DType::I64 | DType::Cat(_) | DType::Str | DType::Bool),
                "a column of class labels",
            ),
            Task::Regression => (target.dtype.is_numeric(), "a numeric column"),
        };
        if !fits {
            self.errors.push(CheckError::ColumnType {
                operation: format!("`{loss_name}`"),
                column: target.name.clone(),
                dtype: target.dtype.to_string(),
                expected: needs.into(),
                span: target_span,
                origin: Some(target.origin),
                help: if needs == "a numeric column" {
                    "regress on a numeric column, or use `cross_entropy` for classes".into()
                } else {
                    "classify a column of classes (do not scale the target), or use `mse` for numbers".into()
                },
            });
            return;
        }
        // One logit tells two classes apart; more need `cross_entropy`.
        let levels = ops::sorted_levels(target);
        if kind == ir::Loss::BinaryCrossEntropy && !levels.is_empty() && levels.len() != 2 {
            self.errors.push(CheckError::ColumnType {
                operation: "`binary_cross_entropy`".into(),
                column: target.name.clone(),
                dtype: format!("{} classes", levels.len()),
                expected: "two classes".into(),
                span: target_span,
                origin: Some(target.origin),
                help: "use `loss: cross_entropy` with one output per class".into(),
            });
        }
    }
}

/// The first column of `reference` that `other` lacks or types differently:
/// the column, and what `other` has under its name.
fn first_mismatch<'s>(reference: &'s Schema, other: &'s Schema) -> Option<(&'s Column, Option<&'s Column>)> {
    reference.columns.iter().find_map(|column| {
        let found = other.get(&column.name);
        found.is_none_or(|c| c.dtype != column.dtype).then_some((column, found))
    })
}

/// "here `x` is str" or "no `x` here".
fn mismatch_label(column: &Column, found: Option<&Column>) -> String {
    match found {
        Some(c) => format!("here `{}` is {}", c.name, c.dtype),
        None => format!("no `{}` here", column.name),
    }
}

/// The value of `key:` in a block.
pub fn setting<'b>(block: &'b Block, key: &str) -> Option<&'b Expr> {
    block.entries.iter().find_map(|e| match &e.kind {
        EntryKind::Setting { key: k, value } if k.name == key => Some(value),
        _ => None,
    })
}

/// The columns of a schema, for help lines (the first 12).
fn column_list(schema: &Schema) -> String {
    let names: Vec<String> = schema.columns.iter().take(12).map(|c| format!("`{}`", c.name)).collect();
    let more = schema.columns.len().saturating_sub(12);
    if more > 0 { format!("{}, and {more} more", names.join(", ")) } else { names.join(", ") }
}
