"""Fashion-MNIST's clothes (10 classes, MNIST's format)."""

from ._load import load


def load_data():
    """``(x_train, y_train), (x_test, y_test)``: 60,000 and 10,000 ``uint8`` images
    ``(N, 28, 28)`` with ``uint8`` labels 0-9."""
    return load("fashion-mnist")
