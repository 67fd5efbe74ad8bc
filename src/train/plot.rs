//! PNG charts of a run (`loss.png`, `metric.png` in the run folder, the
//! learning-rate range test, ROC and precision-recall curves), drawn with
//! `plotters` on an RGB buffer: axes with ticks and labels, a legend, and
//! the epoch whose weights were kept marked. Text is set in DejaVu Sans,
//! embedded (no system fonts are looked up); the PNG is deflated by
//! flate2.

// Pixel offsets in legends and palette indices: small numbers on a fixed canvas.
#![expect(clippy::arithmetic_side_effects, reason = "pixel offsets and palette indices on a fixed canvas")]

use std::ops::Range;
use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// The size of every chart, in pixels.
const SIZE: (u32, u32) = (800, 500);
/// The font family charts ask for (registered once, from the embedded font).
const FONT: &str = "sans-serif";
/// Series colours (matplotlib's first five).
const COLORS: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
];

/// An 8-bit RGB image (`width * height * 3` bytes, row by row) as PNG:
/// each row behind filter byte 0, deflated by flate2.
pub fn rgb_png(width: usize, height: usize, rgb: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let row = width.saturating_mul(3).max(1);
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    for line in rgb.chunks(row).take(height) {
        // Writes into a Vec cannot fail.
        let _ = zlib.write_all(&[0]).and_then(|()| zlib.write_all(line));
    }
    let idat = zlib.finish().unwrap_or_default();
    let mut header = Vec::with_capacity(13);
    header.extend_from_slice(&u32::try_from(width).unwrap_or(u32::MAX).to_be_bytes());
    header.extend_from_slice(&u32::try_from(height).unwrap_or(u32::MAX).to_be_bytes());
    // 8-bit RGB, deflate, no filter method beyond 0, no interlace.
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(b"IHDR", header), (b"IDAT", idat), (b"IEND", Vec::new())] {
        png.extend_from_slice(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(&data);
        png.extend_from_slice(kind);
        png.extend_from_slice(&data);
        png.extend_from_slice(&crc.sum().to_be_bytes());
    }
    png
}

/// Makes the embedded font the charts' font (once per process).
fn register_font() {
    static FONT_ONCE: Once = Once::new();
    FONT_ONCE.call_once(|| {
        // DejaVu Sans parses (the crate ships it); a failure would only
        // leave text out.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
    });
}

/// Draws on a white canvas with `draw` and writes the PNG to `path`.
fn draw_png(
    path: &Path,
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), String>,
) -> Result<(), String> {
    register_font();
    let (width, height) = (SIZE.0 as usize, SIZE.1 as usize);
    let mut rgb = vec![255u8; width.saturating_mul(height).saturating_mul(3)];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        draw(&root)?;
        root.present().map_err(|e| e.to_string())?;
    }
    crate::files::write::bytes(path, &rgb_png(width, height, &rgb))
}

/// The range `[lo, hi]` of `values` with 5% room each side (a unit range
/// around a constant).
fn padded(values: impl Iterator<Item = f64>) -> Option<Range<f64>> {
    let (lo, hi) =
        values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return None;
    }
    // One value: a range around it on its own scale (0.01 is not drawn as 0).
    let room = if hi - lo <= hi.abs() * 1e-9 { if lo == 0.0 { 0.5 } else { lo.abs() * 0.5 } } else { (hi - lo) * 0.05 };
    Some(lo - room..hi + room)
}

/// A tick's label: whole numbers bare, others in 4 significant digits.
fn tick(v: f64) -> String {
    if v == v.round() && v.abs() < 1e6 {
        format!("{v:.0}")
    } else if v.abs() >= 1e-3 && v.abs() < 1e4 {
        let text = format!("{v:.4}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        format!("{v:.2e}")
    }
}

/// A chart on a canvas, both axes numbers.
type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A drawing failure as text.
fn failed<E: std::error::Error + Send + Sync>(e: plotters::drawing::DrawingAreaErrorKind<E>) -> String {
    e.to_string()
}

/// The chart every plot starts with: `title` above, axes over `x` and `y`
/// named `names`, ticks labelled by `x_label` and [`tick`], about
/// `x_ticks` of them along x.
fn axes<'a, 'b>(
    root: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    title: &str,
    (x, y): (Range<f64>, Range<f64>),
    names: [&str; 2],
    (x_label, x_ticks): (&dyn Fn(&f64) -> String, usize),
) -> Result<Chart<'a, 'b>, String> {
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d(x, y)
        .map_err(failed)?;
    chart
        .configure_mesh()
        .x_desc(names[0])
        .y_desc(names[1])
        .x_labels(x_ticks)
        .x_label_formatter(x_label)
        .y_label_formatter(&|y| tick(*y))
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .draw()
        .map_err(failed)?;
    Ok(chart)
}

/// One line of `points`, named `name` in the legend.
fn line(chart: &mut Chart, points: Vec<(f64, f64)>, color: RGBColor, name: &str) -> Result<(), String> {
    chart
        .draw_series(LineSeries::new(points, color.stroke_width(2)))
        .map_err(failed)?
        .label(name)
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    Ok(())
}

/// The legend, boxed, at `position`.
fn legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>, position: SeriesLabelPosition) -> Result<(), String> {
    chart
        .configure_series_labels()
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(position)
        .draw()
        .map_err(failed)
}

/// Draws `series` (name, value per epoch from 1) under `title` into
/// `path`: one line each, the y axis named `title`, and `kept` (the epoch
/// whose weights were kept, from 1) marked with a vertical line and a dot
/// on each series.
pub fn chart(path: &Path, title: &str, series: &[(&str, Vec<f64>)], kept: Option<usize>) -> Result<(), String> {
    let epochs = series.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
    let Some(y_range) = padded(series.iter().flat_map(|(_, v)| v.iter().copied())) else { return Ok(()) };
    if epochs == 0 {
        return Ok(());
    }
    let x_range = if epochs > 1 { 1.0..epochs as f64 } else { 0.5..1.5 };
    draw_png(path, |root| {
        let whole = |x: &f64| if x.fract() == 0.0 { tick(*x) } else { String::new() };
        let ranges = (x_range, y_range.clone());
        let mut chart = axes(root, title, ranges, ["epoch", title], (&whole, epochs.min(12)))?;
        if let Some(k) = kept.filter(|k| (1..=epochs).contains(k)) {
            let x = k as f64;
            let marker = vec![(x, y_range.start), (x, y_range.end)];
            line(&mut chart, marker, RGBColor(60, 60, 60), &format!("kept: epoch {k}"))?;
        }
        for (i, (name, values)) in series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let points: Vec<(f64, f64)> = values
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(|(i, v)| (i.saturating_add(1) as f64, *v))
                .collect();
            let at_kept = kept.and_then(|k| points.iter().copied().find(|(x, _)| *x == k as f64));
            chart.draw_series(points.iter().map(|p| Circle::new(*p, 2, color.filled()))).map_err(failed)?;
            line(&mut chart, points, color, name)?;
            if let Some(p) = at_kept {
                chart.draw_series(std::iter::once(Circle::new(p, 6, color.filled()))).map_err(failed)?;
            }
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

/// Draws one curve of `(x, y)` points under `title` into `path`, the x axis
/// labelled with powers of ten (`x` is a log10, as the learning-rate range
/// test's rates).
pub fn chart_xy(path: &Path, title: &str, points: &[(f64, f64)]) -> Result<(), String> {
    let finite: Vec<(f64, f64)> = points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
    let (Some(x_range), Some(y_range)) = (padded(finite.iter().map(|p| p.0)), padded(finite.iter().map(|p| p.1)))
    else {
        return Ok(());
    };
    draw_png(path, |root| {
        let power = |x: &f64| format!("{:.0e}", 10f64.powf(*x));
        let mut chart = axes(root, title, (x_range, y_range), ["learning rate", "loss"], (&power, 10))?;
        chart.draw_series(LineSeries::new(finite.iter().copied(), COLORS[0].stroke_width(2))).map_err(failed)?;
        Ok(())
    })
}

/// Curves on [0, 1] x [0, 1] (ROC, precision-recall) under `title`, one
/// colour per series (named in the legend), the axes named `axes`; with
/// `diagonal`, the line of a random ranking.
pub fn chart_curves(
    path: &Path,
    title: &str,
    names: [&str; 2],
    series: &[(String, Vec<(f64, f64)>)],
    diagonal: bool,
) -> Result<(), String> {
    draw_png(path, |root| {
        let mut chart = axes(root, title, (0.0..1.0, 0.0..1.02), names, (&|x: &f64| tick(*x), 10))?;
        if diagonal {
            let grey = RGBColor(170, 170, 170);
            chart.draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], grey.stroke_width(1))).map_err(failed)?;
        }
        for (i, (name, points)) in series.iter().enumerate() {
            let finite = points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite());
            let clamped = finite.map(|(x, y)| (x.clamp(0.0, 1.0), y.clamp(0.0, 1.0))).collect();
            line(&mut chart, clamped, COLORS[i % COLORS.len()], name)?;
        }
        if series.is_empty() { Ok(()) } else { legend(&mut chart, SeriesLabelPosition::LowerRight) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_read_as_numbers() {
        assert_eq!(tick(3.0), "3");
        assert_eq!(tick(0.25), "0.25");
        assert_eq!(tick(1e-5), "1.00e-5");
    }

    #[test]
    fn rgb_png_decodes_to_the_same_pixels() {
        let rgb: Vec<u8> = (0..4 * 3 * 3).map(|i| (i * 7) as u8).collect();
        let png = rgb_png(4, 3, &rgb);
        let mut decoder = zune_png::PngDecoder::new(zune_core::bytestream::ZCursor::new(&png));
        assert_eq!(decoder.decode_raw().unwrap(), rgb);
    }
}
