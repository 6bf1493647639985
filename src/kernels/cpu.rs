//! The one place that asks the CPU what it has. Every kernel dispatches on [`isa`], detected once
//! per process, in the order AVX-512 → AVX2 + FMA → portable.
//!
//! Two environment variables lower what is used (never raise it past what the CPU has), so the
//! other paths can be run and compared on one machine:
//!
//! - `MNISTLAB_ISA=portable|avx2|avx512`: the widest instruction set the kernels may use;
//! - `MNISTLAB_NO_AVX512` (any value): AVX-512 off, AVX2 + FMA still allowed.

use crate::error::{Error, Setting};
use std::fmt;
use std::sync::LazyLock;

/// The instruction sets the kernels are written for, narrowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// What the compiler makes of plain Rust for the baseline target, and the `gemm` crate.
    Portable,
    /// 256-bit vectors with fused multiply-add (x86-64: AVX2 and FMA).
    Avx2Fma,
    /// 512-bit vectors (x86-64: AVX-512F).
    Avx512,
}

/// A vector instruction set the hand-written kernels exist for: an [`Isa`] other than
/// [`Isa::Portable`]. A plan that holds one can only have been built where it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Simd {
    /// 8 lanes of `f32` with fused multiply-add.
    Avx2Fma,
    /// 16 lanes of `f32`.
    Avx512,
}

impl Isa {
    /// Every instruction set, narrowest first.
    pub const ALL: [Isa; 3] = [Isa::Portable, Isa::Avx2Fma, Isa::Avx512];

    /// Its name as people read it.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2Fma => "AVX2+FMA",
            Isa::Avx512 => "AVX-512",
        }
    }

    /// Its name as `MNISTLAB_ISA` spells it.
    pub fn setting(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2Fma => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Whether this CPU can run it, whatever the environment says.
    pub fn on_cpu(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Whether the kernels may use it here: the CPU has it and the environment allows it.
    pub fn available(self) -> bool {
        self <= isa()
    }

    /// The hand-written kernels' instruction set, if this is not the portable one.
    pub fn simd(self) -> Option<Simd> {
        match self {
            Isa::Portable => None,
            Isa::Avx2Fma => Some(Simd::Avx2Fma),
            Isa::Avx512 => Some(Simd::Avx512),
        }
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<Simd> for Isa {
    fn from(simd: Simd) -> Isa {
        match simd {
            Simd::Avx2Fma => Isa::Avx2Fma,
            Simd::Avx512 => Isa::Avx512,
        }
    }
}

/// The cap the environment sets: `MNISTLAB_ISA`, lowered to AVX2 + FMA by `MNISTLAB_NO_AVX512`.
/// An unknown `MNISTLAB_ISA` is an error naming it and the values it takes.
pub fn isa_setting() -> Result<Isa, Error> {
    let chosen = match std::env::var_os("MNISTLAB_ISA") {
        None => Isa::Avx512,
        Some(value) => parse_isa(&value.to_string_lossy())?,
    };
    Ok(match std::env::var_os("MNISTLAB_NO_AVX512") {
        Some(_) => chosen.min(Isa::Avx2Fma),
        None => chosen,
    })
}

/// The instruction set a `MNISTLAB_ISA` value names.
fn parse_isa(value: &str) -> Result<Isa, Error> {
    let wanted = value.trim().to_ascii_lowercase();
    (Isa::ALL.into_iter())
        .find(|isa| isa.setting() == wanted)
        .ok_or_else(|| {
            Error::config(
                Setting::InstructionSet,
                format!("unknown instruction set {value:?} (portable, avx2 or avx512)"),
            )
        })
}

/// The widest instruction set the kernels use here: the CPU's best, capped by
/// [`isa_setting`] (which the command line checks before anything runs; a library user's bad
/// value is reported once on stderr and ignored).
pub fn isa() -> Isa {
    static DETECTED: LazyLock<Isa> = LazyLock::new(|| {
        let cap = isa_setting().unwrap_or_else(|err| {
            eprintln!("warning: {err}; using what the CPU has");
            Isa::Avx512
        });
        (Isa::ALL.into_iter())
            .filter(|isa| *isa <= cap && isa.on_cpu())
            .max()
            .unwrap_or(Isa::Portable)
    });
    *DETECTED
}

/// `f()`, inlined into a function the compiler may use AVX-512F instructions in. Only code
/// inlined into `f` (closures marked `#[inline(always)]`) is compiled for it.
///
/// # Safety
/// The CPU must have AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// `f()`, inlined into a function the compiler may use AVX2 and FMA instructions in; as
/// [`with_avx512`].
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn with_avx2_fma<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Runs `$body` compiled for `$simd`'s instruction set, with `$v` naming its vector type
/// (`__m512` or `__m256`, see `simd::Vector`): the body is written once, generic over the
/// vector, and inlined into a function of each set.
///
/// # Safety
/// The CPU must have `$simd` (plans hold a `Simd` only where it does).
#[cfg(target_arch = "x86_64")]
macro_rules! on_simd {
    ($simd:expr, $v:ident => $body:expr) => {
        match $simd {
            $crate::kernels::cpu::Simd::Avx512 => {
                type $v = std::arch::x86_64::__m512;
                $crate::kernels::cpu::with_avx512(
                    #[inline(always)]
                    || $body,
                )
            }
            $crate::kernels::cpu::Simd::Avx2Fma => {
                type $v = std::arch::x86_64::__m256;
                $crate::kernels::cpu::with_avx2_fma(
                    #[inline(always)]
                    || $body,
                )
            }
        }
    };
}
#[cfg(target_arch = "x86_64")]
pub(crate) use on_simd;

/// For a kernel test of `isa` that cannot run: outside CI it is skipped with a note; in CI on a
/// CPU that has `isa` (and no environment switch turning it off) it fails, so no kernel goes
/// untested there by accident.
#[cfg(test)]
pub(crate) fn kernel_unavailable(isa: Isa, what: &str) {
    let switched_off = isa_setting().map_or(true, |cap| cap < isa);
    if std::env::var_os("CI").is_some() && isa.on_cpu() && !switched_off {
        panic!("{what}: the {isa} kernel was not used on a CPU that has {isa}");
    }
    eprintln!("no {isa} kernel here: {what} not tested");
}

/// For a test of every path: the instruction sets the kernels may use here, narrowest first,
/// each missing one reported through [`kernel_unavailable`].
#[cfg(test)]
pub(crate) fn each_isa(what: &str) -> Vec<Isa> {
    let (usable, missing): (Vec<Isa>, Vec<Isa>) = Isa::ALL.into_iter().partition(|i| i.available());
    for isa in missing {
        kernel_unavailable(isa, what);
    }
    usable
}

/// [`each_isa`] without the portable path: the hand-written kernels to test.
#[cfg(test)]
pub(crate) fn each_simd(what: &str) -> Vec<Simd> {
    each_isa(what).into_iter().filter_map(Isa::simd).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chosen_set_runs_here_and_respects_the_cap() {
        let chosen = isa();
        assert!(chosen.on_cpu(), "{chosen} chosen on a CPU without it");
        assert!(chosen <= isa_setting().unwrap_or(Isa::Avx512));
        // Every narrower set is available too: the kernels fall back in order.
        for narrower in Isa::ALL.into_iter().filter(|i| *i <= chosen) {
            assert!(narrower.available() && narrower.on_cpu());
        }
        assert_eq!(Isa::Portable.simd(), None);
        assert_eq!(Isa::from(Isa::Avx2Fma.simd().unwrap()), Isa::Avx2Fma);
    }

    #[test]
    fn settings_parse_by_name_and_unknown_ones_are_named_in_the_error() {
        for isa in Isa::ALL {
            assert_eq!(parse_isa(isa.setting()).unwrap(), isa);
        }
        assert_eq!(parse_isa(" AVX2 ").unwrap(), Isa::Avx2Fma);
        let err = parse_isa("sse9").unwrap_err().to_string();
        assert!(
            err.contains("MNISTLAB_ISA") && err.contains("sse9"),
            "{err}"
        );
    }
}
