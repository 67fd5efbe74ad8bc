//! A batch's drawn augmentation ([`Drawn`]) applied as tensor operations
//! on the batch's device, so that on a GPU the host only decodes and draws.
//! Each operation is the host path's ([`crate::train::augment::apply`])
//! in the same order and types: coordinates in f64, the source pixels, the
//! bilinear weights and the photometric steps in f32. The same draws give
//! the same images (tests/augment_device.rs compares the two on
//! `torch.cpu`).

// Image sides and positions: bounded by the checker (check/limits.rs).
#![expect(clippy::arithmetic_side_effects, reason = "image sides and positions the checker bounds")]

use burn::tensor::{Bool, DType, Device, FloatDType, Int, Tensor, TensorData};

use crate::ir::{self, DeviceKind, ImageFill};
use crate::train::augment::{Affine, Color, Drawn, IDENTITY};

/// Whether a run on `devices` augments its batches on them: on CUDA GPUs
/// through libtorch, so that the host only decodes and draws. On a CPU
/// device the host's path is faster (bench/README.md, "augment"): its
/// threads build the next batch while the step before trains, where the
/// device path would add its work to the step.
pub fn on_device(devices: &[ir::Device]) -> bool {
    !devices.is_empty() && devices.iter().all(|d| d.kind == DeviceKind::TorchCuda)
}

/// `images` (`[batch, channels, height, width]`, one per entry of `drawn`)
/// augmented as drawn: one resample, the photometric steps, values clamped
/// to [0, 1]. Every image of a batch has the same steps (one augmentation
/// drew them), with draws of its own.
pub fn augment_batch(images: Tensor<4>, drawn: &[Drawn], fill: ImageFill) -> Tensor<4> {
    let mut images = images;
    if drawn.iter().any(|d| d.inverse.is_some()) {
        // An image that does not move is resampled at its own pixels,
        // which gives it back exactly.
        let inverses: Vec<Affine> = drawn.iter().map(|d| d.inverse.unwrap_or(IDENTITY)).collect();
        images = warp(images, &inverses, fill);
    }
    let steps = drawn.first().map_or(0, |d| d.colors.len());
    for step in 0..steps {
        let colors: Vec<&Color> = drawn.iter().map(|d| &d.colors[step]).collect();
        images = color(images, &colors);
    }
    images.clamp(0.0, 1.0)
}

/// A per-image column of f64 values, `[batch, 1]`.
fn column(values: Vec<f64>, device: &Device) -> Tensor<2> {
    let rows = values.len();
    Tensor::from_data(TensorData::new(values, [rows, 1]), (device, DType::F64))
}

/// A per-image f32 value shaped to broadcast over an image batch.
fn per_image(values: Vec<f32>, device: &Device) -> Tensor<4> {
    let rows = values.len();
    Tensor::from_data(TensorData::new(values, [rows, 1, 1, 1]), device)
}

/// Every image resampled through its map (output pixel -> source point),
/// bilinear, with `fill` outside the image: [`crate::train::augment::warp`]
/// for a batch.
fn warp(images: Tensor<4>, inverses: &[Affine], fill: ImageFill) -> Tensor<4> {
    let [batch, channels, height, width] = images.dims();
    let device = images.device();
    let plane = height * width;
    let coefficient = |row: usize, k: usize| column(inverses.iter().map(|m| m[row][k]).collect(), &device);
    let grid = |of: fn(usize, usize) -> f64| {
        let values: Vec<f64> = (0..plane).map(|i| of(i, width)).collect();
        Tensor::<2>::from_data(TensorData::new(values, [1, plane]), (&device, DType::F64))
    };
    let (xs, ys) = (grid(|i, w| (i % w) as f64), grid(|i, w| (i / w) as f64));
    // As the host: a x + b y + c, each step rounded in f64.
    let sx = coefficient(0, 0) * xs.clone() + coefficient(0, 1) * ys.clone() + coefficient(0, 2);
    let sy = coefficient(1, 0) * xs + coefficient(1, 1) * ys + coefficient(1, 2);
    let (x0, y0) = (sx.clone().floor(), sy.clone().floor());
    let weight = |d: Tensor<2>| d.cast(FloatDType::F32).reshape([batch, 1, plane]);
    let (fx, fy) = (weight(sx - x0.clone()), weight(sy - y0.clone()));
    let (x1, y1) = (x0.clone().add_scalar(1.0), y0.clone().add_scalar(1.0));
    let flat = images.reshape([batch, channels, plane]);
    let at = |x: &Tensor<2>, y: &Tensor<2>| pixels(&flat, x.clone(), y.clone(), [height, width], fill);
    let (p00, p10, p01, p11) = (at(&x0, &y0), at(&x1, &y0), at(&x0, &y1), at(&x1, &y1));
    let one_minus = |f: &Tensor<3>| f.clone().neg().add_scalar(1.0);
    let top = p00 * one_minus(&fx) + p10 * fx.clone();
    let bottom = p01 * one_minus(&fx) + p11 * fx;
    let out = top * one_minus(&fy) + bottom * fy;
    out.reshape([batch, channels, height, width])
}

/// The pixels at `(x, y)` (`[batch, positions]`, whole numbers in f64) of
/// each image of `flat` (`[batch, channels, positions]`), with `fill`
/// outside the image.
fn pixels(flat: &Tensor<3>, x: Tensor<2>, y: Tensor<2>, [height, width]: [usize; 2], fill: ImageFill) -> Tensor<3> {
    let [batch, channels, plane] = flat.dims();
    let (h, w) = (height as f64, width as f64);
    let (x, y, outside) = match fill {
        ImageFill::Constant(_) => {
            let inside = |v: &Tensor<2>, n: f64| v.clone().greater_equal_elem(0.0).bool_and(v.clone().lower_elem(n));
            let outside = inside(&x, w).bool_and(inside(&y, h)).bool_not();
            (x, y, Some(outside))
        }
        ImageFill::Nearest => (x, y, None),
        ImageFill::Reflect => (reflect(x, w), reflect(y, h), None),
    };
    // Clamped so that every index is inside (constant fill masks the
    // points outside afterwards).
    let x = x.clamp(0.0, w - 1.0);
    let y = y.clamp(0.0, h - 1.0);
    let index: Tensor<2, Int> = (y.mul_scalar(w) + x).int();
    let index = index.reshape([batch, 1, plane]).expand([batch, channels, plane]);
    let values = flat.clone().gather(2, index);
    match (fill, outside) {
        (ImageFill::Constant(v), Some(outside)) => {
            let outside: Tensor<3, Bool> = outside.reshape([batch, 1, plane]).expand([batch, channels, plane]);
            values.mask_fill(outside, v as f32)
        }
        _ => values,
    }
}

/// Whole numbers mirrored at the edges of `0..n` (`d c b a | a b c d | d c
/// b a`), as the host's `reflect`: exact in f64 for the coordinates an
/// image has.
fn reflect(i: Tensor<2>, n: f64) -> Tensor<2> {
    let period = 2.0 * n;
    let m = i.clone() - i.div_scalar(period).floor().mul_scalar(period);
    let mirrored = m.clone().neg().add_scalar(period - 1.0);
    let beyond = m.clone().greater_equal_elem(n);
    m.mask_where(beyond, mirrored)
}

/// One photometric step (the same kind for every image), each image with
/// its own draw.
fn color(images: Tensor<4>, colors: &[&Color]) -> Tensor<4> {
    let device = images.device();
    let [batch, channels, height, width] = images.dims();
    let drawn = |f: fn(&Color) -> f32| per_image(colors.iter().map(|c| f(c)).collect(), &device);
    match colors.first() {
        Some(Color::Brightness(_)) => images + drawn(|c| if let Color::Brightness(d) = c { *d } else { 0.0 }),
        Some(Color::Contrast(_)) => {
            let factor = drawn(|c| if let Color::Contrast(f) = c { *f } else { 1.0 });
            // The mean in f64, as the host takes it.
            let planes = images.clone().reshape([batch, channels, height * width]).cast(FloatDType::F64);
            let mean = planes.mean_dim(2).cast(FloatDType::F32).reshape([batch, channels, 1, 1]);
            (images - mean.clone()) * factor + mean
        }
        Some(Color::Saturation(_)) if channels == 3 => {
            let factor = drawn(|c| if let Color::Saturation(f) = c { *f } else { 1.0 });
            let [r, g, b] = rgb(&images);
            let grey = r.mul_scalar(0.299) + g.mul_scalar(0.587) + b.mul_scalar(0.114);
            grey.clone() + (images - grey) * factor
        }
        Some(Color::Hue(_)) if channels == 3 => {
            let turn = drawn(|c| if let Color::Hue(t) = c { *t } else { 0.0 });
            shift_hue(&images, turn)
        }
        Some(Color::Noise(_)) => {
            let noise: Vec<f32> =
                colors.iter().flat_map(|c| if let Color::Noise(n) = c { n.clone() } else { Vec::new() }).collect();
            images + Tensor::<4>::from_data(TensorData::new(noise, [batch, channels, height, width]), &device)
        }
        Some(Color::Cutout { .. }) => cutout(images, colors),
        // Saturation and hue leave grey images as they are.
        Some(Color::Saturation(_) | Color::Hue(_)) | None => images,
    }
}

/// The red, green and blue planes, `[batch, 1, height, width]` each.
fn rgb(images: &Tensor<4>) -> [Tensor<4>; 3] {
    [0, 1, 2].map(|c| images.clone().narrow(1, c, 1))
}

/// Each image's square set to its value.
fn cutout(images: Tensor<4>, colors: &[&Color]) -> Tensor<4> {
    let device = images.device();
    let [batch, channels, height, width] = images.dims();
    let of = |c: &Color| match *c {
        Color::Cutout { top, bottom, left, right, value } => {
            [top as f64, bottom as f64, left as f64, right as f64, f64::from(value)]
        }
        _ => [0.0; 5],
    };
    let bound = |k: usize| column(colors.iter().map(|c| of(c)[k]).collect(), &device);
    let (top, bottom, left, right) = (bound(0), bound(1), bound(2), bound(3));
    let positions = |n: usize| {
        let values: Vec<f64> = (0..n).map(|i| i as f64).collect();
        Tensor::<2>::from_data(TensorData::new(values, [1, n]), (&device, DType::F64))
    };
    let within = |p: Tensor<2>, low: Tensor<2>, high: Tensor<2>| p.clone().greater_equal(low).bool_and(p.lower(high));
    let rows = within(positions(height), top, bottom).reshape([batch, 1, height, 1]);
    let cols = within(positions(width), left, right).reshape([batch, 1, 1, width]);
    let square: Tensor<4, Bool> =
        rows.expand([batch, channels, height, width]).bool_and(cols.expand([batch, channels, height, width]));
    let values = per_image(colors.iter().map(|c| of(c)[4] as f32).collect(), &device);
    images.clone().mask_where(square, values.expand([batch, channels, height, width]))
}

/// Each pixel's hue turned by its image's `turn`, through HSV: the host's
/// `shift_hue` for a batch (a grey pixel stays as it is).
fn shift_hue(images: &Tensor<4>, turn: Tensor<4>) -> Tensor<4> {
    let [r, g, b] = rgb(images);
    let max = r.clone().max_pair(g.clone()).max_pair(b.clone());
    let min = r.clone().min_pair(g.clone()).min_pair(b.clone());
    let delta = max.clone() - min;
    // Which branch the host takes: red is the largest, else green, else blue.
    let red = max.clone().equal(r.clone());
    let green = red.clone().bool_not().bool_and(max.clone().equal(g.clone()));
    let from_red = rem_euclid_small((g.clone() - b.clone()) / delta.clone(), 6.0);
    let from_green = ((b.clone() - r.clone()) / delta.clone()).add_scalar(2.0);
    let from_blue = ((r.clone() - g.clone()) / delta.clone()).add_scalar(4.0);
    let hue = from_blue.mask_where(green, from_green).mask_where(red, from_red).div_scalar(6.0);
    let hue = rem_euclid_small(hue + turn, 1.0).mul_scalar(6.0);
    let (value, chroma) = (max, delta.clone());
    // hue.rem_euclid(2.0): hue is in [0, 6), so taking whole pairs off is exact.
    let pairs = hue.clone().div_scalar(2.0).floor().mul_scalar(2.0);
    let x = chroma.clone() * (hue.clone() - pairs).sub_scalar(1.0).abs().neg().add_scalar(1.0);
    let sector = hue.floor();
    let zero = chroma.zeros_like();
    // (r1, g1, b1) for sectors 0..5, the host's match (5 and above: the last).
    let table =
        [[&chroma, &x, &zero], [&x, &chroma, &zero], [&zero, &chroma, &x], [&zero, &x, &chroma], [&x, &zero, &chroma]];
    let mut parts = [chroma.clone(), zero.clone(), x.clone()];
    for (s, row) in table.iter().enumerate().rev() {
        let here = sector.clone().equal_elem(s as f64);
        for (part, pick) in parts.iter_mut().zip(row) {
            *part = part.clone().mask_where(here.clone(), (*pick).clone());
        }
    }
    let m = value - chroma;
    let [r1, g1, b1] = parts.map(|p| p + m.clone());
    let grey = delta.lower_equal_elem(0.0);
    let turned = [r1.mask_where(grey.clone(), r), g1.mask_where(grey.clone(), g), b1.mask_where(grey, b)];
    Tensor::cat(turned.to_vec(), 1)
}

/// `v.rem_euclid(n)` for `v` within (-n, 2n), exactly as f32's: `v % n`
/// is `v`, or `v - n` from n on (both exact), then `n` added below zero.
fn rem_euclid_small(v: Tensor<4>, n: f32) -> Tensor<4> {
    let wrapped = v.clone().sub_scalar(n);
    let rem = v.clone().mask_where(v.clone().greater_equal_elem(n), wrapped);
    let below = rem.clone().lower_elem(0.0);
    rem.clone().mask_where(below, rem.add_scalar(n))
}
