//! Object-store sources (`s3://`, `az://`, `gs://`) through `pipe run`, with
//! the stores' settings in the environment as users give them: each reads
//! as the same file on this machine does, held or streamed, and is cached
//! on its version. The stores run on 127.0.0.1: moto's S3 server and
//! Azurite's blob service (tests/stores/serve.py, which uploads with the
//! stores' own Python clients), and Cloud Storage's XML API served from a
//! folder (the Cloud Storage emulator on PyPI answers no HEAD and sends no
//! ETag, which every Cloud Storage client needs).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use polars::prelude::*;

use crate::run::{provided, repo, scratch};
use crate::sources::serve;

/// A store served by tests/stores/serve.py until dropped: the URL of the
/// folder holding the uploaded files, and the environment that reads it.
struct Store {
    child: Child,
    url: String,
    env: Vec<(String, String)>,
}

impl Store {
    /// `kind` (`s3`, `az`) serving the files below `folder` under
    /// `<url>/<path below folder>`.
    fn start(kind: &str, folder: &Path) -> Option<Store> {
        let python = provided("PIPE_TEST_PYTHON")?;
        let mut command = Command::new(python);
        if kind == "az" {
            command.env("PIPE_TEST_AZURITE", provided("PIPE_TEST_AZURITE")?);
        }
        let mut child = command
            .arg(repo().join("tests/stores/serve.py"))
            .arg(kind)
            .arg(folder)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let said: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{kind} store: {e}: {line}"));
        let env = said["env"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()));
        Some(Store { url: said["url"].as_str().unwrap().to_owned(), env: env.collect(), child })
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Closing its input stops the store (serve.py stops Azurite too).
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `data/iris.csv` and the same rows as Parquet, in `dir`; and the rows
/// again as many files: `events/year=2024/part-0.parquet` and
/// `events/year=2025/part-0.parquet` (and files a folder source leaves
/// out), `stamps/ts=.../part-0.parquet`, and `logs/a.csv`, `logs/b.csv`.
fn iris_files(dir: &Path) {
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let csv = dir.join("iris.csv");
    std::fs::copy(repo().join("data/iris.csv"), &csv).unwrap();
    let iris = CsvReadOptions::default().with_has_header(true).try_into_reader_with_file_path(Some(csv)).unwrap();
    let mut iris = iris.finish().unwrap();
    let write_parquet = |frame: &mut DataFrame, path: &Path| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        ParquetWriter::new(std::fs::File::create(path).unwrap()).finish(frame).unwrap();
    };
    write_parquet(&mut iris, &dir.join("iris.parquet"));
    for (year, offset) in [(2024, 0), (2025, 75)] {
        let mut part = iris.slice(offset, 75);
        write_parquet(&mut part, &dir.join(format!("events/year={year}/part-0.parquet")));
        let mut text = Vec::new();
        CsvWriter::new(&mut text).finish(&mut part).unwrap();
        std::fs::write(dir.join(format!("logs/{}.csv", if year == 2024 { "a" } else { "b" })), text).unwrap();
    }
    // What a folder source leaves out: names starting with `_` or `.`,
    // here with rows that would show.
    write_parquet(&mut iris, &dir.join("events/_metadata.parquet"));
    write_parquet(&mut iris, &dir.join("events/.staging/part-9.parquet"));
    // A partition value with Hive's escapes (Spark writes `:` as `%3A`),
    // kept in the object's key as written.
    write_parquet(&mut iris.slice(0, 10), &dir.join("stamps/ts=2024-01-01 12%3A00/part-0.parquet"));
}

/// Items reading the store's files and the same files on this machine,
/// with a fitted transform and a stage each.
fn pipeline(url: &str) -> String {
    let mut text = String::new();
    for (prefix, folder) in [("store", url), ("local", "local")] {
        text.push_str(&format!(
            r#"
source {prefix}_csv = csv("{folder}/iris.csv")
source {prefix}_parquet = parquet("{folder}/iris.parquet")
transform {prefix}_scale = fit({prefix}_parquet |> filter(petal_width_cm > 0.5)) {{
    minmax(sepal_length_cm)
    standard(petal_length_cm)
}}
output {prefix}_a = {prefix}_csv |> filter(label != "setosa") |> write("out/{prefix}_a.csv")
output {prefix}_b = {prefix}_scale({prefix}_parquet) |> write("out/{prefix}_b.csv")
"#
        ));
    }
    text
}

/// `pipe args...` run in `dir` with `env` added to the environment.
fn pipe(dir: &Path, env: &[(String, String)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipe"))
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("NO_COLOR", "1")
        .env("COLUMNS", "400")
        .args(args)
        .output()
        .unwrap()
}

/// What a run that succeeded printed (its report is on standard error).
fn succeeded(output: &Output) -> String {
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{printed}");
    printed
}

/// Asserts that each output `store_{name}` holds the bytes `local_{name}` does.
fn assert_outputs_equal(dir: &Path, names: &[&str], when: &str) {
    for name in names {
        let store = std::fs::read(dir.join(format!("out/store_{name}.csv"))).unwrap();
        let local = std::fs::read(dir.join(format!("out/local_{name}.csv"))).unwrap();
        assert!(store == local, "{when}: `{name}` from the store differs from the local files'");
    }
}

/// `pipe check` of `text` (written to `dir/name`) fails with the checker's
/// error, and says `says`.
fn check_fails(dir: &Path, env: &[(String, String)], name: &str, text: &str, says: &str) {
    std::fs::write(dir.join(name), text).unwrap();
    let output = pipe(dir, env, &["check", name]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("pipe::check::source_unreadable") && stderr.contains(says), "{stderr}");
}

/// The store at `url`, read with `env`, against the files in `dir/local`.
fn reads_as_the_local_files(dir: &Path, url: &str, env: &[(String, String)]) {
    std::fs::write(dir.join("main.pipe"), pipeline(url)).unwrap();
    let first = succeeded(&pipe(dir, env, &["run", "main.pipe"]));
    assert!(first.contains("(0 cached)"), "{first}");
    assert_outputs_equal(dir, &["a", "b"], "held");
    // The same versions again: every item comes from the cache.
    let again = succeeded(&pipe(dir, env, &["run", "main.pipe"]));
    assert!(again.contains("ran 4 items (4 cached)"), "{again}");
    // Under a budget no item fits: every item streams from one download.
    std::fs::remove_dir_all(dir.join("out")).unwrap();
    succeeded(&pipe(dir, env, &["run", "main.pipe", "--no-cache", "--memory", "1KB"]));
    assert_outputs_equal(dir, &["a", "b"], "streamed");
    // A file the store does not have is the checker's coded error.
    let missing = format!("source gone = csv(\"{url}/gone.csv\")\noutput o = gone |> write(\"out/gone.csv\")\n");
    check_fails(dir, env, "gone.pipe", &missing, "no such file");
}

/// Sources of many objects (a folder of `year=` folders, a glob over
/// them, a CSV glob) against the same files here, held and streamed.
fn many_read_as_the_local_files(dir: &Path, url: &str, env: &[(String, String)]) {
    let mut text = String::new();
    for (prefix, folder) in [("store", url), ("local", "local")] {
        text.push_str(&format!(
            r#"
source {prefix}_folder = parquet("{folder}/events/")
source {prefix}_glob = parquet("{folder}/events/year=*/*.parquet")
source {prefix}_logs = csv("{folder}/logs/*.csv")
source {prefix}_stamps = parquet("{folder}/stamps/")
output {prefix}_d = {prefix}_stamps |> write("out/{prefix}_d.csv")
output {prefix}_a = {prefix}_folder |> filter(label != "setosa") |> write("out/{prefix}_a.csv")
output {prefix}_b = {prefix}_glob |> standard(petal_length_cm) |> write("out/{prefix}_b.csv")
output {prefix}_c = {prefix}_logs |> write("out/{prefix}_c.csv")
"#
        ));
    }
    std::fs::write(dir.join("many.pipe"), text).unwrap();
    for (when, budget) in [("held", "10GB"), ("streamed", "1KB")] {
        let _ = std::fs::remove_dir_all(dir.join("out"));
        succeeded(&pipe(dir, env, &["run", "many.pipe", "--no-cache", "--memory", budget]));
        assert_outputs_equal(dir, &["a", "b", "c", "d"], when);
    }
    // The year column comes from the objects' `year=` folders; the rows
    // left out are not there; the escaped value is decoded.
    let a = std::fs::read_to_string(dir.join("out/store_a.csv")).unwrap();
    assert!(a.lines().next().unwrap().ends_with(",year") && a.lines().count() == 101, "{a}");
    let d = std::fs::read_to_string(dir.join("out/store_d.csv")).unwrap();
    assert!(d.lines().nth(1).unwrap().ends_with(",2024-01-01 12:00"), "{d}");
    // A folder named without its `/` is no object, and the error says so.
    let text = format!("source f = parquet(\"{url}/events\")\noutput o = f |> write(\"out/f.csv\")\n");
    check_fails(dir, env, "slash.pipe", &text, "a folder's URL ends in `/`");
    // A pattern no object matches is the checker's coded error.
    let text = format!("source none = parquet(\"{url}/events/*.csv\")\noutput o = none |> write(\"out/none.csv\")\n");
    check_fails(dir, env, "none.pipe", &text, "no object matches");
}

#[test]
fn an_s3_source_reads_as_the_local_file() {
    let dir = scratch("store_s3");
    iris_files(&dir.join("local"));
    // A file of more than one download part (16 MB).
    let big = dir.join("local/big.csv");
    let mut text = String::from("n,half\n");
    for n in 0..1_500_000u64 {
        text.push_str(&format!("{n},{}\n", n as f64 / 2.0));
    }
    assert!(text.len() > 16 << 20, "{}", text.len());
    std::fs::write(&big, text).unwrap();
    let Some(store) = Store::start("s3", &dir.join("local")) else { return };
    reads_as_the_local_files(&dir, &store.url, &store.env);
    many_read_as_the_local_files(&dir, &store.url, &store.env);
    // An `http://` endpoint without `AWS_ALLOW_HTTP` is refused, saying what to set.
    let refused: Vec<(String, String)> = store.env.iter().filter(|(k, _)| k != "AWS_ALLOW_HTTP").cloned().collect();
    let text = std::fs::read_to_string(dir.join("main.pipe")).unwrap();
    check_fails(&dir, &refused, "main.pipe", &text, "AWS_ALLOW_HTTP=true");
    let text = format!(
        "source store = csv(\"{}/big.csv\")\nsource local = csv(\"local/big.csv\")\n\
         output s = store |> filter(n % 3 == 0) |> write(\"out/big_store.csv\")\n\
         output l = local |> filter(n % 3 == 0) |> write(\"out/big_local.csv\")\n",
        store.url
    );
    std::fs::write(dir.join("big.pipe"), text).unwrap();
    succeeded(&pipe(&dir, &store.env, &["run", "big.pipe", "--no-cache"]));
    let (from_store, local) =
        (std::fs::read(dir.join("out/big_store.csv")), std::fs::read(dir.join("out/big_local.csv")));
    assert!(from_store.unwrap() == local.unwrap(), "the file downloaded in parts differs");
}

#[test]
fn an_azure_blob_source_reads_as_the_local_file() {
    let dir = scratch("store_az");
    iris_files(&dir.join("local"));
    let Some(store) = Store::start("az", &dir.join("local")) else { return };
    reads_as_the_local_files(&dir, &store.url, &store.env);
    many_read_as_the_local_files(&dir, &store.url, &store.env);
    // The same container named as Data Lake Storage names it.
    let account = "abfss://pipe-data@devstoreaccount1.dfs.core.windows.net/dir";
    many_read_as_the_local_files(&dir, account, &store.env);
}

#[test]
fn a_cloud_storage_source_reads_as_the_local_file() {
    let dir = scratch("store_gs");
    iris_files(&dir.join("local"));
    // The bucket `pipe-data` as a folder of the served root (which lists
    // nothing: the many-object sources are read from the other stores).
    let bucket = dir.join("served/pipe-data/dir");
    std::fs::create_dir_all(&bucket).unwrap();
    for name in ["iris.csv", "iris.parquet"] {
        std::fs::copy(dir.join("local").join(name), bucket.join(name)).unwrap();
    }
    let server = serve(&dir.join("served"));
    let env =
        [("GOOGLE_BASE_URL", server.url.as_str()), ("GOOGLE_SKIP_SIGNATURE", "true"), ("GOOGLE_ALLOW_HTTP", "true")];
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    reads_as_the_local_files(&dir, "gs://pipe-data/dir", &env);
}
