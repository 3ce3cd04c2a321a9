//! Intel AMX's byte tile products (`TDPBSUD`), for the integer convolutions on x86-64 Linux
//! hosts that have them (Sapphire Rapids and later).
//!
//! Why: one `TDPBSUD` multiplies a 16 × 64 tile of signed bytes by a 64 × 16 tile of
//! unsigned bytes into a 16 × 16 tile of `i32` sums, 16,384 products, where `VPDPBUSD` on
//! 512-bit vectors does 64. ONNX Runtime uses it where the CPU and the kernel allow (its
//! QGEMM picks AMX at run time), and on such a host its 1 × 1 convolutions run at more
//! than the VNNI instructions' peak: 283 G products a second on mobilenet_v2-int8's
//! 384 → 64 layers against 210–235 for `VPDPBUSD` (docs/performance.md).
//!
//! Why `unsafe`: the AMX target features and intrinsics are unstable in Rust 1.95
//! (`x86_amx_intrinsics`), so the instructions are `asm!` blocks, and Linux hands the tile
//! registers to a process only when it asks (`arch_prctl(ARCH_REQ_XCOMP_PERM)`, a system
//! call); until then the first tile instruction faults.
//!
//! How it stays sound:
//! - [`Tiles::new`] is the only way to the instructions. It checks the switch
//!   ([`set_enabled`]), the CPU (CPUID leaf 7), asks Linux for the tile state once per
//!   process (cached), and takes a process-wide flag, so that no two configurations are
//!   live at once; it returns `None` when any of that fails, and the kernel takes its VNNI
//!   path. Dropping the `Tiles` releases the tiles (`TILERELEASE`) and the flag. `Tiles`
//!   is neither `Send` nor `Sync`: the configuration belongs to the thread that loaded it.
//! - The configuration is fixed by `Tiles::new` ([`Tiles::depth`] quads of depth per
//!   product), so every load and store knows its tile's rows and bytes per row, and checks
//!   that every byte it reads or writes lies in the slice it is given before the
//!   instruction runs (a failed check is a panic, never an access).
//! - The products wrap modulo 2³² like `VPDPBUSD`, so both paths give the same sums.
//!
//! The tile registers: 0–3 hold sums (`C`, 16 rows × 16 `i32`), 4 and 5 weights (`A`,
//! 16 rows of `4 d` signed bytes), 6 and 7 activations (`B`, `d` rows of 16 quads of
//! unsigned bytes, [`super::dpbusd`]'s word layout).
//!
//! The switch exists so that the VNNI path, which hosts without AMX (AMD Zen 4 and 5) run,
//! can be run and tested on a host that has it: [`set_enabled`]`(false)` turns the tiles
//! off for the whole process. The runtime is `no_std` and reads no environment; its own
//! tests turn the tiles off for `ZANT_AMX=off`, and a `std` caller maps its own setting
//! onto the switch.
//!
//! The unit tests run the instructions against a scalar sum where the host has AMX, and
//! say so where it does not.

use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// Rows of every tile, and `i32` columns of a sum tile.
pub const ROWS: usize = 16;

/// The most quads (four bytes of depth) one product takes.
pub const MAX_DEPTH: usize = 16;

/// Whether this process may use the tiles: 0 not asked yet, 1 yes, 2 no.
static AVAILABLE: AtomicU8 = AtomicU8::new(0);

/// Whether a [`Tiles`] is live.
static IN_USE: AtomicBool = AtomicBool::new(false);

/// The switch ([`set_enabled`]): 0 not set (on, unless the runtime's own tests run with
/// `ZANT_AMX=off`), 1 on, 2 off.
static SWITCH: AtomicU8 = AtomicU8::new(0);

/// Allows (`true`, the default) or forbids the tiles for the whole process, from the next
/// [`Tiles::new`] on: forbidden, it returns `None` and every kernel takes its VNNI path,
/// as on a host without AMX. A [`Tiles`] already live keeps its configuration until it is
/// dropped. Atomic, so any thread may call it at any time; the last call wins.
pub fn set_enabled(on: bool) {
    SWITCH.store(if on { 1 } else { 2 }, Ordering::Relaxed);
}

/// Whether the switch allows the tiles ([`set_enabled`]); whether the host has them is
/// [`available`].
pub fn enabled() -> bool {
    match SWITCH.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let on = if off_in_environment() { 2 } else { 1 };
            // A `set_enabled` since the load wins.
            let _ = SWITCH.compare_exchange(0, on, Ordering::Relaxed, Ordering::Relaxed);
            SWITCH.load(Ordering::Relaxed) == 1
        }
    }
}

/// Whether the runtime's own tests run with `ZANT_AMX=off`, read once per process by
/// [`enabled`]; never in the library itself, which has no environment.
#[cfg(test)]
fn off_in_environment() -> bool {
    extern crate std;
    std::env::var_os("ZANT_AMX").is_some_and(|v| v == "off")
}

#[cfg(not(test))]
fn off_in_environment() -> bool {
    false
}

/// A sum tile (0–3).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Sum {
    C0,
    C1,
    C2,
    C3,
}

/// A weight tile (4 or 5).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Weights {
    A0,
    A1,
}

/// An activation tile (6 or 7).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Activations {
    B0,
    B1,
}

/// The loaded tile configuration; see the module documentation.
pub struct Tiles {
    /// Quads of depth per product: weight tiles have `4 d` bytes a row, activation tiles
    /// `d` rows.
    d: usize,
    /// Not `Send`, not `Sync`.
    _thread: PhantomData<*const ()>,
}

/// The 64-byte operand of `LDTILECFG`: palette 1, then each tile's bytes per row and rows.
#[repr(C, align(64))]
struct Config {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    colsb: [u16; 16],
    rows: [u8; 16],
}

/// Whether the CPU has AMX's tiles and byte products and Linux lets this process use
/// them, asked once (the switch aside: [`enabled`]).
pub fn available() -> bool {
    match AVAILABLE.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let yes = cpu_has_amx() && request_tiles();
            AVAILABLE.store(if yes { 1 } else { 2 }, Ordering::Relaxed);
            yes
        }
    }
}

/// CPUID leaf 7: AMX-TILE is bit 24 of EDX and AMX-INT8 bit 25.
fn cpu_has_amx() -> bool {
    let leaf = core::arch::x86_64::__cpuid(0);
    if leaf.eax < 7 {
        return false;
    }
    let features = core::arch::x86_64::__cpuid_count(7, 0);
    features.edx & (0b11 << 24) == 0b11 << 24
}

/// `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`: asks Linux for the tile data
/// state, which it gives once per process; true when granted.
fn request_tiles() -> bool {
    const SYS_ARCH_PRCTL: i64 = 158;
    const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
    const XFEATURE_XTILEDATA: i64 = 18;
    let ret: i64;
    // SAFETY: the `arch_prctl` system call with this request only changes which extended
    // states the kernel lets this process use; it reads and writes no memory of ours.
    // `syscall` clobbers rcx and r11, declared.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") SYS_ARCH_PRCTL => ret,
            in("rdi") ARCH_REQ_XCOMP_PERM,
            in("rsi") XFEATURE_XTILEDATA,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret == 0
}

impl Tiles {
    /// Loads the configuration for products `4 d` bytes deep (`1 ≤ d ≤ 16`); `None` where
    /// the host cannot (no AMX, Linux refused, another `Tiles` live), the switch is off
    /// ([`set_enabled`]) or `d` is out of range.
    pub fn new(d: usize) -> Option<Tiles> {
        if !(1..=MAX_DEPTH).contains(&d) || !enabled() || !available() {
            return None;
        }
        if IN_USE
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        let mut config = Config {
            palette: 1,
            start_row: 0,
            reserved: [0; 14],
            colsb: [0; 16],
            rows: [0; 16],
        };
        for t in 0..4 {
            config.colsb[t] = 64;
            config.rows[t] = ROWS as u8;
        }
        for t in 4..6 {
            config.colsb[t] = (4 * d) as u16;
            config.rows[t] = ROWS as u8;
        }
        for t in 6..8 {
            config.colsb[t] = 64;
            config.rows[t] = d as u8;
        }
        // SAFETY: `available` found the instructions and the kernel's permission; the
        // operand is a valid palette-1 configuration (every tile within 16 rows of 64
        // bytes, the unused ones zero), read from memory we own.
        unsafe {
            core::arch::asm!(
                "ldtilecfg [{config}]",
                config = in(reg) &config,
                options(nostack, readonly, preserves_flags),
            );
        }
        Some(Tiles {
            d,
            _thread: PhantomData,
        })
    }

    /// Quads of depth per product.
    pub fn depth(&self) -> usize {
        self.d
    }

    /// Sets sum tile `c` to 0.
    #[inline(always)]
    pub fn zero(&mut self, c: Sum) {
        macro_rules! zero {
            ($t:literal) => {
                // SAFETY: the tiles are configured (`self` exists); registers only.
                unsafe {
                    core::arch::asm!(
                        concat!("tilezero tmm", $t),
                        options(nostack, nomem, preserves_flags)
                    )
                }
            };
        }
        match c {
            Sum::C0 => zero!(0),
            Sum::C1 => zero!(1),
            Sum::C2 => zero!(2),
            Sum::C3 => zero!(3),
        }
    }

    /// Loads weight tile `a`: 16 rows of `4 d` signed bytes, row `r` from
    /// `w[r · stride..]`.
    #[inline(always)]
    pub fn load_weights(&mut self, a: Weights, w: &[i8], stride: usize) {
        let extent = (ROWS - 1) * stride + 4 * self.d;
        assert!(extent <= w.len(), "weight tile out of bounds");
        let base = w.as_ptr();
        macro_rules! load {
            ($t:literal) => {
                // SAFETY: the tile reads 16 rows of `4 d` bytes, `stride` apart, from
                // `base`: every byte lies within `w` by the assertion above.
                unsafe {
                    core::arch::asm!(
                        concat!("tileloadd tmm", $t, ", [{base} + {stride}*1]"),
                        base = in(reg) base,
                        stride = in(reg) stride,
                        options(nostack, readonly, preserves_flags),
                    )
                }
            };
        }
        match a {
            Weights::A0 => load!(4),
            Weights::A1 => load!(5),
        }
    }

    /// Loads activation tile `b`: `d` rows of 16 words, row `r` from `x[r · stride..]`
    /// (`stride` in words, at least 16 so that rows do not overlap, or equal to 16 for a
    /// block of contiguous rows).
    #[inline(always)]
    pub fn load_activations(&mut self, b: Activations, x: &[u32], stride: usize) {
        let extent = (self.d - 1) * stride + ROWS;
        assert!(extent <= x.len(), "activation tile out of bounds");
        let base = x.as_ptr();
        let stride = 4 * stride;
        macro_rules! load {
            ($t:literal) => {
                // SAFETY: the tile reads `d` rows of 64 bytes, `stride` bytes apart, from
                // `base`: every byte lies within `x` by the assertion above.
                unsafe {
                    core::arch::asm!(
                        concat!("tileloadd tmm", $t, ", [{base} + {stride}*1]"),
                        base = in(reg) base,
                        stride = in(reg) stride,
                        options(nostack, readonly, preserves_flags),
                    )
                }
            };
        }
        match b {
            Activations::B0 => load!(6),
            Activations::B1 => load!(7),
        }
    }

    /// `c += a · b`: sum `(i, j)` gains the `4 d` products of row `i` of `a` (signed
    /// bytes) with the bytes of word `j` of each row of `b` (unsigned), wrapping.
    #[inline(always)]
    pub fn dot(&mut self, c: Sum, a: Weights, b: Activations) {
        macro_rules! dot {
            ($c:literal, $a:literal, $b:literal) => {
                // SAFETY: the tiles are configured with matching shapes (`new`);
                // registers only.
                unsafe {
                    core::arch::asm!(
                        concat!("tdpbsud tmm", $c, ", tmm", $a, ", tmm", $b),
                        options(nostack, nomem, preserves_flags)
                    )
                }
            };
        }
        match (c, a, b) {
            (Sum::C0, Weights::A0, Activations::B0) => dot!(0, 4, 6),
            (Sum::C0, Weights::A0, Activations::B1) => dot!(0, 4, 7),
            (Sum::C0, Weights::A1, Activations::B0) => dot!(0, 5, 6),
            (Sum::C0, Weights::A1, Activations::B1) => dot!(0, 5, 7),
            (Sum::C1, Weights::A0, Activations::B0) => dot!(1, 4, 6),
            (Sum::C1, Weights::A0, Activations::B1) => dot!(1, 4, 7),
            (Sum::C1, Weights::A1, Activations::B0) => dot!(1, 5, 6),
            (Sum::C1, Weights::A1, Activations::B1) => dot!(1, 5, 7),
            (Sum::C2, Weights::A0, Activations::B0) => dot!(2, 4, 6),
            (Sum::C2, Weights::A0, Activations::B1) => dot!(2, 4, 7),
            (Sum::C2, Weights::A1, Activations::B0) => dot!(2, 5, 6),
            (Sum::C2, Weights::A1, Activations::B1) => dot!(2, 5, 7),
            (Sum::C3, Weights::A0, Activations::B0) => dot!(3, 4, 6),
            (Sum::C3, Weights::A0, Activations::B1) => dot!(3, 4, 7),
            (Sum::C3, Weights::A1, Activations::B0) => dot!(3, 5, 6),
            (Sum::C3, Weights::A1, Activations::B1) => dot!(3, 5, 7),
        }
    }

    /// Stores sum tile `c`: row `r` into `out[r · stride..][..16]`.
    #[inline(always)]
    pub fn store(&mut self, c: Sum, out: &mut [i32], stride: usize) {
        assert!(
            (ROWS - 1) * stride + ROWS <= out.len(),
            "sum tile out of bounds"
        );
        let base = out.as_mut_ptr();
        let stride = 4 * stride;
        macro_rules! store {
            ($t:literal) => {
                // SAFETY: the tile writes 16 rows of 64 bytes, `stride` bytes apart, from
                // `base`: every byte lies within `out` by the assertion above.
                unsafe {
                    core::arch::asm!(
                        concat!("tilestored [{base} + {stride}*1], tmm", $t),
                        base = in(reg) base,
                        stride = in(reg) stride,
                        options(nostack, preserves_flags),
                    )
                }
            };
        }
        match c {
            Sum::C0 => store!(0),
            Sum::C1 => store!(1),
            Sum::C2 => store!(2),
            Sum::C3 => store!(3),
        }
    }
}

impl Drop for Tiles {
    fn drop(&mut self) {
        // SAFETY: returns the tiles to their initial state; registers only.
        unsafe { core::arch::asm!("tilerelease", options(nostack, nomem, preserves_flags)) }
        IN_USE.store(false, Ordering::Release);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    extern crate std;
    use super::*;
    use std::string::String;
    use std::sync::{Mutex, MutexGuard};

    /// Held by every test that takes the tiles or turns the switch, so that they run one
    /// at a time: the tiles are one configuration per process (a test running beside
    /// another that held them would take the VNNI path without knowing), and the switch
    /// is the whole process's.
    pub(crate) fn exclusive() -> MutexGuard<'static, ()> {
        static LOCK: Mutex<()> = Mutex::new(());
        LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Why the tiles cannot run in this process, or `None` where they can.
    pub(crate) fn why_not() -> Option<&'static str> {
        if !enabled() {
            Some("switched off: ZANT_AMX=off")
        } else if !cpu_has_amx() {
            Some("no AMX-INT8 on this CPU")
        } else if !available() {
            Some("Linux refused the tile state")
        } else {
            None
        }
    }

    /// How a test states whether it ran the tiles: `AMX tiles: RUN (detail)`, or `AMX
    /// tiles: NOT RUN (why)` where the process cannot take them.
    pub(crate) fn tiles_line(detail: &str) -> String {
        match why_not() {
            None => std::format!("AMX tiles: RUN ({detail})"),
            Some(why) => std::format!("AMX tiles: NOT RUN ({why})"),
        }
    }

    /// A deterministic byte stream.
    fn bytes(seed: u32, n: usize) -> impl Iterator<Item = u8> {
        let mut s = seed;
        (0..n).map(move |_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 24) as u8
        })
    }

    #[test]
    fn tile_products_equal_the_scalar_sums() {
        let _one = exclusive();
        std::eprintln!(
            "dsp::amx::tile_products_equal_the_scalar_sums: {}",
            tiles_line("depths 1, 3, 7, 16")
        );
        for d in [1, 3, 7, 16] {
            let Some(mut tiles) = Tiles::new(d) else {
                assert!(
                    why_not().is_some(),
                    "the host has the tiles, yet none for {d}"
                );
                return;
            };
            assert_eq!(tiles.depth(), d);
            // Two weight tiles 16 × 4d in rows `stride` apart, two activation tiles.
            let stride = 4 * d + 5;
            let w: std::vec::Vec<i8> = bytes(d as u32, 2 * ROWS * stride)
                .map(|b| b as i8)
                .collect();
            let x: std::vec::Vec<u32> = bytes(99 + d as u32, 2 * ROWS * d * 4)
                .collect::<std::vec::Vec<u8>>()
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let (x0, x1) = x.split_at(ROWS * d);
            let (w0, w1) = w.split_at(ROWS * stride);
            let mut out = [0i32; 32 * 32];
            for c in [Sum::C0, Sum::C1, Sum::C2, Sum::C3] {
                tiles.zero(c);
            }
            tiles.load_weights(Weights::A0, w0, stride);
            tiles.load_weights(Weights::A1, w1, stride);
            tiles.load_activations(Activations::B0, x0, ROWS);
            tiles.load_activations(Activations::B1, x1, ROWS);
            // Twice, so that the sums accumulate.
            for _ in 0..2 {
                tiles.dot(Sum::C0, Weights::A0, Activations::B0);
                tiles.dot(Sum::C1, Weights::A0, Activations::B1);
                tiles.dot(Sum::C2, Weights::A1, Activations::B0);
                tiles.dot(Sum::C3, Weights::A1, Activations::B1);
            }
            tiles.store(Sum::C0, &mut out, 32);
            tiles.store(Sum::C1, &mut out[16..], 32);
            tiles.store(Sum::C2, &mut out[16 * 32..], 32);
            tiles.store(Sum::C3, &mut out[16 * 32 + 16..], 32);
            for (i, j) in (0..32).flat_map(|i| (0..32).map(move |j| (i, j))) {
                let (wa, xb) = (if i < 16 { w0 } else { w1 }, if j < 16 { x0 } else { x1 });
                let (i16_, j16) = (i % 16, j % 16);
                let sum: i32 = (0..4 * d)
                    .map(|k| {
                        let a = i32::from(wa[i16_ * stride + k]);
                        let b = xb[(k / 4) * 16 + j16].to_le_bytes()[k % 4];
                        a * i32::from(b)
                    })
                    .sum();
                assert_eq!(out[i * 32 + j], 2 * sum, "d {d}, sum ({i}, {j})");
            }
            // Only one configuration at a time.
            assert!(Tiles::new(d).is_none());
            drop(tiles);
        }
    }

    #[test]
    fn tiles_refuse_depths_out_of_range() {
        assert!(Tiles::new(0).is_none());
        assert!(Tiles::new(MAX_DEPTH + 1).is_none());
    }

    /// Switched off, no configuration loads; switched back, the host's answer returns.
    #[test]
    fn the_switch_turns_the_tiles_off() {
        let _one = exclusive();
        /// Puts the switch back, should an assertion fail.
        struct Restore(bool);
        impl Drop for Restore {
            fn drop(&mut self) {
                set_enabled(self.0);
            }
        }
        let restore = Restore(enabled());
        set_enabled(false);
        assert!(!enabled());
        assert!(Tiles::new(1).is_none());
        let was = restore.0;
        drop(restore);
        assert_eq!(enabled(), was);
        // Not with `ZANT_AMX=off`: the tiles stay off in that process.
        if was {
            assert_eq!(Tiles::new(1).is_some(), available());
        }
    }
}
