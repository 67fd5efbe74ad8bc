//! Lowering: pest pairs to the owned AST.
//!
//! The grammar guarantees the shape of each pair, so the accessors here only
//! fail on a grammar/lowering mismatch, which is a bug in `pipe`, reported as
//! a diagnostic rather than a panic.

use std::cell::Cell;

use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, ConstPrattParser, Op};

use crate::source::{FileId, Span};
use crate::syntax::ast::*;
use crate::syntax::error::SyntaxError;
use crate::syntax::grammar::Rule;
use crate::syntax::lex::{Comment, MAX_NESTING};

type Result<T> = std::result::Result<T, SyntaxError>;

/// Operator precedence, loosest first (the table in `grammar/pipe.pest`).
static PRECEDENCE: ConstPrattParser<Rule, 10> = ConstPrattParser::new_const([
    (Op::infix(Rule::kw_then, Assoc::Left), true),
    (Op::infix(Rule::pipe_op, Assoc::Left), true),
    (Op::infix(Rule::kw_or, Assoc::Left), true),
    (Op::infix(Rule::kw_and, Assoc::Left), true),
    (Op::prefix(Rule::kw_not), true),
    (Op::infix(Rule::compare_op, Assoc::Left), true),
    (Op::infix(Rule::range_op, Assoc::Left), true),
    (Op::infix(Rule::add_op, Assoc::Left), true),
    (Op::infix(Rule::mul_op, Assoc::Left), true),
    (Op::prefix(Rule::neg_op), true),
]);

/// An expression being built, with what precedence grouping needs to know.
struct Lowered {
    expr: Expr,
    /// Written in parentheses (so not merged into a chain around it).
    grouped: bool,
    /// Depth of the tree built so far.
    depth: usize,
}

/// `a then b`, extending a chain that is not parenthesised.
fn then(lhs: Lowered, rhs: Expr) -> ExprKind {
    match lhs.expr.kind {
        ExprKind::Then { mut phases } if !lhs.grouped => {
            phases.push(rhs);
            ExprKind::Then { phases }
        }
        kind => ExprKind::Then { phases: vec![Expr { kind, span: lhs.expr.span }, rhs] },
    }
}

/// Turns pest pairs into AST nodes; `offset` is added to every position
/// (the chunk being parsed may start inside the file).
pub struct Lowerer<'t> {
    file: FileId,
    offset: usize,
    /// Nesting of expressions and blocks so far.
    depth: Cell<usize>,
    /// The whole file's text and comments, to trim spans.
    text: &'t str,
    comments: &'t [Comment],
}

impl<'t> Lowerer<'t> {
    /// A lowerer for a chunk of `file` (whose text is `text`, with these
    /// comments) that starts at byte `offset`.
    pub fn new(file: FileId, offset: usize, text: &'t str, comments: &'t [Comment]) -> Self {
        Lowerer { file, offset, depth: Cell::new(0), text, comments }
    }

    /// The pair's span, without trailing whitespace and comments: pest
    /// includes them in a rule that ends with an optional or repeated part.
    fn span(&self, pair: &Pair<Rule>) -> Span {
        let s = pair.as_span();
        let start = self.offset + s.start();
        let mut end = self.offset + s.end();
        loop {
            end = start + self.text[start..end].trim_end().len();
            let comment = self.comments.binary_search_by_key(&end, |c| c.span.end).ok().map(|i| &self.comments[i]);
            match comment {
                Some(c) if c.span.start >= start => end = c.span.start,
                _ => break,
            }
        }
        Span::new(self.file, start, end)
    }

    fn bug(&self, pair: &Pair<Rule>, what: &str) -> SyntaxError {
        SyntaxError::Unexpected {
            expected: format!("{what} (internal error: the grammar and the parser disagree; please report it)"),
            found: format!("{:?}", pair.as_rule()),
            span: self.span(pair),
            label: "here".into(),
            help: None,
        }
    }

    /// Lowers the pairs of the `program` rule.
    pub fn program(&self, pairs: Pairs<Rule>) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        for program in pairs {
            for pair in program.into_inner() {
                if pair.as_rule() != Rule::EOI {
                    items.push(self.item(pair)?);
                }
            }
        }
        Ok(items)
    }

    fn item(&self, pair: Pair<Rule>) -> Result<Item> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        // Skip the keyword: the rule says which item this is.
        let mut inner = Parts::new(self, pair.clone());
        inner.skip_keyword();
        let kind = match rule {
            Rule::import_item => ItemKind::Import(self.import(&mut inner)?),
            Rule::let_item => ItemKind::Let(self.binding(&mut inner)?),
            Rule::source_item => ItemKind::Source(self.binding(&mut inner)?),
            Rule::stage_item => ItemKind::Stage(self.binding(&mut inner)?),
            Rule::split_item => ItemKind::Split(self.split(&mut inner)?),
            Rule::transform_item => ItemKind::Transform(self.transform(&mut inner)?),
            Rule::augment_item => ItemKind::Augment(AugmentItem {
                name: self.ident(inner.next("a name")?),
                body: self.block(inner.next("a block")?)?,
            }),
            Rule::model_item => ItemKind::Model(self.model(&mut inner)?),
            Rule::train_item => ItemKind::Train(self.train(&mut inner)?),
            Rule::evaluate_item => ItemKind::Evaluate(self.evaluate(&mut inner)?),
            Rule::output_item => ItemKind::Output(self.output(&mut inner)?),
            _ => return Err(self.bug(&pair, "an item")),
        };
        Ok(Item { kind, span })
    }

    fn import(&self, parts: &mut Parts) -> Result<Import> {
        let from_pair = parts.next("a module")?;
        let from = match from_pair.as_rule() {
            Rule::string => ImportSource::File(self.string(from_pair)?),
            _ => ImportSource::Module(from_pair.into_inner().map(|p| self.ident(p)).collect()),
        };
        let mut names = Vec::new();
        for pair in parts.rest() {
            let mut idents = pair.into_inner().filter(|p| p.as_rule() == Rule::ident);
            let name = idents.next().map(|p| self.ident(p));
            let alias = idents.next().map(|p| self.ident(p));
            if let Some(name) = name {
                names.push(ImportName { name, alias });
            }
        }
        Ok(Import { from, names })
    }

    fn binding(&self, parts: &mut Parts) -> Result<Binding> {
        let name = self.ident(parts.next("a name")?);
        let value = self.expr(parts.next("an expression")?)?;
        Ok(Binding { name, value })
    }

    fn split(&self, parts: &mut Parts) -> Result<SplitItem> {
        let mut names = Vec::new();
        let mut value = None;
        for pair in parts.rest() {
            match pair.as_rule() {
                Rule::ident => names.push(self.ident(pair)),
                _ => value = Some(self.expr(pair)?),
            }
        }
        let value = value.ok_or_else(|| parts.missing("an expression"))?;
        // One name before `kfold(...)`: its parts are `name.train`, `name.val`.
        let ends_in_kfold = match &value.kind {
            ExprKind::Pipeline { stages, .. } => {
                stages.last().is_some_and(|s| matches!(&s.kind, ExprKind::Call(c) if c.callee.dotted() == "kfold"))
            }
            _ => false,
        };
        if names.len() == 1 && ends_in_kfold {
            let folds = names.remove(0);
            let names = FOLD_PARTS
                .iter()
                .map(|part| Ident { name: format!("{}.{part}", folds.name), span: folds.span })
                .collect();
            return Ok(SplitItem { names, value, folds: Some(folds) });
        }
        Ok(SplitItem { names, value, folds: None })
    }

    fn transform(&self, parts: &mut Parts) -> Result<TransformItem> {
        let name = self.ident(parts.next("a name")?);
        let next = parts.next("`= fit(data)` or parameters")?;
        let form = if next.as_rule() == Rule::params {
            TransformForm::Recipe(self.params(next)?)
        } else {
            // `next` is the `fit` keyword.
            TransformForm::Fitted(self.expr(parts.next("an expression")?)?)
        };
        let body = self.block(parts.next("a block")?)?;
        Ok(TransformItem { name, form, body })
    }

    fn model(&self, parts: &mut Parts) -> Result<ModelItem> {
        let name = self.ident(parts.next("a name")?);
        let mut params = None;
        let mut body = None;
        for pair in parts.rest() {
            match pair.as_rule() {
                Rule::params => params = Some(self.params(pair)?),
                Rule::block => body = Some(ModelBody::Layers(self.block(pair)?)),
                _ => body = Some(ModelBody::Expr(self.expr(pair)?)),
            }
        }
        let body = body.ok_or_else(|| parts.missing("a model body"))?;
        Ok(ModelItem { name, params, body })
    }

    fn params(&self, pair: Pair<Rule>) -> Result<Vec<Param>> {
        let mut params = Vec::new();
        for param in pair.into_inner() {
            let mut name = None;
            let mut ty = None;
            let mut default = None;
            for part in param.into_inner() {
                match part.as_rule() {
                    Rule::ident => name = Some(self.ident(part)),
                    Rule::type_expr => ty = Some(self.type_expr(part)),
                    _ => default = Some(self.expr(part)?),
                }
            }
            if let Some(name) = name {
                params.push(Param { name, ty, default });
            }
        }
        Ok(params)
    }

    fn type_expr(&self, pair: Pair<Rule>) -> TypeExpr {
        let span = self.span(&pair);
        let mut name = None;
        let mut args = Vec::new();
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::ident => name = Some(self.ident(part)),
                _ => args.push(self.type_expr(part)),
            }
        }
        let name = name.unwrap_or(Ident { name: String::new(), span });
        TypeExpr { name, args, span }
    }

    fn train(&self, parts: &mut Parts) -> Result<TrainItem> {
        let name = self.ident(parts.next("a name")?);
        let model = self.expr(parts.next("a model")?)?;
        parts.skip_keyword(); // `on`
        let data = self.expr(parts.next("data")?)?;
        let body = self.block(parts.next("a block")?)?;
        Ok(TrainItem { name, model, data, body })
    }

    fn evaluate(&self, parts: &mut Parts) -> Result<EvaluateItem> {
        let name = parts.take_if(Rule::ident).map(|p| self.ident(p));
        let model = self.expr(parts.next("a model")?)?;
        parts.skip_keyword(); // `on`
        let data = self.expr(parts.next("data")?)?;
        let body = parts.take_if(Rule::block).map(|p| self.block(p)).transpose()?;
        Ok(EvaluateItem { name, model, data, body })
    }

    fn output(&self, parts: &mut Parts) -> Result<OutputItem> {
        let name = parts.take_if(Rule::ident).map(|p| self.ident(p));
        let value = self.expr(parts.next("an expression")?)?;
        Ok(OutputItem { name, value })
    }

    // -- blocks -------------------------------------------------------------

    fn block(&self, pair: Pair<Rule>) -> Result<Block> {
        let span = self.span(&pair);
        let entries = pair.into_inner().map(|p| self.entry(p)).collect::<Result<_>>()?;
        Ok(Block { entries, span })
    }

    fn entry(&self, pair: Pair<Rule>) -> Result<Entry> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut parts = Parts::new(self, pair.clone());
        let kind = match rule {
            Rule::setting => {
                let key = self.ident(parts.next("a name")?);
                EntryKind::Setting { key, value: self.expr(parts.next("a value")?)? }
            }
            Rule::step => {
                let expr = self.expr(parts.next("an expression")?)?;
                EntryKind::Step { expr, alias: self.alias(&mut parts) }
            }
            Rule::nested_step => self.nested(&mut parts)?,
            Rule::for_entry => {
                parts.skip_keyword();
                let var = self.ident(parts.next("a name")?);
                parts.skip_keyword();
                let iter = self.expr(parts.next("a list")?)?;
                EntryKind::For { var, iter, body: self.nested_block(parts.next("a block")?)? }
            }
            _ => return Err(self.bug(&pair, "a block entry")),
        };
        Ok(Entry { kind, span })
    }

    fn nested(&self, parts: &mut Parts) -> Result<EntryKind> {
        let mut head = Parts::new(self, parts.next("a name")?);
        let name = self.path(head.next("a name")?);
        let args = head.take_if(Rule::args).map(|p| self.args(p)).transpose()?;
        let body = self.nested_block(parts.next("a block")?)?;
        Ok(EntryKind::Nested { name, args, body, alias: self.alias(parts) })
    }

    /// A block inside a block: counts towards the nesting limit.
    fn nested_block(&self, pair: Pair<Rule>) -> Result<Block> {
        self.descend(&pair)?;
        let block = self.block(pair);
        self.depth.set(self.depth.get() - 1);
        block
    }

    fn alias(&self, parts: &mut Parts) -> Option<Ident> {
        parts.take_if(Rule::kw_as)?;
        parts.take_if(Rule::ident).map(|p| self.ident(p))
    }

    // -- expressions ---------------------------------------------------------

    fn descend(&self, pair: &Pair<Rule>) -> Result<()> {
        self.depth.set(self.depth.get() + 1);
        if self.depth.get() > MAX_NESTING * 2 {
            return Err(SyntaxError::TooDeep { span: self.span(pair), limit: MAX_NESTING * 2 });
        }
        Ok(())
    }

    /// An `expr` pair: operands and operators, grouped by precedence.
    fn expr(&self, pair: Pair<Rule>) -> Result<Expr> {
        Ok(self.lowered(pair)?.expr)
    }

    fn lowered(&self, pair: Pair<Rule>) -> Result<Lowered> {
        self.descend(&pair)?;
        let result = PRECEDENCE
            .map_primary(|p| self.operand(p))
            .map_prefix(|op, operand| self.prefix(&op, operand?))
            .map_infix(|lhs, op, rhs| self.infix(lhs?, &op, rhs?))
            .parse(pair.into_inner());
        self.depth.set(self.depth.get() - 1);
        result
    }

    /// A primary: a literal, a list, a call, a name, or `(expr)`.
    fn operand(&self, pair: Pair<Rule>) -> Result<Lowered> {
        if pair.as_rule() == Rule::expr {
            let inner = self.lowered(pair)?;
            return Ok(Lowered { grouped: true, ..inner });
        }
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::number => ExprKind::Number(self.number(&pair)?),
            Rule::string => ExprKind::String(self.string(pair)?),
            Rule::boolean => ExprKind::Bool { value: pair.as_str() == "true" },
            Rule::kw_inf => ExprKind::Inf,
            Rule::list => ExprKind::List { items: pair.into_inner().map(|p| self.expr(p)).collect::<Result<_>>()? },
            Rule::record => self.record(pair)?,
            Rule::call => ExprKind::Call(self.call(pair)?),
            Rule::path => ExprKind::Path(self.path(pair)),
            _ => return Err(self.bug(&pair, "an expression")),
        };
        Ok(Lowered { expr: Expr { kind, span }, grouped: false, depth: 1 })
    }

    fn prefix(&self, op: &Pair<Rule>, operand: Lowered) -> Result<Lowered> {
        let op_kind = if op.as_rule() == Rule::kw_not { UnaryOp::Not } else { UnaryOp::Neg };
        let span = self.span(op).to(operand.expr.span);
        let expr = Expr { kind: ExprKind::Unary { op: op_kind, operand: Box::new(operand.expr) }, span };
        Ok(Lowered { expr, grouped: false, depth: operand.depth + 1 })
    }

    /// `lhs op rhs`. Chains of `then` and `|>` become one node; comparisons
    /// and ranges do not chain; a long chain counts towards the nesting limit.
    fn infix(&self, lhs: Lowered, op: &Pair<Rule>, rhs: Lowered) -> Result<Lowered> {
        let depth = lhs.depth.max(rhs.depth) + 1;
        if depth > MAX_NESTING * 2 {
            return Err(SyntaxError::TooDeep { span: rhs.expr.span, limit: MAX_NESTING * 2 });
        }
        let span = lhs.expr.span.to(rhs.expr.span);
        let kind = match op.as_rule() {
            Rule::kw_then => then(lhs, rhs.expr),
            Rule::pipe_op => self.pipe(lhs, rhs)?,
            _ => {
                let binary = binary_op(op.as_str()).ok_or_else(|| self.bug(op, "an operator"))?;
                self.no_chain(&lhs, binary, op)?;
                ExprKind::Binary { op: binary, lhs: Box::new(lhs.expr), rhs: Box::new(rhs.expr) }
            }
        };
        Ok(Lowered { expr: Expr { kind, span }, grouped: false, depth })
    }

    /// `data |> stage`: the stage is a call or a name.
    fn pipe(&self, lhs: Lowered, rhs: Lowered) -> Result<ExprKind> {
        let is_stage = matches!(rhs.expr.kind, ExprKind::Call(_) | ExprKind::Path(_)) && !rhs.grouped;
        if !is_stage {
            let written = &self.text[rhs.expr.span.start..rhs.expr.span.end];
            let found = if written.chars().count() <= 40 { format!("`{written}`") } else { "an expression".into() };
            return Err(SyntaxError::Unexpected {
                expected: "an operation after `|>`".into(),
                found,
                span: rhs.expr.span,
                label: "not a call or a name".into(),
                help: Some("`|>` passes data to an operation: write `data |> name(...)`".into()),
            });
        }
        Ok(match lhs.expr.kind {
            ExprKind::Pipeline { input, mut stages } if !lhs.grouped => {
                stages.push(rhs.expr);
                ExprKind::Pipeline { input, stages }
            }
            kind => ExprKind::Pipeline { input: Box::new(Expr { kind, span: lhs.expr.span }), stages: vec![rhs.expr] },
        })
    }

    /// `a < b < c` and `a..b..c` are errors: say how to write them.
    fn no_chain(&self, lhs: &Lowered, op: BinaryOp, op_pair: &Pair<Rule>) -> Result<()> {
        let chains = |o: BinaryOp| o.precedence() == op.precedence() && matches!(o.precedence(), 4 | 5);
        match &lhs.expr.kind {
            ExprKind::Binary { op: first, .. } if !lhs.grouped && chains(*first) && chains(op) => {
                Err(SyntaxError::ChainedComparison {
                    span: self.span(op_pair),
                    first: first.symbol().into(),
                    second: op.symbol().into(),
                })
            }
            _ => Ok(()),
        }
    }

    fn record(&self, pair: Pair<Rule>) -> Result<ExprKind> {
        let mut fields = Vec::new();
        for field in pair.into_inner() {
            let mut parts = Parts::new(self, field);
            let key = self.ident(parts.next("a name")?);
            let value = self.expr(parts.next("a value")?)?;
            fields.push(Field { key, value });
        }
        Ok(ExprKind::Record { fields })
    }

    fn call(&self, pair: Pair<Rule>) -> Result<Call> {
        let mut parts = Parts::new(self, pair);
        let callee = self.path(parts.next("a name")?);
        let args = self.args(parts.next("arguments")?)?;
        Ok(Call { callee, args })
    }

    fn args(&self, pair: Pair<Rule>) -> Result<Vec<Arg>> {
        let mut args = Vec::new();
        for arg in pair.into_inner() {
            let mut parts = Parts::new(self, arg);
            let name = parts.take_if(Rule::word).map(|p| self.ident(p));
            let value = self.expr(parts.next("a value")?)?;
            args.push(Arg { name, value });
        }
        Ok(args)
    }

    fn path(&self, pair: Pair<Rule>) -> Path {
        let span = self.span(&pair);
        let parts = pair.into_inner().map(|p| self.ident(p)).collect();
        Path { parts, span }
    }

    fn ident(&self, pair: Pair<Rule>) -> Ident {
        Ident { name: pair.as_str().to_owned(), span: self.span(&pair) }
    }

    // -- literals ------------------------------------------------------------

    fn number(&self, pair: &Pair<Rule>) -> Result<NumberLit> {
        let written = pair.as_str();
        let (digits, unit) = split_unit(written);
        let is_int = !digits.contains(['.', 'e', 'E']);
        let plain: String = digits.chars().filter(|c| *c != '_').collect();
        let value: f64 = plain.parse().unwrap_or(f64::INFINITY);
        let too_large = !value.is_finite() || (is_int && plain.parse::<i64>().is_err());
        if too_large {
            return Err(SyntaxError::BadNumber {
                text: written.to_owned(),
                reason: "too large".into(),
                help: if is_int {
                    "integers must fit in 64 bits (at most 9223372036854775807)".into()
                } else {
                    "write `inf` for an unbounded value".into()
                },
                span: self.span(pair),
            });
        }
        Ok(NumberLit { text: digits.to_owned(), value, is_int, unit })
    }

    fn string(&self, pair: Pair<Rule>) -> Result<StringLit> {
        let span = self.span(&pair);
        let body = pair.into_inner().next().map_or("", |p| p.as_str());
        Ok(StringLit { value: unescape(body), span })
    }
}

/// Splits a number token into its digits and its unit.
fn split_unit(written: &str) -> (&str, Option<Unit>) {
    for (unit, suffix) in Unit::ALL {
        if let Some(digits) = written.strip_suffix(suffix) {
            // `1e5` has no unit even though ... it ends in a digit, so only a
            // suffix after the last digit counts.
            if digits.ends_with(|c: char| c.is_ascii_digit()) {
                return (digits, Some(unit));
            }
        }
    }
    (written, None)
}

/// Resolves the escapes the grammar accepted.
fn unescape(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('u') => {
                let hex: String = chars.by_ref().skip(1).take_while(|c| *c != '}').collect();
                out.extend(u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Whether a rule is a keyword token (skipped when lowering: the
/// enclosing rule already says what it is).
fn is_keyword(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::kw_import
            | Rule::kw_let
            | Rule::kw_source
            | Rule::kw_stage
            | Rule::kw_split
            | Rule::kw_transform
            | Rule::kw_augment
            | Rule::kw_model
            | Rule::kw_train
            | Rule::kw_evaluate
            | Rule::kw_output
            | Rule::kw_fit
            | Rule::kw_on
            | Rule::kw_for
            | Rule::kw_in
    )
}

fn binary_op(symbol: &str) -> Option<BinaryOp> {
    Some(match symbol {
        "or" => BinaryOp::Or,
        "and" => BinaryOp::And,
        "==" => BinaryOp::Eq,
        "!=" => BinaryOp::Ne,
        "<" => BinaryOp::Lt,
        "<=" => BinaryOp::Le,
        ">" => BinaryOp::Gt,
        ">=" => BinaryOp::Ge,
        ".." => BinaryOp::Range,
        "+" => BinaryOp::Add,
        "-" => BinaryOp::Sub,
        "*" => BinaryOp::Mul,
        "/" => BinaryOp::Div,
        "%" => BinaryOp::Rem,
        _ => return None,
    })
}

/// The children of one pair, consumed in order.
struct Parts<'i> {
    inner: std::iter::Peekable<Pairs<'i, Rule>>,
    end: Span,
}

impl<'i> Parts<'i> {
    fn new(lowerer: &Lowerer<'_>, pair: Pair<'i, Rule>) -> Self {
        let span = lowerer.span(&pair);
        Parts { inner: pair.into_inner().peekable(), end: Span::point(span.file, span.end) }
    }

    fn next(&mut self, what: &str) -> Result<Pair<'i, Rule>> {
        self.inner.next().ok_or_else(|| self.missing(what))
    }

    fn missing(&self, what: &str) -> SyntaxError {
        SyntaxError::Unexpected {
            expected: format!("{what} (internal error: the grammar and the parser disagree; please report it)"),
            found: "nothing".into(),
            span: self.end,
            label: "here".into(),
            help: None,
        }
    }

    /// Skips a keyword pair, if the next child is one.
    fn skip_keyword(&mut self) {
        if self.inner.peek().is_some_and(|p| is_keyword(p.as_rule())) {
            self.inner.next();
        }
    }

    fn take_if(&mut self, rule: Rule) -> Option<Pair<'i, Rule>> {
        self.inner.next_if(|p| p.as_rule() == rule)
    }

    fn rest(&mut self) -> impl Iterator<Item = Pair<'i, Rule>> + '_ {
        self.inner.by_ref()
    }
}
