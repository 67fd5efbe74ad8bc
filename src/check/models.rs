//! Shapes of models: the input a training run feeds a model (its data minus
//! the target), each layer's output shape, and the last layer's width
//! against the target (classes for `cross_entropy`, 1 for `mse`).

use std::rc::Rc;

use crate::check::args::{Param, bind, named, pos};
use crate::check::error::CheckError;
use crate::check::frames::setting;
use crate::check::ops::sorted_levels;
use crate::check::scope::{Kind, Scope};
use crate::check::value::{Constants, Value, eval};
use crate::schema::{DType, Schema};
use crate::source::Span;
use crate::suggest::closest;
use crate::syntax::ast::*;

pub use crate::ir::Shape;
use crate::ir::{self, Activation, Init, LayerKind, ModelLayer};

/// The values a model's names stand for (its parameters, loop variables),
/// with where each parameter's value was written, so a bad value is
/// reported where the user wrote it, not inside the model it flows into.
#[derive(Clone, Debug, Default)]
struct Env {
    values: Constants,
    written: std::collections::HashMap<String, Span>,
    /// For the layers of an imported model: its module, where the models it
    /// uses as blocks are found (not in the importing file).
    module: Option<Rc<crate::syntax::ast::Program>>,
}

impl Env {
    /// Where the value of `expr` was written: at a model's call site when
    /// `expr` is just a parameter's name, else `expr` itself.
    fn origin(&self, expr: &Expr) -> Span {
        match &expr.kind {
            ExprKind::Path(p) if p.parts.len() == 1 => self.written.get(&p.parts[0].name).copied().unwrap_or(expr.span),
            _ => expr.span,
        }
    }
}

/// A layer (or block entry) with the values its names stand for.
#[derive(Clone, Debug)]
struct Layer {
    entry: Entry,
    env: Rc<Env>,
    /// Whether the layer comes from a trained run (its weights start as
    /// that run's).
    pretrained: bool,
}

/// Where a model's trained layers come from, while it is being checked.
#[derive(Clone)]
enum Origin {
    /// A training run of this file.
    Run(usize),
    /// A folder written by `save:`.
    Saved(Saved),
}

/// A model loaded from a folder written by `save:`.
#[derive(Clone)]
struct Saved {
    dir: std::path::PathBuf,
    stamp: String,
    input: Shape,
    /// All its layers (the model may use fewer).
    layers: Vec<Layer>,
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

/// Initialisers `init:` accepts.
const INITS: [&str; 9] = [
    "he_normal",
    "he_uniform",
    "glorot_normal",
    "glorot_uniform",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
    "constant",
    "truncated_normal",
];

/// Checks the model of each training run against its data.
pub struct Shapes<'a> {
    items: &'a [Item],
    scope: &'a Scope,
    constants: &'a Constants,
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
    pretrained_from: Option<Origin>,
    /// `weights("file")` of the model being checked: the path and where.
    import: Option<(String, Span)>,
    /// The folder of the file being checked (where `load` paths start).
    dir: Option<std::path::PathBuf>,
    /// Models being expanded as layers of other models.
    expanding: usize,
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
        }
    }

    /// Checks the model of the training run at `index`, trained on `schema`.
    pub fn train(&mut self, index: usize, train: &TrainItem, schema: &Schema) {
        let Some(target) = setting(&train.body, "target").and_then(path_name) else { return };
        let Some(target_column) = schema.get(&target) else { return };
        let Some(input) = self.input_shape(schema, &target, train.data.span) else { return };
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
                let Some(model) = self.saved_model(&saved, &input, train.model.span) else { return };
                let from = ir::PretrainedFrom::Saved { dir: saved.dir, stamp: saved.stamp, model: Box::new(model) };
                Some(ir::Pretrained { from, layers: pretrained_layers })
            }
        };
        self.summaries.push((index, built.summary));
        let frozen_until = frozen_until(&train.model, self.items, self.scope, 0);
        let last_layer = built.layers.last().and_then(|l| l.name.as_deref());
        let frozen_index = frozen_until.as_deref().and_then(|u| u.parse::<usize>().ok());
        if let Some(index) = frozen_index.filter(|i| *i >= built.layers.len()) {
            self.errors.push(bad(
                train.model.span,
                &format!("`freeze(until: {index})` is past the last layer (the model has {})", built.layers.len()),
                "no such layer",
                "layers count from 0, in the order `pipe check --explain` lists them",
            ));
            return;
        }
        let all = frozen_until.is_some()
            && (frozen_until.as_deref() == last_layer || frozen_index == Some(built.layers.len().saturating_sub(1)));
        if all {
            self.errors.push(bad(
                train.model.span,
                "every layer of this model is frozen: training would change nothing",
                "all frozen",
                "freeze up to a layer before the head (`freeze(until: features)`), or add a new head with `replace_head`",
            ));
            return;
        }
        let model = ir::Model { layers: built.layers, input, output: output.clone(), frozen_until, pretrained };
        self.models.push((index, model));
        let loss = setting(&train.body, "loss").and_then(path_name);
        self.output_fits(&output, target_column, loss.as_deref(), train.model.span);
    }

    /// The features a model sees: every column but the target.
    fn input_shape(&mut self, schema: &Schema, target: &str, span: Span) -> Option<Shape> {
        let features: Vec<_> = schema.columns.iter().filter(|c| c.name != target).collect();
        if let [only] = features.as_slice()
            && let DType::Image(shape) = only.dtype
        {
            return Some(Shape::Image(shape));
        }
        for column in &features {
            if !(column.dtype.is_numeric() || column.dtype == DType::Bool) {
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

    // -- saved models ----------------------------------------------------------------

    /// `load("folder")`: the layers of a model a run saved with `save:`
    /// (its `model.pipe`), marked as coming with trained weights.
    fn load(&mut self, call: &Call, span: Span) -> Option<Vec<Layer>> {
        let written = call.args.first().filter(|a| a.name.is_none()).map(|a| eval(&a.value, self.constants));
        let Some(Value::Str(written)) = written else {
            self.errors.push(bad(
                span,
                "`load` takes the folder a run saved to",
                "no folder",
                "write `load(\"models/digits\")`",
            ));
            return None;
        };
        let dir = self.dir.as_ref().map_or_else(|| std::path::PathBuf::from(&written), |d| d.join(&written));
        let unreadable = |reason: String| CheckError::SourceUnreadable { path: written.clone(), reason, span };
        let text = match std::fs::read_to_string(dir.join("model.pipe")) {
            Ok(text) => text,
            Err(e) => {
                let reason = format!("{e} (a folder written by `save:` has model.pipe and model.bpk)");
                self.errors.push(unreadable(reason));
                return None;
            }
        };
        let weights = std::fs::metadata(dir.join("model.bpk"));
        let stamp = match weights {
            Ok(meta) => format!("{} {:?}", meta.len(), meta.modified().ok()),
            Err(e) => {
                self.errors.push(unreadable(format!("model.bpk: {e}")));
                return None;
            }
        };
        let parsed = crate::syntax::parse(&text, crate::source::FileId(0));
        let program = Rc::new(parsed.program);
        let constants = crate::check::constants(&program.items);
        let input = constants.get("input").and_then(|v| match v {
            Value::List(dims) => dims.iter().map(|(d, _)| d.as_i64().map(|d| d as usize)).collect::<Option<Vec<_>>>(),
            _ => None,
        });
        let model = program.items.iter().find_map(|item| match &item.kind {
            ItemKind::Model(ModelItem { body: ModelBody::Layers(block), .. }) => Some(block.clone()),
            _ => None,
        });
        let (Some(input), Some(block), false) = (input, model, parsed.errors.iter().any(|e| e.is_error())) else {
            self.errors.push(unreadable("its model.pipe is not one `save:` wrote".into()));
            return None;
        };
        let input = match input.as_slice() {
            [n] => Shape::Flat(*n),
            [c, h, w] => Shape::Image([*c, *h, *w]),
            _ => {
                self.errors.push(unreadable("its model.pipe has no input shape".into()));
                return None;
            }
        };
        let env = Rc::new(Env { values: constants, written: Default::default(), module: Some(program) });
        let layers: Vec<Layer> =
            block.entries.iter().map(|e| Layer { entry: e.clone(), env: env.clone(), pretrained: true }).collect();
        self.pretrained_from = Some(Origin::Saved(Saved { dir, stamp, input, layers: layers.clone() }));
        Some(layers)
    }

    /// `weights("file")`: the file's tensors must be the state dict of an
    /// `nn.Sequential` of the model's layers (names and shapes; a common
    /// prefix such as `model.` is allowed).
    fn imported(&mut self, written: &str, span: Span, model: &ir::Model) -> Option<ir::PretrainedFrom> {
        let path = self.dir.as_ref().map_or_else(|| std::path::PathBuf::from(written), |d| d.join(written));
        let unreadable = |reason: String| CheckError::SourceUnreadable { path: written.to_owned(), reason, span };
        let header = match crate::files::safetensors::header(&path) {
            Ok(header) => header,
            Err(reason) => {
                self.errors.push(unreadable(reason));
                return None;
            }
        };
        let expected = match model.torch_entries() {
            Ok(expected) => expected,
            Err(reason) => {
                self.errors.push(bad(
                    span,
                    &format!("`weights` cannot map this model: {reason}"),
                    "here",
                    "import weights into models without residual blocks",
                ));
                return None;
            }
        };
        let mismatches = torch_mismatches(&expected, &header);
        if !mismatches.is_empty() {
            let shown: Vec<String> = mismatches.iter().take(8).cloned().collect();
            let more =
                if mismatches.len() > 8 { format!("; and {} more", mismatches.len() - 8) } else { String::new() };
            self.errors.push(bad(
                span,
                &format!("`{written}` does not fit this model: {}{more}", shown.join("; ")),
                "these layers",
                "save the weights of `nn.Sequential` of the same layers in the same order (`safetensors.torch.save_file(model.state_dict(), path)`)",
            ));
            return None;
        }
        let stamp =
            std::fs::metadata(&path).map(|m| format!("{} {:?}", m.len(), m.modified().ok())).unwrap_or_default();
        Some(ir::PretrainedFrom::Imported { path, stamp })
    }

    /// The whole saved network (its weights load into it), on the input it
    /// was trained on, which must be this run's.
    fn saved_model(&mut self, saved: &Saved, input: &Shape, span: Span) -> Option<ir::Model> {
        if &saved.input != input {
            self.errors.push(bad(
                span,
                &format!(
                    "the loaded model was trained on inputs of shape {}, and this data gives {input}",
                    saved.input
                ),
                "another input shape",
                "train it on data shaped like the data it was saved with",
            ));
            return None;
        }
        let mut built = Built::default();
        let output = self.run(&saved.layers, input.clone(), &mut built)?;
        Some(ir::Model { layers: built.layers, input: input.clone(), output, frozen_until: None, pretrained: None })
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

    /// `|> replace_head(layers...)` and `|> freeze(until: name)`.
    fn model_operation(&mut self, stage: &Expr, mut layers: Vec<Layer>) -> Option<Vec<Layer>> {
        let ExprKind::Call(call) = &stage.kind else { return Some(layers) };
        match call.callee.dotted().as_str() {
            "replace_head" => {
                // The head is the last dense layer and what follows it.
                let last_dense = layers.iter().rposition(|l| layer_name(&l.entry).as_deref() == Some("dense"))?;
                layers.truncate(last_dense);
                let env = Rc::new(Env { values: self.constants.clone(), written: Default::default(), module: None });
                for arg in call.args.iter().filter(|a| a.name.is_none()) {
                    let entry =
                        Entry { kind: EntryKind::Step { expr: arg.value.clone(), alias: None }, span: arg.value.span };
                    layers.push(Layer { entry, env: env.clone(), pretrained: false });
                }
                Some(layers)
            }
            "freeze" => {
                let until = call.args.iter().find(|a| a.name.as_ref().is_some_and(|n| n.name == "until"));
                match until.map(|a| (&a.value.kind, a.value.span)) {
                    None => self.errors.push(CheckError::MissingArgument {
                        operation: "freeze".into(),
                        name: "until".into(),
                        span: stage.span,
                    }),
                    Some((ExprKind::Path(p), span)) if !has_named_layer(&layers, &p.dotted()) => {
                        self.errors.push(CheckError::BadArgument {
                            message: format!("the model has no layer named `{}`", p.dotted()),
                            span,
                            label: "no such layer".into(),
                            help: "name a layer with `as`, as in `flatten() as features`".into(),
                        })
                    }
                    Some((ExprKind::Path(_), _)) => {}
                    Some((ExprKind::Number(n), _)) if n.is_int && n.unit.is_none() => {}
                    Some((_, span)) => self.errors.push(bad(
                        span,
                        "`freeze(until: ...)` names a layer or gives its index",
                        "not a layer name",
                        "name a layer with `as`, as in `flatten() as features`, then `freeze(until: features)`",
                    )),
                }
                Some(layers)
            }
            "weights" => {
                let path = call.args.first().filter(|a| a.name.is_none()).map(|a| eval(&a.value, self.constants));
                match path {
                    Some(Value::Str(path)) if call.args.len() == 1 => self.import = Some((path, stage.span)),
                    _ => self.errors.push(bad(
                        stage.span,
                        "`weights` takes the path of a safetensors file",
                        "no path",
                        "write `weights(\"model.safetensors\")`",
                    )),
                }
                Some(layers)
            }
            "unfreeze" => {
                if let Some(arg) = call.args.first() {
                    self.errors.push(bad(
                        arg.value.span,
                        "`unfreeze()` takes no arguments: it makes every layer train again",
                        "not taken",
                        "write `unfreeze()`, or `freeze(until: name)` for a shorter frozen part",
                    ));
                }
                Some(layers)
            }
            _ => Some(layers),
        }
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
        if crate::check::builtins::LAYERS.contains(&name.as_str()) {
            return false;
        }
        match &env.module {
            Some(program) => module_model(program, &name).is_some(),
            None => self.scope.lookup(&name).is_some_and(|(_, s)| s.kind == Kind::Model),
        }
    }

    // -- running shapes through layers -------------------------------------------------

    fn run(&mut self, layers: &[Layer], mut shape: Shape, built: &mut Built) -> Option<Shape> {
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
                    self.errors.push(bad(
                        name.span,
                        &format!("a residual block must keep its shape, but it turns {shape} into {out}"),
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
                    self.errors.push(bad(
                        env.origin(iter),
                        &message,
                        "too many repetitions",
                        "a model this deep is almost surely a mistake in the range",
                    ));
                    return None;
                }
                (a..=b).map(Value::Int).collect()
            }
            _ => return Some(shape),
        };
        let origin = env.origin(iter);
        // Nested loops multiply: one budget for the whole model.
        self.unrolled = self.unrolled.saturating_add(values.len().saturating_mul(body.entries.len()));
        if values.len() > MAX_REPEATS || self.unrolled > MAX_UNROLLED {
            let message =
                format!("a loop in a model repeats {} times; at most {MAX_REPEATS} are checked", values.len());
            self.errors.push(bad(
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

    /// One layer call: its arguments, output shape and IR.
    fn layer(&mut self, expr: &Expr, env: &Env, shape: &Shape) -> Option<(Shape, LayerKind)> {
        let (name, args): (String, &[Arg]) = match &expr.kind {
            ExprKind::Call(call) => (call.callee.dotted(), &call.args),
            ExprKind::Path(path) => (path.dotted(), &[]),
            _ => return None,
        };
        let params: &[Param] = match name.as_str() {
            "dense" => &[pos("units", true), named("init")],
            "conv" => &[pos("filters", true), named("kernel"), named("stride"), named("padding"), named("init")],
            "maxpool" | "avgpool" => &[pos("size", true), named("stride")],
            "dropout" => &[pos("rate", true)],
            "leaky_relu" => &[pos("slope", false)],
            "elu" => &[pos("alpha", false)],

            "embedding" => &[pos("vocabulary", true), pos("dim", true)],
            "normalize" => &[named("mean"), named("std")],
            // The resolver reports names that are no layer.
            _ if !crate::check::builtins::is_layer(&name) => return None,
            _ => &[],
        };
        let b = bind(&name, params, args, expr.span, &mut self.errors);
        // A value and where it was written.
        let value = |param: &str| b.expr(param).map(|e| (eval(e, &env.values), env.origin(e)));
        let int = |param: &str, errors: &mut Vec<CheckError>| -> Option<usize> {
            let (value, span) = value(param)?;
            match value.as_i64() {
                Some(n) if n >= 1 => Some(n as usize),
                _ => {
                    errors.push(positive(param, &name, span, &value));
                    None
                }
            }
        };
        let init = match (value("init"), b.expr("init")) {
            (Some((init, span)), Some(expr)) => Some(self.init(&init, expr, env, span)?),
            _ => None,
        };
        let kind = match name.as_str() {
            "dense" => {
                let units = int("units", &mut self.errors)?;
                if let Shape::Image(_) = shape {
                    self.errors.push(flat_needed("dense", shape, expr.span));
                    return None;
                }
                return Some((Shape::Flat(units), LayerKind::Dense { units, init }));
            }
            "conv" => {
                let filters = int("filters", &mut self.errors)?;
                let kernel = if b.expr("kernel").is_some() { int("kernel", &mut self.errors)? } else { 3 };
                let stride = if b.expr("stride").is_some() { int("stride", &mut self.errors)? } else { 1 };
                let same = match value("padding") {
                    None => false,
                    Some((Value::Name(p), _)) if p == "same" => true,
                    Some((Value::Name(p), _)) if p == "valid" => false,
                    Some((_, span)) => {
                        self.errors.push(bad(
                            span,
                            "`padding` is `same` or `valid`",
                            "unknown padding",
                            "`same` keeps the size, `valid` shrinks it by the kernel",
                        ));
                        return None;
                    }
                };
                let out = self.conv(shape, filters, kernel, stride, same, expr.span)?;
                return Some((out, LayerKind::Conv { filters, kernel, stride, same, init }));
            }
            "maxpool" | "avgpool" => {
                let size = int("size", &mut self.errors)?;
                let stride = if b.expr("stride").is_some() { int("stride", &mut self.errors)? } else { size };
                let out = self.pool(&name, shape, size, stride, expr.span)?;
                let kind = if name == "maxpool" {
                    LayerKind::MaxPool { size, stride }
                } else {
                    LayerKind::AvgPool { size, stride }
                };
                return Some((out, kind));
            }
            "global_avgpool" => match shape {
                Shape::Image([c, _, _]) => return Some((Shape::Flat(*c), LayerKind::GlobalAvgPool)),
                Shape::Flat(_) => {
                    self.errors.push(image_needed("global_avgpool", shape, expr.span));
                    return None;
                }
            },
            "flatten" => {
                let out = match shape {
                    Shape::Image([c, h, w]) => match c.checked_mul(*h).and_then(|n| n.checked_mul(*w)) {
                        Some(n) => Shape::Flat(n),
                        None => {
                            self.errors.push(bad(
                                expr.span,
                                "this image is too large to flatten",
                                &format!("input {shape}"),
                                "use smaller images or pool first",
                            ));
                            return None;
                        }
                    },
                    flat => flat.clone(),
                };
                return Some((out, LayerKind::Flatten));
            }
            "dropout" => {
                let (value, span) = value("rate")?;
                match value.as_f64() {
                    Some(p) if (0.0..1.0).contains(&p) => LayerKind::Dropout(p),
                    _ => {
                        self.errors.push(bad(
                            span,
                            "a dropout rate is in [0, 1)",
                            &format!("this is {}", show(&value)),
                            "the rate is the fraction of units dropped, as in `dropout(0.5)`",
                        ));
                        return None;
                    }
                }
            }
            // Embeddings need integer-coded categorical inputs, which the
            // data stages do not produce yet: refused, not skipped.
            "embedding" => {
                self.errors.push(CheckError::Unsupported {
                    message: "`embedding` layers cannot run yet: pipe has no integer-coded categorical inputs for them"
                        .into(),
                    span: expr.span,
                    label: "not built yet".into(),
                    help: "encode categories with `onehot(cols)` in a transform and start the model with `dense(...)`"
                        .into(),
                });
                return None;
            }
            "batchnorm" => LayerKind::BatchNorm,
            "layernorm" => LayerKind::LayerNorm,
            "normalize" => {
                let channels = match shape {
                    Shape::Image([c, _, _]) => *c,
                    Shape::Flat(n) => *n,
                };
                let list = |param: &str, errors: &mut Vec<CheckError>, positive: bool| -> Option<Vec<f64>> {
                    let Some((value, span)) = value(param) else {
                        errors.push(CheckError::MissingArgument {
                            operation: "normalize".into(),
                            name: param.into(),
                            span: expr.span,
                        });
                        return None;
                    };
                    let numbers: Option<Vec<f64>> = match &value {
                        Value::List(items) => items.iter().map(|(v, _)| v.as_f64()).collect(),
                        v => v.as_f64().map(|x| vec![x]),
                    };
                    match numbers {
                        Some(n) if (n.len() == 1 || n.len() == channels) && n.iter().all(|x| !positive || *x > 0.0) => {
                            Some(n)
                        }
                        found => {
                            let message = match found {
                                Some(n) if n.len() != 1 && n.len() != channels => format!(
                                    "`{param}` gives {} values for {channels} channel{}: give one, or one per channel",
                                    n.len(),
                                    if channels == 1 { "" } else { "s" }
                                ),
                                _ if positive => format!("`{param}` is positive: one number, or one per channel"),
                                _ => format!("`{param}` is one number, or one per channel"),
                            };
                            errors.push(bad(
                                span,
                                &message,
                                &format!("this is {}", show(&value)),
                                "write `normalize(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])`",
                            ));
                            None
                        }
                    }
                };
                let mean = list("mean", &mut self.errors, false)?;
                let std = list("std", &mut self.errors, true)?;
                LayerKind::Normalize { mean, std }
            }
            other => {
                let number = |param: &str, default: f64| value(param).and_then(|(v, _)| v.as_f64()).unwrap_or(default);
                LayerKind::Activation(match other {
                    "relu" => Activation::Relu,
                    "leaky_relu" => Activation::LeakyRelu(number("slope", 0.01)),
                    "elu" => Activation::Elu(number("alpha", 1.0)),
                    "gelu" => Activation::Gelu,
                    "sigmoid" => Activation::Sigmoid,
                    "tanh" => Activation::Tanh,
                    "softmax" => Activation::Softmax,
                    _ => return None,
                })
            }
        };
        Some((shape.clone(), kind))
    }

    fn conv(
        &mut self,
        shape: &Shape,
        filters: usize,
        kernel: usize,
        stride: usize,
        same: bool,
        span: Span,
    ) -> Option<Shape> {
        let Shape::Image([_, h, w]) = *shape else {
            self.errors.push(image_needed("conv", shape, span));
            return None;
        };
        let size =
            |n: usize| if same { n.div_ceil(stride) } else { n.checked_sub(kernel).map_or(0, |d| d / stride + 1) };
        let (oh, ow) = (size(h), size(w));
        if oh == 0 || ow == 0 {
            self.errors.push(bad(
                span,
                &format!("a {kernel}x{kernel} kernel does not fit a {h}x{w} image"),
                &format!("input {shape}"),
                "use `padding: same`, a smaller kernel, or fewer pooling layers before it",
            ));
            return None;
        }
        Some(Shape::Image([filters, oh, ow]))
    }

    fn pool(&mut self, name: &str, shape: &Shape, size: usize, stride: usize, span: Span) -> Option<Shape> {
        let Shape::Image([c, h, w]) = *shape else {
            self.errors.push(image_needed(name, shape, span));
            return None;
        };
        if h < size || w < size {
            self.errors.push(bad(
                span,
                &format!("a {size}x{size} pool does not fit a {h}x{w} image"),
                &format!("input {shape}"),
                "pool less, or use larger images (`size:` of the source)",
            ));
            return None;
        }
        Some(Shape::Image([c, (h - size) / stride + 1, (w - size) / stride + 1]))
    }

    /// An initialiser: a name, or `constant(v)` / `truncated_normal(mean:, std:)`.
    fn init(&mut self, init: &Value, expr: &Expr, env: &Env, span: Span) -> Option<Init> {
        let (name, args): (String, &[Arg]) = match (init, &expr.kind) {
            (Value::Name(n), _) => (n.clone(), &[]),
            (_, ExprKind::Call(call)) => (call.callee.dotted(), &call.args),
            _ => (String::new(), &[]),
        };
        let number = |param: &str, position: usize, default: f64| {
            let by_name = args.iter().find(|a| a.name.as_ref().is_some_and(|n| n.name == param));
            let arg = by_name.or_else(|| args.get(position).filter(|a| a.name.is_none()));
            arg.and_then(|a| eval(&a.value, &env.values).as_f64()).unwrap_or(default)
        };
        Some(match name.as_str() {
            "he_normal" => Init::HeNormal,
            "he_uniform" => Init::HeUniform,
            "glorot_normal" | "xavier_normal" => Init::GlorotNormal,
            "glorot_uniform" | "xavier_uniform" => Init::GlorotUniform,
            "zeros" => Init::Zeros,
            "constant" => Init::Constant(number("value", 0, 0.0)),
            "truncated_normal" => {
                let std = number("std", 1, 0.05);
                if std <= 0.0 {
                    self.errors.push(bad(
                        span,
                        "`std` of `truncated_normal` must be greater than 0",
                        "not a spread",
                        "write `truncated_normal(std: 0.1)`",
                    ));
                    return None;
                }
                Init::TruncatedNormal { mean: number("mean", 0, 0.0), std }
            }
            _ => {
                let help = closest(&name, INITS).map_or_else(
                    || format!("the initialisers are {}", INITS.join(", ")),
                    |n| format!("did you mean `{n}`?"),
                );
                self.errors.push(bad(span, "unknown initialiser", "not an initialiser", &help));
                return None;
            }
        })
    }

    /// The last layer's width must match the target: one unit per class for
    /// `cross_entropy`, one for `mse`/`mae`/`binary_cross_entropy`.
    fn output_fits(&mut self, output: &Shape, target: &crate::schema::Column, loss: Option<&str>, model_span: Span) {
        let discrete = matches!(target.dtype, DType::Cat(_) | DType::Str | DType::Bool | DType::I64);
        let loss = loss.unwrap_or(if discrete { "cross_entropy" } else { "mse" });
        let wanted = match loss {
            "cross_entropy" => sorted_levels(target).len(),
            "mse" | "mae" | "huber" | "binary_cross_entropy" => 1,
            _ => return,
        };
        let Shape::Flat(width) = output else {
            self.errors.push(flat_needed("the loss", output, model_span));
            return;
        };
        if wanted >= 1 && *width != wanted {
            let what = if loss == "cross_entropy" { format!("{wanted} classes") } else { "one value".into() };
            self.errors.push(CheckError::BadArgument {
                message: format!("the model ends with {width} outputs, but `{}` has {what}", target.name),
                span: model_span,
                label: format!("{width} outputs"),
                help: if loss == "cross_entropy" {
                    format!("end the model with `dense({wanted})`: one output per class of `{}`", target.name)
                } else {
                    "end the model with `dense(1)`".into()
                },
            });
        }
    }
}

/// What running layers builds: their IR and their one-line summaries.
#[derive(Default)]
struct Built {
    layers: Vec<ModelLayer>,
    summary: Vec<String>,
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

fn bad(span: Span, message: &str, label: &str, help: &str) -> CheckError {
    CheckError::BadArgument { message: message.into(), span, label: label.into(), help: help.into() }
}

fn show(value: &Value) -> String {
    match value {
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        other => other.described().into(),
    }
}

fn positive(param: &str, layer: &str, span: Span, value: &Value) -> CheckError {
    bad(
        span,
        &format!("`{param}` of `{layer}` is a whole number, 1 or more"),
        &format!("this is {}", show(value)),
        &format!("write `{layer}(...)` with a positive `{param}`"),
    )
}

fn flat_needed(what: &str, shape: &Shape, span: Span) -> CheckError {
    bad(
        span,
        &format!("`{what}` needs a flat input, but this is {shape}"),
        &format!("input {shape}"),
        "add `flatten()` (or `global_avgpool()`) before it",
    )
}

fn image_needed(what: &str, shape: &Shape, span: Span) -> CheckError {
    bad(
        span,
        &format!("`{what}` needs an image input [channels, height, width], but this is {shape}"),
        &format!("input {shape}"),
        "convolution and pooling work on images; tabular data goes through `dense`",
    )
}

/// What differs between the state dict a model's layers have and a file's
/// tensors: names missing from the file, shapes that differ, tensors the
/// model has no place for (batch norms' `num_batches_tracked` aside).
fn torch_mismatches(expected: &[ir::TorchEntry], header: &crate::files::safetensors::Header) -> Vec<String> {
    let prefix = expected.first().map_or_else(String::new, |first| header.prefix_of(&first.name));
    let mut out = Vec::new();
    for entry in expected {
        match header.get(&format!("{prefix}{}", entry.name)) {
            None => out.push(format!("no `{prefix}{}` {:?}", entry.name, entry.shape)),
            Some(found) if found.shape != entry.shape => {
                out.push(format!("`{prefix}{}` is {:?}, the model's is {:?}", entry.name, found.shape, entry.shape))
            }
            Some(_) => {}
        }
    }
    for found in &header.entries {
        let name = found.name.strip_prefix(&prefix).unwrap_or(&found.name);
        if !name.ends_with("num_batches_tracked") && !expected.iter().any(|e| e.name == name) {
            out.push(format!("`{}` {:?} has no layer", found.name, found.shape));
        }
    }
    out
}
