"""Layers, as ``keras.layers``: each one a token of mnistlab's architecture notation.

Layers are called on tensors to chain them (Keras' functional API) or listed in a
``Sequential``; a model turns the chain into its notation (``Dense(256)`` + ``Activation('relu')``
is ``D256-ReLU``). Normalization layers (``Lambda`` with an element-wise affine map,
``Normalization``) become the model's stored input normalization.
"""

import abc
import numbers

import numpy as np

from ._engine import ConfigError
from .regularizers import L2

#: Pixels of one image the engine takes (28 × 28 × 1).
PIXELS = 784
_INPUT_SHAPES = {(784,), (28, 28), (28, 28, 1)}


def _square(value, what: str) -> int:
    """An int, or a tuple of two equal ints (the engine's kernels and windows are square)."""
    if isinstance(value, numbers.Integral):
        size = int(value)
    elif isinstance(value, (tuple, list)) and len(value) == 2 and value[0] == value[1]:
        size = int(value[0])
    else:
        raise ConfigError(f"{what}: expected an int or a square (n, n) tuple, got {value!r}")
    if size < 1:
        raise ConfigError(f"{what}: must be at least 1, got {size}")
    return size


def _activation(activation, layer: str) -> list:
    if activation is None or activation == "linear":
        return []
    if activation == "relu":
        return ["ReLU"]
    if activation == "softmax":
        return [_SOFTMAX]
    raise ConfigError(
        f"{layer}: activation {activation!r} is not available (use 'relu', 'softmax' or None)"
    )


#: Marks a softmax, which the engine applies in its loss and predictions (only last).
_SOFTMAX = "softmax"


class KerasTensor:
    """The symbolic output of a layer in a functional chain."""

    def __init__(self, layer: "Layer", parent: "KerasTensor | None") -> None:
        self.layer = layer
        self.parent = parent

    @property
    def shape(self):
        """The input's shape with the batch dimension (``None``) for an ``Input``."""
        root = self
        while root.parent is not None:
            root = root.parent
        return (None,) + tuple(root.layer.shape)

    def chain(self) -> list:
        """The layers from the input to this tensor, input first."""
        layers, node = [], self
        while node is not None:
            layers.append(node.layer)
            node = node.parent
        return layers[::-1]


class Layer(abc.ABC):
    """A layer: ``tokens()`` gives its notation."""

    def __init__(self, name=None) -> None:
        self.name = name

    def __call__(self, inputs) -> KerasTensor:
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != 1:
                raise ConfigError(
                    f"{type(self).__name__}: called on {len(inputs)} tensors; mnistlab models "
                    "are chains of layers with one input each"
                )
            inputs = inputs[0]
        if not isinstance(inputs, KerasTensor):
            raise TypeError(
                f"{type(self).__name__}: expected the output of Input() or of another layer, "
                f"got {type(inputs).__name__}"
            )
        return KerasTensor(self, inputs)

    @abc.abstractmethod
    def tokens(self) -> list:
        """The layer in the architecture notation, one token per engine layer."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {'-'.join(map(str, self.tokens()))}>"


class InputLayer(Layer):
    """The model's input: one 28×28 grayscale image as ``(784,)``, ``(28, 28)`` or
    ``(28, 28, 1)``."""

    def __init__(self, shape, name=None) -> None:
        super().__init__(name)
        shape = tuple(int(s) for s in shape)
        if shape not in _INPUT_SHAPES:
            raise ConfigError(
                f"shape: {shape} is not one 28×28 grayscale image ((784,), (28, 28) or (28, 28, 1))"
            )
        self.shape = shape

    def tokens(self) -> list:
        return []


def Input(shape=None, name=None, batch_size=None, **kwargs) -> KerasTensor:  # noqa: N802
    """The start of a functional chain: ``Input(shape=(784,))`` or ``Input(shape=(28, 28, 1))``."""
    if shape is None:
        shape = kwargs.pop("batch_shape", (None, 784))[1:]
    if kwargs:
        raise TypeError(f"Input: unexpected arguments {sorted(kwargs)}")
    return KerasTensor(InputLayer(shape, name), None)


class Dense(Layer):
    """A fully connected layer of ``units`` outputs (``D<units>``)."""

    def __init__(
        self, units, activation=None, use_bias=True, kernel_regularizer=None, name=None, **kwargs
    ) -> None:
        super().__init__(name)
        if not isinstance(units, numbers.Integral) or units < 1:
            raise ConfigError(f"units: must be a positive int, got {units!r}")
        if not use_bias:
            raise ConfigError("use_bias: the engine's dense layers always have a bias")
        if kernel_regularizer is not None and not isinstance(kernel_regularizer, L2):
            raise ConfigError("kernel_regularizer: only regularizers.l2(...) is available")
        _reject(kwargs, "Dense")
        self.units = int(units)
        self.activation = _activation(activation, "Dense")
        self.kernel_regularizer = kernel_regularizer
        if input_dim := kwargs.get("input_dim"):
            self.input_shape = (input_dim,)

    def tokens(self) -> list:
        return [f"D{self.units}"] + self.activation


class Conv2D(Layer):
    """A 2-D convolution: ``filters`` square kernels of ``kernel_size``, stride ``strides``,
    ``padding='valid'`` (Keras' default) or ``'same'`` (``<filters>C<k>[s<s>][v]``)."""

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        activation=None,
        kernel_regularizer=None,
        use_bias=True,
        name=None,
        **kwargs,
    ) -> None:
        super().__init__(name)
        if not isinstance(filters, numbers.Integral) or filters < 1:
            raise ConfigError(f"filters: must be a positive int, got {filters!r}")
        if padding not in ("valid", "same"):
            raise ConfigError(f"padding: expected 'valid' or 'same', got {padding!r}")
        if not use_bias:
            raise ConfigError("use_bias: the engine's convolutions always have a bias")
        if kernel_regularizer is not None and not isinstance(kernel_regularizer, L2):
            raise ConfigError("kernel_regularizer: only regularizers.l2(...) is available")
        self.input_shape = kwargs.pop("input_shape", None)
        _reject(kwargs, "Conv2D")
        self.filters = int(filters)
        self.kernel_size = _square(kernel_size, "kernel_size")
        self.strides = _square(strides, "strides")
        self.padding = padding
        self.activation = _activation(activation, "Conv2D")
        self.kernel_regularizer = kernel_regularizer

    def tokens(self) -> list:
        token = f"{self.filters}C{self.kernel_size}"
        token += f"s{self.strides}" if self.strides != 1 else ""
        token += "v" if self.padding == "valid" else ""
        return [token] + self.activation


class MaxPooling2D(Layer):
    """Max pooling over square windows of ``pool_size``, stride ``strides`` (default: the
    window) (``MP<k>[s<s>]``)."""

    def __init__(self, pool_size=2, strides=None, padding="valid", name=None, **kwargs) -> None:
        super().__init__(name)
        if padding != "valid":
            raise ConfigError("padding: the engine's max pooling is 'valid' only")
        _reject(kwargs, "MaxPooling2D")
        self.pool_size = _square(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else _square(strides, "strides")

    def tokens(self) -> list:
        suffix = f"s{self.strides}" if self.strides != self.pool_size else ""
        return [f"MP{self.pool_size}{suffix}"]


MaxPool2D = MaxPooling2D


class Activation(Layer):
    """``'relu'`` (``ReLU``), or ``'softmax'`` as the model's last layer."""

    def __init__(self, activation, name=None, **kwargs) -> None:
        super().__init__(name)
        _reject(kwargs, "Activation")
        self.activation = _activation(activation, "Activation")
        if not self.activation:
            raise ConfigError(f"Activation: {activation!r} does nothing here")

    def tokens(self) -> list:
        return list(self.activation)


class ReLU(Activation):
    """The ReLU activation."""

    def __init__(self, name=None) -> None:
        super().__init__("relu", name)


class Flatten(Layer):
    """Image-shaped activations as one vector (``F``)."""

    def tokens(self) -> list:
        return ["F"]


class Dropout(Layer):
    """Zeroes a fraction ``rate`` of activations while training (``Drop<rate>``)."""

    def __init__(self, rate, name=None, **kwargs) -> None:
        super().__init__(name)
        _reject(kwargs, "Dropout")
        rate = float(rate)
        if not 0.0 <= rate < 1.0:
            raise ConfigError(f"rate: must be in [0, 1), got {rate}")
        self.rate = rate

    def tokens(self) -> list:
        return [f"Drop{self.rate:g}"]


class BatchNormalization(Layer):
    """Batch normalization with Keras' defaults (``BN``; ε 1e-3, running-average momentum)."""

    def __init__(self, momentum=0.99, epsilon=1e-3, name=None, **kwargs) -> None:
        super().__init__(name)
        _reject(kwargs, "BatchNormalization")
        if epsilon != 1e-3:
            raise ConfigError(f"epsilon: the engine's batch norm uses 1e-3, got {epsilon}")
        momentum = float(momentum)
        if not 0.0 <= momentum < 1.0:
            raise ConfigError(f"momentum: must be in [0, 1), got {momentum}")
        self.momentum = momentum

    def tokens(self) -> list:
        return ["BN"]


class GlobalAveragePooling2D(Layer):
    """The mean of each feature map (``GAP``)."""

    def tokens(self) -> list:
        return ["GAP"]


class Normalizer(Layer):
    """A layer that becomes the model's input normalization ``(x - mean) / std``."""

    @abc.abstractmethod
    def statistics(self, shape) -> tuple:
        """``(mean, std)``, each 784 float64 values, for inputs of ``shape``."""

    def tokens(self) -> list:
        return []


class Lambda(Normalizer):
    """A function of the input, kept when it is an element-wise affine map of the pixels (as the
    tutorial's standardization ``(image - mu) / std``): it becomes the model's stored
    normalization; any other function is refused."""

    def __init__(self, function, arguments=None, name=None, **kwargs) -> None:
        super().__init__(name)
        _reject(kwargs, "Lambda")
        if not callable(function):
            raise TypeError("function: expected a callable")
        self.function = function
        self.arguments = dict(arguments or {})

    def statistics(self, shape) -> tuple:
        def at(value):
            x = np.broadcast_to(np.asarray(value, dtype=np.float64), (1,) + tuple(shape))
            try:
                y = np.asarray(self.function(x.copy(), **self.arguments), dtype=np.float64)
            except Exception as err:  # the user's function: any failure is a refusal
                raise ConfigError(f"Lambda: the function failed on an input: {err}") from err
            if y.size != PIXELS:
                raise ConfigError(
                    f"Lambda: maps one image to {y.size} values; only element-wise maps of "
                    "the pixels are supported"
                )
            return y.reshape(PIXELS)

        offset, one = at(0.0), at(1.0)
        scale = one - offset
        probe = np.random.default_rng(0).uniform(0.0, 255.0, size=(1,) + tuple(shape))
        expected = offset + scale * probe.reshape(PIXELS)
        if not (np.all(np.isfinite(scale)) and np.all(np.isfinite(offset))) or np.any(scale == 0):
            raise ConfigError("Lambda: the function is not an invertible element-wise affine map")
        if not np.allclose(at(probe.reshape(shape)), expected, rtol=1e-4, atol=1e-4):
            raise ConfigError(
                "Lambda: only element-wise affine maps of the pixels (like (x - mu) / std) "
                "are supported"
            )
        return -offset / scale, 1.0 / scale


class Normalization(Normalizer):
    """Keras 3's ``Normalization``: ``(x - mean) / sqrt(variance)``, from ``mean``/``variance``
    or from ``adapt(data)``; ``axis=-1`` keeps one statistic per last-axis feature (per pixel
    for flat inputs), ``axis=None`` one for all pixels."""

    def __init__(self, axis=-1, mean=None, variance=None, name=None, **kwargs) -> None:
        super().__init__(name)
        _reject(kwargs, "Normalization")
        self.axis = axis
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.variance = None if variance is None else np.asarray(variance, dtype=np.float64)
        if (self.mean is None) != (self.variance is None):
            raise ConfigError("Normalization: give both mean and variance, or neither")

    def adapt(self, data) -> None:
        """Computes the mean and variance of ``data`` (images, batch first)."""
        data = np.asarray(data, dtype=np.float64)
        if data.size == 0 or data.ndim < 2:
            raise ConfigError("data: expected a non-empty batch of images")
        if not np.all(np.isfinite(data)):
            raise ConfigError("data: holds NaN or infinite values")
        if self.axis is None:
            axes = tuple(range(data.ndim))
        else:
            keep = {a % data.ndim for a in np.atleast_1d(self.axis)}
            axes = tuple(a for a in range(data.ndim) if a not in keep)
        self.mean = data.mean(axis=axes, keepdims=True)[0]
        self.variance = data.var(axis=axes, keepdims=True)[0]

    def statistics(self, shape) -> tuple:
        if self.mean is None:
            raise ConfigError("Normalization: call adapt(data) or give mean and variance first")
        mean = np.broadcast_to(self.mean, tuple(shape)).reshape(PIXELS)
        std = np.maximum(np.sqrt(np.broadcast_to(self.variance, tuple(shape))), 1e-7)
        return mean.astype(np.float64), std.reshape(PIXELS).astype(np.float64)


def _reject(kwargs: dict, layer: str) -> None:
    """Refuses arguments the engine has no use for (``name``-like extras are dropped)."""
    extra = sorted(set(kwargs) - {"input_shape", "input_dim", "dtype", "trainable"})
    if extra:
        raise TypeError(f"{layer}: unexpected arguments {extra}")
