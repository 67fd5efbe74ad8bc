//! What `pipe` wrote is verified before it is read back: a run folder
//! (`pipe predict`), a `save:` folder (`load(...)`), a checkpoint
//! (`--resume`) and the stage cache. And the cache folder is shared
//! safely: two runs at once wait for each other, and a folder that cannot
//! be written costs only the caching.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::run::{repo, scratch};

fn pipe(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipe"))
        .args(args)
        .current_dir(dir)
        // Wide: the messages tested are not wrapped.
        .env("COLUMNS", "400")
        .env("NO_COLOR", "1")
        .output()
        .expect("the pipe binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The iris example with its data path made absolute, written to
/// `dir/iris.pipe` (fewer epochs, and a checkpoint every epoch).
fn iris(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("pipelines/iris.pipe")).expect("example");
    let text = text
        .replace("\"../data/", &format!("\"{}/data/", repo().display()))
        .replace("epochs: 100", "epochs: 4\n    checkpoint: checkpoint(every: 1, keep: 1)");
    std::fs::write(dir.join("iris.pipe"), text).expect("write");
    dir.join("iris.pipe")
}

/// A scratch folder `name` where the iris example has trained once.
fn trained_iris(name: &str) -> PathBuf {
    let dir = scratch(name);
    iris(&dir);
    let ran = pipe(&dir, &["run", "--no-cache", "iris.pipe"]);
    assert!(ran.status.success(), "{}", stderr(&ran));
    dir
}

/// The one run folder of `species` in `dir`.
fn run_folder(dir: &Path) -> PathBuf {
    let mut runs: Vec<PathBuf> =
        std::fs::read_dir(dir.join("runs/species")).expect("runs").flatten().map(|e| e.path()).collect();
    runs.sort();
    runs.pop().expect("a run folder")
}

/// Flips one bit in the middle of a file.
fn flip_a_bit(path: &Path) {
    let mut bytes = std::fs::read(path).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(path, bytes).expect("write");
}

/// A run folder copied under another time stamp, for one kind of damage.
fn copy_run(run: &Path, name: &str) -> PathBuf {
    let copy = run.with_file_name(name);
    std::fs::create_dir_all(&copy).expect("folder");
    for entry in std::fs::read_dir(run).expect("run").flatten() {
        if entry.path().is_file() {
            std::fs::copy(entry.path(), copy.join(entry.file_name())).expect("copy");
        }
    }
    copy
}

#[test]
fn predict_refuses_a_run_folder_whose_files_changed_and_names_the_file() {
    let dir = trained_iris("integrity_predict");
    let run = run_folder(&dir);
    let data = repo().join("data/iris.csv").display().to_string();
    let intact = pipe(&dir, &["predict", run.to_str().unwrap(), &data, "-o", "intact.csv"]);
    assert!(intact.status.success(), "{}", stderr(&intact));

    let flipped = copy_run(&run, "1-flipped");
    flip_a_bit(&flipped.join("model.bpk"));
    let edited = copy_run(&run, "2-edited");
    let trained = std::fs::read_to_string(edited.join("trained.json")).unwrap();
    std::fs::write(edited.join("trained.json"), trained.replacen("\"virginica\"", "\"Virginica\"", 1)).unwrap();
    let deleted = copy_run(&run, "3-deleted");
    std::fs::remove_file(deleted.join("model.bpk")).unwrap();
    let unrecorded = copy_run(&run, "4-unrecorded");
    std::fs::remove_file(unrecorded.join("checksums.json")).unwrap();
    let cases = [
        (&flipped, "`model.bpk` changed since `pipe` wrote it"),
        (&edited, "`trained.json` changed since `pipe` wrote it"),
        (&deleted, "`model.bpk` is missing"),
        (&unrecorded, "`checksums.json` is missing"),
    ];
    for (folder, expected) in cases {
        let out = format!("{}.csv", folder.file_name().unwrap().to_string_lossy());
        let refused = pipe(&dir, &["predict", folder.to_str().unwrap(), &data, "-o", &out]);
        let text = stderr(&refused);
        assert_eq!(refused.status.code(), Some(1), "{text}");
        assert!(text.contains("pipe::run::damaged") && text.contains(expected), "{expected}: {text}");
        assert!(!text.contains(":1:1]"), "no excerpt of an empty file: {text}");
        assert!(!dir.join(&out).exists(), "nothing written for {out}");
    }
    // The snapshot of one, for the UI test of every code.
    let error = pipe::run::predict::open_run(&flipped).expect_err("damaged");
    let file = pipe::source::SourceFile { name: String::new(), text: "".into() };
    // Wide, so that the folder's name (replaced below) wraps nothing.
    let wide = pipe::diagnostic::Style::Human { color: false, width: 400 };
    let rendered = pipe::diagnostic::render(&error, &file, wide);
    let rendered = rendered.replace(&flipped.display().to_string(), "runs/species/<time>");
    crate::ui::snapshot("run", "predict_damaged_weights", &rendered);
}

/// A run folder whose record was edited and whose checksums were written
/// again to match: the checksums pass, and the record no longer fits the
/// model (fewer features than its input, fewer classes than its outputs)
/// or its transform's steps (a scaling with a number missing, a step
/// without numbers). `pipe predict` and `pipe export` name the misfit
/// instead of panicking in the model, predicting an empty class or
/// scaling part of the columns.
#[test]
fn predict_refuses_a_record_that_does_not_fit_its_model() {
    let dir = trained_iris("integrity_misfit");
    let run = run_folder(&dir);
    let data = repo().join("data/iris.csv").display().to_string();
    // The record with one entry fewer in a list, checksums written again.
    let edit = |name: &str, file: &str, list: &dyn Fn(&mut serde_json::Value) -> &mut serde_json::Value| {
        let copy = copy_run(&run, name);
        let text = std::fs::read_to_string(copy.join(file)).unwrap();
        let mut record: serde_json::Value = serde_json::from_str(&text).unwrap();
        list(&mut record).as_array_mut().unwrap().pop().unwrap();
        std::fs::write(copy.join(file), record.to_string()).unwrap();
        let record = std::fs::read_to_string(copy.join("checksums.json")).unwrap();
        let record: serde_json::Value = serde_json::from_str(&record).unwrap();
        let files: Vec<&str> = record["blake3"].as_object().unwrap().keys().map(String::as_str).collect();
        pipe::files::checksums::record(&copy, &files).unwrap();
        copy
    };
    let features = edit("1-features", "trained.json", &|r| &mut r["features"]);
    let classes = edit("2-classes", "trained.json", &|r| &mut r["classes"]);
    // `prep`'s standard scaling with a center for 3 of its 4 columns, and
    // with no step at all.
    let center = edit("3-center", "transforms.json", &|r| &mut r[0][1][0]["center"]);
    let steps = edit("4-steps", "transforms.json", &|r| &mut r[0][1]);
    let cases = [
        (&features, "its 3 features give 3 values a row, and the model reads 4"),
        (&classes, "it names 2 classes, and the model has 3 outputs"),
        (&center, "numbers for `prep` do not fit its steps: step 1 (`standard`): it has 3 numbers for 4 columns"),
        (&steps, "numbers for `prep` do not fit its steps: 1 steps, and numbers for 0"),
    ];
    for (folder, expected) in cases {
        let out = format!("{}.csv", folder.file_name().unwrap().to_string_lossy());
        let refused = pipe(&dir, &["predict", folder.to_str().unwrap(), &data, "-o", &out]);
        let text = stderr(&refused);
        assert_eq!(refused.status.code(), Some(1), "{text}");
        assert!(text.contains(expected), "{expected}: {text}");
        assert!(!text.contains("internal error") && !text.contains("panicked"), "{text}");
        assert!(!dir.join(&out).exists(), "nothing written for {out}");
        let exported = pipe(&dir, &["export", folder.to_str().unwrap(), "-o", "m.safetensors"]);
        assert_eq!(exported.status.code(), Some(1), "{}", stderr(&exported));
        assert!(stderr(&exported).contains(expected), "{}", stderr(&exported));
    }
}

#[test]
fn load_refuses_a_saved_model_whose_weights_changed() {
    let dir = scratch("integrity_load");
    let path = iris(&dir);
    let text =
        std::fs::read_to_string(&path).unwrap().replace("    seed: 7\n", "    seed: 7\n    save: \"models/iris\"\n");
    std::fs::write(&path, text).unwrap();
    let ran = pipe(&dir, &["run", "--no-cache", "iris.pipe"]);
    assert!(ran.status.success(), "{}", stderr(&ran));
    let saved = std::fs::read_dir(dir.join("models/iris")).unwrap().flatten().count();
    assert_eq!(saved, 6, "the copied files, model.pipe and checksums.json");
    let loading = std::fs::read_to_string(repo().join("pipelines/iris.pipe"))
        .unwrap()
        .replace("\"../data/", &format!("\"{}/data/", repo().display()))
        .replace("mlp(hidden: [32, 32], out: 3)", "load(\"models/iris\")")
        .replace("epochs: 100", "epochs: 1");
    std::fs::write(dir.join("again.pipe"), &loading).unwrap();
    let fine = pipe(&dir, &["run", "--no-cache", "again.pipe"]);
    assert!(fine.status.success(), "{}", stderr(&fine));
    flip_a_bit(&dir.join("models/iris/model.bpk"));
    let refused = pipe(&dir, &["run", "--no-cache", "again.pipe"]);
    let text = stderr(&refused);
    assert_eq!(refused.status.code(), Some(1), "{text}");
    assert!(text.contains("pipe::run::damaged") && text.contains("`model.bpk` changed"), "{text}");
    // model.pipe is what `pipe check` reads: an edit there is a check error.
    let model = std::fs::read_to_string(dir.join("models/iris/model.pipe")).unwrap();
    std::fs::write(dir.join("models/iris/model.pipe"), format!("{model}\n")).unwrap();
    let checked = pipe(&dir, &["check", "again.pipe"]);
    let text = stderr(&checked);
    assert_eq!(checked.status.code(), Some(1), "{text}");
    assert!(text.contains("`model.pipe` changed"), "{text}");
}

#[test]
fn resume_refuses_a_damaged_checkpoint() {
    let dir = trained_iris("integrity_resume");
    let checkpoints = run_folder(&dir).join("checkpoints");
    let newest = pipe::train::fit::latest_checkpoint(&checkpoints).expect("a checkpoint");
    flip_a_bit(&newest.join("optimizer.bpk"));
    let resumed = pipe(&dir, &["run", "--no-cache", "--resume", "iris.pipe"]);
    let text = stderr(&resumed);
    assert_eq!(resumed.status.code(), Some(1), "{text}");
    assert!(text.contains("pipe::run::damaged") && text.contains("`optimizer.bpk` changed"), "{text}");
    // The evaluation and the output read the training: it failed once, and
    // they share its error rather than trying again.
    assert_eq!(text.matches("resuming from").count(), 1, "{text}");
    assert_eq!(text.matches("pipe::run::damaged").count(), 1, "{text}");
}

/// The rows of the iris predictions an output wrote.
fn predictions(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("out/iris_predictions.csv")).expect("the output")
}

#[test]
fn a_damaged_cache_entry_is_computed_again_with_a_warning() {
    let dir = scratch("integrity_cache");
    iris(&dir);
    let first = pipe(&dir, &["run", "iris.pipe"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let expected = predictions(&dir);
    let items = dir.join(".pipe-cache/items");
    let mut damaged = 0;
    for entry in std::fs::read_dir(&items).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".parquet") || name.ends_with(".bpk") {
            flip_a_bit(&entry.path());
            damaged += 1;
        }
    }
    assert!(damaged >= 4, "frames and weights in the cache: {damaged}");
    std::fs::remove_file(dir.join("out/iris_predictions.csv")).unwrap();
    let second = pipe(&dir, &["run", "iris.pipe"]);
    let text = stderr(&second);
    assert!(second.status.success(), "{text}");
    assert!(text.contains("pipe::run::cache") && text.contains("is damaged"), "{text}");
    assert!(text.contains("0 errors"), "warnings, not errors: {text}");
    assert_eq!(predictions(&dir), expected, "recomputed to the same rows");
    // And stored again: a third run takes everything from the cache.
    let third = pipe(&dir, &["run", "iris.pipe"]);
    assert!(!stderr(&third).contains("damaged"), "{}", stderr(&third));
    // The snapshot of one warning, keys (hashes) elided.
    let keys = regex::Regex::new("[0-9a-f]{32}").unwrap();
    let start = text.find("pipe::run::cache").expect("a warning");
    let end = start + text[start..].find("\n  help:").expect("its help");
    let end = end + 1 + text[end + 1..].find('\n').expect("a line");
    crate::ui::snapshot("run", "cache_entry_damaged", &keys.replace_all(&text[start..end], "<key>"));
}

#[test]
fn a_cache_folder_that_cannot_be_written_costs_only_the_caching() {
    let dir = scratch("integrity_unwritable_cache");
    iris(&dir);
    std::fs::write(dir.join(".pipe-cache"), "not a folder").unwrap();
    let ran = pipe(&dir, &["run", "iris.pipe"]);
    let text = stderr(&ran);
    assert!(ran.status.success(), "{text}");
    assert!(text.contains("pipe::run::cache") && text.contains("cannot be written"), "{text}");
    assert!(text.contains("0 errors, 1 warning"), "{text}");
    assert!(dir.join("out/iris_predictions.csv").exists());
    assert_eq!(std::fs::read_to_string(dir.join(".pipe-cache")).unwrap(), "not a folder", "left as it was");
}

#[test]
fn a_second_run_waits_for_the_first_to_release_the_cache() {
    let dir = scratch("integrity_lock");
    iris(&dir);
    std::fs::create_dir_all(dir.join(".pipe-cache")).unwrap();
    // This test holds the lock as another run would.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".pipe-cache/lock"))
        .unwrap();
    lock.lock().unwrap();
    let mut second = Command::new(env!("CARGO_BIN_EXE_pipe"))
        .args(["run", "iris.pipe"])
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("pipe starts");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(second.try_wait().unwrap().is_none(), "the second run waits");
    assert!(!dir.join("out/iris_predictions.csv").exists(), "and has written nothing");
    lock.unlock().unwrap();
    let output = second.wait_with_output().unwrap();
    let text = stderr(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("waiting for another `pipe` run"), "{text}");
    assert!(dir.join("out/iris_predictions.csv").exists());
    // `pipe cache clean` while a run holds the lock refuses and keeps the
    // entries (it deleted the folder, lock and all, under the run).
    let entries = |dir: &Path| std::fs::read_dir(dir.join(".pipe-cache/items")).map_or(0, |d| d.count());
    let before = entries(&dir);
    assert!(before > 0, "the run stored entries");
    lock.lock().unwrap();
    let refused = pipe(&dir, &["cache", "clean", "iris.pipe"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("pipe::cli::cache_busy"), "{}", stderr(&refused));
    assert_eq!(entries(&dir), before, "nothing removed");
    lock.unlock().unwrap();
    let cleaned = pipe(&dir, &["cache", "clean", "iris.pipe"]);
    assert!(cleaned.status.success(), "{}", stderr(&cleaned));
    assert_eq!(entries(&dir), 0, "the entries are gone");
    assert!(dir.join(".pipe-cache/lock").exists(), "the lock file stays for runs waiting on it");
}

/// A disk that fills during a training (a file-size limit stands in for
/// it): the run folder is removed rather than left half-written, the
/// training runs once although the evaluation and the output read it too,
/// and no temporary file stays.
#[test]
fn a_full_disk_leaves_no_half_written_run_and_trains_once() {
    let dir = scratch("integrity_full_disk");
    let path = iris(&dir);
    let text = std::fs::read_to_string(&path).unwrap().replace("    checkpoint: checkpoint(every: 1, keep: 1)\n", "");
    std::fs::write(&path, text).unwrap();
    let output = with_file_limit(&dir);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert_eq!(text.matches("pipe::run::write").count(), 1, "one failure, shared by the readers: {text}");
    assert!(text.contains("File too large"), "{text}");
    let runs: Vec<_> = std::fs::read_dir(dir.join("runs/species")).map(|r| r.flatten().collect()).unwrap_or_default();
    assert!(runs.is_empty(), "no half-written run folder: {runs:?}");
    assert_no_temporaries(&dir);
    // With checkpoints the folder stays, for `--resume` once there is room,
    // and without its checksums nothing takes it for a finished run.
    let checkpointed = scratch("integrity_full_disk_checkpoints");
    iris(&checkpointed);
    let output = with_file_limit(&checkpointed);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let run = run_folder(&checkpointed);
    assert!(pipe::train::fit::latest_checkpoint(&run.join("checkpoints")).is_some(), "the checkpoints stay");
    assert!(!run.join("checksums.json").exists(), "not a finished run");
    let data = repo().join("data/iris.csv").display().to_string();
    let refused = pipe(&checkpointed, &["predict", run.to_str().unwrap(), &data, "-o", "p.csv"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert_no_temporaries(&checkpointed);
}

/// `pipe run --no-cache iris.pipe` in `dir` with files limited to 20 KB
/// (bash counts 1024-byte blocks): the records fit, the loss plot does not.
fn with_file_limit(dir: &Path) -> Output {
    let script = format!("ulimit -f 20; exec '{}' run --no-cache iris.pipe", env!("CARGO_BIN_EXE_pipe"));
    Command::new("bash")
        .args(["-c", &script])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "400")
        .output()
        .expect("bash runs")
}

fn assert_no_temporaries(dir: &Path) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(!name.contains(".tmp"), "a temporary file stayed: {}", entry.path().display());
            if entry.path().is_dir() {
                stack.push(entry.path());
            }
        }
    }
}

/// Every file name under `dir` containing `.tmp`.
#[cfg(unix)]
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().contains(".tmp") {
                found.push(entry.path());
            }
            if entry.path().is_dir() {
                stack.push(entry.path());
            }
        }
    }
    found
}

/// Starts `pipe run --no-cache main.pipe` in `dir` and kills it (SIGKILL:
/// nothing of `pipe` runs after) the moment `caught` sees what is under
/// `dir`; returns whether it caught the run before it ended.
#[cfg(unix)]
fn kill_when(dir: &Path, caught: impl Fn(&[PathBuf]) -> bool) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pipe"))
        .args(["run", "--no-cache", "main.pipe"])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("pipe runs");
    let start = std::time::Instant::now();
    loop {
        if caught(&temporaries(dir)) {
            child.kill().expect("kill");
            child.wait().expect("wait");
            return true;
        }
        if child.try_wait().expect("wait").is_some() {
            return false;
        }
        assert!(start.elapsed().as_secs() < 300, "the run neither ended nor was caught within 300 s");
        std::thread::sleep(std::time::Duration::from_micros(500));
    }
}

/// kill -9 while an output is being written: the file there before is
/// left whole (the temporary file takes the half-written rows), the input
/// is untouched, and the next run replaces the output and removes the
/// killed run's temporary file.
#[cfg(unix)]
#[test]
fn a_run_killed_while_writing_an_output_leaves_the_old_file_whole() {
    let dir = scratch("integrity_kill_output");
    let mut rows = String::from("i,x\n");
    for i in 0..2_000_000u32 {
        rows.push_str(&format!("{i},{}.25\n", i % 977));
    }
    std::fs::write(dir.join("big.csv"), &rows).unwrap();
    let pipeline = |factor: u32| {
        format!("source d = csv(\"big.csv\")\noutput o = d |> with(y: x * {factor}) |> write(\"o.csv\")\n")
    };
    std::fs::write(dir.join("main.pipe"), pipeline(2)).unwrap();
    let first = pipe(&dir, &["run", "--no-cache", "main.pipe"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let old = std::fs::read(dir.join("o.csv")).unwrap();
    std::fs::write(dir.join("main.pipe"), pipeline(3)).unwrap();
    // Caught when the temporary output has rows in it.
    let writing = |found: &[PathBuf]| {
        found.iter().any(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with(".o.csv.") && std::fs::metadata(p).is_ok_and(|m| m.len() > 0)
        })
    };
    assert!(kill_when(&dir, writing), "the run ended before its output was being written");
    let after_kill = std::fs::read(dir.join("o.csv")).unwrap();
    assert!(after_kill == old, "o.csv is the old file, whole ({} bytes, was {})", after_kill.len(), old.len());
    assert_eq!(temporaries(&dir).len(), 1, "the killed run's temporary file (nothing removes it while it dies)");
    let again = pipe(&dir, &["run", "--no-cache", "main.pipe"]);
    assert!(again.status.success(), "{}", stderr(&again));
    let new = std::fs::read_to_string(dir.join("o.csv")).unwrap();
    assert!(new.starts_with("i,x,y\n0,0.25,0.75\n1,1.25,3.75\n"), "{:?}", new.get(..60));
    assert_eq!(new.lines().count(), 2_000_001);
    assert_no_temporaries(&dir);
    assert_eq!(std::fs::read_to_string(dir.join("big.csv")).unwrap(), rows, "the input is untouched");
}

/// kill -9 while a checkpoint is being saved: the checkpoint half-saved
/// is never taken for one, and `--resume` goes on from the last whole one
/// to the losses of a run never killed, leaving no temporary folder.
#[cfg(unix)]
#[test]
fn a_run_killed_while_saving_a_checkpoint_resumes_exactly() {
    let text = "import std.models { mlp }\nsource iris = csv(\"iris.csv\")\n\
         train run = mlp(hidden: [768, 768], out: 3) on iris {\n    target: label\n    epochs: 30\n    seed: 3\n    \
         checkpoint: checkpoint(every: 1, keep: 2)\n}\n";
    let setup = |name: &str| {
        let dir = scratch(name);
        std::fs::copy(repo().join("data/iris.csv"), dir.join("iris.csv")).unwrap();
        std::fs::write(dir.join("main.pipe"), text).unwrap();
        dir
    };
    let losses = |dir: &Path| -> Vec<f64> {
        let trained = std::fs::read(run_folder_of(dir).join("trained.json")).expect("a finished run");
        let meta: serde_json::Value = serde_json::from_slice(&trained).unwrap();
        meta["history"].as_array().unwrap().iter().map(|e| e["loss"].as_f64().unwrap()).collect()
    };
    let whole = setup("integrity_kill_checkpoint_whole");
    let ran = pipe(&whole, &["run", "--no-cache", "main.pipe"]);
    assert!(ran.status.success(), "{}", stderr(&ran));
    let dir = setup("integrity_kill_checkpoint");
    // Caught when a checkpoint's temporary folder holds a file and a whole
    // checkpoint is there already.
    let saving = |found: &[PathBuf]| {
        found.iter().any(|p| {
            let whole_one = p
                .parent()
                .and_then(|d| std::fs::read_dir(d).ok())
                .is_some_and(|mut d| d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("epoch-"))));
            p.file_name().unwrap().to_string_lossy().starts_with(".epoch-")
                && whole_one
                && std::fs::read_dir(p).is_ok_and(|mut d| d.next().is_some())
        })
    };
    assert!(kill_when(&dir, saving), "the run ended before a checkpoint was being saved");
    let half_saved =
        temporaries(&dir).into_iter().filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(".epoch-"));
    assert_eq!(half_saved.count(), 1, "killed while saving: the half-saved checkpoint's folder stays");
    let resumed = pipe(&dir, &["run", "--no-cache", "--resume", "main.pipe"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(stderr(&resumed).contains("resuming from"), "{}", stderr(&resumed));
    assert_eq!(losses(&dir), losses(&whole), "the same training, to the last bit of each epoch's loss");
    assert_no_temporaries(&dir);
}

/// The one run folder of `run` in `dir`.
#[cfg(unix)]
fn run_folder_of(dir: &Path) -> PathBuf {
    let mut runs: Vec<PathBuf> =
        std::fs::read_dir(dir.join("runs/run")).expect("runs").flatten().map(|e| e.path()).collect();
    runs.sort();
    runs.pop().expect("a run folder")
}
