//! `pipe fmt`: the canonical layout of a `.pipe` file.
//!
//! The formatter prints the AST, not the text, so the layout is always the
//! same for the same program: items at column 0, block entries one per line
//! indented by four spaces, calls and lists broken one element per line when
//! they do not fit in [`WIDTH`] columns, `|>` chains broken one stage per
//! line. It keeps comments and single blank lines. An entry or item with a
//! comment inside an expression is printed as written, so no comment is ever
//! lost.

mod doc;

use doc::{Doc, bracketed, concat, group, nest, text};

use crate::syntax::ast::*;
use crate::syntax::lex::Comment;

/// The line width the formatter aims for.
pub const WIDTH: usize = 100;

/// Formats a parsed file. `source` is the text it was parsed from (used for
/// comments, blank lines and verbatim fallbacks).
pub fn format(program: &Program, comments: &[Comment], source: &str) -> String {
    let mut printer = Printer { source, comments, next_comment: 0 };
    let doc = printer.program(program);
    let mut out = doc::render(&doc, WIDTH);
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// Formats one expression on its own (used by the language server's hover
/// and by tests).
pub fn format_expr(expr: &Expr) -> String {
    let printer = Printer { source: "", comments: &[], next_comment: 0 };
    doc::render(&printer.expr(expr), WIDTH)
}

struct Printer<'a> {
    source: &'a str,
    comments: &'a [Comment],
    /// Comments before this index have been printed.
    next_comment: usize,
}

impl Printer<'_> {
    fn program(&mut self, program: &Program) -> Doc {
        let mut parts = Vec::new();
        let mut previous_end = None;
        for item in &program.items {
            self.leading(&mut parts, item.span.start, previous_end);
            parts.push(self.item(item));
            self.trailing(&mut parts, item.span.end);
            parts.push(Doc::HardLine);
            previous_end = Some(item.span.end);
        }
        self.leading(&mut parts, usize::MAX, previous_end);
        concat(parts)
    }

    // -- comments and blank lines ---------------------------------------------

    /// Comments that start before `start`, each on its own line, with blank
    /// lines kept (at most one in a row).
    fn leading(&mut self, parts: &mut Vec<Doc>, start: usize, previous_end: Option<usize>) {
        let mut last_end = previous_end;
        while let Some(comment) = self.comments.get(self.next_comment).filter(|c| c.span.start < start) {
            self.next_comment += 1;
            if let Some(end) = last_end
                && self.blank_line_between(end, comment.span.start)
            {
                parts.push(Doc::HardLine);
            }
            parts.push(text(self.slice(comment.span.start, comment.span.end)));
            parts.push(Doc::HardLine);
            last_end = Some(comment.span.end);
        }
        if start != usize::MAX
            && let Some(end) = last_end
            && self.blank_line_between(end, start)
        {
            parts.push(Doc::HardLine);
        }
    }

    /// A comment that starts on the line where something ended stays there.
    fn trailing(&mut self, parts: &mut Vec<Doc>, end: usize) {
        while let Some(comment) = self.comments.get(self.next_comment) {
            let between = self.slice(end, comment.span.start);
            if comment.span.start < end || between.contains('\n') || !between.trim().is_empty() {
                return;
            }
            self.next_comment += 1;
            parts.push(text(format!(" {}", self.slice(comment.span.start, comment.span.end))));
        }
    }

    fn blank_line_between(&self, from: usize, to: usize) -> bool {
        self.slice(from, to).matches('\n').count() >= 2
    }

    fn slice(&self, from: usize, to: usize) -> &str {
        self.source.get(from..to).unwrap_or("")
    }

    /// Whether a comment lies inside `start..end` (not yet printed).
    fn comment_inside(&self, start: usize, end: usize) -> bool {
        self.comments[self.next_comment..].iter().any(|c| c.span.start > start && c.span.start < end)
    }

    /// The text of `start..end` as written; its comments count as printed.
    fn verbatim(&mut self, start: usize, end: usize) -> Doc {
        while self.comments.get(self.next_comment).is_some_and(|c| c.span.start < end) {
            self.next_comment += 1;
        }
        text(self.slice(start, end))
    }

    // -- items -----------------------------------------------------------------

    fn item(&mut self, item: &Item) -> Doc {
        let header_end = item_block(&item.kind).map_or(item.span.end, |b| b.span.start);
        if self.comment_inside(item.span.start, header_end) {
            return self.verbatim(item.span.start, item.span.end);
        }
        let kw = item.kind.keyword();
        match &item.kind {
            ItemKind::Import(import) => self.import(import),
            ItemKind::Let(b) | ItemKind::Source(b) | ItemKind::Stage(b) => self.binding(kw, &b.name.name, &b.value),
            ItemKind::Split(s) => {
                let names: Vec<&str> = match &s.folds {
                    Some(folds) => vec![folds.name.as_str()],
                    None => s.names.iter().map(|n| n.name.as_str()).collect(),
                };
                self.binding(kw, &names.join(", "), &s.value)
            }
            ItemKind::Transform(t) => match &t.form {
                TransformForm::Fitted(fit_on) => concat([
                    text(format!("transform {} = fit(", t.name.name)),
                    self.expr(fit_on),
                    text(") "),
                    self.block(&t.body),
                ]),
                TransformForm::Recipe(params) => concat([
                    text(format!("transform {}", t.name.name)),
                    bracketed("(", params.iter().map(|p| self.param(p)).collect(), ")"),
                    text(" "),
                    self.block(&t.body),
                ]),
            },
            ItemKind::Augment(a) => concat([text(format!("augment {} ", a.name.name)), self.block(&a.body)]),
            ItemKind::Model(m) => self.model(m),
            ItemKind::Train(t) => concat([
                text(format!("train {} = ", t.name.name)),
                self.expr(&t.model),
                text(" on "),
                self.expr(&t.data),
                text(" "),
                self.block(&t.body),
            ]),
            ItemKind::Evaluate(e) => self.evaluate(e),
            ItemKind::Output(o) => match &o.name {
                Some(name) => self.binding(kw, &name.name, &o.value),
                None => concat([text("output "), self.expr(&o.value)]),
            },
        }
    }

    fn import(&self, import: &Import) -> Doc {
        let from = match &import.from {
            ImportSource::Module(parts) => parts.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join("."),
            ImportSource::File(path) => quote(&path.value),
        };
        let names = import
            .names
            .iter()
            .map(|n| match &n.alias {
                Some(alias) => text(format!("{} as {}", n.name.name, alias.name)),
                None => text(n.name.name.clone()),
            })
            .collect();
        concat([text(format!("import {from} ")), braced_list(names)])
    }

    fn binding(&self, keyword: &str, name: &str, value: &Expr) -> Doc {
        concat([text(format!("{keyword} {name} = ")), self.expr(value)])
    }

    fn model(&mut self, model: &ModelItem) -> Doc {
        let mut parts = vec![text(format!("model {}", model.name.name))];
        if let Some(params) = &model.params {
            parts.push(bracketed("(", params.iter().map(|p| self.param(p)).collect(), ")"));
        }
        match &model.body {
            ModelBody::Expr(expr) => parts.extend([text(" = "), self.expr(expr)]),
            ModelBody::Layers(block) => parts.extend([text(" "), self.block(block)]),
        }
        concat(parts)
    }

    fn param(&self, param: &Param) -> Doc {
        let mut parts = vec![text(param.name.name.clone())];
        if let Some(ty) = &param.ty {
            parts.push(text(format!(": {}", type_text(ty))));
        }
        if let Some(default) = &param.default {
            parts.extend([text(" = "), self.expr(default)]);
        }
        concat(parts)
    }

    fn evaluate(&mut self, eval: &EvaluateItem) -> Doc {
        let mut parts = vec![text("evaluate ")];
        if let Some(name) = &eval.name {
            parts.push(text(format!("{} = ", name.name)));
        }
        parts.extend([self.expr(&eval.model), text(" on "), self.expr(&eval.data)]);
        if let Some(body) = &eval.body {
            parts.extend([text(" "), self.block(body)]);
        }
        concat(parts)
    }

    // -- blocks ----------------------------------------------------------------

    fn block(&mut self, block: &Block) -> Doc {
        let has_comments = self.comment_inside(block.span.start, block.span.end);
        if block.entries.is_empty() && !has_comments {
            return text("{}");
        }
        let mut inner = Vec::new();
        let mut previous_end = None;
        for entry in &block.entries {
            inner.push(Doc::HardLine);
            let mut line = Vec::new();
            self.leading(&mut line, entry.span.start, previous_end);
            line.push(self.entry(entry));
            self.trailing(&mut line, entry.span.end);
            inner.push(concat(line));
            previous_end = Some(entry.span.end);
        }
        let mut tail = Vec::new();
        self.leading(&mut tail, block.span.end, previous_end);
        // The `}` line follows: no line break (or blank line) after the last comment.
        while matches!(tail.last(), Some(Doc::HardLine)) {
            tail.pop();
        }
        if !tail.is_empty() {
            inner.push(Doc::HardLine);
            inner.push(concat(tail));
        }
        concat([text("{"), nest(4, concat(inner)), Doc::HardLine, text("}")])
    }

    fn entry(&mut self, entry: &Entry) -> Doc {
        let header_end = match &entry.kind {
            EntryKind::Nested { body, .. } | EntryKind::For { body, .. } => body.span.start,
            _ => entry.span.end,
        };
        if self.comment_inside(entry.span.start, header_end) {
            return self.verbatim(entry.span.start, entry.span.end);
        }
        match &entry.kind {
            EntryKind::Setting { key, value } => concat([text(format!("{}: ", key.name)), self.expr(value)]),
            // A step that starts with `-` would continue the entry above it
            // when read back: keep it in parentheses.
            EntryKind::Step { expr, alias } if matches!(expr.kind, ExprKind::Unary { op: UnaryOp::Neg, .. }) => {
                concat([text("("), self.expr(expr), text(")"), alias_doc(alias)])
            }
            EntryKind::Step { expr, alias } => concat([self.expr(expr), alias_doc(alias)]),
            EntryKind::Nested { name, args, body, alias } => {
                let mut parts = vec![text(name.dotted())];
                if let Some(args) = args {
                    parts.push(self.args(args));
                }
                parts.extend([text(" "), self.block(body), alias_doc(alias)]);
                concat(parts)
            }
            EntryKind::For { var, iter, body } => {
                concat([text(format!("for {} in ", var.name)), self.expr(iter), text(" "), self.block(body)])
            }
        }
    }

    // -- expressions -------------------------------------------------------------

    fn expr(&self, expr: &Expr) -> Doc {
        match &expr.kind {
            ExprKind::Number(n) => text(format!("{}{}", n.text, n.unit.map_or("", Unit::suffix))),
            ExprKind::String(s) => text(quote(&s.value)),
            ExprKind::Bool { value } => text(value.to_string()),
            ExprKind::Inf => text("inf"),
            ExprKind::Path(path) => text(path.dotted()),
            ExprKind::List { items } => bracketed("[", items.iter().map(|e| self.expr(e)).collect(), "]"),
            ExprKind::Record { fields } => {
                let fields =
                    fields.iter().map(|f| concat([text(format!("{}: ", f.key.name)), self.expr(&f.value)])).collect();
                bracketed("{", fields, "}")
            }
            ExprKind::Call(call) => concat([text(call.callee.dotted()), self.args(&call.args)]),
            ExprKind::Unary { op, operand } => {
                // `-` applies to a prefix expression; `not` to a comparison.
                let (prefix, level) = match op {
                    UnaryOp::Neg => ("-", Precedence::Prefix),
                    UnaryOp::Not => ("not ", Precedence::Binary(NOT_LEVEL)),
                };
                concat([text(prefix), self.operand(operand, level, false)])
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let level = Precedence::Binary(op.precedence());
                let chains = !matches!(level, Precedence::Binary(4 | 5));
                // Ranges read as one token: `f0..f15`.
                let symbol = if *op == BinaryOp::Range { "..".to_owned() } else { format!(" {} ", op.symbol()) };
                concat([self.operand(lhs, level, !chains), text(symbol), self.operand(rhs, level, true)])
            }
            ExprKind::Pipeline { input, stages } => {
                let mut parts = vec![self.operand(input, Precedence::Pipeline, true)];
                for stage in stages {
                    parts.extend([Doc::Line, text("|> "), self.expr(stage)]);
                }
                group(concat([parts.remove(0), nest(4, concat(parts))]))
            }
            ExprKind::Then { phases } => {
                let mut parts = Vec::new();
                for (i, phase) in phases.iter().enumerate() {
                    if i > 0 {
                        parts.extend([Doc::Line, text("then ")]);
                    }
                    parts.push(self.operand(phase, Precedence::Then, true));
                }
                group(concat(parts))
            }
        }
    }

    /// An operand of an operator at `parent` precedence, in parentheses
    /// when it binds looser (or equally, where the operator does not chain or
    /// the operand is on the right).
    fn operand(&self, expr: &Expr, parent: Precedence, strict: bool) -> Doc {
        let own = precedence_of(expr);
        let needs_parens = own < parent || (strict && own == parent);
        if needs_parens { concat([text("("), self.expr(expr), text(")")]) } else { self.expr(expr) }
    }

    fn args(&self, args: &[Arg]) -> Doc {
        let docs = args
            .iter()
            .map(|a| match &a.name {
                Some(name) => concat([text(format!("{}: ", name.name)), self.expr(&a.value)]),
                None => self.expr(&a.value),
            })
            .collect();
        bracketed("(", docs, ")")
    }
}

/// `not` sits between `and` and the comparisons.
const NOT_LEVEL: u8 = 3;

/// How tightly an expression binds, loosest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Precedence {
    Then,
    Pipeline,
    Binary(u8),
    Prefix,
    Atom,
}

fn precedence_of(expr: &Expr) -> Precedence {
    match &expr.kind {
        ExprKind::Then { .. } => Precedence::Then,
        ExprKind::Pipeline { .. } => Precedence::Pipeline,
        ExprKind::Binary { op, .. } => Precedence::Binary(op.precedence()),
        // `not` binds looser than comparisons: `not a == b` is `not (a == b)`.
        ExprKind::Unary { op: UnaryOp::Not, .. } => Precedence::Binary(NOT_LEVEL),
        ExprKind::Unary { op: UnaryOp::Neg, .. } => Precedence::Prefix,
        // `-1` as written is a negated literal, so a negative number never
        // appears here; every other kind is atomic.
        _ => Precedence::Atom,
    }
}

fn item_block(kind: &ItemKind) -> Option<&Block> {
    match kind {
        ItemKind::Transform(t) => Some(&t.body),
        ItemKind::Augment(a) => Some(&a.body),
        ItemKind::Model(ModelItem { body: ModelBody::Layers(b), .. }) => Some(b),
        ItemKind::Train(t) => Some(&t.body),
        ItemKind::Evaluate(e) => e.body.as_ref(),
        _ => None,
    }
}

fn alias_doc(alias: &Option<Ident>) -> Doc {
    text(alias.as_ref().map_or(String::new(), |a| format!(" as {}", a.name)))
}

/// `{ a, b }` with spaces inside, as import lists are written.
fn braced_list(items: Vec<Doc>) -> Doc {
    let mut inner = vec![Doc::Line];
    let count = items.len();
    for (i, item) in items.into_iter().enumerate() {
        inner.push(item);
        if i + 1 < count {
            inner.extend([text(","), Doc::Line]);
        }
    }
    inner.push(Doc::IfBreak(","));
    group(concat([text("{"), nest(4, concat(inner)), Doc::Line, text("}")]))
}

fn type_text(ty: &TypeExpr) -> String {
    if ty.args.is_empty() {
        return ty.name.name.clone();
    }
    let args: Vec<String> = ty.args.iter().map(type_text).collect();
    format!("{}[{}]", ty.name.name, args.join(", "))
}

/// A string literal that parses back to `value`.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
