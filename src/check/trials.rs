//! Each point of a sweep checked as if it were written out: its model
//! against the data (shapes, the last layer against the target) and its
//! settings, each lowered into the point's [`ir::Trial`]. A mistake that
//! only some points make names the first of them.

use std::path::Path;

use crate::check::error::{CheckError, PointError};
use crate::check::models::Shapes;
use crate::check::scope::Scope;
use crate::check::settings::Settings;
use crate::check::sweep::{Plan, Sweeps};
use crate::check::value::Constants;
use crate::ir;
use crate::schema::Schema;
use crate::source::Span;
use crate::syntax::ast::{ItemKind, Program};

/// A swept run's points, checked.
#[derive(Default)]
pub struct Checked {
    /// The points that checked clean, in order (all of them when `errors`
    /// has none).
    pub trials: Vec<ir::Trial>,
    /// The first point's model and settings: the run as the checks common
    /// to every point see it.
    pub first: Option<(ir::Model, ir::TrainSettings)>,
    /// The first point's layers (`--explain`).
    pub summary: Option<(usize, Vec<String>)>,
    /// The first point's layer shapes, for editors.
    pub layer_shapes: Vec<(Span, String)>,
    /// Mistakes: once when every point makes them, else at the first point
    /// that does.
    pub errors: Vec<CheckError>,
}

/// What checking one swept run needs.
pub struct Context<'a> {
    /// The file as written (with its spaces).
    pub written: &'a Program,
    /// Its sweeps.
    pub sweeps: &'a Sweeps,
    /// Its names.
    pub scope: &'a Scope,
    /// Its constants.
    pub constants: &'a Constants,
    /// Its folder.
    pub dir: Option<&'a Path>,
}

/// Checks every point of the run at `index` (trained on `schema`).
pub fn check(cx: &Context, index: usize, plan: &Plan, schema: &Schema) -> Checked {
    let mut out = Checked::default();
    let mut per_point = Vec::with_capacity(plan.points.len());
    for point in 0..plan.points.len() {
        let program = cx.sweeps.program(cx.written, &plan.substitutions(point));
        let ItemKind::Train(train) = &program.items[index].kind else { continue };
        let mut shapes = Shapes::new(&program.items, cx.scope, cx.constants, cx.dir);
        shapes.train(index, train, schema);
        let mut rules = Settings::new(cx.constants);
        let settings = rules.train(train, Some(schema));
        let model = shapes.models.drain(..).find(|(i, _)| *i == index).map(|(_, m)| m);
        let mut errors = std::mem::take(&mut shapes.errors);
        errors.append(&mut rules.errors);
        if point == 0 {
            out.summary = shapes.summaries.drain(..).find(|(i, _)| *i == index);
            out.layer_shapes = std::mem::take(&mut shapes.layer_shapes);
            out.first = model.clone().zip(settings.clone());
        }
        if let (Some(model), Some(settings)) = (model, settings) {
            out.trials.push(ir::Trial { point: plan.values(point), model, settings });
        }
        per_point.push(errors);
    }
    out.errors = merged(&per_point, plan);
    out
}

/// Each distinct mistake once: plain when every point makes it, else with
/// the first point that does.
fn merged(per_point: &[Vec<CheckError>], plan: &Plan) -> Vec<CheckError> {
    let mut out: Vec<CheckError> = Vec::new();
    let mut seen: Vec<&CheckError> = Vec::new();
    for (point, errors) in per_point.iter().enumerate() {
        for error in errors {
            if seen.contains(&error) {
                continue;
            }
            seen.push(error);
            if per_point.iter().all(|p| p.contains(error)) {
                out.push(error.clone());
            } else {
                out.push(CheckError::AtPoint(PointError {
                    number: point + 1,
                    of: plan.points.len(),
                    point: plan.describe(point),
                    inner: Box::new(error.clone()),
                }));
            }
        }
    }
    out
}
