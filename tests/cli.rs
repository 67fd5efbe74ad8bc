//! The command line, tested through the built binary: exit codes, streams.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn pipe() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pipe"));
    command.env_remove("NO_COLOR").env("COLUMNS", "100");
    command
}

fn run(args: &[&str]) -> Output {
    pipe().args(args).output().expect("the pipe binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path).display().to_string()
}

/// A fresh temporary directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pipe-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn check_clean_file_exits_zero() {
    let output = run(&["check", &repo("pipelines/people.pipe")]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains("checked 1 file: no problems"));
}

#[test]
fn check_with_errors_exits_one_and_names_the_code() {
    let output = run(&["check", &repo("tests/ui/syntax/unclosed_block.pipe")]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("pipe::syntax::unclosed_block"), "{err}");
    assert!(err.contains("1 error"), "{err}");
}

#[test]
fn check_reports_every_file() {
    let output = run(&["check", &repo("pipelines/people.pipe"), &repo("tests/ui/syntax/three_errors.pipe")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("checked 2 files: 3 errors, 0 warnings"), "{}", stderr(&output));
}

#[test]
fn warnings_alone_exit_zero() {
    let output = run(&["check", &repo("tests/ui/syntax/empty_file.pipe")]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stderr(&output).contains("pipe::syntax::empty_file"));
}

#[test]
fn missing_file_is_a_diagnostic_and_exit_one() {
    let output = run(&["check", "no/such/file.pipe"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("pipe::io::read"), "{}", stderr(&output));
}

#[test]
fn usage_errors_exit_two() {
    assert_eq!(run(&[]).status.code(), Some(2));
    assert_eq!(run(&["check"]).status.code(), Some(2));
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(run(&["check", "--format", "xml", "x.pipe"]).status.code(), Some(2));
}

#[test]
fn version_and_help() {
    let version = run(&["--version"]);
    assert_eq!(version.status.code(), Some(0));
    assert_eq!(stdout(&version).trim(), format!("pipe {}", env!("CARGO_PKG_VERSION")));
    let help = run(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let text = stdout(&help);
    for word in ["check", "fmt", "--format", "--color"] {
        assert!(text.contains(word), "help lacks {word}:\n{text}");
    }
}

#[test]
fn piped_output_has_no_colour_and_always_does() {
    let plain = run(&["check", &repo("tests/ui/syntax/unclosed_paren.pipe")]);
    assert!(!stderr(&plain).contains('\u{1b}'), "escape codes in piped output");
    let coloured = run(&["check", "--color", "always", &repo("tests/ui/syntax/unclosed_paren.pipe")]);
    assert!(stderr(&coloured).contains('\u{1b}'), "no escape codes with --color always");
    let no_color = pipe()
        .args(["check", "--color", "auto", &repo("tests/ui/syntax/unclosed_paren.pipe")])
        .env("NO_COLOR", "1")
        .output()
        .expect("runs");
    assert!(!stderr(&no_color).contains('\u{1b}'));
}

#[test]
fn json_format_prints_one_object_per_diagnostic() {
    let output = run(&["check", "--format", "json", &repo("tests/ui/syntax/three_errors.pipe")]);
    assert_eq!(output.status.code(), Some(1));
    let lines: Vec<serde_json::Value> =
        stdout(&output).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(lines.len(), 3);
    let first = &lines[0];
    assert_eq!(first["severity"], "error");
    assert!(first["code"].as_str().is_some_and(|c| c.starts_with("pipe::syntax::")));
    let label = &first["labels"][0];
    assert_eq!(label["line"], 3, "{first}");
    assert!(label["column"].as_u64().is_some());
    assert!(stderr(&output).is_empty(), "JSON mode keeps stderr quiet: {}", stderr(&output));
}

#[test]
fn fmt_rewrites_in_place_and_check_mode_reports() {
    let dir = temp_dir("fmt");
    let file = dir.join("messy.pipe");
    std::fs::write(&file, "let   seed=42\nstage s = people|>filter(age>=0)   // adults\n").expect("write");
    let check = run(&["fmt", "--check", file.to_str().expect("path")]);
    assert_eq!(check.status.code(), Some(1), "{}", stderr(&check));
    assert!(stderr(&check).contains("would reformat"));
    let untouched = std::fs::read_to_string(&file).expect("read");
    assert!(untouched.starts_with("let   seed=42"), "--check must not write");

    let fmt = run(&["fmt", file.to_str().expect("path")]);
    assert_eq!(fmt.status.code(), Some(0), "{}", stderr(&fmt));
    let formatted = std::fs::read_to_string(&file).expect("read");
    assert_eq!(formatted, "let seed = 42\nstage s = people |> filter(age >= 0) // adults\n");
    let again = run(&["fmt", "--check", file.to_str().expect("path")]);
    assert_eq!(again.status.code(), Some(0));
    let leftovers: Vec<_> = std::fs::read_dir(&dir).expect("dir").collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
}

#[test]
fn fmt_leaves_a_broken_file_untouched() {
    let dir = temp_dir("fmt-broken");
    let file = dir.join("broken.pipe");
    let text = "let   seed=42\nstage s = people |> filter(age >= 0\n";
    std::fs::write(&file, text).expect("write");
    let output = run(&["fmt", file.to_str().expect("path")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("pipe::syntax::unclosed_delimiter"));
    assert_eq!(std::fs::read_to_string(&file).expect("read"), text);
}

#[test]
fn fmt_reads_stdin_and_writes_stdout() {
    let mut child = pipe()
        .args(["fmt", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(b"model m{dense(2)}").expect("write");
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "model m {\n    dense(2)\n}\n");
}

#[test]
fn a_byte_order_mark_is_not_a_mistake() {
    let dir = temp_dir("bom");
    let file = dir.join("bom.pipe");
    std::fs::write(&file, b"\xef\xbb\xbfsource people = csv(\"people.csv\")\n").expect("write");
    std::fs::copy(repo("tests/data/people.csv"), dir.join("people.csv")).expect("copy data");
    let output = run(&["check", file.to_str().expect("path")]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn run_prints_a_line_per_item_and_caches_the_second_time() {
    let dir = temp_dir("run");
    std::fs::write(dir.join("d.csv"), "x,y\n1,2\n3,4\n").unwrap();
    let file = dir.join("main.pipe");
    std::fs::write(&file, "source d = csv(\"d.csv\")\noutput o = d |> standard(x) |> write(\"out/o.csv\")\n").unwrap();
    // Held in memory (the file fits in the default budget), the source has
    // a line of its own.
    let held = run(&["run", "--no-cache", file.to_str().unwrap()]);
    let err = stderr(&held);
    assert!(err.contains("source     d") && err.contains("output     o") && err.contains("2 rows"), "{err}");
    assert_eq!(std::fs::read_to_string(dir.join("out/o.csv")).unwrap(), "x,y\n-1.0,2\n1.0,4\n");
    std::fs::remove_file(dir.join("out/o.csv")).unwrap();
    // Streamed (two passes over `d.csv`, 13 bytes, over a budget of 1),
    // it has none.
    let first = run(&["run", "--memory", "1", file.to_str().unwrap()]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let err = stderr(&first);
    assert!(!err.contains("source     d") && err.contains("output     o") && err.contains("2 rows"), "{err}");
    assert_eq!(std::fs::read_to_string(dir.join("out/o.csv")).unwrap(), "x,y\n-1.0,2\n1.0,4\n");
    let second = run(&["run", "--memory", "1", file.to_str().unwrap()]);
    assert!(
        stderr(&second).contains("cached") && stderr(&second).contains("ran 1 item (1 cached)"),
        "{}",
        stderr(&second)
    );
    let json = run(&["run", "--format", "json", "--no-cache", "--memory", "1", file.to_str().unwrap()]);
    let lines: Vec<serde_json::Value> = stdout(&json)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l.get("item").is_some())
        .collect();
    assert_eq!(lines.len(), 1, "the output streams: the source has no line");
    assert_eq!(lines[0]["item"], "o");
    assert_eq!(lines[0]["cached"], false);
    let clean = run(&["cache", "clean", file.to_str().unwrap()]);
    assert_eq!(clean.status.code(), Some(0));
    assert!(stderr(&clean).contains("emptied"), "{}", stderr(&clean));
    let left: Vec<_> = std::fs::read_dir(dir.join(".pipe-cache")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(left, ["lock"], "only the lock file stays");
}

/// A Parquet file of `rows` rows of `columns` f64 columns `c0, c1, ...`.
fn wide_parquet(path: &Path, rows: usize, columns: usize) {
    use polars::prelude::*;
    let columns: Vec<Column> = (0..columns)
        .map(|c| {
            let values: Vec<f64> = (0..rows).map(|r| ((r * 31 + c * 7) % 1009) as f64 + 0.5).collect();
            Column::new(format!("c{c}").into(), values)
        })
        .collect();
    let mut frame = DataFrame::new_infer_height(columns).unwrap();
    // Row groups of 64K rows, as pipe writes: the streaming engine reads a
    // row group at a time.
    let writer = ParquetWriter::new(std::fs::File::create(path).unwrap()).with_row_group_size(Some(65_536));
    writer.finish(&mut frame).unwrap();
}

/// Each item's line gives the process's peak memory while it ran: reading
/// a 32 MB frame into memory peaks at least 28 MB above reading one row;
/// a fitted step over 128 MB of Parquet rows streamed in two passes peaks
/// at least 64 MB lower than the same step holding them.
#[test]
fn run_reports_each_items_peak_memory_and_streaming_keeps_it_low() {
    if std::fs::write("/proc/self/clear_refs", "5").is_err() {
        eprintln!("this system cannot reset the peak resident set: nothing to measure");
        return;
    }
    let dir = temp_dir("peak");
    std::fs::write(dir.join("small.csv"), "a,b,c,d\n1.5,2.5,3.5,4.5\n").unwrap();
    let mut big = String::from("a,b,c,d\n");
    for i in 0..1_000_000 {
        big.push_str(&format!("{i}.5,{}.25,{}.125,{}.75\n", i % 97, i % 89, i % 83));
    }
    std::fs::write(dir.join("big.csv"), big).unwrap();
    let peaks = |text: &str, flags: &[&str]| {
        std::fs::write(dir.join("main.pipe"), text).unwrap();
        let main = dir.join("main.pipe");
        let args = [&["run", "--format", "json", "--no-cache"], flags, &[main.to_str().unwrap()]].concat();
        let json = run(&args);
        assert_eq!(json.status.code(), Some(0), "{}", stderr(&json));
        let lines: Vec<serde_json::Value> = stdout(&json).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let (items, run): (Vec<_>, Vec<_>) = lines.iter().partition(|l| l.get("item").is_some());
        let peaks = items
            .iter()
            .map(|l| (l["item"].as_str().unwrap().to_owned(), l["peak_memory_bytes"].as_u64().expect("a peak")))
            .collect::<std::collections::HashMap<_, _>>();
        // The last line is the whole run's peak, the items' highest at
        // least (each item resets the mark the kernel keeps).
        let [run] = run.as_slice() else { panic!("one line for the run: {lines:?}") };
        let run_peak = run["run_peak_memory_bytes"].as_u64().expect("the run's peak");
        assert!(peaks.values().all(|&p| run_peak >= p), "{run_peak} {peaks:?}");
        peaks
    };
    let text = r#"
source small = csv("small.csv")
source big = csv("big.csv")
output one = small |> write("out/one.csv")
output all = big |> filter(a > 0.0) |> write("out/all.parquet")
"#;
    // `--in-memory`: the source's rows are held.
    let held = peaks(text, &["--in-memory"]);
    // 1,000,000 rows of four f64 columns: 32 MB.
    assert!(held["big"] >= held["one"] + 28_000_000, "{held:?}");
    // Filtering streams: the source has no line of its own (the output
    // reads it batch by batch).
    let streamed = peaks(text, &[]);
    assert!(!streamed.contains_key("big"), "{streamed:?}");
    // So does a step that learns, in two passes, over 1,000,000 rows of
    // 16 f64 columns (128 MB) from Parquet (Polars fetches a CSV file
    // this small whole, once per pass).
    wide_parquet(&dir.join("wide.parquet"), 1_000_000, 16);
    let learn =
        "source wide = parquet(\"wide.parquet\")\noutput all = wide |> standard(c0) |> write(\"out/all.parquet\")\n";
    let (learned, learned_held) = (peaks(learn, &["--memory", "1MB"]), peaks(learn, &[]));
    assert!(!learned.contains_key("wide"), "{learned:?}");
    let held_peak = learned_held.values().max().copied().unwrap_or(0);
    // Held, the 128 MB of rows count; streamed, batches of them. (With 32
    // MB of rows the margin was 4 to 12 MB once `standard` scaled in place:
    // within the allocator's noise.)
    assert!(learned["all"] + 64_000_000 <= held_peak, "streamed {learned:?}, held {learned_held:?}");
    // The filter's streamed peak is not compared with the held one: both
    // count the CSV's 34 MB (held: mapped; streamed: Polars fetches a file
    // this small whole) and the streaming engine's buffers, and they came
    // within a few MB of each other (bench/stream_bench.py measures a
    // 930 MB file: 274 MB streamed, 900 MB held).
    let text_run = run(&["run", "--no-cache", dir.join("main.pipe").to_str().unwrap()]);
    assert!(stderr(&text_run).contains(" MB"), "{}", stderr(&text_run));
}

#[test]
fn run_stops_before_running_when_the_check_fails() {
    let dir = temp_dir("run_check_fails");
    let file = dir.join("main.pipe");
    std::fs::write(&file, "source d = csv(\"missing.csv\")\noutput o = d |> write(\"o.csv\")\n").unwrap();
    let output = run(&["run", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("pipe::check::"), "{}", stderr(&output));
    assert!(!dir.join("o.csv").exists());
}

#[test]
fn run_device_override_is_checked_against_the_build() {
    let dir = temp_dir("device");
    std::fs::write(dir.join("d.csv"), "x,y\n1,0\n2,1\n3,0\n4,1\n").unwrap();
    let file = dir.join("main.pipe");
    let text = "import std.models { linear }\nsource d = csv(\"d.csv\")\ntrain t = linear(out: 2) on d {\n    target: y\n    epochs: 2\n}\n";
    std::fs::write(&file, text).unwrap();
    let unknown = run(&["run", "--no-cache", "--device", "gpu", file.to_str().unwrap()]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("--device gpu: unknown device"), "{}", stderr(&unknown));
    let torch = run(&["run", "--no-cache", "--device", "torch.cpu", file.to_str().unwrap()]);
    if cfg!(feature = "tch") {
        assert_eq!(torch.status.code(), Some(0), "{}", stderr(&torch));
    } else {
        assert_eq!(torch.status.code(), Some(1));
        assert!(stderr(&torch).contains("build with `--features tch`"), "{}", stderr(&torch));
    }
    let cpu = run(&["run", "--no-cache", "--device", "cpu", file.to_str().unwrap()]);
    assert_eq!(cpu.status.code(), Some(0), "{}", stderr(&cpu));
    assert!(stderr(&cpu).contains("epoch 2/2"), "{}", stderr(&cpu));
}

/// `pipe augment-preview`: a grid of each sample and its augmented
/// versions, as a PNG that decodes to the expected size; the first column
/// holds the images as read (every value one the digit PNGs have), the
/// others resampled ones (values between those).
#[test]
fn augment_preview_writes_a_grid_of_originals_and_versions() {
    let dir = temp_dir("preview");
    let text = format!(
        "source digits = images(\"{}\", size: [8, 8], channels: 1)\n\
         augment turn {{\n    rotate(30deg)\n    fill: constant(0)\n}}\n\
         model m {{\n    flatten()\n    dense(10)\n}}\n\
         train base = m on digits {{\n    target: label\n    augment: turn\n}}\n",
        repo("data/digits")
    );
    std::fs::write(dir.join("digits.pipe"), text).unwrap();
    let out = dir.join("grid.png");
    let file = dir.join("digits.pipe");
    let args = [
        "augment-preview",
        file.to_str().unwrap(),
        "base",
        "-o",
        out.to_str().unwrap(),
        "--samples",
        "3",
        "--versions",
        "4",
    ];
    let ran = run(&args);
    assert_eq!(ran.status.code(), Some(0), "{}", stderr(&ran));
    let image = pipe::run::images::decode(&std::fs::read(&out).unwrap()).expect("a PNG");
    // 8x8 tiles scaled by 8, 5 columns, 3 rows, 2-pixel gaps.
    assert_eq!((image.channels, image.width, image.height), (3, 5 * 66 + 2, 3 * 66 + 2));
    // The grey levels of the digit PNGs (8-bit values).
    let mut levels = std::collections::BTreeSet::new();
    for class in 0..10 {
        for entry in std::fs::read_dir(Path::new(&repo("data/digits")).join(class.to_string())).unwrap().flatten() {
            let png = pipe::run::images::decode(&std::fs::read(entry.path()).unwrap()).unwrap();
            levels.extend(png.data.iter().map(|v| (v * 255.0).round() as u32));
        }
    }
    let tile_values = |row: usize, column: usize| -> Vec<u32> {
        let (x0, y0) = (2 + column * 66, 2 + row * 66);
        (0..64)
            .map(|i| {
                let (x, y) = (x0 + (i % 8) * 8 + 4, y0 + (i / 8) * 8 + 4);
                (image.data[y * image.width + x] * 255.0).round() as u32
            })
            .collect()
    };
    for row in 0..3 {
        assert!(tile_values(row, 0).iter().all(|v| levels.contains(v)), "row {row}: the original is as read");
        let rotated = (1..5).flat_map(|c| tile_values(row, c)).filter(|v| !levels.contains(v)).count();
        assert!(rotated > 0, "row {row}: the versions are resampled");
    }
    let missing = run(&["augment-preview", file.to_str().unwrap(), "nope"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("`nope` is not a training run"), "{}", stderr(&missing));
    // A grid past 50 megapixels (or past what a number holds) is refused
    // before any image is made, and no file is written.
    std::fs::remove_file(&out).unwrap();
    for (samples, versions) in [("3", "18446744073709551615"), ("1000", "1000")] {
        let huge = [&args[..5], &["--samples", samples, "--versions", versions]].concat();
        let refused = run(&huge);
        assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
        assert!(stderr(&refused).contains("more than 50000000 pixels"), "{}", stderr(&refused));
        assert!(!out.exists());
    }
    // No sample or no version is no grid; the file is a PNG.
    for (flag, value, said) in [("--samples", "0", "1 or more"), ("--versions", "0", "1 or more")] {
        let refused = run(&[&args[..5], &[flag, value]].concat());
        assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
        assert!(stderr(&refused).contains(said), "{}", stderr(&refused));
        assert!(!out.exists());
    }
    let jpeg = dir.join("grid.jpg");
    let refused = run(&["augment-preview", file.to_str().unwrap(), "base", "-o", jpeg.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("name it `.png`"), "{}", stderr(&refused));
    assert!(!jpeg.exists());
}

/// `pipe predict` on a folder of images, for a run trained on images: a
/// row per file (with the class when the folder has class sub-folders)
/// and its prediction.
#[test]
fn predict_takes_a_folder_of_images() {
    let dir = temp_dir("predict_images");
    let file = dir.join("main.pipe");
    let text = format!(
        "import std.vision {{ small_cnn }}\nsource d = images(\"{}\", size: [8, 8], channels: 1)\n\
         train digits = small_cnn(classes: 10) on d {{\n    target: label\n    epochs: 1\n}}\n",
        repo("tests/data/digits")
    );
    std::fs::write(&file, text).unwrap();
    let ran = run(&["run", "--no-cache", file.to_str().unwrap()]);
    assert_eq!(ran.status.code(), Some(0), "{}", stderr(&ran));
    let runs: Vec<_> = std::fs::read_dir(dir.join("runs/digits")).unwrap().flatten().map(|e| e.path()).collect();
    let out = dir.join("classes.csv");
    let args = ["predict", runs[0].to_str().unwrap(), &repo("tests/data/digits"), "-o", out.to_str().unwrap()];
    let predicted = run(&args);
    assert_eq!(predicted.status.code(), Some(0), "{}", stderr(&predicted));
    let rows = std::fs::read_to_string(&out).unwrap();
    assert!(rows.starts_with("file,label,prediction\n"), "{rows}");
    assert_eq!(rows.lines().count(), 21, "20 images and the header");
    // A flat folder: no classes.
    let flat = dir.join("flat");
    std::fs::create_dir_all(&flat).unwrap();
    std::fs::copy(repo("tests/data/digits/3/0003.png"), flat.join("a.png")).unwrap();
    let out = dir.join("flat.csv");
    let predicted = run(&["predict", runs[0].to_str().unwrap(), flat.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(predicted.status.code(), Some(0), "{}", stderr(&predicted));
    let rows = std::fs::read_to_string(&out).unwrap();
    assert!(rows.starts_with("file,prediction\n") && rows.lines().count() == 2, "{rows}");
}

/// A prediction is the image's own: the same probabilities for an image
/// predicted alone and among 20 others, after `pipe run` saved a model
/// with image batch norm and dropout (inference uses the running
/// statistics and no mask). On libtorch a convolution's output once
/// stayed on the autodiff device, so the batch norm after it normalized
/// each prediction batch by its own statistics.
#[test]
fn a_prediction_does_not_depend_on_the_other_rows() {
    let devices: &[&str] = if cfg!(feature = "tch") { &["cpu", "torch.cpu"] } else { &["cpu"] };
    for device in devices {
        let dir = temp_dir(&format!("predict_alone_{device}"));
        let file = dir.join("main.pipe");
        let text = format!(
            "source d = images(\"{}\", size: [8, 8], channels: 1)\n\
             model m {{\n    conv(4, kernel: 3)\n    batchnorm()\n    relu()\n    dropout(0.3)\n    flatten()\n    dense(10)\n}}\n\
             train t = m on d {{\n    target: label\n    epochs: 3\n    batch: 8\n    device: {device}\n}}\n",
            repo("tests/data/digits")
        );
        std::fs::write(&file, text).unwrap();
        let ran = run(&["run", "--no-cache", file.to_str().unwrap()]);
        assert_eq!(ran.status.code(), Some(0), "{}", stderr(&ran));
        let runs: Vec<_> = std::fs::read_dir(dir.join("runs/t")).unwrap().flatten().map(|e| e.path()).collect();
        let alone = dir.join("alone");
        std::fs::create_dir_all(&alone).unwrap();
        std::fs::copy(repo("tests/data/digits/3/0003.png"), alone.join("0003.png")).unwrap();
        let probabilities = |folder: &str| -> Vec<f64> {
            let out = dir.join("p.csv");
            let args = ["predict", runs[0].to_str().unwrap(), folder, "-o", out.to_str().unwrap(), "--probabilities"];
            let predicted = run(&args);
            assert_eq!(predicted.status.code(), Some(0), "{}", stderr(&predicted));
            let rows = std::fs::read_to_string(&out).unwrap();
            let header: Vec<&str> = rows.lines().next().unwrap().split(',').collect();
            let row = rows.lines().find(|l| l.contains("0003.png")).expect("the image's row");
            let cells: Vec<&str> = row.split(',').collect();
            (0..10)
                .map(|k| {
                    let at = header.iter().position(|h| *h == format!("probability_{k}")).unwrap();
                    cells[at].parse().unwrap()
                })
                .collect()
        };
        let (one, among) = (probabilities(alone.to_str().unwrap()), probabilities(&repo("tests/data/digits")));
        for (k, (a, b)) in one.iter().zip(&among).enumerate() {
            assert!((a - b).abs() < 1e-6, "{device}, class {k}: alone {a}, among others {b}");
        }
    }
}

/// `pipe predict` and `pipe export` use the device a run trained on, as its
/// run folder records it (a `pipe run --device` override included, which
/// the saved pipeline does not show), or the one `--device` names. In a
/// libtorch build: a file written for a GPU, trained here with `--device
/// cpu`, predicts and exports; asked to predict on the missing GPU, predict
/// says how to predict on the CPU.
#[test]
fn predict_and_export_use_the_device_the_run_trained_on() {
    let dir = temp_dir("predict_device");
    std::fs::write(dir.join("d.csv"), "x,y\n1,a\n2,b\n3,a\n4,b\n5,a\n6,b\n").unwrap();
    let file = dir.join("main.pipe");
    let written = if cfg!(feature = "tch") { "torch.cuda" } else { "cpu" };
    let text = format!(
        "import std.models {{ linear }}\nsource d = csv(\"d.csv\")\ntrain t = linear(out: 2) on d {{\n    target: y\n    epochs: 2\n    device: {written}\n}}\n"
    );
    std::fs::write(&file, text).unwrap();
    let trained = run(&["run", "--no-cache", "--device", "cpu", file.to_str().unwrap()]);
    assert_eq!(trained.status.code(), Some(0), "{}", stderr(&trained));
    let runs: Vec<_> = std::fs::read_dir(dir.join("runs/t")).unwrap().flatten().map(|e| e.path()).collect();
    let (folder, data) = (runs[0].to_str().unwrap(), dir.join("d.csv"));
    let predict = |extra: &[&str], out: &str| {
        let out = dir.join(out);
        let args = [&["predict", folder, data.to_str().unwrap(), "-o", out.to_str().unwrap()][..], extra].concat();
        (run(&args), out)
    };
    let (recorded, out) = predict(&[], "recorded.csv");
    assert_eq!(recorded.status.code(), Some(0), "{}", stderr(&recorded));
    let (on_cpu, cpu_out) = predict(&["--device", "cpu"], "cpu.csv");
    assert_eq!(on_cpu.status.code(), Some(0), "{}", stderr(&on_cpu));
    assert_eq!(std::fs::read_to_string(out).unwrap(), std::fs::read_to_string(cpu_out).unwrap());
    let exported = run(&["export", folder, "-o", dir.join("m.safetensors").to_str().unwrap()]);
    assert_eq!(exported.status.code(), Some(0), "{}", stderr(&exported));
    let remote = predict(&["--device", "remote(ws://127.0.0.1:9)"], "remote.csv").0;
    assert_eq!(remote.status.code(), Some(1));
    assert!(stderr(&remote).contains("a remote device trains"), "{}", stderr(&remote));
    let unknown = predict(&["--device", "gpu"], "gpu.csv").0;
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("--device gpu: unknown device"), "{}", stderr(&unknown));
    let (missing, missing_out) = predict(&["--device", "torch.cuda"], "cuda.csv");
    assert_eq!(missing.status.code(), Some(1), "{}", stderr(&missing));
    if cfg!(feature = "tch") {
        assert!(stderr(&missing).contains("pipe::run::no_device"), "{}", stderr(&missing));
        assert!(stderr(&missing).contains("`--device cpu`"), "{}", stderr(&missing));
    } else {
        assert!(stderr(&missing).contains("build with `--features tch`"), "{}", stderr(&missing));
    }
    assert!(!missing_out.exists());
}

/// `pipe lsp` fed something other than the protocol stops with a coded
/// diagnostic, not a panic.
#[test]
fn lsp_without_an_editor_is_a_diagnostic() {
    use std::io::Write;
    let mut child = pipe()
        .arg("lsp")
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("pipe lsp starts");
    child.stdin.take().unwrap().write_all(b"hello\r\n\r\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("pipe::lsp::connection"), "{}", stderr(&output));
}

/// `save:` onto the user's data folder, `write` over the pipeline's own
/// input: `pipe run` refuses before anything runs, and every file is left
/// as it was; a second run after moving `save:` to a new folder saves, and
/// a third replaces what that run saved.
#[test]
fn runs_never_write_over_inputs_or_folders_they_did_not_write() {
    let dir = temp_dir("guarded_writes");
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let iris = std::fs::read_to_string(repo("data/iris.csv")).unwrap();
    std::fs::write(dir.join("data/iris.csv"), &iris).unwrap();
    std::fs::write(dir.join("data/notes.txt"), "mine").unwrap();
    let file = dir.join("main.pipe");
    let pipeline = |save: &str, output: &str| {
        format!(
            "import std.models {{ linear }}\nsource iris = csv(\"data/iris.csv\")\n\
             train run = linear(out: 3) on iris {{\n    target: label\n    epochs: 1\n    save: \"{save}\"\n}}\n\
             output copy = iris |> write(\"{output}\")\n"
        )
    };
    for (save, output, code) in
        [("data", "out/iris.csv", "foreign_files"), ("models/iris", "data/iris.csv", "overwrites_input")]
    {
        std::fs::write(&file, pipeline(save, output)).unwrap();
        let refused = run(&["run", file.to_str().unwrap()]);
        assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
        assert!(stderr(&refused).contains(&format!("pipe::check::{code}")), "{}", stderr(&refused));
        assert_eq!(std::fs::read_to_string(dir.join("data/iris.csv")).unwrap(), iris);
        assert_eq!(std::fs::read_to_string(dir.join("data/notes.txt")).unwrap(), "mine");
        assert!(!dir.join("models").exists() && !dir.join("out").exists(), "nothing written");
    }
    std::fs::write(&file, pipeline("models/iris", "out/iris.csv")).unwrap();
    for _ in 0..2 {
        let saved = run(&["run", "--no-cache", file.to_str().unwrap()]);
        assert_eq!(saved.status.code(), Some(0), "{}", stderr(&saved));
        assert!(dir.join("models/iris/model.bpk").exists() && dir.join("models/iris/model.pipe").exists());
    }
    assert_eq!(std::fs::read_to_string(dir.join("data/iris.csv")).unwrap(), iris);
}

/// A model whose weights, gradients and optimizer state cannot fit this
/// machine's memory is refused by `pipe check`, not aborted on allocation.
#[test]
fn a_model_larger_than_the_machine_is_refused_before_it_allocates() {
    let dir = temp_dir("huge_model");
    let file = dir.join("main.pipe");
    let digits = repo("data/digits");
    std::fs::write(
        &file,
        format!(
            "source imgs = images(\"{digits}\", size: [8, 8], channels: 1)\nmodel net {{\n    conv(16000000, kernel: 3, padding: same)\n    flatten()\n    dense(10)\n}}\ntrain run = net on imgs {{\n    target: label\n    epochs: 1\n}}\n"
        ),
    )
    .unwrap();
    let refused = run(&["run", file.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    let err = stderr(&refused);
    assert!(err.contains("pipe::check::out_of_range") && err.contains("10,400,000,010 parameters"), "{err}");
}

/// Runs `pipe` with `args` in `dir`, failing the test if it has not exited
/// within `seconds` (it is killed then).
fn run_within(dir: &Path, args: &[&str], seconds: u64) -> Output {
    let mut child = pipe()
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the pipe binary runs");
    let start = std::time::Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed().as_secs() >= seconds {
            let _ = child.kill();
            panic!("`pipe {}` did not finish within {seconds} s", args.join(" "));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// A FIFO or a device given as a source, an import or the pipeline itself
/// is refused before it is opened (it blocked forever, or read /dev/zero
/// until memory ran out).
#[cfg(unix)]
#[test]
fn fifos_and_devices_are_refused_not_read() {
    let dir = temp_dir("fifos");
    for fifo in ["data.csv", "lib.pipe", "main_fifo.pipe"] {
        let made = Command::new("mkfifo").arg(dir.join(fifo)).status().expect("mkfifo runs");
        assert!(made.success());
    }
    std::fs::write(dir.join("d.csv"), "x\n1\n").unwrap();
    let cases = [
        ("source.pipe", "source d = csv(\"data.csv\")\noutput o = d |> write(\"o.csv\")\n", "source_unreadable"),
        ("device.pipe", "source d = csv(\"/dev/zero\")\noutput o = d |> write(\"o.csv\")\n", "source_unreadable"),
        (
            "import.pipe",
            "import \"lib.pipe\" { x }\nsource d = csv(\"d.csv\")\noutput o = d |> write(\"o.csv\")\n",
            "import_unreadable",
        ),
    ];
    for (name, text, code) in cases {
        std::fs::write(dir.join(name), text).unwrap();
        for command in ["check", "run"] {
            let output = run_within(&dir, &[command, name], 20);
            assert_eq!(output.status.code(), Some(1), "{name}: {}", stderr(&output));
            assert!(stderr(&output).contains(&format!("pipe::check::{code}")), "{name}: {}", stderr(&output));
            assert!(stderr(&output).contains("not a regular file"), "{name}: {}", stderr(&output));
        }
    }
    let output = run_within(&dir, &["check", "main_fifo.pipe"], 20);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("not a regular file"), "{}", stderr(&output));
}

/// Ctrl-C during a training stops it at the next batch: exit 130, a word
/// on how to go on, the checkpoints of the epochs done kept, no temporary
/// file left (resuming from a checkpoint: `a_killed_run_resumes_to_the_same_weights`).
#[cfg(unix)]
#[test]
fn an_interrupted_run_stops_cleanly() {
    let dir = temp_dir("interrupted");
    std::fs::copy(repo("data/iris.csv"), dir.join("iris.csv")).unwrap();
    let file = dir.join("main.pipe");
    std::fs::write(
        &file,
        "import std.models { mlp }\nsource iris = csv(\"iris.csv\")\n\
         train run = mlp(hidden: [64], out: 3) on iris {\n    target: label\n    epochs: 1000000\n    batch: 4\n    checkpoint: checkpoint(every: 1, keep: 2)\n}\n",
    )
    .unwrap();
    let mut child = pipe()
        .args(["run", file.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pipe runs");
    // Wait for a checkpoint, then interrupt.
    let runs = dir.join("runs");
    let start = std::time::Instant::now();
    let has_checkpoint =
        || walk(&runs).iter().any(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("epoch-")));
    while !has_checkpoint() {
        assert!(start.elapsed().as_secs() < 120, "no checkpoint within 120 s");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let killed = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let waited = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(waited.elapsed().as_secs() < 30, "the run did not stop within 30 s of Ctrl-C");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{:?}: {}", output.status, stderr(&output));
    assert!(stderr(&output).contains("interrupted") && stderr(&output).contains("--resume"), "{}", stderr(&output));
    let temporaries: Vec<_> = walk(&dir).into_iter().filter(|p| p.to_string_lossy().ends_with(".tmp")).collect();
    assert!(temporaries.is_empty(), "temporary files left: {temporaries:?}");
    assert!(has_checkpoint(), "the epochs done keep their checkpoints");
}

/// Ctrl-C inside an epoch writes a checkpoint of where the epoch stands
/// (though `every:` would not have written one yet), and `--resume` ends
/// with the predictions of a run never interrupted.
#[cfg(unix)]
#[test]
fn an_interrupted_epoch_is_checkpointed_and_resumes_exactly() {
    let text = "import std.models { mlp }\nsource iris = csv(\"iris.csv\")\n\
         train run = mlp(hidden: [32], out: 3) on iris {\n    target: label\n    epochs: 40\n    batch: 1\n    seed: 3\n    checkpoint: checkpoint(every: 1000)\n}\n\
         output p = iris |> predict(run) |> write(\"p.csv\")\n";
    let setup = |name: &str| {
        let dir = temp_dir(name);
        std::fs::copy(repo("data/iris.csv"), dir.join("iris.csv")).unwrap();
        std::fs::write(dir.join("main.pipe"), text).unwrap();
        dir
    };
    let whole = setup("interrupted_epoch_whole");
    let output = pipe().args(["run", "--no-cache", whole.join("main.pipe").to_str().unwrap()]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let dir = setup("interrupted_epoch");
    let file = dir.join("main.pipe");
    let child = pipe()
        .args(["run", "--no-cache", file.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pipe runs");
    // The run folder appears when the training starts.
    let start = std::time::Instant::now();
    while walk(&dir.join("runs")).iter().all(|p| !p.join("settings.json").exists()) {
        assert!(start.elapsed().as_secs() < 120, "no training within 120 s");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let killed = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "interrupted before the end: {}", stderr(&output));
    let checkpoints: Vec<String> = walk(&dir.join("runs"))
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter(|n| n.starts_with("epoch-"))
        .collect();
    assert_eq!(checkpoints.len(), 1, "the interruption's checkpoint: {checkpoints:?}");
    let resumed = pipe().args(["run", "--no-cache", "--resume", file.to_str().unwrap()]).output().unwrap();
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(stderr(&resumed).contains("resuming from"), "{}", stderr(&resumed));
    let expected = std::fs::read_to_string(whole.join("p.csv")).unwrap();
    assert_eq!(std::fs::read_to_string(dir.join("p.csv")).unwrap(), expected, "the same predictions");
    // And the same training, epoch by epoch, to the last bit of each loss.
    let losses = |dir: &Path| -> Vec<f64> {
        let trained =
            walk(&dir.join("runs")).into_iter().find(|p| p.ends_with("trained.json")).expect("a finished run");
        let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(trained).unwrap()).unwrap();
        meta["history"].as_array().unwrap().iter().map(|e| e["loss"].as_f64().unwrap()).collect()
    };
    let (whole_losses, resumed_losses) = (losses(&whole), losses(&dir));
    assert_eq!(whole_losses.len(), 40);
    assert_eq!(resumed_losses, whole_losses);
}

/// Every path under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

/// A file with CR-only line ends (old Mac editors) reads as editors show
/// it: its comment no longer swallows the items after it (the run wrote
/// nothing and said only "empty file").
#[test]
fn cr_only_line_ends_are_newlines() {
    let dir = temp_dir("cr_only");
    std::fs::write(dir.join("d.csv"), "x,y\n1,2\n3,4\n").unwrap();
    let file = dir.join("main.pipe");
    std::fs::write(
        &file,
        "// doubles x\rsource d = csv(\"d.csv\")\routput o = d |> with(x2: x * 2) |> write(\"o.csv\")\r",
    )
    .unwrap();
    let ran = run(&["run", file.to_str().unwrap()]);
    assert_eq!(ran.status.code(), Some(0), "{}", stderr(&ran));
    assert!(!stderr(&ran).contains("empty"), "{}", stderr(&ran));
    assert_eq!(std::fs::read_to_string(dir.join("o.csv")).unwrap(), "x,y,x2\n1,2,2\n3,4,6\n");
    // A mistake on the third line is reported on line 3.
    std::fs::write(&file, "// doubles x\rsource d = csv(\"d.csv\")\routput o = d |> select(z) |> write(\"o.csv\")\r")
        .unwrap();
    let refused = run(&["check", "--format", "json", file.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stdout(&refused).contains("\"line\":3"), "{}", stdout(&refused));
}

/// `pipe fmt` on a symbolic link rewrites the file it points to and keeps
/// the link (it replaced the link with a file).
#[cfg(unix)]
#[test]
fn fmt_keeps_a_symbolic_link() {
    let dir = temp_dir("fmt_link");
    std::fs::create_dir_all(dir.join("real")).unwrap();
    let real = dir.join("real/messy.pipe");
    std::fs::write(&real, "let   seed=42\n").unwrap();
    let link = dir.join("link.pipe");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let fmt = run(&["fmt", link.to_str().unwrap()]);
    assert_eq!(fmt.status.code(), Some(0), "{}", stderr(&fmt));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "still a link");
    assert_eq!(std::fs::read_to_string(&real).unwrap(), "let seed = 42\n");
}

/// A CSV with a header and no rows is told as such, not as columns of text
/// that `standard` cannot scale.
#[test]
fn a_header_only_csv_says_it_has_no_rows() {
    let dir = temp_dir("header_only");
    std::fs::write(dir.join("d.csv"), "x,y\n").unwrap();
    let file = dir.join("main.pipe");
    std::fs::write(&file, "source d = csv(\"d.csv\")\noutput o = d |> standard(x) |> write(\"o.csv\")\n").unwrap();
    let checked = run(&["check", file.to_str().unwrap()]);
    assert_eq!(checked.status.code(), Some(1));
    let err = stderr(&checked);
    assert!(err.contains("pipe::check::source_unreadable") && err.contains("no rows"), "{err}");
    assert!(!err.contains("numeric"), "{err}");
}

/// `pipe predict RUN DATA -o DATA` would replace the data with its
/// predictions: refused before the run folder is even read, data untouched.
#[test]
fn predict_never_writes_over_its_data() {
    let dir = temp_dir("predict_over_data");
    std::fs::write(dir.join("d.csv"), "x\n1\n").unwrap();
    let data = dir.join("d.csv");
    let same = dir.join("./d.csv");
    let refused =
        run(&["predict", dir.join("runs/r1").to_str().unwrap(), data.to_str().unwrap(), "-o", same.to_str().unwrap()]);
    assert_ne!(refused.status.code(), Some(0));
    assert!(
        stderr(&refused).contains("pipe::cli::usage") && stderr(&refused).contains("would replace it"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(std::fs::read_to_string(&data).unwrap(), "x\n1\n");
}

/// `pipe lr-find`: the rates grow from 1e-7 geometrically, the losses and
/// their moving average are written as a CSV and a PNG, and the rate it
/// suggests is fastai 2.7's `valley` (its code, verbatim, run by Python)
/// on the CSV's smoothed losses.
#[test]
fn lr_find_writes_the_curve_and_suggests_fastais_valley() {
    let Some(python) = crate::run::provided("PIPE_TEST_PYTHON") else { return };
    let dir = temp_dir("lr_find");
    let png = dir.join("lr.png");
    let output = run(&["lr-find", &repo("pipelines/breast_cancer.pipe"), "diagnosis", "-o", png.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(&std::fs::read(&png).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    let csv = std::fs::read_to_string(dir.join("lr.csv")).unwrap();
    let rows: Vec<Vec<f64>> = csv.lines().skip(1).map(|l| l.split(',').map(|v| v.parse().unwrap()).collect()).collect();
    assert!(rows.len() >= 50, "{} steps", rows.len());
    assert_eq!(rows[0][0], 1e-7);
    let ratio = 1e8f64.powf(1.0 / 99.0);
    for pair in rows.windows(2) {
        assert!((pair[1][0] / pair[0][0] - ratio).abs() < 1e-9, "{pair:?}");
    }
    let said = format!("{}{}", stdout(&output), stderr(&output));
    let suggested = said.split("suggested (valley): ").nth(1).and_then(|s| s.split_whitespace().next()).unwrap();
    let script = r#"
import sys, csv
rows = list(csv.DictReader(open(sys.argv[1])))
lrs, losses = [float(r["lr"]) for r in rows], [float(r["smoothed_loss"]) for r in rows]
n = len(losses)
max_start, max_end = 0, 0
lds = [1]*n
for i in range(1, n):
    for j in range(0, i):
        if (losses[i] < losses[j]) and (lds[i] < lds[j] + 1):
            lds[i] = lds[j] + 1
        if lds[max_end] < lds[i]:
            max_end = i
            max_start = max_end - lds[max_end]
sections = (max_end - max_start) / 3
idx = max_start + int(sections) + int(sections/2)
print(repr(lrs[idx]))
"#;
    let reference = Command::new(python).args(["-c", script, dir.join("lr.csv").to_str().unwrap()]).output().unwrap();
    assert!(reference.status.success(), "{}", stderr(&reference));
    // A CSV beside the PNG asked for that lr-find did not write stays.
    std::fs::write(dir.join("data.csv"), "a,b\n1,2\n").unwrap();
    let args = ["lr-find", &repo("pipelines/breast_cancer.pipe"), "diagnosis", "-o"];
    let refused = run(&[&args[..], &[dir.join("data.png").to_str().unwrap()]].concat());
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert_eq!(std::fs::read_to_string(dir.join("data.csv")).unwrap(), "a,b\n1,2\n");
    assert!(!dir.join("data.png").exists());
    // Printed to 3 digits; neighbouring steps' rates differ by 20%.
    let (ours, fastai): (f64, f64) = (suggested.parse().unwrap(), stdout(&reference).trim().parse().unwrap());
    assert!((ours / fastai - 1.0).abs() < 5e-3, "pipe {ours}, fastai {fastai}: {said}");
    // Rates whose ratio is past an f64, and steps past what memory holds,
    // are refused before anything trains.
    let png = dir.join("refused.png");
    for (flags, said) in [
        (["--start", "1e-300", "--end", "1e300"], "past what a number holds"),
        (["--steps", "100000000000000000", "--end", "1"], "--steps must be from 2 to 100000"),
    ] {
        let refused = run(&[&args[..], &[png.to_str().unwrap()], &flags[..]].concat());
        assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
        assert!(stderr(&refused).contains(said), "{}", stderr(&refused));
        assert!(!png.exists());
    }
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let dir = crate::run::scratch("closed_pipe");
    let text = std::fs::read_to_string(repo("pipelines/iris.pipe")).unwrap();
    std::fs::write(dir.join("iris.pipe"), text.replace("\"../data/", &format!("\"{}/", repo("data")))).unwrap();
    let script =
        format!("'{}' --format json run --no-cache iris.pipe | head -c 1 >/dev/null", env!("CARGO_BIN_EXE_pipe"));
    let out = std::process::Command::new("sh").arg("-c").arg(script).current_dir(dir).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked") && !stderr.contains("internal error"), "{stderr}");
}
