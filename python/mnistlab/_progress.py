r"""Keras' progress display: ``Epoch 3/10`` then
``422/422 ━━━━━━━━━━━━━━━━━━━━ 3s 7ms/step - accuracy: 0.9780 - loss: 0.0712``, redrawn in place
with ``\r`` (terminals and notebooks alike) at ``verbose=1``; one line per epoch at
``verbose=2``.
"""

import sys
import time

#: Seconds between redraws of the live line.
REDRAW = 0.1
BAR = 20


def _metrics(logs: dict) -> str:
    order = ("accuracy", "loss", "val_accuracy", "val_loss")
    return " - ".join(f"{k}: {logs[k]:.4f}" for k in order if k in logs)


class Progress:
    """Draws fit's progress on ``sys.stdout``."""

    def __init__(self, verbose: int) -> None:
        self.verbose = verbose
        self.start = time.perf_counter()
        self.last_draw = 0.0
        self.steps = 0

    def epoch_begin(self, epoch: int, epochs: int, steps: int) -> None:
        self.start, self.last_draw, self.steps = time.perf_counter(), 0.0, steps
        if self.verbose:
            print(f"Epoch {epoch + 1}/{epochs}", flush=True)

    def _timing(self, step: int) -> str:
        seconds = time.perf_counter() - self.start
        return f"{seconds:.0f}s {1000 * seconds / max(step, 1):.0f}ms/step"

    def batch_end(self, step: int, logs: dict) -> None:
        now = time.perf_counter()
        if self.verbose != 1 or (now - self.last_draw < REDRAW and step < self.steps):
            return
        self.last_draw = now
        done = BAR * step // max(self.steps, 1)
        bar = "━" * done + "─" * (BAR - done)
        line = f"{step}/{self.steps} {bar} {self._timing(step)} - {_metrics(logs)}"
        sys.stdout.write("\r" + line)
        sys.stdout.flush()

    def epoch_end(self, logs: dict) -> None:
        if self.verbose == 1:
            line = f"{self.steps}/{self.steps} {'━' * BAR} {self._timing(self.steps)}"
            sys.stdout.write(f"\r{line} - {_metrics(logs)}\n")
        elif self.verbose == 2:
            sys.stdout.write(
                f"{self.steps}/{self.steps} - {self._timing(self.steps)} - {_metrics(logs)}\n"
            )
        sys.stdout.flush()
