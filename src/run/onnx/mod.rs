//! `pipe export RUN_DIR -o model.onnx`: one ONNX graph from the raw input
//! columns (numbers as doubles, text as strings, each `[N, 1]`, as `pipe
//! predict` reads them) through the steps the run's data went through
//! after its split, with the numbers its transforms learned, to the
//! model and its answer: `prediction` (class names as strings, or numbers)
//! and, for classes, `probabilities` (`[N, classes]`, in the run's class
//! order). Opset 17 and `ai.onnx.ml` 3.
//!
//! Each step is lowered as `pipe` computes it (scalers in doubles, a
//! missing number as NaN, an unseen or missing level as a row of zeros);
//! a step or layer with no lowering here is refused, by name, before
//! anything is written.

mod layers;
pub mod proto;
mod steps;

use std::collections::HashMap;
use std::path::Path;

use proto::{Attr, Data, Elem, Graph, Node, Tensor, Value};

use crate::ir::{Loss, Program, Task};
use crate::run::error::{RunError, RunResult};
use crate::run::predict::{Predictor, SavedRun, Stage, layers as stages_of};
use crate::run::write;
use crate::schema::DType;
use crate::source::Span;

/// What an ONNX export wrote.
pub struct Written {
    /// The file.
    pub path: std::path::PathBuf,
    /// Its graph inputs (the raw columns).
    pub inputs: usize,
    /// Its nodes.
    pub nodes: usize,
}

fn refuse(message: impl Into<String>, help: &str) -> RunError {
    RunError::Export { message: message.into(), help: help.to_owned() }
}

/// Writes the run's whole prediction, from raw columns, as an ONNX file.
pub fn export(saved: SavedRun, program: &Program, out: &Path) -> RunResult<Written> {
    if out.exists() && !ours(out) {
        return Err(refuse(
            format!("{} exists, and `pipe export` did not write it", out.display()),
            "choose another `-o`, or move the file away: an export replaces only its own files",
        ));
    }
    let predictor = Predictor::open(saved.on_cpu(), program.clone())?;
    let mut builder = Builder::default();
    for column in predictor.input_columns() {
        // The graph's own names: outputs, and values under `pipe/`.
        if ["prediction", "probabilities"].contains(&column.name.as_str()) || column.name.starts_with("pipe/") {
            return Err(refuse(
                format!("the input column `{}` has a name the graph keeps for itself", column.name),
                "rename the column before the split (`rename(...)`): `prediction`, `probabilities` and names starting `pipe/` are the graph's",
            ));
        }
        let elem = match &column.dtype {
            DType::I64 | DType::F64 | DType::Bool => Elem::F64,
            DType::Str | DType::Cat(_) => Elem::Str,
            // An image as the run reads it: resized, values in [0, 1].
            DType::Image([c, h, w]) => {
                builder.image(&column.name, [*c, *h, *w]);
                continue;
            }
            other => {
                return Err(refuse(
                    format!("the input column `{}` is {other}, which the ONNX export does not take", column.name),
                    "export runs on columns of numbers and text",
                ));
            }
        };
        builder.input(&column.name, elem);
    }
    let (program, train, fitted, trained) = predictor.parts();
    let (_, stages) = stages_of(&train.data);
    for stage in &stages {
        match stage {
            Stage::Ops(frame) => {
                for op in &frame.ops {
                    steps::op(&mut builder, op, None)?;
                }
            }
            Stage::Transform(id) => {
                let item =
                    program.items.get(*id).and_then(Option::as_ref).ok_or_else(|| refuse("a lost transform", ""))?;
                let crate::ir::ItemKind::Transform { steps, .. } = &item.kind else { continue };
                let learned =
                    fitted.iter().find(|(n, _)| *n == item.name).map(|(_, f)| f).ok_or_else(|| {
                        refuse(format!("the run folder has no saved numbers for `{}`", item.name), "")
                    })?;
                for (op, f) in steps.iter().zip(learned) {
                    steps::op(&mut builder, op, Some(f))?;
                }
            }
        }
    }
    let features = builder.features(&trained.meta.features)?;
    layers::supported(&train.model)?;
    // Embedding tables are read apart: the rest by PyTorch's names, with
    // each embedding layer standing in as a layer without parameters.
    let mut tables = HashMap::new();
    let mut rest = train.model.clone();
    for (i, layer) in rest.layers.iter_mut().enumerate() {
        if let crate::ir::LayerKind::Embedding { tables: coded, .. } = &layer.kind {
            let read = (0..coded.len()).map(|t| trained.net.embedding_table(i, t)).collect::<Option<Vec<_>>>();
            tables.insert(i, read.ok_or_else(|| refuse("the embedding's tables could not be read", ""))?);
            layer.kind = crate::ir::LayerKind::Dropout(0.0);
        }
    }
    let values = trained
        .net
        .torch_values(&rest)
        .map_err(|reason| refuse(format!("this model has no form to export: {reason}"), layers::LOWERED))?;
    let logits = layers::model(&mut builder, &train.model, values, &tables, features)?;
    answer(&mut builder, train.settings.loss, train.task, trained, logits)?;
    let bytes = proto::model(&builder.graph, concat!("pipe ", env!("CARGO_PKG_VERSION")));
    write::bytes(out, &bytes).map_err(|reason| RunError::Write {
        path: out.display().to_string(),
        reason,
        span: Span::default(),
    })?;
    Ok(Written { path: out.to_path_buf(), inputs: builder.graph.inputs.len(), nodes: builder.graph.nodes.len() })
}

/// Whether an existing file is an export of `pipe`'s: a model whose first
/// field is its IR version and whose producer (field 2) starts `pipe `.
fn ours(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else { return false };
    // Field 2, length-delimited: tag 0x12, a one-byte length, the name.
    bytes.first() == Some(&0x08) && bytes.windows(7).take(64).any(|w| w[0] == 0x12 && &w[2..] == b"pipe ")
}

/// The model's outputs as the run answers: class names and probabilities,
/// or numbers in the target's units.
fn answer(
    b: &mut Builder,
    loss: Loss,
    task: Task,
    trained: &crate::run::training::Trained,
    logits: String,
) -> RunResult<()> {
    match task {
        Task::Regression => {
            let mut y = logits;
            if let Some(scale) = trained.meta.target_scale {
                let factor = b.constant_f32(&[scale.scale as f32], &[1]);
                let shift = b.constant_f32(&[scale.shift as f32], &[1]);
                let scaled = b.node("Mul", vec![y, factor], vec![]);
                y = b.node("Add", vec![scaled, shift], vec![]);
            }
            b.output_as(y, "prediction", Elem::F32, vec![None, Some(1)]);
        }
        Task::Classification => {
            let classes = trained.meta.classes.clone().unwrap_or_default();
            let (probabilities, index) = match loss {
                Loss::BinaryCrossEntropy if classes.len() == 2 => {
                    // One output: the second class's probability; it is
                    // chosen above 0.5.
                    let p = b.node("Sigmoid", vec![logits], vec![]);
                    let one = b.constant_f32(&[1.0], &[1]);
                    let q = b.node("Sub", vec![one, p.clone()], vec![]);
                    let both = b.node("Concat", vec![q, p.clone()], vec![Attr::Int("axis", 1)]);
                    let half = b.constant_f32(&[0.5], &[1]);
                    let above = b.node("Greater", vec![p, half], vec![]);
                    let index = b.node("Cast", vec![above], vec![Attr::Int("to", Elem::I64 as i64)]);
                    let flat = b.constant_i64(&[-1], &[1]);
                    (both, b.node("Reshape", vec![index, flat], vec![]))
                }
                _ => {
                    let p = b.node("Softmax", vec![logits.clone()], vec![Attr::Int("axis", 1)]);
                    let index = b.node("ArgMax", vec![logits], vec![Attr::Int("axis", 1), Attr::Int("keepdims", 0)]);
                    (p, index)
                }
            };
            let names = b.ml_node(
                "LabelEncoder",
                vec![index],
                vec![
                    Attr::Ints("keys_int64s", (0..classes.len() as i64).collect()),
                    Attr::Strs("values_strings", classes.clone()),
                    Attr::Str("default_string", String::new()),
                ],
            );
            b.output_as(names, "prediction", Elem::Str, vec![None]);
            b.output_as(probabilities, "probabilities", Elem::F32, vec![None, Some(classes.len() as i64)]);
        }
    }
    Ok(())
}

/// What a column is in the graph so far.
#[derive(Clone, Debug)]
pub(crate) struct Col {
    /// The value holding it, `[N, 1]`.
    value: String,
    /// Numbers (doubles) or text (strings).
    text: bool,
}

/// The graph being built, and each column's value.
#[derive(Default)]
pub(crate) struct Builder {
    graph: Graph,
    columns: HashMap<String, Col>,
    /// Image inputs (the model reads one whole).
    images: Vec<String>,
    next: usize,
}

impl Builder {
    /// A graph input for a raw column.
    fn input(&mut self, name: &str, elem: Elem) {
        self.graph.inputs.push(Value { name: name.to_owned(), elem, dims: vec![None, Some(1)] });
        self.columns.insert(name.to_owned(), Col { value: name.to_owned(), text: elem == Elem::Str });
    }

    /// A graph input for an image column: `[N, channels, height, width]`
    /// floats.
    fn image(&mut self, name: &str, [c, h, w]: [usize; 3]) {
        let dims = vec![None, Some(c as i64), Some(h as i64), Some(w as i64)];
        self.graph.inputs.push(Value { name: name.to_owned(), elem: Elem::F32, dims });
        self.images.push(name.to_owned());
    }

    /// A new value's name, under `pipe/` (no input column has one).
    fn fresh(&mut self, hint: &str) -> String {
        self.next = self.next.saturating_add(1);
        format!("pipe/{hint}_{}", self.next)
    }

    /// A node with one output; its name.
    fn node(&mut self, op: &'static str, inputs: Vec<String>, attrs: Vec<Attr>) -> String {
        let output = self.fresh(op);
        self.graph.nodes.push(Node { op, domain: "", inputs, outputs: vec![output.clone()], attrs });
        output
    }

    /// A node of `ai.onnx.ml` with one output.
    fn ml_node(&mut self, op: &'static str, inputs: Vec<String>, attrs: Vec<Attr>) -> String {
        let output = self.fresh(op);
        self.graph.nodes.push(Node { op, domain: "ai.onnx.ml", inputs, outputs: vec![output.clone()], attrs });
        output
    }

    fn constant(&mut self, data: Data, dims: &[i64]) -> String {
        let name = self.fresh("const");
        self.graph.initializers.push(Tensor { name: name.clone(), dims: dims.to_vec(), data });
        name
    }

    fn constant_f64(&mut self, values: &[f64], dims: &[i64]) -> String {
        self.constant(Data::F64(values.to_vec()), dims)
    }

    fn constant_f32(&mut self, values: &[f32], dims: &[i64]) -> String {
        self.constant(Data::F32(values.to_vec()), dims)
    }

    fn constant_i64(&mut self, values: &[i64], dims: &[i64]) -> String {
        self.constant(Data::I64(values.to_vec()), dims)
    }

    /// A column, or the error naming it.
    fn column(&self, name: &str) -> RunResult<Col> {
        self.columns.get(name).cloned().ok_or_else(|| {
            refuse(format!("the export lost the column `{name}` on the way"), "this is a bug in pipe; please report it")
        })
    }

    /// A numeric column's value, or why it cannot be one.
    fn number(&self, name: &str) -> RunResult<String> {
        let col = self.column(name)?;
        if col.text {
            return Err(refuse(format!("`{name}` is text where the export needs numbers"), ""));
        }
        Ok(col.value)
    }

    fn set(&mut self, name: &str, value: String, text: bool) {
        self.columns.insert(name.to_owned(), Col { value, text });
    }

    /// The model's input: the features in the order the model reads
    /// them, as one `[N, F]` float tensor.
    fn features(&mut self, names: &[String]) -> RunResult<String> {
        if let [only] = names
            && self.images.contains(only)
        {
            return Ok(only.clone());
        }
        let mut parts = Vec::with_capacity(names.len());
        for name in names {
            parts.push(self.number(name)?);
        }
        let joined =
            if parts.len() == 1 { parts.remove(0) } else { self.node("Concat", parts, vec![Attr::Int("axis", 1)]) };
        Ok(self.node("Cast", vec![joined], vec![Attr::Int("to", Elem::F32 as i64)]))
    }

    /// Names a value as a graph output.
    fn output_as(&mut self, value: String, name: &str, elem: Elem, dims: Vec<Option<i64>>) {
        self.graph.nodes.push(Node {
            op: "Identity",
            domain: "",
            inputs: vec![value],
            outputs: vec![name.to_owned()],
            attrs: vec![],
        });
        self.graph.outputs.push(Value { name: name.to_owned(), elem, dims });
    }
}
