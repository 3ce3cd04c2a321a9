//! The RISC-V harness of `zantc bench` (QEMU `virt`, `-bios none`, machine mode): runs the
//! model of `model.rs` once on the inputs embedded by `io.rs` and prints over
//! semihosting, one `key=value` per line, the instructions of the inference, the stack's
//! high-water mark and the outputs (`output K HEX`), then exits QEMU.
//!
//! Instructions are read from `minstret`/`minstreth`, which QEMU counts exactly under
//! `-icount shift=0,sleep=off` (`instret_high`/`instret_low`; a read costs a few
//! instructions of its own). The stack is painted below the stack pointer before the
//! inference and read back after it. Built with the `profile` feature, the harness then
//! runs a second inference through the model's per-layer probe and prints the
//! instructions of each layer (`layer_instret=N`, in layer order).

#![no_std]
#![no_main]

use core::ptr::addr_of_mut;

use riscv_rt::entry;

include!("model.rs");
mod io;

/// The model and its buffers are statics, so `.bss` (or the PSRAM) holds the arena and the
/// RAM figure includes it. Only `main` touches them, once.
#[cfg_attr(feature = "model-in-psram", link_section = ".zant_psram_bss")]
static mut MODEL: model::Model = model::Model::new();
#[cfg_attr(feature = "model-in-psram", link_section = ".zant_psram_bss")]
static mut IO: io::Io = io::Io::new();

/// Instructions retired since reset (`minstreth:minstret`, read again when the low word
/// wrapped between the reads).
#[inline(always)]
fn instret() -> u64 {
    loop {
        let (high, low, again): (u32, u32, u32);
        // SAFETY: reads of the counter CSRs, which machine mode may read; no memory.
        unsafe {
            core::arch::asm!(
                "csrr {high}, minstreth",
                "csrr {low}, minstret",
                "csrr {again}, minstreth",
                high = out(reg) high,
                low = out(reg) low,
                again = out(reg) again,
                options(nomem, nostack, preserves_flags),
            );
        }
        if high == again {
            return (u64::from(high) << 32) | u64::from(low);
        }
    }
}

/// The stack pointer.
#[inline(always)]
fn stack_pointer() -> usize {
    let sp: usize;
    // SAFETY: reads the stack pointer register.
    unsafe { core::arch::asm!("mv {}, sp", out(reg) sp, options(nomem, nostack)) };
    sp
}

#[entry]
fn main() -> ! {
    // SAFETY: `main` runs once, and nothing else refers to these statics.
    let (model, io) = unsafe { (&mut *addr_of_mut!(MODEL), &mut *addr_of_mut!(IO)) };
    io.load();

    let sp = paint_stack();
    let start = instret();
    let result = io.predict(model);
    let end = instret();
    let stack = sp - lowest_written();
    if result.is_err() {
        fail("inference failed");
    }
    let elapsed = end - start;
    print_value("instret_high", (elapsed >> 32) as u32);
    print_value("instret_low", elapsed as u32);
    print_value("stack_bytes", stack as u32);
    print_outputs(io);
    #[cfg(feature = "profile")]
    {
        let mut stamps = [0u64; model::LAYERS.len() + 1];
        if io
            .predict_profiled(model, &mut |k| stamps[k] = instret())
            .is_err()
        {
            fail("profiled inference failed");
        }
        for k in 0..model::LAYERS.len() {
            print_value("layer_instret", (stamps[k + 1] - stamps[k]) as u32);
        }
    }
    exit(0)
}

/// Writes `bytes` to the host's stdout; a failed write has nowhere to be reported.
fn write(bytes: &[u8]) {
    if let Ok(mut out) = riscv_semihosting::hio::hstdout() {
        let _ = out.write_all(bytes);
    }
}

include!("mcu_report.rs");

/// Semihosting's SYS_EXIT_EXTENDED with `ADP_Stopped_ApplicationExit`: QEMU exits with
/// `status` (plain SYS_EXIT on RV32 tells only success from failure).
fn exit(status: u32) -> ! {
    const SYS_EXIT_EXTENDED: usize = 0x20;
    const ADP_STOPPED_APPLICATION_EXIT: usize = 0x20026;
    let block = [ADP_STOPPED_APPLICATION_EXIT, status as usize];
    // SAFETY: the semihosting call reads the two words of `block`.
    unsafe {
        riscv_semihosting::syscall(SYS_EXIT_EXTENDED, &block);
    }
    loop {
        core::hint::spin_loop();
    }
}

fn fail(message: &str) -> ! {
    write(b"error: ");
    write(message.as_bytes());
    write(b"\n");
    exit(1)
}

/// A trap (an illegal instruction from `panic = "abort"`, a memory fault) exits QEMU
/// with a failure instead of hanging.
#[export_name = "ExceptionHandler"]
fn exception_handler(_frame: &riscv_rt::TrapFrame) -> ! {
    fail("trap (a panic or a memory fault)")
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    fail("panic")
}
