//! Model files read by the real Python `safetensors` package (installed by `.ci/run`).

mod common;

use common::{python_has, Fixture};

#[test]
fn python_safetensors_reads_names_shapes_metadata_and_values() {
    if !python_has("safetensors") {
        return;
    }
    let fx = Fixture::new(200, 20);
    fx.train(&["--arch", "4C3-BN-ReLU-MP2-D10", "--epochs", "1"]);
    let path = fx.home().join("logs/custom-0/best_model.safetensors");
    let py = common::python_json("interop/read_model.py", &[&path]);

    let model = mnistlab::model::load(&path).unwrap();
    assert_eq!(py["metadata"]["arch"], "4C3-BN-ReLU-MP2-D10");
    assert_eq!(py["metadata"]["normalization"], "standardize-global");
    assert_eq!(py["metadata"]["dataset"], "mnist");
    let tensors = py["tensors"].as_object().unwrap();
    assert_eq!(tensors.len(), model.params.slots().count());
    for slot in model.params.slots() {
        let t = &tensors[&slot.key];
        assert_eq!(t["dtype"], "float32", "{}", slot.key);
        let shape: Vec<usize> = serde_json::from_value(t["shape"].clone()).unwrap();
        assert_eq!(shape, slot.shape, "{}", slot.key);
        let sum: f64 = model.params.get(slot).iter().map(|&v| v as f64).sum();
        let py_sum = t["sum"].as_f64().unwrap();
        assert!(
            (sum - py_sum).abs() <= 1e-4 * (1.0 + sum.abs()),
            "{}: {sum} vs {py_sum}",
            slot.key
        );
    }
    // PyTorch-style names, layer-indexed: conv is layer 1, batch norm layer 2.
    for key in [
        "0.mean",
        "0.std",
        "1.weight",
        "1.bias",
        "2.running_mean",
        "2.running_var",
    ] {
        assert!(tensors.contains_key(key), "{key} in {:?}", tensors.keys());
    }
    assert_eq!(
        tensors["1.weight"]["shape"],
        serde_json::json!([3, 3, 1, 4])
    );
}
