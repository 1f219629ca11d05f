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
//! `NCNNQ_PROFILE_LAYERS=threads` (sets `NCNNQ_POOL_STATS` itself) runs the model on 1 and 2
//! threads alternately and prints, per layer, medians of: wall time on each, the CPU time of the
//! work on each (2T/1T above 1: work the split repeats), the 2-thread parallel efficiency (busy
//! time of both threads over 2 × wall) and the time the calling thread waited at loop ends.

use ncnnq::base::parallel;
use ncnnq::base::pool_stats::thread_cpu_ns;
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
    if std::env::var("NCNNQ_PROFILE_LAYERS").as_deref() == Ok("threads") {
        // The pools read it when they are made.
        std::env::set_var("NCNNQ_POOL_STATS", "1");
        profile_threads(&graph, input, shape, output, runs);
        return;
    }
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
    let med = median(&mut times);
    println!("{}: median {med:.4} ms, min {:.4} ms over {runs} runs ({threads} threads)", param.display(), times[0]);
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
    let mut per_type: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    let mut per_layer: BTreeMap<(String, String), f64> = BTreeMap::new();
    let mut every_run: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for _ in 0..runs {
        let spans = net.install(|| {
            let (mut last, mut spans) = (Instant::now(), Vec::new());
            let mut timer = EveryBlob(|blob| {
                let now = Instant::now();
                spans.push((blob, (now - last).as_secs_f64() * 1e3));
                last = now;
            });
            let x = vec![(input, Tensor::new(shape, data.to_vec()))];
            net.run_here(x, &[output], Some(&mut timer)).expect("run");
            spans
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
        // name, type, minimum, median
        for ((name, t), ms) in &per_layer {
            let median = median(every_run.get_mut(&(name.clone(), t.clone())).expect("timed"));
            println!("{name}\t{t}\t{ms:.4}\t{median:.4}");
        }
        return;
    }
    if std::env::var_os("NCNNQ_PROFILE_MEDIAN").is_some() {
        let (mut sum_min, mut sum_median) = (0.0, 0.0);
        for ((name, t), times) in &mut every_run {
            let median = median(times);
            let min = times[0];
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

/// One layer's figures in one run.
#[derive(Clone, Copy, Default)]
struct LayerRun {
    wall: f64,
    /// CPU time of the work: jobs on every thread plus the calling thread outside loops.
    cpu: f64,
    /// Busy time of all threads (the calling thread outside its loop-end waits, the workers in
    /// jobs) over threads × wall.
    efficiency: f64,
    wait: f64,
    loops: f64,
    /// The layer on idle cores: its time outside loops plus each loop's ideal schedule.
    ideal: f64,
    /// Work (time outside loops plus all jobs) over threads × ideal.
    ideal_efficiency: f64,
}

/// Per-layer figures of runs on `threads` threads, keyed by blob order.
fn layer_runs(net: &Net, input: usize, shape: Shape, output: usize, threads: usize) -> Vec<(usize, LayerRun)> {
    let snapshot = || (Instant::now(), thread_cpu_ns(), parallel::current_stats().unwrap_or_default());
    net.install(|| {
        let (mut last, mut rows) = (snapshot(), Vec::new());
        let mut tracer = EveryBlob(|blob| {
            let now = snapshot();
            let wall = (now.0 - last.0).as_secs_f64() * 1e3;
            let d = now.2.since(&last.2);
            let ms = |ns: u64| ns as f64 * 1e-6;
            let jobs_cpu: u64 = d.threads.iter().map(|t| t.busy_cpu_ns).sum();
            let owner_jobs_cpu = d.threads.first().map_or(0, |t| t.busy_cpu_ns);
            let serial_cpu = ms(now.1 - last.1) - ms(owner_jobs_cpu) - ms(d.wait_ns);
            let workers_busy: u64 = d.threads.iter().skip(1).map(|t| t.busy_ns).sum();
            let busy = wall - ms(d.wait_ns) + ms(workers_busy);
            let serial = (wall - ms(d.loop_ns)).max(0.0);
            let ideal = serial + ms(d.ideal_ns);
            rows.push((
                blob,
                LayerRun {
                    wall,
                    cpu: ms(jobs_cpu) + serial_cpu.max(0.0),
                    efficiency: busy / (threads as f64 * wall.max(1e-9)),
                    wait: ms(d.wait_ns),
                    loops: d.loops as f64,
                    ideal,
                    ideal_efficiency: (serial + ms(d.jobs_ns)) / (threads as f64 * ideal.max(1e-9)),
                },
            ));
            // Taken again: the bookkeeping above is not the next layer's time.
            last = snapshot();
        });
        let x = vec![(input, Tensor::new(shape, vec![0.5; shape.len()]))];
        net.run_here(x, &[output], Some(&mut tracer)).expect("run");
        rows
    })
}

/// An observer that shows every blob to a closure, as soon as its layer returns.
struct EveryBlob<F: FnMut(usize)>(F);

impl<F: FnMut(usize)> Observer for EveryBlob<F> {
    fn wants(&self, _: usize) -> bool {
        true
    }
    fn observe(&mut self, blob: usize, _: &Tensor) {
        (self.0)(blob);
    }
}

/// The median of `v`, which it leaves sorted (so `v[0]` is then the minimum).
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs per block in [`profile_threads`]: blocks of runs per net, so that the 2-thread pool's
/// worker stays hot within a block as it does between back-to-back runs; the first run of each
/// block warms up.
const BLOCK: usize = 4;

/// Per-layer 1- against 2-thread figures (see the module comment).
fn profile_threads(graph: &model::Graph, input: usize, shape: Shape, output: usize, runs: usize) {
    let nets = [1, 2].map(|threads| Net::new(graph, &NetOptions { threads }).expect("net"));
    // [threads][blob] -> runs
    let mut seen: [BTreeMap<usize, Vec<LayerRun>>; 2] = Default::default();
    let mut order = Vec::new();
    for _ in 0..runs.div_ceil(BLOCK) {
        for (k, net) in nets.iter().enumerate() {
            for i in 0..=BLOCK {
                let rows = layer_runs(net, input, shape, output, k + 1);
                if i == 0 {
                    continue;
                }
                if k == 0 && order.is_empty() {
                    order = rows.iter().map(|r| r.0).collect();
                }
                for (blob, r) in rows {
                    seen[k].entry(blob).or_default().push(r);
                }
            }
        }
    }
    let pick = |k: usize, blob: usize, f: fn(&LayerRun) -> f64| {
        let mut v: Vec<f64> = seen[k].get(&blob).map(|rs| rs.iter().map(f).collect()).unwrap_or_default();
        if v.is_empty() {
            0.0
        } else {
            median(&mut v)
        }
    };
    println!(
        "{:<16} {:<24} {:>7} {:>7} {:>5} {:>5} {:>7} {:>5} {:>5} {:>5} {:>6} {:>3}",
        "type", "layer", "wall1", "wall2", "w2/w1", "c2/c1", "ideal2", "i2/w1", "ieff", "eff2", "wait2", "lps"
    );
    let mut sums = [0.0f64; 6];
    for &blob in &order {
        let Some(p) = graph.blobs[blob].producer else { continue };
        let layer = &graph.layers[p];
        let (w1, w2) = (pick(0, blob, |r| r.wall), pick(1, blob, |r| r.wall));
        let (c1, c2) = (pick(0, blob, |r| r.cpu), pick(1, blob, |r| r.cpu));
        let (ideal, ieff) = (pick(1, blob, |r| r.ideal), pick(1, blob, |r| r.ideal_efficiency));
        let (eff, wait, loops) =
            (pick(1, blob, |r| r.efficiency), pick(1, blob, |r| r.wait), pick(1, blob, |r| r.loops));
        for (s, v) in sums.iter_mut().zip([w1, w2, c1, c2, wait, ideal]) {
            *s += v;
        }
        let name: String = layer.name.chars().take(24).collect();
        let kind: String = layer.type_name.chars().take(16).collect();
        println!(
            "{kind:<16} {name:<24} {w1:>7.4} {w2:>7.4} {:>5.2} {:>5.2} {ideal:>7.4} {:>5.2} {ieff:>5.2} {eff:>5.2} {wait:>6.4} {loops:>3.0}",
            w2 / w1.max(1e-9),
            c2 / c1.max(1e-9),
            ideal / w1.max(1e-9),
        );
    }
    let total = nets[1].install(|| parallel::current_stats().unwrap_or_default());
    let jobs: Vec<String> =
        total.threads.iter().map(|t| format!("{} jobs {:.1} ms", t.jobs, t.busy_ns as f64 * 1e-6)).collect();
    println!("2-thread pool over all runs: {} loops; per thread: {}", total.loops, jobs.join(", "));
    let [w1, w2, c1, c2, wait, ideal] = sums;
    println!(
        "sums of medians: wall {w1:.3} -> {w2:.3} ms ({:.2}), work cpu {c1:.3} -> {c2:.3} ms ({:.2}), \
         2T efficiency {:.2}, loop-end waits {wait:.3} ms; on idle cores {ideal:.3} ms ({:.2} of 1T)",
        w2 / w1,
        c2 / c1,
        c2 / (2.0 * w2),
        ideal / w1
    );
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
