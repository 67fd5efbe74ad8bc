//! The example pipelines and the standard library: they parse cleanly, are
//! in canonical form, and format back to the same program.

use std::path::{Path, PathBuf};

use pipe::source::FileId;
use pipe::syntax;

/// Every `.pipe` file in `pipelines/` and `stdlib/`.
pub fn example_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["pipelines", "stdlib"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("folder exists") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "pipe") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 4, "expected the examples and stdlib modules, found {files:?}");
    files
}

#[test]
fn examples_and_stdlib_parse_without_diagnostics() {
    for path in example_files() {
        let text = std::fs::read_to_string(&path).expect("readable");
        let parsed = syntax::parse(&text, FileId(0));
        assert!(parsed.errors.is_empty(), "{}: {:?}", path.display(), parsed.errors);
        assert!(!parsed.program.items.is_empty());
    }
}

#[test]
fn examples_and_stdlib_are_formatted_and_format_is_stable() {
    for path in example_files() {
        let text = std::fs::read_to_string(&path).expect("readable");
        let parsed = syntax::parse(&text, FileId(0));
        let once = pipe::format::format(&parsed.program, &parsed.comments, &text);
        assert_eq!(once, text, "{} is not in canonical form (run `pipe fmt`)", path.display());

        let reparsed = syntax::parse(&once, FileId(0));
        assert!(
            syntax::same_program(&parsed.program, &reparsed.program),
            "{}: formatting changed the program",
            path.display()
        );
        assert_eq!(reparsed.comments.len(), parsed.comments.len(), "{}: comments lost", path.display());
        let twice = pipe::format::format(&reparsed.program, &reparsed.comments, &once);
        assert_eq!(twice, once, "{}: formatting is not idempotent", path.display());
    }
}

#[test]
fn examples_and_stdlib_check_without_diagnostics() {
    for path in example_files() {
        let rendered = crate::ui::render_check(&path);
        assert!(rendered.is_empty(), "{}:\n{rendered}", path.display());
    }
}

/// `pipe check --explain` of each example: what a user sees beside the file.
#[test]
fn explain_output_of_the_examples() {
    for path in example_files() {
        let text = std::fs::read_to_string(&path).expect("readable");
        let mut sources = pipe::source::SourceMap::new();
        let file = sources.add(path.file_name().and_then(|n| n.to_str()).expect("name"), text.as_str());
        let parsed = syntax::parse(&text, file);
        let report = pipe::check::check(&parsed.program, &mut sources, path.parent());
        let explained = pipe::check::explain::render(&report.explained);
        let name = path.file_stem().and_then(|n| n.to_str()).expect("name").to_owned();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/explain");
        insta::with_settings!({ snapshot_path => dir, prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!(name, explained);
        });
    }
}

/// The pipeline shown in the README checks clean (read as if it were in
/// `pipelines/`, where its data path points).
#[test]
fn readme_example_checks_clean() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README");
    let start = readme.find("```pipe\n").expect("a pipe block in the README") + "```pipe\n".len();
    let end = start + readme[start..].find("```").expect("the block ends");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/readme.pipe");
    let mut sources = pipe::source::SourceMap::new();
    let file = sources.add("README.md", &readme[start..end]);
    let parsed = syntax::parse(&readme[start..end], file);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let report = pipe::check::check(&parsed.program, &mut sources, path.parent());
    assert!(report.errors.is_empty(), "{:?}", report.errors);
}
