//! `pipe report`: the page holds every run with the numbers its folder
//! holds (read here from `trained.json` and the evaluation's JSON), loads
//! nothing from the network, and renders in headless Chromium without a
//! console message, with the curves, rows and sweep lines expected counted
//! in the DOM it builds.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::run::{provided, repo, scratch};

/// A 4-point sweep on iris, its best point evaluated with ROC/PR curves.
fn sweep_text() -> String {
    let data = repo().join("data/iris.csv");
    format!(
        r#"import std.models {{ mlp }}

source iris = csv("{}")

split train, val, test = iris |> split([0.6, 0.2, 0.2], stratify: label, seed: 7)

transform prep = fit(train) {{
    standard(sepal_length_cm, sepal_width_cm, petal_length_cm, petal_width_cm)
}}

model net = mlp(hidden: sweep([[8], [16, 16]]), out: 3)

train species = net on prep(train) {{
    target: label
    validate: prep(val)
    optimizer: adam(lr: sweep([3e-3, 3e-2]))
    batch: 16
    epochs: 10
    seed: 7
}}

evaluate report = species on prep(test) {{
    metrics: [accuracy, auc, confusion]
    curves: "curves"
}}
"#,
        data.display()
    )
}

fn pipe(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pipe")).args(args).current_dir(dir).output().expect("pipe runs")
}

/// The run folders under `dir/runs/species`, read.
fn trained(dir: &Path) -> Vec<Value> {
    let mut folders: Vec<_> = std::fs::read_dir(dir.join("runs/species"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("trained.json").exists())
        .collect();
    folders.sort();
    folders.iter().map(|f| serde_json::from_slice(&std::fs::read(f.join("trained.json")).unwrap()).unwrap()).collect()
}

/// How often `needle` occurs in `text`.
fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

/// The part of `dom` from the element carrying `marker` to the next
/// `</svg>` (one chart).
fn chart<'a>(dom: &'a str, marker: &str) -> &'a str {
    let start = dom.find(marker).unwrap_or_else(|| panic!("the page has {marker}"));
    let end = dom[start..].find("</svg>").map_or(dom.len(), |e| start + e);
    &dom[start..end]
}

#[test]
fn report_shows_each_run_and_renders_cleanly_in_chromium() {
    let dir = scratch("report_page");
    std::fs::write(dir.join("main.pipe"), sweep_text()).unwrap();
    let ran = pipe(&dir, &["run", "main.pipe"]);
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    let runs = trained(&dir);
    assert_eq!(runs.len(), 4, "one run folder per point");

    let made = pipe(&dir, &["report", "-o", "report.html"]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.len() < 2 << 20, "{} bytes", html.len());
    for outside in ["src=\"http", "href=\"http", "url(http", "@import", "<link", "<script src"] {
        assert!(!html.contains(outside), "the page loads nothing from outside ({outside})");
    }

    let Some(chromium) = provided("PIPE_TEST_CHROMIUM") else { return };
    let url = format!("file://{}", dir.join("report.html").display());
    let dumped = Command::new(&chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0", "--dump-dom", &url])
        .output()
        .expect("chromium runs");
    let log = String::from_utf8_lossy(&dumped.stderr);
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "the page logs nothing to the console: {console:#?}");
    let dom = String::from_utf8_lossy(&dumped.stdout);
    assert!(dom.contains("data-rendered=\"true\""), "the script ran to its end");

    // A row per run, each with its best validation loss as trained.json has it.
    assert_eq!(count(&dom, "<tr class=\"run"), runs.len());
    for run in &runs {
        let history = run["history"].as_array().unwrap();
        let best = history.iter().filter_map(|e| e["val"]["loss"].as_f64()).fold(f64::INFINITY, f64::min);
        let cell = format!("data-metric=\"best_val_loss\" data-sort=\"{best}\"");
        assert!(dom.contains(&cell), "a row shows best_val_loss {best}");
    }
    // Learning curves: a training and a validation line per run and a dot
    // at each run's kept epoch; the learning rate has training lines only.
    let loss = chart(&dom, "data-chart=\"loss\"");
    assert_eq!((count(loss, "class=\"curve train"), count(loss, "class=\"curve val")), (4, 4));
    assert_eq!(count(loss, "class=\"kept"), 4);
    let lr = chart(&dom, "data-chart=\"lr\"");
    assert_eq!((count(lr, "class=\"curve train"), count(lr, "class=\"curve val")), (4, 0));
    // The sweep: a line per point over the two swept values and the metric.
    let parallel = chart(&dom, "data-chart=\"parallel\"");
    assert_eq!(count(parallel, "class=\"pc-line"), 4);
    assert_eq!(count(&dom, "class=\"dot"), 8, "a dot per point in each of the two scatters");
    // The evaluation of the best point: its confusion matrix as its JSON
    // holds it, and a ROC and a PR line per class.
    let best_folder = std::fs::read_dir(dir.join("runs/species"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path().join("evaluate-report.json"))
        .find(|p| p.exists())
        .expect("the evaluation is written into the best point's folder");
    let evaluation: Value = serde_json::from_slice(&std::fs::read(best_folder).unwrap()).unwrap();
    assert_eq!(count(&dom, "<table class=\"confusion\""), 1);
    let confusion = &dom[dom.find("<table class=\"confusion\"").unwrap()..];
    let confusion = &confusion[..confusion.find("</table>").unwrap()];
    let cells: Vec<u64> = confusion
        .split("<td ")
        .skip(1)
        .map(|cell| cell[cell.find('>').unwrap() + 1..cell.find("</td>").unwrap()].parse().unwrap())
        .collect();
    let expected: Vec<u64> = evaluation["confusion"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().clone())
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(cells, expected);
    assert_eq!(count(chart(&dom, "data-chart=\"roc\""), "class=\"eval-curve"), 3);
    assert_eq!(count(chart(&dom, "data-chart=\"pr\""), "class=\"eval-curve"), 3);
    let ms: f64 = dom.split("data-render-ms=\"").nth(1).and_then(|s| s.split('"').next()).unwrap().parse().unwrap();
    assert!(ms < 2000.0, "rendered in {ms} ms");

    // A screenshot, kept beside the test's files for people to look at.
    let shot = dir.join("report.png");
    let took = Command::new(&chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1400,2400"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .expect("chromium runs");
    assert!(took.status.success(), "{}", String::from_utf8_lossy(&took.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.len() > 20_000, "the screenshot shows a drawn page ({} bytes)", png.len());
}

#[test]
fn report_without_runs_says_where_it_looked() {
    let dir = scratch("report_none");
    let out = pipe(&dir, &["report", "-o", "report.html"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no runs in"), "{stderr}");
    assert!(!dir.join("report.html").exists(), "nothing is written");
}

#[test]
fn report_replaces_only_a_page_it_wrote() {
    let dir = scratch("report_replace");
    std::fs::write(dir.join("main.pipe"), sweep_text()).unwrap();
    assert!(pipe(&dir, &["run", "main.pipe"]).status.success());
    // A user's file under the name given: refused, untouched.
    std::fs::write(dir.join("notes.html"), "<p>my notes</p>").unwrap();
    let refused = pipe(&dir, &["report", "-o", "notes.html"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not replaced"));
    assert_eq!(std::fs::read_to_string(dir.join("notes.html")).unwrap(), "<p>my notes</p>");
    // Its own page: written again.
    assert!(pipe(&dir, &["report", "-o", "report.html"]).status.success());
    let again = pipe(&dir, &["report", "-o", "report.html"]);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
}
