"""Models, as ``keras.models``: ``Model`` (a functional chain, a preset name or a notation),
``Sequential``, ``load_model``, and ``ensemble`` for averaged predictions."""

import math
import os
import warnings

import numpy as np

from . import _engine, callbacks as cbs, layers as lay, optimizers
from ._engine import ConfigError
from ._progress import Progress

LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy")
CLASSES = 10


def _images(x, what: str = "x") -> np.ndarray:
    """``x`` as a C-contiguous ``uint8`` or ``float32`` array ``(N, 784)``."""
    if x is None:
        raise ConfigError(f"{what}: no images given")
    array = np.asarray(x)
    if array.dtype == np.bool_ or not (np.issubdtype(array.dtype, np.number)):
        raise TypeError(f"{what}: expected a numeric array of images, got dtype {array.dtype}")
    if array.ndim == 0 or array.shape[0] == 0:
        raise ConfigError(f"{what}: holds no image")
    if tuple(array.shape[1:]) not in lay._INPUT_SHAPES:
        raise ConfigError(
            f"{what}: shape {array.shape} is not a batch of 28×28 images ((N, 28, 28), "
            "(N, 28, 28, 1) or (N, 784))"
        )
    if np.issubdtype(array.dtype, np.integer) and array.dtype != np.uint8:
        if array.min() < 0 or array.max() > 255:
            raise ConfigError(f"{what}: integer pixels must be in [0, 255]")
        array = array.astype(np.uint8)
    elif np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(f"{what}: complex pixels are not images")
    elif np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32, copy=False)
        if not np.all(np.isfinite(array)):
            raise ConfigError(f"{what}: holds NaN or infinite values")
    return np.ascontiguousarray(array.reshape(array.shape[0], lay.PIXELS))


def _labels(y, n: int, what: str = "y") -> np.ndarray:
    """``y`` (integer labels or one-hot rows) as ``uint8`` class indices, one per image."""
    if y is None:
        raise ConfigError(f"{what}: no labels given")
    array = np.asarray(y)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 2:
        if array.shape[1] != CLASSES:
            raise ConfigError(f"{what}: one-hot rows must have {CLASSES} values, got {array.shape}")
        if not np.all(np.isfinite(array)):
            raise ConfigError(f"{what}: holds NaN or infinite values")
        array = array.argmax(axis=1)
    elif array.ndim != 1:
        raise ConfigError(
            f"{what}: expected labels (N,) or one-hot rows (N, 10), got {array.shape}"
        )
    if not np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_:
        raise TypeError(f"{what}: expected numeric labels, got dtype {array.dtype}")
    if not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise ConfigError(f"{what}: labels must be whole numbers")
    if len(array) != n:
        raise ConfigError(f"{what}: has {len(array)} labels for {n} images")
    if n and (array.min() < 0 or array.max() >= CLASSES):
        bad = array[(array < 0) | (array >= CLASSES)][0]
        raise ConfigError(f"{what}: label {bad} is not a class 0-{CLASSES - 1}")
    return np.ascontiguousarray(array.astype(np.uint8))


def _scale(x: np.ndarray) -> float:
    """Pixel value per unit of ``x``: 255 for floats all at most 1 (``image / 255``), else 1."""
    return 255.0 if x.dtype == np.float32 and float(x.max()) <= 1.0 else 1.0


def _split(n: int, fraction: float) -> int:
    """The images kept for training by ``validation_split=fraction`` (the last ones go)."""
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"validation_split: must be between 0 and 1, got {fraction}")
    held = math.floor(n * fraction + 0.5)
    if held in (0, n):
        raise ConfigError(f"validation_split: {fraction} of {n} images leaves an empty set")
    return n - held


class _Hooks:
    """What the engine calls back at batch and epoch boundaries: progress, history and the
    user's callbacks; a true result stops training (``model.stop_training``)."""

    def __init__(self, model, callbacks: list, progress: Progress, history) -> None:
        self.model, self.callbacks, self.progress, self.history = (
            model,
            callbacks,
            progress,
            history,
        )

    def _call(self, method: str, *args) -> None:
        for callback in self.callbacks:
            hook = getattr(callback, method, None)
            if callable(hook):
                hook(*args)

    def on_epoch_begin(self, epoch: int, epochs: int, steps: int) -> None:
        self.progress.epoch_begin(epoch, epochs, steps)
        self._call("on_epoch_begin", epoch, {})

    def on_train_batch_end(self, batch: int, loss: float, accuracy: float) -> bool:
        logs = {"loss": loss, "accuracy": accuracy}
        self._call("on_train_batch_end", batch, logs)
        self._call("on_batch_end", batch, logs)
        self.progress.batch_end(batch + 1, logs)
        return bool(self.model.stop_training)

    def on_epoch_end(self, epoch: int, logs: dict) -> bool:
        logs = {k: v for k, v in logs.items() if k != "seconds"}
        self.progress.epoch_end(logs)
        self.history.on_epoch_end(epoch, logs)
        self._call("on_epoch_end", epoch, logs)
        return bool(self.model.stop_training)

    def wants_batches(self) -> bool:
        """Whether any callback (or the live progress line) needs every batch."""

        def overrides(cb, name):
            method = getattr(type(cb), name, None)
            return method is not None and method is not getattr(cbs.Callback, name, None)

        return self.progress.verbose == 1 or any(
            overrides(cb, "on_train_batch_end") or overrides(cb, "on_batch_end")
            for cb in self.callbacks
        )


class Model:
    """A model of the engine, built as Keras builds one.

    - ``Model(inputs=[xi], outputs=[yo])``: a functional chain from ``Input`` (a graph that is
      not a chain, or a layer mnistlab does not have, is refused naming it);
    - ``Model("cnn-bn")`` or ``Model("32C3-BN-ReLU-MP2-GAP-D10")``: a preset or a notation, its
      input normalized as the command line does (``normalization="standardize-global"``).

    ``seed`` draws the initial weights and the shuffling order, as ``mnistlab train --seed``.
    """

    def __init__(
        self,
        inputs=None,
        outputs=None,
        *,
        dataset="mnist",
        normalization=None,
        seed=0,
        dropout=None,
        name=None,
    ) -> None:
        self.name = name
        self.stop_training = False
        self._compiled = {}
        self._normalizer = None
        self._l2 = 0.0
        self.seed = int(seed)
        if isinstance(inputs, str):
            if outputs is not None:
                raise ConfigError("outputs: a model given by name or notation has no outputs")
            self._input_shape = (28, 28, 1)
            self._engine = _engine.Network(
                inputs,
                dataset=dataset,
                normalization=normalization or "standardize-global",
                seed=self.seed,
                dropout=dropout,
            )
            self._adapted = False
            return
        if inputs is None and outputs is None:
            raise ConfigError("inputs: give Model(inputs=..., outputs=...) or a preset/notation")
        self._build(self._chain(inputs, outputs), dataset, normalization)

    @staticmethod
    def _chain(inputs, outputs) -> list:
        def one(value, what):
            if isinstance(value, (list, tuple)):
                if len(value) != 1:
                    raise ConfigError(
                        f"{what}: mnistlab models have one {what[:-1]}, got {len(value)}"
                    )
                value = value[0]
            if not isinstance(value, lay.KerasTensor):
                raise TypeError(f"{what}: expected tensors made by Input() and layers")
            return value

        first, last = one(inputs, "inputs"), one(outputs, "outputs")
        chain = last.chain()
        if chain[0] is not first.layer:
            raise ConfigError("outputs: not computed from the given inputs")
        return chain

    def _build(self, chain: list, dataset: str, normalization) -> None:
        """Turns a chain of layers (``InputLayer`` first) into the engine's notation."""
        self._input_shape = chain[0].shape
        body = chain[1:]
        normalizers = [i for i, layer in enumerate(body) if isinstance(layer, lay.Normalizer)]
        if normalizers and normalizers != [0]:
            raise ConfigError(
                f"{type(body[normalizers[-1]]).__name__}: a normalization layer must come right "
                "after the input (it becomes the model's input normalization)"
            )
        self._normalizer = body[0] if normalizers else None
        if isinstance(self._normalizer, lay.Lambda):
            self._normalizer.statistics(self._input_shape)  # refuses a non-affine map now
        tokens = [t for layer in body for t in layer.tokens()]
        for layer in body:
            if not isinstance(layer, lay.Layer):
                raise TypeError(f"layers: {type(layer).__name__} is not a mnistlab layer")
        if lay._SOFTMAX in tokens[:-1]:
            raise ConfigError("Activation: softmax is only available as the model's last layer")
        tokens = [t for t in tokens if t != lay._SOFTMAX]
        if not tokens:
            raise ConfigError("layers: the model has no layer")
        arch = "-".join(tokens)
        _engine.check_architecture(arch)
        factors = {
            layer.kernel_regularizer.l2
            for layer in body
            if getattr(layer, "kernel_regularizer", None)
        }
        if len(factors) > 1:
            raise ConfigError(
                "kernel_regularizer: mnistlab applies one L2 factor to every kernel, got "
                f"{sorted(factors)}"
            )
        kernels = [layer for layer in body if isinstance(layer, (lay.Dense, lay.Conv2D))]
        if factors and any(layer.kernel_regularizer is None for layer in kernels):
            warnings.warn(
                "kernel_regularizer: mnistlab applies the L2 factor to every kernel", stacklevel=3
            )
        self._l2 = factors.pop() if factors else 0.0
        momenta = {layer.momentum for layer in body if isinstance(layer, lay.BatchNormalization)}
        if len(momenta) > 1:
            raise ConfigError(
                f"momentum: every BatchNormalization needs the same, got {sorted(momenta)}"
            )
        self._engine = _engine.Network(
            arch,
            dataset=dataset,
            normalization=normalization or "none",
            seed=self.seed,
            bn_momentum=momenta.pop() if momenta else 0.99,
        )
        # The chain's own normalization (or the mode given) is set from the first data seen.
        self._adapted = False

    @classmethod
    def _wrap(cls, engine) -> "Model":
        model = cls.__new__(cls)
        model.name, model.stop_training, model._compiled = None, False, {}
        model._normalizer, model._l2, model.seed = None, 0.0, 0
        model._input_shape, model._engine, model._adapted = (28, 28, 1), engine, True
        return model

    # --- normalization -------------------------------------------------------------------

    def _normalize_for(self, x: np.ndarray) -> None:
        """Fixes the input normalization from the first data seen (its pixel scale, and the
        chain's normalization layer or the preset's statistics)."""
        if self._adapted:
            return
        scale = _scale(x)
        if self._normalizer is None and self._engine.config()[3] != "none":
            self._engine.adapt(x)
        else:
            if self._normalizer is None:
                mean, std = np.zeros(lay.PIXELS), np.ones(lay.PIXELS)
            else:
                mean, std = self._normalizer.statistics(self._input_shape)
            # The engine sees pixels p = scale·x: (x − mean)/std = (p − scale·mean)/(scale·std).
            self._engine.set_normalization(
                (mean * scale).astype(np.float32), (std * scale).astype(np.float32)
            )
        self._adapted = True

    # --- Keras' API -------------------------------------------------------------------------

    def compile(
        self,
        optimizer="rmsprop",
        loss=None,
        metrics=None,
        *,
        schedule="constant",
        augment=None,
        label_smoothing=0.0,
        seed=None,
        threads=None,
    ) -> None:
        """Sets the loss (``'categorical_crossentropy'`` or ``'sparse_categorical_crossentropy'``:
        either takes labels or one-hot rows), the optimizer (``'adam'``, ``'sgd'`` or an
        ``optimizers.Adam``/``SGD``), ``metrics=['accuracy']``, and mnistlab's settings: the
        learning-rate ``schedule`` (``'constant'``, ``'cosine'``, ``'exp:0.9'``, ``'onecycle'``),
        ``augment`` (a dict of ``rotation``, ``zoom``, ``shear``, ``shift``, ``flip``, ``erase``),
        ``label_smoothing``, the shuffling ``seed`` (default: the model's) and the ``threads`` that
        train (default: one per core)."""
        if optimizer == "rmsprop":
            raise ConfigError(
                "optimizer: mnistlab has 'adam' and 'sgd' (Keras' default rmsprop is not available)"
            )
        opt = optimizers.get(optimizer)
        if loss is None or (isinstance(loss, str) and loss not in LOSSES):
            raise ConfigError(f"loss: expected one of {LOSSES}, got {loss!r}")
        if not isinstance(loss, str):
            raise TypeError("loss: expected a loss name")
        for metric in metrics or []:
            if metric not in ("accuracy", "acc"):
                raise ConfigError(f"metrics: only 'accuracy' is available, got {metric!r}")
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ConfigError(f"label_smoothing: must be in [0, 1), got {label_smoothing}")
        if augment is not None and not isinstance(augment, dict):
            raise TypeError("augment: expected a dict such as {'rotation': 10, 'zoom': 0.1}")
        # As Keras' compile, a new optimizer: the next fit starts from fresh moments.
        self._engine.reset_optimizer()
        self._compiled = dict(
            optimizer=opt.name,
            learning_rate=opt.learning_rate,
            momentum=opt.momentum,
            schedule=str(schedule),
            augment=augment,
            label_smoothing=float(label_smoothing),
            seed=self.seed if seed is None else int(seed),
            threads=None if threads is None else int(threads),
        )

    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        epochs=1,
        verbose="auto",
        callbacks=None,
        validation_split=0.0,
        validation_data=None,
        shuffle=True,
        **kwargs,
    ):
        """Trains on images ``x`` (``uint8`` or float ``(N, 28, 28)``, ``(N, 28, 28, 1)`` or
        ``(N, 784)``; floats in [0, 1] are read as ``pixel / 255``) and labels ``y`` (integers or
        one-hot rows), ``epochs`` passes of ``batch_size`` (32) images; returns a ``History``.

        ``validation_split`` holds out the last fraction of ``x``; ``validation_data=(x, y)``
        gives a set. ``verbose``: 0 silent, 1 a live progress line, 2 one line per epoch.
        A second ``fit`` goes on with the optimizer's state (its moments and step) and the
        shuffling order where the first left them, as Keras' does; ``compile`` starts afresh.
        The GIL is released while the engine trains (callbacks run on the calling thread);
        Ctrl-C raises ``KeyboardInterrupt`` at the next batch, the model keeping the weights of
        the last finished step; with ``callbacks.BackupAndRestore(backup_dir)`` the next ``fit``
        continues from there."""
        if kwargs:
            raise TypeError(f"fit: unexpected arguments {sorted(kwargs)}")
        if not self._compiled:
            raise ConfigError("fit: call compile(loss=..., optimizer=...) first")
        if not shuffle:
            raise ConfigError("shuffle: the engine always shuffles (by the model's seed)")
        verbose = 1 if verbose == "auto" else int(verbose)
        batch_size = 32 if batch_size is None else batch_size
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ConfigError(f"batch_size: must be a positive int, got {batch_size!r}")
        if not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise ConfigError(f"epochs: must be a positive int, got {epochs!r}")
        x = _images(x)
        y = _labels(y, len(x))
        val_x = val_y = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) < 2:
                raise ConfigError("validation_data: expected a tuple (x_val, y_val)")
            val_x = _images(validation_data[0], "validation_data x")
            val_y = _labels(validation_data[1], len(val_x), "validation_data y")
        elif validation_split:
            keep = _split(len(x), float(validation_split))
            x, val_x, y, val_y = x[:keep], x[keep:], y[:keep], y[keep:]
        self._normalize_for(x)
        engine_kw, user = {}, []
        for cb in callbacks or []:
            if isinstance(cb, cbs.ModelCheckpoint):
                # As Keras, the checkpoint's folder is made when missing.
                os.makedirs(os.path.dirname(os.path.abspath(cb.filepath)), exist_ok=True)
                engine_kw["checkpoint"] = cb.filepath
            elif isinstance(cb, cbs.EarlyStopping):
                engine_kw["early_stopping"] = (
                    cb.monitor,
                    cb.patience,
                    cb.min_delta,
                    cb.restore_best_weights,
                )
            elif isinstance(cb, cbs.BackupAndRestore):
                engine_kw["backup"] = (cb.backup_dir, cb.delete_checkpoint)
            elif isinstance(cb, cbs.TensorBoard):
                engine_kw.update(
                    tensorboard=cb.log_dir, update_freq=cb.update_freq, histograms=cb.histograms
                )
            else:
                user.append(cb)
        history = cbs.History()
        steps = -(-len(x) // min(batch_size, len(x)))
        for cb in user + [history]:
            if hasattr(cb, "set_model"):
                cb.set_model(self)
            if hasattr(cb, "set_params"):
                cb.set_params({"epochs": epochs, "steps": steps, "verbose": verbose})
        hooks = _Hooks(self, user, Progress(verbose), history)
        self.stop_training = False
        hooks._call("on_train_begin", {})
        settings = dict(self._compiled)
        self._engine.fit(
            x,
            y,
            val_x=val_x,
            val_y=val_y,
            epochs=int(epochs),
            batch_size=int(batch_size),
            l2=self._l2,
            hooks=hooks,
            batch_hooks=hooks.wants_batches(),
            **settings,
            **engine_kw,
        )
        hooks._call("on_train_end", {})
        history.model, history.params = self, {"epochs": epochs, "steps": steps, "verbose": verbose}
        return history

    def evaluate(
        self, x=None, y=None, batch_size=None, verbose="auto", return_dict=False, **kwargs
    ):
        """``[loss, accuracy]`` on ``x``/``y`` (a dict with ``return_dict=True``)."""
        if kwargs:
            raise TypeError(f"evaluate: unexpected arguments {sorted(kwargs)}")
        x = _images(x)
        y = _labels(y, len(x))
        self._normalize_for(x)
        loss, accuracy = self._engine.evaluate(x, y, batch_size=int(batch_size or 128))
        return {"loss": loss, "accuracy": accuracy} if return_dict else [loss, accuracy]

    def predict(self, x, batch_size=None, verbose="auto", **kwargs) -> np.ndarray:
        """Class probabilities of the images ``x``: ``float32 (N, 10)``."""
        if kwargs:
            raise TypeError(f"predict: unexpected arguments {sorted(kwargs)}")
        x = _images(x)
        self._normalize_for(x)
        return self._engine.predict(x, batch_size=int(batch_size or 128))

    def predict_images(self, pictures) -> np.ndarray:
        """Class probabilities of your own pictures (paths or ``uint8`` arrays), each made
        MNIST-style by ``mnistlab.preprocess`` first (as ``mnistlab predict`` and ``serve``)."""
        from .pictures import preprocess

        if isinstance(pictures, (str, os.PathLike, np.ndarray)):
            pictures = [pictures]
        dataset = self._engine.config()[2]
        images = np.stack([preprocess(p, dataset) for p in pictures])
        return self.predict(images)

    def save(self, filepath) -> None:
        """Writes the model (weights, architecture, normalization) as ``.safetensors``."""
        path = cbs._check_path(filepath)
        self._engine.save(path)

    def export_onnx(self, filepath, opset=None) -> None:
        """Writes the model as an ONNX graph (probabilities out, normalization inside)."""
        if opset is None:
            self._engine.export_onnx(os.fspath(filepath))
        else:
            self._engine.export_onnx(os.fspath(filepath), int(opset))

    def get_weights(self) -> list:
        """The tensors in Keras' layouts and order (kernel, bias; gamma, beta, moving mean,
        moving variance), as NumPy arrays."""
        return [array for _, array in self._engine.weights()]

    def set_weights(self, weights) -> None:
        """Replaces the tensors of ``get_weights()`` (same order and shapes)."""
        self._engine.set_weights([np.ascontiguousarray(w, dtype=np.float32) for w in weights])

    def summary(self, print_fn=None) -> None:
        """Prints the summary table (layers, output shapes, parameters)."""
        (print_fn or print)(self._engine.summary())

    @property
    def notation(self) -> str:
        """The architecture in mnistlab's notation."""
        return self._engine.config()[1]

    def __repr__(self) -> str:
        return self._engine.summary()

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(self._engine.summary())


class Sequential(Model):
    """A stack of layers, as ``keras.Sequential([Input(shape=(784,)), Dense(10), ...])``."""

    def __init__(
        self, layers=None, *, dataset="mnist", normalization=None, seed=0, name=None
    ) -> None:
        layers = list(layers or [])
        if not layers:
            raise ConfigError("layers: a Sequential model needs at least one layer")
        first = layers[0]
        if isinstance(first, lay.KerasTensor):
            node, layers = first, layers[1:]
        elif isinstance(first, lay.InputLayer):
            node, layers = lay.KerasTensor(first, None), layers[1:]
        else:
            shape = getattr(first, "input_shape", None)
            if shape is None:
                shape = (28, 28, 1) if isinstance(first, lay.Conv2D) else (784,)
            node = lay.Input(shape=shape)
        start = node
        for layer in layers:
            if not isinstance(layer, lay.Layer):
                raise TypeError(f"layers: {type(layer).__name__} is not a mnistlab layer")
            node = layer(node)
        super().__init__(
            inputs=start,
            outputs=node,
            dataset=dataset,
            normalization=normalization,
            seed=seed,
            name=name,
        )


def load_model(filepath) -> Model:
    """Reads a ``.safetensors`` model written by ``save``, ``ModelCheckpoint`` or
    ``mnistlab train``."""
    path = os.fspath(filepath)
    if path.endswith((".h5", ".keras", ".hdf5")):
        raise ConfigError(f"filepath: {path!r}: mnistlab reads .safetensors models, not .h5/.keras")
    return Model._wrap(_engine.Network.load(path))


class Ensemble:
    """Several models whose class probabilities are averaged."""

    def __init__(self, models) -> None:
        self.models = list(models)
        if not self.models:
            raise ConfigError("models: the ensemble needs at least one model")
        for m in self.models:
            if not isinstance(m, Model):
                raise TypeError(f"models: {type(m).__name__} is not a mnistlab model")

    def predict(self, x, batch_size=None) -> np.ndarray:
        """The mean of the models' probabilities: ``float32 (N, 10)``."""
        x = _images(x)
        for m in self.models:
            m._normalize_for(x)
        return _engine.ensemble_predict(
            [m._engine for m in self.models], x, batch_size=int(batch_size or 128)
        )

    def evaluate(self, x, y, batch_size=None, return_dict=False):
        """``[loss, accuracy]`` of the averaged probabilities."""
        x = _images(x)
        y = _labels(y, len(x))
        loss, accuracy = _engine.score_probabilities(self.predict(x, batch_size), y)
        return {"loss": loss, "accuracy": accuracy} if return_dict else [loss, accuracy]


def ensemble(models) -> Ensemble:
    """An ensemble of ``models`` (any architectures trained on the same dataset)."""
    return Ensemble(models)
