//! Streaming outputs: an output that reads its source alone and only has
//! steps that look at one row at a time runs on Polars' streaming engine;
//! the file it writes must hold what the in-memory path writes (the same
//! pipeline with a second reader of the source, which holds its rows).

use std::path::Path;

use pipe::run::error::RunError;
use pipe::run::{Event, Options};
use polars::prelude::*;

use crate::run::{checked, repo, scratch};

/// Runs `text` in `dir` as `pipe run --no-cache` does; the errors and
/// whether an item streamed.
fn run(dir: &Path, text: &str) -> (Vec<RunError>, bool) {
    let program = checked(dir, text);
    let options = Options { dir: dir.to_path_buf(), cache: false, ..Options::default() };
    let mut streamed = false;
    let errors = pipe::run::run(&program, &options, &mut |e| {
        if let Event::Step { operation: "stream", .. } = e {
            streamed = true;
        }
    });
    (errors, streamed)
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
            // A second reader of the source: its rows are held, and the
            // output runs in memory.
            let held_text = format!("{streamed_text}output other = p |> write(\"other.csv\")\n")
                .replace(&format!("s{i}.{format}"), &format!("m{i}.{format}"));
            let (errors, streamed) = run(&dir, &held_text);
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
        let held_text = format!("{streamed_text}output other = s |> write(\"other.csv\")\n")
            .replace(&format!("s{i}.csv"), &format!("m{i}.csv"));
        let (errors, streamed) = run(&dir, &held_text);
        assert!(errors.is_empty() && !streamed, "{source}: {errors:?}");
        let s = std::fs::read_to_string(dir.join(format!("s{i}.csv"))).unwrap();
        let m = std::fs::read_to_string(dir.join(format!("m{i}.csv"))).unwrap();
        assert!(s == m && s.lines().count() > 10, "{source} |> {steps}: the files differ");
    }
}
