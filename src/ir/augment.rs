//! `augment` items in the IR: the steps and what uncovered pixels show.

use serde::Serialize;

/// An `augment` item: random changes to training images, drawn per sample.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Augmentation {
    /// The steps in the order written.
    pub steps: Vec<AugmentStep>,
    /// What geometric steps show where they uncover the image.
    pub fill: ImageFill,
}

/// One augmentation step; ranges are symmetric around "no change".
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum AugmentStep {
    /// Mirror left-right and/or top-bottom, each with probability `p`.
    Flip {
        /// Left-right.
        horizontal: bool,
        /// Top-bottom.
        vertical: bool,
        /// Probability of each flip.
        p: f64,
    },
    /// Rotate by an angle drawn from `[-degrees, degrees]` (counter-clockwise).
    Rotate(f64),
    /// Move by fractions of the width and height drawn from `[-x, x]`, `[-y, y]`.
    Shift(f64, f64),
    /// Shear along x by a factor (tan of the angle) drawn from `[-s, s]`.
    Shear(f64),
    /// Scale by a factor drawn from `[low, high]` (above 1 zooms in).
    Zoom(f64, f64),
    /// Add a value drawn from `[-b, b]`.
    Brightness(f64),
    /// Scale each channel's distance from its mean by a factor from `[1 - c, 1 + c]`.
    Contrast(f64),
    /// Scale the distance from grey by a factor from `[1 - s, 1 + s]` (colour only).
    Saturation(f64),
    /// Turn the hue by a fraction of a turn drawn from `[-h, h]` (colour only).
    Hue(f64),
    /// Add Gaussian noise of this standard deviation to every value.
    Noise(f64),
    /// Blank a square whose side is this fraction of the shorter side, at a
    /// random centre.
    Cutout(f64),
}

/// What geometric augmentation shows outside the original image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub enum ImageFill {
    /// The nearest edge pixel.
    #[default]
    Nearest,
    /// A constant value.
    Constant(f64),
    /// The image mirrored at its edges.
    Reflect,
}
