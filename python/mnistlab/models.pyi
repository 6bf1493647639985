"""Type stubs of mnistlab.models."""

from os import PathLike
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

from .callbacks import History
from .layers import KerasTensor, Layer

ArrayLike = npt.ArrayLike
Path = Union[str, PathLike[str]]

LOSSES: tuple[str, str]
CLASSES: int

class Model:
    name: Optional[str]
    stop_training: bool
    seed: int
    def __init__(
        self,
        inputs: Union[str, KerasTensor, Sequence[KerasTensor], None] = None,
        outputs: Union[KerasTensor, Sequence[KerasTensor], None] = None,
        *,
        dataset: str = "mnist",
        normalization: Optional[str] = None,
        seed: int = 0,
        dropout: Optional[float] = None,
        name: Optional[str] = None,
    ) -> None: ...
    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Optional[str] = None,
        metrics: Optional[List[str]] = None,
        *,
        schedule: str = "constant",
        augment: Optional[Dict[str, Union[float, bool]]] = None,
        label_smoothing: float = 0.0,
        seed: Optional[int] = None,
        threads: Optional[int] = None,
    ) -> None: ...
    def fit(
        self,
        x: ArrayLike = None,
        y: ArrayLike = None,
        batch_size: Optional[int] = None,
        epochs: int = 1,
        verbose: Union[str, int] = "auto",
        callbacks: Optional[Sequence[Any]] = None,
        validation_split: float = 0.0,
        validation_data: Optional[tuple] = None,
        shuffle: bool = True,
    ) -> History: ...
    def evaluate(
        self,
        x: ArrayLike = None,
        y: ArrayLike = None,
        batch_size: Optional[int] = None,
        verbose: Union[str, int] = "auto",
        return_dict: bool = False,
    ) -> Union[List[float], Dict[str, float]]: ...
    def predict(
        self, x: ArrayLike, batch_size: Optional[int] = None, verbose: Union[str, int] = "auto"
    ) -> npt.NDArray[np.float32]: ...
    def predict_images(
        self,
        pictures: Union[Path, npt.NDArray[np.uint8], Sequence[Union[Path, npt.NDArray[np.uint8]]]],
    ) -> npt.NDArray[np.float32]: ...
    def save(self, filepath: Path) -> None: ...
    def export_onnx(self, filepath: Path, opset: Optional[int] = None) -> None: ...
    def get_weights(self) -> List[npt.NDArray[np.float32]]: ...
    def set_weights(self, weights: Sequence[ArrayLike]) -> None: ...
    def summary(self, print_fn: Optional[Callable[[str], Any]] = None) -> None: ...
    @property
    def notation(self) -> str: ...

class Sequential(Model):
    def __init__(
        self,
        layers: Optional[Sequence[Union[Layer, KerasTensor]]] = None,
        *,
        dataset: str = "mnist",
        normalization: Optional[str] = None,
        seed: int = 0,
        name: Optional[str] = None,
    ) -> None: ...

class Ensemble:
    models: List[Model]
    def __init__(self, models: Sequence[Model]) -> None: ...
    def predict(
        self, x: ArrayLike, batch_size: Optional[int] = None
    ) -> npt.NDArray[np.float32]: ...
    def evaluate(
        self,
        x: ArrayLike,
        y: ArrayLike,
        batch_size: Optional[int] = None,
        return_dict: bool = False,
    ) -> Union[List[float], Dict[str, float]]: ...

def load_model(filepath: Path) -> Model: ...
def ensemble(models: Sequence[Model]) -> Ensemble: ...
