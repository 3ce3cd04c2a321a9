//! The differential tests on this host: every family, its fixtures and 200 random
//! geometries or more (`ZANT_CHECK_CASES` for more), every path this build can take.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use zant_checks::elementwise::Elementwise;
use zant_checks::gemm::Gemm;
use zant_checks::pool::Pool;
use zant_checks::qconv::{self, QConv, QMatMul};
use zant_checks::recurrent::Recurrent;
use zant_checks::reduce::Reduce;
use zant_checks::spectral::Spectral;
use zant_checks::ternary::Ternary;
use zant_checks::transpose::Transpose;
use zant_checks::{conv::Conv, run_guarded, Buffers, Family, Mismatch, Outcome, PANICKED};

thread_local! {
    /// The first panic a check raised on this thread, kept by the panic hook (the tests
    /// run in parallel, each family on a thread of its own).
    static FIRST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The name of the threads that run the checks, whose panics the hook keeps.
const CHECK_THREAD: &str = "zant-checks";

/// Random cases per family: the floor, or `ZANT_CHECK_CASES`.
fn cases() -> usize {
    std::env::var("ZANT_CHECK_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

/// Runs `F`'s fixtures and random cases and panics with the shrunk case on a failure.
/// On a thread with a 64 MiB stack: `conv2d` and `gemm` keep their scratch on the
/// stack, which a debug build's frames take past the test threads' 2 MiB.
fn family<F: Family>(seed: u64) {
    static HOOK: Once = Once::new();
    // A panicking path is a failure like a wrong value: caught, shrunk, and reported
    // with the first panic's message (the hook keeps it instead of printing each one).
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() != Some(CHECK_THREAD) {
                return default(info);
            }
            FIRST_PANIC.with(|first| {
                let mut first = first.borrow_mut();
                if first.is_empty() {
                    *first = info.to_string();
                }
            });
        }))
    });
    let run = move || {
        let mut bufs = Box::new(Buffers::ZERO);
        let mut guard = |check: &mut dyn FnMut() -> Result<(), Mismatch>| {
            catch_unwind(AssertUnwindSafe(check)).unwrap_or(Err(Mismatch {
                path: PANICKED,
                index: 0,
                got: f32::NAN,
                want: f32::NAN,
            }))
        };
        let outcome = run_guarded::<F>(seed, cases(), &mut bufs, &mut guard);
        (outcome, FIRST_PANIC.with(|first| first.borrow().clone()))
    };
    let (outcome, first_panic) = std::thread::Builder::new()
        .name(CHECK_THREAD.into())
        .stack_size(64 << 20)
        .spawn(run)
        .expect("a thread for the checks")
        .join()
        .expect("the checks catch their panics");
    match outcome {
        Outcome::Passed { cases } => println!("{}: {cases} cases passed", F::NAME),
        Outcome::Failed {
            first,
            minimal,
            mismatch,
        } => panic!(
            "{}: {mismatch}\nfirst failing case: {first:?}\nshrunk to: {minimal:?}\n\
             first panic: {}\n(keep the shrunk case in the family's FIXTURES)",
            F::NAME,
            first_panic
        ),
    }
}

#[test]
fn conv_f32() {
    family::<Conv>(1);
}

#[test]
fn gemm_f32() {
    family::<Gemm>(2);
}

#[test]
fn conv_int8() {
    family::<QConv>(3);
    // The tiles' fallback is the path of every host without AMX: where this host has
    // the tiles, it must have run with them forced off too.
    let amx = qconv::amx_coverage();
    println!("{}: {amx}", QConv::NAME);
    if amx.available {
        assert!(amx.forced_off > 0 && amx.tile_shaped > 0, "{amx:?}");
    }
}

#[test]
fn matmul_int8() {
    family::<QMatMul>(4);
}

#[test]
fn pool() {
    family::<Pool>(5);
}

#[test]
fn reduce() {
    family::<Reduce>(6);
}

#[test]
fn elementwise() {
    family::<Elementwise>(7);
}

#[test]
fn recurrent() {
    family::<Recurrent>(8);
}

#[test]
fn ternary() {
    family::<Ternary>(9);
}

#[test]
fn conv_transpose() {
    family::<Transpose>(10);
}

#[test]
fn spectral() {
    family::<Spectral>(11);
}
