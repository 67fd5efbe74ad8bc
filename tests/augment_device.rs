//! The augmentation applied as tensor operations on a device
//! (`pipe::train::augment_device`) gives the host path's images for the
//! same draws: every step, every fill, grey and colour, on flex and (with
//! the `tch` feature) on libtorch's CPU device.

use burn::tensor::{Device, Tensor, TensorData};
use pipe::ir::{AugmentStep, Augmentation, ImageFill};
use pipe::random::Rng;
use pipe::train::augment::{Drawn, apply, draw_batch};
use pipe::train::augment_device::augment_batch;

/// Every step the language has, with ranges wide enough that each draw
/// moves or changes the image.
fn every_step(fill: ImageFill) -> Augmentation {
    Augmentation {
        steps: vec![
            AugmentStep::Flip { horizontal: true, vertical: true, p: 0.5 },
            AugmentStep::Rotate(40.0),
            AugmentStep::Shift(0.2, 0.1),
            AugmentStep::Shear(0.3),
            AugmentStep::Zoom(0.7, 1.4),
            AugmentStep::Brightness(0.2),
            AugmentStep::Contrast(0.5),
            AugmentStep::Saturation(0.6),
            AugmentStep::Hue(0.5),
            AugmentStep::Noise(0.05),
            AugmentStep::Cutout(0.3),
        ],
        fill,
    }
}

/// `count` images of `shape` with values in [0, 1].
fn images(count: usize, shape: [usize; 3]) -> Vec<f32> {
    let mut rng = Rng::new(11);
    let size: usize = shape.iter().product();
    (0..count * size).map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32).collect()
}

/// The largest difference between the host's images and the device's.
fn largest_difference(device: &Device, augmentation: &Augmentation, shape: [usize; 3], epoch: usize) -> f32 {
    // A few of the large images, more of the small.
    let count = if shape[1] * shape[2] > 10_000 { 3 } else { 24 };
    let rows: Vec<usize> = (0..count).map(|r| r * 7 + 3).collect();
    let pixels = images(rows.len(), shape);
    let drawn: Vec<Drawn> = draw_batch(&rows, shape, augmentation, 42, epoch);
    assert!(drawn.iter().any(|d| d.inverse.is_some()), "the draws move some image");
    let size: usize = shape.iter().product();
    let mut host = pixels.clone();
    for (image, d) in host.chunks_exact_mut(size).zip(&drawn) {
        apply(image, shape, augmentation.fill, d);
    }
    let [c, h, w] = shape;
    let tensor = Tensor::<4>::from_data(TensorData::new(pixels, [rows.len(), c, h, w]), device);
    let on_device: Vec<f32> = augment_batch(tensor, &drawn, augmentation.fill).try_into_vec_as::<f32>().unwrap();
    assert_eq!(on_device.len(), host.len());
    host.iter().zip(&on_device).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
}

fn same_images_on(device: Device) {
    for fill in [ImageFill::Constant(0.25), ImageFill::Nearest, ImageFill::Reflect] {
        let augmentation = every_step(fill);
        // Colour and grey, neither square nor a power of two, and a
        // photograph's size (the contrast's mean over 50,176 values).
        for shape in [[3, 13, 17], [1, 16, 16], [3, 32, 24], [3, 224, 224]] {
            for epoch in [1, 2] {
                let difference = largest_difference(&device, &augmentation, shape, epoch);
                assert!(difference <= 1e-5, "{fill:?} {shape:?} epoch {epoch}: {difference}");
            }
        }
    }
}

#[test]
fn the_device_path_gives_the_host_images_on_flex() {
    same_images_on(Device::flex());
    // Training makes its batches on a differentiating device.
    let augmentation = every_step(ImageFill::Reflect);
    assert!(largest_difference(&Device::flex().autodiff(), &augmentation, [3, 13, 17], 1) <= 1e-5);
}

#[cfg(feature = "tch")]
#[test]
#[allow(deprecated)] // Burn marks the libtorch constructors deprecated in 0.22.
fn the_device_path_gives_the_host_images_on_torch_cpu() {
    same_images_on(Device::libtorch());
}

#[test]
fn steps_that_change_nothing_leave_the_image() {
    // A flip that never happens and no colour step: every image as it was.
    let augmentation = Augmentation {
        steps: vec![AugmentStep::Flip { horizontal: true, vertical: false, p: 0.0 }],
        fill: ImageFill::Nearest,
    };
    let shape = [3, 5, 7];
    let rows = [0usize, 1, 2];
    let pixels = images(rows.len(), shape);
    let drawn = draw_batch(&rows, shape, &augmentation, 1, 1);
    assert!(drawn.iter().all(|d| d.inverse.is_none() && d.colors.is_empty()));
    let tensor = Tensor::<4>::from_data(TensorData::new(pixels.clone(), [3, 3, 5, 7]), &Device::flex());
    let out: Vec<f32> = augment_batch(tensor, &drawn, augmentation.fill).try_into_vec_as::<f32>().unwrap();
    assert_eq!(out, pixels);
}
