//! `weights:` (Keras' `sample_weight`): each training row's loss weighed by
//! a column. The loss itself is held against PyTorch in
//! `train::losses_equal_pytorch_with_their_parameters_class_weights_and_row_weights`;
//! here whole runs: rows of weight 0 change nothing, scaling every weight
//! changes nothing, and the column is no feature (prediction needs none).

use pipe::run::Event;

use crate::run::{repo, scratch};
use crate::train::run_events;

/// people.csv with weight columns: `young` (1 under 40, else 0),
/// `doubled` (2 under 40, else 0) and `one`, written into `dir`.
fn weighted_people(dir: &std::path::Path) {
    let text = std::fs::read_to_string(repo().join("data/people.csv")).unwrap();
    let mut lines = text.lines();
    let mut out = format!("{},young,doubled,one\n", lines.next().unwrap());
    for line in lines {
        let age: i64 = line.split(',').next().unwrap().parse().unwrap();
        let (young, doubled) = if age < 40 { ("1.0", "2.0") } else { ("0.0", "0.0") };
        out.push_str(&format!("{line},{young},{doubled},one\n").replace(",one\n", ",1.0\n"));
    }
    std::fs::write(dir.join("people_w.csv"), out).unwrap();
}

/// A linear model trained full-batch (one step an epoch: no shuffle, no
/// batch norm, no dropout) on the rows `rows` keeps, weighed by `weights`.
fn linear_run(name: &str, rows: &str, weights: &str) -> (f64, f64) {
    let dir = scratch(name);
    weighted_people(&dir);
    let others: Vec<&str> = ["young", "doubled", "one"].into_iter().filter(|c| *c != weights).collect();
    let text = format!(
        r#"
source people = csv("people_w.csv")
stage base = people |> drop({others})
stage rows = base |> {rows}
transform prep = fit(base) {{
    standard(age, income, f0..f31)
    onehot(city)
}}
model linear {{
    dense(2)
}}
train fitted = linear on prep(rows) {{
    target: label
    weights: {weights}
    batch: 4000
    epochs: 5
    optimizer: sgd(lr: 0.5)
    seed: 3
}}
evaluate fitted on prep(base) {{
    metrics: [accuracy]
}}
"#,
        others = others.join(", ")
    );
    let (mut loss, mut accuracy) = (None, None);
    let errors = run_events(&dir, &text, false, &mut |e| match e {
        Event::Epoch { epoch, .. } => loss = Some(epoch.loss),
        Event::Evaluated { scores, .. } => accuracy = scores.accuracy,
        _ => {}
    });
    assert!(errors.is_empty(), "{errors:?}");
    // The run folder records the column (`pipe runs`, `--resume` compare it).
    let run = std::fs::read_dir(dir.join("runs/fitted")).unwrap().next().unwrap().unwrap().path();
    let settings: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("settings.json")).unwrap()).unwrap();
    assert_eq!(settings["weights"], weights, "{settings}");
    (loss.expect("an epoch"), accuracy.expect("an evaluation"))
}

#[test]
fn rows_of_weight_zero_change_nothing_and_scale_changes_nothing() {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * a.abs().max(1.0);
    // Every row, the old ones weighing 0, against every row weighing as
    // much, doubled: the same weighted mean, bit for bit.
    let zeroed = linear_run("weights_zeroed", "filter(age >= 0)", "young");
    // The young rows alone: the same gradient every step (sums over more
    // rows, so equal to rounding).
    let young = linear_run("weights_young", "filter(age < 40)", "one");
    assert!(close(young.0, zeroed.0), "loss: young rows {} vs all, the others weighing 0: {}", young.0, zeroed.0);
    assert_eq!(young.1, zeroed.1, "the same model: the same accuracy on every row");
    let doubled = linear_run("weights_doubled", "filter(age >= 0)", "doubled");
    assert_eq!(zeroed.0, doubled.0, "doubling every weight changes no bit");
    // Unweighted, the old rows count: another model.
    let all = linear_run("weights_one", "filter(age >= 0)", "one");
    assert!(!close(all.0, zeroed.0), "the old rows' weights matter: {} vs {}", all.0, zeroed.0);
}

/// The weights column is no feature: the model reads every other column
/// but the target, and the run records which column weighs.
#[test]
fn the_weights_column_is_no_feature() {
    let dir = scratch("weights_no_feature");
    weighted_people(&dir);
    let text = r#"
source people = csv("people_w.csv")
stage base = people |> drop(doubled, one)
model linear {
    dense(2)
}
train fitted = linear on base |> drop(city) {
    target: label
    weights: young
}
"#;
    let program = crate::run::checked(&dir, text);
    let train = program
        .items
        .iter()
        .flatten()
        .find_map(|i| if let pipe::ir::ItemKind::Train(t) = &i.kind { Some(t.clone()) } else { None })
        .unwrap();
    // age, income, f0..f31: the target and `young` left out.
    assert_eq!(train.model.input, pipe::ir::Shape::Flat(34));
    assert_eq!(train.settings.weights.as_deref(), Some("young"));
}
