//! The docs cannot rot: every ```pipe block of `README.md` and `docs/*.md`
//! goes through the checker.
//!
//! - ```pipe: a whole file; it checks without errors (warnings allowed).
//! - ```pipe fragment: a piece of a larger file; it is checked after the
//!   document's first whole example and the fragments before it (the
//!   context), the context's items that it redefines left out, as a
//!   reader who follows the document would write them.
//! - ```pipe fails(pipe::check::code): a mistake shown on purpose; checking
//!   it reports that code as an error.
//!
//! Paths in a block are relative to its document's folder; the README's
//! blocks are read as files of `pipelines/` (like its examples).

use std::path::{Path, PathBuf};

use pipe::source::SourceMap;

/// One block: where it is, how it is marked, its text.
struct Block {
    place: String,
    kind: String,
    text: String,
}

fn blocks(doc: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(doc).expect("a readable document");
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((number, line)) = lines.next() {
        let Some(info) = line.trim_start().strip_prefix("```pipe") else { continue };
        let body: Vec<&str> = lines.by_ref().map(|(_, l)| l).take_while(|l| l.trim_start() != "```").collect();
        out.push(Block {
            place: format!("{}:{}", doc.display(), number + 1),
            kind: info.trim().to_owned(),
            text: body.join("\n") + "\n",
        });
    }
    out
}

/// Every error code a text's check reports (syntax errors included).
fn error_codes(dir: &Path, text: &str) -> Vec<String> {
    let mut sources = SourceMap::new();
    let file = sources.add(dir.join("block.pipe").display().to_string(), text);
    let parsed = pipe::syntax::parse(text, file);
    let code = |d: &dyn miette::Diagnostic| d.code().map(|c| c.to_string()).unwrap_or_default();
    let mut codes: Vec<String> = parsed.errors.iter().filter(|e| e.is_error()).map(|e| code(e)).collect();
    if !codes.is_empty() {
        return codes;
    }
    let report = pipe::check::check(&parsed.program, &mut sources, Some(dir));
    codes.extend(report.syntax.iter().filter(|e| e.is_error()).map(|e| code(e)));
    codes.extend(report.errors.iter().filter(|e| e.is_error()).map(|e| code(e)));
    codes
}

/// An item's place in a text, and the names it declares.
type Declared = (std::ops::Range<usize>, Vec<String>);

/// The context's text without the items the fragment declares again.
fn in_context(context: &str, fragment: &str) -> String {
    let declared = |text: &str| -> (Vec<Declared>, bool) {
        let parsed = pipe::syntax::parse(text, pipe::source::FileId(0));
        let items = parsed
            .program
            .items
            .iter()
            .map(|i| (i.span.start..i.span.end, i.kind.declared_names().iter().map(|n| n.name.clone()).collect()))
            .collect();
        (items, parsed.errors.is_empty())
    };
    let (fragment_items, _) = declared(fragment);
    let redefined: Vec<&String> = fragment_items.iter().flat_map(|(_, names)| names).collect();
    let (context_items, _) = declared(context);
    let mut kept = String::new();
    let mut at = 0;
    for (range, names) in context_items {
        if names.iter().any(|n| redefined.contains(&n)) {
            kept.push_str(&context[at..range.start]);
            at = range.end;
        }
    }
    kept.push_str(&context[at..]);
    kept + "\n" + fragment
}

fn documents() -> Vec<(PathBuf, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut docs = vec![(root.join("README.md"), root.join("pipelines"))];
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    docs.extend(files.into_iter().map(|f| (f, root.join("docs"))));
    docs
}

#[test]
fn every_pipe_block_in_the_docs_checks_as_it_says() {
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (doc, dir) in documents() {
        let blocks = blocks(&doc);
        let mut context = blocks.iter().find(|b| b.kind.is_empty()).map(|b| b.text.clone());
        for block in &blocks {
            checked += 1;
            let (text, expected) = match block.kind.as_str() {
                "" => (block.text.clone(), None),
                "fragment" => {
                    let Some(context) = &mut context else {
                        wrong.push(format!("{}: a fragment in a document without a whole example", block.place));
                        continue;
                    };
                    let text = in_context(context, &block.text);
                    *context = text.clone();
                    (text, None)
                }
                other => match other.strip_prefix("fails(").and_then(|c| c.strip_suffix(')')) {
                    Some(code) => (block.text.clone(), Some(code.to_owned())),
                    None => {
                        wrong.push(format!("{}: unknown block kind `pipe {other}`", block.place));
                        continue;
                    }
                },
            };
            let codes = error_codes(&dir, &text);
            match expected {
                None if !codes.is_empty() => wrong.push(format!("{}: {codes:?}\n{text}", block.place)),
                Some(code) if !codes.contains(&code) => {
                    wrong.push(format!("{}: expected {code}, got {codes:?}", block.place))
                }
                _ => {}
            }
        }
    }
    assert!(checked >= 12, "found only {checked} blocks");
    assert!(wrong.is_empty(), "{} blocks do not check as they say:\n{}", wrong.len(), wrong.join("\n\n"));
}

/// The language reference's table of data operations has a row for every
/// declared operation (`check::ops::OPERATIONS`).
#[test]
fn every_declared_operation_is_in_the_reference_table() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/language.md")).expect("doc");
    for operation in pipe::check::ops::OPERATIONS {
        let row = format!("| `{}(", operation.name);
        let in_a_row = doc.lines().any(|l| l.starts_with(&row) || l.contains(&format!(", `{}(", operation.name)));
        assert!(in_a_row, "docs/language.md has no table row for `{}`", operation.name);
    }
}

/// The reference's tables of builtins (between `<!-- builtins: Place ...
/// -->` and `<!-- end -->`) are the ones their declarations make.
/// `PIPE_BLESS=1 cargo test` writes them.
#[test]
fn the_reference_tables_of_builtins_are_generated() {
    use pipe::check::builtins::{Place, reference_table};
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/language.md");
    let doc = std::fs::read_to_string(&path).expect("doc");
    let mut out = String::new();
    let mut rest = doc.as_str();
    let mut tables = 0;
    while let Some(start) = rest.find("<!-- builtins: ") {
        let header_end = start + rest[start..].find("-->").expect("a closed marker") + 3;
        let end = header_end + rest[header_end..].find("<!-- end -->").expect("an end marker");
        let names = rest[start + "<!-- builtins: ".len()..header_end - 3].split_whitespace();
        let places: Vec<Place> = names
            .map(|n| *Place::ALL.iter().find(|p| format!("{p:?}") == n).unwrap_or_else(|| panic!("no place {n}")))
            .collect();
        out += &rest[..header_end];
        out += "\n";
        out += &reference_table(&places);
        rest = &rest[end..];
        tables += 1;
    }
    out += rest;
    assert!(tables >= 4, "the reference has its tables of builtins");
    if std::env::var_os("PIPE_BLESS").is_some() {
        std::fs::write(&path, &out).expect("write the doc");
    }
    assert!(
        out == doc,
        "docs/language.md's tables of builtins differ from the declarations: run `PIPE_BLESS=1 cargo test`"
    );
}

/// Every builtin (reader, layer, augmentation step, model operation, ...)
/// is named in the language reference, as it is called.
#[test]
fn every_builtin_is_in_the_reference() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/language.md")).expect("doc");
    let missing: Vec<String> = pipe::check::builtins::builtins()
        .iter()
        .filter(|b| !doc.contains(&format!("`{}(", b.name)) && !doc.contains(&format!("`{} {{", b.name)))
        .filter(|b| !doc.contains(&format!("| `{}` |", b.signature)))
        .map(|b| format!("{:?} `{}`", b.place, b.signature))
        .collect();
    assert!(missing.is_empty(), "docs/language.md never shows how to call: {}", missing.join(", "));
}
