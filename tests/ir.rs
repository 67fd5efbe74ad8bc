//! The IR the checker hands to the executors, for the people example:
//! every value checked against what the file says, written out by hand.

use std::path::Path;

use pipe::ir::{FrameInput, ItemKind, Op, Source};
use pipe::source::SourceMap;

fn people_ir() -> pipe::ir::Program {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/people.pipe");
    let text = std::fs::read_to_string(&path).expect("example");
    let mut sources = SourceMap::new();
    let file = sources.add("people.pipe", text.as_str());
    let parsed = pipe::syntax::parse(&text, file);
    let report = pipe::check::check(&parsed.program, &mut sources, path.parent());
    assert!(!report.has_errors(), "{:?}", report.errors);
    report.ir
}

fn item<'a>(ir: &'a pipe::ir::Program, name: &str) -> &'a pipe::ir::Item {
    ir.items.iter().flatten().find(|i| i.name == name).unwrap_or_else(|| panic!("no item {name}"))
}

fn names(prefix: &str, range: std::ops::RangeInclusive<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

#[test]
fn source_reads_the_csv_with_its_header() {
    let ir = people_ir();
    let ItemKind::Source(Source::Csv { path, sep, schema, .. }) = &item(&ir, "people").kind else {
        panic!("not a csv")
    };
    assert!(path.ends_with("data/people.csv"));
    assert_eq!(*sep, b',');
    assert_eq!(schema.columns.len(), 36);
}

#[test]
fn split_takes_its_seed_from_the_constant() {
    let ir = people_ir();
    let ItemKind::Split { fractions, stratify, seed, input } = &item(&ir, "train, val, test").kind else {
        panic!("not a split")
    };
    assert_eq!(fractions, &vec![0.7, 0.15, 0.15]);
    assert_eq!(stratify.as_deref(), Some("label"));
    assert_eq!(*seed, Some(42));
    assert_eq!(input.ops.len(), 0, "the split's input is the `clean` stage");
}

#[test]
fn transform_steps_are_typed() {
    let ir = people_ir();
    let ItemKind::Transform { steps, input, .. } = &item(&ir, "prep").kind else { panic!("not a transform") };
    assert_eq!(input.columns.len(), 36);
    let inf = f64::INFINITY;
    let expected_cut = Op::Cut {
        column: "age".into(),
        edges: vec![0.0, 18.0, 65.0, inf],
        labels: vec!["teen".into(), "adult".into(), "senior".into()],
        include_lowest: true,
        output: "age_group".into(),
    };
    assert_eq!(steps[0], expected_cut);
    let Op::QCut { column, quantiles, labels, output, .. } = &steps[1] else { panic!("not qcut") };
    assert_eq!((column.as_str(), output.as_str()), ("income", "income_q"));
    assert_eq!(quantiles, &vec![0.0, 0.25, 0.5, 0.75, 1.0]);
    assert_eq!(labels.len(), 4);
    assert_eq!(steps[2], Op::Standard(names("f", 0..=15)));
    assert_eq!(steps[3], Op::MinMax { columns: names("f", 16..=31), range: [0.0, 1.0] });
    let Op::OneHot { columns, drop_first } = &steps[4] else { panic!("not onehot") };
    assert!(!drop_first);
    let widths: Vec<(&str, usize)> = columns.iter().map(|(c, l)| (c.as_str(), l.len())).collect();
    // 50 cities in the 2,000-row sample data, 3 age groups, 4 income quartiles.
    assert_eq!(widths, vec![("city", 50), ("age_group", 3), ("income_q", 4)]);
    assert_eq!(steps[5], Op::Pca { columns: names("f", 0..=31), k: 8, whiten: false, prefix: "pc".into() });
    assert_eq!(steps.len(), 6);
}

#[test]
fn output_applies_the_transform_predicts_and_writes() {
    let ir = people_ir();
    let ItemKind::Output(frame) = &item(&ir, "predictions").kind else { panic!("not an output") };
    let FrameInput::Transformed { input, .. } = &frame.input else { panic!("not transformed") };
    assert!(matches!(input.input, FrameInput::Part { part: 2, .. }), "prep is applied to `test`, part 2");
    assert!(matches!(frame.ops[0], Op::Predict(_)));
    assert_eq!(frame.ops[1], Op::Write("out/predictions.parquet".into()));
    assert!(frame.schema.get("prediction").is_some());
}
