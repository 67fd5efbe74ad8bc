//! `pipe export RUN_DIR -o model.safetensors`: PyTorch loads the weights
//! into an `nn.Sequential` of the same layers and, on the rows pipe
//! predicted for, gives pipe's class probabilities to 1e-5; `weights(...)`
//! reads the file back into the same predictions.

use std::process::Command;

use crate::run::{provided, repo, scratch};

#[test]
fn pytorch_loads_the_exported_weights_and_predicts_as_pipe_does() {
    let Some(torch) = provided("PIPE_TEST_TORCH") else { return };
    let dir = scratch("export_safetensors");
    // The iris example: dense, batch norm (with running statistics), ReLU
    // and dropout layers.
    let text = std::fs::read_to_string(repo().join("pipelines/iris.pipe"))
        .unwrap()
        .replace("\"../data/", &format!("\"{}/data/", repo().display()))
        .replace("epochs: 100", "epochs: 5")
        .replace("predict(species)", "predict(species, probabilities: true)");
    std::fs::write(dir.join("main.pipe"), text).unwrap();
    let pipe = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_pipe")).args(args).current_dir(&dir).output().unwrap();
    let ran = pipe(&["run", "main.pipe"]);
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    let run = std::fs::read_dir(dir.join("runs/species")).unwrap().next().unwrap().unwrap().path();
    let exported = pipe(&["export", run.to_str().unwrap(), "-o", "model.safetensors"]);
    assert!(exported.status.success(), "{}", String::from_utf8_lossy(&exported.stderr));
    let again = pipe(&["export", run.to_str().unwrap(), "-o", "model.safetensors"]);
    assert!(again.status.success(), "an export replaces its own file: {}", String::from_utf8_lossy(&again.stderr));
    let transforms: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("model.transforms.json")).unwrap()).unwrap();
    assert_eq!(transforms[0][0], "prep", "the fitted transform's numbers: {transforms}");
    let script = r#"
import csv, json, struct, torch
from torch import nn
raw = open("model.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
state = {}
for name, info in header.items():
    if name == "__metadata__":
        continue
    start, end = info["data_offsets"]
    state[name] = torch.frombuffer(bytearray(raw[8 + n + start:8 + n + end]), dtype=torch.float32).reshape(info["shape"])
model = nn.Sequential(nn.Linear(4, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.0),
                      nn.Linear(32, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.0), nn.Linear(32, 3))
missing, unexpected = model.load_state_dict(state, strict=False)
assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
model.eval()
rows = list(csv.DictReader(open("out/iris_predictions.csv")))
features = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]
x = torch.tensor([[float(r[f]) for f in features] for r in rows])
with torch.no_grad():
    p = torch.softmax(model(x), 1)
ours = torch.tensor([[float(r["probability_" + c]) for c in ["setosa", "versicolor", "virginica"]] for r in rows])
print(json.dumps({"rows": len(rows), "tensors": len(state), "max_difference": (p - ours).abs().max().item()}))
"#;
    let out = Command::new(torch).arg("-c").arg(script).current_dir(&dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(said["rows"], 30, "{said}");
    assert_eq!(said["tensors"], 14, "3 dense layers' weights and biases, 2 batch norms' four tensors: {said}");
    assert!(said["max_difference"].as_f64().unwrap() <= 1e-5, "{said}");
    // And pipe reads it back: `weights(...)` into the same layers, no
    // training, predicts what the run predicted.
    let again = std::fs::read_to_string(dir.join("main.pipe"))
        .unwrap()
        .replace(
            "train species = mlp(hidden: [32, 32], out: 3) on prep(train) {",
            "model exported = mlp(hidden: [32, 32], out: 3) |> weights(\"model.safetensors\")\n\ntrain species = exported on prep(train) {",
        )
        .replace("epochs: 5", "epochs: 0")
        .replace("out/iris_predictions.csv", "out/again.csv");
    std::fs::write(dir.join("again.pipe"), again).unwrap();
    let ran = pipe(&["run", "again.pipe"]);
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    let probabilities = |file: &str| -> Vec<String> {
        let text = std::fs::read_to_string(dir.join("out").join(file)).unwrap();
        let at = text.lines().next().unwrap().split(',').position(|h| h == "probability_virginica").unwrap();
        text.lines().skip(1).map(|l| l.split(',').nth(at).unwrap().to_owned()).collect()
    };
    assert_eq!(probabilities("again.csv"), probabilities("iris_predictions.csv"));
}

/// A model with no `nn.Sequential` form (a residual block) and a format
/// pipe does not write are refused with what to do, writing nothing.
#[test]
fn export_refuses_what_it_cannot_write() {
    let dir = scratch("export_refused");
    let text = format!(
        r#"
source iris = csv("{}/data/iris.csv")
model skip {{
    dense(4)
    residual {{
        dense(4)
        relu()
    }}
    dense(3)
}}
train r = skip on iris {{
    target: label
    epochs: 1
}}
"#,
        repo().display()
    );
    std::fs::write(dir.join("main.pipe"), text).unwrap();
    let pipe = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_pipe")).args(args).current_dir(&dir).output().unwrap();
    assert!(pipe(&["run", "main.pipe"]).status.success());
    let run = std::fs::read_dir(dir.join("runs/r")).unwrap().next().unwrap().unwrap().path();
    let residual = pipe(&["export", run.to_str().unwrap(), "-o", "m.safetensors"]);
    assert!(!residual.status.success());
    let said = String::from_utf8_lossy(&residual.stderr);
    assert!(said.contains("pipe::export::model") && said.contains("residual block"), "{said}");
    assert!(!dir.join("m.safetensors").exists(), "nothing written");
    // A file export did not write is not replaced, nor is a transforms
    // file beside a weights file that is not export's.
    std::fs::write(dir.join("taken.safetensors"), "someone's weights").unwrap();
    std::fs::write(dir.join("other.transforms.json"), "{}").unwrap();
    for (out, kept) in [("taken.safetensors", "taken.safetensors"), ("other.safetensors", "other.transforms.json")] {
        let before = std::fs::read(dir.join(kept)).unwrap();
        let refused = pipe(&["export", run.to_str().unwrap(), "-o", out]);
        assert!(!refused.status.success());
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(said.contains("did not write it") && said.contains(kept), "{said}");
        assert_eq!(std::fs::read(dir.join(kept)).unwrap(), before, "{kept} untouched");
    }
    // Nor has it an ONNX form (tests/onnx.rs exports the ones that do).
    let onnx = pipe(&["export", run.to_str().unwrap(), "-o", "m.onnx"]);
    assert!(!onnx.status.success());
    let said = String::from_utf8_lossy(&onnx.stderr);
    assert!(said.contains("pipe::export::model") && said.contains("residual block"), "{said}");
    assert!(!dir.join("m.onnx").exists(), "nothing written");
}
