"""mnistlab: Keras' API for the MNIST tutorial over mnistlab's fast CPU engine.

The tutorial's code runs with its imports changed from ``tensorflow.keras.X`` to ``mnistlab.X``::

    from mnistlab.datasets import mnist
    from mnistlab.layers import Dense, Activation
    from mnistlab.models import Model
    from mnistlab import Input
"""

from . import callbacks, datasets, layers, models, optimizers, regularizers, utils
from ._engine import ConfigError, DatasetError, FormatError, NonFiniteLossError
from .layers import Input
from .models import Ensemble, Model, Sequential, ensemble, load_model
from .pictures import preprocess

__all__ = [
    "ConfigError",
    "DatasetError",
    "Ensemble",
    "FormatError",
    "Input",
    "Model",
    "NonFiniteLossError",
    "Sequential",
    "callbacks",
    "datasets",
    "ensemble",
    "layers",
    "load_model",
    "models",
    "optimizers",
    "preprocess",
    "regularizers",
    "utils",
]
