//! The optimizer on the real models and benchmark architectures in `../shared/data`, against
//! the outputs of real `ncnnoptimize` in `../shared/data/reference`. Skipped when absent.

use ncnnq::model::{self, random_weights::fill_random_weights, Graph};
use ncnnq::optimize::{optimize, Options, ShapeInference};
use std::path::{Path, PathBuf};

fn shared_data() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: ../shared/data is absent");
        None
    }
}

/// Every model with its ncnnoptimize reference: (name, param, bin, reference param).
fn cases(data: &Path) -> Vec<(String, PathBuf, Option<PathBuf>, PathBuf)> {
    let mut v = Vec::new();
    let reference = data.join("reference");
    for (name, ref_param) in [
        ("squeezenet_v1.1", reference.join("squeezenet_v1.1/squeezenet_v1.1-opt.param")),
        ("mnet.25-opt", reference.join("mnet.25-opt/mnet.25-opt-ncnnoptimize.param")),
        ("nanodet_m", reference.join("nanodet_m/nanodet_m-ncnnoptimize.param")),
    ] {
        let param = data.join("models").join(format!("{name}.param"));
        v.push((name.to_string(), param.clone(), Some(param.with_extension("bin")), ref_param));
    }
    let mut bench: Vec<PathBuf> = std::fs::read_dir(data.join("benchmark-params"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "param"))
        .collect();
    bench.sort();
    for param in bench {
        let name = param.file_stem().unwrap().to_string_lossy().to_string();
        let ref_param = reference.join("benchmark-opt").join(format!("{name}-opt.param"));
        v.push((name, param, None, ref_param));
    }
    v
}

fn load(param: &Path, bin: Option<&Path>) -> Graph {
    let mut g = model::load(param, bin).unwrap();
    if bin.is_none() {
        fill_random_weights(&mut g, 7_767_517).unwrap();
    }
    g
}

/// (type, name, bottoms, tops) of every layer.
fn layout(g: &Graph) -> Vec<(String, String, Vec<String>, Vec<String>)> {
    g.layers
        .iter()
        .map(|l| {
            let n = |v: &Vec<usize>| v.iter().map(|&b| g.blobs[b].name.clone()).collect();
            (l.type_name.clone(), l.name.clone(), n(&l.bottoms), n(&l.tops))
        })
        .collect()
}

const DATA_DEPENDENT: &[&str] = &["DetectionOutput", "Yolov3DetectionOutput", "YoloDetectionOutput", "Proposal"];

/// Hints we write equal ncnnoptimize's; one only ncnnoptimize wrote is allowed when our shape
/// inference did not run, or for a data-dependent shape.
fn hint_differences(ours: &Graph, reference: &Graph, inferred: bool) -> Vec<String> {
    let mut out = Vec::new();
    for layer in &ours.layers {
        for &t in &layer.tops {
            let name = &ours.blobs[t].name;
            let mine = ours.blobs[t].shape;
            let theirs = reference.blob_index(name).and_then(|b| reference.blobs[b].shape);
            let allowed =
                mine == theirs || DATA_DEPENDENT.contains(&layer.type_name.as_str()) || (mine.is_none() && !inferred);
            if !allowed {
                out.push(format!("{name}: {mine:?} vs ncnnoptimize {theirs:?}"));
            }
        }
    }
    out
}

#[test]
fn every_model_matches_ncnnoptimize_and_is_idempotent() {
    let Some(data) = shared_data() else { return };
    let mut failures = Vec::new();
    for (name, param, bin, ref_param) in cases(&data) {
        let g = load(&param, bin.as_deref());
        let (out, report) = optimize(&g, &Options::default()).unwrap();
        let reference = model::load(&ref_param, None).unwrap();
        if layout(&out) != layout(&reference) {
            failures.push(format!("{name}: layers differ from ncnnoptimize's"));
        }
        let inferred = matches!(report.shape_inference, ShapeInference::Inferred { .. });
        eprintln!("{name}: {:?}", report.shape_inference);
        failures.extend(hint_differences(&out, &reference, inferred).into_iter().map(|d| format!("{name}: {d}")));
        if bin.is_some() {
            // The real models: ncnnoptimize's files byte for byte (flag 0: fp32 storage).
            let param_text = model::param_bytes(&out, model::ParamFormat::Text).unwrap();
            let bin_bytes = model::bin_file::write_weights(&out, model::Storage::Keep).unwrap();
            if param_text != std::fs::read(&ref_param).unwrap() {
                failures.push(format!("{name}: .param differs from ncnnoptimize's"));
            }
            if bin_bytes != std::fs::read(ref_param.with_file_name(reference_bin(&ref_param))).unwrap() {
                failures.push(format!("{name}: .bin differs from ncnnoptimize's"));
            }
        }
        let (again, report2) = optimize(&out, &Options::default()).unwrap();
        if report2.passes.iter().any(|p| !p.log.fired.is_empty()) || again.same_as(&out).is_err() {
            failures.push(format!("{name}: a second optimize changes the model"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn reference_bin(param: &Path) -> String {
    let stem = param.file_name().unwrap().to_string_lossy();
    format!("{}.bin", stem.trim_end_matches(".param"))
}
