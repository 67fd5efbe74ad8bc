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

/// An empty folder for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("run").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// `text` written to `dir/main.pipe` and checked (it must check clean).
pub fn checked(dir: &Path, text: &str) -> Program {
    let path = dir.join("main.pipe");
    std::fs::write(&path, text).expect("write pipe file");
    let mut sources = SourceMap::new();
    let id = sources.add(path.display().to_string(), text);
    let parsed = pipe::syntax::parse(text, id);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let report = pipe::check::check(&parsed.program, &mut sources, Some(dir));
    assert!(!report.has_errors(), "{:?}", report.errors);
    report.ir
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
    let options = Options { dir: dir.to_path_buf(), cache: false, only: Vec::new() };
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
    df.column(column).unwrap().cast(&DataType::String).unwrap().str().unwrap().iter().map(|s| s.map(str::to_owned)).collect()
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
    let ((scaled, reduced), _) = with_session(&program, &dir, |s| (s.fitted("scaled").unwrap(), s.fitted("reduced").unwrap()));
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
    let ratios = [0.258782487, 0.239400850, 0.202959809, 0.126056375, 0.069555346, 0.040317969, 0.013721383, 0.009414946];
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
    let dummies: Vec<String> = scaled.get_column_names().iter().filter(|n| n.starts_with("city_")).map(|n| n.to_string()).collect();
    assert_eq!(dummies.len(), 50);
    for name in &dummies {
        for (value, city) in floats(&scaled, name).iter().zip(&cities) {
            let own = format!("city_{}", city.as_deref().unwrap()) == *name;
            assert_eq!(value.unwrap(), if own { 1.0 } else { 0.0 }, "{name}");
        }
    }
}
