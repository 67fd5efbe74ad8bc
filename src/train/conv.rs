//! 2-D convolutions on flex, forward and both gradients, each as one
//! im2col of an image and one `gemm` product per image.
//!
//! Why: Burn's convolution on flex took 2.2x PyTorch's time for the digits
//! CNN's 32 -> 64 layer (bench/README.md, `conv.rs`): its forward copies the
//! input to channels-last and builds im2col tiles around the product (twice
//! the product's own time), and its weight gradient is a convolution of the
//! swapped input and output gradient that packs the gradient again for every
//! input channel (3.2x PyTorch's). Here the forward is `W [F x K] . col [K x
//! P]` per image (the output comes out in NCHW order, nothing to permute),
//! the weight gradient `col . dY^T` summed over images (written into dW
//! through transposed strides), and the input gradient `W^T . dY`
//! scattered back (col2im); `gemm` reads the transposes through strides,
//! so nothing is copied to transpose.
//!
//! It is a Burn autodiff operation of its own (burn-autodiff's `Backward`,
//! through the flex primitives Burn exposes for extensions), so the rest of
//! the graph is unchanged. Other backends (libtorch, remote), half
//! precision, dilation and groups go to Burn's `conv2d`.

#![expect(clippy::arithmetic_side_effects, reason = "offsets inside tensors whose sizes Burn allocated and checked")]

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, NodeGuard, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex, TensorMetadata};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;
use burn::tensor::ops::ConvOptions;
use rayon::prelude::*;

use super::flex::{OnFlex, contiguous, on_flex, primitive, values};

/// Images whose weight gradients one task sums (a fixed number, so the sum's
/// order, and so its rounding, does not depend on the machine's cores).
const IMAGES_PER_TASK: usize = 8;

/// A `conv` layer applied to `x`: Burn's `Conv2d::forward`, with the same
/// padding rule, through [`conv2d`]. The weights may be half copies
/// (mixed precision), which flex's kernels leave to Burn's convolution.
pub fn layer(m: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let [_, _, height, width] = x.dims();
    // Burn's (and TensorFlow's) `same`: ceil(size / stride) outputs, the
    // odd padding at the end.
    let same = |size: usize, k: usize, s: usize| {
        let outputs = size.div_ceil(s);
        let total = if outputs > 0 { ((outputs - 1) * s + k).saturating_sub(size) } else { 0 };
        (total / 2, total - total / 2)
    };
    let (vertical, horizontal) = match m.padding {
        PaddingConfig2d::Valid => ((0, 0), (0, 0)),
        PaddingConfig2d::Same => {
            (same(height, m.kernel_size[0], m.stride[0]), same(width, m.kernel_size[1], m.stride[1]))
        }
        PaddingConfig2d::Explicit(top, left, bottom, right) => ((top, bottom), (left, right)),
    };
    let options = ConvOptions::new_with_padding(m.stride, [vertical, horizontal], m.dilation, m.groups);
    conv2d(x, m.weight.val(), m.bias.as_ref().map(|b| b.val()), options)
}

/// `conv2d(x, weight, bias, options)` as Burn computes it, through the
/// native kernels below where the tensors are f32 on flex and the options
/// have no dilation or groups; through libtorch's own convolution and its
/// backward where they are on libtorch in one float type (`conv_torch.rs`);
/// Burn's convolution elsewhere.
pub fn conv2d(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>, options: ConvOptions<2>) -> Tensor<4> {
    if let Some((xf, wf, bf)) = flex_parts(&x, &weight, bias.as_ref(), &options) {
        return native(xf, wf, bf, &options);
    }
    #[cfg(feature = "tch")]
    if consistent(&x.dims(), &weight.dims(), bias.as_ref(), &options)
        && let Some(y) = super::conv_torch::conv2d(&x, &weight, bias.as_ref(), &options)
    {
        return y;
    }
    burn::tensor::module::conv2d(x, weight, bias, options)
}

/// Whether [`conv2d`] computes these tensors with its own flex kernels
/// (else with Burn's convolution).
pub fn runs_natively(x: &Tensor<4>, weight: &Tensor<4>, bias: Option<&Tensor<1>>, options: &ConvOptions<2>) -> bool {
    flex_parts(x, weight, bias, options).is_some()
}

/// Whether [`conv2d`] computes these tensors with libtorch's convolution
/// and its backward (`conv_torch.rs`).
#[cfg(feature = "tch")]
pub fn runs_on_libtorch(x: &Tensor<4>, weight: &Tensor<4>, bias: Option<&Tensor<1>>, options: &ConvOptions<2>) -> bool {
    !runs_natively(x, weight, bias, options)
        && consistent(&x.dims(), &weight.dims(), bias, options)
        && super::conv_torch::takes(x, weight, bias)
}

/// The flex primitives of the convolution's operands, if the native kernels
/// take them: all f32 on flex, no dilation, one group.
fn flex_parts(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    bias: Option<&Tensor<1>>,
    options: &ConvOptions<2>,
) -> Option<(OnFlex, OnFlex, Option<OnFlex>)> {
    if options.dilation != [1, 1] || options.groups != 1 || !consistent(&x.dims(), &weight.dims(), bias, options) {
        return None;
    }
    let bias = match bias {
        Some(b) => Some(on_flex(b)?),
        None => None,
    };
    Some((on_flex(x)?, on_flex(weight)?, bias))
}

/// Whether the shapes make a convolution the kernels compute: a non-empty
/// batch, the weight's input channels those of `x`, a bias per filter, and
/// a kernel no larger than the padded input (else Burn's convolution
/// reports what is wrong).
fn consistent(x: &[usize; 4], w: &[usize; 4], bias: Option<&Tensor<1>>, options: &ConvOptions<2>) -> bool {
    let [(top, bottom), (left, right)] = options.padding;
    let fits = |size: usize, before: usize, after: usize, k: usize| {
        size.checked_add(before).and_then(|s| s.checked_add(after)).is_some_and(|padded| padded >= k)
    };
    x.iter().chain(w).all(|&d| d > 0)
        && x[1] == w[1]
        && bias.is_none_or(|b| b.dims() == [w[0]])
        && fits(x[2], top, bottom, w[2])
        && fits(x[3], left, right, w[3])
}

/// How `gemm` runs one task's product: split over the cores when the batch
/// has fewer tasks than the pool has threads (one served image, a small
/// batch), else on the task's own thread. `gemm` splits the output into
/// tiles and sums each entry over `k` in the same order either way, so the
/// result does not depend on it (tested).
fn inner(tasks: usize) -> gemm::Parallelism {
    if tasks < rayon::current_num_threads() { gemm::Parallelism::Rayon(0) } else { gemm::Parallelism::None }
}

/// The convolution on flex primitives: plain if nothing is tracked, else
/// an autodiff operation with the backward below.
fn native(x: OnFlex, w: OnFlex, b: Option<OnFlex>, options: &ConvOptions<2>) -> Tensor<4> {
    let tracked =
        matches!(x, OnFlex::Tracked(_)) || matches!(w, OnFlex::Tracked(_)) || matches!(b, Some(OnFlex::Tracked(_)));
    if !tracked {
        let plain = |t: OnFlex| match t {
            OnFlex::Plain(t) => t,
            OnFlex::Tracked(t) => t.into_primitive(),
        };
        let out = forward(&plain(x), &plain(w), b.map(plain).as_ref(), options);
        return Tensor::from_primitive::<Flex>(out);
    }
    let (x, w) = (x.tracked(), w.tracked());
    // Copied once if strided, for the forward and the backward.
    let (xs, ws) = (contiguous(x.primitive()), contiguous(w.primitive()));
    let out = match b.map(OnFlex::tracked) {
        Some(b) => record([x.node(), w.node(), b.node()], xs, ws, Some(b.primitive()), options),
        None => record([x.node(), w.node()], xs, ws, None, options),
    };
    Tensor::from_primitive::<Autodiff<Flex>>(out)
}

/// The forward, recorded in the autodiff graph of `nodes` (input, weight
/// and, when there is one, bias) with what its backward needs.
fn record<const N: usize>(
    nodes: [NodeGuard; N],
    x: FlexTensor,
    w: FlexTensor,
    b: Option<&FlexTensor>,
    options: &ConvOptions<2>,
) -> FloatTensor<Autodiff<Flex>> {
    let output = forward(&x, &w, b, options);
    match ConvBackward.prepare::<NoCheckpointing>(nodes).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(State { x, w, options: options.clone() }, output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    }
}

/// The convolution's backward: its parents are the input, the weight and,
/// when there is one, the bias.
#[derive(Debug)]
struct ConvBackward;

/// What the backward needs: the input and the weight as the forward saw them.
#[derive(Clone, Debug)]
struct State {
    x: FlexTensor,
    w: FlexTensor,
    options: ConvOptions<2>,
}

impl<const N: usize> Backward<Flex, N> for ConvBackward {
    type State = State;

    fn backward(self, ops: Ops<State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let State { x, w, options } = ops.state;
        let x_node = ops.parents.first().cloned().flatten();
        let w_node = ops.parents.get(1).cloned().flatten();
        let b_node = ops.parents.get(2).cloned().flatten();
        let wanted = Wanted { x: x_node.is_some(), w: w_node.is_some(), b: b_node.is_some() };
        let found = backward(&x, &w, &grad, &options, wanted);
        if let (Some(node), Some(g)) = (x_node, found.x) {
            grads.register::<Flex>(node.id, g);
        }
        if let (Some(node), Some(g)) = (w_node, found.w) {
            grads.register::<Flex>(node.id, g);
        }
        if let (Some(node), Some(g)) = (b_node, found.b) {
            grads.register::<Flex>(node.id, g);
        }
    }
}

/// The sizes of one convolution.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    batch: usize,
    channels: usize,
    height: usize,
    width: usize,
    filters: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    /// Padding before the first row and the first column.
    before: [usize; 2],
    out: [usize; 2],
}

impl Geometry {
    /// The sizes of `x` [N, C, H, W] convolved with `w` [F, C, kh, kw].
    fn of(x: &[usize], w: &[usize], options: &ConvOptions<2>) -> Geometry {
        let (height, width) = (x[2], x[3]);
        let kernel = [w[2], w[3]];
        let [(top, bottom), (left, right)] = options.padding;
        let out = |size: usize, before: usize, after: usize, k: usize, s: usize| (size + before + after - k) / s + 1;
        Geometry {
            batch: x[0],
            channels: x[1],
            height,
            width,
            filters: w[0],
            kernel,
            stride: options.stride,
            before: [top, left],
            out: [
                out(height, top, bottom, kernel[0], options.stride[0]),
                out(width, left, right, kernel[1], options.stride[1]),
            ],
        }
    }

    /// Rows of an image's im2col matrix: channels x kernel rows x kernel columns.
    fn k(&self) -> usize {
        self.channels * self.kernel[0] * self.kernel[1]
    }

    /// Output positions of one image (the im2col matrix's columns).
    fn p(&self) -> usize {
        self.out[0] * self.out[1]
    }

    /// Values in one input image.
    fn image(&self) -> usize {
        self.channels * self.height * self.width
    }
}

/// The forward convolution of f32 flex primitives.
fn forward(x: &FlexTensor, w: &FlexTensor, b: Option<&FlexTensor>, options: &ConvOptions<2>) -> FlexTensor {
    let (x, w) = (contiguous(x), contiguous(w));
    let g = Geometry::of(&x.shape(), &w.shape(), options);
    let b = b.map(contiguous);
    let (xs, ws) = (values(&x), values(&w));
    let bias = b.as_ref().map(values);
    let (k, p, f) = (g.k(), g.p(), g.filters);
    let mut out = vec![0.0f32; g.batch * f * p];
    let split = inner(g.batch);
    out.par_chunks_mut(f * p).zip(xs.par_chunks(g.image())).for_each_init(
        || vec![0.0f32; k * p],
        |col, (out, image)| {
            im2col(&g, image, col);
            if let Some(bias) = bias {
                for (row, &value) in out.chunks_mut(p).zip(bias) {
                    row.fill(value);
                }
            }
            // out [F x P] (+)= W [F x K] . col [K x P]
            product(out, Out::Rows, bias.is_some(), Mat::rows(ws, f, k), Mat::rows(col, k, p), split);
        },
    );
    primitive(out, &[g.batch, f, g.out[0], g.out[1]])
}

/// Which gradients the graph asks for.
#[derive(Clone, Copy, Debug)]
struct Wanted {
    x: bool,
    w: bool,
    b: bool,
}

/// The gradients found (those asked for).
struct Found {
    x: Option<FlexTensor>,
    w: Option<FlexTensor>,
    b: Option<FlexTensor>,
}

/// The gradients of the input, the weight and the bias, given the output's.
fn backward(x: &FlexTensor, w: &FlexTensor, grad: &FlexTensor, options: &ConvOptions<2>, wanted: Wanted) -> Found {
    let (x, w, grad) = (contiguous(x), contiguous(w), contiguous(grad));
    let g = Geometry::of(&x.shape(), &w.shape(), options);
    let (xs, ws, dys) = (values(&x), values(&w), values(&grad));
    let (k, p, f) = (g.k(), g.p(), g.filters);
    let mut dx = vec![0.0f32; if wanted.x { g.batch * g.image() } else { 0 }];
    let task_dx = if wanted.x { IMAGES_PER_TASK * g.image() } else { 0 };
    let tasks = g.batch.div_ceil(IMAGES_PER_TASK);
    let mut dx_chunks: Vec<&mut [f32]> =
        if wanted.x { dx.chunks_mut(task_dx).collect() } else { (0..tasks).map(|_| &mut [][..]).collect() };
    let split = inner(tasks);
    let mut dw = vec![0.0f32; if wanted.w { f * k } else { 0 }];
    let mut db = vec![0.0f32; if wanted.b { f } else { 0 }];
    // Each task: its images' input gradients in place, and the weight and
    // bias gradients of its images; a wave of tasks, one per thread, then
    // their sums added in task order (the same order whatever the number of
    // threads, and no more than a wave's partial sums held at once).
    let threads = rayon::current_num_threads().max(1);
    for (wave, chunks) in dx_chunks.chunks_mut(threads).enumerate() {
        let partials: Vec<(Vec<f32>, Vec<f32>)> = chunks
            .par_iter_mut()
            .enumerate()
            .map(|(j, dx)| {
                let first = (wave * threads + j) * IMAGES_PER_TASK;
                let images = first..(first + IMAGES_PER_TASK).min(g.batch);
                let mut dw = vec![0.0f32; if wanted.w { f * k } else { 0 }];
                let mut db = vec![0.0f32; if wanted.b { f } else { 0 }];
                let mut col = vec![0.0f32; if wanted.w { k * p } else { 0 }];
                let mut dcol = vec![0.0f32; if wanted.x { k * p } else { 0 }];
                for (i, n) in images.enumerate() {
                    let dy = &dys[n * f * p..(n + 1) * f * p];
                    if wanted.w {
                        im2col(&g, &xs[n * g.image()..(n + 1) * g.image()], &mut col);
                        // dW^T [K x F] += col [K x P] . dY^T [P x F], written into
                        // dW [F x K] through transposed strides (twice as fast in
                        // `gemm` as dY . col^T, whose right side it would gather).
                        let (lhs, rhs) = (Mat::rows(&col, k, p), Mat::rows(dy, f, p).t());
                        product(&mut dw, Out::Transposed, i > 0, lhs, rhs, split);
                    }
                    if wanted.b {
                        for (sum, row) in db.iter_mut().zip(dy.chunks(p)) {
                            *sum += row.iter().sum::<f32>();
                        }
                    }
                    if wanted.x {
                        // dcol [K x P] = W^T [K x F] . dY [F x P]
                        product(&mut dcol, Out::Rows, false, Mat::rows(ws, f, k).t(), Mat::rows(dy, f, p), split);
                        col2im(&g, &dcol, &mut dx[i * g.image()..(i + 1) * g.image()]);
                    }
                }
                (dw, db)
            })
            .collect();
        for (pw, pb) in &partials {
            dw.iter_mut().zip(pw).for_each(|(sum, v)| *sum += v);
            db.iter_mut().zip(pb).for_each(|(sum, v)| *sum += v);
        }
    }
    drop(dx_chunks);
    Found {
        x: wanted.x.then(|| primitive(dx, &[g.batch, g.channels, g.height, g.width])),
        w: wanted.w.then(|| primitive(dw, &[f, g.channels, g.kernel[0], g.kernel[1]])),
        b: wanted.b.then(|| primitive(db, &[f])),
    }
}

/// The output positions `o` (of `outputs`) whose input position `o *
/// stride + offset - before` falls inside `0..inputs`.
fn valid(outputs: usize, inputs: usize, stride: usize, offset: usize, before: usize) -> std::ops::Range<usize> {
    let low = before.saturating_sub(offset).div_ceil(stride);
    let high = if inputs + before <= offset { 0 } else { (inputs + before - offset).div_ceil(stride) };
    let high = high.min(outputs);
    low.min(high)..high
}

/// One image [C, H, W] as its im2col matrix [C x kh x kw, OH x OW]: row
/// (c, i, j) holds the input under kernel position (i, j) of channel c
/// for every output position, zero in the padding.
fn im2col(g: &Geometry, image: &[f32], col: &mut [f32]) {
    let [kh, kw] = g.kernel;
    let [oh, ow] = g.out;
    let [sh, sw] = g.stride;
    let mut rows = col.chunks_mut(oh * ow);
    for c in 0..g.channels {
        let plane = &image[c * g.height * g.width..(c + 1) * g.height * g.width];
        for i in 0..kh {
            let out_rows = valid(oh, g.height, sh, i, g.before[0]);
            for j in 0..kw {
                let row = rows.next().expect("k rows");
                let out_cols = valid(ow, g.width, sw, j, g.before[1]);
                for (r, dst) in row.chunks_mut(ow).enumerate() {
                    if !out_rows.contains(&r) || out_cols.is_empty() {
                        dst.fill(0.0);
                        continue;
                    }
                    let src = &plane[(r * sh + i - g.before[0]) * g.width..][..g.width];
                    dst[..out_cols.start].fill(0.0);
                    dst[out_cols.end..].fill(0.0);
                    let first = out_cols.start * sw + j - g.before[1];
                    if sw == 1 {
                        dst[out_cols.clone()].copy_from_slice(&src[first..first + out_cols.len()]);
                    } else {
                        for (d, s) in dst[out_cols.clone()].iter_mut().zip(src[first..].iter().step_by(sw)) {
                            *d = *s;
                        }
                    }
                }
            }
        }
    }
}

/// The transpose of `im2col`: adds each entry of `col` to the input
/// position it was read from (positions read by several kernel positions
/// sum their gradients).
fn col2im(g: &Geometry, col: &[f32], image: &mut [f32]) {
    let [kh, kw] = g.kernel;
    let [oh, ow] = g.out;
    let [sh, sw] = g.stride;
    image.fill(0.0);
    let mut rows = col.chunks(oh * ow);
    for c in 0..g.channels {
        let plane = &mut image[c * g.height * g.width..(c + 1) * g.height * g.width];
        for i in 0..kh {
            let out_rows = valid(oh, g.height, sh, i, g.before[0]);
            for j in 0..kw {
                let row = rows.next().expect("k rows");
                let out_cols = valid(ow, g.width, sw, j, g.before[1]);
                if out_cols.is_empty() {
                    continue;
                }
                let first = out_cols.start * sw + j - g.before[1];
                for r in out_rows.clone() {
                    let src = &row[r * ow..][out_cols.clone()];
                    let dst = &mut plane[(r * sh + i - g.before[0]) * g.width..][..g.width];
                    if sw == 1 {
                        // Contiguous on both sides: a loop the compiler vectorizes.
                        for (d, s) in dst[first..first + src.len()].iter_mut().zip(src) {
                            *d += *s;
                        }
                    } else {
                        for (d, s) in dst[first..].iter_mut().step_by(sw).zip(src) {
                            *d += *s;
                        }
                    }
                }
            }
        }
    }
}

/// A matrix read from a slice through strides.
#[derive(Clone, Copy)]
struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Mat<'a> {
    /// `data` as a row-major `rows x cols` matrix.
    fn rows(data: &'a [f32], rows: usize, cols: usize) -> Mat<'a> {
        assert!(data.len() >= rows * cols, "a {rows} x {cols} matrix in {} values", data.len());
        Mat { data, rows, cols, row_stride: cols, col_stride: 1 }
    }

    /// The transpose (the same values, strides swapped).
    fn t(self) -> Mat<'a> {
        Mat { rows: self.cols, cols: self.rows, row_stride: self.col_stride, col_stride: self.row_stride, ..self }
    }
}

/// How a product's `m x n` result is laid out in its slice.
#[derive(Clone, Copy)]
enum Out {
    /// Row-major `m x n`.
    Rows,
    /// Its transpose: row-major `n x m`.
    Transposed,
}

/// `dst = (dst if accumulate) + lhs [m x k] . rhs [k x n]`, laid out as
/// `out` says, split as `parallelism` says (see [`inner`]).
fn product(dst: &mut [f32], out: Out, accumulate: bool, lhs: Mat, rhs: Mat, parallelism: gemm::Parallelism) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert!(rhs.rows == k && dst.len() >= m * n, "a {m} x {k} by {} x {n} product into {} values", rhs.rows, dst.len());
    let stride = |s: usize| isize::try_from(s).expect("a tensor's stride fits an isize");
    let (dst_row, dst_col) = match out {
        Out::Rows => (n, 1),
        Out::Transposed => (1, m),
    };
    // SAFETY: `Mat::rows` checked each operand holds its rows x cols values
    // at its strides (a transpose reads the same values), and `dst` holds m
    // x n values, at (i, j) -> i * dst_row + j * dst_col either way; `gemm`
    // reads `dst` only when accumulating.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            stride(dst_col),
            stride(dst_row),
            accumulate,
            lhs.data.as_ptr(),
            stride(lhs.col_stride),
            stride(lhs.row_stride),
            rhs.data.as_ptr(),
            stride(rhs.col_stride),
            stride(rhs.row_stride),
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}
