//! Any bytes as a `.pipe` file: parsing, checking, printing every
//! diagnostic and formatting must not panic, and whatever parses must
//! format to text that parses to the same program.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pipe::diagnostic::{Style, render};
use pipe::source::{FileId, SourceFile, SourceMap};

fuzz_target!(|bytes: &[u8]| {
    let (text, parsed) = pipe::syntax::parse_bytes(bytes, FileId(0));
    let file = SourceFile { name: "fuzz.pipe".into(), text: text.as_str().into() };
    let human = Style::Human { color: false, width: 80 };
    for error in &parsed.errors {
        let _ = render(error, &file, human);
    }
    if parsed.has_errors() {
        return;
    }
    let mut sources = SourceMap::new();
    sources.add("fuzz.pipe", text.as_str());
    let report = pipe::check::check(&parsed.program, &mut sources, None);
    for error in &report.errors {
        let _ = render(error, sources.get(error.primary_span().file), Style::Json);
    }
    let formatted = pipe::format::format(&parsed.program, &parsed.comments, &text);
    let again = pipe::syntax::parse(&formatted, FileId(0));
    assert!(!again.has_errors(), "the formatted text does not parse:\n{formatted}");
    assert!(pipe::syntax::same_program(&parsed.program, &again.program), "formatting changed the program:\n{formatted}");
});
