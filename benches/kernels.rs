//! Micro-benchmarks of the hot kernels at the shapes of the tutorial's models (batch 128).
//! `cargo bench --bench kernels`; throughput is reported in FLOP/s (2 per multiply-add).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mnistlab::kernels::{im2col, matmul, ConvGeometry, Transpose};
use mnistlab::layers::{BackwardArgs, BatchNormConfig, ForwardArgs, Layer, Mode, Shape};
use std::hint::black_box;

fn filled(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect()
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
        group.bench_function(BenchmarkId::new("single-thread", name), |bench| {
            bench.iter(|| {
                matmul(
                    &mut out,
                    black_box(&a),
                    &b,
                    (m, k, n),
                    Transpose::None,
                    false,
                    false,
                )
            })
        });
        group.bench_function(BenchmarkId::new("transposed-a", name), |bench| {
            bench.iter(|| {
                matmul(
                    &mut out,
                    black_box(&a),
                    &b,
                    (m, k, n),
                    Transpose::A,
                    false,
                    false,
                )
            })
        });
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
    let mut bn = BatchNormConfig::keras(shape).init();
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

criterion_group!(benches, gemm, conv_parts);
criterion_main!(benches);
