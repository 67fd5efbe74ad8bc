//! Sweeps: a training setting or a model's argument written as a search
//! space (`adam(lr: sweep([1e-3, 1e-2]))`, `mlp(hidden: sweep([[64],
//! [256, 256]]))`, `log_uniform(1e-4, 1e-1)`), and the points a `train`
//! item runs, drawn by its `search:` setting. Each point is the file with
//! every space replaced by one of its values, so the checker checks it as
//! if it were written out, and the runner trains exactly what was checked.

use std::collections::{HashMap, HashSet};

use crate::check::args::{Declared, bind, declared, named, pos};
use crate::check::error::{CheckError, Mistake};
use crate::check::settings::TRAIN_SETTINGS;
use crate::check::value::{Constants, Value, eval};
use crate::source::Span;
use crate::suggest::closest;
use crate::syntax::ast::*;

/// The kinds of search space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpaceKind {
    /// `sweep([a, b])`, `sweep(lo..hi, steps: n, log: true)`
    Sweep,
    /// `uniform(lo, hi)`
    Uniform,
    /// `log_uniform(lo, hi)`
    LogUniform,
}

/// The search spaces a setting or a model argument may be written as.
pub const SPACES: &[Declared<SpaceKind>] = &[
    declared(
        "sweep",
        SpaceKind::Sweep,
        &[pos("values", true), named("steps"), named("log")],
        "In a train block or a model: the values a sweep tries, a list `[a, b]` or a range `lo..hi` (`steps:` evenly spaced, `log: true` geometrically)",
    ),
    declared(
        "uniform",
        SpaceKind::Uniform,
        &[pos("low", true), pos("high", true)],
        "In a train block or a model: a number drawn uniformly from [low, high] for each point of `search: random(n:)`",
    ),
    declared(
        "log_uniform",
        SpaceKind::LogUniform,
        &[pos("low", true), pos("high", true)],
        "In a train block or a model: a positive number drawn uniformly on a log scale (learning rates, weight decay) for each point of `search: random(n:)`",
    ),
];

/// How a sweep picks its points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchKind {
    /// Every combination.
    Grid,
    /// Points drawn at random.
    Random,
}

/// The values `search:` takes.
pub const SEARCHES: &[Declared<SearchKind>] = &[
    declared("grid", SearchKind::Grid, &[], "Every combination of the sweeps' values, the last varying fastest"),
    declared(
        "random",
        SearchKind::Random,
        &[named("n"), named("seed")],
        "`n` points, each value drawn at random from its space (seed 0 unless given)",
    ),
];

/// The values `prune:` takes.
pub const PRUNERS: &[Declared<()>] = &[declared(
    "median",
    (),
    &[named("startup"), named("after")],
    "Stops a point whose best objective so far is worse than the median of the finished points' at that epoch, once `startup` points have finished (5 unless given) and after `after` epochs (0 unless given)",
)];

/// The most points one sweep may have.
pub const MAX_POINTS: usize = 1000;

/// Significant digits a drawn number or a range's value keeps, so a point
/// prints as the value it trains with (and can be written into a file as
/// is).
const DRAWN_DIGITS: i32 = 4;

/// Whether `call` is a search space (`sweep`, `uniform`, `log_uniform`).
pub fn is_space(call: &Call) -> bool {
    call.callee.parts.len() == 1 && space_kind(&call.callee.parts[0].name).is_some()
}

fn space_kind(name: &str) -> Option<SpaceKind> {
    SPACES.iter().find(|s| s.name == name).map(|s| s.kind)
}

/// One swept value: where it is written and what the ranked table calls it.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    /// The space's call.
    pub span: Span,
    /// `lr`, `hidden`, `dropout`.
    pub label: String,
    /// The train setting it is written in (`None`: in a model).
    pub setting: Option<String>,
}

/// A `train` item's sweep: its axes and the points drawn from them.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The axes, in the order written.
    pub axes: Vec<Axis>,
    /// For each point, each axis' value.
    pub points: Vec<Vec<Expr>>,
    /// `grid`, `random(n: 20, seed: 1)`: how the points were picked.
    pub search: String,
    /// `prune: median(...)`, checked.
    pub prune: Option<crate::ir::MedianPrune>,
    /// `parallel: k`, checked (1 unless given).
    pub parallel: u64,
}

impl Plan {
    /// Point `index` as `(label, value)` pairs.
    pub fn values(&self, index: usize) -> Vec<(String, String)> {
        let values = &self.points[index];
        self.axes.iter().zip(values).map(|(a, v)| (a.label.clone(), crate::format::format_expr(v))).collect()
    }

    /// Point `index` in a line: `lr = 0.01, hidden = [64]`.
    pub fn describe(&self, index: usize) -> String {
        let values: Vec<String> = self.values(index).into_iter().map(|(l, v)| format!("{l} = {v}")).collect();
        values.join(", ")
    }

    /// The replacements that make point `index`.
    pub fn substitutions(&self, index: usize) -> HashMap<Span, Expr> {
        self.axes.iter().zip(&self.points[index]).map(|(a, v)| (a.span, v.clone())).collect()
    }
}

/// The sweeps of one file.
#[derive(Debug, Default)]
pub struct Sweeps {
    /// Each swept `train` item's plan, by item index.
    pub plans: HashMap<usize, Plan>,
    /// Every space replaced by its first value: the file the checks that
    /// are the same for every point read.
    pub first: HashMap<Span, Expr>,
    /// Spaces written where nothing varies, malformed spaces and searches.
    pub errors: Vec<CheckError>,
}

impl Sweeps {
    /// The file with every space replaced as `point` says (spaces not in
    /// it take their first value).
    pub fn program(&self, program: &Program, point: &HashMap<Span, Expr>) -> Program {
        let mut values = self.first.clone();
        values.extend(point.iter().map(|(s, e)| (*s, e.clone())));
        let mut items = program.items.clone();
        for item in &mut items {
            replace_in_item(item, &values);
        }
        Program { items }
    }
}

/// Finds the sweeps of a file. In a file that is imported (`root` false)
/// every space is misplaced: a sweep is written in the file that trains.
pub fn find(program: &Program, constants: &Constants, root: bool) -> Sweeps {
    let mut sweeps = Sweeps::default();
    let mut places = Places::default();
    for (index, item) in program.items.iter().enumerate() {
        places.item(index, item, root);
    }
    sweeps.errors.append(&mut places.errors);
    for (call, span) in &places.misplaced {
        let mut quiet = Vec::new();
        if let Some(first) =
            space(call, *span, constants, &mut quiet).and_then(|s| s.first(*span)).or_else(|| written_first(call))
        {
            sweeps.first.insert(*span, first);
        }
    }
    let mut axes_of: HashMap<Span, (Axis, Option<Space>)> = HashMap::new();
    for site in &places.allowed {
        let space = space(site.call, site.span, constants, &mut sweeps.errors);
        // A malformed space (reported) reads as the first value written in
        // it, so the checks of its place do not report it again.
        if let Some(first) = space.as_ref().and_then(|s| s.first(site.span)).or_else(|| written_first(site.call)) {
            sweeps.first.insert(site.span, first);
        }
        let axis = Axis { span: site.span, label: site.label.clone(), setting: site.setting.clone() };
        axes_of.insert(site.span, (axis, space));
    }
    for (index, item) in program.items.iter().enumerate() {
        let ItemKind::Train(train) = &item.kind else { continue };
        let mut spans: Vec<Span> = places.in_train.get(&index).cloned().unwrap_or_default();
        for model in reached_models(&program.items, &train.model) {
            spans.extend(places.in_model.get(&model).into_iter().flatten());
        }
        spans.sort_by_key(|s| (s.file, s.start));
        spans.dedup();
        if let Some(plan) = plan(train, &spans, &axes_of, &mut sweeps.errors) {
            sweeps.plans.insert(index, plan);
        }
    }
    sweeps
}

/// A train item's points, or `None` when it sweeps nothing (or a space or
/// its `search:` is wrong: reported).
fn plan(
    train: &TrainItem,
    spans: &[Span],
    axes_of: &HashMap<Span, (Axis, Option<Space>)>,
    errors: &mut Vec<CheckError>,
) -> Option<Plan> {
    let search = setting(&train.body, "search");
    if spans.is_empty() {
        for (key, does) in [("search", "picks"), ("objective", "ranks"), ("prune", "stops"), ("parallel", "trains")] {
            if let Some(value) = setting(&train.body, key) {
                errors.push(Mistake::Conflict.at(
                    value.span,
                    format!("`{key}` {does} the points of a sweep, and `{}` sweeps nothing", train.name.name),
                    "no sweep to rank",
                    "write a setting or a model argument as `sweep([a, b])`, or remove this line",
                ));
            }
        }
        return None;
    }
    if setting(&train.body, "validate").is_none() && setting(&train.body, "objective").is_none() {
        errors.push(Mistake::Incomplete.at(
            spans[0],
            format!("a sweep ranks its points on validation data, and `{}` has none", train.name.name),
            "swept without `validate:`",
            "add `validate: <data>` (its loss ranks the points), or rank on the training data with `objective: train.loss`",
        ));
        return None;
    }
    let mut axes = Vec::new();
    let mut spaces = Vec::new();
    for span in spans {
        let (axis, space) = axes_of.get(span)?;
        axes.push(axis.clone());
        spaces.push(space.clone()?);
    }
    unique_labels(&mut axes);
    if setting(&train.body, "objective").is_none()
        && let Some((axis, key)) = axes.iter().find_map(|a| {
            let key = a.setting.as_deref().filter(|k| matches!(*k, "loss" | "scale" | "class_weight"))?;
            Some((a, key))
        })
    {
        errors.push(Mistake::Conflict.at(
            axis.span,
            format!("the points' losses cannot be compared: `{key}` changes what the loss measures"),
            "swept without an objective",
            "rank the points on a metric every point computes alike: `objective: val.accuracy` (or `val.r2`, `val.log_loss`, ...)",
        ));
        return None;
    }
    let (points, written) = match search.map(search_kind).unwrap_or(Ok((SearchKind::Grid, None))) {
        Err(error) => {
            errors.push(*error);
            return None;
        }
        Ok((SearchKind::Grid, _)) => (grid(&axes, &spaces, errors)?, "grid".to_owned()),
        Ok((SearchKind::Random, call)) => {
            let (n, seed) = random_settings(call, search?.span, errors)?;
            if let Some(size) = space_size(&spaces).filter(|size| *size < n) {
                errors.push(Mistake::OutOfRange.at(
                    search?.span,
                    format!("`random(n: {n})` asks for more points than the {size} these spaces have"),
                    "more points than there are",
                    format!("write `search: grid` to train all {size}, or draw fewer"),
                ));
                return None;
            }
            (random(&spaces, n, seed), format!("random(n: {n}, seed: {seed})"))
        }
    };
    let prune = match setting(&train.body, "prune") {
        None => None,
        Some(value) => Some(prune(value, errors)?),
    };
    let parallel = match setting(&train.body, "parallel") {
        None => 1,
        Some(value) => parallel(value, errors)?,
    };
    Some(Plan { axes, points, search: written, prune, parallel })
}

/// The most points trained at once.
const MAX_PARALLEL: i64 = 64;

/// `parallel: 2`.
fn parallel(value: &Expr, errors: &mut Vec<CheckError>) -> Option<u64> {
    match eval(value, &Constants::new()) {
        Value::Int(k) if (1..=MAX_PARALLEL).contains(&k) => Some(k as u64),
        other => {
            errors.push(Mistake::range_or_type(other.as_f64().is_some()).at(
                value.span,
                format!("`parallel` is a whole number of points from 1 to {MAX_PARALLEL}"),
                "not a number of points",
                "write `parallel: 2` (each point on a thread of its own)",
            ));
            None
        }
    }
}

/// `prune: median(startup: 5, after: 2)`.
fn prune(value: &Expr, errors: &mut Vec<CheckError>) -> Option<crate::ir::MedianPrune> {
    let words = ["`prune` is `median(startup:, after:)`", "not a rule", "write `prune: median(startup: 5, after: 2)`"];
    let (declared, call) = match declared_value(value, PRUNERS, words) {
        Ok(found) => found,
        Err(error) => {
            errors.push(*error);
            return None;
        }
    };
    let args = call.map_or(&[][..], |c| &c.args[..]);
    let before = errors.len();
    let bound = bind(declared.name, declared.params, args, value.span, errors);
    let constants = Constants::new();
    let mut count = |name: &str, default: u64| match bound.value(name, &constants) {
        None => Some(default),
        Some((Value::Int(n), _)) if n >= 0 => Some(n as u64),
        Some((value, span)) => {
            errors.push(Mistake::range_or_type(value.as_f64().is_some()).at(
                span,
                format!("`{name}` is a whole number, 0 or more"),
                "not a count",
                "write `prune: median(startup: 5, after: 2)`",
            ));
            None
        }
    };
    let (startup, after) = (count("startup", 5), count("after", 0));
    (errors.len() == before).then_some(crate::ir::MedianPrune { startup: startup?, after: after? })
}

/// The value of `key` in a block.
fn setting<'b>(body: &'b Block, key: &str) -> Option<&'b Expr> {
    body.entries.iter().find_map(|e| match &e.kind {
        EntryKind::Setting { key: k, value } if k.name == key => Some(value),
        _ => None,
    })
}

/// Two axes with one label (two `dropout(sweep(...))` layers) are told
/// apart by their order: `dropout`, `dropout_2`.
fn unique_labels(axes: &mut [Axis]) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for axis in axes {
        let count = seen.entry(axis.label.clone()).or_default();
        *count += 1;
        if *count > 1 {
            axis.label = format!("{}_{count}", axis.label);
        }
    }
}

/// `search: grid`, `search: random(n: 20, seed: 1)`.
fn search_kind(value: &Expr) -> Result<(SearchKind, Option<&Call>), Box<CheckError>> {
    let message = "`search` is `grid` or `random(n:, seed:)`";
    let help = "write `search: grid` (every combination) or `search: random(n: 20, seed: 1)`";
    let (declared, call) = declared_value(value, SEARCHES, [message, "not a search", help])?;
    if declared.params.is_empty() && call.is_some_and(|c| !c.args.is_empty()) {
        return Err(Box::new(Mistake::Conflict.at(
            value.span,
            format!("`{}` takes no arguments: it trains every combination", declared.name),
            "arguments to a grid",
            "write `search: grid`, or draw `n` points with `search: random(n: 20, seed: 1)`",
        )));
    }
    Ok((declared.kind, call))
}

/// The declared value a setting names, bare (`grid`) or called
/// (`random(n: 20)`), with its call; else an `unknown_value` with the
/// nearest name, or `help`.
fn declared_value<'e, K>(
    value: &'e Expr,
    declared: &'static [Declared<K>],
    [message, label, help]: [&str; 3],
) -> Result<(&'static Declared<K>, Option<&'e Call>), Box<CheckError>> {
    let (name, call) = match &value.kind {
        ExprKind::Path(p) if p.parts.len() == 1 => (p.parts[0].name.as_str(), None),
        ExprKind::Call(c) if c.callee.parts.len() == 1 => (c.callee.parts[0].name.as_str(), Some(c)),
        _ => ("", None),
    };
    if let Some(found) = declared.iter().find(|d| d.name == name) {
        return Ok((found, call));
    }
    let near = closest(name, declared.iter().map(|d| d.name)).filter(|_| !name.is_empty());
    let help = near.map_or_else(|| help.to_owned(), |n| format!("did you mean `{n}`?"));
    Err(Box::new(Mistake::UnknownValue.at(value.span, message, label, help)))
}

/// `random(n: 20, seed: 1)`'s numbers.
fn random_settings(call: Option<&Call>, span: Span, errors: &mut Vec<CheckError>) -> Option<(usize, u64)> {
    let params = SEARCHES[1].params;
    let Some(call) = call else {
        errors.push(missing_n(span));
        return None;
    };
    let before = errors.len();
    let bound = bind("random", params, &call.args, span, errors);
    let constants = Constants::new();
    let n = match bound.value("n", &constants) {
        None => {
            errors.push(missing_n(span));
            None
        }
        Some((Value::Int(n), _)) if (1..=MAX_POINTS as i64).contains(&n) => Some(n as usize),
        Some((value, span)) => {
            errors.push(Mistake::range_or_type(value.as_f64().is_some()).at(
                span,
                format!("`n` is a whole number of points from 1 to {MAX_POINTS}"),
                "not a number of points",
                "write `random(n: 20)`",
            ));
            None
        }
    };
    let seed = match bound.value("seed", &constants) {
        None => Some(0),
        Some((Value::Int(s), _)) if s >= 0 => Some(s as u64),
        Some((value, span)) => {
            errors.push(Mistake::range_or_type(value.as_f64().is_some()).at(
                span,
                "`seed` is a whole number, 0 or more",
                "not a seed",
                "write `random(n: 20, seed: 1)`",
            ));
            None
        }
    };
    (errors.len() == before).then_some((n?, seed?))
}

fn missing_n(span: Span) -> CheckError {
    Mistake::Incomplete.at(
        span,
        "`random` needs the number of points to draw",
        "how many points?",
        "write `search: random(n: 20, seed: 1)`",
    )
}

/// Every combination of the axes' values (the last varying fastest).
fn grid(axes: &[Axis], spaces: &[Space], errors: &mut Vec<CheckError>) -> Option<Vec<Vec<Expr>>> {
    let mut lists = Vec::new();
    for (axis, space) in axes.iter().zip(spaces) {
        match space {
            Space::Values(values) => lists.push(values),
            Space::Drawn { .. } => {
                errors.push(Mistake::Incomplete.at(
                    axis.span,
                    "a range drawn at random has no grid",
                    "drawn only by `search: random(...)`",
                    "add `search: random(n: 20, seed: 1)` to the train block, or write the values as `sweep(lo..hi, steps: 5)`",
                ));
                return None;
            }
        }
    }
    let count = lists.iter().fold(1usize, |n, l| n.saturating_mul(l.len()));
    if count > MAX_POINTS {
        let sizes: Vec<String> = lists.iter().map(|l| l.len().to_string()).collect();
        errors.push(Mistake::OutOfRange.at(
            axes[0].span,
            format!("this grid has {} points ({}), and a sweep has at most {MAX_POINTS}", count, sizes.join(" x ")),
            "too many combinations",
            "sweep fewer values, or draw some of them with `search: random(n: 50)`",
        ));
        return None;
    }
    let mut points = Vec::with_capacity(count);
    for mut i in 0..count {
        let mut point = vec![Expr { kind: ExprKind::Inf, span: Span::default() }; lists.len()];
        for (slot, list) in point.iter_mut().zip(&lists).rev() {
            *slot = list[i % list.len()].clone();
            i /= list.len();
        }
        points.push(point);
    }
    Some(points)
}

/// `n` distinct points drawn from the spaces (splitmix64, seeded): a
/// point drawn again is drawn anew, so no two points train the same.
fn random(spaces: &[Space], n: usize, seed: u64) -> Vec<Vec<Expr>> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut points: Vec<Vec<Expr>> = Vec::with_capacity(n);
    let mut seen: HashSet<Vec<String>> = HashSet::new();
    // The caller made sure the spaces have `n` points; the bound only
    // keeps a nearly exhausted space from drawing for long.
    let mut attempts = n.saturating_mul(100);
    while points.len() < n && attempts > 0 {
        attempts -= 1;
        let point: Vec<Expr> = spaces.iter().map(|space| space.draw(&mut next)).collect();
        if seen.insert(point.iter().map(crate::format::format_expr).collect()) {
            points.push(point);
        }
    }
    points
}

/// How many distinct points the spaces have (`None`: a decimal draw,
/// unbounded).
fn space_size(spaces: &[Space]) -> Option<usize> {
    spaces.iter().try_fold(1usize, |n, space| {
        let size = match space {
            Space::Values(values) => values.len(),
            Space::Drawn { ints: true, low, high, .. } => (high - low) as usize + 1,
            Space::Drawn { ints: false, .. } => return None,
        };
        Some(n.saturating_mul(size))
    })
}

fn round_significant(value: f64, digits: i32) -> f64 {
    if value == 0.0 || !value.is_finite() {
        return value;
    }
    let scale = 10f64.powi(digits - 1 - value.abs().log10().floor() as i32);
    let rounded = (value * scale).round() / scale;
    // `scale` is exact only up to 1e22; past it, keep the value.
    if rounded.is_finite() { rounded } else { value }
}

/// What a space's values are.
#[derive(Clone, Debug)]
enum Space {
    /// Values to try, in order.
    Values(Vec<Expr>),
    /// A number drawn from `[low, high]` (a whole number when both ends
    /// are written as whole numbers).
    Drawn { low: f64, high: f64, log: bool, ints: bool, span: Span },
}

impl Space {
    /// One value drawn with `next` (uniform 64-bit numbers).
    fn draw(&self, next: &mut dyn FnMut() -> u64) -> Expr {
        match self {
            Space::Values(values) => values[(next() % values.len() as u64) as usize].clone(),
            Space::Drawn { low, high, log, ints, span } => {
                let u = (next() >> 11) as f64 / (1u64 << 53) as f64;
                let value = match (log, ints) {
                    (false, true) => (low + (u * (high - low + 1.0)).floor()).min(*high),
                    (true, true) => (low.ln() + u * (high.ln() - low.ln())).exp().round().clamp(*low, *high),
                    (true, false) => round_significant((low.ln() + u * (high.ln() - low.ln())).exp(), DRAWN_DIGITS),
                    (false, false) => round_significant(low + u * (high - low), DRAWN_DIGITS),
                };
                number(value, *ints, *span)
            }
        }
    }

    /// The value the checks common to every point read.
    fn first(&self, span: Span) -> Option<Expr> {
        match self {
            Space::Values(values) => values.first().cloned(),
            Space::Drawn { low, ints, .. } => Some(number(*low, *ints, span)),
        }
    }
}

/// The first value written in a space: a list's first, a range's or a
/// draw's lower end.
fn written_first(call: &Call) -> Option<Expr> {
    let first = &call.args.first()?.value;
    match &first.kind {
        ExprKind::List { items } => items.first().cloned(),
        ExprKind::Binary { op: BinaryOp::Range, lhs, .. } => Some(lhs.as_ref().clone()),
        _ => Some(first.clone()),
    }
}

/// A number as if written at `span`.
fn number(value: f64, is_int: bool, span: Span) -> Expr {
    let text = if is_int { format!("{}", value as i64) } else { format!("{value:?}") };
    Expr { kind: ExprKind::Number(NumberLit { text, value, is_int, unit: None }), span }
}

/// A space's values (reported and `None` when malformed).
fn space(call: &Call, span: Span, constants: &Constants, errors: &mut Vec<CheckError>) -> Option<Space> {
    let name = call.callee.parts[0].name.as_str();
    let declared = SPACES.iter().find(|s| s.name == name)?;
    if declared.kind == SpaceKind::Sweep && call.args.iter().filter(|a| a.name.is_none()).count() > 1 {
        let values: Vec<String> =
            call.args.iter().filter(|a| a.name.is_none()).map(|a| crate::format::format_expr(&a.value)).collect();
        errors.push(Mistake::WrongType.at(
            span,
            "`sweep` takes its values as one list",
            "several values",
            format!("write `sweep([{}])`, or a range: `sweep(lo..hi, steps: 5)`", values.join(", ")),
        ));
        return None;
    }
    let before = errors.len();
    let bound = bind(name, declared.params, &call.args, span, errors);
    if errors.len() > before {
        return None;
    }
    match declared.kind {
        SpaceKind::Sweep => {
            let values = bound.expr("values")?;
            let steps = bound.value("steps", constants);
            let log = bound.value("log", constants);
            let space = swept_values(values, steps, log, constants, span, errors)?;
            Some(Space::Values(space))
        }
        SpaceKind::Uniform | SpaceKind::LogUniform => {
            let log = declared.kind == SpaceKind::LogUniform;
            let (low, high) = bounds(bound.expr("low")?, bound.expr("high")?, log, name, constants, errors)?;
            Some(Space::Drawn { low: low.0, high: high.0, log, ints: low.1 && high.1, span })
        }
    }
}

/// `sweep`'s values: a list, a constant list, or a range.
fn swept_values(
    values: &Expr,
    steps: Option<(Value, Span)>,
    log: Option<(Value, Span)>,
    constants: &Constants,
    span: Span,
    errors: &mut Vec<CheckError>,
) -> Option<Vec<Expr>> {
    let list = match &values.kind {
        // A name of a constant is its value (the ranking shows `[8, 16]`,
        // not `widths`).
        ExprKind::List { items } => Some(
            items
                .iter()
                .map(|item| match (&item.kind, eval(item, constants)) {
                    (
                        ExprKind::Path(_),
                        value @ (Value::Int(_) | Value::Float(_) | Value::Str(_) | Value::Bool(_) | Value::List(_)),
                    ) => expr_of(value, item.span).unwrap_or_else(|| item.clone()),
                    _ => item.clone(),
                })
                .collect::<Vec<_>>(),
        ),
        ExprKind::Binary { op: BinaryOp::Range, .. } => None,
        _ => match eval(values, constants) {
            Value::List(items) if items.iter().all(|(v, _)| *v != Value::Other) => {
                Some(items.into_iter().filter_map(|(v, s)| expr_of(v, s)).collect())
            }
            _ => {
                errors.push(Mistake::WrongType.at(
                    values.span,
                    "`sweep` takes the values to try: a list `[a, b]` or a range `lo..hi`",
                    "not a list or a range",
                    "write `sweep([1e-3, 1e-2])` or `sweep(0.1..0.5, steps: 5)`",
                ));
                return None;
            }
        },
    };
    if let Some(list) = list {
        let extras = [(&steps, "steps"), (&log, "log")];
        if let Some((span, name)) = extras.into_iter().find_map(|(v, n)| Some((v.as_ref()?.1, n))) {
            errors.push(Mistake::Conflict.at(
                span,
                format!("`{name}` spaces a range's values, and these are a list"),
                "not a range",
                "remove it, or write a range: `sweep(0.1..0.5, steps: 5)`",
            ));
            return None;
        }
        if list.is_empty() {
            errors.push(Mistake::CountMismatch.at(
                values.span,
                "`sweep` needs at least one value",
                "no values",
                "write the values to try: `sweep([1e-3, 1e-2])`",
            ));
            return None;
        }
        return Some(list);
    }
    let ExprKind::Binary { lhs, rhs, .. } = &values.kind else { return None };
    let log = match log {
        None => false,
        Some((Value::Bool(b), _)) => b,
        Some((_, span)) => {
            errors.push(Mistake::WrongType.at(
                span,
                "`log` is `true` or `false`",
                "not a boolean",
                "write `log: true`",
            ));
            return None;
        }
    };
    let (low, high) = bounds(lhs, rhs, log, "sweep", constants, errors)?;
    let ints = low.1 && high.1;
    let steps = match steps {
        None if ints && !log => (high.0 - low.0) as usize + 1,
        None => {
            errors.push(Mistake::Incomplete.at(
                span,
                "a range of decimals needs the number of values to try",
                "how many values?",
                format!(
                    "write `sweep({}..{}, steps: 5)`",
                    crate::format::format_expr(lhs),
                    crate::format::format_expr(rhs)
                ),
            ));
            return None;
        }
        Some((Value::Int(n), _)) if (2..=MAX_POINTS as i64).contains(&n) => n as usize,
        Some((value, span)) => {
            errors.push(Mistake::range_or_type(value.as_f64().is_some()).at(
                span,
                format!("`steps` is a whole number of values from 2 to {MAX_POINTS}"),
                "not a number of values",
                "write `steps: 5`",
            ));
            return None;
        }
    };
    if steps > MAX_POINTS {
        errors.push(Mistake::OutOfRange.at(
            values.span,
            format!("this range has more than {MAX_POINTS} values"),
            "too many values",
            "give fewer with `steps:`",
        ));
        return None;
    }
    // As drawn numbers: the value printed is the value trained (and the
    // float noise of the spacing, 0.30000000000000004, is gone).
    let range_span = values.span;
    let values: Vec<f64> = (0..steps)
        .map(|i| {
            let t = i as f64 / (steps - 1).max(1) as f64;
            let value =
                if log { (low.0.ln() + t * (high.0.ln() - low.0.ln())).exp() } else { low.0 + t * (high.0 - low.0) };
            // A whole number between whole ends stays exact (12346, not 12350).
            if ints && (value - value.round()).abs() < 1e-9 {
                value.round()
            } else {
                round_significant(value, DRAWN_DIGITS)
            }
        })
        .collect();
    if values.windows(2).any(|pair| pair[0] == pair[1]) {
        errors.push(Mistake::OutOfRange.at(
            range_span,
            format!("this range's {steps} values repeat when kept to {DRAWN_DIGITS} significant digits"),
            "repeated values",
            "give fewer `steps:` or a wider range",
        ));
        return None;
    }
    // Whole numbers only when the ends are and every value is
    // (`sweep(16..64, steps: 3, log: true)`: 16, 32, 64; `sweep(1..2,
    // steps: 3)`: 1, 1.5, 2).
    let whole = ints && values.iter().all(|v| v.fract() == 0.0);
    Some(values.into_iter().map(|v| number(v, whole, span)).collect())
}

/// A range's ends: numbers, `low < high`, both positive on a log scale;
/// each with whether it is an integer.
fn bounds(
    low: &Expr,
    high: &Expr,
    log: bool,
    name: &str,
    constants: &Constants,
    errors: &mut Vec<CheckError>,
) -> Option<((f64, bool), (f64, bool))> {
    let mut ends = Vec::new();
    for end in [low, high] {
        match eval(end, constants) {
            Value::Int(i) => ends.push((i as f64, true)),
            Value::Float(f) if f.is_finite() => ends.push((f, false)),
            _ => {
                errors.push(Mistake::WrongType.at(
                    end.span,
                    format!("`{name}`'s range is between two numbers"),
                    "not a number",
                    "write numbers, as in `0.1..0.5` or `log_uniform(1e-4, 1e-1)`",
                ));
                return None;
            }
        }
    }
    let (l, h) = (ends[0], ends[1]);
    if l.0 >= h.0 {
        let (label, help) = if l.0 == h.0 {
            ("one value", "a range of one value is that value: write it instead")
        } else {
            ("empty range", "write the lower end first")
        };
        errors.push(Mistake::OutOfRange.at(
            low.span.to(high.span),
            format!("`{name}`'s range runs from a lower number to a higher one"),
            label,
            help,
        ));
        return None;
    }
    if log && l.0 <= 0.0 {
        errors.push(Mistake::OutOfRange.at(
            low.span,
            "a log scale starts above 0",
            "0 or less",
            "start the range at a small positive number, as in `1e-5`",
        ));
        return None;
    }
    Some((l, h))
}

/// A constant's value written as an expression at `span`.
fn expr_of(value: Value, span: Span) -> Option<Expr> {
    let kind = match value {
        Value::Int(i) => return Some(number(i as f64, true, span)),
        Value::Float(f) => return Some(number(f, false, span)),
        Value::Str(s) => ExprKind::String(StringLit { value: s, span }),
        Value::Bool(value) => ExprKind::Bool { value },
        Value::Name(name) => ExprKind::Path(Path { parts: vec![Ident { name, span }], span }),
        Value::List(items) => {
            ExprKind::List { items: items.into_iter().map(|(v, s)| expr_of(v, s)).collect::<Option<_>>()? }
        }
        Value::Other => return None,
    };
    Some(Expr { kind, span })
}

/// The `model` items (of this file) a run's model expression reaches.
fn reached_models(items: &[Item], model: &Expr) -> Vec<usize> {
    let by_name: HashMap<&str, usize> = items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| match &item.kind {
            ItemKind::Model(m) => Some((m.name.name.as_str(), i)),
            _ => None,
        })
        .collect();
    let mut reached = Vec::new();
    let mut seen = HashSet::new();
    let mut names = Vec::new();
    called_names(model, &mut names);
    while let Some(name) = names.pop() {
        let Some(&index) = by_name.get(name.as_str()) else { continue };
        if !seen.insert(index) {
            continue;
        }
        reached.push(index);
        if let ItemKind::Model(m) = &items[index].kind {
            match &m.body {
                ModelBody::Expr(e) => called_names(e, &mut names),
                ModelBody::Layers(block) => block_names(block, &mut names),
            }
        }
    }
    reached
}

fn called_names(expr: &Expr, out: &mut Vec<String>) {
    match &expr.kind {
        ExprKind::Path(p) => out.push(p.dotted()),
        ExprKind::Call(c) => {
            out.push(c.callee.dotted());
            for arg in &c.args {
                called_names(&arg.value, out);
            }
        }
        ExprKind::Pipeline { input, stages } => {
            called_names(input, out);
            stages.iter().for_each(|s| called_names(s, out));
        }
        _ => {}
    }
}

fn block_names(block: &Block, out: &mut Vec<String>) {
    for entry in &block.entries {
        match &entry.kind {
            EntryKind::Step { expr, .. } => called_names(expr, out),
            EntryKind::Nested { name, body, .. } => {
                out.push(name.dotted());
                block_names(body, out);
            }
            EntryKind::For { body, .. } => block_names(body, out),
            EntryKind::Setting { .. } => {}
        }
    }
}

/// A space written where a sweep may vary it.
struct Site<'p> {
    call: &'p Call,
    span: Span,
    label: String,
    /// The train setting it is written in (`None`: in a model).
    setting: Option<String>,
}

/// Where the spaces of a file are: allowed (in a train item's settings
/// that may vary, in its model, in a model item) or misplaced (reported).
#[derive(Default)]
struct Places<'p> {
    allowed: Vec<Site<'p>>,
    /// The train setting the spaces being walked are in.
    setting: Option<String>,
    /// The allowed spaces of each train item's settings and model.
    in_train: HashMap<usize, Vec<Span>>,
    /// The allowed spaces of each model item.
    in_model: HashMap<usize, Vec<Span>>,
    /// Spaces where nothing varies (reported): they read as their first
    /// value, so the checks of where they are do not report them again.
    misplaced: Vec<(&'p Call, Span)>,
    errors: Vec<CheckError>,
}

impl<'p> Places<'p> {
    fn item(&mut self, index: usize, item: &'p Item, root: bool) {
        let before = self.allowed.len();
        match &item.kind {
            ItemKind::Train(train) if root => {
                self.expr(&train.model, "model");
                self.misplaced(&train.data, Misplaced::Data);
                for entry in &train.body.entries {
                    match &entry.kind {
                        EntryKind::Setting { key, value } if sweepable(&key.name) => {
                            self.setting = Some(key.name.clone());
                            self.expr(value, &key.name);
                            self.setting = None;
                        }
                        EntryKind::Setting { key, value } => self.misplaced(value, Misplaced::Setting(&key.name)),
                        _ => self.entry_misplaced(entry, Misplaced::Data),
                    }
                }
                let spans = self.allowed[before..].iter().map(|s| s.span).collect();
                self.in_train.insert(index, spans);
            }
            ItemKind::Model(model) if root => {
                match &model.body {
                    ModelBody::Expr(e) => self.expr(e, &model.name.name),
                    ModelBody::Layers(block) => self.block(block, &model.name.name),
                }
                for default in model.params.iter().flatten().filter_map(|p| p.default.as_ref()) {
                    self.misplaced(default, Misplaced::Default);
                }
                let spans = self.allowed[before..].iter().map(|s| s.span).collect();
                self.in_model.insert(index, spans);
            }
            _ => {
                let why = match &item.kind {
                    _ if !root => Misplaced::Imported,
                    ItemKind::Let(_) => Misplaced::Constant,
                    ItemKind::Evaluate(_) | ItemKind::Output(_) => Misplaced::Result,
                    _ => Misplaced::Data,
                };
                for_each_expr(item, &mut |e| self.misplaced(e, why));
            }
        }
    }

    fn block(&mut self, block: &'p Block, label: &str) {
        for entry in &block.entries {
            match &entry.kind {
                EntryKind::Setting { key, value } => self.expr(value, &key.name),
                EntryKind::Step { expr, .. } => self.expr(expr, label),
                EntryKind::Nested { name, args, body, .. } => {
                    let label = name.parts.last().map_or(label, |p| p.name.as_str());
                    for arg in args.iter().flatten() {
                        self.expr(&arg.value, arg.name.as_ref().map_or(label, |n| n.name.as_str()));
                    }
                    self.block(body, label);
                }
                EntryKind::For { iter, body, .. } => {
                    self.misplaced(iter, Misplaced::Loop);
                    self.block(body, label);
                }
            }
        }
    }

    /// The spaces in `expr`, labelled by the argument, call or setting
    /// they are written in.
    fn expr(&mut self, expr: &'p Expr, label: &str) {
        match &expr.kind {
            ExprKind::Call(call) if is_space(call) => {
                for arg in &call.args {
                    self.misplaced(&arg.value, Misplaced::Nested);
                }
                let setting = self.setting.clone();
                self.allowed.push(Site { call, span: expr.span, label: label.to_owned(), setting });
            }
            ExprKind::Call(call) => {
                let callee = call.callee.parts.last().map_or(label, |p| p.name.as_str());
                for arg in &call.args {
                    self.expr(&arg.value, arg.name.as_ref().map_or(callee, |n| n.name.as_str()));
                }
            }
            ExprKind::List { items } => items.iter().for_each(|e| self.expr(e, label)),
            ExprKind::Record { fields } => fields.iter().for_each(|f| self.expr(&f.value, &f.key.name)),
            ExprKind::Unary { operand, .. } => self.expr(operand, label),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.expr(lhs, label);
                self.expr(rhs, label);
            }
            ExprKind::Pipeline { input, stages } => {
                self.expr(input, label);
                stages.iter().for_each(|s| self.expr(s, label));
            }
            ExprKind::Then { phases } => phases.iter().for_each(|p| self.expr(p, label)),
            ExprKind::Number(_) | ExprKind::String(_) | ExprKind::Bool { .. } | ExprKind::Inf | ExprKind::Path(_) => {}
        }
    }

    fn entry_misplaced(&mut self, entry: &'p Entry, why: Misplaced) {
        for_each_entry_expr(entry, &mut |e| self.misplaced(e, why));
    }

    /// Every space in `expr` is misplaced.
    fn misplaced(&mut self, expr: &'p Expr, why: Misplaced) {
        let mut found = Vec::new();
        spaces_in(expr, &mut found);
        for (call, span) in found {
            self.errors.push(why.error(&call.callee.parts[0].name, span));
            self.misplaced.push((call, span));
        }
    }
}

/// Why a space cannot be where it is.
#[derive(Clone, Copy)]
enum Misplaced<'a> {
    /// In a data item, or a run's data.
    Data,
    /// In a setting every point shares.
    Setting(&'a str),
    /// Inside another space.
    Nested,
    /// A model parameter's default.
    Default,
    /// A `for` loop's list.
    Loop,
    /// In a file that is imported.
    Imported,
    /// A `let` constant's value.
    Constant,
    /// In an `evaluate` or `output` item (which read a run's result).
    Result,
}

impl Misplaced<'_> {
    fn error(self, name: &str, span: Span) -> CheckError {
        let (label, help) = match self {
            Misplaced::Data => (
                "not in a train block or a model".to_owned(),
                "data is prepared once for every point of a sweep: sweep a training setting or a model's argument, or write one item per variant".to_owned(),
            ),
            Misplaced::Setting(key @ ("search" | "objective" | "prune")) => (
                format!("`{key}` is the sweep's own setting"),
                format!("`{key}` says how the sweep picks, ranks or stops its points: it takes one value"),
            ),
            Misplaced::Setting(key) => (
                format!("`{key}` is the same for every point"),
                format!(
                    "`{key}` names data, columns, files or devices, which every point of a sweep shares; settings that may vary: {}",
                    sweepable_names().join(", ")
                ),
            ),
            Misplaced::Nested => (
                "inside another search space".to_owned(),
                "a space's values are fixed values: write one space".to_owned(),
            ),
            Misplaced::Default => (
                "a parameter's default".to_owned(),
                "sweep the argument where the model is used: `net(width: sweep([64, 128]))`".to_owned(),
            ),
            Misplaced::Loop => (
                "a loop's list".to_owned(),
                "sweep a model argument and loop over it inside: `mlp(hidden: sweep([[64], [64, 64]]))`".to_owned(),
            ),
            Misplaced::Imported => (
                "in an imported file".to_owned(),
                "write the sweep in the file that trains: as the model's argument there".to_owned(),
            ),
            Misplaced::Constant => (
                "a constant is one value".to_owned(),
                "write the sweep where the value is used: `adam(lr: sweep([1e-3, 1e-2]))`".to_owned(),
            ),
            Misplaced::Result => (
                "not in a train block or a model".to_owned(),
                "an evaluation or an output reads the run's result, the sweep's best point: sweep the run's settings or its model".to_owned(),
            ),
        };
        let message = match self {
            Misplaced::Imported => format!("`{name}` is written in the file that trains"),
            Misplaced::Loop => format!("a loop cannot go over `{name}`"),
            _ => format!("`{name}` varies a training setting or a model's argument"),
        };
        Mistake::Misplaced.at(span, message, label, help)
    }
}

/// Whether a train setting may be swept (declared with the setting).
fn sweepable(key: &str) -> bool {
    TRAIN_SETTINGS.iter().find(|s| s.name == key).is_none_or(|s| s.key.sweepable())
}

fn sweepable_names() -> Vec<String> {
    TRAIN_SETTINGS.iter().filter(|s| s.key.sweepable()).map(|s| format!("`{}`", s.name)).collect()
}

/// Every space call in `expr` (with its span), outermost only.
fn spaces_in<'e>(expr: &'e Expr, out: &mut Vec<(&'e Call, Span)>) {
    if let ExprKind::Call(call) = &expr.kind
        && is_space(call)
    {
        out.push((call, expr.span));
        return;
    }
    children(expr, &mut |e| spaces_in(e, out));
}

/// The expressions directly inside `expr`.
fn children<'e>(expr: &'e Expr, f: &mut dyn FnMut(&'e Expr)) {
    match &expr.kind {
        ExprKind::Call(call) => call.args.iter().for_each(|a| f(&a.value)),
        ExprKind::List { items } => items.iter().for_each(f),
        ExprKind::Record { fields } => fields.iter().for_each(|x| f(&x.value)),
        ExprKind::Unary { operand, .. } => f(operand),
        ExprKind::Binary { lhs, rhs, .. } => {
            f(lhs);
            f(rhs);
        }
        ExprKind::Pipeline { input, stages } => {
            f(input);
            stages.iter().for_each(f);
        }
        ExprKind::Then { phases } => phases.iter().for_each(f),
        ExprKind::Number(_) | ExprKind::String(_) | ExprKind::Bool { .. } | ExprKind::Inf | ExprKind::Path(_) => {}
    }
}

/// Every top-level expression of an item.
fn for_each_expr<'i>(item: &'i Item, f: &mut dyn FnMut(&'i Expr)) {
    match &item.kind {
        ItemKind::Let(b) => f(&b.value),
        ItemKind::Import(_) => {}
        ItemKind::Source(s) | ItemKind::Stage(s) => f(&s.value),
        ItemKind::Split(s) => f(&s.value),
        ItemKind::Transform(t) => {
            if let TransformForm::Fitted(e) = &t.form {
                f(e);
            }
            t.body.entries.iter().for_each(|e| for_each_entry_expr(e, f));
        }
        ItemKind::Augment(a) => a.body.entries.iter().for_each(|e| for_each_entry_expr(e, f)),
        ItemKind::Model(m) => {
            match &m.body {
                ModelBody::Expr(e) => f(e),
                ModelBody::Layers(b) => b.entries.iter().for_each(|e| for_each_entry_expr(e, f)),
            }
            m.params.iter().flatten().filter_map(|p| p.default.as_ref()).for_each(&mut *f);
        }
        ItemKind::Train(t) => {
            f(&t.model);
            f(&t.data);
            t.body.entries.iter().for_each(|e| for_each_entry_expr(e, f));
        }
        ItemKind::Evaluate(e) => {
            f(&e.model);
            f(&e.data);
            e.body.iter().flat_map(|b| &b.entries).for_each(|e| for_each_entry_expr(e, f));
        }
        ItemKind::Output(o) => f(&o.value),
    }
}

fn for_each_entry_expr<'i>(entry: &'i Entry, f: &mut dyn FnMut(&'i Expr)) {
    match &entry.kind {
        EntryKind::Setting { value, .. } => f(value),
        EntryKind::Step { expr, .. } => f(expr),
        EntryKind::Nested { args, body, .. } => {
            args.iter().flatten().for_each(|a| f(&a.value));
            body.entries.iter().for_each(|e| for_each_entry_expr(e, f));
        }
        EntryKind::For { iter, body, .. } => {
            f(iter);
            body.entries.iter().for_each(|e| for_each_entry_expr(e, f));
        }
    }
}

/// Replaces the spaces of an item.
fn replace_in_item(item: &mut Item, values: &HashMap<Span, Expr>) {
    match &mut item.kind {
        ItemKind::Import(_) => {}
        ItemKind::Let(b) | ItemKind::Source(b) | ItemKind::Stage(b) => replace(&mut b.value, values),
        ItemKind::Split(s) => replace(&mut s.value, values),
        ItemKind::Transform(t) => {
            if let TransformForm::Fitted(e) = &mut t.form {
                replace(e, values);
            }
            t.body.entries.iter_mut().for_each(|e| replace_in_entry(e, values));
        }
        ItemKind::Augment(a) => a.body.entries.iter_mut().for_each(|e| replace_in_entry(e, values)),
        ItemKind::Model(model) => {
            match &mut model.body {
                ModelBody::Expr(e) => replace(e, values),
                ModelBody::Layers(block) => block.entries.iter_mut().for_each(|e| replace_in_entry(e, values)),
            }
            for param in model.params.iter_mut().flatten() {
                if let Some(default) = &mut param.default {
                    replace(default, values);
                }
            }
        }
        ItemKind::Train(train) => {
            replace(&mut train.model, values);
            replace(&mut train.data, values);
            train.body.entries.iter_mut().for_each(|e| replace_in_entry(e, values));
        }
        ItemKind::Evaluate(e) => {
            replace(&mut e.model, values);
            replace(&mut e.data, values);
            e.body.iter_mut().flat_map(|b| &mut b.entries).for_each(|e| replace_in_entry(e, values));
        }
        ItemKind::Output(o) => replace(&mut o.value, values),
    }
}

fn replace_in_entry(entry: &mut Entry, values: &HashMap<Span, Expr>) {
    match &mut entry.kind {
        EntryKind::Setting { value, .. } => replace(value, values),
        EntryKind::Step { expr, .. } => replace(expr, values),
        EntryKind::Nested { args, body, .. } => {
            args.iter_mut().flatten().for_each(|a| replace(&mut a.value, values));
            body.entries.iter_mut().for_each(|e| replace_in_entry(e, values));
        }
        EntryKind::For { iter, body, .. } => {
            replace(iter, values);
            body.entries.iter_mut().for_each(|e| replace_in_entry(e, values));
        }
    }
}

fn replace(expr: &mut Expr, values: &HashMap<Span, Expr>) {
    if let ExprKind::Call(call) = &expr.kind
        && is_space(call)
    {
        if let Some(value) = values.get(&expr.span) {
            *expr = value.clone();
        }
        return;
    }
    match &mut expr.kind {
        ExprKind::Call(call) => call.args.iter_mut().for_each(|a| replace(&mut a.value, values)),
        ExprKind::List { items } => items.iter_mut().for_each(|e| replace(e, values)),
        ExprKind::Record { fields } => fields.iter_mut().for_each(|x| replace(&mut x.value, values)),
        ExprKind::Unary { operand, .. } => replace(operand, values),
        ExprKind::Binary { lhs, rhs, .. } => {
            replace(lhs, values);
            replace(rhs, values);
        }
        ExprKind::Pipeline { input, stages } => {
            replace(input, values);
            stages.iter_mut().for_each(|s| replace(s, values));
        }
        ExprKind::Then { phases } => phases.iter_mut().for_each(|p| replace(p, values)),
        ExprKind::Number(_) | ExprKind::String(_) | ExprKind::Bool { .. } | ExprKind::Inf | ExprKind::Path(_) => {}
    }
}
