//! `train`, `evaluate` and `predict` items in a run: frames to arrays, the
//! training loop on the flex device, the run folder, and trained models
//! reused from the stage cache.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::module::Module;
use burn::tensor::Device;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

// What `save:` keeps of a run (its weights, model, training settings and
// classes) in a folder of its own, replaced as a whole (written beside it,
// then renamed) so a reader never sees half of one.
use crate::files::checksums;
use crate::files::saved::{COPIED as SAVED_FILES, MODEL as SAVED_MODEL};
use crate::ir::{DeviceKind, LogSink, Task, Train};
use crate::run::dataset::{class_names, dataset};
use crate::run::error::{RunError, RunResult};
use crate::run::write;
use crate::schema::DType;
use crate::source::Span;
use crate::train::data::{Dataset, Rows};
use crate::train::fit::{self, Checkpoints, Epoch, Failure, Progress, Scores};
use crate::train::gpu_memory::PeakMemory;
use crate::train::loss::{Affine, Loss};
use crate::train::model::Net;
use crate::train::tensorboard::EventWriter;

/// A trained run, ready to evaluate and predict.
#[derive(Debug)]
pub struct Trained {
    /// The weights kept.
    pub net: Net,
    /// What it was trained for.
    pub meta: TrainedMeta,
    /// Whether the result belongs to the file as it is now (settings edited
    /// during training make it belong to no single version).
    pub cacheable: bool,
    /// The point of a sweep these weights are (its model and settings);
    /// `None`: the item's own run.
    pub point: Option<Box<Train>>,
}

impl Trained {
    /// The run these weights were trained as: the sweep's point, or `item`.
    pub fn run<'t>(&'t self, item: &'t Train) -> &'t Train {
        self.point.as_deref().unwrap_or(item)
    }
}

/// What is kept with the weights.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainedMeta {
    /// The target column.
    pub target: String,
    /// Class names (classification), in the order of the outputs.
    pub classes: Option<Vec<String>>,
    /// The feature columns, in the order the model reads them.
    pub features: Vec<String>,
    /// The history, one entry per epoch.
    pub history: Vec<Epoch>,
    /// The epoch whose weights were kept.
    pub kept_epoch: usize,
    /// The run folder.
    pub run_dir: PathBuf,
    /// Rows trained on.
    pub rows: usize,
    /// The folder of the `.pipe` file (its relative paths start there).
    #[serde(default)]
    pub pipeline_dir: PathBuf,
    /// How the numeric target was scaled for training (`scale:`), fitted on
    /// the training rows; predictions are scaled back with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_scale: Option<Affine>,
}

/// The device training runs on when the file names none: flex, the
/// default CPU backend.
pub fn device() -> Device {
    Device::flex()
}

/// The device a run's trained network works on (prediction, evaluation,
/// loading, the learning-rate range test): the first device its settings
/// name (the checker has made sure this build has its backend: `cpu` is
/// flex; `torch.cpu` and `torch.cuda(i)` are libtorch with the `tch`
/// feature), except that a remote device's network comes home to flex,
/// the backend its server ran (so a trained run needs no server).
pub fn device_of(train: &Train) -> Device {
    match train.settings.devices.first() {
        Some(d) if d.kind == DeviceKind::Remote => device(),
        Some(d) => burn_device(d),
        None => device(),
    }
}

/// Every device a run's settings name (data parallel with more than one;
/// the lowering puts the default device there when the file names none).
pub fn devices_of(train: &Train) -> Vec<Device> {
    let named: Vec<Device> = train.settings.devices.iter().map(burn_device).collect();
    if named.is_empty() { vec![device()] } else { named }
}

/// Every `torch.cuda(i)` a run names is a GPU libtorch sees on this
/// machine (else libtorch would abort the process at the first tensor).
pub fn devices_present(train: &Train, span: Span) -> RunResult<()> {
    let gpus = crate::backend::cuda_devices();
    for device in train.settings.devices.iter().filter(|d| d.kind == DeviceKind::TorchCuda) {
        let index = device.index.unwrap_or(0) as usize;
        if index >= gpus {
            let (found, help) = match gpus {
                0 => (
                    "no CUDA GPU (none, or no driver)".to_string(),
                    "train on `torch.cpu` here (`pipe run --device torch.cpu` keeps the file as it is)".to_string(),
                ),
                n => (
                    format!("{n} CUDA GPU{}", if n == 1 { "" } else { "s" }),
                    format!("use `torch.cuda(0)` to `torch.cuda({})`", n.saturating_sub(1)),
                ),
            };
            return Err(RunError::NoDevice { device: device.to_string(), found, span, help });
        }
    }
    Ok(())
}

/// Every remote device a run trains on answers (connected once a process;
/// a device connected before must still accept connections).
pub fn remote_devices_connected(train: &Train, span: Span) -> RunResult<()> {
    for device in train.settings.devices.iter().filter(|d| d.kind == DeviceKind::Remote) {
        let address = device.address.as_deref().unwrap_or_default();
        remote::connect(address).map_err(|reason| RunError::UnreachableDevice {
            device: device.to_string(),
            reason,
            span,
            help: remote::HELP.into(),
        })?;
    }
    Ok(())
}

/// Remote devices (`device: remote("ws://HOST:PORT")`), connected once a
/// process.
mod remote {
    use crate::train::fit::Failure;

    /// What to do about a server that cannot be reached.
    pub const HELP: &str =
        "start `pipe device-server --port PORT` on that machine (a build with `--features remote`), then run again";

    /// How long a server that accepts a connection gets to answer (less
    /// when `PIPE_REMOTE_TIMEOUT` is less).
    #[cfg(feature = "remote")]
    const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

    /// The devices connected so far, by address.
    #[cfg(feature = "remote")]
    static CONNECTED: std::sync::Mutex<std::collections::BTreeMap<String, burn::tensor::Device>> =
        std::sync::Mutex::new(std::collections::BTreeMap::new());

    /// Connects the device at `address` (once: later calls return it).
    #[cfg(feature = "remote")]
    pub fn connect(address: &str) -> Result<burn::tensor::Device, String> {
        use burn::tensor::remote::RemoteHost;
        let mut connected = CONNECTED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(device) = connected.get(address) {
            // Burn keeps a session for the life of the process: one whose
            // server went away cannot be used again.
            if !answers(address) {
                return Err("its server no longer answers".into());
            }
            return Ok(device.clone());
        }
        // Nothing listening: say so at once (Burn retries for 16 s).
        if !answers(address) {
            return Err("nothing accepts connections there: is its `pipe device-server` running?".into());
        }
        // Something listening that never answers the WebSocket handshake
        // would block Burn forever: its thread is left waiting.
        let (sent, received) = std::sync::mpsc::channel();
        let host = RemoteHost::websocket(address);
        std::thread::spawn(move || {
            let _ = sent.send(burn::tensor::Device::remote_options(&host).init().map_err(|e| e.to_string()));
        });
        let wait = CONNECT_TIMEOUT.min(crate::run::stall::timeout());
        let device = received.recv_timeout(wait).map_err(|_| {
            format!(
                "it accepts connections and gave no answer within {} s: is it a `pipe device-server`?",
                wait.as_secs()
            )
        })??;
        connected.insert(address.to_string(), device.clone());
        Ok(device)
    }

    /// The device `connect` connected at `address`.
    #[cfg(feature = "remote")]
    pub fn device(address: &str) -> burn::tensor::Device {
        let connected = CONNECTED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match connected.get(address) {
            Some(device) => device.clone(),
            None => unreachable!("`devices_present` connects every remote device before training: {address}"),
        }
    }

    /// Whether a server accepts connections at `address` (`ws://HOST:PORT`)
    /// within a second.
    pub fn answers(address: &str) -> bool {
        use std::net::ToSocketAddrs;
        let Some(host_port) = address.strip_prefix("ws://") else { return false };
        let Ok(mut resolved) = host_port.to_socket_addrs() else { return false };
        resolved.any(|a| std::net::TcpStream::connect_timeout(&a, std::time::Duration::from_secs(1)).is_ok())
    }

    /// Whether one of `addresses` no longer answers, asked a few times over
    /// half a second: a killed server's connections can break before its
    /// listening socket is closed, so a panic can come while it still
    /// accepts.
    fn one_gone(addresses: &[String]) -> bool {
        for _ in 0..5 {
            if addresses.iter().any(|a| !answers(a)) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        false
    }

    /// Runs `fit` on the remote devices at `addresses` and brings the
    /// trained network home to flex. Burn Remote reports a server gone
    /// mid-operation by panicking ("Failed to read tensor"): a panic while
    /// one of the servers no longer answers becomes [`Failure::DeviceLost`]
    /// (not printed: the run's diagnostic says it); any other panic goes on
    /// as before.
    pub fn guarded(
        addresses: &[String],
        fit: impl FnOnce() -> Result<crate::train::fit::Fitted, Failure>,
    ) -> Result<crate::train::fit::Fitted, Failure> {
        use burn::module::Module;
        quiet::install();
        quiet::guard(addresses, true);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            fit().map(|mut fitted| {
                fitted.net = fitted.net.fork(&super::device());
                fitted
            })
        }));
        quiet::guard(addresses, false);
        result.unwrap_or_else(|payload| {
            if !one_gone(addresses) {
                std::panic::resume_unwind(payload);
            }
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_string()))
                .unwrap_or_else(|| "a remote operation failed".into());
            // Burn's message ends with its cause ("Caused by: Failed to read tensor: ...").
            let cause = message.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or_default();
            Err(Failure::DeviceLost(cause.to_string()))
        })
    }

    /// A panic hook that stays quiet about a panic during guarded remote
    /// training while one of its servers no longer answers (the failure
    /// becomes the run's diagnostic), and prints as before otherwise.
    mod quiet {
        use std::sync::Mutex;

        /// The servers of the guarded trainings running now.
        static GUARDED: Mutex<Vec<String>> = Mutex::new(Vec::new());

        /// Adds (`on`) or removes `addresses` from the guarded ones.
        pub fn guard(addresses: &[String], on: bool) {
            let mut guarded = GUARDED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            for address in addresses {
                match (on, guarded.iter().position(|a| a == address)) {
                    (true, _) => guarded.push(address.clone()),
                    (false, Some(at)) => {
                        guarded.swap_remove(at);
                    }
                    (false, None) => {}
                }
            }
        }

        /// Installs the hook, once a process.
        pub fn install() {
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| {
                let before = std::panic::take_hook();
                std::panic::set_hook(Box::new(move |info| {
                    let guarded = GUARDED.lock().map(|g| g.clone()).unwrap_or_default();
                    if guarded.is_empty() || !super::one_gone(&guarded) {
                        before(info);
                    }
                }));
            });
        }
    }

    /// The checker refuses remote devices in a build without them.
    #[cfg(not(feature = "remote"))]
    pub fn connect(address: &str) -> Result<(), String> {
        Err(format!("this build of pipe has no remote devices ({address})"))
    }
}

/// The Burn device a written device names. The checker refuses the
/// backends this build lacks, so each arm exists where its feature does.
#[allow(deprecated)] // Burn marks the libtorch constructors deprecated in 0.22.
fn burn_device(written: &crate::ir::Device) -> Device {
    let index = written.index.unwrap_or(0) as usize;
    match written.kind {
        DeviceKind::Cpu => device(),
        #[cfg(feature = "tch")]
        DeviceKind::TorchCpu => Device::libtorch(),
        #[cfg(feature = "tch")]
        DeviceKind::TorchCuda => Device::libtorch_cuda(index),
        #[cfg(feature = "cuda")]
        DeviceKind::Cuda => Device::cuda(index),
        #[cfg(not(feature = "tch"))]
        DeviceKind::TorchCpu | DeviceKind::TorchCuda => {
            unreachable!("the checker refuses libtorch devices without `tch`")
        }
        #[cfg(not(feature = "cuda"))]
        DeviceKind::Cuda => unreachable!("the checker refuses `cuda` without the `cuda` feature: {index}"),
        #[cfg(feature = "remote")]
        DeviceKind::Remote => remote::device(written.address.as_deref().unwrap_or_default()),
        #[cfg(not(feature = "remote"))]
        DeviceKind::Remote => unreachable!("the checker refuses remote devices without the `remote` feature"),
    }
}

/// The loss of a run, with its class weights (see [`class_weights`]) and
/// the target's scaling (`scale:`, fitted on the training rows).
pub fn loss_of(train: &Train, weights: Option<Vec<f32>>, target: Option<Affine>) -> Loss {
    Loss::new(train.settings.loss, train.settings.loss_options, weights).with_target_scale(target)
}

/// Each class's weight in the loss, in the order of `classes`, for
/// `class_weight:` (`counts`: the training rows of each class):
/// `balanced` is scikit-learn's `n / (k * count)`; a record gives its
/// classes' weights and 1 to the rest (Keras'). A class the record names
/// that the training rows lack is an error: a misspelt weight would
/// otherwise weigh nothing.
pub(super) fn class_weights(
    train: &Train,
    classes: Option<&[String]>,
    counts: Option<&[usize]>,
    span: Span,
) -> RunResult<Option<Vec<f32>>> {
    match (&train.settings.class_weight, classes, counts) {
        (Some(crate::ir::ClassWeight::Balanced), _, Some(counts)) => {
            let n: usize = counts.iter().sum();
            let k = counts.len().max(1);
            Ok(Some(counts.iter().map(|c| n as f32 / (k as f32 * (*c).max(1) as f32)).collect()))
        }
        (Some(crate::ir::ClassWeight::Given(given)), Some(classes), _) => {
            let mut weights = vec![1.0f32; classes.len()];
            for (name, weight) in given {
                let Some(at) = classes.iter().position(|c| c == name) else {
                    return Err(RunError::data(
                        format!("`class_weight` names the class `{name}`, which `{}` does not have", train.target),
                        span,
                        "trained here",
                        &format!("the classes are {}", classes.join(", ")),
                    ));
                };
                weights[at] = *weight as f32;
            }
            Ok(Some(weights))
        }
        _ => Ok(None),
    }
}

/// The run's classes: the ones the checker knew (the model has an output
/// for each, also for a class the training rows lack), or, when it knew
/// none, the ones the training rows hold (`found`). A class the checker did
/// not know stops the run: the model has no output for it.
pub(super) fn run_classes(train: &Train, found: Vec<String>, span: Span) -> RunResult<Vec<String>> {
    let Some(known) = &train.classes else { return one_output_each(train, found, span) };
    if let Some(stranger) = found.iter().find(|c| !known.contains(c)) {
        return Err(RunError::data(
            format!(
                "the training data has a class `{stranger}` of `{}` that `pipe check` did not see (it knew {})",
                train.target,
                known.join(", ")
            ),
            span,
            "trained here",
            "the model has one output per class the check saw: make the target categorical with every class (`cast(label, cat)`), or filter the rows out",
        ));
    }
    Ok(known.clone())
}

/// Whether a model with `outputs` outputs names `classes` classes: one
/// output each, or one output for two classes (a sigmoid's).
fn output_per_class(outputs: u64, classes: u64) -> bool {
    classes == outputs || (outputs == 1 && classes == 2)
}

/// The classes the training rows hold, when `pipe check` knew none: the
/// model must have one output for each (or one for two), since a
/// prediction names the class of its output.
fn one_output_each(train: &Train, found: Vec<String>, span: Span) -> RunResult<Vec<String>> {
    let (outputs, classes) = (train.model.output.values(), found.len() as u64);
    if output_per_class(outputs, classes) {
        return Ok(found);
    }
    Err(RunError::data(
        format!(
            "the model has {outputs} outputs, and `{}` has {classes} classes in the training rows ({})",
            train.target,
            found.join(", ")
        ),
        span,
        "trained here",
        &format!(
            "end the model with `dense({classes})`, or make the target categorical with every class (`cast({}, cat)`) so that `pipe check` knows them",
            train.target
        ),
    ))
}

/// Whether the run predicts classes (decided by the checker).
pub fn is_classification(train: &Train) -> bool {
    match train.task {
        Task::Classification => true,
        Task::Regression => false,
    }
}

/// The rows a run trains (and validates) on.
#[derive(Clone)]
pub enum TrainRows<'f> {
    /// Frames computed in memory.
    Frames {
        /// The training rows.
        data: &'f DataFrame,
        /// The validation rows.
        validate: Option<&'f DataFrame>,
    },
    /// Parquet files its rows were streamed into, read a window at a time.
    Files {
        /// The training rows.
        data: PathBuf,
        /// The validation rows.
        validate: Option<PathBuf>,
    },
}

/// A run's rows, as the model reads them.
pub(super) struct Prepared {
    /// The class names (classification).
    pub(super) classes: Option<Vec<String>>,
    /// The feature columns, in the order the model reads them.
    pub(super) features: Vec<String>,
    /// The training rows.
    pub(super) set: Rows,
    /// The validation rows.
    pub(super) val: Option<Rows>,
    /// The training rows of each class (classification).
    pub(super) counts: Option<Vec<usize>>,
    /// Values per row.
    pub(super) width: usize,
    /// The target's scaling, fitted on the training rows (`scale:`).
    pub(super) target_scale: Option<Affine>,
}

/// Frames as arrays in memory.
fn prepare_frames(train: &Train, data: &DataFrame, validate: Option<&DataFrame>, span: Span) -> RunResult<Prepared> {
    let classes = if is_classification(train) {
        Some(run_classes(train, class_names(data, &train.target, span)?, span)?)
    } else {
        None
    };
    two_classes(train, classes.as_deref(), span)?;
    let weights = train.settings.weights.as_deref();
    let set = shaped(dataset(data, &train.target, weights, classes.as_deref(), span)?, train);
    // The validation rows as the model reads them: the training features,
    // in their order (the checker lets validation data have more columns).
    let features: Vec<String> = data
        .get_column_names()
        .iter()
        .filter(|c| c.as_str() != train.target && Some(c.as_str()) != weights)
        .map(|c| c.to_string())
        .collect();
    let val = match validate {
        Some(v) => {
            let mut names: Vec<&str> = features.iter().map(String::as_str).collect();
            names.push(&train.target);
            let v = v.select(names).map_err(|e| RunError::data(e.to_string(), span, "validated here", ""))?;
            Some(shaped(dataset(&v, &train.target, None, classes.as_deref(), span)?, train))
        }
        None => None,
    };
    let counts = match (&set.target, &classes) {
        (crate::train::data::Target::Classes(c), Some(names)) => {
            let mut counts = vec![0usize; names.len()];
            c.iter().for_each(|i| counts[*i as usize] = counts[*i as usize].saturating_add(1));
            Some(counts)
        }
        _ => None,
    };
    let width = set.width;
    let target_scale = match train.settings.target_scale {
        Some(scaling) => {
            let values = data
                .column(&train.target)
                .and_then(|c| c.cast(&DataType::Float64))
                .map_err(|e| RunError::data(e.to_string(), span, "trained here", ""))?;
            let values = values.f64().map_err(|e| RunError::data(e.to_string(), span, "trained here", ""))?.clone();
            let values: Vec<f64> = values.into_no_null_iter().collect();
            Some(Affine::fit(scaling, &values))
        }
        None => None,
    };
    let set = Rows::Memory(Arc::new(set));
    let val = val.map(|v| Rows::Memory(Arc::new(v)));
    Ok(Prepared { classes, features, set, val, counts, width, target_scale })
}

/// The learning-rate range test of run `train` on its training frame
/// `data` (see [`crate::train::lr_find`]): the run's model from fresh
/// weights, its optimizer, loss (with class weights and target scaling),
/// batch size and seed, on its first device, in f32, without augmentation.
pub fn lr_find(
    train: &Train,
    data: &DataFrame,
    test: &crate::train::lr_find::RangeTest,
    span: Span,
) -> RunResult<crate::train::lr_find::Curve> {
    let Prepared { classes, set, counts, target_scale, .. } = prepare_frames(train, data, None, span)?;
    let weights = class_weights(train, classes.as_deref(), counts.as_deref(), span)?;
    let loss = loss_of(train, weights, target_scale);
    devices_present(train, span)?;
    let Rows::Memory(set) = set else {
        return Err(RunError::data("the training rows are not in memory", span, "trained here", ""));
    };
    let batch = match train.settings.batch {
        crate::ir::Batch::Rows(rows) => usize::try_from(rows).unwrap_or(usize::MAX),
        crate::ir::Batch::Auto => fit::AUTO_BATCH,
    };
    Ok(crate::train::lr_find::range_test(train, &set, batch, &loss, &device_of(train), test))
}

/// `binary_cross_entropy` needs two classes. The checker refuses other
/// counts where it knows the levels; a file's sample may not show them all.
pub(super) fn two_classes(train: &Train, classes: Option<&[String]>, span: Span) -> RunResult<()> {
    if let (crate::ir::Loss::BinaryCrossEntropy, Some(names)) = (train.settings.loss, classes)
        && names.len() != 2
    {
        return Err(RunError::data(
            format!("`binary_cross_entropy` tells two classes apart, and `{}` has {}", train.target, names.len()),
            span,
            "trained here",
            "use `loss: cross_entropy` with one output per class",
        ));
    }
    Ok(())
}

use crate::run::folders::Status;

/// Trains a run on its rows (already computed).
#[allow(clippy::too_many_arguments)]
pub fn train(
    name: &str,
    train: &Train,
    rows: TrainRows,
    dir: &Path,
    source_text: Option<&str>,
    span: Span,
    progress: &mut dyn Progress,
    resume: bool,
    transforms: &[(String, Vec<crate::run::fitted::Fitted>)],
    pretrained: Option<(&Net, usize)>,
) -> RunResult<Trained> {
    let Prepared { classes, features, set, val, counts, width, target_scale } = match rows {
        TrainRows::Frames { data, validate } => prepare_frames(train, data, validate, span)?,
        TrainRows::Files { data, validate } => {
            crate::run::disk::prepare_files(train, &data, validate.as_deref(), span, shaped_image(train))?
        }
    };
    if let crate::ir::Shape::Flat(checked) = train.model.input
        && checked != width
    {
        // One-hot levels beyond what `pipe check` sampled widen the data.
        return Err(RunError::data(
            format!("the model was checked for {checked} features, and the data has {width}"),
            span,
            "trained here",
            "a one-hot column has levels in the data that `pipe check` could not know (see the warnings above: it reads a sample of large files); merge or drop the rare levels before encoding",
        ));
    }
    let weights = class_weights(train, classes.as_deref(), counts.as_deref(), span)?;
    let loss = loss_of(train, weights, target_scale);
    // Before a run folder is made: an unreachable server leaves none.
    remote_devices_connected(train, span)?;
    let (run_dir, resume_from) = match resume.then(|| resumable(dir, name, train)).flatten() {
        Some((run, checkpoint)) => {
            progress.note(&format!("resuming from {}", checkpoint.display()));
            (run, Some(checkpoint))
        }
        None => (run_folder(dir, name), None),
    };
    let saved_transforms = serde_json::to_vec_pretty(transforms).map_err(|e| e.to_string());
    let fresh = resume_from.is_none();
    start_run_folder(&run_dir, train, source_text)
        .and_then(|()| write::bytes(&run_dir.join("transforms.json"), &saved_transforms?))
        .map_err(|reason| unfinished(&run_dir, fresh, reason, span))?;
    let checkpoints = Checkpoints {
        dir: run_dir.join("checkpoints"),
        every: train.settings.checkpoint.every as usize,
        keep: train.settings.checkpoint.keep as usize,
        resume: resume_from,
    };
    devices_present(train, span)?;
    let cards = crate::train::gpu_memory::cards(&train.settings.devices);
    let applied = crate::train::gpu_memory::apply(train.settings.gpu_memory, &cards);
    let refused = |reason| RunError::GpuMemory {
        message: format!("cannot set `gpu_memory`: {reason}"),
        span,
        help: "remove `gpu_memory` to train with libtorch's defaults (docs/language.md has its rules)".into(),
    };
    if let Some(line) = applied.map_err(refused)? {
        progress.note(&line);
    }
    if let Some(on) = train.settings.cudnn_benchmark {
        crate::backend::set_cudnn_benchmark(on);
    }
    let start = fit::Start { pretrained, checkpoints: Some(&checkpoints) };
    let rows = set.len();
    let devices = devices_of(train);
    let remote: Vec<String> = train.settings.devices.iter().filter_map(|d| d.address.clone()).collect();
    let fitted = if !cards.is_empty() {
        super::out_of_memory::guarded(|| fit::fit(train, set, val.as_ref(), &loss, &devices, progress, start))
            .unwrap_or_else(|words| Err(Failure::OutOfMemory(words)))
    } else if remote.is_empty() {
        fit::fit(train, set, val.as_ref(), &loss, &devices, progress, start)
    } else {
        // Burn Remote waits forever on a server that stopped answering.
        let (folder, train_now) = (run_dir.clone(), train.clone());
        let watchdog = super::stall::Watchdog::start(super::stall::timeout(), move |waited| {
            let reason = format!(
                "no step finished for {} s (PIPE_REMOTE_TIMEOUT): its server stopped answering (stopped, overloaded or cut off)",
                waited.as_secs()
            );
            crate::run::folders::record_stop(&folder, &Status::Failed, Some(&reason));
            device_lost(&train_now, reason, span)
        });
        let fitted = remote::guarded(&remote, || fit::fit(train, set, val.as_ref(), &loss, &devices, progress, start));
        drop(watchdog);
        fitted
    };
    if let Err(failure) = &fitted {
        let (status, reason) = match failure {
            Failure::Cancelled => (Status::Cancelled, None),
            Failure::NonFinite { epoch, step, .. } => {
                (Status::Failed, Some(format!("the loss was not finite at epoch {epoch}, step {step}")))
            }
            Failure::Read(reason) | Failure::Checkpoint(reason) | Failure::Resume(reason) => {
                (Status::Failed, Some(reason.clone()))
            }
            Failure::Damaged { damage, .. } => (Status::Failed, Some(damage.to_string())),
            Failure::DeviceLost(reason) => (Status::Failed, Some(format!("a remote device went away: {reason}"))),
            Failure::OutOfMemory(words) => (Status::Failed, Some(words.clone())),
        };
        crate::run::folders::record_stop(&run_dir, &status, reason.as_deref());
    }
    let fitted = match fitted {
        Ok(f) => f,
        Err(Failure::Cancelled) => return Err(RunError::Cancelled),
        Err(Failure::Read(reason)) => {
            unfinished(&run_dir, fresh, String::new(), span);
            return Err(RunError::Unreadable {
                path: "the training rows streamed to disk".into(),
                reason,
                span,
                help: "free disk space or memory and run again; `pipe run --in-memory` holds the rows instead".into(),
            });
        }
        Err(Failure::Damaged { dir, damage }) => {
            return Err(RunError::Damaged {
                path: dir.display().to_string(),
                damage: damage.to_string(),
                span,
                help:
                    "delete that checkpoint folder to resume from an older one, or run without `--resume` to start over"
                        .into(),
            });
        }
        Err(Failure::DeviceLost(reason)) => {
            return Err(device_lost(train, format!("it went away during training ({reason})"), span));
        }
        Err(Failure::OutOfMemory(words)) => {
            return Err(out_of_gpu_memory(train, &format!("`{name}` ran"), span, &words));
        }
        Err(Failure::Checkpoint(reason)) => {
            let path = run_dir.join("checkpoints").display().to_string();
            return Err(RunError::Write { path, reason, span });
        }
        Err(Failure::Resume(reason)) => {
            return Err(RunError::data(
                format!("cannot resume `{name}`: {reason}"),
                span,
                "resumed here",
                "run without `--resume` to start this training over",
            ));
        }
        Err(Failure::NonFinite { epoch, step, last_good }) => {
            let kept = run_dir.join("last_good");
            let saved = std::fs::create_dir_all(&run_dir).is_ok() && last_good.save_file(&kept).is_ok();
            let where_kept =
                if saved { format!("; the last good weights are in {}.bpk", kept.display()) } else { String::new() };
            return Err(RunError::Diverged {
                name: name.to_owned(),
                epoch,
                step,
                span,
                help: format!(
                    "lower the learning rate, scale the features (`standard`, `minmax`), or clip gradients (`clip: norm(1.0)`){where_kept}"
                ),
            });
        }
    };
    let meta = TrainedMeta {
        target: train.target.clone(),
        classes,
        features,
        history: fitted.history,
        kept_epoch: fitted.kept_epoch,
        run_dir: run_dir.clone(),
        rows,
        pipeline_dir: absolute_dir(dir),
        target_scale,
    };
    write_run_folder(&run_dir, &meta, &fitted.net).map_err(|reason| unfinished(&run_dir, fresh, reason, span))?;
    write_logs(dir, train, &meta.history).map_err(|reason| RunError::Write {
        path: "the log files".into(),
        reason,
        span,
    })?;
    if let Some(save) = &train.settings.save {
        let target = dir.join(save);
        save_model(&run_dir, &target, &train.model).map_err(|reason| RunError::Write {
            path: target.display().to_string(),
            reason,
            span,
        })?;
    }
    Ok(Trained { net: fitted.net, meta, cacheable: !fitted.changed_while_running, point: None })
}

/// The error for remote devices lost during training (`reason`), with
/// how to go on.
fn device_lost(train: &Train, reason: String, span: Span) -> RunError {
    let remote: Vec<String> =
        train.settings.devices.iter().filter(|d| d.kind == DeviceKind::Remote).map(ToString::to_string).collect();
    let resume = if train.settings.checkpoint.every > 0 {
        "; `pipe run --resume` then continues from the last checkpoint"
    } else {
        "; with `checkpoint: checkpoint(every: 1)` a run can resume where it stopped"
    };
    RunError::UnreachableDevice {
        device: remote.join(", "),
        reason,
        span,
        help: format!("start its `pipe device-server` again{resume}"),
    }
}

/// The error for a run folder that could not be written (a full disk): a
/// new folder without checkpoints is removed, so no half-written run is
/// left to be mistaken for one; a folder with checkpoints keeps them.
fn unfinished(run_dir: &Path, fresh: bool, reason: String, span: Span) -> RunError {
    // A folder with checkpoints stays: `--resume` continues from them once
    // there is room (without checksums.json, nothing reads it as finished).
    let checkpointed = crate::train::fit::latest_checkpoint(&run_dir.join("checkpoints")).is_some();
    if fresh && !checkpointed {
        let _ = std::fs::remove_dir_all(run_dir);
    }
    RunError::Write { path: run_dir.display().to_string(), reason, span }
}

/// `runs/<item>/<timestamp>/` beside the `.pipe` file, created (a new one
/// each run: points of a sweep trained at once start within one
/// millisecond, and each takes the first name no other has made).
fn run_folder(dir: &Path, name: &str) -> PathBuf {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let stamp = format!("{}-{:03}", now.as_secs(), now.subsec_millis());
    let base = dir.join("runs").join(name);
    // A folder that cannot be made is reported where the run writes to it.
    let _ = std::fs::create_dir_all(&base);
    let mut folder = base.join(&stamp);
    let mut n: u32 = 1;
    while let Err(e) = std::fs::create_dir(&folder) {
        if e.kind() != std::io::ErrorKind::AlreadyExists || n > 10_000 {
            break;
        }
        n = n.saturating_add(1);
        folder = base.join(format!("{stamp}-{n}"));
    }
    folder
}

/// Point `index` of a swept run as it trains: the log files and the
/// `save:` folder are the run's, written once, with the best point's.
pub fn trial_run(train: &Train, index: usize) -> Train {
    let mut run = train.trial(index);
    run.settings.save = None;
    run.settings.logs.retain(|l| matches!(l, LogSink::Console));
    // What ranks the points changes no point's training.
    run.settings.objective = None;
    run
}

/// The point of a swept run a run folder holds: the one whose settings
/// and model the folder records (`None` when none is, or no sweep).
pub fn folder_point(train: &Train, run_dir: &Path) -> Option<usize> {
    let sweep = train.sweep.as_ref()?;
    let settings =
        where_trained_aside(serde_json::from_slice(&std::fs::read(run_dir.join("settings.json")).ok()?).ok()?);
    let model = std::fs::read(run_dir.join("model.json")).ok()?;
    (0..sweep.trials.len()).find(|&i| {
        let run = trial_run(train, i);
        serde_json::to_value(&run.settings).is_ok_and(|s| where_trained_aside(s) == settings)
            && serde_json::to_vec_pretty(&run.model).is_ok_and(|m| m == model)
    })
}

/// A run's settings as JSON without what `pipe run --device` changes (the
/// devices, and `cudnn_benchmark` it leaves out off `torch.cuda`): a point
/// trained with an override is still that point of its saved pipeline.
fn where_trained_aside(mut settings: serde_json::Value) -> serde_json::Value {
    if let Some(object) = settings.as_object_mut() {
        object.remove("devices");
        object.remove("cudnn_benchmark");
    }
    settings
}

/// The run a run folder holds: the item's, the point of its sweep or the
/// fold of its k-fold run the folder records (`None` when it records none
/// of them).
pub fn folder_run(train: &Train, run_dir: &Path) -> Option<Train> {
    if !train.folds.is_empty() {
        let fold: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run_dir.join(crate::run::folds::FOLD_FILE)).ok()?).ok()?;
        let number = usize::try_from(fold["fold"].as_u64()?).ok()?;
        return (1..=train.folds.len()).contains(&number).then(|| train.fold(number.saturating_sub(1)));
    }
    if train.sweep.is_none() {
        return Some(train.clone());
    }
    folder_point(train, run_dir).map(|i| trial_run(train, i))
}

/// A swept run's own log files and `save:` folder, with the best point's
/// history and weights (`point` is that point as written, `meta` its
/// training).
pub fn finish_sweep(dir: &Path, point: &Train, meta: &TrainedMeta, span: Span) -> RunResult<()> {
    write_logs(dir, point, &meta.history).map_err(|reason| RunError::Write {
        path: "the log files".into(),
        reason,
        span,
    })?;
    if let Some(save) = &point.settings.save {
        let target = dir.join(save);
        save_model(&meta.run_dir, &target, &point.model).map_err(|reason| RunError::Write {
            path: target.display().to_string(),
            reason,
            span,
        })?;
    }
    Ok(())
}

/// What a run folder starts with (so a killed run can be recognised and
/// resumed): the pipeline, the settings, the model's layers.
fn start_run_folder(run_dir: &Path, train: &Train, source_text: Option<&str>) -> Result<(), String> {
    std::fs::create_dir_all(run_dir).map_err(|e| e.to_string())?;
    if let Some(text) = source_text {
        write::bytes(&run_dir.join("pipeline.pipe"), text.as_bytes())?;
    }
    let settings = serde_json::to_vec_pretty(&train.settings).map_err(|e| e.to_string())?;
    write::bytes(&run_dir.join("settings.json"), &settings)?;
    let model = serde_json::to_vec_pretty(&train.model).map_err(|e| e.to_string())?;
    write::bytes(&run_dir.join("model.json"), &model)
}

/// The newest run folder of `name` whose settings and model are the ones
/// given and that has a checkpoint: the folder, and the checkpoint.
fn resumable(dir: &Path, name: &str, train: &Train) -> Option<(PathBuf, PathBuf)> {
    let settings = serde_json::to_vec_pretty(&train.settings).ok()?;
    let model = serde_json::to_vec_pretty(&train.model).ok()?;
    let mut runs: Vec<PathBuf> =
        std::fs::read_dir(dir.join("runs").join(name)).ok()?.flatten().map(|e| e.path()).collect();
    runs.sort();
    runs.into_iter().rev().find_map(|run| {
        let same = std::fs::read(run.join("settings.json")).ok()? == settings
            && std::fs::read(run.join("model.json")).ok()? == model;
        let checkpoint = crate::train::fit::latest_checkpoint(&run.join("checkpoints"))?;
        same.then_some((run, checkpoint))
    })
}

fn write_run_folder(run_dir: &Path, meta: &TrainedMeta, net: &Net) -> Result<(), String> {
    let trained = serde_json::to_vec_pretty(meta).map_err(|e| e.to_string())?;
    write::bytes(&run_dir.join("trained.json"), &trained)?;
    write::bytes(&run_dir.join("metrics.csv"), metrics_csv(&meta.history).as_bytes())?;
    write::bytes(&run_dir.join("metrics.jsonl"), metrics_jsonl(&meta.history).as_bytes())?;
    tensorboard(run_dir, &meta.history)?;
    plots(run_dir, &meta.history, meta.kept_epoch)?;
    crate::train::model::save_weights(net, &run_dir.join("model.bpk"))?;
    // The pipeline's text is there when the run was given it (not from code).
    let present: Vec<&str> =
        RECORDED.iter().copied().filter(|f| *f != "pipeline.pipe" || run_dir.join(f).exists()).collect();
    checksums::record(run_dir, &present)
}

/// The files of a run folder that later commands read back, and so carry
/// checksums (`pipe predict` reads them all; `save:` copies some).
pub const RECORDED: [&str; 6] =
    ["trained.json", "model.bpk", "transforms.json", "settings.json", "model.json", "pipeline.pipe"];

/// Makes sure a cached run's `save:` folder is there: written again from
/// its run folder when it was deleted (an error when that is gone too).
pub fn restore_saved(train: &Train, target: &Path, run_dir: &Path) -> Result<(), String> {
    let mut recorded = SAVED_FILES.to_vec();
    recorded.push(SAVED_MODEL);
    if checksums::verify(target, &recorded).is_ok() {
        return Ok(());
    }
    save_model(run_dir, target, &train.model)
}

/// Writes the `save:` folder: the run's files, and the model as the
/// `model.pipe` that `load(...)` reads.
fn save_model(run_dir: &Path, target: &Path, model: &crate::ir::Model) -> Result<(), String> {
    // Checked again here: files may have appeared since `pipe check`.
    if let Some(refusal) = crate::files::saved::refusal(target, target) {
        return Err(format!("{refusal}; save to a new folder"));
    }
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let parent = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    let fresh = parent.join(format!(".{name}.saving"));
    let old = parent.join(format!(".{name}.old"));
    // The run's files are checked first: a damaged one is not blessed with
    // new checksums.
    checksums::verify(run_dir, &SAVED_FILES).map_err(|damage| format!("in {}: {damage}", run_dir.display()))?;
    let _ = std::fs::remove_dir_all(&fresh);
    let filled = fill_saved(run_dir, &fresh, model);
    if let Err(reason) = filled {
        let _ = std::fs::remove_dir_all(&fresh);
        return Err(reason);
    }
    let _ = std::fs::remove_dir_all(&old);
    if target.exists() {
        std::fs::rename(target, &old).map_err(|e| e.to_string())?;
    }
    std::fs::rename(&fresh, target).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// Writes a `save:` folder's files into `fresh`, with their checksums.
fn fill_saved(run_dir: &Path, fresh: &Path, model: &crate::ir::Model) -> Result<(), String> {
    std::fs::create_dir_all(fresh).map_err(|e| e.to_string())?;
    for file in SAVED_FILES {
        std::fs::copy(run_dir.join(file), fresh.join(file)).map_err(|e| format!("{file}: {e}"))?;
    }
    std::fs::write(fresh.join(SAVED_MODEL), model.to_pipe()).map_err(|e| format!("{SAVED_MODEL}: {e}"))?;
    let mut recorded = SAVED_FILES.to_vec();
    recorded.push(SAVED_MODEL);
    checksums::record(fresh, &recorded)
}

/// The `log:` destinations besides the console.
fn write_logs(dir: &Path, train: &Train, history: &[Epoch]) -> Result<(), String> {
    for sink in &train.settings.logs {
        match sink {
            // The epoch lines are the CLI's, on stderr.
            LogSink::Console => {}
            LogSink::TensorBoard(path) => tensorboard(&dir.join(path), history)?,
            LogSink::Csv(path) => write::bytes(&dir.join(path), metrics_csv(history).as_bytes())?,
            LogSink::Jsonl(path) => write::bytes(&dir.join(path), metrics_jsonl(history).as_bytes())?,
        }
    }
    Ok(())
}

/// `loss.png` (training and validation loss) and `metric.png` (accuracy,
/// or mean absolute error for numbers), the kept epoch marked.
fn plots(run_dir: &Path, history: &[Epoch], kept: usize) -> Result<(), String> {
    use crate::train::plot::chart;
    let train_loss: Vec<f64> = history.iter().map(|e| e.loss).collect();
    let val_loss: Vec<f64> = history.iter().filter_map(|e| e.val.as_ref().map(|v| v.loss)).collect();
    chart(&run_dir.join("loss.png"), "loss", &[("train", train_loss), ("val", val_loss)], Some(kept))?;
    let classes = history.iter().any(|e| e.val.as_ref().is_some_and(|v| v.accuracy.is_some()))
        || history.iter().all(|e| e.val.is_none());
    let (title, val): (&str, Vec<f64>) = if classes {
        ("accuracy", history.iter().filter_map(|e| e.val.as_ref()?.accuracy).collect())
    } else {
        ("mae", history.iter().filter_map(|e| e.val.as_ref()?.mae).collect())
    };
    let train: Vec<f64> = history.iter().map(|e| e.metric).collect();
    chart(&run_dir.join("metric.png"), title, &[("train", train), ("val", val)], Some(kept))
}

fn tensorboard(dir: &Path, history: &[Epoch]) -> Result<(), String> {
    let mut writer = EventWriter::create(dir).map_err(|e| e.to_string())?;
    for e in history {
        let step = e.epoch as u64;
        let mut scalars = vec![("train/loss", e.loss), ("train/metric", e.metric), ("lr", e.lr)];
        if let Some(scale) = e.loss_scale {
            scalars.push(("train/loss_scale", scale));
        }
        if let Some(peak) = e.gpu_memory {
            scalars.push(("gpu/peak_allocated_mb", peak.allocated_bytes as f64 / 1e6));
            scalars.push(("gpu/peak_reserved_mb", peak.reserved_bytes as f64 / 1e6));
        }
        if let Some(v) = &e.val {
            scalars.push(("val/loss", v.loss));
            if let Some(a) = v.accuracy {
                scalars.push(("val/accuracy", a));
            }
            if let Some(m) = v.mae {
                scalars.push(("val/mae", m));
            }
        }
        for (tag, value) in scalars {
            writer.scalar(tag, step, value).map_err(|e| e.to_string())?;
        }
    }
    writer.flush().map_err(|e| e.to_string())
}

fn metrics_csv(history: &[Epoch]) -> String {
    // The GPU's columns only for runs that measured them (libtorch's CUDA).
    let gpu = history.iter().any(|e| e.gpu_memory.is_some());
    let mut out = String::from("epoch,loss,metric,val_loss,val_accuracy,val_f1,val_mae,lr,seconds,samples_per_second");
    out.push_str(if gpu { ",gpu_peak_allocated_mb,gpu_peak_reserved_mb\n" } else { "\n" });
    for e in history {
        let v = e.val.as_ref();
        let opt = |x: Option<f64>| x.map_or(String::new(), |x| x.to_string());
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}",
            e.epoch,
            e.loss,
            e.metric,
            opt(v.map(|v| v.loss)),
            opt(v.and_then(|v| v.accuracy)),
            opt(v.and_then(|v| v.f1)),
            opt(v.and_then(|v| v.mae)),
            e.lr,
            e.seconds,
            e.samples_per_second
        ));
        if gpu {
            let mb = |bytes: fn(&PeakMemory) -> u64| opt(e.gpu_memory.as_ref().map(|p| bytes(p) as f64 / 1e6));
            out.push_str(&format!(",{},{}", mb(|p| p.allocated_bytes), mb(|p| p.reserved_bytes)));
        }
        out.push('\n');
    }
    out
}

fn metrics_jsonl(history: &[Epoch]) -> String {
    history.iter().filter_map(|e| serde_json::to_string(e).ok()).map(|l| l + "\n").collect()
}

/// The data set with the image shape of the run's model input (its rows
/// are then images, not flat features).
fn shaped(mut set: Dataset, train: &Train) -> Dataset {
    set.image = shaped_image(train);
    set
}

/// The image shape of the run's model input, when it reads images.
fn shaped_image(train: &Train) -> Option<[usize; 3]> {
    match train.model.input {
        crate::ir::Shape::Image(shape) => Some(shape),
        crate::ir::Shape::Flat(_) | crate::ir::Shape::Seq(_) => None,
    }
}

/// A data frame as arrays in the columns (and class order) a run was
/// trained on; the target may be missing (prediction).
fn arrays(frame: &DataFrame, meta: &TrainedMeta, with_target: bool, span: Span) -> RunResult<Dataset> {
    let mut names: Vec<&str> = meta.features.iter().map(String::as_str).collect();
    if with_target {
        names.push(&meta.target);
    }
    let selected = frame.select(names).map_err(|e| RunError::data(e.to_string(), span, "here", ""))?;
    if with_target {
        dataset(&selected, &meta.target, None, meta.classes.as_deref(), span)
    } else {
        // A stand-in target column: prediction does not read it.
        let mut with = selected;
        let zeros = Float32Chunked::from_vec(meta.target.as_str().into(), vec![0.0; frame.height()]);
        with.with_column(zeros.into_column()).map_err(|e| RunError::data(e.to_string(), span, "here", ""))?;
        dataset(&with, &meta.target, None, None, span)
    }
}

/// `what` (`` `net` ran``, `evaluating`) ran out of memory on the run's
/// CUDA cards: libtorch's words, and what to change.
fn out_of_gpu_memory(train: &Train, what: &str, span: Span, words: &str) -> RunError {
    let cards = crate::train::gpu_memory::cards(&train.settings.devices);
    let on: Vec<String> = cards.iter().map(|card| format!("torch.cuda({card})")).collect();
    let limit = train.settings.gpu_memory.and_then(|g| g.limit);
    let limit = limit.map_or(String::new(), |f| format!(", raise `gpu_memory: limit({f})`"));
    let growth = match train.settings.gpu_memory {
        Some(g) if g.growth => "",
        _ => ", or add `gpu_memory: growth` when much reserved memory goes unused",
    };
    RunError::GpuMemory {
        message: format!("{what} out of GPU memory on {}: {words}", on.join(", ")),
        span,
        help: format!("lower `batch:`, train in `precision: bf16`{limit}{growth}"),
    }
}

/// Runs inference on the run's device; on CUDA, out of memory is the
/// run's diagnostic, not a crash.
fn on_device<T>(train: &Train, what: &str, span: Span, work: impl FnOnce() -> T) -> RunResult<T> {
    if crate::train::gpu_memory::cards(&train.settings.devices).is_empty() {
        return Ok(work());
    }
    super::out_of_memory::guarded(work).map_err(|words| out_of_gpu_memory(train, what, span, &words))
}

/// The metrics of a trained run on a frame (two classes split at
/// `threshold`, when given).
pub fn evaluate(
    trained: &Trained,
    train: &Train,
    frame: &DataFrame,
    threshold: Option<f64>,
    asked: &fit::Asked,
    span: Span,
) -> RunResult<Scores> {
    let set = shaped(arrays(frame, &trained.meta, true, span)?, train);
    let loss = loss_of(train, None, trained.meta.target_scale).with_threshold(threshold);
    let how = fit::Scoring { asked, batch: fit::training_batch(&train.settings) };
    on_device(train, "evaluating ran", span, || fit::evaluate(&trained.net, &set, &loss, &device_of(train), how))
}

/// The metrics of a trained run on rows streamed to the file `path` (an
/// evaluation over a source larger than the memory budget), read a row
/// group at a time; and how many rows there were.
pub fn evaluate_file(
    trained: &Trained,
    train: &Train,
    path: &Path,
    (threshold, asked): (Option<f64>, &fit::Asked),
    span: Span,
) -> RunResult<(Scores, usize)> {
    let rows = crate::run::disk::evaluation_rows(&trained.meta, path, shaped_image(train), span)?;
    let count = rows.len();
    let loss = loss_of(train, None, trained.meta.target_scale).with_threshold(threshold);
    let how = fit::Scoring { asked, batch: fit::training_batch(&train.settings) };
    let scores = on_device(train, "evaluating ran", span, || {
        fit::evaluate_rows(&trained.net, &rows, &loss, &device_of(train), how)
    })?
    .map_err(|e| RunError::data(format!("cannot read the evaluation data: {e}"), span, "evaluated here", ""))?;
    Ok((scores, count))
}

/// `roc.csv`, `pr.csv`, `roc.png` and `pr.png` in `folder`: each class's
/// points (`class` by its name), and their plots.
pub fn write_curves(
    folder: &Path,
    curves: &[crate::train::metrics::ClassCurve],
    names: &[String],
) -> Result<(), String> {
    use crate::train::plot::chart_curves;
    std::fs::create_dir_all(folder).map_err(|e| e.to_string())?;
    let name = |class: usize| names.get(class).cloned().unwrap_or_else(|| class.to_string());
    let csv = |header: &str, pick: fn(&crate::train::metrics::ClassCurve) -> &Vec<[f64; 3]>| {
        let mut out = format!("class,{header}\n");
        for curve in curves {
            for [a, b, c] in pick(curve) {
                out.push_str(&format!("{},{a},{b},{c}\n", name(curve.class)));
            }
        }
        out
    };
    crate::run::write::bytes(&folder.join("roc.csv"), csv("threshold,fpr,tpr", |c| &c.roc).as_bytes())?;
    crate::run::write::bytes(&folder.join("pr.csv"), csv("threshold,precision,recall", |c| &c.pr).as_bytes())?;
    let series = |pick: fn(&[f64; 3]) -> (f64, f64),
                  points: fn(&crate::train::metrics::ClassCurve) -> &Vec<[f64; 3]>| {
        curves
            .iter()
            .map(|c| (name(c.class), points(c).iter().map(pick).collect()))
            .collect::<Vec<(String, Vec<(f64, f64)>)>>()
    };
    chart_curves(&folder.join("roc.png"), "roc", ["fpr", "tpr"], &series(|p| (p[1], p[2]), |c| &c.roc), true)?;
    chart_curves(
        &folder.join("pr.png"),
        "precision-recall",
        ["recall", "precision"],
        &series(|p| (p[2], p[1]), |c| &c.pr),
        false,
    )
}

/// `frame` with a `prediction` column: class names (as the target's type)
/// or numbers; with `probability` (a classification run, as the checker
/// ensures) also each predicted class's probability.
pub fn predict(trained: &Trained, train: &Train, frame: DataFrame, asked: &Asked, span: Span) -> RunResult<DataFrame> {
    let Asked { probability, classes, threshold } = *asked;
    let set = shaped(arrays(&frame, &trained.meta, false, span)?, train);
    let loss = loss_of(train, None, trained.meta.target_scale).with_threshold(threshold);
    let batch = fit::training_batch(&train.settings);
    let (values, all) = on_device(train, "predicting ran", span, || {
        fit::predict_with_probabilities(&trained.net, &set, &loss, &device_of(train), probability, batch)
    })?;
    let column = match &trained.meta.classes {
        Some(names) => {
            let labels: Vec<&str> = values.iter().map(|v| names.get(*v as usize).map_or("", String::as_str)).collect();
            let text = StringChunked::from_slice(crate::ir::PREDICTION.into(), &labels).into_column();
            match train.data.schema.get(&train.target).map(|c| &c.dtype) {
                Some(DType::I64) => text.cast(&DataType::Int64).unwrap_or(text),
                Some(DType::Bool) => text.cast(&DataType::Boolean).unwrap_or(text),
                _ => text,
            }
        }
        None => Float64Chunked::from_vec(crate::ir::PREDICTION.into(), values.iter().map(|v| f64::from(*v)).collect())
            .into_column(),
    };
    let mut frame = frame;
    frame.with_column(column).map_err(|e| RunError::data(e.to_string(), span, "here", ""))?;
    if probability {
        let all = all
            .ok_or_else(|| RunError::data("this run predicts numbers, which have no probability", span, "here", ""))?;
        let width = all.len().checked_div(values.len()).unwrap_or(0).max(1);
        let rows = || all.chunks(width);
        let chances = rows().zip(&values).map(|(row, c)| row.get(*c as usize).map_or(f64::NAN, |p| f64::from(*p)));
        let column = Float64Chunked::from_iter_values(crate::ir::PROBABILITY.into(), chances).into_column();
        frame.with_column(column).map_err(|e| RunError::data(e.to_string(), span, "here", ""))?;
        let trained_classes = trained.meta.classes.as_deref().unwrap_or_default();
        for class in classes {
            // A class the training rows lacked has no output: probability 0.
            let at = trained_classes.iter().position(|c| c == class);
            let values = rows().map(|row| at.and_then(|i| row.get(i)).map_or(0.0, |p| f64::from(*p)));
            let name = crate::ir::class_probability(class);
            let column = Float64Chunked::from_iter_values(name.as_str().into(), values).into_column();
            frame.with_column(column).map_err(|e| RunError::data(e.to_string(), span, "here", ""))?;
        }
    }
    Ok(frame)
}

/// What a `predict` step adds besides the prediction.
#[derive(Clone, Copy)]
pub struct Asked<'a> {
    /// `probability`, the predicted class's probability.
    pub probability: bool,
    /// With it, `probability_<class>` for each of these classes.
    pub classes: &'a [String],
    /// `threshold:` of a two-class run.
    pub threshold: Option<f64>,
}

/// A network `save:` wrote (for `load(...)`), on the run's device.
pub fn load_saved(train: &Train, dir: &Path, model: &crate::ir::Model, span: Span) -> RunResult<Net> {
    use burn::module::Module;
    devices_present(train, span)?;
    checksums::verify(dir, &["model.bpk", SAVED_MODEL]).map_err(|damage| RunError::Damaged {
        path: dir.display().to_string(),
        damage: damage.to_string(),
        span,
        help: "save the model again (run the pipeline that trained it, with `save:`), then load it".into(),
    })?;
    Net::new(model, &device_of(train), 0).try_load_file(dir.join("model.bpk")).map_err(|e| RunError::Unreadable {
        path: dir.join("model.bpk").display().to_string(),
        reason: crate::train::model::record_error(e),
        span,
        help: "save the model again (run the pipeline with `save:`), then load it".into(),
    })
}

/// The run's model with PyTorch weights from a safetensors file
/// (`weights(...)`), on the run's device.
pub fn import_weights(train: &Train, path: &Path, span: Span) -> RunResult<Net> {
    devices_present(train, span)?;
    let device = device_of(train);
    Net::new(&train.model, &device, 0).import_torch(&train.model, path, &device).map_err(|reason| {
        RunError::Unreadable {
            path: path.display().to_string(),
            reason,
            span,
            help: "the file changed since `pipe check`: check it again".into(),
        }
    })
}

/// Builds a trained run from saved weights (a run folder, the stage
/// cache); the error says why they do not fit `train`'s model.
pub fn load(train: &Train, weights: &Path, meta: TrainedMeta) -> Result<Trained, String> {
    // Weights of a run trained on a GPU this machine lacks are not loaded
    // onto it (libtorch would abort): the caller reports the device.
    devices_present(train, Span::default()).map_err(|e| e.to_string())?;
    classes_fit(train, &meta)?;
    features_fit(train, &meta)?;
    let precision = crate::train::model::Precision::of(train.settings.precision);
    let net = Net::new(&train.model, &device_of(train), 0)
        .try_load_file(weights)
        .map_err(crate::train::model::record_error)?
        .with_precision(precision);
    Ok(Trained { net, meta, cacheable: true, point: None })
}

/// Whether the saved features are columns of `train`'s data that give its
/// model's input width (an image or tokenized text is one column).
fn features_fit(train: &Train, meta: &TrainedMeta) -> Result<(), String> {
    let mut width = 0u64;
    for name in &meta.features {
        let column = train
            .data
            .schema
            .get(name)
            .ok_or_else(|| format!("its feature `{name}` is not a column of the training data"))?;
        width = width.saturating_add(match column.dtype {
            DType::Image(shape) => crate::ir::Shape::Image(shape).values(),
            DType::Tokens { length, .. } => length as u64,
            _ => 1,
        });
    }
    let wanted = train.model.input.values();
    if width == wanted {
        return Ok(());
    }
    Err(format!("its {} features give {width} values a row, and the model reads {wanted}", meta.features.len()))
}

/// Whether the saved classes are one per output of `train`'s model (or
/// two for a single output): a prediction names the class of its output.
fn classes_fit(train: &Train, meta: &TrainedMeta) -> Result<(), String> {
    let outputs = train.model.output.values();
    match (&meta.classes, is_classification(train)) {
        (None, false) => Ok(()),
        (Some(names), true) if output_per_class(outputs, names.len() as u64) => Ok(()),
        (Some(names), true) => Err(format!("it names {} classes, and the model has {outputs} outputs", names.len())),
        (None, true) => Err("it names no classes, and the model predicts classes".into()),
        (Some(_), false) => Err("it names classes, and the model predicts numbers".into()),
    }
}

/// The folder a pipeline's relative paths start from, absolute: a file
/// run from its own folder names it as the empty path, which later
/// commands run elsewhere would read as their own folder.
fn absolute_dir(dir: &Path) -> PathBuf {
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    dir.canonicalize().or_else(|_| std::env::current_dir().map(|c| c.join(dir))).unwrap_or_else(|_| dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::{Epoch, PeakMemory, metrics_csv};

    /// The CSV log has the GPU's columns when an epoch measured them
    /// (libtorch's CUDA), in megabytes, and not otherwise.
    #[test]
    fn the_csv_log_has_gpu_columns_only_when_measured() {
        let mut epoch = Epoch { epoch: 1, loss: 0.5, ..Epoch::default() };
        assert!(!metrics_csv(std::slice::from_ref(&epoch)).contains("gpu"));
        epoch.gpu_memory = Some(PeakMemory { allocated_bytes: 1_500_000, reserved_bytes: 4_000_000 });
        let csv = metrics_csv(&[epoch]);
        let lines: Vec<&str> = csv.lines().collect();
        assert!(lines[0].ends_with(",samples_per_second,gpu_peak_allocated_mb,gpu_peak_reserved_mb"), "{csv}");
        assert!(lines[1].ends_with(",1.5,4"), "{csv}");
        assert_eq!(lines[0].split(',').count(), lines[1].split(',').count());
    }
}
