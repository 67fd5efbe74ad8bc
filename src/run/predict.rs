//! `pipe predict RUN_DIR DATA -o OUT`: new data through the steps the
//! training data went through after it was split (the fitted transforms,
//! with the numbers saved in the run folder, and the operations around
//! them), then the trained model: the same code as a pipeline's `predict`.

use std::path::{Path, PathBuf};

use polars::prelude::{DataFrame, DataType};

use crate::files::checksums;
use crate::files::probe::{CsvOptions, DEFAULT_NULLS, csv_columns};
use crate::ir::{Frame, FrameInput, ItemId, ItemKind, Op, Program, Source, SourceFiles};
use crate::run::error::{RunError, RunResult};
use crate::run::fitted::{self, Fitted};
use crate::run::fitted_fit;
use crate::run::training::{self, TrainedMeta};
use crate::run::{read, write};
use crate::schema::Schema;
use crate::source::Span;

/// What a prediction did.
#[derive(Debug)]
pub struct Predicted {
    /// Rows written.
    pub rows: usize,
    /// Warnings met applying the transforms (unseen levels, values outside
    /// bins), with spans into the saved pipeline.
    pub warnings: Vec<RunError>,
}

fn failure(message: impl Into<String>, help: &str) -> RunError {
    RunError::Predict { message: message.into(), help: help.into() }
}

/// A training run's folder, read: what it learned, and the pipeline it ran
/// (which the caller checks into a [`Program`]).
#[derive(Debug)]
pub struct SavedRun {
    /// The folder.
    pub dir: PathBuf,
    /// The `train` item's name.
    pub name: String,
    /// What was trained.
    pub meta: TrainedMeta,
    /// The `.pipe` file as it was when the run trained.
    pub pipeline: String,
    /// What its data's transforms learned.
    pub transforms: Vec<(String, Vec<Fitted>)>,
    /// Where to predict instead of the first device it trained on
    /// (`--device`; an export reads the weights on the CPU).
    pub device: Option<crate::ir::Device>,
}

impl SavedRun {
    /// The run with its weights read on the CPU, whatever it trained on
    /// (an export reads values; nothing computes).
    pub fn on_cpu(self) -> SavedRun {
        SavedRun { device: Some(crate::ir::Device::local(crate::ir::DeviceKind::Cpu, None)), ..self }
    }
}

/// The training run a run folder holds, from its saved pipeline: the
/// item named `name`, or the point of its sweep the folder records.
pub fn saved_train(program: &Program, name: &str, run_dir: &Path) -> RunResult<crate::ir::Train> {
    let train = program
        .items
        .iter()
        .flatten()
        .find_map(|i| match &i.kind {
            ItemKind::Train(t) if i.name == name => Some(t.as_ref()),
            _ => None,
        })
        .ok_or_else(|| not_a_run(run_dir))?;
    training::folder_run(train, run_dir).ok_or_else(|| {
        failure(
            format!("`{}` is no point of the sweep `{name}` of its saved pipeline", run_dir.display()),
            "give a run folder that `pipe run` wrote for a point of this sweep",
        )
    })
}

/// The run's `train` item (see [`saved_train`]) on the one device it
/// predicts on: `saved.device` when given (`--device`), else the first
/// device it trained on, as its `settings.json` records it (a `pipe run
/// --device` override included, which the saved pipeline does not show).
fn predicting_train(program: &Program, saved: &SavedRun) -> RunResult<crate::ir::Train> {
    let mut train = saved_train(program, &saved.name, &saved.dir)?;
    let device = match &saved.device {
        Some(device) => device.clone(),
        None => trained_on(&saved.dir)?,
    };
    if !built_here(device.kind) {
        return Err(failure(
            format!("the run trained on {device}, and this build of pipe has no backend for it"),
            PREDICT_ON_CPU,
        ));
    }
    train.settings.devices = vec![device];
    training::devices_present(&train, Span::default()).map_err(|error| match error {
        RunError::NoDevice { device, found, span, .. } => {
            RunError::NoDevice { device, found, span, help: PREDICT_ON_CPU.into() }
        }
        other => other,
    })?;
    Ok(train)
}

/// The help where the device a run trained on is missing here.
const PREDICT_ON_CPU: &str =
    "predict on this machine's CPU with `--device cpu` (or `--device torch.cpu` in a build with libtorch)";

/// The first device a run folder's training ran on (its `settings.json`).
fn trained_on(run_dir: &Path) -> RunResult<crate::ir::Device> {
    let settings: serde_json::Value = std::fs::read(run_dir.join("settings.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| not_a_run(run_dir))?;
    serde_json::from_value(settings["devices"][0].clone()).map_err(|e| {
        failure(format!("`{}`'s settings.json names no device it trained on: {e}", run_dir.display()), "train again")
    })
}

/// Whether this build has the backend of a device of `kind` (a remote
/// run's weights predict on this machine's CPU, as `device_of` says).
fn built_here(kind: crate::ir::DeviceKind) -> bool {
    use crate::ir::DeviceKind;
    match kind {
        DeviceKind::Cpu | DeviceKind::Remote => true,
        DeviceKind::TorchCpu | DeviceKind::TorchCuda => crate::backend::has_libtorch(),
        DeviceKind::Cuda => crate::backend::has_cubecl_cuda(),
    }
}

/// The error for a folder that is no run folder.
pub fn not_a_run(run_dir: &Path) -> RunError {
    failure(
        format!("`{}` is not a training run folder", run_dir.display()),
        "give a folder `pipe run` wrote: runs/<train item>/<time>/",
    )
}

/// The error for a run folder whose weights or record do not fit the model
/// its saved pipeline checks to now (`why`): hand-edited, or its data
/// changed shape since it trained (a column more widens the model).
pub fn unloadable(run_dir: &Path, why: &str) -> RunError {
    failure(
        format!("the run in `{}` does not fit the model its saved pipeline checks to now: {why}", run_dir.display()),
        "if the training data gained or lost columns since, put it back as it was, or train again with `pipe run`",
    )
}

/// The error for a saved pipeline that no longer checks (`first`: its
/// first mistake, as the checker says it).
pub fn stale_pipeline(first: Option<String>, pipeline_dir: &Path) -> RunError {
    let why = first.map_or_else(String::new, |f| format!(": {f}"));
    failure(
        format!("the pipeline saved with this run no longer checks{why}"),
        &format!(
            "its data files must still be where they were when it trained (its paths start at {})",
            pipeline_dir.display()
        ),
    )
}

/// The files `pipe predict` reads from a run folder.
const READ: [&str; 5] = ["trained.json", "pipeline.pipe", "transforms.json", "model.bpk", "settings.json"];

/// Reads a run folder, after checking its files against their checksums.
pub fn open_run(run_dir: &Path) -> RunResult<SavedRun> {
    if run_dir.join(crate::files::saved::MODEL).exists() {
        return Err(failure(
            format!("`{}` is a `save:` folder, not a training run folder", run_dir.display()),
            "give the run folder it was saved from (runs/<train item>/<time>/), or `load(...)` it in a pipeline",
        ));
    }
    if !run_dir.join("settings.json").exists() && !run_dir.join("trained.json").exists() {
        return Err(failure(
            format!("`{}` is not a training run folder: it has no settings.json or trained.json", run_dir.display()),
            "give a folder `pipe run` wrote: runs/<train item>/<time>/",
        ));
    }
    checksums::verify(run_dir, &READ).map_err(|damage| RunError::Damaged {
        path: run_dir.display().to_string(),
        damage: damage.to_string(),
        span: Span::default(),
        help: if damage == checksums::Damage::NoRecord && run_dir.join("trained.json").exists() {
            "a finished run written before `pipe` kept checksums, or one whose checksums.json was removed: train again with `pipe run`".into()
        } else if damage == checksums::Damage::NoRecord || damage.file() == "trained.json" {
            "a run folder is complete when its training finished (one stopped before has no trained.json); train again with `pipe run`".into()
        } else {
            "train again with `pipe run`: `pipe` reads a run folder's files back as it wrote them, so nothing in one may be edited".into()
        },
    })?;
    let meta: TrainedMeta = std::fs::read(run_dir.join("trained.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| not_a_run(run_dir))?;
    let pipeline = std::fs::read_to_string(run_dir.join("pipeline.pipe")).map_err(|_| not_a_run(run_dir))?;
    let transforms: Vec<(String, Vec<Fitted>)> = std::fs::read(run_dir.join("transforms.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| not_a_run(run_dir))?;
    let name = run_dir.parent().and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(SavedRun { dir: run_dir.to_path_buf(), name, meta, pipeline, transforms, device: None })
}

/// Predicts for the rows of `data` (a CSV or Parquet file, or an image
/// folder for a run trained on images) with a run folder, and writes
/// them with their predictions to `out` (CSV or Parquet).
pub fn predict_file(
    saved: SavedRun,
    program: &Program,
    data: &Path,
    out: &Path,
    probabilities: bool,
    threshold: Option<f64>,
) -> RunResult<Predicted> {
    let predictor = Predictor::open(saved, program.clone())?;
    // A folder of images for a run trained on images: the rows are its
    // files (in class sub-folders or not).
    let (df, files) = if data.is_dir() {
        let (df, files) = read_image_folder(data, &predictor.schema, &predictor.train.target)?;
        (df, Some(files))
    } else {
        (predictor.read(data)?, None)
    };
    let (result, warnings) = predictor.predict(df, probabilities, threshold)?;
    let result = match files {
        Some(files) => with_files(result, files)?,
        None => result,
    };
    let rows = result.height();
    write::frame(result, out, crate::ir::Codec::default(), Span::default())?;
    Ok(Predicted { rows, warnings })
}

/// What an export reads of a [`Predictor`].
pub(crate) type Parts<'a> = (&'a Program, &'a crate::ir::Train, &'a [(String, Vec<Fitted>)], &'a training::Trained);

/// Reads new rows in the types a run's data had.
#[derive(Clone, Debug)]
pub struct Reader {
    schema: Schema,
    target: String,
    weights: Option<String>,
}

impl Reader {
    /// The rows of a CSV or Parquet file, in the checked types; every input
    /// column must be there.
    pub fn read(&self, path: &Path) -> RunResult<DataFrame> {
        read_new(path, &self.schema, &self.target, self.weights.as_deref())
    }

    /// Rows given as JSON objects (`column: value`), in the checked types:
    /// numbers, text, `true`/`false`, `null` for a missing value; every
    /// input column there (the target and the weights may be). A value of
    /// the wrong kind is an error naming its row (from 1) and column.
    pub fn json_rows(&self, rows: &[serde_json::Map<String, serde_json::Value>]) -> RunResult<DataFrame> {
        use polars::prelude::{Column, NamedFrom, Series};
        // The keys in the order first met, each once (a set keeps a body
        // of many distinct keys linear).
        let mut present: Vec<String> = Vec::new();
        let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for row in rows {
            for key in row.keys() {
                if seen.insert(key.as_str()) {
                    present.push(key.clone());
                }
            }
        }
        all_there(&self.schema, &self.target, self.weights.as_deref(), &present, "the request")?;
        let mut columns = Vec::new();
        for column in self.schema.columns.iter().filter(|c| present.contains(&c.name)) {
            let name = column.name.as_str();
            let cells = rows.iter().map(|r| r.get(name).filter(|v| !v.is_null()));
            let wrong = |row: usize, value: &serde_json::Value, kind: &str| {
                failure(
                    format!("row {}, column `{name}`: {value} is not {kind}", row.saturating_add(1)),
                    &format!("`{name}` holds {kind}s, as the training data did; null is a missing value"),
                )
            };
            // Each cell read as `kind`, or the error naming its row.
            fn read<'a, T>(
                cells: impl Iterator<Item = Option<&'a serde_json::Value>>,
                kind: &str,
                wrong: &dyn Fn(usize, &serde_json::Value, &str) -> RunError,
                value: impl Fn(&serde_json::Value) -> Option<T>,
            ) -> RunResult<Vec<Option<T>>> {
                cells
                    .enumerate()
                    .map(|(i, v)| v.map(|v| value(v).ok_or_else(|| wrong(i, v, kind))).transpose())
                    .collect()
            }
            let series = match &column.dtype {
                crate::schema::DType::F64 => Series::new(name.into(), read(cells, "a number", &wrong, |v| v.as_f64())?),
                crate::schema::DType::I64 => {
                    let whole = |v: &serde_json::Value| {
                        v.as_i64()
                            .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| f as i64))
                    };
                    Series::new(name.into(), read(cells, "a whole number", &wrong, whole)?)
                }
                crate::schema::DType::Bool => {
                    Series::new(name.into(), read(cells, "true or false", &wrong, |v| v.as_bool())?)
                }
                crate::schema::DType::Str | crate::schema::DType::Cat(_) => {
                    let text = |v: &serde_json::Value| match v {
                        serde_json::Value::String(s) => Some(s.clone()),
                        serde_json::Value::Number(n) => Some(n.to_string()),
                        serde_json::Value::Bool(b) => Some(b.to_string()),
                        _ => None,
                    };
                    Series::new(name.into(), read(cells, "a text", &wrong, text)?)
                }
                other => {
                    return Err(failure(
                        format!("`{name}` is {other}, which JSON rows cannot give"),
                        "send the rows as a file to `pipe predict`",
                    ));
                }
            };
            columns.push(Column::from(series));
        }
        DataFrame::new(rows.len(), columns).map_err(|e| failure(e.to_string(), ""))
    }
}

/// A run folder loaded once for many predictions (`pipe predict`'s file,
/// `pipe serve`'s requests): the saved pipeline's run, the numbers its
/// transforms learned, the trained weights.
pub struct Predictor {
    program: Program,
    train: crate::ir::Train,
    saved: Vec<(String, Vec<Fitted>)>,
    pipeline_dir: PathBuf,
    trained: training::Trained,
    /// The columns the training data had before its transforms.
    schema: Schema,
}

impl Predictor {
    /// Loads a run folder whose saved pipeline checked into `program`.
    pub fn open(saved: SavedRun, program: Program) -> RunResult<Self> {
        let train = predicting_train(&program, &saved)?;
        let SavedRun { dir, meta, transforms, .. } = saved;
        let (base, _) = layers(&train.data);
        let schema = base_schema(&program, base).unwrap_or_else(|| base.schema.clone());
        let pipeline_dir = meta.pipeline_dir.clone();
        let trained = training::load(&train, &dir.join("model.bpk"), meta).map_err(|why| unloadable(&dir, &why))?;
        saved_numbers_fit(&program, &transforms)?;
        Ok(Predictor { program, train, saved: transforms, pipeline_dir, trained, schema })
    }

    /// The columns new rows bring, in their checked types: those the
    /// training data had before its transforms, but the target and the
    /// rows' weights.
    pub fn input_columns(&self) -> Vec<&crate::schema::Column> {
        let weights = self.train.settings.weights.as_deref();
        self.schema.columns.iter().filter(|c| c.name != self.train.target && Some(c.name.as_str()) != weights).collect()
    }

    /// What an export reads: the saved pipeline, the run, the numbers its
    /// transforms learned, the trained weights.
    pub(crate) fn parts(&self) -> Parts<'_> {
        (&self.program, &self.train, &self.saved, &self.trained)
    }

    /// The column the run predicts.
    pub fn target(&self) -> &str {
        &self.train.target
    }

    /// The classes, for a run that learns classes.
    pub fn classes(&self) -> Option<&[String]> {
        self.trained.meta.classes.as_deref()
    }

    /// Whether the run reads images (its rows come from a folder).
    pub fn reads_images(&self) -> bool {
        self.schema.columns.iter().any(|c| matches!(c.dtype, crate::schema::DType::Image(_)))
    }

    /// The rows of a CSV or Parquet file, in the checked types; every input
    /// column must be there.
    pub fn read(&self, path: &Path) -> RunResult<DataFrame> {
        self.reader().read(path)
    }

    /// What reads new rows, apart from the predictor (another thread may
    /// read while this one predicts).
    pub fn reader(&self) -> Reader {
        Reader {
            schema: self.schema.clone(),
            target: self.train.target.clone(),
            weights: self.train.settings.weights.clone(),
        }
    }

    /// `rows` with their predictions (and, when asked, each class's
    /// probability), and the warnings met applying the transforms.
    pub fn predict(
        &self,
        rows: DataFrame,
        probabilities: bool,
        threshold: Option<f64>,
    ) -> RunResult<(DataFrame, Vec<RunError>)> {
        self.check_asked(probabilities, threshold)?;
        let (_, stages) = layers(&self.train.data);
        let mut warnings = Vec::new();
        let original = rows.clone();
        let df = prepare(&self.program, rows, &stages, &self.saved, &self.pipeline_dir, &mut warnings)?;
        let classes = if probabilities { self.trained.meta.classes.clone().unwrap_or_default() } else { Vec::new() };
        let asked = training::Asked { probability: probabilities, classes: &classes, threshold };
        let predicted = training::predict(&self.trained, &self.train, df, &asked, Span::default())?;
        // The rows as given, with their predictions (when no step dropped rows).
        let mut added = vec![crate::ir::PREDICTION.to_owned()];
        if probabilities {
            added.push(crate::ir::PROBABILITY.to_owned());
            added.extend(classes.iter().map(|c| crate::ir::class_probability(c)));
        }
        let result = if predicted.height() == original.height() {
            let mut rows = original;
            for name in &added {
                let column = predicted.column(name).map_err(|e| failure(e.to_string(), ""))?;
                rows.with_column(column.clone()).map_err(|e| failure(e.to_string(), ""))?;
            }
            rows
        } else {
            predicted
        };
        Ok((result, warnings))
    }

    /// `--probabilities` and `--threshold` need a run that learns classes
    /// (two, for a threshold).
    fn check_asked(&self, probabilities: bool, threshold: Option<f64>) -> RunResult<()> {
        if probabilities && self.trained.meta.classes.is_none() {
            return Err(failure(
                "--probabilities: this run predicts numbers, not classes",
                "drop --probabilities: a regression run's prediction is the number itself",
            ));
        }
        let Some(t) = threshold else { return Ok(()) };
        if !(t > 0.0 && t < 1.0) {
            return Err(failure(
                format!("--threshold {t} is not a probability between 0 and 1"),
                "write --threshold 0.3",
            ));
        }
        let Some(classes) = self.trained.meta.classes.as_ref().map(Vec::len) else {
            return Err(failure(
                "--threshold: this run predicts numbers, not classes",
                "drop --threshold: a regression run's prediction is the number itself",
            ));
        };
        if classes != 2 {
            return Err(failure(
                format!("--threshold: this run tells {classes} classes apart, not two"),
                "drop --threshold: the prediction is the most probable class",
            ));
        }
        Ok(())
    }
}

/// What is applied to the data, innermost first.
pub(crate) enum Stage<'a> {
    /// Operations of a frame.
    Ops(&'a Frame),
    /// A fitted transform.
    Transform(ItemId),
}

/// The innermost frame (the one reading an item or a split part) and the
/// stages from there out.
pub(crate) fn layers(frame: &Frame) -> (&Frame, Vec<Stage<'_>>) {
    match &frame.input {
        FrameInput::Transformed { transform, input } => {
            let (base, mut stages) = layers(input);
            stages.push(Stage::Transform(*transform));
            stages.push(Stage::Ops(frame));
            (base, stages)
        }
        _ => (frame, vec![Stage::Ops(frame)]),
    }
}

/// The columns the innermost frame reads: those of the item or split.
fn base_schema(program: &Program, base: &Frame) -> Option<Schema> {
    let id = match base.input {
        FrameInput::Item(id) | FrameInput::Part { split: id, .. } => id,
        FrameInput::Transformed { .. } => return None,
    };
    match &program.items.get(id)?.as_ref()?.kind {
        ItemKind::Split { input, .. } | ItemKind::Stage(input) | ItemKind::Output(input) => Some(input.schema.clone()),
        ItemKind::Source(Source::Csv { schema, .. }) => Some(schema.clone()),
        _ => None,
    }
}

/// Reads the new data in the types of `schema`; every column but the
/// target and the rows' training weights (`weights:`) must be there.
fn read_new(path: &Path, schema: &Schema, target: &str, weights: Option<&str>) -> RunResult<DataFrame> {
    let span = Span::default();
    let csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    // A Parquet file is read once: its columns come with its rows.
    let parquet = if csv {
        None
    } else {
        Some(read::read(&Source::Parquet { files: SourceFiles::one(path.to_path_buf()) }, span)?.0)
    };
    let present: Vec<String> = match &parquet {
        Some(df) => df.get_column_names().iter().map(|c| c.to_string()).collect(),
        None => {
            let options = CsvOptions { sep: b',', nulls: DEFAULT_NULLS.iter().map(|n| n.to_string()).collect() };
            csv_columns(path, &options)
                .map_err(|reason| RunError::Unreadable {
                    path: path.display().to_string(),
                    reason,
                    span,
                    help: String::new(),
                })?
                .into_iter()
                .map(|c| c.name)
                .collect()
        }
    };
    all_there(schema, target, weights, &present, &format!("`{}`", path.display()))?;
    let wanted = Schema { columns: schema.columns.iter().filter(|c| present.contains(&c.name)).cloned().collect() };
    let df = match parquet {
        Some(df) => df,
        None => {
            // Every column as the file has it (unwanted ones as text), then the wanted ones.
            let full = Schema {
                columns: present
                    .iter()
                    .map(|n| {
                        wanted
                            .get(n)
                            .cloned()
                            .unwrap_or_else(|| crate::schema::Column::new(n.as_str(), crate::schema::DType::Str, span))
                    })
                    .collect(),
            };
            let nulls = DEFAULT_NULLS.iter().map(|n| n.to_string()).collect();
            read::read(
                &Source::Csv { files: SourceFiles::one(path.to_path_buf()), sep: b',', nulls, schema: full },
                span,
            )?
            .0
        }
    };
    df.select(wanted.names()).map_err(|e| failure(e.to_string(), ""))
}

/// Every column the model needs is in `present` (the target and the
/// weights may be missing); else the error, about `what` (the file, or the
/// request).
fn all_there(schema: &Schema, target: &str, weights: Option<&str>, present: &[String], what: &str) -> RunResult<()> {
    let needed = |c: &&crate::schema::Column| c.name != target && Some(c.name.as_str()) != weights;
    let missing: Vec<&str> =
        schema.columns.iter().filter(needed).filter(|c| !present.contains(&c.name)).map(|c| c.name.as_str()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let columns = if missing.len() == 1 { "the column" } else { "the columns" };
    let inputs: Vec<&str> = schema.columns.iter().filter(needed).map(|c| c.name.as_str()).collect();
    Err(failure(
        format!("{what} lacks {columns} `{}`, which the model was trained with", missing.join("`, `")),
        &format!(
            "the data needs the columns the training data had before its transforms: {} (`{target}` may be there too)",
            inputs.join(", ")
        ),
    ))
}

/// The images of a folder, as the run's image source read them (its size
/// and channels), with the class of each when the folder has one
/// sub-folder per class; and the files, in row order.
fn read_image_folder(dir: &Path, schema: &Schema, target: &str) -> RunResult<(DataFrame, Vec<String>)> {
    use crate::schema::DType;
    let span = Span::default();
    let image = schema.columns.iter().find_map(|c| match c.dtype {
        DType::Image(shape) => Some(shape),
        _ => None,
    });
    let Some([channels, height, width]) = image else {
        return Err(failure(
            format!("`{}` is a folder, and this run trained on a table", dir.display()),
            "give a CSV or Parquet file with the columns it trained on",
        ));
    };
    let unreadable = |path: &Path, reason: String| RunError::Unreadable {
        path: path.display().to_string(),
        reason,
        span,
        help: "give a folder of PNG or JPEG images (in one sub-folder per class, or not)".into(),
    };
    // Class sub-folders as the image source finds them, else the folder
    // itself holds the images.
    let (classes, labelled) = match crate::files::probe::image_classes(dir) {
        Ok(classes) => (classes, true),
        Err(_) => (vec![String::new()], false),
    };
    let (frame, found) = crate::run::images::read_folder(dir, [height, width], channels, &classes, false, span)?;
    if found.read.is_empty() {
        return Err(unreadable(dir, "it has no PNG or JPEG images".into()));
    }
    // The columns as the run's data named them.
    let image_name =
        schema.columns.iter().find(|c| matches!(c.dtype, DType::Image(_))).map_or("image", |c| c.name.as_str());
    let mut frame = frame;
    let renamed = if labelled {
        frame.rename("label", target.into()).map(|_| ())
    } else {
        frame.drop_in_place("label").map(|_| ())
    };
    renamed
        .and_then(|()| frame.rename("image", image_name.into()).map(|_| ()))
        .map_err(|e| failure(e.to_string(), ""))?;
    Ok((frame, found.read.iter().map(|p| p.display().to_string()).collect()))
}

/// The predictions of an image folder: each file, its class when the
/// folder had one, and the prediction (not the pixels).
fn with_files(result: DataFrame, files: Vec<String>) -> RunResult<DataFrame> {
    let images: Vec<String> = result
        .columns()
        .iter()
        .filter(|c| matches!(c.dtype(), DataType::List(_)))
        .map(|c| c.name().to_string())
        .collect();
    let mut out = result.drop_many(images);
    if out.height() == files.len() {
        out.insert_column(0, polars::prelude::Column::new("file".into(), files))
            .map_err(|e| failure(e.to_string(), ""))?;
    }
    Ok(out)
}

/// Applies the stages with the saved numbers.
fn prepare(
    program: &Program,
    mut df: DataFrame,
    stages: &[Stage],
    saved: &[(String, Vec<Fitted>)],
    dir: &Path,
    warnings: &mut Vec<RunError>,
) -> RunResult<DataFrame> {
    for stage in stages {
        match stage {
            Stage::Ops(frame) => {
                for (op, span) in frame.ops.iter().zip(&frame.spans) {
                    if op.learns()
                        || matches!(op, Op::Predict { .. } | Op::Transform(_) | Op::Sample { .. } | Op::Oversample(_))
                    {
                        return Err(failure(
                            "the training data went through a step `pipe predict` cannot repeat on new data",
                            "steps that learn from data belong in a `transform` (their numbers are saved); sampling has no meaning for new rows",
                        ));
                    }
                    df = fitted::apply(op, &Fitted::Nothing, df, *span, dir, warnings)?;
                }
            }
            Stage::Transform(id) => {
                let Some(item) = program.items.get(*id).and_then(Option::as_ref) else { continue };
                let ItemKind::Transform { steps, spans, .. } = &item.kind else { continue };
                let learned = saved.iter().find(|(n, _)| *n == item.name).map(|(_, f)| f).ok_or_else(|| {
                    failure(format!("the run folder has no saved numbers for `{}`", item.name), "train again")
                })?;
                for ((op, span), f) in steps.iter().zip(spans).zip(learned) {
                    df = fitted::apply(op, f, df, *span, dir, warnings)?;
                }
            }
        }
    }
    Ok(df)
}

/// The run folder's numbers for each transform of `program` (`saved`) are
/// one per step, each what its step learns.
fn saved_numbers_fit(program: &Program, saved: &[(String, Vec<Fitted>)]) -> RunResult<()> {
    for item in program.items.iter().flatten() {
        let ItemKind::Transform { steps, .. } = &item.kind else { continue };
        let Some((name, learned)) = saved.iter().find(|(name, _)| *name == item.name) else { continue };
        let misfit = |why: String| {
            failure(
                format!("the run folder's numbers for `{name}` do not fit its steps: {why}"),
                "train again with `pipe run` (the run folder's record was edited)",
            )
        };
        if steps.len() != learned.len() {
            return Err(misfit(format!("{} steps, and numbers for {}", steps.len(), learned.len())));
        }
        for (i, (op, fitted)) in steps.iter().zip(learned).enumerate() {
            let step = i.saturating_add(1);
            fitted_fit::fits(op, fitted).map_err(|why| misfit(format!("step {step} (`{}`): {why}", op.keyword())))?;
        }
    }
    Ok(())
}

/// The default output path: `<data stem>_predictions.parquet` beside it.
pub fn default_output(data: &Path) -> PathBuf {
    let stem = data.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "data".into());
    data.with_file_name(format!("{stem}_predictions.parquet"))
}
