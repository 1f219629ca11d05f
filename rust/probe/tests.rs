//! The probes against the engine: a small model with every int8 form (convolution, 6-bit 3×3,
//! grouped, depthwise with and without ncnn's `rcpps`, inner product), fused ReLU, `LeakyReLU`,
//! Clip, Sigmoid, Mish, HardSwish, a non-zero pad value, requantized outputs through a Split; the
//! reference is `Net` on the int8 file `quantize` + the writer produce, read back.

use super::*;
use crate::engine::{Net, NetOptions, Shape, Tensor, TensorData};
use crate::model::{self, random_weights, Graph, ParamFormat, Storage, WeightData};
use crate::quantize::{self, ScaleTable};
use std::collections::BTreeMap;
use std::path::PathBuf;

const MODEL: &str = "7767517
13 14
Input                data 0 1 data 0=11 1=9 2=6
Convolution          c1   1 1 data c1 0=12 1=3 3=1 4=1 5=1 6=648 9=1
ConvolutionDepthWise dw1  1 1 c1 dw1 0=12 1=3 3=1 4=1 5=1 6=108 7=12 9=2 -23310=1,1.000000e-01
ConvolutionDepthWise g1   1 1 dw1 g1 0=16 1=3 3=2 4=1 5=1 6=432 7=4 9=3 -23310=2,0.000000e+00,6.000000e+00
ConvolutionDepthWise dw2  1 1 g1 dw2 0=16 1=5 3=1 4=2 5=1 6=400 7=16 9=4
Convolution          c2   1 1 dw2 c2 0=8 1=1 5=1 6=128 9=6 -23310=2,2.000000e-01,5.000000e-01
Split                sp   1 2 c2 c2a c2b
Convolution          c3   1 1 c2a c3 0=8 1=3 2=2 4=-233 15=-233 14=-233 16=-233 5=1 6=576 18=2.500000e+00
Convolution          c4   1 1 c2b c4 0=8 1=1 5=1 6=64 9=5
Eltwise              add  2 1 c3 c4 e 0=1
Pooling              pool 1 1 e pool 0=1 4=1
InnerProduct         fc   1 1 pool fc 0=10 1=1 2=80 9=1
InnerProduct         fc2  1 1 fc fc2 0=5 1=0 2=50
";

const QUANTIZABLE: [&str; 9] = ["c1", "dw1", "g1", "dw2", "c2", "c3", "c4", "fc", "fc2"];

fn model() -> Graph {
    let mut g = model::param_text::parse(MODEL, "probe-test.param").unwrap();
    random_weights::fill_random_weights(&mut g, 11).unwrap();
    g
}

fn input() -> Tensor {
    let mut state = 5u64;
    let data = (0..6 * 9 * 11)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 6.0
        })
        .collect();
    Tensor::new(Shape::d3(11, 9, 6), data)
}

/// Every blob of the fp32 model on [`input`].
fn fp32_blobs(g: &Graph) -> BTreeMap<String, Tensor> {
    let net = Net::new(g, &NetOptions::default()).unwrap();
    let wanted: Vec<usize> = (0..g.blobs.len()).collect();
    let out = net.run(vec![(0, input())], &wanted).unwrap();
    g.blobs.iter().map(|b| b.name.clone()).zip(out).collect()
}

fn absmax(v: &[f32]) -> f32 {
    v.iter().fold(0.0f32, |m, x| m.max(x.abs()))
}

/// A kl-like table: weight scales from each row's absmax (31 levels for 6-bit layers), input
/// scales from the fp32 input blob's absmax.
fn table(g: &Graph, blobs: &BTreeMap<String, Tensor>) -> ScaleTable {
    let mut t = ScaleTable::default();
    for name in QUANTIZABLE {
        let probe = LayerProbe::new(g, name).unwrap();
        let qmax = if probe.six_bit() { 31.0 } else { 127.0 };
        let rows = probe.weights().chunks(probe.weights().len() / probe.scale_count());
        t.weights.insert(format!("{name}_param_0"), rows.map(|r| qmax / absmax(r)).collect());
        let l = &g.layers[g.layer_index(name).unwrap()];
        let x = &blobs[&g.blobs[l.bottoms[0]].name];
        t.activations.insert(name.to_string(), 127.0 / absmax(x.f32()));
    }
    t
}

fn restricted(t: &ScaleTable, int8: &[&str]) -> ScaleTable {
    let keep = |k: &str| int8.contains(&k.rsplit_once("_param_").map_or(k, |(l, _)| l));
    ScaleTable {
        weights: t.weights.iter().filter(|(k, _)| keep(k)).map(|(k, v)| (k.clone(), v.clone())).collect(),
        activations: t.activations.iter().filter(|(k, _)| keep(k)).map(|(k, v)| (k.clone(), *v)).collect(),
    }
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ncnnq-probe-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `g` written as `ncnnq int8` writes it (fp16 float arrays) and read back.
fn through_file(g: &Graph, tag: &str) -> Graph {
    let dir = scratch(tag);
    let (param, bin) = (dir.join("m.param"), dir.join("m.bin"));
    model::save(g, &param, Some(&bin), Storage::F16, ParamFormat::Text).unwrap();
    let back = model::load(&param, Some(&bin)).unwrap();
    std::fs::remove_dir_all(dir).ok();
    back
}

fn run(g: &Graph, fed: &str, x: &Tensor, outputs: &[&str]) -> Vec<Tensor> {
    let net = Net::new(g, &NetOptions::default()).unwrap();
    let out: Vec<usize> = outputs.iter().map(|o| net.blob_index(o).unwrap()).collect();
    net.run(vec![(net.blob_index(fed).unwrap(), x.clone())], &out).unwrap()
}

fn bits(t: &Tensor) -> Vec<u32> {
    match &t.data {
        TensorData::F32(v) => v.iter().map(|x| x.to_bits()).collect(),
        TensorData::I8(v) => v.iter().map(|&q| u32::from(q as u8) | 0x8000_0000).collect(),
    }
}

fn output_bits(o: &Output) -> Vec<u32> {
    match o {
        Output::F32(v) => v.iter().map(|x| x.to_bits()).collect(),
        Output::I8(v) => v.iter().map(|&q| u32::from(q as u8) | 0x8000_0000).collect(),
    }
}

fn view(t: &Tensor) -> BlobView<'_> {
    BlobView { shape: t.shape, data: t.f32() }
}

fn layer<'a>(g: &'a Graph, name: &str) -> &'a model::Layer {
    &g.layers[g.layer_index(name).unwrap()]
}

fn blob_of(g: &Graph, i: usize) -> String {
    g.blobs[i].name.clone()
}

fn top_scale(l: &model::Layer) -> Option<f32> {
    l.weight("top_int8_scale").map(|w| w.data.to_f32()[0])
}

/// The int8 layer's output in `int8` (a file's graph) on `x`, next to the probe's simulation.
fn compare_layer(fp32: &Graph, int8: &Graph, name: &str, x: &Tensor, q: &Quantization) {
    let l = layer(int8, name);
    let want = &run(int8, &blob_of(int8, l.bottoms[0]), x, &[&blob_of(int8, l.tops[0])])[0];
    let probe = LayerProbe::new(fp32, name).unwrap();
    let patches = probe.sample(BlobView { shape: x.shape, data: x.f32() }, None, usize::MAX, 0).unwrap();
    let got = probe.simulate(Columns::F32(&patches), q).unwrap();
    let want = if x.shape.dims == 2 && probe.form == Form::InnerProduct {
        // Rows × outputs in the blob, outputs × rows from the probe.
        let v = want.f32();
        let (rows, m) = (x.shape.h, probe.num_output);
        Tensor::new(Shape::d1(v.len()), (0..v.len()).map(|i| v[(i % rows) * m + i / rows]).collect())
    } else {
        want.clone()
    };
    assert_eq!(output_bits(&got), bits(&want), "{name}: probe and Net differ");
    let q8 = probe.quantize_input(&patches, q.input_scale).unwrap();
    let again = probe.simulate(Columns::I8 { data: &q8, n: patches.n }, q).unwrap();
    assert_eq!(again, got, "{name}: int8 columns give the same outputs");
}

#[test]
fn layer_probe_equals_the_int8_layer_bit_for_bit() {
    let g = model();
    let blobs = fp32_blobs(&g);
    let t = table(&g, &blobs);
    let (int8, report) = quantize::quantize(&g, &t).unwrap();
    assert_eq!(report.requantized, ["c1", "dw1", "g1", "dw2", "c2"], "the model covers requantized outputs");
    let int8 = through_file(&int8, "layer");
    for name in QUANTIZABLE {
        let x = &blobs[&blob_of(&g, layer(&g, name).bottoms[0])];
        let q = Quantization {
            weight_scales: &t.weights[&format!("{name}_param_0")],
            input_scale: t.activations[name],
            output_scale: top_scale(layer(&int8, name)),
            weights: None,
            bias: None,
            arithmetic: Arithmetic::Exact,
        };
        compare_layer(&g, &int8, name, x, &q);
    }
    // The same layers with float outputs (the depthwise de-scale's rcpps shows there).
    let mut float_out = quantize::quantize(&g, &t).unwrap().0;
    for l in float_out.layers.iter_mut().filter(|l| l.params.int(8, 0) > 100) {
        l.params.set_int(8, l.params.int(8, 0) - 100);
        l.weights.retain(|w| w.name != "top_int8_scale");
    }
    let float_out = through_file(&float_out, "float-out");
    for name in QUANTIZABLE {
        let x = &blobs[&blob_of(&g, layer(&g, name).bottoms[0])];
        let q = Quantization {
            weight_scales: &t.weights[&format!("{name}_param_0")],
            input_scale: t.activations[name],
            output_scale: None,
            weights: None,
            bias: None,
            arithmetic: Arithmetic::Exact,
        };
        compare_layer(&g, &float_out, name, x, &q);
    }
    // An InnerProduct reading rows of a 2-D blob.
    let rows = Tensor::new(Shape::d2(8, 3), (0..24).map(|i| (i as f32 * 0.37).sin() * 2.0).collect());
    let q = Quantization {
        weight_scales: &t.weights["fc_param_0"],
        input_scale: t.activations["fc"],
        output_scale: None,
        weights: None,
        bias: None,
        arithmetic: Arithmetic::Exact,
    };
    compare_layer(&g, &int8, "fc", &rows, &q);
}

#[test]
fn layer_probe_takes_int8_weights_and_bias_as_the_file_holds_them() {
    let g = model();
    let blobs = fp32_blobs(&g);
    let t = table(&g, &blobs);
    let (mut int8, _) = quantize::quantize(&g, &t).unwrap();
    for name in ["c1", "g1", "dw2", "fc"] {
        let probe = LayerProbe::new(&g, name).unwrap();
        let scales = &t.weights[&format!("{name}_param_0")];
        // Rounding choices a method might make: every third weight one step up.
        let mut q = probe.quantize_weights(scales).unwrap();
        q.iter_mut().step_by(3).for_each(|v| *v = v.saturating_add(1));
        let bias: Vec<f32> = (0..probe.num_output).map(|i| i as f32 * 0.25 - 1.0).collect();
        let l = &mut int8.layers[g.layer_index(name).unwrap()];
        l.weight_mut("weight").unwrap().data = WeightData::I8(q.clone());
        l.weight_mut("bias").unwrap().data = WeightData::F32(bias.clone());
        let file = through_file(&int8, name);
        let x = &blobs[&blob_of(&g, layer(&g, name).bottoms[0])];
        let quant = Quantization {
            weight_scales: scales,
            input_scale: t.activations[name],
            output_scale: top_scale(layer(&file, name)),
            weights: Some(&q),
            bias: Some(&bias),
            arithmetic: Arithmetic::Exact,
        };
        compare_layer(&g, &file, name, x, &quant);
    }
}

#[test]
fn candidate_rows_equal_single_simulations() {
    let g = model();
    let blobs = fp32_blobs(&g);
    let t = table(&g, &blobs);
    for (name, arithmetic) in QUANTIZABLE.iter().flat_map(|&n| [(n, Arithmetic::Exact), (n, Arithmetic::Portable)]) {
        let probe = LayerProbe::new(&g, name).unwrap();
        let x = &blobs[&blob_of(&g, layer(&g, name).bottoms[0])];
        let patches = probe.sample(view(x), None, 40, 3).unwrap();
        let scales = t.weights[&format!("{name}_param_0")].clone();
        let last = probe.scale_count() - 1;
        let (units, cands) = (vec![last, 0, last], vec![scales[last] * 0.8, scales[0] * 1.3, scales[last] * 1.1]);
        let s_in = t.activations[name];
        let rows =
            probe.evaluate_weight_scales(Columns::F32(&patches), s_in, &units, &cands, None, arithmetic).unwrap();
        let block = probe.outputs_per_scale() * patches.n;
        for (r, (&u, &c)) in units.iter().zip(&cands).enumerate() {
            let mut s = scales.clone();
            s[u] = c;
            let q = Quantization {
                weight_scales: &s,
                input_scale: s_in,
                output_scale: None,
                weights: None,
                bias: None,
                arithmetic,
            };
            let Output::F32(y) = probe.simulate(Columns::F32(&patches), &q).unwrap() else { panic!() };
            let want = &y[u * block..(u + 1) * block];
            assert_eq!(&rows[r * block..(r + 1) * block], want, "{name} {arithmetic:?}: candidate {r}");
        }
    }
}

#[test]
fn portable_arithmetic_is_product_then_sum_with_an_exact_factor() {
    let g = model();
    let blobs = fp32_blobs(&g);
    let t = table(&g, &blobs);
    let mut differs = Vec::new();
    for name in QUANTIZABLE {
        let probe = LayerProbe::new(&g, name).unwrap();
        let patches = probe.sample(view(&blobs[&blob_of(&g, layer(&g, name).bottoms[0])]), None, 50, 1).unwrap();
        let (scales, s_in) = (&t.weights[&format!("{name}_param_0")], t.activations[name]);
        let xq = probe.quantize_input(&patches, s_in).unwrap();
        let wq = probe.quantize_weights(scales).unwrap();
        let (n, k, out_g) = (patches.n, probe.rows, probe.num_output / probe.group);
        let per = probe.outputs_per_scale();
        let mut want = Vec::new();
        for o in 0..probe.num_output {
            let g = o / out_g;
            let factor = 1.0 / (s_in * scales[o / per]);
            let bias = probe.bias().map_or(0.0, |b| b[o]);
            for j in 0..n {
                let acc: i32 = (0..k).map(|r| i32::from(wq[o * k + r]) * i32::from(xq[(g * k + r) * n + j])).sum();
                want.push(probe.activation.apply(acc as f32 * factor + bias).to_bits());
            }
        }
        let q = |arithmetic| Quantization {
            weight_scales: scales,
            input_scale: s_in,
            output_scale: None,
            weights: None,
            bias: None,
            arithmetic,
        };
        let portable = probe.simulate(Columns::F32(&patches), &q(Arithmetic::Portable)).unwrap();
        assert_eq!(output_bits(&portable), want, "{name}");
        if probe.simulate(Columns::F32(&patches), &q(Arithmetic::Exact)).unwrap() != portable {
            differs.push(name);
        }
    }
    // FMA in convolutions, and on x86 rcpps in dw2 (16 channels): exact is not portable there.
    assert!(differs.contains(&"c2"), "{differs:?}");
    assert_eq!(differs.contains(&"dw2"), cfg!(target_arch = "x86_64"), "{differs:?}");
}

#[test]
fn sampled_patches_hold_the_fp32_outputs_at_their_positions() {
    let g = model();
    let blobs = fp32_blobs(&g);
    for name in QUANTIZABLE {
        let l = layer(&g, name);
        let probe = LayerProbe::new(&g, name).unwrap();
        let (x, y) = (&blobs[&blob_of(&g, l.bottoms[0])], &blobs[&blob_of(&g, l.tops[0])]);
        let p = probe.sample(view(x), Some(view(y)), 7, 9).unwrap();
        let plane = y.shape.len() / probe.num_output;
        let out = p.outputs.as_ref().unwrap();
        for (j, &pos) in p.positions.iter().enumerate() {
            for o in 0..probe.num_output {
                assert_eq!(out[o * p.n + j], y.f32()[o * plane + pos], "{name}");
            }
        }
        assert_eq!(p.n, if probe.form == Form::InnerProduct { 1 } else { 7.min(plane) }, "{name}");
        assert_eq!(p.padding.is_some(), name == "c3", "only c3 pads with a non-zero value");
    }
}

#[test]
fn layer_probe_errors_name_the_layer() {
    let g = model();
    let msg = |r: Result<LayerProbe, crate::Error>| r.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg(LayerProbe::new(&g, "nope")).contains("no layer named \"nope\""));
    assert!(msg(LayerProbe::new(&g, "pool")).contains("'pool' (Pooling): is not quantizable"));
    let probe = LayerProbe::new(&g, "c2").unwrap();
    let wrong = Tensor::new(Shape::d3(6, 5, 3), vec![0.0; 90]);
    let err = probe.sample(BlobView { shape: wrong.shape, data: wrong.f32() }, None, 4, 0).unwrap_err();
    assert!(err.to_string().contains("'c2' (Convolution)") && err.to_string().contains("16 channels"), "{err}");
    let x = Tensor::new(Shape::d3(6, 5, 16), vec![0.5; 480]);
    let p = probe.sample(BlobView { shape: x.shape, data: x.f32() }, None, 4, 0).unwrap();
    let q = |ws: &'static [f32], s_in: f32| Quantization {
        weight_scales: ws,
        input_scale: s_in,
        output_scale: None,
        weights: None,
        bias: None,
        arithmetic: Arithmetic::Exact,
    };
    let err = probe.simulate(Columns::F32(&p), &q(&[1.0; 3], 1.0)).unwrap_err();
    assert!(err.to_string().contains("'c2' (Convolution): 3 weight scales given, the layer takes 8"), "{err}");
    let err = probe.simulate(Columns::F32(&p), &q(&[1.0; 8], 0.0)).unwrap_err();
    assert!(err.to_string().contains("input scale 0 is not a positive"), "{err}");
    let other = LayerProbe::new(&g, "c1").unwrap().quantize_input(&p, 1.0).unwrap_err();
    assert!(other.to_string().contains("'c1'") && other.to_string().contains("patches hold 1×16 rows"), "{other}");
    let fc = LayerProbe::new(&g, "fc").unwrap();
    let fx = Tensor::new(Shape::d1(8), vec![1.0; 8]);
    let fp = fc.sample(BlobView { shape: fx.shape, data: fx.f32() }, None, 1, 0).unwrap();
    let requant = Quantization { output_scale: Some(2.0), ..q(&[1.0; 10], 1.0) };
    let err = fc.simulate(Columns::F32(&fp), &requant).unwrap_err();
    assert!(err.to_string().contains("'fc' (InnerProduct): an InnerProduct has no requantized"), "{err}");
}

fn config<'a>(
    t: &'a ScaleTable,
    int8: Option<&'a [String]>,
    none: &'a BTreeMap<String, Vec<i8>>,
    nob: &'a BTreeMap<String, Vec<f32>>,
) -> Config<'a> {
    Config { table: t, int8, weights: none, biases: nob }
}

#[test]
fn network_probe_runs_what_the_int8_file_runs() {
    let g = model();
    let blobs = fp32_blobs(&g);
    let t = table(&g, &blobs);
    let probe = NetworkProbe::new(g.clone(), Storage::F16, 2).unwrap();
    let (nw, nb) = (BTreeMap::new(), BTreeMap::new());
    let mut subsets: Vec<Vec<&str>> = vec![QUANTIZABLE.to_vec(), vec![]];
    subsets.extend(QUANTIZABLE.iter().map(|&l| vec![l]));
    subsets.extend(QUANTIZABLE.iter().map(|&l| QUANTIZABLE.iter().copied().filter(|&m| m != l).collect()));
    let outputs = ["fc2", "c3", "e"];
    for subset in &subsets {
        let names: Vec<String> = subset.iter().map(std::string::ToString::to_string).collect();
        let (file_graph, _) = quantize::quantize(&g, &restricted(&t, subset)).unwrap();
        let file = through_file(&file_graph, "net");
        let (net, report) = probe.net(&config(&t, Some(&names), &nw, &nb)).unwrap();
        assert_eq!(report.quantized.len(), subset.len());
        let ids: Vec<usize> = outputs.iter().map(|o| net.blob_index(o).unwrap()).collect();
        // At the model input, and at an intermediate blob (only the layers after it run).
        for (fed, x) in [("data", input()), ("dw2", blobs["dw2"].clone())] {
            let got = net.run(vec![(net.blob_index(fed).unwrap(), x.clone())], &ids).unwrap();
            let want = run(&file, fed, &x, &outputs);
            for ((o, a), b) in outputs.iter().zip(&got).zip(&want) {
                assert_eq!(bits(a), bits(b), "int8 {subset:?}, fed at {fed}: output {o} differs");
            }
        }
    }
    let layers = g.layers.len();
    assert!(probe.cached_ops() < layers + 4 * QUANTIZABLE.len(), "ops are reused: {} cached", probe.cached_ops());
    // `None` is every layer of the table.
    let (_, all) = probe.net(&config(&t, None, &nw, &nb)).unwrap();
    assert_eq!(all.quantized.len(), QUANTIZABLE.len());
}

#[test]
fn network_probe_applies_weight_and_bias_overrides() {
    let g = model();
    let blobs = fp32_blobs(&g);
    let t = table(&g, &blobs);
    let probe = NetworkProbe::new(g.clone(), Storage::F16, 1).unwrap();
    let layer_probe = LayerProbe::new(&g, "dw2").unwrap();
    let mut q = layer_probe.quantize_weights(&t.weights["dw2_param_0"]).unwrap();
    q.iter_mut().step_by(2).for_each(|v| *v = v.saturating_sub(1).max(-127));
    let bias = vec![0.125f32; 5];
    let weights = BTreeMap::from([("dw2".to_string(), q.clone())]);
    let biases = BTreeMap::from([("fc2".to_string(), bias.clone())]);
    let cfg = config(&t, None, &weights, &biases);
    let (net, _) = probe.net(&cfg).unwrap();
    // What a method writing these choices into the int8 file makes: fc2 (no bias) gets one.
    let (mut expected, _) = quantize::quantize(&g, &t).unwrap();
    expected.layers[g.layer_index("dw2").unwrap()].weight_mut("weight").unwrap().data = WeightData::I8(q);
    let fc2 = &mut expected.layers[g.layer_index("fc2").unwrap()];
    fc2.params.set_int(1, 1);
    fc2.weights.insert(1, model::Weight { name: "bias", tagged: false, data: WeightData::F32(bias) });
    let (probed, _) = probe.int8_graph(&cfg).unwrap();
    assert_eq!(model::param_text::write(&probed).unwrap(), model::param_text::write(&expected).unwrap());
    let file = through_file(&expected, "override");
    let got = net.run(vec![(0, input())], &[net.blob_index("fc2").unwrap()]).unwrap();
    assert_eq!(bits(&got[0]), bits(&run(&file, "data", &input(), &["fc2"])[0]));
}

#[test]
fn network_probe_errors_name_the_layer() {
    let g = model();
    let t = table(&g, &fp32_blobs(&g));
    let probe = NetworkProbe::new(g.clone(), Storage::F16, 1).unwrap();
    let (nw, nb) = (BTreeMap::new(), BTreeMap::new());
    let err = |names: &[&str], w: &BTreeMap<String, Vec<i8>>, b: &BTreeMap<String, Vec<f32>>| {
        let names: Vec<String> = names.iter().map(std::string::ToString::to_string).collect();
        probe.net(&config(&t, Some(&names), w, b)).err().map(|e| e.to_string()).unwrap_or_default()
    };
    assert!(err(&["nope"], &nw, &nb).contains("no layer named \"nope\""));
    assert!(err(&["pool"], &nw, &nb).contains("'pool' (Pooling): is not quantizable"));
    let partial = ScaleTable { weights: t.weights.clone(), activations: BTreeMap::new() };
    let names = vec!["c2".to_string()];
    let e = probe.net(&config(&partial, Some(&names), &nw, &nb)).err().unwrap().to_string();
    assert!(e.contains("'c2' (Convolution): cannot be int8: the table has no activation scale"), "{e}");
    let w = BTreeMap::from([("c3".to_string(), vec![0i8; 5])]);
    assert!(err(&["c2"], &w, &nb).contains("'c3' (Convolution): is not int8 in this configuration"));
    assert!(err(&["c3"], &w, &nb).contains("'c3' (Convolution): 5 int8 weights given, it has 576"));
    let b = BTreeMap::from([("c3".to_string(), vec![0f32; 3])]);
    assert!(err(&["c3"], &nw, &b).contains("'c3' (Convolution): 3 bias values given, it has 8 outputs"));
    let (int8, _) = quantize::quantize(&g, &t).unwrap();
    let e = NetworkProbe::new(int8, Storage::F16, 1).err().unwrap().to_string();
    assert!(e.contains("is already int8"), "{e}");
}
