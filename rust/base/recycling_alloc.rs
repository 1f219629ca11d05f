//! The crate's global allocator: the system allocator, except that large blocks are kept when
//! freed and handed out again.
//!
//! Why: a network run allocates every blob and every kernel's scratch afresh. glibc serves blocks
//! over its mmap threshold with fresh mappings and returns them to the system on free, so the next
//! run page-faults every page of every large blob in again (the kernel zeroing each one): on
//! vgg16 (blobs of 12 MB) that was a fifth of the run. ncnn avoids it with pool allocators; this
//! is the same idea for every allocation of the crate, with no change to the code that allocates.
//!
//! Blocks of at least [`LARGE`] bytes are rounded up to a size class (eight per doubling, so at
//! most 12.5 % more than asked) and, when freed, kept in a small cache (at most [`SLOTS`] blocks
//! and [`CACHE_BYTES`] bytes, the oldest given back first) from which a request of the same class
//! and alignment is served. Everything smaller goes straight to the system allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;
use std::sync::{Mutex, PoisonError};

/// The smallest block that is recycled, well below glibc's mmap threshold (128 KB by default).
/// Blobs of 32–256 KB (a 56×56×16 int8 blob, a 14×14×256 or 7×7×1024 float one) are most of a
/// small network's: glibc mapped those above 128 KB afresh on every run and trimmed the smaller
/// ones from the heap's top after it, so at 256 KB `squeezenet_v1.1` faulted ~210 pages in per
/// run (a tenth of its int8 time) and mobilenet's conv6/dw took 0.16 ms against 0.05; at 32 KB
/// none.
pub const LARGE: usize = 32 << 10;
/// At most this many blocks are kept.
pub const SLOTS: usize = 256;
/// At most this many bytes are kept.
pub const CACHE_BYTES: usize = 512 << 20;

#[derive(Clone, Copy)]
struct Block {
    ptr: *mut u8,
    size: usize,
    align: usize,
}

struct Cache {
    /// Oldest first; `len` of them are live.
    blocks: [Block; SLOTS],
    len: usize,
    bytes: usize,
}

// SAFETY: the cache owns the blocks it holds (raw pointers to memory nobody else references).
unsafe impl Send for Cache {}

/// The allocator: [`System`] with a cache of large freed blocks (see the module's doc).
pub struct Recycling {
    cache: Mutex<Cache>,
}

/// The size class of a large request: rounded up to a multiple of a sixteenth of the power of two
/// at or above it (eight classes per doubling).
fn class_size(size: usize) -> usize {
    let step = (size.next_power_of_two() / 16).max(4096);
    size.div_ceil(step) * step
}

impl Recycling {
    pub const fn new() -> Self {
        let empty = Block { ptr: ptr::null_mut(), size: 0, align: 0 };
        Recycling { cache: Mutex::new(Cache { blocks: [empty; SLOTS], len: 0, bytes: 0 }) }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A cached block of this class and alignment, taken out of the cache.
    fn take(&self, size: usize, align: usize) -> Option<*mut u8> {
        let mut c = self.cache();
        let len = c.len;
        // Newest first: the block most likely still in cache.
        let i = (0..len).rev().find(|&i| c.blocks[i].size == size && c.blocks[i].align == align)?;
        let block = c.blocks[i];
        c.blocks.copy_within(i + 1..len, i);
        c.len -= 1;
        c.bytes -= size;
        Some(block.ptr)
    }

    /// Keeps a freed block, giving the oldest back to the system to make room.
    fn keep(&self, block: Block) {
        let mut evicted = [Block { ptr: ptr::null_mut(), size: 0, align: 0 }; SLOTS];
        let mut n_evicted = 0;
        let kept = {
            let mut c = self.cache();
            if block.size > CACHE_BYTES {
                false
            } else {
                while c.len == SLOTS || c.bytes + block.size > CACHE_BYTES {
                    let oldest = c.blocks[0];
                    let len = c.len;
                    c.blocks.copy_within(1..len, 0);
                    c.len -= 1;
                    c.bytes -= oldest.size;
                    evicted[n_evicted] = oldest;
                    n_evicted += 1;
                }
                let len = c.len;
                c.blocks[len] = block;
                c.len += 1;
                c.bytes += block.size;
                true
            }
        };
        // Outside the lock: the system allocator may take its time.
        for b in &evicted[..n_evicted] {
            // SAFETY: every cached block came from System with exactly this size and alignment.
            unsafe { System.dealloc(b.ptr, Layout::from_size_align_unchecked(b.size, b.align)) };
        }
        if !kept {
            // SAFETY: as above.
            unsafe { System.dealloc(block.ptr, Layout::from_size_align_unchecked(block.size, block.align)) };
        }
    }

    /// Gives every cached block back to the system; whether there was any.
    fn release(&self) -> bool {
        let mut taken = [Block { ptr: ptr::null_mut(), size: 0, align: 0 }; SLOTS];
        let n = {
            let mut c = self.cache();
            let n = c.len;
            taken[..n].copy_from_slice(&c.blocks[..n]);
            c.len = 0;
            c.bytes = 0;
            n
        };
        for b in &taken[..n] {
            // SAFETY: every cached block came from System with exactly this size and alignment.
            unsafe { System.dealloc(b.ptr, Layout::from_size_align_unchecked(b.size, b.align)) };
        }
        n > 0
    }

    /// Blocks held in the cache and their bytes.
    pub fn cached(&self) -> (usize, usize) {
        let c = self.cache();
        (c.len, c.bytes)
    }

    /// A large block of `layout`'s class: cached (and then zeroed when asked) or new.
    unsafe fn alloc_large(&self, layout: Layout, zeroed: bool) -> *mut u8 {
        let size = class_size(layout.size());
        if let Some(p) = self.take(size, layout.align()) {
            if zeroed {
                // SAFETY: the block has `size` bytes.
                unsafe { ptr::write_bytes(p, 0, layout.size()) };
            }
            return p;
        }
        if size > isize::MAX as usize - (layout.align() - 1) {
            return ptr::null_mut(); // rounded up past what a layout may describe: no system has it
        }
        // SAFETY: size is non-zero and, with the check above, a valid layout's size.
        let class = unsafe { Layout::from_size_align_unchecked(size, layout.align()) };
        // SAFETY: a non-zero layout.
        let fresh = || unsafe {
            if zeroed {
                System.alloc_zeroed(class)
            } else {
                System.alloc(class)
            }
        };
        let p = fresh();
        // Out of memory (or address space) while the cache holds blocks of other classes: they
        // are memory this request may need, so give them back and ask once more, rather than
        // report out of memory with hundreds of MB idle here.
        if p.is_null() && self.release() {
            return fresh();
        }
        p
    }
}

impl Default for Recycling {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: small layouts are the system allocator's; a large block is always allocated with its
// class's size (a function of the requested size only) and the requested alignment, so a block
// handed back with the request's layout is recognised, cached or freed with the layout it has.
unsafe impl GlobalAlloc for Recycling {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout is valid and non-zero.
        unsafe {
            if layout.size() < LARGE {
                System.alloc(layout)
            } else {
                self.alloc_large(layout, false)
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in alloc.
        unsafe {
            if layout.size() < LARGE {
                System.alloc_zeroed(layout)
            } else {
                self.alloc_large(layout, true)
            }
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if layout.size() < LARGE {
            // SAFETY: a small block came from System with this layout.
            unsafe { System.dealloc(p, layout) };
        } else {
            self.keep(Block { ptr: p, size: class_size(layout.size()), align: layout.align() });
        }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.size() < LARGE && new_size < LARGE {
            // SAFETY: the caller's contract, and the block is the system's.
            return unsafe { System.realloc(p, layout, new_size) };
        }
        if layout.size() >= LARGE && new_size >= LARGE && class_size(layout.size()) == class_size(new_size) {
            return p;
        }
        // SAFETY: the caller guarantees new_size with layout's alignment is a valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: a valid non-zero layout; the old block holds layout.size() bytes.
        unsafe {
            let q = self.alloc(new_layout);
            if !q.is_null() {
                ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
                self.dealloc(p, layout);
            }
            q
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 4).unwrap()
    }

    #[test]
    fn classes_round_up_by_at_most_an_eighth() {
        for size in [LARGE, LARGE + 1, 300_000, 1 << 20, (1 << 20) + 1, 12_845_056, 100_000_007] {
            let c = class_size(size);
            assert!(c >= size && c - size <= size / 8 + 4096, "{size} -> {c}");
            assert_eq!(class_size(c), c, "a class is its own class");
        }
    }

    #[test]
    fn freed_large_blocks_are_reused_and_zeroed_on_request() {
        let a = Recycling::new();
        unsafe {
            let p = a.alloc(layout(1 << 20));
            p.write_bytes(7, 1 << 20);
            a.dealloc(p, layout(1 << 20));
            assert_eq!(a.cached(), (1, class_size(1 << 20)));
            // A request of the same class (a little smaller) gets the same block, zeroed.
            let q = a.alloc_zeroed(layout((1 << 20) - 100));
            assert_eq!(q, p);
            assert!(std::slice::from_raw_parts(q, (1 << 20) - 100).iter().all(|&b| b == 0));
            assert_eq!(a.cached(), (0, 0));
            // Another class or alignment does not.
            a.dealloc(q, layout((1 << 20) - 100));
            let r = a.alloc(layout(3 << 20));
            assert_ne!(r, p);
            let wide = Layout::from_size_align(1 << 20, 64).unwrap();
            let s = a.alloc(wide);
            assert_eq!(a.cached().0, 1);
            a.dealloc(r, layout(3 << 20));
            a.dealloc(s, wide);
            assert_eq!(a.cached().0, 3);
        }
    }

    #[test]
    fn release_gives_every_cached_block_back() {
        let a = Recycling::new();
        unsafe {
            for size in [1 << 20, 3 << 20, 5 << 20] {
                let p = a.alloc(layout(size));
                a.dealloc(p, layout(size));
            }
            assert_eq!(a.cached().0, 3);
            assert!(a.release());
            assert_eq!(a.cached(), (0, 0));
            assert!(!a.release(), "nothing left to give back");
            // A request no system can serve is null, not a layout past isize::MAX.
            assert!(a.alloc(Layout::from_size_align(isize::MAX as usize - 4096, 4096).unwrap()).is_null());
        }
    }

    #[test]
    fn small_blocks_are_not_cached() {
        let a = Recycling::new();
        unsafe {
            let p = a.alloc(layout(LARGE - 1));
            a.dealloc(p, layout(LARGE - 1));
        }
        assert_eq!(a.cached(), (0, 0));
    }

    #[test]
    fn the_cache_stays_within_its_bounds() {
        let a = Recycling::new();
        let big = CACHE_BYTES / 3;
        unsafe {
            let blocks: Vec<_> = (0..4).map(|_| a.alloc(layout(big))).collect();
            for &p in &blocks {
                a.dealloc(p, layout(big));
            }
            let (n, bytes) = a.cached();
            assert!(bytes <= CACHE_BYTES && n == CACHE_BYTES / class_size(big), "{n} blocks, {bytes} bytes");
            let many: Vec<_> = (0..SLOTS + 5).map(|_| a.alloc(layout(LARGE))).collect();
            for &p in &many {
                a.dealloc(p, layout(LARGE));
            }
            assert_eq!(a.cached().0, SLOTS);
            // A block larger than the whole cache goes back to the system (never touched: only
            // address space).
            let before = a.cached();
            let p = a.alloc(layout(CACHE_BYTES + 1));
            assert!(!p.is_null());
            a.dealloc(p, layout(CACHE_BYTES + 1));
            assert_eq!(a.cached(), before);
        }
    }

    #[test]
    fn realloc_keeps_the_contents_across_the_threshold() {
        let a = Recycling::new();
        unsafe {
            let p = a.alloc(layout(1000));
            for i in 0..1000 {
                *p.add(i) = (i % 251) as u8;
            }
            let q = a.realloc(p, layout(1000), 2 * LARGE);
            let r = a.realloc(q, layout(2 * LARGE), 2 * LARGE - 10);
            assert_eq!(q, r, "same class: same block");
            let s = a.realloc(r, layout(2 * LARGE - 10), 500);
            assert!((0..500).all(|i| *s.add(i) == (i % 251) as u8));
            a.dealloc(s, layout(500));
        }
    }
}
