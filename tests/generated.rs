//! A generator of random pipelines that proves the promise: whatever
//! `pipe check` accepts, `pipe run` completes without an internal error
//! and without a run error the checker could have known.
//!
//! Programs are drawn from the language's parts (the data operations'
//! names and parameters come from the checker's declarations, each with
//! valid and invalid arguments; models; training settings; evaluate,
//! predict and output items) over small shipped CSVs. The checker decides
//! which are accepted; every accepted program is run.
//!
//! `bench/generated.rs` runs the same generator on 100,000 programs.

use std::path::Path;

use pipe::random::Rng;
use pipe::source::SourceMap;

/// A column the generator believes a frame has.
#[derive(Clone, Debug)]
struct Col {
    name: String,
    numeric: bool,
    nullable: bool,
}

/// A data set to start from: its file and columns.
struct Data {
    file: &'static str,
    columns: &'static [(&'static str, bool, bool)],
    target: &'static str,
    classes: usize,
}

const DATA: [Data; 2] = [
    Data {
        file: "iris.csv",
        columns: &[
            ("sepal_length_cm", true, false),
            ("sepal_width_cm", true, false),
            ("petal_length_cm", true, false),
            ("petal_width_cm", true, false),
            ("label", false, false),
        ],
        target: "label",
        classes: 3,
    },
    Data {
        file: "penguins.csv",
        columns: &[
            ("species", false, false),
            ("island", false, false),
            ("bill_length_mm", true, true),
            ("bill_depth_mm", true, true),
            ("flipper_length_mm", true, true),
            ("body_mass_g", true, true),
            ("sex", false, true),
            ("year", true, false),
        ],
        target: "species",
        classes: 3,
    },
];

/// Random choices, seeded. A strict draw makes only choices meant to be
/// valid (half the programs), so that many programs reach the runner; the
/// others mix in mistakes for the checker to catch.
struct Draw(Rng, bool);

impl Draw {
    /// `percent` of the time, a mistake (never in a strict draw).
    fn mistake(&mut self, percent: usize) -> bool {
        !self.1 && self.chance(percent)
    }

    /// One of `valid`, or now and then one of `invalid`.
    fn choose<'a>(&mut self, valid: &[&'a str], invalid: &[&'a str]) -> &'a str {
        if !invalid.is_empty() && self.mistake(15) {
            invalid[self.0.below(invalid.len())]
        } else {
            valid[self.0.below(valid.len())]
        }
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.0.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.0.below(items.len())]
    }

    fn number(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * (self.0.below(1000) as f64 / 1000.0)
    }
}

/// A generated program and what it is about.
pub struct Generated {
    /// The `.pipe` text.
    pub text: String,
}

/// The program for `seed`, reading the CSVs of `data_dir`.
pub fn program(seed: u64, data_dir: &Path) -> Generated {
    let mut rng = Rng::new(seed);
    let strict = rng.below(2) == 0;
    let mut d = Draw(rng, strict);
    let data = d.pick(&DATA);
    let mut cols: Vec<Col> = data
        .columns
        .iter()
        .map(|(n, numeric, nullable)| Col { name: (*n).into(), numeric: *numeric, nullable: *nullable })
        .collect();
    let mut text = String::from("import std.models { mlp, linear }\n\n");
    text += &format!("source raw = csv(\"{}\")\n\n", data_dir.join(data.file).display());
    // A stage of stateless operations.
    let mut chain = String::from("raw");
    for _ in 0..d.0.below(4) {
        chain += &format!(" |> {}", stateless(&mut d, &mut cols, data.target));
    }
    text += &format!("stage clean = {chain}\n\n");
    let fractions = d.pick(&["[0.6, 0.2, 0.2]", "[0.5, 0.25, 0.25]", "[0.7, 0.2, 0.1]"]).to_string();
    let stratify = if d.chance(70) { format!(", stratify: {}", data.target) } else { String::new() };
    text += &format!("split train, val, test = clean |> split({fractions}{stratify}, seed: {})\n\n", d.0.below(9));
    // A fitted transform.
    let mut steps = Vec::new();
    let mut fitted_cols = cols.clone();
    for _ in 0..1 + d.0.below(4) {
        steps.push(fitted(&mut d, &mut fitted_cols, data.target));
    }
    if d.1 {
        // A strict program leaves the model numbers without gaps.
        for c in fitted_cols.iter().filter(|c| c.name != data.target) {
            if !c.numeric {
                steps.push(format!("fill_nulls({}, \"unknown\")", c.name));
                steps.push(format!("onehot({})", c.name));
            } else if c.nullable {
                steps.push(format!("fill_nulls({}, median)", c.name));
            }
        }
    }
    text += &format!("transform prep = fit(train) {{\n    {}\n}}\n\n", steps.join("\n    "));
    // A model and its training run.
    let hidden = d.pick(&["[4]", "[8]", "[4, 4]"]).to_string();
    let out = if !d.mistake(10) { data.classes } else { 1 + d.0.below(4) };
    let model = match d.0.below(4) {
        0 => format!("linear(out: {out})"),
        1 => {
            text += &format!("model net {{\n    {}\n}}\n\n", layers(&mut d, out).join("\n    "));
            "net".into()
        }
        _ => format!("mlp(hidden: {hidden}, out: {out}, dropout: {})", d.pick(&["0.0", "0.2"])),
    };
    let validated = d.chance(60);
    let raw_data = d.mistake(8);
    let train_data = if raw_data { "train" } else { "prep(train)" };
    let mut settings = vec![format!("target: {}", if !d.mistake(5) { data.target } else { "nothing" })];
    if validated {
        settings.push(format!("validate: {}", if !d.mistake(10) { "prep(val)" } else { "val" }));
    }
    settings.push(format!("epochs: {}", d.choose(&["1", "2", "0"], &["-1"])));
    settings.push(format!("batch: {}", d.choose(&["16", "64", "auto"], &["0"])));
    for _ in 0..d.0.below(4) {
        settings.push(setting(&mut d, validated));
    }
    dedup_keys(&mut settings);
    text += &format!("train run = {model} on {train_data} {{\n    {}\n}}\n\n", settings.join("\n    "));
    // Evaluate, predict, output.
    let metrics: Vec<&str> = (0..1 + d.0.below(3))
        .map(|_| {
            d.choose(
                &["accuracy", "f1", "precision", "recall", "confusion", "loss", "auc", "log_loss"],
                &["mae", "mse", "rmse", "roc"],
            )
        })
        .collect();
    let eval_data = if !d.mistake(10) { "prep(test)" } else { "test" };
    text += &format!("evaluate report = run on {eval_data} {{ metrics: [{}] }}\n\n", metrics.join(", "));
    if d.chance(50) {
        let predict_data = if !d.mistake(10) { "prep(test)" } else { "test" };
        text += &format!("output predictions = {predict_data} |> predict(run) |> write(\"out/p.csv\")\n");
    }
    if d.chance(30) {
        text += &format!("output cleaned = clean |> write(\"out/c.{}\")\n", d.pick(&["csv", "parquet"]));
    }
    Generated { text }
}

/// Later settings of the same key are dropped (a duplicate is its own
/// check error; the generator is after the others).
fn dedup_keys(settings: &mut Vec<String>) {
    let mut seen = Vec::new();
    settings.retain(|s| {
        let key = s.split(':').next().unwrap_or_default().to_owned();
        let fresh = !seen.contains(&key);
        seen.push(key);
        fresh
    });
}

fn numeric(cols: &[Col], target: &str) -> Vec<String> {
    cols.iter().filter(|c| c.numeric && c.name != target).map(|c| c.name.clone()).collect()
}

fn text_cols(cols: &[Col], target: &str) -> Vec<String> {
    cols.iter().filter(|c| !c.numeric && c.name != target).map(|c| c.name.clone()).collect()
}

/// A column name: usually one that fits, sometimes any, rarely a typo.
fn column(d: &mut Draw, fitting: &[String], cols: &[Col]) -> String {
    if d.mistake(3) || cols.is_empty() {
        return "no_such_column".into();
    }
    if fitting.is_empty() || d.mistake(5) {
        return d.pick(cols).name.clone();
    }
    d.pick(fitting).clone()
}

/// An operation that learns nothing.
fn stateless(d: &mut Draw, cols: &mut Vec<Col>, target: &str) -> String {
    let nums = numeric(cols, target);
    match d.0.below(10) {
        0 => {
            let c = column(d, &nums, cols);
            format!("filter({c} > {:.1})", d.number(-1.0, 40.0))
        }
        1 => {
            let c = column(d, &nums, cols);
            let other = column(d, &nums, cols);
            let name = format!("w{}", d.0.below(100));
            let op = d.pick(&["+", "-", "*", "/"]);
            cols.push(Col { name: name.clone(), numeric: true, nullable: true });
            let function = d.pick(&["abs", "sqrt", "log", "exp", ""]).to_string();
            if function.is_empty() {
                format!("with({name}: {c} {op} {other})")
            } else {
                format!("with({name}: {function}({c}))")
            }
        }
        2 => {
            let c = column(d, &nums, cols);
            cols.retain(|x| x.name != c);
            format!("drop({c})")
        }
        3 => {
            for c in cols.iter_mut() {
                c.nullable = false;
            }
            "drop_nulls()".into()
        }
        4 => {
            let c = column(d, &nums, cols);
            let to = d.choose(&["f64"], &["i64", "str", "bool"]);
            format!("cast({c}, {to})")
        }
        5 => format!("sample(frac: {:.2}, seed: 1)", d.number(0.5, 1.2)),
        6 => {
            let c = column(d, &nums, cols);
            let name = format!("n{}", d.0.below(100));
            let old = cols.iter().position(|x| x.name == c);
            if let Some(i) = old {
                cols[i].name = name.clone();
            }
            format!("rename({name}: {c})")
        }
        7 => {
            let kept: Vec<String> = cols.iter().filter(|_| d.chance(80)).map(|c| c.name.clone()).collect();
            let keep_target = !kept.iter().any(|k| k == target) && !d.mistake(10);
            let mut list = kept;
            if keep_target {
                list.push(target.into());
            }
            if list.is_empty() {
                list.push(target.into());
            }
            cols.retain(|c| list.contains(&c.name));
            format!("select({})", list.join(", "))
        }
        9 if !d.1 => declared(d, cols, target),
        _ => "cache()".into(),
    }
}

/// Any declared operation (`check::ops::OPERATIONS`) with arguments made
/// from its parameters: columns where it takes columns, a value drawn from
/// a small pool for the rest, named parameters now and then.
fn declared(d: &mut Draw, cols: &[Col], target: &str) -> String {
    use pipe::check::ops::{OPERATIONS, Params};
    let operation = d.pick(OPERATIONS);
    let nums = numeric(cols, target);
    let mut args = Vec::new();
    match &operation.params {
        Params::Pairs(_) => args.push(format!("{}: {}", column(d, &nums, cols), d.pick(&["1", "x2", "\"a\""]))),
        Params::List(params) => {
            for param in *params {
                if !param.required && !d.chance(40) {
                    continue;
                }
                let value = match param.name {
                    "columns" | "column" | "stratify" => column(d, &nums, cols),
                    _ => d.pick(&["1", "2", "0.5", "true", "\"out/x.csv\"", "[0, 1, 2]", "median", "f64"]).to_string(),
                };
                args.push(if param.positional { value } else { format!("{}: {value}", param.name) });
            }
        }
    }
    format!("{}({})", operation.name, args.join(", "))
}

/// The layers of a `model` block: one to three drawn from the checker's
/// declarations (`check::layers::LAYERS`, image layers and embeddings
/// included: on tabular data the checker must refuse them), each with
/// valid or invalid arguments, then `dense(out)`.
fn layers(d: &mut Draw, out: usize) -> Vec<String> {
    use pipe::check::layers::LAYERS;
    let mut layers = Vec::new();
    for _ in 0..1 + d.0.below(3) {
        let layer = if d.1 {
            // A strict draw keeps to layers that take a flat input.
            let flat = [
                "dense",
                "batchnorm",
                "layernorm",
                "dropout",
                "relu",
                "leaky_relu",
                "elu",
                "gelu",
                "tanh",
                "silu",
                "swish",
                "selu",
                "softplus",
                "mish",
                "hard_sigmoid",
                "prelu",
            ];
            d.pick(LAYERS.iter().filter(|l| flat.contains(&l.name)).collect::<Vec<_>>().as_slice()).to_owned()
        } else {
            d.pick(LAYERS)
        };
        let mut args = Vec::new();
        for param in layer.params {
            if !param.required && !d.chance(40) {
                continue;
            }
            let value = match param.name {
                "units" | "filters" | "size" | "kernel" | "stride" | "vocabulary" | "dim" => {
                    d.choose(&["4", "2"], &["0", "-2", "2.5"])
                }
                "rate" => d.choose(&["0.2", "0.0"], &["1.5", "\"a\""]),
                "slope" | "alpha" => d.choose(&["0.1", "0.3"], &["\"a\""]),
                "init" => d.choose(
                    &[
                        "he_normal",
                        "glorot_uniform",
                        "xavier_normal",
                        "zeros",
                        "constant(0.1)",
                        "truncated_normal(std: 0.1)",
                    ],
                    &["truncated_normal(std: 0)", "nope", "constant(\"a\")", "3"],
                ),
                "padding" => d.choose(&["same", "valid"], &["full"]),
                "shared" => d.choose(&["true", "false"], &["1"]),
                "l2" => d.choose(&["1e-4", "0.0"], &["-1"]),
                "mean" | "std" => d.choose(&["0.5", "[0.5]"], &["-1", "[1, 2]", "\"a\""]),
                _ => d.pick(&["1", "\"a\""]),
            };
            args.push(if param.positional { value.to_string() } else { format!("{}: {value}", param.name) });
        }
        layers.push(format!("{}({})", layer.name, args.join(", ")));
    }
    layers.push(format!("dense({out})"));
    layers
}

/// A step of a fitted transform.
fn fitted(d: &mut Draw, cols: &mut Vec<Col>, target: &str) -> String {
    let nums = numeric(cols, target);
    let texts = text_cols(cols, target);
    let choice = d.0.below(9);
    // A strict draw does not pick a kind of column the frame lacks.
    let choice = if d.1 && ((texts.is_empty() && matches!(choice, 3 | 4)) || nums.is_empty()) { 9 } else { choice };
    match choice {
        0 | 1 => {
            let picked: Vec<String> = nums.iter().filter(|_| d.chance(70)).cloned().collect();
            let list = if picked.is_empty() { column(d, &nums, cols) } else { picked.join(", ") };
            format!("{}({list})", d.pick(&["standard", "minmax", "robust"]))
        }
        2 => {
            let c = column(d, &nums, cols);
            let value = d.choose(&["mean", "median", "0"], &["\"x\""]).to_string();
            format!("fill_nulls({c}, {value})")
        }
        3 => {
            let c = column(d, &texts, cols);
            let value = d.choose(&["\"unknown\"", "\"x\""], &["median"]).to_string();
            format!("fill_nulls({c}, {value})")
        }
        4 => {
            let c = column(d, &texts, cols);
            cols.retain(|x| x.name != c);
            let drop_first = if d.chance(30) { ", drop_first: true" } else { "" };
            format!("onehot({c}{drop_first})")
        }
        5 => {
            let c = column(d, &nums, cols);
            let name = format!("{c}_q");
            cols.push(Col { name: name.clone(), numeric: false, nullable: true });
            format!("qcut({c}, {}) as {name}", d.choose(&["2", "4", "10"], &["1"]))
        }
        6 => {
            let c = column(d, &nums, cols);
            let name = format!("{c}_b");
            cols.push(Col { name: name.clone(), numeric: false, nullable: true });
            let edges = d.choose(&["[0, 10, 100, inf]", "[-inf, 0, inf]", "[0, 2000, 10000]"], &["[5, 1]"]).to_string();
            format!("cut({c}, {edges}) as {name}")
        }
        7 => {
            let picked: Vec<String> = nums.iter().filter(|_| d.chance(80)).cloned().collect();
            let k = d.choose(&["1", "2"], &["3", "9"]);
            let list = if picked.is_empty() { column(d, &nums, cols) } else { picked.join(", ") };
            let keep = if d.chance(30) { ", keep: true" } else { "" };
            format!("pca({list}, k: {k}{keep})")
        }
        8 => {
            let c = column(d, &nums, cols);
            format!("fill_nulls({c}, median)")
        }
        _ => "cache()".into(),
    }
}

/// A training setting, usually valid.
fn setting(d: &mut Draw, validated: bool) -> String {
    let split = if validated && d.chance(60) { "val" } else { "train" };
    match d.0.below(12) {
        0 => {
            format!("loss: {}", d.choose(&["cross_entropy"], &["binary_cross_entropy", "mse", "huber", "mae", "hinge"]))
        }
        1 => format!(
            "optimizer: {}",
            d.choose(
                &[
                    "adam(lr: 1e-2)",
                    "sgd(lr: 0.05, momentum: 0.9)",
                    "sgd(lr: 0.05, momentum: 0.9, nesterov: true)",
                    "adamw(lr: 3e-3, weight_decay: 0.01)",
                    "rmsprop(lr: 1e-3)",
                ],
                &["adam(lr: -1)", "adagrad(lr: 0.1)", "sgd(lr: 0.05, nesterov: true)"],
            )
        ),
        2 => format!(
            "schedule: {}",
            d.choose(
                &[
                    "cosine()",
                    "warmup(epochs: 1) then cosine(min_lr: 1e-5)",
                    "warmup(steps: 3) then step(every: 1, gamma: 0.5)",
                    "exponential(0.9)",
                    "on_plateau(patience: 1, factor: 0.5)",
                ],
                &["warmup(epochs: 1) then warmup(epochs: 1)", "cosine() then step()"],
            )
        ),
        3 => format!(
            "early_stop: patience({}, on: {split}.{}{})",
            d.choose(&["1", "2"], &["0"]),
            d.choose(&["loss", "accuracy", "f1", "recall", "precision"], &["mae", "confusion"]),
            d.pick(&["", ", restore_best: true", ", min_delta: 0.01"])
        ),
        4 => format!("precision: {}", d.choose(&["f32", "bf16", "f16"], &["f8"])),
        5 => format!("clip: {}", d.choose(&["norm(1.0)", "value(0.5)"], &["norm(0)"])),
        6 => format!("regularize: {}", d.choose(&["l2(1e-4)", "[l1(1e-5), l2(1e-4)]"], &["l3(1)"])),
        7 => "class_weight: balanced".into(),
        8 => format!("accumulate: {}", d.choose(&["1", "2"], &["0"])),
        9 => format!("seed: {}", d.0.below(5)),
        10 => format!("device: {}", d.choose(&["cpu", "[cpu, cpu]"], &["gpu"])),
        _ => format!("log: {}", d.pick(&["console", "[console, csv(\"out/m.csv\")]", "jsonl(\"out/m.jsonl\")"])),
    }
}

/// What happened to one program.
#[derive(Debug)]
pub enum Outcome {
    /// The checker refused it (the first error's code).
    Refused(String),
    /// It ran to the end.
    Ran,
    /// It stopped with a run error the data explains (a loss that
    /// diverged, a sample larger than the data, repeated quantile edges).
    DataError(String),
    /// It stopped with a run error the checker could have known, or an
    /// internal error: the promise broken.
    Broken(String),
}

/// Checks `text` as a file of `dir`, and runs it when it checks clean.
pub fn check_and_run(dir: &Path, text: &str) -> Outcome {
    let path = dir.join("main.pipe");
    let mut sources = SourceMap::new();
    let id = sources.add(path.display().to_string(), text);
    let parsed = pipe::syntax::parse(text, id);
    if let Some(error) = parsed.errors.first() {
        return Outcome::Refused(code(error));
    }
    let report = pipe::check::check(&parsed.program, &mut sources, Some(dir));
    if let Some(error) = report.errors.iter().find(|e| e.is_error()) {
        return Outcome::Refused(code(error));
    }
    let options = pipe::run::Options {
        dir: dir.to_path_buf(),
        cache: false,
        only: Vec::new(),
        source_text: None,
        control: None,
        resume: false,
        in_memory: false,
        memory: None,
    };
    let ran =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pipe::run::run(&report.ir, &options, &mut |_| {})));
    let errors = match ran {
        Ok(errors) => errors,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            return Outcome::Broken(format!("panic: {message}"));
        }
    };
    match errors.first() {
        None => Outcome::Ran,
        Some(error) => {
            let text = error.to_string();
            if data_dependent(&text) { Outcome::DataError(text) } else { Outcome::Broken(text) }
        }
    }
}

fn code(error: &dyn miette::Diagnostic) -> String {
    error.code().map(|c| c.to_string()).unwrap_or_default()
}

/// Run errors that depend on the rows, which the checker does not see.
fn data_dependent(message: &str) -> bool {
    const DATA: [&str; 10] = [
        "diverged",
        "asks for",
        "repeated",
        "missing values",
        "became NaN",
        "has no rows",
        "it has no values",
        "edges of",
        "missing or infinite values",
        "needs at least",
    ];
    DATA.iter().any(|d| message.contains(d))
}

/// Runs `count` programs from `first_seed` in `dir` and returns the
/// outcomes' tallies and the broken programs (seed, text, error).
pub fn sweep(first_seed: u64, count: u64, dir: &Path, data_dir: &Path) -> (Tally, Vec<(u64, String, String)>) {
    let mut tally = Tally::default();
    let mut broken = Vec::new();
    for seed in first_seed..first_seed + count {
        let generated = program(seed, data_dir);
        match check_and_run(dir, &generated.text) {
            Outcome::Refused(code) => {
                tally.refused += 1;
                *tally.refusals.entry(code).or_default() += 1;
            }
            Outcome::Ran => tally.ran += 1,
            Outcome::DataError(e) => {
                tally.data_errors += 1;
                *tally.data_classes.entry(first_line(&e)).or_default() += 1;
            }
            Outcome::Broken(e) => {
                tally.broken += 1;
                broken.push((seed, generated.text, e));
            }
        }
    }
    (tally, broken)
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().chars().take(60).collect()
}

/// How many programs ended each way.
#[derive(Debug, Default)]
pub struct Tally {
    /// Refused by the checker.
    pub refused: u64,
    /// The refusals by their first error's code.
    pub refusals: std::collections::BTreeMap<String, u64>,
    /// Ran to the end.
    pub ran: u64,
    /// Stopped on the data.
    pub data_errors: u64,
    /// The data errors by their first words.
    pub data_classes: std::collections::BTreeMap<String, u64>,
    /// Broke the promise.
    pub broken: u64,
}
