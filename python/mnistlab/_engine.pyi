"""Type stubs of the compiled engine module (python/src/)."""

from os import PathLike
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

Pixels = Union[npt.NDArray[np.uint8], npt.NDArray[np.float32]]
Labels = npt.NDArray[np.uint8]

class ConfigError(ValueError): ...
class FormatError(ValueError): ...
class DatasetError(FileNotFoundError): ...
class NonFiniteLossError(ArithmeticError): ...

class Network:
    def __init__(
        self,
        arch: str,
        *,
        dataset: str = "mnist",
        normalization: str = "standardize-global",
        seed: int = 0,
        bn_momentum: float = 0.99,
        dropout: Optional[float] = None,
    ) -> None: ...
    @staticmethod
    def load(path: Union[str, PathLike[str]]) -> "Network": ...
    def save(self, path: Union[str, PathLike[str]]) -> None: ...
    def export_onnx(self, path: Union[str, PathLike[str]], opset: int = ...) -> None: ...
    def summary(self) -> str: ...
    def config(self) -> Tuple[str, str, str, str]: ...
    def set_normalization(
        self, mean: npt.NDArray[np.float32], std: npt.NDArray[np.float32]
    ) -> None: ...
    def adapt(self, x: Pixels) -> None: ...
    def fit(
        self,
        x: Pixels,
        y: Labels,
        *,
        val_x: Optional[Pixels] = None,
        val_y: Optional[Labels] = None,
        epochs: int = 10,
        batch_size: int = 128,
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        momentum: float = 0.0,
        l2: float = 0.0,
        seed: int = 0,
        schedule: str = "constant",
        label_smoothing: float = 0.0,
        augment: Optional[dict] = None,
        hooks: Any,
        batch_hooks: bool = False,
        tensorboard: Optional[str] = None,
        update_freq: Optional[int] = None,
        histograms: bool = False,
        checkpoint: Optional[str] = None,
        early_stopping: Optional[Tuple[str, int, float, bool]] = None,
        threads: Optional[int] = None,
        backup: Optional[Tuple[str, bool]] = None,
    ) -> None: ...
    def reset_optimizer(self) -> None: ...
    def evaluate(self, x: Pixels, y: Labels, batch_size: int = 128) -> Tuple[float, float]: ...
    def predict(self, x: Pixels, batch_size: int = 128) -> npt.NDArray[np.float32]: ...
    def weights(self) -> list[Tuple[str, npt.NDArray[np.float32]]]: ...
    def set_weights(self, arrays: Sequence[npt.NDArray[np.float32]]) -> None: ...

def ensemble_predict(
    networks: Sequence[Network], x: Pixels, batch_size: int = 128
) -> npt.NDArray[np.float32]: ...
def score_probabilities(probs: npt.NDArray[np.float32], y: Labels) -> Tuple[float, float]: ...
def load_dataset(
    name: str,
) -> Tuple[npt.NDArray[np.uint8], Labels, npt.NDArray[np.uint8], Labels]: ...
def preprocess_picture(
    picture: Union[str, npt.NDArray[np.uint8]], dataset: str = "mnist"
) -> npt.NDArray[np.uint8]: ...
def presets() -> list[Tuple[str, str, str]]: ...
def check_architecture(arch: str) -> None: ...
