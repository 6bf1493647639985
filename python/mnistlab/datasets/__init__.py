"""The MNIST-family datasets, as ``keras.datasets``: ``mnist.load_data()`` and
``fashion_mnist.load_data()``, found as the command line finds them (``MNISTLAB_DATA``, the
cache, ``/usr/share/datasets``, else downloaded)."""

from . import fashion_mnist, mnist

__all__ = ["fashion_mnist", "mnist"]
