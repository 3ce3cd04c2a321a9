//! The instructions safe Rust cannot reach, with `qconv/helium.rs` (Helium's loops) the
//! only place in `zant-runtime` with `unsafe`: the Arm DSP extension's packed 16-bit
//! multiply-accumulate and 8-to-16-bit extensions, the Arm FPU's fused multiply-add
//! ([`fma_f32`]), x86-64's AVX-512 VNNI byte dot product, and AArch64's fused vector
//! multiply-add.
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
//! Every block but two only reads and writes registers: `pure, nomem, nostack`, no
//! memory, no stack, no control flow. The exceptions are two Cortex-M loops,
//! [`smlad_block_4x2`] (the integer convolutions' register tiles) and
//! [`depthwise3_rows`] (3 × 3 depthwise channels): each reads and writes the slices it is
//! given, within the bounds it checks, and keeps two registers and its counts on the
//! stack; [`depthwise3_rows`] also saves there the FPU registers it uses, and reads its
//! FPU constants from memory (see its body). (Built for size, `smlad` drops `pure,
//! nomem` so that LLVM keeps loads where the tile puts them; see its body.) `SMLAD` may
//! set the sticky `Q` flag on overflow, which Rust code never reads (so the blocks do
//! not claim `preserves_flags`); its result wraps modulo 2³², like the `wrapping_add` of
//! the portable versions. Each function has a portable twin with the same result on
//! every input, used on targets without the extension; the unit tests check the portable
//! twins, and the Cortex-M7 bench checks the instructions end to end (mlperf-kws-int8
//! and mlperf-ad-int8 on QEMU must match the host harness to the byte,
//! `scripts/test.sh`).
//!
//! The extension is detected from `target_feature = "dsp"`, which rustc reports for
//! `thumbv7em-*` (Cortex-M4/M7, with or without an FPU) and `thumbv8m.main` with DSP
//! (`-C target-cpu=cortex-m33`; plain `thumbv8m.main-none-eabihf` has none). Only
//! [`depthwise3_rows`] also uses the FPU, to requantize; it needs `target_feature =
//! "fpregs"` as well, which rustc reports for the single-precision FPU of the Cortex-M4F
//! and M33 and the double-precision one of the M7 (`thumbv7em-none-eabi` without a
//! `target-cpu` has the DSP extension and no FPU, and takes its portable path). Stable
//! rustc hides Arm target features from `cfg` today, so the instructions are used by
//! nightly builds and `-Zbuild-std` builds (as `zantc bench` and the firmware example
//! make), and other builds take the portable path.
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

/// Whether the kernels have the DSP instructions on this target ([`depthwise3_rows`]'
/// block also needs an FPU: see the module docs).
pub const HAS_DSP: bool = cfg!(all(target_arch = "arm", target_feature = "dsp"));

/// `a · b + c` rounded once, by the FPU's `VFMA.F32`: every Cortex-M FPU has it (FPv4-SP
/// on the M4F, FPv5 on the M7, M33 and M55), where the portable form
/// ([`crate::scalar::fmadd`]) goes through `f64`, which a single-precision FPU hands to
/// software: mlperf-ic-int8's residual QLinearAdds took 15.4 M of the Cortex-M4F's 31.5 M
/// instructions that way.
///
/// Rust names `s` registers in `asm!` only with the `vfp2` feature, which it reports for
/// a double-precision FPU (the M7's) and not for a single-precision one; there the block
/// moves its values through general registers and saves the three `s` registers it uses
/// on the stack (seven instructions instead of one, against a software `f64` routine).
#[cfg(all(target_arch = "arm", target_feature = "fpregs"))]
#[inline(always)]
pub fn fma_f32(a: f32, b: f32, c: f32) -> f32 {
    #[cfg(target_feature = "vfp2")]
    {
        let mut acc = c;
        // SAFETY: register-only arithmetic (see the module docs): no memory, no stack.
        unsafe {
            core::arch::asm!(
                "vfma.f32 {acc}, {a}, {b}",
                acc = inout(sreg) acc,
                a = in(sreg) a,
                b = in(sreg) b,
                options(pure, nomem, nostack),
            );
        }
        acc
    }
    #[cfg(not(target_feature = "vfp2"))]
    {
        let mut acc = c.to_bits();
        // SAFETY: arithmetic on registers; `s0`–`s2` are saved below the stack pointer
        // and restored before the block ends, so no value of the caller's changes, and
        // no memory the program can see is read or written.
        unsafe {
            core::arch::asm!(
                "vpush {{s0-s2}}",
                "vmov s0, {a}",
                "vmov s1, {b}",
                "vmov s2, {acc}",
                "vfma.f32 s2, s0, s1",
                "vmov {acc}, s2",
                "vpop {{s0-s2}}",
                acc = inout(reg) acc,
                a = in(reg) a.to_bits(),
                b = in(reg) b.to_bits(),
                options(pure, nomem),
            );
        }
        f32::from_bits(acc)
    }
}

/// The float whose bits are `e · 2^23`, for an integer-valued `e` from 0 to 255: the
/// power of two of biased exponent `e` (`e` 0 gives `+0`, 255 `+∞`). One `VCVT.U32.F32`
/// to fixed point with 23 fraction bits, where the portable
/// `f32::from_bits((e * 2^23) as u32)` takes a multiplication and a conversion (LLVM
/// does not fold the power of two into the conversion).
#[cfg(all(target_arch = "arm", target_feature = "vfp2"))]
#[inline(always)]
pub fn exponent_field(e: f32) -> f32 {
    let mut value = e;
    // SAFETY: register-only arithmetic (see the module docs): no memory, no stack.
    unsafe {
        core::arch::asm!(
            "vcvt.u32.f32 {value}, {value}, #23",
            value = inout(sreg) value,
            options(pure, nomem, nostack),
        );
    }
    value
}

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

/// The sums of a block of register tiles of four rows by two columns over packed pairs,
/// wrapping: for each tile `t` below `tiles`, with `pairs = rows.len() / 4`,
/// `acc[o][2t + j] = bases[o] + Σ_kp smlad(cols[(t · pairs + kp) · 2 + j], rows[4kp + o])`
/// (the integer convolutions' Cortex-M tiles: each step two gathered positions and four
/// output channels' weights, each tile's positions one contiguous run of `cols`). Tiles whose
/// run or sums would pass the end of `cols` or of `acc`'s rows are not computed.
///
/// On the DSP extension it is one `asm!` block. A tile's eight sums, the two pointers,
/// the trip count, the two position words and a weight word need 14 registers, and a
/// Cortex-M thumb build keeps `r7` as its frame pointer and `r6` for LLVM, which leaves
/// 12: in Rust, LLVM spilled two sums and the trip count and took 18 instructions for each
/// step's 8 `SMLAD`s (mlperf-vww-int8 spent 7.3 M of its 16.7 M instructions there), and
/// about 50 more a tile to start it and store its sums. The block saves `r6` and `r7` on
/// the stack and keeps its counts there too, which frees the registers for one `LDRD` of
/// the position words and two of the weights: 11 instructions a step, four steps an
/// iteration, 4 instructions for the count, and about 30 a tile.
pub fn smlad_block_4x2<const N: usize>(
    cols: &[u32],
    rows: &[u32],
    bases: &[i32; 4],
    tiles: usize,
    acc: &mut [[i32; N]; 4],
) {
    let pairs = rows.len() / 4;
    if pairs == 0 {
        return;
    }
    let tiles = tiles.min(N / 2).min(cols.len() / (2 * pairs));
    #[cfg(all(target_arch = "arm", target_feature = "dsp"))]
    if tiles > 0 {
        // The offsets of rows 1–3 of `acc`, immediates of `STRD` (at most 1,020).
        const { assert!(3 * 4 * N <= 1020) };
        // The step: positions `(x0, x1)` into r6 and r7 from `x` (r10), then two
        // channels' weight words at a time from `wp` (r11) into r12 and lr, each by the
        // two positions, into the sums r0–r5, r8 and r9. No instruction of it sets the
        // flags.
        macro_rules! step {
            () => {
                concat!(
                    "ldrd r6, r7, [r10], #8\n",
                    "ldrd r12, lr, [r11], #8\n",
                    "smlad r0, r6, r12, r0\n",
                    "smlad r1, r7, r12, r1\n",
                    "smlad r2, r6, lr, r2\n",
                    "smlad r3, r7, lr, r3\n",
                    "ldrd r12, lr, [r11], #8\n",
                    "smlad r4, r6, r12, r4\n",
                    "smlad r5, r7, r12, r5\n",
                    "smlad r8, r6, lr, r8\n",
                    "smlad r9, r7, lr, r9\n",
                )
            };
        }
        // SAFETY: each tile runs `pairs` steps (`pairs % 2` single, `pairs / 2 % 2` double
        // and `pairs / 4` quadruple ones) from the start of `rows` and from where the
        // previous tile left `x`; each step reads two words at `x` and four at `wp` and
        // advances them past what it read. So tile `t` reads `cols[2 · pairs · t..][..2 ·
        // pairs]` and `rows[..4 · pairs]`, in bounds for `t < tiles` by the choice of
        // `tiles`, and writes `acc[o][2t..2t + 2]` for `o < 4`, in bounds since
        // `2 · tiles <= N`. The only other memory it writes is its own stack words (`r6`,
        // `r7` and its counts, below the stack pointer it restores). Every other register
        // it writes is an operand. `SMLAD` may set the sticky `Q` flag, which Rust code
        // never reads. The operands are named registers because the allocator may hand
        // `r6` to a `reg` operand. It reads `bases`, four words.
        unsafe {
            core::arch::asm!(
                "push {{r6, r7}}",
                // Slots: [sp] quadruple steps left, [sp, #4] rows, [sp, #8] pairs,
                // [sp, #12] where the tile's sums go, [sp, #16] tiles left, [sp, #20]
                // the bases.
                "sub sp, sp, #24",
                "add r6, sp, #4",
                "stm r6, {{r0, r1, r2, r3, r4}}",
                "6:",
                "ldr r6, [sp, #20]",
                "ldrd r0, r2, [r6]",
                "ldrd r4, r8, [r6, #8]",
                "mov r1, r0",
                "mov r3, r2",
                "mov r5, r4",
                "mov r9, r8",
                "ldrd r11, r12, [sp, #4]",
                "lsrs r6, r12, #2",
                "str r6, [sp]",
                // Bit 0 of the count into N, bit 1 into C; the steps keep both.
                "lsls r12, r12, #31",
                "bpl 2f",
                step!(),
                "2:",
                "bcc 3f",
                step!(),
                step!(),
                "3:",
                "ldr r6, [sp]",
                "cmp r6, #0",
                "beq 5f",
                "4:",
                step!(),
                step!(),
                step!(),
                step!(),
                "ldr r6, [sp]",
                "subs r6, r6, #1",
                "str r6, [sp]",
                "bne 4b",
                "5:",
                "ldr r6, [sp, #12]",
                "strd r0, r1, [r6], #8",
                "strd r2, r3, [r6, #{row1}]",
                "strd r4, r5, [r6, #{row2}]",
                "strd r8, r9, [r6, #{row3}]",
                "str r6, [sp, #12]",
                "ldr r6, [sp, #16]",
                "subs r6, r6, #1",
                "str r6, [sp, #16]",
                "bne 6b",
                "add sp, sp, #24",
                "pop {{r6, r7}}",
                // `row_k` is row k's offset from the next tile's sums in row 0.
                row1 = const 4 * N - 8,
                row2 = const 8 * N - 8,
                row3 = const 12 * N - 8,
                inout("r0") rows.as_ptr() => _,
                inout("r1") pairs => _,
                inout("r2") acc.as_mut_ptr() => _,
                inout("r3") tiles => _,
                inout("r4") bases.as_ptr() => _,
                out("r5") _,
                out("r8") _,
                out("r9") _,
                inout("r10") cols.as_ptr() => _,
                out("r11") _,
                out("r12") _,
                out("lr") _,
            );
        }
        return;
    }
    for (t, run) in cols.chunks_exact(2 * pairs).take(tiles).enumerate() {
        let mut sums = bases.map(|base| [base; 2]);
        for (xs, ws) in run.chunks_exact(2).zip(rows.chunks_exact(4)) {
            for (row, &w) in sums.iter_mut().zip(ws) {
                row[0] = smlad(xs[0], w, row[0]);
                row[1] = smlad(xs[1], w, row[1]);
            }
        }
        for (row, tile_row) in acc.iter_mut().zip(&sums) {
            row[2 * t..2 * t + 2].copy_from_slice(tile_row);
        }
    }
}

/// The sums `Σ_i a[i] · rows[r · k + i]` for the four rows `r` of signed bytes that
/// `rows` holds one after another (`k = a.len()`), over the first `4 · ⌊k / 4⌋` bytes;
/// `a_signed` says whether `a`'s bytes are `i8` or `u8`. `None` where the target has no
/// DSP extension, or `rows` is shorter than four rows, or `k < 4`: the caller then sums
/// in Rust.
///
/// A batch-1 fully connected layer's rows: in Rust, LLVM spilled the five pointers and
/// took 30 instructions for each four bytes of the four rows (16 products). The block
/// keeps one pointer for rows 0 and 1 and one for rows 2 and 3 (the second row of each
/// pair at the row length's offset) and two words an iteration: 24 instructions, 1.5 a
/// product, widening each word of `a` once for the four rows. (Called through a
/// function, it cost AD 35 k instructions more, about 80 a call.)
#[inline]
pub fn dot4_rows(a: &[u8], a_signed: bool, rows: &[u8]) -> Option<[i32; 4]> {
    let k = a.len();
    let words = k / 4;
    if words == 0 || rows.len() / 4 < k {
        return None;
    }
    let _ = a_signed;
    #[cfg(all(target_arch = "arm", target_feature = "dsp"))]
    {
        let mut acc = [0i32; 4];
        // One word of `a` (r10) into the pairs r4, r5, then for each pair of rows the
        // words at `p` and `p + k` (r11 and r12 for rows 0 and 1, lr and r12 for rows 2
        // and 3), widened and multiplied into the sums r0–r3.
        macro_rules! step {
            ($ext:literal) => {
                concat!(
                    "ldr r5, [r10], #4\n",
                    $ext,
                    " r4, r5\n",
                    $ext,
                    " r5, r5, ror #8\n",
                    "ldr r8, [r11, r12]\n",
                    "ldr r9, [r11], #4\n",
                    "sxtb16 r7, r9\n",
                    "sxtb16 r9, r9, ror #8\n",
                    "smlad r0, r4, r7, r0\n",
                    "smlad r0, r5, r9, r0\n",
                    "sxtb16 r7, r8\n",
                    "sxtb16 r8, r8, ror #8\n",
                    "smlad r1, r4, r7, r1\n",
                    "smlad r1, r5, r8, r1\n",
                    "ldr r8, [lr, r12]\n",
                    "ldr r9, [lr], #4\n",
                    "sxtb16 r7, r9\n",
                    "sxtb16 r9, r9, ror #8\n",
                    "smlad r2, r4, r7, r2\n",
                    "smlad r2, r5, r9, r2\n",
                    "sxtb16 r7, r8\n",
                    "sxtb16 r8, r8, ror #8\n",
                    "smlad r3, r4, r7, r3\n",
                    "smlad r3, r5, r8, r3\n",
                )
            };
        }
        macro_rules! run {
            ($ext:literal) => {
                // SAFETY: the loop runs `words` steps; each reads one word at `a`'s
                // pointer and advances it by 4, and the words at `p + k` and `p`
                // for `p` from `rows` and from `rows + 2k`, advancing both by 4. So
                // it reads `a[..4 · words]` and `rows[r · k..][..4 · words]` for
                // `r < 4`, in bounds since `4 · words <= k` and `rows.len() >= 4k`
                // (word loads need no alignment on the cores with the DSP extension).
                // It writes no memory but the two stack words of `r6` and `r7`, which it
                // restores; every other register it writes is an operand. `SMLAD` may
                // set the sticky `Q` flag, which Rust code never reads.
                unsafe {
                    core::arch::asm!(
                        "push {{r6, r7}}",
                        // Half the word count into r6 and its odd bit into C: one
                        // single step first, then two steps an iteration.
                        "lsrs r6, r4, #1",
                        "bcc 3f",
                        step!($ext),
                        "3:",
                        "cmp r6, #0",
                        "beq 4f",
                        "2:",
                        step!($ext),
                        step!($ext),
                        "subs r6, r6, #1",
                        "bne 2b",
                        "4:",
                        "pop {{r6, r7}}",
                        inout("r0") 0i32 => acc[0],
                        inout("r1") 0i32 => acc[1],
                        inout("r2") 0i32 => acc[2],
                        inout("r3") 0i32 => acc[3],
                        inout("r4") words => _,
                        out("r5") _,
                        out("r8") _,
                        out("r9") _,
                        inout("r10") a.as_ptr() => _,
                        inout("r11") rows.as_ptr() => _,
                        in("r12") k,
                        inout("lr") rows.as_ptr().wrapping_add(2 * k) => _,
                    );
                }
            };
        }
        if a_signed {
            run!("sxtb16");
        } else {
            run!("uxtb16");
        }
        return Some(acc);
    }
    #[allow(unreachable_code)]
    None
}

/// The operands of [`depthwise3_rows`]: a 3 × 3 depthwise channel of dilation 1 at
/// stride 1 or 2 over a frame of 8-bit values, requantized to 8-bit outputs.
pub struct Depthwise3Rows<'a> {
    /// The frame: `h_out` rows of outputs read rows `oh · stride_h + 0..3` of it.
    pub source: &'a [u8],
    /// Whether the frame's and the outputs' bytes are `i8` (else `u8`).
    pub signed_x: bool,
    pub signed_y: bool,
    /// The frame's row length, the rows between output rows and the columns between
    /// output columns (1 or 2).
    pub width: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub h_out: usize,
    /// The output row length: at stride 1 even and at most `width - 2`, at stride 2 at
    /// most `(width - 1) / 2`.
    pub w_out: usize,
    /// Kernel row `r`'s outer taps as `(w[r][0], w[r][2])` in `i16` halves, then the
    /// middle taps: `(w[0][1], w[1][1])` and `(w[2][1], 0)`.
    pub taps: [u32; 5],
    /// What every sum starts from, and the requantization: `round_even(sum · scale) +
    /// zero`, saturated, where every sum times `scale` is below 2²¹ in magnitude.
    pub base: i32,
    pub scale: f32,
    pub zero: i32,
}

/// [`Depthwise3Rows`] into `out` (`h_out` rows of `w_out`): each kernel row's four bytes
/// at an output's first column widened into the pairs `(s0, s2)` and `(s1, s3)`, then
/// `SMLAD` of the outer taps and `SMLABB`/`SMLATB` of the middle one, for two outputs at
/// stride 1 (the second from `(s1, s3)` and `s2`) and one at stride 2; the sums
/// requantized through the `f32` unit and stored. Returns false, having written nothing,
/// where the operands do not fit (a stride other than 1 or 2, a row of one output at
/// stride 1, a short frame or output, a row past `width`). An odd row at stride 1 ends
/// with one output of the stride-2 form.
///
/// On the DSP extension with an FPU it is one `asm!` block: in Rust the step's five tap
/// words, the sums, the frame pointer and width, the output pointer and the count did not
/// fit the registers, and the loop reloaded them from the stack (at stride 1, 50
/// instructions for two outputs, 43 here; at stride 2, 43 for one output, 28 here), and
/// spent about 55 more a row.
pub fn depthwise3_rows(d: &Depthwise3Rows<'_>, out: &mut [u8]) -> bool {
    let (h_out, w_out, width) = (d.h_out, d.w_out, d.width);
    // The bytes a row of outputs uses (its span), and those it reads: at stride 2 also
    // the unused fourth byte of the last output's word.
    let (span, reach) = match d.stride_w {
        1 if w_out % 2 == 0 => (w_out + 2, w_out + 2),
        // The last output's word reads one byte past its three.
        1 if w_out >= 3 => (w_out + 2, w_out + 3),
        2 => (2 * w_out + 1, 2 * w_out + 2),
        _ => return false,
    };
    let fits = w_out >= 1
        && span <= width
        && h_out > 0
        && out.len() >= h_out * w_out
        && ((h_out - 1) * d.stride_h + 2)
            .checked_mul(width)
            .and_then(|rows| rows.checked_add(reach))
            .is_some_and(|end| end <= d.source.len());
    if !fits {
        return false;
    }
    #[cfg(all(target_arch = "arm", target_feature = "dsp", target_feature = "fpregs"))]
    {
        // One kernel row of one output from the row's word in r2: its pairs `(s0, s2)`
        // into r2 and `(s1, s3)` into r3, then the outer taps `$tap` by `SMLAD` and the
        // middle tap, the `$lo` half of `$mid`, by `SMLA<x><y>`, into r0.
        #[rustfmt::skip]
        macro_rules! kernel_row_one {
            ($xtb:literal, $tap:literal, $mid:literal, $lo:literal) => {
                concat!(
                    $xtb, " r3, r2, ror #8\n",
                    $xtb, " r2, r2\n",
                    "smlad r0, r2, ", $tap, ", r0\n",
                    "smla", $lo, " r0, r3, ", $mid, ", r0\n",
                )
            };
        }
        // The same for two outputs (stride 1): the second, into r1, from `(s1, s3)` and
        // `s2`, with the `$hi` half of `$mid`.
        #[rustfmt::skip]
        macro_rules! kernel_row {
            ($xtb:literal, $tap:literal, $mid:literal, $lo:literal, $hi:literal) => {
                concat!(
                    kernel_row_one!($xtb, $tap, $mid, $lo),
                    "smlad r1, r3, ", $tap, ", r1\n",
                    "smla", $hi, " r1, r2, ", $mid, ", r1\n",
                )
            };
        }
        // Two outputs a step (stride 1), for one extension (`sxtb16` or `uxtb16`) and one
        // saturation (`ssat` or `usat`), each requantized through `s0`–`s3`.
        #[rustfmt::skip]
        macro_rules! two_outputs {
            ($xtb:literal, $sat:literal) => {
                concat!(
                    "vmov r0, s4\n",
                    "vmov r1, s4\n",
                    "ldr r2, [r11]\n",
                    kernel_row!($xtb, "r4", "r9", "bb", "tb"),
                    "ldr r2, [r11, r12]\n",
                    kernel_row!($xtb, "r5", "r9", "bt", "tt"),
                    "add r2, r11, r12, lsl #1\n",
                    "ldr r2, [r2]\n",
                    kernel_row!($xtb, "r8", "r10", "bb", "tb"),
                    "vmov s0, r0\n",
                    "vmov s1, r1\n",
                    "vcvt.f32.s32 s0, s0\n",
                    "vcvt.f32.s32 s1, s1\n",
                    "vmov.f32 s2, s5\n",
                    "vmov.f32 s3, s5\n",
                    "vmla.f32 s2, s0, s6\n",
                    "vmla.f32 s3, s1, s6\n",
                    "vmov r0, s2\n",
                    "vmov r1, s3\n",
                    "add r0, r0, r7\n",
                    "add r1, r1, r7\n",
                    $sat, " r0, #8, r0\n",
                    $sat, " r1, #8, r1\n",
                    "strb r0, [lr], #1\n",
                    "strb r1, [lr], #1\n",
                )
            };
        }
        // One output a step (stride 2).
        #[rustfmt::skip]
        macro_rules! one_output {
            ($xtb:literal, $sat:literal) => {
                concat!(
                    "vmov r0, s4\n",
                    "ldr r2, [r11]\n",
                    kernel_row_one!($xtb, "r4", "r9", "bb"),
                    "ldr r2, [r11, r12]\n",
                    kernel_row_one!($xtb, "r5", "r9", "bt"),
                    "add r2, r11, r12, lsl #1\n",
                    "ldr r2, [r2]\n",
                    kernel_row_one!($xtb, "r8", "r10", "bb"),
                    "vmov s0, r0\n",
                    "vcvt.f32.s32 s0, s0\n",
                    "vmov.f32 s2, s5\n",
                    "vmla.f32 s2, s0, s6\n",
                    "vmov r0, s2\n",
                    "add r0, r0, r7\n",
                    $sat, " r0, #8, r0\n",
                    "strb r0, [lr], #1\n",
                )
            };
        }
        // The channel: `steps` steps a row, the frame pointer advancing 2 a step and
        // `skip` after each row. Registers: sums r0 and r1, the row's word r2 (then its
        // even pair), its odd pair r3, the taps r4, r5, r8, r9, r10, the frame pointer
        // r11, the width r12, the output pointer lr, the steps left in the row r6,
        // `zero - magic` r7; the base in s4, the rounding constant in s5, the scale in s6.
        //
        // No operand names an `s` register: rustc accepts those only with the `vfp2`
        // target feature (a double-precision FPU), which the Cortex-M7 has and the
        // single-precision M4F and M33 lack. So the words for s4–s6 come in memory,
        // `params` = [base, rounding constant, scale, `skip`] with its address in r3, and
        // the block saves s0–s6 on the stack and restores them at its end: to the
        // compiler it changes no FPU register.
        macro_rules! channel {
            ($steps:expr, $skip:expr, $tail:expr, $($step:tt)*) => {{
                let params: [u32; 4] = [
                    d.base as u32,
                    crate::qlinear::ROUND_MAGIC.to_bits(),
                    d.scale.to_bits(),
                    $skip as u32,
                ];
                core::arch::asm!(
                    "push {{r6, r7}}",
                    "vpush {{s0-s6}}",
                    // Slots: [sp] steps a row, [sp, #4] rows left, [sp, #8] `skip`.
                    "sub sp, sp, #16",
                    "strd r0, r2, [sp]",
                    "vldmia r3!, {{s4-s6}}",
                    "ldr r3, [r3]",
                    "str r3, [sp, #8]",
                    "mov r7, r1",
                    "1:",
                    "ldr r6, [sp]",
                    "2:",
                    $($step)*,
                    "add r11, r11, #2",
                    "subs r6, r6, #1",
                    "bne 2b",
                    $tail,
                    "ldr r2, [sp, #8]",
                    "add r11, r11, r2",
                    "ldr r2, [sp, #4]",
                    "subs r2, r2, #1",
                    "str r2, [sp, #4]",
                    "bne 1b",
                    "add sp, sp, #16",
                    "vpop {{s0-s6}}",
                    "pop {{r6, r7}}",
                    inout("r0") $steps => _,
                    inout("r1") d.zero.wrapping_sub(crate::qlinear::ROUND_MAGIC.to_bits() as i32) => _,
                    inout("r2") h_out => _,
                    inout("r3") params.as_ptr() => _,
                    in("r4") d.taps[0],
                    in("r5") d.taps[1],
                    in("r8") d.taps[2],
                    in("r9") d.taps[3],
                    in("r10") d.taps[4],
                    inout("r11") d.source.as_ptr() => _,
                    in("r12") width,
                    inout("lr") out.as_mut_ptr() => _,
                )
            }};
        }
        let rows = d.stride_h * width;
        // SAFETY: at stride `S`, output row `oh < h_out`, step `k` (below `w_out / 2` at
        // stride 1, then one more for an odd `w_out`, which does not advance the frame
        // pointer; `w_out` at stride 2) reads the four bytes at
        // `(oh · stride_h + r) · width + 2k` for `r < 3` (the frame pointer starts at the
        // frame, advances 2 a step and `stride_h · width - 2 · steps` after each row), the
        // last of them below `((h_out - 1) · stride_h + 2) · width + reach`, inside
        // `source` by `fits` (unaligned word loads, which the Cortex-M4/M7/M33 allow). It
        // also reads the four words of `params`, a live local. It writes the bytes
        // `out[..h_out · w_out]` in order, inside `out` by `fits`, and its own stack words
        // (`r6`, `r7`, `s0`–`s6` and three counts, below the stack pointer it restores).
        // It restores `r6`, `r7` and `s0`–`s6` from there before it ends; every other
        // register it writes is an operand. `SMLAD`, `SMLA<x><y>` and `SSAT`/`USAT` may
        // set the sticky `Q` flag, and `VCVT` and `VMLA` FPSCR's cumulative exception
        // flags, which Rust code never reads; no instruction of it changes FPSCR's
        // rounding mode or condition flags. The operands are named registers
        // because the allocator may hand `r6` to a `reg` operand.
        unsafe {
            let (pairs, ones, odd) = (w_out / 2, w_out, w_out % 2 == 1);
            // An odd row at stride 1 ends with one output at the word where the pairs
            // left the frame pointer (`w_out - 1` on), which it does not move.
            let skip = rows - 2 * pairs;
            match (d.stride_w, odd, d.signed_x, d.signed_y) {
                (1, false, true, true) => channel!(pairs, skip, "", two_outputs!("sxtb16", "ssat")),
                (1, false, true, false) => {
                    channel!(pairs, skip, "", two_outputs!("sxtb16", "usat"))
                }
                (1, false, false, true) => {
                    channel!(pairs, skip, "", two_outputs!("uxtb16", "ssat"))
                }
                (1, false, false, false) => {
                    channel!(pairs, skip, "", two_outputs!("uxtb16", "usat"))
                }
                (1, true, true, true) => channel!(
                    pairs,
                    skip,
                    one_output!("sxtb16", "ssat"),
                    two_outputs!("sxtb16", "ssat")
                ),
                (1, true, true, false) => channel!(
                    pairs,
                    skip,
                    one_output!("sxtb16", "usat"),
                    two_outputs!("sxtb16", "usat")
                ),
                (1, true, false, true) => channel!(
                    pairs,
                    skip,
                    one_output!("uxtb16", "ssat"),
                    two_outputs!("uxtb16", "ssat")
                ),
                (1, true, false, false) => channel!(
                    pairs,
                    skip,
                    one_output!("uxtb16", "usat"),
                    two_outputs!("uxtb16", "usat")
                ),
                (_, _, true, true) => {
                    channel!(ones, rows - 2 * w_out, "", one_output!("sxtb16", "ssat"))
                }
                (_, _, true, false) => {
                    channel!(ones, rows - 2 * w_out, "", one_output!("sxtb16", "usat"))
                }
                (_, _, false, true) => {
                    channel!(ones, rows - 2 * w_out, "", one_output!("uxtb16", "ssat"))
                }
                (_, _, false, false) => {
                    channel!(ones, rows - 2 * w_out, "", one_output!("uxtb16", "usat"))
                }
            }
        }
        true
    }
    #[cfg(not(all(target_arch = "arm", target_feature = "dsp", target_feature = "fpregs")))]
    {
        let (lo, hi) = if d.signed_y { (-128, 127) } else { (0, 255) };
        let value = |at: usize| {
            let b = d.source[at];
            if d.signed_x {
                i32::from(b as i8)
            } else {
                i32::from(b)
            }
        };
        let half = |word: u32, top: bool| i32::from((if top { word >> 16 } else { word }) as i16);
        let tap = |r: usize, c: usize| match c {
            0 => half(d.taps[r], false),
            2 => half(d.taps[r], true),
            _ => half(d.taps[3 + r / 2], r == 1),
        };
        for (oh, row) in out.chunks_exact_mut(w_out).take(h_out).enumerate() {
            for (ow, y) in row.iter_mut().enumerate() {
                let mut sum = d.base;
                for r in 0..3 {
                    for c in 0..3 {
                        let at = (oh * d.stride_h + r) * width + ow * d.stride_w + c;
                        sum = sum.wrapping_add(value(at) * tap(r, c));
                    }
                }
                let v = crate::qlinear::round_even(sum as f32 * d.scale).wrapping_add(d.zero);
                *y = v.clamp(lo, hi) as u8;
            }
        }
        true
    }
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

#[cfg(all(
    target_arch = "x86_64",
    target_os = "linux",
    target_feature = "avx512vnni",
    target_feature = "avx512vl"
))]
pub mod amx;

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

/// [`dpbusd`] on 512-bit vectors: sixteen lanes of four products each, one instruction.
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx512vnni",
    target_feature = "avx512f"
))]
#[inline(always)]
pub fn dpbusd512(
    acc: safe_arch::m512i,
    a: safe_arch::m512i,
    b: safe_arch::m512i,
) -> safe_arch::m512i {
    // SAFETY: as for `dpbusd`: compiled only where the build enables both features (the
    // `cfg` above), so the CPU has the instruction; it reads registers and writes one.
    unsafe { safe_arch::m512i(core::arch::x86_64::_mm512_dpbusd_epi32(acc.0, a.0, b.0)) }
}

/// Sixteen `i32` lanes narrowed to their low bytes (`VPMOVDB`, truncating): the
/// requantizing epilogues narrow lanes they have already clamped to the output type.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
#[inline(always)]
pub fn low_bytes512(v: safe_arch::m512i) -> [u8; 16] {
    // SAFETY: as for `dpbusd`: compiled only where the build enables AVX-512F (the `cfg`
    // above), so the CPU has the instruction; it reads a register and writes one, and the
    // transmute moves sixteen bytes into sixteen bytes.
    unsafe {
        core::mem::transmute::<core::arch::x86_64::__m128i, [u8; 16]>(
            core::arch::x86_64::_mm512_cvtepi32_epi8(v.0),
        )
    }
}

/// Sixteen `i32` lanes saturated to bytes: to `i8` where `signed` (`VPMOVSDB`), to `u8`
/// otherwise (negative lanes to 0, then `VPMOVUSDB`).
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
#[inline(always)]
pub fn saturate_bytes512(v: safe_arch::m512i, signed: bool) -> [u8; 16] {
    use core::arch::x86_64::{
        __m128i, _mm512_cvtsepi32_epi8, _mm512_cvtusepi32_epi8, _mm512_max_epi32,
        _mm512_setzero_si512,
    };
    // SAFETY: as for `dpbusd`: compiled only where the build enables AVX-512F (the `cfg`
    // above), so the CPU has the instructions; they read registers and write one, and the
    // transmute moves sixteen bytes into sixteen bytes.
    unsafe {
        let bytes = if signed {
            _mm512_cvtsepi32_epi8(v.0)
        } else {
            _mm512_cvtusepi32_epi8(_mm512_max_epi32(v.0, _mm512_setzero_si512()))
        };
        core::mem::transmute::<__m128i, [u8; 16]>(bytes)
    }
}

/// Sixteen bytes widened to 32-bit lanes, sign-extended where `signed` (`VPMOVSXBD`,
/// else `VPMOVZXBD`).
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
#[inline(always)]
pub fn widen_bytes512(bytes: [u8; 16], signed: bool) -> safe_arch::m512i {
    use core::arch::x86_64::{__m128i, _mm512_cvtepi8_epi32, _mm512_cvtepu8_epi32};
    // SAFETY: as for `dpbusd`: compiled only where the build enables AVX-512F (the `cfg`
    // above), so the CPU has the instructions; they read a register and write one, and
    // the transmute moves sixteen bytes into sixteen bytes.
    unsafe {
        let v = core::mem::transmute::<[u8; 16], __m128i>(bytes);
        safe_arch::m512i(if signed {
            _mm512_cvtepi8_epi32(v)
        } else {
            _mm512_cvtepu8_epi32(v)
        })
    }
}

/// `dst[..n] = src[..n]` for `n = min(|dst|, |src|, 32)`: one masked 32-byte load and one
/// masked store (AVX-512 BW with VL), where `copy_from_slice` of a length known only at
/// run time is a call to `memcpy`. Masked-off bytes are neither read nor written.
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx512bw",
    target_feature = "avx512vl"
))]
#[inline(always)]
pub fn copy_short(dst: &mut [u8], src: &[u8]) {
    use core::arch::x86_64::{_mm256_mask_storeu_epi8, _mm256_maskz_loadu_epi8};
    let n = dst.len().min(src.len()).min(32);
    let mask = (byte_mask(n) & u64::from(u32::MAX)) as u32;
    // SAFETY: the mask enables the first `n` bytes only, and both slices hold at least `n`
    // (masked-off bytes are not accessed, so neither faults past a slice's end); the build
    // enables AVX-512 BW and VL (the `cfg` above).
    unsafe {
        let v = _mm256_maskz_loadu_epi8(mask, src.as_ptr().cast());
        _mm256_mask_storeu_epi8(dst.as_mut_ptr().cast(), mask, v);
    }
}

/// `dst[..n] = bytes[FROM..FROM + n]` for `n = min(|dst|, 16 − FROM)`: the bytes stay
/// in a register and go out by one masked store. [`copy_short`] from a freshly stored
/// array loads more bytes than one store wrote, which the CPU cannot forward (on Zen 4,
/// the split rows of mlperf-ic-int8's 8 × 8 layers stalled on every vector, a fifth of
/// the frame kernel's cycles). `FROM` is 0 or 8 (the halves of a split vector).
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx512bw",
    target_feature = "avx512vl"
))]
#[inline(always)]
pub fn store_bytes16<const FROM: i32>(dst: &mut [u8], bytes: [u8; 16]) {
    use core::arch::x86_64::{__m128i, _mm_bsrli_si128, _mm_mask_storeu_epi8};
    let n = dst.len().min(16 - FROM.clamp(0, 16) as usize);
    let mask = (byte_mask(n) & 0xffff) as u16;
    // SAFETY: the mask enables the first `n` bytes only, and `dst` holds at least `n`
    // (masked-off bytes are not written, so the store does not fault past its end); the
    // transmute moves sixteen bytes into sixteen bytes; the build enables AVX-512 BW and
    // VL (the `cfg` above).
    unsafe {
        let v = core::mem::transmute::<[u8; 16], __m128i>(bytes);
        _mm_mask_storeu_epi8(dst.as_mut_ptr().cast(), mask, _mm_bsrli_si128::<FROM>(v));
    }
}

/// `dst[..n] = bytes[..n]` for `n = min(|dst|, 32)`: one masked store from a register,
/// as [`store_bytes16`] (the depthwise window kernel's rows narrower than its step of
/// 32: two overlapping 16-byte copies from the stored step, neither forwarded).
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx512bw",
    target_feature = "avx512vl"
))]
#[inline(always)]
pub fn store_bytes32(dst: &mut [u8], bytes: [u8; 32]) {
    use core::arch::x86_64::{__m256i, _mm256_mask_storeu_epi8};
    let n = dst.len().min(32);
    let mask = (byte_mask(n) & u64::from(u32::MAX)) as u32;
    // SAFETY: as for `store_bytes16`: the mask enables the first `n` bytes only, which
    // `dst` holds; the transmute moves 32 bytes into 32 bytes; the build enables AVX-512
    // BW and VL (the `cfg` above).
    unsafe {
        let v = core::mem::transmute::<[u8; 32], __m256i>(bytes);
        _mm256_mask_storeu_epi8(dst.as_mut_ptr().cast(), mask, v);
    }
}

/// `dst[i] = src[i] ^ flip` for `i < min(|dst|, |src|)`: 64 bytes an instruction, the
/// last run through a mask (masked-off bytes are neither read nor written).
#[cfg(all(target_arch = "x86_64", target_feature = "avx512bw"))]
#[inline(always)]
pub fn copy_xor(dst: &mut [u8], src: &[u8], flip: u8) {
    use core::arch::x86_64::{
        _mm512_mask_storeu_epi8, _mm512_maskz_loadu_epi8, _mm512_set1_epi8, _mm512_xor_si512,
    };
    let n = dst.len().min(src.len());
    let mut at = 0;
    while at < n {
        let mask = byte_mask(n - at);
        // SAFETY: the mask enables bytes `at..min(at + 64, n)` only, inside both slices
        // (masked-off bytes are not accessed, so neither faults past a slice's end); the
        // build enables AVX-512 BW (the `cfg` above).
        unsafe {
            let v = _mm512_maskz_loadu_epi8(mask, src.as_ptr().add(at).cast());
            let v = _mm512_xor_si512(v, _mm512_set1_epi8(flip as i8));
            _mm512_mask_storeu_epi8(dst.as_mut_ptr().add(at).cast(), mask, v);
        }
        at += 64;
    }
}

/// `VSCALEFPS`: lane `i` is `a[i] · 2^⌊n[i]⌋`, rounded once (into a subnormal, an infinity
/// or neither), with IEEE special cases (a NaN stays NaN). The vector `exp` builds its
/// power of two with it in one instruction instead of two exponent fields and two
/// products.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
#[inline(always)]
pub fn scalef512(a: safe_arch::m512, n: safe_arch::m512) -> safe_arch::m512 {
    // SAFETY: as for `dpbusd`: compiled only where the build enables AVX-512F (the `cfg`
    // above), so the CPU has the instruction; it reads registers and writes one.
    unsafe { safe_arch::m512(core::arch::x86_64::_mm512_scalef_ps(a.0, n.0)) }
}

/// Four fused multiply-adds, `a[i] · b[i] + c[i]` each rounded once: NEON's `FMLA`.
///
/// `wide` 0.7, whose vectors the kernels use on AArch64, computes its `mul_add` there as
/// a rounded product and then a sum, while the GEMV's column vectors and the vector `tanh`
/// count on one rounding, as x86-64's `VFMADD` gives it and `scalar::fmadd` emulates (the
/// GEMM tiles and convolutions take the same `mul_add`): with two,
/// `tiny-lm`'s recurrence drifted from ONNX Runtime by up to 2.4e-3 under `qemu-aarch64`.
#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
#[inline(always)]
pub fn fmla_f32x4(a: [f32; 4], b: [f32; 4], c: [f32; 4]) -> [f32; 4] {
    use core::arch::aarch64::{float32x4_t, vfmaq_f32};
    use core::mem::transmute;
    // SAFETY: `[f32; 4]` and `float32x4_t` are both sixteen bytes holding four `f32`s,
    // and every bit pattern is valid in either, so the transmutes are plain moves. The
    // function is only compiled when the build enables NEON (the `cfg` above), so the CPU
    // has `FMLA`; it reads registers and writes one.
    unsafe {
        let (a, b, c) = (
            transmute::<[f32; 4], float32x4_t>(a),
            transmute::<[f32; 4], float32x4_t>(b),
            transmute::<[f32; 4], float32x4_t>(c),
        );
        transmute::<float32x4_t, [f32; 4]>(vfmaq_f32(c, a, b))
    }
}

/// `y[i] = table[x[i]]` for the first `64 ⌊min(|x|, |y|) / 64⌋` bytes, 64 at a time
/// (AVX-512 VBMI: two `VPERMI2B` look the byte up in either half of the table, and its
/// top bit picks the half); returns how many it did, the caller does the rest. The
/// scalar loop took one byte every two cycles: more than half of beer's time went to its
/// clamps, which the compiler makes lookups (`QLookup`).
#[cfg(all(target_arch = "x86_64", target_feature = "avx512vbmi"))]
#[inline]
pub fn lookup_bytes(x: &[u8], table: &[u8; 256], y: &mut [u8]) -> usize {
    use core::arch::x86_64::{
        __m512i, _mm512_loadu_si512, _mm512_mask_blend_epi8, _mm512_movepi8_mask,
        _mm512_permutex2var_epi8, _mm512_storeu_si512,
    };
    let n = x.len().min(y.len()) / 64 * 64;
    let quarter = |q: usize| -> __m512i {
        // SAFETY: reads bytes `64 q..64 q + 64` of the 256-byte table (q < 4); AVX-512 is
        // enabled for the build (the `cfg` above), so every CPU that runs it has it.
        unsafe { _mm512_loadu_si512(table.as_ptr().add(64 * q).cast()) }
    };
    let (t0, t1, t2, t3) = (quarter(0), quarter(1), quarter(2), quarter(3));
    for (src, dst) in x[..n].chunks_exact(64).zip(y[..n].chunks_exact_mut(64)) {
        // SAFETY: each chunk is 64 bytes, so the load reads and the store writes only
        // within it; the instructions need AVX-512 F, BW and VBMI, which the build
        // enables (the `cfg` above: VBMI implies the other two).
        unsafe {
            let v = _mm512_loadu_si512(src.as_ptr().cast());
            let low = _mm512_permutex2var_epi8(t0, v, t1);
            let high = _mm512_permutex2var_epi8(t2, v, t3);
            let r = _mm512_mask_blend_epi8(_mm512_movepi8_mask(v), low, high);
            _mm512_storeu_si512(dst.as_mut_ptr().cast(), r);
        }
    }
    n
}

/// The byte mask of a 64-byte vector's first `n` lanes (all of them from 64 on), for
/// [`dpbusd_rows8`], [`transpose_taps`] and [`copy_short`].
#[cfg(all(
    target_arch = "x86_64",
    any(
        all(target_feature = "avx512vnni", target_feature = "avx512bw"),
        all(target_feature = "avx512bw", target_feature = "avx512vl"),
        target_feature = "avx512vbmi"
    )
))]
#[inline(always)]
fn byte_mask(n: usize) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

/// For eight rows of signed bytes (each at least `a.len()` long) and the bytes `a` read
/// as `u = a ^ flip` (`flip` 0x80 turns `i8` into `i8 + 128`, 0 keeps `u8`): each row's
/// `Σ u[i] · r[i]` and `Σ r[i]`, wrapping. 64 bytes a step, one `VPDPBUSD zmm` per row
/// for the products and one against a vector of ones for the sum (so that the caller can
/// take `u`'s offset back out), the tail by byte-masked loads (masked bytes are 0 on both
/// sides), eight rows sharing each load of `a`; the sixteen vectors are then summed
/// across their lanes together, in a tree of unpacks and lane shuffles (a reduction per
/// vector took more instructions than the products of a 128-deep row). The int8 fully
/// connected layers of a host without AMX: mlperf-ad-int8's ten took 18 µs with the
/// portable dot products.
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx512vnni",
    target_feature = "avx512bw"
))]
#[inline]
pub fn dpbusd_rows8(a: &[u8], flip: u8, rows: [&[i8]; 8]) -> ([i32; 8], [i32; 8]) {
    use core::arch::x86_64::{
        __m512i, _mm256_add_epi32, _mm512_add_epi32, _mm512_castsi512_si256, _mm512_dpbusd_epi32,
        _mm512_extracti64x4_epi64, _mm512_maskz_loadu_epi8, _mm512_set1_epi8, _mm512_setzero_si512,
        _mm512_shuffle_i32x4, _mm512_unpackhi_epi32, _mm512_unpackhi_epi64, _mm512_unpacklo_epi32,
        _mm512_unpacklo_epi64, _mm512_xor_si512,
    };
    let k = a.len();
    if rows.iter().any(|r| r.len() < k) {
        return ([0; 8], [0; 8]);
    }
    // SAFETY: every load is byte-masked to the `min(64, k − i)` bytes from offset `i <
    // k`, inside `a` and inside each row (at least `k` long, checked above); masked lanes
    // are not read. The instructions need AVX-512 F, BW and VNNI, which the build enables
    // (the `cfg` above); they read and write registers only.
    unsafe {
        let ones = _mm512_set1_epi8(1);
        let flip = _mm512_set1_epi8(flip as i8);
        let zero = _mm512_setzero_si512();
        let mut products: [__m512i; 8] = [zero; 8];
        let mut sums: [__m512i; 8] = [zero; 8];
        let mut i = 0;
        while i < k {
            let mask = byte_mask(k - i);
            let x = _mm512_xor_si512(
                _mm512_maskz_loadu_epi8(mask, a.as_ptr().add(i).cast()),
                flip,
            );
            for r in 0..8 {
                let w = _mm512_maskz_loadu_epi8(mask, rows[r].as_ptr().add(i).cast());
                products[r] = _mm512_dpbusd_epi32(products[r], x, w);
                sums[r] = _mm512_dpbusd_epi32(sums[r], ones, w);
            }
            i += 64;
        }
        // Eight vectors to the eight sums of their lanes: pairs interleaved by 32 and
        // 64 bits and added leave, in each 128-bit lane, one partial sum per vector;
        // the four lanes are then added by lane shuffles.
        let across = |v: [__m512i; 8]| -> [i32; 8] {
            let pair = |a: __m512i, b: __m512i| {
                _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b))
            };
            let quad = |a: __m512i, b: __m512i| {
                _mm512_add_epi32(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b))
            };
            // Lane l of `abcd` holds, in order, partial sums of vectors 0, 1, 2 and 3.
            let abcd = quad(pair(v[0], v[1]), pair(v[2], v[3]));
            let efgh = quad(pair(v[4], v[5]), pair(v[6], v[7]));
            // [abcd.0 + abcd.1, abcd.2 + abcd.3, efgh.0 + efgh.1, efgh.2 + efgh.3]
            let halves = _mm512_add_epi32(
                _mm512_shuffle_i32x4::<0b10_00_10_00>(abcd, efgh),
                _mm512_shuffle_i32x4::<0b11_01_11_01>(abcd, efgh),
            );
            // [abcd, efgh] summed over lanes: 128-bit lanes 0 + 1 and 2 + 3.
            let both = _mm512_shuffle_i32x4::<0b11_01_10_00>(halves, halves);
            let total = _mm256_add_epi32(
                _mm512_castsi512_si256(both),
                _mm512_extracti64x4_epi64::<1>(both),
            );
            <[i32; 8]>::from(safe_arch::m256i(total))
        };
        (across(products), across(sums))
    }
}

/// The sums of `MR` rows of `A` (each at most `4 · groups` bytes) against `NB` blocks of
/// a packed `B` (`qlinear::pack_qmatmul_b`, `groups` groups of 64 bytes a block, the
/// blocks one after another in `b`) into `sums[r][i]`: for each group, the `NB` weight
/// vectors loaded once, and for each row its four bytes of the group (each XORed with
/// `flip`'s low byte, zeros past the row's end) broadcast to every lane and one
/// `VPDPBUSD` a block, `MR · NB` independent sums. The rows are all `k` bytes long. With
/// `b` too short, a row too long or rows of different lengths it writes nothing (the
/// caller sized them).
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx512vnni",
    target_feature = "avx512bw"
))]
#[inline]
pub fn dpbusd_tile<const MR: usize, const NB: usize>(
    rows: [&[u8]; MR],
    flip: u32,
    b: &[i8],
    groups: usize,
    sums: &mut [[[i32; 16]; NB]; MR],
) {
    use core::arch::x86_64::{
        __m512i, _mm512_dpbusd_epi32, _mm512_loadu_si512, _mm512_set1_epi32, _mm512_setzero_si512,
        _mm512_storeu_si512,
    };
    let stride = groups * 64;
    let k = rows[0].len();
    if b.len() < NB * stride || k > 4 * groups || rows.iter().any(|r| r.len() != k) {
        return;
    }
    let whole = k / 4;
    // SAFETY: block `i < NB` group `g < groups` loads the 64 bytes at
    // `i · stride + 64 g`, inside `b` (at least `NB · stride` long, checked above); a
    // whole group `g < k / 4` reads each row's bytes `4g..4g + 4`, inside the row (all
    // `k` long, checked above); the stores write the `MR · NB` arrays of 16 `i32` of
    // `sums`. The instructions need AVX-512 F, BW and VNNI, which the build enables (the
    // `cfg`).
    unsafe {
        let mut acc: [[__m512i; NB]; MR] = [[_mm512_setzero_si512(); NB]; MR];
        let mut step = |g: usize, words: [u32; MR]| {
            let w: [__m512i; NB] = core::array::from_fn(|i| {
                _mm512_loadu_si512(b.as_ptr().add(i * stride + 64 * g).cast())
            });
            for (acc_row, &word) in acc.iter_mut().zip(&words) {
                let x = _mm512_set1_epi32(word as i32);
                for (a, &w) in acc_row.iter_mut().zip(&w) {
                    *a = _mm512_dpbusd_epi32(*a, x, w);
                }
            }
        };
        for g in 0..whole {
            let words = rows.map(|r| r.as_ptr().add(4 * g).cast::<u32>().read_unaligned() ^ flip);
            step(g, words);
        }
        if whole < groups && whole * 4 < k {
            let words = rows.map(|r| {
                let mut four = [0u8; 4];
                for (v, &x) in four.iter_mut().zip(&r[4 * whole..]) {
                    *v = x ^ flip as u8;
                }
                u32::from_le_bytes(four)
            });
            step(whole, words);
        }
        for (acc_row, out_row) in acc.iter().zip(sums.iter_mut()) {
            for (a, out) in acc_row.iter().zip(out_row.iter_mut()) {
                _mm512_storeu_si512(out.as_mut_ptr().cast(), *a);
            }
        }
    }
}

/// How [`depthwise_plane_vbmi`] requantizes a channel's sums: `base` added to each,
/// then, as `qlinear::requantize_lanes` does, the product with `scale` (clamped to
/// `bounds − zero` in `f32` first when `clamp`), rounded half to even, `zero` added and
/// the result saturated to `bounds`.
#[derive(Clone, Copy, Debug)]
pub struct PlaneRequant {
    pub base: i32,
    pub scale: f32,
    pub zero: i32,
    pub bounds: (i32, i32),
    pub clamp: bool,
}

/// One depthwise channel on a plane of at most 255 bytes, held in two registers (at most
/// 127 bytes) or four: output `16 g + i` (of `out.len()`, at most 256) is the
/// requantized sum over kernel rows `r` of `VPDPBUSD` of its window in that row, the four
/// bytes `index[g · rows + r][4 i..4 i + 4]` of the plane (`rows = words.len()`), by the
/// row's weights `words[r]`: one `VPERMI2B` (two and a byte blend on four registers) and
/// one `VPDPBUSD` a group of sixteen outputs and kernel row, the requantization in
/// 512-bit lanes and one byte-masked store a group. Each plane byte is XORed with `flip`
/// (the unsigned bytes `x − X::MIN` that `VPDPBUSD` takes); an index past the plane (255
/// always is) reads `pad`, the unsigned padding byte. Returns false, having written
/// nothing, where the plane is longer than 255 bytes, `out` longer than 256 or `index`
/// shorter than its groups times `rows`.
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx512vbmi",
    target_feature = "avx512vnni",
    target_feature = "avx512bw"
))]
#[inline(always)]
pub fn depthwise_plane_vbmi(
    plane: &[u8],
    (flip, pad): (u8, u8),
    index: &[[u8; 64]],
    words: &[u32],
    rq: PlaneRequant,
    out: &mut [u8],
) -> bool {
    use core::arch::x86_64::{
        _mm512_add_epi32, _mm512_add_ps, _mm512_castps_si512, _mm512_cmp_ps_mask,
        _mm512_cvtepi32_epi8, _mm512_cvtepi32_ps, _mm512_dpbusd_epi32, _mm512_loadu_si512,
        _mm512_mask_blend_epi8, _mm512_mask_blend_ps, _mm512_mask_loadu_epi8, _mm512_max_epi32,
        _mm512_min_epi32, _mm512_movepi8_mask, _mm512_mul_ps, _mm512_permutex2var_epi8,
        _mm512_set1_epi32, _mm512_set1_epi8, _mm512_set1_ps, _mm512_sub_epi32, _mm512_xor_si512,
        _mm_mask_storeu_epi8, _CMP_GE_OQ, _CMP_LE_OQ,
    };
    let (len, rows, outputs) = (plane.len(), words.len(), out.len());
    let groups = outputs.div_ceil(16);
    if len > 255 || outputs > 256 || index.len() < groups * rows {
        return false;
    }
    let magic = crate::qlinear::ROUND_MAGIC;
    // SAFETY: the loads are byte-masked to the plane's `len` bytes (quarter `q` from byte
    // `64 q`, loaded only when the plane is longer than that), and
    // each store to the `min(16, outputs − 16 g)` bytes of `out` from `16 g`; masked bytes
    // are neither read nor written. `index` rows are 64 bytes, read whole, `g · rows + r <
    // groups · rows ≤ index.len()`. The instructions need AVX-512 F, BW, VL, VBMI and
    // VNNI, which the build enables (the `cfg` above; VL comes with the module's); they
    // touch registers otherwise.
    unsafe {
        let flip_v = _mm512_set1_epi8(flip as i8);
        // Padding as the load leaves it, so the XOR below turns it into `pad`.
        let raw_pad = _mm512_set1_epi8((pad ^ flip) as i8);
        let ptr = plane.as_ptr().cast::<i8>();
        // Quarter `q` of the table: the plane's bytes `64 q..`, padding past its end.
        let quarter = |q: usize| {
            let raw = if len > 64 * q {
                _mm512_mask_loadu_epi8(raw_pad, byte_mask(len - 64 * q), ptr.add(64 * q))
            } else {
                raw_pad
            };
            _mm512_xor_si512(raw, flip_v)
        };
        let (t0, t1, t2, t3) = (quarter(0), quarter(1), quarter(2), quarter(3));
        let four = len > 127;
        let base = _mm512_set1_epi32(rq.base);
        let scale = _mm512_set1_ps(rq.scale);
        let (lo_f, hi_f) = (
            _mm512_set1_ps((rq.bounds.0 - rq.zero) as f32),
            _mm512_set1_ps((rq.bounds.1 - rq.zero) as f32),
        );
        let (min, max) = (
            _mm512_set1_epi32(rq.bounds.0),
            _mm512_set1_epi32(rq.bounds.1),
        );
        let zero = _mm512_set1_epi32(rq.zero);
        let magic_v = _mm512_set1_ps(magic);
        let magic_bits = _mm512_set1_epi32(magic.to_bits() as i32);
        for g in 0..groups {
            let mut acc = base;
            for (r, &word) in words.iter().enumerate() {
                let at = _mm512_loadu_si512(index[g * rows + r].as_ptr().cast());
                // Indices below 128 from the first two quarters, the rest (bit 7 set)
                // from the last two.
                let windows = if four {
                    _mm512_mask_blend_epi8(
                        _mm512_movepi8_mask(at),
                        _mm512_permutex2var_epi8(t0, at, t1),
                        _mm512_permutex2var_epi8(t2, at, t3),
                    )
                } else {
                    _mm512_permutex2var_epi8(t0, at, t1)
                };
                acc = _mm512_dpbusd_epi32(acc, windows, _mm512_set1_epi32(word as i32));
            }
            let mut v = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), scale);
            if rq.clamp {
                // As the scalar comparisons: a NaN fails the first and becomes `lo`.
                v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_GE_OQ>(v, lo_f), lo_f, v);
                v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_LE_OQ>(v, hi_f), hi_f, v);
            }
            let rounded =
                _mm512_sub_epi32(_mm512_castps_si512(_mm512_add_ps(v, magic_v)), magic_bits);
            let q = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(rounded, zero), min), max);
            let n = (outputs - 16 * g).min(16);
            _mm_mask_storeu_epi8(
                out.as_mut_ptr().add(16 * g).cast(),
                byte_mask(n) as u16,
                _mm512_cvtepi32_epi8(q),
            );
        }
    }
    true
}

/// The byte permutation of [`quad_words_vbmi`] and [`quad_plane_vbmi`]: byte `4 t + i` of
/// the result is byte `S t` of stream `i`, at `16 i + t` in the one vector of four
/// 16-byte runs (stride 1), at `32 i + 2 t` in the two of four 32-byte runs (stride 2).
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx512vbmi",
    target_feature = "avx512vl"
))]
#[inline(always)]
fn quad_index<const STRIDE: usize>() -> [u8; 64] {
    core::array::from_fn(|k| {
        let (t, i) = (k / 4, k % 4);
        (if STRIDE == 1 {
            16 * i + t
        } else {
            32 * i + 2 * t
        }) as u8
    })
}

/// Words `t < out.len() ≤ 16` of four byte streams read every `STRIDE`-th byte (1 or
/// 2): `out[t] = s0[t S] | s1[t S] << 8 | s2[t S] << 16 | s3[t S] << 24`, each byte
/// read xor `flip` and a byte past its stream's end 0. One `VPERMB` (stride 1: the four
/// 16-byte runs in one vector) or `VPERMT2B` (stride 2: four 32-byte runs in two) where
/// the shuffles and unpacks took five times the instructions; the loads and the store
/// are masked to the streams' and `out`'s lengths, so that short rows (the frame
/// kernel's 8-wide planes) take the same path as whole ones.
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx512vbmi",
    target_feature = "avx512vl"
))]
#[inline(always)]
pub fn quad_words_vbmi<const STRIDE: usize>(src: [&[u8]; 4], flip: u8, out: &mut [u32]) {
    use core::arch::x86_64::{
        _mm256_maskz_loadu_epi8, _mm512_castsi128_si512, _mm512_castsi256_si512,
        _mm512_inserti32x4, _mm512_inserti64x4, _mm512_loadu_si512, _mm512_mask_storeu_epi32,
        _mm512_maskz_mov_epi8, _mm512_permutex2var_epi8, _mm512_permutexvar_epi8, _mm512_set1_epi8,
        _mm512_xor_si512, _mm_maskz_loadu_epi8,
    };
    const { assert!(STRIDE == 1 || STRIDE == 2) };
    let n = out.len().min(16);
    if n == 0 {
        return;
    }
    let index = quad_index::<STRIDE>();
    // Each stream's loaded bytes: its first `16 S`, or as many as it has.
    let masks = src.map(|s| byte_mask(s.len().min(16 * STRIDE)));
    // SAFETY: each load is masked to the bytes its stream holds (masked-off bytes are not
    // accessed, so no load faults past a slice's end), `index` is 64 bytes read whole,
    // and the store is masked to `out`'s first `n ≤ 16` words. The instructions need
    // AVX-512 F, BW, VL and VBMI, which the build enables (the `cfg` above; VBMI implies
    // BW).
    unsafe {
        let index = _mm512_loadu_si512(index.as_ptr().cast());
        let flip = _mm512_set1_epi8(flip as i8);
        let words = if STRIDE == 1 {
            let run = |i: usize| _mm_maskz_loadu_epi8(masks[i] as u16, src[i].as_ptr().cast());
            let v = _mm512_castsi128_si512(run(0));
            let v = _mm512_inserti32x4::<1>(v, run(1));
            let v = _mm512_inserti32x4::<2>(v, run(2));
            let v = _mm512_inserti32x4::<3>(v, run(3));
            let loaded = masks[0] | masks[1] << 16 | masks[2] << 32 | masks[3] << 48;
            let v = _mm512_maskz_mov_epi8(loaded, _mm512_xor_si512(v, flip));
            _mm512_permutexvar_epi8(index, v)
        } else {
            let run = |i: usize| _mm256_maskz_loadu_epi8(masks[i] as u32, src[i].as_ptr().cast());
            let lo = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(run(0)), run(1));
            let hi = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(run(2)), run(3));
            let lo = _mm512_maskz_mov_epi8(masks[0] | masks[1] << 32, _mm512_xor_si512(lo, flip));
            let hi = _mm512_maskz_mov_epi8(masks[2] | masks[3] << 32, _mm512_xor_si512(hi, flip));
            _mm512_permutex2var_epi8(lo, index, hi)
        };
        _mm512_mask_storeu_epi32(out.as_mut_ptr().cast(), byte_mask(n) as u16, words);
    }
}

/// [`quad_words_vbmi`] over rows of a plane: row `r < rows` of `out` (`n` words at
/// `r · out_stride`) holds word `t` of the bytes `x[starts[i] + r · in_stride + S t]`
/// (`S = STRIDE`, 1 or 2), each xor `flip`, a byte past `x`'s end 0; rows that do not
/// fit `out` are not written. Sixteen words a step: where every step of a row lies
/// inside `x`, unmasked loads from one base and a whole store for each whole step, with
/// the bounds checked once for all such rows (the frame kernel's `fill`: per-row slices
/// and masks took about 80 instructions a step, most of its time).
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx512vbmi",
    target_feature = "avx512vl"
))]
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn quad_plane_vbmi<const STRIDE: usize>(
    x: &[u8],
    starts: [usize; 4],
    in_stride: usize,
    rows: usize,
    flip: u8,
    out: &mut [u32],
    out_stride: usize,
    n: usize,
) {
    const { assert!(STRIDE == 1 || STRIDE == 2) };
    if rows == 0 || n == 0 {
        return;
    }
    let step = 16 * STRIDE;
    let span = step * n.div_ceil(16);
    // The leading rows whose reads lie inside `x` and whose words inside `out`.
    let last = starts.iter().copied().max().unwrap_or(0);
    let reads = match last.checked_add(span) {
        Some(end) if end <= x.len() => match in_stride {
            0 => rows,
            _ => ((x.len() - end) / in_stride + 1).min(rows),
        },
        _ => 0,
    };
    let writes = match out.len().checked_sub(n) {
        Some(room) => match out_stride {
            0 => rows,
            _ => (room / out_stride + 1).min(rows),
        },
        None => 0,
    };
    let fast = reads.min(writes);
    let index = quad_index::<STRIDE>();
    // SAFETY: for `r < fast`, step `j < ⌈n / 16⌉` of row `r` reads `[starts[i] + r ·
    // in_stride + step · j, … + step)` of each stream, inside `x` (the last of those rows
    // ends at most `last + (fast − 1) · in_stride + span ≤ x.len()`, from `reads`); it
    // writes `out[r · out_stride + 16 j..][..16]` whole while at least 16 of the row's
    // `n` words are left, else the first `n − 16 j` through a mask, all below
    // `(fast − 1) · out_stride + n ≤ out.len()` (from `writes`); `index` is 64 bytes
    // read whole. The instructions need AVX-512 F, BW, VL and VBMI, which the build
    // enables (the `cfg` above; VBMI implies BW).
    unsafe {
        use core::arch::x86_64::{
            _mm256_loadu_si256, _mm512_castsi128_si512, _mm512_castsi256_si512, _mm512_inserti32x4,
            _mm512_inserti64x4, _mm512_loadu_si512, _mm512_mask_storeu_epi32,
            _mm512_permutex2var_epi8, _mm512_permutexvar_epi8, _mm512_set1_epi8,
            _mm512_storeu_si512, _mm512_xor_si512, _mm_loadu_si128,
        };
        let index = _mm512_loadu_si512(index.as_ptr().cast());
        let flip = _mm512_set1_epi8(flip as i8);
        let tail = byte_mask(n % 16) as u16;
        for r in 0..fast {
            let base = x.as_ptr().add(r * in_stride);
            let row = out.as_mut_ptr().add(r * out_stride);
            let mut j = 0;
            while j < n {
                let at = |i: usize| base.add(starts[i] + STRIDE * j);
                let words = if STRIDE == 1 {
                    let run = |i: usize| _mm_loadu_si128(at(i).cast());
                    let v = _mm512_castsi128_si512(run(0));
                    let v = _mm512_inserti32x4::<1>(v, run(1));
                    let v = _mm512_inserti32x4::<2>(v, run(2));
                    let v = _mm512_inserti32x4::<3>(v, run(3));
                    _mm512_permutexvar_epi8(index, v)
                } else {
                    let run = |i: usize| _mm256_loadu_si256(at(i).cast());
                    let lo = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(run(0)), run(1));
                    let hi = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(run(2)), run(3));
                    _mm512_permutex2var_epi8(lo, index, hi)
                };
                let words = _mm512_xor_si512(words, flip);
                if n - j >= 16 {
                    _mm512_storeu_si512(row.add(j).cast(), words);
                } else {
                    _mm512_mask_storeu_epi32(row.add(j).cast(), tail, words);
                }
                j += 16;
            }
        }
    }
    // The rest (reads past `x`'s end, as at the end of a tensor), masked step by step.
    for r in fast..rows {
        let Some(row) = r
            .checked_mul(out_stride)
            .and_then(|at| out.get_mut(at..)?.get_mut(..n))
        else {
            return;
        };
        let shift = r.saturating_mul(in_stride);
        for (j, chunk) in row.chunks_mut(16).enumerate() {
            let from = |s: usize| s.saturating_add(shift).saturating_add(step * j);
            let src = starts.map(|s| x.get(from(s)..).unwrap_or(&[]));
            quad_words_vbmi::<STRIDE>(src, flip, chunk);
        }
    }
}

/// The transpose of one output channel's convolution weights, `src` (`c_in` rows of
/// `taps` bytes, the blob's order) into `dst` (`taps` rows of `stride` bytes, channels
/// past `c_in` left as they are): `dst[t · stride + c] = src[c · taps + t]`. AVX-512 VBMI:
/// each 128-byte window of `src` holds `⌊128 / taps⌋` channels (at most 64), and one
/// `VPERMI2B` per tap picks its bytes out of the window, stored with a byte mask. Returns
/// false, having written nothing, where it does not apply (`taps` outside 1..=128,
/// `stride < c_in`, or the slices too short); the caller then transposes in scalar code.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512vbmi"))]
#[inline]
pub fn transpose_taps(src: &[u8], taps: usize, c_in: usize, dst: &mut [u8], stride: usize) -> bool {
    use core::arch::x86_64::{
        _mm512_add_epi8, _mm512_mask_storeu_epi8, _mm512_maskz_loadu_epi8,
        _mm512_permutex2var_epi8, _mm512_set1_epi8,
    };
    if !(1..=128).contains(&taps)
        || stride < c_in
        || src.len() < c_in * taps
        || dst.len() < (taps - 1) * stride + c_in
    {
        return false;
    }
    let group = (128 / taps).min(64);
    // Lane `j` reads the window's byte `j · taps` (plus the tap); lanes past the group
    // read what they like and are not stored.
    let base: [u8; 64] = core::array::from_fn(|j| (j * taps) as u8);
    let base = safe_arch::m512i::from(base).0;
    let mut c0 = 0;
    while c0 < c_in {
        let lanes = group.min(c_in - c0);
        let start = c0 * taps;
        let left = src.len() - start;
        // SAFETY: the masked loads read only the bytes their masks select, all inside
        // `src` (`left` bytes from `start`); the masked stores write `lanes` bytes from
        // `t · stride + c0`, inside `dst` since `c0 + lanes ≤ c_in` and `dst` holds
        // `(taps − 1) · stride + c_in` bytes (checked above). The instructions need
        // AVX-512 F, BW and VBMI, which the build enables (the `cfg` above).
        unsafe {
            let ptr = src.as_ptr().add(start).cast::<i8>();
            let lo = _mm512_maskz_loadu_epi8(byte_mask(left), ptr);
            let hi =
                _mm512_maskz_loadu_epi8(byte_mask(left.saturating_sub(64)), ptr.add(64.min(left)));
            for t in 0..taps {
                let index = _mm512_add_epi8(base, _mm512_set1_epi8(t as i8));
                let picked = _mm512_permutex2var_epi8(lo, index, hi);
                let out = dst.as_mut_ptr().add(t * stride + c0).cast::<i8>();
                _mm512_mask_storeu_epi8(out, byte_mask(lanes), picked);
            }
        }
        c0 += lanes;
    }
    true
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

    /// The VBMI transpose against the formula, for kernels of 1 to 128 taps (groups of 64
    /// channels down to one) and channel counts that end inside a group, with a longer
    /// stride (padding channels untouched), and its refusals.
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512vbmi"))]
    #[test]
    fn transpose_taps_matches_the_formula() {
        extern crate std;
        use std::vec;
        for taps in [1, 2, 3, 9, 25, 49, 64, 100, 128] {
            for c_in in [1usize, 3, 14, 15, 64, 65, 130] {
                let stride = c_in.next_multiple_of(4) + 4;
                let src: std::vec::Vec<u8> = (0..c_in * taps)
                    .map(|i| (i as u32).wrapping_mul(0x9e37_79b9).to_le_bytes()[3])
                    .collect();
                let mut dst = vec![0xa5u8; taps * stride];
                assert!(transpose_taps(&src, taps, c_in, &mut dst, stride));
                for t in 0..taps {
                    for c in 0..stride {
                        let want = if c < c_in { src[c * taps + t] } else { 0xa5 };
                        assert_eq!(
                            dst[t * stride + c],
                            want,
                            "taps {taps}, c_in {c_in}, t {t}, c {c}"
                        );
                    }
                }
            }
        }
        let mut dst = [0u8; 64];
        assert!(!transpose_taps(&[0; 129], 129, 1, &mut dst, 1));
        assert!(!transpose_taps(&[0; 18], 9, 2, &mut dst, 1));
        assert!(!transpose_taps(&[0; 17], 9, 2, &mut dst, 4));
    }

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
    fn smlad_block_sums_each_row_by_each_column() {
        let all: [u32; 4 * 7 + 2 * 7 * 3] = {
            let mut it = words().skip(40);
            core::array::from_fn(|_| it.next().unwrap_or(0))
        };
        let (rows, cols) = all.split_at(4 * 7);
        // Pair counts with every remainder of the DSP loop's steps; tiles bounded by the
        // call, by `cols` and by `acc`'s rows; and no pairs.
        for (pairs, tiles, c, want_tiles) in [
            (7, 3, 42, 3),
            (6, 3, 42, 3),
            (5, 2, 42, 2),
            (1, 9, 42, 4),
            (4, 3, 20, 2),
            (0, 3, 42, 0),
        ] {
            let mut acc = [[-7i32; 8]; 4];
            let bases = [3, -5, i32::MAX, i32::MIN];
            smlad_block_4x2(&cols[..c], &rows[..4 * pairs], &bases, tiles, &mut acc);
            for (o, row) in acc.iter().enumerate() {
                for (p, &sum) in row.iter().enumerate() {
                    let (t, j) = (p / 2, p % 2);
                    let want = if t < want_tiles {
                        (0..pairs).fold(i64::from(bases[o]), |s, kp| {
                            let (a, b) = (cols[(t * pairs + kp) * 2 + j], rows[4 * kp + o]);
                            s + i64::from(a as i16) * i64::from(b as i16)
                                + i64::from((a >> 16) as i16) * i64::from((b >> 16) as i16)
                        }) as i32
                    } else {
                        -7
                    };
                    assert_eq!(sum, want, "pairs {pairs}, row {o}, position {p}");
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
