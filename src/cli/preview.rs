//! `pipe augment-preview FILE TRAIN [-o grid.png]`: what a training run's
//! augmentation does to its images. One row per sample (spread over the
//! training data): the original, then the versions epochs 1, 2, ... draw,
//! exactly as training draws them.

// See src/run/mod.rs: run errors are rare and cold.
#![allow(clippy::result_large_err)]

use std::path::Path;

use super::CliError;
use super::check::load;
use super::report::Reporter;
use crate::ir::ItemKind;
use crate::run::{self, Session};
use crate::train::augment::augment_batch;

/// Pixels a tile is scaled up to at least (nearest neighbour), so small
/// images are visible.
const MIN_TILE: usize = 64;
/// Pixels between tiles.
const GAP: usize = 2;
/// The most pixels a grid may have (50 megapixels: 150 MB of RGB, and at
/// most 600 MB of tiles before): more is a mistyped `--samples` or
/// `--versions`, not a preview.
const MAX_PIXELS: usize = 50_000_000;

/// What to preview.
pub struct Preview<'a> {
    /// The `.pipe` file.
    pub file: &'a Path,
    /// The training run whose augmentation is shown.
    pub train: &'a str,
    /// Where the PNG goes.
    pub output: &'a Path,
    /// Rows of the grid (samples).
    pub samples: usize,
    /// Augmented versions per sample (columns after the original).
    pub versions: usize,
}

/// Writes the grid; returns whether it succeeded.
pub fn preview(p: &Preview, reporter: &mut Reporter) -> bool {
    let usage = |message: String, reporter: &mut Reporter| {
        let error = CliError::Usage { message };
        reporter.report(&error, &crate::source::SourceFile { name: String::new(), text: "".into() });
        false
    };
    if let Some(mistake) = asked_mistake(p) {
        return usage(mistake, reporter);
    }
    let Some((sources, report)) = load(p.file, reporter) else { return false };
    let train = report.ir.items.iter().flatten().find_map(|i| match &i.kind {
        ItemKind::Train(t) if i.name == p.train => Some(t.as_ref()),
        _ => None,
    });
    let Some(train) = train else {
        return usage(format!("`{}` is not a training run of {}", p.train, p.file.display()), reporter);
    };
    let (Some(augmentation), crate::ir::Shape::Image(shape)) = (&train.settings.augment, train.model.input.clone())
    else {
        return usage(format!("`{}` trains on no augmented images (no `augment:`)", p.train), reporter);
    };
    if !grid_fits(shape, p.samples, p.versions) {
        let message = format!(
            "{} samples with {} versions each make a grid of more than {MAX_PIXELS} pixels of {}x{} images: ask for fewer",
            p.samples, p.versions, shape[2], shape[1]
        );
        return usage(message, reporter);
    }
    let options = super::run::options(p.file, &sources, &[], false, None);
    let mut events = |_| {};
    let images = {
        let mut session = Session::new(&report.ir, &options, &mut events);
        session.rows_of(&train.data).and_then(|frame| pixels(&frame, p.samples))
    };
    let (pixels, rows) = match images {
        Ok(found) => found,
        Err(error) => {
            reporter.report(&error, sources.get(crate::source::FileId(0)));
            return false;
        }
    };
    let seed = train.settings.seed;
    let size = shape.iter().product::<usize>();
    let mut tiles = Vec::new();
    for (sample, row) in pixels.chunks_exact(size).zip(&rows) {
        tiles.push(sample.to_vec());
        for epoch in 1..=p.versions {
            let mut version = sample.to_vec();
            augment_batch(&mut version, &[*row], shape, augmentation, seed, epoch);
            tiles.push(version);
        }
    }
    let png = grid(&tiles, shape, p.versions + 1);
    match run::write::bytes(p.output, &png) {
        Ok(()) => {
            reporter.note(&format!(
                "wrote {}: {} samples, the original then {} augmented versions each",
                p.output.display(),
                rows.len(),
                p.versions
            ));
            true
        }
        Err(reason) => {
            let error = CliError::Write { path: p.output.display().to_string(), reason };
            reporter.report(&error, &crate::source::SourceFile { name: String::new(), text: "".into() });
            false
        }
    }
}

/// What is wrong with the flags, if anything: a grid needs a sample and a
/// version of it, and the file written is a PNG.
fn asked_mistake(p: &Preview) -> Option<String> {
    if p.samples == 0 || p.versions == 0 {
        return Some("--samples and --versions are 1 or more: a grid of samples and their augmented versions".into());
    }
    let png = p.output.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"));
    (!png).then(|| format!("-o {}: the grid is written as a PNG; name it `.png`", p.output.display()))
}

/// `samples` images spread evenly over a training frame (whose rows are
/// often sorted by class), and their row numbers; only those are read.
fn pixels(frame: &polars::prelude::DataFrame, samples: usize) -> run::error::RunResult<(Vec<f32>, Vec<usize>)> {
    let span = crate::source::Span::default();
    let failed = |e: polars::prelude::PolarsError| run::error::RunError::data(e.to_string(), span, "here", "");
    let image = frame.columns().iter().find(|c| matches!(c.dtype(), polars::prelude::DataType::List(_)));
    let Some(images) = image else { return Ok((Vec::new(), Vec::new())) };
    let images = images.list().map_err(failed)?;
    let count = samples.min(frame.height());
    let rows: Vec<usize> = (0..count).map(|i| i * frame.height() / count.max(1)).collect();
    let mut pixels = Vec::new();
    for &row in &rows {
        let Some(image) = images.get_as_series(row) else { continue };
        let values = image.cast(&polars::prelude::DataType::Float32).map_err(failed)?;
        pixels.extend(values.f32().map_err(failed)?.into_no_null_iter());
    }
    Ok((pixels, rows))
}

/// Whether a grid of `samples` rows of an original and `versions`
/// augmented tiles has at most [`MAX_PIXELS`].
fn grid_fits(shape: [usize; 3], samples: usize, versions: usize) -> bool {
    grid_pixels(shape, samples, versions).is_some_and(|pixels| pixels <= MAX_PIXELS)
}

/// The pixels of such a grid (`None`: more than a `usize` holds).
fn grid_pixels([_, height, width]: [usize; 3], samples: usize, versions: usize) -> Option<usize> {
    let scale = MIN_TILE.div_ceil(height.max(width).max(1)).max(1);
    let columns = versions.checked_add(1)?;
    let side =
        |tiles: usize, tile: usize| tiles.checked_mul(tile.checked_mul(scale)?.checked_add(GAP)?)?.checked_add(GAP);
    side(columns, width)?.checked_mul(side(samples, height)?)
}

/// The tiles (`[channels, height, width]` values in [0, 1]) in a grid of
/// `columns`, as an RGB PNG (of at most [`MAX_PIXELS`]: [`grid_fits`]
/// bounds the tiles asked for before they are made).
fn grid(tiles: &[Vec<f32>], [channels, height, width]: [usize; 3], columns: usize) -> Vec<u8> {
    let scale = MIN_TILE.div_ceil(height.max(width).max(1)).max(1);
    let (tile_h, tile_w) = (height * scale, width * scale);
    let rows = tiles.len().div_ceil(columns);
    let (out_w, out_h) = (columns * (tile_w + GAP) + GAP, rows * (tile_h + GAP) + GAP);
    // A mid-grey background between tiles.
    let mut rgb = vec![128u8; out_w * out_h * 3];
    let plane = height * width;
    for (i, tile) in tiles.iter().enumerate() {
        let (x0, y0) = (GAP + (i % columns) * (tile_w + GAP), GAP + (i / columns) * (tile_h + GAP));
        for y in 0..tile_h {
            for x in 0..tile_w {
                let source = (y / scale) * width + x / scale;
                let at = ((y0 + y) * out_w + x0 + x) * 3;
                for c in 0..3 {
                    let value = tile[(c % channels) * plane + source];
                    rgb[at + c] = (value.clamp(0.0, 1.0) * 255.0).round() as u8;
                }
            }
        }
    }
    crate::train::plot::rgb_png(out_w, out_h, &rgb)
}
