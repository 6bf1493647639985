//! Compute kernels on flat `f32` slices: matrix products, implicit-GEMM and Winograd
//! convolution, NHWC im2col/col2im. This is the only module that may use `unsafe` (SIMD
//! intrinsics and assembly, the GEMM crate); everything it exports is safe.
#![allow(unsafe_code)]

/// Elements per task when an elementwise loop is split across threads: big enough that
/// scheduling costs nothing, small enough to give both cores work on a 128-image batch.
pub(crate) const PAR_CHUNK: usize = 1 << 14;

#[cfg(target_arch = "x86_64")]
mod conv;
mod gemm;
mod im2col;
#[cfg(target_arch = "x86_64")]
mod pool;
#[cfg(all(test, target_arch = "x86_64"))]
mod reference;
#[cfg(target_arch = "x86_64")]
mod sgemm_avx512;
#[cfg(target_arch = "x86_64")]
mod winograd;

#[cfg(target_arch = "x86_64")]
pub use conv::ImplicitConv;
pub use gemm::{matmul, transpose, Output, Threads, Transpose};
pub use im2col::{col2im, im2col, same_padding, ConvGeometry};
#[cfg(target_arch = "x86_64")]
pub use pool::{max_pool2_applies, max_pool2_backward, max_pool2_forward};
#[cfg(target_arch = "x86_64")]
pub use winograd::WinogradConv;

/// Where the AVX-512 pooling kernel does not exist, it never applies.
#[cfg(not(target_arch = "x86_64"))]
pub fn max_pool2_applies(_: usize) -> bool {
    false
}
