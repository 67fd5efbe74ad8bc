//! `cargo bench --bench augment [-- ROUNDS]`: images per second of pipe's
//! CPU augmentation, batch 128 of 64x64x3 with every step on (flip,
//! rotate, shift, shear, zoom, brightness, contrast, saturation, hue,
//! noise, cutout; reflect fill). Prints one JSON line per round, for
//! `bench/augment_bench.py`, which runs torchvision beside it.
//!
//! With `-- --device`, each round also times the same batches augmented
//! as tensor operations (`pipe::train::augment_device`) on flex and, in a
//! build with `--features tch`, on libtorch's CPU device: the draws, the
//! batch's upload, the operations and reading the result back (the host
//! path's figure is the augmentation alone).

use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use pipe::ir::{AugmentStep, Augmentation, ImageFill};
use pipe::random::Rng;
use pipe::train::augment::{augment_batch, draw_batch};
use pipe::train::augment_device;

const BATCH: usize = 128;
const SHAPE: [usize; 3] = [3, 64, 64];
/// Batches per round.
const BATCHES: usize = 20;

fn main() {
    let rounds: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(5);
    let on_devices = std::env::args().any(|a| a == "--device");
    let augmentation = Augmentation {
        steps: vec![
            AugmentStep::Flip { horizontal: true, vertical: false, p: 0.5 },
            AugmentStep::Rotate(20.0),
            AugmentStep::Shift(0.1, 0.1),
            AugmentStep::Shear(10f64.to_radians().tan()),
            AugmentStep::Zoom(0.9, 1.1),
            AugmentStep::Brightness(0.2),
            AugmentStep::Contrast(0.2),
            AugmentStep::Saturation(0.2),
            AugmentStep::Hue(0.05),
            AugmentStep::Noise(0.05),
            AugmentStep::Cutout(0.25),
        ],
        fill: ImageFill::Reflect,
    };
    let size: usize = SHAPE.iter().product();
    let mut rng = Rng::new(1);
    let images: Vec<f32> = (0..BATCH * size).map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32).collect();
    let rows: Vec<usize> = (0..BATCH).collect();
    for round in 0..rounds {
        let start = Instant::now();
        for batch in 0..BATCHES {
            let mut pixels = images.clone();
            augment_batch(&mut pixels, &rows, SHAPE, &augmentation, 7, round * BATCHES + batch);
            std::hint::black_box(&pixels);
        }
        let seconds = start.elapsed().as_secs_f64();
        println!("{{\"round\": {round}, \"images_per_second\": {:.1}}}", (BATCHES * BATCH) as f64 / seconds);
        if !on_devices {
            continue;
        }
        for (name, device) in devices() {
            let start = Instant::now();
            for batch in 0..BATCHES {
                let drawn = draw_batch(&rows, SHAPE, &augmentation, 7, round * BATCHES + batch);
                let [c, h, w] = SHAPE;
                let tensor = Tensor::<4>::from_data(TensorData::new(images.clone(), [BATCH, c, h, w]), &device);
                let out = augment_device::augment_batch(tensor, &drawn, augmentation.fill);
                std::hint::black_box(out.try_into_vec_as::<f32>().ok());
            }
            let seconds = start.elapsed().as_secs_f64();
            let rate = (BATCHES * BATCH) as f64 / seconds;
            println!("{{\"round\": {round}, \"device\": \"{name}\", \"images_per_second\": {rate:.1}}}");
        }
    }
}

/// The devices the device path is timed on.
#[allow(deprecated)] // Burn marks the libtorch constructors deprecated in 0.22.
fn devices() -> Vec<(&'static str, Device)> {
    let flex = vec![("flex", Device::flex())];
    #[cfg(feature = "tch")]
    return [flex, vec![("torch.cpu", Device::libtorch())]].concat();
    #[cfg(not(feature = "tch"))]
    flex
}
