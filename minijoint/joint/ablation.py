r"""The ablation of Table 4: train chosen modes over several seeds, tabulate mean ± std.

On digits, 360 test images make one image 0.28 %, so seed-to-seed spread of about ±1 % is
expected; the table says which differences exceed it instead of ranking modes by noise.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np

from .config import TrainConfig
from .modes import MODES, get_mode
from .train import CHECKPOINT, train


def run_ablation(modes, seeds, base: TrainConfig, out_dir: str, log=print) -> list:
    """Train every (mode, seed) into ``out_dir/<mode>/seed<k>``; return one row per mode.

    A ``kd`` run uses the ``ann`` run of the same seed as its teacher when ``ann`` is among
    the modes (that run *is* a trained ANN with the same settings), else trains one.
    """
    for m in modes:
        get_mode(m)
    order = sorted(modes, key=lambda m: m != "ann")  # ann first: it is kd's teacher
    results = {m: [] for m in modes}
    for m in order:
        for s in seeds:
            run = os.path.join(out_dir, m, f"seed{s}")
            teacher = None
            if m == "kd" and "ann" in modes:
                teacher = os.path.join(out_dir, "ann", f"seed{s}", CHECKPOINT)
            cfg = dataclasses.replace(base, mode=m, seed=s, teacher=teacher)
            log(f"== {m}, seed {s} -> {run}")
            results[m].append(train(cfg, run, log=log))
    rows = [_summarize(m, results[m]) for m in modes]
    text = format_table(rows, len(seeds))
    with open(os.path.join(out_dir, "table4.md"), "w") as f:
        f.write(text + "\n")
    log(text)
    return rows


def _summarize(mode, finals) -> dict:
    row = {"mode": mode, "n": len(finals)}
    for key in ("snn_acc", "ann_acc"):
        vals = [f[key] for f in finals if key in f]
        if vals:
            row[key] = (100 * float(np.mean(vals)), 100 * float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0)
    secs = [f["seconds"] for f in finals for f in f["history"]] if finals else []
    row["sec_per_epoch"] = float(np.mean(secs)) if secs else float("nan")
    return row


def format_table(rows, n_seeds: int) -> str:
    """Markdown in the layout of Table 4, with the paper's CIFAR-10 numbers alongside."""
    lines = [f"| mode | SNN acc. (%), mean ± std over {n_seeds} seeds | ANN acc. (%) | s/epoch "
             "| paper acc. (CIFAR-10, ResNet-18; the ANN's for `ann`) | paper s/epoch |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        spec = MODES[r["mode"]]
        snn = _pm(r.get("snn_acc"))
        ann = _pm(r.get("ann_acc"))
        paper = f"{spec.paper_acc:.2f}" if spec.paper_acc is not None else "—"
        psec = f"{spec.paper_sec:.1f}" if spec.paper_sec is not None else "—"
        lines.append(f"| {r['mode']} | {snn} | {ann} | {r['sec_per_epoch']:.2f} | {paper} | {psec} |")
    return "\n".join(lines)


def _pm(v) -> str:
    return "—" if v is None else f"{v[0]:.2f} ± {v[1]:.2f}"
