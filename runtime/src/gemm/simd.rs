//! Explicit 8-lane f32 vectors shared by the SIMD kernels on x86_64 and AArch64; other
//! targets (Cortex-M) compile the scalar kernels instead.
//!
//! [`F32x8`] has `#[inline(always)]` operations only. With AVX (`-C target-cpu=native`
//! on an AVX2 + FMA machine) it is `safe_arch`'s `m256` (the crate `wide` is built on,
//! whose functions are always inlined) and each operation one instruction: `mul_add` is
//! one `vfmadd`, and without FMA a multiply and an add. On x86_64 without AVX (the
//! baseline ISA, when no `target-cpu` is set) built for size it is two SSE `m128`s, also
//! over `safe_arch`. Elsewhere it wraps `wide::f32x8`, which picks its instructions from
//! the compile-time target features. The wrapper exists for opt-level "z": `wide`'s
//! operations are `#[inline]` only, and at "z" LLVM left even `splat` as a call in the
//! GEMM's inner loop (41 % of mnist-8's instructions), spilling every accumulator around
//! it.

use crate::activation::Fixed;
use crate::Activation;

/// Lanes in one vector.
pub(crate) const LANES: usize = 8;

#[cfg(all(target_arch = "x86_64", target_feature = "avx"))]
mod lanes {
    use safe_arch::{
        add_m256, div_m256, m256, max_m256, min_m256, mul_m256, set_splat_m256, sub_m256,
    };

    /// Eight `f32` lanes in one AVX register.
    #[derive(Clone, Copy)]
    #[repr(transparent)]
    pub(crate) struct F32x8(m256);

    impl F32x8 {
        /// Every lane `value`.
        #[inline(always)]
        pub(crate) fn splat(value: f32) -> Self {
            Self(set_splat_m256(value))
        }

        /// The lanes of an array.
        #[inline(always)]
        pub(crate) fn from_array(values: [f32; 8]) -> Self {
            Self(m256::from_array(values))
        }

        /// The lanes as an array.
        #[inline(always)]
        pub(crate) fn to_array(self) -> [f32; 8] {
            self.0.to_array()
        }

        /// `self · m + a`, fused when the target has FMA.
        #[inline(always)]
        pub(crate) fn mul_add(self, m: Self, a: Self) -> Self {
            #[cfg(target_feature = "fma")]
            {
                Self(safe_arch::fused_mul_add_m256(self.0, m.0, a.0))
            }
            #[cfg(not(target_feature = "fma"))]
            {
                Self(add_m256(mul_m256(self.0, m.0), a.0))
            }
        }

        /// The AVX register (for the shuffles of `transpose`).
        #[inline(always)]
        pub(crate) fn into_m256(self) -> m256 {
            self.0
        }

        /// Lanes from an AVX register.
        #[inline(always)]
        pub(crate) fn from_m256(value: m256) -> Self {
            Self(value)
        }

        /// Lane-wise sum.
        #[inline(always)]
        pub(crate) fn add(self, other: Self) -> Self {
            Self(add_m256(self.0, other.0))
        }

        /// Lane-wise product.
        #[inline(always)]
        pub(crate) fn mul(self, other: Self) -> Self {
            Self(mul_m256(self.0, other.0))
        }

        /// Lane-wise quotient (for the vector `tanh` of targets with FMA).
        #[cfg_attr(
            not(any(
                all(target_arch = "x86_64", target_feature = "fma"),
                target_arch = "aarch64"
            )),
            allow(dead_code)
        )]
        #[inline(always)]
        pub(crate) fn div(self, other: Self) -> Self {
            Self(div_m256(self.0, other.0))
        }

        /// Lane-wise difference (for the vector `exp` of targets with FMA).
        #[cfg_attr(
            not(any(
                all(target_arch = "x86_64", target_feature = "fma"),
                target_arch = "aarch64"
            )),
            allow(dead_code)
        )]
        #[inline(always)]
        pub(crate) fn sub(self, other: Self) -> Self {
            Self(sub_m256(self.0, other.0))
        }

        /// The lanes whose bits are the integers `self` holds (for the vector `exp` of
        /// targets with FMA, which builds `2^n` from its exponent bits): each lane must be
        /// an integer within `i32`'s range, which the conversion keeps exactly.
        #[cfg_attr(
            not(any(
                all(target_arch = "x86_64", target_feature = "fma"),
                target_arch = "aarch64"
            )),
            allow(dead_code)
        )]
        #[inline(always)]
        pub(crate) fn reinterpret_integers(self) -> Self {
            // `vcvtps2dq` then a cast: AVX alone, so the 256-bit integer shifts of AVX2
            // are not needed.
            Self(safe_arch::cast_to_m256_from_m256i(
                safe_arch::convert_to_i32_m256i_from_m256(self.0),
            ))
        }

        /// Lane-wise maximum; a NaN in `self` gives `bound` (`vmaxps` returns its second
        /// operand when either is NaN), as [`f32::max`] would.
        #[inline(always)]
        pub(crate) fn max(self, bound: Self) -> Self {
            Self(max_m256(self.0, bound.0))
        }

        /// Lane-wise minimum; a NaN in `self` gives `bound`, as [`f32::min`] would.
        #[inline(always)]
        pub(crate) fn min(self, bound: Self) -> Self {
            Self(min_m256(self.0, bound.0))
        }

        /// The lanes of `above` where `self > threshold` (false for a NaN), else those of
        /// `otherwise`: one compare and one `vblendvps` (for the vector `erf`).
        #[cfg_attr(not(target_feature = "fma"), allow(dead_code))]
        #[inline(always)]
        pub(crate) fn select_above(self, threshold: Self, above: Self, otherwise: Self) -> Self {
            let mask = safe_arch::cmp_op_mask_m256::<{ safe_arch::cmp_op!(GreaterThanOrdered) }>(
                self.0,
                threshold.0,
            );
            Self(safe_arch::blend_varying_m256(otherwise.0, above.0, mask))
        }
    }
}

#[cfg(all(
    target_arch = "x86_64",
    target_feature = "sse2",
    not(target_feature = "avx"),
    zant_size
))]
mod lanes {
    use safe_arch::{
        add_m128, div_m128, m128, max_m128, min_m128, mul_m128, set_splat_m128, sub_m128,
    };

    /// Eight `f32` lanes in two SSE registers, for x86_64's baseline ISA (`target-cpu`
    /// unset) built for size (`cfg(zant_size)`). Written over `safe_arch` like the AVX
    /// form, since `wide`'s operations stay calls at "z": through `wide`, mlperf-vww at
    /// "z" took 96.8 M instructions, 5.4 times its opt-3 count, and 24.1 M this way. At
    /// opt-level 3 `wide` is kept: its GEMM tile ran 24 % fewer instructions (mnist-8).
    #[derive(Clone, Copy)]
    pub(crate) struct F32x8([m128; 2]);

    impl F32x8 {
        /// Both halves through `op`.
        #[inline(always)]
        fn zip(self, other: Self, op: impl Fn(m128, m128) -> m128) -> Self {
            Self([op(self.0[0], other.0[0]), op(self.0[1], other.0[1])])
        }

        /// Every lane `value`.
        #[inline(always)]
        pub(crate) fn splat(value: f32) -> Self {
            let half = set_splat_m128(value);
            Self([half, half])
        }

        /// The lanes of an array.
        #[inline(always)]
        pub(crate) fn from_array(values: [f32; 8]) -> Self {
            let [a, b, c, d, e, f, g, h] = values;
            Self([
                m128::from_array([a, b, c, d]),
                m128::from_array([e, f, g, h]),
            ])
        }

        /// The lanes as an array.
        #[inline(always)]
        pub(crate) fn to_array(self) -> [f32; 8] {
            let [a, b, c, d] = self.0[0].to_array();
            let [e, f, g, h] = self.0[1].to_array();
            [a, b, c, d, e, f, g, h]
        }

        /// `self · m + a`, fused when the target has FMA.
        #[inline(always)]
        pub(crate) fn mul_add(self, m: Self, a: Self) -> Self {
            #[cfg(target_feature = "fma")]
            {
                Self([
                    safe_arch::fused_mul_add_m128(self.0[0], m.0[0], a.0[0]),
                    safe_arch::fused_mul_add_m128(self.0[1], m.0[1], a.0[1]),
                ])
            }
            #[cfg(not(target_feature = "fma"))]
            {
                self.mul(m).add(a)
            }
        }

        /// Lane-wise sum.
        #[inline(always)]
        pub(crate) fn add(self, other: Self) -> Self {
            self.zip(other, add_m128)
        }

        /// Lane-wise product.
        #[inline(always)]
        pub(crate) fn mul(self, other: Self) -> Self {
            self.zip(other, mul_m128)
        }

        /// Lane-wise quotient (for the vector `tanh` of targets with FMA).
        #[cfg_attr(not(target_feature = "fma"), allow(dead_code))]
        #[inline(always)]
        pub(crate) fn div(self, other: Self) -> Self {
            self.zip(other, div_m128)
        }

        /// Lane-wise difference (for the vector `exp` of targets with FMA).
        #[cfg_attr(not(target_feature = "fma"), allow(dead_code))]
        #[inline(always)]
        pub(crate) fn sub(self, other: Self) -> Self {
            self.zip(other, sub_m128)
        }

        /// The lanes whose bits are the integers `self` holds (for the vector `exp` of
        /// targets with FMA, which builds `2^n` from its exponent bits): each lane must be
        /// an integer within `i32`'s range, which the conversion keeps exactly.
        #[cfg_attr(not(target_feature = "fma"), allow(dead_code))]
        #[inline(always)]
        pub(crate) fn reinterpret_integers(self) -> Self {
            let bits = |half| {
                safe_arch::cast_to_m128_from_m128i(safe_arch::convert_to_i32_m128i_from_m128(half))
            };
            Self([bits(self.0[0]), bits(self.0[1])])
        }

        /// Lane-wise maximum; a NaN in `self` gives `bound` (`maxps` returns its second
        /// operand when either is NaN), as [`f32::max`] would.
        #[inline(always)]
        pub(crate) fn max(self, bound: Self) -> Self {
            self.zip(bound, max_m128)
        }

        /// Lane-wise minimum; a NaN in `self` gives `bound`, as [`f32::min`] would.
        #[inline(always)]
        pub(crate) fn min(self, bound: Self) -> Self {
            self.zip(bound, min_m128)
        }

        /// The lanes of `above` where `self > threshold` (false for a NaN), else those of
        /// `otherwise`: a compare and three bitwise operations per half (SSE2 has no
        /// blend), for the Winograd input transform's vectors that span rows.
        #[inline(always)]
        pub(crate) fn select_above(self, threshold: Self, above: Self, otherwise: Self) -> Self {
            use safe_arch::{bitand_m128, bitandnot_m128, bitor_m128, cmp_gt_mask_m128};
            let half = |i: usize| {
                let mask = cmp_gt_mask_m128(self.0[i], threshold.0[i]);
                bitor_m128(
                    bitand_m128(mask, above.0[i]),
                    bitandnot_m128(mask, otherwise.0[i]),
                )
            };
            Self([half(0), half(1)])
        }
    }
}

#[cfg(not(all(
    target_arch = "x86_64",
    any(target_feature = "avx", all(target_feature = "sse2", zant_size))
)))]
mod lanes {
    use wide::{f32x8, CmpGt, CmpLt};

    /// Eight `f32` lanes through `wide`.
    #[derive(Clone, Copy)]
    #[repr(transparent)]
    pub(crate) struct F32x8(f32x8);

    impl F32x8 {
        /// Every lane `value`.
        #[inline(always)]
        pub(crate) fn splat(value: f32) -> Self {
            Self(f32x8::splat(value))
        }

        /// The lanes of an array.
        #[inline(always)]
        pub(crate) fn from_array(values: [f32; 8]) -> Self {
            Self(f32x8::from(values))
        }

        /// The lanes as an array.
        #[inline(always)]
        pub(crate) fn to_array(self) -> [f32; 8] {
            self.0.to_array()
        }

        /// `self · m + a`, fused when the target has FMA, and always on AArch64, where
        /// `wide` rounds the product before the sum: through NEON's `FMLA`
        /// (`dsp::fmla_f32x4`), or lane by lane with `libm::fmaf` on a build without NEON
        /// (`aarch64-unknown-none-softfloat`).
        #[inline(always)]
        pub(crate) fn mul_add(self, m: Self, a: Self) -> Self {
            #[cfg(all(target_arch = "aarch64", not(target_feature = "neon")))]
            {
                let (x, y, z) = (self.to_array(), m.to_array(), a.to_array());
                Self::from_array(core::array::from_fn(|i| libm::fmaf(x[i], y[i], z[i])))
            }
            #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
            {
                let halves = |v: Self| {
                    let v = v.to_array();
                    ([v[0], v[1], v[2], v[3]], [v[4], v[5], v[6], v[7]])
                };
                let ((x0, x1), (m0, m1), (a0, a1)) = (halves(self), halves(m), halves(a));
                let lo = crate::dsp::fmla_f32x4(x0, m0, a0);
                let hi = crate::dsp::fmla_f32x4(x1, m1, a1);
                Self::from_array([lo[0], lo[1], lo[2], lo[3], hi[0], hi[1], hi[2], hi[3]])
            }
            #[cfg(not(target_arch = "aarch64"))]
            Self(self.0.mul_add(m.0, a.0))
        }

        /// Lane-wise sum.
        #[inline(always)]
        pub(crate) fn add(self, other: Self) -> Self {
            Self(self.0 + other.0)
        }

        /// Lane-wise product.
        #[inline(always)]
        pub(crate) fn mul(self, other: Self) -> Self {
            Self(self.0 * other.0)
        }

        /// Lane-wise quotient (for the vector `tanh` of targets with FMA).
        #[cfg_attr(
            not(any(
                all(target_arch = "x86_64", target_feature = "fma"),
                target_arch = "aarch64"
            )),
            allow(dead_code)
        )]
        #[inline(always)]
        pub(crate) fn div(self, other: Self) -> Self {
            Self(self.0 / other.0)
        }

        /// Lane-wise difference (for the vector `exp` of targets with FMA).
        #[cfg_attr(
            not(any(
                all(target_arch = "x86_64", target_feature = "fma"),
                target_arch = "aarch64"
            )),
            allow(dead_code)
        )]
        #[inline(always)]
        pub(crate) fn sub(self, other: Self) -> Self {
            Self(self.0 - other.0)
        }

        /// The lanes whose bits are the integers `self` holds (for the vector `exp` of
        /// targets with FMA, which builds `2^n` from its exponent bits): each lane must be
        /// an integer within `i32`'s range, which the conversion keeps exactly.
        #[cfg_attr(
            not(any(
                all(target_arch = "x86_64", target_feature = "fma"),
                target_arch = "aarch64"
            )),
            allow(dead_code)
        )]
        #[inline(always)]
        pub(crate) fn reinterpret_integers(self) -> Self {
            Self(bytemuck::cast::<wide::i32x8, f32x8>(self.0.round_int()))
        }

        /// Lane-wise maximum; a NaN in `self` gives `bound`, as [`f32::max`] would.
        #[inline(always)]
        pub(crate) fn max(self, bound: Self) -> Self {
            // A compare and a select, so that a NaN in either operand gives `bound`, as
            // x86's `vmaxps` does (`exp_lanes` lets a NaN through its clamps that way).
            Self(self.0.cmp_gt(bound.0).blend(self.0, bound.0))
        }

        /// Lane-wise minimum; a NaN in `self` gives `bound`, as [`f32::min`] would.
        #[inline(always)]
        pub(crate) fn min(self, bound: Self) -> Self {
            Self(self.0.cmp_lt(bound.0).blend(self.0, bound.0))
        }

        /// The lanes of `above` where `self > threshold` (false for a NaN), else those of
        /// `otherwise` (for the vector `erf` of targets with FMA).
        #[cfg_attr(
            not(any(
                all(target_arch = "x86_64", target_feature = "fma"),
                target_arch = "aarch64"
            )),
            allow(dead_code)
        )]
        #[inline(always)]
        pub(crate) fn select_above(self, threshold: Self, above: Self, otherwise: Self) -> Self {
            use wide::CmpGt;
            Self(self.0.cmp_gt(threshold.0).blend(above.0, otherwise.0))
        }
    }
}

pub(crate) use lanes::F32x8;

/// Sixteen `f32` lanes in one AVX-512 register, for the 12 × 16 tile of the packed GEMM
/// (`gemm/packed.rs`): only what that tile needs, each operation one instruction.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
#[derive(Clone, Copy)]
#[repr(transparent)]
pub(crate) struct F32x16(safe_arch::m512);

#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
impl F32x16 {
    /// Every lane `value`.
    #[inline(always)]
    pub(crate) fn splat(value: f32) -> Self {
        Self(safe_arch::set_splat_m512(value))
    }

    /// The sixteen values of `values`.
    #[inline(always)]
    pub(crate) fn load(values: &[f32; 16]) -> Self {
        Self(safe_arch::load_m512(values))
    }

    /// `self · m + a`, one `vfmadd…ps zmm`.
    #[inline(always)]
    pub(crate) fn mul_add(self, m: Self, a: Self) -> Self {
        Self(safe_arch::fused_mul_add_m512(self.0, m.0, a.0))
    }

    /// `self + other` lane-wise, one `vaddps zmm`.
    #[inline(always)]
    pub(crate) fn add(self, other: Self) -> Self {
        Self(safe_arch::add_m512(self.0, other.0))
    }

    /// `self · other` lane-wise, one `vmulps zmm`.
    #[inline(always)]
    pub(crate) fn mul(self, other: Self) -> Self {
        Self(safe_arch::mul_m512(self.0, other.0))
    }

    /// `self − other` lane-wise, one `vsubps zmm` (for the vector `exp`).
    #[inline(always)]
    pub(crate) fn sub(self, other: Self) -> Self {
        Self(safe_arch::sub_m512(self.0, other.0))
    }

    /// `self / other` lane-wise, one `vdivps zmm` (for the vector sigmoid and Swish).
    #[inline(always)]
    pub(crate) fn div(self, other: Self) -> Self {
        Self(safe_arch::div_m512(self.0, other.0))
    }

    /// The lanes whose bits are the integers `self` holds, as
    /// [`F32x8::reinterpret_integers`]: each lane an integer within `i32`'s range.
    #[inline(always)]
    pub(crate) fn reinterpret_integers(self) -> Self {
        Self(safe_arch::cast_to_m512_from_m512i(
            safe_arch::convert_to_i32_m512i_from_m512(self.0),
        ))
    }

    /// `self · 2^⌊n⌋` lane-wise, rounded once: one `vscalefps zmm` (for the vector `exp`).
    #[inline(always)]
    pub(crate) fn times_pow2(self, n: Self) -> Self {
        Self(crate::dsp::scalef512(self.0, n.0))
    }

    /// Stores the sixteen lanes at the front of `out` (nothing when it is shorter).
    #[inline(always)]
    pub(crate) fn store(self, out: &mut [f32]) {
        if let Some(out) = out.first_chunk_mut::<16>() {
            safe_arch::store_m512(out, self.0);
        }
    }

    /// The lanes as an array.
    #[inline(always)]
    pub(crate) fn to_array(self) -> [f32; 16] {
        self.0.to_array()
    }

    /// The even and the odd lanes of the 32 values `self` then `high`: two two-source
    /// permutes (`vpermt2ps`).
    #[inline(always)]
    pub(crate) fn deinterleave(self, high: Self) -> (Self, Self) {
        use safe_arch::shuffle_abv_i32_all_m512i as permute;
        use safe_arch::{cast_to_m512_from_m512i, cast_to_m512i_from_m512, m512i};
        let even = m512i::from([
            0_i32, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30,
        ]);
        let odd = m512i::from([
            1_i32, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31,
        ]);
        let (a, b) = (
            cast_to_m512i_from_m512(self.0),
            cast_to_m512i_from_m512(high.0),
        );
        (
            Self(cast_to_m512_from_m512i(permute(a, even, b))),
            Self(cast_to_m512_from_m512i(permute(a, odd, b))),
        )
    }

    /// The 32 values `self[0], odd[0], self[1], odd[1], …` as two vectors, the inverse of
    /// [`F32x16::deinterleave`].
    #[inline(always)]
    pub(crate) fn interleave(self, odd: Self) -> (Self, Self) {
        use safe_arch::shuffle_abv_i32_all_m512i as permute;
        use safe_arch::{cast_to_m512_from_m512i, cast_to_m512i_from_m512, m512i};
        let low = m512i::from([0_i32, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23]);
        let high = m512i::from([
            8_i32, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31,
        ]);
        let (a, b) = (
            cast_to_m512i_from_m512(self.0),
            cast_to_m512i_from_m512(odd.0),
        );
        (
            Self(cast_to_m512_from_m512i(permute(a, low, b))),
            Self(cast_to_m512_from_m512i(permute(a, high, b))),
        )
    }

    /// The low and the high eight lanes.
    #[inline(always)]
    pub(crate) fn halves(self) -> [F32x8; 2] {
        [
            F32x8::from_m256(safe_arch::extract_m256_from_m512::<0>(self.0)),
            F32x8::from_m256(safe_arch::extract_m256_from_m512::<1>(self.0)),
        ]
    }

    /// Lane-wise maximum; a NaN in `self` gives `bound` (`vmaxps` returns its second
    /// operand when either is NaN), as [`F32x8::max`].
    #[inline(always)]
    pub(crate) fn max(self, bound: Self) -> Self {
        Self(safe_arch::max_m512(self.0, bound.0))
    }

    /// Lane-wise minimum; a NaN in `self` gives `bound`, as [`F32x8::min`].
    #[inline(always)]
    pub(crate) fn min(self, bound: Self) -> Self {
        Self(safe_arch::min_m512(self.0, bound.0))
    }

    /// The lanes of `above` where `self > threshold` (false for a NaN), else those of
    /// `otherwise`: a compare into a mask register and one `vblendmps`, as
    /// [`F32x8::select_above`].
    #[inline(always)]
    pub(crate) fn select_above(self, threshold: Self, above: Self, otherwise: Self) -> Self {
        let mask = safe_arch::cmp_op_mask_f32::<{ safe_arch::cmp_op!(GreaterThanOrdered) }>(
            self.0,
            threshold.0,
        );
        Self(safe_arch::blend_varying_m512(otherwise.0, above.0, mask))
    }

    /// A mask for [`Self::and`]: all bits set in the lanes where `keep` is true, none
    /// elsewhere.
    #[inline(always)]
    pub(crate) fn mask(keep: [bool; 16]) -> Self {
        let bits = keep.map(|k| if k { -1 } else { 0 });
        Self(safe_arch::cast_to_m512_from_m512i(safe_arch::m512i::from(
            bits,
        )))
    }

    /// Lane-wise bitwise and: with a [`Self::mask`], the lanes masked out are `+0.0`,
    /// whatever they held (a NaN or an infinity too).
    #[inline(always)]
    pub(crate) fn and(self, mask: Self) -> Self {
        Self(safe_arch::bitand_m512(self.0, mask.0))
    }

    /// The even lanes of `lo` then of `hi` (`[lo0, lo2, …, lo14, hi0, …, hi14]`): one
    /// two-source permute.
    #[inline(always)]
    pub(crate) fn evens(lo: Self, hi: Self) -> Self {
        Self::pick(lo, hi, core::array::from_fn(|i| 2 * i as i32))
    }

    /// The odd lanes of `lo` then of `hi`, as [`Self::evens`].
    #[inline(always)]
    pub(crate) fn odds(lo: Self, hi: Self) -> Self {
        Self::pick(lo, hi, core::array::from_fn(|i| 2 * i as i32 + 1))
    }

    /// Lane `i` is lane `index[i]` of `lo` and `hi` side by side (`vpermt2d`).
    #[inline(always)]
    fn pick(lo: Self, hi: Self, index: [i32; 16]) -> Self {
        use safe_arch::{cast_to_m512_from_m512i as float, cast_to_m512i_from_m512 as bits};
        let index = safe_arch::m512i::from(index);
        Self(float(safe_arch::shuffle_abv_i32_all_m512i(
            bits(lo.0),
            index,
            bits(hi.0),
        )))
    }

    /// [`activate`] on sixteen lanes.
    #[inline(always)]
    pub(crate) fn activate(self, act: Activation) -> Self {
        match act {
            Activation::None => self,
            Activation::Relu => self.max(Self::splat(0.0)),
            Activation::Clip { min, max } => self.max(Self::splat(min)).min(Self::splat(max)),
            Activation::Sigmoid | Activation::Swish { .. } => {
                let [value] = crate::elementwise::logistic_lanes16(act, [self]);
                value
            }
        }
    }

    /// [`Self::activate`] on `N` vectors: a logistic activation in one call for all
    /// (their chains overlap), the others vector by vector.
    #[inline(always)]
    pub(crate) fn activate_all<const N: usize>(values: [Self; N], act: Activation) -> [Self; N] {
        match act {
            Activation::Sigmoid | Activation::Swish { .. } => {
                crate::elementwise::logistic_lanes16(act, values)
            }
            _ => values.map(|v| v.activate(act)),
        }
    }

    /// The 16 × 16 transpose: lane `j` of output `i` is lane `i` of input `j`, in 64
    /// shuffles. Within each 128-bit quarter, each group of four rows is transposed 4 × 4
    /// (32-bit, then 64-bit unpacks); then the quarters of the four groups' vectors
    /// trade places as a 4 × 4 transpose of quarters (two-source 64-bit permutes).
    #[inline(always)]
    pub(crate) fn transpose_16x16(rows: [Self; 16]) -> [Self; 16] {
        use safe_arch::{
            cast_to_m512_from_m512i, cast_to_m512i_from_m512, m512i, shuffle_abv_i64_all_m512i,
            unpack_high_i32_m512i, unpack_high_i64_m512i, unpack_low_i32_m512i,
            unpack_low_i64_m512i,
        };
        let r = |i: usize| cast_to_m512i_from_m512(rows[i].0);
        // `u[g][e]`, quarter q: element e of quarter q of rows 4g..4g + 4, that is column
        // 4q + e of those rows.
        let mut u = [[m512i::default(); 4]; 4];
        crate::unroll::unroll!(4, |g| {
            let (a, b, c, d) = (r(4 * g), r(4 * g + 1), r(4 * g + 2), r(4 * g + 3));
            let (ab_low, ab_high) = (unpack_low_i32_m512i(a, b), unpack_high_i32_m512i(a, b));
            let (cd_low, cd_high) = (unpack_low_i32_m512i(c, d), unpack_high_i32_m512i(c, d));
            u[g] = [
                unpack_low_i64_m512i(ab_low, cd_low),
                unpack_high_i64_m512i(ab_low, cd_low),
                unpack_low_i64_m512i(ab_high, cd_high),
                unpack_high_i64_m512i(ab_high, cd_high),
            ];
        });
        // Quarters (pairs of 64-bit lanes): the low and high halves of two vectors, then
        // the even and odd quarters of two of those.
        let low_halves = m512i::from([0_i64, 1, 2, 3, 8, 9, 10, 11]);
        let high_halves = m512i::from([4_i64, 5, 6, 7, 12, 13, 14, 15]);
        let even_quarters = m512i::from([0_i64, 1, 4, 5, 8, 9, 12, 13]);
        let odd_quarters = m512i::from([2_i64, 3, 6, 7, 10, 11, 14, 15]);
        let mut columns = [Self::splat(0.0); 16];
        crate::unroll::unroll!(4, |e| {
            let t0 = shuffle_abv_i64_all_m512i(u[0][e], low_halves, u[1][e]);
            let t1 = shuffle_abv_i64_all_m512i(u[0][e], high_halves, u[1][e]);
            let t2 = shuffle_abv_i64_all_m512i(u[2][e], low_halves, u[3][e]);
            let t3 = shuffle_abv_i64_all_m512i(u[2][e], high_halves, u[3][e]);
            let out = |v: m512i| Self(cast_to_m512_from_m512i(v));
            columns[e] = out(shuffle_abv_i64_all_m512i(t0, even_quarters, t2));
            columns[4 + e] = out(shuffle_abv_i64_all_m512i(t0, odd_quarters, t2));
            columns[8 + e] = out(shuffle_abv_i64_all_m512i(t1, even_quarters, t3));
            columns[12 + e] = out(shuffle_abv_i64_all_m512i(t1, odd_quarters, t3));
        });
        columns
    }

    /// Sixteen rows of eight columns, given as eight column vectors (lane `r` of
    /// `columns[j]` is row `r`, column `j`), turned into the rows: 24 shuffles, the
    /// 512-bit form of [`transpose`]. Pairs of columns interleave, then quads, within
    /// each 128-bit lane of four rows; one two-source permute per pair of rows then
    /// joins a row's columns 0–3 and 4–7.
    #[inline(always)]
    pub(crate) fn transpose_16x8(columns: [Self; 8]) -> [F32x8; 16] {
        use safe_arch::{
            cast_to_m512_from_m512i, cast_to_m512i_from_m512, m512i, permute2_i32_m512i,
            unpack_high_i32_m512i, unpack_high_i64_m512i, unpack_low_i32_m512i,
            unpack_low_i64_m512i,
        };
        let c: [m512i; 8] = [
            cast_to_m512i_from_m512(columns[0].0),
            cast_to_m512i_from_m512(columns[1].0),
            cast_to_m512i_from_m512(columns[2].0),
            cast_to_m512i_from_m512(columns[3].0),
            cast_to_m512i_from_m512(columns[4].0),
            cast_to_m512i_from_m512(columns[5].0),
            cast_to_m512i_from_m512(columns[6].0),
            cast_to_m512i_from_m512(columns[7].0),
        ];
        // In each lane of rows 4L..4L + 4: (c0 c1) of rows 4L, 4L + 1, then 4L + 2, 4L + 3.
        let t = [
            unpack_low_i32_m512i(c[0], c[1]),
            unpack_high_i32_m512i(c[0], c[1]),
            unpack_low_i32_m512i(c[2], c[3]),
            unpack_high_i32_m512i(c[2], c[3]),
            unpack_low_i32_m512i(c[4], c[5]),
            unpack_high_i32_m512i(c[4], c[5]),
            unpack_low_i32_m512i(c[6], c[7]),
            unpack_high_i32_m512i(c[6], c[7]),
        ];
        // `q[i]`, lane L: columns 0–3 of row 4L + i; `q[4 + i]`: columns 4–7.
        let q = [
            unpack_low_i64_m512i(t[0], t[2]),
            unpack_high_i64_m512i(t[0], t[2]),
            unpack_low_i64_m512i(t[1], t[3]),
            unpack_high_i64_m512i(t[1], t[3]),
            unpack_low_i64_m512i(t[4], t[6]),
            unpack_high_i64_m512i(t[4], t[6]),
            unpack_low_i64_m512i(t[5], t[7]),
            unpack_high_i64_m512i(t[5], t[7]),
        ];
        // Lanes 0 and 1 of both (rows i and 4 + i), then lanes 2 and 3 (8 + i, 12 + i).
        let low = m512i::from([0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23]);
        let high = m512i::from([8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31]);
        let mut rows = [F32x8::splat(0.0); 16];
        crate::unroll::unroll!(4, |i| {
            let [a, b] = Self(cast_to_m512_from_m512i(permute2_i32_m512i(
                q[i],
                low,
                q[4 + i],
            )))
            .halves();
            let [c, d] = Self(cast_to_m512_from_m512i(permute2_i32_m512i(
                q[i],
                high,
                q[4 + i],
            )))
            .halves();
            (rows[i], rows[4 + i], rows[8 + i], rows[12 + i]) = (a, b, c, d);
        });
        rows
    }
}

/// A vector of `L` `f32` lanes, for kernels written once for eight lanes and, with
/// AVX-512, sixteen (the depthwise convolution on channel vectors, `conv/channels.rs`).
pub(crate) trait Vector<const L: usize>: Copy {
    /// Every lane `value`.
    fn splat(value: f32) -> Self;
    /// The lanes of `values`.
    fn from_array(values: [f32; L]) -> Self;
    /// The lanes as an array.
    fn to_array(self) -> [f32; L];
    /// `self · m + a`, fused where the target has it.
    fn mul_add(self, m: Self, a: Self) -> Self;
    /// `self · other` lane-wise.
    fn mul(self, other: Self) -> Self;
    /// `L` lanes from `values[at..]`; zero when it is shorter.
    fn load_at(values: &[f32], at: usize) -> Self;
    /// Stores the lanes at `out[at..]`; nothing when it is shorter.
    fn store_at(self, out: &mut [f32], at: usize);
    /// The `L × L` transpose: lane `j` of output `i` is lane `i` of input `j`.
    fn transpose(rows: [Self; L]) -> [Self; L];
    /// The fused activation, with [`activate`]'s NaN rule.
    fn activate(self, act: Activation) -> Self;
    /// [`Self::activate`] on `N` vectors at once (a logistic one in one call, so that
    /// the vectors' chains overlap).
    #[inline(always)]
    fn activate_all<const N: usize>(values: [Self; N], act: Activation) -> [Self; N] {
        values.map(|v| v.activate(act))
    }

    /// [`Self::activate_all`] in a kernel built for activation `K`, a [`Fixed`] kind
    /// (the caller has matched [`Activation::fixed`]): only that kind's code, the two
    /// logistic kinds one build ([`Fixed::SIGMOID`]).
    #[inline(always)]
    fn activate_as<const K: u8, const N: usize>(values: [Self; N], act: Activation) -> [Self; N] {
        match K {
            Fixed::IDENTITY => values,
            Fixed::RELU => values.map(|v| v.activate(Activation::Relu)),
            Fixed::CLIP => {
                let (_, (min, max)) = act.fixed();
                values.map(|v| v.activate(Activation::Clip { min, max }))
            }
            _ => Self::activate_all(values, act),
        }
    }
}

impl Vector<LANES> for F32x8 {
    #[inline(always)]
    fn splat(value: f32) -> Self {
        F32x8::splat(value)
    }

    #[inline(always)]
    fn from_array(values: [f32; LANES]) -> Self {
        F32x8::from_array(values)
    }

    #[inline(always)]
    fn to_array(self) -> [f32; LANES] {
        F32x8::to_array(self)
    }

    #[inline(always)]
    fn mul_add(self, m: Self, a: Self) -> Self {
        F32x8::mul_add(self, m, a)
    }

    #[inline(always)]
    fn mul(self, other: Self) -> Self {
        F32x8::mul(self, other)
    }

    #[inline(always)]
    fn load_at(values: &[f32], at: usize) -> Self {
        load_at(values, at)
    }

    #[inline(always)]
    fn store_at(self, out: &mut [f32], at: usize) {
        store_at(self, out, at);
    }

    #[inline(always)]
    fn transpose(rows: [Self; LANES]) -> [Self; LANES] {
        transpose(rows)
    }

    #[inline(always)]
    fn activate(self, act: Activation) -> Self {
        activate(act, self)
    }

    #[inline(always)]
    fn activate_all<const N: usize>(values: [Self; N], act: Activation) -> [Self; N] {
        activate_all(act, values)
    }
}

#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
impl Vector<16> for F32x16 {
    #[inline(always)]
    fn splat(value: f32) -> Self {
        F32x16::splat(value)
    }

    #[inline(always)]
    fn from_array(values: [f32; 16]) -> Self {
        F32x16::load(&values)
    }

    #[inline(always)]
    fn to_array(self) -> [f32; 16] {
        F32x16::to_array(self)
    }

    #[inline(always)]
    fn mul_add(self, m: Self, a: Self) -> Self {
        F32x16::mul_add(self, m, a)
    }

    #[inline(always)]
    fn mul(self, other: Self) -> Self {
        F32x16::mul(self, other)
    }

    #[inline(always)]
    fn load_at(values: &[f32], at: usize) -> Self {
        match values.get(at..).and_then(<[f32]>::first_chunk::<16>) {
            Some(chunk) => F32x16::load(chunk),
            None => F32x16::splat(0.0),
        }
    }

    #[inline(always)]
    fn store_at(self, out: &mut [f32], at: usize) {
        if let Some(out) = out.get_mut(at..) {
            self.store(out);
        }
    }

    #[inline(always)]
    fn transpose(rows: [Self; 16]) -> [Self; 16] {
        F32x16::transpose_16x16(rows)
    }

    #[inline(always)]
    fn activate(self, act: Activation) -> Self {
        F32x16::activate(self, act)
    }

    #[inline(always)]
    fn activate_all<const N: usize>(values: [Self; N], act: Activation) -> [Self; N] {
        F32x16::activate_all(values, act)
    }
}

/// Loads eight lanes from `values[at..]`; zero when it is shorter, which every caller's
/// slicing rules out (a fallback rather than a panic). No range index (`&values[at..]`):
/// that stays a call at opt-level "z" on x86_64.
#[inline(always)]
pub(crate) fn load_at(values: &[f32], at: usize) -> F32x8 {
    if let Some(chunk) = values.get(at..).and_then(<[f32]>::first_chunk::<LANES>) {
        return F32x8::from_array(*chunk);
    }
    F32x8::splat(0.0)
}

/// Stores eight lanes at `out[at..]` (nothing when too short); see [`load_at`].
#[inline(always)]
pub(crate) fn store_at(value: F32x8, out: &mut [f32], at: usize) {
    if let Some(chunk) = out
        .get_mut(at..)
        .and_then(<[f32]>::first_chunk_mut::<LANES>)
    {
        *chunk = value.to_array();
    }
}

/// Calls `at` with the start of each vector of `W` floats in `len ≥ W`, the last one
/// overlapping its neighbour: the walk of [`copy_vectors`] and [`zero_vectors`].
#[inline(always)]
fn vector_starts<const W: usize>(len: usize, mut at: impl FnMut(usize)) {
    let tail = len - W;
    let mut start = 0;
    while start < tail {
        at(start);
        start += W;
    }
    at(tail);
}

/// `out.copy_from_slice(values)` in vectors, the last one overlapping (no call to
/// `memcpy`, whose set-up outweighs a copy of a few dozen floats); one by one below
/// [`LANES`] floats.
#[inline(always)]
pub(crate) fn copy_vectors(values: &[f32], out: &mut [f32]) {
    let len = values.len().min(out.len());
    // With AVX-512, sixteen floats a step where the run holds them: half the loads and
    // stores of a frame's rows (one row of 32 floats framed at an odd column crosses a
    // cache line in every 512-bit store, but in half the steps of eight).
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
    if len >= 16 {
        vector_starts::<16>(len, |at| {
            if let Some(chunk) = values.get(at..).and_then(<[f32]>::first_chunk::<16>) {
                F32x16::load(chunk).store(out.get_mut(at..).unwrap_or_default());
            }
        });
        return;
    }
    if len >= LANES {
        vector_starts::<LANES>(len, |at| store_at(load_at(values, at), out, at));
    } else {
        for (o, &v) in out.iter_mut().zip(values) {
            *o = v;
        }
    }
}

/// `out.fill(0.0)` in vectors, as [`copy_vectors`] copies.
#[inline(always)]
pub(crate) fn zero_vectors(out: &mut [f32]) {
    let len = out.len();
    if len >= LANES {
        let zero = F32x8::splat(0.0);
        vector_starts::<LANES>(len, |at| store_at(zero, out, at));
    } else {
        for o in out.iter_mut() {
            *o = 0.0;
        }
    }
}

/// Sixteen consecutive floats split into their eight even and eight odd lanes
/// (`from[2 i]`, `from[2 i + 1]`): with AVX two in-lane shuffles and two 64-bit
/// permutes (a stride-2 convolution's frame splits its input rows so).
#[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
#[inline(always)]
pub(crate) fn split_pairs(from: &[f32; 16]) -> (F32x8, F32x8) {
    use safe_arch::{
        cast_to_m256_from_m256i, cast_to_m256i_from_m256, shuffle_ai_i64_all_m256i, shuffle_m256,
    };
    let (low, high) = (
        load_at(from, 0).into_m256(),
        load_at(from, LANES).into_m256(),
    );
    // Per 128-bit lane: evens of `low`'s four then `high`'s four (0 2 8 10 | 4 6 12 14).
    const EVENS: i32 = 0b10_00_10_00;
    const ODDS: i32 = 0b11_01_11_01;
    // 64-bit quarters 0, 2, 1, 3 put them in order.
    const ORDER: i32 = 0b11_01_10_00;
    let order = |v| {
        cast_to_m256_from_m256i(shuffle_ai_i64_all_m256i::<ORDER>(cast_to_m256i_from_m256(
            v,
        )))
    };
    (
        F32x8::from_m256(order(shuffle_m256::<EVENS>(low, high))),
        F32x8::from_m256(order(shuffle_m256::<ODDS>(low, high))),
    )
}

/// [`split_pairs`] lane by lane where AVX2 is missing.
#[cfg(not(all(target_arch = "x86_64", target_feature = "avx2")))]
#[inline(always)]
pub(crate) fn split_pairs(from: &[f32; 16]) -> (F32x8, F32x8) {
    let mut evens = [0.0f32; LANES];
    let mut odds = [0.0f32; LANES];
    for (i, pair) in from.chunks_exact(2).enumerate() {
        evens[i] = pair[0];
        odds[i] = pair[1];
    }
    (F32x8::from_array(evens), F32x8::from_array(odds))
}

/// The 8 × 8 transpose: lane `j` of output `i` is lane `i` of input `j`. It turns eight
/// vectors of one position's eight channels into eight vectors of one channel's eight
/// positions and back (the depthwise kernel on channel vectors, `conv/channels.rs`).
/// With AVX it is the usual 24 shuffles (unpack, shuffle, 128-bit permute).
#[cfg(all(target_arch = "x86_64", target_feature = "avx"))]
#[inline(always)]
pub(crate) fn transpose(rows: [F32x8; LANES]) -> [F32x8; LANES] {
    use safe_arch::{m256, permute2z_m256, shuffle_m256, unpack_hi_m256, unpack_lo_m256};
    // Written out rather than `map`ped: an array's `map` stays a call at opt-level "z".
    let r: [m256; LANES] = [
        rows[0].into_m256(),
        rows[1].into_m256(),
        rows[2].into_m256(),
        rows[3].into_m256(),
        rows[4].into_m256(),
        rows[5].into_m256(),
        rows[6].into_m256(),
        rows[7].into_m256(),
    ];
    // Pairs of rows interleaved: (r0 r1) lanes 0 1 and 4 5, then 2 3 and 6 7.
    let t = [
        unpack_lo_m256(r[0], r[1]),
        unpack_hi_m256(r[0], r[1]),
        unpack_lo_m256(r[2], r[3]),
        unpack_hi_m256(r[2], r[3]),
        unpack_lo_m256(r[4], r[5]),
        unpack_hi_m256(r[4], r[5]),
        unpack_lo_m256(r[6], r[7]),
        unpack_hi_m256(r[6], r[7]),
    ];
    // Quads: columns 0, 1, 2, 3 of rows 0–3 (and 4–7) in each 128-bit half.
    const LOW_PAIRS: i32 = 0b01_00_01_00;
    const HIGH_PAIRS: i32 = 0b11_10_11_10;
    let q = [
        shuffle_m256::<LOW_PAIRS>(t[0], t[2]),
        shuffle_m256::<HIGH_PAIRS>(t[0], t[2]),
        shuffle_m256::<LOW_PAIRS>(t[1], t[3]),
        shuffle_m256::<HIGH_PAIRS>(t[1], t[3]),
        shuffle_m256::<LOW_PAIRS>(t[4], t[6]),
        shuffle_m256::<HIGH_PAIRS>(t[4], t[6]),
        shuffle_m256::<LOW_PAIRS>(t[5], t[7]),
        shuffle_m256::<HIGH_PAIRS>(t[5], t[7]),
    ];
    // The low halves of rows 0–3 and 4–7 make columns 0–3, the high halves 4–7.
    const LOW_HALVES: i32 = 0x20;
    const HIGH_HALVES: i32 = 0x31;
    [
        F32x8::from_m256(permute2z_m256::<LOW_HALVES>(q[0], q[4])),
        F32x8::from_m256(permute2z_m256::<LOW_HALVES>(q[1], q[5])),
        F32x8::from_m256(permute2z_m256::<LOW_HALVES>(q[2], q[6])),
        F32x8::from_m256(permute2z_m256::<LOW_HALVES>(q[3], q[7])),
        F32x8::from_m256(permute2z_m256::<HIGH_HALVES>(q[0], q[4])),
        F32x8::from_m256(permute2z_m256::<HIGH_HALVES>(q[1], q[5])),
        F32x8::from_m256(permute2z_m256::<HIGH_HALVES>(q[2], q[6])),
        F32x8::from_m256(permute2z_m256::<HIGH_HALVES>(q[3], q[7])),
    ]
}

/// The 8 × 8 transpose through arrays, where the lanes are not one AVX register.
#[cfg(not(all(target_arch = "x86_64", target_feature = "avx")))]
#[inline(always)]
pub(crate) fn transpose(rows: [F32x8; LANES]) -> [F32x8; LANES] {
    use crate::unroll::unroll;
    let mut lanes = [[0.0f32; LANES]; LANES];
    unroll!(LANES, |j| lanes[j] = rows[j].to_array());
    let mut columns = [F32x8::splat(0.0); LANES];
    unroll!(LANES, |i| {
        let mut column = [0.0f32; LANES];
        unroll!(LANES, |j| column[j] = lanes[j][i]);
        columns[i] = F32x8::from_array(column);
    });
    columns
}

/// The fused activation on eight lanes, with [`Activation::apply`]'s NaN rule: a NaN
/// input gives the lower bound, as `f32::max` does.
#[inline(always)]
pub(crate) fn activate(act: Activation, value: F32x8) -> F32x8 {
    match act {
        Activation::None => value,
        Activation::Relu => value.max(F32x8::splat(0.0)),
        Activation::Clip { min, max } => value.max(F32x8::splat(min)).min(F32x8::splat(max)),
        Activation::Sigmoid | Activation::Swish { .. } => {
            let [value] = crate::elementwise::logistic_lanes(act, [value]);
            value
        }
    }
}

/// [`activate`] on `N` vectors: a logistic activation in one call for all (their
/// chains overlap), the others vector by vector.
#[inline(always)]
pub(crate) fn activate_all<const N: usize>(act: Activation, values: [F32x8; N]) -> [F32x8; N] {
    match act {
        Activation::Sigmoid | Activation::Swish { .. } => {
            crate::elementwise::logistic_lanes(act, values)
        }
        _ => values.map(|v| activate(act, v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length up to a few vectors (one by one, eight and sixteen a step, the last
    /// step overlapping), into a longer and a shorter `out`: the first `min` floats are
    /// copied, nothing past them is written.
    #[test]
    fn copy_vectors_copies_exactly_the_shorter_length() {
        let values: [f32; 70] = core::array::from_fn(|i| i as f32 + 0.5);
        for len in 0..=values.len() {
            for out_len in [len.saturating_sub(3), len, len + 5] {
                let mut out = [-1.0f32; 80];
                copy_vectors(&values[..len], &mut out[..out_len]);
                let copied = len.min(out_len);
                assert_eq!(out[..copied], values[..copied], "{len} into {out_len}");
                assert!(
                    out[copied..].iter().all(|&o| o == -1.0),
                    "{len} into {out_len}"
                );
            }
        }
    }

    /// `mul_add` rounds once where the kernels count on it (x86-64 with FMA, AArch64): the
    /// square of `1 + 2⁻²³` minus `1 + 2⁻²²` keeps its `2⁻⁴⁶` fused and is 0 rounded
    /// twice. Elsewhere it may round twice; the test says which it checked.
    #[test]
    fn mul_add_fuses_where_the_kernels_count_on_it() {
        extern crate std;
        let x = 1.0 + f32::EPSILON;
        let c = -(1.0 + 2.0 * f32::EPSILON);
        let got = F32x8::splat(x)
            .mul_add(F32x8::splat(x), F32x8::splat(c))
            .to_array();
        let fused = cfg!(any(
            all(target_arch = "x86_64", target_feature = "fma"),
            target_arch = "aarch64"
        ));
        if fused {
            assert_eq!(got, [f32::EPSILON * f32::EPSILON; 8]);
        } else {
            std::println!("fused mul_add: NOT RUN (this build's vectors have no FMA)");
        }
        let lanes: [f32; 8] = core::array::from_fn(|i| i as f32 - 3.5);
        let sum = F32x8::from_array(lanes)
            .mul_add(F32x8::splat(2.0), F32x8::splat(0.25))
            .to_array();
        assert_eq!(sum, lanes.map(|v| v * 2.0 + 0.25));
    }

    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
    #[test]
    fn transpose_16x8_turns_columns_into_rows() {
        let mut columns = [F32x16::splat(0.0); 8];
        for (j, column) in columns.iter_mut().enumerate() {
            let lanes: [f32; 16] = core::array::from_fn(|r| (r * 8 + j) as f32);
            *column = F32x16::load(&lanes);
        }
        for (r, row) in F32x16::transpose_16x8(columns).iter().enumerate() {
            let expected: [f32; 8] = core::array::from_fn(|j| (r * 8 + j) as f32);
            assert_eq!(row.to_array(), expected, "row {r}");
        }
        let relu = F32x16::splat(f32::NAN).activate(Activation::Relu);
        assert_eq!(relu.to_array(), [0.0; 16]);
        let clip = Activation::Clip {
            min: -1.0,
            max: 6.0,
        };
        assert_eq!(F32x16::splat(-7.0).activate(clip).to_array(), [-1.0; 16]);
        assert_eq!(F32x16::splat(7.0).activate(clip).to_array(), [6.0; 16]);
    }

    #[test]
    fn lanes_follow_scalar_arithmetic() {
        let a = F32x8::from_array([1.0, -2.0, 3.5, f32::NAN, 0.0, -0.5, 7.0, 1e30]);
        let b = F32x8::splat(2.0);
        let c = F32x8::from_array([0.5; 8]);
        let sums = a.mul_add(b, c).to_array();
        for (lane, (&x, &s)) in a.to_array().iter().zip(&sums).enumerate() {
            let expected = x * 2.0 + 0.5;
            assert!(
                s == expected || (s.is_nan() && expected.is_nan()),
                "lane {lane}: {s} vs {expected}"
            );
        }
        assert_eq!(a.mul(b).to_array()[2], 7.0);
        assert_eq!(a.add(b).to_array()[1], 0.0);
        assert_eq!(a.div(b).to_array()[2], 1.75);
        // The activations' NaN rule: a NaN lane clamps to the lower bound.
        let relu = activate(Activation::Relu, a).to_array();
        assert_eq!(relu, [1.0, 0.0, 3.5, 0.0, 0.0, 0.0, 7.0, 1e30]);
        let clip = activate(
            Activation::Clip {
                min: -1.0,
                max: 2.0,
            },
            a,
        )
        .to_array();
        assert_eq!(clip, [1.0, -1.0, 2.0, -1.0, 0.0, -0.5, 2.0, 2.0]);
        let mut out = [0.0f32; 9];
        let values: [f32; 10] = core::array::from_fn(|i| i as f32);
        store_at(load_at(&values, 2), &mut out, 1);
        assert_eq!(out, [0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
        assert_eq!(load_at(&values, 3).to_array(), [0.0; 8]);
        store_at(F32x8::splat(1.0), &mut out, 2);
        assert_eq!(out[8], 9.0);
    }

    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
    #[test]
    fn transpose_16x16_swaps_lanes_and_vectors() {
        let rows: [F32x16; 16] =
            core::array::from_fn(|i| F32x16::load(&core::array::from_fn(|j| (i * 100 + j) as f32)));
        let columns = F32x16::transpose_16x16(rows);
        for (i, column) in columns.iter().enumerate() {
            for (j, &value) in column.to_array().iter().enumerate() {
                assert_eq!(value, (j * 100 + i) as f32, "lane {j} of vector {i}");
            }
        }
    }

    #[test]
    fn vectors_of_eight_load_store_and_transpose_as_the_free_functions() {
        let values: [f32; 12] = core::array::from_fn(|i| i as f32 - 3.5);
        let v = <F32x8 as Vector<LANES>>::load_at(&values, 4);
        assert_eq!(v.to_array(), load_at(&values, 4).to_array());
        assert_eq!(
            <F32x8 as Vector<LANES>>::load_at(&values, 5).to_array(),
            [0.0; 8]
        );
        let mut out = [9.0f32; 10];
        Vector::<LANES>::store_at(v, &mut out, 2);
        assert_eq!(out[2..], values[4..]);
        assert_eq!(out[..2], [9.0, 9.0]);
        let relu = Vector::<LANES>::activate(v, Activation::Relu).to_array();
        assert_eq!(relu, core::array::from_fn(|i| (values[4 + i]).max(0.0)));
    }

    #[test]
    fn split_pairs_takes_even_and_odd_lanes() {
        let from: [f32; 16] = core::array::from_fn(|i| i as f32 * 1.5 - 4.0);
        let (evens, odds) = split_pairs(&from);
        let expected_evens: [f32; 8] = core::array::from_fn(|i| from[2 * i]);
        let expected_odds: [f32; 8] = core::array::from_fn(|i| from[2 * i + 1]);
        assert_eq!(evens.to_array(), expected_evens);
        assert_eq!(odds.to_array(), expected_odds);
    }

    #[test]
    fn transpose_swaps_lanes_and_vectors() {
        let rows: [F32x8; LANES] = core::array::from_fn(|i| {
            F32x8::from_array(core::array::from_fn(|j| (i * 10 + j) as f32))
        });
        let columns = transpose(rows).map(F32x8::to_array);
        for (i, column) in columns.iter().enumerate() {
            for (j, &value) in column.iter().enumerate() {
                assert_eq!(value, (j * 10 + i) as f32, "lane {j} of vector {i}");
            }
        }
        assert_eq!(
            transpose(transpose(rows)).map(F32x8::to_array),
            rows.map(F32x8::to_array)
        );
    }
}
