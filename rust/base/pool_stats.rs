//! Opt-in accounting of where a [`Pool`](super::parallel::Pool)'s threads spend a run, for
//! profiling 2-thread scaling on a machine too busy for wall-clock comparisons.
//!
//! With `NCNNQ_POOL_STATS=1` in the environment when a pool is made, the pool counts, per
//! thread, the jobs it ran and their wall and CPU time (CPU time is what the thread itself used,
//! so a job preempted by another process does not look slow), and for the installing thread the
//! parallel loops it started and the time it then waited at the end of a loop for another thread
//! still running a job. Snapshots taken between layers (e.g. from an observer) give per-layer
//! figures: busy time of each thread against the layer's wall time (parallel efficiency), the
//! barrier wait (load imbalance) and the CPU time of the work (2T against 1T: work repeated by
//! each job, such as packing). Without the variable nothing is counted and nothing is timed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// Cumulative counters of one thread of a pool.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ThreadStats {
    /// Loop indices (jobs) this thread ran.
    pub jobs: u64,
    /// Wall time spent taking and running those jobs.
    pub busy_ns: u64,
    /// This thread's CPU time spent taking and running those jobs.
    pub busy_cpu_ns: u64,
}

/// Cumulative counters of a pool since it was made.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PoolStats {
    /// Parallel loops run (loops that ran inline on one thread are not counted).
    pub loops: u64,
    /// Wall time of those loops on the installing thread.
    pub loop_ns: u64,
    /// Time the installing thread waited at the end of those loops for jobs on other threads.
    pub wait_ns: u64,
    /// What those loops would have taken on idle cores: each loop's jobs, with the durations
    /// they had, handed in order to whichever thread is free first (load imbalance and the
    /// granularity of the split, without preemption or wake-ups).
    pub ideal_ns: u64,
    /// Sum of those jobs' durations.
    pub jobs_ns: u64,
    /// Index 0 is the installing thread.
    pub threads: Vec<ThreadStats>,
}

impl PoolStats {
    /// The counts accumulated since `earlier` (a snapshot of the same pool).
    #[must_use]
    pub fn since(&self, earlier: &PoolStats) -> PoolStats {
        let threads = self
            .threads
            .iter()
            .zip(&earlier.threads)
            .map(|(a, b)| ThreadStats {
                jobs: a.jobs - b.jobs,
                busy_ns: a.busy_ns - b.busy_ns,
                busy_cpu_ns: a.busy_cpu_ns - b.busy_cpu_ns,
            })
            .collect();
        PoolStats {
            loops: self.loops - earlier.loops,
            loop_ns: self.loop_ns - earlier.loop_ns,
            wait_ns: self.wait_ns - earlier.wait_ns,
            ideal_ns: self.ideal_ns - earlier.ideal_ns,
            jobs_ns: self.jobs_ns - earlier.jobs_ns,
            threads,
        }
    }
}

#[derive(Default)]
struct ThreadCounters {
    jobs: AtomicU64,
    busy_ns: AtomicU64,
    busy_cpu_ns: AtomicU64,
}

/// The live counters of one pool.
pub(super) struct Counters {
    loops: AtomicU64,
    loop_ns: AtomicU64,
    wait_ns: AtomicU64,
    ideal_ns: AtomicU64,
    jobs_ns: AtomicU64,
    /// (index, ns) of the current loop's jobs.
    durations: Mutex<Vec<(usize, u64)>>,
    threads: Vec<ThreadCounters>,
}

impl Counters {
    /// Counters for a pool of `threads`, if `NCNNQ_POOL_STATS` asks for them.
    pub(super) fn from_env(threads: usize) -> Option<Box<Counters>> {
        let on = std::env::var("NCNNQ_POOL_STATS").is_ok_and(|v| !v.is_empty() && v != "0");
        on.then(|| {
            Box::new(Counters {
                loops: AtomicU64::new(0),
                loop_ns: AtomicU64::new(0),
                wait_ns: AtomicU64::new(0),
                ideal_ns: AtomicU64::new(0),
                jobs_ns: AtomicU64::new(0),
                durations: Mutex::new(Vec::new()),
                threads: (0..threads).map(|_| ThreadCounters::default()).collect(),
            })
        })
    }

    /// Runs `f` (which runs jobs of one loop and says how many) on thread `thread`, counting
    /// its time. Timed per loop rather than per job: reading a thread's CPU clock is a system
    /// call, which would weigh on small jobs.
    pub(super) fn busy(&self, thread: usize, f: impl FnOnce() -> u64) {
        let (t0, c0) = (Instant::now(), thread_cpu_ns());
        let jobs = f();
        let c = &self.threads[thread];
        c.jobs.fetch_add(jobs, Ordering::Relaxed);
        c.busy_ns.fetch_add(elapsed_ns(t0), Ordering::Relaxed);
        c.busy_cpu_ns.fetch_add(thread_cpu_ns().saturating_sub(c0), Ordering::Relaxed);
    }

    /// Runs job `index` of the current loop, recording its duration.
    pub(super) fn job<R>(&self, index: usize, f: impl FnOnce() -> R) -> R {
        let t0 = Instant::now();
        let r = f();
        let ns = elapsed_ns(t0);
        self.durations.lock().unwrap_or_else(PoisonError::into_inner).push((index, ns));
        r
    }

    /// Counts one parallel loop that started at `start` and whose final wait started at `wait`.
    pub(super) fn end_loop(&self, start: Instant, wait: Instant) {
        let mut jobs = std::mem::take(&mut *self.durations.lock().unwrap_or_else(PoisonError::into_inner));
        jobs.sort_unstable();
        let mut free_at = vec![0u64; self.threads.len()];
        for &(_, ns) in &jobs {
            let first = free_at.iter_mut().min().expect("a pool has a thread");
            *first += ns;
        }
        self.ideal_ns.fetch_add(free_at.iter().copied().max().unwrap_or(0), Ordering::Relaxed);
        self.jobs_ns.fetch_add(jobs.iter().map(|j| j.1).sum(), Ordering::Relaxed);
        self.loops.fetch_add(1, Ordering::Relaxed);
        self.loop_ns.fetch_add(elapsed_ns(start), Ordering::Relaxed);
        self.wait_ns.fetch_add(elapsed_ns(wait), Ordering::Relaxed);
    }

    pub(super) fn snapshot(&self) -> PoolStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        PoolStats {
            loops: get(&self.loops),
            loop_ns: get(&self.loop_ns),
            wait_ns: get(&self.wait_ns),
            ideal_ns: get(&self.ideal_ns),
            jobs_ns: get(&self.jobs_ns),
            threads: self
                .threads
                .iter()
                .map(|t| ThreadStats { jobs: get(&t.jobs), busy_ns: get(&t.busy_ns), busy_cpu_ns: get(&t.busy_cpu_ns) })
                .collect(),
        }
    }
}

fn elapsed_ns(t0: Instant) -> u64 {
    u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// CPU time the calling thread has used, in ns (0 where the platform does not say).
#[must_use]
pub fn thread_cpu_ns() -> u64 {
    #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
    {
        #[repr(C)]
        struct Timespec {
            sec: i64,
            nsec: i64,
        }
        extern "C" {
            fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
        }
        const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
        let mut ts = Timespec { sec: 0, nsec: 0 };
        // SAFETY: clock_gettime writes one timespec (two C longs, i64 on the 64-bit targets we
        // build for) to the pointer it is given.
        if unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &raw mut ts) } == 0 {
            return u64::try_from(ts.sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.nsec).unwrap_or(0);
        }
    }
    0
}
