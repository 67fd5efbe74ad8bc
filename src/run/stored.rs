//! The cache side of a session: each item's key, and loading and storing
//! its result.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use polars::prelude::DataFrame;

use crate::ir::{Frame, ItemId, ItemKind, Op};
use crate::run::error::{RunError, RunResult};
use crate::run::names::kind_name;
use crate::run::plan::references;
use crate::run::{Event, Finished, Session, cache, images, training};
use crate::source::Span;

/// Changes when items compute different numbers from the same inputs, so
/// that entries computed the old way are not reused (2: statistics that
/// learn are folded in blocks, the same held or streamed).
const COMPUTED: u32 = 2;

impl Session<'_> {
    /// The cache key of an item: its IR (item references written as their
    /// keys) and the contents of the files it reads.
    pub(super) fn key(&mut self, id: ItemId) -> RunResult<String> {
        if let Some(key) = self.keys.get(&id) {
            return Ok(key.clone());
        }
        let program = self.program;
        let item = program.items[id].as_ref().expect("the checker lowered every item");
        let mut text = self.keyed_text(&item.kind)?;
        if let ItemKind::Source(crate::ir::Source::Images { dir, classes, .. }) = &item.kind {
            let stamp = images::folder_stamp(dir, classes).map_err(|e| RunError::Unreadable {
                path: dir.display().to_string(),
                reason: e.to_string(),
                span: item.span,
                help: "check that the folder exists and is readable".into(),
            })?;
            text.push_str(&stamp);
        }
        if let ItemKind::Source(source) = &item.kind
            && let Some(cache) = &mut self.cache
        {
            for file in source_files(source) {
                if crate::files::remote::is_url(&file.path.to_string_lossy()) {
                    // A URL is keyed on the version its server gives, not
                    // on a download; without one it is read every time.
                    let unique = || format!("unversioned {:?}", std::time::SystemTime::now());
                    text.push_str(&file.version.clone().unwrap_or_else(unique));
                    continue;
                }
                let path = file.path.as_path();
                let hash = cache.file_hash(path).map_err(|e| RunError::Unreadable {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                    span: item.span,
                    help: "check that the file exists and is readable".into(),
                })?;
                text.push_str(&hash);
            }
        }
        let key = cache::hash(text.as_bytes());
        self.keys.insert(id, key.clone());
        Ok(key)
    }

    /// The cache key of a point of a sweep: the key of its run written
    /// out as an item of its own.
    pub(super) fn run_key(&mut self, run: &crate::ir::Train) -> RunResult<String> {
        let text = self.keyed_text(&ItemKind::Train(Box::new(run.clone())))?;
        Ok(cache::hash(text.as_bytes()))
    }

    /// What a key hashes of an item's IR: the version, the way results are
    /// computed, the IR with each item it reads written as that item's key.
    fn keyed_text(&mut self, kind: &ItemKind) -> RunResult<String> {
        let mut names = HashMap::new();
        for r in references(kind) {
            names.insert(r, self.key(r)?);
        }
        let fingerprint = crate::ir::fingerprint(kind, names);
        Ok(format!("pipe {} {COMPUTED}\n{fingerprint}", env!("CARGO_PKG_VERSION")))
    }

    /// A point of a sweep trained before, from the cache (`None`: not
    /// there, or unusable).
    pub(super) fn load_point(&mut self, key: &str, run: &crate::ir::Train) -> Option<training::Trained> {
        match self.cache.as_ref()?.load_trained(key) {
            cache::Lookup::Found((weights, meta)) => training::load(run, &weights, meta).ok(),
            cache::Lookup::Missing | cache::Lookup::Damaged(_) => None,
        }
    }

    /// Stores a point of a sweep; a failure costs a retraining next time.
    pub(super) fn store_point(&mut self, key: &str, trained: &training::Trained) {
        if let Some(cache) = &self.cache
            && trained.cacheable
        {
            let _ = cache.store_trained(key, &trained.net, &trained.meta);
        }
    }

    /// Loads an item's result from the cache; whether it was there. An
    /// entry that fails its checksums is a warning, and recomputed.
    pub(super) fn load(&mut self, id: ItemId, key: &str, need_data: bool) -> bool {
        use cache::Lookup;
        let Some(cache) = &self.cache else { return false };
        let start = Instant::now();
        let program = self.program;
        let item = program.items[id].as_ref().expect("the checker lowered every item");
        let found: Lookup<Vec<usize>> = match &item.kind {
            ItemKind::Stage(_) => map(cache.load_frames(key, 1), |mut f| {
                let df = f.remove(0);
                let rows = vec![df.height()];
                self.frames.insert(id, df);
                Some(rows)
            }),
            ItemKind::Split { fractions, .. } => map(cache.load_frames(key, fractions.len()), |parts| {
                let rows = parts.iter().map(DataFrame::height).collect();
                self.parts.insert(id, parts);
                Some(rows)
            }),
            ItemKind::Transform { .. } => map(cache.load_fitted(key), |(fitted, rows)| {
                self.fitted.insert(id, (Rc::new(fitted), rows));
                Some(vec![rows])
            }),
            ItemKind::Train(train) => map(cache.load_trained(key), |(weights, meta)| {
                let rows = vec![meta.rows];
                // A sweep's result is its best point: the one its run
                // folder records (trained again when that folder is gone).
                let point = match &train.sweep {
                    Some(_) => Some(training::folder_point(train, &meta.run_dir)?),
                    None => None,
                };
                let written = point.map(|i| train.trial(i));
                let run = written.as_ref().unwrap_or(train);
                // A `save:` folder deleted since is written again from the
                // run folder (or the run trains again if that is gone too).
                if let Some(save) = &run.settings.save {
                    training::restore_saved(run, &self.dir.join(save), &meta.run_dir).ok()?;
                }
                let mut trained = training::load(run, &weights, meta).ok()?;
                if let Some(i) = point {
                    let ranking = self.dir.join("runs").join(&item.name).join(crate::run::sweep::RANKING_FILE);
                    (self.events)(Event::Note(format!(
                        "  {:<10} {:<20} every point as before; the best, point {}: {} (the ranking: {})",
                        "sweep",
                        item.name,
                        i.saturating_add(1),
                        train.sweep.as_ref().map(|s| describe(&s.trials[i].point)).unwrap_or_default(),
                        ranking.display()
                    )));
                }
                trained.point = point.map(|i| Box::new(training::trial_run(train, i)));
                self.trained.insert(id, Rc::new(trained));
                Some(rows)
            }),
            ItemKind::Output(_) if !need_data => map(cache.output_rows(key), |rows| {
                self.written.insert(id);
                Some(vec![rows])
            }),
            _ => Lookup::Missing,
        };
        let rows = match found {
            Lookup::Found(rows) => rows,
            Lookup::Missing => return false,
            Lookup::Damaged(why) => {
                let warning = RunError::Cache {
                    message: format!("the cache's copy of `{}` is damaged: {why}", item.name),
                    span: item.span,
                    label: "computed again".into(),
                    help: "the damaged entry is replaced; if this repeats, check the disk (or run `pipe cache clean`)"
                        .into(),
                };
                (self.events)(Event::Warning(warning));
                return false;
            }
        };
        let item = self.item(id);
        let finished = Finished {
            name: item.name.clone(),
            rows,
            seconds: start.elapsed().as_secs_f64(),
            cached: true,
            kind: kind_name(&item.kind),
            peak_bytes: None,
        };
        (self.events)(Event::Finished(finished));
        true
    }

    /// Stores an item's result in the cache. A failure costs only a
    /// recomputation next time, so it is not an error of the run.
    pub(super) fn store(&mut self, id: ItemId, key: &str, span: Span, rows: &[usize]) {
        let Some(cache) = &self.cache else { return };
        let item = self.item(id);
        let stored = match &item.kind {
            ItemKind::Stage(_) => cache.store_frames(key, std::slice::from_ref(&self.frames[&id])),
            ItemKind::Split { .. } => cache.store_frames(key, &self.parts[&id]),
            ItemKind::Transform { .. } => {
                let (fitted, rows) = &self.fitted[&id];
                cache.store_fitted(key, fitted, *rows)
            }
            ItemKind::Train(_) => match self.trained.get(&id) {
                Some(trained) if trained.cacheable => cache.store_trained(key, &trained.net, &trained.meta),
                _ => Ok(()),
            },
            ItemKind::Output(frame) => match last_write(frame) {
                Some(path) => cache.store_output(key, &self.dir.join(path), rows.first().copied().unwrap_or(0)),
                None => Ok(()),
            },
            _ => Ok(()),
        };
        if let Err(reason) = stored {
            let warning = RunError::Cache {
                message: format!("could not store `{}` in the cache: {reason}", item.name),
                span,
                label: "computed again next time".into(),
                help: format!("the run's results are not affected; check that `{}` is writable", cache::FOLDER),
            };
            (self.events)(Event::Warning(warning));
        }
    }
}

/// The files a source reads (image folders are stamped by their listing).
fn source_files(source: &crate::ir::Source) -> &[crate::ir::SourceFile] {
    match source {
        crate::ir::Source::Csv { files, .. } | crate::ir::Source::Parquet { files } => &files.files,
        crate::ir::Source::Images { .. } => &[],
    }
}

/// The path of a frame's last `write`.
fn last_write(frame: &Frame) -> Option<&std::path::Path> {
    frame.ops.iter().rev().find_map(|op| if let Op::Write(path, _) = op { Some(path.as_path()) } else { None })
}

/// A found entry made into the item's rows by `take` (`None`: unusable, as
/// if missing).
fn map<T>(found: cache::Lookup<T>, take: impl FnOnce(T) -> Option<Vec<usize>>) -> cache::Lookup<Vec<usize>> {
    match found {
        cache::Lookup::Found(value) => take(value).map_or(cache::Lookup::Missing, cache::Lookup::Found),
        cache::Lookup::Missing => cache::Lookup::Missing,
        cache::Lookup::Damaged(why) => cache::Lookup::Damaged(why),
    }
}

/// A point's values in a line: `lr = 0.01, hidden = [64]`.
fn describe(point: &[(String, String)]) -> String {
    point.iter().map(|(l, v)| format!("{l} = {v}")).collect::<Vec<_>>().join(", ")
}
