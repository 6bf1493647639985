"""The one loader behind ``mnist`` and ``fashion_mnist``."""

from .. import _engine


def load(name: str):
    """``(x_train, y_train), (x_test, y_test)`` as ``uint8`` arrays, images ``(N, 28, 28)``."""
    x_train, y_train, x_test, y_test = _engine.load_dataset(name)
    return (x_train, y_train), (x_test, y_test)
