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
    copy_chunked::<T, COPY_CHUNK>(dst, src);
}

/// Elements per fixed-size copy in [`copy_chunked`].
#[cfg(any(
    test,
    all(not(any(target_arch = "x86_64", target_arch = "aarch64")), zant_size)
))]
const COPY_CHUNK: usize = 4;

/// `dst.copy_from_slice(src)` for runs of bytes that start anywhere in a word (a
/// depthwise channel's rows into its padded frame). On a target without a vector unit
/// the run goes a word a step, read as one value and written as one, which LLVM turns
/// into an unaligned load and store: `compiler_builtins`' `memcpy` took about 280
/// instructions for a 48-byte row on the Cortex-M7 at opt-level 3, source and
/// destination at different offsets in their words (mlperf-vww-int8's depthwise
/// frames: 1.1 M instructions), and a byte-by-byte copy about 150.
/// Built for size (`cfg(zant_size)`) it stays the `memcpy` call, which measured fewer
/// instructions there (beer at "z": 37.3 M with it, 40.5 M with the word loop).
#[inline(always)]
pub(crate) fn copy_bytes<T: bytemuck::Pod>(dst: &mut [T], src: &[T]) {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64", zant_size))]
    dst.copy_from_slice(src);
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64", zant_size)))]
    copy_words(bytemuck::cast_slice_mut(dst), bytemuck::cast_slice(src));
}

/// [`copy_bytes`] without a vector unit: whole words, then the rest byte by byte.
#[cfg(any(
    test,
    not(any(target_arch = "x86_64", target_arch = "aarch64", zant_size))
))]
#[inline(always)]
fn copy_words(dst: &mut [u8], src: &[u8]) {
    assert_eq!(dst.len(), src.len(), "copy between runs of one length");
    let mut dst_words = dst.chunks_exact_mut(4);
    let mut src_words = src.chunks_exact(4);
    for (out, value) in (&mut dst_words).zip(&mut src_words) {
        let word = u32::from_le_bytes([value[0], value[1], value[2], value[3]]);
        out.copy_from_slice(&word.to_le_bytes());
    }
    for (out, value) in dst_words
        .into_remainder()
        .iter_mut()
        .zip(src_words.remainder())
    {
        *out = *value;
    }
}

/// `dst.copy_from_slice(src)` in chunks of `N` elements copied one by one (a
/// whole-array assignment is itself a `memcpy` call at "z"), then the rest.
#[cfg(any(
    test,
    all(not(any(target_arch = "x86_64", target_arch = "aarch64")), zant_size)
))]
#[inline(always)]
fn copy_chunked<T: Copy, const N: usize>(dst: &mut [T], src: &[T]) {
    assert_eq!(dst.len(), src.len(), "copy between runs of one length");
    let mut dst_chunks = dst.chunks_exact_mut(N);
    let mut src_chunks = src.chunks_exact(N);
    for (out, values) in (&mut dst_chunks).zip(&mut src_chunks) {
        if let (Some(out), Some(values)) = (out.first_chunk_mut::<N>(), values.first_chunk::<N>()) {
            crate::unroll::unroll!(N, |j| out[j] = values[j]);
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
/// for the depthwise phase planes (SIMD targets only). A `stride` of 0 is taken as 1.
#[cfg(any(test, zant_size, target_arch = "x86_64", target_arch = "aarch64"))]
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
        for len in 0..19 {
            let src: std::vec::Vec<u16> = (0..len as u16).map(|v| v * 3 + 1).collect();
            let mut dst = std::vec![0u16; len];
            super::copy(&mut dst, &src);
            assert_eq!(dst, src, "length {len}");
            let mut chunked = std::vec![0u16; len];
            super::copy_chunked::<u16, { super::COPY_CHUNK }>(&mut chunked, &src);
            assert_eq!(chunked, src, "length {len}, chunked by 4");
            let mut bytes = std::vec![0u16; len];
            super::copy_bytes(&mut bytes, &src);
            assert_eq!(bytes, src, "length {len}, copy_bytes");
            let src: Vec<u8> = (0..len as u8).map(|v| v * 7 + 3).collect();
            let mut words = std::vec![0u8; len];
            super::copy_words(&mut words, &src);
            assert_eq!(words, src, "length {len}, copy_words");
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
