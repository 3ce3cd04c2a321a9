//! Copies the kernels share, written to stay inline at opt-level "z".
//!
//! At "z" LLVM leaves `Zip::next` over a `step_by` iterator, a range index and
//! `copy_from_slice`'s `memcpy` as calls, one per element or per short run, in loops
//! where opt-level 3 writes a few instructions inline (ARCHITECTURE.md, "Opt-level z").
//! These helpers are index loops with the same results.

/// `dst.copy_from_slice(src)` for short runs (a gathered row) that stays inline when a
/// target without a vector unit is built for size (`cfg(zant_size)`, build.rs): there the
/// run goes through [`copy_chunked`], since a `memcpy` call from `compiler_builtins`
/// built for size costs about 30 instructions a call plus 1.25 a byte on the Cortex-M7.
/// At opt-level 3 LLVM writes a short copy of known length inline itself, and with a
/// vector unit the C library's `memcpy` is the faster copy at any opt level.
#[inline(always)]
pub(crate) fn copy<T: Copy>(dst: &mut [T], src: &[T]) {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64", not(zant_size)))]
    dst.copy_from_slice(src);
    #[cfg(all(not(any(target_arch = "x86_64", target_arch = "aarch64")), zant_size))]
    copy_chunked(dst, src);
}

/// Elements per fixed-size copy in [`copy_chunked`].
#[cfg(any(
    test,
    all(not(any(target_arch = "x86_64", target_arch = "aarch64")), zant_size)
))]
const COPY_CHUNK: usize = 4;

/// `dst.copy_from_slice(src)` in chunks of [`COPY_CHUNK`] elements copied one by one (a
/// whole-array assignment is itself a `memcpy` call at "z"), then the rest.
#[cfg(any(
    test,
    all(not(any(target_arch = "x86_64", target_arch = "aarch64")), zant_size)
))]
#[inline(always)]
fn copy_chunked<T: Copy>(dst: &mut [T], src: &[T]) {
    assert_eq!(dst.len(), src.len(), "copy between runs of one length");
    let mut dst_chunks = dst.chunks_exact_mut(COPY_CHUNK);
    let mut src_chunks = src.chunks_exact(COPY_CHUNK);
    for (out, values) in (&mut dst_chunks).zip(&mut src_chunks) {
        if let (Some(out), Some(values)) = (
            out.first_chunk_mut::<COPY_CHUNK>(),
            values.first_chunk::<COPY_CHUNK>(),
        ) {
            crate::unroll::unroll!(COPY_CHUNK, |j| out[j] = values[j]);
        }
    }
    for (out, value) in dst_chunks
        .into_remainder()
        .iter_mut()
        .zip(src_chunks.remainder())
    {
        *out = *value;
    }
}

/// `dst[j] = src[j · stride]` for as many `j` as both slices allow (a zip of `dst` with
/// `src.iter().step_by(stride)`), as an index loop: the zip stays a call per value at
/// "z". The kernels keep their zips at opt-level 3, where they measure faster, except
/// for the depthwise phase planes. A `stride` of 0 is taken as 1.
#[inline(always)]
pub(crate) fn gather_strided<T: Copy>(dst: &mut [T], src: &[T], stride: usize) {
    let stride = stride.max(1);
    let n = dst.len().min(src.len().div_ceil(stride));
    // Both sliced to what the loop reads, so that its indexing needs no checks.
    let (dst, src) = (
        &mut dst[..n],
        &src[..(n * stride).saturating_sub(stride - 1)],
    );
    #[allow(clippy::needless_range_loop)]
    for j in 0..n {
        dst[j] = src[j * stride];
    }
}

/// `dst[j] = src[j · stride]` for as many `j` as both slices allow, in the loop each
/// opt level runs faster: the zip over `step_by` at opt-level 3, [`gather_strided`]'s
/// index loop when built for size (`cfg(zant_size)`), where the zip stays a call per
/// value. `stride` must not be 0 (the zip's `step_by` panics on it).
#[inline(always)]
pub(crate) fn strided_run<T: Copy>(dst: &mut [T], src: &[T], stride: usize) {
    #[cfg(not(zant_size))]
    for (out, &value) in dst.iter_mut().zip(src.iter().step_by(stride)) {
        *out = value;
    }
    #[cfg(zant_size)]
    gather_strided(dst, src, stride);
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    #[test]
    fn copies_runs_of_any_length() {
        for len in 0..11 {
            let src: std::vec::Vec<u16> = (0..len as u16).map(|v| v * 3 + 1).collect();
            let mut dst = std::vec![0u16; len];
            super::copy(&mut dst, &src);
            assert_eq!(dst, src, "length {len}");
            let mut chunked = std::vec![0u16; len];
            super::copy_chunked(&mut chunked, &src);
            assert_eq!(chunked, src, "length {len}, chunked");
        }
    }

    #[test]
    fn strided_copies_match_step_by() {
        let src: Vec<u16> = (0..23).collect();
        for stride in 0..5 {
            for len in 0..14 {
                let mut expected = std::vec![99u16; len];
                for (out, &value) in expected.iter_mut().zip(src.iter().step_by(stride.max(1))) {
                    *out = value;
                }
                let mut got = std::vec![99u16; len];
                super::gather_strided(&mut got, &src, stride);
                assert_eq!(got, expected, "gather, stride {stride}, length {len}");
            }
        }
    }
}
