"""Callbacks, as ``keras.callbacks``.

``TensorBoard``, ``ModelCheckpoint``, ``EarlyStopping`` and ``BackupAndRestore`` run inside the
engine (the command line's own callbacks and run directory: the same event files, the same
best-model file, the same resume state). Any other object with
Keras' method names (``on_epoch_begin``, ``on_epoch_end``, ``on_train_batch_end``,
``on_train_begin``, ``on_train_end``) is called at batch and epoch boundaries on the thread that
called ``fit``, as in Keras, while the training loop waits; setting ``model.stop_training =
True`` ends the run there.
While the engine trains, the model itself is busy: a callback reads ``logs``, not weights.
"""

import os

from ._engine import ConfigError


class Callback:
    """Base class of callbacks: override the methods you need."""

    def __init__(self) -> None:
        self.model = None
        self.params = {}

    def set_model(self, model) -> None:
        """Called before training with the model being trained."""
        self.model = model

    def set_params(self, params: dict) -> None:
        """Called before training with ``epochs``, ``steps`` and ``verbose``."""
        self.params = params

    def on_train_begin(self, logs=None) -> None:
        """Training starts."""

    def on_train_end(self, logs=None) -> None:
        """Training ended (normally, or after ``stop_training``)."""

    def on_epoch_begin(self, epoch, logs=None) -> None:
        """Epoch ``epoch`` (0-based) starts."""

    def on_epoch_end(self, epoch, logs=None) -> None:
        """Epoch ``epoch`` ended; ``logs`` holds loss, accuracy and the validation metrics."""

    def on_train_batch_end(self, batch, logs=None) -> None:
        """Batch ``batch`` (0-based) ended; ``logs`` holds the epoch's running loss and accuracy."""


class History(Callback):
    """What ``fit`` returns: ``history`` maps each metric to its value per epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def _check_path(filepath) -> str:
    path = os.fspath(filepath)
    if path.endswith((".h5", ".keras", ".hdf5")):
        raise ConfigError(
            f"filepath: {path!r}: mnistlab writes .safetensors models, not Keras' "
            ".h5/.keras (use a path ending in .safetensors)"
        )
    return path


class ModelCheckpoint(Callback):
    """Saves the model whenever the validation loss (the training loss without validation data)
    improves, as Keras' ``ModelCheckpoint(filepath, save_best_only=True)``."""

    def __init__(
        self, filepath, monitor="val_loss", save_best_only=False, verbose=0, **kwargs
    ) -> None:
        super().__init__()
        self.filepath = _check_path(filepath)
        if monitor != "val_loss":
            raise ConfigError(f"monitor: ModelCheckpoint watches 'val_loss', got {monitor!r}")
        if not save_best_only:
            raise ConfigError(
                "save_best_only: mnistlab's ModelCheckpoint keeps the best model; pass "
                "save_best_only=True"
            )
        self.verbose = verbose


class EarlyStopping(Callback):
    """Stops training when ``monitor`` has not improved by more than ``min_delta`` for
    ``patience`` epochs; ``restore_best_weights`` gives the model back its best epoch's weights."""

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0.0,
        patience=0,
        verbose=0,
        restore_best_weights=False,
        **kwargs,
    ) -> None:
        super().__init__()
        monitors = ("loss", "accuracy", "val_loss", "val_accuracy")
        if monitor not in monitors:
            raise ConfigError(f"monitor: expected one of {monitors}, got {monitor!r}")
        if int(patience) < 0:
            raise ConfigError(f"patience: must be at least 0, got {patience}")
        self.monitor = monitor
        self.min_delta = abs(float(min_delta))
        self.patience = int(patience)
        self.restore_best_weights = bool(restore_best_weights)


class TensorBoard(Callback):
    """Writes the command line's TensorBoard event files into ``log_dir`` (``train/`` and
    ``validation/``): epoch loss, accuracy and learning rate, a grid of validation predictions,
    the confusion matrix; ``update_freq=N`` adds the batch loss every N steps and
    ``histogram_freq > 0`` weight histograms each epoch."""

    def __init__(self, log_dir="logs", histogram_freq=0, update_freq="epoch", **kwargs) -> None:
        super().__init__()
        self.log_dir = os.fspath(log_dir)
        self.histograms = bool(histogram_freq)
        if update_freq in ("epoch", None):
            self.update_freq = None
        elif isinstance(update_freq, int) and update_freq > 0:
            self.update_freq = update_freq
        else:
            raise ConfigError(
                f"update_freq: expected 'epoch' or a positive int, got {update_freq!r}"
            )


class BackupAndRestore(Callback):
    """Backs the training state up in ``backup_dir`` so that an interrupted ``fit`` continues
    where it stopped, as Keras' ``BackupAndRestore``.

    The state (weights, the optimizer's moments and step, the shuffling and dropout generators,
    the epoch and step) is saved after every epoch and when ``fit`` is stopped by Ctrl-C or by an
    exception, at the last finished step. A ``fit`` given the same ``backup_dir`` then goes on
    from it, ending with the weights an uninterrupted run would have (the same machine and
    thread count), as ``mnistlab train --resume`` does; call it with the same arguments (other
    settings are refused, naming them; ``epochs`` may grow). ``backup_dir`` is a run directory
    of the engine, locked while a fit trains from it: a second fit on it at the same time, in
    this process or another, raises ``ConfigError``. With ``delete_checkpoint`` (the default)
    the state is removed once ``fit`` ends without an exception.
    """

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True, **kwargs) -> None:
        super().__init__()
        if backup_dir is None or os.fspath(backup_dir) == "":
            raise ConfigError("backup_dir: a directory is needed")
        if save_freq != "epoch":
            raise ConfigError(
                f"save_freq: mnistlab saves after every epoch and at the step where fit was "
                f"interrupted; pass 'epoch', got {save_freq!r}"
            )
        self.backup_dir = os.fspath(backup_dir)
        self.delete_checkpoint = bool(delete_checkpoint)


#: The callbacks the engine runs itself.
ENGINE_CALLBACKS = (ModelCheckpoint, EarlyStopping, TensorBoard, BackupAndRestore)
