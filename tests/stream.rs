//! Streaming outputs and transforms: an item whose rows come from local
//! files through steps that work batch by batch once they know what they
//! learn runs on Polars' streaming engine (in passes, when steps learn);
//! the file it writes must hold what the in-memory path writes (the same
//! pipeline run with `in_memory`), to the last bit.

use std::path::Path;

use pipe::run::error::RunError;
use pipe::run::{Event, Options};
use polars::prelude::*;

use crate::run::{checked, repo, run_noting_steps, scratch};

/// Runs `text` in `dir` as `pipe run --no-cache --memory 1` does (every
/// item that can stream does); the errors and whether an item streamed.
fn run(dir: &Path, text: &str) -> (Vec<RunError>, bool) {
    run_with(dir, text, false)
}

/// [`run`] as `pipe run --no-cache --in-memory` does (`run` is
/// `--memory 1`).
fn run_in_memory(dir: &Path, text: &str) -> (Vec<RunError>, bool) {
    run_with(dir, text, true)
}

fn run_with(dir: &Path, text: &str, in_memory: bool) -> (Vec<RunError>, bool) {
    let (errors, streamed, _) = run_noting(dir, text, in_memory);
    (errors, streamed)
}

/// [`run_with`], with the warnings said along the way.
fn run_noting(dir: &Path, text: &str, in_memory: bool) -> (Vec<RunError>, bool, Vec<String>) {
    let (errors, streamed, warnings) = run_streaming(dir, text, in_memory);
    (errors, !streamed.is_empty(), warnings)
}

/// [`run_noting`] with the names of the items that streamed.
fn run_streaming(dir: &Path, text: &str, in_memory: bool) -> (Vec<RunError>, Vec<String>, Vec<String>) {
    let program = checked(dir, text);
    // A budget of one byte: every item that can stream does.
    let memory = (!in_memory).then_some(1);
    let options = Options { dir: dir.to_path_buf(), cache: false, in_memory, memory, ..Options::default() };
    let mut streamed = Vec::new();
    let mut warnings = Vec::new();
    let errors = pipe::run::run(&program, &options, &mut |e| match e {
        Event::Step { name, operation: "stream", .. } => streamed.push(name),
        Event::Warning(w) => warnings.push(w.to_string()),
        _ => {}
    });
    (errors, streamed, warnings)
}

fn parquet(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).expect("written")).finish().expect("parquet")
}

#[test]
fn streamed_outputs_write_what_the_in_memory_path_writes() {
    let dir = scratch("stream");
    // A name a URL must escape: streaming scans read the file as one.
    std::fs::copy(repo().join("data/people.csv"), dir.join("people #1 100%.csv")).unwrap();
    let steps = [
        "filter(age > 30 and city != \"Paris\")",
        "select(age, income, city, f0..f3)",
        "drop(f0..f31)",
        "rename(age: years, city: town)",
        "with(ratio: income / (age + 1), old: age >= 65)",
        "drop_nulls(income)",
        "cast(age, f64)",
        "log1p(income)",
        "filter(income > 0.0) |> with(x: log(income)) |> select(x, city) |> cache()",
    ];
    for (i, step) in steps.iter().enumerate() {
        for format in ["csv", "parquet"] {
            let streamed_text =
                format!("source p = csv(\"people #1 100%.csv\")\noutput o = p |> {step} |> write(\"s{i}.{format}\")\n");
            let (errors, streamed) = run(&dir, &streamed_text);
            assert!(errors.is_empty() && streamed, "{step}: {errors:?}, streamed {streamed}");
            let held_text = streamed_text.replace(&format!("s{i}.{format}"), &format!("m{i}.{format}"));
            let (errors, streamed) = run_in_memory(&dir, &held_text);
            assert!(errors.is_empty() && !streamed, "{step}: {errors:?}, streamed {streamed}");
            let (s, m) = (dir.join(format!("s{i}.{format}")), dir.join(format!("m{i}.{format}")));
            if format == "csv" {
                let (s, m) = (std::fs::read_to_string(s).unwrap(), std::fs::read_to_string(m).unwrap());
                assert!(s == m && s.lines().count() > 1, "{step}: the CSV files differ");
            } else {
                let (s, m) = (parquet(&s), parquet(&m));
                assert!(s.equals_missing(&m) && s.height() > 0, "{step}:\n{s}\n{m}");
            }
        }
    }
}

#[test]
fn a_bad_value_met_while_streaming_is_located_and_nothing_is_written() {
    let dir = scratch("stream_bad");
    let mut text = String::from("x,y\n");
    for i in 0..300 {
        text.push_str(&format!("{i},{}\n", i * 2));
    }
    std::fs::write(dir.join("d.csv"), &text).unwrap();
    let program = "source d = csv(\"d.csv\")\noutput o = d |> filter(x > 1) |> write(\"o.parquet\")\n";
    // The checker samples the first rows; the 250th value is not a number.
    let broken = text.replace("\n250,500\n", "\n250,five hundred\n");
    std::fs::write(dir.join("d.csv"), &broken).unwrap();
    let (errors, streamed) = run(&dir, program);
    assert!(streamed);
    match errors.as_slice() {
        [RunError::BadValue { line, column, value, .. }] => {
            assert_eq!((*line, column.as_str(), value.as_str()), (252, "y", "five hundred"));
        }
        other => panic!("expected a bad value, got {other:?}"),
    }
    assert!(!dir.join("o.parquet").exists(), "nothing may be written");
    let temporaries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "tmp"))
        .collect();
    assert!(temporaries.is_empty(), "{temporaries:?}");
}

/// A step that fails while streaming (a strict cast) fails as it does in
/// memory: the output runs there, and the error points at the step.
#[test]
fn a_step_that_fails_while_streaming_is_reported_at_the_step() {
    let dir = scratch("stream_cast");
    std::fs::copy(repo().join("data/people.csv"), dir.join("people.csv")).unwrap();
    let text = "source p = csv(\"people.csv\")\noutput o = p |> cast(city, i64) |> write(\"o.csv\")\n";
    let (errors, streamed) = run(&dir, text);
    assert!(streamed);
    match errors.as_slice() {
        [RunError::Data { span, .. }] => assert_eq!(&text[span.start..span.end], "cast(city, i64)"),
        other => panic!("expected the cast's failure, got {other:?}"),
    }
    assert!(!dir.join("o.csv").exists());
}

/// Globs, folders and Hive partitions stream too: the files one after the
/// other, each with its partition columns, as the in-memory read stacks them.
#[test]
fn many_file_sources_stream_what_the_in_memory_path_reads() {
    let dir = scratch("stream_many");
    crate::sources::write_hive_iris(&dir);
    std::fs::create_dir_all(dir.join("parts/year=2023")).unwrap();
    std::fs::create_dir_all(dir.join("parts/year=2024")).unwrap();
    let people = std::fs::read_to_string(repo().join("data/people.csv")).unwrap();
    let (header, rows) = people.split_once('\n').unwrap();
    let rows: Vec<&str> = rows.lines().collect();
    std::fs::write(dir.join("parts/year=2023/a.csv"), format!("{header}\n{}\n", rows[..900].join("\n"))).unwrap();
    std::fs::write(dir.join("parts/year=2024/b.csv"), format!("{header}\n{}\n", rows[900..].join("\n"))).unwrap();
    let cases = [
        ("parquet(\"events\")", "select(sepal_length_cm, species, half)"),
        ("parquet(\"events/*/*/*.parquet\")", "with(x: sepal_length_cm * 2.0)"),
        ("csv(\"parts\")", "filter(age > 40) |> select(age, city, year)"),
        ("csv(\"parts/*/*.csv\")", "drop(f0..f31)"),
    ];
    for (i, (source, steps)) in cases.iter().enumerate() {
        let streamed_text = format!("source s = {source}\noutput o = s |> {steps} |> write(\"s{i}.csv\")\n");
        let (errors, streamed) = run(&dir, &streamed_text);
        assert!(errors.is_empty() && streamed, "{source}: {errors:?}, streamed {streamed}");
        let held_text = streamed_text.replace(&format!("s{i}.csv"), &format!("m{i}.csv"));
        let (errors, streamed) = run_in_memory(&dir, &held_text);
        assert!(errors.is_empty() && !streamed, "{source}: {errors:?}");
        let s = std::fs::read_to_string(dir.join(format!("s{i}.csv"))).unwrap();
        let m = std::fs::read_to_string(dir.join(format!("m{i}.csv"))).unwrap();
        assert!(s == m && s.lines().count() > 10, "{source} |> {steps}: the files differ");
    }
}

/// Runs `text` streamed and in memory (each writing `<name>.csv` with its
/// own prefix) and asserts both streamed (or not) and wrote the same bytes.
fn same_both_ways(dir: &Path, text: &str, outputs: &[&str]) {
    let streamed_text =
        outputs.iter().fold(text.to_owned(), |t, o| t.replace(&format!("\"{o}.csv\""), &format!("\"s_{o}.csv\"")));
    let held_text =
        outputs.iter().fold(text.to_owned(), |t, o| t.replace(&format!("\"{o}.csv\""), &format!("\"m_{o}.csv\"")));
    let (errors, streamed, warnings) = run_streaming(dir, &streamed_text, false);
    assert!(errors.is_empty(), "{text}: {errors:?}");
    for o in outputs {
        assert!(streamed.iter().any(|s| s == o), "{text}: {o} did not stream ({streamed:?})");
    }
    let (errors, held, held_warnings) = run_noting(dir, &held_text, true);
    assert!(errors.is_empty() && !held, "{text}: {errors:?}");
    assert_eq!(warnings, held_warnings, "{text}: the warnings differ");
    for o in outputs {
        let s = std::fs::read_to_string(dir.join(format!("s_{o}.csv"))).unwrap();
        let m = std::fs::read_to_string(dir.join(format!("m_{o}.csv"))).unwrap();
        assert!(s.lines().count() > 1, "{text}: {o} is empty");
        if s != m {
            let line = s.lines().zip(m.lines()).position(|(a, b)| a != b);
            panic!("{text}: {o} differs at line {line:?}");
        }
    }
}

/// Every step that learns streams in passes (statistics, then apply) and
/// writes what the in-memory path writes, byte for byte.
#[test]
fn fitted_steps_stream_what_the_in_memory_path_writes() {
    let dir = scratch("stream_fitted");
    std::fs::copy(repo().join("data/people.csv"), dir.join("people.csv")).unwrap();
    std::fs::copy(repo().join("data/penguins.csv"), dir.join("penguins.csv")).unwrap();
    let people = "source p = csv(\"people.csv\")\n";
    let steps = [
        "standard(f0..f3, income)",
        "minmax(f4..f7, range: [-1, 1])",
        "robust(f8, f9)",
        "qcut(income, 4)",
        "qcut(income, [0, 0.1, 0.5, 1], labels: [low, mid, high])",
        "cut(age, [18, 40, 65], labels: [young, mid])",
        "onehot(city)",
        "onehot(city, drop_first: true)",
        "onehot(city, dtype: bool)",
        "pca(f0..f31, 4)",
        "pca(f0..f7, 3, whiten: true, keep: true)",
        // Learning from learned columns: two passes, then the write.
        "standard(f0..f7) |> pca(f0..f7, 2) |> qcut(pc0, 3)",
        // A filter between learners: a pass each.
        "standard(f0) |> filter(f0 > 0.0) |> standard(f0) |> with(y: f0 * 2.0)",
        "log1p(income) |> minmax(income) |> filter(income > 0.5) |> onehot(city) |> drop(f10..f31)",
    ];
    for step in steps {
        same_both_ways(&dir, &format!("{people}output o = p |> {step} |> write(\"o.csv\")\n"), &["o"]);
    }
    let penguins = "source g = csv(\"penguins.csv\")\n";
    for step in
        ["fill_nulls([bill_length_mm, body_mass_g], mean)", "fill_nulls([bill_depth_mm, flipper_length_mm], median)"]
    {
        same_both_ways(&dir, &format!("{penguins}output o = g |> {step} |> write(\"o.csv\")\n"), &["o"]);
    }
    // The benchmark's transform: fitted in two passes, applied in a third;
    // applied to a filtered copy of the source as well.
    let transform = r#"
source p = csv("people.csv")
transform prep = fit(p |> filter(age > 20)) {
    cut(age, [0, 18, 65, inf], labels: [teen, adult, senior]) as age_bucket
    qcut(income, 4) as income_q
    standard(f0..f15)
    minmax(f16..f31)
    onehot(city)
    pca(f0..f31, 8, keep: true)
}
output a = prep(p |> filter(age > 20)) |> write("a.csv")
output b = p |> filter(age <= 50) |> prep |> select(age_bucket, income_q, pc0..pc7) |> write("b.csv")
"#;
    same_both_ways(&dir, transform, &["a", "b"]);
    // Parquet goes through Polars' own sink, the steps run on its morsels:
    // the same rows, and the same warnings.
    let parquet_text = transform.replace("a.csv", "a.parquet").replace("b.csv", "b.parquet");
    let (errors, streamed, warnings) = run_noting(&dir, &parquet_text, false);
    assert!(errors.is_empty() && streamed, "{errors:?}");
    let (s_a, s_b) = (parquet(&dir.join("a.parquet")), parquet(&dir.join("b.parquet")));
    let (errors, _, held_warnings) = run_noting(&dir, &parquet_text, true);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(warnings, held_warnings);
    let (m_a, m_b) = (parquet(&dir.join("a.parquet")), parquet(&dir.join("b.parquet")));
    assert!(s_a.equals_missing(&m_a) && s_a.height() > 1000, "a differs");
    assert!(s_b.equals_missing(&m_b) && s_b.height() > 500, "b differs");
}

/// Where batches end changes nothing: 300,000 rows (three batches and a
/// part, blocks of 4,096 values split across them) learn and write the same
/// numbers streamed as held.
#[test]
fn fitted_steps_learn_the_same_across_batches() {
    let dir = scratch("stream_batches");
    let mut text = String::from("a,b,c,d,k\n");
    let mut state: u64 = 7;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for i in 0..300_000 {
        let (x, y, z) = (next() * 100.0, next(), next() * 1e6);
        text.push_str(&format!("{x:.4},{:.6},{z:.2},{},k{}\n", x * 0.5 + y, i % 1000, i % 7));
    }
    std::fs::write(dir.join("big.csv"), text).unwrap();
    let program = r#"
source big = csv("big.csv")
transform t = fit(big) {
    qcut(c, 10) as decile
    standard(a, b)
    minmax(c)
    robust(d)
    onehot(k)
    pca([a, b, c, d], 2, whiten: true)
}
output o = t(big) |> write("o.csv")
"#;
    same_both_ways(&dir, program, &["o"]);
    // Rows picked by position across batches: a stratified split of the
    // sample of a stage, each part written.
    let picked = r#"
source big = csv("big.csv")
stage s = big |> filter(b > 0.1) |> sample(frac: 0.7, seed: 8)
split x, y = s |> split([0.75, 0.25], stratify: k, seed: 3)
output ox = x |> write("ox.csv")
output oy = y |> standard(a) |> write("oy.csv")
"#;
    same_both_ways(&dir, picked, &["ox", "oy"]);
}

/// `split` and `sample` stream: a pass counts the rows (and notes each
/// row's class), and the rows kept are those the in-memory path keeps, in
/// the same order, whatever goes before and after them.
#[test]
fn splits_and_samples_stream_what_the_in_memory_path_writes() {
    let dir = scratch("stream_split");
    std::fs::copy(repo().join("data/people.csv"), dir.join("people.csv")).unwrap();
    let people = "source p = csv(\"people.csv\")\n";
    let cases = [
        // Every part of a plain split.
        "split a, b, c = p |> split([0.6, 0.3, 0.1], seed: 5)\n\
         output oa = a |> write(\"oa.csv\")\noutput ob = b |> write(\"ob.csv\")\noutput oc = c |> write(\"oc.csv\")\n",
        // Stratified, after a filter, a step that learns after the part.
        "split a, b = p |> filter(age > 20) |> split([0.7, 0.3], stratify: city)\n\
         output oa = a |> standard(f0, f1) |> write(\"oa.csv\")\noutput ob = b |> write(\"ob.csv\")\n",
        // A sample in a stage, a transform fitted on it, a split of the
        // transformed rows: the benchmark's shape.
        "stage s = p |> sample(300, seed: 4)\n\
         transform t = fit(s) {\n    standard(f0..f3)\n    onehot(city)\n    qcut(income, 4) as q\n}\n\
         split tr, te = t(s) |> split([0.8, 0.2], stratify: q, seed: 1)\n\
         output otr = tr |> write(\"otr.csv\")\noutput ote = te |> select(f0, q) |> write(\"ote.csv\")\n",
        // A transform's own `sample`, applied to other rows than it was
        // fitted on: it picks from those, as held.
        "transform t = fit(p) {\n    standard(f0)\n    sample(50, seed: 3)\n}\n\
         output o = t(p |> filter(age > 30)) |> write(\"o.csv\")\n",
        // A sample after a learned step, a split of a split.
        "stage s = p |> minmax(f5) |> sample(frac: 0.5)\n\
         split a, b = s |> split([0.5, 0.5], seed: 2)\nsplit c, d = b |> split([0.4, 0.6], seed: 3)\n\
         output oa = a |> write(\"oa.csv\")\noutput od = d |> write(\"od.csv\")\n",
    ];
    for case in cases {
        let outputs: Vec<&str> = case.lines().filter_map(|l| l.strip_prefix("output ")?.split(' ').next()).collect();
        same_both_ways(&dir, &format!("{people}{case}"), &outputs);
    }
    // Parquet with a part in the chain is appended batch by batch (Polars'
    // sink runs the steps on morsels, out of order): the same rows.
    let text = format!("{people}{}", cases[2]).replace("otr.csv", "otr.parquet");
    assert!(text.contains("otr.parquet"));
    let (errors, streamed, _) = run_noting(&dir, &text, false);
    assert!(errors.is_empty() && streamed, "{errors:?}");
    let streamed = parquet(&dir.join("otr.parquet"));
    let (errors, _, _) = run_noting(&dir, &text, true);
    assert!(errors.is_empty(), "{errors:?}");
    let held = parquet(&dir.join("otr.parquet"));
    assert!(streamed.equals_missing(&held) && held.height() == 240, "{streamed:?} {held:?}");
    // A sample larger than its rows fails streamed as held, at the sample.
    let text = format!("{people}stage s = p |> sample(100000)\noutput o = s |> write(\"o.csv\")\n");
    let (errors, _, _) = run_noting(&dir, &text, false);
    assert!(errors.iter().any(|e| e.to_string().contains("`sample` asks for 100000 rows")), "{errors:?}");
}

/// `pipe check --explain`'s passes: learners whose columns no earlier
/// learner of the pass touches share a pass.
#[test]
fn explain_counts_the_passes_a_streamed_item_makes() {
    let dir = scratch("stream_explain");
    std::fs::copy(repo().join("data/people.csv"), dir.join("people.csv")).unwrap();
    let text = r#"
source p = csv("people.csv")
transform prep = fit(p) {
    qcut(income, 4) as income_q
    standard(f0..f15)
    minmax(f16..f31)
    onehot(city)
    pca(f0..f31, 8)
}
output a = prep(p) |> write("a.csv")
output b = p |> standard(f0) |> write("b.csv")
output c = p |> filter(age > 3) |> write("c.csv")
"#;
    let program = checked(&dir, text);
    let memory = |name: &str| {
        let id = program.items.iter().position(|i| i.as_ref().is_some_and(|i| i.name == name)).unwrap();
        program.memory(id)
    };
    let streams = |passes: usize, keeps: Vec<&'static str>, always: bool| {
        Some(pipe::ir::Memory::Streams { passes, keeps, picks: vec![], always })
    };
    assert_eq!(memory("prep"), streams(2, vec!["qcut"], false));
    assert_eq!(memory("a"), streams(1, vec![], false));
    assert_eq!(memory("b"), streams(2, vec![], false));
    assert_eq!(memory("c"), streams(1, vec![], true));
    // The second pass (`pca`) runs only the scalers, on only `f0..f31`.
    let prep = program.items.iter().position(|i| i.as_ref().is_some_and(|i| i.name == "prep")).unwrap();
    let chain = program.fit_chain(prep).unwrap();
    let passes = pipe::ir::fit_passes(&chain.steps);
    assert_eq!(passes, vec![vec![0, 1, 2, 3], vec![4]]);
    let (runs, columns) = pipe::ir::pass_steps(&chain.steps, 0, 4, &passes[1]).unwrap();
    assert_eq!(runs, vec![false, true, true, false]);
    assert_eq!(columns.len(), 32);
    assert!(columns.iter().all(|c| c.starts_with('f')), "{columns:?}");
    // Stages and splits pass their rows on: they stream through when
    // their readers do.
    let through = checked(
        &dir,
        &format!(
            "{text}stage s = p |> sample(10, seed: 1)\nsplit x, y = s |> split([0.5, 0.5])\noutput d = y |> write(\"d.csv\")\n"
        ),
    );
    let memory = |name: &str| {
        let id = through.items.iter().position(|i| i.as_ref().is_some_and(|i| i.name.split(", ").any(|n| n == name)));
        through.memory(id.unwrap())
    };
    assert_eq!(memory("a"), streams(1, vec![], false));
    assert_eq!(memory("s"), Some(pipe::ir::Memory::Through));
    assert_eq!(memory("x"), Some(pipe::ir::Memory::Through));
    let picks =
        Some(pipe::ir::Memory::Streams { passes: 3, keeps: vec![], picks: vec!["sample", "split"], always: false });
    assert_eq!(memory("d"), picks, "a pass to count the sample's rows, one the split's, one to write");
    // An item that holds the source's rows: nothing else streams it.
    let held = checked(&dir, &format!("{text}stage s = p |> oversample(city)\noutput d = s |> write(\"d.csv\")\n"));
    let memory = |name: &str| {
        let id = held.items.iter().position(|i| i.as_ref().is_some_and(|i| i.name == name));
        held.memory(id.unwrap())
    };
    assert_eq!(memory("a"), Some(pipe::ir::Memory::Holds("`d` holds the rows of `p`".into())));
    assert_eq!(memory("s"), Some(pipe::ir::Memory::Holds("`d` reads it and holds its rows".into())));
}

/// Within the budget, items that learn hold their source (one read
/// instead of several); over it they stream; an item that must hold a
/// source over a budget given stops the run before anything is written.
#[test]
fn the_memory_budget_decides_what_streams() {
    let dir = scratch("stream_budget");
    std::fs::copy(repo().join("data/people.csv"), dir.join("people.csv")).unwrap();
    let text = "source p = csv(\"people.csv\")\noutput o = p |> standard(f0) |> write(\"o.csv\")\n";
    let program = checked(&dir, text);
    let streamed = |memory: Option<u64>| {
        let options = Options { dir: dir.clone(), cache: false, memory, ..Options::default() };
        let mut streamed = false;
        let errors = pipe::run::run(&program, &options, &mut |e| {
            if let Event::Step { operation: "stream", .. } = e {
                streamed = true;
            }
        });
        assert!(errors.is_empty(), "{errors:?}");
        streamed
    };
    let size = std::fs::metadata(dir.join("people.csv")).unwrap().len();
    assert!(!streamed(None), "the default budget holds a small file");
    assert!(!streamed(Some(size)), "a file the size of the budget fits");
    assert!(streamed(Some(size - 1)), "a file over the budget streams");
    // An output that oversamples holds its rows: over the budget, nothing
    // runs.
    let held = checked(
        &dir,
        &format!("{text}stage s = p |> sample(10, seed: 1)\noutput w = s |> oversample(city) |> write(\"w.csv\")\n"),
    );
    std::fs::remove_file(dir.join("o.csv")).unwrap();
    let options = Options { dir: dir.clone(), cache: false, memory: Some(1000), ..Options::default() };
    let errors = pipe::run::run(&held, &options, &mut |_| {});
    match errors.as_slice() {
        [RunError::OverBudget { message, .. }] => {
            assert!(message.contains("`w` holds the rows of `p`") && message.contains("1 KB"), "{message}")
        }
        other => panic!("expected the budget's error, got {other:?}"),
    }
    assert!(!dir.join("o.csv").exists() && !dir.join("w.csv").exists(), "nothing may run");
    // Only the items a run needs count: `o` alone runs, and streams.
    let only = Options { only: vec!["o".into()], ..options.clone() };
    let errors = pipe::run::run(&held, &only, &mut |_| {});
    assert!(errors.is_empty() && dir.join("o.csv").exists(), "{errors:?}");
    // An item the run leaves out holds nothing: `ox` streams its part of
    // the split though `oy` would hold the source. Run with `oy`, it holds
    // the source, and `ox` reads the rows held.
    let parts = format!(
        "{text}split x, y = p |> split([0.5, 0.5])\noutput ox = x |> write(\"ox.csv\")\n\
         output oy = y |> oversample(city) |> write(\"oy.csv\")\n"
    );
    let parts = checked(&dir, &parts);
    let mut streamed = Vec::new();
    let only = Options { only: vec!["ox".into()], ..options.clone() };
    let errors = pipe::run::run(&parts, &only, &mut |e| {
        if let Event::Step { name, operation: "stream", .. } = e {
            streamed.push(name);
        }
    });
    assert!(errors.is_empty() && streamed == ["ox"] && dir.join("ox.csv").exists(), "{errors:?} {streamed:?}");
    let both = Options { only: vec!["ox".into(), "oy".into()], ..options };
    match pipe::run::run(&parts, &both, &mut |_| {}).as_slice() {
        [RunError::OverBudget { message, .. }] => assert!(message.contains("`oy` holds the rows of `p`"), "{message}"),
        other => panic!("expected the budget's error, got {other:?}"),
    }
}

/// A null string that reads as a number (`-999`) is missing on both paths,
/// whichever columns a pass reads: `standard` learns from 1 and 2 only.
#[test]
fn numeric_null_strings_are_missing_held_and_streamed() {
    let dir = scratch("stream_nulls");
    std::fs::write(dir.join("d.csv"), "a,b,s\n1,1,x\n2,4,y\n-999,3,z\n").unwrap();
    let text = "source d = csv(\"d.csv\", nulls: [\"-999\"])\noutput o = d |> standard(a) |> write(\"o.csv\")\n";
    same_both_ways(&dir, text, &["o"]);
    let written = std::fs::read_to_string(dir.join("s_o.csv")).unwrap();
    assert_eq!(written, "a,b,s\n-1.0,1,x\n1.0,4,y\n,3,z\n");
}

/// A CSV source that an item streams in more than one pass is parsed once,
/// into a columnar scratch file that every later pass of the run reads
/// (the transform's second pass, and the output that applies it): one
/// `spill` for the run, the file gone after it, and the rows written those
/// the in-memory path writes.
#[test]
fn a_csv_read_in_several_passes_is_parsed_once_for_the_run() {
    let dir = scratch("stream_spill");
    std::fs::copy(repo().join("data/people.csv"), dir.join("people.csv")).unwrap();
    let text = r#"
source p = csv("people.csv")
transform prep = fit(p) {
    qcut(income, 4) as income_q
    standard(f0..f15)
    pca(f0..f15, 4, keep: true)
}
output a = prep(p) |> write("SIDE_a.parquet")
output b = p |> filter(age > 30) |> prep |> write("SIDE_b.csv")
"#;
    let run = |side: &str, in_memory: bool| {
        let (errors, spills) = run_noting_steps(&checked(&dir, &text.replace("SIDE", side)), &dir, in_memory, "spill");
        assert!(errors.is_empty(), "{errors:?}");
        spills
    };
    assert_eq!(run("streamed", false), ["prep"], "one spill, by the first item that streams the source");
    assert!(run("held", true).is_empty());
    let scratch_files = std::fs::read_dir(dir.join(".pipe-cache/scratch")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(scratch_files, 0, "the spill is removed when the run ends");
    assert!(parquet(&dir.join("streamed_a.parquet")).equals_missing(&parquet(&dir.join("held_a.parquet"))));
    let (streamed, held) = (dir.join("streamed_b.csv"), dir.join("held_b.csv"));
    assert!(std::fs::read(streamed).unwrap() == std::fs::read(held).unwrap(), "b differs");
}
