r"""The ablation of Table 4: train chosen modes over several seeds, tabulate mean ± std.

On digits, 360 test images make one image 0.28 %, so seed-to-seed spread of about ±1 % is
expected. The table therefore says, for each mode, whether its difference from the `snn`
baseline exceeds that spread (|Δ| > 2·SE of the difference of two means), instead of
ranking modes by noise.
"""
from __future__ import annotations

import dataclasses
import math
import os

import numpy as np

from .config import TrainConfig
from .modes import MODES, get_mode
from .runlog import read_metrics
from .run import holds_run
from .train import CHECKPOINT, train


def run_ablation(modes, seeds, base: TrainConfig, out_dir: str, log=print,
                 summarize_only: bool = False, curves=None) -> list:
    """Train every (mode, seed) into ``out_dir/<mode>/seed<k>``; return one row per mode and
    write the table to ``out_dir/table4.md``. ``summarize_only`` re-tabulates finished runs;
    ``curves`` is passed to :func:`~minijoint.joint.train.train`.

    Runs already in ``out_dir`` are kept when finished and resumed when not, so an ablation
    stopped half-way continues where it stood; one whose settings differ is refused.
    A ``kd`` run uses the ``ann`` run of the same seed as its teacher when ``ann`` is among
    the modes (that run *is* a trained ANN with the same settings), else trains one.
    """
    for m in modes:
        get_mode(m)
    run = lambda m, s: os.path.join(out_dir, m, f"seed{s}")  # noqa: E731
    if not summarize_only:
        for m in sorted(modes, key=lambda m: m != "ann"):  # ann first: it is kd's teacher
            for s in seeds:
                teacher = os.path.join(run("ann", s), CHECKPOINT) if m == "kd" and "ann" in modes else None
                cfg = dataclasses.replace(base, mode=m, seed=s, teacher=teacher)
                if holds_run(run(m, s)):  # a run of an earlier call: kept if done, else resumed
                    log(f"== {m}, seed {s}: {run(m, s)} exists, continuing it")
                    train(cfg, run(m, s), resume=True, log=log, curves=curves)
                else:
                    log(f"== {m}, seed {s} -> {run(m, s)}")
                    train(cfg, run(m, s), log=log, curves=curves)
    rows = [_summarize(m, [read_metrics(run(m, s)) for s in seeds]) for m in modes]
    text = format_table(rows, len(seeds))
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "table4.md"), "w") as f:
        f.write(text + "\n")
    log(text)
    return rows


def _summarize(mode, histories) -> dict:
    """Mean ± std (in %) of the last epoch's accuracies, and the mean seconds per epoch."""
    row = {"mode": mode, "n": len(histories)}
    for key in ("snn_acc", "ann_acc"):
        vals = [100 * h[-1][key] for h in histories if key in h[-1]]
        if vals:
            row[key] = (float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0)
    secs = [r["seconds"] for h in histories for r in h]
    row["sec_per_epoch"] = float(np.mean(secs)) if secs else float("nan")
    return row


def _versus(row, base, n) -> str:
    """SNN accuracy minus the baseline's, and whether it exceeds 2·SE of the difference.

    With one seed there is no spread to compare against: the verdict is "n/a (one seed)".
    """
    if "snn_acc" not in row or base is None or row is base or "snn_acc" not in base:
        return "—"
    (m1, s1), (m0, s0) = row["snn_acc"], base["snn_acc"]
    if n < 2:
        return f"{m1 - m0:+.2f}, n/a (one seed)"
    se = math.sqrt((s1 ** 2 + s0 ** 2) / n)
    verdict = "exceeds spread" if abs(m1 - m0) > 2 * se else "within spread"
    return f"{m1 - m0:+.2f} ({verdict})"


def format_table(rows, n_seeds: int) -> str:
    """Markdown in the layout of Table 4, with the paper's CIFAR-10 numbers alongside.

    With one seed the table has no spread: the std prints as "—" and the verdict against
    `snn` as "n/a (one seed)".
    """
    base = next((r for r in rows if r["mode"] == "snn"), None)
    acc = f"mean ± std over {n_seeds} seeds" if n_seeds > 1 else "one seed, so no std"
    lines = [f"| mode | SNN acc. (%), {acc} | SNN Δ vs `snn` | ANN acc. (%) "
             "| s/epoch | paper acc. (CIFAR-10, ResNet-18; the ANN's for `ann`) | paper s/epoch |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        spec = MODES[r["mode"]]
        paper = f"{spec.paper_acc:.2f}" if spec.paper_acc is not None else "—"
        psec = f"{spec.paper_sec:.1f}" if spec.paper_sec is not None else "—"
        lines.append(f"| {r['mode']} | {_pm(r.get('snn_acc'), n_seeds)} | {_versus(r, base, n_seeds)} "
                     f"| {_pm(r.get('ann_acc'), n_seeds)} | {r['sec_per_epoch']:.2f} | {paper} | {psec} |")
    return "\n".join(lines)


def _pm(v, n_seeds: int) -> str:
    """"mean ± std"; with one seed there is no std, and it prints as "—", not "± 0.00"."""
    if v is None:
        return "—"
    return f"{v[0]:.2f} ± {v[1]:.2f}" if n_seeds > 1 else f"{v[0]:.2f} ± —"
