"""Shared fixtures: real MNIST (from MNISTLAB_DATA, as the command line finds it) and small
slices of it. Outside CI a missing component skips its tests; with CI set it fails them."""

import importlib
import os

import numpy as np
import pytest

import mnistlab


def need(condition: bool, what: str) -> None:
    """Skips (fails in CI) a test whose external component is missing."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must provide {what}")
    pytest.skip(f"{what} is missing")


def need_module(name: str):
    """The module, or a skip (a failure in CI) when it cannot be imported."""
    try:
        return importlib.import_module(name)
    except ImportError:
        need(False, f"the Python package {name}")


@pytest.fixture(scope="session")
def mnist():
    """``(x_train, y_train), (x_test, y_test)`` of real MNIST."""
    need(bool(os.environ.get("MNISTLAB_DATA")), "MNISTLAB_DATA (real MNIST)")
    return mnistlab.datasets.mnist.load_data()


@pytest.fixture(scope="session")
def small(mnist):
    """2,000 training and 500 test images, uint8 (N, 28, 28), labels uint8."""
    (x_train, y_train), (x_test, y_test) = mnist
    return (x_train[:2000], y_train[:2000]), (x_test[:500], y_test[:500])


def compiled(arch="linear", seed=0, **compile_kw):
    """A compiled model of a preset or notation."""
    model = mnistlab.Model(arch, seed=seed)
    compile_kw.setdefault("optimizer", "adam")
    compile_kw.setdefault("metrics", ["accuracy"])
    model.compile(loss="sparse_categorical_crossentropy", **compile_kw)
    return model


def weights_equal(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
