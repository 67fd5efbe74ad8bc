//! Completion: what may be written at the cursor. The place is read from
//! the text as it is now (which often does not parse mid-word); the
//! columns come from the checker's schema of the frame the call there
//! works on, in the latest analysis that parsed.

use lsp_types::{CompletionItem, CompletionItemKind, Documentation, InsertTextFormat};

use super::document::Document;
use super::text::is_name_char;
use crate::check::builtins::{self, Place as Written};
use crate::check::settings::{AUGMENT_SETTINGS, EVALUATE_SETTINGS, Setting, TRAIN_SETTINGS};
use crate::syntax::ast::{ITEM_KEYWORDS, ItemKind};

/// What surrounds the cursor, read from the text.
#[derive(Debug, Default, PartialEq)]
struct Place {
    /// At the start of a line with no indentation: a new item.
    item_start: bool,
    /// Right after `|>`.
    after_pipe: bool,
    /// Inside the parentheses of a call to this name.
    call: Option<String>,
    /// Inside the braces of an item of this kind (`train`, `model`, ...).
    block: Option<String>,
    /// At the start of an argument or block entry (where `name:` goes).
    entry_start: bool,
    /// Right after an item's `=` (where a source or model is read).
    after_equals: bool,
}

/// The completions at byte `offset` of the document's current text.
pub fn complete(doc: &Document, offset: usize) -> Vec<CompletionItem> {
    let text = doc.text.as_str();
    let offset = crate::source::floor_char_boundary(text, offset);
    let word_start = super::text::name_start(text, offset);
    let Some(place) = place(text, word_start) else { return Vec::new() };
    if place.item_start {
        return ITEM_KEYWORDS.iter().map(|k| item(k, CompletionItemKind::KEYWORD, "item", "9")).collect();
    }
    let mut items = Vec::new();
    let semantic = doc.semantic(word_start);
    let columns_here = !place.after_pipe && (place.call.is_some() || place.block.as_deref() == Some("train"));
    if columns_here
        && let Some((analysis, at)) = semantic
        && let Some(schema) = innermost_scope(&analysis.report.column_scopes, at)
    {
        for (i, column) in schema.columns.iter().enumerate() {
            let mut c = item(&column.name, CompletionItemKind::FIELD, &column.dtype.to_string(), "0");
            c.sort_text = Some(format!("0{i:05}"));
            items.push(c);
        }
    }
    match (&place.call, place.block.as_deref()) {
        (Some(callee), _) if place.entry_start => items.extend(named_arguments(callee)),
        (None, Some("train")) if place.entry_start => items.extend(keys(TRAIN_SETTINGS)),
        (None, Some("evaluate")) if place.entry_start => items.extend(keys(EVALUATE_SETTINGS)),
        (None, Some("augment")) if place.entry_start => items.extend(keys(AUGMENT_SETTINGS)),
        _ => {}
    }
    let in_model = place.block.as_deref() == Some("model") && place.call.is_none();
    let in_steps = place.block.as_deref() == Some("transform") && place.call.is_none();
    if place.after_pipe || in_steps {
        items.extend(functions(&[Written::DataOperation, Written::ModelOperation]));
    } else if in_model {
        items.extend(functions(&[Written::Layer]));
    } else if place.block.as_deref() == Some("augment") && place.call.is_none() {
        items.extend(functions(&[Written::Augmentation]));
    } else if place.after_equals {
        items.extend(functions(&[Written::Source, Written::ModelSource]));
    }
    if let Some((analysis, _)) = semantic {
        items.extend(item_names(analysis));
    }
    items
}

/// Reads the place of `offset` from the text before it.
fn place(text: &str, offset: usize) -> Option<Place> {
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = &text[line_start..offset];
    if in_string_or_comment(line) {
        return None;
    }
    let mut place = Place { item_start: line.is_empty(), ..Place::default() };
    let before = text[..offset].trim_end();
    place.after_pipe = before.ends_with("|>");
    // `=` of an item, not of `==`, `<=`, `>=` or `!=`.
    place.after_equals = before.strip_suffix('=').is_some_and(|rest| !rest.ends_with(['=', '<', '>', '!']));
    place.entry_start = before.ends_with(['(', ',', '{']) || (line.trim().is_empty() && !place.after_pipe);
    let (opener, at) = unmatched_opener(text, offset)?;
    match opener {
        '(' => {
            let callee_end = text[..at].trim_end().len();
            let callee_start = super::text::name_start(text, callee_end);
            place.call = Some(text[callee_start..callee_end].to_string()).filter(|c| !c.is_empty());
            place.block = enclosing_item(text, at);
        }
        '{' => place.block = enclosing_item(text, at),
        _ => place.block = enclosing_item(text, offset),
    }
    Some(place)
}

/// The innermost `(`, `{` or `[` still open at `offset` (`'\0'` at top
/// level), skipping strings and line comments.
fn unmatched_opener(text: &str, offset: usize) -> Option<(char, usize)> {
    let mut stack: Vec<(char, usize)> = Vec::new();
    let mut chars = text[..offset].char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' | '\n' => break,
                        _ => {}
                    }
                }
            }
            '/' if chars.peek().map(|(_, c)| *c) == Some('/') => {
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '(' | '{' | '[' => stack.push((c, i)),
            ')' | '}' | ']' => {
                stack.pop();
            }
            // A new top-level item closes whatever a mistake left open.
            '\n' if text[i + 1..].starts_with(|c: char| c.is_ascii_alphabetic()) => stack.clear(),
            _ => {}
        }
    }
    Some(stack.pop().unwrap_or(('\0', 0)))
}

fn in_string_or_comment(line: &str) -> bool {
    let mut in_string = false;
    let mut previous = '\0';
    for c in line.chars() {
        match c {
            '"' if previous != '\\' => in_string = !in_string,
            '/' if previous == '/' && !in_string => return true,
            _ => {}
        }
        previous = c;
    }
    in_string
}

/// The keyword of the item `offset` is in: the last line before it that
/// starts, unindented, with an item keyword.
fn enclosing_item(text: &str, offset: usize) -> Option<String> {
    text[..offset]
        .lines()
        .rev()
        .filter_map(|line| line.split(|c: char| !is_name_char(c)).next())
        .find(|word| ITEM_KEYWORDS.contains(word))
        .map(str::to_string)
}

/// The schema of the innermost operation call around `offset`.
fn innermost_scope(
    scopes: &[(crate::source::Span, crate::schema::Schema)],
    offset: usize,
) -> Option<&crate::schema::Schema> {
    scopes
        .iter()
        .filter(|(span, _)| span.file.0 == 0 && span.start < offset && offset <= span.end)
        .min_by_key(|(span, _)| span.end - span.start)
        .map(|(_, schema)| schema)
}

fn named_arguments(callee: &str) -> Vec<CompletionItem> {
    let Some((signature, _)) = builtins::signature(callee) else { return Vec::new() };
    builtins::parameter_names(&signature)
        .into_iter()
        .map(|name| {
            let mut c = item(name, CompletionItemKind::PROPERTY, &signature, "1");
            c.insert_text = Some(format!("{name}: "));
            c
        })
        .collect()
}

/// The keys of a block's settings, with their forms and docs.
fn keys<K>(settings: &[Setting<K>]) -> Vec<CompletionItem> {
    settings
        .iter()
        .map(|setting| {
            let mut c = item(setting.name, CompletionItemKind::PROPERTY, setting.form, "1");
            c.documentation = Some(Documentation::String(setting.doc.to_string()));
            c.insert_text = Some(format!("{}: ", setting.name));
            c
        })
        .collect()
}

/// The builtins written at these places, from their declarations.
fn functions(places: &[Written]) -> Vec<CompletionItem> {
    builtins::builtins()
        .iter()
        .filter(|b| places.contains(&b.place))
        .map(|b| {
            let (name, detail, doc) = (b.name, &b.signature, b.doc);
            let mut c = item(name, CompletionItemKind::FUNCTION, detail, "3");
            c.documentation = Some(Documentation::String(doc.to_string()));
            let takes_arguments = !detail.ends_with("()") && detail.contains('(');
            c.insert_text = Some(if detail.contains('{') {
                format!("{name} {{\n\t$0\n}}")
            } else if takes_arguments {
                format!("{name}($0)")
            } else {
                format!("{name}()")
            });
            c.insert_text_format = Some(InsertTextFormat::SNIPPET);
            c
        })
        .collect()
}

/// The names the file declares and imports.
fn item_names(analysis: &super::analysis::Analysis) -> Vec<CompletionItem> {
    let explained = &analysis.report.explained;
    let mut items = Vec::new();
    for (index, declared) in analysis.parsed.program.items.iter().enumerate() {
        let kind = match declared.kind {
            ItemKind::Let(_) => CompletionItemKind::CONSTANT,
            ItemKind::Model(_) | ItemKind::Import(_) => CompletionItemKind::CLASS,
            ItemKind::Transform(_) | ItemKind::Augment(_) => CompletionItemKind::FUNCTION,
            _ => CompletionItemKind::VARIABLE,
        };
        let columns = explained.get(index).and_then(|e| e.schema.as_ref()).map(|s| s.columns.len());
        let detail = match columns {
            Some(n) => format!("{} ({n} columns)", declared.kind.keyword()),
            None => declared.kind.keyword().to_string(),
        };
        for name in declared.kind.declared_names() {
            items.push(item(&name.name, kind, &detail, "2"));
        }
    }
    items
}

fn item(label: &str, kind: CompletionItemKind, detail: &str, rank: &str) -> CompletionItem {
    CompletionItem {
        label: label.to_string(),
        kind: Some(kind),
        detail: Some(detail.to_string()),
        sort_text: Some(format!("{rank}{label}")),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place_at_bar(text: &str) -> Place {
        let at = text.match_indices('|').map(|(i, _)| i).find(|&i| !text[i..].starts_with("|>")).unwrap();
        let mut without = text.to_string();
        without.remove(at);
        place(&without, at).unwrap()
    }

    #[test]
    fn places_are_read_from_the_text() {
        let p = place_at_bar("stage a = b |> filter(|)");
        assert_eq!(p.call.as_deref(), Some("filter"));
        assert!(p.entry_start);
        let p = place_at_bar("stage a = b |> cut(age, [0, 18], |");
        assert_eq!(p.call.as_deref(), Some("cut"));
        let p = place_at_bar("stage a = b |> |");
        assert!(p.after_pipe && p.call.is_none());
        let p = place_at_bar("train r = m on d {\n    |\n}");
        assert_eq!((p.block.as_deref(), p.entry_start), (Some("train"), true));
        let p = place_at_bar("train r = m on d {\n    target: |\n}");
        assert_eq!((p.block.as_deref(), p.entry_start), (Some("train"), false));
        assert!(place_at_bar("|").item_start);
        assert!(place(r#"source a = csv("da"#, 17).is_none());
        assert!(place("// a comm", 9).is_none());
    }

    #[test]
    fn comparisons_are_not_an_items_equals() {
        assert!(!place_at_bar("stage a = b |> filter(x >= |)").after_equals);
        assert!(!place_at_bar("stage a = b |> filter(x != |)").after_equals);
        assert!(place_at_bar("source a = |").after_equals);
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let p = place_at_bar("stage a = b |> filter(city == \"(\" && |)");
        assert_eq!(p.call.as_deref(), Some("filter"));
    }
}
