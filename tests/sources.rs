//! Sources that read many files: CSV globs and folders, Parquet folders
//! with Hive partitions; each read must equal the one file they were cut
//! from (built by hand here), and a file changed after the check stops the
//! run before anything is written.

use std::path::Path;

use pipe::ir::{ItemKind, Program, Source};
use pipe::run::error::RunError;
use pipe::run::{Event, Options};
use pipe::schema::DType;
use polars::prelude::*;

use crate::run::{checked, repo, scratch, with_session};

/// iris.csv's header and rows.
fn iris_lines() -> (String, Vec<String>) {
    let text = std::fs::read_to_string(repo().join("data/iris.csv")).expect("iris.csv");
    let mut lines = text.lines().map(str::to_owned);
    let header = lines.next().expect("a header");
    (header, lines.collect())
}

/// The frame a source (or stage) of `program` reads.
fn frame(program: &Program, dir: &Path, name: &str) -> DataFrame {
    let (frame, warnings) = with_session(program, dir, |s| s.frame(name).map_err(|e| format!("{name}: {e:?}")));
    assert!(warnings.is_empty(), "{warnings:?}");
    frame.unwrap_or_else(|e| panic!("{e}"))
}

/// The schema the checker gave a source.
fn source_schema(program: &Program, name: &str) -> Vec<(String, DType)> {
    let item = program.items.iter().flatten().find(|i| i.name == name).expect("the item");
    let ItemKind::Source(source) = &item.kind else { panic!("{name} is not a source") };
    let schema = match source {
        Source::Csv { schema, .. } => schema.clone(),
        _ => panic!("not a CSV source"),
    };
    schema.columns.into_iter().map(|c| (c.name, c.dtype)).collect()
}

#[test]
fn a_csv_glob_and_a_folder_read_as_the_file_they_were_cut_from() {
    let dir = scratch("csv_glob");
    let (header, rows) = iris_lines();
    std::fs::create_dir_all(dir.join("parts/more")).unwrap();
    std::fs::write(dir.join("whole.csv"), format!("{header}\n{}\n", rows.join("\n"))).unwrap();
    // Sorted by path, the parts hold the rows in their first order.
    let cuts = [(0, 50, "parts/a.csv"), (50, 120, "parts/b.csv"), (120, rows.len(), "parts/more/c.csv")];
    for (from, to, name) in cuts {
        std::fs::write(dir.join(name), format!("{header}\n{}\n", rows[from..to].join("\n"))).unwrap();
    }
    // Files the folder form leaves out: hidden, `_SUCCESS`, another format.
    std::fs::write(dir.join("parts/.hidden.csv"), "x\n1\n").unwrap();
    std::fs::write(dir.join("parts/_SUCCESS"), "").unwrap();
    std::fs::write(dir.join("parts/notes.txt"), "not data").unwrap();
    let program = checked(
        &dir,
        r#"
source whole = csv("whole.csv")
source globbed = csv("parts/**/*.csv")
source folder = csv("parts")
output a = whole |> write("out/a.csv")
output b = globbed |> write("out/b.csv")
output c = folder |> write("out/c.csv")
"#,
    );
    let whole = frame(&program, &dir, "whole");
    assert_eq!(whole.height(), 150);
    for name in ["globbed", "folder"] {
        let read = frame(&program, &dir, name);
        assert!(read.equals_missing(&whole), "{name} differs from the whole file:\n{read}\n{whole}");
        assert_eq!(source_schema(&program, name), source_schema(&program, "whole"));
    }
}

#[test]
fn csv_files_types_widen_as_one_file_would() {
    let dir = scratch("csv_widen");
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    // `x` is whole in the first file and not in the second; `tag` is empty
    // in the first file's rows and text in the second; `n` is whole in both.
    std::fs::write(dir.join("logs/1.csv"), "x,tag,n\n1,,5\n2,,6\n").unwrap();
    std::fs::write(dir.join("logs/2.csv"), "x,tag,n\n2.5,b,7\n3,a,8\n").unwrap();
    let program = checked(&dir, "source logs = csv(\"logs/*.csv\")\noutput o = logs |> write(\"o.csv\")\n");
    let schema = source_schema(&program, "logs");
    let expected = [("x", DType::F64), ("tag", DType::Str), ("n", DType::I64)];
    assert_eq!(schema, expected.map(|(n, t)| (n.to_owned(), t)));
    let read = frame(&program, &dir, "logs");
    let x: Vec<Option<f64>> = read.column("x").unwrap().f64().unwrap().iter().collect();
    assert_eq!(x, [Some(1.0), Some(2.0), Some(2.5), Some(3.0)]);
    let tag: Vec<Option<&str>> = read.column("tag").unwrap().str().unwrap().iter().collect();
    assert_eq!(tag, [None, None, Some("b"), Some("a")]);
    let n: Vec<Option<i64>> = read.column("n").unwrap().i64().unwrap().iter().collect();
    assert_eq!(n, [Some(5), Some(6), Some(7), Some(8)]);
}

/// iris cut by species (its `label`) and by half into `species=.../half=.../part.parquet`
/// (the last half of virginica in Hive's missing-value folder).
fn write_hive_iris(dir: &Path) -> DataFrame {
    let iris = CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(repo().join("data/iris.csv")))
        .unwrap()
        .finish()
        .unwrap();
    let species: Vec<String> =
        iris.column("label").unwrap().str().unwrap().iter().map(|s| s.unwrap().to_owned()).collect();
    // The half each row is in: its place among its species' rows.
    let mut seen = std::collections::HashMap::new();
    let halves: Vec<Option<i64>> = species
        .iter()
        .map(|s| {
            let count = seen.entry(s.clone()).or_insert(0);
            *count += 1;
            let half = if *count <= 25 { 0 } else { 1 };
            if s == "virginica" && half == 1 { None } else { Some(half) }
        })
        .collect();
    let mut expected = iris.drop("label").unwrap();
    expected.with_column(Column::new("species".into(), &species)).unwrap();
    expected.with_column(Column::new("half".into(), &halves)).unwrap();
    for (start, s) in [(0usize, "setosa"), (50, "versicolor"), (100, "virginica")] {
        for (offset, half) in [(0usize, "0"), (25, "1")] {
            let half = if s == "virginica" && half == "1" { "__HIVE_DEFAULT_PARTITION__" } else { half };
            let folder = dir.join(format!("events/species={s}/half={half}"));
            std::fs::create_dir_all(&folder).unwrap();
            let mut part = iris.slice((start + offset) as i64, 25).drop("label").unwrap();
            let file = std::fs::File::create(folder.join("part-0.parquet")).unwrap();
            ParquetWriter::new(file).finish(&mut part).unwrap();
        }
    }
    expected
}

#[test]
fn hive_partitions_become_typed_columns_after_the_files_own() {
    let dir = scratch("hive");
    let expected = write_hive_iris(&dir);
    let program = checked(
        &dir,
        r#"
source folder = parquet("events")
source globbed = parquet("events/*/*/*.parquet")
output a = folder |> write("out/a.csv")
output b = globbed |> write("out/b.csv")
"#,
    );
    for name in ["folder", "globbed"] {
        let read = frame(&program, &dir, name);
        assert_eq!(read.get_column_names(), expected.get_column_names(), "{name}");
        assert_eq!(read.column("half").unwrap().dtype(), &DataType::Int64);
        assert!(read.equals_missing(&expected), "{name}:\n{read}\n{expected}");
    }
    // The checker knows the partition columns and their levels.
    let onehot = r#"
source events = parquet("events")
output o = events |> onehot(species) |> write("out/o.csv")
"#;
    let rows = frame(&checked(&dir, onehot), &dir, "o");
    for level in ["setosa", "versicolor", "virginica"] {
        let column = format!("species_{level}");
        let ones = rows.column(&column).unwrap().as_materialized_series().sum::<f64>().unwrap();
        assert_eq!(ones, 50.0, "{column}");
    }
}

#[test]
fn parquet_files_with_other_columns_are_refused_by_name() {
    let dir = scratch("parquet_differ");
    std::fs::create_dir_all(dir.join("d")).unwrap();
    let mut a = df!("x" => [1i64, 2], "y" => [1.0f64, 2.0]).unwrap();
    let mut b = df!("x" => [1i64, 2], "y" => ["a", "b"]).unwrap();
    ParquetWriter::new(std::fs::File::create(dir.join("d/a.parquet")).unwrap()).finish(&mut a).unwrap();
    ParquetWriter::new(std::fs::File::create(dir.join("d/b.parquet")).unwrap()).finish(&mut b).unwrap();
    let text = "source d = parquet(\"d\")\noutput o = d |> write(\"o.csv\")\n";
    let mut sources = pipe::source::SourceMap::new();
    let id = sources.add("main.pipe", text);
    let parsed = pipe::syntax::parse(text, id);
    let report = pipe::check::check(&parsed.program, &mut sources, Some(&dir));
    let codes: Vec<String> = report.errors.iter().map(|e| format!("{e:?}")).collect();
    assert_eq!(report.errors.len(), 1, "{codes:?}");
    let message = report.errors[0].to_string();
    assert!(message.contains("`d/a.parquet` and `d/b.parquet`"), "{message}");
    let rendered = format!("{:?}", report.errors[0]);
    assert!(rendered.contains("SourceFilesDiffer") && rendered.contains("y: f64") && rendered.contains("y: str"));
}

/// Runs a checked program as `pipe run` does (no cache); the errors.
fn run(program: &Program, dir: &Path) -> Vec<RunError> {
    let options = Options { dir: dir.to_path_buf(), cache: false, ..Options::default() };
    pipe::run::run(program, &options, &mut |_: Event| {})
}

#[test]
fn a_file_changed_after_the_check_stops_the_run_before_anything_is_written() {
    let dir = scratch("changed");
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    std::fs::write(dir.join("logs/1.csv"), "x,y\n1,2\n").unwrap();
    std::fs::write(dir.join("other.csv"), "x\n1\n").unwrap();
    let text = r#"
source other = csv("other.csv")
source logs = csv("logs/*.csv")
output first = other |> write("out/first.csv")
output second = logs |> write("out/second.csv")
"#;
    let changed = |errors: &[RunError]| match errors {
        [RunError::SourceChanged { path, change, .. }] => format!("{path}: {change}"),
        other => panic!("expected one source_changed error, got {other:?}"),
    };
    // A column added to a file: its size changed.
    let program = checked(&dir, text);
    std::fs::write(dir.join("logs/1.csv"), "x,y,z\n1,2,3\n").unwrap();
    let error = changed(&run(&program, &dir));
    assert!(error.ends_with("logs/1.csv: changed (8 bytes, now 12)"), "{error}");
    assert!(!dir.join("out").exists(), "nothing may be written");
    // A file added to the glob.
    std::fs::write(dir.join("logs/1.csv"), "x,y\n1,2\n").unwrap();
    let program = checked(&dir, text);
    std::fs::write(dir.join("logs/2.csv"), "x,y\n5,6\n").unwrap();
    let error = changed(&run(&program, &dir));
    assert!(error.contains("logs/2.csv: appeared among the files of"), "{error}");
    // A file gone.
    let program = checked(&dir, text);
    std::fs::remove_file(dir.join("logs/1.csv")).unwrap();
    let error = changed(&run(&program, &dir));
    assert!(error.ends_with("logs/1.csv: went away"), "{error}");
    assert!(!dir.join("out").exists(), "nothing may be written");
    // Checked again, the run reads the files as they are.
    let program = checked(&dir, text);
    assert!(run(&program, &dir).is_empty());
    assert_eq!(std::fs::read_to_string(dir.join("out/second.csv")).unwrap(), "x,y\n5,6\n");
}
