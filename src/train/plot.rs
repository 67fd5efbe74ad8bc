//! PNG line charts of a run's metrics per epoch (`loss.png`, `metric.png`
//! in the run folder): training in blue, validation in orange, with the
//! value range and epochs written in a tiny built-in font. The PNG is
//! written here (a 16-colour palette, stored deflate blocks): a plot needs
//! no image library.

// Pixel coordinates on a fixed 640x400 canvas: epochs are at most 2^31
// (the checker) and values are mapped into [0, 1] before scaling.
#![expect(clippy::arithmetic_side_effects, reason = "coordinates on a fixed canvas")]

use std::path::Path;

/// A chart: palette indices, one per pixel.
struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

/// The palette, by index.
const PALETTE: [[u8; 3]; 8] = [
    [255, 255, 255],
    [200, 200, 200],
    [40, 40, 40],
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
];

const WIDTH: usize = 640;
const HEIGHT: usize = 400;
const MARGIN: usize = 48;
const GREY: u8 = 1;
const BLACK: u8 = 2;
const BLUE: u8 = 3;
const ORANGE: u8 = 4;

impl Canvas {
    fn new() -> Self {
        Canvas { width: WIDTH, height: HEIGHT, pixels: vec![0; WIDTH * HEIGHT] }
    }

    /// The plot area's grid, axes and title; its left, right, top and
    /// bottom edges in pixels.
    fn frame(&mut self, title: &str) -> (i64, i64, i64, i64) {
        let (left, right, top, bottom) =
            (MARGIN as i64 + 24, (WIDTH - MARGIN) as i64, MARGIN as i64, (HEIGHT - MARGIN) as i64);
        for k in 0..=4 {
            let y = top + (bottom - top) * k / 4;
            self.line((left, y), (right, y), GREY);
        }
        self.line((left, top), (left, bottom), BLACK);
        self.line((left, bottom), (right, bottom), BLACK);
        self.text(left, 12, title, BLACK);
        (left, right, top, bottom)
    }

    fn set(&mut self, x: i64, y: i64, color: u8) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            self.pixels[y as usize * self.width + x as usize] = color;
        }
    }

    /// A line, two pixels thick (Bresenham).
    fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), color: u8) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        loop {
            self.set(x, y, color);
            self.set(x, y + 1, color);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// Text in the 3x5 font, scaled by 2, top-left at (x, y).
    fn text(&mut self, x: i64, y: i64, text: &str, color: u8) {
        for (i, c) in text.chars().enumerate() {
            let Some(rows) = glyph(c) else { continue };
            for (r, bits) in rows.iter().enumerate() {
                for col in 0..3 {
                    if bits >> (2 - col) & 1 == 1 {
                        for (px, py) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                            self.set(x + i as i64 * 8 + col * 2 + px, y + r as i64 * 2 + py, color);
                        }
                    }
                }
            }
        }
    }

    /// The image as PNG bytes: 4-bit palette rows behind filter byte 0,
    /// in a zlib stream of stored blocks.
    fn png(&self) -> Vec<u8> {
        let mut raw = Vec::with_capacity(self.height * (self.width / 2 + 2));
        for row in self.pixels.chunks(self.width) {
            raw.push(0);
            raw.extend(row.chunks(2).map(|p| p[0] << 4 | p.get(1).copied().unwrap_or(0)));
        }
        let palette: Vec<u8> = PALETTE.iter().flatten().copied().collect();
        // 4-bit palette colour.
        encode_png(self.width, self.height, [4, 3], Some(palette), &raw)
    }

    fn save(&self, path: &Path) -> Result<(), String> {
        crate::files::write::bytes(path, &self.png())
    }
}

/// An 8-bit RGB image (`width * height * 3` bytes, row by row) as PNG.
pub fn rgb_png(width: usize, height: usize, rgb: &[u8]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(height * (width * 3 + 1));
    for row in rgb.chunks(width * 3) {
        raw.push(0);
        raw.extend_from_slice(row);
    }
    encode_png(width, height, [8, 2], None, &raw)
}

/// PNG bytes of filtered rows (`raw`: each row behind filter byte 0) of
/// the given `[bit depth, colour type]`, in a zlib stream of stored blocks
/// (no compression: the files are small, and no deflate code is needed).
fn encode_png(width: usize, height: usize, [depth, colour]: [u8; 2], palette: Option<Vec<u8>>, raw: &[u8]) -> Vec<u8> {
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    zlib.extend_from_slice(&adler32(raw).to_be_bytes());
    let mut header = Vec::new();
    header.extend_from_slice(&(width as u32).to_be_bytes());
    header.extend_from_slice(&(height as u32).to_be_bytes());
    header.extend_from_slice(&[depth, colour, 0, 0, 0]); // deflate, no filter, no interlace
    let mut chunks: Vec<(&[u8; 4], Vec<u8>)> = vec![(b"IHDR", header)];
    if let Some(palette) = palette {
        chunks.push((b"PLTE", palette));
    }
    chunks.extend([(b"IDAT", zlib), (b"IEND", Vec::new())]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in chunks {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = png.len();
        png.extend_from_slice(kind);
        png.extend_from_slice(&data);
        let crc = crc32(&png[start..]);
        png.extend_from_slice(&crc.to_be_bytes());
    }
    png
}

/// zlib's checksum.
fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    b << 16 | a
}

/// PNG's CRC-32 (the zlib polynomial).
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// 3x5 glyphs: five rows of three bits.
fn glyph(c: char) -> Option<[u8; 5]> {
    Some(match c {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        '.' => [0, 0, 0, 0, 2],
        '-' => [0, 0, 7, 0, 0],
        'a' => [0, 7, 1, 7, 7],
        'c' => [0, 7, 4, 4, 7],
        'e' => [7, 5, 7, 4, 7],
        'h' => [4, 4, 7, 5, 5],
        'i' => [2, 0, 2, 2, 2],
        'l' => [6, 2, 2, 2, 7],
        'm' => [0, 7, 7, 5, 5],
        'n' => [0, 7, 5, 5, 5],
        'o' => [0, 7, 5, 5, 7],
        'p' => [7, 5, 7, 4, 4],
        'r' => [0, 7, 4, 4, 4],
        's' => [0, 3, 4, 1, 6],
        't' => [4, 7, 4, 4, 7],
        'u' => [0, 5, 5, 5, 7],
        'v' => [0, 5, 5, 5, 2],
        'y' => [5, 5, 7, 1, 7],
        'b' => [4, 4, 7, 5, 7],
        'd' => [1, 1, 7, 5, 7],
        'f' => [3, 4, 7, 4, 4],
        'g' => [7, 5, 7, 1, 6],
        'k' => [4, 5, 6, 5, 5],
        'w' => [0, 5, 5, 7, 7],
        'x' => [0, 5, 2, 5, 5],
        '(' => [1, 2, 2, 2, 1],
        ')' => [4, 2, 2, 2, 4],
        ':' => [0, 2, 0, 2, 0],
        '/' => [1, 1, 2, 4, 4],
        '_' => [0, 0, 0, 0, 7],
        ' ' => [0; 5],
        _ => return None,
    })
}

/// A number in at most 7 characters.
fn short(v: f64) -> String {
    let text = format!("{v:.4}");
    if text.len() <= 7 { text } else { format!("{v:.1e}") }
}

/// Draws `series` (name, color, values per epoch) under `title` into `path`.
pub fn chart(path: &Path, title: &str, series: &[(&str, Vec<f64>)]) -> Result<(), String> {
    let values: Vec<f64> = series.iter().flat_map(|(_, v)| v.iter().copied()).filter(|v| v.is_finite()).collect();
    let epochs = series.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
    if values.is_empty() || epochs == 0 {
        return Ok(());
    }
    let (mut lo, mut hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
    if hi - lo < 1e-12 {
        (lo, hi) = (lo - 0.5, hi + 0.5);
    }
    let mut canvas = Canvas::new();
    let (left, right, top, bottom) = canvas.frame(title);
    canvas.text(4, top - 4, &short(hi), BLACK);
    canvas.text(4, bottom - 8, &short(lo), BLACK);
    canvas.text(left, bottom + 12, "1", BLACK);
    let last = epochs.to_string();
    canvas.text(right - 8 * last.len() as i64, bottom + 12, &last, BLACK);
    canvas.text((left + right) / 2 - 20, bottom + 12, "epoch", BLACK);
    let colors = [BLUE, ORANGE];
    for (i, (name, v)) in series.iter().enumerate() {
        let color = colors[i % 2];
        canvas.text(right - 120, 12 + i as i64 * 14, name, color);
        let point = |e: usize, value: f64| {
            let x =
                if epochs > 1 { left + (right - left) * e as i64 / (epochs as i64 - 1) } else { (left + right) / 2 };
            let y = bottom - ((value - lo) / (hi - lo) * (bottom - top) as f64).round() as i64;
            (x, y)
        };
        let points: Vec<(i64, i64)> =
            v.iter().enumerate().filter(|(_, x)| x.is_finite()).map(|(e, x)| point(e, *x)).collect();
        for pair in points.windows(2) {
            canvas.line(pair[0], pair[1], color);
        }
        for p in &points {
            for (dx, dy) in [(-1, -1), (1, -1), (-1, 1), (1, 1)] {
                canvas.set(p.0 + dx, p.1 + dy, color);
            }
        }
    }
    canvas.save(path)
}

/// Draws one curve of `(x, y)` points under `title` into `path`, the x axis
/// labelled with powers of ten (`x` is a log10, as the learning-rate range
/// test's rates).
pub fn chart_xy(path: &Path, title: &str, points: &[(f64, f64)]) -> Result<(), String> {
    let finite: Vec<(f64, f64)> = points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
    if finite.is_empty() {
        return Ok(());
    }
    let bounds = |pick: fn(&(f64, f64)) -> f64| {
        let (lo, hi) =
            finite.iter().map(pick).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
        if hi - lo < 1e-12 { (lo - 0.5, hi + 0.5) } else { (lo, hi) }
    };
    let ((x_lo, x_hi), (y_lo, y_hi)) = (bounds(|p| p.0), bounds(|p| p.1));
    let mut canvas = Canvas::new();
    let (left, right, top, bottom) = canvas.frame(title);
    canvas.text(4, top - 4, &short(y_hi), BLACK);
    canvas.text(4, bottom - 8, &short(y_lo), BLACK);
    let at = |x: f64, y: f64| {
        let px = left + ((x - x_lo) / (x_hi - x_lo) * (right - left) as f64).round() as i64;
        let py = bottom - ((y - y_lo) / (y_hi - y_lo) * (bottom - top) as f64).round() as i64;
        (px, py)
    };
    // A tick and a label at each power of ten in range.
    for power in (x_lo.ceil() as i64)..=(x_hi.floor() as i64) {
        let (x, _) = at(power as f64, y_lo);
        canvas.line((x, bottom), (x, bottom + 4), BLACK);
        canvas.text(x - 12, bottom + 12, &format!("1e{power}"), BLACK);
    }
    let pixels: Vec<(i64, i64)> = finite.iter().map(|(x, y)| at(*x, *y)).collect();
    for pair in pixels.windows(2) {
        canvas.line(pair[0], pair[1], BLUE);
    }
    canvas.save(path)
}

/// Curves on [0, 1] x [0, 1] (ROC, precision-recall) under `title`, one
/// colour per series (named in the corner), axes named `x` and `y`; with
/// `diagonal`, the line of a random ranking.
pub fn chart_curves(
    path: &Path,
    title: &str,
    axes: [&str; 2],
    series: &[(String, Vec<(f64, f64)>)],
    diagonal: bool,
) -> Result<(), String> {
    let mut canvas = Canvas::new();
    let (left, right, top, bottom) = canvas.frame(title);
    let at = |x: f64, y: f64| {
        let px = left + (x.clamp(0.0, 1.0) * (right - left) as f64).round() as i64;
        let py = bottom - (y.clamp(0.0, 1.0) * (bottom - top) as f64).round() as i64;
        (px, py)
    };
    if diagonal {
        canvas.line(at(0.0, 0.0), at(1.0, 1.0), GREY);
    }
    canvas.text(4, top - 4, "1", BLACK);
    canvas.text(4, bottom - 8, "0", BLACK);
    canvas.text(right - 8, bottom + 12, "1", BLACK);
    canvas.text((left + right) / 2 - 4 * axes[0].len() as i64, bottom + 12, axes[0], BLACK);
    canvas.text(4, (top + bottom) / 2, axes[1], BLACK);
    let colors = [BLUE, ORANGE, 5, 6, 7];
    for (i, (name, points)) in series.iter().enumerate() {
        let color = colors[i % colors.len()];
        canvas.text(right - 160, top + 8 + i as i64 * 14, name, color);
        let pixels: Vec<(i64, i64)> =
            points.iter().filter(|(x, y)| x.is_finite() && y.is_finite()).map(|(x, y)| at(*x, *y)).collect();
        for pair in pixels.windows(2) {
            canvas.line(pair[0], pair[1], color);
        }
    }
    canvas.save(path)
}
