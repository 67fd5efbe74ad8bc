//! Image augmentation of training batches: every geometric step of a
//! sample (flip, rotate, shift, shear, zoom) is composed into one affine
//! map about the image centre and the image is resampled once
//! (bilinear, with the fill mode at the edges); then the photometric steps
//! (brightness, contrast, saturation, hue, noise, cutout) in the order
//! written, and values are clamped to [0, 1].
//!
//! The draws of a sample depend only on (seed, epoch, row): a resumed run,
//! a re-run and a data-parallel run see the same images.

// Index arithmetic inside an image's buffer: its sides and values are
// bounded by the checker (check/limits.rs), so products cannot overflow.
#![expect(clippy::arithmetic_side_effects, reason = "indices inside image buffers the checker bounds")]

use crate::ir::{AugmentStep, Augmentation, ImageFill};
use crate::random::Rng;

/// A 2-D affine map of pixel coordinates (x right, y down):
/// `[a, b, c; d, e, f]` sends `(x, y)` to `(a x + b y + c, d x + e y + f)`.
pub type Affine = [[f64; 3]; 2];

/// The map that changes nothing.
pub const IDENTITY: Affine = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];

/// The generator of one sample's draws.
pub fn sample_rng(seed: u64, epoch: usize, row: usize) -> Rng {
    let mut mix = Rng::new(seed ^ 0xA076_1D64_78BD_642F);
    let a = mix.next_u64() ^ (epoch as u64).wrapping_mul(0xE703_7ED1_A0B4_28DB);
    Rng::new(a ^ (row as u64).wrapping_mul(0x8EBC_6AF0_9C88_C6E3))
}

/// Augments the images of a batch in place: `pixels` holds one image of
/// `shape` (`[channels, height, width]`) per entry of `rows`, in order.
/// The images are shared among the machine's cores (each image's draws
/// depend only on its row, so the result does not depend on how).
pub fn augment_batch(
    pixels: &mut [f32],
    rows: &[usize],
    shape: [usize; 3],
    augmentation: &Augmentation,
    seed: u64,
    epoch: usize,
) {
    let size = shape.iter().product::<usize>();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // A thread is worth it for a few images at least.
    let threads = cores.min(rows.len() / 4).max(1);
    let per_thread = rows.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        for (images, rows) in pixels.chunks_mut(per_thread * size).zip(rows.chunks(per_thread)) {
            scope.spawn(move || {
                for (image, &row) in images.chunks_exact_mut(size).zip(rows) {
                    let mut rng = sample_rng(seed, epoch, row);
                    augment_image(image, shape, augmentation, &mut rng);
                }
            });
        }
    });
}

/// One image's augmentation, drawn (its draws depend only on the seed,
/// the epoch and the row): what [`apply`] does on the host and
/// [`crate::train::augment_device`] does as tensor operations on a device.
#[derive(Clone, Debug, PartialEq)]
pub struct Drawn {
    /// Output pixel -> source point, when a geometric step moved the image.
    pub inverse: Option<Affine>,
    /// The photometric steps, with their draws, in the order written.
    pub colors: Vec<Color>,
}

/// A photometric step with its draws.
#[derive(Clone, Debug, PartialEq)]
pub enum Color {
    /// Added to every value.
    Brightness(f32),
    /// Each channel's distance from its mean, times this.
    Contrast(f32),
    /// Each pixel's distance from its grey, times this (colour images).
    Saturation(f32),
    /// The hue turned by this fraction of the circle (colour images).
    Hue(f32),
    /// Added to each value, one per value (channel-major).
    Noise(Vec<f32>),
    /// A square set to `value`: rows `top..bottom`, columns `left..right`.
    Cutout {
        /// First row.
        top: usize,
        /// Past the last row.
        bottom: usize,
        /// First column.
        left: usize,
        /// Past the last column.
        right: usize,
        /// What the square holds.
        value: f32,
    },
}

/// Draws every step of `augmentation` for one image of `shape`, in order.
pub fn draw(augmentation: &Augmentation, shape: [usize; 3], rng: &mut Rng) -> Drawn {
    let [_, height, width] = shape;
    let mut forward = IDENTITY;
    let mut colors = Vec::new();
    for step in &augmentation.steps {
        match geometric(step, height, width, rng) {
            Some(map) => forward = compose(&map, &forward),
            None => colors.extend(color_draw(step, shape, augmentation.fill, rng)),
        }
    }
    Drawn { inverse: (forward != IDENTITY).then(|| invert(&forward)), colors }
}

/// The draws of a batch's images (`rows` names each image's row, which
/// fixes its draws), to be applied on a device.
pub fn draw_batch(
    rows: &[usize],
    shape: [usize; 3],
    augmentation: &Augmentation,
    seed: u64,
    epoch: usize,
) -> Vec<Drawn> {
    let draw_rows = |rows: &[usize]| -> Vec<Drawn> {
        rows.iter().map(|&row| draw(augmentation, shape, &mut sample_rng(seed, epoch, row))).collect()
    };
    // Noise draws a value per pixel: shared among the cores as the host
    // path shares its images (each image's draws depend only on its row).
    let noisy = augmentation.steps.iter().any(|s| matches!(s, AugmentStep::Noise(_)));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = if noisy { cores.min(rows.len() / 4).max(1) } else { 1 };
    if threads == 1 {
        return draw_rows(rows);
    }
    let per_thread = rows.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let parts: Vec<_> = rows.chunks(per_thread).map(|part| scope.spawn(move || draw_rows(part))).collect();
        parts.into_iter().flat_map(|p| p.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    })
}

/// Augments one image in place.
pub fn augment_image(image: &mut [f32], shape: [usize; 3], augmentation: &Augmentation, rng: &mut Rng) {
    apply(image, shape, augmentation.fill, &draw(augmentation, shape, rng));
}

/// Applies an image's drawn augmentation in place: one resample, the
/// photometric steps, then values clamped to [0, 1].
pub fn apply(image: &mut [f32], shape: [usize; 3], fill: ImageFill, drawn: &Drawn) {
    if let Some(inverse) = &drawn.inverse {
        let warped = warp(image, shape, inverse, fill);
        image.copy_from_slice(&warped);
    }
    for color in &drawn.colors {
        apply_color(color, image, shape);
    }
    for v in image.iter_mut() {
        *v = v.clamp(0.0, 1.0);
    }
}

/// A uniform draw from `[low, high)`.
fn uniform(rng: &mut Rng, low: f64, high: f64) -> f64 {
    low + (high - low) * ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
}

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut Rng) -> f64 {
    let u1 = uniform(rng, 0.0, 1.0).max(f64::MIN_POSITIVE);
    let u2 = uniform(rng, 0.0, 1.0);
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// The drawn map of a geometric step (`None` for photometric ones).
fn geometric(step: &AugmentStep, height: usize, width: usize, rng: &mut Rng) -> Option<Affine> {
    let map = match *step {
        AugmentStep::Flip { horizontal, vertical, p } => {
            let h = horizontal && uniform(rng, 0.0, 1.0) < p;
            let v = vertical && uniform(rng, 0.0, 1.0) < p;
            flip(h, v, height, width)
        }
        AugmentStep::Rotate(degrees) => rotation(uniform(rng, -degrees, degrees), height, width),
        AugmentStep::Shift(x, y) => {
            let dx = uniform(rng, -x, x) * width as f64;
            let dy = uniform(rng, -y, y) * height as f64;
            [[1.0, 0.0, dx], [0.0, 1.0, dy]]
        }
        AugmentStep::Shear(s) => about_centre([[1.0, uniform(rng, -s, s)], [0.0, 1.0]], height, width),
        AugmentStep::Zoom(low, high) => {
            let z = uniform(rng, low, high);
            about_centre([[z, 0.0], [0.0, z]], height, width)
        }
        _ => return None,
    };
    Some(map)
}

/// A linear map applied about the image centre.
pub fn about_centre(linear: [[f64; 2]; 2], height: usize, width: usize) -> Affine {
    let (cx, cy) = ((width as f64 - 1.0) / 2.0, (height as f64 - 1.0) / 2.0);
    let [[a, b], [d, e]] = linear;
    [[a, b, cx - a * cx - b * cy], [d, e, cy - d * cx - e * cy]]
}

/// Mirror left-right and/or top-bottom.
pub fn flip(horizontal: bool, vertical: bool, height: usize, width: usize) -> Affine {
    let sx = if horizontal { -1.0 } else { 1.0 };
    let sy = if vertical { -1.0 } else { 1.0 };
    about_centre([[sx, 0.0], [0.0, sy]], height, width)
}

/// A counter-clockwise rotation (as seen on screen) by `degrees`.
pub fn rotation(degrees: f64, height: usize, width: usize) -> Affine {
    let (s, c) = degrees.to_radians().sin_cos();
    // With y pointing down, counter-clockwise sends (1, 0) to (0, -1).
    about_centre([[c, s], [-s, c]], height, width)
}

/// `second` after `first`.
pub fn compose(second: &Affine, first: &Affine) -> Affine {
    let [[a, b, c], [d, e, f]] = *second;
    let [[p, q, r], [s, t, u]] = *first;
    [[a * p + b * s, a * q + b * t, a * r + b * u + c], [d * p + e * s, d * q + e * t, d * r + e * u + f]]
}

/// The inverse map (the maps built here are never singular).
pub fn invert(map: &Affine) -> Affine {
    let [[a, b, c], [d, e, f]] = *map;
    let det = a * e - b * d;
    let (ia, ib, id, ie) = (e / det, -b / det, -d / det, a / det);
    [[ia, ib, -(ia * c + ib * f)], [id, ie, -(id * c + ie * f)]]
}

/// The image resampled through `inverse` (output pixel -> source point),
/// bilinear, with `fill` where the source point is outside the image.
pub fn warp(image: &[f32], shape: [usize; 3], inverse: &Affine, fill: ImageFill) -> Vec<f32> {
    let [channels, height, width] = shape;
    let plane = height * width;
    let mut out = vec![0.0; image.len()];
    for y in 0..height {
        for x in 0..width {
            let (xf, yf) = (x as f64, y as f64);
            let sx = inverse[0][0] * xf + inverse[0][1] * yf + inverse[0][2];
            let sy = inverse[1][0] * xf + inverse[1][1] * yf + inverse[1][2];
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = ((sx - x0) as f32, (sy - y0) as f32);
            let (x0, y0) = (x0 as i64, y0 as i64);
            for c in 0..channels {
                let src = &image[c * plane..(c + 1) * plane];
                let at = |xi: i64, yi: i64| pixel(src, xi, yi, height, width, fill);
                // A source point far outside (a float cast saturates) must not overflow.
                let (x1, y1) = (x0.saturating_add(1), y0.saturating_add(1));
                let top = at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx;
                let bottom = at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx;
                out[c * plane + y * width + x] = top * (1.0 - fy) + bottom * fy;
            }
        }
    }
    out
}

/// A pixel of a plane, with `fill` outside it.
fn pixel(plane: &[f32], x: i64, y: i64, height: usize, width: usize, fill: ImageFill) -> f32 {
    let (h, w) = (height as i64, width as i64);
    let inside = (0..w).contains(&x) && (0..h).contains(&y);
    let (x, y) = match fill {
        _ if inside => (x, y),
        ImageFill::Constant(v) => return v as f32,
        ImageFill::Nearest => (x.clamp(0, w - 1), y.clamp(0, h - 1)),
        ImageFill::Reflect => (reflect(x, w), reflect(y, h)),
    };
    plane[y as usize * width + x as usize]
}

/// An index mirrored at the edges (`d c b a | a b c d | d c b a`).
fn reflect(i: i64, n: i64) -> i64 {
    let period = 2 * n;
    let m = i.rem_euclid(period);
    if m < n { m } else { period - 1 - m }
}

/// A photometric step's draws (`None` for a geometric step).
fn color_draw(step: &AugmentStep, shape: [usize; 3], fill: ImageFill, rng: &mut Rng) -> Option<Color> {
    let [channels, height, width] = shape;
    let color = match *step {
        AugmentStep::Brightness(b) => Color::Brightness(uniform(rng, -b, b) as f32),
        AugmentStep::Contrast(c) => Color::Contrast(uniform(rng, 1.0 - c, 1.0 + c) as f32),
        AugmentStep::Saturation(s) => Color::Saturation(uniform(rng, 1.0 - s, 1.0 + s) as f32),
        AugmentStep::Hue(h) => Color::Hue(uniform(rng, -h, h) as f32),
        AugmentStep::Noise(std) => {
            Color::Noise((0..channels * height * width).map(|_| (normal(rng) * std) as f32).collect())
        }
        AugmentStep::Cutout(size) => {
            let side = ((size * height.min(width) as f64).round() as usize).max(1);
            let cy = uniform(rng, 0.0, height as f64) as usize;
            let cx = uniform(rng, 0.0, width as f64) as usize;
            let value = if let ImageFill::Constant(v) = fill { v as f32 } else { 0.0 };
            let (top, left) = (cy.saturating_sub(side / 2), cx.saturating_sub(side / 2));
            let bottom = top.saturating_add(side).min(height);
            let right = left.saturating_add(side).min(width);
            Color::Cutout { top, bottom, left, right, value }
        }
        _ => return None,
    };
    Some(color)
}

/// A drawn photometric step, applied.
fn apply_color(color: &Color, image: &mut [f32], shape: [usize; 3]) {
    let [channels, height, width] = shape;
    let plane = height * width;
    match color {
        Color::Brightness(delta) => image.iter_mut().for_each(|v| *v += delta),
        Color::Contrast(factor) => {
            for channel in image.chunks_exact_mut(plane) {
                // Summed in f64: the device path's sum (a tree) then agrees
                // to far below 1e-5 even on large planes.
                let mean = (channel.iter().map(|v| f64::from(*v)).sum::<f64>() / plane as f64) as f32;
                channel.iter_mut().for_each(|v| *v = (*v - mean) * factor + mean);
            }
        }
        Color::Saturation(factor) if channels == 3 => {
            for i in 0..plane {
                let grey = 0.299 * image[i] + 0.587 * image[plane + i] + 0.114 * image[2 * plane + i];
                for c in 0..3 {
                    let v = &mut image[c * plane + i];
                    *v = grey + (*v - grey) * factor;
                }
            }
        }
        Color::Hue(turn) if channels == 3 => {
            for i in 0..plane {
                let rgb = [image[i], image[plane + i], image[2 * plane + i]];
                let [r, g, b] = shift_hue(rgb, *turn);
                (image[i], image[plane + i], image[2 * plane + i]) = (r, g, b);
            }
        }
        // Saturation and hue leave grey images as they are.
        Color::Saturation(_) | Color::Hue(_) => {}
        Color::Noise(noise) => image.iter_mut().zip(noise).for_each(|(v, n)| *v += n),
        Color::Cutout { top, bottom, left, right, value } => {
            for c in 0..channels {
                for y in *top..*bottom {
                    image[c * plane + y * width + left..c * plane + y * width + right].fill(*value);
                }
            }
        }
    }
}

/// An RGB colour with its hue turned by `turn` (a fraction of the circle),
/// through HSV.
pub fn shift_hue([r, g, b]: [f32; 3], turn: f32) -> [f32; 3] {
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let delta = max - min;
    if delta <= 0.0 {
        return [r, g, b];
    }
    let hue = if max == r {
        ((g - b) / delta).rem_euclid(6.0)
    } else if max == g {
        (b - r) / delta + 2.0
    } else {
        (r - g) / delta + 4.0
    } / 6.0;
    let hue = (hue + turn).rem_euclid(1.0) * 6.0;
    let (value, chroma) = (max, delta);
    let x = chroma * (1.0 - (hue.rem_euclid(2.0) - 1.0).abs());
    let (r1, g1, b1) = match hue as u32 {
        0 => (chroma, x, 0.0),
        1 => (x, chroma, 0.0),
        2 => (0.0, chroma, x),
        3 => (0.0, x, chroma),
        4 => (x, 0.0, chroma),
        _ => (chroma, 0.0, x),
    };
    let m = value - chroma;
    [r1 + m, g1 + m, b1 + m]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 3x3 pattern 1..9, row by row.
    fn pattern() -> Vec<f32> {
        (1..=9).map(|v| v as f32).collect()
    }

    fn warped(map: Affine, fill: ImageFill) -> Vec<f32> {
        warp(&pattern(), [1, 3, 3], &invert(&map), fill)
    }

    #[test]
    fn rotating_90_degrees_counter_clockwise_turns_the_pattern() {
        // numpy.rot90 of [[1,2,3],[4,5,6],[7,8,9]].
        let out = warped(rotation(90.0, 3, 3), ImageFill::Nearest);
        let want = [3.0, 6.0, 9.0, 2.0, 5.0, 8.0, 1.0, 4.0, 7.0];
        for (o, w) in out.iter().zip(want) {
            assert!((o - w).abs() < 1e-5, "{out:?}");
        }
    }

    #[test]
    fn flips_mirror_the_pattern() {
        assert_eq!(warped(flip(true, false, 3, 3), ImageFill::Nearest), [3., 2., 1., 6., 5., 4., 9., 8., 7.]);
        assert_eq!(warped(flip(false, true, 3, 3), ImageFill::Nearest), [7., 8., 9., 4., 5., 6., 1., 2., 3.]);
    }

    #[test]
    fn shifting_one_pixel_right_fills_the_uncovered_column() {
        let right = [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]];
        assert_eq!(warped(right, ImageFill::Constant(0.0)), [0., 1., 2., 0., 4., 5., 0., 7., 8.]);
        assert_eq!(warped(right, ImageFill::Nearest), [1., 1., 2., 4., 4., 5., 7., 7., 8.]);
        // Two pixels: column -1 mirrors column 0, column -2 mirrors column 1.
        let two = [[1.0, 0.0, 2.0], [0.0, 1.0, 0.0]];
        assert_eq!(warped(two, ImageFill::Reflect), [2., 1., 1., 5., 4., 4., 8., 7., 7.]);
    }

    #[test]
    fn zooming_in_twice_samples_between_pixels_around_the_centre() {
        // Output (0, 1) maps to source (0.5, 1): halfway between 4 and 5.
        let out = warped(about_centre([[2.0, 0.0], [0.0, 2.0]], 3, 3), ImageFill::Nearest);
        assert_eq!(out[3], 4.5);
        assert_eq!(out[4], 5.0);
    }

    #[test]
    fn maps_compose_and_invert() {
        let a = rotation(30.0, 5, 7);
        let b = [[1.0, 0.2, 3.0], [0.0, 1.0, -1.0]];
        let round_trip = compose(&invert(&compose(&a, &b)), &compose(&a, &b));
        for (row, want) in round_trip.iter().zip(IDENTITY) {
            for (v, w) in row.iter().zip(want) {
                assert!((v - w).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn hue_turns_primaries_into_each_other() {
        // A third of a turn sends red to green and green to blue.
        let close = |a: [f32; 3], b: [f32; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5);
        assert!(close(shift_hue([1.0, 0.0, 0.0], 1.0 / 3.0), [0.0, 1.0, 0.0]));
        assert!(close(shift_hue([0.0, 1.0, 0.0], 1.0 / 3.0), [0.0, 0.0, 1.0]));
        assert!(close(shift_hue([0.5, 0.5, 0.5], 0.25), [0.5, 0.5, 0.5]));
    }

    #[test]
    fn the_draws_depend_only_on_seed_epoch_and_row() {
        let augmentation = Augmentation {
            steps: vec![AugmentStep::Rotate(30.0), AugmentStep::Noise(0.1), AugmentStep::Cutout(0.3)],
            fill: ImageFill::Reflect,
        };
        let image: Vec<f32> = (0..48).map(|v| v as f32 / 48.0).collect();
        let run = |rows: &[usize], epoch| {
            let mut pixels: Vec<f32> = rows.iter().flat_map(|_| image.clone()).collect();
            augment_batch(&mut pixels, rows, [3, 4, 4], &augmentation, 7, epoch);
            pixels
        };
        let together = run(&[5, 9], 2);
        // Row 9 alone (another batch, another position) gets the same image.
        assert_eq!(run(&[9], 2), together[48..]);
        assert_ne!(run(&[9], 3), together[48..], "another epoch, other draws");
        assert!(together.iter().all(|v| (0.0..=1.0).contains(v)));
    }
}
