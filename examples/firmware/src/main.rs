//! Cortex-M firmware (M4F, M7, M33 on QEMU's MPS2 boards): runs the LeNet model compiled
//! at build time on the embedded digit, prints the class and the SysTick ticks of the
//! inference over semihosting, and exits QEMU.
//!
//! Under `qemu -icount shift=0` the core clock advances one nanosecond per instruction
//! and SysTick counts the board's core clock (25 MHz on AN386 and AN500, 20 MHz on
//! AN505), so `scripts/firmware.sh` turns the ticks into instructions, deterministically.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::{debug, hprintln};

include!(concat!(env!("OUT_DIR"), "/lenet.rs"));
include!("../../common/digit.rs");

/// SysTick reloads every 2^24 ticks; the exception counts the wraps.
static WRAPS: AtomicU32 = AtomicU32::new(0);
const RELOAD: u32 = 0x00FF_FFFF;

#[exception]
fn SysTick() {
    // A load and a store: the handler is the only writer.
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

    // The model (its arena) lives on the stack here; a firmware that wants it in a given
    // RAM puts it in a `static` with `#[link_section]` instead (docs/build-rs.md).
    let mut model = lenet::Model::new();
    let image = digit();
    let mut probs = [0.0f32; lenet::PROBS_LEN];

    let start = ticks();
    let result = model.predict(&image, &mut probs);
    let end = ticks();
    if let Err(e) = result {
        hprintln!("inference failed: {}", e);
        fail("inference failed");
    }
    hprintln!("class={}", argmax(&probs));
    hprintln!("ticks={}", end - start);
    hprintln!("arena_bytes={} weight_bytes={}", lenet::ARENA_BYTES, lenet::WEIGHT_BYTES);
    debug::exit(debug::EXIT_SUCCESS);
    loop {
        cortex_m::asm::nop();
    }
}

fn fail(message: &str) -> ! {
    hprintln!("error: {}", message);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::nop();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::nop();
    }
}
