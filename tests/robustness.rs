//! No input makes the parser, the diagnostics or the formatter panic: random
//! bytes, and the example files cut, spliced and sprinkled with tokens.
//! Whatever parses must format to text that parses to the same program.

use pipe::diagnostic::{Style, render};
use pipe::source::{FileId, SourceFile};
use pipe::syntax;
use proptest::prelude::*;

const TOKENS: [&str; 36] = [
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "=",
    "|>",
    "..",
    "\"",
    "/*",
    "*/",
    "//",
    "\n",
    "-",
    "not ",
    "1e",
    "model ",
    "train ",
    " on ",
    "as ",
    "\\",
    "0",
    "-1",
    "1000000",
    "f0..f99",
    "label",
    "city",
    "x",
    "dense(3)",
    "flatten()",
    "conv(8)",
    "0.5",
    "[]",
];

fn examples() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    ["pipelines/people.pipe", "pipelines/digits.pipe", "stdlib/models.pipe", "stdlib/vision.pipe"]
        .iter()
        .map(|p| std::fs::read_to_string(root.join(p)).expect("example exists"))
        .collect()
}

/// Parses and checks `text` as if it were `pipelines/<name>` (so its data
/// paths resolve), rendering every diagnostic: none of it may panic.
fn check_as_example(text: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let mut sources = pipe::source::SourceMap::new();
    let file = sources.add("fuzz.pipe", text);
    let parsed = syntax::parse(text, file);
    if parsed.has_errors() {
        return;
    }
    let report = pipe::check::check(&parsed.program, &mut sources, Some(&dir));
    for error in &report.errors {
        render(error, sources.get(error.primary_span().file), Style::Human { color: false, width: 80 });
    }
    pipe::check::explain::render(&report.explained);
}

/// Parses, renders every diagnostic both ways, and checks the formatter on
/// whatever parsed.
fn exercise(bytes: &[u8]) -> Result<(), TestCaseError> {
    let (text, parsed) = syntax::parse_bytes(bytes, FileId(0));
    let file = SourceFile { name: "fuzz.pipe".into(), text: text.as_str().into() };
    for error in &parsed.errors {
        render(error, &file, Style::Human { color: false, width: 80 });
        render(error, &file, Style::Json);
    }
    if !parsed.has_errors() {
        let formatted = pipe::format::format(&parsed.program, &parsed.comments, &text);
        let again = syntax::parse(&formatted, FileId(0));
        prop_assert!(!again.has_errors(), "formatted text does not parse:\n{}", formatted);
        prop_assert!(syntax::same_program(&parsed.program, &again.program), "formatting changed:\n{}", formatted);
    }
    Ok(())
}

/// An example with `edits` applied: (position fraction, deleted length, token).
fn mutate(text: &str, edits: &[(f64, usize, usize)]) -> String {
    let mut out = text.to_owned();
    for &(at, delete, token) in edits {
        let mut start = ((out.len() as f64) * at) as usize;
        while !out.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (start + delete).min(out.len());
        while !out.is_char_boundary(end) {
            end += 1;
        }
        out.replace_range(start..end, TOKENS[token % TOKENS.len()]);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        exercise(&bytes)?;
    }

    #[test]
    fn random_text_never_panics(text in "[ -~\n\t]{0,300}") {
        exercise(text.as_bytes())?;
    }

    /// The checker on examples with random edits: never a panic, whatever
    /// the edits break (names, kinds, arguments, shapes, settings).
    #[test]
    fn checker_never_panics_on_mutated_examples(
        which in 0usize..4,
        edits in prop::collection::vec((0.0f64..1.0, 0usize..12, 0usize..64), 1..4),
    ) {
        check_as_example(&mutate(&examples()[which], &edits));
    }

    #[test]
    fn mutated_examples_never_panic(
        which in 0usize..4,
        edits in prop::collection::vec((0.0f64..1.0, 0usize..12, 0usize..64), 1..6),
    ) {
        let text = mutate(&examples()[which], &edits);
        exercise(text.as_bytes())?;
    }
}
