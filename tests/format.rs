//! The formatter on hand-written inputs: layout rules, comments, blank lines,
//! line breaking, and the guarantee that nothing is lost.

use pipe::source::FileId;
use pipe::syntax;

fn fmt(text: &str) -> String {
    let parsed = syntax::parse(text, FileId(0));
    assert!(!parsed.has_errors(), "input does not parse: {:?}", parsed.errors);
    let out = pipe::format::format(&parsed.program, &parsed.comments, text);
    let again = syntax::parse(&out, FileId(0));
    assert!(!again.has_errors(), "output does not parse:\n{out}\n{:?}", again.errors);
    assert!(syntax::same_program(&parsed.program, &again.program), "meaning changed:\n{out}");
    assert_eq!(again.comments.len(), parsed.comments.len(), "comments lost:\n{out}");
    assert_eq!(pipe::format::format(&again.program, &again.comments, &out), out, "not idempotent");
    out
}

#[test]
fn spacing_is_canonical() {
    assert_eq!(fmt("let x=1+2*3\n"), "let x = 1 + 2 * 3\n");
    assert_eq!(fmt("stage s=a|>f( 1 ,b:2 )\n"), "stage s = a |> f(1, b: 2)\n");
    assert_eq!(fmt("let r = {a:i64,b : f64}\n"), "let r = {a: i64, b: f64}\n");
    assert_eq!(fmt("import std.models{mlp,linear as lin}\n"), "import std.models { mlp, linear as lin }\n");
}

#[test]
fn redundant_parentheses_go_and_needed_ones_stay() {
    assert_eq!(fmt("let x = ((1)) + (2 * 3)\n"), "let x = 1 + 2 * 3\n");
    assert_eq!(fmt("let x = (1 + 2) * 3\n"), "let x = (1 + 2) * 3\n");
    assert_eq!(fmt("let x = 1 - (2 - 3)\n"), "let x = 1 - (2 - 3)\n");
    assert_eq!(fmt("let x = not (a and b)\n"), "let x = not (a and b)\n");
    assert_eq!(fmt("let x = -(a + b)\n"), "let x = -(a + b)\n");
}

#[test]
fn blocks_put_one_entry_per_line() {
    let out = fmt("train t = net on d { target: label, epochs: 3, optimizer: adam(lr: 1e-3) }\n");
    assert_eq!(out, "train t = net on d {\n    target: label\n    epochs: 3\n    optimizer: adam(lr: 1e-3)\n}\n");
    assert_eq!(fmt("augment a {}\n"), "augment a {}\n");
}

#[test]
fn numbers_keep_their_spelling_and_units() {
    assert_eq!(
        fmt("let x = [1e-3, 1_000, 0.50, 20deg, 5ms, inf, -inf]\n"),
        "let x = [1e-3, 1_000, 0.50, 20deg, 5ms, inf, -inf]\n"
    );
}

#[test]
fn strings_are_escaped_back() {
    assert_eq!(
        fmt(r#"let s = "a\"b\\c\n\u{1F600}"
"#),
        "let s = \"a\\\"b\\\\c\\n\u{1F600}\"\n"
    );
}

#[test]
fn comments_and_blank_lines_are_kept() {
    let text = "// header\n\n\n// about x\nlet x = 1 // trailing\n\nlet y = 2\nmodel m {\n    // first layer\n    dense(2) // out\n\n    relu()\n    // the end\n}\n// footer\n";
    let out = fmt(text);
    assert_eq!(
        out,
        "// header\n\n// about x\nlet x = 1 // trailing\n\nlet y = 2\nmodel m {\n    // first layer\n    dense(2) // out\n\n    relu()\n    // the end\n}\n// footer\n"
    );
}

#[test]
fn a_comment_inside_an_expression_keeps_the_entry_as_written() {
    let text = "model m {\n    dense(128, /* wide */ init: he_normal)\n    relu()\n}\n";
    assert_eq!(fmt(text), text);
}

#[test]
fn long_pipelines_break_one_stage_per_line() {
    let text = "stage clean = people |> drop_nulls(income) |> filter(age >= 0 and age < 120) |> select([age, income, city, label]) |> sample(frac: 0.5, seed: 1)\n";
    let out = fmt(text);
    assert_eq!(
        out,
        "stage clean = people\n    |> drop_nulls(income)\n    |> filter(age >= 0 and age < 120)\n    |> select([age, income, city, label])\n    |> sample(frac: 0.5, seed: 1)\n"
    );
}

#[test]
fn long_calls_break_one_argument_per_line() {
    let text = "source people = csv(\"data/a/very/long/path/to/the/people/file/of/this/project.csv\", sep: \",\", nulls: [\"NA\", \"\"])\n";
    let out = fmt(text);
    assert_eq!(
        out,
        "source people = csv(\n    \"data/a/very/long/path/to/the/people/file/of/this/project.csv\",\n    sep: \",\",\n    nulls: [\"NA\", \"\"],\n)\n"
    );
}

#[test]
fn every_item_kind_formats() {
    let text = "import \"lib/x.pipe\" { a }\nsplit a, b = d |> split([0.5, 0.5])\ntransform t = fit(a) { standard(x) as y }\nmodel m(k: list[int] = [1], n: int) { for w in k { dense(w) } residual(p: 1) { relu() } as r }\nevaluate e = r on b\nevaluate r on b { metrics: [accuracy] }\noutput b |> write(\"o.csv\")\nlet s = warmup(epochs: 2) then cosine()\n";
    let out = fmt(text);
    assert!(out.contains("model m(k: list[int] = [1], n: int) {\n    for w in k {\n        dense(w)\n    }\n    residual(p: 1) {\n        relu()\n    } as r\n}\n"), "{out}");
}
