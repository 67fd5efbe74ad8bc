//! Training arrays: the features (every column but the target, in order,
//! as f32, row-major) and the target as class indices or numbers. Built
//! from frames by `run::dataset`.

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
}

/// The target column.
#[derive(Clone, Debug)]
pub enum Target {
    /// Class indices into the run's class names.
    Classes(Vec<i64>),
    /// Numbers (regression).
    Numbers(Vec<f32>),
}
