//! The differential kernel checks (`zant_checks::run_every_family`) on an emulated core:
//! every family's fixtures and a reduced number of random cases, each line of the report
//! printed over semihosting, then `checks=ok` or `checks=FAILED` and QEMU's exit status.
//! `scripts/checks-cores.sh` builds it for each core of the target table.

#![no_std]
#![no_main]

use core::fmt::{self, Write};
use core::ptr::addr_of_mut;

use zant_checks::Buffers;

/// Random cases per family on a core (the host runs 200): `ZANT_CHECK_CASES` when the
/// image was built, 50 otherwise. Enough to reach every path with the core's own
/// kernels, few enough for QEMU's speed in CI; `scripts/checks-cores.sh` passes the
/// variable through for longer runs.
const CASES: usize = match option_env!("ZANT_CHECK_CASES") {
    Some(digits) => parse(digits),
    None => 50,
};

/// A decimal count; a build with anything else in `ZANT_CHECK_CASES` fails.
const fn parse(digits: &str) -> usize {
    let bytes = digits.as_bytes();
    assert!(!bytes.is_empty(), "ZANT_CHECK_CASES: a decimal count");
    let mut n = 0;
    let mut i = 0;
    while i < bytes.len() {
        assert!(
            bytes[i].is_ascii_digit(),
            "ZANT_CHECK_CASES: a decimal count"
        );
        n = n * 10 + (bytes[i] - b'0') as usize;
        i += 1;
    }
    n
}

/// The families this image runs: all, or about a third of them (features `first-third`,
/// the float convolutions and GEMM; `second-third`, the integer convolutions and matrix
/// products; `last-third`, the rest; for the Cortex-M55's 512 KiB ITCM, which two halves
/// outgrew).
const FAMILIES: u32 = if cfg!(feature = "first-third") {
    0x03
} else if cfg!(feature = "second-third") {
    0x0c
} else if cfg!(feature = "last-third") {
    zant_checks::ALL_FAMILIES & !0x0f
} else {
    zant_checks::ALL_FAMILIES
};

/// The checks' buffers (about 650 KiB), in the board's PSRAM (`memory/*.x`).
#[link_section = ".checks_bss"]
static mut BUFFERS: Buffers = Buffers::ZERO;

#[cfg_attr(target_arch = "arm", cortex_m_rt::entry)]
#[cfg_attr(target_arch = "riscv32", riscv_rt::entry)]
fn main() -> ! {
    // SAFETY: `main` runs once, and nothing else refers to the static.
    let bufs = unsafe { &mut *addr_of_mut!(BUFFERS) };
    let passed = zant_checks::run_families(FAMILIES, CASES, bufs, &mut Out);
    let _ = writeln!(Out, "checks={}", if passed { "ok" } else { "FAILED" });
    exit(passed)
}

/// The host's stdout, over semihosting.
struct Out;

impl Write for Out {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write(s.as_bytes());
        Ok(())
    }
}

#[cfg(target_arch = "arm")]
fn write(bytes: &[u8]) {
    if let Ok(mut out) = cortex_m_semihosting::hio::hstdout() {
        let _ = out.write_all(bytes);
    }
}

#[cfg(target_arch = "arm")]
fn exit(passed: bool) -> ! {
    use cortex_m_semihosting::debug;
    debug::exit(if passed {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::nop();
    }
}

/// A fault (a bad access) ends the run as a failure instead of hanging QEMU.
#[cfg(target_arch = "arm")]
#[cortex_m_rt::exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    let _ = writeln!(
        Out,
        "checks=FAILED: a hard fault at pc {:#010x}",
        frame.pc()
    );
    exit(false)
}

#[cfg(target_arch = "riscv32")]
fn write(bytes: &[u8]) {
    if let Ok(mut out) = riscv_semihosting::hio::hstdout() {
        let _ = out.write_all(bytes);
    }
}

/// Semihosting's SYS_EXIT_EXTENDED with `ADP_Stopped_ApplicationExit`: QEMU exits with
/// the status (plain SYS_EXIT on RV32 tells only success from failure).
#[cfg(target_arch = "riscv32")]
fn exit(passed: bool) -> ! {
    const SYS_EXIT_EXTENDED: usize = 0x20;
    const ADP_STOPPED_APPLICATION_EXIT: usize = 0x20026;
    let block = [ADP_STOPPED_APPLICATION_EXIT, usize::from(!passed)];
    // SAFETY: the semihosting call reads the two words of `block`.
    unsafe {
        riscv_semihosting::syscall(SYS_EXIT_EXTENDED, &block);
    }
    loop {
        core::hint::spin_loop();
    }
}

/// A trap (an illegal instruction, a memory fault) ends the run as a failure.
#[cfg(target_arch = "riscv32")]
#[export_name = "ExceptionHandler"]
fn exception_handler(_frame: &riscv_rt::TrapFrame) -> ! {
    let _ = writeln!(Out, "checks=FAILED: a trap");
    exit(false)
}

/// A panic in a kernel is a failure like a wrong value: its message, then the verdict.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let _ = writeln!(Out, "panic: {info}");
    let _ = writeln!(Out, "checks=FAILED: a panic");
    exit(false)
}
