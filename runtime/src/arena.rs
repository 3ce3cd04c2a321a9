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

/// Read-only access to the arena outside one node's output region.
#[derive(Clone, Copy)]
pub struct Reads<'a> {
    head: &'a [u8],
    tail: &'a [u8],
    tail_start: usize,
}

/// Splits `arena` into the output region `[offset, offset + len)` and read access to the rest.
#[inline]
pub fn split(arena: &mut [u8], offset: usize, len: usize) -> (Reads<'_>, &mut [u8]) {
    let (head, rest) = arena.split_at_mut(offset);
    let (out, tail) = rest.split_at_mut(len);
    let reads = Reads {
        head,
        tail,
        tail_start: offset + len,
    };
    (reads, out)
}

impl<'a> Reads<'a> {
    /// Read access to the whole arena, for a node whose output lives outside it.
    #[inline]
    pub fn all(arena: &'a [u8]) -> Self {
        Self {
            head: arena,
            tail: &[],
            tail_start: arena.len(),
        }
    }

    /// The bytes `[offset, offset + len)` of the arena; the region never overlaps the output.
    #[inline]
    pub fn bytes(&self, offset: usize, len: usize) -> &'a [u8] {
        if offset >= self.tail_start {
            let start = offset - self.tail_start;
            &self.tail[start..start + len]
        } else {
            &self.head[offset..offset + len]
        }
    }

    /// `n_elems` values of type `T` starting at byte `offset`.
    #[inline]
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
    fn typed_views_respect_alignment() {
        let mut arena = Aligned([0u8; 32]);
        slice_mut::<f32>(&mut arena.0, 4, 2).copy_from_slice(&[1.5, 2.5]);
        assert_eq!(slice::<f32>(&arena.0, 4, 2), &[1.5, 2.5]);
    }
}
