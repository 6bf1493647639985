"""Weight penalties, as ``keras.regularizers``."""

from ._engine import ConfigError


class L2:
    """An L2 penalty ``l2 * sum(w ** 2)`` on a layer's kernel (never its bias)."""

    def __init__(self, l2: float = 0.01) -> None:
        l2 = float(l2)
        if not l2 >= 0.0 or l2 == float("inf"):
            raise ConfigError(f"l2: must be a non-negative number, got {l2}")
        self.l2 = l2

    def __repr__(self) -> str:
        return f"L2(l2={self.l2})"


def l2(l2: float = 0.01) -> L2:  # noqa: D103 - Keras' name for the constructor
    """An L2 kernel penalty of factor ``l2`` (Keras' ``regularizers.l2``)."""
    return L2(l2)
