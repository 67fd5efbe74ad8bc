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
    let last = epochs as f64;
    let x_range = if epochs > 1 { 1.0..last } else { 0.5..1.5 };
    draw_png(path, |root| {
        let e = |e: plotters::drawing::DrawingAreaErrorKind<_>| e.to_string();
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(x_range, y_range.clone())
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(title)
            .x_labels(epochs.min(12))
            .x_label_formatter(&|x| if x.fract() == 0.0 { tick(*x) } else { String::new() })
            .y_label_formatter(&|y| tick(*y))
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .draw()
            .map_err(e)?;
        if let Some(k) = kept.filter(|k| (1..=epochs).contains(k)) {
            let x = k as f64;
            let grey = RGBColor(60, 60, 60);
            chart
                .draw_series(LineSeries::new([(x, y_range.start), (x, y_range.end)], grey.stroke_width(2)))
                .map_err(e)?
                .label(format!("kept: epoch {k}"))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], grey.stroke_width(2)));
        }
        for (i, (name, values)) in series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let points: Vec<(f64, f64)> = values
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(|(i, v)| (i.saturating_add(1) as f64, *v))
                .collect();
            chart
                .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)).point_size(2))
                .map_err(e)?
                .label(*name)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
            if let Some(&(x, y)) = kept.and_then(|k| points.iter().find(|(x, _)| *x == k as f64)) {
                chart.draw_series(std::iter::once(Circle::new((x, y), 6, color.filled()))).map_err(e)?;
            }
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(e)?;
        Ok(())
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
        let e = |e: plotters::drawing::DrawingAreaErrorKind<_>| e.to_string();
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(x_range, y_range)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("learning rate")
            .y_desc("loss")
            .x_label_formatter(&|x| format!("{:.0e}", 10f64.powf(*x)))
            .y_label_formatter(&|y| tick(*y))
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .draw()
            .map_err(e)?;
        chart.draw_series(LineSeries::new(finite.iter().copied(), COLORS[0].stroke_width(2))).map_err(e)?;
        Ok(())
    })
}

/// Curves on [0, 1] x [0, 1] (ROC, precision-recall) under `title`, one
/// colour per series (named in the legend), the axes named `axes`; with
/// `diagonal`, the line of a random ranking.
pub fn chart_curves(
    path: &Path,
    title: &str,
    axes: [&str; 2],
    series: &[(String, Vec<(f64, f64)>)],
    diagonal: bool,
) -> Result<(), String> {
    draw_png(path, |root| {
        let e = |e: plotters::drawing::DrawingAreaErrorKind<_>| e.to_string();
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..1.0, 0.0..1.02)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc(axes[0])
            .y_desc(axes[1])
            .x_label_formatter(&|x| tick(*x))
            .y_label_formatter(&|y| tick(*y))
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .draw()
            .map_err(e)?;
        if diagonal {
            let grey = RGBColor(170, 170, 170);
            chart.draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], grey.stroke_width(1))).map_err(e)?;
        }
        for (i, (name, points)) in series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let finite = points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite());
            let clamped = finite.map(|(x, y)| (x.clamp(0.0, 1.0), y.clamp(0.0, 1.0)));
            chart
                .draw_series(LineSeries::new(clamped, color.stroke_width(2)))
                .map_err(e)?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        if !series.is_empty() {
            chart
                .configure_series_labels()
                .label_font((FONT, 14))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::LowerRight)
                .draw()
                .map_err(e)?;
        }
        Ok(())
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
