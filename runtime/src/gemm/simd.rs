//! Explicit 8-lane f32 vectors (the `wide` crate) shared by the SIMD kernels on x86_64 and
//! AArch64; other targets (Cortex-M) compile the scalar kernels instead.
//!
//! `wide` picks its instructions from the compile-time target features: with
//! `-C target-cpu=native` on an AVX2 + FMA machine, `mul_add` is one `vfmadd`, and
//! without FMA it is a multiply and an add.

pub(crate) use wide::f32x8;

use crate::Activation;

/// Lanes in one vector.
pub(crate) const LANES: usize = 8;

/// Loads eight lanes from the start of `values`; zero when it is shorter, which every
/// caller's slicing rules out (a fallback rather than a panic).
#[inline(always)]
pub(crate) fn load(values: &[f32]) -> f32x8 {
    values
        .first_chunk::<LANES>()
        .map_or(f32x8::ZERO, |chunk| f32x8::from(*chunk))
}

/// Stores eight lanes at the start of `out` (nothing when it is shorter, which every
/// caller's slicing rules out).
#[inline(always)]
pub(crate) fn store(value: f32x8, out: &mut [f32]) {
    if let Some(chunk) = out.first_chunk_mut::<LANES>() {
        *chunk = value.to_array();
    }
}

/// The fused activation on eight lanes, with [`Activation::apply`]'s NaN rule: a NaN
/// input gives the lower bound, as `f32::max` does.
#[inline(always)]
pub(crate) fn activate(act: Activation, value: f32x8) -> f32x8 {
    match act {
        Activation::None => value,
        Activation::Relu => value.max(f32x8::ZERO),
        Activation::Clip { min, max } => value.max(f32x8::splat(min)).min(f32x8::splat(max)),
    }
}
