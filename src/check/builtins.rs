//! The names the language provides, gathered from their declarations:
//! readers ([`crate::check::sources::SOURCES`]), data operations
//! ([`crate::check::ops::OPERATIONS`] and `predict`), layers
//! ([`crate::check::layers::LAYERS`]), augmentation steps
//! ([`crate::check::augment::STEPS`]) and model operations
//! ([`crate::check::models::MODEL_OPERATIONS`] and `load`), and the calls
//! settings take ([`crate::check::setting_calls`]). The resolver
//! tells known names from typos with these lists, and editors show the
//! signatures and docs derived here; nothing is listed by hand.

use crate::check::args::{self, Declared, Param};
use crate::check::{augment, frames, layers, models, ops, setting_calls, sources};

/// Where a builtin is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The value of a `source` item.
    Source,
    /// After `|>` in a data pipeline, or a step of a `transform`.
    DataOperation,
    /// A step of a `model` block.
    Layer,
    /// A step of an `augment` block.
    Augmentation,
    /// After `|>` in a model expression.
    ModelOperation,
    /// A model made without a `model` item.
    ModelSource,
    /// A call a training setting's value may be (`adam(lr)`, `l2(w)`).
    SettingValue,
}

impl Place {
    /// Every place, in the order the reference lists them.
    pub const ALL: [Place; 7] = [
        Place::Source,
        Place::DataOperation,
        Place::Layer,
        Place::Augmentation,
        Place::ModelOperation,
        Place::ModelSource,
        Place::SettingValue,
    ];
}

/// One builtin as editors show it.
#[derive(Clone, Debug)]
pub struct Builtin {
    /// Its name.
    pub name: &'static str,
    /// Where it is written.
    pub place: Place,
    /// Its signature: `cut(column, edges, labels:, include_lowest:)`
    /// (`name:` marks a parameter given only by name, `...` one that takes
    /// every remaining positional argument).
    pub signature: String,
    /// What it does, in one line.
    pub doc: &'static str,
}

fn of<K>(place: Place, d: &Declared<K>) -> Builtin {
    declared(place, d.name, d.params, d.doc)
}

fn declared(place: Place, name: &'static str, params: &[Param], doc: &'static str) -> Builtin {
    Builtin { name, place, signature: args::signature(name, params), doc }
}

/// Every builtin, from its declaration (gathered once).
pub fn builtins() -> &'static [Builtin] {
    static ALL: std::sync::LazyLock<Vec<Builtin>> = std::sync::LazyLock::new(gather);
    &ALL
}

fn gather() -> Vec<Builtin> {
    let mut all: Vec<Builtin> = sources::SOURCES.iter().map(|s| of(Place::Source, s)).collect();
    all.extend(ops::OPERATIONS.iter().map(|o| Builtin {
        name: o.name,
        place: Place::DataOperation,
        signature: o.signature(),
        doc: o.doc,
    }));
    all.push(of(Place::DataOperation, &frames::PREDICT));
    all.extend(layers::LAYERS.iter().map(|l| declared(Place::Layer, l.name, l.params, l.doc)));
    all.extend(layers::BLOCKS.iter().map(|(name, signature, doc)| Builtin {
        name,
        place: Place::Layer,
        signature: (*signature).into(),
        doc,
    }));
    all.extend(augment::STEPS.iter().map(|s| declared(Place::Augmentation, s.name, s.params, s.doc)));
    all.extend(models::MODEL_OPERATIONS.iter().map(|o| of(Place::ModelOperation, o)));
    all.push(of(Place::ModelSource, &models::LOAD));
    // A value call without parameters is written as a bare name (`constant`).
    all.extend(setting_calls::all().into_iter().map(|(name, params, doc)| match params {
        [] => Builtin { name, place: Place::SettingValue, signature: name.into(), doc },
        _ => declared(Place::SettingValue, name, params, doc),
    }));
    all
}

/// The names of the builtins written at `place`, in declaration order.
pub fn names(place: Place) -> Vec<&'static str> {
    match place {
        Place::Source => sources::source_names(),
        Place::DataOperation => data_operations(),
        Place::Layer => layers::layer_names(),
        Place::Augmentation => augment::step_names(),
        Place::ModelOperation => models::MODEL_OPERATIONS.iter().map(|o| o.name).collect(),
        Place::ModelSource => vec![models::LOAD.name],
        Place::SettingValue => setting_calls::all().into_iter().map(|(name, _, _)| name).collect(),
    }
}

/// Operations on frames, valid after `|>` in a data pipeline (and as steps
/// of a `transform` block, for the fitted ones): every declared operation
/// and `predict`.
pub fn data_operations() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = ops::OPERATIONS.iter().map(|o| o.name).collect();
    names.push(frames::PREDICT.name);
    names
}

/// Whether `name` is a data operation.
pub fn is_data_operation(name: &str) -> bool {
    name == frames::PREDICT.name || ops::operation(name).is_some()
}

/// Whether `name` is a layer, an activation or a block of layers.
pub fn is_layer(name: &str) -> bool {
    layers::is_layer(name)
}

/// A builtin's signature and description, by name (the first declared, if
/// a name is written in several places).
pub fn signature(name: &str) -> Option<(String, &'static str)> {
    builtins().iter().find(|b| b.name == name).map(|b| (b.signature.clone(), b.doc))
}

/// The reference table of the builtins written at `places`, as the
/// language reference shows it (a test holds the two equal): one row per
/// builtin, its signature and what it does.
pub fn reference_table(places: &[Place]) -> String {
    let mut table = String::from("| call | what it does |\n| --- | --- |\n");
    for builtin in builtins().iter().filter(|b| places.contains(&b.place)) {
        table += &format!("| `{}` | {} |\n", builtin.signature, builtin.doc.replace('|', "\\|"));
    }
    table
}

/// The parameter names in a signature, in order: `cut(column, edges,
/// labels:, include_lowest:)` gives `column, edges, labels, include_lowest`
/// (none for `rename`'s and `with`'s pairs of the user's choosing).
pub fn parameter_names(signature: &str) -> Vec<&str> {
    let Some(inside) = signature.split_once('(').and_then(|(_, rest)| rest.strip_suffix(')')) else { return vec![] };
    inside
        .split(", ")
        .map(|p| p.trim_end_matches(':').trim_end_matches("..."))
        .filter(|p| !p.is_empty() && !p.contains(':') && !p.contains(' '))
        .collect()
}
