//! Every int8 path against the reference, bit for bit: odd shapes, k not a multiple of any vector
//! width, column and row tails, grouped sources, strides and dilations, every epilogue form,
//! extreme values (±127 and the −128 ncnn never produces), and sums that would overflow int16.

use super::epilogue::{self, Epilogue, Out, OutPtr};
use super::*;
use crate::base::Activation;
use crate::kernels::dispatch::{self, I8Call, I8Path};

pub(crate) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn f32(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (self.next() >> 40) as f32 / (1u64 << 24) as f32 * (hi - lo)
    }
    /// Mostly uniform bytes, with runs of the extremes.
    pub fn bytes(&mut self, n: usize, style: usize) -> Vec<i8> {
        (0..n)
            .map(|_| match style {
                0 => self.next() as i8,
                1 => [127, -127, -128][self.below(3)],
                _ => (self.below(255) as i32 - 127) as i8,
            })
            .collect()
    }
}

/// Every int8 path this CPU runs (the EVEX form of the ymm VNNI kernel has its own test).
fn paths() -> Vec<I8Path> {
    dispatch::I8.available()
}

fn activations() -> Vec<Activation> {
    vec![
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu(0.1),
        Activation::Clip(-0.7, 0.9),
        Activation::Sigmoid,
        Activation::HardSwish { alpha: 0.2, beta: 0.5 },
        Activation::Mish,
    ]
}

struct Case {
    m: usize,
    pw: usize,
    ph: usize,
    c0: usize,
    channels: usize,
    kernel: (usize, usize),
    dilation: (usize, usize),
    stride: (usize, usize),
    data: Vec<i8>,
    weights: Vec<i8>,
}

impl Case {
    fn source(&self) -> ConvSource<'_> {
        let (ew, eh) = (self.dilation.0 * (self.kernel.0 - 1) + 1, self.dilation.1 * (self.kernel.1 - 1) + 1);
        ConvSource {
            data: &self.data,
            pw: self.pw,
            ph: self.ph,
            c0: self.c0,
            channels: self.channels,
            kernel: self.kernel,
            dilation: self.dilation,
            stride: self.stride,
            ow: (self.pw - ew) / self.stride.0 + 1,
            oh: (self.ph - eh) / self.stride.1 + 1,
        }
    }

    fn random(rng: &mut Rng, style: usize) -> Case {
        let kernel = [(1, 1), (3, 3), (1, 3), (5, 2), (7, 7), (2, 1)][rng.below(6)];
        let stride = [(1, 1), (2, 2), (1, 2), (3, 1)][rng.below(4)];
        let dilation = if rng.below(4) == 0 { (2, 1 + rng.below(2)) } else { (1, 1) };
        let (ew, eh) = (dilation.0 * (kernel.0 - 1) + 1, dilation.1 * (kernel.1 - 1) + 1);
        let pw = ew + rng.below(23);
        let ph = eh + rng.below(11);
        let c = 1 + rng.below(13);
        let c0 = rng.below(c);
        let channels = 1 + rng.below(c - c0);
        let m = 1 + rng.below(40);
        let k = channels * kernel.0 * kernel.1;
        Case {
            m,
            pw,
            ph,
            c0,
            channels,
            kernel,
            dilation,
            stride,
            data: rng.bytes(c * pw * ph, style),
            weights: rng.bytes(m * k, style),
        }
    }
}

fn truth(case: &Case, ep: &Epilogue, int8: bool) -> (Vec<i32>, Vec<f32>, Vec<i8>) {
    let src = case.source();
    let (m, k, n) = (case.m, src.k(), src.n());
    let acc = reference::gemm_i32(&case.weights, m, k, &reference::im2col(&src), n);
    let (f, q) = finished(&acc, m, n, ep, int8);
    (acc, f, q)
}

/// The m×n accumulators `acc` through the portable epilogue: float rows, or int8 ones if `int8`
/// (the other vector empty).
fn finished(acc: &[i32], m: usize, n: usize, ep: &Epilogue, int8: bool) -> (Vec<f32>, Vec<i8>) {
    let mut f = vec![0f32; if int8 { 0 } else { m * n }];
    let mut q = vec![0i8; if int8 { m * n } else { 0 }];
    for p in 0..m {
        let out = if int8 { OutPtr::I8(q[p * n..].as_mut_ptr()) } else { OutPtr::F32(f[p * n..].as_mut_ptr()) };
        // SAFETY: row p has n elements.
        unsafe { epilogue::finish_row_body(&acc[p * n..(p + 1) * n], 0, p, ep, out) };
    }
    (f, q)
}

fn epilogue_for<'a>(rng: &mut Rng, m: usize, scale: &'a mut Vec<f32>, bias: &'a mut Vec<f32>) -> (bool, Epilogue<'a>) {
    *scale = (0..m).map(|p| if p % 7 == 3 { 0.0 } else { rng.f32(1e-4, 4e-3) }).collect();
    *bias = (0..m).map(|_| rng.f32(-1.0, 1.0)).collect();
    let acts = activations();
    let activation = acts[rng.below(acts.len())];
    let int8 = rng.below(2) == 0;
    let with_bias = rng.below(3) != 0;
    let ep = Epilogue {
        scale,
        bias: with_bias.then_some(&bias[..]),
        activation,
        requant: int8.then(|| rng.f32(20.0, 90.0)),
        fused: rng.below(2) == 0,
    };
    (int8, ep)
}

fn check_case<F: Fn(&[i8], usize, usize, &ConvSource, &Epilogue, Out)>(name: &str, seed: u64, run: F) {
    let mut rng = Rng::new(seed);
    for i in 0..160 {
        let case = Case::random(&mut rng, i % 3);
        let (mut scale, mut bias) = (Vec::new(), Vec::new());
        let (int8, ep) = epilogue_for(&mut rng, case.m, &mut scale, &mut bias);
        let src = case.source();
        let (_, f, q) = truth(&case, &ep, int8);
        let n = src.n();
        let what = || {
            format!(
                "{name} case {i}: m={} channels={} kernel={:?} stride={:?} dilation={:?} n={n} act={:?} int8={int8}",
                case.m, case.channels, case.kernel, case.stride, case.dilation, ep.activation
            )
        };
        if int8 {
            // Not zeros: the layers hand the kernel unwritten memory, which it must fill.
            let mut got = vec![77i8; case.m * n];
            run(&case.weights, case.m, src.k(), &src, &ep, Out::I8(&mut got));
            assert_eq!(got, q, "{}", what());
        } else {
            let mut got = vec![f32::NAN; case.m * n];
            run(&case.weights, case.m, src.k(), &src, &ep, Out::F32(&mut got));
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&f), "{}", what());
        }
    }
}

#[test]
fn every_path_matches_the_reference_bit_for_bit() {
    for path in paths() {
        check_case(path.name(), 11, |w, m, k, src, ep, out| conv_gemm(&PackedA::new(path, w, m, k), src, ep, out));
    }
}

/// The kernel body of the `avxvnni` path, EVEX-encoded, so CPUs with AVX-512 VNNI but without
/// AVX-VNNI (this project's machines) still test everything but the VEX encoding.
#[cfg(target_arch = "x86_64")]
#[test]
fn avxvnni_kernel_body_matches_the_reference_via_evex() {
    use crate::kernels::cpu::{cpu_features, Feature::*};
    if !cpu_features().has_all(&[Avx2, Fma, Avx512f, Avx512vl, Avx512vnni]) {
        eprintln!("skipped: no AVX-512 VNNI to run the EVEX form of the ymm VNNI kernel");
        return;
    }
    check_case("evex-ymm", 12, |w, m, k, src, ep, mut out| {
        let a = super::tiling::pack_a::<super::x86::EvexYmm>(w, m, k);
        // SAFETY: checked above that this CPU has the kernel's features.
        unsafe { super::tiling::drive::<super::x86::EvexYmm>(&a, src, ep, &mut out) };
    });
}

#[test]
fn sums_too_large_for_int16_and_extreme_values_are_exact() {
    // k = 4099 of ±127/−128 products: far beyond int16, near nothing for int32.
    for path in paths() {
        for (wv, xv) in [(127i8, 127i8), (-128, -128), (-128, 127), (127, -127)] {
            let (m, k, n) = (9, 4099, 37);
            let w = vec![wv; m * k];
            let x = vec![xv; k * n];
            let src = ConvSource::dense(&x, k, n);
            let scale = vec![1.0f32; m];
            let ep =
                Epilogue { scale: &scale, bias: None, activation: Activation::Identity, requant: None, fused: true };
            let mut got = vec![0f32; m * n];
            conv_gemm(&PackedA::new(path, &w, m, k), &src, &ep, Out::F32(&mut got));
            let want = (k as i64 * i64::from(wv) * i64::from(xv)) as f32;
            assert!(got.iter().all(|&g| g == want), "{path}: {wv}·{xv}·{k}: got {} want {want}", got[0]);
        }
    }
}

#[test]
fn gemm_sizes_around_the_tiles() {
    let mut rng = Rng::new(5);
    for path in paths() {
        for m in [1, 5, 6, 7, 8, 9, 12, 13, 16, 17, 24, 25] {
            for k in [1, 2, 3, 4, 5, 7, 63, 64, 65, 130] {
                for n in [1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 65] {
                    let w = rng.bytes(m * k, 0);
                    let x = rng.bytes(k * n, 0);
                    let src = ConvSource::dense(&x, k, n);
                    let scale = vec![1.0f32; m];
                    let ep = Epilogue {
                        scale: &scale,
                        bias: None,
                        activation: Activation::Identity,
                        requant: None,
                        fused: true,
                    };
                    let mut got = vec![0f32; m * n];
                    conv_gemm(&PackedA::new(path, &w, m, k), &src, &ep, Out::F32(&mut got));
                    let want: Vec<f32> = reference::gemm_i32(&w, m, k, &x, n).iter().map(|&v| v as f32).collect();
                    assert_eq!(got, want, "{path}: m={m} k={k} n={n}");
                }
            }
        }
    }
}

/// k large enough that a task packs its column panels a few at a time (several blocks, the
/// last one short, the last panel a tail), with rows past the last full row panel.
#[test]
fn blocks_of_column_panels_match_the_reference() {
    let mut rng = Rng::new(6);
    for path in paths() {
        for (m, k, n) in [(19, 1001, 6 * 32 + 7), (9, 2300, 3 * 16 + 5), (3, 700, 11 * 32 + 1)] {
            let w = rng.bytes(m * k, 0);
            let x = rng.bytes(k * n, 2);
            let src = ConvSource::dense(&x, k, n);
            let scale: Vec<f32> = (0..m).map(|_| rng.f32(1e-4, 4e-3)).collect();
            let ep =
                Epilogue { scale: &scale, bias: None, activation: Activation::Relu, requant: Some(50.0), fused: true };
            let mut got = vec![7i8; m * n];
            conv_gemm(&PackedA::new(path, &w, m, k), &src, &ep, Out::I8(&mut got));
            let acc = reference::gemm_i32(&w, m, k, &x, n);
            let mut want = vec![0i8; m * n];
            for p in 0..m {
                // SAFETY: row p has n elements.
                unsafe {
                    epilogue::finish_row_body(
                        &acc[p * n..(p + 1) * n],
                        0,
                        p,
                        &ep,
                        OutPtr::I8(want[p * n..].as_mut_ptr()),
                    );
                };
            }
            assert_eq!(got, want, "{path}: m={m} k={k} n={n}");
        }
    }
}

/// The small-map form (few column panels, several threads) with many row panels, which it
/// splits into tasks that shrink where the threads meet: on 2 and 3 threads the same output as
/// the reference's, bit for bit, for row counts with and without a partial last row panel, row
/// panels that do and do not divide by the threads, and a column tail.
#[test]
fn small_maps_with_many_row_panels_match_the_reference() {
    let mut rng = Rng::new(33);
    let mut split = 0;
    for threads in [2, 3] {
        let pool = crate::base::parallel::Pool::new(threads).expect("pool");
        for path in paths() {
            for (m, k, n) in [(1000, 67, 169), (203, 40, 49), (64, 9, 33), (97, 130, 196), (48, 16, 7)] {
                let w = rng.bytes(m * k, 0);
                let x = rng.bytes(k * n, 2);
                let src = ConvSource::dense(&x, k, n);
                let (mut scale, mut bias) = (Vec::new(), Vec::new());
                let (int8, ep) = epilogue_for(&mut rng, m, &mut scale, &mut bias);
                let a = PackedA::new(path, &w, m, k);
                split += usize::from(pool.install(|| quantizes_in_gemm(&a, n)) && m >= 100);
                let (want_f, want_q) = finished(&reference::gemm_i32(&w, m, k, &x, n), m, n, &ep, int8);
                let what = format!("{path} threads={threads} m={m} k={k} n={n} int8={int8}");
                if int8 {
                    let (want, mut got) = (want_q, vec![77i8; m * n]);
                    pool.install(|| conv_gemm(&a, &src, &ep, Out::I8(&mut got)));
                    assert_eq!(got, want, "{what}");
                } else {
                    let (want, mut got) = (want_f, vec![f32::NAN; m * n]);
                    pool.install(|| conv_gemm(&a, &src, &ep, Out::F32(&mut got)));
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&got), bits(&want), "{what}");
                }
            }
        }
    }
    // The tiled SIMD paths take the small-map form on the large ones (the reference never does).
    assert!(split > 0 || paths().iter().all(|p| p.name() == "reference"));
}

/// Output rows of 32 pixels and more at strides 1 and 2, so whole panels are one run of the
/// input (the packers' direct loads), beside panels that cross rows.
#[test]
fn wide_rows_at_stride_one_and_two_match_the_reference() {
    let mut rng = Rng::new(8);
    for path in paths() {
        for (stride, kernel, pw) in
            [((2, 2), (3, 3), 81), ((2, 2), (1, 1), 96), ((1, 1), (3, 3), 70), ((2, 1), (2, 3), 67)]
        {
            let (ph, channels, m) = (7, 5, 11);
            let k = channels * kernel.0 * kernel.1;
            let case = Case {
                m,
                pw,
                ph,
                c0: 0,
                channels,
                kernel,
                dilation: (1, 1),
                stride,
                data: rng.bytes(channels * pw * ph, 2),
                weights: rng.bytes(m * k, 0),
            };
            let scale: Vec<f32> = (0..m).map(|_| rng.f32(1e-4, 4e-3)).collect();
            let ep =
                Epilogue { scale: &scale, bias: None, activation: Activation::Identity, requant: None, fused: true };
            let (_, want, _) = truth(&case, &ep, false);
            let src = case.source();
            let mut got = vec![f32::NAN; m * src.n()];
            conv_gemm(&PackedA::new(path, &case.weights, m, k), &src, &ep, Out::F32(&mut got));
            assert_eq!(got, want, "{path}: stride {stride:?} kernel {kernel:?} pw {pw}");
        }
    }
}

#[test]
fn quantize_matches_the_reference_on_every_path() {
    let mut rng = Rng::new(9);
    let mut x: Vec<f32> = (0..10_007).map(|_| rng.f32(-3.0, 3.0)).collect();
    // Rounding ties and the values just beside them, after scaling by 1.
    for (i, v) in
        [0.5f32, -0.5, 1.5, -1.5, 126.5, -126.5, 127.5, -127.5, 0.499_999_97, -0.499_999_97, 1e9, -1e9, f32::NAN]
            .into_iter()
            .enumerate()
    {
        x[i * 13] = v;
    }
    for path in paths() {
        for scale in [1.0f32, 42.7, 127.0 / 3.0] {
            let mut want = vec![0i8; x.len()];
            reference::quantize(&x, scale, &mut want);
            let mut got = vec![0i8; x.len()];
            quantize(path, &x, scale, &mut got);
            assert_eq!(got, want, "{path} scale {scale}");
        }
    }
}

#[test]
fn gemv_matches_the_reference_on_every_path() {
    let mut rng = Rng::new(21);
    for path in paths() {
        for (m, k) in [(1, 1), (3, 5), (4, 64), (5, 65), (9, 127), (17, 1000), (1000, 512), (2, 4099)] {
            for style in 0..3 {
                let w = rng.bytes(m * k, style);
                let x = rng.bytes(k, style);
                let (mut scale, mut bias) = (Vec::new(), Vec::new());
                let (int8, ep) = epilogue_for(&mut rng, m, &mut scale, &mut bias);
                let acc = reference::gemm_i32(&w, m, k, &x, 1);
                let packed = PackedRows::new(path, &w, m, k);
                if int8 {
                    let mut want = vec![0i8; m];
                    let mut got = vec![0i8; m];
                    for p in 0..m {
                        unsafe {
                            epilogue::finish_row_body(&acc[p..=p], 0, p, &ep, OutPtr::I8(want[p..].as_mut_ptr()));
                        };
                    }
                    gemv(&packed, &x, &ep, Out::I8(&mut got));
                    assert_eq!(got, want, "{path} m={m} k={k}");
                } else {
                    let mut want = vec![0f32; m];
                    let mut got = vec![0f32; m];
                    for p in 0..m {
                        unsafe {
                            epilogue::finish_row_body(&acc[p..=p], 0, p, &ep, OutPtr::F32(want[p..].as_mut_ptr()));
                        };
                    }
                    gemv(&packed, &x, &ep, Out::F32(&mut got));
                    assert_eq!(
                        got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        "{path} m={m} k={k}"
                    );
                }
            }
        }
    }
}

#[test]
fn many_threads_give_the_same_result() {
    for threads in [2, 3] {
        let pool = crate::base::parallel::Pool::new(threads).expect("pool");
        for path in paths() {
            check_case(path.name(), 77, |w, m, k, src, ep, out| {
                pool.install(|| conv_gemm(&PackedA::new(path, w, m, k), src, ep, out));
            });
        }
    }
}

/// The small-map GEMM that quantizes a 1×1 convolution's float input as it packs gives, on 2 and
/// 3 threads, what quantizing the input first and the plain GEMM give on one: ragged k (padding
/// rows in a slice), column tails, maps of 1 to 7 panels, every epilogue form.
#[test]
fn quantizing_as_it_packs_matches_quantizing_first() {
    let mut rng = Rng::new(91);
    let mut ran = 0;
    for threads in [2, 3] {
        let pool = crate::base::parallel::Pool::new(threads).expect("pool");
        for path in paths() {
            for &(m, k, n) in
                &[(16, 64, 196), (24, 512, 196), (48, 832, 49), (9, 3, 40), (40, 130, 100), (100, 17, 33), (72, 256, 7)]
            {
                let weights = rng.bytes(m * k, 2);
                let x: Vec<f32> = (0..k * n).map(|i| if i % 11 == 5 { 0.0 } else { rng.f32(-3.0, 3.0) }).collect();
                let s_in = rng.f32(10.0, 60.0);
                let (mut scale, mut bias) = (Vec::new(), Vec::new());
                let (int8, ep) = epilogue_for(&mut rng, m, &mut scale, &mut bias);
                let a = PackedA::new(path, &weights, m, k);
                if !pool.install(|| quantizes_in_gemm(&a, n)) {
                    continue;
                }
                ran += 1;
                let mut q = vec![0i8; k * n];
                quantize(path, &x, s_in, &mut q);
                let src = ConvSource::dense(&q, k, n);
                let what = format!("{path} threads={threads} m={m} k={k} n={n} int8={int8}");
                if int8 {
                    let (mut want, mut got) = (vec![0i8; m * n], vec![77i8; m * n]);
                    conv_gemm(&a, &src, &ep, Out::I8(&mut want));
                    pool.install(|| conv_gemm_quantizing(&a, &x, s_in, n, &ep, Out::I8(&mut got)));
                    assert_eq!(got, want, "{what}");
                } else {
                    let (mut want, mut got) = (vec![0f32; m * n], vec![f32::NAN; m * n]);
                    conv_gemm(&a, &src, &ep, Out::F32(&mut want));
                    pool.install(|| conv_gemm_quantizing(&a, &x, s_in, n, &ep, Out::F32(&mut got)));
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&got), bits(&want), "{what}");
                }
            }
        }
    }
    // The SIMD paths take it on these shapes (the reference never does).
    assert!(ran > 0 || paths().iter().all(|p| p.name() == "reference"));
}

/// Which path this CPU must pick: the best it has, unless a forcing variable is set; CI's emulated
/// CPUs name theirs in `NCNNQ_EXPECT_PATHS=i8=<path>` (e.g. dotprod under qemu `-cpu max`, neon
/// under `-cpu cortex-a72`). Also fails if the dispatched GEMM did not run that path's kernel.
#[test]
fn the_intended_path_runs() {
    let family = &dispatch::I8;
    let forced = std::env::var(family.var()).is_ok_and(|v| !v.is_empty())
        || std::env::var(dispatch::GLOBAL_VAR).is_ok_and(|v| family.paths().iter().any(|p| p.name == v));
    let chosen = family.selected();
    let names: Vec<_> = family.available().into_iter().map(dispatch::Path::name).collect();
    eprintln!("int8 path: {chosen} (available: {names:?})");
    if !forced {
        assert_eq!(chosen, family.best());
        // What the CPU has, asked of std rather than of our own detection.
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx512bw") && has!("avx512vl") && has!("avx512dq") && has!("avx512vnni") {
                assert_eq!(chosen.name(), "avx512vnni", "this CPU has AVX-512 VNNI");
            }
        }
        #[cfg(target_arch = "aarch64")]
        if std::arch::is_aarch64_feature_detected!("dotprod") {
            assert_eq!(chosen.name(), "dotprod", "this CPU has dotprod");
        }
    }
    if let Ok(spec) = std::env::var("NCNNQ_EXPECT_PATHS") {
        for item in spec.split(',') {
            if let Some(("i8", want)) = item.split_once('=').map(|(f, p)| (f.trim(), p.trim())) {
                assert_eq!(chosen.name(), want, "NCNNQ_EXPECT_PATHS says i8={want}");
            }
        }
    }
    let before = chosen.calls(I8Call::Gemm);
    let (m, k, n) = (8, 16, 40);
    let (w, x) = (vec![1i8; m * k], vec![2i8; k * n]);
    let scale = vec![1.0f32; m];
    let ep = Epilogue { scale: &scale, bias: None, activation: Activation::Identity, requant: None, fused: true };
    let mut out = vec![0f32; m * n];
    conv_gemm(&PackedA::new(chosen, &w, m, k), &ConvSource::dense(&x, k, n), &ep, Out::F32(&mut out));
    assert!(out.iter().all(|&v| v == 32.0));
    assert!(chosen.calls(I8Call::Gemm) > before, "the {chosen} GEMM kernel did not run");
}

#[test]
fn quantize_pad_fills_borders_and_quantizes_the_interior() {
    let mut rng = Rng::new(31);
    for path in paths() {
        // Widths past 64 and side pads past 4 take the copy's and the fill's general forms.
        for _ in 0..80 {
            let (c, h, w) = (1 + rng.below(4), 1 + rng.below(9), 1 + rng.below(80));
            let pads = [rng.below(7), rng.below(7), rng.below(3), rng.below(2)];
            let x: Vec<f32> = (0..c * h * w).map(|_| rng.f32(-2.0, 2.0)).collect();
            let q: Vec<i8> = rng.bytes(c * h * w, 0);
            let pad = rng.next() as i8;
            let (pw, ph) = (w + pads[0] + pads[1], h + pads[2] + pads[3]);
            let want = |v: &dyn Fn(usize) -> i8| -> Vec<i8> {
                let mut out = vec![pad; c * pw * ph];
                for ch in 0..c {
                    for y in 0..h {
                        for xx in 0..w {
                            out[(ch * ph + y + pads[2]) * pw + xx + pads[0]] = v((ch * h + y) * w + xx);
                        }
                    }
                }
                out
            };
            let (got, gw, gh) = quantize_pad(path, Activations::F32(&x), 30.0, (c, h, w), pads, pad).unwrap();
            assert_eq!((gw, gh), (pw, ph));
            assert_eq!(&got[..], &want(&|i| epilogue::float2int8(x[i] * 30.0))[..], "{path} f32 {pads:?}");
            let (got, _, _) = quantize_pad(path, Activations::I8(&q), 30.0, (c, h, w), pads, pad).unwrap();
            assert_eq!(&got[..], &want(&|i| q[i])[..], "{path} i8 {pads:?}");
        }
    }
}
