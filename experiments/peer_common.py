"""What the PyTorch and Keras benchmark scripts share: arguments, MNIST from IDX files, timing rules.

Each peer script trains one model the way `mnistlab` does (54,000 training images, the last 6,000 held
out, one global mean/std, Adam 1e-3, batch 128) and prints one JSON object as its last line.
"""

import argparse
import gzip
import json
import os
import time

import numpy as np

MODELS = ("linear", "mlp", "cnn", "cnn-bn")


def parse_args(framework):
    p = argparse.ArgumentParser(description=f"{framework} side of experiments/compare")
    p.add_argument("--model", choices=MODELS)
    p.add_argument("--speedrun", action="store_true", help="train the speedrun recipe (--arch ...)")
    p.add_argument("--arch", help="speedrun: the network in mnistlab's notation")
    p.add_argument("--lr", type=float, default=1e-3, help="speedrun: peak learning rate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", required=True, help="folder with the four MNIST IDX files")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=3, help="full epochs (with validation)")
    p.add_argument("--steps", type=int, default=0, help="instead of epochs: passes of this many steps")
    p.add_argument("--passes", type=int, default=3, help="passes of --steps steps; the first warms up")
    p.add_argument("--inference-batches", type=int, default=40)
    p.add_argument("--single-images", type=int, default=300,
                   help="images predicted one at a time (batch 1, the serve/predict case)")
    if framework == "PyTorch":
        p.add_argument("--compile", action="store_true",
                       help="torch.compile the model (inductor); compile time reported apart")
    args = p.parse_args()
    if not args.speedrun and not args.model:
        p.error("--model is required")
    return args


def _idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def _find(folder, name):
    for candidate in (name + ".gz", name):
        path = os.path.join(folder, candidate)
        if os.path.exists(path):
            return path
    raise SystemExit(f"error: {os.path.join(folder, name)}: not found (nor with .gz)")


def raw_test_images(folder):
    """The 10,000 test images as uint8 N×28×28, as the IDX file holds them."""
    return _idx(_find(folder, "t10k-images-idx3-ubyte"))


def load_mnist(folder):
    """(x_train, y_train, x_val, y_val, x_test, y_test): images N×28×28×1 float32 standardized with
    the training set's global mean/std, labels int64."""
    x = _idx(_find(folder, "train-images-idx3-ubyte")).astype(np.float32)
    y = _idx(_find(folder, "train-labels-idx1-ubyte")).astype(np.int64)
    x_test = raw_test_images(folder).astype(np.float32)
    y_test = _idx(_find(folder, "t10k-labels-idx1-ubyte")).astype(np.int64)
    split = len(x) - len(x) // 10
    mean, std = x[:split].mean(), x[:split].std()
    scale = lambda a: ((a - mean) / std)[..., None]  # noqa: E731
    return scale(x[:split]), y[:split], scale(x[split:]), y[split:], scale(x_test), y_test


def report(framework, args, epoch_seconds, val_accuracy, inference_images_per_s,
           single_images_per_s, **extra):
    """Prints the result line. `epoch_seconds` are per pass (epoch or --steps steps); the fastest
    after the first counts, which leaves out warm-up and one-off stalls. Inference is measured at
    batch `--batch-size` and at batch 1."""
    steady = min(epoch_seconds[1:]) if len(epoch_seconds) > 1 else epoch_seconds[0]
    images = args.steps * args.batch_size if args.steps else None
    print(json.dumps({
        "framework": framework,
        "model": args.model,
        "threads": args.threads,
        "epoch_seconds": epoch_seconds,
        "val_accuracy": val_accuracy,
        "steady_seconds": steady,
        "train_images_per_s": (images or 54000) / steady,
        "inference_images_per_s": inference_images_per_s,
        "single_images_per_s": single_images_per_s,
        **extra,
    }), flush=True)


def timed(fn, repeats=3):
    """Fastest of `repeats` runs of `fn()` (after one warm-up run), in seconds."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best
