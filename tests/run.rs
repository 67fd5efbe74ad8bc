//! `pipe run` for data: every stage against numbers computed another way —
//! scikit-learn and pandas (the issue's reference numbers and a fixture of
//! transformed rows, `bench/reference.py`), and hand calculations.

use std::path::{Path, PathBuf};

use pipe::ir::Program;
use pipe::run::error::RunError;
use pipe::run::fitted::Fitted;
use pipe::run::{Event, Options, Session};
use pipe::source::SourceMap;
use polars::prelude::*;

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A tool `.ci/run` provides through the environment variable `name`. A run
/// without it skips the test, saying so; in CI that is a failure.
pub fn provided(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(value) => Some(value),
        Err(_) if std::env::var_os("CI").is_some() => panic!("{name} is not set: `.ci/run` sets it"),
        Err(_) => {
            eprintln!("skipped: {name} is not set (`.ci/run` sets it)");
            None
        }
    }
}

/// An empty folder for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("run").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// `text` written to `dir/main.pipe` and checked (it must check clean).
pub fn checked(dir: &Path, text: &str) -> Program {
    std::fs::write(dir.join("main.pipe"), text).expect("write pipe file");
    check_text(dir, text)
}

/// `text` checked as if it were a file in `dir` (it must check clean).
pub fn check_text(dir: &Path, text: &str) -> Program {
    let path = dir.join("main.pipe");
    let mut sources = SourceMap::new();
    let id = sources.add(path.display().to_string(), text);
    let parsed = pipe::syntax::parse(text, id);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let report = pipe::check::check(&parsed.program, &mut sources, Some(dir));
    assert!(!report.has_errors(), "{:?}", report.errors);
    report.ir
}

/// Runs `program` as `pipe run --no-cache` does, held (`--in-memory`) or
/// with a budget of one byte (every item that can stream does); the errors
/// and the items that took a step `operation` (`stream`, `spill`), in order.
pub fn run_noting_steps(
    program: &Program,
    dir: &Path,
    in_memory: bool,
    operation: &str,
) -> (Vec<RunError>, Vec<String>) {
    let memory = (!in_memory).then_some(1);
    let options = Options { dir: dir.to_path_buf(), cache: false, in_memory, memory, ..Options::default() };
    let mut names = Vec::new();
    let errors = pipe::run::run(program, &options, &mut |e: Event| match e {
        Event::Step { name, operation: step, .. } if step == operation => names.push(name),
        _ => {}
    });
    (errors, names)
}

/// Runs `f` with a session over `program` (no cache); returns its result
/// and the warnings met.
pub fn with_session<T>(program: &Program, dir: &Path, f: impl FnOnce(&mut Session) -> T) -> (T, Vec<RunError>) {
    let mut warnings = Vec::new();
    let mut events = |e: Event| {
        if let Event::Warning(w) = e {
            warnings.push(w);
        }
    };
    let options = Options {
        dir: dir.to_path_buf(),
        cache: false,
        only: Vec::new(),
        source_text: None,
        control: None,
        resume: false,
        in_memory: false,
        memory: None,
    };
    let result = {
        let mut session = Session::new(program, &options, &mut events);
        f(&mut session)
    };
    (result, warnings)
}

fn floats(df: &DataFrame, column: &str) -> Vec<Option<f64>> {
    df.column(column).unwrap().cast(&DataType::Float64).unwrap().f64().unwrap().iter().collect()
}

fn strings(df: &DataFrame, column: &str) -> Vec<Option<String>> {
    df.column(column)
        .unwrap()
        .cast(&DataType::String)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|s| s.map(str::to_owned))
        .collect()
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance * b.abs().max(1.0)
}

const PEOPLE: &str = r#"
source people = csv("PEOPLE")

transform scaled = fit(people) {
    cut(age, [0, 18, 65, inf], labels: [teen, adult, senior]) as age_bucket
    qcut(income, 4) as income_q
    standard(f0..f15)
    minmax(f16..f31)
    onehot(city)
}

transform reduced = fit(people) {
    standard(f0..f15)
    minmax(f16..f31)
    pca(f0..f31, 8)
}

stage s = scaled(people)
stage r = reduced(people)
"#;

fn people_10k(dir: &Path) -> Program {
    let csv = repo().join("data/people-10k.csv");
    checked(dir, &PEOPLE.replace("PEOPLE", &csv.display().to_string()))
}

#[test]
fn fitted_numbers_match_scikit_learn_on_people_10k() {
    let dir = scratch("reference_numbers");
    let program = people_10k(&dir);
    let ((scaled, reduced), _) =
        with_session(&program, &dir, |s| (s.fitted("scaled").unwrap(), s.fitted("reduced").unwrap()));
    let Fitted::Edges { edges } = &scaled[1] else { panic!("qcut learns edges: {:?}", scaled[1]) };
    let expected = [2041.83, 21668.995, 35903.6, 59504.45, 693957.61];
    assert_eq!(edges.len(), expected.len());
    for (e, x) in edges.iter().zip(expected) {
        assert!((e - x).abs() < 1e-9, "qcut edge {e} != {x}");
    }
    let Fitted::Scale { center, scale, .. } = &scaled[2] else { panic!("standard learns a scale") };
    assert!((center[0] - 29.809611299).abs() < 1e-9, "f0 mean {}", center[0]);
    assert!((scale[0] - 29.241571531357085).abs() < 1e-9, "f0 scale {}", scale[0]);
    let Fitted::Linear { data_min, data_max, .. } = &scaled[3] else { panic!("minmax learns a range") };
    assert!((data_min[0] - -119.65459).abs() < 1e-9 && (data_max[0] - 69.16562).abs() < 1e-9);
    let Fitted::Pca(projection) = &reduced[2] else { panic!("pca learns a projection") };
    let ratios =
        [0.258782487, 0.239400850, 0.202959809, 0.126056375, 0.069555346, 0.040317969, 0.013721383, 0.009414946];
    for (r, x) in projection.explained_variance_ratio.iter().zip(ratios) {
        assert!((r - x).abs() < 1e-6, "explained variance ratio {r} != {x}");
    }
}

#[test]
fn buckets_match_pandas_and_lost_rows_are_reported() {
    let dir = scratch("reference_buckets");
    let program = people_10k(&dir);
    let (frame, warnings) = with_session(&program, &dir, |s| s.frame("s").unwrap());
    let buckets = strings(&frame, "age_bucket");
    let count = |label: Option<&str>| buckets.iter().filter(|b| b.as_deref() == label).count();
    assert_eq!((count(Some("adult")), count(Some("senior")), count(Some("teen")), count(None)), (4854, 3162, 1897, 87));
    let quartiles = strings(&frame, "income_q");
    for q in ["0", "1", "2", "3"] {
        assert_eq!(quartiles.iter().filter(|v| v.as_deref() == Some(q)).count(), 2500, "rows in quartile {q}");
    }
    let messages: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert!(
        messages.iter().any(|m| m.contains("87 rows have age = 0, excluded by the right-closed first bin (0, 18]")),
        "{messages:?}"
    );
}

/// The reference rows: `bench/reference.py` (pandas + scikit-learn).
fn reference_rows() -> DataFrame {
    let path = repo().join("tests/data/reference/people-10k-every-50th.csv");
    CsvReadOptions::default().try_into_reader_with_file_path(Some(path)).unwrap().finish().unwrap()
}

#[test]
fn transformed_rows_match_scikit_learn() {
    let dir = scratch("reference_rows");
    let program = people_10k(&dir);
    let ((scaled, reduced), _) = with_session(&program, &dir, |s| (s.frame("s").unwrap(), s.frame("r").unwrap()));
    let expected = reference_rows();
    let rows: Vec<IdxSize> = floats(&expected, "row").iter().map(|r| r.unwrap() as IdxSize).collect();
    let take = |df: &DataFrame| df.take(&IdxCa::from_vec("".into(), rows.clone())).unwrap();
    let (scaled, reduced) = (take(&scaled), take(&reduced));
    for j in 0..32 {
        let name = format!("f{j}");
        for (got, want) in floats(&scaled, &name).iter().zip(floats(&expected, &name)) {
            assert!(close(got.unwrap(), want.unwrap(), 1e-9), "{name}: {got:?} != {want:?}");
        }
    }
    for k in 0..8 {
        let name = format!("pc{k}");
        for (got, want) in floats(&reduced, &name).iter().zip(floats(&expected, &name)) {
            assert!(close(got.unwrap(), want.unwrap(), 1e-6), "{name}: {got:?} != {want:?}");
        }
    }
    let buckets = strings(&expected, "age_bucket");
    for (got, want) in strings(&scaled, "age_bucket").iter().zip(buckets) {
        assert_eq!(got.as_deref().unwrap_or(""), want.as_deref().unwrap_or(""));
    }
    for (got, want) in strings(&scaled, "income_q").iter().zip(floats(&expected, "income_q")) {
        assert_eq!(got.as_deref(), Some(format!("{}", want.unwrap() as i64).as_str()));
    }
    // One-hot: a 1 in the row's own city column, 0 in the 49 others.
    let cities = strings(&expected, "city");
    let dummies: Vec<String> =
        scaled.get_column_names().iter().filter(|n| n.starts_with("city_")).map(|n| n.to_string()).collect();
    assert_eq!(dummies.len(), 50);
    for name in &dummies {
        for (value, city) in floats(&scaled, name).iter().zip(&cities) {
            let own = format!("city_{}", city.as_deref().unwrap()) == *name;
            assert_eq!(value.unwrap(), if own { 1.0 } else { 0.0 }, "{name}");
        }
    }
}

/// Every item's `Finished` event of a whole run (cache on).
fn run_all(dir: &Path, text: &str, cache: bool) -> (Vec<pipe::run::Finished>, Vec<RunError>) {
    let program = checked(dir, text);
    let mut finished = Vec::new();
    let options = Options {
        dir: dir.to_path_buf(),
        cache,
        only: Vec::new(),
        source_text: None,
        control: None,
        resume: false,
        in_memory: false,
        memory: None,
    };
    let errors = pipe::run::run(&program, &options, &mut |e| {
        if let Event::Finished(f) = e {
            finished.push(f);
        }
    });
    (finished, errors)
}

fn cached(finished: &[pipe::run::Finished]) -> Vec<(String, bool)> {
    finished.iter().map(|f| (f.name.clone(), f.cached)).collect()
}

fn write_csv(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write csv");
}

#[test]
fn splits_are_seeded_stratified_and_cover_every_row_once() {
    let dir = scratch("splits");
    let csv = repo().join("data/people.csv");
    let text = format!(
        "source people = csv(\"{}\")\nsplit a, b, c = people |> split([0.7, 0.15, 0.15], stratify: label, seed: SEED)\n",
        csv.display()
    );
    let parts = |seed: u64| {
        let program = checked(&dir, &text.replace("SEED", &seed.to_string()));
        with_session(&program, &dir, |s| ["a", "b", "c"].map(|p| s.frame(p).unwrap())).0
    };
    let [a, b, c] = parts(42);
    assert_eq!((a.height(), b.height(), c.height()), (1400, 300, 300));
    // Every row once: the f0 values (distinct in this file) of the parts are those of the whole.
    let mut seen: Vec<f64> = [&a, &b, &c].iter().flat_map(|p| floats(p, "f0")).map(Option::unwrap).collect();
    seen.sort_by(f64::total_cmp);
    let (whole, _) = with_session(&checked(&dir, &text.replace("SEED", "42")), &dir, |s| s.frame("people").unwrap());
    let mut all: Vec<f64> = floats(&whole, "f0").into_iter().map(Option::unwrap).collect();
    all.sort_by(f64::total_cmp);
    assert_eq!(seen, all);
    // Stratified: each part has the whole's share of label 1, to within one row.
    let ones = |df: &DataFrame| floats(df, "label").iter().filter(|v| **v == Some(1.0)).count() as f64;
    let share = ones(&whole) / whole.height() as f64;
    for part in [&a, &b, &c] {
        assert!((ones(part) - share * part.height() as f64).abs() <= 1.0, "{} of {}", ones(part), part.height());
    }
    // The seed decides: the same seed, the same rows; another, others.
    let [again, _, _] = parts(42);
    assert_eq!(floats(&again, "f0"), floats(&a, "f0"));
    let [other, _, _] = parts(43);
    assert_ne!(floats(&other, "f0"), floats(&a, "f0"));
}

const SMALL: &str = "x,y,g\n1,2.0,a\n2,,b\n3,4.0,a\n4,10.0,c\n5,NA,a\n";

#[test]
fn row_operations_match_hand_calculations() {
    let dir = scratch("row_ops");
    write_csv(&dir.join("small.csv"), SMALL);
    let text = r#"
source small = csv("small.csv")
stage derived = small
    |> filter(x >= 2 and not is_null(g))
    |> with(z: x * 2 + 1, w: x / 4, r: x % 2, a: abs(0 - x), q: sqrt(x), l: log(x), e: exp(0 * x))
    |> rename(g: group)
    |> drop(r)
transform fill = fit(small) {
    fill_nulls(y, median)
}
transform mean_fill = fit(small) {
    fill_nulls(y, mean)
    robust(x)
}
stage filled = fill(small)
stage mean_filled = mean_fill(small)
stage dropped = small |> drop_nulls(y) |> select(x, y)
stage recast = small |> cast(x, f64) |> cast(y, str)
stage sampled = small |> sample(3, seed: 1)
stage balanced = small |> oversample(g)
"#;
    let program = checked(&dir, text);
    let (frames, _) = with_session(&program, &dir, |s| {
        ["derived", "filled", "mean_filled", "dropped", "recast", "sampled", "balanced"].map(|n| s.frame(n).unwrap())
    });
    let [derived, filled, mean_filled, dropped, cast, sampled, balanced] = frames;
    assert_eq!(floats(&derived, "x"), [Some(2.0), Some(3.0), Some(4.0), Some(5.0)]);
    assert_eq!(floats(&derived, "z"), [Some(5.0), Some(7.0), Some(9.0), Some(11.0)]);
    assert_eq!(floats(&derived, "w"), [Some(0.5), Some(0.75), Some(1.0), Some(1.25)]);
    assert_eq!(floats(&derived, "a"), [Some(2.0), Some(3.0), Some(4.0), Some(5.0)]);
    assert!((floats(&derived, "q")[0].unwrap() - 2f64.sqrt()).abs() < 1e-15);
    assert!((floats(&derived, "l")[2].unwrap() - 4f64.ln()).abs() < 1e-15);
    assert_eq!(floats(&derived, "e"), [Some(1.0); 4]);
    assert!(derived.column("group").is_ok() && derived.column("r").is_err());
    // y is 2, null, 4, 10, NA (null): median 4, mean 16/3.
    assert_eq!(floats(&filled, "y"), [Some(2.0), Some(4.0), Some(4.0), Some(10.0), Some(4.0)]);
    let mean = 16.0 / 3.0;
    assert_eq!(floats(&mean_filled, "y"), [Some(2.0), Some(mean), Some(4.0), Some(10.0), Some(mean)]);
    // robust(x): median 3, interquartile range 4 - 2 = 2.
    assert_eq!(floats(&mean_filled, "x"), [Some(-1.0), Some(-0.5), Some(0.0), Some(0.5), Some(1.0)]);
    assert_eq!(dropped.get_column_names(), ["x", "y"]);
    assert_eq!(floats(&dropped, "y"), [Some(2.0), Some(4.0), Some(10.0)]);
    assert_eq!(cast.column("x").unwrap().dtype(), &DataType::Float64);
    assert_eq!(strings(&cast, "y")[0].as_deref(), Some("2.0"));
    assert_eq!(sampled.height(), 3);
    let xs = floats(&sampled, "x");
    assert!(xs.windows(2).all(|w| w[0] < w[1]), "a sample keeps row order: {xs:?}");
    // oversample: a x3, b x1, c x1 -> every class 3 rows.
    let groups = strings(&balanced, "g");
    for g in ["a", "b", "c"] {
        assert_eq!(groups.iter().filter(|v| v.as_deref() == Some(g)).count(), 3, "{g}");
    }
}

/// `log1p(cols)`: ln(1 + x) in place, as f64; nulls stay null (numpy's
/// `log1p`, computed here with Rust's `ln_1p`).
#[test]
fn log1p_matches_ln_1p() {
    let dir = scratch("log1p");
    write_csv(&dir.join("small.csv"), SMALL);
    let program = checked(&dir, "source small = csv(\"small.csv\")\nstage logged = small |> log1p(x, y)\n");
    let (frames, errors) = with_session(&program, &dir, |s| s.frame("logged").unwrap());
    assert!(errors.is_empty(), "{errors:?}");
    // x is 1..5; y is 2, null, 4, 10, null.
    let expected_x: Vec<Option<f64>> = (1..=5).map(|x| Some(f64::from(x).ln_1p())).collect();
    assert_eq!(floats(&frames, "x"), expected_x);
    let expected_y = [Some(2f64.ln_1p()), None, Some(4f64.ln_1p()), Some(10f64.ln_1p()), None];
    assert_eq!(floats(&frames, "y"), expected_y);
}

#[test]
fn bool_dummies_are_true_where_the_row_has_the_level() {
    // Checked against the city column itself (a hand calculation), and
    // against the f64 dummies, which the data bench compares with pandas.
    let dir = scratch("onehot_bool");
    std::fs::copy(repo().join("data/people.csv"), dir.join("people.csv")).unwrap();
    let text = "source p = csv(\"people.csv\")\n\
                output b = p |> onehot(city, dtype: bool) |> write(\"b.parquet\")\n\
                output f = p |> onehot(city) |> write(\"f.parquet\")\n";
    let program = checked(&dir, text);
    let errors = pipe::run::run(&program, &Options { dir: dir.clone(), ..Options::default() }, &mut |_| {});
    assert!(errors.is_empty(), "{errors:?}");
    let read = |name: &str| ParquetReader::new(std::fs::File::open(dir.join(name)).unwrap()).finish().unwrap();
    let (bools, floats) = (read("b.parquet"), read("f.parquet"));
    let people = CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(dir.join("people.csv")))
        .unwrap()
        .finish()
        .unwrap();
    let cities: Vec<String> =
        people.column("city").unwrap().str().unwrap().iter().map(|c| c.unwrap().to_owned()).collect();
    let dummies: Vec<_> = bools.get_column_names().into_iter().filter(|n| n.starts_with("city_")).cloned().collect();
    assert!(dummies.len() > 1, "{dummies:?}");
    for name in &dummies {
        let level = name.strip_prefix("city_").unwrap();
        let ones = bools.column(name).unwrap().bool().unwrap();
        assert_eq!(bools.column(name).unwrap().dtype(), &DataType::Boolean);
        let floats = floats.column(name).unwrap().f64().unwrap();
        for ((one, float), city) in ones.iter().zip(floats.iter()).zip(&cities) {
            assert_eq!(one, Some(city == level), "{name}");
            assert_eq!(float, Some(if city == level { 1.0 } else { 0.0 }), "{name}");
        }
    }
}

#[test]
fn onehot_levels_unseen_when_fitting_encode_as_zeros_with_a_warning() {
    let dir = scratch("onehot_unseen");
    write_csv(&dir.join("fit.csv"), "g,v\na,1\nb,2\na,3\n");
    write_csv(&dir.join("new.csv"), "g,v\nb,1\nc,2\nc,3\n,4\n");
    let text = r#"
source fit_on = csv("fit.csv")
source fresh = csv("new.csv")
transform enc = fit(fit_on) {
    onehot(g)
}
stage encoded = enc(fresh)
"#;
    let program = checked(&dir, text);
    let (encoded, warnings) = with_session(&program, &dir, |s| s.frame("encoded").unwrap());
    assert_eq!(encoded.get_column_names(), ["g_a", "g_b", "v"]);
    assert_eq!(floats(&encoded, "g_a"), [Some(0.0); 4]);
    assert_eq!(floats(&encoded, "g_b"), [Some(1.0), Some(0.0), Some(0.0), Some(0.0)]);
    let messages: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(messages, ["2 rows have a level of `g` not seen when fitting: c"]);
}

#[test]
fn qcut_repeated_edges_fail_unless_dropped() {
    let dir = scratch("qcut_duplicates");
    write_csv(&dir.join("d.csv"), "v\n1\n1\n1\n1\n2\n3\n");
    let raise = checked(&dir, "source d = csv(\"d.csv\")\nstage q = d |> qcut(v, 4)\n");
    let (result, _) = with_session(&raise, &dir, |s| s.frame("q").map_err(|e| e.to_string()));
    let message = result.unwrap_err();
    assert!(message.contains("the quantile edges of `v` repeat: 1, 1, 1, 1.75, 3"), "{message}");
    let drop = checked(&dir, "source d = csv(\"d.csv\")\nstage q = d |> qcut(v, 4, duplicates: drop)\n");
    let (q, _) = with_session(&drop, &dir, |s| s.frame("q").unwrap());
    // Edges 1, 1.75, 3: bins [1, 1.75] and (1.75, 3], labelled 0 and 1 as pandas does.
    let labels: Vec<Option<String>> = strings(&q, "v");
    let expected = ["0", "0", "0", "0", "1", "1"].map(|s| Some(s.to_owned()));
    assert_eq!(labels, expected);
}

#[test]
fn cut_counts_rows_below_and_above_the_edges() {
    let dir = scratch("cut_outside");
    write_csv(&dir.join("d.csv"), "v\n-5\n0\n0\n5\n50\n500\n");
    let program =
        checked(&dir, "source d = csv(\"d.csv\")\nstage c = d |> cut(v, [0, 10, 100], labels: [low, high])\n");
    let (c, warnings) = with_session(&program, &dir, |s| s.frame("c").unwrap());
    assert_eq!(strings(&c, "v"), [None, None, None, Some("low".into()), Some("high".into()), None]);
    let messages: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            "2 rows have v = 0, excluded by the right-closed first bin (0, 10]",
            "1 row has v below 0, the lowest edge",
            "1 row has v above 100, the highest edge",
        ]
    );
}

#[test]
fn stage_cache_reuses_unchanged_items_and_recomputes_edited_ones() {
    let dir = scratch("cache");
    write_csv(&dir.join("d.csv"), "x,y\n1,10\n2,20\n3,30\n4,40\n");
    let text = r#"
source d = csv("d.csv")
stage kept = d |> filter(x > 1)
stage scaled = kept |> standard(y)
split a, b = scaled |> split([0.5, 0.5], seed: 3)
transform t = fit(a) {
    minmax(x)
}
output o = t(b) |> write("out/o.parquet")
"#;
    let (first, errors) = run_all(&dir, text, true);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(first.iter().all(|f| !f.cached), "{:?}", cached(&first));
    let (second, _) = run_all(&dir, text, true);
    assert_eq!(cached(&second), [("o".to_owned(), true)], "an unchanged run reads only the output's record");
    // Editing one stage recomputes it and what depends on it, nothing else.
    let edited = text.replace("standard(y)", "minmax(y)");
    let (third, _) = run_all(&dir, &edited, true);
    let expected = [("kept", true), ("scaled", false), ("a, b", false), ("t", false), ("o", false)];
    assert_eq!(cached(&third), expected.map(|(n, c)| (n.to_owned(), c)));
    // A changed input file changes every key downstream of it.
    write_csv(&dir.join("d.csv"), "x,y\n1,10\n2,20\n3,30\n4,41\n");
    let (fourth, _) = run_all(&dir, &edited, true);
    assert!(fourth.iter().all(|f| !f.cached), "{:?}", cached(&fourth));
    // A deleted output is written again, from the cached stages.
    std::fs::remove_file(dir.join("out/o.parquet")).unwrap();
    let (fifth, _) = run_all(&dir, &edited, true);
    assert_eq!(cached(&fifth), [("t", true), ("a, b", true), ("o", false)].map(|(n, c)| (n.to_owned(), c)));
    assert!(dir.join("out/o.parquet").exists());
    // Without the cache, everything runs.
    let (sixth, _) = run_all(&dir, &edited, false);
    assert!(sixth.iter().all(|f| !f.cached) && sixth.len() == 6, "{:?}", cached(&sixth));
}

#[test]
fn a_failed_write_leaves_no_file_behind() {
    let dir = scratch("atomic_write");
    write_csv(&dir.join("d.csv"), "x\n1\n");
    // The destination is a folder: the rename fails after the data is written.
    std::fs::create_dir_all(dir.join("out/o.csv")).unwrap();
    let (_, errors) = run_all(&dir, "source d = csv(\"d.csv\")\noutput o = d |> write(\"out/o.csv\")\n", false);
    assert!(matches!(&errors[..], [RunError::Write { .. }]), "{errors:?}");
    let left: Vec<_> = std::fs::read_dir(dir.join("out")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["o.csv"], "only the folder that was there");
}

#[test]
fn missing_values_are_null_whatever_their_spelling() {
    let dir = scratch("nulls");
    write_csv(&dir.join("d.csv"), "a,b,s\n1,1.5,x\nNA,NaN,NA\n3,,\n4,nan,None\n");
    let program = checked(&dir, "source d = csv(\"d.csv\")\n");
    let (d, _) = with_session(&program, &dir, |s| s.frame("d").unwrap());
    assert_eq!(floats(&d, "a"), [Some(1.0), None, Some(3.0), Some(4.0)]);
    assert_eq!(floats(&d, "b"), [Some(1.5), None, None, None]);
    assert_eq!(strings(&d, "s"), [Some("x".into()), None, None, None]);
}

#[test]
fn every_example_runs_on_its_data() {
    let dir = repo().join("pipelines");
    let text = std::fs::read_to_string(dir.join("penguins.pipe")).unwrap();
    let program = check_text(&dir, &text);
    let (frames, _) =
        with_session(&program, &dir, |s| ["train", "val", "test", "train_ready"].map(|n| s.frame(n).unwrap()));
    let [train, val, test, ready] = frames;
    assert_eq!(train.height() + val.height() + test.height(), 333);
    assert_eq!(ready.height(), train.height());
    // Scaled on train: mean 0, population standard deviation 1.
    let mass: Vec<f64> = floats(&ready, "mass_g").into_iter().map(Option::unwrap).collect();
    let mean = mass.iter().sum::<f64>() / mass.len() as f64;
    let std = (mass.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / mass.len() as f64).sqrt();
    assert!(mean.abs() < 1e-12 && (std - 1.0).abs() < 1e-12, "{mean} {std}");
    // The training data of the people example (its model is trained by `pipe run` once training exists).
    let dir = repo().join("pipelines");
    let text = std::fs::read_to_string(dir.join("people.pipe")).unwrap();
    let program = check_text(&dir, &text);
    let (fitted, _) = with_session(&program, &dir, |s| s.fitted("prep").unwrap());
    assert_eq!(fitted.len(), 6);
}

#[test]
fn parquet_written_by_one_pipeline_reads_back_in_another() {
    let dir = scratch("parquet_round_trip");
    let csv = repo().join("data/people.csv");
    let writer = format!(
        "source people = csv(\"{}\")\noutput o = people |> with(double: income * 2) |> write(\"out/p.parquet\")\n",
        csv.display()
    );
    let (_, errors) = run_all(&dir, &writer, false);
    assert!(errors.is_empty(), "{errors:?}");
    let program = checked(&dir, "source p = parquet(\"out/p.parquet\")\nstage adults = p |> filter(age >= 18)\n");
    let ((back, adults), _) = with_session(&program, &dir, |s| (s.frame("p").unwrap(), s.frame("adults").unwrap()));
    let (original, _) = with_session(&checked(&dir, &format!("source c = csv(\"{}\")\n", csv.display())), &dir, |s| {
        s.frame("c").unwrap()
    });
    assert_eq!(back.height(), original.height());
    assert_eq!(floats(&back, "income"), floats(&original, "income"));
    let doubled: Vec<Option<f64>> = floats(&original, "income").iter().map(|v| v.map(|v| v * 2.0)).collect();
    assert_eq!(floats(&back, "double"), doubled);
    let expected = floats(&original, "age").iter().filter(|a| a.is_some_and(|a| a >= 18.0)).count();
    assert_eq!(adults.height(), expected);
}

#[test]
fn whitened_components_have_unit_variance() {
    let dir = scratch("whiten");
    let csv = repo().join("data/people.csv");
    let text =
        format!("source people = csv(\"{}\")\nstage w = people |> pca(f0..f31, 3, whiten: true)\n", csv.display());
    let (w, _) = with_session(&checked(&dir, &text), &dir, |s| s.frame("w").unwrap());
    for k in 0..3 {
        let v: Vec<f64> = floats(&w, &format!("pc{k}")).into_iter().map(Option::unwrap).collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        // Sample variance (n - 1), as scikit-learn's whitening gives.
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
        assert!(mean.abs() < 1e-9 && (var - 1.0).abs() < 1e-9, "pc{k}: mean {mean}, variance {var}");
    }
}

#[test]
fn pca_fits_any_number_of_components() {
    let dir = scratch("pca_every_k");
    let csv = repo().join("data/people.csv");
    let mut text = format!("source people = csv(\"{}\")\n", csv.display());
    for k in 1..=32 {
        text.push_str(&format!("transform t{k} = fit(people) {{\n    pca(f0..f31, {k})\n}}\n"));
    }
    let program = checked(&dir, &text);
    let (all, _) =
        with_session(&program, &dir, |s| (1..=32).map(|k| s.fitted(&format!("t{k}")).unwrap()).collect::<Vec<_>>());
    let ratios = |fitted: &[Fitted]| match &fitted[0] {
        Fitted::Pca(p) => p.explained_variance_ratio.clone(),
        other => panic!("{other:?}"),
    };
    let full = ratios(&all[31]);
    assert!((full.iter().sum::<f64>() - 1.0).abs() < 1e-12, "all components explain all the variance");
    assert!(full.windows(2).all(|w| w[0] >= w[1]), "in decreasing order");
    for (k, fitted) in all.iter().enumerate() {
        assert_eq!(ratios(fitted), full[..=k], "k = {}: the leading components of the full decomposition", k + 1);
    }
}

#[test]
fn a_recipe_runs_exactly_its_steps() {
    let dir = scratch("recipe");
    let csv = repo().join("data/penguins.csv");
    let text = format!(
        r#"import std.tabular {{ impute_robust, categories }}
source penguins = csv("{}")
transform by_recipe = fit(penguins) {{
    impute_robust([bill_length_mm, bill_depth_mm])
    categories([island, sex], drop_first: true)
}}
transform by_hand = fit(penguins) {{
    fill_nulls([bill_length_mm, bill_depth_mm], median)
    robust(bill_length_mm, bill_depth_mm)
    onehot(island, sex, drop_first: true)
}}
stage a = by_recipe(penguins)
stage b = by_hand(penguins)
"#,
        csv.display()
    );
    let program = checked(&dir, &text);
    let ((a, b, fa, fb), _) = with_session(&program, &dir, |s| {
        (s.frame("a").unwrap(), s.frame("b").unwrap(), s.fitted("by_recipe").unwrap(), s.fitted("by_hand").unwrap())
    });
    assert!(a.equals_missing(&b), "{a}\n{b}");
    assert_eq!(fa, fb);
    assert_eq!(
        a.get_column_names(),
        [
            "species",
            "island_Dream",
            "island_Torgersen",
            "bill_length_mm",
            "bill_depth_mm",
            "flipper_length_mm",
            "body_mass_g",
            "sex_male",
            "year"
        ]
    );
}

/// The dense layers' weights and biases of the model a run folder saved
/// (`model` is the run's model, as checked).
pub fn saved_dense_weights(run: &Path, model: &pipe::ir::Model) -> Vec<(Vec<f32>, Vec<f32>)> {
    use burn::module::Module;
    let net = pipe::train::model::Net::new(model, &burn::tensor::Device::flex(), 0)
        .try_load_file(run.join("model.bpk"))
        .expect("the run saved its weights");
    (0..model.layers.len()).filter_map(|i| net.dense(i)).collect()
}

/// The model of the one training run of `program`.
pub fn trained_model(program: &Program) -> pipe::ir::Model {
    program
        .items
        .iter()
        .flatten()
        .find_map(|i| if let pipe::ir::ItemKind::Train(t) = &i.kind { Some(t.model.clone()) } else { None })
        .expect("a training run")
}
