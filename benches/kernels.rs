//! Micro-benchmarks of the hot kernels at the shapes of the tutorial's models (batch 128).
//! `cargo bench --bench kernels`; throughput is reported in FLOP/s (2 per multiply-add).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mnistlab::eval::loss::softmax_cross_entropy;
use mnistlab::kernels::{
    flip_kernel, im2col, matmul, ConvGeometry, ImplicitConv, Output, Threads, Transpose,
    WinogradConv,
};
use mnistlab::layers::{
    BackwardArgs, BatchNormConfig, ForwardArgs, Layer, MaxPoolConfig, Mode, Shape,
};
use std::hint::black_box;

fn filled(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect()
}

/// An image (h, w, ch), a k×k kernel to `f` channels and an output gradient, filled.
fn conv_operands(
    h: usize,
    w: usize,
    ch: usize,
    k: usize,
    f: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (x, weight) = (filled(h * w * ch), filled(k * k * ch * f));
    (x, weight, filled(h * w * f))
}

/// (name, m, k, n): conv slices (2 images of 28×28 or 14×14 output), dense layers.
const GEMM_SHAPES: [(&str, usize, usize, usize); 6] = [
    ("conv 16C3 on 28x28x16", 1568, 144, 16),
    ("conv 32C5 on 14x14x16", 588, 400, 32),
    ("conv 64C3 on 7x7x32", 392, 288, 64),
    ("mlp 784->256", 128, 784, 256),
    ("mlp dx 256->784", 128, 256, 784),
    ("linear 784->10", 128, 784, 10),
];

fn gemm(c: &mut Criterion) {
    let mut group = c.benchmark_group("matmul");
    for (name, m, k, n) in GEMM_SHAPES {
        let (a, b, mut out) = (filled(m * k), filled(k * n), vec![0.0; m * n]);
        group.throughput(Throughput::Elements((2 * m * k * n) as u64));
        for (variant, transpose) in [
            ("single-thread", Transpose::None),
            ("transposed-a", Transpose::A),
        ] {
            group.bench_function(BenchmarkId::new(variant, name), |bench| {
                bench.iter(|| {
                    let dims = (m, k, n);
                    matmul(
                        &mut out,
                        black_box(&a),
                        &b,
                        dims,
                        transpose,
                        Output::Overwrite,
                        Threads::Caller,
                    )
                })
            });
        }
    }
    group.finish();
}

fn conv_parts(c: &mut Criterion) {
    let mut group = c.benchmark_group("im2col");
    let g = ConvGeometry::same(28, 28, 16, 3, 1);
    let (x, mut col) = (filled(2 * 28 * 28 * 16), vec![0.0; 2 * 784 * 144]);
    group.throughput(Throughput::Bytes((col.len() * 4) as u64));
    group.bench_function("2 images 28x28x16 k3", |bench| {
        bench.iter(|| im2col(black_box(&x), &mut col, 2, &g))
    });
    group.finish();

    let mut group = c.benchmark_group("batch_norm");
    let shape = Shape::new(28, 28, 16);
    let mut bn = BatchNormConfig::keras(shape)
        .init()
        .expect("Keras defaults");
    let n = 128;
    let (x, mut y, mut dx) = (
        filled(n * shape.len()),
        vec![0.0; n * shape.len()],
        vec![0.0; n * shape.len()],
    );
    let (weights, mut state, mut dweights) = (vec![1.0; 32], vec![0.0; 32], vec![0.0; 32]);
    let mut rng = mnistlab::rng::seeded(0);
    group.throughput(Throughput::Bytes((x.len() * 4) as u64));
    group.bench_function("forward train 128x28x28x16", |bench| {
        bench.iter(|| {
            bn.forward(ForwardArgs {
                x: &x,
                y: &mut y,
                n,
                weights: &weights,
                state: &mut state,
                mode: Mode::Train,
                rng: &mut rng,
            })
        })
    });
    group.bench_function("backward 128x28x28x16", |bench| {
        bench.iter(|| {
            bn.backward(BackwardArgs {
                x: &x,
                y: &y,
                dy: &x,
                dx: Some(&mut dx),
                n,
                weights: &weights,
                dweights: &mut dweights,
            })
        })
    });
    group.finish();
}

/// (h, w, c, k, filters) of every convolution of the `cnn` and `cnn-bn` presets.
const CONV_SHAPES: [(usize, usize, usize, usize, usize); 9] = [
    (28, 28, 1, 5, 16),
    (14, 14, 16, 5, 32),
    (7, 7, 32, 5, 64),
    (28, 28, 1, 3, 16),
    (28, 28, 16, 3, 16),
    (14, 14, 16, 3, 32),
    (14, 14, 32, 3, 32),
    (7, 7, 32, 3, 64),
    (7, 7, 64, 3, 64),
];

/// One image through the implicit-GEMM convolution, single thread.
fn conv(c: &mut Criterion) {
    let mut group = c.benchmark_group("conv");
    for (h, w, ch, k, f) in CONV_SHAPES {
        let g = ConvGeometry::same(h, w, ch, k, 1);
        let Some(plan) = ImplicitConv::new(&g, f) else {
            return; // no AVX-512 here
        };
        let name = format!("{f}C{k} on {h}x{w}x{ch}");
        let (x, weight, dy) = conv_operands(h, w, ch, k, f);
        let mut padded = vec![0.0; plan.padded_len()];
        plan.pad_input(&x, &mut padded);
        let (mut y, mut dweight) = (vec![0.0; h * w * f], vec![0.0; k * k * ch * f]);
        group.throughput(Throughput::Elements((2 * h * w * k * k * ch * f) as u64));
        group.bench_function(BenchmarkId::new("forward", &name), |bench| {
            bench.iter(|| plan.forward(black_box(&padded), &weight, &mut y))
        });
        group.bench_function(BenchmarkId::new("weight-grad", &name), |bench| {
            bench.iter(|| plan.weight_grad(black_box(&padded), &dy, &mut dweight))
        });
        if plan.has_input_grad() {
            let (mut flipped, mut scratch) =
                (vec![0.0; weight.len()], vec![0.0; plan.padded_dy_len()]);
            flip_kernel(&weight, &mut flipped, (k, ch, f));
            let mut dx = vec![0.0; h * w * ch];
            group.bench_function(BenchmarkId::new("input-grad", &name), |bench| {
                bench.iter(|| plan.input_grad(black_box(&dy), &mut scratch, &flipped, &mut dx))
            });
        }
    }
    group.finish();
}

/// One image through the Winograd convolutions, single thread: F(4×4, 5×5) on the 5×5 layers of
/// the CNN and their input gradients (the output gradient convolved with the flipped kernel),
/// F(4×4, 3×3) on the BN+GAP CNN's 3×3 layers. Throughput counts the direct convolution's
/// multiply-adds, so it compares with `conv`.
fn winograd(c: &mut Criterion) {
    let mut group = c.benchmark_group("winograd");
    for (h, w, ch, f, role) in [
        (14, 14, 16, 32, "32C5 forward"),
        (7, 7, 32, 64, "64C5 forward"),
        (14, 14, 32, 16, "32C5 input-grad"),
        (7, 7, 64, 32, "64C5 input-grad"),
    ] {
        let g = ConvGeometry::same(h, w, ch, 5, 1);
        let Some(plan) = WinogradConv::<8, 4>::new(&g, f) else {
            return; // no AVX-512 here
        };
        winograd_plan(&mut group, &plan, (h, w, ch, f), role);
    }
    for (h, w, ch, f, role) in [
        (28, 28, 16, 16, "16C3 forward"),
        (14, 14, 32, 32, "32C3 forward"),
        (7, 7, 64, 64, "64C3 forward"),
    ] {
        let g = ConvGeometry::same(h, w, ch, 3, 1);
        if let Some(plan) = WinogradConv::<6, 4>::new(&g, f) {
            winograd_plan(&mut group, &plan, (h, w, ch, f), role);
        }
    }
    group.finish();
}

/// The forward pass of one image through `plan`, and for a forward `role` its weight gradient.
fn winograd_plan<const ALPHA: usize, const M: usize>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    plan: &WinogradConv<ALPHA, M>,
    (h, w, ch, f): (usize, usize, usize, usize),
    role: &str,
) {
    let k = ALPHA + 1 - M;
    let (x, weight, dy) = conv_operands(h, w, ch, k, f);
    let mut u = vec![0.0; plan.transformed_len()];
    plan.transform_weight(&weight, &mut u);
    let mut scratch = vec![0.0; plan.scratch_len()];
    let (mut y, mut du) = (vec![0.0; h * w * f], vec![0.0; plan.transformed_len()]);
    group.throughput(Throughput::Elements((2 * h * w * k * k * ch * f) as u64));
    group.bench_function(BenchmarkId::new("conv", role), |bench| {
        bench.iter(|| plan.forward(1, black_box(&x), &u, &mut scratch, &mut y))
    });
    if role.ends_with("forward") {
        let name = role.replace("forward", "weight-grad");
        group.bench_function(BenchmarkId::new("conv", name), |bench| {
            bench.iter(|| plan.weight_grad(1, black_box(&x), &dy, &mut scratch, &mut du))
        });
    }
}

/// Max-pooling 2×2 over a batch of 128, forward (training) and backward.
fn max_pool(c: &mut Criterion) {
    let mut group = c.benchmark_group("max_pool");
    for input in [Shape::new(28, 28, 16), Shape::new(14, 14, 32)] {
        let mut pool = MaxPoolConfig {
            input,
            pool: 2,
            stride: 2,
        }
        .init()
        .expect("the window fits");
        let n = 128;
        pool.reserve(n);
        let x = filled(n * input.len());
        let (mut y, mut dx) = (vec![0.0; n * input.len() / 4], vec![0.0; x.len()]);
        let mut rng = mnistlab::rng::seeded(0);
        let name = format!("128x{}x{}x{}", input.h, input.w, input.c);
        group.throughput(Throughput::Bytes((x.len() * 4) as u64));
        group.bench_function(BenchmarkId::new("forward", &name), |bench| {
            bench.iter(|| {
                pool.forward(ForwardArgs {
                    x: black_box(&x),
                    y: &mut y,
                    n,
                    weights: &[],
                    state: &mut [],
                    mode: Mode::Train,
                    rng: &mut rng,
                })
            })
        });
        let dy = y.clone();
        group.bench_function(BenchmarkId::new("backward", &name), |bench| {
            bench.iter(|| {
                pool.backward(BackwardArgs {
                    x: &x,
                    y: &dy,
                    dy: black_box(&dy),
                    dx: Some(&mut dx),
                    n,
                    weights: &[],
                    dweights: &mut [],
                })
            })
        });
    }
    group.finish();
}

/// Softmax and cross-entropy with its gradient over a batch of 128 × 10 logits.
fn softmax_ce(c: &mut Criterion) {
    let (n, classes) = (128, 10);
    let logits = filled(n * classes);
    let mut targets = vec![0.0; n * classes];
    for (i, row) in targets.chunks_exact_mut(classes).enumerate() {
        row[i % classes] = 1.0;
    }
    let mut grad = vec![0.0; n * classes];
    let mut group = c.benchmark_group("softmax_ce");
    group.throughput(Throughput::Elements((n * classes) as u64));
    group.bench_function("128x10 with gradient", |bench| {
        bench.iter(|| softmax_cross_entropy(black_box(&logits), &targets, classes, Some(&mut grad)))
    });
    group.finish();
}

criterion_group!(benches, gemm, conv, winograd, conv_parts, max_pool, softmax_ce);
criterion_main!(benches);
