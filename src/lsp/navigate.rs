//! Hover, go to definition and document symbols: answers about the names
//! in a document, from its latest analysis that parsed.

use lsp_types::{DocumentSymbol, Hover, HoverContents, Location, MarkupContent, MarkupKind, SymbolKind};

use super::analysis::Analysis;
use super::document::Document;
use super::text::{LineIndex, name_at};
use super::uri;
use crate::check::settings::describe_setting;
use crate::check::{builtins, explain};
use crate::source::{FileId, Span};
use crate::syntax::ast::{ImportSource, Item, ItemKind};

/// What the name at `offset` is: a layer's shapes, an item's schema, a
/// column's type, or a builtin's signature.
pub fn hover(doc: &Document, offset: usize) -> Option<Hover> {
    let (start, end) = name_at(&doc.text, offset)?;
    let name = &doc.text[start..end];
    let semantic = doc.semantic(start);
    let markdown = semantic
        .and_then(|(analysis, at)| {
            layer_shapes(analysis, name, at)
                .or_else(|| item_schema(analysis, name))
                .or_else(|| column_type(analysis, name, at))
        })
        .or_else(|| builtins::signature(name).map(|(sig, what)| format!("```pipe\n{sig}\n```\n{what}")))
        .or_else(|| describe_setting(name).map(|(form, what)| format!("```pipe\n{form}\n```\n{what}")))?;
    let range = LineIndex::new(&doc.text).range(start, end);
    let contents = HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value: markdown });
    Some(Hover { contents, range: Some(range) })
}

/// `dense(64)`: `[4] -> [64]`, once per distinct pair of shapes (a model
/// used by several runs, or in a loop, may have several).
fn layer_shapes(analysis: &Analysis, name: &str, at: usize) -> Option<String> {
    let mut found: Vec<&str> = Vec::new();
    for (span, shapes) in &analysis.report.layer_shapes {
        // Layers of imported models have spans in their own files.
        if !in_root(*span, at) {
            continue;
        }
        let written = analysis.text.get(span.start..span.end).unwrap_or_default();
        if written.starts_with(name) && !found.contains(&shapes.as_str()) {
            found.push(shapes);
        }
    }
    (!found.is_empty()).then(|| format!("```pipe\n{name}: {}\n```", found.join("\n")))
}

fn item_schema(analysis: &Analysis, name: &str) -> Option<String> {
    let explained = analysis.report.explained.iter().find(|e| e.names.split(", ").any(|n| n == name))?;
    Some(format!("```\n{}```", explain::render(std::slice::from_ref(explained))))
}

fn column_type(analysis: &Analysis, name: &str, at: usize) -> Option<String> {
    let (_, schema) = analysis
        .report
        .column_scopes
        .iter()
        .filter(|(span, _)| in_root(*span, at))
        .min_by_key(|(span, _)| span.end - span.start)?;
    let column = schema.get(name)?;
    Some(format!("column `{}`: `{}`", column.name, column.dtype))
}

fn in_root(span: Span, at: usize) -> bool {
    span.file == FileId(0) && span.start <= at && at <= span.end
}

/// Where the name at `offset` is declared: in this file, or in the file
/// an import reads it from.
pub fn definition(doc: &Document, offset: usize) -> Option<Location> {
    let (start, end) = name_at(&doc.text, offset)?;
    let name = &doc.text[start..end];
    let (analysis, _) = doc.semantic(start)?;
    let items = &analysis.parsed.program.items;
    let item = items.iter().find(|i| i.kind.declared_names().iter().any(|n| n.name == name))?;
    if let ItemKind::Import(import) = &item.kind
        && let ImportSource::File(path) = &import.from
    {
        let imported = import.names.iter().find(|n| n.local_name().name == name)?;
        return definition_in_file(&analysis.dir.as_ref()?.join(&path.value), &imported.name.name);
    }
    let declared = item.kind.declared_names().into_iter().find(|n| n.name == name)?;
    let range = LineIndex::new(&analysis.text).range(declared.span.start, declared.span.end);
    Some(Location { uri: doc.uri.clone(), range: map_range(doc, analysis, range) })
}

fn definition_in_file(path: &std::path::Path, name: &str) -> Option<Location> {
    crate::files::regular_file(path).ok()?;
    let text = std::fs::read_to_string(path).ok()?;
    let parsed = crate::syntax::parse(&text, FileId(0));
    let declared = parsed
        .program
        .items
        .iter()
        .flat_map(|i| i.kind.declared_names().into_iter().cloned().collect::<Vec<_>>())
        .find(|n| n.name == name)?;
    let range = LineIndex::new(&text).range(declared.span.start, declared.span.end);
    Some(Location { uri: uri::from_path(&path.canonicalize().ok()?)?, range })
}

/// A range in an older analysed text, moved to the current text when the
/// edit since then was elsewhere (most often, after it: nothing moves).
fn map_range(doc: &Document, analysis: &Analysis, range: lsp_types::Range) -> lsp_types::Range {
    if *analysis.text == *doc.text {
        return range;
    }
    let old = LineIndex::new(&analysis.text);
    let new = LineIndex::new(&doc.text);
    let start = super::text::map_offset(&analysis.text, &doc.text, old.offset(range.start));
    let end = super::text::map_offset(&analysis.text, &doc.text, old.offset(range.end));
    new.range(start, end)
}

/// The document's items as an outline: each named item with its kind,
/// a split's parts under it.
pub fn symbols(doc: &Document) -> Vec<DocumentSymbol> {
    let Some((analysis, _)) = doc.semantic(0) else { return Vec::new() };
    let lines = LineIndex::new(&analysis.text);
    analysis
        .parsed
        .program
        .items
        .iter()
        .enumerate()
        .filter_map(|(index, item)| symbol(analysis, &lines, index, item))
        .map(|mut s| {
            s.range = map_range(doc, analysis, s.range);
            s.selection_range = map_range(doc, analysis, s.selection_range);
            for child in s.children.iter_mut().flatten() {
                child.range = map_range(doc, analysis, child.range);
                child.selection_range = map_range(doc, analysis, child.selection_range);
            }
            s
        })
        .collect()
}

#[allow(deprecated)] // `DocumentSymbol::deprecated` must still be given.
fn symbol(analysis: &Analysis, lines: &LineIndex, index: usize, item: &Item) -> Option<DocumentSymbol> {
    let kind = match &item.kind {
        ItemKind::Import(_) => SymbolKind::MODULE,
        ItemKind::Let(_) => SymbolKind::CONSTANT,
        ItemKind::Source(_) | ItemKind::Stage(_) | ItemKind::Split(_) => SymbolKind::VARIABLE,
        ItemKind::Transform(_) | ItemKind::Augment(_) => SymbolKind::FUNCTION,
        ItemKind::Model(_) => SymbolKind::CLASS,
        ItemKind::Train(_) => SymbolKind::METHOD,
        ItemKind::Evaluate(_) | ItemKind::Output(_) => SymbolKind::EVENT,
    };
    let names = item.kind.declared_names();
    let keyword = item.kind.keyword();
    let name = match names.as_slice() {
        [] => keyword.to_string(),
        names => names.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(", "),
    };
    let selection = names.first().map_or(item.span, |n| n.span);
    let columns = analysis.report.explained.get(index).and_then(|e| e.schema.as_ref()).map(|s| s.columns.len());
    let detail = match columns {
        Some(n) => format!("{keyword}: {n} columns"),
        None => keyword.to_string(),
    };
    let children = match &item.kind {
        ItemKind::Split(_) => Some(
            names
                .iter()
                .map(|n| DocumentSymbol {
                    name: n.name.clone(),
                    detail: Some("split part".into()),
                    kind: SymbolKind::VARIABLE,
                    tags: None,
                    deprecated: None,
                    range: lines.range(n.span.start, n.span.end),
                    selection_range: lines.range(n.span.start, n.span.end),
                    children: None,
                })
                .collect(),
        ),
        _ => None,
    };
    Some(DocumentSymbol {
        name,
        detail: Some(detail),
        kind,
        tags: None,
        deprecated: None,
        range: lines.range(item.span.start, item.span.end),
        selection_range: lines.range(selection.start, selection.end),
        children,
    })
}
