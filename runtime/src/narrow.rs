//! Narrow element types as ONNX defines them: half precision (`float16`, `bfloat16`), the
//! float8 formats (E4M3FN, E4M3FNUZ, E5M2, E5M2FNUZ, E8M0), `float4` E2M1 and the 4- and
//! 2-bit integers, with their storage and every conversion `Cast` needs.
//!
//! Storage is the ONNX `raw_data` layout, so tensors cross the API as the model's own
//! bytes: `float16` and `bfloat16` are `u16` bit patterns, the 8-bit formats are `u8`
//! codes, and the sub-byte types are packed little end first (two 4-bit elements a byte,
//! the first in the low nibble; four 2-bit elements a byte, the first in bits 0–1). The
//! kernels never do arithmetic in a narrow type: the compiler casts to `f32` around any op
//! that has no narrow kernel, so only the conversions live here.
//!
//! Conversions are exact where the target can hold the value and otherwise round to
//! nearest, ties to even; overflow gives infinity (`float16`, `bfloat16`), the largest
//! finite value (float8 with `saturate`, and the formats without infinity), or what the
//! ONNX `Cast` table says for float8 without `saturate`. E8M0, which has no mantissa,
//! rounds as `Cast`'s `round_mode` asks. Floats convert to the sub-byte integers by
//! truncation toward zero, and integers wrap, as every other ONNX integer cast does.

use crate::scalar::{is_float, Scalar};
use crate::tokens::tokens;

tokens! {
    rt::narrow;
    /// A narrow element type.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Format {
        /// IEEE 754 binary16: 5 exponent bits, 10 mantissa bits.
        F16,
        /// bfloat16: the upper half of an `f32`.
        BF16,
        /// 4 exponent bits, 3 mantissa bits, no infinity, NaN `S.1111.111`; ±448.
        F8E4M3FN,
        /// 4 exponent bits, 3 mantissa bits, bias 8, no infinity, no −0, NaN `0x80`; ±240.
        F8E4M3FNUZ,
        /// 5 exponent bits, 2 mantissa bits, with infinities, as IEEE; ±57344.
        F8E5M2,
        /// 5 exponent bits, 2 mantissa bits, bias 16, no infinity, no −0, NaN `0x80`.
        F8E5M2FNUZ,
        /// Unsigned powers of two `2^(e − 127)`, NaN `0xFF` (the MX scale type).
        F8E8M0,
        /// 2 exponent bits, 1 mantissa bit, no infinity or NaN; ±6. Packed two a byte.
        F4E2M1,
        /// Signed 4-bit integers, −8..=7. Packed two a byte.
        I4,
        /// Unsigned 4-bit integers, 0..=15. Packed two a byte.
        U4,
        /// Signed 2-bit integers, −2..=1. Packed four a byte.
        I2,
        /// Unsigned 2-bit integers, 0..=3. Packed four a byte.
        U2,
    }
}

tokens! {
    rt::narrow;
    /// How `Cast` rounds a value into FLOAT8E8M0 (its `round_mode` attribute).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum E8M0Round {
        /// Any fraction rounds away from zero (the default).
        Up,
        /// The fraction is dropped.
        Down,
        /// To the nearer power of two, as the ONNX reference decides it.
        Nearest,
    }
}

tokens! {
    rt::narrow;
    /// A conversion into a narrow type: the type and `Cast`'s rounding attributes.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Encoding {
        pub format: Format,
        /// Out-of-range values become the largest finite value rather than infinity or
        /// NaN (`Cast`'s `saturate`; it only concerns float8).
        pub saturate: bool,
        /// Only for FLOAT8E8M0.
        pub round: E8M0Round,
    }
}

impl Encoding {
    /// `format` with `Cast`'s defaults: saturating, E8M0 rounding up.
    pub const fn new(format: Format) -> Self {
        Self {
            format,
            saturate: true,
            round: E8M0Round::Up,
        }
    }
}

/// A storage unit of narrow data: `u8` or `u16`.
pub trait Storage: Copy {
    fn code(self) -> u32;
    fn from_code(code: u32) -> Self;
}

impl Storage for u8 {
    #[inline(always)]
    fn code(self) -> u32 {
        u32::from(self)
    }

    #[inline(always)]
    fn from_code(code: u32) -> Self {
        code as u8
    }
}

impl Storage for u16 {
    #[inline(always)]
    fn code(self) -> u32 {
        u32::from(self)
    }

    #[inline(always)]
    fn from_code(code: u32) -> Self {
        code as u16
    }
}

/// How a minifloat lays out its special values.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Specials {
    /// IEEE: the top exponent holds infinity (mantissa 0) and NaN.
    Ieee,
    /// No infinity; all ones is NaN, the rest of the top exponent is finite (E4M3FN).
    Fn,
    /// No infinity and no −0: the code of −0 is the one NaN (the FNUZ formats).
    Fnuz,
    /// Neither infinity nor NaN (E2M1).
    Finite,
}

/// A sign-exponent-mantissa format.
#[derive(Clone, Copy)]
struct Minifloat {
    exp_bits: u32,
    man_bits: u32,
    bias: i32,
    specials: Specials,
}

impl Minifloat {
    const F16: Self = Self::new(5, 10, 15, Specials::Ieee);
    const BF16: Self = Self::new(8, 7, 127, Specials::Ieee);
    const E4M3FN: Self = Self::new(4, 3, 7, Specials::Fn);
    const E4M3FNUZ: Self = Self::new(4, 3, 8, Specials::Fnuz);
    const E5M2: Self = Self::new(5, 2, 15, Specials::Ieee);
    const E5M2FNUZ: Self = Self::new(5, 2, 16, Specials::Fnuz);
    const E2M1: Self = Self::new(2, 1, 1, Specials::Finite);

    const fn new(exp_bits: u32, man_bits: u32, bias: i32, specials: Specials) -> Self {
        Self {
            exp_bits,
            man_bits,
            bias,
            specials,
        }
    }

    /// The sign bit.
    const fn sign(self) -> u32 {
        1 << (self.exp_bits + self.man_bits)
    }

    /// The top exponent field.
    const fn exp_ones(self) -> u32 {
        (1 << self.exp_bits) - 1
    }

    /// The code of the largest finite magnitude.
    const fn max_code(self) -> u32 {
        let all = self.sign() - 1;
        match self.specials {
            Specials::Ieee => (self.exp_ones() << self.man_bits) - 1,
            Specials::Fn => all - 1,
            Specials::Fnuz | Specials::Finite => all,
        }
    }

    /// The exact value of `code`.
    fn decode(self, code: u32) -> f64 {
        let negative = code & self.sign() != 0;
        let exp = (code >> self.man_bits) & self.exp_ones();
        let man = code & ((1 << self.man_bits) - 1);
        let magnitude = match self.specials {
            Specials::Ieee if exp == self.exp_ones() => {
                if man == 0 {
                    f64::INFINITY
                } else {
                    f64::NAN
                }
            }
            Specials::Fn if code & !self.sign() == self.sign() - 1 => f64::NAN,
            Specials::Fnuz if code == self.sign() => return f64::NAN,
            _ if exp == 0 => f64::from(man) * pow2(1 - self.bias - self.man_bits as i32),
            _ => {
                f64::from(man | (1 << self.man_bits))
                    * pow2(exp as i32 - self.bias - self.man_bits as i32)
            }
        };
        if negative {
            -magnitude
        } else {
            magnitude
        }
    }

    /// The code nearest to `v` (ties to even). `overflow_saturates` decides what a value
    /// beyond the largest finite one becomes where the format could also say infinity
    /// or NaN.
    fn encode(self, v: f64, overflow_saturates: bool) -> u32 {
        let bits = v.to_bits();
        let negative = bits >> 63 != 0;
        let sign = if negative { self.sign() } else { 0 };
        if v.is_nan() {
            return match self.specials {
                // A quiet NaN that keeps the sign and the top of the payload, as IEEE
                // hardware converts.
                Specials::Ieee => {
                    let payload =
                        ((bits >> (52 - self.man_bits)) as u32) & ((1 << self.man_bits) - 1);
                    sign | (self.exp_ones() << self.man_bits) | payload | (1 << (self.man_bits - 1))
                }
                Specials::Fn => sign | (self.sign() - 1),
                Specials::Fnuz => self.sign(),
                // E2M1 has no NaN; this is what ml_dtypes, which the ONNX reference
                // uses, makes of one: a zero of the opposite sign.
                Specials::Finite => sign ^ self.sign(),
            };
        }
        let overflow = |sign: u32| match (self.specials, overflow_saturates) {
            (Specials::Finite, _) | (_, true) => sign | self.max_code(),
            (Specials::Ieee, false) => sign | (self.exp_ones() << self.man_bits),
            (Specials::Fn, false) => sign | (self.sign() - 1),
            (Specials::Fnuz, false) => self.sign(),
        };
        if v.is_infinite() {
            return overflow(sign);
        }
        let exp_field = ((bits >> 52) & 0x7ff) as i32;
        if exp_field == 0 {
            // Zero, or an `f64` subnormal, far below every format's smallest value.
            return if self.specials == Specials::Fnuz {
                0
            } else {
                sign
            };
        }
        let exp = exp_field - 1023;
        let significand = (bits & ((1 << 52) - 1)) | (1 << 52);
        // The exponent of the target's quantum at this magnitude: the format's ulp for a
        // normal value, the subnormal spacing below the smallest normal exponent.
        let min_exp = 1 - self.bias;
        let quantum = Ord::max(exp, min_exp) - self.man_bits as i32;
        // `v = significand · 2^(exp − 52)`; the number of quanta is that shifted right.
        let shift = (quantum - (exp - 52)) as u32;
        let quanta = if shift >= 64 {
            0
        } else {
            let kept = significand >> shift;
            let rest = significand & ((1u64 << shift) - 1);
            let half = if shift == 0 { 0 } else { 1u64 << (shift - 1) };
            if shift > 0 && (rest > half || (rest == half && kept & 1 == 1)) {
                kept + 1
            } else {
                kept
            }
        };
        // Below the smallest normal exponent the quanta are the code; above it the
        // implicit bit is one exponent step, so a carry out of the mantissa rounds up
        // into the next binade by itself.
        let code = if exp < min_exp {
            quanta as u32
        } else {
            (((exp - min_exp) as u32) << self.man_bits) + quanta as u32
        };
        if code > self.max_code() {
            return overflow(sign);
        }
        if code == 0 && self.specials == Specials::Fnuz {
            return 0;
        }
        sign | code
    }
}

/// `2^k` for the exponents the narrow formats reach.
#[inline(always)]
fn pow2(k: i32) -> f64 {
    f64::from_bits(((1023 + k) as u64) << 52)
}

impl Format {
    /// Bits per element.
    pub const fn bits(self) -> usize {
        match self {
            Self::F16 | Self::BF16 => 16,
            Self::F4E2M1 | Self::I4 | Self::U4 => 4,
            Self::I2 | Self::U2 => 2,
            _ => 8,
        }
    }

    /// Whether several elements share a byte.
    pub const fn is_packed(self) -> bool {
        self.bits() < 8
    }

    /// Storage units (`u16` for the 16-bit formats, bytes otherwise) that hold `n`
    /// elements.
    pub const fn storage_len(self, n: usize) -> usize {
        match self.bits() {
            16 | 8 => n,
            bits => (n * bits).div_ceil(8),
        }
    }

    /// Whether the format holds integers.
    pub const fn is_int(self) -> bool {
        matches!(self, Self::I4 | Self::U4 | Self::I2 | Self::U2)
    }

    const fn minifloat(self) -> Option<Minifloat> {
        Some(match self {
            Self::F16 => Minifloat::F16,
            Self::BF16 => Minifloat::BF16,
            Self::F8E4M3FN => Minifloat::E4M3FN,
            Self::F8E4M3FNUZ => Minifloat::E4M3FNUZ,
            Self::F8E5M2 => Minifloat::E5M2,
            Self::F8E5M2FNUZ => Minifloat::E5M2FNUZ,
            Self::F4E2M1 => Minifloat::E2M1,
            Self::F8E8M0 | Self::I4 | Self::U4 | Self::I2 | Self::U2 => return None,
        })
    }
}

/// The value of one element's `code` (its bits, right-aligned): exact for every format.
#[inline]
pub fn decode(format: Format, code: u32) -> f64 {
    match format {
        Format::F16 => f64::from(f16_to_f32(code as u16)),
        Format::BF16 => f64::from(bf16_to_f32(code as u16)),
        Format::F8E8M0 if code == 0xff => f64::NAN,
        Format::F8E8M0 => pow2(code as i32 - 127),
        Format::I4 => f64::from(((code << 28) as i32) >> 28),
        Format::I2 => f64::from(((code << 30) as i32) >> 30),
        Format::U4 | Format::U2 => f64::from(code),
        _ => match format.minifloat() {
            Some(m) => m.decode(code),
            None => f64::NAN,
        },
    }
}

/// The integer one element of a sub-byte integer format holds.
#[inline]
pub(crate) fn decode_int(format: Format, code: u32) -> i128 {
    match format {
        Format::I4 => i128::from(((code << 28) as i32) >> 28),
        Format::I2 => i128::from(((code << 30) as i32) >> 30),
        _ => i128::from(code),
    }
}

/// The code of `v` in `to`. Floats become sub-byte integers by truncation toward zero
/// (NaN becomes 0) and then wrap, as integer casts do.
#[inline]
pub fn encode(to: Encoding, v: f64) -> u32 {
    match to.format {
        Format::F16 => f16_from_f64(v) as u32,
        Format::BF16 => to.format.minifloat().map_or(0, |m| m.encode(v, false)),
        Format::F8E8M0 => e8m0_from_f32(v as f32, to.saturate, to.round),
        Format::I4 | Format::U4 | Format::I2 | Format::U2 => encode_int(to.format, v as i128),
        _ => match to.format.minifloat() {
            Some(m) => m.encode(v, to.saturate),
            None => 0,
        },
    }
}

/// The code of integer `v` in `to`: sub-byte integers keep the low bits, floats round.
#[inline]
fn encode_int(format: Format, v: i128) -> u32 {
    let mask = (1u32 << format.bits()) - 1;
    (v as u32) & mask
}

/// `float16` bits → `f32`, exactly (NaN payloads kept).
#[inline]
pub fn f16_to_f32(h: u16) -> f32 {
    let h = u32::from(h);
    let sign = (h & 0x8000) << 16;
    let exp = (h >> 10) & 0x1f;
    let man = h & 0x3ff;
    let bits = if exp == 0x1f {
        sign | 0x7f80_0000 | (man << 13)
    } else if exp == 0 {
        // A subnormal: `man · 2^−24`, exact in `f32`.
        sign | (man as f32 * f32::from_bits(0x3380_0000)).to_bits()
    } else {
        sign | ((exp + 112) << 23) | (man << 13)
    };
    f32::from_bits(bits)
}

/// `f32` → `float16` bits, rounding to nearest even; overflow gives infinity.
#[inline]
pub fn f16_from_f32(v: f32) -> u16 {
    let x = v.to_bits();
    let sign = (x >> 16) & 0x8000;
    let a = x & 0x7fff_ffff;
    let h = if a > 0x7f80_0000 {
        // NaN: quiet, with the top of the payload.
        0x7e00 | ((a >> 13) & 0x3ff)
    } else if a >= 0x477f_f000 {
        // 65520 and up round to infinity (65504 is the largest finite value).
        0x7c00
    } else if a >= 0x3880_0000 {
        // A normal result: rebias the exponent and round the 13 dropped bits.
        let r = a - (112 << 23);
        round_shift(r, 13)
    } else if a > 0x3300_0000 {
        // A subnormal result, `round(v · 2^24)`: above 2^−25, which ties to zero.
        let man = (a & 0x7f_ffff) | 0x80_0000;
        let shift = 126 - (a >> 23);
        round_shift(man, shift)
    } else {
        0
    };
    (sign | h) as u16
}

/// `x >> shift` rounded to nearest, ties to even (`1 ≤ shift < 32`).
#[inline(always)]
fn round_shift(x: u32, shift: u32) -> u32 {
    let kept = x >> shift;
    let rest = x & ((1 << shift) - 1);
    let half = 1 << (shift - 1);
    if rest > half || (rest == half && kept & 1 == 1) {
        kept + 1
    } else {
        kept
    }
}

/// `f64` → `float16` bits, rounded once (an `f32` step first could round twice).
#[inline]
pub fn f16_from_f64(v: f64) -> u16 {
    let f = v as f32;
    if f64::from(f) == v || v.is_nan() {
        return f16_from_f32(f);
    }
    Minifloat::F16.encode(v, false) as u16
}

/// `bfloat16` bits → `f32`, exactly: the upper half of its bits.
#[inline]
pub fn bf16_to_f32(h: u16) -> f32 {
    f32::from_bits(u32::from(h) << 16)
}

/// `f32` → `bfloat16` bits, rounding to nearest even; NaN stays a quiet NaN.
#[inline]
pub fn bf16_from_f32(v: f32) -> u16 {
    let x = v.to_bits();
    if v.is_nan() {
        return ((x >> 16) | 0x40) as u16;
    }
    // Adding just under half an ulp, plus the kept bit's parity, rounds ties to even; a
    // carry walks into the exponent, up to infinity.
    ((x + 0x7fff + ((x >> 16) & 1)) >> 16) as u16
}

/// `f32` → FLOAT8E8M0: the biased exponent, rounded as `round` says. Negative values are
/// undefined in ONNX; their magnitude is used, as the reference does.
fn e8m0_from_f32(v: f32, saturate: bool, round: E8M0Round) -> u32 {
    let bits = v.to_bits();
    let exp = (bits >> 23) & 0xff;
    if exp == 0xff {
        return 0xff;
    }
    let fraction = bits & 0x7f_ffff;
    let up = match round {
        E8M0Round::Up => fraction != 0,
        E8M0Round::Down => false,
        // The reference's guard, round and sticky bits, with "the least significant bit"
        // being whether the exponent is non-zero.
        E8M0Round::Nearest => {
            let guard = bits & 0x40_0000 != 0;
            let round_bit = bits & 0x20_0000 != 0;
            let sticky = bits & 0x1f_ffff != 0;
            guard && (round_bit || sticky || exp > 0)
        }
    };
    if up && saturate && exp == 0xfe {
        return exp;
    }
    (exp + u32::from(up)) & 0xff
}

/// `f32` → the code of `to`, with the fast paths for the half formats.
#[inline(always)]
fn encode_f32(to: Encoding, v: f32) -> u32 {
    match to.format {
        Format::F16 => u32::from(f16_from_f32(v)),
        Format::BF16 => u32::from(bf16_from_f32(v)),
        Format::F8E8M0 => e8m0_from_f32(v, to.saturate, to.round),
        _ => encode(to, f64::from(v)),
    }
}

/// `code` → `f32`, with the fast paths for the half formats.
#[inline(always)]
fn decode_f32(format: Format, code: u32) -> f32 {
    match format {
        Format::F16 => f16_to_f32(code as u16),
        Format::BF16 => bf16_to_f32(code as u16),
        _ => decode(format, code) as f32,
    }
}

/// Element `i` of narrow data (packed or not).
#[inline(always)]
pub(crate) fn code_at<S: Storage>(format: Format, x: &[S], i: usize) -> u32 {
    match format.bits() {
        16 | 8 => x[i].code(),
        bits => {
            let per = 8 / bits;
            (x[i / per].code() >> ((i % per) * bits)) & ((1 << bits) - 1)
        }
    }
}

/// Writes `n` elements into narrow storage, `code(i)` each; a packed last byte is
/// padded with zero bits.
#[inline(always)]
pub(crate) fn store<S: Storage>(
    format: Format,
    y: &mut [S],
    n: usize,
    mut code: impl FnMut(usize) -> u32,
) {
    match format.bits() {
        16 | 8 => {
            for (i, out) in y.iter_mut().enumerate().take(n) {
                *out = S::from_code(code(i));
            }
        }
        bits => {
            let per = 8 / bits;
            for (j, out) in y.iter_mut().enumerate() {
                let mut byte = 0;
                for k in 0..per {
                    let i = j * per + k;
                    if i < n {
                        byte |= code(i) << (k * bits);
                    }
                }
                *out = S::from_code(byte);
            }
        }
    }
}

/// ONNX `Cast` from a narrow type to a numeric one: `y.len()` elements.
pub fn cast_from<S: Storage, B: Scalar>(from: Format, x: &[S], y: &mut [B]) {
    if from.is_int() {
        for (i, out) in y.iter_mut().enumerate() {
            *out = B::from_i128(decode_int(from, code_at(from, x, i)));
        }
    } else if core::mem::size_of::<B>() <= 4 {
        // `f32` and the integers: the narrow value is exact in `f32`.
        for (i, out) in y.iter_mut().enumerate() {
            *out = B::from_f64(f64::from(decode_f32(from, code_at(from, x, i))));
        }
    } else {
        for (i, out) in y.iter_mut().enumerate() {
            *out = B::from_f64(decode(from, code_at(from, x, i)));
        }
    }
}

/// ONNX `Cast` from a narrow type to bool: any value but zero is true (NaN included).
pub fn cast_to_bool<S: Storage>(from: Format, x: &[S], y: &mut [u8]) {
    for (i, out) in y.iter_mut().enumerate() {
        *out = u8::from(decode(from, code_at(from, x, i)) != 0.0);
    }
}

/// ONNX `Cast` from a numeric type (or bool, as bytes) to a narrow one: `x.len()`
/// elements.
pub fn cast_to<A: Scalar, S: Storage>(to: Encoding, x: &[A], y: &mut [S]) {
    let n = x.len();
    if !is_float::<A>() {
        if to.format.is_int() {
            store(to.format, y, n, |i| encode_int(to.format, x[i].to_i128()));
        } else {
            store(to.format, y, n, |i| encode(to, x[i].to_i128() as f64));
        }
    } else if core::mem::size_of::<A>() == 4 {
        // `f32`, widened exactly.
        store(to.format, y, n, |i| encode_f32(to, x[i].to_f64() as f32));
    } else {
        store(to.format, y, n, |i| encode(to, x[i].to_f64()));
    }
}

/// ONNX `Cast` between two narrow types: `n` elements.
pub fn cast_between<S: Storage, T: Storage>(
    from: Format,
    to: Encoding,
    x: &[S],
    y: &mut [T],
    n: usize,
) {
    if from.is_int() {
        let ints = |i| decode_int(from, code_at(from, x, i));
        if to.format.is_int() {
            store(to.format, y, n, |i| encode_int(to.format, ints(i)));
        } else {
            store(to.format, y, n, |i| encode(to, ints(i) as f64));
        }
    } else {
        // Every narrow float is exact in `f32`.
        store(to.format, y, n, |i| {
            encode_f32(to, decode_f32(from, code_at(from, x, i)))
        });
    }
}

/// Packs one-a-byte codes of a sub-byte format (low bits; the rest is ignored) into its
/// storage, as ONNX packs them; a format of whole bytes is copied. `codes.len()` elements.
pub fn pack(format: Format, codes: &[u8], y: &mut [u8]) {
    let mask = if format.bits() >= 8 {
        0xff
    } else {
        (1 << format.bits()) - 1
    };
    store(format, y, codes.len(), |i| u32::from(codes[i]) & mask);
}

/// The inverse of [`pack`]: `codes.len()` elements, one a byte.
pub fn unpack(format: Format, x: &[u8], codes: &mut [u8]) {
    for (i, out) in codes.iter_mut().enumerate() {
        *out = code_at(format, x, i) as u8;
    }
}

/// `float16` bits → `f32`, element by element (the cast in front of an op that computes
/// in `f32`).
pub fn f16_to_f32_slice(x: &[u16], y: &mut [f32]) {
    for (out, &h) in y.iter_mut().zip(x) {
        *out = f16_to_f32(h);
    }
}

/// `f32` → `float16` bits, element by element.
pub fn f32_to_f16_slice(x: &[f32], y: &mut [u16]) {
    for (out, &v) in y.iter_mut().zip(x) {
        *out = f16_from_f32(v);
    }
}

/// `bfloat16` bits → `f32`, element by element.
pub fn bf16_to_f32_slice(x: &[u16], y: &mut [f32]) {
    for (out, &h) in y.iter_mut().zip(x) {
        *out = bf16_to_f32(h);
    }
}

/// `f32` → `bfloat16` bits, element by element.
pub fn f32_to_bf16_slice(x: &[f32], y: &mut [u16]) {
    for (out, &v) in y.iter_mut().zip(x) {
        *out = bf16_from_f32(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOAT8: [Format; 4] = [
        Format::F8E4M3FN,
        Format::F8E4M3FNUZ,
        Format::F8E5M2,
        Format::F8E5M2FNUZ,
    ];

    fn enc(format: Format) -> Encoding {
        Encoding::new(format)
    }

    #[test]
    fn every_f16_pattern_round_trips() {
        for h in 0..=u16::MAX {
            let v = f16_to_f32(h);
            if v.is_nan() {
                // A signalling NaN comes back quiet, with its sign.
                let back = f16_from_f32(v);
                assert_eq!(back | 0x0200, h | 0x0200, "{h:#06x}");
                continue;
            }
            assert_eq!(f16_from_f32(v), h, "{h:#06x}");
            assert_eq!(f16_from_f64(f64::from(v)), h, "{h:#06x}");
            // The generic decoder agrees with the fast one.
            assert_eq!(
                Minifloat::F16.decode(u32::from(h)),
                f64::from(v),
                "{h:#06x}"
            );
        }
    }

    #[test]
    fn every_bf16_pattern_round_trips() {
        for h in 0..=u16::MAX {
            let v = bf16_to_f32(h);
            if v.is_nan() {
                assert!(bf16_to_f32(bf16_from_f32(v)).is_nan());
                assert_eq!(bf16_from_f32(v) & 0x8000, h & 0x8000);
                continue;
            }
            assert_eq!(bf16_from_f32(v), h, "{h:#06x}");
            assert_eq!(
                Minifloat::BF16.decode(u32::from(h)),
                f64::from(v),
                "{h:#06x}"
            );
            assert_eq!(Minifloat::BF16.encode(f64::from(v), false), u32::from(h));
        }
    }

    /// The `f32` values around every `float16` rounding boundary: the exact midpoints
    /// between neighbours and one `f32` ulp either side.
    fn f16_boundaries() -> impl Iterator<Item = f32> {
        (0..0x7c00u16).flat_map(|h| {
            let lo = f64::from(f16_to_f32(h));
            let hi = if h == 0x7bff {
                65520.0
            } else {
                f64::from(f16_to_f32(h + 1))
            };
            let mid = ((lo + hi) / 2.0) as f32;
            let m = mid.to_bits();
            [m - 1, m, m + 1].into_iter().flat_map(|b| {
                let v = f32::from_bits(b);
                [v, -v]
            })
        })
    }

    #[test]
    fn fast_f16_rounding_matches_the_generic_encoder() {
        let generic = |v: f32| Minifloat::F16.encode(f64::from(v), false) as u16;
        for v in f16_boundaries() {
            assert_eq!(f16_from_f32(v), generic(v), "{v:e} ({:#010x})", v.to_bits());
        }
        // A sweep across every exponent, infinities and NaNs included.
        for bits in (0..=u32::MAX).step_by(4099) {
            let v = f32::from_bits(bits);
            if v.is_nan() {
                assert_eq!(f16_from_f32(v) & 0x7e00, 0x7e00);
                continue;
            }
            assert_eq!(f16_from_f32(v), generic(v), "{v:e} ({bits:#010x})");
        }
    }

    #[test]
    fn f16_rounds_ties_to_even_and_overflows_to_infinity() {
        assert_eq!(f16_from_f32(1.0 + 2f32.powi(-11)), 0x3c00);
        assert_eq!(f16_from_f32(1.0 + 3.0 * 2f32.powi(-11)), 0x3c02);
        assert_eq!(f16_from_f32(65504.0), 0x7bff);
        assert_eq!(f16_from_f32(65519.0), 0x7bff);
        assert_eq!(f16_from_f32(65520.0), 0x7c00);
        assert_eq!(f16_from_f32(f32::NEG_INFINITY), 0xfc00);
        assert_eq!(f16_from_f32(2f32.powi(-24)), 0x0001);
        assert_eq!(f16_from_f32(2f32.powi(-25)), 0x0000);
        assert_eq!(f16_from_f32(1.5 * 2f32.powi(-25)), 0x0001);
        assert_eq!(f16_from_f32(-0.0), 0x8000);
        assert_eq!(f16_from_f32(f32::NAN), 0x7e00);
        // From `f64`, rounded once: just above a tie between two `float16`s, which an
        // `f32` step would first round onto the tie and then to even.
        let v = 1.0 + 2f64.powi(-11) + 2f64.powi(-40);
        assert_eq!(f16_from_f64(v), 0x3c01);
        assert_eq!(f16_from_f32(v as f32), 0x3c00);
    }

    #[test]
    fn bf16_rounds_ties_to_even() {
        assert_eq!(bf16_from_f32(1.0), 0x3f80);
        assert_eq!(bf16_from_f32(f32::from_bits(0x3f80_8000)), 0x3f80);
        assert_eq!(bf16_from_f32(f32::from_bits(0x3f81_8000)), 0x3f82);
        assert_eq!(bf16_from_f32(f32::from_bits(0x3f80_8001)), 0x3f81);
        assert_eq!(bf16_from_f32(f32::MAX), 0x7f80);
        assert_eq!(bf16_from_f32(f32::NAN), 0x7fc0);
        assert_eq!(bf16_from_f32(-f32::NAN) & 0x8000, 0x8000);
    }

    #[test]
    fn every_float8_code_decodes_and_encodes_back() {
        for format in FLOAT8.into_iter().chain([Format::F4E2M1]) {
            let m = format.minifloat().unwrap();
            let n_codes = 1u32 << (m.exp_bits + m.man_bits + 1);
            let mut previous = -1.0;
            for code in 0..n_codes / 2 {
                let v = decode(format, code);
                if v.is_nan() || v.is_infinite() {
                    continue;
                }
                // Magnitudes grow with the code, and both signs encode back.
                assert!(v > previous, "{format:?} {code:#x}");
                previous = v;
                assert_eq!(encode(enc(format), v), code, "{format:?} {code:#x}");
                let negative = code | m.sign();
                if v == 0.0 && m.specials == Specials::Fnuz {
                    assert!(decode(format, negative).is_nan());
                } else {
                    assert_eq!(decode(format, negative), -v);
                    assert_eq!(encode(enc(format), -v), negative);
                }
            }
        }
    }

    #[test]
    fn float8_extremes_follow_the_onnx_tables() {
        let max = |f| decode(f, f.minifloat().unwrap().max_code());
        assert_eq!(max(Format::F8E4M3FN), 448.0);
        assert_eq!(max(Format::F8E4M3FNUZ), 240.0);
        assert_eq!(max(Format::F8E5M2), 57344.0);
        assert_eq!(max(Format::F8E5M2FNUZ), 57344.0);
        assert_eq!(max(Format::F4E2M1), 6.0);
        assert_eq!(decode(Format::F8E4M3FN, 1), 2f64.powi(-9));
        assert_eq!(decode(Format::F8E4M3FNUZ, 1), 2f64.powi(-10));
        assert_eq!(decode(Format::F8E5M2, 1), 2f64.powi(-16));
        assert_eq!(decode(Format::F8E5M2FNUZ, 1), 2f64.powi(-17));
        assert!(decode(Format::F8E4M3FN, 0x7f).is_nan());
        assert!(decode(Format::F8E4M3FN, 0xff).is_nan());
        assert!(decode(Format::F8E4M3FNUZ, 0x80).is_nan());
        assert_eq!(decode(Format::F8E5M2, 0x7c), f64::INFINITY);
        assert!(decode(Format::F8E5M2, 0x7d).is_nan());

        // With saturation, infinity and overflow become the largest value; without it,
        // what the ONNX Cast table says.
        let plain = |f| Encoding {
            saturate: false,
            ..Encoding::new(f)
        };
        for v in [f64::INFINITY, 1e6] {
            assert_eq!(encode(enc(Format::F8E4M3FN), v), 0x7e);
            assert_eq!(encode(enc(Format::F8E4M3FN), -v), 0xfe);
            assert_eq!(encode(plain(Format::F8E4M3FN), v), 0x7f);
            assert_eq!(encode(plain(Format::F8E4M3FN), -v), 0xff);
            assert_eq!(encode(enc(Format::F8E5M2), v), 0x7b);
            assert_eq!(encode(plain(Format::F8E5M2), v), 0x7c);
            assert_eq!(encode(plain(Format::F8E5M2), -v), 0xfc);
            assert_eq!(encode(plain(Format::F8E4M3FNUZ), -v), 0x80);
            assert_eq!(encode(plain(Format::F8E5M2FNUZ), v), 0x80);
            assert_eq!(encode(plain(Format::F4E2M1), -v), 0xf);
        }
        // −0 and negative underflow have no code in the FNUZ formats: they become +0.
        assert_eq!(encode(enc(Format::F8E4M3FNUZ), -0.0), 0);
        assert_eq!(encode(enc(Format::F8E5M2FNUZ), -1e-7), 0);
        assert_eq!(encode(enc(Format::F8E4M3FN), -1e-7), 0x80);
        // NaN, as ml_dtypes converts it.
        assert_eq!(encode(enc(Format::F8E4M3FN), f64::NAN), 0x7f);
        assert_eq!(encode(enc(Format::F8E5M2), f64::NAN), 0x7e);
        assert_eq!(encode(enc(Format::F8E5M2), -f64::NAN), 0xfe);
        assert_eq!(encode(enc(Format::F8E4M3FNUZ), f64::NAN), 0x80);
        assert_eq!(encode(enc(Format::F4E2M1), f64::NAN), 0x8);
        // Ties go to the even code: 0.25 lies between E2M1's 0 and 0.5, 3.5 between 3 and 4.
        assert_eq!(encode(enc(Format::F4E2M1), 0.25), 0x0);
        assert_eq!(encode(enc(Format::F4E2M1), -3.5), 0xe);
        assert_eq!(encode(enc(Format::F4E2M1), 0.75), 0x2);
    }

    #[test]
    fn e8m0_rounds_as_asked() {
        let e = |v: f32, round| e8m0_from_f32(v, true, round);
        assert_eq!(e(1.0, E8M0Round::Up), 127);
        assert_eq!(e(1.1, E8M0Round::Up), 128);
        assert_eq!(e(1.1, E8M0Round::Down), 127);
        assert_eq!(e(1.6, E8M0Round::Nearest), 128);
        assert_eq!(e(1.4, E8M0Round::Nearest), 127);
        assert_eq!(e(0.0, E8M0Round::Up), 0);
        assert_eq!(e(f32::MAX, E8M0Round::Up), 254);
        assert_eq!(e8m0_from_f32(f32::MAX, false, E8M0Round::Up), 255);
        assert_eq!(e(f32::INFINITY, E8M0Round::Up), 255);
        // 2^−127 is an `f32` subnormal, whose fraction bits the reference's rounding up
        // takes for a fraction: it becomes 2^−126.
        assert_eq!(e(decode(Format::F8E8M0, 0) as f32, E8M0Round::Up), 1);
        for code in 1..255 {
            let v = decode(Format::F8E8M0, code);
            assert_eq!(e(v as f32, E8M0Round::Up), code);
        }
        assert!(decode(Format::F8E8M0, 255).is_nan());
    }

    #[test]
    fn sub_byte_integers_pack_low_bits_first_and_wrap() {
        let mut packed = [0u8; 3];
        cast_to(
            enc(Format::I4),
            &[-9.7f32, -8.0, 7.0, 8.0, 300.0],
            &mut packed,
        );
        // -9 wraps to 7, 8 to -8, 300 to 12 (−4): what ml_dtypes gives.
        assert_eq!(packed, [0x87, 0x87, 0x0c]);
        let mut back = [0i8; 5];
        cast_from(Format::I4, &packed, &mut back);
        assert_eq!(back, [7, -8, 7, -8, -4]);
        let mut unsigned = [0u8; 2];
        cast_to(enc(Format::U2), &[-3i64, -1, 0, 1, 2, 3, 4], &mut unsigned);
        assert_eq!(unsigned, [0b01_00_11_01, 0b00_00_11_10]);
        let mut values = [0u8; 7];
        cast_from(Format::U2, &unsigned, &mut values);
        assert_eq!(values, [1, 3, 0, 1, 2, 3, 0]);
        let mut signed = [0.0f32; 4];
        cast_from(Format::I2, &[0b11_10_01_00u8], &mut signed);
        assert_eq!(signed, [0.0, 1.0, -2.0, -1.0]);
    }

    #[test]
    fn packing_is_onnx_layout() {
        let mut packed = [0u8; 2];
        pack(Format::U4, &[1, 2, 0xf3], &mut packed);
        assert_eq!(packed, [0x21, 0x03]);
        let mut codes = [0u8; 3];
        unpack(Format::U4, &packed, &mut codes);
        assert_eq!(codes, [1, 2, 3]);
        let mut one = [0u8; 1];
        pack(Format::I2, &[3, 0, 1, 2], &mut one);
        assert_eq!(one, [0b10_01_00_11]);
    }

    #[test]
    fn casts_between_narrow_types_go_through_exact_values() {
        // float16 → float8 E4M3FN, saturating: 1e6 is infinity in float16.
        let x = [f16_from_f32(0.5), f16_from_f32(1e6), f16_from_f32(-300.0)];
        let mut y = [0u8; 3];
        cast_between(Format::F16, enc(Format::F8E4M3FN), &x, &mut y, 3);
        assert_eq!(y, [0x30, 0x7e, 0xf9]);
        // int4 → float16, and float4 → float16.
        let mut h = [0u16; 2];
        cast_between(Format::I4, enc(Format::F16), &[0x8fu8], &mut h, 2);
        assert_eq!(h.map(f16_to_f32), [-1.0, -8.0]);
        cast_between(Format::F4E2M1, enc(Format::F16), &[0xf7u8], &mut h, 2);
        assert_eq!(h.map(f16_to_f32), [6.0, -6.0]);
        let mut b = [0u8; 2];
        cast_to_bool(Format::BF16, &[0x8000u16, 0x7fc0], &mut b);
        assert_eq!(b, [0, 1]);
    }

    #[test]
    fn wide_casts_round_once() {
        let mut h = [0u16; 2];
        cast_to(
            enc(Format::F16),
            &[1.0 + 2f64.powi(-11) + 2f64.powi(-40), 1e300],
            &mut h,
        );
        assert_eq!(h, [0x3c01, 0x7c00]);
        let mut i = [0i32; 2];
        cast_from(Format::F16, &[f16_from_f32(-2.75), 0x7c00u16], &mut i);
        assert_eq!(i, [-2, i32::MAX]);
    }
}
