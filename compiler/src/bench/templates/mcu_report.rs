// What every microcontroller harness of `zantc bench` shares: the stack's high-water
// mark and the report lines it prints without `core::fmt`. Included by the harness's
// `main.rs`, which defines `stack_pointer` and `write` (to the host's stdout over
// semihosting).

/// A word the stack is painted with before the inference.
const PAINT: u32 = 0x5A5A_A5A5;

extern "C" {
    /// The end of the statics in RAM, where the stack's room ends (cortex-m-rt and
    /// riscv-rt both define it).
    static mut __sheap: u32;
}

/// Paints the free stack from the end of the statics up to the stack pointer; returns the
/// stack pointer. Inlined into `main`, so it has no frame of its own below that pointer.
#[inline(always)]
fn paint_stack() -> usize {
    let sp = stack_pointer();
    let mut word = core::ptr::addr_of_mut!(__sheap) as usize;
    while word < sp {
        // SAFETY: the words between the statics and the live stack belong to no one.
        unsafe { core::ptr::write_volatile(word as *mut u32, PAINT) };
        word += 4;
    }
    sp
}

/// The lowest stack address written since [`paint_stack`].
fn lowest_written() -> usize {
    let mut word = core::ptr::addr_of!(__sheap) as usize;
    // SAFETY: reads of the painted words.
    while unsafe { core::ptr::read_volatile(word as *const u32) } == PAINT {
        word += 4;
    }
    word
}

/// A `key=value` line with `value` in decimal.
fn print_value(key: &str, value: u32) {
    let mut digits = [0u8; 10];
    let mut start = digits.len();
    let mut n = value;
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    write(key.as_bytes());
    write(b"=");
    write(&digits[start..]);
    write(b"\n");
}

/// `output K HEX` lines of at most 64 bytes each.
fn print_outputs(io: &io::Io) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut line = [0u8; 160];
    let mut len = 0;
    let mut current = usize::MAX;
    let mut flush = |line: &mut [u8; 160], len: &mut usize| {
        if *len > 0 {
            line[*len] = b'\n';
            write(&line[..*len + 1]);
            *len = 0;
        }
    };
    io.output_bytes(|k, bytes| {
        if k != current || len + 2 * bytes.len() > 140 {
            flush(&mut line, &mut len);
            current = k;
            let head = [b'o', b'u', b't', b'p', b'u', b't', b' '];
            line[..head.len()].copy_from_slice(&head);
            len = head.len();
            // Output indices are small: at most three digits.
            let mut digits = [0u8; 3];
            let mut n = k;
            let mut count = 0;
            loop {
                digits[count] = b'0' + (n % 10) as u8;
                n /= 10;
                count += 1;
                if n == 0 || count == 3 {
                    break;
                }
            }
            for i in (0..count).rev() {
                line[len] = digits[i];
                len += 1;
            }
            line[len] = b' ';
            len += 1;
        }
        for b in bytes {
            line[len] = DIGITS[usize::from(b >> 4)];
            line[len + 1] = DIGITS[usize::from(b & 15)];
            len += 2;
        }
    });
    flush(&mut line, &mut len);
}
