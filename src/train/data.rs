//! Training arrays: the features (every column but the target, in order,
//! as f32, row-major) and the target as class indices or numbers. Built
//! from frames by `run::dataset`; rows on disk are read window by window
//! through [`Windows`].

use std::sync::Arc;

/// One data set in memory.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Features, `rows x width`, row-major.
    pub features: Vec<f32>,
    /// Rows.
    pub rows: usize,
    /// Features per row.
    pub width: usize,
    /// What is predicted.
    pub target: Target,
    /// For image data, `[channels, height, width]` of each row's features.
    pub image: Option<[usize; 3]>,
    /// Each row's weight in the training loss (`weights:`), if given.
    pub weights: Option<Vec<f32>>,
    /// Each image's augmentation, drawn but not applied: the batch's device
    /// applies it once the batch is a tensor (`augment_device`).
    pub to_augment: Option<ToAugment>,
}

/// A batch's augmentation left to its device: each row's draws and the
/// fill at the edges.
#[derive(Clone, Debug)]
pub struct ToAugment {
    /// Each row's draws, in the batch's order.
    pub drawn: Vec<crate::train::augment::Drawn>,
    /// What a resampled image holds beyond its edges.
    pub fill: crate::ir::ImageFill,
}

/// The target column.
#[derive(Clone, Debug)]
pub enum Target {
    /// Class indices into the run's class names.
    Classes(Vec<i64>),
    /// Numbers (regression).
    Numbers(Vec<f32>),
}

impl Dataset {
    /// Appends `other`'s rows (the same columns and target kind; a target
    /// of the other kind is refused).
    pub fn append(&mut self, other: Dataset) -> Result<(), String> {
        match (&mut self.target, other.target) {
            (Target::Classes(a), Target::Classes(b)) => a.extend(b),
            (Target::Numbers(a), Target::Numbers(b)) => a.extend(b),
            _ => return Err("a window's target is of another kind than the rows before it".into()),
        }
        if other.width != self.width {
            return Err(format!("a window has {} features a row, and the rows before it {}", other.width, self.width));
        }
        match (&mut self.weights, other.weights) {
            (Some(a), Some(b)) => a.extend(b),
            (None, None) => {}
            _ => return Err("a window's rows are weighted differently than the rows before it".into()),
        }
        match (&mut self.to_augment, other.to_augment) {
            (Some(a), Some(b)) => a.drawn.extend(b.drawn),
            (None, None) => {}
            _ => return Err("a window's rows are augmented differently than the rows before it".into()),
        }
        self.features.extend(other.features);
        self.rows = self.rows.saturating_add(other.rows);
        Ok(())
    }
}

/// A training run's rows: held in memory, or in a Parquet file read a
/// window of row groups at a time (data larger than the memory budget).
#[derive(Clone)]
pub enum Rows {
    /// Every row, in memory.
    Memory(Arc<Dataset>),
    /// On disk.
    Disk(Arc<dyn Windows>),
}

impl Rows {
    /// How many rows there are.
    pub fn len(&self) -> usize {
        match self {
            Rows::Memory(data) => data.rows,
            Rows::Disk(windows) => windows.groups().iter().fold(0, |a, b| a.saturating_add(*b)),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows in their order, a block at a time (`block` rows from
    /// memory, a row group from disk): what evaluation reads.
    pub fn blocks(&self, block: usize) -> impl Iterator<Item = Result<Dataset, String>> + '_ {
        let count = match self {
            Rows::Memory(data) => data.rows.div_ceil(block.max(1)),
            Rows::Disk(windows) => windows.groups().len(),
        };
        (0..count).map(move |i| match self {
            Rows::Memory(data) => {
                let start = i.saturating_mul(block);
                let rows: Vec<usize> = (start..start.saturating_add(block).min(data.rows)).collect();
                Ok(data.select(&rows))
            }
            Rows::Disk(windows) => windows.read(&[i]),
        })
    }
}

impl Dataset {
    /// The rows `rows`, in that order, as a data set of their own.
    pub fn select(&self, rows: &[usize]) -> Dataset {
        let width = self.width;
        let mut features = Vec::with_capacity(rows.len().saturating_mul(width));
        for &r in rows {
            // Row `r` of the data set: its values are in memory, the bounds cannot overflow.
            let start = r.saturating_mul(width);
            features.extend_from_slice(&self.features[start..start.saturating_add(width)]);
        }
        let target = match &self.target {
            Target::Classes(c) => Target::Classes(rows.iter().map(|&r| c[r]).collect()),
            Target::Numbers(n) => Target::Numbers(rows.iter().map(|&r| n[r]).collect()),
        };
        let weights = self.weights.as_ref().map(|w| rows.iter().map(|&r| w[r]).collect());
        let to_augment = self
            .to_augment
            .as_ref()
            .map(|a| ToAugment { drawn: rows.iter().map(|&r| a.drawn[r].clone()).collect(), fill: a.fill });
        Dataset { features, rows: rows.len(), width, target, image: self.image, weights, to_augment }
    }
}

/// Rows stored in groups (a Parquet file's row groups) that training reads
/// a window of groups at a time.
pub trait Windows: Send + Sync {
    /// The rows of each group, in the file's order.
    fn groups(&self) -> &[usize];
    /// Values per row (features, with every pixel of an image).
    fn width(&self) -> usize;
    /// The rows of `groups`, one group after the other, as arrays.
    fn read(&self, groups: &[usize]) -> Result<Dataset, String>;
}
