"""The bad-argument table: every bad input raises a typed exception naming the argument, and
none crashes the interpreter."""

import numpy as np
import pytest

import mnistlab
from mnistlab import Input, Model, callbacks, layers, optimizers

from conftest import compiled

X = np.zeros((8, 28, 28), np.uint8)
Y = np.arange(8, dtype=np.uint8)


def fit(x=X, y=Y, **kw):
    kw.setdefault("verbose", 0)
    return compiled().fit(x, y, **kw)


NAN = X.astype(np.float32)
NAN[3, 4, 5] = np.nan

CASES = [
    # (what is wrong, call, exception, words the message must hold)
    (
        "x of the wrong shape",
        lambda: fit(x=np.zeros((8, 27, 28), np.uint8)),
        ValueError,
        "x: shape",
    ),
    ("x of strings", lambda: fit(x=np.full((8, 784), "a")), TypeError, "x: expected a numeric"),
    ("x with NaN", lambda: fit(x=NAN), ValueError, "x: holds NaN"),
    ("x out of range", lambda: fit(x=np.full((8, 784), 300.0)), ValueError, "x: value 300"),
    ("negative int pixels", lambda: fit(x=np.full((8, 784), -1)), ValueError, "x: integer pixels"),
    (
        "empty x",
        lambda: fit(x=np.zeros((0, 784), np.uint8), y=np.zeros(0, np.uint8)),
        ValueError,
        "x: holds no image",
    ),
    ("labels out of range", lambda: fit(y=np.arange(8) + 5), ValueError, "y: label 10"),
    ("negative labels", lambda: fit(y=np.arange(8) - 1), ValueError, "y: label -1"),
    ("labels of the wrong length", lambda: fit(y=Y[:5]), ValueError, "y: has 5 labels for 8"),
    ("one-hot rows of 9", lambda: fit(y=np.eye(9)[:8]), ValueError, "y: one-hot rows"),
    ("fractional labels", lambda: fit(y=Y + 0.5), ValueError, "y: labels must be whole"),
    ("no labels", lambda: fit(y=None), ValueError, "y: no labels"),
    ("zero epochs", lambda: fit(epochs=0), ValueError, "epochs"),
    ("zero batch size", lambda: fit(batch_size=0), ValueError, "batch_size"),
    ("bad validation split", lambda: fit(validation_split=1.5), ValueError, "validation_split"),
    ("bad validation data", lambda: fit(validation_data=(X,)), ValueError, "validation_data"),
    ("unknown fit argument", lambda: fit(steps_per_epoch=3), TypeError, "steps_per_epoch"),
    ("bad notation", lambda: Model("16Q3-D10"), ValueError, "16Q3"),
    ("no final dense layer", lambda: Model("16C3-GAP"), ValueError, "D10"),
    ("unknown dataset", lambda: Model("linear", dataset="cifar"), ValueError, "cifar"),
    (
        "unknown normalization",
        lambda: Model("linear", normalization="zscore"),
        ValueError,
        "zscore",
    ),
    (
        "negative learning rate",
        lambda: optimizers.Adam(learning_rate=-0.1),
        ValueError,
        "learning_rate",
    ),
    (
        "negative rate in an object",
        lambda: compiled(optimizer=type("Adam", (), {"learning_rate": -1})()),
        ValueError,
        "learning_rate",
    ),
    ("unknown optimizer", lambda: compiled(optimizer="rmsprop"), ValueError, "optimizer"),
    (
        "unknown loss",
        lambda: Model("linear").compile(loss="mse", optimizer="adam"),
        ValueError,
        "loss",
    ),
    ("unknown metric", lambda: compiled(metrics=["auc"]), ValueError, "metrics"),
    ("bad schedule", lambda: fit_with(schedule="exp:7"), ValueError, "schedule"),
    ("bad augmentation", lambda: fit_with(augment={"twist": 3}), ValueError, "augment"),
    ("zero threads", lambda: fit_with(threads=0), ValueError, "threads"),
    ("fit before compile", lambda: Model("linear").fit(X, Y), ValueError, "compile"),
    ("a layer we do not have", lambda: layers.Dense(10, activation="tanh"), ValueError, "tanh"),
    ("non-square kernel", lambda: layers.Conv2D(8, (3, 5)), ValueError, "kernel_size"),
    ("bad padding", lambda: layers.Conv2D(8, 3, padding="full"), ValueError, "padding"),
    ("bad dropout rate", lambda: layers.Dropout(1.5), ValueError, "rate"),
    ("bad input shape", lambda: Input(shape=(32, 32, 3)), ValueError, "shape"),
    (
        "a graph that is not a chain",
        lambda: layers.Dense(10)([Input(shape=(784,)), Input(shape=(784,))]),
        ValueError,
        "chains",
    ),
    (
        "softmax in the middle",
        lambda: Model(
            inputs=(xi := Input(shape=(784,))),
            outputs=layers.Dense(10)(layers.Activation("softmax")(layers.Dense(20)(xi))),
        ),
        ValueError,
        "softmax",
    ),
    (
        "outputs from other inputs",
        lambda: Model(inputs=Input(shape=(784,)), outputs=layers.Dense(10)(Input(shape=(784,)))),
        ValueError,
        "outputs",
    ),
    (
        "unreadable model file",
        lambda: mnistlab.load_model("/nonexistent/model.safetensors"),
        FileNotFoundError,
        "nonexistent",
    ),
    (
        "a file that is not a model",
        lambda: mnistlab.load_model(__file__),
        ValueError,
        "not a valid model file",
    ),
    (
        ".h5 checkpoint",
        lambda: callbacks.ModelCheckpoint("best.h5", save_best_only=True),
        ValueError,
        ".safetensors",
    ),
    (
        "checkpoint of every epoch",
        lambda: callbacks.ModelCheckpoint("b.safetensors"),
        ValueError,
        "save_best_only",
    ),
    ("unknown monitor", lambda: callbacks.EarlyStopping(monitor="val_auc"), ValueError, "monitor"),
    (
        "val monitor without validation",
        lambda: fit(callbacks=[callbacks.EarlyStopping()]),
        ValueError,
        "monitor",
    ),
    (
        "unreadable picture",
        lambda: mnistlab.preprocess("/nonexistent.png"),
        FileNotFoundError,
        "nonexistent",
    ),
    ("blank picture", lambda: mnistlab.preprocess(np.zeros((30, 30), np.uint8)), ValueError, ""),
    ("picture of floats", lambda: mnistlab.preprocess(np.zeros((30, 30))), TypeError, "uint8"),
    (
        "bad picture shape",
        lambda: mnistlab.preprocess(np.zeros((30, 30, 2), np.uint8)),
        ValueError,
        "shape",
    ),
    ("empty ensemble", lambda: mnistlab.ensemble([]), ValueError, "at least one"),
    ("wrong number of weights", lambda: Model("linear").set_weights([]), ValueError, "weights"),
    ("predict on nothing", lambda: Model("linear").predict(np.zeros((0, 784))), ValueError, "x"),
    (
        "to_categorical of a label too big",
        lambda: mnistlab.utils.to_categorical([3, 12], 10),
        ValueError,
        "num_classes",
    ),
]


def fit_with(**compile_kw):
    model = Model("linear")
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", **compile_kw)
    return model.fit(X, Y, verbose=0)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_argument_raises_a_typed_exception(case):
    _, call, exception, words = case
    with pytest.raises(exception) as info:
        call()
    assert words in str(info.value)
    assert "\n" not in str(info.value).strip()


def test_mnistlab_errors_are_keras_friendly_subclasses():
    assert issubclass(mnistlab.ConfigError, ValueError)
    assert issubclass(mnistlab.FormatError, ValueError)
    assert issubclass(mnistlab.DatasetError, FileNotFoundError)
    assert issubclass(mnistlab.NonFiniteLossError, ArithmeticError)


def test_a_diverging_run_raises_non_finite_loss():
    model = Model("linear", normalization="none")
    model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizers.SGD(1e37))
    x = np.random.default_rng(0).integers(0, 256, (64, 784)).astype(np.uint8)
    with pytest.raises(mnistlab.NonFiniteLossError, match="NaN or infinite"):
        model.fit(x, np.arange(64) % 10, epochs=3, verbose=0)


def test_an_exception_in_a_callback_propagates_and_the_model_still_works():
    class Boom(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            raise RuntimeError("boom in a callback")

    model = compiled()
    with pytest.raises(RuntimeError, match="boom"):
        model.fit(X, Y, batch_size=2, epochs=2, verbose=0, callbacks=[Boom()])
    assert model.predict(X).shape == (8, 10)
