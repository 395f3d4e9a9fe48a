"""Model.fit and evaluate as Python users expect them: a progress bar that
renders in Jupyter and in a terminal (plain lines in a pipe), Keras' History,
Ctrl-C stopping between two steps with the model usable."""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from recblocks import _recblocks
from recblocks._recblocks import DataSource, Dataset, TopKRecommender


def _interactive(stream) -> bool:
    """True in a terminal or a Jupyter kernel: the bar is redrawn in place."""
    if "ipykernel" in sys.modules:
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class ProgressBar:
    """Prints `Epoch 1/5 412/977 [=====>....] loss 0.5213 - 142.1k rows/s - ETA 4s`.

    Redrawn in place (carriage return) in a terminal or a notebook, at most
    ten times a second; in a pipe one line per epoch.
    """

    def __init__(self, epochs: int, steps_per_epoch: int, batch_size: int, rows: int,
                 stream=None):
        """A bar for `epochs` epochs of `steps_per_epoch` steps of `batch_size` rows over a
        dataset of `rows` rows, written to `stream` (None: sys.stdout)."""
        self.epochs = epochs
        self.steps = steps_per_epoch
        self.batch_size = batch_size
        self.rows = rows
        self.stream = stream or sys.stdout
        self.interactive = _interactive(self.stream)
        self.epoch = 1
        self.epoch_start = time.monotonic()
        self.last_draw = 0.0
        self.last_step = 0

    def on_train_begin(self) -> None:
        """Starts the first epoch's clock."""
        self.epoch_start = time.monotonic()

    def _line(self, step: int, logs: dict) -> str:
        elapsed = max(time.monotonic() - self.epoch_start, 1e-9)
        width = 30
        done = min(width, int(width * step / max(self.steps, 1)))
        bar = "=" * max(done - 1, 0) + (">" if done < width else "=") + "." * (width - done)
        rows = min(step * self.batch_size, self.rows)
        rate = rows / elapsed
        metrics = " - ".join(f"{k} {v:.4f}" for k, v in logs.items() if not k.startswith("val_"))
        eta = (self.steps - step) * elapsed / max(step, 1)
        tail = f"ETA {eta:.0f}s" if step < self.steps else f"{elapsed:.1f}s"
        return (f"Epoch {self.epoch}/{self.epochs} {step}/{self.steps} [{bar}] {metrics} - "
                f"{rate / 1000:.1f}k rows/s - {tail}")

    def on_batch_end(self, step: int, logs: dict) -> None:
        """Redraws the bar after training step `step` (counted from 1 over the whole fit) with
        the metrics `logs`, at most ten times a second (only in a terminal or notebook)."""
        in_epoch = step - (self.epoch - 1) * self.steps
        self.last_step = in_epoch
        now = time.monotonic()
        if self.interactive and (now - self.last_draw > 0.1 or in_epoch == self.steps):
            self.last_draw = now
            self.stream.write("\r" + self._line(in_epoch, logs))
            self.stream.flush()

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        """Writes the epoch's final line: its metrics `logs`, validation ("val_") ones last."""
        line = self._line(self.last_step, logs)
        vals = " - ".join(f"{k} {v:.4f}" for k, v in logs.items() if k.startswith("val_"))
        self.stream.write(("\r" if self.interactive else "") + line + (" - " + vals if vals else "")
                          + "\n")
        self.stream.flush()
        self.epoch += 1
        self.epoch_start = time.monotonic()


class History:
    """What fit returns, as in Keras: `history.history` maps each metric to one value per epoch."""

    def __init__(self, history: dict, params: dict):
        """`history`: metric name -> one value per epoch; `params`: fit's epochs, batch_size
        and steps (per epoch)."""
        self.history = history
        self.params = params
        self.epoch = list(range(params.get("epochs", 0)))

    def __repr__(self) -> str:
        """History({metric: [values per epoch]})."""
        return f"History({self.history})"


def fit(self, train: Dataset | DataSource, batch_size: int = 1024, epochs: int = 1,
        shuffle: bool = True, seed: int = 0, validation_data: Dataset | None = None,
        train_metrics_steps: int = 1, callbacks: Sequence[Any] | None = None,
        resume_from: str | os.PathLike | None = None, progress: bool = True,
        shuffle_window: int = 4) -> History:
    """Trains the model on `train` (a Dataset, or a DataSource such as rb.npy_source(dir),
    streamed with bounded memory), building it from the data's schema (seed 0) if it is not
    built; compile() first.

    `epochs` passes in batches of `batch_size` rows, shuffled when `shuffle` (the order fixed
    by `seed` and the epoch); `validation_data` (a Dataset) is evaluated at each epoch's end
    ("val_" keys); training metrics every `train_metrics_steps` steps (0: none);
    `resume_from`: a ModelCheckpoint directory to continue from, bit-identically;
    `progress`: the progress bar on stdout; `shuffle_window`: a DataSource's chunks whose
    rows are shuffled together. `callbacks` are Callback objects (EarlyStopping,
    ModelCheckpoint) or objects with any of on_train_begin(), on_batch_end(step, logs),
    on_epoch_end(epoch, logs) (returning False stops) and on_train_end().

    Returns a History (`.history`: metric name -> one value per epoch). Raises
    NonFiniteError naming the step and the value when a loss or gradient is NaN or infinite,
    ValueError for bad data or options. Ctrl-C (KeyboardInterrupt) stops between two steps;
    the model keeps the weights of the last step. The GIL is released while the steps run.
    """
    callbacks = list(callbacks or [])
    if progress:
        steps = math.ceil(len(train) / batch_size)
        callbacks.insert(0, ProgressBar(epochs, steps, batch_size, len(train)))
    history = self._fit(train, batch_size=batch_size, epochs=epochs, shuffle=shuffle, seed=seed,
                        validation_data=validation_data, train_metrics_steps=train_metrics_steps,
                        callbacks=callbacks, resume_from=resume_from,
                        shuffle_window=shuffle_window)
    return History(history, {"epochs": epochs, "batch_size": batch_size,
                             "steps": math.ceil(len(train) / batch_size)})


def evaluate(self, data: Dataset | DataSource, batch_size: int = 1024, return_dict: bool = True,
             allow_non_finite: bool = False) -> dict | list:
    """Exact metrics over every row of `data` (a Dataset, or a DataSource streamed in order),
    in batches of `batch_size` rows:
    a dict of Merlin's keys ("<target>/<task>/<metric>", "loss", "regularization_loss",
    "total_loss"), or with return_dict=False the values as Keras lists them (loss first).
    Raises ValueError naming the column and row of a NaN or infinite feature unless
    `allow_non_finite` (then such rows are scored as they are)."""
    logs = self._evaluate(data, batch_size=batch_size, allow_non_finite=allow_non_finite)
    if return_dict:
        return logs
    return [logs["loss"]] + [v for k, v in logs.items() if k != "loss"]


def to_top_k_recommender(self, items: Dataset, batch_size: int = 4096) -> TopKRecommender:
    """A TopKRecommender over `items` (a Dataset, one row per catalogue item) for this
    trained retrieval model (Merlin's model.to_top_k_recommender); the items are embedded in
    batches of `batch_size` rows. Raises ValueError naming what is missing (an unbuilt
    model, a model without an item tower, a column of the item tower)."""
    return _recblocks.TopKRecommender(self, items, batch_size=batch_size)


def install(model_class: Any) -> None:
    """Puts fit, evaluate and to_top_k_recommender on the native Model class
    `model_class` (recblocks.Model), at import."""
    model_class.fit = fit
    model_class.evaluate = evaluate
    model_class.to_top_k_recommender = to_top_k_recommender
