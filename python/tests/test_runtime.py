"""Behaviour a Python user relies on: Ctrl-C stops fit with KeyboardInterrupt at the next batch,
other threads run while the engine trains, and the command line and Python train the same
weights from the same seed and data."""

import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

import mnistlab
from mnistlab import callbacks

from conftest import compiled, need, weights_equal


# The process-wide thread pool, and a pool of the fit's own.
THREADS = [None, 2]


@pytest.mark.parametrize("threads", THREADS)
def test_ctrl_c_during_fit_raises_keyboard_interrupt(small, threads):
    (x, y), (x_test, y_test) = small
    model = compiled("mlp", threads=threads)
    started = threading.Event()

    class Started(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            started.set()

    def press_ctrl_c():
        started.wait(60)
        os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=10, epochs=1000, verbose=0, callbacks=[Started()])
    presser.join()
    # The interpreter and the model carry on.
    assert np.isfinite(model.evaluate(x_test, y_test)[0])


@pytest.mark.parametrize("threads", THREADS)
def test_interrupted_model_holds_the_last_finished_step(small, threads):
    (x, y), _ = small

    class At(callbacks.Callback):
        def __init__(self, interrupt):
            super().__init__()
            self.interrupt = interrupt

        def on_train_batch_end(self, batch, logs=None):
            if batch == 4:
                if self.interrupt:
                    os.kill(os.getpid(), signal.SIGINT)  # handled at the next check
                else:
                    self.model.stop_training = True

    interrupted = compiled(seed=5, threads=threads)
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(x, y, batch_size=50, epochs=1, verbose=0, callbacks=[At(True)])
    stopped = compiled(seed=5, threads=threads)
    stopped.fit(x, y, batch_size=50, epochs=1, verbose=0, callbacks=[At(False)])
    # Five steps each (the signal lands in the hook after step 5): the same weights.
    assert weights_equal(interrupted.get_weights(), stopped.get_weights())


@pytest.mark.parametrize("threads", THREADS)
def test_callbacks_run_on_the_thread_that_called_fit(small, threads):
    # As in Keras: a callback may use what belongs to that thread (a plot, a signal handler).
    (x, y), _ = small
    seen = set()

    class Where(callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.add(threading.get_ident())

        def on_train_batch_end(self, batch, logs=None):
            seen.add(threading.get_ident())

        def on_epoch_end(self, epoch, logs=None):
            seen.add(threading.get_ident())

    def fit_here():
        compiled(threads=threads).fit(x, y, epochs=2, verbose=0, callbacks=[Where()])
        return threading.get_ident()

    assert seen == set() and {fit_here()} == seen
    seen.clear()
    other = []
    thread = threading.Thread(target=lambda: other.append(fit_here()))
    thread.start()
    thread.join()
    assert seen == set(other) and other[0] != threading.get_ident()


def test_other_threads_run_while_fit_trains(small):
    (x, y), _ = small
    model = compiled("mlp")
    count, done = [0], threading.Event()

    def spin():
        while not done.is_set():
            count[0] += 1

    marks = {}

    class Mark(callbacks.Callback):
        def on_train_begin(self, logs=None):
            marks["begin"] = count[0]

        def on_train_end(self, logs=None):
            marks["end"] = count[0]

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        # verbose=0 and no batch hook: the engine keeps the GIL released except to check
        # for Ctrl-C between batches.
        model.fit(x, y, batch_size=100, epochs=3, verbose=0, callbacks=[Mark()])
    finally:
        done.set()
        spinner.join()
    assert marks["end"] - marks["begin"] > 10_000, marks


def cli_binary():
    """The command line built beside this package (target/release/mnistlab)."""
    root = Path(__file__).resolve().parents[2]
    path = Path(os.environ.get("MNISTLAB_BIN", root / "target" / "release" / "mnistlab"))
    need(path.is_file(), f"the mnistlab binary ({path}; cargo build --release)")
    return path


def test_cli_and_python_train_the_same_weights(mnist, tmp_path):
    (x_train, y_train), _ = mnist
    binary = cli_binary()
    run = subprocess.run(
        [
            str(binary),
            "train",
            "--model",
            "mlp",
            "--epochs",
            "1",
            "--train-images",
            "3000",
            "--seed",
            "7",
            "--logdir",
            str(tmp_path),
            "--name",
            "cli",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert run.returncode == 0, run.stderr
    cli = mnistlab.load_model(tmp_path / "cli-0" / "best_model.safetensors")
    # The command line's defaults, by keyword: batch 128, Adam 1e-3, 10% held out,
    # standardize-global normalization, the same seed.
    model = mnistlab.Model("mlp", seed=7)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(
        x_train[:3000], y_train[:3000], batch_size=128, epochs=1, verbose=0, validation_split=0.1
    )
    assert weights_equal(model.get_weights(), cli.get_weights())
    probe = x_train[3000:3100]
    assert np.array_equal(model.predict(probe), cli.predict(probe))
    shutil.rmtree(tmp_path / "cli-0")
