//! The abstract syntax tree: an owned tree in which every node has a span.
//!
//! The tree says what was written, not what it means: names are unresolved,
//! and a call is just a name with arguments. The checker gives it meaning.

use serde::Serialize;

use crate::source::Span;

/// A parsed `.pipe` file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Program {
    /// The items in the order they were written.
    pub items: Vec<Item>,
}

/// A name as written, with its place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// Where it was written.
    pub span: Span,
}

/// One top-level declaration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Item {
    /// What the item declares.
    pub kind: ItemKind,
    /// From the keyword to the end of the item.
    pub span: Span,
}

/// The eleven kinds of item.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "item")]
pub enum ItemKind {
    /// `import std.models { mlp }`
    Import(Import),
    /// `let seed = 42`
    Let(Binding),
    /// `source people = csv("people.csv")`
    Source(Binding),
    /// `stage clean = people |> drop_nulls(income)`
    Stage(Binding),
    /// `split train, test = clean |> split([0.8, 0.2])`
    Split(SplitItem),
    /// `transform prep = fit(train) { ... }`
    Transform(TransformItem),
    /// `augment light { ... }`
    Augment(AugmentItem),
    /// `model net = ...` or `model net(params) { ... }`
    Model(ModelItem),
    /// `train run = net on data { ... }`
    Train(TrainItem),
    /// `evaluate run on data { ... }`
    Evaluate(EvaluateItem),
    /// `output data |> write("out.csv")`
    Output(OutputItem),
}

impl ItemKind {
    /// The keyword that starts this kind of item.
    pub fn keyword(&self) -> &'static str {
        match self {
            ItemKind::Import(_) => "import",
            ItemKind::Let(_) => "let",
            ItemKind::Source(_) => "source",
            ItemKind::Stage(_) => "stage",
            ItemKind::Split(_) => "split",
            ItemKind::Transform(_) => "transform",
            ItemKind::Augment(_) => "augment",
            ItemKind::Model(_) => "model",
            ItemKind::Train(_) => "train",
            ItemKind::Evaluate(_) => "evaluate",
            ItemKind::Output(_) => "output",
        }
    }

    /// The names this item declares (none for an unnamed evaluate or output;
    /// the imported names for an import).
    pub fn declared_names(&self) -> Vec<&Ident> {
        match self {
            ItemKind::Import(i) => i.names.iter().map(ImportName::local_name).collect(),
            ItemKind::Let(b) | ItemKind::Source(b) | ItemKind::Stage(b) => vec![&b.name],
            ItemKind::Split(s) => s.names.iter().collect(),
            ItemKind::Transform(t) => vec![&t.name],
            ItemKind::Augment(a) => vec![&a.name],
            ItemKind::Model(m) => vec![&m.name],
            ItemKind::Train(t) => vec![&t.name],
            ItemKind::Evaluate(e) => e.name.iter().collect(),
            ItemKind::Output(o) => o.name.iter().collect(),
        }
    }
}

/// Every item keyword, in the order the language reference lists them.
pub const ITEM_KEYWORDS: [&str; 11] =
    ["import", "let", "source", "stage", "split", "transform", "augment", "model", "train", "evaluate", "output"];

/// `import <from> { a, b as c }`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Import {
    /// Where the names come from.
    pub from: ImportSource,
    /// The names taken, each optionally renamed.
    pub names: Vec<ImportName>,
}

/// The module an import reads.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ImportSource {
    /// A dotted module path: `std.models`.
    Module(Vec<Ident>),
    /// A file path relative to the importing file: `"lib/x.pipe"`.
    File(StringLit),
}

/// `name` or `name as alias` in an import list.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImportName {
    /// The name in the imported module.
    pub name: Ident,
    /// The local name, when renamed.
    pub alias: Option<Ident>,
}

impl ImportName {
    /// The name the importing file uses.
    pub fn local_name(&self) -> &Ident {
        self.alias.as_ref().unwrap_or(&self.name)
    }
}

/// `name = value`: the shape of `let`, `source` and `stage`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Binding {
    /// The declared name.
    pub name: Ident,
    /// Its definition.
    pub value: Expr,
}

/// `split a, b, c = value`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SplitItem {
    /// One name per part, in order: for `split folds = ... |> kfold(k)`,
    /// `folds.train` and `folds.val` (each spanning the name written).
    pub names: Vec<Ident>,
    /// The split expression (normally ending in `split([...])`).
    pub value: Expr,
    /// The one name of a k-fold split, as written (`folds`).
    pub folds: Option<Ident>,
}

/// The parts of a k-fold split, in order: the training and validation rows
/// of each fold (`folds.train`, `folds.val`).
pub const FOLD_PARTS: [&str; 2] = ["train", "val"];

/// `transform name = fit(data) { steps }`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TransformItem {
    /// The transform's name; it is applied as `name(frame)`.
    pub name: Ident,
    /// What it is: fitted on data, or a recipe with parameters.
    pub form: TransformForm,
    /// The steps, in order.
    pub body: Block,
}

/// The two forms of a `transform`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum TransformForm {
    /// `transform prep = fit(train) { ... }`: learns from `train`, applied
    /// to data as `prep(data)`.
    Fitted(Expr),
    /// `transform scale(columns) { ... }`: a recipe, used as a step (in a
    /// transform or after `|>`) and fitted where it is used.
    Recipe(Vec<Param>),
}

/// `augment name { ops and settings }`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AugmentItem {
    /// The augmentation's name.
    pub name: Ident,
    /// Its operations and settings.
    pub body: Block,
}

/// `model name = expr` or `model name(params) { layers }`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelItem {
    /// The model's name.
    pub name: Ident,
    /// Parameters, for a model with a body (`None` when written without
    /// parentheses; `Some(vec![])` for `()`).
    pub params: Option<Vec<Param>>,
    /// The definition.
    pub body: ModelBody,
}

/// How a model is defined.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ModelBody {
    /// From another model: `mlp(hidden: [64])`, `load("m") |> freeze(...)`.
    Expr(Expr),
    /// Layer by layer.
    Layers(Block),
}

/// `name: type = default` in a model's parameter list.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Param {
    /// The parameter's name.
    pub name: Ident,
    /// Its declared type, if any.
    pub ty: Option<TypeExpr>,
    /// Its default value, if any.
    pub default: Option<Expr>,
}

/// A type as written: `int`, `list[int]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TypeExpr {
    /// The type's name.
    pub name: Ident,
    /// Its type arguments.
    pub args: Vec<TypeExpr>,
    /// Where it was written.
    pub span: Span,
}

/// `train name = model on data { settings }`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrainItem {
    /// The run's name; it also names the trained model.
    pub name: Ident,
    /// The model to train.
    pub model: Expr,
    /// The training data.
    pub data: Expr,
    /// Settings: target, loss, optimizer, epochs, ...
    pub body: Block,
}

/// `evaluate [name =] run on data [{ settings }]`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvaluateItem {
    /// An optional name for the report.
    pub name: Option<Ident>,
    /// The trained model.
    pub model: Expr,
    /// The held-out data.
    pub data: Expr,
    /// Settings such as `metrics: [...]`.
    pub body: Option<Block>,
}

/// `output [name =] expr`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutputItem {
    /// An optional name.
    pub name: Option<Ident>,
    /// What to produce, normally ending in `write(path)`.
    pub value: Expr,
}

/// `{ entry entry ... }`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Block {
    /// The entries in order.
    pub entries: Vec<Entry>,
    /// From `{` to `}`.
    pub span: Span,
}

/// One line (or comma-separated part) of a block.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Entry {
    /// What the entry is.
    pub kind: EntryKind,
    /// Where it was written.
    pub span: Span,
}

/// The four kinds of block entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "entry")]
pub enum EntryKind {
    /// `key: value`
    Setting {
        /// The setting's name.
        key: Ident,
        /// Its value.
        value: Expr,
    },
    /// `qcut(income, 4) as income_q`, `relu()`
    Step {
        /// The operation or layer.
        expr: Expr,
        /// The name it is given with `as`.
        alias: Option<Ident>,
    },
    /// `residual { ... }`: a step with a body.
    Nested {
        /// The step's name.
        name: Path,
        /// Its arguments, when written with parentheses.
        args: Option<Vec<Arg>>,
        /// Its body.
        body: Block,
        /// The name it is given with `as`.
        alias: Option<Ident>,
    },
    /// `for x in list { ... }`
    For {
        /// The loop variable.
        var: Ident,
        /// The list it ranges over.
        iter: Expr,
        /// The repeated entries.
        body: Block,
    },
}

/// A possibly dotted name: `income`, `val.loss`, `std.models`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Path {
    /// The parts, at least one.
    pub parts: Vec<Ident>,
    /// From the first part to the last.
    pub span: Span,
}

impl Path {
    /// The parts joined with dots.
    pub fn dotted(&self) -> String {
        let names: Vec<&str> = self.parts.iter().map(|p| p.name.as_str()).collect();
        names.join(".")
    }
}

/// An expression.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Expr {
    /// What the expression is.
    pub kind: ExprKind,
    /// Where it was written.
    pub span: Span,
}

impl Expr {
    /// The elements of a list, or the expression itself: settings such as
    /// `device:` and `log:` take one value or a list of them.
    pub fn one_or_many(&self) -> Vec<&Expr> {
        match &self.kind {
            ExprKind::List { items } => items.iter().collect(),
            _ => vec![self],
        }
    }
}

/// The kinds of expression.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "expr")]
pub enum ExprKind {
    /// `42`, `1e-3`, `20deg`
    Number(NumberLit),
    /// `"text"`
    String(StringLit),
    /// `true`, `false`
    Bool {
        /// The value.
        value: bool,
    },
    /// `inf`
    Inf,
    /// `income`, `val.loss`
    Path(Path),
    /// `[a, b]`
    List {
        /// The elements.
        items: Vec<Expr>,
    },
    /// `{age: i64, city: str}`
    Record {
        /// The fields in order.
        fields: Vec<Field>,
    },
    /// `name(args)`
    Call(Call),
    /// `-x`, `not x`
    Unary {
        /// The operator.
        op: UnaryOp,
        /// Its operand.
        operand: Box<Expr>,
    },
    /// `a + b`, `a >= b`, `f0..f15`, `a and b`
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// `input |> op(...) |> op(...)`: the stages applied in order.
    Pipeline {
        /// The data flowing in.
        input: Box<Expr>,
        /// The operations applied, left to right (each a call or a name).
        stages: Vec<Expr>,
    },
    /// `warmup(epochs: 2) then cosine()`: phases one after another.
    Then {
        /// The phases in order, at least two.
        phases: Vec<Expr>,
    },
}

/// A call `name(args)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Call {
    /// The function, operation, layer or model called.
    pub callee: Path,
    /// The arguments in order.
    pub args: Vec<Arg>,
}

/// One argument: positional, or named with `name: value`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Arg {
    /// The name, for a named argument.
    pub name: Option<Ident>,
    /// The value.
    pub value: Expr,
}

/// `key: value` in a record literal.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Field {
    /// The field name.
    pub key: Ident,
    /// Its value.
    pub value: Expr,
}

/// A number literal.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NumberLit {
    /// The digits as written (without the unit), so `1e-3` prints as `1e-3`.
    pub text: String,
    /// The value.
    pub value: f64,
    /// Whether it was written as an integer (no `.` and no exponent).
    pub is_int: bool,
    /// The unit, if any.
    pub unit: Option<Unit>,
}

/// Units a number may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Unit {
    /// Degrees of angle.
    Deg,
    /// Radians.
    Rad,
    /// Milliseconds.
    Ms,
    /// Seconds.
    S,
    /// Minutes.
    Min,
    /// Hours.
    H,
}

impl Unit {
    /// Every unit with its suffix, longest suffixes first (for parsing).
    pub const ALL: [(Unit, &'static str); 6] =
        [(Unit::Deg, "deg"), (Unit::Rad, "rad"), (Unit::Min, "min"), (Unit::Ms, "ms"), (Unit::S, "s"), (Unit::H, "h")];

    /// The suffix as written.
    pub fn suffix(self) -> &'static str {
        Unit::ALL.iter().find(|(u, _)| *u == self).map_or("", |(_, s)| s)
    }
}

/// A string literal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StringLit {
    /// The value, escapes resolved.
    pub value: String,
    /// Where it was written, quotes included.
    pub span: Span,
}

/// Prefix operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `not x`
    Not,
}

/// Infix operators, loosest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum BinaryOp {
    /// `or`
    Or,
    /// `and`
    And,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `..`: a column range
    Range,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
}

impl BinaryOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Range => "..",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
        }
    }

    /// Binding strength: higher binds tighter. Operators of one level
    /// associate to the left, except comparisons and ranges, which do not
    /// chain.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => 4,
            BinaryOp::Range => 5,
            BinaryOp::Add | BinaryOp::Sub => 6,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => 7,
        }
    }
}
