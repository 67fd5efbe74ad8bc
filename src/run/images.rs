//! Image folders: one sub-folder per class (the label is the folder name),
//! PNG and JPEG files decoded, converted to the channels asked for,
//! resized with bilinear interpolation and scaled to [0, 1]. The frame has
//! an `image` column (a list of `channels * height * width` floats,
//! channel-major) and a `label` column.

use std::path::{Path, PathBuf};

use polars::prelude::*;
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_core::result::DecodingResult;

use crate::run::error::{RunError, RunResult};
use crate::source::Span;

/// An image in memory: `channels` planes of `height x width` values in
/// [0, 1] (channel-major).
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    /// 1 (grey) or 3 (red, green, blue).
    pub channels: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// `channels * height * width` values.
    pub data: Vec<f32>,
}

/// The files reading a folder went through.
#[derive(Debug, Default)]
pub struct Found {
    /// The files read, in row order.
    pub read: Vec<PathBuf>,
    /// Files that could not be decoded, with the reason (when skipping).
    pub bad: Vec<(PathBuf, String)>,
}

/// The image files of a folder, class by class (sorted), each class's
/// files sorted by name.
pub fn image_files(dir: &Path, classes: &[String]) -> std::io::Result<Vec<(usize, PathBuf)>> {
    let mut files = Vec::new();
    for (class, name) in classes.iter().enumerate() {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir.join(name))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| is_image_file(p))
            .collect();
        found.sort();
        files.extend(found.into_iter().map(|p| (class, p)));
    }
    Ok(files)
}

fn is_image_file(path: &Path) -> bool {
    let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    matches!(extension.as_deref(), Some("png" | "jpg" | "jpeg")) && path.is_file()
}

/// A fingerprint of a folder's image files (names, sizes, modification
/// times), for the stage cache: any added, removed or rewritten image
/// changes it.
pub fn folder_stamp(dir: &Path, classes: &[String]) -> std::io::Result<String> {
    let mut text = String::new();
    for (class, path) in image_files(dir, classes)? {
        let meta = std::fs::metadata(&path)?;
        let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        let name = path.strip_prefix(dir).unwrap_or(&path).display().to_string();
        text.push_str(&format!("{class}\t{name}\t{}\t{:?}\n", meta.len(), modified));
    }
    Ok(crate::run::cache::hash(text.as_bytes()))
}

/// Reads an image folder into a frame. A file that cannot be decoded is an
/// error naming it, or, with `skip_bad`, is left out and listed in the
/// returned [`Found`]. A class named `""` reads the folder itself.
pub fn read_folder(
    dir: &Path,
    size: [usize; 2],
    channels: usize,
    classes: &[String],
    skip_bad: bool,
    span: Span,
) -> RunResult<(DataFrame, Found)> {
    let unreadable = |path: &Path, reason: String| RunError::Unreadable {
        path: path.display().to_string(),
        reason,
        span,
        help: "remove or replace the file, or add `skip_bad: true` to `images(...)` to leave bad files out".into(),
    };
    let files = image_files(dir, classes).map_err(|e| unreadable(dir, e.to_string()))?;
    let per_image = channels.saturating_mul(size[0]).saturating_mul(size[1]);
    let mut pixels = ListPrimitiveChunkedBuilder::<Float32Type>::new(
        "image".into(),
        files.len(),
        files.len().saturating_mul(per_image),
        DataType::Float32,
    );
    let mut labels = Vec::with_capacity(files.len());
    let mut found = Found::default();
    for (class, path) in files {
        let decoded = crate::files::regular_file(&path)
            .and_then(|()| std::fs::read(&path).map_err(|e| e.to_string()))
            .and_then(|bytes| decode(&bytes));
        match decoded {
            Ok(image) => {
                let image = resize_bilinear(&with_channels(image, channels), size[0], size[1]);
                pixels.append_slice(&image.data);
                labels.push(classes[class].as_str());
                found.read.push(path);
            }
            Err(reason) if skip_bad => found.bad.push((path, reason)),
            Err(reason) => return Err(unreadable(&path, reason)),
        }
    }
    let columns = vec![pixels.finish().into_column(), Column::new("label".into(), labels)];
    let frame = DataFrame::new_infer_height(columns).map_err(|e| RunError::data(e.to_string(), span, "here", ""))?;
    Ok((frame, found))
}

/// Decodes a PNG or JPEG file (by its first bytes) to values in [0, 1].
pub fn decode(bytes: &[u8]) -> Result<Image, String> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        decode_png(bytes)
    } else if bytes.starts_with(&[0xFF, 0xD8]) {
        decode_jpeg(bytes)
    } else {
        Err("not a PNG or JPEG file".into())
    }
}

/// A decoder's error as one line.
fn reason(kind: &str, error: impl std::fmt::Debug) -> String {
    let text = format!("{error:?}");
    format!("bad {kind}: {}", text.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn decode_png(bytes: &[u8]) -> Result<Image, String> {
    let mut decoder = zune_png::PngDecoder::new(ZCursor::new(bytes));
    decoder.decode_headers().map_err(|e| reason("PNG", e))?;
    let (width, height) = decoder.dimensions().ok_or("bad PNG: no size")?;
    let colorspace = decoder.colorspace().ok_or("bad PNG: no colour type")?;
    let values: Vec<f32> = match decoder.decode().map_err(|e| reason("PNG", e))? {
        DecodingResult::U8(v) => v.iter().map(|&x| f32::from(x) / 255.0).collect(),
        DecodingResult::U16(v) => v.iter().map(|&x| f32::from(x) / 65535.0).collect(),
        _ => return Err("bad PNG: an unexpected sample type".into()),
    };
    interleaved(values, width, height, colorspace)
}

fn decode_jpeg(bytes: &[u8]) -> Result<Image, String> {
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    let values = decoder.decode().map_err(|e| reason("JPEG", e))?;
    let (width, height) = decoder.dimensions().ok_or("bad JPEG: no size")?;
    let values = values.iter().map(|&x| f32::from(x) / 255.0).collect();
    interleaved(values, width, height, ColorSpace::RGB)
}

/// Interleaved samples (`height x width x components`) as grey or RGB
/// planes; alpha is dropped.
#[expect(clippy::arithmetic_side_effects, reason = "width x height x components was checked against the samples first")]
fn interleaved(values: Vec<f32>, width: usize, height: usize, colorspace: ColorSpace) -> Result<Image, String> {
    let components = colorspace.num_components();
    let samples = width.checked_mul(height).and_then(|n| n.checked_mul(components));
    if samples != Some(values.len()) || width == 0 || height == 0 {
        return Err(format!("bad image: {} samples for {width}x{height}x{components}", values.len()));
    }
    let channels = if components >= 3 { 3 } else { 1 };
    let plane = width * height;
    let mut data = vec![0.0; channels * plane];
    for (i, pixel) in values.chunks_exact(components).enumerate() {
        for c in 0..channels {
            data[c * plane + i] = pixel[c];
        }
    }
    Ok(Image { channels, height, width, data })
}

/// The image with 1 or 3 channels: colour to grey by ITU-R 601 luma (as
/// PIL's `convert("L")`), grey to colour by repeating the plane.
#[expect(clippy::arithmetic_side_effects, reason = "an image's planes are in memory: height x width cannot overflow")]
pub fn with_channels(image: Image, channels: usize) -> Image {
    let plane = image.height * image.width;
    match (image.channels, channels) {
        (3, 1) => {
            let (r, rest) = image.data.split_at(plane);
            let (g, b) = rest.split_at(plane);
            let data = (0..plane).map(|i| 0.299 * r[i] + 0.587 * g[i] + 0.114 * b[i]).collect();
            Image { channels: 1, data, ..image }
        }
        (1, 3) => Image { channels: 3, data: image.data.repeat(3), ..image },
        _ => image,
    }
}

/// Bilinear resizing with pixel centres at half-integers (PyTorch's
/// `interpolate(mode="bilinear", align_corners=False)` without
/// antialiasing); edges are clamped.
#[expect(
    clippy::arithmetic_side_effects,
    reason = "decoded images have sides of at least 1, and the target size is bounded by the checker (check/limits.rs)"
)]
pub fn resize_bilinear(image: &Image, height: usize, width: usize) -> Image {
    if image.height == height && image.width == width {
        return image.clone();
    }
    let (sy, sx) = (image.height as f32 / height as f32, image.width as f32 / width as f32);
    let source = |o: usize, scale: f32, n: usize| {
        let x = ((o as f32 + 0.5) * scale - 0.5).max(0.0);
        let low = (x.floor() as usize).min(n - 1);
        let high = (low + 1).min(n - 1);
        (low, high, x - low as f32)
    };
    let rows: Vec<(usize, usize, f32)> = (0..height).map(|y| source(y, sy, image.height)).collect();
    let cols: Vec<(usize, usize, f32)> = (0..width).map(|x| source(x, sx, image.width)).collect();
    let plane = image.height * image.width;
    let mut data = Vec::with_capacity(image.channels * height * width);
    for c in 0..image.channels {
        let src = &image.data[c * plane..(c + 1) * plane];
        for &(y0, y1, fy) in &rows {
            for &(x0, x1, fx) in &cols {
                let at = |y: usize, x: usize| src[y * image.width + x];
                let top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx;
                let bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx;
                data.push(top * (1.0 - fy) + bottom * fy);
            }
        }
    }
    Image { channels: image.channels, height, width, data }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bilinear_upsampling_matches_a_hand_calculation() {
        // 2x2 -> 4x4 with half-pixel centres: output x = 0..3 samples input
        // x = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
        let image = Image { channels: 1, height: 2, width: 2, data: vec![0.0, 1.0, 2.0, 3.0] };
        let out = resize_bilinear(&image, 4, 4);
        let row0 = [0.0, 0.25, 0.75, 1.0];
        let expected: Vec<f32> = [0.0, 0.5, 1.5, 2.0].iter().flat_map(|dy| row0.iter().map(move |x| x + dy)).collect();
        assert_eq!(out.data, expected);
    }

    #[test]
    fn colour_becomes_grey_by_luma_and_grey_becomes_colour_by_repeating() {
        let rgb = Image { channels: 3, height: 1, width: 1, data: vec![1.0, 0.5, 0.0] };
        assert_eq!(with_channels(rgb, 1).data, vec![0.299 + 0.587 * 0.5]);
        let grey = Image { channels: 1, height: 1, width: 2, data: vec![0.25, 0.75] };
        assert_eq!(with_channels(grey, 3).data, vec![0.25, 0.75, 0.25, 0.75, 0.25, 0.75]);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(b"hello").is_err());
        assert!(decode(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").is_err());
        assert!(decode(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 16]).is_err());
    }
}
