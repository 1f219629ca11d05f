//! Winograd against a direct convolution computed in f64.

use super::*;
use crate::base::Activation;
use crate::kernels::dispatch;
use crate::kernels::testutil::Rng;

/// Direct 3×3 convolution of a padded input, f64 accumulation; also returns Σ|w·x| per output.
fn direct(w: &[f32], x: &[f32], pw: usize, ph: usize, inch: usize, outch: usize, bias: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let (ow, oh) = (pw - 2, ph - 2);
    let mut out = vec![0.0; outch * ow * oh];
    let mut mag = vec![0.0; outch * ow * oh];
    for o in 0..outch {
        for y in 0..oh {
            for xx in 0..ow {
                let (mut s, mut a) = (f64::from(bias[o]), f64::from(bias[o].abs()));
                for i in 0..inch {
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let p = f64::from(w[((o * inch + i) * 3 + ky) * 3 + kx])
                                * f64::from(x[(i * ph + y + ky) * pw + xx + kx]);
                            s += p;
                            a += p.abs();
                        }
                    }
                }
                out[(o * oh + y) * ow + xx] = s as f32;
                mag[(o * oh + y) * ow + xx] = a as f32;
            }
        }
    }
    (out, mag)
}

#[test]
fn winograd_matches_direct_convolution_on_every_path() {
    let mut rng = Rng::new(11);
    let shapes =
        [(1, 1, 1, 1), (3, 2, 5, 7), (8, 8, 6, 6), (5, 17, 13, 11), (16, 9, 28, 28), (33, 40, 7, 9), (4, 3, 40, 3)];
    for path in dispatch::F32.available().into_iter().filter(|p| p.kernels().winograd.is_some()) {
        for &(inch, outch, ow, oh) in &shapes {
            let (pw, ph) = (ow + 2, oh + 2);
            let w = rng.vec(outch * inch * 9);
            let x = rng.vec(inch * pw * ph);
            let bias = rng.vec(outch);
            let (want, mag) = direct(&w, &x, pw, ph, inch, outch, &bias);
            let weights = Weights::new(&w, outch, inch);
            for m in [2, 4, 6] {
                for act in [Activation::Identity, Activation::Relu, Activation::Sigmoid] {
                    let mut got = vec![f32::NAN; outch * ow * oh];
                    let ep = Epilogue { bias: Some(&bias), activation: act };
                    conv3x3s1_with(path, &weights, &x, pw, ph, &mut got, ow, oh, ep, Some(m));
                    for (i, ((&g, &r), &a)) in got.iter().zip(&want).zip(&mag).enumerate() {
                        let r = act.apply(r);
                        // Transform rounding: a few ulps of the largest intermediate, which the
                        // transforms scale by up to ~100 for F(6,3).
                        let tol = 2e-5 * a * if m == 6 { 4.0 } else { 1.0 } + 1e-6;
                        assert!(
                            (g - r).abs() <= tol,
                            "{path:?} F({m},3) inch={inch} outch={outch} {ow}x{oh} {act:?} at {i}: {g} vs {r} (tol {tol})"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn winograd_splits_work_across_threads() {
    if dispatch::F32.selected().kernels().winograd.is_none() {
        return;
    }
    let pool = crate::base::parallel::Pool::new(3).expect("pool");
    let mut rng = Rng::new(5);
    let (inch, outch, ow, oh) = (12, 70, 30, 20);
    let (pw, ph) = (ow + 2, oh + 2);
    let w = rng.vec(outch * inch * 9);
    let x = rng.vec(inch * pw * ph);
    let bias = vec![0.0; outch];
    let (want, mag) = direct(&w, &x, pw, ph, inch, outch, &bias);
    let weights = Weights::new(&w, outch, inch);
    let mut got = vec![0.0; outch * ow * oh];
    pool.install(|| conv3x3s1(&weights, &x, pw, ph, &mut got, ow, oh, Epilogue::NONE));
    for ((&g, &r), &a) in got.iter().zip(&want).zip(&mag) {
        assert!((g - r).abs() <= 1e-4 * a + 1e-6, "{g} vs {r}");
    }
}

#[test]
fn outputs_do_not_depend_on_the_thread_count() {
    if dispatch::F32.selected().kernels().winograd.is_none() {
        return;
    }
    // squeezenet_v1.1's expand3x3 shapes: tile panels that do not share out evenly (13 and 7 on
    // AVX-512), output channels split on the small map.
    // The benchmark squeezenet's (56, 28, 14): 13 and 7 panels, the last group split by output
    // panels at 2 and 3 threads.
    for (inch, outch, ow) in [(16, 64, 55), (48, 192, 13), (32, 128, 27), (16, 64, 56), (32, 128, 28), (64, 256, 14)] {
        let mut rng = Rng::new(ow as u64);
        let (pw, ph) = (ow + 2, ow + 2);
        let w = rng.vec(outch * inch * 9);
        let x = rng.vec(inch * pw * ph);
        let bias = rng.vec(outch);
        let weights = Weights::new(&w, outch, inch);
        let ep = Epilogue { bias: Some(&bias), activation: Activation::Relu };
        let run = |threads: usize| {
            let pool = crate::base::parallel::Pool::new(threads).expect("pool");
            let mut got = vec![0.0; outch * ow * ow];
            pool.install(|| conv3x3s1(&weights, &x, pw, ph, &mut got, ow, ow, ep));
            got
        };
        let one = run(1);
        for threads in [2, 3] {
            let got = run(threads);
            assert!(got.iter().zip(&one).all(|(a, b)| a.to_bits() == b.to_bits()), "{inch}->{outch} {ow}x{ow}");
        }
    }
}

fn check_factored<W: transform::Variant>() {
    for k in 0..W::N {
        let mut unit = [[0.0f32; 1]; 8];
        unit[k] = [1.0];
        let bt = W::bt(&unit);
        let at = W::at(&unit);
        for (i, v) in bt.iter().enumerate().take(W::N) {
            assert_eq!(v[0], W::BT[i][k], "Bt[{i}][{k}] of F({},3)", W::M);
        }
        for (i, v) in at.iter().enumerate().take(W::M) {
            assert_eq!(v[0], W::AT[i][k], "At[{i}][{k}] of F({},3)", W::M);
        }
    }
}

#[test]
fn factored_transforms_match_the_matrices() {
    check_factored::<transform::F63>();
    check_factored::<transform::F43>();
    check_factored::<transform::F23>();
}

#[test]
fn v_channel_stride_avoids_l1_aliasing() {
    for mr in [6, 8] {
        for n in [4, 6, 8] {
            let vs = v_stride(n * n, mr);
            assert!(vs >= n * n && vs < n * n + 4, "mr={mr} N={n}: {vs}");
            assert_ne!(vs * mr * 4 % 512, 0, "mr={mr} N={n}: {vs}");
        }
    }
    assert_eq!(v_stride(36, 8), 36, "F(4,3)'s 1152-byte stride already spreads over L1");
    assert_eq!(v_stride(64, 8), 65);
}

#[test]
fn m_tile_stride_avoids_l1_aliasing() {
    for nr in [8, 16, 32] {
        for n in [4, 6, 8] {
            for outch_pad in [nr, 2 * nr, 8 * nr, 16 * nr] {
                let ms = m_stride(n * n, outch_pad);
                assert!(ms >= n * n * outch_pad && ms <= n * n * outch_pad + 16 * 8, "{nr} {n} {outch_pad}: {ms}");
                assert_eq!(ms % 16, 0, "rows stay 64-byte aligned");
                assert_ne!(ms * 4 % 512, 0, "{nr} {n} {outch_pad}: {ms}");
            }
        }
    }
}

/// `path`'s F(m,3) of `weights` on 1 thread, after asserting that 2 and 3 threads give the same
/// bits: the 1-thread output.
fn on_any_threads(
    path: F32Path,
    weights: &Weights,
    x: &[f32],
    padded: (usize, usize),
    out: (usize, usize),
    ep: Epilogue,
    m: usize,
) -> Vec<f32> {
    let ((pw, ph), (ow, oh)) = (padded, out);
    let run = |threads: usize| {
        let pool = crate::base::parallel::Pool::new(threads).expect("pool");
        let mut got = vec![f32::NAN; weights.outch * ow * oh];
        pool.install(|| conv3x3s1_with(path, weights, x, pw, ph, &mut got, ow, oh, ep, Some(m)));
        got
    };
    let one = run(1);
    for threads in [2, 3] {
        let got = run(threads);
        let same = got.iter().zip(&one).all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "{path:?} {}->{} {ow}x{oh} on {threads} threads", weights.inch, weights.outch);
    }
    one
}

/// `got` within `rel` of the direct convolution's ReLU'd `want` (relative to its magnitudes `mag`).
fn assert_near_direct(path: F32Path, got: &[f32], want: &[f32], mag: &[f32], rel: f32) {
    for (i, ((&g, &r), &a)) in got.iter().zip(want).zip(mag).enumerate() {
        let (r, tol) = (r.max(0.0), rel * a + 1e-6);
        assert!((g - r).abs() <= tol, "{path:?} at {i}: {g} vs {r} (tol {tol})");
    }
}

/// The plan F(m,3) takes on `path` for an inch→outch layer with an ow×oh output, and its number
/// of tile panels.
fn plan_on(path: F32Path, m: usize, inch: usize, outch: usize, ow: usize, oh: usize) -> (Plan, usize) {
    let gemm = path.kernels().gemm;
    let tile_panels = (ow.div_ceil(m) * oh.div_ceil(m)).div_ceil(gemm.mr);
    (plan((m + 2) * (m + 2), gemm.mr, inch, outch.next_multiple_of(gemm.nr), tile_panels), tile_panels)
}

/// The transformed weights for `path` (packed for one path), after checking that F(6,3) on an
/// ow×oh output runs this layer in phases of more than one chunk.
fn phased_weights(path: F32Path, w: &[f32], inch: usize, outch: usize, ow: usize, oh: usize) -> Weights {
    let (plan, tile_panels) = plan_on(path, 6, inch, outch, ow, oh);
    assert!(matches!(plan, Plan::Phased { chunk } if chunk < tile_panels), "{path:?}: {plan:?}");
    Weights::new(w, outch, inch)
}

/// Layers with large transformed weights run in phases, by chunks of tiles: sizes that take that
/// path with two chunks on every path, against the direct convolution.
#[test]
fn phased_chunks_match_direct_convolution() {
    let mut rng = Rng::new(23);
    let (inch, outch, ow, oh) = (72, 70, 66, 66);
    let (pw, ph) = (ow + 2, oh + 2);
    let w = rng.vec(outch * inch * 9);
    let x = rng.vec(inch * pw * ph);
    let bias = rng.vec(outch);
    let (want, mag) = direct(&w, &x, pw, ph, inch, outch, &bias);
    let pool = crate::base::parallel::Pool::new(2).expect("pool");
    for path in dispatch::F32.available().into_iter().filter(|p| p.kernels().winograd.is_some()) {
        let weights = phased_weights(path, &w, inch, outch, ow, oh);
        let mut got = vec![f32::NAN; outch * ow * oh];
        let ep = Epilogue { bias: Some(&bias), activation: Activation::Relu };
        pool.install(|| conv3x3s1_with(path, &weights, &x, pw, ph, &mut got, ow, oh, ep, Some(6)));
        assert_near_direct(path, &got, &want, &mag, 8e-5);
    }
}

#[test]
fn u_reads_count_chunks_only_when_u_and_a_chunk_leave_l3() {
    // vgg16's 56×56 256→256 layers on AVX-512 (mr 8): F(6,3) runs its 13 tile panels in one
    // chunk, F(4,3) its 25 in two (21 panels' share of V and M at one ξ fill the budget), which
    // beside a 9.4 MB U leave L3; 112×112 64→128 (F(4,3), 98 panels, U 1.2 MB) keeps its chunks
    // of 18 beside U in L3.
    assert_eq!(plan(64, 8, 256, 256, 13), Plan::Phased { chunk: 13 });
    assert_eq!(plan(36, 8, 256, 256, 25), Plan::Phased { chunk: 21 });
    assert_eq!(plan(36, 8, 64, 128, 98), Plan::Phased { chunk: 18 });
    assert_eq!(u_reads(64, 8, 256, 256, 13), 1);
    assert_eq!(u_reads(36, 8, 256, 256, 25), 2);
    assert_eq!(u_reads(36, 8, 64, 128, 98), 1);
    // 512→512 on a 72×72 map (81 panels): a ξ's share of 16 panels exceeds the budget, so the
    // chunks stay at 16, and beside a 37.7 MB U they leave L3: U is read once per chunk.
    assert_eq!(plan(36, 8, 512, 512, 81), Plan::Phased { chunk: 16 });
    assert_eq!(u_reads(36, 8, 512, 512, 81), 6);
    // One chunk, or the fused plan: U is read once.
    assert_eq!(u_reads(36, 8, 512, 512, 7), 1);
    assert_eq!(u_reads(64, 8, 64, 64, 1050), 1);
}

/// The phased plan's chunks (panels spread evenly) and its transforms split by channels give
/// the same bits on 2 and 3 threads as on 1, on every path: chunks of odd and even panel counts,
/// a partial last panel of output channels.
#[test]
fn phased_outputs_do_not_depend_on_the_thread_count() {
    for (inch, outch, ow, oh) in [(72, 70, 70, 62), (64, 100, 58, 58)] {
        let mut rng = Rng::new((ow * oh) as u64);
        let (pw, ph) = (ow + 2, oh + 2);
        let w = rng.vec(outch * inch * 9);
        let x = rng.vec(inch * pw * ph);
        let bias = rng.vec(outch);
        let ep = Epilogue { bias: Some(&bias), activation: Activation::Relu };
        for path in dispatch::F32.available().into_iter().filter(|p| p.kernels().winograd.is_some()) {
            let weights = phased_weights(path, &w, inch, outch, ow, oh);
            on_any_threads(path, &weights, &x, (pw, ph), (ow, oh), ep, 6);
        }
    }
}

#[test]
fn transform_parts_share_out_evenly() {
    assert_eq!(transform_parts(7, 1), 1);
    assert_eq!(transform_parts(8, 2), 1);
    assert_eq!(transform_parts(7, 2), 2);
    assert_eq!(transform_parts(5, 2), 2);
    assert_eq!(transform_parts(1, 2), 4);
    assert_eq!(transform_parts(7, 3), 3);
    assert_eq!(transform_parts(6, 3), 1);
}

#[test]
fn jobs_cover_every_group_and_output_panel_once() {
    for threads in 1usize..=4 {
        for groups in 1usize..=17 {
            for o_panels in 1usize..=9 {
                let o_splits = if groups >= 2 * threads { 1 } else { (2 * threads).div_ceil(groups).min(o_panels) };
                let (o_per, o_splits) = equal_parts(o_panels, o_splits);
                let jobs = Jobs::new(groups, o_splits, o_per, o_panels, threads);
                let mut seen = vec![0u32; groups * o_panels];
                for j in 0..jobs.len() {
                    let (g, op0, op1) = jobs.get(j);
                    assert!(g < groups && op0 < op1 && op1 <= o_panels, "{jobs:?} job {j}");
                    for op in op0..op1 {
                        seen[g * o_panels + op] += 1;
                    }
                }
                assert!(seen.iter().all(|&n| n == 1), "{jobs:?}");
            }
        }
    }
    // 7 groups on 2 threads: 3 whole, the last group's two halves, 3 whole.
    let jobs = Jobs::new(7, 1, 4, 4, 2);
    let got: Vec<_> = (0..jobs.len()).map(|j| jobs.get(j)).collect();
    assert_eq!(got, [(0, 0, 4), (1, 0, 4), (2, 0, 4), (6, 0, 2), (6, 2, 4), (3, 0, 4), (4, 0, 4), (5, 0, 4)]);
}

/// A layer whose reads of U outweigh its V and M runs all its tiles in one chunk larger than
/// [`CHUNK_BYTES`] (the product jobs ξ-major): on every path against the direct convolution on
/// a few output channels (a partial last output panel, edge tiles on both sides), and the same
/// bits on 2 and 3 threads as on 1.
#[test]
fn one_large_phased_chunk_matches_direct_convolution_on_any_threads() {
    let (inch, outch, ow, oh) = (256, 250, 35, 37);
    let (pw, ph) = (ow + 2, oh + 2);
    let mut rng = Rng::new(31);
    let w = rng.vec(outch * inch * 9);
    let x = rng.vec(inch * pw * ph);
    let bias = rng.vec(outch);
    let ep = Epilogue { bias: Some(&bias), activation: Activation::Relu };
    let picked = [0, 31, 32, 137, 249];
    let wp: Vec<f32> = picked.iter().flat_map(|&o| w[o * inch * 9..][..inch * 9].to_vec()).collect();
    let bp: Vec<f32> = picked.iter().map(|&o| bias[o]).collect();
    let (want, mag) = direct(&wp, &x, pw, ph, inch, picked.len(), &bp);
    for path in dispatch::F32.available().into_iter().filter(|p| p.kernels().winograd.is_some()) {
        let gemm = path.kernels().gemm;
        let (per_panel, _) = footprint(36, gemm.mr, inch, outch.next_multiple_of(gemm.nr));
        let (plan, tile_panels) = plan_on(path, 4, inch, outch, ow, oh);
        assert_eq!(plan, Plan::Phased { chunk: tile_panels }, "{path:?}");
        assert!(tile_panels * per_panel > CHUNK_BYTES, "{path:?}: one chunk beyond the least budget");
        let weights = Weights::new(&w, outch, inch);
        let one = on_any_threads(path, &weights, &x, (pw, ph), (ow, oh), ep, 4);
        let plane = ow * oh;
        for (k, &o) in picked.iter().enumerate() {
            for i in 0..plane {
                let (g, r, a) = (one[o * plane + i], want[k * plane + i].max(0.0), mag[k * plane + i]);
                let tol = 2e-5 * a + 1e-6;
                assert!((g - r).abs() <= tol, "{path:?} channel {o} at {i}: {g} vs {r} (tol {tol})");
            }
        }
    }
}

/// The cost model's choices for AVX-512's microkernel (mr 8, nr 32) on benchmark layers: the
/// im2col GEMM for few tiles and a large U (googlenet's and resnet18's 7×7 layers, `squeezenet_ssd`'s
/// small heads, measured faster so), Winograd where its products outweigh U's transfer.
#[test]
fn choose_takes_the_gemm_for_few_tiles_and_a_large_u() {
    let k = crate::kernels::gemm_f32::micro::GemmFns { mr: 8, nr: 32, ..crate::kernels::gemm_f32::micro::REFERENCE };
    // googlenet inception_5a/3x3, 5b/3x3; resnet18 res5; squeezenet_ssd heads.
    for (s, inch, outch) in [(7, 160, 320), (7, 192, 384), (7, 512, 512), (1, 128, 84), (2, 256, 126), (4, 768, 126)] {
        assert_eq!(choose(&k, s, s, inch, outch), None, "{s}x{s} {inch}->{outch}");
    }
    // googlenet inception_4e/3x3 and conv2/3x3, resnet18 res4, vgg16 conv5, squeezenet fire2,
    // squeezenet_ssd fire9_mbox_loc (slower on the GEMM at two threads).
    let keep =
        [(14, 160, 320, 2), (56, 64, 192, 6), (14, 256, 256, 2), (14, 512, 512, 2), (56, 16, 64, 6), (18, 512, 24, 6)];
    for (s, inch, outch, m) in keep {
        assert_eq!(choose(&k, s, s, inch, outch), Some(m), "{s}x{s} {inch}->{outch}");
    }
}

/// The phased products run by k blocks of [`PRODUCT_KC`] channels, each continuing the sums of
/// the last in M: 264 channels are two full blocks and a short one (a block that restarted the
/// sums, or a wrong offset into V or U at a later block, shows against the direct convolution),
/// on every path, with a partial last output panel and edge tiles, and the same bits on 2 and 3
/// threads as on 1.
#[test]
fn phased_products_by_k_blocks_match_direct_convolution_on_any_threads() {
    const { assert!(264 > 2 * PRODUCT_KC && 264 % PRODUCT_KC != 0) };
    let (inch, outch, ow, oh) = (264, 40, 19, 18);
    let (pw, ph) = (ow + 2, oh + 2);
    let mut rng = Rng::new(37);
    let w = rng.vec(outch * inch * 9);
    let x = rng.vec(inch * pw * ph);
    let bias = rng.vec(outch);
    let ep = Epilogue { bias: Some(&bias), activation: Activation::Relu };
    let (want, mag) = direct(&w, &x, pw, ph, inch, outch, &bias);
    for path in dispatch::F32.available().into_iter().filter(|p| p.kernels().winograd.is_some()) {
        let (plan, _) = plan_on(path, 4, inch, outch, ow, oh);
        assert!(matches!(plan, Plan::Phased { .. }), "{path:?}: {plan:?}");
        let weights = Weights::new(&w, outch, inch);
        let one = on_any_threads(path, &weights, &x, (pw, ph), (ow, oh), ep, 4);
        assert_near_direct(path, &one, &want, &mag, 2e-5);
    }
}

/// From [`BY_XI_OUTCH`] output channels (from fewer on AVX-512) the phased plan lays V out
/// ξ-major and the input transform writes it by batches of 8 channels: 75 input channels end on a
/// partial batch, and the transforms' jobs split them at other than multiples of 8 on 2 and 3
/// threads (a batch written at a wrong offset, or a partial one dropped, shows against the direct
/// convolution), on every path and tile size, with edge tiles and a partial last output panel.
#[test]
fn xi_major_phased_input_matches_direct_convolution_on_any_threads() {
    let (inch, outch, ow, oh) = (75, BY_XI_OUTCH + 4, 23, 21);
    let (pw, ph) = (ow + 2, oh + 2);
    let mut rng = Rng::new(41);
    let w = rng.vec(outch * inch * 9);
    let x = rng.vec(inch * pw * ph);
    let bias = rng.vec(outch);
    let ep = Epilogue { bias: Some(&bias), activation: Activation::Relu };
    let picked = [0, 17, 131, outch - 1];
    let wp: Vec<f32> = picked.iter().flat_map(|&o| w[o * inch * 9..][..inch * 9].to_vec()).collect();
    let bp: Vec<f32> = picked.iter().map(|&o| bias[o]).collect();
    let (want, mag) = direct(&wp, &x, pw, ph, inch, picked.len(), &bp);
    for path in dispatch::F32.available().into_iter().filter(|p| p.kernels().winograd.is_some()) {
        let weights = Weights::new(&w, outch, inch);
        for m in [2, 4, 6] {
            let (plan, _) = plan_on(path, m, inch, outch, ow, oh);
            assert!(matches!(plan, Plan::Phased { .. }), "{path:?} F({m},3): {plan:?}");
            let one = on_any_threads(path, &weights, &x, (pw, ph), (ow, oh), ep, m);
            let plane = ow * oh;
            let tol = if m == 6 { 8e-5 } else { 2e-5 };
            for (k, &o) in picked.iter().enumerate() {
                let (got, r, a) = (&one[o * plane..][..plane], &want[k * plane..][..plane], &mag[k * plane..][..plane]);
                assert_near_direct(path, got, r, a, tol);
            }
        }
    }
}

/// The x86 input transform on registers (8 lanes, `input_wide`) against the portable body on
/// plain lanes: the same operations in the same order, so V must match bit for bit, at every
/// tile size, in both layouts (channels adjacent by batches of 8, or `[inch][vs][8]`), on a map
/// with edge tiles, lanes past the last tile, and a last batch of 3 channels.
#[test]
fn register_input_transform_matches_the_portable_one_bit_for_bit() {
    fn check<W: transform::Variant>(path: F32Path, fns: transform::TransformFns) {
        let (inch, ow, oh) = (19, 17, 11);
        let (pw, ph) = (ow + 2, oh + 2);
        let mut rng = Rng::new(53);
        let x = rng.vec(inch * pw * ph);
        let (m, n2, mr) = (W::M, W::N * W::N, 8);
        let (tw, th) = (ow.div_ceil(m), oh.div_ceil(m));
        let tiles = tw * th;
        for adjacent in [false, true] {
            let vs = v_stride(n2, mr);
            let (v_ch, v_xi, len) =
                if adjacent { (mr, inch * mr, n2 * inch * mr) } else { (vs * mr, mr, inch * vs * mr) };
            let geo = transform::Geometry { pw, ph, ow, oh, tw, th, m, v_ch, v_xi, ms: 0 };
            for t0 in (0..tiles).step_by(mr) {
                let (mut want, mut got) = (vec![f32::NAN; len], vec![f32::NAN; len]);
                let f = if adjacent { fns.input_adjacent } else { fns.input };
                // SAFETY: the path runs on this CPU (`available`); V sized for every write.
                unsafe {
                    if adjacent {
                        transform::input::<W, 8, false, true>(&x, inch, &geo, t0, want.as_mut_ptr());
                    } else {
                        transform::input::<W, 8, false, false>(&x, inch, &geo, t0, want.as_mut_ptr());
                    }
                    f(&x, inch, &geo, t0, mr, got.as_mut_ptr());
                }
                let same = got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{path:?} F({m},3) adjacent={adjacent} tiles from {t0}");
            }
        }
    }
    let paths =
        dispatch::F32.available().into_iter().filter(|p| p.kernels().winograd.is_some() && p.kernels().gemm.mr == 8);
    for path in paths {
        let fns = path.kernels().winograd.expect("filtered");
        check::<transform::F63>(path, fns.f63);
        check::<transform::F43>(path, fns.f43);
        check::<transform::F23>(path, fns.f23);
    }
}

/// The AVX-512 output transform's arithmetic on registers (`output_rows_avx512`) against the
/// portable body on plain 16-float lanes: the same operations in the same order, so the output
/// must match bit for bit, at every tile size, with bias and ReLU, on a map with edge tiles (rows
/// and columns cut), a partial last tile panel and channel ranges that end inside a 16-lane group.
#[test]
fn register_output_transform_matches_the_portable_one_bit_for_bit() {
    fn check<W: transform::Variant>(path: F32Path, fns: transform::TransformFns) {
        let (outch, outch_pad, ow, oh): (usize, usize, usize, usize) = (37, 48, 13, 11);
        let (m, n2) = (W::M, W::N * W::N);
        let (tw, th) = (ow.div_ceil(m), oh.div_ceil(m));
        let (tiles, count) = (tw * th, 8);
        let ms = m_stride(n2, outch_pad);
        let mut rng = Rng::new(59);
        let mp = rng.vec(count * ms);
        let bias = rng.vec(outch);
        let geo = transform::Geometry { pw: ow + 2, ph: oh + 2, ow, oh, tw, th, m, v_ch: 0, v_xi: 0, ms };
        for t0 in (0..tiles).step_by(count) {
            for (o0, o1) in [(0, outch), (16, 37), (5, 21)] {
                let (mut want, mut got) = (vec![0.0f32; outch * ow * oh], vec![0.0f32; outch * ow * oh]);
                let act = crate::kernels::simd::RegAct::Relu;
                // SAFETY: the path runs on this CPU (`available`); M and the output sized for
                // every read and write.
                unsafe {
                    transform::output::<W, 16, false>(
                        &mp,
                        outch_pad,
                        &geo,
                        t0,
                        count,
                        o0,
                        o1,
                        Some(&bias),
                        act,
                        want.as_mut_ptr(),
                        outch,
                    );
                    (fns.output)(&mp, outch_pad, &geo, t0, count, o0, o1, Some(&bias), act, got.as_mut_ptr(), outch);
                }
                let same = got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{path:?} F({m},3) tiles from {t0}, channels {o0}..{o1}");
            }
        }
    }
    let paths = dispatch::F32.available().into_iter().filter(|p| p.name() == "avx512");
    for path in paths {
        let fns = path.kernels().winograd.expect("avx512 has Winograd");
        check::<transform::F63>(path, fns.f63);
        check::<transform::F43>(path, fns.f43);
        check::<transform::F23>(path, fns.f23);
    }
}
