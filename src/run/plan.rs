//! What a run reads: the items the targets need, and the items each item
//! names (so they run first and their cache keys enter its key).

use crate::ir::{Frame, FrameInput, ItemId, ItemKind, Op, Program};
use crate::run::error::{RunError, RunResult};

/// The items to run: the ones named, or every output, evaluation and
/// training run (every item when there are none of those).
pub(super) fn targets(program: &Program, only: &[String]) -> RunResult<Vec<ItemId>> {
    let items = || program.items.iter().enumerate().filter_map(|(i, item)| Some((i, item.as_ref()?)));
    if only.is_empty() {
        let ends: Vec<ItemId> = items()
            .filter(|(_, item)| {
                matches!(item.kind, ItemKind::Output(_) | ItemKind::Train(_) | ItemKind::Evaluate { .. })
            })
            .map(|(i, _)| i)
            .collect();
        return Ok(if ends.is_empty() { items().map(|(i, _)| i).collect() } else { ends });
    }
    only.iter()
        .map(|name| {
            items().find(|(_, item)| item.name.split(", ").any(|n| n == name)).map(|(i, _)| i).ok_or_else(|| {
                let names: Vec<String> =
                    items().flat_map(|(_, it)| it.name.split(", ").map(str::to_owned).collect::<Vec<_>>()).collect();
                RunError::UnknownItem { name: name.clone(), help: format!("the items are: {}", names.join(", ")) }
            })
        })
        .collect()
}

/// The items an item reads, in the order it names them.
pub(super) fn references(kind: &ItemKind) -> Vec<ItemId> {
    let mut out = Vec::new();
    match kind {
        ItemKind::Source(_) => {}
        ItemKind::Stage(frame) | ItemKind::Output(frame) | ItemKind::Split { input: frame, .. } => {
            frame_references(frame, &mut out)
        }
        ItemKind::Transform { fit_on, steps, .. } => {
            frame_references(fit_on, &mut out);
            op_references(steps, &mut out);
        }
        ItemKind::Train(train) => {
            frame_references(&train.data, &mut out);
            if let Some(v) = &train.validate {
                frame_references(v, &mut out);
            }
            // A k-fold run reads every fold's data (the first fold's above).
            for fold in train.folds.iter().skip(1) {
                frame_references(&fold.data, &mut out);
                if let Some(v) = &fold.validate {
                    frame_references(v, &mut out);
                }
            }
            // A model that starts from a trained run needs its weights.
            if let Some(crate::ir::Pretrained { from: crate::ir::PretrainedFrom::Run(run), .. }) =
                &train.model.pretrained
            {
                out.push(*run);
            }
        }
        ItemKind::Evaluate { run, data, .. } => {
            out.push(*run);
            frame_references(data, &mut out);
        }
    }
    out
}

pub(super) fn frame_references(frame: &Frame, out: &mut Vec<ItemId>) {
    match &frame.input {
        FrameInput::Item(id) | FrameInput::Part { split: id, .. } => out.push(*id),
        FrameInput::Transformed { transform, input } => {
            out.push(*transform);
            frame_references(input, out);
        }
    }
    op_references(&frame.ops, out);
}

pub(super) fn op_references(ops: &[Op], out: &mut Vec<ItemId>) {
    for op in ops {
        if let Op::Transform(id) | Op::Predict { run: id, .. } = op {
            out.push(*id);
        }
    }
}
