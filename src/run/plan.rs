//! What a run reads: the items the targets need, and the items each item
//! names (so they run first and their cache keys enter its key).

use crate::ir::{ItemId, ItemKind, Program};
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

pub(super) use crate::ir::{frame_references, op_references, references};
