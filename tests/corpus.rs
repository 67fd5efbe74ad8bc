//! The bad-input corpus, run as a user runs it: every UI case (malformed
//! files, checker mistakes, realistic mistakes, run-time failures) through
//! the `pipe` binary. Each must end within a minute, with a coded
//! diagnostic and a failing exit (or, for a case that only warns, a
//! successful one with the warning's code), no panic and no "internal
//! error", its inputs untouched and no temporary file left. The totals are
//! printed and asserted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::run::{repo, scratch};

/// What one case did.
#[derive(Debug, Default)]
struct Outcome {
    coded: bool,
    panicked: bool,
    hung: bool,
    lost: Vec<String>,
}

/// Every file under `dir`, with its contents (the corpus' inputs are small).
fn contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            let kind = entry.file_type().expect("file type");
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                out.insert(path.clone(), std::fs::read(&path).expect("readable input"));
            }
        }
    }
    out
}

/// Runs `pipe` with `args` in `dir`, at most a minute.
fn outcome(dir: &Path, args: &[&str]) -> Outcome {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pipe"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pipe starts");
    let start = Instant::now();
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let text = reader.join().expect("stderr read");
    let Some(status) = status else { return Outcome { hung: true, ..Outcome::default() } };
    let panicked = text.contains("panicked") || text.contains("internal error") || status.code().is_none_or(|c| c > 2);
    // A failing case names its code; a case that only warns exits 0 with it.
    let coded = text.contains("pipe::") && (status.code() == Some(1) || text.contains(" ⚠ "));
    Outcome { coded, panicked, hung: false, lost: Vec::new() }
}

/// The files that changed or disappeared, and the temporary files left.
fn damage(before: &BTreeMap<PathBuf, Vec<u8>>, after: &BTreeMap<PathBuf, Vec<u8>>) -> Vec<String> {
    let mut lost: Vec<String> = before
        .iter()
        .filter(|(path, bytes)| after.get(*path) != Some(bytes))
        .map(|(path, _)| format!("{} changed or gone", path.display()))
        .collect();
    lost.extend(
        after
            .keys()
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().ends_with(".tmp")))
            .map(|p| format!("{} left behind", p.display())),
    );
    lost
}

fn pipe_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("case folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "pipe"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_bad_input_is_a_coded_diagnostic_with_nothing_lost() {
    let ui = repo().join("tests/ui");
    let mut outcomes: Vec<(String, Outcome)> = Vec::new();
    // Checked in place: `pipe check` writes nothing, and the tree must not change.
    let inputs_before = (contents(&ui), contents(&repo().join("data")));
    for folder in ["syntax", "check", "check/corpus"] {
        for case in pipe_files(&ui.join(folder)) {
            // This case is about a build without libtorch.
            if cfg!(feature = "tch") && case.ends_with("libtorch_device_without_the_feature.pipe") {
                continue;
            }
            let name = case.file_name().unwrap().to_string_lossy().into_owned();
            let outcome = outcome(&ui.join(folder), &["check", &name]);
            outcomes.push((format!("{folder}/{name}"), outcome));
        }
    }
    let inputs_after = (contents(&ui), contents(&repo().join("data")));
    let mut changed = damage(&inputs_before.0, &inputs_after.0);
    changed.extend(damage(&inputs_before.1, &inputs_after.1));
    assert!(changed.is_empty(), "pipe check changed files: {changed:?}");
    // Run in a copy each, which must keep its inputs.
    for case in pipe_files(&ui.join("run")) {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let dir = scratch(&format!("corpus_{name}"));
        copy_inputs(&ui.join("run"), &dir);
        let before = contents(&dir);
        let text = std::fs::read_to_string(&case).expect("case");
        let only = text.lines().next().and_then(|l| l.strip_prefix("// only: "));
        let memory = text.lines().find_map(|l| l.strip_prefix("// memory: "));
        let mut args = vec!["run", "--no-cache", name.as_str()];
        args.extend(only);
        if let Some(memory) = memory {
            args.extend(["--memory", memory]);
        }
        let mut outcome = outcome(&dir, &args);
        let after = contents(&dir);
        outcome.lost = damage(&before, &after);
        outcomes.push((format!("run/{name}"), outcome));
    }
    let total = outcomes.len();
    let coded = outcomes.iter().filter(|(_, o)| o.coded).count();
    let panics: Vec<&str> = outcomes.iter().filter(|(_, o)| o.panicked).map(|(n, _)| n.as_str()).collect();
    let hangs: Vec<&str> = outcomes.iter().filter(|(_, o)| o.hung).map(|(n, _)| n.as_str()).collect();
    let losses: Vec<String> = outcomes.iter().flat_map(|(_, o)| o.lost.clone()).collect();
    let uncoded: Vec<&str> = outcomes.iter().filter(|(_, o)| !o.coded && !o.hung).map(|(n, _)| n.as_str()).collect();
    println!(
        "corpus: {total} cases, {coded} coded diagnostics, {} panics, {} hangs, {} data losses",
        panics.len(),
        hangs.len(),
        losses.len()
    );
    assert!(total >= 100, "the corpus has {total} cases, at least 100 wanted");
    assert!(panics.is_empty(), "panics: {panics:?}");
    assert!(hangs.is_empty(), "hangs: {hangs:?}");
    assert!(losses.is_empty(), "data lost: {losses:?}");
    assert!(uncoded.is_empty(), "without a coded diagnostic: {uncoded:?}");
}

/// The run cases' inputs (data files and folders, not their snapshots or
/// the run folders earlier runs left).
fn copy_inputs(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("run cases").flatten() {
        let name = entry.file_name();
        if name == "snapshots" || name == "runs" {
            continue;
        }
        copy(&entry.path(), &to.join(&name));
    }
}

fn copy(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).expect("folder");
        for entry in std::fs::read_dir(from).expect("folder").flatten() {
            copy(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).expect("copy");
    }
}
