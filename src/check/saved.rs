//! Models that start from weights trained elsewhere: `load("folder")` (a
//! model a run saved with `save:`) and `|> weights("file.safetensors")`
//! (PyTorch's), checked against the model they go into.

use std::rc::Rc;

use crate::check::args::bind;
use crate::check::error::{CheckError, Mistake};
use crate::check::models::{Built, Env, LOAD, Layer, Origin, Saved, Shapes};
use crate::check::value::Value;
use crate::ir::{self, Shape};
use crate::source::Span;
use crate::syntax::ast::*;

impl Shapes<'_> {
    /// `load("folder")`: the layers of a model a run saved with `save:`
    /// (its `model.pipe`), marked as coming with trained weights.
    pub(super) fn load(&mut self, call: &Call, span: Span) -> Option<Vec<Layer>> {
        let crate::check::args::Declared { name, params, .. } = LOAD;
        let before = self.errors.len();
        let b = bind(name, params, &call.args, span, &mut self.errors);
        if self.errors.len() > before {
            return None;
        }
        let (written, written_span) = b.value("path", self.constants)?;
        let Value::Str(written) = written else {
            self.errors.push(Mistake::WrongType.at(
                written_span,
                "`load` takes the folder a run saved to, in quotes",
                format!("this is {}", crate::check::layers::show(&written)),
                "write `load(\"models/digits\")`",
            ));
            return None;
        };
        let dir = self.dir.as_ref().map_or_else(|| std::path::PathBuf::from(&written), |d| d.join(&written));
        let unreadable = |reason: String| CheckError::SourceUnreadable { path: written.clone(), reason, span };
        let model_file = dir.join("model.pipe");
        let text = match crate::files::regular_file(&model_file)
            .map_err(std::io::Error::other)
            .and_then(|()| std::fs::read_to_string(&model_file))
        {
            Ok(text) => text,
            Err(e) => {
                let reason = format!("{e} (a folder written by `save:` has model.pipe and model.bpk)");
                self.errors.push(unreadable(reason));
                return None;
            }
        };
        if let Err(damage) = crate::files::checksums::verify(&dir, &["model.pipe"]) {
            self.errors.push(unreadable(format!("{damage}; save the model again (run the pipeline with `save:`)")));
            return None;
        }
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
    pub(super) fn imported(&mut self, written: &str, span: Span, model: &ir::Model) -> Option<ir::PretrainedFrom> {
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
                self.errors.push(unsupported(
                    span,
                    &format!("`weights` cannot map this model: {reason}"),
                    "here",
                    "import weights into models without residual blocks or embeddings (their layers have no one nn.Sequential module)",
                ));
                return None;
            }
        };
        let mismatches = torch_mismatches(&expected, &header);
        if !mismatches.is_empty() {
            let shown: Vec<String> = mismatches.iter().take(8).cloned().collect();
            let more =
                if mismatches.len() > 8 { format!("; and {} more", mismatches.len() - 8) } else { String::new() };
            self.errors.push(Mistake::WeightsMismatch.at(
                span,
                format!("`{written}` does not fit this model: {}{more}", shown.join("; ")),
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
    pub(super) fn saved_model(
        &mut self,
        saved: &Saved,
        input: &Shape,
        codes: &[ir::EmbeddingTable],
        span: Span,
    ) -> Option<ir::Model> {
        if &saved.input != input {
            self.errors.push(Mistake::ShapeMismatch.at(
                span,
                format!("the loaded model was trained on inputs of shape {}, and this data gives {input}", saved.input),
                "another input shape",
                "train it on data shaped like the data it was saved with",
            ));
            return None;
        }
        let mut built = Built::default();
        // The first layer (an `embedding`) reads the input's encoded columns again.
        self.codes = codes.to_vec();
        let output = self.run(&saved.layers, input.clone(), &mut built)?;
        let model =
            ir::Model { layers: built.layers, input: input.clone(), output, frozen_until: None, pretrained: None };
        self.same_tables(&model, &saved.dir, span)?;
        Some(model)
    }

    /// An `embedding` in a saved model has tables as large as this data's
    /// encoded columns need (`model.json` records them): a table with
    /// fewer rows than ids cannot look them up.
    fn same_tables(&mut self, model: &ir::Model, dir: &std::path::Path, span: Span) -> Option<()> {
        let Some(ir::LayerKind::Embedding { tables, .. }) = model.layers.first().map(|l| &l.kind) else {
            return Some(());
        };
        let written: Option<Vec<(String, u64)>> = std::fs::read(dir.join("model.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .and_then(|json| {
                let saved = json.pointer("/layers/0/kind/Embedding/tables")?.as_array()?.clone();
                saved.iter().map(|t| Some((t.get("column")?.as_str()?.to_owned(), t.get("ids")?.as_u64()?))).collect()
            });
        let now: Vec<(String, u64)> = tables.iter().map(|t| (t.column.clone(), t.ids as u64)).collect();
        if written.as_ref() == Some(&now) {
            return Some(());
        }
        let show = |tables: &[(String, u64)]| {
            tables.iter().map(|(c, n)| format!("`{c}` {n} ids")).collect::<Vec<_>>().join(", ")
        };
        let saved = written.map_or_else(|| "tables `model.json` does not record".to_string(), |w| show(&w));
        self.errors.push(Mistake::ShapeMismatch.at(
            span,
            format!("the loaded model's embedding has {saved}; this data's encoded columns have {}", show(&now)),
            "other embedding tables",
            "encode the same columns with the same levels as the data it was saved with",
        ));
        None
    }
}

fn unsupported(span: Span, message: &str, label: &str, help: &str) -> CheckError {
    Mistake::Unsupported.at(span, message, label, help)
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
