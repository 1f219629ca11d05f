//! The thread pool kernels and layers split their work on.
//!
//! A [`Pool`] of `threads` threads is the calling thread plus `threads - 1` workers. While
//! [`Pool::install`] runs a closure (one network run) on the calling thread, the workers stay hot:
//! they spin between parallel loops instead of sleeping, so a small layer does not pay a wake-up,
//! and the calling thread takes its share of every loop. Outside an install the workers park.
//!
//! A parallel loop ([`for_each`] and the chunk helpers) hands out indices one at a time from a
//! shared counter: whichever thread is free takes the next one, so both cores finish together
//! even when one is slowed by another process, and a worker that arrives late (descheduled by a
//! busy machine) just finds less work instead of holding the loop up. A loop returns once every
//! index has run. Loops outside an install, inside another loop's body, or on a 1-thread pool run
//! on the calling thread in order.
//!
//! # Protocol
//! One 64-bit word holds the current loop's unclaimed indices, start..end. The owner (the
//! installing thread) points `job` at the loop's closure, resets `done` and stores the word
//! (0..n, Release). Workers spin on the word; a thread claims an index by a CAS (Acquire) that
//! takes it off the range with start < end (the owner the first one, start, a worker the last,
//! end - 1), then reads `job` and runs it. A claim can only succeed on the loop that is
//! current, and that loop cannot end (so its closure stays alive) before `done` counts the
//! claimed index: a thread adds the indices it ran to `done` when it finds none left (Release),
//! and the owner returns once `done` reaches n. A worker that arrives late finds no index left,
//! adds 0 and touches nothing else; the owner never waits for a worker that holds no index.

use super::pool_stats::{Counters, PoolStats};
use std::any::Any;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long workers keep spinning after an install ends (back-to-back runs find them hot).
const GRACE: Duration = Duration::from_micros(300);
/// How long a thread of a running install waits without yielding its core: a worker for the
/// next loop, the caller for the other threads' last jobs of a loop (OpenMP's default spin
/// before sleeping is of this order).
const HOT_SPIN: Duration = Duration::from_micros(200);
/// Spins between yields while waiting: long enough to catch the next loop of a run without a
/// system call, short enough to let another runnable thread have the core on a busy machine.
const SPINS_PER_YIELD: u32 = 256;

/// The closure of the current loop (lives on the owner's stack while the loop runs).
struct Job<'a> {
    f: &'a (dyn Fn(usize) + Sync),
}

/// (n, next) in one word.
fn pack(n: usize, next: usize) -> u64 {
    ((n as u64) << 32) | next as u64
}

fn unpack(word: u64) -> (usize, usize) {
    ((word >> 32) as usize, (word & 0xffff_ffff) as usize)
}

/// Indices per loop the word can count; longer loops run in rounds.
const MAX_INDICES: usize = u32::MAX as usize;

/// A value on a cache line of its own: the claim word and the done count are written by every
/// thread, and sharing a line would make each write take it from the others.
#[repr(align(128))]
struct Line<T>(T);

impl<T> std::ops::Deref for Line<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

struct Shared {
    threads: usize,
    /// (n, next) of the current loop.
    word: Line<AtomicU64>,
    job: AtomicPtr<Job<'static>>,
    /// Indices of the current loop that have finished (a thread adds its count when it finds no
    /// index left, so the owner never frees a closure a thread may still run).
    done: Line<AtomicUsize>,
    /// A job panicked: the rest of the loop's indices are skipped.
    abort: AtomicBool,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    /// An install is running: workers spin rather than park.
    hot: AtomicBool,
    /// When the last install ended (workers park [`GRACE`] later).
    cooled: Mutex<Instant>,
    parked: Mutex<usize>,
    wake: Condvar,
    shutdown: AtomicBool,
    /// Serializes installs from different threads.
    owner: Mutex<()>,
    /// Opt-in profiling counters (`NCNNQ_POOL_STATS`).
    stats: Option<Box<Counters>>,
}

/// What this thread's parallel loops use.
#[derive(Clone, Copy)]
struct Context {
    pool: *const Shared,
    worker: usize,
    in_job: bool,
}

thread_local! {
    static CONTEXT: Cell<Context> = const { Cell::new(Context { pool: std::ptr::null(), worker: 0, in_job: false }) };
}

/// Sets this thread's context for a scope and restores the previous one, also on unwind.
struct Scope(Context);

impl Scope {
    fn enter(ctx: Context) -> Scope {
        Scope(CONTEXT.with(|c| c.replace(ctx)))
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        CONTEXT.with(|c| c.set(self.0));
    }
}

/// The calling thread and `threads - 1` workers.
pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Starts `threads - 1` workers (none for 1).
    pub fn new(threads: usize) -> std::io::Result<Pool> {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            threads,
            word: Line(AtomicU64::new(0)),
            job: AtomicPtr::new(std::ptr::null_mut()),
            done: Line(AtomicUsize::new(0)),
            abort: AtomicBool::new(false),
            panic: Mutex::new(None),
            hot: AtomicBool::new(false),
            cooled: Mutex::new(Instant::now()),
            parked: Mutex::new(0),
            wake: Condvar::new(),
            shutdown: AtomicBool::new(false),
            owner: Mutex::new(()),
            stats: Counters::from_env(threads),
        });
        let mut pool = Pool { shared, workers: Vec::with_capacity(threads - 1) };
        for i in 1..threads {
            let s = pool.shared.clone();
            // On failure, dropping `pool` stops the workers already started.
            let h = std::thread::Builder::new().name(format!("ncnnq-{i}")).spawn(move || worker(&s, i))?;
            pool.workers.push(h);
        }
        Ok(pool)
    }

    pub fn threads(&self) -> usize {
        self.shared.threads
    }

    /// Runs `f` on the calling thread with this pool serving its parallel loops; the workers
    /// stay hot until it returns. Installs from other threads wait; a nested install of the same
    /// pool just runs `f`.
    pub fn install<R>(&self, f: impl FnOnce() -> R) -> R {
        let me: *const Shared = &raw const *self.shared;
        let ctx = CONTEXT.with(Cell::get);
        if std::ptr::eq(ctx.pool, me) {
            return f();
        }
        let _owner = self.shared.owner.lock().unwrap_or_else(PoisonError::into_inner);
        let _scope = Scope::enter(Context { pool: me, worker: 0, in_job: false });
        let _hot = Hot::start(&self.shared);
        f()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        {
            let _g = self.shared.parked.lock().unwrap_or_else(PoisonError::into_inner);
            self.shared.wake.notify_all();
        }
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }
}

/// Marks an install: wakes parked workers; on drop lets them cool down and park.
struct Hot<'a>(&'a Shared);

impl<'a> Hot<'a> {
    fn start(s: &'a Shared) -> Hot<'a> {
        s.hot.store(true, Ordering::SeqCst);
        let parked = s.parked.lock().unwrap_or_else(PoisonError::into_inner);
        if *parked > 0 {
            s.wake.notify_all();
        }
        Hot(s)
    }
}

impl Drop for Hot<'_> {
    fn drop(&mut self) {
        *self.0.cooled.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.0.hot.store(false, Ordering::SeqCst);
    }
}

fn worker(s: &Shared, index: usize) {
    let mut spins = 0u32;
    // When this worker last had work (or started waiting for it).
    let mut idle_since = Instant::now();
    loop {
        if s.shutdown.load(Ordering::Acquire) {
            return;
        }
        let (n, next) = unpack(s.word.load(Ordering::Relaxed));
        if next < n {
            spins = 0;
            let _scope = Scope::enter(Context { pool: s, worker: index, in_job: true });
            take_indices(s, index);
            idle_since = Instant::now();
            continue;
        }
        spins += 1;
        if spins < SPINS_PER_YIELD {
            std::hint::spin_loop();
            continue;
        }
        spins = 0;
        if s.hot.load(Ordering::SeqCst) {
            // Between the loops of a run, keep the core: a yield on a busy machine hands it to
            // another process for a time slice, and the run's next loops find no worker (on two
            // cores shared with other work, 2-thread loops then ran as slow as 1-thread ones).
            // After a long serial stretch, yield so as not to hold a core the caller may need.
            if idle_since.elapsed() >= HOT_SPIN {
                std::thread::yield_now();
            }
            continue;
        }
        if s.cooled.lock().unwrap_or_else(PoisonError::into_inner).elapsed() < GRACE {
            std::thread::yield_now();
            continue;
        }
        let mut parked = s.parked.lock().unwrap_or_else(PoisonError::into_inner);
        *parked += 1;
        while !s.hot.load(Ordering::SeqCst) && !s.shutdown.load(Ordering::SeqCst) {
            parked = s.wake.wait(parked).unwrap_or_else(PoisonError::into_inner);
        }
        *parked -= 1;
    }
}

/// Claims and runs indices of the current loop until none is left (counted as thread
/// `thread`'s busy time when the pool keeps stats).
fn take_indices(s: &Shared, thread: usize) {
    let from_back = thread != 0;
    match &s.stats {
        None => _ = run_indices(s, from_back),
        Some(c) => c.busy(thread, || run_indices(s, from_back)),
    }
}

/// Claims and runs indices of the current loop until none is left; how many it ran. The calling
/// thread claims from the front, the workers from the back: consecutive loops split the same way
/// (a layer's output columns, the next layer's input columns) then give each thread mostly the
/// part it wrote itself, still in its core's cache, rather than an interleaving that makes every
/// other job fetch its input from the other core.
fn run_indices(s: &Shared, from_back: bool) -> u64 {
    let mut ran = 0usize;
    let mut word = s.word.load(Ordering::Relaxed);
    loop {
        let (end, start) = unpack(word);
        if start >= end {
            // Counted once on the way out rather than per index: `done` sits on a line of its
            // own, and each add would take it from the other thread.
            s.done.fetch_add(ran, Ordering::Release);
            return ran as u64;
        }
        let (claimed, next) = if from_back { (pack(end - 1, start), end - 1) } else { (pack(end, start + 1), start) };
        if let Err(now) = s.word.compare_exchange_weak(word, claimed, Ordering::Acquire, Ordering::Relaxed) {
            word = now;
            continue;
        }
        if !s.abort.load(Ordering::Relaxed) {
            // SAFETY: the claimed index keeps the loop, and so its closure, alive until `done`
            // counts it; the Acquire claim saw the owner's store of `job`.
            let job = unsafe { &*s.job.load(Ordering::Acquire) };
            let run = || panic::catch_unwind(AssertUnwindSafe(|| (job.f)(next)));
            let result = match &s.stats {
                None => run(),
                Some(c) => c.job(next, run),
            };
            if let Err(p) = result {
                s.abort.store(true, Ordering::Relaxed);
                s.panic.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(p);
            }
        }
        ran += 1;
        word = s.word.load(Ordering::Relaxed);
    }
}

/// The profiling counters of the pool this thread's loops run on, if it keeps them
/// (`NCNNQ_POOL_STATS`; see [`super::pool_stats`]).
pub fn current_stats() -> Option<PoolStats> {
    let ctx = CONTEXT.with(Cell::get);
    // SAFETY: the pool outlives the install that set the context.
    let s = (!ctx.pool.is_null()).then(|| unsafe { &*ctx.pool })?;
    s.stats.as_ref().map(|c| c.snapshot())
}

/// How many threads this thread's parallel loops run on (1 outside an install or inside a loop).
pub fn current_threads() -> usize {
    let ctx = CONTEXT.with(Cell::get);
    if ctx.pool.is_null() || ctx.in_job {
        1
    } else {
        // SAFETY: the pool outlives the install that set the context.
        unsafe { (*ctx.pool).threads }
    }
}

/// Runs `f` with this thread's parallel loops on this thread alone (e.g. one sample of many that
/// run side by side on their own threads).
pub fn serial<R>(f: impl FnOnce() -> R) -> R {
    let _scope = Scope::enter(Context { pool: std::ptr::null(), worker: 0, in_job: false });
    f()
}

/// This thread's index in the pool it serves (0: the installing thread), if any.
pub fn current_worker() -> Option<usize> {
    let ctx = CONTEXT.with(Cell::get);
    (!ctx.pool.is_null()).then_some(ctx.worker)
}

/// Runs `f(i)` for every i in 0..n on the current pool's threads (the caller takes part) and
/// returns when all have run. A panic in any `f(i)` is re-raised here once the loop has stopped.
pub fn for_each(n: usize, f: impl Fn(usize) + Sync) {
    if n <= 1 || current_threads() == 1 {
        (0..n).for_each(f);
        return;
    }
    let ctx = CONTEXT.with(Cell::get);
    // SAFETY: set by the install this call runs inside, which keeps the pool until it returns.
    let s = unsafe { &*ctx.pool };
    let _scope = Scope::enter(Context { in_job: true, ..ctx });
    for start in (0..n).step_by(MAX_INDICES) {
        let len = (n - start).min(MAX_INDICES);
        let shifted = |i: usize| f(start + i);
        let job = Job { f: &shifted };
        s.job.store(&raw const job as *mut Job<'static>, Ordering::Relaxed);
        s.done.store(0, Ordering::Relaxed);
        s.abort.store(false, Ordering::Relaxed);
        let start = s.stats.as_ref().map(|_| Instant::now());
        s.word.store(pack(len, 0), Ordering::Release);
        take_indices(s, 0);
        let wait = s.stats.as_ref().map(|_| Instant::now());
        // The other threads are running their last jobs: spin for them without handing the
        // core away (a yield on a busy machine gives it to another process for a time slice,
        // and the run stalls after the worker is done); yield only once they take long, as when
        // one was preempted holding an index.
        let mut spins = 0u32;
        let mut waiting_since = None;
        while s.done.load(Ordering::Acquire) < len {
            spins += 1;
            if spins.is_multiple_of(SPINS_PER_YIELD) {
                if waiting_since.get_or_insert_with(Instant::now).elapsed() >= HOT_SPIN {
                    std::thread::yield_now();
                }
            } else {
                std::hint::spin_loop();
            }
        }
        if let (Some(c), Some(start), Some(wait)) = (&s.stats, start, wait) {
            c.end_loop(start, wait);
        }
        if let Some(p) = s.panic.lock().unwrap_or_else(PoisonError::into_inner).take() {
            panic::resume_unwind(p);
        }
    }
}

/// A pointer that may cross threads: each job touches its own part of the slice behind it.
pub(crate) struct SendPtr<T>(pub(crate) *mut T);
impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendPtr<T> {}
unsafe impl<T: Send> Send for SendPtr<T> {}
unsafe impl<T: Send> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    pub(crate) fn get(self) -> *mut T {
        self.0
    }
}

/// `f(i, chunk)` for the chunks of `size` elements of `data` (the last may be shorter), in jobs
/// of at least `min_chunks` chunks (a little fewer where that makes a few jobs share out evenly
/// between the threads).
pub fn for_each_chunk<T: Send>(data: &mut [T], size: usize, min_chunks: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    for_each_chunk_with(data, size, min_chunks, |(): &mut (), i, chunk| f(i, chunk));
}

/// As [`for_each_chunk`], with a scratch value made once per job and passed to each chunk's call.
pub fn for_each_chunk_with<T: Send, S: Default>(
    data: &mut [T],
    size: usize,
    min_chunks: usize,
    f: impl Fn(&mut S, usize, &mut [T]) + Sync,
) {
    let size = size.max(1);
    let len = data.len();
    let chunks = len.div_ceil(size);
    let mut per_job = min_chunks.max(1);
    let (jobs, threads) = (chunks.div_ceil(per_job), current_threads());
    if threads > 1 && jobs > 1 && jobs < 4 * threads && !jobs.is_multiple_of(threads) {
        // A few jobs that do not share out evenly (5 on 2 threads: one thread runs 3, the other
        // waits a job's time): make as many as a multiple of the threads, slightly smaller.
        per_job = chunks.div_ceil(jobs.next_multiple_of(threads));
    }
    let ptr = SendPtr(data.as_mut_ptr());
    for_each(chunks.div_ceil(per_job), |job| {
        let mut scratch = S::default();
        for i in job * per_job..((job + 1) * per_job).min(chunks) {
            let start = i * size;
            // SAFETY: chunks are disjoint and within `data`, which outlives the loop.
            let chunk = unsafe { std::slice::from_raw_parts_mut(ptr.get().add(start), size.min(len - start)) };
            f(&mut scratch, i, chunk);
        }
    });
}

/// As [`for_each_chunk`] for an `f` that can fail (e.g. on an allocation sized by the input):
/// every chunk runs, and the error of the lowest-numbered chunk that failed is returned.
pub fn try_for_each_chunk<T: Send, E: Send>(
    data: &mut [T],
    size: usize,
    min_chunks: usize,
    f: impl Fn(usize, &mut [T]) -> Result<(), E> + Sync,
) -> Result<(), E> {
    let first: Mutex<Option<(usize, E)>> = Mutex::new(None);
    for_each_chunk(data, size, min_chunks, |i, chunk| {
        if let Err(e) = f(i, chunk) {
            let mut first = first.lock().unwrap_or_else(PoisonError::into_inner);
            if first.as_ref().is_none_or(|(j, _)| i < *j) {
                *first = Some((i, e));
            }
        }
    });
    match first.into_inner().unwrap_or_else(PoisonError::into_inner) {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

/// `[f(0), .., f(n-1)]`, computed on the current pool's threads.
pub fn map<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    for_each_chunk(&mut out, 1, 1, |i, slot| slot[0] = Some(f(i)));
    out.into_iter().map(|v| v.expect("every index ran")).collect()
}

/// Chunks per job so that each job handles at least `min_elements` elements.
pub fn min_chunks(size: usize, min_elements: usize) -> usize {
    min_elements.div_ceil(size.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn a_failing_chunk_is_reported_after_every_chunk_ran() {
        for threads in 1..=3 {
            let pool = Pool::new(threads).expect("pool");
            let mut data = vec![0u32; 100];
            let got = pool.install(|| {
                try_for_each_chunk(&mut data, 10, 1, |i, chunk| {
                    chunk.fill(1);
                    if i % 4 == 3 {
                        Err(i)
                    } else {
                        Ok(())
                    }
                })
            });
            assert_eq!(got, Err(3), "the lowest failing chunk, threads {threads}");
            assert!(data.iter().all(|&v| v == 1));
            let ok = pool.install(|| try_for_each_chunk(&mut data, 7, 2, |_, _| Ok::<(), ()>(())));
            assert_eq!(ok, Ok(()));
        }
    }

    #[test]
    fn every_index_runs_once_on_every_pool_size() {
        for threads in 1..=4 {
            let pool = Pool::new(threads).expect("pool");
            for n in [0, 1, 2, 3, 7, 64, 1000] {
                let hits: Vec<AtomicU64> = (0..n).map(|_| AtomicU64::new(0)).collect();
                pool.install(|| for_each(n, |i| _ = hits[i].fetch_add(1, Ordering::Relaxed)));
                assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1), "threads {threads}, n {n}");
            }
        }
    }

    #[test]
    fn workers_take_part_and_nested_loops_run_inline() {
        let pool = Pool::new(3).expect("pool");
        let seen = Mutex::new(std::collections::BTreeSet::new());
        pool.install(|| {
            assert_eq!(current_threads(), 3);
            // On a loaded host the calling thread can finish whole loops before a worker is
            // scheduled, so keep looping (up to a deadline) until a worker has taken part.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            let mut rounds = 0;
            while rounds < 200 || (seen.lock().unwrap().len() < 2 && std::time::Instant::now() < deadline) {
                rounds += 1;
                for_each(64, |_| {
                    assert_eq!(current_threads(), 1, "inside a loop, loops run inline");
                    let inner = AtomicU64::new(0);
                    for_each(5, |_| _ = inner.fetch_add(1, Ordering::Relaxed));
                    assert_eq!(inner.load(Ordering::Relaxed), 5);
                    seen.lock().unwrap().insert(current_worker().expect("in a pool"));
                    std::hint::black_box((0..2000).sum::<u64>());
                });
            }
        });
        assert_eq!(current_threads(), 1);
        assert!(seen.lock().unwrap().len() > 1, "only {:?} took part", seen.lock().unwrap());
    }

    #[test]
    fn chunks_cover_the_slice_once() {
        let pool = Pool::new(2).expect("pool");
        let mut data = vec![0u32; 1001];
        pool.install(|| {
            for_each_chunk(&mut data, 10, 3, |i, c| {
                assert!(c.len() == 10 || (i == 100 && c.len() == 1));
                for v in c.iter_mut() {
                    *v += i as u32 + 1;
                }
            });
        });
        assert!(data.iter().enumerate().all(|(j, &v)| v == (j / 10) as u32 + 1));
    }

    #[test]
    fn a_panic_in_a_job_reaches_the_caller_and_the_pool_still_works() {
        let pool = Pool::new(2).expect("pool");
        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            pool.install(|| for_each(100, |i| assert!(i != 57, "job 57")));
        }));
        assert!(r.is_err());
        let count = AtomicU64::new(0);
        pool.install(|| for_each(100, |_| _ = count.fetch_add(1, Ordering::Relaxed)));
        assert_eq!(count.load(Ordering::Relaxed), 100);
    }

    #[test]
    fn installs_from_several_threads_and_nested_installs() {
        let pool = Pool::new(2).expect("pool");
        let total = AtomicU64::new(0);
        std::thread::scope(|sc| {
            for _ in 0..3 {
                sc.spawn(|| {
                    for _ in 0..50 {
                        pool.install(|| pool.install(|| for_each(10, |_| _ = total.fetch_add(1, Ordering::Relaxed))));
                    }
                });
            }
        });
        assert_eq!(total.load(Ordering::Relaxed), 3 * 50 * 10);
    }
}
