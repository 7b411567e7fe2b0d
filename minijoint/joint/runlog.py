r"""What a run shows and leaves behind: a progress bar and the text of ``metrics.csv``
(written, with ``curves.png``, by :class:`~minijoint.joint.run.RunFolder`)."""
from __future__ import annotations

import csv
import io
import os
import time


class ProgressBar:
    """One line per epoch: ``epoch 3/40 [#######.....] 15/23 loss 2.31 ce 2.02 … 4.1s``.

    On a terminal the line redraws in place; elsewhere (CI, notebooks, pipes) only the
    finished line is printed, so logs stay short.
    """

    def __init__(self, total: int, label: str, stream, width: int = 20):
        self.total, self.label, self.stream, self.width = total, label, stream, width
        self.t0 = time.perf_counter()
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.text = ""

    def update(self, done: int, values: dict) -> None:
        fill = int(self.width * done / max(self.total, 1))
        bar = "#" * fill + "." * (self.width - fill)
        vals = " ".join(f"{k} {v:.4g}" for k, v in values.items())
        self.text = (f"{self.label} [{bar}] {done}/{self.total} {vals} "
                     f"{time.perf_counter() - self.t0:.1f}s")
        if self.tty:
            self.stream.write("\r" + self.text)
            self.stream.flush()

    def close(self) -> None:
        if not self.text:   # stopped before the first step: nothing to finish
            return
        self.stream.write(("\r" if self.tty else "") + self.text + "\n")
        self.stream.flush()


COLUMNS = ("epoch", "lr", "loss", "ce", "kld", "norm", "ce_ann", "ce_snn", "ann_acc", "snn_acc")


def metrics_csv(history: list) -> str:
    """The text of ``metrics.csv``: a header, then one row per epoch. The columns of
    :data:`COLUMNS` always come first; a value that was not computed (``kld`` when λ₁ = 0,
    ``snn_acc`` without an SNN) is an empty cell, never a 0."""
    columns = list(COLUMNS)
    for row in history:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, restval="")
    w.writeheader()
    for row in history:
        w.writerow({k: "" if v is None else (f"{v:.6g}" if isinstance(v, float) else v)
                    for k, v in row.items()})
    return buf.getvalue()


def read_metrics(path: str) -> list:
    """The rows of a run's ``metrics.csv`` as dicts of floats (``epoch`` as int); ``path`` is
    the run folder or the csv file itself."""
    if not str(path).endswith(".csv"):
        path = os.path.join(path, "metrics.csv")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [{k: (int(v) if k == "epoch" else float(v)) for k, v in r.items() if v != ""} for r in rows]
