"""Your own pictures made to look like MNIST's digits (the engine's picture pipeline)."""

import os

import numpy as np

from . import _engine


def preprocess(picture, dataset: str = "mnist") -> np.ndarray:
    """A photo, scan or drawing (a path, or a ``uint8`` array ``(H, W)``, ``(H, W, 3)`` or
    ``(H, W, 4)``) as the ``uint8 (28, 28)`` image a model of ``dataset`` expects: grayscale,
    light ink on black, scaled and centred as MNIST's digits (Fashion-MNIST: its products)."""
    if isinstance(picture, (str, os.PathLike)):
        return _engine.preprocess_picture(os.fspath(picture), dataset)
    array = np.ascontiguousarray(picture)
    if array.dtype != np.uint8:
        raise TypeError(f"picture: expected a uint8 array or a path, got dtype {array.dtype}")
    return _engine.preprocess_picture(array, dataset)
