//! `pipe`'s own 2-D convolution on flex (src/train/conv.rs): forward and
//! the three gradients against PyTorch's (`tests/data/torch_conv/make.py`)
//! and against Burn's convolution, tracked and untracked; a `conv` layer
//! pads as Burn's `Conv2d` does.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::tensor::module::conv2d as burn_conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use pipe::train::conv::{conv2d, layer, runs_natively};

use crate::run::repo;

/// `got` equals `want` to 1e-5 of the larger of 1 and the value.
fn close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: sizes");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{what}[{i}]: {g} != {w}");
    }
}

/// A committed PyTorch reference (`tests/data/NAME`).
fn fixture(name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(repo().join("tests/data").join(name)).unwrap()).unwrap()
}

/// A JSON array of numbers as f32.
fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.try_into_vec_as::<f32>().unwrap()
}

/// One PyTorch case's tensors.
struct Case {
    x: Vec<f32>,
    shape: [usize; 4],
    w: Vec<f32>,
    w_shape: [usize; 4],
    b: Vec<f32>,
    r: Vec<f32>,
    out_shape: [usize; 4],
    options: ConvOptions<2>,
}

fn case(v: &serde_json::Value) -> Case {
    let sizes = |v: &serde_json::Value| -> Vec<usize> {
        v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect()
    };
    let shape: [usize; 4] = sizes(&v["shape"]).try_into().unwrap();
    let (filters, kernel, stride) = (
        v["filters"].as_u64().unwrap() as usize,
        v["kernel"].as_u64().unwrap() as usize,
        v["stride"].as_u64().unwrap() as usize,
    );
    let p = sizes(&v["padding"]);
    Case {
        x: floats(&v["x"]),
        shape,
        w: floats(&v["w"]),
        w_shape: [filters, shape[1], kernel, kernel],
        b: floats(&v["b"]),
        r: floats(&v["r"]),
        out_shape: sizes(&v["out_shape"]).try_into().unwrap(),
        options: ConvOptions::new_with_padding([stride, stride], [(p[0], p[1]), (p[2], p[3])], [1, 1], 1),
    }
}

/// Output and gradients of sum(conv * r) by `conv` on `device` (autodiff),
/// the input tracked or not.
fn run(
    c: &Case,
    device: &Device,
    track_x: bool,
    conv: fn(Tensor<4>, Tensor<4>, Option<Tensor<1>>, ConvOptions<2>) -> Tensor<4>,
) -> [Vec<f32>; 4] {
    let x = Tensor::<4>::from_data(TensorData::new(c.x.clone(), c.shape), device);
    let x = if track_x { x.require_grad() } else { x };
    let w = Tensor::<4>::from_data(TensorData::new(c.w.clone(), c.w_shape), device).require_grad();
    let b = Tensor::<1>::from_data(TensorData::new(c.b.clone(), [c.b.len()]), device).require_grad();
    let r = Tensor::<4>::from_data(TensorData::new(c.r.clone(), c.out_shape), device);
    let y = conv(x.clone(), w.clone(), Some(b.clone()), c.options.clone());
    let grads = (y.clone() * r).sum().backward();
    let dx = if track_x { values(x.grad(&grads).expect("the input's gradient")) } else { vec![] };
    [values(y), dx, values(w.grad(&grads).unwrap()), values(b.grad(&grads).unwrap())]
}

/// Every case: `pipe`'s convolution on flex equals PyTorch's output and
/// gradients, and so does Burn's (the two references agree with each
/// other); with the input untracked (data) the weight's and bias'
/// gradients are the same; on a device without autodiff the output is.
#[test]
#[allow(deprecated)] // Burn marks the libtorch constructors deprecated in 0.22.
fn flex_convolution_equals_pytorch_forward_and_backward() {
    let fixture = fixture("torch_conv/conv.json");
    let cases = fixture.as_object().unwrap();
    assert_eq!(cases.len(), 8);
    for (name, expected) in cases {
        let c = case(expected);
        let want = ["y", "dx", "dw", "db"].map(|k| floats(&expected[k]));
        let device = Device::flex().autodiff();
        let probe = Tensor::<4>::zeros(c.shape, &device).require_grad();
        let weight = Tensor::<4>::zeros(c.w_shape, &device).require_grad();
        assert!(runs_natively(&probe, &weight, None, &c.options), "{name}: the native kernels run on flex");

        let ours = run(&c, &device, true, conv2d);
        let burns = run(&c, &device, true, burn_conv2d);
        for (i, what) in ["output", "input gradient", "weight gradient", "bias gradient"].iter().enumerate() {
            close(&ours[i], &want[i], &format!("{name}, pipe's {what}"));
            close(&burns[i], &want[i], &format!("{name}, Burn's {what}"));
        }
        let data = run(&c, &device, false, conv2d);
        close(&data[0], &want[0], &format!("{name}, output with untracked input"));
        close(&data[2], &want[2], &format!("{name}, weight gradient with untracked input"));
        close(&data[3], &want[3], &format!("{name}, bias gradient with untracked input"));

        let plain = Device::flex();
        let x = Tensor::<4>::from_data(TensorData::new(c.x.clone(), c.shape), &plain);
        let w = Tensor::<4>::from_data(TensorData::new(c.w.clone(), c.w_shape), &plain);
        let b = Tensor::<1>::from_data(TensorData::new(c.b.clone(), [c.b.len()]), &plain);
        assert!(runs_natively(&x, &w, Some(&b), &c.options));
        close(
            &values(conv2d(x.clone(), w.clone(), Some(b), c.options.clone())),
            &want[0],
            &format!("{name}, inference"),
        );
        let no_bias = values(conv2d(x, w, None, c.options.clone()));
        let with_bias = &want[0];
        let per_filter = c.out_shape[2] * c.out_shape[3];
        let unbiased: Vec<f32> =
            with_bias.iter().enumerate().map(|(i, v)| v - c.b[(i / per_filter) % c.out_shape[1]]).collect();
        close(&no_bias, &unbiased, &format!("{name}, without a bias"));

        #[cfg(feature = "tch")]
        {
            use pipe::train::conv::runs_on_libtorch;
            let torch = Device::libtorch().autodiff();
            let probe = Tensor::<4>::zeros(c.shape, &torch);
            let weight = Tensor::<4>::zeros(c.w_shape, &torch).require_grad();
            assert!(!runs_natively(&probe, &weight, None, &c.options), "no flex kernels on libtorch");
            assert!(runs_on_libtorch(&probe, &weight, None, &c.options), "{name}: libtorch's convolution and backward");
            let bf16 = burn::tensor::FloatDType::BF16;
            let half = weight.clone().cast(bf16);
            assert!(!runs_on_libtorch(&probe, &half, None, &c.options), "mixed float types go to Burn's convolution");
            assert!(runs_on_libtorch(&probe.clone().cast(bf16), &half, None, &c.options), "bf16 runs on libtorch");
            // In bf16 (mixed precision's half copies): PyTorch's values to
            // within 2^-6 of the largest (bf16 keeps 8 bits; the products
            // add many of its roundings).
            fn in_bf16(x: Tensor<4>, w: Tensor<4>, b: Option<Tensor<1>>, o: ConvOptions<2>) -> Tensor<4> {
                use burn::tensor::FloatDType::{BF16, F32};
                conv2d(x.cast(BF16), w.cast(BF16), b.map(|b| b.cast(BF16)), o).cast(F32)
            }
            let bf16_values = run(&c, &torch, true, in_bf16);
            for (i, what) in ["output", "input gradient", "weight gradient", "bias gradient"].iter().enumerate() {
                let scale = want[i].iter().fold(1.0f32, |m, v| m.max(v.abs()));
                for (j, (g, w)) in bf16_values[i].iter().zip(&want[i]).enumerate() {
                    assert!((g - w).abs() <= scale / 64.0, "{name}, {what} in bf16 on torch.cpu [{j}]: {g} != {w}");
                }
            }
            let on_torch = run(&c, &torch, true, conv2d);
            let burns = run(&c, &torch, true, burn_conv2d);
            for (i, what) in ["output", "input gradient", "weight gradient", "bias gradient"].iter().enumerate() {
                close(&on_torch[i], &want[i], &format!("{name}, {what} on torch.cpu"));
                close(&burns[i], &want[i], &format!("{name}, Burn's {what} on torch.cpu"));
            }
            let data = run(&c, &torch, false, conv2d);
            close(&data[2], &want[2], &format!("{name}, weight gradient with untracked input on torch.cpu"));
            close(&data[3], &want[3], &format!("{name}, bias gradient with untracked input on torch.cpu"));
            // A frozen weight between tracked operands: the input's and
            // the bias' gradients still land on them.
            let x = Tensor::<4>::from_data(TensorData::new(c.x.clone(), c.shape), &torch).require_grad();
            let w = Tensor::<4>::from_data(TensorData::new(c.w.clone(), c.w_shape), &torch);
            let b = Tensor::<1>::from_data(TensorData::new(c.b.clone(), [c.b.len()]), &torch).require_grad();
            let r = Tensor::<4>::from_data(TensorData::new(c.r.clone(), c.out_shape), &torch);
            let grads = (conv2d(x.clone(), w, Some(b.clone()), c.options.clone()) * r).sum().backward();
            close(&values(x.grad(&grads).unwrap()), &want[1], &format!("{name}, input gradient, weight frozen"));
            close(&values(b.grad(&grads).unwrap()), &want[3], &format!("{name}, bias gradient, weight frozen"));
            let plain = Device::libtorch();
            let x = Tensor::<4>::from_data(TensorData::new(c.x.clone(), c.shape), &plain);
            let w = Tensor::<4>::from_data(TensorData::new(c.w.clone(), c.w_shape), &plain);
            let b = Tensor::<1>::from_data(TensorData::new(c.b.clone(), [c.b.len()]), &plain);
            let inferred = conv2d(x.clone(), w.clone(), Some(b), c.options.clone());
            // Plain in, plain out: the layers after it infer, too.
            assert!(!inferred.device().is_autodiff(), "{name}: inference stays off the autodiff device");
            let with_bias = values(inferred);
            close(&with_bias, &want[0], &format!("{name}, inference on torch.cpu"));
            let inference = values(conv2d(x, w, None, c.options.clone()));
            let per_filter = c.out_shape[2] * c.out_shape[3];
            let unbiased: Vec<f32> =
                want[0].iter().enumerate().map(|(i, v)| v - c.b[(i / per_filter) % c.out_shape[1]]).collect();
            close(&inference, &unbiased, &format!("{name}, inference without a bias on torch.cpu"));
        }
    }
}

/// A `conv` layer pads as Burn's `Conv2d::forward` does (`same` with an
/// even kernel or a stride puts the odd row and column at the end), and
/// half-precision inputs go to Burn's convolution.
#[test]
fn conv_layer_pads_as_burns_module() {
    let device = Device::flex();
    for (kernel, stride, padding, size) in [
        (3, 1, PaddingConfig2d::Same, 8),
        (2, 1, PaddingConfig2d::Same, 7),
        (4, 2, PaddingConfig2d::Same, 9),
        (3, 2, PaddingConfig2d::Valid, 10),
        (3, 1, PaddingConfig2d::Explicit(2, 0, 1, 3), 6),
    ] {
        let m = Conv2dConfig::new([3, 5], [kernel, kernel])
            .with_stride([stride, stride])
            .with_padding(padding)
            .init(&device);
        let x = Tensor::<4>::random([4, 3, size, size], Distribution::Normal(0.0, 1.0), &device);
        let what = format!("kernel {kernel}, stride {stride}, size {size}");
        let want = m.forward(x.clone());
        let got = layer(&m, x);
        assert_eq!(got.dims(), want.dims(), "{what}");
        close(&values(got), &values(want), &what);
    }
    let x = Tensor::<4>::zeros([1, 1, 4, 4], &device).cast(burn::tensor::FloatDType::BF16);
    let w = Tensor::<4>::zeros([1, 1, 3, 3], &device).cast(burn::tensor::FloatDType::BF16);
    assert!(!runs_natively(&x, &w, None, &ConvOptions::new([1, 1], [1, 1], [1, 1], 1)), "bf16 goes to Burn");
}

/// Batch norm in training (`pipe::train::norm::layer`: pipe's kernels on
/// flex; on `torch.cpu` in a `tch` build, libtorch's `native_batch_norm`
/// and its autograd) against PyTorch's `F.batch_norm(training=True)`
/// (`tests/data/torch_batchnorm/make.py`): output and the gradients of x,
/// gamma and beta to 1e-5 on images, rows and images far from zero; the
/// running averages equal those Burn's `BatchNorm::forward` leaves (the
/// biased batch variance, momentum 0.1), and so do its outputs and
/// gradients. Inference gives Burn's output from the running averages.
#[test]
fn flex_batch_norm_equals_pytorch_and_burns_layer() {
    use burn::module::Param;
    use burn::nn::{BatchNorm, BatchNormConfig};
    use pipe::train::norm;

    let fixture = fixture("torch_batchnorm/batchnorm.json");
    let cases = fixture.as_object().unwrap();
    assert_eq!(cases.len(), 3);
    let backends = Vec::from([(Device::flex(), "flex")]);
    #[cfg(feature = "tch")]
    #[allow(deprecated)] // Burn marks the libtorch constructors deprecated in 0.22.
    let backends = [backends, vec![(Device::libtorch(), "torch.cpu")]].concat();
    for ((name, c), (backend, backend_name)) in
        cases.iter().flat_map(|case| backends.iter().map(move |backend| (case, backend.clone())))
    {
        let name = format!("{name} on {backend_name}");
        let shape: Vec<usize> = c["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        let channels = shape[1];
        let device = backend.clone().autodiff();
        let build = |device: &Device| -> BatchNorm {
            let mut m = BatchNormConfig::new(channels).init(device);
            m.gamma = Param::from_tensor(Tensor::from_data(TensorData::new(floats(&c["gamma"]), [channels]), device));
            m.beta = Param::from_tensor(Tensor::from_data(TensorData::new(floats(&c["beta"]), [channels]), device));
            m
        };
        // One step through a layer, by `forward` (pipe's or Burn's): the
        // output, the three gradients, the running mean and variance.
        let step = |forward: &dyn Fn(&BatchNorm, Tensor<4>) -> Tensor<4>| -> [Vec<f32>; 6] {
            let m = build(&device);
            let dims: [usize; 4] = match shape.len() {
                4 => [shape[0], shape[1], shape[2], shape[3]],
                _ => [shape[0], shape[1], 1, 1],
            };
            let x = Tensor::<4>::from_data(TensorData::new(floats(&c["x"]), dims), &device).require_grad();
            let r = Tensor::<4>::from_data(TensorData::new(floats(&c["r"]), dims), &device);
            let y = forward(&m, x.clone());
            let grads = (y.clone() * r).sum().backward();
            [
                values(y),
                values(x.grad(&grads).unwrap()),
                values(m.gamma.val().grad(&grads).unwrap()),
                values(m.beta.val().grad(&grads).unwrap()),
                values(m.running_mean.value_sync()),
                values(m.running_var.value_sync()),
            ]
        };
        let dims4: [usize; 4] = match shape.len() {
            4 => [shape[0], shape[1], shape[2], shape[3]],
            _ => [shape[0], shape[1], 1, 1],
        };
        let probe = Tensor::<4>::zeros(dims4, &device);
        let native = backend_name == "flex" && shape.len() == 4;
        assert_eq!(norm::runs_natively(&build(&device), &probe), native, "{name}: pipe's kernels (images on flex)");
        let ours = step(&|m, x| norm::layer(m, x));
        let burns = step(&|m, x| m.forward(x));
        let want = ["y", "dx", "dgamma", "dbeta"].map(|k| floats(&c[k]));
        for (i, what) in ["output", "input gradient", "gamma gradient", "beta gradient"].iter().enumerate() {
            close(&ours[i], &want[i], &format!("{name}, pipe's {what}"));
            close(&burns[i], &want[i], &format!("{name}, Burn's {what}"));
        }
        let (mean, variance) = (floats(&c["mean"]), floats(&c["variance"]));
        let running_mean: Vec<f32> = mean.iter().map(|m| 0.1 * m).collect();
        let running_var: Vec<f32> = variance.iter().map(|v| 0.9 + 0.1 * v).collect();
        close(&ours[4], &running_mean, &format!("{name}, running mean"));
        close(&ours[5], &running_var, &format!("{name}, running variance"));
        close(&burns[4], &ours[4], &format!("{name}, Burn's running mean"));
        close(&burns[5], &ours[5], &format!("{name}, Burn's running variance"));

        // Rows [N, C] as 2-D tensors (Burn's layer) give the same.
        if shape.len() == 2 {
            let m = build(&device);
            let x = Tensor::<2>::from_data(TensorData::new(floats(&c["x"]), [shape[0], shape[1]]), &device);
            close(&values(norm::layer(&m, x)), &want[0], &format!("{name}, rows as 2-D"));
        }
        // A strided input (a sequence's swapped dimensions, as model.rs
        // normalizes `[N, L, C]`): the same output as the contiguous one.
        if shape.len() == 4 {
            let m = build(&device);
            let x = Tensor::<4>::from_data(TensorData::new(floats(&c["x"]), dims4), &device);
            // The values stored channels last, viewed as [N, C, H, W].
            let nhwc = Tensor::<4>::from_data(x.clone().permute([0, 2, 3, 1]).to_data(), &device);
            let strided = nhwc.permute([0, 3, 1, 2]);
            if backend_name == "flex" {
                use burn::backend::{Autodiff, Flex};
                let layout = strided.clone().try_into_primitive::<Autodiff<Flex>>();
                assert!(layout.is_ok_and(|t| !t.primitive().is_contiguous()), "{name}: the input is strided");
            }
            assert_eq!(norm::runs_natively(&m, &strided), native, "{name}: strided");
            close(&values(norm::layer(&m, strided)), &want[0], &format!("{name}, strided input"));
            // A frozen layer keeps Burn's (inference) path.
            let frozen = burn::module::Module::freeze(build(&device));
            assert!(!norm::runs_natively(&frozen, &x), "{name}: a frozen layer is Burn's");
        }
        // Inference: Burn's layer, from the running averages.
        let plain = backend.clone();
        let m = build(&plain);
        assert!(!norm::runs_natively(&m, &Tensor::<4>::zeros(dims4, &plain)), "{name}: inference is Burn's");
        let x = Tensor::<2>::from_data(
            TensorData::new(floats(&c["x"]), [shape[0], shape.iter().skip(1).product()]),
            &plain,
        );
        let x = x.reshape([shape[0], channels, shape.iter().skip(2).product::<usize>().max(1), 1]);
        close(&values(norm::layer(&m, x.clone())), &values(m.forward(x)), &format!("{name}, inference"));
    }
}

/// The convolution's results do not depend on the number of cores: one
/// thread and the machine's pool give the same bits, for a single image
/// (whose products `gemm` splits over the cores) and for 11 (tasks of 8
/// images); without a bias too. Inconsistent shapes go to Burn's
/// convolution, which reports them.
#[test]
fn flex_convolution_does_not_depend_on_the_core_count() {
    let device = Device::flex().autodiff();
    let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let run = |batch: usize, bias: bool| -> Vec<Vec<f32>> {
        let x = Tensor::<4>::random([batch, 6, 9, 9], Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<4>::random([16, 6, 3, 3], Distribution::Normal(0.0, 1.0), &device);
        let b = Tensor::<1>::random([16], Distribution::Normal(0.0, 1.0), &device);
        let r = Tensor::<4>::random([batch, 16, 9, 9], Distribution::Normal(0.0, 1.0), &device);
        let data = [values(x.clone()), values(w.clone()), values(b.clone()), values(r.clone())];
        let once = |pool: Option<&rayon::ThreadPool>| -> Vec<Vec<f32>> {
            let work = || {
                let x =
                    Tensor::<4>::from_data(TensorData::new(data[0].clone(), [batch, 6, 9, 9]), &device).require_grad();
                let w = Tensor::<4>::from_data(TensorData::new(data[1].clone(), [16, 6, 3, 3]), &device).require_grad();
                let b = Tensor::<1>::from_data(TensorData::new(data[2].clone(), [16]), &device).require_grad();
                let r = Tensor::<4>::from_data(TensorData::new(data[3].clone(), [batch, 16, 9, 9]), &device);
                let bias = bias.then(|| b.clone());
                assert!(runs_natively(&x, &w, bias.as_ref(), &options));
                let y = conv2d(x.clone(), w.clone(), bias, options.clone());
                let grads = (y.clone() * r).sum().backward();
                let mut found = vec![values(y), values(x.grad(&grads).unwrap()), values(w.grad(&grads).unwrap())];
                if let Some(g) = b.grad(&grads) {
                    found.push(values(g));
                }
                found
            };
            match pool {
                Some(pool) => pool.install(work),
                None => work(),
            }
        };
        let single = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let alone = once(Some(&single));
        let shared = once(None);
        assert_eq!(alone.len(), if bias { 4 } else { 3 });
        for (a, s) in alone.iter().zip(&shared) {
            assert!(a.iter().zip(s).all(|(a, s)| a.to_bits() == s.to_bits()), "batch {batch}: one thread differs");
        }
        shared
    };
    for (batch, bias) in [(1, true), (11, true), (11, false)] {
        run(batch, bias);
    }
    let x = Tensor::<4>::zeros([2, 3, 5, 5], &device);
    let w = Tensor::<4>::zeros([4, 2, 3, 3], &device);
    assert!(!runs_natively(&x, &w, None, &options), "3 channels into a 2-channel kernel");
    let w = Tensor::<4>::zeros([4, 3, 9, 9], &device);
    assert!(!runs_natively(&x, &w, None, &options), "a kernel larger than the padded input");
}
