//! Compute kernels on flat `f32` slices: matrix products, the convolution algorithms (im2col,
//! implicit GEMM, Winograd), NHWC im2col/col2im, pooling and the element-wise loops layers
//! share. All CPU-feature detection (`cpu`) and `cfg(target_arch)` switches live here. This is the only module that may use `unsafe` (SIMD
//! intrinsics and assembly, the GEMM crate); everything it exports is safe.
#![allow(unsafe_code)]

mod conv;
mod cpu;
mod elementwise;
mod gemm;
mod im2col;
mod pair;
mod pool;
#[cfg(test)]
pub(crate) mod reference;
#[cfg(target_arch = "x86_64")]
mod sgemm;
#[cfg(target_arch = "x86_64")]
mod sgemm_avx2;
#[cfg(target_arch = "x86_64")]
mod sgemm_avx512;
#[cfg(target_arch = "x86_64")]
mod simd;

pub use conv::{conv_algorithm, flip_kernel, ConvAlgorithm, Im2colGemm, OutputBias};
#[cfg(target_arch = "x86_64")]
pub use conv::{ImplicitConv, ImplicitGemm, Winograd, WinogradConv};
pub use cpu::{isa, isa_setting, Isa};
pub(crate) use elementwise::{
    add_bias_rows, channel_sums, par_tiles, par_zip_map, same_bits, sum_rows_into, tile_len, tiled,
    vectorized, PAR_CHUNK,
};
pub use gemm::{matmul, rows_per_thread, transpose, Output, Threads, Transpose};
pub use im2col::{col2im, im2col, same_padding, ConvGeometry, Padding};
pub use pool::{max_pool_backward, max_pool_forward, PoolGeometry};
