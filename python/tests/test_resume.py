"""Ctrl-C, then resume: ``callbacks.BackupAndRestore`` keeps the training state in a run
directory, a later fit continues from it to the weights of an uninterrupted run, and one fit at
a time trains from it. Also the optimizer's state carried from one ``fit`` to the next."""

import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest

import mnistlab
from mnistlab import callbacks

from conftest import compiled, weights_equal

# Dropout, so that the dropout generator's state is part of what a resume must restore.
ARCH = "D128-ReLU-Drop0.3-D10"
FIT = dict(batch_size=50, epochs=3, verbose=0, validation_split=0.1)
STEPS = 3 * 36  # 1,800 training images a run: 36 batches an epoch


class Count(callbacks.Callback):
    """Counts the batches of a fit; sets ``reached`` at batch ``at`` of epoch ``epoch``."""

    def __init__(self, epoch=None, at=None):
        super().__init__()
        self.batches, self.epoch, self.at = 0, epoch, at
        self.current, self.reached = None, threading.Event()

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        if (self.current, batch) == (self.epoch, self.at):
            self.reached.set()


def state_file(backup_dir):
    return backup_dir / "last_state.safetensors"


@pytest.fixture(scope="module")
def reference(small):
    """The weights of the uninterrupted run."""
    (x, y), _ = small
    model = compiled(ARCH, seed=3)
    model.fit(x, y, **FIT)
    return model.get_weights()


def test_ctrl_c_then_fit_resumes_to_the_uninterrupted_weights(small, reference, tmp_path):
    (x, y), _ = small
    backup_dir = tmp_path / "backup"
    model = compiled(ARCH, seed=3)
    count = Count(epoch=1, at=10)

    def press_ctrl_c():
        if count.reached.wait(60):
            os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, **FIT, callbacks=[callbacks.BackupAndRestore(backup_dir), count])
    presser.join()
    assert state_file(backup_dir).is_file()

    # Other settings are refused, naming them, before the backup is read into the model (here
    # given other weights to show it); the backup stays.
    model.set_weights([w * 0.5 for w in model.get_weights()])
    halved = model.get_weights()
    with pytest.raises(mnistlab.ConfigError, match="backup_dir: .*batch_size 50 there, 60 here"):
        model.fit(
            x, y, **{**FIT, "batch_size": 60}, callbacks=[callbacks.BackupAndRestore(backup_dir)]
        )
    assert weights_equal(model.get_weights(), halved)

    # Run again, as a notebook's cell would be: the fit continues in the second epoch.
    after = Count()
    history = model.fit(x, y, **FIT, callbacks=[callbacks.BackupAndRestore(backup_dir), after])
    assert history.epoch == [1, 2]
    assert count.batches + after.batches < STEPS
    assert weights_equal(model.get_weights(), reference)
    # delete_checkpoint: the finished fit's state is gone, so the next one starts afresh.
    assert not state_file(backup_dir).exists()


CHILD = """
import sys, time
import mnistlab
from mnistlab import callbacks

(x, y), _ = mnistlab.datasets.mnist.load_data()
model = mnistlab.Model({arch!r}, seed=3)
model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])


class Hold(callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 9:
            print("holding", flush=True)
            time.sleep(300)  # until Ctrl-C


model.fit(x[:2000], y[:2000], **{fit!r},
          callbacks=[callbacks.BackupAndRestore(sys.argv[1]), Hold()])
"""


def test_a_killed_script_resumes_and_one_fit_holds_the_backup(small, reference, tmp_path):
    (x, y), _ = small
    backup_dir = tmp_path / "backup"
    script = tmp_path / "train.py"
    script.write_text(CHILD.format(arch=ARCH, fit=FIT))
    child = subprocess.Popen(
        [sys.executable, str(script), str(backup_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline() == "holding\n", child.stderr.read()
        # Another process trains from the backup: refused.
        with pytest.raises(mnistlab.ConfigError, match="backup_dir: .*another"):
            compiled(ARCH, seed=3).fit(
                x, y, **FIT, callbacks=[callbacks.BackupAndRestore(backup_dir)]
            )
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode != 0 and "KeyboardInterrupt" in stderr, stderr

    # A new process's model continues after the child's tenth step.
    model = compiled(ARCH, seed=3)
    after = Count()
    model.fit(x, y, **FIT, callbacks=[callbacks.BackupAndRestore(backup_dir), after])
    assert after.batches == STEPS - 10
    assert weights_equal(model.get_weights(), reference)


def test_two_fits_in_one_process_on_one_backup_are_refused(small, tmp_path):
    (x, y), _ = small
    backup_dir = tmp_path / "backup"
    release = threading.Event()
    count = Count(epoch=0, at=0)

    class Wait(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            release.wait(60)

    def first():
        compiled("linear").fit(
            x, y, **FIT, callbacks=[callbacks.BackupAndRestore(backup_dir), count, Wait()]
        )

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert count.reached.wait(60)
        with pytest.raises(mnistlab.ConfigError, match="backup_dir: .*another fit"):
            compiled("linear").fit(x, y, **FIT, callbacks=[callbacks.BackupAndRestore(backup_dir)])
    finally:
        release.set()
        thread.join()
    # Once the first has ended, the backup is free again.
    compiled("linear").fit(x, y, **FIT, callbacks=[callbacks.BackupAndRestore(backup_dir)])


def test_a_damaged_backup_is_refused_and_leaves_the_model(small, tmp_path):
    (x, y), _ = small
    backup_dir = tmp_path / "backup"
    model = compiled(ARCH, seed=3)
    fit = dict(FIT, epochs=1)
    model.fit(
        x, y, **fit, callbacks=[callbacks.BackupAndRestore(backup_dir, delete_checkpoint=False)]
    )
    # Weights other than the backup's, which a half-read state would overwrite.
    model.set_weights([w * 0.5 for w in model.get_weights()])
    before = model.get_weights()
    state = state_file(backup_dir).read_bytes()
    # The last byte flipped: the tensors read, the checksum then refuses them.
    state_file(backup_dir).write_bytes(state[:-1] + bytes([state[-1] ^ 1]))
    with pytest.raises(mnistlab.FormatError, match="last_state.safetensors"):
        model.fit(x, y, **fit, callbacks=[callbacks.BackupAndRestore(backup_dir)])
    assert weights_equal(model.get_weights(), before)


def test_backup_arguments_keras_does_not_share_are_refused(tmp_path):
    with pytest.raises(mnistlab.ConfigError, match="save_freq"):
        callbacks.BackupAndRestore(tmp_path, save_freq=100)
    with pytest.raises(mnistlab.ConfigError, match="backup_dir"):
        callbacks.BackupAndRestore("")


def test_a_second_fit_goes_on_with_the_optimizer(small):
    (x, y), _ = small
    twice = compiled(ARCH, seed=4)
    for _ in range(2):
        twice.fit(x, y, batch_size=100, epochs=1, verbose=0)
    once = compiled(ARCH, seed=4)
    once.fit(x, y, batch_size=100, epochs=2, verbose=0)
    # Adam's moments and step, the shuffling order and dropout all went on.
    assert weights_equal(twice.get_weights(), once.get_weights())


def test_compile_starts_a_new_optimizer(small):
    (x, y), _ = small
    model = compiled("linear", seed=4)
    model.fit(x, y, batch_size=100, epochs=1, verbose=0)
    first = model.get_weights()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    model.fit(x, y, batch_size=100, epochs=1, verbose=0)
    fresh = compiled("linear", seed=4)
    fresh.set_weights(first)
    fresh.fit(x, y, batch_size=100, epochs=1, verbose=0)
    assert weights_equal(model.get_weights(), fresh.get_weights())
    assert not np.array_equal(model.get_weights()[0], first[0])
