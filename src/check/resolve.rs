//! Name resolution: every name used where an item is expected (data, a
//! model, a transform, an augmentation, a trained run) must be declared or
//! imported, and be of the right kind. The uses found feed the dependency
//! graph (cycles, unused items).

use crate::check::builtins::{self, Place};
use crate::check::error::{CheckError, Mistake};
use crate::check::familiar;
use crate::check::scope::{Kind, Scope, SymbolId};
use crate::source::Span;
use crate::suggest::closest;
use crate::syntax::ast::*;

/// One item using a symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Use {
    /// The index of the using item.
    pub from: usize,
    /// The symbol used.
    pub to: SymbolId,
    /// Where.
    pub span: Span,
}

/// Walks items and records uses and mistakes.
pub struct Resolver<'a> {
    scope: &'a Scope,
    /// Mistakes found.
    pub errors: Vec<CheckError>,
    /// Uses found.
    pub uses: Vec<Use>,
    item: usize,
    /// Names bound inside the item (model parameters, loop variables).
    locals: Vec<String>,
}

impl<'a> Resolver<'a> {
    /// A resolver over a file's scope.
    pub fn new(scope: &'a Scope) -> Self {
        Resolver { scope, errors: Vec::new(), uses: Vec::new(), item: 0, locals: Vec::new() }
    }

    /// Resolves the names one item uses.
    pub fn item(&mut self, index: usize, item: &Item) {
        self.item = index;
        self.locals.clear();
        match &item.kind {
            ItemKind::Import(_) => {}
            ItemKind::Let(b) => self.value(&b.value),
            ItemKind::Source(b) => self.source(&b.value),
            ItemKind::Stage(b) => self.data(&b.value),
            ItemKind::Split(s) => self.data(&s.value),
            ItemKind::Transform(t) => {
                if let TransformForm::Fitted(fit_on) = &t.form {
                    self.data(fit_on);
                }
                self.transform_steps(&t.body);
            }
            ItemKind::Augment(a) => self.augment_entries(&a.body),
            ItemKind::Model(m) => self.model_item(m),
            ItemKind::Train(t) => {
                self.model(&t.model);
                self.data(&t.data);
                self.train_settings(&t.body);
            }
            ItemKind::Evaluate(e) => {
                self.trained(&e.model);
                self.data(&e.data);
                if let Some(body) = &e.body {
                    self.block_values(body);
                }
            }
            ItemKind::Output(o) => self.data(&o.value),
        }
    }

    fn record(&mut self, to: SymbolId, span: Span) {
        self.uses.push(Use { from: self.item, to, span });
    }

    /// A name used where something of a given kind is expected.
    fn expect(&mut self, name: &Ident, wanted: fn(Kind) -> bool, expected: &str, help: &str) {
        match self.scope.lookup(&name.name) {
            Some((id, symbol)) if wanted(symbol.kind) || symbol.kind == Kind::Unresolved => self.record(id, name.span),
            Some((id, symbol)) => {
                self.record(id, name.span);
                self.errors.push(CheckError::WrongKind {
                    name: name.name.clone(),
                    found: symbol.kind.described().into(),
                    expected: expected.into(),
                    span: name.span,
                    defined: symbol.span,
                    help: help.into(),
                });
            }
            None => self.unknown(name, wanted, expected),
        }
    }

    fn unknown(&mut self, name: &Ident, wanted: fn(Kind) -> bool, expected: &str) {
        let candidates = self.candidates(wanted);
        let expected = expected.trim_start_matches("a ").trim_start_matches("an ").to_owned();
        let help = match closest(&name.name, candidates.iter().copied()) {
            Some(near) => format!("did you mean `{near}`?"),
            None if candidates.is_empty() => format!("no {expected} is defined in this file"),
            None => format!("defined here: {}", quoted_list(&candidates)),
        };
        self.errors.push(CheckError::UnknownName { name: name.name.clone(), expected, span: name.span, help });
    }

    /// Names of the kind wanted, except those the current item declares (an
    /// item cannot use itself).
    fn candidates(&self, wanted: impl Fn(Kind) -> bool) -> Vec<&'a str> {
        let item = self.item;
        let scope: &'a Scope = self.scope;
        scope.symbols().iter().filter(|s| wanted(s.kind) && s.item != item).map(|s| s.name.as_str()).collect()
    }

    // -- data ------------------------------------------------------------------

    /// The value of a `source`: a reader call.
    fn source(&mut self, expr: &Expr) {
        let ExprKind::Call(call) = &expr.kind else {
            self.errors.push(CheckError::SourceNotRead { span: expr.span });
            // Still record what it uses, so nothing is reported as unused.
            return self.data(expr);
        };
        let name = call.callee.dotted();
        if !builtins::names(Place::Source).contains(&name.as_str()) {
            return self.unknown_reader(call.callee.span, &name);
        }
        self.args(&call.args);
    }

    fn unknown_reader(&mut self, span: Span, name: &str) {
        let near = closest(name, builtins::names(Place::Source));
        let help = match near {
            Some(near) => format!("did you mean `{near}`?"),
            None => "a source reads data with csv(path), parquet(path) or images(dir); data made from other items is a `stage`".into(),
        };
        self.errors.push(CheckError::UnknownOperation { what: "source reader".into(), name: name.into(), span, help });
    }

    /// An expression that must produce a frame: a data item, a transform
    /// applied to data, or a pipeline over data.
    fn data(&mut self, expr: &Expr) {
        match &expr.kind {
            ExprKind::Path(path) if path.parts.len() == 1 => self.expect(
                &path.parts[0],
                Kind::is_data,
                "data",
                "data is a `source`, a `stage` or a part of a `split`",
            ),
            // `folds.train`: a part of a k-fold split.
            ExprKind::Path(path) => self.expect(
                &Ident { name: path.dotted(), span: path.span },
                Kind::is_data,
                "data",
                "data is a `source`, a `stage` or a part of a `split` (`folds.train`, `folds.val` of a `kfold` split)",
            ),
            ExprKind::Call(call) if call.callee.parts.len() == 1 => self.transform_application(call),
            ExprKind::Pipeline { input, stages } => {
                self.data(input);
                for stage in stages {
                    self.data_stage(stage);
                }
            }
            _ => self.value(expr),
        }
    }

    /// `prep(train)`: a transform applied to data.
    fn transform_application(&mut self, call: &Call) {
        let name = &call.callee.parts[0];
        self.expect(
            name,
            |k| k == Kind::Transform,
            "a transform",
            "only a transform is applied to data as `name(data)`",
        );
        for arg in &call.args {
            if arg.name.is_none() {
                self.data(&arg.value);
            } else {
                self.value(&arg.value);
            }
        }
    }

    /// One stage after `|>` in a data pipeline.
    fn data_stage(&mut self, stage: &Expr) {
        let (callee, args): (&Path, &[Arg]) = match &stage.kind {
            ExprKind::Call(call) => (&call.callee, &call.args),
            ExprKind::Path(path) => (path, &[]),
            _ => return self.value(stage),
        };
        let name = callee.dotted();
        if let Some((id, symbol)) = self.scope.lookup(&name) {
            self.record(id, callee.span);
            if symbol.kind != Kind::Transform && symbol.kind != Kind::Recipe {
                let error = CheckError::WrongKind {
                    name: name.clone(),
                    found: symbol.kind.described().into(),
                    expected: "an operation or a transform".into(),
                    span: callee.span,
                    defined: symbol.span,
                    help: "after `|>` comes an operation such as `filter(...)`, or a transform".into(),
                };
                self.errors.push(error);
            }
            return self.args(args);
        }
        if name == "predict" {
            return self.predict(stage.span, args);
        }
        if !builtins::is_data_operation(&name) {
            let mut candidates: Vec<&str> = builtins::data_operations();
            candidates.extend(self.candidates(|k| k == Kind::Transform || k == Kind::Recipe));
            self.unknown_operation("operation", &name, callee.span, &candidates);
        }
        self.args(args);
    }

    /// `predict(run)`: the run must be a trained model.
    fn predict(&mut self, span: Span, args: &[Arg]) {
        match args.first() {
            Some(arg) => self.trained(&arg.value),
            None => self.errors.push(CheckError::UnknownName {
                name: "predict".into(),
                expected: "trained model".into(),
                span,
                help: "name the training run: `predict(run)`".into(),
            }),
        }
        self.args(args.get(1..).unwrap_or(&[]));
    }

    fn unknown_operation(&mut self, what: &str, name: &str, span: Span, candidates: &[&str]) {
        let place = match what {
            "operation" => Some(familiar::Place::Operation),
            "layer" => Some(familiar::Place::Layer),
            _ => None,
        };
        let help = match place.and_then(|p| familiar::lookup(p, name)) {
            Some(help) => help.to_owned(),
            None => self.spelling_help(what, name, candidates),
        };
        self.errors.push(CheckError::UnknownOperation { what: what.into(), name: name.into(), span, help });
    }

    fn spelling_help(&self, what: &str, name: &str, candidates: &[&str]) -> String {
        match closest(name, candidates.iter().copied()) {
            Some(near) => format!("did you mean `{near}`?"),
            None => format!("the {what}s are: {}", quoted_list(candidates)),
        }
    }

    /// The steps of a `transform` block: data operations, nothing else.
    fn transform_steps(&mut self, block: &Block) {
        for entry in &block.entries {
            match &entry.kind {
                EntryKind::Step { expr, .. } => self.data_stage(expr),
                _ => self.errors.push(Mistake::Misplaced.at(
                    entry.span,
                    "a transform's block lists data operations, one per line",
                    "not an operation",
                    "write steps such as `standard(f0..f15)` or `qcut(income, 4) as income_q`",
                )),
            }
        }
    }

    /// An `augment` block: augmentation operations and the `fill:` setting.
    fn augment_entries(&mut self, block: &Block) {
        for entry in &block.entries {
            match &entry.kind {
                EntryKind::Step { expr, .. } => {
                    let (callee, args): (&Path, &[Arg]) = match &expr.kind {
                        ExprKind::Call(call) => (&call.callee, &call.args),
                        ExprKind::Path(path) => (path, &[]),
                        _ => continue,
                    };
                    let name = callee.dotted();
                    let steps = builtins::names(Place::Augmentation);
                    if !steps.contains(&name.as_str()) {
                        self.unknown_operation("augmentation", &name, callee.span, &steps);
                    }
                    self.args(args);
                }
                EntryKind::Setting { key, .. } if key.name == "fill" => {}
                EntryKind::Setting { key, .. } => self.errors.push(CheckError::UnknownSetting {
                    key: key.name.clone(),
                    span: key.span,
                    block: "an augmentation".into(),
                    help: if crate::suggest::edit_distance(&key.name, "fill") <= 2 {
                        "did you mean `fill`?".into()
                    } else {
                        "the setting of an augmentation is `fill: nearest | reflect | constant(v)`".into()
                    },
                }),
                _ => self.errors.push(Mistake::Misplaced.at(
                    entry.span,
                    "an augmentation lists operations, one per line",
                    "not an operation",
                    "write operations such as `flip(horizontal, p: 0.5)` or `rotate(20deg)`",
                )),
            }
        }
    }

    // -- models --------------------------------------------------------------------

    fn model_item(&mut self, model: &ModelItem) {
        for param in model.params.iter().flatten() {
            if let Some(default) = &param.default {
                self.value(default);
            }
            self.locals.push(param.name.name.clone());
        }
        match &model.body {
            ModelBody::Expr(expr) => self.model(expr),
            ModelBody::Layers(block) => self.layers(block),
        }
    }

    /// A model written as a dotted name (`std.models.mlp`): a file uses
    /// the names it imports.
    fn dotted_model(&mut self, name: &str, span: Span) {
        let (module, last) = name.rsplit_once('.').unwrap_or(("std.models", name));
        self.errors.push(Mistake::UnknownValue.at(
            span,
            format!("`{name}` is no model here: a file uses the names it imports"),
            "not imported",
            format!("write `import {module} {{ {last} }}` at the top, then use `{last}(...)`"),
        ));
    }

    /// An expression that must produce a model.
    fn model(&mut self, expr: &Expr) {
        match &expr.kind {
            ExprKind::Path(path) if path.parts.len() == 1 => self.expect(
                &path.parts[0],
                Kind::is_model,
                "a model",
                "a model is a `model` item or a trained `train` run",
            ),
            ExprKind::Call(call) if builtins::names(Place::ModelSource).contains(&call.callee.dotted().as_str()) => {
                self.args(&call.args)
            }
            ExprKind::Call(call) if call.callee.parts.len() == 1 => {
                self.expect(
                    &call.callee.parts[0],
                    |k| k == Kind::Model,
                    "a model",
                    "only a `model` item takes arguments",
                );
                self.args(&call.args);
            }
            ExprKind::Pipeline { input, stages } => {
                self.model(input);
                for stage in stages {
                    self.model_stage(stage);
                }
            }
            // `std.models.mlp(...)`: names come into a file by `import`.
            ExprKind::Path(path) if path.parts.len() > 1 => self.dotted_model(&path.dotted(), expr.span),
            ExprKind::Call(call) if call.callee.parts.len() > 1 => {
                self.dotted_model(&call.callee.dotted(), call.callee.span);
                self.args(&call.args);
            }
            ExprKind::Path(_) | ExprKind::Call(_) => self.value(expr),
            // A list of layers, a number, text: no model, and nothing the
            // model checks and the lowering would agree on.
            _ => {
                self.value(expr);
                self.errors.push(Mistake::WrongType.at(
                    expr.span,
                    "a model is a `model` item, a call of one, a trained run or `load(...)`",
                    "not a model",
                    "declare the layers in a model item, `model net { dense(16) relu() dense(1) }`, and train `net`",
                ));
            }
        }
    }

    fn model_stage(&mut self, stage: &Expr) {
        let (callee, args): (&Path, &[Arg]) = match &stage.kind {
            ExprKind::Call(call) => (&call.callee, &call.args),
            ExprKind::Path(path) => (path, &[]),
            _ => return self.value(stage),
        };
        let name = callee.dotted();
        let operations = builtins::names(Place::ModelOperation);
        if !operations.contains(&name.as_str()) {
            self.unknown_operation("model operation", &name, callee.span, &operations);
        }
        // Arguments name layers (`until: features`) or are layers
        // (`dense(2)`): not items.
        for arg in args {
            self.value(&arg.value);
        }
    }

    /// An expression that must be a trained model (`evaluate`, `predict`).
    fn trained(&mut self, expr: &Expr) {
        let help = "a trained model is the name of a `train` item";
        self.named(expr, |k| k == Kind::Train, "a trained model", help);
    }

    /// An expression that must be the name of an item of a kind; anything
    /// else is a plain value.
    fn named(&mut self, expr: &Expr, wanted: fn(Kind) -> bool, expected: &str, help: &str) {
        match &expr.kind {
            ExprKind::Path(path) if path.parts.len() == 1 => self.expect(&path.parts[0], wanted, expected, help),
            _ => self.value(expr),
        }
    }

    /// The entries of a `model` block: layers, nested blocks, loops.
    fn layers(&mut self, block: &Block) {
        for entry in &block.entries {
            match &entry.kind {
                EntryKind::Step { expr, .. } => self.layer(expr),
                EntryKind::Nested { name, args, body, .. } => {
                    self.layer_name(name);
                    self.args(args.as_deref().unwrap_or(&[]));
                    self.layers(body);
                }
                EntryKind::For { var, iter, body } => {
                    self.value(iter);
                    self.locals.push(var.name.clone());
                    self.layers(body);
                    self.locals.pop();
                }
                EntryKind::Setting { key, .. } => self.errors.push(Mistake::Misplaced.at(
                    entry.span,
                    format!("a model's block lists layers; `{}:` is not a layer", key.name),
                    "a setting",
                    "settings of the training belong in the `train` block",
                )),
            }
        }
    }

    fn layer(&mut self, expr: &Expr) {
        match &expr.kind {
            ExprKind::Call(call) => {
                self.layer_name(&call.callee);
                self.args(&call.args);
            }
            ExprKind::Path(path) => self.layer_name(path),
            _ => self.value(expr),
        }
    }

    /// A layer is built in, or a `model` item used as a block of layers.
    fn layer_name(&mut self, path: &Path) {
        let name = path.dotted();
        if builtins::is_layer(&name) {
            return;
        }
        match self.scope.lookup(&name) {
            Some((id, symbol)) if symbol.kind == Kind::Model => self.record(id, path.span),
            _ => {
                let mut candidates: Vec<&str> = builtins::names(Place::Layer);
                candidates.extend(self.candidates(|k| k == Kind::Model));
                self.unknown_operation("layer", &name, path.span, &candidates);
            }
        }
    }

    // -- settings and values -------------------------------------------------------

    fn train_settings(&mut self, block: &Block) {
        for entry in &block.entries {
            match &entry.kind {
                EntryKind::Setting { key, value } if key.name == "validate" => self.data(value),
                EntryKind::Setting { key, value } if key.name == "augment" => self.augment(value),
                _ => self.entry_values(entry),
            }
        }
    }

    fn augment(&mut self, value: &Expr) {
        self.named(value, |k| k == Kind::Augment, "an augmentation", "`augment:` names an `augment` item");
    }

    fn block_values(&mut self, block: &Block) {
        for entry in &block.entries {
            self.entry_values(entry);
        }
    }

    fn entry_values(&mut self, entry: &Entry) {
        match &entry.kind {
            EntryKind::Setting { value, .. } => self.value(value),
            EntryKind::Step { expr, .. } => self.value(expr),
            EntryKind::Nested { args, body, .. } => {
                self.args(args.as_deref().unwrap_or(&[]));
                self.block_values(body);
            }
            EntryKind::For { iter, body, .. } => {
                self.value(iter);
                self.block_values(body);
            }
        }
    }

    fn args(&mut self, args: &[Arg]) {
        for arg in args {
            self.value(&arg.value);
        }
    }

    /// A plain value: names in it are columns, symbols such as
    /// `cross_entropy`, locals, or constants. Only constants are items, so
    /// only they are recorded; the rest is checked by the rules that know
    /// what each argument means.
    fn value(&mut self, expr: &Expr) {
        match &expr.kind {
            ExprKind::Path(path) if path.parts.len() == 1 => {
                let name = &path.parts[0].name;
                if self.locals.contains(name) {
                    return;
                }
                if let Some((id, symbol)) = self.scope.lookup(name)
                    && symbol.kind == Kind::Constant
                {
                    self.record(id, path.span);
                }
            }
            ExprKind::Call(call) => self.args(&call.args),
            ExprKind::List { items } => items.iter().for_each(|e| self.value(e)),
            ExprKind::Record { fields } => fields.iter().for_each(|f| self.value(&f.value)),
            ExprKind::Unary { operand, .. } => self.value(operand),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.value(lhs);
                self.value(rhs);
            }
            ExprKind::Pipeline { input, stages } => {
                self.value(input);
                stages.iter().for_each(|e| self.value(e));
            }
            ExprKind::Then { phases } => phases.iter().for_each(|e| self.value(e)),
            _ => {}
        }
    }
}

/// "`a`, `b`, `c`"
fn quoted_list(names: &[&str]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}
