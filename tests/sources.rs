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

use crate::run::{checked, repo, run_noting_steps, scratch, with_session};

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
pub(crate) fn write_hive_iris(dir: &Path) -> DataFrame {
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

/// A local HTTP/1.1 server for the files of `root`: HEAD, GET and
/// single-range GET, each file with the ETag `etag` holds at the time and
/// a fixed last-modified date; `gets` counts whole downloads.
pub(crate) struct Server {
    pub(crate) url: String,
    etag: std::sync::Arc<std::sync::Mutex<String>>,
    gets: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// A URL path as the file name it encodes (Cloud Storage's client encodes
/// every `/` and `.` of a key).
fn percent_decoded(path: &str) -> String {
    let mut bytes = Vec::new();
    let mut rest = path.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        let hex = tail.get(..2).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (first, hex) {
            (b'%', Some(byte)) => {
                bytes.push(byte);
                rest = &tail[2..];
            }
            _ => {
                bytes.push(first);
                rest = tail;
            }
        }
    }
    String::from_utf8(bytes).unwrap()
}

pub(crate) fn serve(root: &Path) -> Server {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a local port");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let etag = std::sync::Arc::new(std::sync::Mutex::new("\"v1\"".to_owned()));
    let gets = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (root, tag, count) = (root.to_path_buf(), etag.clone(), gets.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            let mut range: Option<(usize, usize)> = None;
            reader.read_line(&mut request).unwrap_or(0);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                    let (a, b) = value.trim().split_once('-').unwrap();
                    range = Some((a.parse().unwrap(), b.parse().unwrap()));
                }
            }
            let mut parts = request.split_whitespace();
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
            // A server that ignores ranges, under `/norange/`.
            let path = match path.strip_prefix("/norange") {
                Some(rest) => {
                    range = None;
                    rest
                }
                None => path,
            };
            let etag = tag.lock().unwrap().clone();
            let Ok(body) = std::fs::read(root.join(percent_decoded(path.trim_start_matches('/')))) else {
                let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                continue;
            };
            let (status, slice, extra) = match range {
                Some((a, b)) if method == "GET" => {
                    let end = (b + 1).min(body.len());
                    (206, &body[a.min(end)..end], format!("Content-Range: bytes {a}-{}/{}\r\n", end - 1, body.len()))
                }
                _ => (200, &body[..], String::new()),
            };
            // Whole downloads: the checks ask for ranges.
            if method == "GET" && range.is_none() {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            // What an object store's client requires of an object.
            let modified = "Last-Modified: Wed, 02 Dec 2026 10:00:00 GMT\r\n";
            let head = format!(
                "HTTP/1.1 {status} OK\r\nContent-Length: {}\r\nETag: {etag}\r\n{modified}{extra}Connection: close\r\n\r\n",
                slice.len()
            );
            let _ = stream.write_all(head.as_bytes());
            if method == "GET" {
                let _ = stream.write_all(slice);
            }
        }
    });
    Server { url, etag, gets }
}

/// `dir/served/` with iris as CSV and as Parquet, and a server for it.
fn serve_iris(dir: &Path) -> (std::path::PathBuf, Server) {
    let served = dir.join("served");
    std::fs::create_dir_all(&served).unwrap();
    std::fs::copy(repo().join("data/iris.csv"), served.join("iris.csv")).unwrap();
    let mut iris = CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(served.join("iris.csv")))
        .unwrap()
        .finish()
        .unwrap();
    ParquetWriter::new(std::fs::File::create(served.join("iris.parquet")).unwrap()).finish(&mut iris).unwrap();
    let server = serve(&served);
    (served, server)
}

#[test]
fn a_url_reads_as_the_local_file_and_is_keyed_on_its_etag() {
    let dir = scratch("url");
    let (served, server) = serve_iris(&dir);
    let text = format!(
        r#"
source local_csv = csv("served/iris.csv")
source web_csv = csv("{url}/iris.csv")
source local_parquet = parquet("served/iris.parquet")
source web_parquet = parquet("{url}/iris.parquet")
output a = web_csv |> write("out/a.csv")
output b = web_parquet |> write("out/b.csv")
output c = local_csv |> write("out/c.csv")
output d = local_parquet |> write("out/d.csv")
"#,
        url = server.url
    );
    let program = checked(&dir, &text);
    assert_eq!(source_schema(&program, "web_csv"), source_schema(&program, "local_csv"));
    for (web, local) in [("web_csv", "local_csv"), ("web_parquet", "local_parquet")] {
        let (web_rows, local_rows) = (frame(&program, &dir, web), frame(&program, &dir, local));
        assert!(web_rows.equals_missing(&local_rows), "{web}:\n{web_rows}\n{local_rows}");
    }
    // A download a killed run left (its process gone) is removed by the
    // next download into the same folder (the outputs stream: their
    // downloads go beside the cache).
    let scratch = dir.join(".pipe-cache/scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let orphan = scratch.join(format!("{}4294967290-0.csv", pipe::run::read::DOWNLOAD_PREFIX));
    std::fs::write(&orphan, "x\n1\n").unwrap();
    let fresh = checked(&dir, &text);
    assert!(run(&fresh, &dir).is_empty());
    assert!(!orphan.exists(), "the orphaned download is still there");
    // With the cache, a second run downloads nothing: the ETag is the key.
    let cached_run = |program: &Program| {
        let options = Options { dir: dir.clone(), cache: true, ..Options::default() };
        pipe::run::run(program, &options, &mut |_: Event| {})
    };
    assert!(cached_run(&program).is_empty());
    let gets = server.gets.load(std::sync::atomic::Ordering::SeqCst);
    assert!(cached_run(&program).is_empty());
    assert_eq!(server.gets.load(std::sync::atomic::Ordering::SeqCst), gets, "a cached URL is not downloaded again");
    // A new version on the server after the check stops the run.
    *server.etag.lock().unwrap() = "\"v2\"".into();
    match run(&program, &dir).as_slice() {
        [RunError::SourceChanged { change, .. }] => assert_eq!(change, "changed on the server"),
        other => panic!("expected source_changed, got {other:?}"),
    }
    // A file larger than the head the checker reads (1 MB past the level
    // scan's bytes), its rows so long that the type sample reaches the end
    // of the head, which falls right after `1.5e` of a value `1.5e10`: read
    // as a row, that cut line would make `x` text.
    let (level_bytes, row, text) = (1000usize, 20_008usize, 20_000usize);
    let head = level_bytes + (1 << 20);
    let header = "text,x\n";
    let before = head - header.len() - (text + 5); // the cut line's start
    let rows = (before - row) / row; // whole rows after the first
    let first = before - rows * row - 8; // the first row's text, so it all lines up
    let mut big = String::from(header);
    big.push_str(&format!("{},1.5e10\n", "a".repeat(first)));
    for _ in 0..rows + 10 {
        big.push_str(&format!("{},1.5e10\n", "a".repeat(text)));
    }
    assert_eq!(&big[head - 4..head], "1.5e", "the head ends inside a value");
    std::fs::write(served.join("big.csv"), big).unwrap();
    let options = pipe::files::probe::CsvOptions { sep: b',', nulls: Vec::new() };
    let url = format!("{}/big.csv", server.url);
    let (columns, remote) = pipe::files::remote::csv_columns(&url, &options, level_bytes).unwrap();
    assert_eq!(remote.validator.as_deref(), Some("etag \"v2\""));
    assert_eq!(columns[1].dtype, DType::F64, "{:?}", columns[1]);
    // The same from a server that ignores ranges: the head is read from
    // the whole file sent, and the rest left unread.
    let whole = format!("{}/norange/big.csv", server.url);
    let (same, _) = pipe::files::remote::csv_columns(&whole, &options, level_bytes).unwrap();
    assert_eq!(same, columns);
    let (bytes, _) = pipe::files::remote::range(&whole, 7, 5).unwrap();
    assert_eq!(bytes, b"aaaaa");
    // A missing file is the checker's to report.
    let missing = format!("source gone = csv(\"{}/gone.csv\")\noutput o = gone |> write(\"o.csv\")\n", server.url);
    let mut sources = pipe::source::SourceMap::new();
    let id = sources.add("main.pipe", missing.as_str());
    let parsed = pipe::syntax::parse(&missing, id);
    let report = pipe::check::check(&parsed.program, &mut sources, Some(&dir));
    let message = report.errors.first().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("the server answered 404 Not Found"), "{message}");
}

#[test]
fn globs_and_folders_keep_to_what_they_name() {
    // A pipeline folder whose name a glob would read as a wildcard.
    let dir = scratch("brackets [v2]");
    std::fs::create_dir_all(dir.join("data/clean")).unwrap();
    std::fs::create_dir_all(dir.join("logs/year=2024")).unwrap();
    std::fs::write(dir.join("data/a.csv"), "x\n1\n").unwrap();
    std::fs::write(dir.join("data/b.csv"), "x\n2\n").unwrap();
    std::fs::write(dir.join("logs/year=2024/a.csv"), "x\n3\n").unwrap();
    // A linked folder is not walked (it would read `a.csv` again).
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.join("logs/year=2024"), dir.join("logs/year=2025")).unwrap();
    let program = checked(
        &dir,
        r#"
source one = csv("data/a.csv")
source both = csv("data/*.csv")
source logs = csv("logs", dtypes: {year: str})
output a = one |> write("out/a.csv")
output b = both |> write("data/clean/b.csv")
output c = logs |> filter(year == "2024") |> write("logs/_summary.csv")
"#,
    );
    assert_eq!(frame(&program, &dir, "both").height(), 2);
    let logs = frame(&program, &dir, "logs");
    assert_eq!(logs.height(), 1, "{logs}");
    assert_eq!(logs.column("year").unwrap().str().unwrap().get(0), Some("2024"));
    assert!(run(&program, &dir).is_empty());
    assert_eq!(std::fs::read_to_string(dir.join("logs/_summary.csv")).unwrap(), "x,year\n3,2024\n");
}

#[test]
fn a_source_above_the_pipelines_folder_streams() {
    let root = scratch("above");
    std::fs::create_dir_all(root.join("data")).unwrap();
    std::fs::create_dir_all(root.join("project")).unwrap();
    std::fs::copy(repo().join("data/iris.csv"), root.join("data/iris.csv")).unwrap();
    let dir = root.join("project");
    let program = checked(
        &dir,
        "source iris = csv(\"../data/iris.csv\")\noutput o = iris |> filter(petal_length_cm > 1.5) |> write(\"o.parquet\")\n",
    );
    let options = Options { dir: dir.clone(), cache: false, ..Options::default() };
    let mut steps = Vec::new();
    let errors = pipe::run::run(&program, &options, &mut |e| {
        if let Event::Step { operation, .. } = e {
            steps.push(operation);
        }
    });
    assert!(errors.is_empty(), "{errors:?}");
    // Streamed, not read into memory after a failed stream.
    assert_eq!(steps, ["stream"]);
}

/// A URL source streams when it outgrows the memory budget: downloaded
/// once for the run (though a learning step reads it twice, and two items
/// read it), the downloads gone after, and what it writes is what the rows
/// held write, for CSV and Parquet. A value that does not parse names the
/// URL, not the download.
#[test]
fn a_url_source_streams_from_one_download_and_writes_what_the_held_rows_write() {
    let dir = scratch("url_stream");
    let (served, server) = serve_iris(&dir);
    let text = format!(
        r#"
source web_csv = csv("{url}/iris.csv")
source web_parquet = parquet("{url}/iris.parquet")
transform scale = fit(web_parquet |> filter(petal_width_cm > 0.5)) {{
    minmax(sepal_length_cm)
    pca([sepal_length_cm, sepal_width_cm, petal_length_cm], 2)
}}
output a = web_csv |> standard(petal_length_cm) |> write("out/PREFIX_a.csv")
output b = web_csv |> filter(label != "setosa") |> write("out/PREFIX_b.csv")
output c = scale(web_parquet) |> write("out/PREFIX_c.csv")
"#,
        url = server.url
    );
    let gets = || server.gets.load(std::sync::atomic::Ordering::SeqCst);
    let run_as = |prefix: &str, in_memory: bool| {
        run_noting_steps(&checked(&dir, &text.replace("PREFIX", prefix)), &dir, in_memory, "stream")
    };
    let before = gets();
    let (errors, mut streamed) = run_as("streamed", false);
    assert!(errors.is_empty(), "{errors:?}");
    streamed.sort();
    streamed.dedup();
    assert_eq!(streamed, ["a", "b", "c", "scale"], "every item streams");
    assert_eq!(gets() - before, 2, "each URL is downloaded once for the run");
    let (errors, streamed) = run_as("held", true);
    assert!(errors.is_empty() && streamed.is_empty(), "{errors:?} {streamed:?}");
    for name in ["a", "b", "c"] {
        let streamed = std::fs::read(dir.join(format!("out/streamed_{name}.csv"))).unwrap();
        let held = std::fs::read(dir.join(format!("out/held_{name}.csv"))).unwrap();
        assert!(streamed == held, "{name}: the streamed output differs from the held one");
    }
    // Streamed downloads go beside the cache (the temporary folder is often
    // in memory), and are gone when the run ends.
    let scratch = std::fs::read_dir(dir.join(".pipe-cache/scratch")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(scratch, 0, "the run's downloads (and spills) are removed");
    // A value that does not parse, met while streaming the download.
    let mut bad = std::fs::read_to_string(served.join("iris.csv")).unwrap();
    bad.push_str("oops,3.0,1.4,0.2,setosa\n");
    std::fs::write(served.join("bad.csv"), bad).unwrap();
    let text = format!(
        "source bad = csv(\"{}/bad.csv\", dtypes: {{sepal_length_cm: f64}})\noutput o = bad |> standard(petal_length_cm) |> write(\"out/bad.csv\")\n",
        server.url
    );
    let program = checked(&dir, &text);
    let options = Options { dir: dir.clone(), cache: false, memory: Some(1), ..Options::default() };
    match pipe::run::run(&program, &options, &mut |_: Event| {}).as_slice() {
        [RunError::BadValue { path, line, value, .. }] => {
            assert_eq!(
                (path.as_str(), *line, value.as_str()),
                (format!("{}/bad.csv", server.url).as_str(), 152, "oops")
            );
        }
        other => panic!("expected bad_value, got {other:?}"),
    }
    assert!(!dir.join("out/bad.csv").exists(), "nothing may be written");
}
