"""Keras' API over the engine: datasets, building, compile/fit/evaluate/predict, callbacks,
files, weights, ensembles, pictures."""

import os
import subprocess
import sys

import numpy as np
import pytest

import mnistlab
from mnistlab import Input, Model, Sequential, callbacks, layers
from mnistlab.utils import to_categorical

from conftest import compiled, need, need_module, weights_equal


def test_load_data_is_shaped_like_keras(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert (x_train.shape, x_train.dtype) == ((60000, 28, 28), np.uint8)
    assert (y_train.shape, y_train.dtype) == ((60000,), np.uint8)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert list(y_train[:5]) == [5, 0, 4, 1, 9]


def test_fashion_mnist_loads_when_installed():
    present = any(
        os.path.isdir(os.path.join(root, "fashion-mnist"))
        for root in [os.environ.get("MNISTLAB_DATA", ""), "/usr/share/datasets"]
        if root
    )
    need(present, "Fashion-MNIST (Debian's dataset-fashion-mnist)")
    (x_train, y_train), (x_test, _) = mnistlab.datasets.fashion_mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.max() == 9


def test_to_categorical():
    rows = to_categorical(np.array([5, 0, 9]), num_classes=10)
    assert rows.dtype == np.float32 and rows.shape == (3, 10)
    assert list(rows.argmax(1)) == [5, 0, 9] and rows.sum() == 3


def test_chains_become_the_notation():
    xi = Input(shape=(28, 28, 1))
    x = layers.Conv2D(filters=16, kernel_size=5, strides=1, padding="same")(xi)
    x = layers.Activation("relu")(x)
    x = layers.MaxPooling2D(pool_size=2, strides=2)(x)
    x = layers.Conv2D(32, (3, 3))(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.5)(x)
    yo = layers.Dense(10, activation="softmax")(x)
    assert (
        Model(inputs=[xi], outputs=[yo]).notation == "16C5-ReLU-MP2-32C3v-BN-ReLU-GAP-Drop0.5-D10"
    )
    seq = Sequential(
        [
            Input(shape=(784,)),
            layers.Dense(256, activation="relu"),
            layers.Dense(10),
            layers.Activation("softmax"),
        ]
    )
    assert seq.notation == "D256-ReLU-D10"
    assert Model("cnn-bn").notation.startswith("16C3-BN-ReLU")
    assert Model("8C3-MP2-D10").notation == "8C3-MP2-D10"


def test_summary_and_repr_show_the_table(capsys):
    model = Model("mlp")
    model.summary()
    out = capsys.readouterr().out
    assert "269,322" in out and "Dense" in out
    assert "269,322" in repr(model)


def test_lambda_standardization_becomes_the_stored_normalization(small, tmp_path):
    (x, y), (x_test, y_test) = small
    flat = x.reshape(len(x), 784)
    mean, std = flat.mean(axis=0), flat.std(axis=0) + 1.0
    xi = Input(shape=(784,))
    xl = layers.Lambda(
        lambda image, mu, std: (image - mu) / std, arguments={"mu": mean, "std": std}
    )(xi)
    yo = layers.Activation("softmax")(layers.Dense(10)(xl))
    model = Model(inputs=[xi], outputs=[yo])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(flat, y, batch_size=64, epochs=2, verbose=0)
    # The normalization lives in the saved file: the loaded model needs no Lambda.
    model.save(tmp_path / "m.safetensors")
    again = mnistlab.load_model(tmp_path / "m.safetensors")
    probe = x_test.reshape(len(x_test), 784)
    assert np.array_equal(model.predict(probe), again.predict(probe))
    # A Keras-style standardization by hand gives the same logits as the stored one.
    kernel, bias = model.get_weights()
    logits = ((probe - mean) / std) @ kernel + bias
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    assert np.allclose(model.predict(probe), expected, atol=1e-4)


def test_non_affine_lambda_is_refused():
    xi = Input(shape=(784,))
    for function in (lambda image: image**2, lambda image: image[:, ::-1] + 1.0):
        x = layers.Lambda(function)(xi)
        with pytest.raises(mnistlab.ConfigError, match="affine"):
            Model(inputs=xi, outputs=layers.Dense(10)(x))


def test_normalization_adapt_matches_keras_formula(small):
    (x, y), _ = small
    flat = x.reshape(len(x), 784).astype(np.float32) / 255.0
    norm = layers.Normalization(axis=None)
    norm.adapt(flat)
    xi = Input(shape=(784,))
    model = Model(inputs=xi, outputs=layers.Dense(10)(norm(xi)))
    weights = model.get_weights()
    probe = flat[:20]
    logits = ((probe - flat.mean()) / flat.std()) @ weights[0] + weights[1]
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    assert np.allclose(model.predict(probe), expected, atol=1e-4)


def test_fit_history_evaluate_predict(small, capsys):
    (x, y), (x_test, y_test) = small
    model = compiled("mlp")
    history = model.fit(
        x, to_categorical(y, 10), batch_size=100, epochs=2, verbose=1, validation_split=0.1
    )
    out = capsys.readouterr().out
    assert "Epoch 2/2" in out and "\r" in out and "val_accuracy" in out
    assert out.count("\n") == 4  # two "Epoch" lines and two finished bars, no flood
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history.history["loss"]) == 2 and history.epoch == [0, 1]
    assert history.history["accuracy"][1] > 0.8
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    assert acc > 0.8 and loss < 0.7
    assert model.evaluate(x_test, y_test, return_dict=True) == {"loss": loss, "accuracy": acc}
    probs = model.predict(x_test)
    assert probs.dtype == np.float32 and probs.shape == (500, 10)
    assert np.allclose(probs.sum(1), 1, atol=1e-5)
    assert np.mean(probs.argmax(1) == y_test) == pytest.approx(acc)
    model.fit(x, y, batch_size=100, epochs=1, verbose=2, validation_data=(x_test, y_test))
    assert "val_loss" in capsys.readouterr().out


def test_one_thread_trains_as_the_default_pool_does(small):
    (x, y), _ = small
    alone = compiled("mlp", seed=2, threads=1)
    alone.fit(x[:500], y[:500], batch_size=100, epochs=1, verbose=0)
    pooled = compiled("mlp", seed=2)
    pooled.fit(x[:500], y[:500], batch_size=100, epochs=1, verbose=0)
    # The same steps; sums split across threads may round differently, so compare outcomes.
    assert alone.evaluate(x, y)[1] == pytest.approx(pooled.evaluate(x, y)[1], abs=0.03)


def test_float_inputs_in_0_1_are_the_same_pixels(small):
    (x, y), _ = small
    first = compiled("linear", seed=1)
    first.fit(x, y, batch_size=50, epochs=1, verbose=0)
    second = compiled("linear", seed=1)
    second.fit(x.astype(np.float32) / 255.0, y, batch_size=50, epochs=1, verbose=0)
    assert weights_equal(first.get_weights(), second.get_weights())


class Recorder(callbacks.Callback):
    def __init__(self, stop_at_epoch=None):
        super().__init__()
        self.events, self.stop_at_epoch = [], stop_at_epoch

    def on_train_begin(self, logs=None):
        self.events.append("begin")

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(("epoch", epoch, round(logs["loss"], 6)))
        if epoch == self.stop_at_epoch:
            self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None):
        self.events.append(("batch", batch))

    def on_train_end(self, logs=None):
        self.events.append("end")


def test_callbacks_see_batches_and_epochs_and_can_stop(small):
    (x, y), _ = small
    model = compiled()
    recorder = Recorder(stop_at_epoch=1)
    history = model.fit(x[:500], y[:500], batch_size=100, epochs=5, verbose=0, callbacks=[recorder])
    assert len(history.history["loss"]) == 2
    batches = [e for e in recorder.events if e[0] == "batch"]
    assert len(batches) == 10 and batches[:5] == [("batch", i) for i in range(5)]
    assert recorder.events[0] == "begin" and recorder.events[-1] == "end"

    class Duck:  # not a Callback subclass: Keras' method names are enough
        def __init__(self):
            self.seen = []

        def on_epoch_end(self, epoch, logs):
            self.seen.append(sorted(logs))

    duck = Duck()
    model.fit(x[:200], y[:200], epochs=1, verbose=0, validation_split=0.5, callbacks=[duck])
    assert duck.seen == [["accuracy", "learning_rate", "loss", "val_accuracy", "val_loss"]]


def test_stopping_after_a_batch_keeps_that_steps_weights(small):
    (x, y), _ = small

    class StopAt(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                self.model.stop_training = True

    stopped = compiled(seed=4)
    history = stopped.fit(
        x[:1000], y[:1000], batch_size=100, epochs=1, verbose=0, callbacks=[StopAt()]
    )
    assert history.history == {}  # stopped inside the first epoch
    again = compiled(seed=4)
    again.fit(x[:1000], y[:1000], batch_size=100, epochs=1, verbose=0, callbacks=[StopAt()])
    assert weights_equal(stopped.get_weights(), again.get_weights())
    whole = compiled(seed=4)
    whole.fit(x[:1000], y[:1000], batch_size=100, epochs=1, verbose=0)
    assert not weights_equal(stopped.get_weights(), whole.get_weights())


def test_early_stopping_restores_the_best_weights(small):
    (x, y), _ = small
    model = compiled()
    early = callbacks.EarlyStopping(
        monitor="accuracy", min_delta=1.0, patience=1, restore_best_weights=True
    )
    history = model.fit(x[:500], y[:500], batch_size=100, epochs=6, verbose=0, callbacks=[early])
    assert len(history.history["loss"]) == 2


def test_checkpoint_keeps_the_best_model(small, tmp_path):
    (x, y), (x_test, y_test) = small
    path = tmp_path / "linear-0" / "best_model.safetensors"  # a folder not made yet
    model = compiled("mlp")
    history = model.fit(
        x,
        y,
        batch_size=100,
        epochs=3,
        verbose=0,
        validation_split=0.2,
        callbacks=[callbacks.ModelCheckpoint(path, save_best_only=True)],
    )
    best = mnistlab.models.load_model(path)
    val = history.history["val_loss"]
    # The saved model is the best epoch's: evaluated on the validation images it scores that loss.
    loss, _ = best.evaluate(x[1600:], y[1600:])
    assert loss == pytest.approx(min(val), rel=1e-5)
    with pytest.raises(ValueError, match="safetensors"):
        callbacks.ModelCheckpoint(str(tmp_path / "best_model.h5"), save_best_only=True)
    with pytest.raises(ValueError, match="safetensors"):
        model.save(tmp_path / "m.keras")


def test_tensorboard_writes_the_command_lines_event_files(small, tmp_path):
    (x, y), _ = small
    model = compiled()
    model.fit(
        x[:600],
        y[:600],
        batch_size=100,
        epochs=2,
        verbose=0,
        validation_split=0.2,
        callbacks=[callbacks.TensorBoard(log_dir=tmp_path / "run")],
    )
    for sub in ("train", "validation"):
        files = os.listdir(tmp_path / "run" / sub)
        assert any(f.startswith("events.out.tfevents") for f in files), files
    pea = need_module("tensorboard.backend.event_processing.plugin_event_accumulator")
    acc = pea.EventAccumulator(str(tmp_path / "run" / "validation"), size_guidance={"tensors": 0})
    acc.Reload()
    assert len(acc.Tensors("epoch_accuracy")) == 2


def test_save_load_weights_and_onnx(small, tmp_path):
    (x, y), (x_test, _) = small
    model = compiled("8C3-BN-ReLU-MP2-GAP-D10")
    model.fit(x[:500], y[:500], batch_size=100, epochs=1, verbose=0)
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(3, 3, 1, 8), (8,), (8,), (8,), (8,), (8,), (8, 10), (10,)]
    model.save(tmp_path / "m.safetensors")
    again = mnistlab.load_model(tmp_path / "m.safetensors")
    assert weights_equal(model.get_weights(), again.get_weights())
    other = compiled("8C3-BN-ReLU-MP2-GAP-D10", seed=9)
    other.set_weights(model.get_weights())
    assert weights_equal(other.get_weights(), model.get_weights())
    with pytest.raises(ValueError, match="shape"):
        other.set_weights([w.T for w in model.get_weights()][:1] + model.get_weights()[1:])
    model.export_onnx(tmp_path / "m.onnx")
    assert (tmp_path / "m.onnx").stat().st_size > 1000
    ort = need_module("onnxruntime")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    name = session.get_inputs()[0].name
    shape = [d if isinstance(d, int) else 5 for d in session.get_inputs()[0].shape]
    out = session.run(None, {name: x_test[:5].astype(np.float32).reshape(shape)})[0]
    assert np.allclose(out, model.predict(x_test[:5]), atol=1e-4)


def test_ensemble_averages_probabilities(small):
    (x, y), (x_test, y_test) = small
    a, b = compiled("linear", seed=1), compiled("mlp", seed=2)
    for m in (a, b):
        m.fit(x, y, batch_size=100, epochs=1, verbose=0)
    both = mnistlab.ensemble([a, b])
    mean = (a.predict(x_test) + b.predict(x_test)) / 2
    assert np.allclose(both.predict(x_test), mean, atol=1e-6)
    loss, acc = both.evaluate(x_test, y_test)
    assert acc == pytest.approx(np.mean(mean.argmax(1) == y_test))


def test_your_own_handwriting(small, tmp_path):
    (x, y), _ = small
    model = compiled("mlp")
    model.fit(x, y, batch_size=100, epochs=3, verbose=0)
    # A "1" drawn as dark ink on white paper, at the size of a photo.
    paper = np.full((200, 150), 255, np.uint8)
    paper[30:170, 70:82] = 20
    digit = mnistlab.preprocess(paper)
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    assert digit[0, 0] == 0 and digit.max() > 200  # inverted: light ink on black
    plt = need_module("matplotlib.pyplot")
    plt.imsave(tmp_path / "one.png", paper, cmap="gray", vmin=0, vmax=255)
    probs = model.predict_images([tmp_path / "one.png", paper])
    assert probs.shape == (2, 10) and list(probs.argmax(1)) == [1, 1]
    with pytest.raises(FileNotFoundError):
        mnistlab.preprocess(tmp_path / "missing.png")


def test_a_wheel_is_abi3():
    import mnistlab._engine as engine

    assert engine.__file__.endswith(".abi3.so"), engine.__file__


def test_help_shows_docstrings():
    assert "validation_split" in Model.fit.__doc__
    out = subprocess.run(
        [sys.executable, "-c", "import mnistlab; help(mnistlab.Model.fit)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "KeyboardInterrupt" in out
