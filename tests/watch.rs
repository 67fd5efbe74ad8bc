//! `pipe watch` through the binary: edits in place, by rename, with a
//! syntax error and its fix; a data file changing; a learning rate changed
//! during a training, taken without a restart; a sweep given a new value.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use crate::run::{repo, scratch};

/// A running `pipe watch` and the lines it printed.
struct Watch {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Watch {
    fn start(file: &Path) -> Self {
        Self::start_with(file, &[])
    }

    /// `pipe watch FILE` with more arguments.
    fn start_with(file: &Path, more: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pipe"))
            .args(["watch", file.to_str().unwrap()])
            .args(more)
            .env("NO_COLOR", "1")
            .env("COLUMNS", "100")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("pipe watch starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watch { child, lines, seen: Vec::new() }
    }

    /// The lines printed until one contains `needle` (that one included).
    fn until(&mut self, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut got = Vec::new();
        while Instant::now() < deadline {
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(100)) {
                self.seen.push(line.clone());
                got.push(line.clone());
                if line.contains(needle) {
                    return got;
                }
            }
        }
        panic!("no line with {needle:?} within 60 s; printed:\n{}", self.seen.join("\n"));
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `text` to `path` the way many editors save: a new file renamed
/// over the old one.
fn save_by_rename(path: &Path, text: &str) {
    let temp: PathBuf = path.with_extension("swp");
    std::fs::write(&temp, text).unwrap();
    std::fs::rename(&temp, path).unwrap();
}

const PIPELINE: &str = r#"source d = csv("d.csv")
stage a = d |> filter(x > 1)
stage b = a |> standard(y)
output o = b |> write("out/o.csv")
"#;

#[test]
fn edits_rerun_only_what_changed_and_errors_keep_the_results() {
    let dir = scratch("watch_edits");
    std::fs::write(dir.join("d.csv"), "x,y\n1,10\n2,20\n3,30\n4,40\n").unwrap();
    let file = dir.join("main.pipe");
    std::fs::write(&file, PIPELINE).unwrap();
    let mut watch = Watch::start(&file);
    let first = watch.until("watching for changes");
    assert!(first.iter().any(|l| l.contains("stage      b") && l.contains(" s")), "{first:?}");
    // In place: only `b` and what reads it run again.
    std::fs::write(&file, PIPELINE.replace("standard(y)", "minmax(y)")).unwrap();
    let second = watch.until("watching for changes");
    assert!(second.iter().any(|l| l == "plan: a cached · b changed · o re-run"), "{second:?}");
    assert!(second.iter().any(|l| l.contains("stage      a") && l.ends_with("cached")), "{second:?}");
    assert!(second.iter().any(|l| l.contains("stage      b") && !l.ends_with("cached")), "{second:?}");
    assert_eq!(std::fs::read_to_string(dir.join("out/o.csv")).unwrap(), "x,y\n2,0.0\n3,0.5\n4,1.0\n");
    // A syntax error: its diagnostic, and the results stay.
    std::fs::write(&file, "source d = csv(\"d.csv\")\nstage a = d |> filter(x > 1\n").unwrap();
    let broken = watch.until("the last good results are kept");
    assert!(broken.iter().any(|l| l.contains("pipe::syntax::unclosed_delimiter")), "{broken:?}");
    assert!(dir.join("out/o.csv").exists());
    // Fixed by a rename-save: everything is in the cache.
    save_by_rename(&file, &PIPELINE.replace("standard(y)", "minmax(y)"));
    let fixed = watch.until("watching for changes");
    assert!(fixed.iter().any(|l| l.contains("ran 1 item (1 cached)")), "{fixed:?}");
    // The data changes: everything runs again, with the new numbers.
    std::fs::write(dir.join("d.csv"), "x,y\n1,10\n2,20\n3,30\n4,60\n").unwrap();
    let data = watch.until("watching for changes");
    assert!(data.iter().any(|l| l.contains("ran 4 items (0 cached)")), "{data:?}");
    assert_eq!(std::fs::read_to_string(dir.join("out/o.csv")).unwrap(), "x,y\n2,0.0\n3,0.25\n4,1.0\n");
}

#[test]
fn a_new_learning_rate_reaches_a_running_training_without_a_restart() {
    let dir = scratch("watch_live_lr");
    let csv = repo().join("data/people.csv");
    let text = format!(
        r#"import std.models {{ mlp }}
source people = csv("{}")
transform prep = fit(people) {{
    standard(f0..f31)
    drop(city, age, income)
}}
train net = mlp(hidden: [64], out: 2) on prep(people) {{
    target: label
    optimizer: adam(lr: 1e-3)
    batch: 64
    epochs: 2000
}}
"#,
        csv.display()
    );
    let file = dir.join("main.pipe");
    std::fs::write(&file, &text).unwrap();
    let mut watch = Watch::start(&file);
    watch.until("epoch    3/2000");
    std::fs::write(&file, text.replace("lr: 1e-3", "lr: 5e-2").replace("epochs: 2000", "epochs: 1000")).unwrap();
    let rest = watch.until("/1000  loss");
    assert!(rest.iter().any(|l| l.contains("new settings applied")), "{rest:?}");
    assert!(rest.last().is_some_and(|l| l.contains("lr 5.00e-2")), "the next epoch runs at the new rate: {rest:?}");
    assert!(!rest.iter().any(|l| l.contains("stopping the run")), "no restart: {rest:?}");
}

/// An image added to a class folder of an `images(...)` source runs the
/// pipeline again (the folders are watched, not just named files).
#[test]
fn an_image_added_to_a_class_folder_reruns_the_pipeline() {
    let dir = scratch("watch_images");
    for class in ["a", "b"] {
        std::fs::create_dir_all(dir.join("pictures").join(class)).unwrap();
        std::fs::copy(repo().join("tests/data/images/rgba.png"), dir.join("pictures").join(class).join("1.png"))
            .unwrap();
    }
    let file = dir.join("main.pipe");
    let text = "source pictures = images(\"pictures\", size: [2, 2], channels: 3)\n\
                output pictures |> write(\"out/pictures.parquet\")\n";
    std::fs::write(&file, text).unwrap();
    let mut watch = Watch::start(&file);
    let first = watch.until("watching for changes");
    assert!(first.iter().any(|l| l.contains("source") && l.contains("2 rows")), "{first:?}");
    std::fs::copy(repo().join("tests/data/images/rgba.png"), dir.join("pictures/b/2.png")).unwrap();
    let second = watch.until("watching for changes");
    assert!(second.iter().any(|l| l.contains("source") && l.contains("3 rows")), "{second:?}");
}

#[test]
fn a_file_added_to_a_glob_reruns_the_pipeline_with_it() {
    let dir = scratch("watch_glob");
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    std::fs::write(dir.join("logs/1.csv"), "x,y\n1,2\n3,4\n").unwrap();
    let file = dir.join("main.pipe");
    std::fs::write(&file, "source logs = csv(\"logs/*.csv\")\noutput o = logs |> write(\"out/o.csv\")\n").unwrap();
    let mut watch = Watch::start(&file);
    let first = watch.until("watching for changes");
    assert!(first.iter().any(|l| l.contains("output") && l.contains("2 rows")), "{first:?}");
    std::fs::write(dir.join("logs/2.csv"), "x,y\n5,6\n").unwrap();
    let second = watch.until("watching for changes");
    assert!(second.iter().any(|l| l.contains("output") && l.contains("3 rows")), "{second:?}");
    assert_eq!(std::fs::read_to_string(dir.join("out/o.csv")).unwrap(), "x,y\n1,2\n3,4\n5,6\n");
}

#[test]
fn a_sweep_under_watch_trains_only_the_points_an_edit_adds() {
    let dir = scratch("watch_sweep");
    let text = std::fs::read_to_string(repo().join("pipelines/iris.pipe"))
        .unwrap()
        .replace("\"../data/", &format!("\"{}/data/", repo().display()))
        .replace("optimizer: adam(lr: 1e-2)", "optimizer: adam(lr: sweep([1e-3, 1e-2]))")
        .replace("epochs: 100", "epochs: 3");
    let file = dir.join("main.pipe");
    std::fs::write(&file, &text).unwrap();
    let mut watch = Watch::start(&file);
    let first = watch.until("watching for changes");
    assert!(first.iter().any(|l| l.contains("2 points ranked by val.loss")), "{first:?}");
    // A value added: the two points before come from the cache.
    std::fs::write(&file, text.replace("sweep([1e-3, 1e-2])", "sweep([1e-3, 1e-2, 3e-2])")).unwrap();
    let second = watch.until("watching for changes");
    let points: Vec<&String> = second.iter().filter(|l| l.contains(" point ") && l.contains("/3:")).collect();
    assert_eq!(points.len(), 3, "{second:?}");
    assert!(points[0].ends_with("(cached)") && points[1].ends_with("(cached)"), "{points:?}");
    assert!(!points[2].ends_with("(cached)") && points[2].contains("lr = 3e-2"), "{points:?}");
    assert!(second.iter().any(|l| l.contains("3 points ranked by val.loss")), "{second:?}");
}

#[test]
fn watch_keeps_the_report_page_of_the_runs_up_to_date() {
    let dir = scratch("watch_report");
    let data = repo().join("data/iris.csv");
    let text = |epochs: usize| {
        format!(
            "import std.models {{ mlp }}\nsource iris = csv(\"{}\")\n\
             split train, val = iris |> split([0.8, 0.2], seed: 1)\n\
             train species = mlp(hidden: [4], out: 3) on train {{\n    target: label\n    validate: val\n    epochs: {epochs}\n}}\n",
            data.display()
        )
    };
    let file = dir.join("main.pipe");
    std::fs::write(&file, text(2)).unwrap();
    let page = dir.join("report.html");
    let mut watch = Watch::start_with(&file, &["--report", page.to_str().unwrap()]);
    let first = watch.until("watching for changes");
    assert!(first.iter().any(|l| l.contains("wrote") && l.contains("(1 run,")), "{first:?}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("http-equiv=\"refresh\""), "the page reloads itself");
    assert_eq!(html.matches("\"status\":\"finished\"").count(), 1);
    // An edit trains again: the page then has both runs.
    std::fs::write(&file, text(3)).unwrap();
    let second = watch.until("watching for changes");
    assert!(second.iter().any(|l| l.contains("wrote") && l.contains("(2 runs")), "{second:?}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(html.matches("\"status\":\"finished\"").count(), 2);
}
