//! `dst = src` for the short rows kernels copy one at a time (padding a plane, a span's rows into
//! the output), inline: a library call per row of a 7×7 to 56×56 plane costs about as much as the
//! copy. Under perf the calls were 6 % of a `mobilenet_v2` fp32 run and, with the pad fills,
//! 8 % of mobilenet's int8 one (~90 000 rows per run).

/// Copies `src` into `dst` (equal lengths) by fixed-size moves the compiler emits inline:
/// two overlapping halves up to 15 elements, then chunks of 16 and an overlapping last chunk.
/// Overlapping moves write the same values twice.
#[inline(always)]
pub(crate) fn copy_row<T: Copy>(dst: &mut [T], src: &[T]) {
    /// The first and the last `N` elements (`N ≤ len ≤ 2N`: together, all of them).
    #[inline(always)]
    fn ends<T: Copy, const N: usize>(dst: &mut [T], src: &[T]) {
        let len = src.len();
        let head: [T; N] = src[..N].try_into().expect("N elements");
        let tail: [T; N] = src[len - N..].try_into().expect("N elements");
        dst[..N].copy_from_slice(&head);
        dst[len - N..].copy_from_slice(&tail);
    }
    const CHUNK: usize = 16;
    let n = src.len();
    assert_eq!(dst.len(), n);
    match n {
        0..=3 => {
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = s;
            }
        }
        4..=7 => ends::<T, 4>(dst, src),
        8..=15 => ends::<T, 8>(dst, src),
        _ => {
            let mut i = 0;
            while i + CHUNK <= n {
                ends::<T, CHUNK>(&mut dst[i..i + CHUNK], &src[i..i + CHUNK]);
                i += CHUNK;
            }
            if i < n {
                ends::<T, CHUNK>(&mut dst[n - CHUNK..], &src[n - CHUNK..]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::copy_row;

    fn check<T: Copy + PartialEq + std::fmt::Debug>(src: &[T], fence: T) {
        for n in 0..=src.len() {
            let mut dst = vec![fence; n + 2];
            copy_row(&mut dst[1..=n], &src[..n]);
            assert!(dst[0] == fence && dst[n + 1] == fence, "length {n}: wrote outside the row");
            assert_eq!(&dst[1..=n], &src[..n], "length {n}");
        }
    }

    #[test]
    fn rows_of_every_length_are_copied_whole() {
        let f: Vec<f32> = (0..80).map(|i| i as f32 + 0.5).collect();
        check(&f, -1.0);
        let b: Vec<i8> = (0..80).map(|i| i as i8 + 1).collect();
        check(&b, -1);
    }
}
