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
pub(super) fn op_name(op: &Op) -> &'static str {
    match op {
        Op::Filter(_) => "filter",
        Op::Select(_) => "select",
        Op::Drop(_) => "drop",
        Op::Rename(_) => "rename",
        Op::With(_) => "with",
        Op::DropNulls(_) => "drop_nulls",
        Op::FillNulls { .. } => "fill_nulls",
        Op::Cast { .. } => "cast",
        Op::Cut { .. } => "cut",
        Op::QCut { .. } => "qcut",
        Op::Standard(_) => "standard",
        Op::MinMax { .. } => "minmax",
        Op::Robust(_) => "robust",
        Op::Log1p(_) => "log1p",
        Op::OneHot { .. } => "onehot",
        Op::Pca { .. } => "pca",
        Op::Oversample(_) => "oversample",
        Op::Pixels { .. } => "pixels",
        Op::Sample { .. } => "sample",
        Op::Cache => "cache",
        Op::Write(_) => "write",
        Op::Transform(_) => "transform",
        Op::Predict(_) => "predict",
    }
}
