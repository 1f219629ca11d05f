//! Per-layer time of one model, a developer's tool:
//!
//!     cargo run --release --example profile -- model.param [model.bin] [threads] [loops]
//!
//! Each layer's time is the minimum over the loops of the wall time between its top blob and the
//! previous blob (an Observer sees every blob as it is produced): on a busy machine the minimum
//! is the figure other processes disturb least. Without a .bin, seeded random weights. Prints the
//! whole-run median and minimum, the sums per layer type (with `int8_scale_term`), and the slowest
//! layers.
use ncnnq::engine::{Net, NetOptions, Observer, Shape, Tensor};
use std::time::Instant;

struct Timer {
    last: Instant,
    per_blob: Vec<f64>,
    min_blob: Vec<f64>,
}
impl Observer for Timer {
    fn wants(&self, _: usize) -> bool {
        true
    }
    fn observe(&mut self, blob: usize, _: &Tensor) {
        let now = Instant::now();
        let d = (now - self.last).as_secs_f64();
        self.per_blob[blob] += d;
        self.min_blob[blob] = self.min_blob[blob].min(d);
        self.last = now;
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let param = std::path::Path::new(&args[1]);
    let is_bin = |s: &&String| std::path::Path::new(s).extension().is_some_and(|e| e.eq_ignore_ascii_case("bin"));
    let bin = args.get(2).filter(is_bin).map(std::path::PathBuf::from);
    let rest: Vec<usize> = args.iter().skip(2).filter(|s| !is_bin(s)).map(|s| s.parse().unwrap()).collect();
    let threads = rest.first().copied().unwrap_or(1);
    let loops = rest.get(1).copied().unwrap_or(10);
    let mut g = ncnnq::model::load(param, bin.as_deref()).unwrap();
    if bin.is_none() {
        ncnnq::model::random_weights::fill_random_weights(&mut g, 1).unwrap();
    }
    let net = Net::new(&g, &NetOptions { threads }).unwrap();
    let input = g.inputs()[0];
    let shape = g.blobs[input]
        .shape
        .as_ref()
        .map_or(Shape::d3(227, 227, 3), |s| Shape::d3(s.w as usize, s.h as usize, s.c as usize));
    let x: Vec<f32> = (0..shape.len()).map(|i| ((i * 7919) % 255) as f32 - 120.0).collect();
    let outs = g.outputs();
    let mut timer =
        Timer { last: Instant::now(), per_blob: vec![0.0; g.blobs.len()], min_blob: vec![f64::MAX; g.blobs.len()] };
    let mut total = Vec::new();
    for l in 0..loops + 2 {
        if l == 2 {
            timer.per_blob.iter_mut().for_each(|v| *v = 0.0);
            timer.min_blob.iter_mut().for_each(|v| *v = f64::MAX);
        }
        let t = Instant::now();
        timer.last = t;
        net.install(|| net.run_here(vec![(input, Tensor::new(shape, x.clone()))], &outs, Some(&mut timer))).unwrap();
        if l >= 2 {
            total.push(t.elapsed().as_secs_f64());
        }
    }
    total.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("median {:.2} ms min {:.2} ms", total[total.len() / 2] * 1e3, total[0] * 1e3);
    let mut rows: Vec<(f64, String)> = g
        .layers
        .iter()
        .filter_map(|l| {
            l.tops
                .first()
                .map(|&t| (timer.min_blob[t] * 1e3, format!("{} {} {:?}", l.type_name, l.name, l.params.int(8, 0))))
        })
        .collect();
    rows.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
    let sum: f64 = rows.iter().map(|r| r.0).sum();
    let mut by_type = std::collections::BTreeMap::<String, f64>::new();
    for (t, n) in &rows {
        let mut it = n.split(' ');
        let ty = it.next().unwrap();
        let flag = n.rsplit(' ').next().unwrap();
        *by_type.entry(format!("{ty} {flag}")).or_default() += t;
    }
    for (k, v) in &by_type {
        println!("  {v:8.3} ms  {k}");
    }
    println!("sum of per-layer minima {sum:.2} ms");
    for (t, n) in rows.iter().take(25) {
        println!("{t:8.3} ms  {n}");
    }
}
