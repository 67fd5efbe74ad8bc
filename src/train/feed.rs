//! The batches of an epoch, in the epoch's order, built ahead.
//!
//! Rows in memory are shuffled whole (the seed and the epoch fix the
//! order). Rows on disk are read a window at a time: the file's row groups
//! in a seeded order, cut into windows of at least `window_rows` rows;
//! each window's rows, with the few the window before left over, are
//! shuffled and cut into batches, and the rows short of a whole batch wait
//! for the next window (tf.data's shuffle buffer, with Parquet row groups
//! as the unit read). Either way every batch but the last is whole, so an
//! epoch has the same steps, and the order depends only on the seed, the
//! epoch and the row groups' sizes: a run repeats, and a resumed one
//! continues where it stopped.
//!
//! A background thread builds each batch (gathers its rows into one block,
//! augments its images, reads the next window) while the training thread
//! runs the step before, through a bounded queue of `prefetch:` batches
//! (PyTorch's `prefetch_factor`, tf.data's `prefetch`). Each image's
//! augmentation draws depend on the seed, the epoch and its row only, so a
//! run trains exactly as it does with `prefetch: 0`.

use std::ops::Range;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use crate::ir::Augmentation;
use crate::random::Rng;
use crate::train::data::{Dataset, Rows, ToAugment, Windows};

/// The bytes of features a window from disk holds at least (its rows are
/// held twice while it is read: as read, and as arrays).
pub const WINDOW_BYTES: usize = 64 << 20;

/// How a training batch's images are augmented: the steps, the run's seed
/// and the epoch.
#[derive(Clone, Copy)]
pub(super) struct Augment<'a> {
    /// The steps.
    pub(super) augmentation: &'a Augmentation,
    /// The run's seed.
    pub(super) seed: u64,
    /// The epoch (each draws anew).
    pub(super) epoch: usize,
    /// Whether the batch's device applies the draws (`augment_device`).
    pub(super) on_device: bool,
}

/// One batch, gathered: its rows (augmented when training images).
pub(super) struct Gathered {
    /// The step within the epoch (from 0).
    pub(super) step: usize,
    /// The batch's rows, in order.
    pub(super) batch: Dataset,
}

/// The rows `ids` of `data`, in their order, augmented when `augment` is
/// given and the rows are images; `draws` names each row for its
/// augmentation draws (its row in the whole data).
fn gather(data: &Dataset, rows: &[usize], draws: &[usize], augment: Option<Augment>) -> Dataset {
    let mut batch = data.select(rows);
    match (data.image, augment) {
        (Some(shape), Some(a)) if a.on_device => {
            let drawn = crate::train::augment::draw_batch(draws, shape, a.augmentation, a.seed, a.epoch);
            batch.to_augment = Some(ToAugment { drawn, fill: a.augmentation.fill });
        }
        (Some(shape), Some(a)) => {
            crate::train::augment::augment_batch(&mut batch.features, draws, shape, a.augmentation, a.seed, a.epoch);
        }
        _ => {}
    }
    batch
}

/// `rows` rows cut into batches of `batch`, as ranges of an epoch's order;
/// with `merge_single`, a last batch of one row joins the one before it
/// (batch norm has no statistics of one row).
pub(super) fn batch_ranges(rows: usize, batch: usize, merge_single: bool) -> Vec<Range<usize>> {
    let batch = batch.max(1);
    let mut out: Vec<Range<usize>> =
        (0..rows).step_by(batch).map(|start| start..start.saturating_add(batch).min(rows)).collect();
    if merge_single && out.len() > 1 && out.last().is_some_and(|b| b.len() == 1) {
        out.pop();
        if let Some(last) = out.last_mut() {
            last.end = rows;
        }
    }
    out
}

/// What an epoch trains on.
pub(super) struct Plan {
    /// The rows.
    pub(super) rows: Rows,
    /// Rows per batch.
    pub(super) batch: usize,
    /// Whether a last batch of one row joins the one before it.
    pub(super) merge_single: bool,
    /// The run's seed.
    pub(super) seed: u64,
    /// The epoch (1-based), which fixes its order.
    pub(super) epoch: usize,
    /// The augmentation's steps.
    pub(super) augment: Option<Augmentation>,
    /// Whether the training device augments (else the host does).
    pub(super) augment_on_device: bool,
    /// The least bytes of features a window from disk holds
    /// ([`WINDOW_BYTES`]; less in tests).
    pub(super) window_bytes: usize,
}

impl Plan {
    fn augment(&self) -> Option<Augment<'_>> {
        self.augment.as_ref().map(|augmentation| Augment {
            augmentation,
            seed: self.seed,
            epoch: self.epoch,
            on_device: self.augment_on_device,
        })
    }
}

/// A seed of its own for each (seed, epoch, part) of the shuffles.
fn mixed(seed: u64, epoch: usize, part: u64) -> Rng {
    let mut mix = Rng::new(seed ^ 0x5851_F42D_4C95_7F2D);
    let a = mix.next_u64() ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    Rng::new(a ^ part.wrapping_mul(0xBF58_476D_1CE4_E5B9))
}

/// The windows of an epoch: the groups (of `groups[g]` rows each) in a
/// seeded order, cut into windows of at least `least` rows; a tail shorter
/// than that joins the window before it.
pub(super) fn windows_of(groups: &[usize], least: usize, seed: u64, epoch: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..groups.len()).collect();
    mixed(seed, epoch, u64::MAX).shuffle(&mut order);
    let mut remaining = groups.iter().fold(0usize, |a, b| a.saturating_add(*b));
    let (mut out, mut current, mut rows) = (Vec::new(), Vec::new(), 0usize);
    for g in order {
        current.push(g);
        rows = rows.saturating_add(groups[g]);
        remaining = remaining.saturating_sub(groups[g]);
        if rows >= least && remaining >= least {
            out.push(std::mem::take(&mut current));
            rows = 0;
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A batch's rows of the held data, and their rows in the whole data.
struct Picked {
    rows: Vec<usize>,
    draws: Vec<usize>,
}

/// The batches of an epoch, from a first step on, built when asked for.
pub(super) struct Batches {
    plan: Plan,
    /// The epoch is over (every batch given, or a read failed).
    done: bool,
    /// The next step.
    step: usize,
    /// The first step wanted (the ones before were done before a resume).
    first: usize,
    order: Order,
}

/// Where the epoch's order stands.
enum Order {
    /// Rows in memory: their order, cut into batches.
    Memory { order: Vec<usize>, batches: Vec<Range<usize>> },
    /// Rows on disk.
    Disk(Box<DiskOrder>),
}

/// The epoch's windows, and the one being cut into batches.
struct DiskOrder {
    windows: std::sync::Arc<dyn Windows>,
    /// Each group's first row in the file.
    starts: Vec<usize>,
    /// The groups of each window, in the epoch's order.
    plan: Vec<Vec<usize>>,
    next_window: usize,
    /// The rows read and left over, with their rows in the file.
    held: Dataset,
    ids: Vec<usize>,
    /// The held rows in their shuffled order, cut into batches: those not
    /// taken yet, and where they end (the rows after wait for the next
    /// window).
    order: Vec<usize>,
    batches: std::collections::VecDeque<Range<usize>>,
    whole: usize,
    /// The next window (its index in `plan`), being read on a thread of
    /// its own; `None` when windows are read when needed (`prefetch: 0`).
    ahead: Option<(usize, JoinHandle<Result<Dataset, String>>)>,
    /// Whether windows are read ahead.
    read_ahead: bool,
}

impl Batches {
    /// The batches of `plan`'s epoch from step `first` on; with
    /// `read_ahead`, windows from disk are read one ahead.
    pub(super) fn new(plan: Plan, first: usize, read_ahead: bool) -> Result<Batches, String> {
        let order = match &plan.rows {
            Rows::Memory(data) => {
                // Each epoch's order depends only on the seed and the epoch
                // (not on the epochs before), so a resumed run shuffles as
                // the original did.
                let mut order: Vec<usize> = (0..data.rows).collect();
                Rng::new(plan.seed.wrapping_add(plan.epoch as u64)).shuffle(&mut order);
                Order::Memory { order, batches: batch_ranges(data.rows, plan.batch, plan.merge_single) }
            }
            Rows::Disk(windows) => {
                let groups = windows.groups();
                let per_row = windows.width().saturating_mul(4).max(1);
                let least = plan.window_bytes.checked_div(per_row).unwrap_or(0).max(plan.batch.saturating_mul(2));
                let mut starts = Vec::with_capacity(groups.len());
                groups.iter().fold(0usize, |start, rows| {
                    starts.push(start);
                    start.saturating_add(*rows)
                });
                let held = windows.read(&[])?;
                let mut disk = DiskOrder {
                    windows: windows.clone(),
                    starts,
                    plan: windows_of(groups, least, plan.seed, plan.epoch),
                    next_window: 0,
                    held,
                    ids: Vec::new(),
                    order: Vec::new(),
                    batches: Default::default(),
                    whole: 0,
                    ahead: None,
                    read_ahead,
                };
                disk.start_reading(0);
                Order::Disk(Box::new(disk))
            }
        };
        Ok(Batches { plan, done: false, step: 0, first, order })
    }

    /// The next batch's rows of what is held (and their rows in the
    /// data, which name their augmentation draws), reading the next window
    /// when the held rows are used up.
    fn next_rows(&mut self) -> Option<Result<Picked, String>> {
        match &mut self.order {
            Order::Memory { order, batches } => {
                let rows = order.get(batches.get(self.step)?.clone())?.to_vec();
                Some(Ok(Picked { draws: rows.clone(), rows }))
            }
            Order::Disk(disk) => {
                while disk.batches.is_empty() {
                    if let Err(e) = disk.next_window(&self.plan)? {
                        return Some(Err(e));
                    }
                }
                let range = disk.batches.pop_front()?;
                let rows = disk.order[range].to_vec();
                let draws = rows.iter().map(|&r| disk.ids[r]).collect();
                Some(Ok(Picked { rows, draws }))
            }
        }
    }
}

impl DiskOrder {
    /// Reads the next window beside the rows left over, shuffles them and
    /// cuts them into batches (whole ones, but for the last window); `None`
    /// when the epoch is done.
    fn next_window(&mut self, plan: &Plan) -> Option<Result<(), String>> {
        let index = self.next_window;
        let groups = self.plan.get(index)?.clone();
        self.next_window = index.saturating_add(1);
        let last = self.next_window == self.plan.len();
        // The window's rows, then the ones the window before left over
        // (fewer than a batch: the window is not copied).
        let left: Vec<usize> = self.order.get(self.whole..).unwrap_or_default().to_vec();
        let read = self.window(index);
        self.start_reading(index.saturating_add(1));
        let mut held = match read {
            Ok(read) => read,
            Err(e) => return Some(Err(e)),
        };
        if !left.is_empty()
            && let Err(e) = held.append(self.held.select(&left))
        {
            return Some(Err(e));
        }
        let mut ids = Vec::with_capacity(held.rows);
        for &g in &groups {
            let start = self.starts[g];
            ids.extend(start..start.saturating_add(self.windows.groups()[g]));
        }
        ids.extend(left.iter().map(|&r| self.ids[r]));
        let mut order: Vec<usize> = (0..held.rows).collect();
        mixed(plan.seed, plan.epoch, index as u64).shuffle(&mut order);
        let short = held.rows.checked_rem(plan.batch).unwrap_or(0);
        let whole = if last { held.rows } else { held.rows.saturating_sub(short) };
        let batches = batch_ranges(whole, plan.batch, last && plan.merge_single);
        (self.held, self.ids, self.order, self.batches, self.whole) = (held, ids, order, batches.into(), whole);
        Some(Ok(()))
    }

    /// Window `index`'s rows: those read ahead, or read now.
    fn window(&mut self, index: usize) -> Result<Dataset, String> {
        match self.ahead.take() {
            Some((ahead, reading)) if ahead == index => match reading.join() {
                Ok(read) => read,
                // The reader's panic is the run's, as the builder's is.
                Err(panic) => std::panic::resume_unwind(panic),
            },
            other => {
                self.ahead = other;
                let groups = self.plan.get(index).map(Vec::as_slice).unwrap_or_default();
                self.windows.read(groups)
            }
        }
    }

    /// Starts reading window `index` on a thread of its own, when windows
    /// are read ahead and there is one.
    fn start_reading(&mut self, index: usize) {
        let Some(groups) = self.plan.get(index).filter(|_| self.read_ahead).cloned() else { return };
        let windows = std::sync::Arc::clone(&self.windows);
        self.ahead = Some((index, std::thread::spawn(move || windows.read(&groups))));
    }
}

impl Drop for DiskOrder {
    /// An epoch that ends early waits for the window being read, so that no
    /// thread outlives the training.
    fn drop(&mut self) {
        if let Some((_, reading)) = self.ahead.take() {
            let _ = reading.join();
        }
    }
}

impl Iterator for Batches {
    type Item = Result<Gathered, String>;

    fn next(&mut self) -> Option<Result<Gathered, String>> {
        loop {
            if self.done {
                return None;
            }
            let Picked { rows, draws } = match self.next_rows() {
                Some(Ok(found)) => found,
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                None => {
                    self.done = true;
                    return None;
                }
            };
            let step = self.step;
            self.step = step.saturating_add(1);
            // Steps done before a resume: their rows are passed over.
            if step < self.first {
                continue;
            }
            let data = match &self.order {
                Order::Memory { .. } => match &self.plan.rows {
                    Rows::Memory(data) => data.as_ref(),
                    Rows::Disk(_) => return None,
                },
                Order::Disk(disk) => &disk.held,
            };
            let batch = gather(data, &rows, &draws, self.plan.augment());
            return Some(Ok(Gathered { step, batch }));
        }
    }
}

/// The gathered batches of an epoch, in order.
pub(super) enum Feed {
    /// Built when asked for, on the training thread (`prefetch: 0`).
    InPlace(Box<Batches>),
    /// Built ahead on a thread of their own.
    Ahead {
        /// The batches built, in order (`None` once the epoch is done).
        receiver: Option<Receiver<Result<Gathered, String>>>,
        /// The thread building them.
        builder: Option<JoinHandle<()>>,
    },
}

impl Feed {
    /// The batches of `plan` from step `first` on, `ahead` of them built
    /// in advance (none: each built when asked for).
    pub(super) fn start(plan: Plan, first: usize, ahead: usize) -> Result<Feed, String> {
        let batches = Batches::new(plan, first, ahead > 0)?;
        if ahead == 0 {
            return Ok(Feed::InPlace(Box::new(batches)));
        }
        let (sender, receiver) = sync_channel(ahead);
        let builder = std::thread::spawn(move || {
            for batch in batches {
                // The receiver is gone: the epoch ended early.
                if sender.send(batch).is_err() {
                    break;
                }
            }
        });
        Ok(Feed::Ahead { receiver: Some(receiver), builder: Some(builder) })
    }
}

impl Iterator for Feed {
    type Item = Result<Gathered, String>;

    fn next(&mut self) -> Option<Result<Gathered, String>> {
        match self {
            Feed::InPlace(batches) => batches.next(),
            Feed::Ahead { receiver, builder } => {
                if let Ok(gathered) = receiver.as_ref()?.recv() {
                    return Some(gathered);
                }
                // The builder is done: it sent every batch, or it panicked,
                // and then its panic is the run's (a batch skipped silently
                // would train on less data).
                *receiver = None;
                if let Some(Err(panic)) = builder.take().map(JoinHandle::join) {
                    std::panic::resume_unwind(panic);
                }
                None
            }
        }
    }
}

impl Drop for Feed {
    /// An epoch ended early (an error, Ctrl-C): the builder stops at its
    /// next batch, and is waited for, so no thread outlives the training.
    fn drop(&mut self) {
        if let Feed::Ahead { receiver, builder } = self {
            receiver.take();
            if let Some(builder) = builder.take() {
                // Its panic, if any, is beside the error that ended the epoch.
                let _ = builder.join();
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::single_range_in_vec_init)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::train::data::Target;

    /// `rows` rows whose one feature is the row's number, target its double.
    fn numbered(rows: usize) -> Dataset {
        let features: Vec<f32> = (0..rows).map(|r| r as f32).collect();
        let target = Target::Numbers(features.iter().map(|v| v * 2.0).collect());
        Dataset { features, rows, width: 1, target, image: None, weights: None, to_augment: None }
    }

    /// Row groups of these sizes, read from memory.
    struct Groups {
        data: Dataset,
        groups: Vec<usize>,
    }

    impl Windows for Groups {
        fn groups(&self) -> &[usize] {
            &self.groups
        }

        fn width(&self) -> usize {
            1
        }

        fn read(&self, groups: &[usize]) -> Result<Dataset, String> {
            let mut rows = Vec::new();
            for &g in groups {
                let start: usize = self.groups[..g].iter().sum();
                rows.extend(start..start + self.groups[g]);
            }
            Ok(self.data.select(&rows))
        }
    }

    fn on_disk(groups: &[usize]) -> Rows {
        let total = groups.iter().sum();
        Rows::Disk(Arc::new(Groups { data: numbered(total), groups: groups.to_vec() }))
    }

    fn plan(rows: &Rows, batch: usize, merge_single: bool, epoch: usize) -> Plan {
        // Windows of 150 rows at least: several in an epoch.
        Plan {
            rows: rows.clone(),
            batch,
            merge_single,
            seed: 7,
            epoch,
            augment: None,
            augment_on_device: false,
            window_bytes: 600,
        }
    }

    /// A batch augmented on its device holds the host's images: the
    /// feed leaves the draws with the batch, and the batch's tensors apply
    /// them.
    #[test]
    fn batches_augmented_on_the_device_equal_the_hosts() {
        use crate::ir::{AugmentStep, Augmentation, ImageFill};
        let shape = [3usize, 6, 5];
        let rows = 10;
        let size = shape.iter().product::<usize>();
        let features: Vec<f32> = (0..rows * size).map(|i| (i % 17) as f32 / 16.0).collect();
        let target = Target::Classes((0..rows as i64).map(|r| r % 2).collect());
        let data = Dataset { features, rows, width: size, target, image: Some(shape), weights: None, to_augment: None };
        let augmentation = Augmentation {
            steps: vec![AugmentStep::Rotate(30.0), AugmentStep::Brightness(0.2), AugmentStep::Noise(0.1)],
            fill: ImageFill::Reflect,
        };
        // Training's device differentiates (the batch's tensors are made on it).
        let device = burn::tensor::Device::flex().autodiff();
        let images = |augment: Option<Augmentation>, on_device: bool| {
            let rows = Rows::Memory(Arc::new(data.clone()));
            let augmented = augment.is_some();
            let plan = Plan { augment, augment_on_device: on_device, ..plan(&rows, 4, false, 3) };
            let mut out = Vec::new();
            for gathered in Feed::start(plan, 0, 1).unwrap() {
                let batch = gathered.unwrap().batch;
                assert_eq!(batch.to_augment.is_some(), augmented && on_device, "the draws travel with the batch");
                let (x, _, _) = crate::train::step::batch_tensors(batch, &device);
                let crate::train::model::X::Image(t) = x else { panic!("images") };
                out.extend(t.try_into_vec_as::<f32>().unwrap());
            }
            out
        };
        let host = images(Some(augmentation.clone()), false);
        let on_device = images(Some(augmentation), true);
        let plain = images(None, true);
        assert_eq!(host.len(), rows * size);
        let largest = host.iter().zip(&on_device).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(largest <= 1e-5, "{largest}");
        // The same batches, in the same order, unaugmented, differ.
        assert_eq!(plain.len(), host.len());
        assert!(host.iter().zip(&plain).filter(|(a, b)| (*a - *b).abs() > 1e-3).count() > host.len() / 2);
    }

    /// Each batch's rows (their feature: the row's number), from `first` on.
    fn fed(rows: &Rows, batch: usize, merge_single: bool, epoch: usize, first: usize, ahead: usize) -> Vec<Vec<usize>> {
        let feed = Feed::start(plan(rows, batch, merge_single, epoch), first, ahead).unwrap();
        let mut steps = Vec::new();
        for (i, gathered) in feed.enumerate() {
            let gathered = gathered.unwrap();
            assert_eq!(gathered.step, first + i);
            let Target::Numbers(target) = &gathered.batch.target else { panic!("numbers") };
            for (v, t) in gathered.batch.features.iter().zip(target) {
                assert_eq!(*t, v * 2.0, "each row keeps its target");
            }
            steps.push(gathered.batch.features.iter().map(|v| *v as usize).collect());
        }
        steps
    }

    #[test]
    fn a_last_batch_of_one_row_joins_the_one_before_only_when_asked() {
        assert_eq!(batch_ranges(9, 4, false), [0..4, 4..8, 8..9]);
        assert_eq!(batch_ranges(9, 4, true), [0..4, 4..9]);
        assert_eq!(batch_ranges(1, 4, true), [0..1], "a single row stays a batch");
        assert_eq!(batch_ranges(8, 4, true), [0..4, 4..8]);
        assert!(batch_ranges(0, 4, true).is_empty());
    }

    #[test]
    fn windows_take_every_group_once_and_a_short_tail_joins_the_last() {
        let groups = [5, 3, 8, 1, 7, 2, 6, 4];
        let windows = windows_of(&groups, 10, 3, 1);
        let mut seen: Vec<usize> = windows.concat();
        seen.sort();
        assert_eq!(seen, (0..groups.len()).collect::<Vec<_>>());
        let sizes: Vec<usize> = windows.iter().map(|w| w.iter().map(|&g| groups[g]).sum()).collect();
        assert!(sizes.iter().all(|&s| s >= 10), "{sizes:?}");
        assert_eq!(windows_of(&groups, 10, 3, 1), windows, "the seed and the epoch fix the windows");
        assert_ne!(windows_of(&groups, 10, 3, 2).concat(), windows.concat(), "each epoch reads in another order");
        assert_eq!(windows_of(&groups, 100, 3, 1).len(), 1, "fewer rows than a window: one window");
    }

    #[test]
    fn an_epoch_from_disk_has_the_steps_of_one_from_memory_and_every_row_once() {
        // 1,000 rows in uneven groups; a window is 2 batches at least.
        let groups = [130, 70, 200, 33, 167, 100, 250, 50];
        let disk = on_disk(&groups);
        for (batch, merge) in [(100, false), (64, false), (111, true), (333, true), (999, true)] {
            let steps = fed(&disk, batch, merge, 1, 0, 0);
            assert_eq!(steps.len(), batch_ranges(1000, batch, merge).len(), "batch {batch}");
            let sizes: Vec<usize> = steps.iter().map(Vec::len).collect();
            let expected: Vec<usize> = batch_ranges(1000, batch, merge).iter().map(|r| r.len()).collect();
            assert_eq!(sizes, expected, "every batch whole but the last, batch {batch}");
            let mut rows: Vec<usize> = steps.concat();
            rows.sort();
            assert_eq!(rows, (0..1000).collect::<Vec<_>>(), "batch {batch}");
        }
        // A batch mixes rows of several groups, not one group's run.
        let first = &fed(&disk, 100, false, 1, 0, 0)[0];
        assert!(first.windows(2).any(|p| p[0].abs_diff(p[1]) > 1));
        // Windows hold 150 rows at least: the first batches of 64 come
        // from the groups of the first window only.
        let windows = windows_of(&[130, 70, 200, 33, 167, 100, 250, 50], 150, 7, 1);
        assert!(windows.len() > 2, "{windows:?}");
    }

    #[test]
    fn batches_from_disk_repeat_resume_and_do_not_depend_on_prefetching() {
        let disk = on_disk(&[130, 70, 200, 33, 167, 100, 250, 50]);
        let whole = fed(&disk, 64, true, 3, 0, 0);
        assert_eq!(fed(&disk, 64, true, 3, 0, 0), whole, "the same seed, the same batches");
        assert_ne!(fed(&disk, 64, true, 4, 0, 0), whole, "another epoch, another order");
        for ahead in [1, 2, 5] {
            assert_eq!(fed(&disk, 64, true, 3, 0, ahead), whole, "{ahead} ahead");
        }
        for first in [1, 7, whole.len() - 1] {
            assert_eq!(fed(&disk, 64, true, 3, first, 2), whole[first..], "resumed at step {first}");
        }
    }

    #[test]
    fn batches_in_memory_are_the_seeded_shuffle_whether_built_ahead_or_not() {
        let memory = Rows::Memory(Arc::new(numbered(10)));
        let mut order: Vec<usize> = (0..10).collect();
        Rng::new(7 + 2).shuffle(&mut order);
        let expected: Vec<Vec<usize>> = order.chunks(3).map(<[usize]>::to_vec).collect();
        for ahead in [0, 1, 2, 8] {
            assert_eq!(fed(&memory, 3, false, 2, 0, ahead), expected, "{ahead} ahead");
            assert_eq!(fed(&memory, 3, false, 2, 2, ahead), expected[2..], "{ahead} ahead, resumed at step 2");
        }
    }

    #[test]
    fn a_feed_left_early_stops_its_builder() {
        let memory = Rows::Memory(Arc::new(numbered(1000)));
        for ahead in [0, 1, 3] {
            let feed = Feed::start(plan(&memory, 10, false, 1), 0, ahead).unwrap();
            assert_eq!(feed.take(2).count(), 2, "{ahead} ahead");
        }
    }

    /// A read that fails mid-epoch.
    struct Failing;

    impl Windows for Failing {
        fn groups(&self) -> &[usize] {
            &[40, 40, 40]
        }

        fn width(&self) -> usize {
            1
        }

        fn read(&self, groups: &[usize]) -> Result<Dataset, String> {
            match groups {
                [] => Ok(numbered(0)),
                _ => Err("the disk is gone".into()),
            }
        }
    }

    #[test]
    fn a_window_that_cannot_be_read_is_an_error_not_a_short_epoch() {
        let rows = Rows::Disk(Arc::new(Failing));
        for ahead in [0, 2] {
            let mut feed = Feed::start(plan(&rows, 10, false, 1), 0, ahead).unwrap();
            assert_eq!(feed.next().map(|g| g.err()), Some(Some("the disk is gone".to_string())));
        }
    }

    /// Groups read from memory, noting when each read starts.
    struct Noting {
        inner: Groups,
        started: std::sync::Mutex<Vec<std::thread::ThreadId>>,
    }

    impl Windows for Noting {
        fn groups(&self) -> &[usize] {
            self.inner.groups()
        }

        fn width(&self) -> usize {
            1
        }

        fn read(&self, groups: &[usize]) -> Result<Dataset, String> {
            if !groups.is_empty() {
                self.started.lock().unwrap().push(std::thread::current().id());
            }
            self.inner.read(groups)
        }
    }

    #[test]
    fn the_next_window_is_read_while_the_batches_of_one_are_built() {
        let groups = vec![130, 70, 200, 33, 167, 100, 250, 50];
        let windows = windows_of(&groups, 150, 7, 1).len();
        let noting = Arc::new(Noting { inner: Groups { data: numbered(1000), groups }, started: Default::default() });
        let rows = Rows::Disk(noting.clone());
        // Each window is read on a thread of its own, started as the
        // window before it is taken (the builder alone would read them all
        // on its one thread).
        let feed = Feed::start(plan(&rows, 64, false, 1), 0, 2).unwrap();
        assert_eq!(feed.count(), batch_ranges(1000, 64, false).len());
        let threads = noting.started.lock().unwrap().clone();
        assert_eq!(threads.len(), windows, "each window read once");
        let mut distinct = threads.clone();
        distinct.sort_by_key(|t| format!("{t:?}"));
        distinct.dedup();
        assert_eq!(distinct.len(), windows, "each on a thread of its own: {threads:?}");
        // Without prefetching, the training thread reads each window.
        let noting = Arc::new(Noting {
            inner: Groups { data: numbered(1000), groups: vec![130, 70, 200, 33, 167, 100, 250, 50] },
            started: Default::default(),
        });
        let rows = Rows::Disk(noting.clone());
        Feed::start(plan(&rows, 64, false, 1), 0, 0).unwrap().for_each(drop);
        let here = std::thread::current().id();
        assert!(noting.started.lock().unwrap().iter().all(|t| *t == here));
    }
}
