//! Every available path against the reference, on shapes with tails in every dimension.

use super::im2col::ConvB;
use super::*;
use crate::base::Activation;
use crate::kernels::dispatch::{self, F32Call, F32Path};
use crate::kernels::testutil::{assert_reassociated, Rng};

const ACTS: [Activation; 6] = [
    Activation::Identity,
    Activation::Relu,
    Activation::LeakyRelu(0.1),
    Activation::Clip(-0.3, 0.4),
    Activation::Sigmoid,
    Activation::HardSwish { alpha: 0.2, beta: 0.5 },
];

/// |A|·|B| + |bias|: the scale of each element's rounding error.
fn magnitude(a: &[f32], m: usize, k: usize, b: &[f32], n: usize, bias: Option<&[f32]>) -> Vec<f32> {
    let abs = |v: &[f32]| v.iter().map(|x| x.abs()).collect::<Vec<_>>();
    let mut out = vec![0.0; m * n];
    let bias_abs = bias.map(abs);
    let ep = Epilogue { bias: bias_abs.as_deref(), activation: Activation::Identity };
    reference::gemm(&abs(a), m, k, &abs(b), n, &mut out, ep);
    out
}

/// Every tile a path's GEMM may pack for: its own and its tall one.
fn tiles(path: F32Path) -> Vec<micro::GemmFns> {
    let own = path.kernels().gemm;
    std::iter::once(own).chain(own.tall.copied()).collect()
}

/// Every (path, tile) pair this CPU runs.
fn path_tiles() -> Vec<(F32Path, micro::GemmFns)> {
    dispatch::F32.available().into_iter().flat_map(|p| tiles(p).into_iter().map(move |f| (p, f))).collect()
}

fn check(path: F32Path, m: usize, n: usize, k: usize, ldc: usize, seed: u64) {
    check_tile(path, path.kernels().gemm.for_rows(m), m, n, k, ldc, seed);
}

fn check_tile(path: F32Path, fns: micro::GemmFns, m: usize, n: usize, k: usize, ldc: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let a = rng.vec(m * k);
    let b = rng.vec(k * n);
    let bias = rng.vec(m);
    let act = ACTS[rng.below(ACTS.len())];
    let with_bias = rng.below(2) == 0;
    let ep = Epilogue { bias: with_bias.then_some(&bias[..]), activation: act };
    let mut want = vec![0.0; m * n];
    reference::gemm(&a, m, k, &b, n, &mut want, ep);
    let packed = PackedA::with_tile(path, fns, &a, m, k);
    assert_eq!(packed.path, path);
    let mut c = vec![f32::NAN; m * ldc];
    gemm_from(&packed, &DenseB { data: &b, n }, n, &mut c, ldc, ep);
    let got: Vec<f32> = (0..m).flat_map(|i| c[i * ldc..i * ldc + n].to_vec()).collect();
    let mag = magnitude(&a, m, k, &b, n, ep.bias);
    let what = format!("{path:?} mr={} m={m} n={n} k={k} {act:?} bias={with_bias}", fns.mr);
    assert_reassociated(&got, &want, &mag, k, &what);
    // Columns past n in each row stay untouched.
    for i in 0..m {
        assert!(c[i * ldc + n..(i + 1) * ldc].iter().all(|v| v.is_nan()), "{path:?}: wrote past n");
    }
}

#[test]
fn gemm_paths_match_reference_on_edge_shapes() {
    let sizes = [0, 1, 2, 3, 5, 7, 8, 13, 16, 17, 31, 33];
    for path in dispatch::F32.available() {
        let mut seed = 1;
        for &m in &sizes {
            for &n in &sizes {
                for &k in &[0, 1, 3, 7, 16, 17, 31] {
                    seed += 1;
                    check(path, m, n, k, n + (seed as usize % 3), seed);
                }
            }
        }
    }
}

#[test]
fn gemm_paths_match_reference_on_random_shapes() {
    let mut rng = Rng::new(99);
    for path in dispatch::F32.available() {
        for fns in tiles(path) {
            for seed in 0..40 {
                // k past the k-block size exercises accumulation across blocks.
                let (m, n, k) = (1 + rng.below(70), 1 + rng.below(600), rng.below(900));
                check_tile(path, fns, m, n, k, n, seed);
            }
        }
    }
}

#[test]
fn gemm_paths_match_reference_on_every_last_panel_width() {
    // Each width of the last column panel takes its own mix of narrow tail kernels.
    for path in dispatch::F32.available() {
        for fns in tiles(path) {
            let (mr, nr) = (fns.mr, fns.nr);
            for t in 1..nr {
                check_tile(path, fns, 2 * mr + 1, 2 * nr + t, 19, 2 * nr + t + 1, t as u64);
                check_tile(path, fns, mr, nr + t, 400, nr + t, 100 + t as u64);
            }
        }
    }
}

#[test]
fn gemm_splits_work_across_threads() {
    let pool = crate::base::parallel::Pool::new(3).expect("pool");
    for path in dispatch::F32.available() {
        pool.install(|| {
            check(path, 67, 45, 400, 45, 5);
            check(path, 9, 1000, 50, 1000, 6);
        });
    }
}

#[test]
fn a_dense_b_split_by_columns_matches_the_reference_and_one_thread() {
    // Few rows against many columns read in place: one run of column panels per thread, the
    // partial last panel (and a row stride past n) in the last thread's run.
    let shapes = [(20, 196, 300), (13, 100, 77), (33, 167, 400), (7, 250, 9), (5, 60, 50)];
    for path in dispatch::F32.available() {
        let mut split_cases = 0;
        for (m, n, k) in shapes {
            for threads in [2, 3] {
                let pool = crate::base::parallel::Pool::new(threads).expect("pool");
                let fns = path.kernels().gemm.for_rows(m);
                split_cases += usize::from(fns.micro.is_some() && by_columns(m, n, n.div_ceil(fns.nr), threads));
                pool.install(|| check(path, m, n, k, n + 3, m as u64));
                let mut rng = Rng::new(n as u64);
                let (a, b) = (rng.vec(m * k), rng.vec(k * n));
                let packed = PackedA::for_path(path, &a, m, k);
                let mut one = vec![0.0; m * n];
                gemm(&packed, &b, n, &mut one, Epilogue::NONE);
                let mut many = vec![0.0; m * n];
                pool.install(|| gemm(&packed, &b, n, &mut many, Epilogue::NONE));
                let same = one.iter().zip(&many).all(|(x, y)| x.to_bits() == y.to_bits());
                assert!(same, "{path:?} m={m} n={n} {threads} threads");
            }
        }
        let tiled = path.kernels().gemm.micro.is_some();
        assert!(!tiled || split_cases >= 3, "{path:?}: {split_cases} shapes split by columns");
    }
}

#[test]
fn column_blocks_and_row_groups_share_out_evenly() {
    // A 14×14 map's 196 columns (7 panels of 32): one block, in 4 row groups on 2 threads.
    assert_eq!(split(64, 7, 2), (1, 4));
    for threads in 1..=4 {
        for n_panels in 1..80 {
            let (blocks, groups) = split(64, n_panels, threads);
            let last = n_panels - (blocks - 1) * NC_PANELS;
            assert!(blocks == 1 || last >= NC_PANELS / 2, "{n_panels} panels: a last block of {last}");
            assert!(last <= NC_PANELS + NC_PANELS / 2, "{n_panels} panels: a last block of {last}");
            if threads > 1 && blocks * groups < 8 * threads {
                assert!((blocks * groups).is_multiple_of(threads), "{n_panels} panels, {threads} threads");
            }
        }
    }
}

#[test]
fn row_groups_of_a_dense_b_share_out_evenly() {
    // squeezenet's fire6 squeeze1x1: 48 rows (6 panels of 8), one column block, 4 groups asked:
    // 2 groups of 3 on 2 threads (not 3 of 2), 6 of 1 on 3 threads as asked.
    assert_eq!(group_panels(6, 4, 1, 2), 3);
    assert_eq!(group_panels(6, 6, 1, 3), 1);
    assert_eq!(group_panels(8, 4, 1, 2), 2);
    for threads in 1usize..=4 {
        for m_panels in 1usize..=40 {
            for n_panels in [1, 7, 13, 40] {
                let (blocks, groups) = split(m_panels, n_panels, threads);
                let per = group_panels(m_panels, groups, blocks, threads);
                assert!((1..=m_panels).contains(&per));
                let jobs = m_panels.div_ceil(per) * blocks;
                let before = m_panels.div_ceil(m_panels.div_ceil(groups)) * blocks;
                if before.is_multiple_of(threads) || before >= 8 * threads {
                    assert_eq!(per, m_panels.div_ceil(groups), "{m_panels} panels, {threads} threads");
                } else if (1..=m_panels).any(|p| (m_panels.div_ceil(p) * blocks).is_multiple_of(threads)) {
                    assert!(jobs.is_multiple_of(threads), "{m_panels} panels, {n_panels}, {threads} threads");
                }
            }
        }
    }
}

#[test]
fn gemm_outputs_do_not_depend_on_the_thread_count() {
    // 70 rows: 9 panels (mr 8), 6 (mr 12) or 12 (mr 6); 48 rows: 6, 4 or 8 panels, regrouped for
    // 2 and 3 threads.
    for (m, k) in [(70, 300), (48, 384)] {
        for (path, fns) in path_tiles() {
            // 196 columns: the merged last block; 2000: several blocks and a short last one.
            for n in [196, 2000] {
                let mut rng = Rng::new(n as u64);
                let (a, b, bias) = (rng.vec(m * k), rng.vec(k * n), rng.vec(m));
                let ep = Epilogue { bias: Some(&bias[..]), activation: Activation::Relu };
                let packed = PackedA::with_tile(path, fns, &a, m, k);
                let run = |threads: usize| {
                    let pool = crate::base::parallel::Pool::new(threads).expect("pool");
                    let mut c = vec![0.0; m * n];
                    pool.install(|| gemm(&packed, &b, n, &mut c, ep));
                    c
                };
                let one = run(1);
                for threads in [2, 3] {
                    assert!(
                        run(threads).iter().zip(&one).all(|(x, y)| x.to_bits() == y.to_bits()),
                        "{path:?} mr={} m={m} n={n}",
                        fns.mr
                    );
                }
            }
        }
    }
}

#[test]
fn the_tall_tile_is_taken_where_its_padding_costs_less_than_it_saves() {
    for path in dispatch::F32.available() {
        let own = path.kernels().gemm;
        let Some(tall) = own.tall else { continue };
        assert!(tall.nr == own.nr && tall.mr > own.mr && tall.tall.is_none(), "{path:?}");
        // A multiple of both: no padding either way, so the taller.
        assert_eq!(own.for_rows(3 * own.mr * tall.mr).mr, tall.mr, "{path:?}");
        // Exactly the small tile's rows, padded up by the tall one by more than a tenth.
        assert_eq!(own.for_rows(2 * own.mr).mr, own.mr, "{path:?}");
        if (own.mr, tall.mr) == (8, 12) {
            // squeezenet's squeeze 1×1s (16, 32, 64 rows) stay at 8 rows; 48 rows, mobilenet's
            // 512 and conv10's 1000 take 12 (padded by 0, 4, 8).
            for (m, mr) in [(16, 8), (32, 8), (64, 8), (13, 8), (48, 12), (512, 12), (1000, 12), (17, 12)] {
                assert_eq!(own.for_rows(m).mr, mr, "{path:?} m={m}");
            }
        }
    }
}

#[test]
fn gemv_paths_match_reference() {
    let mut rng = Rng::new(7);
    for path in dispatch::F32.available() {
        for &(m, k) in &[(0, 5), (1, 0), (1, 1), (3, 17), (5, 31), (13, 64), (37, 1000), (2000, 33), (7, 4099)] {
            let a = rng.vec(m * k);
            let x = rng.vec(k);
            let bias = rng.vec(m);
            for act in ACTS {
                let ep = Epilogue { bias: Some(&bias), activation: act };
                let mut want = vec![0.0; m];
                reference::gemm(&a, m, k, &x, 1, &mut want, ep);
                let mut got = vec![0.0; m];
                gemv(path, &a, k, &x, &mut got, ep);
                let mag = magnitude(&a, m, k, &x, 1, ep.bias);
                assert_reassociated(&got, &want, &mag, k, &format!("gemv {path:?} m={m} k={k} {act:?}"));
            }
        }
    }
}

/// The explicit im2col the implicit one must reproduce.
#[allow(clippy::too_many_arguments)]
fn im2col(x: &[f32], pw: usize, ph: usize, c: usize, kw: usize, kh: usize, d: usize, s: usize) -> (Vec<f32>, usize) {
    let ow = (pw - (d * (kw - 1) + 1)) / s + 1;
    let oh = (ph - (d * (kh - 1) + 1)) / s + 1;
    let mut out = Vec::new();
    for ch in 0..c {
        for ky in 0..kh {
            for kx in 0..kw {
                for oy in 0..oh {
                    for ox in 0..ow {
                        out.push(x[(ch * ph + oy * s + ky * d) * pw + ox * s + kx * d]);
                    }
                }
            }
        }
    }
    (out, ow * oh)
}

#[test]
fn implicit_im2col_packs_the_explicit_matrix() {
    let mut rng = Rng::new(3);
    for &(pw, ph, c, kw, kh, d, s) in
        &[(7, 5, 3, 3, 3, 1, 1), (9, 8, 2, 3, 2, 2, 2), (13, 6, 4, 1, 1, 1, 3), (5, 5, 1, 5, 5, 1, 1)]
    {
        let x = rng.vec(pw * ph * (c + 1));
        let (full, n) = im2col(&x[pw * ph..], pw, ph, c, kw, kh, d, s);
        let ow = (pw - (d * (kw - 1) + 1)) / s + 1;
        let src = ConvB { input: &x, pw, ph, c0: 1, kernel: (kw, kh), dilation: (d, d), stride: (s, s), ow };
        let k = c * kw * kh;
        let j = n.min(2);
        for &(k0, kc, j0, cols, nr) in &[(0, k, 0, n, n), (1, k - 1, j, n - j, n), (0, 1, n - 1, 1, 4)] {
            let mut dst = vec![f32::NAN; kc * nr];
            src.pack(k0, kc, j0, cols, nr, &mut dst);
            for p in 0..kc {
                for j in 0..nr {
                    let want = if j < cols { full[(k0 + p) * n + j0 + j] } else { 0.0 };
                    assert_eq!(dst[p * nr + j], want, "row {p} col {j}");
                }
            }
        }
    }
}

#[test]
fn strided_im2col_paths_match_the_reference() {
    let mut rng = Rng::new(4);
    for &(pw, ph, kw, s) in &[(67, 9, 3, 2), (230, 9, 7, 2), (35, 4, 1, 2), (18, 6, 2, 2), (41, 7, 3, 3)] {
        let c = 2;
        let x = rng.vec(pw * ph * c);
        let ow = (pw - kw) / s + 1;
        let oh = (ph - kw) / s + 1;
        let src = ConvB { input: &x, pw, ph, c0: 0, kernel: (kw, kw), dilation: (1, 1), stride: (s, s), ow };
        let (k, n) = (c * kw * kw, ow * oh);
        let (full, _) = im2col(&x, pw, ph, c, kw, kw, 1, s);
        for path in dispatch::F32.available() {
            for &(j0, cols, nr) in &[(0, n, n), (3, n - 3, n), (ow - 1, 33.min(n - ow + 1), 48)] {
                let mut dst = vec![f32::NAN; k * nr];
                src.pack_on(path, 0, k, j0, cols, nr, &mut dst);
                for p in 0..k {
                    for j in 0..nr {
                        let want = if j < cols { full[p * n + j0 + j] } else { 0.0 };
                        assert_eq!(dst[p * nr + j], want, "{path:?} {pw}x{ph} k{kw} s{s}: row {p} col {j}");
                    }
                }
            }
        }
    }
}

/// Fails when dispatch falls back to a slower path than this CPU supports, or when the GEMM did
/// not run the chosen path's kernel.
#[test]
fn the_intended_path_runs_on_this_cpu() {
    let family = &dispatch::F32;
    let expected = if family.forced() { family.selected() } else { family.best() };
    assert_eq!(family.selected(), expected);
    #[cfg(target_arch = "x86_64")]
    if !family.forced() && is_x86_feature_detected!("avx512f") {
        assert_eq!(expected.name(), "avx512");
    }
    #[cfg(target_arch = "aarch64")]
    if !family.forced() {
        assert_eq!(expected.name(), "neon");
    }
    let before = expected.calls(F32Call::Gemm);
    let a = PackedA::new(&[1.0; 6], 2, 3);
    assert_eq!(a.path, expected);
    let mut c = vec![0.0; 8];
    gemm(&a, &[1.0; 12], 4, &mut c, Epilogue::NONE);
    assert_eq!(c, vec![3.0; 8]);
    assert!(expected.calls(F32Call::Gemm) > before, "the {expected} kernel did not run");
}

#[test]
fn packed_b_shared_by_row_groups_gives_the_outputs_of_one_thread() {
    // A 5×5 convolution of 24 channels on 14×14 and 7×7 maps (padded by 2): 196 and 49 columns,
    // one column block in row groups on 2 and 3 threads, so B is packed once and shared; k = 600
    // takes two k blocks.
    let (c, m) = (24, 40);
    for (w, h) in [(14, 14), (7, 7), (15, 3)] {
        let (pw, ph) = (w + 4, h + 4);
        let mut rng = Rng::new(w as u64);
        let (x, a, bias) = (rng.vec(pw * ph * c), rng.vec(m * c * 25), rng.vec(m));
        let src = ConvB { input: &x, pw, ph, c0: 0, kernel: (5, 5), dilation: (1, 1), stride: (1, 1), ow: w };
        let n = w * h;
        let (full, _) = im2col(&x, pw, ph, c, 5, 5, 1, 1);
        assert_implicit_b_on_threads(&src, &full, &a, &bias, n, &[2, 3], &format!("{w}x{h}"));
    }
}

/// `gemm_from` on an implicit im2col `src` (m = `bias.len()` rows): on 1 thread bit-identical to the
/// GEMM of the dense im2col `full`, on each of `threads` bit-identical to 1 thread, on every path.
fn assert_implicit_b_on_threads(
    src: &ConvB,
    full: &[f32],
    a: &[f32],
    bias: &[f32],
    n: usize,
    threads: &[usize],
    what: &str,
) {
    let (m, k) = (bias.len(), full.len() / n);
    let same = |x: &[f32], y: &[f32]| x.iter().zip(y).all(|(x, y)| x.to_bits() == y.to_bits());
    for (path, fns) in path_tiles() {
        let packed = PackedA::with_tile(path, fns, a, m, k);
        let ep = Epilogue { bias: Some(bias), activation: Activation::Relu };
        let run = |threads: usize| {
            let pool = crate::base::parallel::Pool::new(threads).expect("pool");
            let mut c = vec![f32::NAN; m * n];
            pool.install(|| gemm_from(&packed, src, n, &mut c, n, ep));
            c
        };
        let one = run(1);
        let mut want = vec![0.0; m * n];
        gemm(&packed, full, n, &mut want, ep);
        assert!(same(&one, &want), "{path:?} mr={} {what}: implicit B", fns.mr);
        for &t in threads {
            assert!(same(&run(t), &one), "{path:?} mr={} {what}, {t} threads", fns.mr);
        }
    }
}

#[test]
fn shared_b_row_groups_cover_the_panels_evenly() {
    for groups in 1..=8 {
        for m_panels in groups..70 {
            let ranges: Vec<_> = (0..groups).map(|rg| even_group(rg, groups, m_panels)).collect();
            assert_eq!(ranges[0].0, 0);
            assert_eq!(ranges[groups - 1].1, m_panels);
            assert!(ranges.windows(2).all(|w| w[0].1 == w[1].0), "{m_panels} panels in {groups}");
            let sizes: Vec<_> = ranges.iter().map(|r| r.1 - r.0).collect();
            let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(*lo >= 1 && hi - lo <= 1, "{m_panels} panels in {groups}: {sizes:?}");
        }
    }
}

#[test]
fn strided_convolutions_on_small_maps_give_the_outputs_of_one_thread() {
    // resnet's downsampling convolutions, scaled down: 3×3 stride 2 (padded by 1) and 1×1 stride 2
    // onto 7×7 and 14×14 outputs, one column block whose rows are split into groups of several
    // panels that share the packed B; 70 rows make groups of unequal size, 48 channels of 3×3
    // two k blocks.
    let (c, m) = (48, 70);
    for (w, kernel, pad) in [(14, 3, 1), (28, 3, 1), (14, 1, 0), (28, 1, 0)] {
        let (pw, ph) = (w + 2 * pad, w + 2 * pad);
        let ow = (pw - kernel) / 2 + 1;
        let mut rng = Rng::new((w * kernel) as u64);
        let (n, k) = (ow * ow, c * kernel * kernel);
        let (x, a, bias) = (rng.vec(pw * ph * c), rng.vec(m * k), rng.vec(m));
        let src = ConvB { input: &x, pw, ph, c0: 0, kernel: (kernel, kernel), dilation: (1, 1), stride: (2, 2), ow };
        let (full, _) = im2col(&x, pw, ph, c, kernel, kernel, 1, 2);
        assert_implicit_b_on_threads(&src, &full, &a, &bias, n, &[2, 3, 4], &format!("{w}x{w} {kernel}x{kernel} s2"));
    }
}
