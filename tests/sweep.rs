//! Sweeps: every point trains exactly as the same file written out with
//! that point's values (the reference), the best by the objective is the
//! run's result, unchanged points come from the cache, and the points of
//! grids, ranges and random searches are the ones the docs promise.

use std::collections::HashMap;
use std::path::Path;

use pipe::ir::{ItemKind, Program};
use pipe::run::Event;
use pipe::run::sweep::Ranking;

use crate::run::{check_text, repo, scratch};
use crate::train::run_events;

/// The iris pipeline with `hidden` and `lr` written as given.
fn iris(hidden: &str, lr: &str) -> String {
    let data = repo().join("data/iris.csv");
    format!(
        r#"import std.models {{ mlp }}

source iris = csv("{}")

split train, val, test = iris |> split([0.6, 0.2, 0.2], stratify: label, seed: 7)

transform prep = fit(train) {{
    standard(sepal_length_cm, sepal_width_cm, petal_length_cm, petal_width_cm)
}}

model net = mlp(hidden: {hidden}, out: 3)

train species = net on prep(train) {{
    target: label
    validate: prep(val)
    optimizer: adam(lr: {lr})
    batch: 16
    epochs: 12
    seed: 7
    early_stop: patience(4, restore_best: true)
}}

evaluate report = species on prep(test) {{
    metrics: [accuracy, log_loss]
}}
"#,
        data.display()
    )
}

/// What one run reports.
#[derive(Default)]
struct Ran {
    /// Each point's epoch losses (training and validation), by number.
    losses: HashMap<usize, Vec<(f64, f64)>>,
    /// Points found in the cache, by number.
    cached: HashMap<usize, bool>,
    ranking: Option<Ranking>,
    /// The evaluation's accuracy and log loss.
    scores: Option<(f64, f64)>,
    errors: Vec<String>,
}

fn run(dir: &Path, text: &str) -> Ran {
    let mut ran = Ran::default();
    ran.errors = run_events(dir, text, true, &mut |event| match event {
        Event::Point { number, cached, .. } => {
            ran.cached.insert(number, cached);
        }
        // Each epoch names its point (0: a run that is no sweep).
        Event::Epoch { epoch, point: number, .. } => {
            let val = epoch.val.as_ref().map_or(f64::NAN, |v| v.loss);
            ran.losses.entry(number.unwrap_or(0)).or_default().push((epoch.loss, val));
        }
        Event::Swept { ranking, .. } => ran.ranking = Some(ranking),
        Event::Evaluated { scores, .. } => {
            ran.scores = Some((scores.accuracy.unwrap_or(f64::NAN), scores.log_loss.unwrap_or(f64::NAN)))
        }
        _ => {}
    });
    ran
}

#[test]
fn every_point_trains_as_its_file_written_out_and_the_best_is_the_result() {
    let dir = scratch("sweep_points");
    let swept = run(&dir, &iris("sweep([[4], [16, 16]])", "sweep([1e-3, 3e-2])"));
    assert!(swept.errors.is_empty(), "{:?}", swept.errors);
    let ranking = swept.ranking.expect("a ranking");
    assert_eq!(ranking.objective, "val.loss");
    // Grid order: the last axis varies fastest.
    let points = [("[4]", "1e-3"), ("[4]", "3e-2"), ("[16, 16]", "1e-3"), ("[16, 16]", "3e-2")];
    let mut best: Option<(f64, usize)> = None;
    let mut written_scores = Vec::new();
    for (number, (hidden, lr)) in points.iter().enumerate().map(|(i, p)| (i + 1, p)) {
        let listed = ranking.points.iter().find(|p| p.number == number).expect("every point ranked");
        assert_eq!(listed.point, vec![("hidden".into(), hidden.to_string()), ("lr".into(), lr.to_string())]);
        // The reference: the same file with the point's values written in.
        let alone = run(&scratch(&format!("sweep_point_{number}")), &iris(hidden, lr));
        assert!(alone.errors.is_empty(), "{:?}", alone.errors);
        let reference = &alone.losses[&0];
        assert_eq!(&swept.losses[&number], reference, "point {number} trains as written out");
        // restore_best keeps the epoch of the lowest validation loss.
        let kept = reference.iter().map(|l| l.1).fold(f64::INFINITY, f64::min);
        assert_eq!(listed.objective, Some(kept), "point {number}'s objective");
        if best.is_none_or(|(b, _)| kept < b) {
            best = Some((kept, number));
        }
        written_scores.push((number, alone.scores.expect("scores")));
    }
    let (_, best) = best.unwrap();
    assert_eq!(ranking.points[0].number, best, "the lowest validation loss ranks first");
    let objectives: Vec<f64> = ranking.points.iter().map(|p| p.objective.unwrap()).collect();
    assert!(objectives.windows(2).all(|w| w[0] <= w[1]), "ranked: {objectives:?}");
    // The run's result is the best point: its evaluation is that point's.
    let best_scores = written_scores.iter().find(|(n, _)| *n == best).unwrap().1;
    assert_eq!(swept.scores, Some(best_scores));
    // Each point has its run folder; the ranking is beside them.
    let folders = std::fs::read_dir(dir.join("runs/species")).unwrap().flatten().filter(|e| e.path().is_dir()).count();
    assert_eq!(folders, 4);
    let csv = std::fs::read_to_string(dir.join("runs/species/sweep.csv")).unwrap();
    assert!(csv.starts_with("rank,point,hidden,lr,val.loss,"), "{csv}");
    assert_eq!(csv.lines().nth(1).unwrap().split(',').nth(1), Some(best.to_string().as_str()));

    // Run again unchanged: nothing trains.
    let again = run(&dir, &iris("sweep([[4], [16, 16]])", "sweep([1e-3, 3e-2])"));
    assert!(again.errors.is_empty(), "{:?}", again.errors);
    assert!(again.losses.is_empty() && again.cached.is_empty(), "the sweep came from the cache");
    assert_eq!(again.scores, swept.scores);
    // A point added: only its points train, the others come from the cache.
    let more = run(&dir, &iris("sweep([[4], [16, 16]])", "sweep([1e-3, 3e-2, 1e-1])"));
    assert!(more.errors.is_empty(), "{:?}", more.errors);
    let trained: Vec<usize> = (1..=6).filter(|n| !more.cached[n]).collect();
    assert_eq!(trained, vec![3, 6], "only the new learning rate's points train");
    assert_eq!(more.losses.keys().copied().collect::<std::collections::BTreeSet<_>>(), [3, 6].into());
}

/// The points a checked file's run `species` sweeps, as written.
fn points_of(program: &Program) -> Vec<Vec<(String, String)>> {
    let sweep = program.items.iter().flatten().find_map(|i| match &i.kind {
        ItemKind::Train(t) => t.sweep.clone(),
        _ => None,
    });
    sweep.expect("a sweep").trials.into_iter().map(|t| t.point).collect()
}

fn values(points: &[Vec<(String, String)>], axis: usize) -> Vec<String> {
    points.iter().map(|p| p[axis].1.clone()).collect()
}

/// A sweep trained with `pipe run --device` (here the file's `[cpu, cpu]`
/// run on `cpu`): each point's run folder records the device it trained
/// on, and `pipe predict` still finds the point in the saved pipeline.
#[test]
fn a_point_trained_with_a_device_override_predicts() {
    let dir = scratch("sweep_device_override");
    let text = iris("[8]", "sweep([1e-2, 3e-2])").replace("    seed: 7\n", "    seed: 7\n    device: [cpu, cpu]\n");
    assert!(text.contains("device: [cpu, cpu]"), "{text}");
    std::fs::write(dir.join("main.pipe"), &text).unwrap();
    let pipe = |args: &[&str]| std::process::Command::new(env!("CARGO_BIN_EXE_pipe")).args(args).output().unwrap();
    let main = dir.join("main.pipe");
    let ran = pipe(&["run", "--no-cache", "--device", "cpu", main.to_str().unwrap()]);
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    let points: Vec<_> = std::fs::read_dir(dir.join("runs/species"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("trained.json").exists())
        .collect();
    assert_eq!(points.len(), 2, "{points:?}");
    let data = repo().join("data/iris.csv");
    for point in points {
        let out = point.with_extension("csv");
        let predicted =
            pipe(&["predict", point.to_str().unwrap(), data.to_str().unwrap(), "-o", out.to_str().unwrap()]);
        assert!(predicted.status.success(), "{}", String::from_utf8_lossy(&predicted.stderr));
    }
}

#[test]
fn ranges_grids_and_random_searches_give_the_documented_points() {
    let dir = scratch("sweep_ranges");
    let text = iris("sweep([[8], [16]])", "sweep(1e-4..1e-1, steps: 4, log: true)")
        .replace("batch: 16", "batch: sweep(16..64, steps: 3, log: true)")
        .replace("epochs: 12", "epochs: sweep(1..3)")
        .replace("patience(4, restore_best: true)", "patience(4, min_delta: sweep(0.1..0.5, steps: 5))");
    let points = points_of(&check_text(&dir, &text));
    assert_eq!(points.len(), 2 * 4 * 3 * 3 * 5);
    let distinct = |axis: usize| {
        let mut v = values(&points, axis);
        v.dedup();
        v.truncate(match axis {
            1 => 4,
            2 | 3 => 3,
            4 => 5,
            _ => 2,
        });
        v
    };
    assert_eq!(
        points[0].iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>(),
        ["hidden", "lr", "batch", "epochs", "min_delta"]
    );
    assert_eq!(distinct(1), ["0.0001", "0.001", "0.01", "0.1"]);
    assert_eq!(distinct(2), ["16", "32", "64"]);
    assert_eq!(distinct(3), ["1", "2", "3"]);
    assert_eq!(distinct(4), ["0.1", "0.2", "0.3", "0.4", "0.5"]);
    // The last axis varies fastest, the first slowest.
    assert_eq!(values(&points, 0)[..points.len() / 2].iter().filter(|v| *v == "[8]").count(), points.len() / 2);

    // Whole-number ends with `steps:` give decimals when the steps fall
    // between whole numbers.
    let halves = iris("[8]", "sweep(1..2, steps: 3)").replace("adam(", "sgd(");
    assert_eq!(values(&points_of(&check_text(&dir, &halves)), 0), ["1.0", "1.5", "2.0"]);

    let random = |seed: u32| {
        let text = iris("sweep([[8], [16]])", "log_uniform(1e-4, 1e-1)")
            .replace("epochs: 12", &format!("epochs: 2\n    search: random(n: 30, seed: {seed})"));
        points_of(&check_text(&dir, &text))
    };
    let drawn = random(1);
    assert_eq!(drawn.len(), 30);
    assert_eq!(drawn, random(1), "the same seed draws the same points");
    assert_ne!(drawn, random(2));
    let rates: Vec<f64> = values(&drawn, 1).iter().map(|v| v.parse().unwrap()).collect();
    assert!(rates.iter().all(|r| (1e-4..=1e-1).contains(r)), "{rates:?}");
    // Log-uniform: about as many draws in each decade.
    let per_decade: Vec<usize> =
        [1e-4, 1e-3, 1e-2].iter().map(|lo| rates.iter().filter(|r| **r >= *lo && **r < lo * 10.0).count()).collect();
    assert!(per_decade.iter().all(|n| *n >= 4), "{per_decade:?}");
    // Four significant digits: the value printed is the value trained.
    for r in &rates {
        let digits = format!("{:e}", r).split('e').next().unwrap().replace(['.', '-'], "").len();
        assert!(digits <= 4, "{r}");
    }
    let both = values(&drawn, 0);
    assert!(both.contains(&"[8]".to_owned()) && both.contains(&"[16]".to_owned()));
    // Whole-number ends draw whole numbers; no point is drawn twice, even
    // when the points asked for are all there are.
    let text = iris("sweep([[8], [16]])", "1e-3")
        .replace("batch: 16", "batch: uniform(8, 12)")
        .replace("epochs: 12", "epochs: 2\n    search: random(n: 10, seed: 3)");
    let drawn = points_of(&check_text(&dir, &text));
    let mut distinct: Vec<String> = drawn.iter().map(|p| format!("{p:?}")).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 10, "2 widths x 5 batch sizes, each once: {drawn:?}");
    assert!(values(&drawn, 1).iter().all(|b| ["8", "9", "10", "11", "12"].contains(&b.as_str())));
}

#[test]
fn a_point_whose_loss_diverges_fails_alone() {
    let dir = scratch("sweep_diverges");
    let text = iris("[8]", "sweep([1e12, 1e-2])").replace("adam(", "sgd(").replace("epochs: 12", "epochs: 3");
    let swept = run(&dir, &text);
    assert!(swept.errors.is_empty(), "{:?}", swept.errors);
    let ranking = swept.ranking.expect("a ranking");
    let failed: Vec<usize> = ranking.points.iter().filter(|p| p.failed.is_some()).map(|p| p.number).collect();
    assert_eq!(failed, [1], "{:?}", ranking.points);
    assert_eq!(ranking.points[0].number, 2, "the point that trained is the result");
    assert!(swept.scores.is_some(), "the evaluation ran on the best point");
    let csv = std::fs::read_to_string(dir.join("runs/species/sweep.csv")).unwrap();
    assert!(csv.lines().last().unwrap().contains("NaN or infinite"), "{csv}");
}

#[test]
fn changing_the_objective_ranks_again_without_training() {
    let dir = scratch("sweep_objective");
    let text = iris("[8]", "sweep([1e-3, 3e-2])").replace("epochs: 12", "epochs: 3");
    let first = run(&dir, &text);
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    let ranked = run(&dir, &text.replace("    seed: 7\n", "    seed: 7\n    objective: val.accuracy\n"));
    assert!(ranked.errors.is_empty(), "{:?}", ranked.errors);
    assert_eq!(ranked.cached.values().filter(|c| **c).count(), 2, "both points from the cache");
    assert!(ranked.losses.is_empty(), "nothing trained");
    assert_eq!(ranked.ranking.unwrap().objective, "val.accuracy");
}

/// The median of numbers (the mean of the middle two for an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

#[test]
fn median_pruning_stops_the_points_optunas_rule_stops() {
    let rates = ["1e-2", "3e-2", "1e-4", "3e-3", "1e-3", "3e-4"];
    let file = |lr: &str, prune: &str| {
        iris("[8]", lr)
            .replace("epochs: 12", "epochs: 10")
            .replace("    early_stop: patience(4, restore_best: true)\n", prune)
    };
    let swept = run(
        &scratch("sweep_prune"),
        &file(&format!("sweep([{}])", rates.join(", ")), "    prune: median(startup: 2, after: 1)\n"),
    );
    assert!(swept.errors.is_empty(), "{:?}", swept.errors);
    let ranking = swept.ranking.expect("a ranking");
    // The reference: each point trained alone for all its epochs, and
    // Optuna's MedianPruner rule (its best validation loss so far against
    // the median of the finished points' at that epoch, from the 2nd
    // epoch, once 2 points have finished) applied to those histories.
    let mut finished: Vec<Vec<f64>> = Vec::new();
    let mut pruned_any = false;
    for (index, lr) in rates.iter().enumerate() {
        let alone = run(&scratch(&format!("sweep_prune_{index}")), &file(lr, ""));
        assert!(alone.errors.is_empty(), "{:?}", alone.errors);
        let val: Vec<f64> = alone.losses[&0].iter().map(|l| l.1).collect();
        let mut best = f64::INFINITY;
        let mut pruned = None;
        for (e, v) in val.iter().enumerate() {
            best = best.min(*v);
            if finished.len() >= 2 && e >= 1 && best > median(finished.iter().map(|h| h[e]).collect()) {
                pruned = Some(e + 1);
                break;
            }
        }
        if pruned.is_none() {
            finished.push(val);
        }
        let number = index + 1;
        let listed = ranking.points.iter().find(|p| p.number == number).unwrap();
        assert_eq!(listed.pruned_at, pruned, "point {number} (lr {lr})");
        // Up to where it stopped, it trained as alone.
        let epochs = pruned.unwrap_or(10);
        assert_eq!(swept.losses[&number], alone.losses[&0][..epochs], "point {number}");
        pruned_any |= pruned.is_some();
    }
    assert!(pruned_any, "the case prunes some points");
    let csv = std::fs::read_to_string(scratch_dir("sweep_prune").join("runs/species/sweep.csv")).unwrap();
    assert!(csv.lines().next().unwrap().contains(",pruned_at,"), "{csv}");
}

fn scratch_dir(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("run").join(name)
}

#[test]
fn points_trained_in_parallel_equal_points_trained_one_by_one() {
    let text = iris("sweep([[4], [16, 16]])", "sweep([1e-3, 3e-2])");
    let alone = run(&scratch("sweep_serial"), &text);
    let parallel = run(&scratch("sweep_parallel"), &text.replace("    seed: 7\n", "    seed: 7\n    parallel: 3\n"));
    assert!(alone.errors.is_empty() && parallel.errors.is_empty(), "{:?} {:?}", alone.errors, parallel.errors);
    for number in 1..=4 {
        // Each point's epochs arrive in order, whatever the threads do.
        assert_eq!(parallel.losses[&number], alone.losses[&number], "point {number}");
    }
    let order = |r: &Ran| r.ranking.as_ref().unwrap().points.iter().map(|p| p.number).collect::<Vec<_>>();
    assert_eq!(order(&parallel), order(&alone));
    assert_eq!(parallel.scores, alone.scores);
    // Points that start within one millisecond each have a folder.
    let folders: std::collections::BTreeSet<_> =
        parallel.ranking.unwrap().points.into_iter().map(|p| p.run_dir).collect();
    assert_eq!(folders.len(), 4);
    assert!(folders.iter().all(|f| f.join("trained.json").exists()));
}

#[test]
fn a_whole_number_range_sweeps_each_whole_number_exactly() {
    let dir = scratch("sweep_whole_range");
    let text = iris("[8]", "1e-2").replace("seed: 7\n", "seed: sweep(12345..12348)\n");
    let program = check_text(&dir, &text);
    let train = program
        .items
        .iter()
        .flatten()
        .find_map(|i| if let ItemKind::Train(t) = &i.kind { Some(t) } else { None })
        .unwrap();
    let seeds: Vec<u64> = train.sweep.as_ref().unwrap().trials.iter().map(|t| t.settings.seed).collect();
    assert_eq!(seeds, [12345, 12346, 12347, 12348], "not rounded to 4 significant digits");
}
