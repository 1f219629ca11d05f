//! Copies of whole blobs (Concat, Slice, ShuffleChannel) on the current pool's threads: on
//! `shufflenet_v2` these serial copies of 0.1–0.4 MB took about a tenth of a 2-thread run.

use crate::base::parallel;

/// Below this many values a copy stays on the calling thread (its hand-off would cost more than
/// the half it saves).
const PARALLEL_FROM: usize = 64 * 1024;

/// Values per job at least (a multiple of 16: jobs start on a cache line of their own when `out`
/// does).
const MIN_JOB: usize = 8 * 1024;

/// Fills `out` with `pieces` one after another (their lengths sum to `out.len()`).
pub fn concat_into<T: Copy + Send + Sync>(out: &mut [T], pieces: &[&[T]]) {
    assert_eq!(pieces.iter().map(|p| p.len()).sum::<usize>(), out.len());
    let total = out.len();
    let threads = parallel::current_threads();
    if threads == 1 || total < PARALLEL_FROM {
        let mut at = 0;
        for p in pieces {
            out[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        }
        return;
    }
    // Equal jobs, a multiple of the threads (a few per thread for a busy core to hand over).
    let jobs = threads * (total / (MIN_JOB * threads)).clamp(1, 4);
    let size = total.div_ceil(jobs).next_multiple_of(16);
    let starts: Vec<usize> = pieces
        .iter()
        .scan(0, |at, p| {
            let s = *at;
            *at += p.len();
            Some(s)
        })
        .collect();
    parallel::for_each_chunk(out, size, 1, |i, chunk| {
        let mut at = i * size;
        // The last piece starting at or before `at` (an empty one before it is skipped).
        let mut p = starts.partition_point(|&s| s <= at) - 1;
        let mut done = 0;
        while done < chunk.len() {
            let off = at - starts[p];
            let take = (pieces[p].len() - off).min(chunk.len() - done);
            chunk[done..done + take].copy_from_slice(&pieces[p][off..off + take]);
            done += take;
            at += take;
            p += 1;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::concat_into;
    use crate::base::parallel::Pool;

    #[test]
    fn pieces_land_in_order_on_every_pool_size() {
        let lens = [[0, 5, 0, 3], [40_000, 0, 1, 12_345], [17, 70_000, 0, 0], [90_000, 90_000, 7, 9]];
        for threads in 1..=3 {
            let pool = Pool::new(threads).expect("pool");
            for (t, lens) in lens.iter().enumerate() {
                let data: Vec<Vec<u32>> = lens
                    .iter()
                    .enumerate()
                    .map(|(i, &n)| (0..n).map(|j| (i * 1_000_000 + j) as u32).collect())
                    .collect();
                let pieces: Vec<&[u32]> = data.iter().map(|v| &v[..]).collect();
                let want: Vec<u32> = data.concat();
                let mut out = vec![u32::MAX; want.len()];
                pool.install(|| concat_into(&mut out, &pieces));
                assert!(out == want, "case {t}, {threads} threads");
            }
        }
    }
}
