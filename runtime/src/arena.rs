//! The byte arena that holds every intermediate tensor, and safe typed views into it.
//!
//! The compiler gives every tensor a byte offset. A node reads its inputs and writes its
//! output in the same arena, so [`split`] cuts the arena around the output region: the
//! output comes back as `&mut [u8]` and everything else as a read-only [`Reads`] view.
//! The memory plan guarantees that no input overlaps the output of a node unless the node
//! works in place, in which case the generated code uses the output slice alone.

use bytemuck::Pod;

/// A wrapper that aligns its contents to 64 bytes (a cache line, and enough for any SIMD
/// type); generated code wraps the arena and the weight blob in it.
#[repr(C, align(64))]
pub struct Aligned<T: ?Sized>(pub T);

/// The most output regions one node may cut out of the arena ([`split_n`]).
pub const MAX_OUTPUTS: usize = 8;

/// Read-only access to the arena outside one node's output regions.
#[derive(Clone, Copy)]
pub struct Reads<'a> {
    /// Pieces of the arena in address order, each with the offset it starts at.
    parts: [(usize, &'a [u8]); MAX_OUTPUTS + 1],
    n_parts: usize,
}

/// Splits `arena` into the output region `[offset, offset + len)` and read access to the rest.
///
/// Always inlined, as [`Reads::all`], [`Reads::bytes`] and [`Reads::get`] are: a generated
/// call passes constant offsets into an arena of constant size, so the bounds checks fold
/// and the split costs nothing at any opt level, "z" included.
#[inline(always)]
pub fn split(arena: &mut [u8], offset: usize, len: usize) -> (Reads<'_>, &mut [u8]) {
    let (head, rest) = arena.split_at_mut(offset);
    let (out, tail) = rest.split_at_mut(len);
    let mut reads = Reads::all(head);
    reads.parts[1] = (offset + len, tail);
    reads.n_parts = 2;
    (reads, out)
}

/// Splits `arena` into the disjoint output regions `(offset, len)` of a node with several
/// outputs, in the order given, and read access to the rest.
///
/// # Panics
///
/// When two regions overlap or one lies outside the arena: the memory plan never makes
/// such regions, so this is a compiler bug, not something input data can cause.
pub fn split_n<const N: usize>(
    arena: &mut [u8],
    regions: [(usize, usize); N],
) -> (Reads<'_>, [&mut [u8]; N]) {
    assert!(N <= MAX_OUTPUTS, "too many output regions");
    let mut order: [usize; N] = core::array::from_fn(|i| i);
    order.sort_unstable_by_key(|&i| regions[i].0);
    let mut outputs: [&mut [u8]; N] = core::array::from_fn(|_| Default::default());
    let mut reads = Reads {
        parts: [(0, &[][..]); MAX_OUTPUTS + 1],
        n_parts: 0,
    };
    let mut rest = arena;
    let mut base = 0;
    for i in order {
        let (offset, len) = regions[i];
        if len == 0 {
            // An empty output may sit anywhere, even inside another region.
            continue;
        }
        let (head, tail) = rest.split_at_mut(offset - base);
        let (out, tail) = tail.split_at_mut(len);
        reads.parts[reads.n_parts] = (base, head);
        reads.n_parts += 1;
        outputs[i] = out;
        base = offset + len;
        rest = tail;
    }
    reads.parts[reads.n_parts] = (base, rest);
    reads.n_parts += 1;
    (reads, outputs)
}

impl<'a> Reads<'a> {
    /// Read access to the whole arena, for a node whose output lives outside it.
    #[inline(always)]
    pub fn all(arena: &'a [u8]) -> Self {
        let mut parts = [(0, &[][..]); MAX_OUTPUTS + 1];
        parts[0] = (0, arena);
        Self { parts, n_parts: 1 }
    }

    /// The bytes `[offset, offset + len)` of the arena; the region never overlaps an output.
    #[inline(always)]
    pub fn bytes(&self, offset: usize, len: usize) -> &'a [u8] {
        let mut k = self.n_parts - 1;
        while k > 0 && self.parts[k].0 > offset {
            k -= 1;
        }
        let (start, part) = self.parts[k];
        &part[offset - start..offset - start + len]
    }

    /// `n_elems` values of type `T` starting at byte `offset`.
    #[inline(always)]
    pub fn get<T: Pod>(&self, offset: usize, n_elems: usize) -> &'a [T] {
        view(self.bytes(offset, n_elems * core::mem::size_of::<T>()))
    }
}

/// Views aligned bytes as a slice of `T`.
#[inline]
pub fn view<T: Pod>(bytes: &[u8]) -> &[T] {
    bytemuck::cast_slice(bytes)
}

/// Views aligned bytes as a mutable slice of `T`.
#[inline]
pub fn view_mut<T: Pod>(bytes: &mut [u8]) -> &mut [T] {
    bytemuck::cast_slice_mut(bytes)
}

/// `n_elems` values of type `T` at byte `offset` of a read-only blob (the weights).
#[inline]
pub fn slice<T: Pod>(blob: &[u8], offset: usize, n_elems: usize) -> &[T] {
    view(&blob[offset..offset + n_elems * core::mem::size_of::<T>()])
}

/// `n_elems` values of type `T` at byte `offset` of the arena, for a node that works in place.
#[inline]
pub fn slice_mut<T: Pod>(arena: &mut [u8], offset: usize, n_elems: usize) -> &mut [T] {
    view_mut(&mut arena[offset..offset + n_elems * core::mem::size_of::<T>()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_reads_both_sides_of_the_output() {
        let mut arena = Aligned([0u8; 64]);
        arena.0[0] = 1;
        arena.0[48] = 2;
        let (reads, out) = split(&mut arena.0, 16, 16);
        out[0] = 9;
        assert_eq!(reads.bytes(0, 1), &[1]);
        assert_eq!(reads.bytes(48, 1), &[2]);
        assert_eq!(arena.0[16], 9);
    }

    #[test]
    fn split_n_cuts_regions_in_any_order() {
        let mut arena = Aligned([0u8; 64]);
        arena.0[0] = 1;
        arena.0[20] = 2;
        arena.0[63] = 3;
        let (reads, [a, b]) = split_n(&mut arena.0, [(32, 16), (4, 8)]);
        a[0] = 7;
        b[0] = 8;
        assert_eq!(reads.bytes(0, 1), &[1]);
        assert_eq!(reads.bytes(20, 1), &[2]);
        assert_eq!(reads.bytes(63, 1), &[3]);
        assert_eq!((arena.0[32], arena.0[4]), (7, 8));
    }

    #[test]
    fn typed_views_respect_alignment() {
        let mut arena = Aligned([0u8; 32]);
        slice_mut::<f32>(&mut arena.0, 4, 2).copy_from_slice(&[1.5, 2.5]);
        assert_eq!(slice::<f32>(&arena.0, 4, 2), &[1.5, 2.5]);
    }
}
