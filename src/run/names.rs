//! Items' and operations' names, as run events show them.

use crate::ir::{ItemKind, Op};

/// An item's keyword.
pub(super) fn kind_name(kind: &ItemKind) -> &'static str {
    match kind {
        ItemKind::Source(_) => "source",
        ItemKind::Stage(_) => "stage",
        ItemKind::Split { .. } => "split",
        ItemKind::Transform { .. } => "transform",
        ItemKind::Output(_) => "output",
        ItemKind::Train(_) => "train",
        ItemKind::Evaluate { .. } => "evaluate",
    }
}

/// An operation's name as written.
pub(crate) fn op_name(op: &Op) -> &'static str {
    op.keyword()
}
