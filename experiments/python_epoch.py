"""One epoch of a preset trained by `model.fit` in Python and by `mnistlab train`, interleaved.

Each round trains one epoch of the same preset from the same seed on the same data (full MNIST,
the last 10% held out, batch 128, Adam 1e-3) on the same thread count, in this process through
the Python package and in a child `mnistlab train` process, alternating which goes first. The
epoch time is the whole epoch with its validation: from the command line its `history.csv`, from
Python the span from `on_epoch_begin` to `on_epoch_end`. Prints each round, then the medians
and their ratio.

    MNISTLAB_DATA=... python experiments/python_epoch.py target/release/mnistlab cnn --rounds 3
"""

import argparse
import csv
import os
import statistics
import subprocess
import tempfile
import time

import mnistlab

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("binary", help="the mnistlab command-line binary")
p.add_argument("model", help="a preset, e.g. cnn")
p.add_argument("--rounds", type=int, default=3)
p.add_argument("--threads", type=int, default=os.cpu_count())
args = p.parse_args()
(x, y), _ = mnistlab.datasets.mnist.load_data()


class Clock(mnistlab.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.start


def python_epoch():
    model = mnistlab.Model(args.model, seed=0)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", threads=args.threads)
    clock = Clock()
    model.fit(x, y, batch_size=128, epochs=1, verbose=0, validation_split=0.1, callbacks=[clock])
    return clock.seconds


def cli_epoch():
    with tempfile.TemporaryDirectory() as logdir:
        command = [
            args.binary,
            "--threads",
            str(args.threads),
            "train",
            "--model",
            args.model,
            "--epochs",
            "1",
            "--seed",
            "0",
            "--logdir",
            logdir,
            "--name",
            "cli",
            "--no-histograms",
        ]
        subprocess.run(command, check=True, capture_output=True)
        with open(os.path.join(logdir, "cli-0", "history.csv")) as f:
            return float(list(csv.DictReader(f))[-1]["seconds"])


epochs = {"python": [], "cli": []}
runs = (("python", python_epoch), ("cli", cli_epoch))
for r in range(args.rounds):
    for name, run in runs if r % 2 == 0 else runs[::-1]:
        load = os.getloadavg()[0]
        epochs[name].append(run())
        print(f"round {r + 1} {name}: epoch {epochs[name][-1]:.2f} s (load {load:.1f})", flush=True)
py, cli = statistics.median(epochs["python"]), statistics.median(epochs["cli"])
print(f"median epoch: python {py:.2f} s, cli {cli:.2f} s, python / cli {py / cli:.3f}")
