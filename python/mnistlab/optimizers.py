"""Optimizers, as ``keras.optimizers``: Adam and SGD with Keras' defaults."""

import math

from ._engine import ConfigError


def _rate(learning_rate: float) -> float:
    rate = float(learning_rate)
    if not (math.isfinite(rate) and rate > 0.0):
        raise ConfigError(f"learning_rate: must be a positive number, got {learning_rate}")
    return rate


class Adam:
    """Adam with Keras' formulation (β₁ 0.9, β₂ 0.999, ε 1e-7)."""

    name = "adam"

    def __init__(self, learning_rate: float = 0.001) -> None:
        self.learning_rate = _rate(learning_rate)
        self.momentum = 0.0

    def __repr__(self) -> str:
        return f"Adam(learning_rate={self.learning_rate})"


class SGD:
    """Stochastic gradient descent with optional heavy-ball momentum."""

    name = "sgd"

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0) -> None:
        self.learning_rate = _rate(learning_rate)
        momentum = float(momentum)
        if not 0.0 <= momentum < 1.0:
            raise ConfigError(f"momentum: must be in [0, 1), got {momentum}")
        self.momentum = momentum

    def __repr__(self) -> str:
        return f"SGD(learning_rate={self.learning_rate}, momentum={self.momentum})"


def get(identifier: object) -> "Adam | SGD":
    """The optimizer named ``'adam'`` or ``'sgd'`` (Keras' default rates), or one given as an
    object with a ``learning_rate`` (and optionally ``momentum``) whose class is Adam or SGD."""
    if isinstance(identifier, (Adam, SGD)):
        return identifier
    if isinstance(identifier, str):
        kinds = {"adam": Adam, "sgd": SGD}
        if identifier.lower() not in kinds:
            raise ConfigError(f"optimizer: unknown {identifier!r} (expected 'adam' or 'sgd')")
        return kinds[identifier.lower()]()
    kind = type(identifier).__name__.lower()
    rate = getattr(identifier, "learning_rate", None)
    if kind in ("adam", "sgd") and rate is not None:
        rate = float(rate() if callable(rate) else rate)
        if kind == "adam":
            return Adam(rate)
        return SGD(rate, float(getattr(identifier, "momentum", 0.0)))
    raise TypeError(
        f"optimizer: expected 'adam', 'sgd' or an Adam/SGD object, got {type(identifier).__name__}"
    )
