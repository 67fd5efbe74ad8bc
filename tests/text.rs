//! Texts: `tokenize` against the same rule written in Python, one step of
//! a text CNN (token embedding, conv1d, maxpool1d, global max pooling)
//! against PyTorch, and the example pipeline against scikit-learn's
//! TF-IDF + logistic regression on the same split.

use burn::tensor::Device;
use pipe::ir::{Activation, LayerKind, Model, ModelLayer, Shape};
use pipe::train::model::Net;

use crate::run::{provided, repo, scratch};
use crate::train::run_events;

/// One step of embedding(4) - conv1d(5, kernel 3, same) - relu -
/// maxpool1d(2) - conv1d(3, kernel 2) - global_maxpool - dense(2) from the
/// weights PyTorch started from (`tests/data/torch_text/make.py`):
/// logits, loss and every weight after an SGD and an Adam step equal
/// PyTorch's to 1e-5; on flex, and on libtorch in a `tch` build.
#[test]
#[allow(deprecated)] // Burn marks the libtorch constructors deprecated in 0.22.
fn a_text_cnn_step_equals_pytorch() {
    use burn::optim::GradientsParams;
    use burn::tensor::{Tensor, TensorData};
    use pipe::ir::{Optimizer, OptimizerKind, Task, TrainSettings};
    use pipe::train::loss::{Loss, Targets};
    use pipe::train::model::X;

    let fixture: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo().join("tests/data/torch_text/text.json")).unwrap()).unwrap();
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
    };
    let layer = |kind, input, output| ModelLayer { name: None, kind, input, output };
    let conv = |filters, kernel, same| LayerKind::Conv1d { filters, kernel, stride: 1, same, init: None, l2: None };
    let model = Model {
        layers: vec![
            layer(LayerKind::TokenEmbedding { ids: 7, dim: 4 }, Shape::Flat(6), Shape::Seq([6, 4])),
            layer(conv(5, 3, true), Shape::Seq([6, 4]), Shape::Seq([6, 5])),
            layer(LayerKind::Activation(Activation::Relu), Shape::Seq([6, 5]), Shape::Seq([6, 5])),
            layer(LayerKind::MaxPool1d { size: 2, stride: 2 }, Shape::Seq([6, 5]), Shape::Seq([3, 5])),
            layer(conv(3, 2, false), Shape::Seq([3, 5]), Shape::Seq([2, 3])),
            layer(LayerKind::GlobalMaxPool, Shape::Seq([2, 3]), Shape::Flat(3)),
            layer(LayerKind::Dense { units: 2, init: None, l2: None }, Shape::Flat(3), Shape::Flat(2)),
        ],
        input: Shape::Flat(6),
        output: Shape::Flat(2),
        frozen_until: None,
        pretrained: None,
    };
    let close = |got: &[f32], want: &[f32], what: &str| {
        assert_eq!(got.len(), want.len(), "{what}");
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{what}: {g} != {w}");
        }
    };
    let backends = vec![(Device::flex(), "flex")];
    #[cfg(feature = "tch")]
    let backends = [backends, vec![(Device::libtorch(), "libtorch")]].concat();
    for (base, backend) in backends {
        for (name, optimizer) in [("sgd", (OptimizerKind::Sgd, 0.1, 0.9)), ("adam", (OptimizerKind::Adam, 0.01, 0.0))] {
            let device = base.clone().autodiff();
            let mut net = Net::new(&model, &device, 0);
            net.set_token_table(0, floats(&fixture["table"]), &device);
            net.set_conv1d(1, floats(&fixture["c1w"]), floats(&fixture["c1b"]), &device);
            net.set_conv1d(4, floats(&fixture["c2w"]), floats(&fixture["c2b"]), &device);
            net.set_dense(6, floats(&fixture["w"]), floats(&fixture["b"]), &device);
            let ids = Tensor::<2>::from_data(TensorData::new(floats(&fixture["ids"]), [3, 6]), &device);
            let y: Vec<i64> = fixture["y"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
            let logits = net.forward(X::Flat(ids)).flat();
            let loss = Loss::plain(pipe::ir::Loss::CrossEntropy);
            let value = loss.forward(logits.clone(), &Targets::classes(y, &device), &device);
            let expected = &fixture[name];
            let what = |part: &str| format!("{backend} {name}: {part}");
            close(&logits.clone().try_into_vec_as::<f32>().unwrap(), &floats(&expected["logits"]), &what("logits"));
            close(&[value.clone().into_scalar::<f32>()], &[expected["loss"].as_f64().unwrap() as f32], &what("loss"));
            let settings = TrainSettings {
                optimizer: Optimizer { momentum: optimizer.2, ..Optimizer::new(optimizer.0, optimizer.1) },
                ..TrainSettings::defaults(Task::Classification)
            };
            let (mut optim, lr) = pipe::train::optimizer::build(&settings);
            let grads = GradientsParams::from_grads(value.backward(), &net);
            let net = optim.step(lr, net, grads);
            close(&net.token_table(0).unwrap(), &floats(&expected["table"]), &what("embedding"));
            let (c1w, c1b) = net.conv1d(1).unwrap();
            close(&c1w, &floats(&expected["c1w"]), &what("first conv1d weights"));
            close(&c1b, &floats(&expected["c1b"]), &what("first conv1d bias"));
            let (c2w, c2b) = net.conv1d(4).unwrap();
            close(&c2w, &floats(&expected["c2w"]), &what("second conv1d weights"));
            close(&c2b, &floats(&expected["c2b"]), &what("second conv1d bias"));
            let (w, b) = net.dense(6).unwrap();
            close(&w, &floats(&expected["w"]), &what("dense weights"));
            close(&b, &floats(&expected["b"]), &what("dense bias"));
        }
    }
}

/// One step of embedding(4) - lstm(3) - dense(2), and of embedding(4) -
/// gru(3, return_sequences: true) - global_maxpool - dense(2), from the
/// weights PyTorch started from (`tests/data/torch_text/recurrent.py`:
/// `nn.LSTM`, `nn.GRU`): logits, loss and every weight after an SGD and an
/// Adam step equal PyTorch's to 1e-5; on flex, and on libtorch in a `tch`
/// build.
#[test]
#[allow(deprecated)] // Burn marks the libtorch constructors deprecated in 0.22.
fn lstm_and_gru_steps_equal_pytorch() {
    use burn::optim::GradientsParams;
    use burn::tensor::{Tensor, TensorData};
    use pipe::ir::{Optimizer, OptimizerKind, Task, TrainSettings};
    use pipe::train::loss::{Loss, Targets};
    use pipe::train::model::X;

    let fixture: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo().join("tests/data/torch_text/recurrent.json")).unwrap()).unwrap();
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
    };
    let four = |v: &serde_json::Value| -> [Vec<f32>; 4] { std::array::from_fn(|i| floats(&v[i])) };
    let layer = |kind, input, output| ModelLayer { name: None, kind, input, output };
    let close = |got: &[f32], want: &[f32], what: &str| {
        assert_eq!(got.len(), want.len(), "{what}");
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{what}: {g} != {w}");
        }
    };
    for kind in ["lstm", "gru"] {
        let mut layers = vec![layer(LayerKind::TokenEmbedding { ids: 7, dim: 4 }, Shape::Flat(5), Shape::Seq([5, 4]))];
        if kind == "lstm" {
            layers.push(layer(LayerKind::Lstm { units: 3, sequences: false }, Shape::Seq([5, 4]), Shape::Flat(3)));
        } else {
            layers.push(layer(LayerKind::Gru { units: 3, sequences: true }, Shape::Seq([5, 4]), Shape::Seq([5, 3])));
            layers.push(layer(LayerKind::GlobalMaxPool, Shape::Seq([5, 3]), Shape::Flat(3)));
        }
        let dense = layers.len();
        layers.push(layer(LayerKind::Dense { units: 2, init: None, l2: None }, Shape::Flat(3), Shape::Flat(2)));
        let model =
            Model { layers, input: Shape::Flat(5), output: Shape::Flat(2), frozen_until: None, pretrained: None };
        let backends = vec![(Device::flex(), "flex")];
        #[cfg(feature = "tch")]
        let backends = [backends, vec![(Device::libtorch(), "libtorch")]].concat();
        for (base, backend) in backends {
            for (name, optimizer) in
                [("sgd", (OptimizerKind::Sgd, 0.1, 0.9)), ("adam", (OptimizerKind::Adam, 0.01, 0.0))]
            {
                let device = base.clone().autodiff();
                let mut net = Net::new(&model, &device, 0);
                net.set_token_table(0, floats(&fixture["table"]), &device);
                net.set_recurrent(1, four(&fixture[kind]["rnn"]), &device);
                net.set_dense(dense, floats(&fixture["w"]), floats(&fixture["b"]), &device);
                let ids = Tensor::<2>::from_data(TensorData::new(floats(&fixture["ids"]), [3, 5]), &device);
                let y: Vec<i64> = fixture["y"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
                let logits = net.forward(X::Flat(ids)).flat();
                let loss = Loss::plain(pipe::ir::Loss::CrossEntropy);
                let value = loss.forward(logits.clone(), &Targets::classes(y, &device), &device);
                let expected = &fixture[kind][name];
                let what = |part: &str| format!("{kind} {backend} {name}: {part}");
                close(&logits.clone().try_into_vec_as::<f32>().unwrap(), &floats(&expected["logits"]), &what("logits"));
                let want = [expected["loss"].as_f64().unwrap() as f32];
                close(&[value.clone().into_scalar::<f32>()], &want, &what("loss"));
                let settings = TrainSettings {
                    optimizer: Optimizer { momentum: optimizer.2, ..Optimizer::new(optimizer.0, optimizer.1) },
                    ..TrainSettings::defaults(Task::Classification)
                };
                let (mut optim, lr) = pipe::train::optimizer::build(&settings);
                let grads = GradientsParams::from_grads(value.backward(), &net);
                let net = optim.step(lr, net, grads);
                close(&net.token_table(0).unwrap(), &floats(&expected["table"]), &what("embedding"));
                let got = net.recurrent(1).unwrap();
                let want = four(&expected["rnn"]);
                for (i, part) in ["input weights", "hidden weights", "input bias", "hidden bias"].iter().enumerate() {
                    close(&got[i], &want[i], &what(part));
                }
                let (w, b) = net.dense(dense).unwrap();
                close(&w, &floats(&expected["w"]), &what("dense weights"));
                close(&b, &floats(&expected["b"]), &what("dense bias"));
            }
        }
    }
}

/// One step of a model written in a `.pipe` file with std.models'
/// `transformer_encoder(dim: 4, heads: 2, ff: 6, dropout: 0)` between an
/// embedding and `global_avgpool()`, from the weights PyTorch started from
/// (`tests/data/torch_text/encoder.py`: `nn.TransformerEncoderLayer`,
/// post-norm, ReLU): logits, loss and every weight after an SGD and an Adam
/// step equal PyTorch's to 1e-5; on flex, and on libtorch in a `tch` build.
/// The block as the checker builds it: attention and the feed-forward in
/// residual blocks, each followed by a layer norm.
#[test]
#[allow(deprecated)] // Burn marks the libtorch constructors deprecated in 0.22.
fn the_transformer_encoder_block_equals_pytorch() {
    use burn::optim::GradientsParams;
    use burn::tensor::{Tensor, TensorData};
    use pipe::ir::{Optimizer, OptimizerKind, Task, TrainSettings};
    use pipe::train::loss::{Loss, Targets};
    use pipe::train::model::X;

    let fixture: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo().join("tests/data/torch_text/encoder.json")).unwrap()).unwrap();
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
    };
    let lists = |v: &serde_json::Value| -> Vec<Vec<f32>> { v.as_array().unwrap().iter().map(floats).collect() };
    let dir = scratch("transformer_encoder");
    std::fs::write(dir.join("texts.csv"), "text,label\na b c,x\nd e,y\n").unwrap();
    let text = r#"
import std.models { transformer_encoder }
source texts = csv("texts.csv")
transform words = fit(texts) {
    tokenize(text, vocab: 5, length: 5)
}
model block {
    embedding(4)
    transformer_encoder(dim: 4, heads: 2, ff: 6, dropout: 0)
    global_avgpool()
    dense(2)
}
train r = block on words(texts) {
    target: label
}
"#;
    let program = crate::run::checked(&dir, text);
    let model = program
        .items
        .iter()
        .flatten()
        .find_map(|i| if let pipe::ir::ItemKind::Train(t) = &i.kind { Some(t.model.clone()) } else { None })
        .unwrap();
    // embedding, residual { attention, dropout }, layernorm, residual {
    // dense, relu, dropout, dense, dropout }, layernorm, pool, dense.
    let places: [(&str, &[usize]); 6] =
        [("attention", &[1, 0]), ("norm1", &[2]), ("ff1", &[3, 0]), ("ff2", &[3, 3]), ("norm2", &[4]), ("out", &[6])];
    let close = |got: &[f32], want: &[f32], what: &str| {
        assert_eq!(got.len(), want.len(), "{what}");
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{what}: {g} != {w}");
        }
    };
    let backends = vec![(Device::flex(), "flex")];
    #[cfg(feature = "tch")]
    let backends = [backends, vec![(Device::libtorch(), "libtorch")]].concat();
    for (base, backend) in backends {
        for (name, optimizer) in [("sgd", (OptimizerKind::Sgd, 0.1, 0.9)), ("adam", (OptimizerKind::Adam, 0.01, 0.0))] {
            let device = base.clone().autodiff();
            let mut net = Net::new(&model, &device, 0);
            let start = &fixture["start"];
            net.set_token_table(0, floats(&start["table"]), &device);
            for (key, path) in places {
                net.set_parameters_at(path, lists(&start[key]), &device);
            }
            let ids = Tensor::<2>::from_data(TensorData::new(floats(&fixture["ids"]), [3, 5]), &device);
            let y: Vec<i64> = fixture["y"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
            let logits = net.forward(X::Flat(ids)).flat();
            let loss = Loss::plain(pipe::ir::Loss::CrossEntropy);
            let value = loss.forward(logits.clone(), &Targets::classes(y, &device), &device);
            let expected = &fixture[name];
            let what = |part: &str| format!("{backend} {name}: {part}");
            close(&logits.clone().try_into_vec_as::<f32>().unwrap(), &floats(&expected["logits"]), &what("logits"));
            close(&[value.clone().into_scalar::<f32>()], &[expected["loss"].as_f64().unwrap() as f32], &what("loss"));
            let settings = TrainSettings {
                optimizer: Optimizer { momentum: optimizer.2, ..Optimizer::new(optimizer.0, optimizer.1) },
                ..TrainSettings::defaults(Task::Classification)
            };
            let (mut optim, lr) = pipe::train::optimizer::build(&settings);
            let grads = GradientsParams::from_grads(value.backward(), &net);
            let net = optim.step(lr, net, grads);
            let after = &expected["after"];
            close(&net.token_table(0).unwrap(), &floats(&after["table"]), &what("embedding"));
            for (key, path) in places {
                let got = net.parameters_at(path).unwrap();
                for (i, (g, w)) in got.iter().zip(lists(&after[key])).enumerate() {
                    // The key bias adds the same to every score of a row,
                    // which softmax ignores: its gradient is 0 up to
                    // rounding, whose sign Adam turns into a full step
                    // (both frameworks'). SGD's step checks it.
                    if name == "adam" && key == "attention" && i == 3 {
                        continue;
                    }
                    close(g, &w, &what(&format!("{key} parameter {i}")));
                }
            }
        }
    }
}

/// `tokenize` fitted on every sentence, applied to every sentence and
/// written to Parquet, against the same rule written in Python (`re`,
/// `collections.Counter`) and read back with pyarrow: the same ids in
/// every row. A vocabulary of 300 leaves most words unknown (id 1), and a
/// length of 12 pads short texts (before their words) and cuts long ones.
#[test]
fn tokenize_equals_the_rule_written_in_python() {
    let Some(python) = provided("PIPE_TEST_PYTHON") else { return };
    let dir = scratch("tokenize_python");
    std::fs::copy(repo().join("data/sentences.csv"), dir.join("sentences.csv")).unwrap();
    let text = r#"
source reviews = csv("sentences.csv")
transform words = fit(reviews) {
    tokenize(text, vocab: 300, length: 12)
}
output ids = words(reviews) |> write("ids.parquet")
"#;
    let errors = run_events(&dir, text, false, &mut |_| {});
    assert!(errors.is_empty(), "{errors:?}");
    let script = r#"
import collections, csv, json, re, pyarrow.parquet as pq
texts = [r["text"] for r in csv.DictReader(open("sentences.csv", encoding="utf-8"))]
words = lambda t: re.findall(r"[^\W_]+", t.lower())
counts = collections.Counter(w for t in texts for w in words(t))
vocab = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:300]]
index = {w: i + 2 for i, w in enumerate(vocab)}
want = [[0] * (12 - len(ids)) + ids for ids in ([index.get(w, 1) for w in words(t)][:12] for t in texts)]
got = pq.read_table("ids.parquet").column("text").to_pylist()
bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
print(json.dumps({"rows": len(got), "expected": len(want), "differ": bad[:5], "unknown": sum(r.count(1) for r in want), "padded": sum(r.count(0) for r in want)}))
"#;
    let out = std::process::Command::new(python).arg("-c").arg(script).current_dir(&dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(said["rows"], said["expected"], "{said}");
    assert_eq!(said["rows"], 3000, "{said}");
    assert_eq!(said["differ"], serde_json::json!([]), "{said}");
    assert!(said["unknown"].as_u64().unwrap() > 1000 && said["padded"].as_u64().unwrap() > 1000, "{said}");
}

/// `pipelines/sentences.pipe` (a text CNN and a GRU) on its test rows,
/// against scikit-learn's TF-IDF + logistic regression trained on the same
/// training rows (the pipeline writes both parts): the stated bar is an
/// accuracy within 0.03 of the baseline, and a ROC AUC above 0.85, for
/// each model.
#[test]
fn the_text_example_comes_within_three_points_of_tfidf_logistic_regression() {
    let Some(python) = provided("PIPE_TEST_PYTHON") else { return };
    let dir = scratch("text_example");
    let text = std::fs::read_to_string(repo().join("pipelines/sentences.pipe"))
        .unwrap()
        .replace("\"../data/", &format!("\"{}/data/", repo().display()));
    let mut scores = Vec::new();
    let errors = run_events(&dir, &text, false, &mut |e| {
        if let pipe::run::Event::Evaluated { name, scores: s, .. } = e {
            scores.push((name.to_string(), s.accuracy.unwrap(), s.auc.unwrap()));
        }
    });
    assert!(errors.is_empty(), "{errors:?}");
    let script = r#"
import csv
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
read = lambda p: list(csv.DictReader(open(p, encoding="utf-8")))
train, test = read("out/sentences_train.csv"), read("out/sentences_test.csv")
vectorizer = TfidfVectorizer()
model = LogisticRegression(max_iter=1000).fit(vectorizer.fit_transform([r["text"] for r in train]), [r["label"] for r in train])
print(model.score(vectorizer.transform([r["text"] for r in test]), [r["label"] for r in test]))
"#;
    let out = std::process::Command::new(python).arg("-c").arg(script).current_dir(&dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let baseline: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert_eq!(scores.len(), 2, "{scores:?}");
    for (name, accuracy, auc) in scores {
        eprintln!("{name}: accuracy {accuracy:.4} (auc {auc:.4}), TF-IDF + logistic regression {baseline:.4}");
        assert!(accuracy >= baseline - 0.03, "{name}: {accuracy} vs TF-IDF + LR {baseline}");
        assert!(auc > 0.85, "{name}: auc {auc}");
    }
}

/// Sequence models have no `nn.Sequential` form: `pipe export` and
/// `weights(...)` refuse them rather than leave layers out.
#[test]
fn sequence_models_have_no_sequential_form() {
    let dir = scratch("text_no_sequential");
    std::fs::write(dir.join("texts.csv"), "text,label\na b c,x\nd e,y\n").unwrap();
    for layers in ["conv1d(4)\n    global_maxpool()", "lstm(4)", "gru(4)", "attention(heads: 2)\n    global_avgpool()"]
    {
        let text = format!(
            "source texts = csv(\"texts.csv\")\ntransform words = fit(texts) {{\n    tokenize(text, vocab: 5, length: 4)\n}}\nmodel m {{\n    embedding(4)\n    {layers}\n    dense(2)\n}}\ntrain r = m on words(texts) {{\n    target: label\n}}\n"
        );
        let program = crate::run::checked(&dir, &text);
        let model = program
            .items
            .iter()
            .flatten()
            .find_map(|i| if let pipe::ir::ItemKind::Train(t) = &i.kind { Some(t.model.clone()) } else { None })
            .unwrap();
        let refused = model.torch_entries().expect_err(layers);
        assert!(refused.contains("no nn.Sequential form"), "{layers}: {refused}");
    }
}
