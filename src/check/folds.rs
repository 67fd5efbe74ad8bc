//! k-fold runs. A `split folds = data |> kfold(k)` item is lowered as its
//! first fold; here every other fold gets its own copy of the split and of
//! each stage, split and fitted transform that reads it, so a fold's
//! transforms learn from that fold's training rows only (no leakage between
//! folds), and each run trained on the folds gets every fold's data
//! ([`ir::Train::folds`]): one model a fold.
//!
//! What cannot be promised per fold is refused here with a coded
//! diagnostic: an output or evaluation of fold data (which fold's?), a run
//! evaluated, predicted with or started from (which of its k models?), a
//! sweep over folds, and log files or `save:` that the folds would each
//! overwrite.

use std::collections::{BTreeSet, HashMap};

use crate::check::error::{CheckError, Mistake};
use crate::ir::{self, Frame, FrameInput, ItemId, ItemKind, Op, Program, frame_references, frames_of, references};

/// Adds the folds after the first of every `kfold` split to `program`;
/// the mistakes that make a k-fold file mean nothing definite.
pub fn expand(program: &mut Program) -> Vec<CheckError> {
    let mut errors = Vec::new();
    let kfolds: Vec<(ItemId, ir::Fold)> = program
        .items
        .iter()
        .enumerate()
        .filter_map(|(id, item)| match &item.as_ref()?.kind {
            ItemKind::Split { fold: Some(fold), .. } => Some((id, *fold)),
            _ => None,
        })
        .collect();
    let fold_runs: BTreeSet<ItemId> = kfolds.iter().flat_map(|(s, _)| runs_on(program, *s)).collect();
    let mut refused = refuse_fold_runs_used(program, &fold_runs, &mut errors);
    refused.extend(refuse_mixed_folds(program, &kfolds, &mut errors));
    for (split, fold) in kfolds {
        if let Err(e) = expand_split(program, split, fold, &refused) {
            errors.push(*e);
        }
    }
    errors
}

/// The `train` items that read `split`'s parts.
fn runs_on(program: &Program, split: ItemId) -> Vec<ItemId> {
    let dependents = dependents(program, split);
    dependents
        .into_iter()
        .filter(|id| matches!(program.items[*id].as_ref().map(|i| &i.kind), Some(ItemKind::Train(_))))
        .collect()
}

/// The items that read `split`, directly or through other items, in order.
fn dependents(program: &Program, split: ItemId) -> BTreeSet<ItemId> {
    let mut found: BTreeSet<ItemId> = BTreeSet::new();
    let mut grew = true;
    while grew {
        grew = false;
        for (id, item) in program.items.iter().enumerate() {
            let Some(item) = item else { continue };
            if id == split || found.contains(&id) {
                continue;
            }
            if references(&item.kind).iter().any(|r| *r == split || found.contains(r)) {
                found.insert(id);
                grew = true;
            }
        }
    }
    found
}

/// Evaluations, outputs, predictions and warm starts of a k-fold run:
/// they would need one model, and the run has one a fold.
/// The items refused.
fn refuse_fold_runs_used(
    program: &Program,
    fold_runs: &BTreeSet<ItemId>,
    errors: &mut Vec<CheckError>,
) -> BTreeSet<ItemId> {
    let mut refused = BTreeSet::new();
    for (id, item) in program.items.iter().enumerate() {
        let Some(item) = item else { continue };
        let uses_run =
            match &item.kind {
                ItemKind::Evaluate { run, .. } => fold_runs.contains(run),
                ItemKind::Train(train) => matches!(
                    &train.model.pretrained,
                    Some(ir::Pretrained { from: ir::PretrainedFrom::Run(run), .. }) if fold_runs.contains(run)
                ),
                _ => false,
            } || references(&item.kind).iter().any(|r| fold_runs.contains(r) && predicts_with(&item.kind, *r));
        if uses_run {
            refused.insert(id);
            errors.push(Mistake::Unsupported.at(
                item.span,
                "a run on a `kfold` split's parts trains one model a fold: which one this uses is not defined",
                "uses a k-fold run",
                "the fold models' validation metrics (mean ± std) are the k-fold run's result; to evaluate or predict, train once on all training rows (`split` instead of `kfold`)",
            ));
        }
    }
    refused
}

/// Runs whose training and validation rows do not come from the same
/// `kfold` split (two splits, or folds on one side only): their folds
/// would not be one cross-validation, and rows could be in both.
fn refuse_mixed_folds(
    program: &Program,
    kfolds: &[(ItemId, ir::Fold)],
    errors: &mut Vec<CheckError>,
) -> BTreeSet<ItemId> {
    let reach: Vec<(ItemId, BTreeSet<ItemId>)> =
        kfolds.iter().map(|(split, _)| (*split, dependents(program, *split))).collect();
    let splits_of = |frame: &Frame| -> BTreeSet<ItemId> {
        let mut read = Vec::new();
        frame_references(frame, &mut read);
        reach
            .iter()
            .filter(|(split, after)| read.iter().any(|r| r == split || after.contains(r)))
            .map(|(split, _)| *split)
            .collect()
    };
    let mut refused = BTreeSet::new();
    for (id, item) in program.items.iter().enumerate() {
        let Some(ir::Item { kind: ItemKind::Train(train), span, .. }) = item else { continue };
        let data = splits_of(&train.data);
        let validate = train.validate.as_ref().map(splits_of);
        let same = match &validate {
            Some(v) => *v == data,
            None => true,
        };
        if data.len() > 1 || !same {
            refused.insert(id);
            errors.push(Mistake::Conflict.at(
                *span,
                "a k-fold run trains on one `kfold` split's `.train` and validates on the same split's `.val`",
                "data and validation from different splits",
                "write `on prep(folds.train)` with `validate: prep(folds.val)` of the same `split folds = ... |> kfold(k)`",
            ));
        }
    }
    refused
}

/// Whether `kind` predicts with run `run` (`|> predict(run)`).
fn predicts_with(kind: &ItemKind, run: ItemId) -> bool {
    let mut found = false;
    for frame in frames_of(kind) {
        walk(frame, &mut |op| found |= matches!(op, Op::Predict { run: r, .. } if *r == run));
    }
    found
}

/// Copies what reads `split` once per fold after the first, and gives the
/// runs on it their folds' data.
fn expand_split(
    program: &mut Program,
    split: ItemId,
    fold: ir::Fold,
    refused: &BTreeSet<ItemId>,
) -> Result<(), Box<CheckError>> {
    let dependents = dependents(program, split);
    let mut copied = vec![split];
    let mut runs = Vec::new();
    for &id in dependents.iter().filter(|id| !refused.contains(id)) {
        let item = program.items[id].as_ref().expect("dependents are lowered items");
        match &item.kind {
            ItemKind::Stage(frame) if has_write(frame) => return Err(per_fold(item, "writes a file")),
            ItemKind::Stage(_) | ItemKind::Transform { .. } | ItemKind::Split { fold: None, .. } => copied.push(id),
            ItemKind::Train(train) => {
                refuse_per_fold_settings(item, train)?;
                runs.push(id);
            }
            ItemKind::Output(_) => return Err(per_fold(item, "writes a file")),
            ItemKind::Evaluate { .. } => return Err(per_fold(item, "evaluates")),
            ItemKind::Split { fold: Some(_), .. } | ItemKind::Source(_) => {
                return Err(Box::new(Mistake::Unsupported.at(
                    item.span,
                    "a `kfold` split of a `kfold` split's parts (nested cross-validation) is not supported",
                    "folds of folds",
                    "cut the data into folds once",
                )));
            }
        }
    }
    let mut maps: Vec<HashMap<ItemId, ItemId>> = vec![HashMap::new()];
    for index in 1..fold.k {
        let map: HashMap<ItemId, ItemId> =
            copied.iter().enumerate().map(|(n, id)| (*id, program.items.len().saturating_add(n))).collect();
        for &id in &copied {
            let mut item = program.items[id].clone().expect("copied items are lowered");
            // Each name gets the fold: a split's parts are named one by one.
            let number = index.saturating_add(1);
            item.name = item.name.split(", ").map(|n| format!("{n} (fold {number})")).collect::<Vec<_>>().join(", ");
            remap_kind(&mut item.kind, &map);
            if let ItemKind::Split { fold: Some(f), .. } = &mut item.kind {
                f.index = index;
            }
            program.items.push(Some(item));
        }
        maps.push(map);
    }
    for id in runs {
        let Some(Some(ir::Item { kind: ItemKind::Train(train), .. })) = program.items.get_mut(id) else { continue };
        train.folds = maps
            .iter()
            .map(|map| {
                let mut data = train.data.clone();
                remap_frame(&mut data, map);
                let mut validate = train.validate.clone();
                if let Some(v) = &mut validate {
                    remap_frame(v, map);
                }
                ir::FoldData { data, validate }
            })
            .collect();
    }
    Ok(())
}

/// Settings each fold's run would overwrite the others' with.
fn refuse_per_fold_settings(item: &ir::Item, train: &ir::Train) -> Result<(), Box<CheckError>> {
    if train.sweep.is_some() {
        return Err(Box::new(Mistake::Unsupported.at(
            item.span,
            "a sweep of a k-fold run is not supported: each point would train one model a fold",
            "k-fold run with a sweep",
            "sweep with a `split` into training and validation parts, or cross-validate one setting at a time",
        )));
    }
    let files = train.settings.logs.iter().any(|l| !matches!(l, ir::LogSink::Console));
    if files || train.settings.save.is_some() || train.settings.checkpoint.every > 0 {
        return Err(Box::new(Mistake::Unsupported.at(
            item.span,
            "a run on a `kfold` split's parts trains one model a fold: `log:` files, `save:` and `checkpoint:` would be written (and resumed) by each",
            "k-fold run",
            "each fold has its own run folder (its metrics, plots and weights; `pipe report` shows them): keep `log: console`, drop `save:` and `checkpoint:`",
        )));
    }
    Ok(())
}

fn per_fold(item: &ir::Item, what: &str) -> Box<CheckError> {
    Box::new(Mistake::Unsupported.at(
        item.span,
        format!("this item {what} on a `kfold` split's parts, which differ in each fold"),
        "reads fold data",
        "use `folds.train` and `folds.val` in stages, transforms and `train` items only; for a file or an evaluation, use a `split`",
    ))
}

fn has_write(frame: &Frame) -> bool {
    let mut found = false;
    walk(frame, &mut |op| found |= matches!(op, Op::Write(..)));
    found
}

/// Calls `f` on every operation of `frame`, its inputs' included.
fn walk(frame: &Frame, f: &mut dyn FnMut(&Op)) {
    if let FrameInput::Transformed { input, .. } = &frame.input {
        walk(input, f);
    }
    frame.ops.iter().for_each(f);
}

/// `kind` with each item it reads replaced as `map` says.
fn remap_kind(kind: &mut ItemKind, map: &HashMap<ItemId, ItemId>) {
    match kind {
        ItemKind::Source(_) | ItemKind::Train(_) | ItemKind::Evaluate { .. } => {}
        ItemKind::Stage(f) | ItemKind::Output(f) | ItemKind::Split { input: f, .. } => remap_frame(f, map),
        ItemKind::Transform { fit_on, steps, .. } => {
            remap_frame(fit_on, map);
            steps.iter_mut().for_each(|op| remap_op(op, map));
        }
    }
}

fn remap_frame(frame: &mut Frame, map: &HashMap<ItemId, ItemId>) {
    let to = |id: &mut ItemId| {
        if let Some(new) = map.get(id) {
            *id = *new;
        }
    };
    match &mut frame.input {
        FrameInput::Item(id) | FrameInput::Part { split: id, .. } => to(id),
        FrameInput::Transformed { transform, input } => {
            to(transform);
            remap_frame(input, map);
        }
    }
    frame.ops.iter_mut().for_each(|op| remap_op(op, map));
}

fn remap_op(op: &mut Op, map: &HashMap<ItemId, ItemId>) {
    if let Op::Transform(id) = op
        && let Some(new) = map.get(id)
    {
        *id = *new;
    }
}
