//! The instructions safe Rust cannot reach, the one place in `zant-runtime` with
//! `unsafe`: the Arm DSP extension's packed 16-bit multiply-accumulate and 8-to-16-bit
//! extensions, and x86-64's AVX-512 VNNI byte dot product.
//!
//! Why the Arm ones exist: safe Rust has no way to the Cortex-M4/M7's `SMLAD` (two 16 × 16
//! products and an accumulate in one instruction), `SMLABB`/`SMLATB` (one product of
//! chosen halfwords and an accumulate) and `SXTB16` (two bytes sign-extended into two
//! halfwords). LLVM's ARM parallel-DSP pass forms `SMLAD` only from a dot
//! product whose 16-bit loads each feed one multiply, and the register tiles of the
//! integer kernels reuse every load; measured on mlperf-kws-int8's pointwise layers, the
//! safe tile took 1.75 instructions a multiply-accumulate and the dot product 2.25, where
//! `SMLAD` takes 1 (docs/performance.md, "What holds the Cortex-M7 back"). The
//! intrinsics in `core::arch::arm` are unstable, so these are one-instruction `asm!`
//! blocks.
//!
//! Every block but one only reads and writes registers: `pure, nomem, nostack`, no
//! memory, no stack, no control flow. The exception is [`smlad_tile_4x2`], the integer
//! convolutions' register tile as one loop: it reads the two slices it is given, within
//! the bounds it checks, and saves two registers on the stack. (Built for size, `smlad` drops `pure, nomem` so that LLVM
//! keeps loads where the tile puts them; see its body.) `SMLAD` may set the sticky `Q`
//! flag on overflow, which Rust code never reads (so the blocks do not claim
//! `preserves_flags`); its result wraps modulo 2³², like the `wrapping_add` of the
//! portable versions. Each function has a
//! portable twin with the same result on every input, used on targets without the
//! extension; the unit tests check the portable twins, and the Cortex-M7 bench checks the
//! instructions end to end (mlperf-kws-int8 and mlperf-ad-int8 on QEMU must match the host
//! harness to the byte, `scripts/test.sh`).
//!
//! The extension is detected from `target_feature = "dsp"`, which rustc reports for
//! `thumbv7em-*` (Cortex-M4/M7) and `thumbv8m.main` with DSP; stable rustc hides Arm
//! target features from `cfg` today, so the instructions are used by nightly builds and
//! `-Zbuild-std` builds (as `zantc bench` and the firmware example make), and other
//! builds take the portable path.
//!
//! [`dpbusd`] is `VPDPBUSD` on 256-bit vectors (AVX-512 VNNI with AVX-512 VL): in each
//! of eight `i32` lanes, four unsigned bytes times four signed bytes, summed into the lane,
//! 32 products in one instruction where `vpmaddwd` on widened pairs does 16 and needs an
//! add. LLVM does not form it from safe Rust (a byte dot product written out becomes
//! `vpmulld` and shuffles), and its intrinsic is a `#[target_feature]` function, which
//! safe code may only call from functions with the same features: enabling them for the
//! whole crate (`-C target-cpu`) does not count. It is compiled only when the build
//! enables both features, so the CPU that runs it has them.
#![allow(unsafe_code)]

/// Whether the kernels have the DSP instructions on this target.
pub const HAS_DSP: bool = cfg!(all(target_arch = "arm", target_feature = "dsp"));

/// `acc + lo(a) · lo(b) + hi(a) · hi(b)` of two words holding two `i16` each, wrapping.
#[cfg(all(target_arch = "arm", target_feature = "dsp"))]
#[inline(always)]
pub fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    let mut acc = acc;
    // The one instruction, with the sum kept in its register as a register-tiled loop
    // wants it; only the options differ between the two builds below.
    macro_rules! smlad_asm {
        ($($option:ident),*) => {
            core::arch::asm!(
                "smlad {acc}, {a}, {b}, {acc}",
                acc = inout(reg) acc,
                a = in(reg) a,
                b = in(reg) b,
                options($($option),*),
            )
        };
    }
    // SAFETY: register-only arithmetic (see the module docs): no memory, no stack.
    #[cfg(not(zant_size))]
    unsafe {
        smlad_asm!(pure, nomem, nostack);
    }
    // SAFETY: the same instruction. Built for size, the block claims to touch memory (it
    // does not), so that no load moves across it: at "z" LLVM otherwise loads a tile
    // step's four weights at once, ahead of their `SMLAD`s, and the register tile's sums
    // spill (build.rs; docs/performance.md, "Opt-level z").
    #[cfg(zant_size)]
    unsafe {
        smlad_asm!(nostack);
    }
    acc
}

/// `acc + lo(a) · lo(b) + hi(a) · hi(b)` of two words holding two `i16` each, wrapping.
#[cfg(not(all(target_arch = "arm", target_feature = "dsp")))]
#[inline(always)]
pub fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    acc.wrapping_add(i32::from(a as i16) * i32::from(b as i16))
        .wrapping_add(i32::from((a >> 16) as i16) * i32::from((b >> 16) as i16))
}

/// The sums of a register tile of four rows by two columns over packed pairs, wrapping:
/// `acc[o][j] = Σ_kp smlad(cols[2 · kp + j], rows[4 · kp + o])` for `kp` below
/// `min(cols.len() / 2, rows.len() / 4)` (the integer convolutions' Cortex-M tile: each
/// step two gathered positions and four output channels' weights).
///
/// On the DSP extension it is one `asm!` loop. Its eight sums, the two pointers, the trip
/// count, the two position words and the weight word need 14 registers, and a Cortex-M
/// thumb build keeps `r7` as its frame pointer and `r6` for LLVM, which leaves 12: in
/// Rust, LLVM spilled two sums and the trip count and took 18 instructions for each step's
/// 8 `SMLAD`s (mlperf-vww-int8 spent 7.3 M of its 16.7 M instructions there). The loop
/// saves `r6` and `r7` on the stack, loads the position words into them with one `LDRD`,
/// and takes two steps an iteration: 13 instructions a step and 2 an iteration.
pub fn smlad_tile_4x2(cols: &[u32], rows: &[u32]) -> [[i32; 2]; 4] {
    let pairs = (cols.len() / 2).min(rows.len() / 4);
    #[cfg(all(target_arch = "arm", target_feature = "dsp"))]
    if pairs > 0 {
        let mut acc = [0i32; 8];
        let [mut a0, mut a1, mut a2, mut a3, mut a4, mut a5, mut a6, mut a7] = acc;
        // The step: positions `(x0, x1)` into r6 and r7 from `x` (r10), then each
        // channel's weight word from `wp` (r11) into lr, by the two positions, into the
        // sums r0–r5, r8 and r9. No instruction of it sets the flags.
        macro_rules! step {
            () => {
                concat!(
                    "ldrd r6, r7, [r10], #8\n",
                    "ldr lr, [r11], #4\n",
                    "smlad r0, r6, lr, r0\n",
                    "smlad r1, r7, lr, r1\n",
                    "ldr lr, [r11], #4\n",
                    "smlad r2, r6, lr, r2\n",
                    "smlad r3, r7, lr, r3\n",
                    "ldr lr, [r11], #4\n",
                    "smlad r4, r6, lr, r4\n",
                    "smlad r5, r7, lr, r5\n",
                    "ldr lr, [r11], #4\n",
                    "smlad r8, r6, lr, r8\n",
                    "smlad r9, r7, lr, r9\n",
                )
            };
        }
        // SAFETY: the loop runs `pairs` steps (at least one: an odd step first, then
        // `pairs / 2` double steps), and each step reads two words at `x` and four at
        // `wp` and advances them past what it read, so it reads `cols[..2 · pairs]` and
        // `rows[..4 · pairs]`, both in bounds by the choice of `pairs`, and writes no
        // memory but its own two stack words. It restores `r6`, `r7` and the stack
        // pointer; every other register it writes is an operand. `SMLAD` may set the
        // sticky `Q` flag, which Rust code never reads. The operands are named registers
        // because the allocator may hand `r6` to a `reg` operand.
        unsafe {
            core::arch::asm!(
                "push {{r6, r7}}",
                "lsrs r12, r12, #1",
                "bcc 2f",
                step!(),
                // `lsrs`'s zero flag, which the step keeps: one step was all of them.
                "beq 3f",
                "2:",
                step!(),
                step!(),
                "subs r12, r12, #1",
                "bne 2b",
                "3:",
                "pop {{r6, r7}}",
                inout("r10") cols.as_ptr() => _,
                inout("r11") rows.as_ptr() => _,
                inout("r12") pairs => _,
                out("lr") _,
                inout("r0") a0,
                inout("r1") a1,
                inout("r2") a2,
                inout("r3") a3,
                inout("r4") a4,
                inout("r5") a5,
                inout("r8") a6,
                inout("r9") a7,
                options(readonly),
            );
        }
        acc = [a0, a1, a2, a3, a4, a5, a6, a7];
        return [
            [acc[0], acc[1]],
            [acc[2], acc[3]],
            [acc[4], acc[5]],
            [acc[6], acc[7]],
        ];
    }
    let mut acc = [[0i32; 2]; 4];
    for (xs, ws) in cols.chunks_exact(2).zip(rows.chunks_exact(4)).take(pairs) {
        for (row, &w) in acc.iter_mut().zip(ws) {
            row[0] = smlad(xs[0], w, row[0]);
            row[1] = smlad(xs[1], w, row[1]);
        }
    }
    acc
}

/// A halfword multiply-accumulate instruction, `$asm` on `{a}`, `{b}` and `{acc}`, and its
/// portable twin `$portable` (a closure of `a`, `b` and `acc`).
macro_rules! halfword_mac {
    ($(#[$doc:meta])* $name:ident, $asm:literal, $portable:expr) => {
        $(#[$doc])*
        #[cfg(all(target_arch = "arm", target_feature = "dsp"))]
        #[inline(always)]
        pub fn $name(a: u32, b: u32, acc: i32) -> i32 {
            let mut acc = acc;
            // SAFETY: register-only arithmetic (see the module docs): no memory, no stack.
            unsafe {
                core::arch::asm!(
                    $asm,
                    acc = inout(reg) acc,
                    a = in(reg) a,
                    b = in(reg) b,
                    options(pure, nomem, nostack),
                );
            }
            acc
        }

        $(#[$doc])*
        #[cfg(not(all(target_arch = "arm", target_feature = "dsp")))]
        #[inline(always)]
        pub fn $name(a: u32, b: u32, acc: i32) -> i32 {
            let portable: fn(u32, u32, i32) -> i32 = $portable;
            portable(a, b, acc)
        }
    };
}

halfword_mac!(
    /// `acc + lo(a) · lo(b)` of two words holding `i16`s in their low halves, wrapping.
    smlabb,
    "smlabb {acc}, {a}, {b}, {acc}",
    |a, b, acc| acc.wrapping_add(i32::from(a as i16) * i32::from(b as i16))
);
halfword_mac!(
    /// `acc + hi(a) · lo(b)`: the high `i16` of `a` by the low one of `b`, wrapping.
    smlatb,
    "smlatb {acc}, {a}, {b}, {acc}",
    |a, b, acc| acc.wrapping_add(i32::from((a >> 16) as i16) * i32::from(b as i16))
);

/// A one-operand extension instruction, `$asm` on `{x}` into `{out}`, and its portable
/// twin `$portable` (a closure of `x`).
macro_rules! extend {
    ($(#[$doc:meta])* $name:ident, $asm:literal, $portable:expr) => {
        $(#[$doc])*
        #[cfg(all(target_arch = "arm", target_feature = "dsp"))]
        #[inline(always)]
        pub fn $name(x: u32) -> u32 {
            let out: u32;
            // SAFETY: register-only arithmetic (see the module docs): no memory, no stack,
            // no flags.
            unsafe {
                core::arch::asm!(
                    $asm,
                    out = lateout(reg) out,
                    x = in(reg) x,
                    options(pure, nomem, nostack, preserves_flags),
                );
            }
            out
        }

        $(#[$doc])*
        #[cfg(not(all(target_arch = "arm", target_feature = "dsp")))]
        #[inline(always)]
        pub fn $name(x: u32) -> u32 {
            let portable: fn(u32) -> u32 = $portable;
            portable(x)
        }
    };
}

/// The sign extension of byte `b`'s value into a halfword, placed at bit `shift`.
#[cfg(not(all(target_arch = "arm", target_feature = "dsp")))]
fn signed_half(b: u32, shift: u32) -> u32 {
    u32::from(b as u8 as i8 as i16 as u16) << shift
}

extend!(
    /// Bytes 0 and 2 of `x`, sign-extended into the low and high halfwords.
    sxtb16,
    "sxtb16 {out}, {x}",
    |x| signed_half(x, 0) | signed_half(x >> 16, 16)
);
extend!(
    /// Bytes 1 and 3 of `x`, sign-extended into the low and high halfwords.
    sxtb16_ror8,
    "sxtb16 {out}, {x}, ror #8",
    |x| signed_half(x >> 8, 0) | signed_half(x >> 24, 16)
);
extend!(
    /// Bytes 0 and 2 of `x`, zero-extended into the low and high halfwords.
    uxtb16,
    "uxtb16 {out}, {x}",
    |x| x & 0x00ff_00ff
);
extend!(
    /// Bytes 1 and 3 of `x`, zero-extended into the low and high halfwords.
    uxtb16_ror8,
    "uxtb16 {out}, {x}, ror #8",
    |x| (x >> 8) & 0x00ff_00ff
);

/// Whether the integer kernels have `VPDPBUSD` on 256-bit vectors on this target.
pub const HAS_VNNI: bool = cfg!(all(
    target_arch = "x86_64",
    target_feature = "avx512vnni",
    target_feature = "avx512vl"
));

/// `VPDPBUSD`: lane `i` of `acc` plus the four products of the unsigned bytes of lane `i`
/// of `a` by the signed bytes of lane `i` of `b`, wrapping (the non-saturating form).
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx512vnni",
    target_feature = "avx512vl"
))]
#[inline(always)]
pub fn dpbusd(acc: safe_arch::m256i, a: safe_arch::m256i, b: safe_arch::m256i) -> safe_arch::m256i {
    // SAFETY: the intrinsic is only `unsafe` to call for its target features, and this
    // function is only compiled when the crate is built with both of them (the `cfg`
    // above), so every CPU that runs it has them. It reads registers and writes one.
    unsafe { safe_arch::m256i(core::arch::x86_64::_mm256_dpbusd_epi32(acc.0, a.0, b.0)) }
}

/// [`dpbusd`] on plain lanes, the formula it computes.
#[cfg(test)]
fn dpbusd_portable(acc: [i32; 8], a: [u32; 8], b: [u32; 8]) -> [i32; 8] {
    core::array::from_fn(|i| {
        let (x, w) = (a[i].to_le_bytes(), b[i].to_le_bytes());
        (0..4).fold(acc[i], |sum, j| {
            sum.wrapping_add(i32::from(x[j]) * i32::from(w[j] as i8))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words whose halves and bytes cover the extremes and a spread of values between.
    fn words() -> impl Iterator<Item = u32> {
        let edges = [0u32, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff];
        let mut state = 0x1234_5678u32;
        let spread = core::iter::from_fn(move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            Some(state)
        });
        edges
            .into_iter()
            .flat_map(move |lo| edges.into_iter().map(move |hi| lo | hi << 16))
            .chain(spread.take(2000))
    }

    #[test]
    fn smlad_is_two_products_and_a_wrapping_sum() {
        for (a, b) in words().zip(words().skip(7)) {
            for acc in [0, 1, -1, i32::MAX, i32::MIN] {
                let wide = i64::from(acc)
                    + i64::from(a as i16) * i64::from(b as i16)
                    + i64::from((a >> 16) as i16) * i64::from((b >> 16) as i16);
                assert_eq!(smlad(a, b, acc), wide as i32, "{a:#x} {b:#x} {acc}");
            }
        }
    }

    #[test]
    fn smlad_tile_sums_each_row_by_each_column() {
        let all: [u32; 4 * 7 + 2 * 8] = {
            let mut it = words().skip(40);
            core::array::from_fn(|_| it.next().unwrap_or(0))
        };
        let (rows, cols) = all.split_at(4 * 7);
        // Seven pairs (odd, even and single step counts on the DSP loop), a ragged `cols`
        // that bounds them, and none.
        for (pairs, c, r) in [(7, 14, 28), (6, 12, 24), (1, 2, 4), (5, 11, 28), (0, 1, 28)] {
            let got = smlad_tile_4x2(&cols[..c], &rows[..r]);
            for (o, row) in got.iter().enumerate() {
                for (j, &sum) in row.iter().enumerate() {
                    let want = (0..pairs).fold(0i64, |s, kp| {
                        let (a, b) = (cols[2 * kp + j], rows[4 * kp + o]);
                        s + i64::from(a as i16) * i64::from(b as i16)
                            + i64::from((a >> 16) as i16) * i64::from((b >> 16) as i16)
                    });
                    assert_eq!(sum, want as i32, "pairs {pairs}, row {o}, column {j}");
                }
            }
        }
    }

    #[test]
    fn halfword_macs_take_the_named_halves() {
        for (a, b) in words().zip(words().skip(5)) {
            for acc in [0, 1, -1, i32::MAX, i32::MIN] {
                let (a_lo, a_hi, b_lo) = (
                    i64::from(a as i16),
                    i64::from((a >> 16) as i16),
                    i64::from(b as i16),
                );
                let bb = (i64::from(acc) + a_lo * b_lo) as i32;
                let tb = (i64::from(acc) + a_hi * b_lo) as i32;
                assert_eq!(smlabb(a, b, acc), bb, "{a:#x} {b:#x} {acc}");
                assert_eq!(smlatb(a, b, acc), tb, "{a:#x} {b:#x} {acc}");
            }
        }
    }

    #[test]
    fn xtb16_extends_alternate_bytes() {
        for x in words() {
            let bytes = x.to_le_bytes().map(|b| b as i8);
            let halves =
                |lo: i8, hi: i8| u32::from(lo as i16 as u16) | u32::from(hi as i16 as u16) << 16;
            assert_eq!(sxtb16(x), halves(bytes[0], bytes[2]), "{x:#x}");
            assert_eq!(sxtb16_ror8(x), halves(bytes[1], bytes[3]), "{x:#x}");
            let [b0, b1, b2, b3] = x.to_le_bytes().map(u32::from);
            assert_eq!(uxtb16(x), b0 | b2 << 16, "{x:#x}");
            assert_eq!(uxtb16_ror8(x), b1 | b3 << 16, "{x:#x}");
        }
    }
    #[test]
    fn dpbusd_portable_sums_four_byte_products() {
        let acc = [0, 1, -1, i32::MAX, i32::MIN, 7, 0, 0];
        let a = [
            0xff_ff_ff_ff,
            0x0102_0304,
            0x80_80_80_80,
            0xff_00_00_00,
            1,
            0,
            2,
            3,
        ];
        let b = [
            0x80_80_80_80,
            0x7f_ff_01_80,
            0x7f_7f_7f_7f,
            0x80_00_00_00,
            0xff,
            5,
            0,
            0,
        ];
        let got = dpbusd_portable(acc, a, b);
        assert_eq!(got[0], 4 * 255 * -128);
        // Bytes 4, 3, 2, 1 by -128, 1, -1, 127.
        assert_eq!(got[1], 1 + 4 * -128 + 3 - 2 + 127);
        assert_eq!(got[2], -1 + 4 * 128 * 127);
        assert_eq!(got[3], i32::MAX.wrapping_add(255 * -128));
        assert_eq!(got[4], i32::MIN.wrapping_sub(1));
        assert_eq!(got[5..], [7, 0, 0]);
    }

    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx512vnni",
        target_feature = "avx512vl"
    ))]
    #[test]
    fn dpbusd_is_the_portable_formula() {
        let all: [u32; 2064] = {
            let mut it = words();
            core::array::from_fn(|_| it.next().unwrap_or(0))
        };
        for ((a, b), acc) in all
            .chunks_exact(8)
            .zip(all.chunks_exact(8).skip(3))
            .zip(all.chunks_exact(8).skip(11))
        {
            let (a, b): ([u32; 8], [u32; 8]) = (a.try_into().unwrap(), b.try_into().unwrap());
            let acc: [i32; 8] = <[u32; 8]>::try_from(acc).unwrap().map(|v| v as i32);
            let got: [i32; 8] = dpbusd(acc.into(), a.into(), b.into()).into();
            assert_eq!(got, dpbusd_portable(acc, a, b), "{a:x?} {b:x?}");
        }
    }
}
