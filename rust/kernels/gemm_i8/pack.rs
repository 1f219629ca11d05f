//! Packed operands: the 2-byte-aligned buffers a path's packed elements live in, weights packed
//! for one path ([`PackedWeights`], laid out `[row panel][k group][MR][G]` by
//! [`super::tiling::pack_a`]), and the runs of input a B panel's columns read ([`Segments`]), which
//! each path's SIMD packer uses.

use super::source::ConvSource;

/// Element types a packed buffer holds: every bit pattern is a valid value.
///
/// # Safety
/// Implementors are plain integers of alignment ≤ 2.
pub(crate) unsafe trait Plain: Copy + Default + Send + Sync + 'static {}
unsafe impl Plain for i8 {}
unsafe impl Plain for u8 {}
unsafe impl Plain for i16 {}

/// A buffer of packed elements, 2-byte aligned, viewed as the path's element type.
#[derive(Clone, Default)]
pub(crate) struct Buf {
    words: Vec<i16>,
    bytes: usize,
}

impl Buf {
    pub fn zeroed<T: Plain>(len: usize) -> Buf {
        let bytes = len * std::mem::size_of::<T>();
        Buf { words: vec![0; bytes.div_ceil(2)], bytes }
    }

    /// `len` elements as the allocator hands the memory out: no zeroing pass, which on a packed
    /// B the packers overwrite whole was a memset as long as the packing (before the parallel
    /// loop, on the calling thread alone). In tests the bytes are a poison pattern instead, so
    /// that a packer leaving an element unwritten changes the products the tests compare.
    ///
    /// # Safety
    /// Every element is written before it is read.
    pub unsafe fn unwritten<T: Plain>(len: usize) -> Buf {
        let bytes = len * std::mem::size_of::<T>();
        let words = bytes.div_ceil(2);
        let mut v: Vec<i16> = Vec::with_capacity(words);
        if cfg!(test) {
            v.resize(words, 0x5a5a);
        } else {
            // SAFETY: the capacity holds `words` elements, plain integers with no invalid bit
            // pattern, which the caller writes before reading.
            unsafe { v.set_len(words) };
        }
        Buf { words: v, bytes }
    }

    pub fn view<T: Plain>(&self) -> &[T] {
        // SAFETY: T is a plain integer with alignment ≤ 2 (the backing store's), any bit pattern
        // is a valid T, and the length stays within the allocation.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr().cast::<T>(), self.bytes / std::mem::size_of::<T>()) }
    }

    pub fn view_mut<T: Plain>(&mut self) -> &mut [T] {
        // SAFETY: as in `view`, and we hold the only reference.
        unsafe {
            std::slice::from_raw_parts_mut(self.words.as_mut_ptr().cast::<T>(), self.bytes / std::mem::size_of::<T>())
        }
    }
}

/// Weights packed for one path: `m` rows of `k` int8 values (which path is the caller's to know:
/// [`super::PackedA`] keeps it beside them).
pub(crate) struct PackedWeights {
    pub m: usize,
    pub k: usize,
    /// k rounded up to the path's group size.
    pub kp: usize,
    pub data: Buf,
    /// `128·Σ_k w[p][k]` per row for the u8-offset paths, else empty.
    pub comp: Vec<i32>,
}

/// Runs of a panel's columns that are evenly spaced in the input: lanes `a..b` read
/// `data[row + off + (lane − a)·sw]`.
pub(crate) struct Segments {
    pub runs: [(u32, u32, usize); 33],
    pub len: usize,
}

impl Segments {
    pub fn of(src: &ConvSource, j0: usize, nr: usize) -> Segments {
        let mut seg = Segments { runs: [(0, 0, 0); 33], len: 0 };
        let end = (j0 + nr).min(src.n());
        let (sw, sh) = src.stride;
        let mut j = j0;
        while j < end {
            let (oy, ox) = (j / src.ow, j % src.ow);
            let run = (src.ow - ox).min(end - j);
            let off = oy * sh * src.pw + ox * sw;
            let (a, b) = ((j - j0) as u32, (j - j0 + run) as u32);
            match seg.runs[..seg.len].last_mut() {
                // The next output row continues the same input run (a dense or 1×1 unpadded source).
                Some(last) if last.2 + (last.1 - last.0) as usize * sw == off => last.1 = b,
                _ => {
                    seg.runs[seg.len] = (a, b, off);
                    seg.len += 1;
                }
            }
            j += run;
        }
        seg
    }
}

/// Row `row` of B for the panel's columns into `buf` (lanes past the last column stay as they
/// are): the scalar gather the SIMD packers fall back to when a panel is not one contiguous run.
#[inline(always)]
pub(crate) fn gather_runs(src: &ConvSource, seg: &Segments, row: usize, buf: &mut [i8]) {
    let sw = src.stride.0;
    for &(a, b, off) in &seg.runs[..seg.len] {
        for (i, v) in buf[a as usize..b as usize].iter_mut().enumerate() {
            *v = src.data[row + off + i * sw];
        }
    }
}
