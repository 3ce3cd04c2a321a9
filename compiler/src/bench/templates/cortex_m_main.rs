//! The Cortex-M harness of `zantc bench` (QEMU's MPS2 boards): runs the model of `model.rs`
//! once on the inputs embedded by `io.rs` and prints over semihosting, one `key=value` per
//! line, the instructions of the inference, the stack's high-water mark and the outputs
//! (`output K HEX`, little-endian bytes), then exits QEMU.
//!
//! Instructions are counted with SysTick under `qemu -icount shift=0`: the core clock
//! advances one nanosecond per instruction and SysTick runs at the board's core clock (25 MHz
//! on the MPS2 boards, so one tick is 40 instructions; the bench multiplies the ticks it
//! reads, `ticks_high`/`ticks_low`). The
//! stack is painted below the stack pointer before the inference and read back after it:
//! the lowest overwritten word is the high-water mark. Built with the `profile` feature,
//! the harness then runs a second inference through the model's per-layer probe and
//! prints the ticks of each layer (`layer_ticks=N`, in layer order).
//!
//! The harness prints without `core::fmt` (its own decimal and hex digits) and is built
//! with `panic = "immediate-abort"`, so the image carries no formatting machinery and
//! its flash figure is close to what a firmware of its own would ship. A panic, which the
//! model's code should never reach, becomes a fault: the `HardFault` handler reports it.

#![no_std]
#![no_main]

use core::ptr::addr_of_mut;
use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::{debug, hio};

include!("model.rs");
mod io;

/// The model and its buffers are statics, so `.bss` (or the PSRAM) holds the arena and the
/// RAM figure includes it. Only `main` touches them, once.
#[cfg_attr(feature = "model-in-psram", link_section = ".zant_psram_bss")]
static mut MODEL: model::Model = model::Model::new();
#[cfg_attr(feature = "model-in-psram", link_section = ".zant_psram_bss")]
static mut IO: io::Io = io::Io::new();

/// SysTick reloads every 2^24 ticks; the exception counts the wraps.
static WRAPS: AtomicU32 = AtomicU32::new(0);
const RELOAD: u32 = 0x00FF_FFFF;

#[exception]
fn SysTick() {
    // A load and a store, not `fetch_add`: ARMv6-M has no atomic read-modify-write, and
    // the handler is the only writer.
    WRAPS.store(WRAPS.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
}

/// Ticks since the counter started (it counts down from `RELOAD`).
fn ticks() -> u64 {
    loop {
        let wraps = WRAPS.load(Ordering::Acquire);
        let current = SYST::get_current();
        if WRAPS.load(Ordering::Acquire) == wraps {
            return u64::from(wraps) * u64::from(RELOAD + 1) + u64::from(RELOAD - current);
        }
    }
}

/// The main stack pointer.
#[inline(always)]
fn stack_pointer() -> usize {
    cortex_m::register::msp::read() as usize
}

#[entry]
fn main() -> ! {
    let Some(mut peripherals) = cortex_m::Peripherals::take() else {
        fail("peripherals taken twice")
    };
    let syst = &mut peripherals.SYST;
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(RELOAD);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();

    // SAFETY: `main` runs once, and nothing else refers to these statics.
    let (model, io) = unsafe { (&mut *addr_of_mut!(MODEL), &mut *addr_of_mut!(IO)) };
    io.load();

    let sp = paint_stack();
    let start = ticks();
    let result = io.predict(model);
    let end = ticks();
    let stack = sp - lowest_written();
    if result.is_err() {
        fail("inference failed");
    }
    // The tick count in two 32-bit halves: decimal digits of a `u64` would link a 64-bit
    // division routine into an image that otherwise needs none.
    let elapsed = end - start;
    print_value("ticks_high", (elapsed >> 32) as u32);
    print_value("ticks_low", elapsed as u32);
    print_value("stack_bytes", stack as u32);
    print_outputs(io);
    // With the `profile` feature, a second inference through the probe prints the ticks
    // of every layer, in order (`layer_ticks=N` lines).
    #[cfg(feature = "profile")]
    {
        let mut stamps = [0u64; model::LAYERS.len() + 1];
        if io
            .predict_profiled(model, &mut |k| stamps[k] = ticks())
            .is_err()
        {
            fail("profiled inference failed");
        }
        for k in 0..model::LAYERS.len() {
            print_value("layer_ticks", (stamps[k + 1] - stamps[k]) as u32);
        }
    }
    debug::exit(debug::EXIT_SUCCESS);
    loop {
        cortex_m::asm::nop();
    }
}

/// Writes `bytes` to the host's stdout; a failed write has nowhere to be reported.
fn write(bytes: &[u8]) {
    if let Ok(mut out) = hio::hstdout() {
        let _ = out.write_all(bytes);
    }
}

include!("mcu_report.rs");

fn fail(message: &str) -> ! {
    write(b"error: ");
    write(message.as_bytes());
    write(b"\n");
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::nop();
    }
}

/// Under `panic = "immediate-abort"` a panic is an undefined instruction, which lands
/// here (as does any other fault), so QEMU exits with a failure instead of hanging.
#[exception]
unsafe fn HardFault(_frame: &ExceptionFrame) -> ! {
    fail("hard fault (a panic or a memory fault)")
}

/// Only reached if the harness is built with another panic strategy.
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    fail("panic")
}
