//! Allocations whose size comes from the input (tensor shapes, image sizes, declared counts) are
//! made here, fallibly: a size the process cannot get is [`Error::OutOfMemory`], which Python
//! sees as `MemoryError`, never the abort that `vec![0; n]` ends in when `n` is too large.

use crate::error::{Error, Result};
use std::alloc::Layout;

/// Element types whose all-zero bit pattern is the value zero, so zeroed memory is a valid
/// vector of them.
///
/// # Safety
/// Implement only for types for which every byte being zero is a valid value.
pub unsafe trait Zeroable: Copy {}

// SAFETY: zero bytes are 0 for every integer type and +0.0 for floats.
unsafe impl Zeroable for f32 {}
unsafe impl Zeroable for f64 {}
unsafe impl Zeroable for i8 {}
unsafe impl Zeroable for u8 {}
unsafe impl Zeroable for i16 {}
unsafe impl Zeroable for u16 {}
unsafe impl Zeroable for i32 {}
unsafe impl Zeroable for u32 {}
unsafe impl Zeroable for i64 {}
unsafe impl Zeroable for u64 {}
unsafe impl Zeroable for usize {}

fn too_large<T>(n: usize) -> Error {
    let bytes = n as u128 * std::mem::size_of::<T>() as u128;
    Error::out_of_memory(format!("{bytes} bytes ({n} values)"))
}

/// The number of values in a block of these extents; a product that overflows is a size no
/// memory holds.
pub fn count(extents: &[usize]) -> Result<usize> {
    extents.iter().try_fold(1usize, |n, &e| n.checked_mul(e)).ok_or_else(|| {
        let shape: Vec<String> = extents.iter().map(ToString::to_string).collect();
        Error::out_of_memory(format!("a block of {} values (more than the address space)", shape.join("×")))
    })
}

/// `n` zeros from zeroed memory (`calloc`: pages are not touched until written, as with
/// `vec![0; n]`).
pub fn zeroed<T: Zeroable>(n: usize) -> Result<Vec<T>> {
    let layout = Layout::array::<T>(n).map_err(|_| too_large::<T>(n))?;
    if layout.size() == 0 {
        return Ok(Vec::new());
    }
    // SAFETY: the layout has a non-zero size.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<T>();
    if ptr.is_null() {
        return Err(too_large::<T>(n));
    }
    // SAFETY: allocated by the global allocator with the layout of `[T; n]`; every element is
    // all-zero bytes, a valid `T` (`Zeroable`).
    Ok(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, n)) }.into_vec())
}

/// `n` values that `fill` writes, without a zeroing pass first (on a recycled block `zeroed` is
/// a memset as long as the write that follows). `fill` must write every element: it gets the
/// memory as the allocator hands it out, which for these plain types is any bit pattern.
///
/// # Safety
/// `fill` writes every element before reading any.
pub unsafe fn overwritten<T: Zeroable>(n: usize, fill: impl FnOnce(&mut [T])) -> Result<Vec<T>> {
    // SAFETY: `fill` writes each element before anything reads it (the caller's promise).
    let mut v = unsafe { unwritten(n)? };
    fill(&mut v);
    Ok(v)
}

/// `n` values as the allocator hands the memory out (no zeroing pass).
///
/// # Safety
/// The caller writes every element before reading any: `Zeroable` types are plain data with no
/// invalid bit pattern and no drop, but the memory's contents are unspecified.
pub unsafe fn unwritten<T: Zeroable>(n: usize) -> Result<Vec<T>> {
    let mut v: Vec<T> = with_capacity(n)?;
    // SAFETY: the capacity holds `n` elements; see the function's contract for their contents.
    unsafe { v.set_len(n) };
    Ok(v)
}

/// `n` copies of `value`.
pub fn filled<T: Clone>(n: usize, value: T) -> Result<Vec<T>> {
    let mut v = with_capacity(n)?;
    v.resize(n, value);
    Ok(v)
}

/// An empty vector with room for `n` values.
pub fn with_capacity<T>(n: usize) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| too_large::<T>(n))?;
    Ok(v)
}

/// The values of an iterator of known length, collected into memory reserved up front.
pub fn collect<T>(values: impl ExactSizeIterator<Item = T>) -> Result<Vec<T>> {
    let mut v = with_capacity(values.len())?;
    v.extend(values);
    Ok(v)
}

/// A copy of a slice.
pub fn copy<T: Clone>(values: &[T]) -> Result<Vec<T>> {
    let mut v = with_capacity(values.len())?;
    v.extend_from_slice(values);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_the_machine_cannot_hold_are_errors() {
        for e in [zeroed::<f32>(usize::MAX / 2).unwrap_err(), filled(1 << 62, 0u8).unwrap_err()] {
            assert!(matches!(e, Error::OutOfMemory { .. }), "{e}");
            assert!(e.to_string().contains("out of memory"), "{e}");
        }
        assert!(zeroed::<f32>(1 << 46).is_err(), "256 TiB");
    }

    #[test]
    fn small_sizes_are_ordinary_vectors() {
        assert_eq!(zeroed::<i32>(3).unwrap(), vec![0, 0, 0]);
        assert_eq!(zeroed::<f32>(0).unwrap(), Vec::<f32>::new());
        assert_eq!(filled(2, 7u8).unwrap(), vec![7, 7]);
        assert_eq!(collect([1, 2].into_iter()).unwrap(), vec![1, 2]);
        assert_eq!(copy(&[1.5f32]).unwrap(), vec![1.5]);
        // SAFETY: the closure writes all 5 elements.
        let written =
            unsafe { overwritten(5, |o: &mut [u16]| o.iter_mut().enumerate().for_each(|(i, v)| *v = i as u16 * 3)) };
        assert_eq!(written.unwrap(), vec![0, 3, 6, 9, 12]);
        // SAFETY: the allocation fails, so nothing is read.
        assert!(unsafe { overwritten::<f32>(usize::MAX / 2, |_| unreachable!("no memory, no call")) }.is_err());
    }
}
