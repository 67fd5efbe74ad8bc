//! The contract between the checker and the runner: each way a file that
//! `pipe check` accepted used to crash or compute the wrong thing, run
//! here and compared with a result computed another way.

use pipe::run::Event;
use pipe::train::fit::Epoch;

use crate::generated::sweep;
use crate::run::{repo, scratch};
use crate::train::run_events;

/// Every epoch a run reports, and its errors.
fn epochs_of(name: &str, text: &str) -> (Vec<Epoch>, Vec<String>) {
    let dir = scratch(name);
    let mut epochs = Vec::new();
    let errors = run_events(&dir, text, false, &mut |e| {
        if let Event::Epoch { epoch, .. } = e {
            epochs.push(*epoch);
        }
    });
    (epochs, errors)
}

fn data(file: &str) -> String {
    repo().join("data").join(file).display().to_string()
}

/// `fill_nulls(sex, "unknown")` then `onehot(sex)`: the checker knows the
/// new level, so the model it checked has the run's width (this stopped
/// with "checked for 9 features, and the data has 10").
#[test]
fn a_level_made_by_fill_nulls_is_one_hot_encoded_as_checked() {
    let dir = scratch("contract_fill_level");
    let text = format!(
        "import std.models {{ mlp }}\n\
         source penguins = csv(\"{}\")\n\
         stage measured = penguins |> drop_nulls(bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g)\n\
         split train, test = measured |> split([0.8, 0.2], stratify: species, seed: 1)\n\
         transform prep = fit(train) {{\n\
             fill_nulls(sex, \"unknown\")\n\
             onehot(sex, island)\n\
             standard(bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g, year)\n\
         }}\n\
         train species_net = mlp(hidden: [8], out: 3) on prep(train) {{ target: species\n epochs: 2 }}\n\
         output encoded = prep(measured) |> write(\"encoded.csv\")\n",
        data("penguins.csv")
    );
    let errors = run_events(&dir, &text, false, &mut |_| {});
    assert!(errors.is_empty(), "{errors:?}");
    let written = std::fs::read_to_string(dir.join("encoded.csv")).expect("written");
    let mut lines = written.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no {name} in {header:?}"));
    let (female, male, unknown) = (at("sex_female"), at("sex_male"), at("sex_unknown"));
    // By hand from the source: the measured rows whose sex is missing.
    let source = std::fs::read_to_string(data("penguins.csv")).expect("penguins");
    let missing_sex = source
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f[2..6].iter().all(|v| *v != "NA") && f[6] == "NA")
        .count();
    let mut unknowns = 0;
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let value = |i: usize| f[i].parse::<f64>().expect("a number");
        assert_eq!(value(female) + value(male) + value(unknown), 1.0, "one level per row: {line}");
        unknowns += value(unknown) as usize;
    }
    assert!(missing_sex > 0);
    assert_eq!(unknowns, missing_sex, "every filled row is `unknown`");
}

/// `early_stop: patience(1, on: train.f1)` watches the training F1 (it
/// watched training accuracy): the epochs run follow the rule replayed by
/// hand on the reported F1 values, and the F1 is the macro F1 of the
/// epoch's confusion, not its accuracy.
#[test]
fn early_stopping_on_train_f1_watches_f1() {
    let text = format!(
        "import std.models {{ mlp }}\n\
         source cancer = csv(\"{}\")\n\
         transform prep = fit(cancer) {{ standard(numeric()) }}\n\
         train malignant = mlp(hidden: [8], out: 2) on prep(cancer) {{\n\
             target: label\n epochs: 40\n seed: 3\n optimizer: sgd(lr: 0.001)\n\
             early_stop: patience(2, on: train.f1)\n\
         }}\n",
        data("breast_cancer.csv")
    );
    let (epochs, errors) = epochs_of("contract_train_f1", &text);
    assert!(errors.is_empty(), "{errors:?}");
    let f1: Vec<f64> = epochs.iter().map(|e| e.train.f1.expect("f1 on classes")).collect();
    // The rule by hand: stop once 2 epochs in a row fail to beat the best.
    let (mut best, mut waited, mut stop_at) = (f64::NEG_INFINITY, 0, 40);
    for (i, value) in f1.iter().enumerate() {
        if *value > best {
            (best, waited) = (*value, 0);
        } else {
            waited += 1;
            if waited >= 2 {
                stop_at = i + 1;
                break;
            }
        }
    }
    assert_eq!(epochs.len(), stop_at, "f1 by epoch: {f1:?}");
    for e in &epochs {
        let confusion = e.train.confusion.as_ref().expect("a confusion matrix");
        let macro_f1 = macro_f1(confusion);
        assert!((macro_f1 - e.train.f1.unwrap()).abs() < 1e-12, "epoch {}: {macro_f1} vs {:?}", e.epoch, e.train.f1);
    }
}

/// Macro F1 from a confusion matrix (rows: true class), by hand.
fn macro_f1(confusion: &[Vec<u64>]) -> f64 {
    let k = confusion.len();
    let mut total = 0.0;
    for (c, row) in confusion.iter().enumerate() {
        let tp = row[c] as f64;
        let predicted: f64 = confusion.iter().map(|r| r[c] as f64).sum();
        let actual: f64 = row.iter().map(|v| *v as f64).sum();
        let (p, r) = (if predicted > 0.0 { tp / predicted } else { 0.0 }, if actual > 0.0 { tp / actual } else { 0.0 });
        total += if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 };
    }
    total / k as f64
}

/// Binary cross-entropy with class weights (it ignored them): the
/// weighted mean of the per-row terms, computed here by hand.
#[test]
fn binary_cross_entropy_weighs_classes() {
    use burn::tensor::{Device, Tensor, TensorData};
    use pipe::train::loss::{Loss, Targets};
    let device = Device::flex();
    let logits = [0.3f32, -1.2, 2.0, 0.0, -0.4];
    let labels = [1i64, 0, 1, 0, 1];
    let weights = vec![0.7f32, 1.9];
    let output = Tensor::<2>::from_data(TensorData::new(logits.to_vec(), [5, 1]), &device);
    let targets = Targets::classes(labels.to_vec(), &device);
    let got = Loss::new(pipe::ir::Loss::BinaryCrossEntropy, Default::default(), Some(weights.clone()))
        .forward(output, &targets, &device)
        .into_scalar::<f64>();
    let (mut sum, mut weight_sum) = (0.0f64, 0.0f64);
    for (x, y) in logits.iter().zip(labels) {
        let (x, y) = (f64::from(*x), y as f64);
        let p = 1.0 / (1.0 + (-x).exp());
        let term = -(y * p.ln() + (1.0 - y) * (1.0 - p).ln());
        let w = f64::from(weights[y as usize]);
        sum += w * term;
        weight_sum += w;
    }
    let want = sum / weight_sum;
    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    let unweighted = Loss::plain(pipe::ir::Loss::BinaryCrossEntropy)
        .forward(Tensor::<2>::from_data(TensorData::new(logits.to_vec(), [5, 1]), &device), &targets, &device)
        .into_scalar::<f64>();
    assert!((unweighted - want).abs() > 1e-3, "the weights change the loss");
}

/// `class_weight: balanced` with `binary_cross_entropy` trains differently
/// from the same run without it (the weights reach the loss).
#[test]
fn balanced_classes_reach_a_binary_cross_entropy_run() {
    let run = |weighted: bool| {
        let text = format!(
            "import std.models {{ mlp }}\n\
             source cancer = csv(\"{}\")\n\
             transform prep = fit(cancer) {{ standard(numeric()) }}\n\
             train malignant = mlp(hidden: [8], out: 1) on prep(cancer) {{\n\
                 target: label\n loss: binary_cross_entropy\n epochs: 2\n seed: 3\n{}\
             }}\n",
            data("breast_cancer.csv"),
            if weighted { " class_weight: balanced\n" } else { "" }
        );
        let (epochs, errors) = epochs_of(&format!("contract_bce_weights_{weighted}"), &text);
        assert!(errors.is_empty(), "{errors:?}");
        epochs.iter().map(|e| e.loss).collect::<Vec<f64>>()
    };
    let (plain, weighted) = (run(false), run(true));
    assert_ne!(plain, weighted);
}

/// 2,000 generated programs: none that checks clean breaks at run
/// time. (`bench/generated.rs` runs 100,000.)
#[test]
fn whatever_checks_clean_runs() {
    let dir = scratch("generated");
    let (tally, broken) = sweep(0, 2000, &dir, &repo().join("data"));
    let shown: Vec<String> = broken.iter().map(|(seed, text, error)| format!("seed {seed}: {error}\n{text}")).collect();
    assert!(broken.is_empty(), "{tally:?}\n{}", shown.join("\n---\n"));
    // The generator is useful only if the checker accepts a good share.
    assert!(tally.ran + tally.data_errors >= 300, "too few programs ran: {tally:?}");
    assert!(tally.refused >= 300, "too few programs were refused: {tally:?}");
}
