"""How the Table 4 ablation is printed: a spread and a verdict only where seeds give one.

With one seed there is no standard deviation, so the table must not print "± 0.00" (a
spread of zero) nor call a difference "within spread" (it has nothing to be within).
"""
import dataclasses

from minijoint.joint.ablation import format_table, run_ablation
from minijoint.joint.config import TrainConfig

ROWS_ONE_SEED = [
    {"mode": "ann", "n": 1, "ann_acc": (97.50, 0.0), "sec_per_epoch": 1.0},
    {"mode": "snn", "n": 1, "snn_acc": (78.89, 0.0), "sec_per_epoch": 1.0},
    {"mode": "kd", "n": 1, "snn_acc": (82.22, 0.0), "sec_per_epoch": 1.0},
    {"mode": "full", "n": 1, "snn_acc": (74.17, 0.0), "ann_acc": (96.11, 0.0), "sec_per_epoch": 2.0},
]


def _row(table, mode):
    return next(line for line in table.splitlines() if line.startswith(f"| {mode} |"))


def test_one_seed_prints_no_std():
    table = format_table(ROWS_ONE_SEED, 1)
    assert "± 0.00" not in table
    assert "| 82.22 ± — |" in _row(table, "kd")
    assert "| 97.50 ± — |" in _row(table, "ann")                  # the ANN column too
    assert "| 74.17 ± — |" in _row(table, "full") and "| 96.11 ± — |" in _row(table, "full")
    header = table.splitlines()[0]
    assert "mean ± std over 1 seeds" not in header and "one seed" in header


def test_one_seed_gives_no_verdict():
    table = format_table(ROWS_ONE_SEED, 1)
    assert "within spread" not in table and "exceeds spread" not in table
    assert "+3.33, n/a (one seed)" in _row(table, "kd")
    assert "-4.72, n/a (one seed)" in _row(table, "full")
    assert "| snn | 78.89 ± — | — |" in table                       # the baseline itself


def test_several_seeds_keep_std_and_verdict():
    rows = [{"mode": "snn", "n": 3, "snn_acc": (94.0, 0.2), "sec_per_epoch": 1.0},
            {"mode": "full", "n": 3, "snn_acc": (95.0, 0.3), "ann_acc": (97.0, 0.1), "sec_per_epoch": 1.0},
            {"mode": "wft", "n": 3, "snn_acc": (94.3, 0.9), "sec_per_epoch": 1.0}]
    table = format_table(rows, 3)
    assert "mean ± std over 3 seeds" in table.splitlines()[0]
    assert "| 95.00 ± 0.30 | +1.00 (exceeds spread) | 97.00 ± 0.10 |" in table
    assert "+0.30 (within spread)" in table and "n/a" not in table
    # a spread of exactly zero over several seeds is a measured zero, and prints as one
    rows[0]["snn_acc"] = (94.0, 0.0)
    assert "| snn | 94.00 ± 0.00 |" in format_table(rows, 3)


def test_baseline_without_snn_accuracy():
    """A baseline row lacking an SNN accuracy gives no difference instead of a KeyError."""
    rows = [{"mode": "snn", "n": 2, "sec_per_epoch": 1.0},
            {"mode": "full", "n": 2, "snn_acc": (95.0, 0.3), "sec_per_epoch": 1.0}]
    assert "| full | 95.00 ± 0.30 | — |" in format_table(rows, 2)


def test_run_ablation_one_seed_writes_no_spread(tmp_path):
    tiny = TrainConfig(epochs=1, width=4, batch_size=32, limit_train=64, limit_test=32, seed=3)
    rows = run_ablation(["snn", "wft"], [3], tiny, str(tmp_path), log=lambda *a, **k: None)
    assert [r["mode"] for r in rows] == ["snn", "wft"]
    table = (tmp_path / "table4.md").read_text()
    assert "± 0.00" not in table and "within spread" not in table
    assert "n/a (one seed)" in _row(table, "wft") and " ± — |" in _row(table, "snn")
