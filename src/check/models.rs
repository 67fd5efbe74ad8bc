//! Shapes of models: the input a training run feeds a model (its data minus
//! the target), each layer's output shape, and the last layer's width
//! against the target (classes for `cross_entropy`, 1 for `mse`).

use std::rc::Rc;

use crate::check::args::{Declared, Param, bind, declared, named, pos, rest};
use crate::check::error::{CheckError, Mistake};
use crate::check::frames::setting;
use crate::check::layers;
use crate::check::limits;
use crate::check::ops::sorted_levels;
use crate::check::scope::{Kind, Scope};
use crate::check::value::{Constants, Value, eval};
use crate::schema::{DType, Schema};
use crate::source::Span;
use crate::suggest::closest;
use crate::syntax::ast::*;

pub use crate::ir::Shape;
use crate::ir::{self, LayerKind, ModelLayer};

/// The values a model's names stand for (its parameters, loop variables),
/// with where each parameter's value was written, so a bad value is
/// reported where the user wrote it, not inside the model it flows into.
#[derive(Clone, Debug, Default)]
pub(super) struct Env {
    pub(super) values: Constants,
    pub(super) written: std::collections::HashMap<String, Span>,
    /// For the layers of an imported model: its module, where the models it
    /// uses as blocks are found (not in the importing file).
    pub(super) module: Option<Rc<crate::syntax::ast::Program>>,
}

impl Env {
    /// Where the value of `expr` was written: at a model's call site when
    /// `expr` is just a parameter's name, else `expr` itself.
    fn origin(&self, expr: &Expr) -> Span {
        self.values().origin(expr)
    }

    /// The values layers' arguments are evaluated in.
    fn values(&self) -> layers::Values<'_> {
        layers::Values { constants: &self.values, written: &self.written }
    }
}

/// A layer (or block entry) with the values its names stand for.
#[derive(Clone, Debug)]
pub(super) struct Layer {
    pub(super) entry: Entry,
    pub(super) env: Rc<Env>,
    /// Whether the layer comes from a trained run (its weights start as
    /// that run's).
    pub(super) pretrained: bool,
}

/// Where a model's trained layers come from, while it is being checked.
#[derive(Clone)]
pub(super) enum Origin {
    /// A training run of this file.
    Run(usize),
    /// A folder written by `save:`.
    Saved(Saved),
}

/// A model loaded from a folder written by `save:`.
#[derive(Clone)]
pub(super) struct Saved {
    pub(super) dir: std::path::PathBuf,
    pub(super) stamp: String,
    pub(super) input: Shape,
    /// All its layers (the model may use fewer).
    pub(super) layers: Vec<Layer>,
}

/// The index of the `model` item called `name` in a module.
fn module_model(program: &crate::syntax::ast::Program, name: &str) -> Option<usize> {
    program.items.iter().position(|item| match &item.kind {
        ItemKind::Model(m) => m.name.name == name,
        _ => false,
    })
}

/// Most repetitions of a `for` loop in a model the checker unrolls.
const MAX_REPEATS: usize = 1000;

/// Most layers all the loops of one model unroll to.
const MAX_UNROLLED: usize = 10_000;

/// What a model operation does (matched exhaustively where models are
/// expanded: a new one fails to compile until it is handled).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelOp {
    /// `replace_head(layers...)`.
    ReplaceHead,
    /// `freeze(until: name)`.
    Freeze,
    /// `unfreeze()`.
    Unfreeze,
    /// `weights(path)`.
    Weights,
}

/// Every operation on a model (after `|>` in a model expression).
pub const MODEL_OPERATIONS: &[Declared<ModelOp>] = &[
    declared(
        "replace_head",
        ModelOp::ReplaceHead,
        &[rest("layers")],
        "Replaces a model's layers from its last dense layer on",
    ),
    declared(
        "freeze",
        ModelOp::Freeze,
        &[Param { required: true, ..named("until") }],
        "Stops training layers up to a named layer (or a layer's index)",
    ),
    declared("unfreeze", ModelOp::Unfreeze, &[], "Trains every layer again (after a `freeze` earlier in the chain)"),
    declared(
        "weights",
        ModelOp::Weights,
        &[pos("path", true)],
        "Starts every layer from PyTorch weights (safetensors of an nn.Sequential of the same layers)",
    ),
];

/// `load(path)`: the one function that makes a model without a `model`
/// item.
pub const LOAD: Declared<()> =
    declared("load", (), &[pos("path", true)], "A model saved by an earlier run (its folder)");

/// Checks the model of each training run against its data.
pub struct Shapes<'a> {
    items: &'a [Item],
    scope: &'a Scope,
    pub(super) constants: &'a Constants,
    /// Mistakes found.
    pub errors: Vec<CheckError>,
    /// Each run's model, layer by layer: `dense(64): [36] -> [64]`.
    pub summaries: Vec<(usize, Vec<String>)>,
    /// Each run's model, lowered, by item index.
    pub models: Vec<(usize, ir::Model)>,
    /// Where each layer was written and the shapes it turns into each
    /// other (`[36] -> [64]`), for editors.
    pub layer_shapes: Vec<(Span, String)>,
    /// Layers unrolled from loops for the model being checked.
    unrolled: usize,
    /// The trained network the model being checked starts from, if any.
    pub(super) pretrained_from: Option<Origin>,
    /// `weights("file")` of the model being checked: the path and where.
    import: Option<(String, Span)>,
    /// The folder of the file being checked (where `load` paths start).
    pub(super) dir: Option<std::path::PathBuf>,
    /// Models being expanded as layers of other models.
    expanding: usize,
    /// The encoded columns of the input of the model being checked, until
    /// its first layer takes them.
    pub(super) codes: Vec<ir::EmbeddingTable>,
    /// The ids of the tokenized text the model being checked reads, until
    /// its first layer takes them.
    pub(super) tokens: Option<usize>,
    /// The model expression of the run being checked (in the user's file,
    /// where a layer may be in the standard library).
    model_span: Span,
}

impl<'a> Shapes<'a> {
    /// A checker of model shapes for one file.
    pub fn new(items: &'a [Item], scope: &'a Scope, constants: &'a Constants, dir: Option<&std::path::Path>) -> Self {
        Shapes {
            items,
            scope,
            constants,
            errors: Vec::new(),
            summaries: Vec::new(),
            models: Vec::new(),
            layer_shapes: Vec::new(),
            unrolled: 0,
            pretrained_from: None,
            import: None,
            dir: dir.map(std::path::Path::to_path_buf),
            expanding: 0,
            codes: Vec::new(),
            tokens: None,
            model_span: Span::default(),
        }
    }

    /// Checks the model of the training run at `index`, trained on `schema`.
    pub fn train(&mut self, index: usize, train: &TrainItem, schema: &Schema) {
        let Some(target) = setting(&train.body, "target").and_then(path_name) else { return };
        let Some(target_column) = schema.get(&target) else { return };
        // The model reads every column but the target and the rows' weights.
        let mut features = schema.clone();
        features.columns.retain(|c| c.name != target);
        if let Some(weights) = setting(&train.body, "weights").and_then(path_name) {
            features.columns.retain(|c| c.name != weights);
        }
        let Some(input) = self.input_shape(&features, &target, train.data.span) else { return };
        let codes = encoded_columns(&features, &target);
        self.codes = codes.clone();
        let tokens = token_ids(&features);
        self.tokens = tokens;
        self.model_span = train.model.span;
        self.pretrained_from = None;
        self.import = None;
        let Some(layers) = self.model_layers(&train.model, 0) else { return };
        self.unrolled = 0;
        let mut built = Built::default();
        // The layers from a trained run come first: run them apart to know
        // how many layers of the built model they make.
        let from_run = layers.iter().take_while(|l| l.pretrained).count();
        let Some(middle) = self.run(&layers[..from_run], input.clone(), &mut built) else { return };
        let pretrained_layers = built.layers.len();
        let Some(output) = self.run(&layers[from_run..], middle, &mut built) else { return };
        if !self.codes.is_empty() {
            self.errors.push(codes_unread(&std::mem::take(&mut self.codes), "it has no layers", train.model.span));
            return;
        }
        if self.tokens.take().is_some() {
            self.errors.push(tokens_unread("it has no layers", train.model.span));
            return;
        }
        let pretrained = match self.pretrained_from.take().filter(|_| from_run > 0) {
            // `weights(...)` sets every layer, whatever came before.
            _ if self.import.is_some() => {
                let (written, span) = self.import.take().unwrap_or_default();
                let model = ir::Model {
                    layers: built.layers.clone(),
                    input: input.clone(),
                    output: output.clone(),
                    frozen_until: None,
                    pretrained: None,
                };
                let Some(from) = self.imported(&written, span, &model) else { return };
                Some(ir::Pretrained { from, layers: built.layers.len() })
            }
            None => None,
            Some(Origin::Run(run)) => {
                Some(ir::Pretrained { from: ir::PretrainedFrom::Run(run), layers: pretrained_layers })
            }
            Some(Origin::Saved(saved)) => {
                let Some(model) = self.saved_model(&saved, &input, &codes, train.model.span) else { return };
                let from = ir::PretrainedFrom::Saved { dir: saved.dir, stamp: saved.stamp, model: Box::new(model) };
                Some(ir::Pretrained { from, layers: pretrained_layers })
            }
        };
        self.summaries.push((index, built.summary));
        let frozen_until = frozen_until(&train.model, self.items, self.scope, 0);
        let last_layer = built.layers.last().and_then(|l| l.name.as_deref());
        let frozen_index = frozen_until.as_deref().and_then(|u| u.parse::<usize>().ok());
        if let Some(index) = frozen_index.filter(|i| *i >= built.layers.len()) {
            self.errors.push(Mistake::UnknownLayer.at(
                train.model.span,
                format!("`freeze(until: {index})` is past the last layer (the model has {})", built.layers.len()),
                "no such layer",
                "layers count from 0, in the order `pipe check --explain` lists them",
            ));
            return;
        }
        let all = frozen_until.is_some()
            && (frozen_until.as_deref() == last_layer || frozen_index == Some(built.layers.len().saturating_sub(1)));
        if all {
            self.errors.push(Mistake::Conflict.at(
                train.model.span,
                "every layer of this model is frozen: training would change nothing",
                "all frozen",
                "freeze up to a layer before the head (`freeze(until: features)`), or add a new head with `replace_head`",
            ));
            return;
        }
        let model = ir::Model { layers: built.layers, input, output: output.clone(), frozen_until, pretrained };
        if !self.fits_in_memory(&model, train.model.span) {
            return;
        }
        self.models.push((index, model));
        let loss = setting(&train.body, "loss").and_then(super::settings::loss_name);
        self.output_fits(&output, target_column, loss.as_deref(), train.model.span);
    }

    /// Whether training `model` fits this machine's memory: its weights,
    /// gradients and optimizer state, and one sample's activations and
    /// their gradients (a lower bound: a batch holds more).
    fn fits_in_memory(&mut self, model: &ir::Model, span: Span) -> bool {
        let parameters = model.parameters();
        let activations = model.layers.iter().map(|l| shape_values(&l.output)).fold(0, u64::saturating_add);
        let needed =
            parameters.saturating_mul(limits::BYTES_PER_PARAMETER).saturating_add(activations.saturating_mul(8));
        let Some(memory) = limits::machine_memory().filter(|m| needed > *m) else { return true };
        let gb = |bytes: u64| format!("{:.1} GB", bytes as f64 / (1u64 << 30) as f64);
        self.errors.push(Mistake::OutOfRange.at(
            span,
            format!(
                "this model has {} parameters: training needs at least {} for weights, gradients, optimizer state and activations, and this machine has {}",
                crate::check::explain::thousands(parameters),
                gb(needed),
                gb(memory)
            ),
            "too large for this machine",
            "use narrower layers, or pool images before the dense layers",
        ));
        false
    }

    /// The features a model sees: every column but the target.
    fn input_shape(&mut self, schema: &Schema, target: &str, span: Span) -> Option<Shape> {
        let features: Vec<_> = schema.columns.iter().filter(|c| c.name != target).collect();
        if features.is_empty() {
            self.errors.push(Mistake::ShapeMismatch.at(
                span,
                format!("this data has no feature for the model: every column but the target `{target}` is gone"),
                "no features",
                "keep at least one column besides the target (a `select` or `drop` earlier removed them)",
            ));
            return None;
        }
        if let [only] = features.as_slice() {
            match only.dtype {
                DType::Image(shape) => return Some(Shape::Image(shape)),
                DType::Tokens { length, .. } => return Some(Shape::Flat(length)),
                _ => {}
            }
        }
        if let Some(text) = features.iter().find(|c| matches!(c.dtype, DType::Tokens { .. })) {
            self.errors.push(Mistake::ShapeMismatch.at(
                span,
                format!(
                    "the tokenized text `{}` must be the model's only input, and this data has {} other feature columns",
                    text.name,
                    features.len() - 1
                ),
                "a text and other features",
                format!("keep only `{}` and the target (`select({}, {target})`)", text.name, text.name),
            ));
            return None;
        }
        for column in &features {
            if !(column.dtype.is_numeric() || matches!(column.dtype, DType::Bool | DType::Codes(_))) {
                self.errors.push(CheckError::ColumnType {
                    operation: "the model's input".into(),
                    column: column.name.clone(),
                    dtype: column.dtype.to_string(),
                    expected: "numeric features".into(),
                    span,
                    origin: Some(column.origin),
                    help: format!(
                        "one-hot encode it (`onehot({0})`) or drop it (`drop({0})`) before training",
                        column.name
                    ),
                });
                return None;
            }
        }
        Some(Shape::Flat(features.len()))
    }

    // -- which layers --------------------------------------------------------------

    /// The layers of a model expression, `depth` guarding against a run that
    /// trains itself.
    fn model_layers(&mut self, expr: &Expr, depth: usize) -> Option<Vec<Layer>> {
        if depth > 16 {
            return None;
        }
        match &expr.kind {
            ExprKind::Path(path) => self.named_model(&path.dotted(), &[], expr.span, depth, &self.top_env()),
            ExprKind::Call(call) if call.callee.dotted() == "load" => self.load(call, expr.span),
            ExprKind::Call(call) => {
                self.named_model(&call.callee.dotted(), &call.args, expr.span, depth, &self.top_env())
            }
            ExprKind::Pipeline { input, stages } => {
                let mut layers = self.model_layers(input, depth + 1)?;
                for stage in stages {
                    layers = self.model_operation(stage, layers)?;
                }
                Some(layers)
            }
            _ => None,
        }
    }

    /// A model item (called with `args`, evaluated in `outer`), a trained
    /// run, or nothing known.
    fn named_model(&mut self, name: &str, args: &[Arg], span: Span, depth: usize, outer: &Env) -> Option<Vec<Layer>> {
        // Inside an imported model, names are the module's.
        let (item, base, module, symbol) = match &outer.module {
            Some(program) => {
                let index = module_model(program, name)?;
                let base = crate::check::constants(&program.items);
                (program.items[index].clone(), base, Some(program.clone()), None)
            }
            None => {
                let (_, symbol) = self.scope.lookup(name)?;
                // An imported model's defaults see its own module's constants.
                match &symbol.definition {
                    Some((program, index)) => {
                        let base = crate::check::constants(&program.items);
                        (program.items.get(*index)?.clone(), base, Some(program.clone()), Some(symbol.clone()))
                    }
                    None => (self.items.get(symbol.item)?.clone(), self.constants.clone(), None, Some(symbol.clone())),
                }
            }
        };
        let local = module.is_none();
        match &item.kind {
            ItemKind::Train(train) if symbol.as_ref().is_some_and(|s| s.kind == Kind::Train) && local => {
                let mut layers = self.model_layers(&train.model, depth + 1)?;
                // The nearest trained run is the one whose weights are used.
                self.pretrained_from = symbol.map(|s| Origin::Run(s.item));
                layers.iter_mut().for_each(|l| l.pretrained = true);
                Some(layers)
            }
            ItemKind::Model(model) => match &model.body {
                ModelBody::Expr(expr) if args.is_empty() && local => self.model_layers(expr, depth + 1),
                ModelBody::Expr(_) => None,
                ModelBody::Layers(block) => {
                    let params = model.params.as_deref().unwrap_or(&[]);
                    let mut env = self.bind_params(name, params, args, span, base, outer)?;
                    env.module = module;
                    let env = Rc::new(env);
                    Some(
                        block
                            .entries
                            .iter()
                            .map(|e| Layer { entry: e.clone(), env: env.clone(), pretrained: false })
                            .collect(),
                    )
                }
            },
            _ => None,
        }
    }

    /// The values of a model's parameters for one call: defaults over
    /// `base`, then the arguments, evaluated in the caller's `outer` env.
    fn bind_params(
        &mut self,
        model: &str,
        params: &[crate::syntax::ast::Param],
        args: &[Arg],
        span: Span,
        base: Constants,
        outer: &Env,
    ) -> Option<Env> {
        let mut env = base;
        let mut bound = std::collections::HashSet::new();
        let mut written = std::collections::HashMap::new();
        for param in params {
            if let Some(default) = &param.default {
                let value = eval(default, &env);
                env.insert(param.name.name.clone(), value);
                bound.insert(param.name.name.clone());
            }
        }
        let names: Vec<&str> = params.iter().map(|p| p.name.name.as_str()).collect();
        for (i, arg) in args.iter().enumerate() {
            let name = match &arg.name {
                Some(n) if names.contains(&n.name.as_str()) => n.name.clone(),
                Some(n) => {
                    let help = closest(&n.name, names.iter().copied()).map_or_else(
                        || format!("`{model}` takes: {}", names.join(", ")),
                        |near| format!("did you mean `{near}`?"),
                    );
                    self.errors.push(CheckError::UnknownArgument {
                        operation: model.into(),
                        name: n.name.clone(),
                        span: n.span,
                        help,
                    });
                    continue;
                }
                None => match names.get(i) {
                    Some(n) => (*n).to_owned(),
                    None => {
                        self.errors.push(CheckError::TooManyArguments {
                            operation: model.into(),
                            count: names.len(),
                            span: arg.value.span,
                        });
                        continue;
                    }
                },
            };
            written.insert(name.clone(), outer.origin(&arg.value));
            env.insert(name.clone(), eval(&arg.value, &outer.values));
            bound.insert(name);
        }
        if let Some(missing) = params.iter().find(|p| !bound.contains(&p.name.name)) {
            self.errors.push(CheckError::MissingArgument {
                operation: model.into(),
                name: missing.name.name.clone(),
                span,
            });
            return None;
        }
        Some(Env { values: env, written, module: None })
    }

    /// `|> replace_head(layers...)`, `|> freeze(until: name)` and the other
    /// model operations, by their declarations.
    fn model_operation(&mut self, stage: &Expr, mut layers: Vec<Layer>) -> Option<Vec<Layer>> {
        let (name, args): (String, &[Arg]) = match &stage.kind {
            ExprKind::Call(call) => (call.callee.dotted(), &call.args),
            ExprKind::Path(path) => (path.dotted(), &[]),
            _ => return None,
        };
        // The resolver reports names that are no model operation.
        let declared = MODEL_OPERATIONS.iter().find(|o| o.name == name)?;
        let before = self.errors.len();
        let b = bind(&name, declared.params, args, stage.span, &mut self.errors);
        if self.errors.len() > before {
            return None;
        }
        match declared.kind {
            ModelOp::ReplaceHead => {
                // The head is the last dense layer and what follows it.
                let Some(last_dense) = layers.iter().rposition(|l| layer_name(&l.entry).as_deref() == Some("dense"))
                else {
                    self.errors.push(Mistake::UnknownLayer.at(
                        stage.span,
                        "this model has no `dense` layer: `replace_head` replaces the last one and what follows it",
                        "no head to replace",
                        "end the model with `dense(...)`, or build the new layers into a model of their own",
                    ));
                    return None;
                };
                layers.truncate(last_dense);
                let env = Rc::new(Env { values: self.constants.clone(), written: Default::default(), module: None });
                for expr in b.exprs("layers") {
                    let entry = Entry { kind: EntryKind::Step { expr: (*expr).clone(), alias: None }, span: expr.span };
                    layers.push(Layer { entry, env: env.clone(), pretrained: false });
                }
            }
            ModelOp::Freeze => {
                let until = b.expr("until")?;
                match &until.kind {
                    ExprKind::Path(p) if !has_named_layer(&layers, &p.dotted()) => {
                        self.errors.push(Mistake::UnknownLayer.at(
                            until.span,
                            format!("the model has no layer named `{}`", p.dotted()),
                            "no such layer",
                            "name a layer with `as`, as in `flatten() as features`",
                        ))
                    }
                    ExprKind::Path(_) => {}
                    ExprKind::Number(n) if n.is_int && n.unit.is_none() => {}
                    _ => self.errors.push(Mistake::WrongType.at(
                        until.span,
                        "`freeze(until: ...)` names a layer or gives its index",
                        "not a layer name",
                        "name a layer with `as`, as in `flatten() as features`, then `freeze(until: features)`",
                    )),
                }
            }
            ModelOp::Weights => {
                let (path, span) = b.value("path", self.constants)?;
                match path {
                    Value::Str(path) => self.import = Some((path, stage.span)),
                    other => self.errors.push(Mistake::WrongType.at(
                        span,
                        "`weights` takes the path of a safetensors file, in quotes",
                        format!("this is {}", layers::show(&other)),
                        "write `weights(\"model.safetensors\")`",
                    )),
                }
            }
            // `frozen_until` reads the chain's last `freeze` or `unfreeze`.
            ModelOp::Unfreeze => {}
        }
        Some(layers)
    }

    /// The file's constants as an environment (for a model named at the
    /// top of a training run).
    fn top_env(&self) -> Env {
        Env { values: self.constants.clone(), written: Default::default(), module: None }
    }

    /// Whether a step calls a `model` item rather than a built-in layer
    /// (looked up in the module of an imported model, else in the file).
    fn is_model_call(&self, expr: &Expr, env: &Env) -> bool {
        let name = match &expr.kind {
            ExprKind::Call(call) => call.callee.dotted(),
            ExprKind::Path(path) => path.dotted(),
            _ => return false,
        };
        if layers::is_layer(&name) {
            return false;
        }
        match &env.module {
            Some(program) => module_model(program, &name).is_some(),
            None => self.scope.lookup(&name).is_some_and(|(_, s)| s.kind == Kind::Model),
        }
    }

    // -- running shapes through layers -------------------------------------------------

    pub(super) fn run(&mut self, layers: &[Layer], mut shape: Shape, built: &mut Built) -> Option<Shape> {
        for layer in layers {
            shape = self.entry(&layer.entry, &layer.env, shape, built)?;
        }
        Some(shape)
    }

    fn entry(&mut self, entry: &Entry, env: &Rc<Env>, shape: Shape, built: &mut Built) -> Option<Shape> {
        match &entry.kind {
            EntryKind::Step { expr, .. } if self.is_model_call(expr, env) => {
                // A model used as a block of layers: its layers, in place.
                let (name, args): (String, &[Arg]) = match &expr.kind {
                    ExprKind::Call(call) => (call.callee.dotted(), &call.args),
                    ExprKind::Path(path) => (path.dotted(), &[]),
                    _ => return None,
                };
                // Models using each other in a cycle are reported by the
                // graph check; here the expansion just stops.
                if self.expanding >= 16 {
                    return None;
                }
                self.expanding += 1;
                let out =
                    self.named_model(&name, args, expr.span, 1, env).and_then(|layers| self.run(&layers, shape, built));
                self.expanding -= 1;
                out
            }
            EntryKind::Step { expr, alias } => {
                let (out, kind) = self.layer(expr, env, &shape)?;
                built.summary.push(format!("{}: {shape} -> {out}", crate::format::format_expr(expr)));
                self.layer_shapes.push((expr.span, format!("{shape} -> {out}")));
                let name = alias.as_ref().map(|a| a.name.clone());
                built.layers.push(ModelLayer { name, kind, input: shape, output: out.clone() });
                Some(out)
            }
            EntryKind::Nested { name, body, alias, .. } if name.dotted() == "residual" => {
                let inner: Vec<Layer> = body
                    .entries
                    .iter()
                    .map(|e| Layer { entry: e.clone(), env: env.clone(), pretrained: false })
                    .collect();
                let mut body_built = Built::default();
                let out = self.run(&inner, shape.clone(), &mut body_built)?;
                if out != shape {
                    self.errors.push(Mistake::ShapeMismatch.at(
                        name.span,
                        format!("a residual block must keep its shape, but it turns {shape} into {out}"),
                        "input and output are added",
                        "keep the channels and size inside the block (`padding: same`, the same number of filters)",
                    ));
                    return None;
                }
                built.summary.push(format!("residual: {shape} -> {out}"));
                self.layer_shapes.push((name.span, format!("{shape} -> {out}")));
                built.summary.extend(body_built.summary.iter().map(|l| format!("    {l}")));
                let layer_name = alias.as_ref().map(|a| a.name.clone());
                let kind = LayerKind::Residual(body_built.layers);
                built.layers.push(ModelLayer { name: layer_name, kind, input: shape, output: out.clone() });
                Some(out)
            }
            EntryKind::For { var, iter, body } => self.for_loop(var, iter, body, env, shape, built),
            _ => Some(shape),
        }
    }

    fn for_loop(
        &mut self,
        var: &Ident,
        iter: &Expr,
        body: &Block,
        env: &Rc<Env>,
        mut shape: Shape,
        built: &mut Built,
    ) -> Option<Shape> {
        let values: Vec<Value> = match (&iter.kind, eval(iter, &env.values)) {
            (_, Value::List(items)) => items.into_iter().map(|(v, _)| v).collect(),
            (ExprKind::Binary { op: BinaryOp::Range, lhs, rhs }, _) => {
                let (a, b) = (eval(lhs, &env.values).as_i64()?, eval(rhs, &env.values).as_i64()?);
                // Count before building: the range may be huge.
                let count = b.saturating_sub(a).saturating_add(1).max(0) as usize;
                if count > MAX_REPEATS {
                    let message = format!("a loop in a model repeats {count} times; at most {MAX_REPEATS} are checked");
                    self.errors.push(Mistake::OutOfRange.at(
                        env.origin(iter),
                        &message,
                        "too many repetitions",
                        "a model this deep is almost surely a mistake in the range",
                    ));
                    return None;
                }
                (a..=b).map(Value::Int).collect()
            }
            // A loop over one value would build nothing, silently.
            (_, value) => {
                let what = match value {
                    Value::Int(_) | Value::Float(_) => "a number",
                    Value::Str(_) => "a string",
                    Value::Bool(_) => "a boolean",
                    Value::Name(_) => "a name",
                    Value::List(_) | Value::Other => "a value not known before the run",
                };
                self.errors.push(Mistake::WrongType.at(
                    env.origin(iter),
                    format!("`for {} in ...` goes over a list or a range, and this is {what}", var.name),
                    "not a list",
                    "give a list, as in `hidden: [64, 64]` (one element per repetition)",
                ));
                return None;
            }
        };
        let origin = env.origin(iter);
        // Nested loops multiply: one budget for the whole model.
        self.unrolled = self.unrolled.saturating_add(values.len().saturating_mul(body.entries.len()));
        if values.len() > MAX_REPEATS || self.unrolled > MAX_UNROLLED {
            let message =
                format!("a loop in a model repeats {} times; at most {MAX_REPEATS} are checked", values.len());
            self.errors.push(Mistake::OutOfRange.at(
                origin,
                &message,
                "too many repetitions",
                "a model this deep is almost surely a mistake in the range",
            ));
            return None;
        }
        for value in values {
            let mut inner = (**env).clone();
            inner.values.insert(var.name.clone(), value);
            // Each element was written in the list given for the loop.
            inner.written.insert(var.name.clone(), origin);
            let inner = Rc::new(inner);
            for entry in &body.entries {
                shape = self.entry(entry, &inner, shape, built)?;
            }
        }
        Some(shape)
    }

    /// One layer call: its arguments, output shape and IR, by the layer's
    /// declaration.
    fn layer(&mut self, expr: &Expr, env: &Env, shape: &Shape) -> Option<(Shape, LayerKind)> {
        let (name, args): (String, &[Arg]) = match &expr.kind {
            ExprKind::Call(call) => (call.callee.dotted(), &call.args),
            ExprKind::Path(path) => (path.dotted(), &[]),
            _ => return None,
        };
        // The resolver reports names that are no layer.
        let declared = layers::layer_named(&name)?;
        // The first layer takes the encoded columns or the tokens; only
        // `embedding` reads them.
        let codes = std::mem::take(&mut self.codes);
        let tokens = self.tokens.take();
        if !codes.is_empty() && declared.name != "embedding" {
            self.errors.push(codes_unread(&codes, &format!("it starts with `{name}`"), self.model_span));
            return None;
        }
        if tokens.is_some() && declared.name != "embedding" {
            self.errors.push(tokens_unread(&format!("it starts with `{name}`"), self.model_span));
            return None;
        }
        let before = self.errors.len();
        let args = bind(&name, declared.params, args, expr.span, &mut self.errors);
        if self.errors.len() > before {
            return None;
        }
        let values = env.values();
        let mut call = layers::LayerCall {
            name: declared.name,
            span: expr.span,
            args: &args,
            values: &values,
            input: shape,
            codes: &codes,
            tokens,
            errors: &mut self.errors,
        };
        (declared.rule)(&mut call)
    }

    /// The last layer's width must match the target: one unit per class for
    /// `cross_entropy`, one for `mse`/`mae`/`binary_cross_entropy`.
    fn output_fits(&mut self, output: &Shape, target: &crate::schema::Column, loss: Option<&str>, model_span: Span) {
        let discrete = matches!(target.dtype, DType::Cat(_) | DType::Str | DType::Bool | DType::I64);
        let loss = match loss {
            Some(name) => match crate::ir::Loss::from_name(name) {
                Some(loss) => loss,
                // Reported where the settings are checked.
                None => return,
            },
            None if discrete => crate::ir::Loss::CrossEntropy,
            None => crate::ir::Loss::Mse,
        };
        let per_class = loss.one_output_per_class();
        let wanted = if per_class { sorted_levels(target).len() } else { 1 };
        let Shape::Flat(width) = output else {
            self.errors.push(layers::flat_needed("the loss", output, model_span));
            return;
        };
        if wanted >= 1 && *width != wanted {
            let what = if per_class { format!("{wanted} classes") } else { "one value".into() };
            self.errors.push(Mistake::ShapeMismatch.at(
                model_span,
                format!("the model ends with {width} outputs, but `{}` has {what}", target.name),
                format!("{width} outputs"),
                if per_class {
                    format!("end the model with `dense({wanted})`: one output per class of `{}`", target.name)
                } else {
                    "end the model with `dense(1)`".into()
                },
            ));
        }
    }
}

/// The values a tensor of `shape` holds, per sample.
/// The encoded columns among a frame's features (every column but the
/// target), with their positions among them.
fn encoded_columns(schema: &Schema, target: &str) -> Vec<ir::EmbeddingTable> {
    let features = schema.columns.iter().filter(|c| c.name != target);
    features
        .enumerate()
        .filter_map(|(position, c)| match c.dtype {
            DType::Codes(ids) => Some(ir::EmbeddingTable { column: c.name.clone(), position, ids }),
            _ => None,
        })
        .collect()
}

/// The ids of a frame's tokenized text, when it is its one feature.
fn token_ids(features: &Schema) -> Option<usize> {
    match features.columns.as_slice() {
        [only] => match only.dtype {
            DType::Tokens { ids, .. } => Some(ids),
            _ => None,
        },
        _ => None,
    }
}

/// The mistake of a model reading a tokenized text whose first layer is no
/// `embedding` (`why`: what it starts with instead).
fn tokens_unread(why: &str, span: Span) -> CheckError {
    Mistake::ShapeMismatch.at(
        span,
        format!("the model's input is a tokenized text, which only an `embedding` layer reads, but {why}"),
        "token ids are no numbers to compute with",
        "start the model with `embedding(64)`",
    )
}

/// The mistake of a model whose first layer is no `embedding` while its
/// input has encoded columns (`why`: what it starts with instead).
fn codes_unread(codes: &[ir::EmbeddingTable], why: &str, span: Span) -> CheckError {
    let names: Vec<String> = codes.iter().take(3).map(|t| format!("`{}`", t.column)).collect();
    let more = if codes.len() > 3 { format!(" and {} more", codes.len() - 3) } else { String::new() };
    Mistake::ShapeMismatch.at(
        span,
        format!(
            "the model's input has encoded column{} {}{more}, which only an `embedding` layer reads, but {why}",
            if codes.len() == 1 { "" } else { "s" },
            names.join(", ")
        ),
        "encoded ids are no numbers to compute with",
        "start the model with `embedding(8)`, or one-hot the columns (`onehot(...)`) instead of encoding them",
    )
}

fn shape_values(shape: &Shape) -> u64 {
    shape.values()
}

/// What running layers builds: their IR and their one-line summaries.
#[derive(Default)]
pub(super) struct Built {
    pub(super) layers: Vec<ModelLayer>,
    pub(super) summary: Vec<String>,
}

/// `... |> freeze(until: name)`: the last freeze of a model expression,
/// following names of models defined by expressions.
fn frozen_until(model: &Expr, items: &[Item], scope: &Scope, depth: usize) -> Option<String> {
    match &model.kind {
        ExprKind::Pipeline { input, stages } => {
            // The last `freeze` or `unfreeze` of the chain decides:
            // `unfreeze()` makes every layer train again.
            let last = stages.iter().rev().find_map(|stage| {
                let ExprKind::Call(call) = &stage.kind else { return None };
                match call.callee.dotted().as_str() {
                    "unfreeze" => Some(None),
                    "freeze" => Some(call.args.iter().find_map(|a| match &a.value.kind {
                        _ if a.name.as_ref().is_none_or(|n| n.name != "until") => None,
                        ExprKind::Path(p) => Some(p.dotted()),
                        // A layer's index (names cannot start with a digit).
                        ExprKind::Number(n) if n.is_int && n.unit.is_none() => Some(n.text.clone()),
                        _ => None,
                    })),
                    _ => None,
                }
            });
            match last {
                Some(decided) => decided,
                None => frozen_until(input, items, scope, depth + 1),
            }
        }
        ExprKind::Path(path) if depth < 16 => {
            let (_, symbol) = scope.lookup(&path.dotted())?;
            match &items.get(symbol.item)?.kind {
                ItemKind::Model(ModelItem { body: ModelBody::Expr(expr), .. }) if symbol.definition.is_none() => {
                    frozen_until(expr, items, scope, depth + 1)
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn path_name(expr: &Expr) -> Option<String> {
    match &expr.kind {
        ExprKind::Path(p) => Some(p.dotted()),
        _ => None,
    }
}

fn layer_name(entry: &Entry) -> Option<String> {
    match &entry.kind {
        EntryKind::Step { expr: Expr { kind: ExprKind::Call(call), .. }, .. } => Some(call.callee.dotted()),
        EntryKind::Step { expr: Expr { kind: ExprKind::Path(path), .. }, .. } => Some(path.dotted()),
        _ => None,
    }
}

fn has_named_layer(layers: &[Layer], name: &str) -> bool {
    fn in_entry(entry: &Entry, name: &str) -> bool {
        match &entry.kind {
            EntryKind::Step { alias, .. } | EntryKind::Nested { alias, .. }
                if alias.as_ref().is_some_and(|a| a.name == name) =>
            {
                true
            }
            EntryKind::Nested { body, .. } | EntryKind::For { body, .. } => {
                body.entries.iter().any(|e| in_entry(e, name))
            }
            _ => false,
        }
    }
    layers.iter().any(|l| in_entry(&l.entry, name))
}
