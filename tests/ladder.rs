//! The tutorial's accuracy-ladder tools: L2 on kernels, dropout placement, augmentation flags,
//! ensembles.

mod common;

use common::{run, Fixture};
use mnistlab::data::Dataset;
use mnistlab::eval::{ensemble, evaluate};
use mnistlab::layers::{Mode, ParamKind};
use mnistlab::model::{ModelConfig, Normalization, Sequential};
use mnistlab::train::optim::apply_l2;

#[test]
fn l2_adds_exactly_lambda_times_the_squared_kernels_and_their_gradient() {
    let mut model = Sequential::new(
        ModelConfig::new("cnn-bn", Dataset::Mnist, Normalization::None),
        4,
    )
    .unwrap();
    // Make BN scales and biases non-trivial so leaving them out is visible.
    for v in &mut model.params.values {
        *v += 0.25;
    }
    let kernels: f64 = model
        .params
        .trainable
        .iter()
        .filter(|s| s.is_kernel)
        .flat_map(|s| model.params.values[s.range.clone()].iter())
        .map(|&w| (w as f64) * (w as f64))
        .sum();
    model.params.zero_grad();
    let lambda = 1e-3;
    let penalty = apply_l2(&mut model.params, lambda);
    assert!(
        (penalty - lambda as f64 * kernels).abs() < 1e-9 * kernels,
        "{penalty} vs {}",
        lambda as f64 * kernels
    );
    for slot in &model.params.trainable {
        for i in slot.range.clone() {
            let want = if slot.is_kernel {
                2.0 * lambda * model.params.values[i]
            } else {
                0.0
            };
            assert_eq!(model.params.grads[i], want, "{}", slot.key);
        }
    }
    // Kernels are the conv and dense weights only: 6 convolutions and one dense layer.
    assert_eq!(
        model
            .params
            .trainable
            .iter()
            .filter(|s| s.is_kernel)
            .count(),
        7
    );
    assert!(model
        .params
        .other
        .iter()
        .all(|s| s.kind != ParamKind::Trainable));
}

#[test]
fn ensemble_of_one_is_the_model_and_other_datasets_are_refused() {
    let fx = Fixture::new(300, 60);
    let data = common::load_mnist_from(&fx.data);
    let mut model = Sequential::new(
        ModelConfig::new("8C3-ReLU-MP2-D10", Dataset::Mnist, Normalization::MinMax),
        2,
    )
    .unwrap();
    let alone = evaluate(&mut model, &data.test, 32).unwrap();
    let mut models = vec![model];
    let (each, mean) = ensemble(&mut models, &data.test, Dataset::Mnist, 32).unwrap();
    assert!((each[0].accuracy - alone.accuracy).abs() < 1e-12);
    assert!(
        (mean.accuracy - alone.accuracy).abs() < 1e-12
            && (mean.loss - alone.loss).abs() < 1e-9 * alone.loss,
        "{mean:?} vs {alone:?}"
    );
    let err = ensemble(&mut models, &data.test, Dataset::FashionMnist, 32)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("trained on mnist") && err.contains("fashion-mnist"),
        "{err}"
    );

    // Two different architectures average their probabilities.
    let mut two = vec![
        models.pop().unwrap(),
        Sequential::new(
            ModelConfig::new("D10", Dataset::Mnist, Normalization::MinMax),
            3,
        )
        .unwrap(),
    ];
    let (each, mean) = ensemble(&mut two, &data.test, Dataset::Mnist, 32).unwrap();
    assert_eq!(each.len(), 2);
    assert!(
        mean.loss <= each[0].loss.max(each[1].loss) + 1e-9,
        "averaging cannot be worse than the worst: {mean:?} {each:?}"
    );
}

#[test]
fn dropout_is_identity_at_evaluation_through_a_whole_model() {
    let config = ModelConfig::new(
        "D32-ReLU-Drop0.5-D10",
        Dataset::Mnist,
        Normalization::MinMax,
    );
    let mut model = Sequential::new(config, 1).unwrap();
    model.reserve(4);
    model
        .input_mut(4)
        .iter_mut()
        .enumerate()
        .for_each(|(i, v)| *v = (i % 255) as f32);
    let first = model.forward(4, Mode::Eval).to_vec();
    let second = model.forward(4, Mode::Eval).to_vec();
    assert_eq!(first, second);
    let train = model.forward(4, Mode::Train).to_vec();
    assert_ne!(first, train);
}

#[test]
fn cli_dropout_augment_and_ensemble() {
    let fx = Fixture::new(300, 40);
    let data = fx.data_dir();
    let out = fx.train(&[
        "--model",
        "mlp",
        "--dropout",
        "0.2",
        "--augment",
        "--rotation",
        "5",
        "--schedule",
        "cosine",
        "--epochs",
        "1",
    ]);
    assert!(
        out.contains("(Drop0.2-D256-ReLU-Drop0.2-D256-ReLU-Drop0.2-D10)"),
        "{out}"
    );
    let model = fx.home().join("logs/mlp-0/best_model.safetensors");
    let (code, json, err) = run(fx.mnistlab().args([
        "ensemble",
        model.to_str().unwrap(),
        model.to_str().unwrap(),
        "--json",
        "--data-dir",
        data,
    ]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["models"].as_array().unwrap().len(), 2);
    assert_eq!(v["ensemble"]["accuracy"], v["models"][0]["accuracy"]);
    let (code, out, err) = run(fx.mnistlab().args([
        "augment-preview",
        "--index",
        "3",
        "--data-dir",
        data,
        "--out",
        "a.png",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("8 augmented versions"), "{out}");
    let png = image::open(fx.home().join("a.png")).unwrap();
    assert_eq!((png.width(), png.height()), (9 * 30 * 4, 30 * 4));
    for (args, needle) in [
        (vec!["train", "--dropout", "1.5"], "--dropout"),
        (vec!["train", "--augment", "--rotation", "-3"], "--rotation"),
        (vec!["train", "--augment", "--zoom", "2"], "--zoom"),
        (vec!["augment-preview", "--index", "999999"], "--index"),
        (vec!["ensemble", "nope.safetensors"], "nope.safetensors"),
    ] {
        let (code, _, err) = run(fx.mnistlab().args(&args).args(["--data-dir", data]));
        assert_eq!(code, 2, "{args:?}");
        assert!(
            err.starts_with("error: ") && err.contains(needle),
            "{args:?}: {err}"
        );
    }
}
