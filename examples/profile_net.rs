//! Runs one model repeatedly for profilers (perf, callgrind):
//!
//!     cargo run --release --example profile_net -- MODEL.param [RUNS] [THREADS]
//!
//! A .param without a .bin beside it gets seeded random weights (as `benches/bench_models.py`
//! does). Prints the median wall time per run and, with `NCNNQ_PROFILE_LAYERS=1`, the total time
//! per layer type; `NCNNQ_PROFILE_COLD=1` evicts the caches before each run. With
//! `NCNNQ_PROFILE_MEDIAN=1` as well, each layer's median beside its minimum, and both sums: on a
//! busy machine the sum of minimums falls well below a typical run, the sum of medians does not
//! (the gap is not time between layers: each layer's span already includes it).

use ncnnq::engine::{Net, NetOptions, Observer, Shape, Tensor};
use ncnnq::model::{self, random_weights::fill_random_weights};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(param) = args.get(1).map(PathBuf::from) else {
        eprintln!("usage: profile_net MODEL.param [RUNS] [THREADS]");
        std::process::exit(2);
    };
    let runs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20);
    let threads: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let bin = param.with_extension("bin");
    let mut graph = model::load(&param, bin.exists().then_some(bin.as_path())).expect("load");
    if !bin.exists() {
        fill_random_weights(&mut graph, 1).expect("random weights");
    }
    let input = graph.inputs()[0];
    let output = graph.outputs()[0];
    let shape = input_shape(&graph, input);
    let net = Net::new(&graph, &NetOptions { threads }).expect("net");
    // Filled with 0.5, as the benches' inputs.
    let data = vec![0.5f32; shape.len()];
    let mut times = Vec::with_capacity(runs);
    // NCNNQ_PROFILE_COLD=1: evict the caches before each run, as other work between the runs of
    // a real application does (weights then come from memory).
    let mut junk = std::env::var_os("NCNNQ_PROFILE_COLD").map(|_| vec![0u8; 64 << 20]);
    for run in 0..runs {
        if let Some(j) = junk.as_mut() {
            for v in j.iter_mut() {
                *v = v.wrapping_add(run as u8);
            }
        }
        let t0 = Instant::now();
        let out = net.run(vec![(input, Tensor::new(shape, data.clone()))], &[output]).expect("run");
        times.push(t0.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(out);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{}: median {:.4} ms, min {:.4} ms over {runs} runs ({threads} threads)",
        param.display(),
        times[runs / 2],
        times[0]
    );
    match std::env::var("NCNNQ_PROFILE_LAYERS").as_deref() {
        Ok("1") => profile_layers(&graph, &net, input, shape, &data, output, runs, false),
        Ok("tsv") => profile_layers(&graph, &net, input, shape, &data, output, runs, true),
        _ => {}
    }
}

/// Times each layer as the gap between consecutive blobs produced (the observer sees each top
/// as soon as its layer returns): the minimum over `runs` runs (robust to preemption on a busy
/// machine), summed per layer type.
#[allow(clippy::too_many_arguments)]
fn profile_layers(
    graph: &model::Graph,
    net: &Net,
    input: usize,
    shape: Shape,
    data: &[f32],
    output: usize,
    runs: usize,
    tsv: bool,
) {
    struct Timer {
        last: Instant,
        spans: Vec<(usize, f64)>,
    }
    impl Observer for Timer {
        fn wants(&self, _: usize) -> bool {
            true
        }
        fn observe(&mut self, blob: usize, _: &Tensor) {
            let now = Instant::now();
            self.spans.push((blob, (now - self.last).as_secs_f64() * 1e3));
            self.last = now;
        }
    }
    let mut per_type: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    let mut per_layer: BTreeMap<(String, String), f64> = BTreeMap::new();
    let mut every_run: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for _ in 0..runs {
        let spans = net.install(|| {
            let mut t = Timer { last: Instant::now(), spans: Vec::new() };
            let x = vec![(input, Tensor::new(shape, data.to_vec()))];
            net.run_here(x, &[output], Some(&mut t)).expect("run");
            t.spans
        });
        for (blob, ms) in spans {
            let Some(p) = graph.blobs[blob].producer else { continue };
            let layer = &graph.layers[p];
            // A layer with several tops is charged once (its later tops come at no cost).
            let e = per_layer.entry((layer.name.clone(), layer.type_name.clone())).or_insert(f64::MAX);
            *e = e.min(ms);
            every_run.entry((layer.name.clone(), layer.type_name.clone())).or_default().push(ms);
        }
    }
    for ((_, t), ms) in &per_layer {
        let e = per_type.entry(t.clone()).or_default();
        e.0 += ms;
        e.1 += 1;
    }
    if tsv {
        for ((name, t), ms) in &per_layer {
            println!("{name}\t{t}\t{ms:.4}");
        }
        return;
    }
    if std::env::var_os("NCNNQ_PROFILE_MEDIAN").is_some() {
        let (mut sum_min, mut sum_median) = (0.0, 0.0);
        for ((name, t), times) in &mut every_run {
            times.sort_by(f64::total_cmp);
            let (min, median) = (times[0], times[times.len() / 2]);
            sum_min += min;
            sum_median += median;
            println!("  {t:<20} {name:<40} min {min:.4} median {median:.4}");
        }
        println!("sums over layers: minimums {sum_min:.3} ms, medians {sum_median:.3} ms");
    }
    let total: f64 = per_type.values().map(|v| v.0).sum();
    let mut rows: Vec<_> = per_type.into_iter().collect();
    rows.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0));
    println!("per layer type (ms per run, share of {total:.2} ms):");
    for (t, (ms, n)) in rows {
        println!("  {t:<24} {ms:>8.3} {:>5.1}%  ({n} layers)", 100.0 * ms / total);
    }
    let mut layers: Vec<_> = per_layer.into_iter().collect();
    layers.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!("slowest layers:");
    for ((name, t), ms) in layers.iter().take(15) {
        println!("  {t:<20} {name:<40} {ms:>8.3}");
    }
}

/// The Input layer's declared shape, or 3×224×224.
fn input_shape(graph: &model::Graph, blob: usize) -> Shape {
    let layer = graph.layers.iter().find(|l| l.tops.contains(&blob) && l.type_name == "Input");
    let dims = layer.map(|l| [l.params.int(0, 0), l.params.int(1, 0), l.params.int(2, 0)]);
    match dims {
        Some([w, h, c]) if w > 0 && h > 0 && c > 0 => Shape::d3(w as usize, h as usize, c as usize),
        _ => Shape::d3(224, 224, 3),
    }
}
