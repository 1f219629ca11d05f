//! Codec round trips on the real models and benchmark architectures in `../shared/data`.
//! Skipped (with a message) when the shared folder is absent.

use ncnnq::model::{self, random_weights::fill_random_weights, ParamFormat, Storage};
use std::path::PathBuf;

fn shared_data() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: ../shared/data is absent");
        None
    }
}

fn params_in(dir: &PathBuf) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "param"))
        .collect();
    v.sort();
    v
}

fn round_trip(graph: &model::Graph, name: &str) {
    let text = model::param_bytes(graph, ParamFormat::Text).unwrap();
    let bin = model::bin_file::write_weights(graph, Storage::Keep).unwrap();
    let mut back = model::parse_param(&text, name).unwrap();
    model::bin_file::read_weights(&mut back, &bin, name).unwrap();
    graph.same_as(&back).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(model::param_bytes(&back, ParamFormat::Text).unwrap(), text, "{name}: text not stable");
    assert_eq!(model::bin_file::write_weights(&back, Storage::Keep).unwrap(), bin, "{name}: bin not stable");

    let binary = model::param_bytes(graph, ParamFormat::Binary).unwrap();
    let from_binary = model::parse_param(&binary, name).unwrap();
    assert_eq!(from_binary.layers.len(), graph.layers.len());
    assert_eq!(model::param_bytes(&from_binary, ParamFormat::Binary).unwrap(), binary, "{name}: binary not stable");
}

#[test]
fn real_models_round_trip_exactly() {
    let Some(data) = shared_data() else { return };
    for param in params_in(&data.join("models")) {
        let bin = param.with_extension("bin");
        let graph = model::load(&param, Some(&bin)).unwrap();
        let original = std::fs::read(&bin).unwrap();
        assert_eq!(model::bin_file::write_weights(&graph, Storage::Keep).unwrap(), original, "{param:?}: bin bytes");
        round_trip(&graph, &param.display().to_string());
    }
}

#[test]
fn benchmark_architectures_round_trip_with_random_weights() {
    let Some(data) = shared_data() else { return };
    let params = params_in(&data.join("benchmark-params"));
    assert!(params.len() >= 30);
    for param in params {
        let mut graph = model::load(&param, None).unwrap();
        fill_random_weights(&mut graph, 7_767_517).unwrap();
        round_trip(&graph, &param.display().to_string());
    }
}
