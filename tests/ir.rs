//! The IR the checker hands to the executors, for the people example:
//! every value checked against what the file says, written out by hand.

use std::path::Path;

use pipe::ir::{FrameInput, ItemKind, Op, Source};
use pipe::source::SourceMap;

fn people_ir() -> pipe::ir::Program {
    ir_of("pipelines/people.pipe")
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
    let ItemKind::Source(Source::Csv { files, sep, schema, .. }) = &item(&ir, "people").kind else {
        panic!("not a csv")
    };
    assert!(files.path.ends_with("data/people.csv") && !files.many && files.partitions.is_empty());
    assert_eq!(files.files.len(), 1);
    assert!(files.files[0].stamp.is_some(), "the checker stamps the file it read");
    assert_eq!(*sep, b',');
    assert_eq!(schema.columns.len(), 36);
}

#[test]
fn split_takes_its_seed_from_the_constant() {
    let ir = people_ir();
    let ItemKind::Split { fractions, stratify, seed, input, fold } = &item(&ir, "train, val, test").kind else {
        panic!("not a split")
    };
    assert_eq!(*fold, None, "a split is no fold");
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
    let Op::OneHot { columns, drop_first, dtype } = &steps[4] else { panic!("not onehot") };
    assert!(!drop_first);
    assert_eq!(*dtype, pipe::ir::Dummy::F64);
    let widths: Vec<(&str, usize)> = columns.iter().map(|(c, l)| (c.as_str(), l.len())).collect();
    // 50 cities in the 2,000-row sample data, 3 age groups, 4 income quartiles.
    assert_eq!(widths, vec![("city", 50), ("age_group", 3), ("income_q", 4)]);
    assert_eq!(
        steps[5],
        Op::Pca { columns: names("f", 0..=31), k: 8, whiten: false, keep: false, prefix: "pc".into() }
    );
    assert_eq!(steps.len(), 6);
}

#[test]
fn output_applies_the_transform_predicts_and_writes() {
    let ir = people_ir();
    let ItemKind::Output(frame) = &item(&ir, "predictions").kind else { panic!("not an output") };
    let FrameInput::Transformed { input, .. } = &frame.input else { panic!("not transformed") };
    assert!(matches!(input.input, FrameInput::Part { part: 2, .. }), "prep is applied to `test`, part 2");
    assert!(matches!(frame.ops[0], Op::Predict { probability: false, .. }));
    assert_eq!(frame.ops[1], Op::Write("out/predictions.parquet".into(), pipe::ir::Codec::Zstd));
    assert!(frame.schema.get("prediction").is_some());
}

fn ir_of(file: &str) -> pipe::ir::Program {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let text = std::fs::read_to_string(&path).expect("example");
    let mut sources = SourceMap::new();
    let id = sources.add(file, text.as_str());
    let parsed = pipe::syntax::parse(&text, id);
    let report = pipe::check::check(&parsed.program, &mut sources, path.parent());
    assert!(!report.has_errors(), "{:?}", report.errors);
    report.ir
}

#[test]
fn training_run_has_its_model_with_shapes_and_its_settings() {
    use pipe::ir::{
        Activation, Batch, DataSplit, Decay, Init, LayerKind, Loss, OptimizerKind, Scalar, Schedule, Shape, Task,
        WarmupLength,
    };
    let ir = ir_of("pipelines/people.pipe");
    let ItemKind::Train(run) = &item(&ir, "fit_net").kind else { panic!("not a training run") };
    // 50 one-hot cities + age + income + 8 components + 3 age groups + 4 income quartiles.
    assert_eq!(run.model.input, Shape::Flat(67));
    assert_eq!(run.model.output, Shape::Flat(2));
    let kinds: Vec<&LayerKind> = run.model.layers.iter().map(|l| &l.kind).collect();
    assert_eq!(kinds.len(), 9, "two hidden blocks of dense, batchnorm, relu, dropout, then the output");
    assert_eq!(kinds[0], &LayerKind::Dense { units: 256, init: Some(Init::HeNormal), l2: None });
    assert_eq!(kinds[1], &LayerKind::BatchNorm);
    assert_eq!(kinds[2], &LayerKind::Activation(Activation::Relu));
    assert_eq!(kinds[3], &LayerKind::Dropout(0.5));
    assert_eq!(kinds[8], &LayerKind::Dense { units: 2, init: Some(Init::GlorotUniform), l2: None });
    assert_eq!(run.target, "label");
    let s = &run.settings;
    assert_eq!((run.task, s.loss), (Task::Classification, Loss::CrossEntropy));
    let optimizer = &s.optimizer;
    assert_eq!((optimizer.kind, optimizer.lr, optimizer.weight_decay), (OptimizerKind::Adam, 1e-3, 1e-4));
    let schedule = Schedule { warmup: Some(WarmupLength::Epochs(2)), decay: Decay::Cosine { min_lr: 1e-5 } };
    assert_eq!(s.schedule, schedule);
    assert_eq!((s.batch, s.epochs), (Batch::Rows(512), 20));
    let stop = s.early_stop.as_ref().expect("early stop");
    assert_eq!((stop.patience, stop.split, stop.metric, stop.restore_best), (3, DataSplit::Val, Scalar::Loss, true));
    assert_eq!(s.devices.len(), 1);
    assert_eq!(s.logs.len(), 3);
    assert!(run.validate.is_some());
}

#[test]
fn transfer_learning_keeps_the_body_and_freezes_up_to_the_named_layer() {
    use pipe::ir::{LayerKind, Shape};
    let ir = ir_of("pipelines/transfer.pipe");
    let ItemKind::Train(run) = &item(&ir, "tuned").kind else { panic!("not a training run") };
    assert_eq!(run.model.frozen_until.as_deref(), Some("features"));
    assert_eq!(run.model.input, Shape::Image([1, 16, 16]));
    let names: Vec<Option<&str>> = run.model.layers.iter().map(|l| l.name.as_deref()).collect();
    assert_eq!(names.iter().position(|n| *n == Some("features")), Some(8));
    assert_eq!(run.model.layers.last().map(|l| &l.kind), Some(&LayerKind::Dense { units: 5, init: None, l2: None }));
    // The body's 11 layers up to its old head come from the trained run.
    let pretrained = run.model.pretrained.as_ref().expect("starts from a run");
    let pipe::ir::PretrainedFrom::Run(run) = pretrained.from else { panic!("not from a run") };
    assert_eq!((ir.items[run].as_ref().map(|i| i.name.as_str()), pretrained.layers), (Some("body"), 11));
    let digits_ir = ir_of("pipelines/digits.pipe");
    let ItemKind::Train(digits) = &item(&digits_ir, "base").kind else { panic!("not a training run") };
    let augment = digits.settings.augment.as_ref().expect("augmented");
    assert_eq!(augment.steps.len(), 6);
    assert_eq!(augment.fill, pipe::ir::ImageFill::Constant(0.0));
    assert_eq!(digits.settings.l2, Some(1e-4));
}

#[test]
fn evaluation_names_its_run_and_metrics() {
    let ir = ir_of("pipelines/people.pipe");
    let ItemKind::Evaluate { run, metrics, .. } = &item(&ir, "report").kind else { panic!("not an evaluation") };
    assert_eq!(ir.items[*run].as_ref().map(|i| i.name.as_str()), Some("fit_net"));
    use pipe::ir::{Metric, Scalar};
    assert_eq!(metrics, &vec![Metric::Scalar(Scalar::Accuracy), Metric::Scalar(Scalar::F1), Metric::Confusion]);
}

/// `--explain`'s parameter count, by hand for people.pipe's MLP (PyTorch's
/// `sum(p.numel())` for the same layers): 67 inputs -> dense 256 (68 * 256)
/// -> batchnorm (2 * 256) -> dense 256 (257 * 256) -> batchnorm (2 * 256)
/// -> dense 2 (257 * 2); ReLU and dropout learn nothing.
#[test]
fn a_models_parameter_count_is_pytorchs() {
    let ir = ir_of("pipelines/people.pipe");
    let ItemKind::Train(run) = &item(&ir, "fit_net").kind else { panic!("not a training run") };
    assert_eq!(run.model.parameters(), 68 * 256 + 2 * 256 + 257 * 256 + 2 * 256 + 257 * 2);
}
