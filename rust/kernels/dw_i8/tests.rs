//! Every int8 path's depthwise rows against the definition, bit for bit.

use super::*;
use crate::base::Activation;
use crate::kernels::dispatch::{self, I8Call};
use crate::kernels::gemm_i8::epilogue::{finish_row_body, OutPtr};
use crate::kernels::gemm_i8::{Epilogue, Out};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A source of `channels` planes of pw×ph, already padded, with the output its window fits.
fn padded_source(
    data: &[i8],
    (pw, ph): (usize, usize),
    channels: usize,
    kernel: (usize, usize),
    dilation: (usize, usize),
    stride: (usize, usize),
) -> DwSource<'_> {
    let (ew, eh) = (dilation.0 * (kernel.0 - 1) + 1, dilation.1 * (kernel.1 - 1) + 1);
    let (ow, oh) = ((pw - ew) / stride.0 + 1, (ph - eh) / stride.1 + 1);
    DwSource { data, pad: None, pw, ph, channels, kernel, dilation, stride, ow, oh }
}

#[test]
fn every_path_matches_the_definition() {
    let mut rng = Rng(3);
    for i in 0..300 {
        let kernel = [(3, 3), (5, 5), (1, 1), (3, 1), (7, 7), (2, 3), (4, 2), (1, 5)][rng.below(8)];
        let stride = [(1, 1), (2, 2), (1, 2), (3, 3), (2, 1)][rng.below(5)];
        let dilation = [(1, 1), (1, 1), (1, 1), (2, 2), (3, 1), (1, 2)][rng.below(6)];
        let (ew, eh) = (dilation.0 * (kernel.0 - 1) + 1, dilation.1 * (kernel.1 - 1) + 1);
        let pw = ew + rng.below(70);
        let ph = eh + rng.below(9);
        let channels = 1 + rng.below(9);
        let extreme = i % 4 == 0;
        let byte = |r: &mut Rng| if extreme { [127i8, -127, -128][r.below(3)] } else { r.next() as i8 };
        let data: Vec<i8> = (0..channels * pw * ph).map(|_| byte(&mut rng)).collect();
        let weights: Vec<i8> = (0..channels * kernel.0 * kernel.1).map(|_| byte(&mut rng)).collect();
        let src = padded_source(&data, (pw, ph), channels, kernel, dilation, stride);
        let n = src.ow * src.oh;
        let scale: Vec<f32> = (0..channels).map(|c| if c == 2 { 0.0 } else { 1e-3 * (c + 1) as f32 }).collect();
        let bias: Vec<f32> = (0..channels).map(|c| c as f32 * 0.1 - 0.3).collect();
        let int8 = i % 2 == 1;
        let ep = Epilogue {
            scale: &scale,
            bias: (i % 3 != 0).then_some(&bias[..]),
            activation: [Activation::Relu, Activation::Identity, Activation::LeakyRelu(0.2)][i % 3],
            requant: int8.then_some(57.3),
            fused: i % 5 < 2,
        };
        let acc = reference_i32(&src, &weights);
        let mut want_f = vec![0f32; channels * n];
        let mut want_q = vec![0i8; channels * n];
        for c in 0..channels {
            let out =
                if int8 { OutPtr::I8(want_q[c * n..].as_mut_ptr()) } else { OutPtr::F32(want_f[c * n..].as_mut_ptr()) };
            unsafe { finish_row_body(&acc[c * n..(c + 1) * n], 0, c, &ep, out) };
        }
        // Each path with its plane kernel (where it has one and the CPU runs it) and without.
        for (path, plane) in dispatch::I8.available().into_iter().flat_map(|p| [(p, true), (p, false)]) {
            let what = format!(
                "{path} (plane {plane}) case {i}: kernel {kernel:?} stride {stride:?} dilation {dilation:?} {pw}x{ph}"
            );
            if int8 {
                // Not zeros: the layers hand the kernel unwritten memory, which it must fill.
                let mut got = vec![77i8; channels * n];
                depthwise_with(path, &src, &weights, &ep, Out::I8(&mut got), plane);
                assert_eq!(got, want_q, "{what}");
            } else {
                let mut got = vec![f32::NAN; channels * n];
                depthwise_with(path, &src, &weights, &ep, Out::F32(&mut got), plane);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want_f), "{what}");
            }
        }
    }
}

#[test]
fn the_selected_path_runs_the_depthwise_kernel() {
    let path = dispatch::I8.selected();
    let before = path.calls(I8Call::Depthwise);
    let data = vec![1i8; 2 * 20 * 5];
    let src = DwSource {
        data: &data,
        pad: None,
        pw: 20,
        ph: 5,
        channels: 2,
        kernel: (3, 3),
        dilation: (1, 1),
        stride: (1, 1),
        ow: 18,
        oh: 3,
    };
    let scale = [1.0f32, 1.0];
    let ep = Epilogue { scale: &scale, bias: None, activation: Activation::Identity, requant: None, fused: true };
    let mut out = vec![0f32; 2 * 54];
    depthwise(path, &src, &[2i8; 18], &ep, Out::F32(&mut out));
    assert!(out.iter().all(|&v| v == 18.0));
    assert!(path.calls(I8Call::Depthwise) > before, "the {path} depthwise kernel did not run");
}

/// The plan covers each output once, in order, and its windows stay within 64 bytes.
#[test]
fn the_vector_plan_covers_every_output_once() {
    let mut rng = Rng(11);
    for _ in 0..200 {
        let kernel = (1 + rng.below(4), 1 + rng.below(5));
        let stride = (1 + rng.below(3), 1 + rng.below(3));
        let dilation = (1 + rng.below(3), 1 + rng.below(2));
        let (ew, eh) = (dilation.0 * (kernel.0 - 1) + 1, dilation.1 * (kernel.1 - 1) + 1);
        let (pw, ph) = (ew + rng.below(80), eh + rng.below(12));
        let src = padded_source(&[], (pw, ph), 1, kernel, dilation, stride);
        let plan = plan::VecPlan::new(&src.plane()).expect("kernel rows of ≤ 4 taps have a plan");
        let mut next = 0;
        for v in &plan.vecs {
            assert_eq!(v.out, next);
            assert!((1..=16).contains(&v.lanes));
            let last = 64 - v.load_mask.leading_zeros() as usize;
            for l in 0..v.lanes {
                let (oy, ox) = ((v.out + l) / src.ow, (v.out + l) % src.ow);
                for t in 0..kernel.0 {
                    let byte = plan.patterns[v.pattern][4 * l + t] as usize;
                    assert_eq!(v.at + byte, oy * stride.1 * pw + ox * stride.0 + t * dilation.0);
                    assert!(byte < last, "byte {byte} outside the load mask");
                }
            }
            next += v.lanes;
        }
        assert_eq!(next, src.ow * src.oh);
    }
}

/// Unpadded planes that the kernel pads itself give what the padded planes give.
#[test]
fn the_kernel_pads_unpadded_planes_as_the_caller_would() {
    let path = dispatch::I8.selected();
    let mut rng = Rng(5);
    let mut ran = 0;
    for i in 0..150 {
        let kernel = [(3, 3), (1, 1), (3, 1), (2, 3), (4, 2), (1, 5)][rng.below(6)];
        let stride = [(1, 1), (2, 2), (1, 2), (3, 3)][rng.below(4)];
        let dilation = [(1, 1), (1, 1), (2, 2)][rng.below(3)];
        let (ew, eh) = (dilation.0 * (kernel.0 - 1) + 1, dilation.1 * (kernel.1 - 1) + 1);
        let (w, h) = (1 + rng.below(40), 1 + rng.below(9));
        let [left, right, top, bottom] = [rng.below(3), rng.below(3), rng.below(3), rng.below(3)];
        let (pw, ph) = (w + left + right, h + top + bottom);
        if pw < ew || ph < eh {
            continue;
        }
        let channels = 1 + rng.below(5);
        let value = [0i8, -3, 127][i % 3];
        let data: Vec<i8> = (0..channels * w * h).map(|_| rng.next() as i8).collect();
        let mut padded = vec![value; channels * pw * ph];
        for c in 0..channels {
            for y in 0..h {
                let at = (c * ph + top + y) * pw + left;
                padded[at..at + w].copy_from_slice(&data[(c * h + y) * w..(c * h + y + 1) * w]);
            }
        }
        let weights: Vec<i8> = (0..channels * kernel.0 * kernel.1).map(|_| rng.next() as i8).collect();
        let base = padded_source(&padded, (pw, ph), channels, kernel, dilation, stride);
        let unpadded = DwSource { data: &data, pad: Some(PadSpec { w, h, left, top, value }), ..base };
        if !pads_itself(path, &unpadded) {
            continue;
        }
        let n = base.ow * base.oh;
        let scale: Vec<f32> = (0..channels).map(|c| 1e-3 * (c + 1) as f32).collect();
        let ep =
            Epilogue { scale: &scale, bias: None, activation: Activation::Identity, requant: Some(9.5), fused: false };
        let (mut want, mut got) = (vec![0i8; channels * n], vec![1i8; channels * n]);
        depthwise(path, &base, &weights, &ep, Out::I8(&mut want));
        depthwise(path, &unpadded, &weights, &ep, Out::I8(&mut got));
        assert_eq!(
            got, want,
            "case {i}: kernel {kernel:?} stride {stride:?} {w}x{h} pads {left} {right} {top} {bottom}"
        );
        ran += 1;
    }
    // Only CPUs with AVX-512 VBMI pad in the kernel.
    eprintln!("{ran} cases padded by the kernel");
}
