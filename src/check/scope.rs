//! The names a file declares and imports, and what each one is.

use std::collections::HashMap;

use crate::source::Span;

/// What a name denotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `let`
    Constant,
    /// `source`
    Source,
    /// `stage`
    Stage,
    /// One part of a `split`.
    SplitPart,
    /// `transform name = fit(data) { ... }`
    Transform,
    /// `transform name(params) { ... }`: a recipe of steps.
    Recipe,
    /// `augment`
    Augment,
    /// `model`
    Model,
    /// `train`: a training run, and the trained model it produces.
    Train,
    /// A named `evaluate`.
    Evaluate,
    /// A named `output`.
    Output,
    /// An import that failed (already reported): accepted anywhere, so one
    /// mistake is reported once.
    Unresolved,
}

impl Kind {
    /// "a source", "an augmentation", for messages.
    pub fn described(self) -> &'static str {
        match self {
            Kind::Constant => "a constant",
            Kind::Source => "a source",
            Kind::Stage => "a stage",
            Kind::SplitPart => "a split part",
            Kind::Transform => "a transform",
            Kind::Recipe => "a transform recipe",
            Kind::Augment => "an augmentation",
            Kind::Model => "a model",
            Kind::Train => "a training run",
            Kind::Evaluate => "an evaluation",
            Kind::Output => "an output",
            Kind::Unresolved => "an unresolved import",
        }
    }

    /// Whether the name stands for a frame of data.
    pub fn is_data(self) -> bool {
        matches!(self, Kind::Source | Kind::Stage | Kind::SplitPart)
    }

    /// Whether the name stands for a model (a trained run counts).
    pub fn is_model(self) -> bool {
        matches!(self, Kind::Model | Kind::Train)
    }
}

/// Identifies a symbol of a [`Scope`].
pub type SymbolId = usize;

/// One declared or imported name.
#[derive(Clone, Debug)]
pub struct Symbol {
    /// The name used in this file.
    pub name: String,
    /// What it denotes.
    pub kind: Kind,
    /// Where it is declared (for imports: the name in the import list).
    pub span: Span,
    /// The index of the declaring item in this file (imports included).
    pub item: usize,
    /// Whether it comes from an import.
    pub imported: bool,
    /// For an imported name: the module's program and the item's index in
    /// it (so that an imported model's layers can be read).
    pub definition: Option<(std::rc::Rc<crate::syntax::ast::Program>, usize)>,
}

/// The names visible in one file.
#[derive(Debug, Default)]
pub struct Scope {
    symbols: Vec<Symbol>,
    by_name: HashMap<String, SymbolId>,
}

impl Scope {
    /// Adds a symbol; returns the existing one's span if the name is taken.
    pub fn declare(&mut self, symbol: Symbol) -> Result<SymbolId, Span> {
        if let Some(&existing) = self.by_name.get(&symbol.name) {
            return Err(self.symbols[existing].span);
        }
        let id = self.symbols.len();
        self.by_name.insert(symbol.name.clone(), id);
        self.symbols.push(symbol);
        Ok(id)
    }

    /// The symbol with this name.
    pub fn lookup(&self, name: &str) -> Option<(SymbolId, &Symbol)> {
        self.by_name.get(name).map(|&id| (id, &self.symbols[id]))
    }

    /// The symbol with this id.
    pub fn symbol(&self, id: SymbolId) -> &Symbol {
        &self.symbols[id]
    }

    /// Every symbol, in declaration order.
    pub fn symbols(&self) -> &[Symbol] {
        &self.symbols
    }

    /// Names of the symbols that satisfy `wanted`, for suggestions.
    pub fn names_where(&self, wanted: impl Fn(Kind) -> bool) -> Vec<&str> {
        self.symbols.iter().filter(|s| wanted(s.kind)).map(|s| s.name.as_str()).collect()
    }
}
