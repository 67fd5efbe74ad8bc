//! `pipe export -o model.onnx`: onnxruntime (with onnx's full checker
//! first) on the exported graph, fed the raw rows as `pipe predict` reads
//! them, gives `pipe predict`'s classes and probabilities (1e-5) on iris
//! (scaling), penguins (missing values, median fills, robust scaling,
//! one-hot with a dropped first level) and people (cut, qcut, min-max,
//! one-hot, PCA), people_embed (encode, embedding tables) and the digits CNN (its image tensor as input); steps and
//! layers without an ONNX form are refused.

use std::path::{Path, PathBuf};
use std::process::Command;

use polars::prelude::{DataType, SerReader};

use crate::run::{provided, repo, scratch};

/// Runs an example in a scratch folder (with `extra` items appended);
/// the folder and its run folder of `item`.
fn trained(example: &str, item: &str, extra: &str) -> (PathBuf, PathBuf) {
    let dir = scratch(&format!("onnx_{item}"));
    let text = std::fs::read_to_string(repo().join("pipelines").join(example))
        .unwrap()
        .replace("\"../data/", &format!("\"{}/data/", repo().display()))
        + extra;
    let run = run_in(&dir, &text, item);
    (dir, run)
}

/// Runs `text` as `dir/main.pipe`; the run folder of `item`.
fn run_in(dir: &Path, text: &str, item: &str) -> PathBuf {
    std::fs::write(dir.join("main.pipe"), text).unwrap();
    let ran =
        Command::new(env!("CARGO_BIN_EXE_pipe")).current_dir(dir).args(["run", "--no-cache", "main.pipe"]).output();
    let ran = ran.unwrap();
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    let runs = dir.join("runs").join(item);
    std::fs::read_dir(&runs).unwrap().flatten().map(|e| e.path()).find(|p| p.is_dir()).unwrap()
}

fn pipe(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_pipe")).args(args).output().unwrap();
    assert!(out.status.success(), "pipe {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// A CSV's column as text.
fn column(path: &Path, name: &str) -> Vec<String> {
    let frame =
        polars::prelude::CsvReadOptions::default().try_into_reader_with_file_path(Some(path.into())).unwrap().finish();
    let column = frame.unwrap().column(name).unwrap().cast(&DataType::String).unwrap();
    column.str().unwrap().iter().map(|v| v.unwrap_or_default().to_owned()).collect()
}

/// Exports the run to ONNX and compares onnxruntime with `pipe predict`
/// on `rows`.
fn same_as_pipe_predict(python: &str, dir: &Path, run: &Path, rows: &Path) {
    let model = dir.join("model.onnx");
    pipe(&["export", run.to_str().unwrap(), "-o", model.to_str().unwrap()]);
    let predicted = dir.join("predicted.csv");
    pipe(&[
        "predict",
        run.to_str().unwrap(),
        rows.to_str().unwrap(),
        "-o",
        predicted.to_str().unwrap(),
        "--probabilities",
    ]);
    let script = repo().join("tests/data/onnx/run.py");
    let ran = Command::new(python).arg(script).arg(&model).arg(rows).output().unwrap();
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&ran.stdout).unwrap();
    let expected = column(&predicted, "prediction");
    let got: Vec<String> =
        answer["prediction"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_owned()).collect();
    assert_eq!(got.len(), expected.len());
    assert_eq!(got, expected, "classes");
    let trained: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("trained.json")).unwrap()).unwrap();
    let classes: Vec<String> =
        trained["classes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    let probabilities = answer["probabilities"].as_array().unwrap();
    for (k, class) in classes.iter().enumerate() {
        let want = column(&predicted, &format!("probability_{class}"));
        for (row, (p, w)) in probabilities.iter().zip(&want).enumerate() {
            let (p, w) = (p[k].as_f64().unwrap(), w.parse::<f64>().unwrap());
            assert!((p - w).abs() < 1e-5, "row {row}, class {class}: onnxruntime {p}, pipe {w}");
        }
    }
}

#[test]
fn onnxruntime_on_the_export_answers_as_pipe_predict() {
    let Some(python) = provided("PIPE_TEST_PYTHON") else { return };
    let (dir, run) = trained("iris.pipe", "species", "");
    same_as_pipe_predict(&python, &dir, &run, &repo().join("data/iris.csv"));
    let rows = "\noutput rows = known |> write(\"out/rows.csv\")\n";
    let (dir, run) = trained("penguins.pipe", "species_net", rows);
    same_as_pipe_predict(&python, &dir, &run, &dir.join("out/rows.csv"));
    let rows = "\noutput rows = clean |> write(\"out/rows.csv\")\n";
    let (dir, run) = trained("people.pipe", "fit_net", rows);
    same_as_pipe_predict(&python, &dir, &run, &dir.join("out/rows.csv"));
    // Encoded columns and their embedding tables.
    let (dir, run) = trained("people_embed.pipe", "income_net", rows);
    same_as_pipe_predict(&python, &dir, &run, &dir.join("out/rows.csv"));
}

#[test]
fn a_layer_without_an_onnx_form_is_refused_before_writing() {
    let dir = scratch("onnx_refused");
    let text = format!(
        "source digits = images(\"{}/data/digits\", size: [8, 8], channels: 1)\n\n\
         split train, val = digits |> split([0.8, 0.2], stratify: label, seed: 1)\n\n\
         model cnn {{\n    conv(4, kernel: 3)\n    prelu()\n    flatten()\n    dense(10)\n}}\n\n\
         train net = cnn on train {{\n    target: label\n    validate: val\n    epochs: 1\n}}\n",
        repo().display()
    );
    std::fs::write(dir.join("main.pipe"), text).unwrap();
    let ran = Command::new(env!("CARGO_BIN_EXE_pipe")).current_dir(&dir).args(["run", "main.pipe"]).output().unwrap();
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    let runs = dir.join("runs/net");
    let run = std::fs::read_dir(&runs).unwrap().flatten().map(|e| e.path()).find(|p| p.is_dir()).unwrap();
    let out = dir.join("cnn.onnx");
    let refused =
        Command::new(env!("CARGO_BIN_EXE_pipe")).arg("export").arg(&run).arg("-o").arg(&out).output().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("pipe::export::model") && err.contains("`prelu("), "{err}");
    assert!(!out.exists(), "nothing written");
    // A file export did not write is kept, even one whose text starts as
    // an export's producer does.
    let notes = dir.join("notes.onnx");
    std::fs::write(&notes, "pipe export notes\n").unwrap();
    let kept = Command::new(env!("CARGO_BIN_EXE_pipe")).arg("export").arg(&run).arg("-o").arg(&notes).output().unwrap();
    let said = String::from_utf8_lossy(&kept.stderr);
    assert!(!kept.status.success() && said.contains("pipe::export::model") && said.contains("did not"), "{said}");
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "pipe export notes\n");
}

#[test]
fn row_expressions_casts_booleans_and_filled_whole_numbers_export_as_pipe_computes_them() {
    let Some(python) = provided("PIPE_TEST_PYTHON") else { return };
    let dir = scratch("onnx_levels");
    // A whole-number column with gaps filled with 0 (it stays whole, so
    // its levels are the ones `pipe check` promised) and cast to text, a
    // boolean one, and columns made by row expressions.
    let mut csv = String::from("x,k,flag,label\n");
    for i in 0..120 {
        let k = if i % 7 == 0 { String::new() } else { (i % 4).to_string() };
        let flag = i % 3 == 0;
        let label = if (i % 4 < 2) ^ flag { "a" } else { "b" };
        csv += &format!("{},{k},{flag},{label}\n", f64::from(i) / 10.0);
    }
    std::fs::write(dir.join("data.csv"), csv).unwrap();
    let text = "import std.models { mlp }\n\nsource data = csv(\"data.csv\")\n\n\
        split train, val = data |> split([0.8, 0.2], stratify: label, seed: 1)\n\n\
        transform prep = fit(train) {\n    with(r: x * 2 + 1, big: x > 5 and not flag, l: log(x + 1))\n    \
        fill_nulls(k, 0)\n    cast(k, str)\n    onehot(k, flag, big)\n    standard(x, r, l)\n}\n\n\
        train net = mlp(hidden: [8], out: 2) on prep(train) {\n    target: label\n    validate: prep(val)\n    epochs: 5\n    seed: 1\n}\n";
    let run = run_in(&dir, text, "net");
    let trained: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("trained.json")).unwrap()).unwrap();
    let features: Vec<&str> = trained["features"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert!(
        features.contains(&"k_0") && features.contains(&"flag_true") && features.contains(&"big_true"),
        "{features:?}"
    );
    same_as_pipe_predict(&python, &dir, &run, &dir.join("data.csv"));
}

/// `encode` of a whole-number column whose levels an `f32` cannot tell
/// apart (ids past 2^24: 100000001 and 100000002 are both 1e8 in f32):
/// each level keeps its own id in the export, as in `pipe predict`, and a
/// store never seen (100000007, 1e8 in f32 too) is unseen (id 0) in both.
#[test]
fn encoded_large_whole_numbers_keep_their_own_ids() {
    let Some(python) = provided("PIPE_TEST_PYTHON") else { return };
    let dir = scratch("onnx_large_ids");
    let mut csv = String::from("store,x,label\n");
    for i in 0..160 {
        let store = 100_000_001 + i % 4;
        // The class follows the store (and a little of x): the embedding
        // of each store matters.
        let label = if (store % 2 == 0) ^ (i % 16 == 0) { "a" } else { "b" };
        csv += &format!("{store},{},{label}\n", f64::from(i % 10) / 10.0);
    }
    std::fs::write(dir.join("data.csv"), &csv).unwrap();
    // Rows to predict: the four stores, and one never seen (id 0).
    let rows = "store,x,label\n100000001,0.5,a\n100000002,0.5,a\n100000003,0.1,b\n100000004,0.9,b\n100000007,0.5,a\n";
    std::fs::write(dir.join("rows.csv"), rows).unwrap();
    let text = "import std.models { embed_mlp }\n\nsource data = csv(\"data.csv\")\n\n\
        transform prep = fit(data) {\n    encode(store)\n}\n\n\
        train net = embed_mlp(dim: 2, hidden: [8], out: 2) on prep(data) {\n    target: label\n    epochs: 30\n    seed: 1\n}\n";
    let run = run_in(&dir, text, "net");
    same_as_pipe_predict(&python, &dir, &run, &dir.join("rows.csv"));
}

#[test]
fn the_digits_cnn_exports_with_its_image_tensor_as_input() {
    let Some(python) = provided("PIPE_TEST_PYTHON") else { return };
    let dir = scratch("onnx_digits");
    let text = std::fs::read_to_string(repo().join("pipelines/digits.pipe"))
        .unwrap()
        .replace("\"../data/", &format!("\"{}/data/", repo().display()))
        .replace("epochs: 20", "epochs: 2")
        + "\noutput preds = test |> predict(base, probabilities: true) |> write(\"out/preds.parquet\")\n";
    let run = run_in(&dir, &text, "base");
    let model = dir.join("model.onnx");
    pipe(&["export", run.to_str().unwrap(), "-o", model.to_str().unwrap()]);
    // The images the pipeline predicted for, as it read them, with its own
    // predictions: the reference.
    let rows = dir.join("out/preds.parquet");
    let ran = Command::new(&python).arg(repo().join("tests/data/onnx/run.py")).arg(&model).arg(&rows).output().unwrap();
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&ran.stdout).unwrap();
    let file = std::fs::File::open(&rows).unwrap();
    let frame = polars::prelude::ParquetReader::new(file).finish().unwrap();
    let text = |name: &str| -> Vec<String> {
        let column = frame.column(name).unwrap().cast(&DataType::String).unwrap();
        column.str().unwrap().iter().map(|v| v.unwrap_or_default().to_owned()).collect()
    };
    let got: Vec<String> =
        answer["prediction"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_owned()).collect();
    assert_eq!(got.len(), frame.height());
    assert_eq!(got, text("prediction"), "classes");
    for class in 0..10 {
        let want = text(&format!("probability_{class}"));
        for (row, (p, w)) in answer["probabilities"].as_array().unwrap().iter().zip(&want).enumerate() {
            let (p, w) = (p[class].as_f64().unwrap(), w.parse::<f64>().unwrap());
            assert!((p - w).abs() < 1e-5, "row {row}, class {class}: onnxruntime {p}, pipe {w}");
        }
    }
}
