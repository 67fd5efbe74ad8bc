//! `cargo bench --bench conv [-- ROUNDS]`: where the digits CNN's time goes
//! on flex (issue 20, item 1). At `bench/cnn.pipe`'s shapes (batch 64,
//! 16x16, 3x3 kernels, padding 1) it times, in milliseconds:
//!
//! - `matmul`: flex's matrix product at the shape an im2col convolution of
//!   the second layer multiplies (16,384 x 288 by 288 x 64); the same
//!   product straight through the `gemm` crate flex calls, on one thread
//!   (`gemm_one`), split by `gemm` itself over the cores (`gemm_split`), and
//!   as two halves of rows, each on a core of its own (`gemm_halves`);
//! - `conv1_*`, `conv2_*`: flex's `conv2d` for 1 -> 32 and 32 -> 64
//!   channels, forward alone (`fwd`) and forward with the backward pass
//!   that training takes (`step`: the weight's gradient, and the input's for
//!   the second layer, whose input is an activation);
//! - `conv1_pipe_*`, `conv2_pipe_*`: the same through `pipe`'s own
//!   convolution (`pipe::train::conv::conv2d`, what `conv` layers run on
//!   flex: one im2col and one `gemm` product per image);
//! - `bn2_*`, `bn2_pipe_*`: batch norm in training over the second layer's
//!   output, Burn's and `pipe`'s own (`pipe::train::norm::layer`);
//! - `conv2_ops_step`: the same convolution written with tensor operations
//!   (channels last, nine shifted slices concatenated, one matrix product),
//!   the formulation issue 20 suggests; checked equal to `conv2d` first;
//! - the second layer's backward in parts, without autodiff: `conv2_wgrad`
//!   (Burn's weight gradient, a convolution of the swapped input and
//!   gradient), `conv2_xgrad` (the input's, a transposed convolution) and
//!   `conv2_wgrad_product` (the weight gradient as one matrix product over
//!   the whole batch of the gradient and the im2col columns; checked equal).
//!
//! flex runs each operation when it is called, so a figure is the
//! operation's alone: nothing is read back (reading a 4 MB result into
//! `TensorData` took about 3 ms). One JSON line per round, for
//! `bench/conv_bench.py`, which times the same operations in PyTorch
//! beside it.

use std::time::Instant;

use burn::tensor::module::{conv_transpose2d, conv2d, conv2d_weight_backward};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Distribution, Tensor};

/// The allocator `pipe`'s binary runs with (`src/main.rs`): flex allocates
/// each result afresh, and with glibc's defaults a 4 MB result is mapped
/// and faulted in on every call.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The digits CNN's batch and image side.
const BATCH: usize = 64;
const SIDE: usize = 16;
/// Timed calls per figure (after two untimed ones); the median is kept.
const CALLS: usize = 9;

/// The median milliseconds of `CALLS` calls of `f`.
fn millis(mut f: impl FnMut()) -> f64 {
    f();
    f();
    let mut times: Vec<f64> = (0..CALLS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[CALLS / 2]
}

/// A tensor of standard normal draws.
fn normal<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

/// Stride 1, padding 1 (the digits CNN's `padding: same` for 3x3).
fn options() -> ConvOptions<2> {
    ConvOptions::new([1, 1], [1, 1], [1, 1], 1)
}

/// `rows x 288` by `288 x 64`, row-major, through `gemm::gemm`.
fn gemm_rows(dst: &mut [f32], lhs: &[f32], rhs: &[f32], parallelism: gemm::Parallelism) {
    const K: usize = 288;
    const N: usize = 64;
    let rows = dst.len() / N;
    assert!(lhs.len() == rows * K && rhs.len() == K * N);
    // SAFETY: the three buffers hold rows x N, rows x K and K x N floats,
    // row-major, as the strides say; dst is not read (read_dst false).
    unsafe {
        gemm::gemm(
            rows,
            N,
            K,
            dst.as_mut_ptr(),
            1,
            N as isize,
            false,
            lhs.as_ptr(),
            1,
            K as isize,
            rhs.as_ptr(),
            1,
            N as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// The `gemm` crate's figures at the second layer's product shape.
fn gemm_figures(line: &mut Vec<String>) {
    let rows = BATCH * SIDE * SIDE;
    let lhs: Vec<f32> = (0..rows * 288).map(|i| ((i % 97) as f32 - 48.0) / 48.0).collect();
    let rhs: Vec<f32> = (0..288 * 64).map(|i| ((i % 89) as f32 - 44.0) / 44.0).collect();
    let mut dst = vec![0.0f32; rows * 64];
    let one = millis(|| gemm_rows(&mut dst, &lhs, &rhs, gemm::Parallelism::None));
    let split = millis(|| gemm_rows(&mut dst, &lhs, &rhs, gemm::Parallelism::Rayon(0)));
    let whole = dst.clone();
    let halves = millis(|| {
        let (top, bottom) = dst.split_at_mut(rows / 2 * 64);
        let (lhs_top, lhs_bottom) = lhs.split_at(rows / 2 * 288);
        rayon::join(
            || gemm_rows(top, lhs_top, &rhs, gemm::Parallelism::None),
            || gemm_rows(bottom, lhs_bottom, &rhs, gemm::Parallelism::None),
        );
    });
    assert!(whole == dst, "the halves' product differs from the whole's");
    line.push(format!("\"gemm_one\": {one:.3}, \"gemm_split\": {split:.3}, \"gemm_halves\": {halves:.3}"));
}

/// The im2col columns of a `kernel` x `kernel` convolution (odd kernel,
/// stride 1, same padding), channels last: a row per output position, the
/// shifted windows side by side.
fn columns(x: Tensor<4>, kernel: usize) -> Tensor<2> {
    let [batch, channels, height, width] = x.dims();
    let pad = kernel / 2;
    let padded = x.permute([0, 2, 3, 1]).pad([(0, 0), (pad, pad), (pad, pad), (0, 0)], 0.0f32);
    let windows = (0..kernel * kernel)
        .map(|at| {
            let (i, j) = (at / kernel, at % kernel);
            padded.clone().slice([0..batch, i..i + height, j..j + width, 0..channels])
        })
        .collect();
    Tensor::cat(windows, 3).reshape([batch * height * width, kernel * kernel * channels])
}

/// A same-padded convolution as tensor operations: the columns
/// times the weight as a matrix.
fn conv_by_ops(x: Tensor<4>, weight: Tensor<4>) -> Tensor<4> {
    let [batch, channels, height, width] = x.dims();
    let [out, _, kernel, _] = weight.dims();
    let matrix = weight.permute([2, 3, 1, 0]).reshape([kernel * kernel * channels, out]);
    columns(x, kernel).matmul(matrix).reshape([batch, height, width, out]).permute([0, 3, 1, 2])
}

/// The weight gradient as one product over the whole batch: the output
/// gradient (channels by positions) times the columns.
fn weight_grad_by_product(x: Tensor<4>, upstream: Tensor<4>, kernel: usize) -> Tensor<4> {
    let [_, channels, _, _] = x.dims();
    let [batch, out, height, width] = upstream.dims();
    let gradient = upstream.permute([1, 0, 2, 3]).reshape([out, batch * height * width]);
    gradient.matmul(columns(x, kernel)).reshape([out, kernel, kernel, channels]).permute([0, 3, 1, 2])
}

/// The second layer's backward in parts, on a device without autodiff.
fn backward_parts(device: &Device, line: &mut Vec<String>) {
    let x = normal([BATCH, 32, SIDE, SIDE], device);
    let weight = normal([64, 32, 3, 3], device);
    let upstream = normal([BATCH, 64, SIDE, SIDE], device);
    let transpose = ConvTransposeOptions::new([1, 1], [1, 1], [0, 0], [1, 1], 1);
    let wgrad = millis(|| {
        let _ = conv2d_weight_backward(x.clone(), weight.clone(), upstream.clone(), options());
    });
    let xgrad = millis(|| {
        let _ = conv_transpose2d(upstream.clone(), weight.clone(), None, transpose.clone());
    });
    let product = millis(|| {
        let _ = weight_grad_by_product(x.clone(), upstream.clone(), 3);
    });
    line.push(format!(
        "\"conv2_wgrad\": {wgrad:.3}, \"conv2_xgrad\": {xgrad:.3}, \"conv2_wgrad_product\": {product:.3}"
    ));
}

/// Forward and backward of `conv` against a fixed output gradient, to the
/// weight's gradient (and the input's when it has one).
fn step(x: &Tensor<4>, weight: &Tensor<4>, upstream: &Tensor<4>, conv: fn(Tensor<4>, Tensor<4>) -> Tensor<4>) {
    let grads = (conv(x.clone(), weight.clone()) * upstream.clone()).sum().backward();
    let _ = weight.grad(&grads);
    let _ = x.grad(&grads);
}

fn flex_conv(x: Tensor<4>, weight: Tensor<4>) -> Tensor<4> {
    conv2d(x, weight, None, options())
}

/// `pipe`'s own convolution (src/train/conv.rs), what `conv` layers run.
fn pipe_conv(x: Tensor<4>, weight: Tensor<4>) -> Tensor<4> {
    pipe::train::conv::conv2d(x, weight, None, options())
}

/// The two layers' figures for one round.
fn layer(device: &Device, channels: usize, out: usize, input_grad: bool, name: &str, line: &mut Vec<String>) {
    let x = normal([BATCH, channels, SIDE, SIDE], device);
    let x = if input_grad { x.require_grad() } else { x };
    let weight = normal([out, channels, 3, 3], device).require_grad();
    let upstream = normal([BATCH, out, SIDE, SIDE], device);
    let fwd = millis(|| {
        let _ = flex_conv(x.clone(), weight.clone());
    });
    let full = millis(|| step(&x, &weight, &upstream, flex_conv));
    line.push(format!("\"{name}_fwd\": {fwd:.3}, \"{name}_step\": {full:.3}"));
    let pipe_fwd = millis(|| {
        let _ = pipe_conv(x.clone(), weight.clone());
    });
    let pipe_full = millis(|| step(&x, &weight, &upstream, pipe_conv));
    line.push(format!("\"{name}_pipe_fwd\": {pipe_fwd:.3}, \"{name}_pipe_step\": {pipe_full:.3}"));
    if input_grad {
        let by_ops = millis(|| step(&x, &weight, &upstream, conv_by_ops));
        line.push(format!("\"{name}_ops_step\": {by_ops:.3}"));
    }
}

/// Burn's batch norm (training) over the second layer's output, forward
/// alone and with its backward: the other layer the CNN runs twice.
fn batchnorm(device: &Device, line: &mut Vec<String>) {
    let norm = burn::nn::BatchNormConfig::new(64).init(device);
    let x = normal([BATCH, 64, SIDE, SIDE], device).require_grad();
    let upstream = normal([BATCH, 64, SIDE, SIDE], device);
    let fwd = millis(|| {
        let _ = norm.forward(x.clone());
    });
    let full = millis(|| {
        let grads = (norm.forward(x.clone()) * upstream.clone()).sum().backward();
        let _ = x.grad(&grads);
    });
    line.push(format!("\"bn2_fwd\": {fwd:.3}, \"bn2_step\": {full:.3}"));
    let pipe_fwd = millis(|| {
        let _ = pipe::train::norm::layer(&norm, x.clone());
    });
    let pipe_full = millis(|| {
        let grads = (pipe::train::norm::layer(&norm, x.clone()) * upstream.clone()).sum().backward();
        let _ = x.grad(&grads);
    });
    line.push(format!("\"bn2_pipe_fwd\": {pipe_fwd:.3}, \"bn2_pipe_step\": {pipe_full:.3}"));
}

/// The im2col-by-operations convolution gives `conv2d`'s outputs.
fn check_ops_formulation(device: &Device) {
    let x = normal([4, 8, SIDE, SIDE], device);
    let weight = normal([16, 8, 3, 3], device);
    let gap: f32 = (flex_conv(x.clone(), weight.clone()) - conv_by_ops(x, weight)).abs().max().into_scalar();
    assert!(gap < 1e-4, "the tensor-operation convolution differs from conv2d by {gap}");
    let upstream = normal([4, 16, SIDE, SIDE], device);
    let x = normal([4, 8, SIDE, SIDE], device);
    let weight = normal([16, 8, 3, 3], device);
    let burn = conv2d_weight_backward(x.clone(), weight, upstream.clone(), options());
    let gap: f32 = (burn - weight_grad_by_product(x, upstream, 3)).abs().max().into_scalar();
    assert!(gap < 1e-3, "the weight gradient as one product differs from Burn's by {gap}");
}

fn main() {
    let rounds: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(3);
    let device = Device::flex().autodiff();
    let plain = Device::flex();
    check_ops_formulation(&plain);
    let left = normal([BATCH * SIDE * SIDE, 288], &plain);
    let right = normal([288, 64], &plain);
    for _ in 0..rounds {
        let matmul = millis(|| {
            let _ = left.clone().matmul(right.clone());
        });
        let mut line = vec![format!("\"matmul\": {matmul:.3}")];
        gemm_figures(&mut line);
        layer(&device, 1, 32, false, "conv1", &mut line);
        layer(&device, 32, 64, true, "conv2", &mut line);
        backward_parts(&plain, &mut line);
        batchnorm(&device, &mut line);
        println!("{{{}}}", line.join(", "));
    }
}
