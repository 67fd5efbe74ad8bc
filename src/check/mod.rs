//! The checker: everything that can be known about a program before any data
//! is read.
//!
//! So far: the names of a file and its imports (the embedded standard
//! library and other files), each name used where an item is expected
//! resolved to an item of the right kind, operations and layers known by
//! name, the dependency graph free of cycles, and unused items reported.
//! Schemas, shapes and settings are the next layer.

mod args;
mod augment;
pub mod builtins;
mod columns;
mod error;
pub mod explain;
mod exprs;
pub mod familiar;
mod folds;
pub mod frames;
mod graph;
pub mod layers;
pub mod limits;
mod lower;

pub mod models;
pub mod ops;

mod resolve;
mod saved;
pub mod setting_calls;
mod source_files;
pub mod sweep;
mod trials;

pub mod scope;
pub mod settings;
pub mod sources;
pub mod stdlib;
pub mod value;
mod writes;

use std::path::{Path, PathBuf};
use std::rc::Rc;

pub use error::CheckError;
use lower::{LoweredSettings, Runs};
use resolve::Resolver;
use scope::{Kind, Scope, Symbol};

use crate::files::probe;
use crate::source::SourceMap;
use crate::suggest::closest;
use crate::syntax::{self, SyntaxError, ast::*};

/// Everything `pipe check` found in a file and what it imports.
#[derive(Debug, Default)]
pub struct Report {
    /// Syntax errors of imported files (the root file's come from parsing).
    pub syntax: Vec<SyntaxError>,
    /// Check errors and warnings, in source order per file.
    pub errors: Vec<CheckError>,
    /// The root file's items with their inferred schemas (`--explain`).
    pub explained: Vec<explain::Explained>,
    /// The root file's program, lowered for the executors (complete only
    /// when there are no errors).
    pub ir: crate::ir::Program,
    /// Editor support: in the root file, each operation call (and training
    /// block) with the schema of the frame it works on.
    pub column_scopes: Vec<(crate::source::Span, crate::schema::Schema)>,
    /// Editor support: each layer written in the root file, with its input
    /// and output shapes (`[36] -> [64]`), once per run using it.
    pub layer_shapes: Vec<(crate::source::Span, String)>,
}

impl Report {
    /// Whether anything is an error rather than a warning.
    pub fn has_errors(&self) -> bool {
        self.syntax.iter().any(SyntaxError::is_error) || self.errors.iter().any(CheckError::is_error)
    }
}

/// Checks a parsed file. `dir` is the folder file imports are relative to
/// (`None` for text that has no folder, such as standard input).
pub fn check(program: &Program, sources: &mut SourceMap, dir: Option<&Path>) -> Report {
    check_until(program, sources, dir, &|| false).unwrap_or_default()
}

/// [`check`], given up (`None`) as soon as `stop` says so: the language
/// server stops checking a text the user has already changed.
pub fn check_until(
    program: &Program,
    sources: &mut SourceMap,
    dir: Option<&Path>,
    stop: &dyn Fn() -> bool,
) -> Option<Report> {
    // The root file is the first in the map; imported files are shown
    // relative to the folder it was named from.
    let root_shown_dir = Path::new(&sources.get(crate::source::FileId(0)).name).parent().map(Path::to_path_buf);
    let root_dir = dir.map(Path::to_path_buf);
    // The root file counts as being imported, so a file importing it back
    // closes a cycle.
    let root_name = Path::new(&sources.get(crate::source::FileId(0)).name).file_name().map(PathBuf::from);
    let root_path = dir.zip(root_name).map(|(d, n)| d.join(n));
    let visiting = root_path.map(|p| p.canonicalize().unwrap_or(p)).into_iter().collect();
    let mut checker = Checker {
        sources,
        report: Report::default(),
        visiting,
        root_dir,
        root_shown_dir,
        probes: probe::Cache::new(),
        stop,
    };
    checker.file(program, dir, true);
    if stop() {
        return None;
    }
    // Errors first, then warnings; each in source order, each once (data
    // used in two places is checked in both).
    checker.report.errors.sort_by_key(|e| (!e.is_error(), e.primary_span().file, e.primary_span().start));
    checker.report.errors.dedup();
    Some(checker.report)
}

struct Checker<'s> {
    sources: &'s mut SourceMap,
    report: Report,
    /// Files being checked, to stop import cycles.
    visiting: Vec<PathBuf>,
    /// The folder the root file is read from.
    root_dir: Option<PathBuf>,
    /// That folder as the user named it.
    root_shown_dir: Option<PathBuf>,
    /// Data files already probed.
    probes: probe::Cache,
    /// Whether to give up (polled between items).
    stop: &'s dyn Fn() -> bool,
}

impl Checker<'_> {
    /// Checks one file; `root` is the file the user asked about (only its
    /// unused items are worth a warning).
    fn file(&mut self, written: &Program, dir: Option<&Path>, root: bool) -> Scope {
        // Every check but the points' own reads the file with each search
        // space at its first value.
        let sweeps = sweep::find(written, &constants(&written.items), root);
        self.report.errors.extend(sweeps.errors.iter().cloned());
        let first_point;
        let program = if sweeps.first.is_empty() {
            written
        } else {
            first_point = sweeps.program(written, &std::collections::HashMap::new());
            &first_point
        };
        let mut scope = Scope::default();
        for (index, item) in program.items.iter().enumerate() {
            if let ItemKind::Import(import) = &item.kind {
                self.import(import, index, &mut scope, dir);
            } else {
                self.declare_item(index, item, &mut scope);
            }
        }
        if (self.stop)() {
            return scope;
        }
        let mut resolver = Resolver::new(&scope);
        for (index, item) in program.items.iter().enumerate() {
            resolver.item(index, item);
        }
        self.report.errors.extend(resolver.errors);
        let constants = constants(&program.items);
        let mut frames = frames::Frames::new(&program.items, &scope, &constants, dir, &mut self.probes);
        // Dependencies first, so that each item finds what it uses done.
        for index in graph::order(program.items.len(), &scope, &resolver.uses) {
            if (self.stop)() {
                return scope;
            }
            frames.item(index);
        }
        let mut explained = Vec::new();
        for (index, item) in program.items.iter().enumerate() {
            let schema = frames.item(index);
            let names: Vec<&str> = item.kind.declared_names().iter().map(|n| n.name.as_str()).collect();
            let input = frames.transforms.get(&index).map(|t| t.input.clone());
            let names = names.join(", ");
            explained.push(explain::Explained {
                keyword: item.kind.keyword(),
                names,
                input,
                schema,
                layers: Vec::new(),
                parameters: None,
                memory: None,
                sweep: sweeps.plans.get(&index).map(|p| format!("{} points ({})", p.points.len(), p.search)),
            });
        }
        let mut shapes = models::Shapes::new(&program.items, &scope, &constants, dir);
        for (index, schema) in &frames.train_inputs {
            if let ItemKind::Train(train) = &program.items[*index].kind
                && !sweeps.plans.contains_key(index)
            {
                shapes.train(*index, train, schema);
            }
        }
        let mut rules = settings::Settings::new(&constants);
        let mut lowered = LoweredSettings::default();
        for (index, item) in program.items.iter().enumerate() {
            match &item.kind {
                ItemKind::Train(_) if sweeps.plans.contains_key(&index) => {}
                ItemKind::Train(train) => {
                    if let Some(settings) = rules.train(train, frames.train_inputs.get(&index)) {
                        lowered.train.insert(index, settings);
                    }
                }
                ItemKind::Evaluate(eval) => {
                    let task = evaluated_task(&program.items, &scope, &eval.model, &frames.train_inputs);
                    let evaluation = eval.body.as_ref().map(|body| rules.evaluate(body, task)).unwrap_or_default();
                    lowered.evaluate.insert(index, evaluation);
                }
                _ => {}
            }
        }
        self.report.errors.extend(rules.errors);
        let cx = trials::Context { written, sweeps: &sweeps, scope: &scope, constants: &constants, dir };
        for (index, plan) in &sweeps.plans {
            let Some(schema) = frames.train_inputs.get(index) else { continue };
            let checked = trials::check(&cx, *index, plan, schema);
            self.report.errors.extend(checked.errors);
            shapes.summaries.extend(checked.summary);
            shapes.layer_shapes.extend(checked.layer_shapes);
            if let Some((model, settings)) = checked.first {
                shapes.models.push((*index, model));
                lowered.train.insert(*index, settings);
                let (search, prune, parallel) = (plan.search.clone(), plan.prune, plan.parallel);
                let sweep = crate::ir::Sweep { search, trials: checked.trials, prune, parallel };
                lowered.sweeps.insert(*index, sweep);
            }
        }
        for item in &program.items {
            if let ItemKind::Augment(a) = &item.kind {
                augment::augmentation(&a.body, &constants, &mut self.report.errors);
            }
        }
        let shapes_models = std::mem::take(&mut shapes.models);
        for (index, model) in &shapes_models {
            explained[*index].parameters = Some(model.parameters());
        }
        for (index, layers) in shapes.summaries {
            explained[index].layers = layers;
        }
        self.report.errors.extend(std::mem::take(&mut frames.errors));
        self.report.errors.extend(shapes.errors);
        // A file without runs or outputs is a library: its items are there
        // to be imported, so none is "unused".
        let is_library = !program
            .items
            .iter()
            .any(|i| matches!(i.kind, ItemKind::Train(_) | ItemKind::Evaluate(_) | ItemKind::Output(_)));
        self.report.errors.extend(graph::problems(&program.items, &scope, &resolver.uses, root && !is_library));
        if root {
            self.report.explained = explained;
            self.report.column_scopes = std::mem::take(&mut frames.column_scopes);
            self.report.layer_shapes = std::mem::take(&mut shapes.layer_shapes);
            let mut ir = crate::ir::Program { items: std::mem::take(&mut frames.ir) };
            let clean = !self.report.has_errors();
            let mut runs = Runs { program, scope: &scope, constants: &constants, clean, errors: Vec::new() };
            runs.lower(&mut ir, &mut frames, shapes_models, lowered);
            self.report.errors.extend(runs.errors);
            if !self.report.has_errors() {
                self.report.errors.extend(folds::expand(&mut ir));
            }
            let pipeline = self.visiting.first().cloned();
            self.report.errors.extend(writes::guard(program, &ir, dir, pipeline.as_deref()));
            if !self.report.has_errors() {
                self.report.errors.extend(lower::unlowered(program, &ir));
            }
            for (index, explained) in self.report.explained.iter_mut().enumerate() {
                if matches!(explained.keyword, "output" | "transform" | "train" | "evaluate" | "stage" | "split") {
                    explained.memory = ir.memory(index);
                }
            }
            self.report.ir = ir;
        }
        scope
    }

    fn declare_item(&mut self, index: usize, item: &Item, scope: &mut Scope) {
        let kind = kind_of(&item.kind);
        for name in item.kind.declared_names() {
            let symbol = Symbol {
                name: name.name.clone(),
                kind,
                span: name.span,
                item: index,
                imported: false,
                definition: None,
            };
            self.declare(scope, symbol);
        }
    }

    fn declare(&mut self, scope: &mut Scope, symbol: Symbol) {
        let (name, span) = (symbol.name.clone(), symbol.span);
        if let Err(first) = scope.declare(symbol) {
            self.report.errors.push(CheckError::DuplicateName { name, span, first });
        }
    }

    fn import(&mut self, import: &Import, index: usize, scope: &mut Scope, dir: Option<&Path>) {
        let Some((module_scope, module_program)) = self.load_module(&import.from, dir) else {
            // Reported already; the names stand in so their uses are quiet.
            for name in &import.names {
                let local = name.local_name();
                let symbol = Symbol {
                    name: local.name.clone(),
                    kind: Kind::Unresolved,
                    span: local.span,
                    item: index,
                    imported: true,
                    definition: None,
                };
                self.declare(scope, symbol);
            }
            return;
        };
        let module = match &import.from {
            ImportSource::Module(parts) => parts.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join("."),
            ImportSource::File(path) => path.value.clone(),
        };
        for name in &import.names {
            match module_scope.lookup(&name.name.name) {
                Some((_, found)) => {
                    let local = name.local_name();
                    let symbol = Symbol {
                        name: local.name.clone(),
                        kind: found.kind,
                        span: local.span,
                        item: index,
                        imported: true,
                        definition: Some((module_program.clone(), found.item)),
                    };
                    self.declare(scope, symbol);
                }
                None => {
                    let names = module_scope.names_where(|_| true);
                    let help = match closest(&name.name.name, names.iter().copied()) {
                        Some(near) => format!("did you mean `{near}`?"),
                        None => format!(
                            "`{module}` has: {}",
                            names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                        ),
                    };
                    let error = CheckError::UnknownImport {
                        name: name.name.name.clone(),
                        module: module.clone(),
                        span: name.name.span,
                        help,
                    };
                    self.report.errors.push(error);
                }
            }
        }
    }

    /// Parses and checks an imported module; returns its scope and program.
    fn load_module(&mut self, from: &ImportSource, dir: Option<&Path>) -> Option<(Scope, Rc<Program>)> {
        match from {
            ImportSource::Module(parts) => self.load_std(parts),
            ImportSource::File(path) => self.load_file(path, dir),
        }
    }

    fn load_std(&mut self, parts: &[Ident]) -> Option<(Scope, Rc<Program>)> {
        let names: Vec<&str> = parts.iter().map(|p| p.name.as_str()).collect();
        let text = match names.as_slice() {
            ["std", module] => stdlib::module(module),
            _ => None,
        };
        let Some(text) = text else {
            let span = parts[0].span.to(parts[parts.len() - 1].span);
            let wanted = names.last().copied().unwrap_or_default();
            let help = match closest(wanted, stdlib::MODULES.map(|(n, _)| n)) {
                Some(near) => format!("did you mean `std.{near}`?"),
                None => format!(
                    "the standard library has: {}",
                    stdlib::MODULES.map(|(n, _)| format!("`std.{n}`")).join(", ")
                ),
            };
            self.report.errors.push(CheckError::UnknownModule { path: names.join("."), span, help });
            return None;
        };
        let file = self.sources.add(format!("std/{}.pipe", names[1]), text);
        let parsed = syntax::parse(text, file);
        self.report.syntax.extend(parsed.errors);
        let scope = self.file(&parsed.program, None, false);
        Some((scope, Rc::new(parsed.program)))
    }

    fn load_file(&mut self, path: &StringLit, dir: Option<&Path>) -> Option<(Scope, Rc<Program>)> {
        if crate::files::remote::is_url(&path.value) {
            let reason = "an import is a .pipe file on this machine: a URL is not fetched".to_owned();
            self.report.errors.push(CheckError::ImportUnreadable { path: path.value.clone(), reason, span: path.span });
            return None;
        }
        let full = dir.map_or_else(|| PathBuf::from(&path.value), |d| d.join(&path.value));
        let canonical = full.canonicalize().unwrap_or_else(|_| full.clone());
        if self.visiting.contains(&canonical) {
            self.report.errors.push(CheckError::ImportCycle { path: path.value.clone(), span: path.span });
            return None;
        }
        let bytes = match crate::files::regular_file(&full)
            .map_err(std::io::Error::other)
            .and_then(|()| std::fs::read(&full))
        {
            Ok(bytes) => bytes,
            Err(e) => {
                let error =
                    CheckError::ImportUnreadable { path: path.value.clone(), reason: e.to_string(), span: path.span };
                self.report.errors.push(error);
                return None;
            }
        };
        let (text, _) = crate::source::decode(&bytes);
        let file = self.sources.add(self.shown_name(dir, &path.value), text.as_str());
        let (_, parsed) = syntax::parse_bytes(&bytes, file);
        if parsed.has_errors() {
            // Its syntax errors are reported; its names are unknown.
            self.report.syntax.extend(parsed.errors);
            return None;
        }
        self.visiting.push(canonical);
        let scope = self.file(&parsed.program, full.parent(), false);
        self.visiting.pop();
        Some((scope, Rc::new(parsed.program)))
    }
}

impl Checker<'_> {
    /// How an imported file is named in diagnostics: relative to the folder
    /// the user named the root file from, never an absolute path they did
    /// not write.
    fn shown_name(&self, dir: Option<&Path>, written: &str) -> String {
        let root_dir = self.root_dir.as_deref();
        let relative = dir
            .zip(root_dir.zip(self.root_shown_dir.as_deref()))
            .and_then(|(dir, (root, shown))| dir.strip_prefix(root).ok().map(|rest| shown.join(rest).join(written)));
        relative.unwrap_or_else(|| PathBuf::from(written)).display().to_string()
    }
}

/// The values of the `let` constants that can be known (a constant may use
/// another, in any order).
pub(crate) fn constants(items: &[Item]) -> value::Constants {
    let lets: Vec<&Binding> =
        items.iter().filter_map(|i| if let ItemKind::Let(b) = &i.kind { Some(b) } else { None }).collect();
    let mut known = value::Constants::new();
    // A constant may use one defined below it: evaluate again until nothing
    // changes (one pass when they are in order).
    for _ in 0..lets.len() {
        let mut changed = false;
        for binding in &lets {
            let value = value::bounded(value::eval(&binding.value, &known));
            if known.get(&binding.name.name) != Some(&value) {
                known.insert(binding.name.name.clone(), value);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    known
}

/// Whether the run an `evaluate` names learns classes, as far as known.
fn evaluated_task(
    items: &[Item],
    scope: &Scope,
    model: &Expr,
    train_inputs: &std::collections::HashMap<usize, crate::schema::Schema>,
) -> Option<crate::ir::Task> {
    let ExprKind::Path(path) = &model.kind else { return None };
    let (_, symbol) = scope.lookup(&path.dotted())?;
    let ItemKind::Train(train) = &items.get(symbol.item)?.kind else { return None };
    let loss = frames::setting(&train.body, "loss");
    let target = frames::setting(&train.body, "target");
    settings::classification(loss, target, train_inputs.get(&symbol.item))
}

/// The kind of name an item declares.
fn kind_of(item: &ItemKind) -> Kind {
    match item {
        ItemKind::Let(_) | ItemKind::Import(_) => Kind::Constant,
        ItemKind::Source(_) => Kind::Source,
        ItemKind::Stage(_) => Kind::Stage,
        ItemKind::Split(_) => Kind::SplitPart,
        ItemKind::Transform(t) if matches!(t.form, TransformForm::Recipe(_)) => Kind::Recipe,
        ItemKind::Transform(_) => Kind::Transform,
        ItemKind::Augment(_) => Kind::Augment,
        ItemKind::Model(_) => Kind::Model,
        ItemKind::Train(_) => Kind::Train,
        ItemKind::Evaluate(_) => Kind::Evaluate,
        ItemKind::Output(_) => Kind::Output,
    }
}
