//! UI tests: each `tests/ui/<phase>/*.pipe` is parsed and its rendered
//! diagnostics (no colour, 100 columns) are compared with an insta snapshot
//! in `tests/ui/<phase>/snapshots/`. Review a new snapshot by eye: it must
//! point at the right place and say something a user understands.

use std::path::{Path, PathBuf};

use pipe::check;
use pipe::diagnostic::{Style, render};
use pipe::source::{FileId, SourceFile, SourceMap};
use pipe::syntax;

pub(crate) const STYLE: Style = Style::Human { color: false, width: 100 };

/// Renders every syntax diagnostic of a file the way `pipe check` does.
pub fn render_syntax(name: &str, bytes: &[u8]) -> String {
    let (text, parsed) = syntax::parse_bytes(bytes, FileId(0));
    let file = SourceFile { name: name.to_owned(), text: text.into() };
    let mut out = String::new();
    for error in &parsed.errors {
        out.push_str(&render(error, &file, STYLE));
    }
    out
}

/// Parses and checks a file as `pipe check` does (imports relative to its
/// folder) and renders every diagnostic, each with its own file's source.
pub fn render_check(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("readable case");
    let name = path.file_name().and_then(|n| n.to_str()).expect("UTF-8 name").to_owned();
    let mut sources = SourceMap::new();
    let file = sources.add(name, "");
    let (text, parsed) = syntax::parse_bytes(&bytes, file);
    sources.set_text(file, text);
    let mut out = String::new();
    for error in &parsed.errors {
        out.push_str(&render(error, sources.get(file), STYLE));
    }
    if parsed.has_errors() {
        return out;
    }
    let report = check::check(&parsed.program, &mut sources, path.parent());
    for error in &report.syntax {
        out.push_str(&render(error, sources.get(error.primary_span().file), STYLE));
    }
    for error in &report.errors {
        out.push_str(&render(error, sources.get(error.primary_span().file), STYLE));
    }
    out
}

/// Checks (clean) and runs a file as `pipe run --no-cache` does, from
/// the repository root so paths in messages are the same everywhere, and
/// renders the warnings and errors. A first line `// only: NAME` runs only
/// that item.
pub fn render_run(path: &Path) -> String {
    let relative = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).expect("a case in the repository");
    let text = std::fs::read_to_string(path).expect("readable case");
    let mut sources = SourceMap::new();
    let file = sources.add(relative.file_name().and_then(|n| n.to_str()).expect("UTF-8 name"), text.as_str());
    let parsed = syntax::parse(&text, file);
    let report = check::check(&parsed.program, &mut sources, relative.parent());
    assert!(!report.has_errors(), "{}: the case must check clean: {:?}", relative.display(), report.errors);
    let only = text.lines().next().and_then(|l| l.strip_prefix("// only: ")).map(|n| vec![n.to_owned()]);
    // `// memory: SIZE` runs as `pipe run --memory SIZE`.
    let memory = text
        .lines()
        .find_map(|l| l.strip_prefix("// memory: "))
        .map(|m| pipe::run::budget::parse_size(m).expect("a size"));
    let dir = relative.parent().expect("a folder").to_path_buf();
    let options = pipe::run::Options {
        dir,
        cache: false,
        only: only.unwrap_or_default(),
        source_text: None,
        control: None,
        resume: false,
        in_memory: false,
        memory,
    };
    let mut out = String::new();
    let errors = pipe::run::run(&report.ir, &options, &mut |event| {
        if let pipe::run::Event::Warning(w) = event {
            out.push_str(&render(&w, sources.get(file), STYLE));
        }
    });
    for error in &errors {
        out.push_str(&render(error, sources.get(file), STYLE));
    }
    // Run folders are named by the time they are made.
    let stamp = regex::Regex::new(r"runs/(\w+)/\s*\d+-\s*\d+").expect("a valid pattern");
    stamp.replace_all(&out, "runs/$1/<time>").into_owned()
}

fn cases(phase: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui").join(phase);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the UI test folder exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pipe"))
        .collect();
    files.sort();
    files
}

pub(crate) fn snapshot(phase: &str, name: &str, rendered: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui").join(phase).join("snapshots");
    insta::with_settings!({ snapshot_path => dir, prepend_module_to_snapshot => false, omit_expression => true }, {
        insta::assert_snapshot!(name, rendered);
    });
}

#[test]
fn syntax_cases_match_their_snapshots() {
    let files = cases("syntax");
    assert!(files.len() >= 30, "the issue asks for at least 30 malformed files, found {}", files.len());
    for path in files {
        let name = path.file_stem().and_then(|s| s.to_str()).expect("UTF-8 file name").to_owned();
        let bytes = std::fs::read(&path).expect("readable case");
        let rendered = render_syntax(&format!("{name}.pipe"), &bytes);
        assert!(!rendered.is_empty(), "{name}.pipe produced no diagnostic");
        snapshot("syntax", &name, &rendered);
    }
}

#[test]
fn check_cases_match_their_snapshots() {
    for path in cases("check") {
        let name = path.file_stem().and_then(|s| s.to_str()).expect("UTF-8 file name").to_owned();
        // This case is about a build without libtorch.
        if cfg!(feature = "tch") && name == "libtorch_device_without_the_feature" {
            continue;
        }
        let rendered = render_check(&path);
        assert!(!rendered.is_empty(), "{name}.pipe produced no diagnostic");
        snapshot("check", &name, &rendered);
    }
}

#[test]
fn run_cases_match_their_snapshots() {
    for path in cases("run") {
        let name = path.file_stem().and_then(|s| s.to_str()).expect("UTF-8 file name").to_owned();
        // This case needs a build with libtorch on a machine without a GPU
        // (elsewhere the checker stops it, or it trains).
        let no_gpu_here = cfg!(feature = "tch") && pipe::backend::cuda_devices() == 0;
        if name == "torch_cuda_without_a_gpu" && !no_gpu_here {
            continue;
        }
        // Remote devices are in builds with the `remote` feature (the default).
        if name == "remote_device_not_running" && !pipe::backend::has_remote() {
            continue;
        }
        let rendered = render_run(&path);
        assert!(!rendered.is_empty(), "{name}.pipe produced no diagnostic");
        snapshot("run", &name, &rendered);
    }
}

/// The corpus: realistic pipelines, each with one mistake of the kind a
/// hurried user makes. Every one is caught before anything runs (an error,
/// not only a warning), and the unbroken versions check clean.
#[test]
fn corpus_of_realistic_mistakes_is_all_caught() {
    let files = cases("check/corpus");
    assert!(files.len() >= 20, "the issue asks for 20 realistic mistakes, found {}", files.len());
    for path in files {
        let name = path.file_stem().and_then(|s| s.to_str()).expect("UTF-8 file name").to_owned();
        let rendered = render_check(&path);
        assert!(rendered.contains("  × "), "{name}.pipe: the mistake is not caught:\n{rendered}");
        snapshot("check/corpus", &name, &rendered);
    }
    for clean in cases("check/corpus/clean") {
        let rendered = render_check(&clean);
        assert!(!rendered.contains("  × "), "{}: the unbroken pipeline has errors:\n{rendered}", clean.display());
    }
}

/// Names users bring from Keras, PyTorch and pandas: each entry of the
/// table has a case, and its diagnostic gives the table's advice.
#[test]
fn familiar_names_from_other_libraries_get_their_advice() {
    use pipe::check::familiar::{FAMILIAR, Place};
    assert!(FAMILIAR.len() >= 40, "the issue asks for 40 names, the table has {}", FAMILIAR.len());
    for entry in FAMILIAR {
        let place = match entry.place {
            Place::TrainSetting => "train_setting",
            Place::Loss => "loss",
            Place::Metric => "metric",
            Place::Optimizer => "optimizer",
            Place::Operation => "operation",
            Place::Layer => "layer",
            Place::LayerArgument => "layer_argument",
        };
        let name = format!("{place}_{}", entry.name);
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/ui/check/familiar/{name}.pipe"));
        assert!(path.exists(), "no UI case for `{}`: {}", entry.name, path.display());
        let rendered = render_check(&path);
        // miette wraps long help lines: compare without line breaks.
        let flat = rendered.split_whitespace().collect::<Vec<_>>().join(" ");
        let help = entry.help.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(&help), "{name}: the advice is missing:\n{rendered}");
        snapshot("check/familiar", &name, &rendered);
    }
}

/// Codes that no input can produce on purpose here: a checker bug's
/// report, and libtorch's CUDA allocator refusing a `gpu_memory:` the
/// checker accepted (it needs a CUDA GPU, or a build without CUDA's
/// headers on one).
const NO_CASE: [&str; 2] = ["pipe::check::not_lowered", "pipe::run::gpu_memory"];

/// Every code declared in `src/<phase>/error.rs` appears in a snapshot.
fn assert_every_code_has_a_case(phase: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seen = String::new();
    for entry in std::fs::read_dir(root.join("tests/ui").join(phase).join("snapshots")).expect("snapshots exist") {
        seen.push_str(&std::fs::read_to_string(entry.expect("entry").path()).expect("snapshot text"));
    }
    let source = std::fs::read_to_string(root.join("src").join(phase).join("error.rs")).expect("error.rs");
    // Codes in `#[diagnostic(code(...))]`, and written as strings (the kinds
    // of `check::error::Mistake`).
    let quoted = format!("\"pipe::{phase}::");
    let written = source.split(quoted.as_str()).skip(1).filter_map(|rest| rest.split('"').next());
    let written: Vec<String> = written.map(|code| format!("pipe::{phase}::{code}")).collect();
    let declared = source.split("code(").skip(1).filter_map(|rest| rest.split(')').next());
    for code in declared.chain(written.iter().map(String::as_str)) {
        assert!(seen.contains(code) || NO_CASE.contains(&code), "no UI snapshot shows {code}");
    }
}

#[test]
fn every_syntax_error_code_has_a_ui_case() {
    assert_every_code_has_a_case("syntax");
}

#[test]
fn every_check_error_code_has_a_ui_case() {
    assert_every_code_has_a_case("check");
}

#[test]
fn every_run_error_code_has_a_ui_case() {
    assert_every_code_has_a_case("run");
}

/// A 1 MB line: the parser finishes quickly, and the report shows an excerpt
/// of the line, not the megabyte.
#[test]
fn one_megabyte_line_reports_an_excerpt() {
    let mut text = String::from("let xs = [");
    while text.len() < 1 << 20 {
        text.push_str("1234567, ");
    }
    text.push_str("8 9]\n");
    let rendered = render_syntax("long_line.pipe", text.as_bytes());
    assert!(rendered.len() < 4000, "the report should be an excerpt, got {} bytes", rendered.len());
    snapshot("syntax", "generated_one_megabyte_line", &rendered);
}

/// 100,000 nested parentheses: a diagnostic, not a stack overflow.
#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let text = format!("let x = {}1{}\n", "(".repeat(100_000), ")".repeat(100_000));
    let rendered = render_syntax("deep.pipe", text.as_bytes());
    snapshot("syntax", "generated_hundred_thousand_parentheses", &rendered);
}

/// A long chain of operators is bounded too (it would build a deep tree).
#[test]
fn long_operator_chain_is_bounded() {
    let text = format!("let x = 1{}\n", " + 1".repeat(200_000));
    let rendered = render_syntax("chain.pipe", text.as_bytes());
    assert!(rendered.contains("pipe::syntax::too_deep"), "{rendered}");
}

/// `pipe predict` on a folder that is not a training run.
#[test]
fn predict_on_a_folder_that_is_not_a_run() {
    let error = pipe::run::predict::open_run(Path::new("tests/ui/run")).expect_err("not a run folder");
    let file = SourceFile { name: "tests/ui/run".into(), text: "".into() };
    snapshot("run", "predict_not_a_run", &render(&error, &file, STYLE));
}

/// `pipe export` of a model with no `nn.Sequential` form.
#[test]
fn export_of_a_model_without_a_sequential_form() {
    let dir = crate::run::scratch("ui_export_residual");
    let text = format!(
        "source iris = csv(\"{}/data/iris.csv\")\nmodel skip {{\n    dense(4)\n    residual {{\n        dense(4)\n    }}\n    dense(3)\n}}\ntrain r = skip on iris {{\n    target: label\n    epochs: 1\n}}\n",
        crate::run::repo().display()
    );
    let errors = crate::train::run_events(&dir, &text, false, &mut |_| {});
    assert!(errors.is_empty(), "{errors:?}");
    let run = std::fs::read_dir(dir.join("runs/r")).unwrap().next().unwrap().unwrap().path();
    let saved = pipe::run::predict::open_run(&run).expect("a run folder");
    let pipeline = saved.pipeline.clone();
    let mut sources = SourceMap::new();
    let file = sources.add("pipeline.pipe", pipeline.as_str());
    let parsed = syntax::parse(&pipeline, file);
    let report = check::check(&parsed.program, &mut sources, Some(&saved.meta.pipeline_dir));
    let Err(error) = pipe::run::export::safetensors(saved, &report.ir, &dir.join("m.safetensors")) else {
        panic!("a residual block has no nn.Sequential form")
    };
    let file = SourceFile { name: "runs/r".into(), text: "".into() };
    snapshot("run", "export_without_a_sequential_form", &render(&error, &file, STYLE));
}

/// A source's file changed between `pipe check` and the run.
#[test]
fn a_source_changed_after_the_check() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-source-changed");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    std::fs::write(dir.join("logs.csv"), "x,y\n1,2\n").expect("write");
    let text = "source logs = csv(\"logs.csv\")\noutput all = logs |> write(\"out/all.csv\")\n";
    let mut sources = SourceMap::new();
    let file = sources.add("main.pipe", text);
    let parsed = syntax::parse(text, file);
    let report = check::check(&parsed.program, &mut sources, Some(&dir));
    assert!(!report.has_errors(), "{:?}", report.errors);
    std::fs::write(dir.join("logs.csv"), "x,y,z\n1,2,3\n").expect("write");
    let options = pipe::run::Options { dir: dir.clone(), ..Default::default() };
    let errors = pipe::run::run(&report.ir, &options, &mut |_| {});
    let rendered: String = errors.iter().map(|e| render(e, sources.get(file), STYLE)).collect();
    let shown = rendered.replace(&format!("{}/", dir.display()), "");
    snapshot("run", "source_changed", &shown);
    assert!(!dir.join("out").exists(), "nothing may be written");
}
