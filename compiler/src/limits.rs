//! The bounds a model must stay within, so that a hostile or broken file is refused in
//! milliseconds with an error naming the bound, rather than exhausting memory or time.
//! Each is far above what a model zant targets needs; the errors name the constant.

/// The largest model file: protobuf's own limit on one message, 2 GiB. Larger weights
/// go in external data files beside the model.
pub const MAX_MODEL_BYTES: u64 = 2 << 30;

/// The most elements of any one tensor, declared or inferred: 2^31 (8 GiB of f32).
pub const MAX_ELEMS: usize = 1 << 31;

/// The most bytes of one constant: an initializer, a `Constant`'s value or a result the
/// compiler folds. Checked on the declared shape, before external data is read.
pub const MAX_CONSTANT_BYTES: usize = 512 << 20;

/// The most bytes of all the constants one model reads and folds together.
pub const MAX_WEIGHT_BYTES: usize = 1 << 30;

/// The most nodes one model may import, counting every copy of an unrolled loop body:
/// a bound on compile time and code size for loops with large trip counts.
pub const MAX_NODES: usize = 100_000;

/// The most elements of a constant input an op reads at compile time into its
/// attributes (a shape, axes, pads, starts, repeats, scales): far more than any rank,
/// where a million-element `starts` had been printed into the IR text as a list.
pub const MAX_ABSORBED_ELEMS: usize = 1 << 16;

/// How deep subgraphs (`If` branches, `Loop` and `Scan` bodies) may nest.
pub const MAX_SUBGRAPH_DEPTH: usize = 16;

/// How deep the protobuf decoder lets messages nest (prost's recursion limit): each
/// level of subgraphs takes three (node, attribute, graph), so files nesting more than
/// about 30 levels fail to decode before [`MAX_SUBGRAPH_DEPTH`] is checked.
pub const MAX_MESSAGE_DEPTH: usize = 100;

/// Refuses a constant above [`MAX_CONSTANT_BYTES`], before any of it is read or built.
pub(crate) fn check_constant_bytes(n_bytes: usize) -> Result<(), String> {
    if n_bytes > MAX_CONSTANT_BYTES {
        return Err(format!(
            "its {} are above the limit of {} for one constant (limits::MAX_CONSTANT_BYTES)",
            fmt_bytes(n_bytes as u64),
            fmt_bytes(MAX_CONSTANT_BYTES as u64)
        ));
    }
    Ok(())
}

/// `bytes` as the compiler prints sizes in its errors: `512 MiB`, `3.5 KiB`, `17 bytes`.
pub(crate) fn fmt_bytes(bytes: u64) -> String {
    const UNITS: [&str; 3] = ["GiB", "MiB", "KiB"];
    for (i, unit) in UNITS.iter().enumerate() {
        let size = 1u64 << (10 * (3 - i));
        if bytes >= size {
            let v = bytes as f64 / size as f64;
            return if v.fract() == 0.0 {
                format!("{v:.0} {unit}")
            } else {
                format!("{v:.1} {unit}")
            };
        }
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use super::fmt_bytes;

    #[test]
    fn sizes_print_in_their_unit() {
        assert_eq!(fmt_bytes(17), "17 bytes");
        assert_eq!(fmt_bytes(3584), "3.5 KiB");
        assert_eq!(fmt_bytes(512 << 20), "512 MiB");
        assert_eq!(fmt_bytes(2 << 30), "2 GiB");
    }
}
