//! One vector of `f32` lanes, so a transform written once runs on AVX-512 (`__m512`) and on
//! AVX2 + FMA (`__m256`): bodies generic over [`Vector`] are `#[inline(always)]` and reach their
//! instructions only inside a caller compiled for the set (`cpu::with_avx512`,
//! `cpu::with_avx2_fma`), as matrixmultiply's kernels do.

use std::arch::x86_64::*;

/// The arithmetic the transforms use, one intrinsic each.
///
/// # Safety
/// Every method needs the vector's instruction set on the CPU; `load` and `store` need
/// [`Vector::LANES`] readable or writable floats at the pointer.
pub(crate) trait Vector: Copy {
    /// `f32` values per vector.
    const LANES: usize;
    unsafe fn zero() -> Self;
    unsafe fn splat(v: f32) -> Self;
    unsafe fn load(p: *const f32) -> Self;
    unsafe fn store(self, p: *mut f32);
    unsafe fn add(self, o: Self) -> Self;
    unsafe fn sub(self, o: Self) -> Self;
    unsafe fn mul(self, o: Self) -> Self;
    /// `self · o + acc`, rounded once.
    unsafe fn mul_add(self, o: Self, acc: Self) -> Self;
}

impl Vector for __m512 {
    const LANES: usize = 16;
    #[inline(always)]
    unsafe fn zero() -> Self {
        _mm512_setzero_ps()
    }
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        _mm512_set1_ps(v)
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        _mm512_loadu_ps(p)
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        _mm512_storeu_ps(p, self)
    }
    #[inline(always)]
    unsafe fn add(self, o: Self) -> Self {
        _mm512_add_ps(self, o)
    }
    #[inline(always)]
    unsafe fn sub(self, o: Self) -> Self {
        _mm512_sub_ps(self, o)
    }
    #[inline(always)]
    unsafe fn mul(self, o: Self) -> Self {
        _mm512_mul_ps(self, o)
    }
    #[inline(always)]
    unsafe fn mul_add(self, o: Self, acc: Self) -> Self {
        _mm512_fmadd_ps(self, o, acc)
    }
}

impl Vector for __m256 {
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn zero() -> Self {
        _mm256_setzero_ps()
    }
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        _mm256_set1_ps(v)
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        _mm256_loadu_ps(p)
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        _mm256_storeu_ps(p, self)
    }
    #[inline(always)]
    unsafe fn add(self, o: Self) -> Self {
        _mm256_add_ps(self, o)
    }
    #[inline(always)]
    unsafe fn sub(self, o: Self) -> Self {
        _mm256_sub_ps(self, o)
    }
    #[inline(always)]
    unsafe fn mul(self, o: Self) -> Self {
        _mm256_mul_ps(self, o)
    }
    #[inline(always)]
    unsafe fn mul_add(self, o: Self, acc: Self) -> Self {
        _mm256_fmadd_ps(self, o, acc)
    }
}
