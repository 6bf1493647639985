"""Helpers, as ``keras.utils``."""

import numpy as np

from ._engine import ConfigError


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot rows of ``num_classes`` (default: the largest label + 1) for integer labels."""
    labels = np.asarray(y)
    if labels.size == 0:
        raise ConfigError("y: holds no label")
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise ConfigError("y: labels must be whole numbers")
        labels = labels.astype(np.int64)
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    if labels.min() < 0:
        raise ConfigError(f"y: label {labels.min()} is negative")
    classes = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    if labels.max() >= classes:
        raise ConfigError(f"y: label {labels.max()} is not below num_classes={classes}")
    out = np.zeros(labels.shape + (classes,), dtype=dtype)
    np.put_along_axis(out, labels[..., None].astype(np.intp), 1, axis=-1)
    return out
