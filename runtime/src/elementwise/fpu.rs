//! Sigmoid and Swish (SiLU) for the microcontrollers with an FPU and without vector
//! kernels (Cortex-M4F, M7, M33; RISC-V with F): a scalar `e^−t` sized for an FPU, eight
//! elements a block, instead of a `libm::expf` call per element. The soft-float cores
//! keep `expf`, which is faster there (see `super::FPU_LOGISTIC`).
//!
//! `sigmoid(t) = 1/(1 + e^−t)`: `n = round(−t·log₂e)` by adding and subtracting
//! `1.5·2^23` (no rounding instruction, no libm call), `r = −t − n·ln 2` in two steps
//! (Cody and Waite: `n·LN2_HI` is exact), `e^r` by a polynomial of degree 6 on
//! `|r| ≤ ln 2 / 2` in Estrin's scheme, and `s = 2^−n` built in its exponent bits by one
//! conversion; then `sigmoid(t) = s / (s + e^r)`, which needs no `1 + …` of its own and
//! stays finite and normal for `|t| ≤ 87`. The vector kernels' `exp_lanes` is not
//! shared: it covers the whole `f32` range with four clamps, two scalings and a degree-7
//! Horner polynomial, and on an FPU whose multiply-adds overwrite their addend each
//! Horner step is a copy and a `VFMA`; this form does the same work in fewer of them.
//!
//! No element is clamped: each block checks once that the sum of its arguments' squares
//! is at most `LIMIT²` (false for a NaN or an infinity too); a block that fails takes
//! the element-wise kernel's scalar formula ([`super::sigmoid`], through `libm`)
//! wherever `|t| > LIMIT`, which saturates (`sigmoid(+∞) = 1`, `sigmoid(−∞) = 0`) and
//! keeps a NaN. Cortex-M7: 23.4 instructions an element for Sigmoid and 23.6 for SiLU,
//! against 63 and 65 through `expf` (`docs/performance.md`).
//!
//! Accuracy, checked over every `f32` exponent by the tests, with fused and with unfused
//! multiply-adds: at most 3 ulp from the correctly rounded sigmoid, and 3 ulp from the
//! correctly rounded `x · sigmoid(alpha·x)` (for `alpha·x` rounded to `f32`), where the
//! result is normal (the worst cases sit just below `t = 0`, where the result's ulp is
//! half that of `s + e^r ≈ 2`); below, within `2^−126` (`|x|·2^−126` for Swish), the
//! scalar formula's. `±∞` give 1 and 0, a NaN stays NaN.

use crate::unroll::unroll;

/// `1.5·2^23`: added to a float of magnitude below `2^22`, the sum's ulp is 1, so the
/// addition rounds to the nearest integer (ties to even).
const ROUNDER: f32 = 12_582_912.0;
/// `ln 2` to 9 significant bits: `n·LN2_HI` is exact for `|n| ≤ 2^15`.
const LN2_HI: f32 = 355.0 / 512.0;
/// `ln 2 − LN2_HI`.
const LN2_LO: f32 = -2.121_944_4e-4;
/// `2^23`, the weight of the exponent field's lowest bit.
#[cfg(not(all(target_arch = "arm", target_feature = "vfp2")))]
const EXPONENT_UNIT: f32 = 8_388_608.0;
/// Elements a block: one check of the range per block, and independent chains for the
/// FPU's pipeline.
const BLOCK: usize = 8;
/// `e^r ≈ 1 + r + r²·(C2 + C3·r + C4·r² + C5·r³ + C6·r⁴)`: a minimax fit of relative
/// error 3.8e-9 (0.07 ulp) on `|r| ≤ ln 2 / 2 + 2e-5`, the first two coefficients kept
/// at 1 so that `1 + r` is one addition.
const C2: f32 = 0.499_999_94;
const C3: f32 = 0.166_665_21;
const C4: f32 = 0.041_668_39;
const C5: f32 = 0.008_368_714;
const C6: f32 = 0.001_381_459_2;

/// The multiply-add of the reduction and the polynomial: fused where the FPU fuses in
/// one instruction whose registers Rust can name (the Cortex-M7's `VFMA.F32`, see
/// [`crate::dsp::fma_f32`]), a product and a sum elsewhere (the M4F and M33, whose `s`
/// registers `asm!` cannot name, and the cores without an FPU). The tests hold both to
/// the same bounds.
pub(crate) trait MulAdd {
    fn mul_add(a: f32, b: f32, c: f32) -> f32;
}

/// `a·b + c` rounded once.
#[cfg_attr(
    not(any(test, all(target_arch = "arm", target_feature = "vfp2"))),
    allow(dead_code)
)]
pub(crate) struct Fused;

/// `a·b + c` rounded twice.
#[cfg_attr(all(target_arch = "arm", target_feature = "vfp2"), allow(dead_code))]
pub(crate) struct Unfused;

impl MulAdd for Fused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        crate::scalar::fmadd(a, b, c)
    }
}

impl MulAdd for Unfused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// This target's multiply-add.
#[cfg(all(target_arch = "arm", target_feature = "vfp2"))]
pub(crate) type Native = Fused;
/// This target's multiply-add.
#[cfg(not(all(target_arch = "arm", target_feature = "vfp2")))]
pub(crate) type Native = Unfused;

/// A logistic function of `x` through `sigmoid(t) = s / (s + e^r)`, `t` its argument.
pub(crate) trait Logistic: Copy {
    /// The largest `|t|` of the fast path: `n` stays within −126..=126, so `2^−n` is a
    /// normal float and `s + e^r` finite.
    const LIMIT: f32;
    /// `t` for `x`.
    fn argument(self, x: f32) -> f32;
    /// The numerator from `x` and `s = 2^−n`.
    fn numerator(self, x: f32, s: f32) -> f32;
    /// The result from `x` and the quotient.
    fn finish(self, x: f32, quotient: f32) -> f32;
    /// The result from `x` and `sigmoid(t)` computed by the scalar formula.
    fn of_sigmoid(self, x: f32, sigmoid: f32) -> f32;
}

/// `sigmoid(x)`.
#[derive(Clone, Copy)]
pub(crate) struct Sigmoid;

/// `x · sigmoid(x)`, Swish at `alpha` 1, as `x·s / (s + e^r)`: the product `x·s` is
/// exact (a power of two, kept below `2^128` by `|x| ≤ 84`), so one rounding fewer than
/// `x · sigmoid(x)`, and one instruction fewer, as `x` is read before the reduction
/// overwrites it.
#[derive(Clone, Copy)]
pub(crate) struct Silu;

/// `x · sigmoid(alpha·x)`.
#[derive(Clone, Copy)]
pub(crate) struct Swish {
    pub(crate) alpha: f32,
}

impl Logistic for Sigmoid {
    const LIMIT: f32 = 87.0;
    #[inline(always)]
    fn argument(self, x: f32) -> f32 {
        x
    }
    #[inline(always)]
    fn numerator(self, _x: f32, s: f32) -> f32 {
        s
    }
    #[inline(always)]
    fn finish(self, _x: f32, quotient: f32) -> f32 {
        quotient
    }
    #[inline(always)]
    fn of_sigmoid(self, _x: f32, sigmoid: f32) -> f32 {
        sigmoid
    }
}

impl Logistic for Silu {
    const LIMIT: f32 = 84.0;
    #[inline(always)]
    fn argument(self, x: f32) -> f32 {
        x
    }
    #[inline(always)]
    fn numerator(self, x: f32, s: f32) -> f32 {
        x * s
    }
    #[inline(always)]
    fn finish(self, _x: f32, quotient: f32) -> f32 {
        quotient
    }
    #[inline(always)]
    fn of_sigmoid(self, x: f32, sigmoid: f32) -> f32 {
        x * sigmoid
    }
}

impl Logistic for Swish {
    const LIMIT: f32 = 87.0;
    #[inline(always)]
    fn argument(self, x: f32) -> f32 {
        self.alpha * x
    }
    #[inline(always)]
    fn numerator(self, _x: f32, s: f32) -> f32 {
        s
    }
    #[inline(always)]
    fn finish(self, x: f32, quotient: f32) -> f32 {
        x * quotient
    }
    #[inline(always)]
    fn of_sigmoid(self, x: f32, sigmoid: f32) -> f32 {
        x * sigmoid
    }
}

/// `f(x)` with `t = f.argument(x)`, `|t| ≤ F::LIMIT` (not NaN), as the module docs
/// describe.
#[inline(always)]
fn near<A: MulAdd, F: Logistic>(f: F, x: f32, t: f32) -> f32 {
    // `k = ROUNDER + n`, `n = round(−t·log₂e)`.
    let k = A::mul_add(t, -core::f32::consts::LOG2_E, ROUNDER);
    let n = k - ROUNDER;
    // `2^−n` from its biased exponent `127 − n`, exact in `f32`; the numerator before
    // the reduction, which overwrites `t` (`x` for SiLU).
    let s = exponent_field(ROUNDER + 127.0 - k);
    let numerator = f.numerator(x, s);
    // `q = t + n·ln 2 = −r`: the polynomial below takes `−r`.
    let q = A::mul_add(n, LN2_HI, t);
    let q = A::mul_add(n, LN2_LO, q);
    // Estrin's scheme, so that most multiply-adds accumulate into a temporary rather
    // than into a copy of a constant: `e^r = (1 − q) + q²·(b + q²·c)`.
    let q2 = q * q;
    let b = A::mul_add(q, -C3, C2);
    let c = A::mul_add(q, -C5, C4);
    let c = A::mul_add(q2, C6, c);
    let b = A::mul_add(c, q2, b);
    let sum = A::mul_add(b, q2, (s - q) + 1.0);
    f.finish(x, numerator / sum)
}

/// The float whose bits are `e · 2^23`, `e` an integer from 1 to 254: `2^(e − 127)`.
#[inline(always)]
fn exponent_field(e: f32) -> f32 {
    #[cfg(all(target_arch = "arm", target_feature = "vfp2"))]
    return crate::dsp::exponent_field(e);
    #[cfg(not(all(target_arch = "arm", target_feature = "vfp2")))]
    f32::from_bits((e * EXPONENT_UNIT) as u32)
}

/// `f` of each element of `y` in place: [`near`] where `|t| ≤ F::LIMIT`, else the
/// scalar formula. The blocks that fail their check and the tails come here, out of line,
/// so that the blocks' loop stays small.
#[inline(never)]
fn each<A: MulAdd, F: Logistic>(f: F, y: &mut [f32]) {
    for v in y {
        let (x, t) = (*v, f.argument(*v));
        *v = if t.abs() <= F::LIMIT {
            near::<A, F>(f, x, t)
        } else {
            f.of_sigmoid(x, super::sigmoid(t))
        };
    }
}

/// `f` of a block of `N` elements by [`near`], if the block passes its check (see
/// the module docs).
#[inline(always)]
fn block<A: MulAdd, F: Logistic, const N: usize>(f: F, x: [f32; N]) -> Option<[f32; N]> {
    let mut t = [0.0f32; N];
    unroll!(N, |i| t[i] = f.argument(x[i]));
    let mut squares = t[0] * t[0];
    unroll!(N - 1, |i| squares = A::mul_add(t[i + 1], t[i + 1], squares));
    // One comparison, false for a NaN.
    if squares <= F::LIMIT * F::LIMIT {
        let mut y = [0.0f32; N];
        unroll!(N, |i| y[i] = near::<A, F>(f, x[i], t[i]));
        Some(y)
    } else {
        None
    }
}

/// `y[i] = f(x[i])` with this target's multiply-add, out of line so that
/// [`super::unary`] stays small enough to inline where a model calls it.
#[inline(never)]
pub(crate) fn run<F: Logistic>(f: F, x: &[f32], y: &mut [f32]) {
    run_with::<Native, F>(f, x, y);
}

/// `y[i] = f(y[i])` with this target's multiply-add, out of line as [`run`] is.
#[inline(never)]
pub(crate) fn run_in_place<F: Logistic>(f: F, y: &mut [f32]) {
    run_in_place_with::<Native, F>(f, y);
}

/// `y[i] = f(x[i])`.
#[inline(always)]
fn run_with<A: MulAdd, F: Logistic>(f: F, x: &[f32], y: &mut [f32]) {
    let n = x.len().min(y.len());
    // Where both buffers sit at addresses known at link time (a model's arena, with
    // LTO), LLVM would otherwise walk them with one index and rebuild each store's
    // address from it (two instructions an element on the Cortex-M7, as the offset
    // between them does not fit a `VSTR`); hiding where `y` starts keeps two pointers.
    let y = core::hint::black_box(y);
    let (x, y) = (&x[..n], &mut y[..n]);
    let mut outputs = y.chunks_exact_mut(BLOCK);
    let mut inputs = x.chunks_exact(BLOCK);
    for (out, input) in (&mut outputs).zip(&mut inputs) {
        if let (Some(out), Some(input)) = (out.first_chunk_mut(), input.first_chunk()) {
            match block::<A, F, BLOCK>(f, *input) {
                Some(values) => *out = values,
                None => {
                    *out = *input;
                    each::<A, F>(f, out);
                }
            }
        }
    }
    let tail = outputs.into_remainder();
    tail.copy_from_slice(inputs.remainder());
    each::<A, F>(f, tail);
}

/// `y[i] = f(y[i])`.
#[inline(always)]
fn run_in_place_with<A: MulAdd, F: Logistic>(f: F, y: &mut [f32]) {
    let mut blocks = y.chunks_exact_mut(BLOCK);
    for out in &mut blocks {
        if let Some(out) = out.first_chunk_mut() {
            in_place::<A, F, BLOCK>(f, out);
        }
    }
    // A run of four (a row of a Cortex-M GEMM tile that is not whole), and the rest of a
    // longer one.
    let rest = blocks.into_remainder();
    let tail = match rest.split_first_chunk_mut::<4>() {
        Some((four, tail)) => {
            in_place::<A, F, 4>(f, four);
            tail
        }
        None => rest,
    };
    each::<A, F>(f, tail);
}

/// A row of four floats of a GEMM tile, as [`store_tile`] passes it to the function that
/// activates the tile.
#[derive(Clone, Copy)]
pub(crate) struct Four(pub(crate) [f32; 4]);

/// `f` of a Cortex-M GEMM tile (`gemm::MR × gemm::NR`, 4 × 4 there) as the GEMM finished
/// it, stored as rows `stride` apart from `start` in `y`: one call a tile, one range
/// check for each two rows, and the tile stored to `y` once, activated (it was stored,
/// then read back from `y` and activated two rows a call). A tile past `y`'s end (or with
/// rows closer than four) is not stored.
#[inline(always)]
pub(crate) fn store_tile<F: Logistic>(
    f: F,
    tile: [[f32; 4]; 4],
    y: &mut [f32],
    (start, stride): (usize, usize),
) {
    let Some(y) = y.get_mut(start..start + 3 * stride + 4) else {
        return;
    };
    if stride < 4 {
        return;
    }
    let (first, y) = y.split_at_mut(stride);
    let (second, y) = y.split_at_mut(stride);
    let (third, fourth) = y.split_at_mut(stride);
    if let (Some(first), Some(second), Some(third), Some(fourth)) = (
        first.first_chunk_mut(),
        second.first_chunk_mut(),
        third.first_chunk_mut(),
        fourth.first_chunk_mut(),
    ) {
        let [a, b, c, d] = tile.map(Four);
        tile_out_of_line(a, b, c, d, first, second, third, fourth, f);
    }
}

/// [`store_tile`]'s work, out of line: one instance for each logistic function, not one
/// for each place the GEMM stores a tile. The shape of the arguments was measured on the
/// Cortex-M7 (`docs/performance.md`), and it matters: as here (each row of values a
/// [`Four`], which the caller writes to its stack), the fused SiLU cost 23.8 instructions
/// an element over the plain convolution; with plain `[f32; 4]` rows 28.9, with the tile
/// and the rows as two arrays 28.8, and with the rows in `s0`–`s15` by the C calling
/// convention (AAPCS-VFP passes a `#[repr(C)]` aggregate of four floats in registers)
/// 24.2, as the GEMM's code around the call then took more instructions.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn tile_out_of_line<F: Logistic>(
    a: Four,
    b: Four,
    c: Four,
    d: Four,
    first: &mut [f32; 4],
    second: &mut [f32; 4],
    third: &mut [f32; 4],
    fourth: &mut [f32; 4],
    f: F,
) {
    tile_with::<Native, F>(f, [a.0, b.0, c.0, d.0], [first, second, third, fourth]);
}

/// `rows[i] = f(tile[i])`, two rows a block of eight, with the multiply-add `A`.
#[inline(always)]
fn tile_with<A: MulAdd, F: Logistic>(f: F, tile: [[f32; 4]; 4], rows: [&mut [f32; 4]; 4]) {
    let [first, second, third, fourth] = rows;
    pair_with::<A, F>(f, (tile[0], tile[1]), (first, second));
    pair_with::<A, F>(f, (tile[2], tile[3]), (third, fourth));
}

/// Two rows of [`tile_with`] as one block; a block that fails its check is stored and
/// then taken element by element.
#[inline(always)]
fn pair_with<A: MulAdd, F: Logistic>(
    f: F,
    (a, b): ([f32; 4], [f32; 4]),
    (ya, yb): (&mut [f32; 4], &mut [f32; 4]),
) {
    let x = [a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]];
    match block::<A, F, 8>(f, x) {
        Some(values) => {
            *ya = [values[0], values[1], values[2], values[3]];
            *yb = [values[4], values[5], values[6], values[7]];
        }
        None => {
            *ya = a;
            *yb = b;
            each::<A, F>(f, ya);
            each::<A, F>(f, yb);
        }
    }
}

/// One block of [`run_in_place_with`].
#[inline(always)]
fn in_place<A: MulAdd, F: Logistic, const N: usize>(f: F, y: &mut [f32; N]) {
    match block::<A, F, N>(f, *y) {
        Some(values) => *y = values,
        None => each::<A, F>(f, y),
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use super::*;
    use crate::unroll::array;

    /// The bound in ulp of the sigmoid where the result is normal (the module docs').
    const SIGMOID_ULP: u64 = 3;
    /// The bound in ulp of Swish and SiLU where the result is normal.
    const SWISH_ULP: u64 = 3;

    /// Steps between two floats on the number line, counting subnormals and `±0` as
    /// steps like any other.
    fn ulps_apart(a: f32, b: f32) -> u64 {
        let line = |v: f32| {
            let bits = v.to_bits() as i32;
            i64::from(if bits < 0 { i32::MIN - bits } else { bits })
        };
        (line(a) - line(b)).unsigned_abs()
    }

    /// Both signs of every `f32` exponent (subnormals included) with 320 mantissas
    /// each, the specials, a dense walk over `[−90, 90]` and every float within 100 ulp
    /// of the fast path's limits.
    fn inputs() -> Vec<f32> {
        let mut x = Vec::new();
        for exponent in 0u32..=254 {
            for step in 0u32..320 {
                let mantissa = step * ((1 << 23) / 320) + step % 5;
                x.push(f32::from_bits(exponent << 23 | mantissa));
                x.push(-f32::from_bits(exponent << 23 | mantissa));
            }
        }
        x.extend([
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MAX,
        ]);
        x.extend((0..180_000).map(|i| -90.0 + i as f32 * 0.001));
        for limit in [84.0f32, -84.0, 87.0, -87.0] {
            x.extend((-100..=100).map(|d| f32::from_bits(limit.to_bits().wrapping_add_signed(d))));
        }
        x
    }

    /// `sigmoid(x)` in `f64`.
    fn exact_sigmoid(x: f64) -> f64 {
        1.0 / (1.0 + libm::exp(-x))
    }

    /// [`run`] and [`run_in_place`] of `f`, which must agree bit for bit.
    fn both_ways<A: MulAdd, F: Logistic>(f: F, x: &[f32]) -> Vec<f32> {
        let mut y = std::vec![0.0f32; x.len()];
        run_with::<A, F>(f, x, &mut y);
        let mut in_place = x.to_vec();
        run_in_place_with::<A, F>(f, &mut in_place);
        for (a, b) in y.iter().zip(&in_place) {
            assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
        }
        y
    }

    /// The sigmoid within `SIGMOID_ULP` of the `f64` one rounded once where that is
    /// normal, within `2^−126` below; `±∞` give 1 and 0, NaN gives NaN.
    fn check_sigmoid<A: MulAdd>(name: &str) {
        let x = inputs();
        let got = both_ways::<A, _>(Sigmoid, &x);
        let mut worst = (0, 0.0f32);
        for (&v, &got) in x.iter().zip(&got) {
            if v.is_nan() {
                assert!(got.is_nan(), "{name}: sigmoid(NaN) = {got}");
                continue;
            }
            let exact = exact_sigmoid(f64::from(v));
            let want = exact as f32;
            if want >= f32::MIN_POSITIVE {
                let ulps = ulps_apart(got, want);
                assert!(
                    ulps <= SIGMOID_ULP,
                    "{name}: sigmoid({v:e}) = {got:e}, want {want:e}: {ulps} ulp"
                );
                if ulps > worst.0 {
                    worst = (ulps, v);
                }
            } else {
                let error = (f64::from(got) - exact).abs();
                assert!(
                    error <= f64::from(f32::MIN_POSITIVE),
                    "{name}: sigmoid({v:e}) = {got:e}"
                );
            }
        }
        let specials = both_ways::<A, _>(Sigmoid, &[f32::INFINITY, f32::NEG_INFINITY]);
        assert_eq!(specials, [1.0, 0.0]);
        std::println!("{name} sigmoid: worst {} ulp, at {:e}", worst.0, worst.1);
    }

    /// Swish within `SWISH_ULP` of `x · sigmoid(alpha·x)` in `f64` (with `alpha·x`
    /// rounded to `f32`) where `alpha·x ≥ −87.34` and the result is normal, within
    /// `|x|·2^−126` elsewhere; infinite inputs give what the scalar formula gives.
    fn check_swish<A: MulAdd, F: Logistic>(name: &str, f: F, alpha: f32) {
        let x = inputs();
        let got = both_ways::<A, F>(f, &x);
        let mut worst = (0, 0.0f32);
        for (&v, &got) in x.iter().zip(&got) {
            let product = alpha * v;
            if !v.is_finite() || !product.is_finite() {
                let scalar = v * super::super::sigmoid(product);
                assert!(
                    got.to_bits() == scalar.to_bits() || (got.is_nan() && scalar.is_nan()),
                    "{name}: swish({v:e}) = {got:e}, scalar {scalar:e}"
                );
                continue;
            }
            let exact = f64::from(v) * exact_sigmoid(f64::from(product));
            let want = exact as f32;
            if product >= -87.34 && want.abs() >= f32::MIN_POSITIVE {
                let ulps = ulps_apart(got, want);
                assert!(
                    ulps <= SWISH_ULP,
                    "{name}: swish({v:e}, {alpha}) = {got:e}, want {want:e}: {ulps} ulp"
                );
                if ulps > worst.0 {
                    worst = (ulps, v);
                }
            } else {
                let error = (f64::from(got) - exact).abs();
                let bound = f64::from(v).abs().max(1.0) * f64::from(f32::MIN_POSITIVE);
                assert!(error <= bound, "{name}: swish({v:e}, {alpha}) = {got:e}");
            }
        }
        std::println!(
            "{name} swish({alpha}): worst {} ulp, at {:e}",
            worst.0,
            worst.1
        );
    }

    #[test]
    fn sigmoid_is_within_its_bound() {
        check_sigmoid::<Fused>("fused");
        check_sigmoid::<Unfused>("unfused");
    }

    #[test]
    fn silu_and_swish_are_within_their_bound() {
        check_swish::<Fused, _>("fused", Silu, 1.0);
        check_swish::<Unfused, _>("unfused", Silu, 1.0);
        for alpha in [1.0f32, 1.702, 0.5, -1.0] {
            check_swish::<Fused, _>("fused", Swish { alpha }, alpha);
            check_swish::<Unfused, _>("unfused", Swish { alpha }, alpha);
        }
    }

    /// Every length, through the blocks of eight, the block of four in place and the
    /// element-wise tail, gives the same values in and out of place, within the bound.
    #[test]
    fn every_length_agrees_in_and_out_of_place() {
        let x: Vec<f32> = (0..21).map(|i| i as f32 * 0.7 - 7.0).collect();
        for n in 0..=x.len() {
            let y = both_ways::<Fused, _>(Sigmoid, &x[..n]);
            both_ways::<Unfused, _>(Silu, &x[..n]);
            for (&v, &got) in x.iter().zip(&y) {
                let want = exact_sigmoid(f64::from(v)) as f32;
                assert!(ulps_apart(got, want) <= SIGMOID_ULP, "sigmoid({v}) = {got}");
            }
        }
    }

    /// A GEMM tile activated in registers gives the element-wise values, through the
    /// fast path and, for a pair of rows with an element out of its range, the scalar
    /// formula.
    #[test]
    fn a_tile_matches_the_element_wise_kernel() {
        let x: Vec<f32> = (0..16).map(|i| (i as f32 * 0.37).sin() * 6.0).collect();
        for bad in [None, Some(f32::NAN), Some(-200.0), Some(f32::INFINITY)] {
            let mut x = x.clone();
            if let Some(bad) = bad {
                x[13] = bad;
            }
            let tile: [[f32; 4]; 4] = core::array::from_fn(|i| array(&x[i * 4..]));
            let mut y = [[0.0f32; 4]; 4];
            let [first, second, third, fourth] = &mut y;
            tile_with::<Fused, _>(Silu, tile, [first, second, third, fourth]);
            let mut want = x.clone();
            run_in_place_with::<Fused, _>(Silu, &mut want);
            for (i, (got, want)) in y.as_flattened().iter().zip(&want).enumerate() {
                assert!(
                    got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                    "{bad:?}: element {i}: {got} against {want}"
                );
            }
        }
    }

    /// A block with an element out of the fast path's range (or NaN) fails its check
    /// and the kernel takes the scalar formula there, keeping the fast path's values
    /// elsewhere; a block within it stays on the fast path.
    #[test]
    fn a_block_leaves_the_fast_path_only_where_it_must() {
        let fast: [f32; BLOCK] = core::array::from_fn(|i| i as f32 - 3.5);
        let fast_y = block::<Fused, _, BLOCK>(Sigmoid, fast).expect("within the limit");
        for bad in [f32::NAN, -200.0, f32::INFINITY] {
            let mut mixed = fast;
            mixed[2] = bad;
            assert!(block::<Fused, _, BLOCK>(Sigmoid, mixed).is_none());
            let mut y = [0.0f32; BLOCK];
            run_with::<Fused, _>(Sigmoid, &mixed, &mut y);
            for i in [0, 1, 3, 4, 5, 6, 7] {
                assert_eq!(fast_y[i].to_bits(), y[i].to_bits(), "element {i}");
            }
            let scalar = super::super::sigmoid(bad);
            assert!(y[2].to_bits() == scalar.to_bits() || (bad.is_nan() && y[2].is_nan()));
        }
    }
}
