//! `cargo bench --bench augment [-- ROUNDS]`: images per second of pipe's
//! CPU augmentation, batch 128 of 64x64x3 with every step on (flip,
//! rotate, shift, shear, zoom, brightness, contrast, saturation, hue,
//! noise, cutout; reflect fill). Prints one JSON line per round, for
//! `bench/augment_bench.py`, which runs torchvision beside it.

use std::time::Instant;

use pipe::ir::{AugmentStep, Augmentation, ImageFill};
use pipe::random::Rng;
use pipe::train::augment::augment_batch;

const BATCH: usize = 128;
const SHAPE: [usize; 3] = [3, 64, 64];
/// Batches per round.
const BATCHES: usize = 20;

fn main() {
    let rounds: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(5);
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
    }
}
