//! Training runs whose rows do not fit the memory budget: their data and
//! validation rows stream into Parquet files, and each epoch reads the
//! training file a window of row groups at a time. The rows read back must
//! be the rows the in-memory path holds, and a run from disk must repeat,
//! resume, and not depend on how far ahead its batches are built.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use pipe::run::error::RunError;
use pipe::run::{Control, Event, Options};
use pipe::train::fit::Epoch;

use crate::run::{checked, repo, saved_dense_weights, scratch, trained_model};

/// `people.csv` (2,000 rows) split by a row-wise filter, scaled, one-hot
/// encoded, and a small MLP (no dropout or batch norm, whose draws and
/// statistics depend on the batches) trained on it.
fn pipeline(optimizer: &str, epochs: usize, prefetch: usize, extra: &str) -> String {
    format!(
        r#"
source p = csv("people.csv")
transform prep = fit(p |> filter(f0 > -20)) {{
    standard(f0..f31)
    onehot(city)
    drop(age, income)
}}
model net {{
    dense(16)
    relu()
    dense(2)
}}
train m = net on prep(p |> filter(f0 > -20)) {{
    target: label
    validate: prep(p |> filter(f0 <= -20))
    optimizer: {optimizer}
    batch: 32
    epochs: {epochs}
    seed: 3
    prefetch: {prefetch}
{extra}}}
"#
    )
}

/// A folder with `people.csv`.
fn folder(name: &str) -> PathBuf {
    let dir = scratch(name);
    std::fs::copy(repo().join("data/people.csv"), dir.join("people.csv")).unwrap();
    dir
}

/// What a run of `text` did: its errors, its epochs, and whether the
/// training streamed its rows to disk.
struct Ran {
    errors: Vec<RunError>,
    epochs: Vec<Epoch>,
    from_disk: bool,
    /// The evaluations' scores, and whether each streamed its rows.
    evaluated: Vec<(pipe::train::fit::Scores, bool)>,
    /// The items that streamed.
    streamed: Vec<String>,
}

/// Runs `text` in `dir`, from disk (a budget of one byte) or in memory.
fn run(dir: &Path, text: &str, from_disk: bool, control: Option<Arc<Control>>, resume: bool) -> Ran {
    let program = checked(dir, text);
    let options = Options {
        dir: dir.to_path_buf(),
        cache: false,
        in_memory: !from_disk,
        memory: from_disk.then_some(1),
        control: control.clone(),
        resume,
        ..Options::default()
    };
    let (mut epochs, mut streamed, mut steps) = (Vec::new(), false, 0);
    let (mut evaluated, mut evaluation_streamed, mut names) = (Vec::new(), false, Vec::new());
    let errors = pipe::run::run(&program, &options, &mut |e| match e {
        Event::Step { name, operation: "stream", .. } => {
            streamed |= name == "m";
            evaluation_streamed |= name.starts_with("evaluate");
            names.push(name);
        }
        Event::Evaluated { scores, .. } => evaluated.push((*scores, std::mem::take(&mut evaluation_streamed))),
        Event::Step { operation: "train", .. } => {
            steps += 1;
            // The run is stopped at the second progress report of its
            // second epoch (after step 32 of 61): mid-epoch.
            if let Some(control) = &control
                && steps == 6
            {
                control.cancel.store(true, Ordering::Relaxed);
            }
        }
        Event::Epoch { epoch, .. } => epochs.push(*epoch),
        _ => {}
    });
    Ran { errors, epochs, from_disk: streamed, evaluated, streamed: names }
}

#[test]
fn the_rows_read_from_disk_are_the_rows_held_in_memory() {
    // With a learning rate of 1e-30 the weights stay the initial ones (an
    // update is far below an f32's resolution), so each row's loss and
    // prediction do not depend on the batch it is in: the epoch's metrics
    // are those of the same model on the same rows.
    let text = pipeline("sgd(lr: 1e-30)", 1, 2, "");
    let held = run(&folder("disk_rows_held"), &text, false, None, false);
    let dir = folder("disk_rows_read");
    // What a run killed while training left (its process is gone).
    std::fs::create_dir_all(dir.join(".pipe-cache/scratch")).unwrap();
    let orphan = dir.join(".pipe-cache/scratch/train-4294967295-1-m-data.parquet");
    std::fs::write(&orphan, b"left behind").unwrap();
    let read = run(&dir, &text, true, None, false);
    assert!(held.errors.is_empty() && read.errors.is_empty(), "{:?} {:?}", held.errors, read.errors);
    assert!(read.from_disk && !held.from_disk);
    same_first_epoch(&held, &read);
    // The files are gone once the training is over, and so are the ones
    // a killed run left.
    assert!(!orphan.exists());
    let scratch = std::fs::read_dir(dir.join(".pipe-cache/scratch")).unwrap().count();
    assert_eq!(scratch, 0, "the rows streamed for training are removed");
}

#[test]
fn bool_dummies_train_as_the_f64_dummies_do_held_and_from_disk() {
    // The model reads true/false as 1/0: the same rows, the same training
    // (a real learning rate, two epochs), the same scores to the bit.
    let f64_text = pipeline("adam(lr: 0.01)", 2, 2, "");
    let bool_text = f64_text.replace("onehot(city)", "onehot(city, dtype: bool)");
    assert_ne!(f64_text, bool_text);
    for from_disk in [false, true] {
        let with_f64 = run(&folder("dummies_f64"), &f64_text, from_disk, None, false);
        let with_bool = run(&folder("dummies_bool"), &bool_text, from_disk, None, false);
        assert!(with_f64.errors.is_empty() && with_bool.errors.is_empty(), "{:?}", with_bool.errors);
        assert_eq!(with_bool.from_disk, from_disk);
        let losses =
            |ran: &Ran| ran.epochs.iter().map(|e| (e.loss, e.val.as_ref().map(|v| v.loss))).collect::<Vec<_>>();
        assert_eq!(losses(&with_f64), losses(&with_bool), "from disk: {from_disk}");
        assert_eq!(with_f64.epochs.len(), 2);
    }
}

/// Asserts that a run's first epoch from disk scored what the same run
/// held in memory scored (with weights that do not move, see
/// `the_rows_read_from_disk_are_the_rows_held_in_memory`).
fn same_first_epoch(held: &Ran, read: &Ran) {
    let (held, read) = (&held.epochs[0], &read.epochs[0]);
    // The validation rows are read in the same order and blocks.
    let (held_val, read_val) = (held.val.as_ref().unwrap(), read.val.as_ref().unwrap());
    assert_eq!(held_val.confusion, read_val.confusion);
    assert!((held_val.loss - read_val.loss).abs() < 1e-9, "{} {}", held_val.loss, read_val.loss);
    // The training rows come in another order: the same counts, and sums
    // equal to float rounding.
    assert_eq!(held.train.confusion, read.train.confusion);
    assert!((held.loss - read.loss).abs() < 1e-6, "{} {}", held.loss, read.loss);
}

/// How many rows the (one) evaluation scored.
fn tested_rows(ran: &Ran) -> usize {
    let confusion = ran.evaluated[0].0.confusion.as_ref().unwrap();
    confusion.iter().flatten().sum::<u64>() as usize
}

/// The usual shape, a sample, a transform fitted on it and a stratified
/// split of its result: each part streams to disk (a pass counts the rows
/// and notes their classes, the next keeps the part's), and training reads
/// the rows it holds in memory.
#[test]
fn runs_on_split_parts_read_from_disk_the_rows_held_in_memory() {
    let text = r#"
source p = csv("people.csv")
stage s = p |> sample(frac: 0.9, seed: 2)
transform prep = fit(s) {
    standard(f0..f31)
    onehot(city)
    drop(age, income)
}
split tr, va, te = prep(s) |> split([0.8, 0.1, 0.1], stratify: label, seed: 3)
model net {
    dense(16)
    relu()
    dense(2)
}
train m = net on tr {
    target: label
    validate: va
    optimizer: sgd(lr: 1e-30)
    batch: 32
    epochs: 1
    seed: 3
}
evaluate m on te
output predictions = te |> predict(m) |> write("predictions.csv")
"#;
    let (held_dir, read_dir) = (folder("disk_split_held"), folder("disk_split_read"));
    let held = run(&held_dir, text, false, None, false);
    let read = run(&read_dir, text, true, None, false);
    assert!(held.errors.is_empty() && read.errors.is_empty(), "{:?} {:?}", held.errors, read.errors);
    assert!(read.from_disk && !held.from_disk);
    // The predictions stream too, a batch at a time through the model:
    // the same file.
    assert!(read.streamed.iter().any(|n| n == "predictions"), "{:?}", read.streamed);
    let predictions = |dir: &Path| std::fs::read_to_string(dir.join("predictions.csv")).unwrap();
    let (held_predictions, read_predictions) = (predictions(&held_dir), predictions(&read_dir));
    assert_eq!(held_predictions.lines().count(), 1 + tested_rows(&held));
    assert!(held_predictions == read_predictions, "the predictions differ");
    // The evaluation streams its part to disk too, and scores the rows it
    // holds in memory.
    let ([(held_test, false)], [(read_test, true)]) = (held.evaluated.as_slice(), read.evaluated.as_slice()) else {
        panic!("one evaluation each, streamed from disk only: {:?} {:?}", held.evaluated, read.evaluated);
    };
    // Row groups of 16,384 rows, scored in chunks of 2,048 as held rows
    // are: the same sums.
    assert_eq!(held_test.confusion, read_test.confusion);
    assert_eq!(held_test.loss, read_test.loss);
    let tested: u64 = held_test.confusion.as_ref().unwrap().iter().flatten().sum();
    assert!((178..=182).contains(&tested), "{:?}", held_test.confusion);
    same_first_epoch(&held, &read);
    // 90% of the rows, 80% of those trained on.
    let rows: u64 = held.epochs[0].train.confusion.as_ref().unwrap().iter().flatten().sum();
    assert!((1438..=1442).contains(&rows), "{:?}", held.epochs[0].train.confusion);
}

#[test]
fn training_from_disk_repeats_and_does_not_depend_on_prefetching() {
    let dir = folder("disk_repeats");
    let first = run(&dir, &pipeline("adam(lr: 1e-2)", 3, 2, ""), true, None, false);
    let again = run(&dir, &pipeline("adam(lr: 1e-2)", 3, 2, ""), true, None, false);
    let in_place = run(&dir, &pipeline("adam(lr: 1e-2)", 3, 0, ""), true, None, false);
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    assert!(first.from_disk && in_place.from_disk);
    let losses = |ran: &Ran| ran.epochs.iter().map(|e| (e.loss, e.val.clone())).collect::<Vec<_>>();
    assert_eq!(losses(&first).len(), 3);
    assert_eq!(losses(&first), losses(&again));
    assert_eq!(losses(&first), losses(&in_place));
    // It learns: the loss falls.
    assert!(first.epochs[2].loss < first.epochs[0].loss, "{:?}", losses(&first));
}

#[test]
fn prefetching_in_memory_trains_exactly_as_without() {
    let dir = folder("prefetch_in_memory");
    let ahead = run(&dir, &pipeline("adam(lr: 1e-2)", 2, 4, ""), false, None, false);
    let in_place = run(&dir, &pipeline("adam(lr: 1e-2)", 2, 0, ""), false, None, false);
    assert!(ahead.errors.is_empty(), "{:?}", ahead.errors);
    let history = |ran: &Ran| ran.epochs.iter().map(|e| (e.loss, e.train.clone(), e.val.clone())).collect::<Vec<_>>();
    assert_eq!(history(&ahead), history(&in_place));
}

/// The final weights of the one run folder of `m` in `dir`.
fn weights(dir: &Path, text: &str) -> Vec<(Vec<f32>, Vec<f32>)> {
    let model = trained_model(&checked(dir, text));
    let runs: Vec<PathBuf> = std::fs::read_dir(dir.join("runs/m")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    saved_dense_weights(&runs[0], &model)
}

#[test]
fn a_run_from_disk_stopped_mid_epoch_resumes_to_the_same_weights() {
    let text = pipeline("adam(lr: 1e-2)", 3, 2, "    checkpoint: checkpoint(every: 1, keep: 2)\n");
    let whole = folder("disk_resume_whole");
    let done = run(&whole, &text, true, None, false);
    assert!(done.errors.is_empty() && done.from_disk, "{:?}", done.errors);
    let broken = folder("disk_resume_stopped");
    let control = Arc::new(Control::default());
    let stopped = run(&broken, &text, true, Some(control), false);
    assert_eq!(stopped.errors, vec![RunError::Cancelled]);
    assert_eq!(stopped.epochs.len(), 1, "stopped in the second epoch");
    // `pipe runs` reads the stop from the folder.
    let status = || {
        let listed = pipe::run::folders::list(&broken.join("runs"), Some("m")).unwrap();
        listed.iter().map(|r| r.status.clone()).collect::<Vec<_>>()
    };
    assert_eq!(status(), [pipe::run::folders::Status::Cancelled]);
    // Held in memory, the rest of that epoch would be other rows.
    let other_way = run(&broken, &text, false, None, true);
    assert!(
        other_way.errors.iter().any(|e| e.to_string().contains("stopped mid-epoch training from disk")),
        "{:?}",
        other_way.errors
    );
    let resumed = run(&broken, &text, true, None, true);
    assert!(resumed.errors.is_empty(), "{:?}", resumed.errors);
    assert_eq!(status(), [pipe::run::folders::Status::Finished], "resumed in the same folder, to the end");
    assert_eq!(resumed.epochs.first().map(|e| e.epoch), Some(2), "it goes on from the second epoch");
    assert_eq!(resumed.epochs.last().map(|e| e.loss), done.epochs.last().map(|e| e.loss));
    assert_eq!(weights(&whole, &text), weights(&broken, &text));
}

#[test]
fn check_says_which_runs_read_their_rows_from_disk() {
    let dir = folder("disk_explain");
    let text = pipeline("adam(lr: 1e-2)", 1, 2, "");
    let program = checked(&dir, &text);
    let memory = |program: &pipe::ir::Program| {
        let id = program.items.iter().position(|i| i.as_ref().is_some_and(|i| i.name == "m")).unwrap();
        program.memory(id)
    };
    // Its transform learns in one pass; each of its two files is written in one.
    let streams = |passes: usize, picks: Vec<&'static str>| {
        Some(pipe::ir::Memory::Streams { passes, keeps: vec![], picks, always: false })
    };
    assert_eq!(memory(&program), streams(2, vec![]));
    // A split part: a pass counts the split's rows first.
    let split = text.replace(
        "train m = net on prep(p |> filter(f0 > -20))",
        "split a, b = p |> split([0.5, 0.5], seed: 1)\ntrain m = net on prep(a)",
    );
    assert_eq!(memory(&checked(&dir, &split)), streams(3, vec!["split"]));
    // An evaluation streams its rows to disk too.
    let evaluated = checked(&dir, &format!("{split}evaluate m on prep(b)\n"));
    assert_eq!(memory(&evaluated), streams(3, vec!["split"]));
    let id = evaluated.items.iter().position(|i| i.as_ref().is_some_and(|i| i.name == "evaluate m")).unwrap();
    assert_eq!(evaluated.memory(id), streams(2, vec!["split"]));
    // An output that oversamples holds the rows of its source.
    let held = checked(&dir, &format!("{split}output o = b |> oversample(label) |> write(\"o.csv\")\n"));
    assert_eq!(memory(&held), Some(pipe::ir::Memory::Holds("`o` holds the rows of `p`".into())));
}
