r"""Tables 5 and 6 for a trained network: :func:`estimate_energy` (a model and a loader),
:func:`energy_tables` (a checkpoint, for notebooks) and :func:`energy_report` (the text
``python -m minijoint energy CHECKPOINT`` prints, also saved next to the checkpoint as
``energy.md``, ``energy.csv`` (the two tables) and ``energy_layers.csv`` (per layer)).

Units: every energy is per image, in joules, printed with an SI prefix. The paper's
Table 5 labels its values J and mJ; for its own counts the formula gives µJ (docs/method.md §8), so
our µJ are to be compared with its "J"/"mJ" divided by 1000.
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field

import numpy as np

from .. import backend
from .counts import (E_ADD, E_MOVE_MAX, E_MOVE_MIN, E_MULT, ann_movement_bits,
                     compute_energy, movement_energy, paper_table5, snn_movement_bits)
from .measure import measure, totals

__all__ = ["EnergyRow", "EnergyTables", "estimate_energy", "energy_tables", "energy_report",
           "write_energy_files",
           "energy_unit", "format_energy"]

_UNITS = ((1.0, "J"), (1e-3, "mJ"), (1e-6, "µJ"), (1e-9, "nJ"), (1e-12, "pJ"))


def energy_unit(joules: float) -> tuple:
    """(scale, name) of the largest SI unit not above ``joules``: 2.5e-5 → (1e-6, "µJ")."""
    return next(((s, n) for s, n in _UNITS if abs(joules) >= s), _UNITS[-1])


def format_energy(joules) -> str:
    """4 significant digits with an SI prefix: 8.2252e-5 → "82.25 µJ"; None → "—"."""
    if joules is None:
        return "—"
    scale, unit = energy_unit(joules)
    return f"{joules / scale:.4g} {unit}"


def _count(n) -> str:
    if n is None:
        return "—"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{suffix}"
    return f"{n:.3g}"


@dataclass
class EnergyRow:
    """One network in Tables 5–6, per image: counts, energy (J), data volume and its energy
    (J) at the cheapest and dearest 64-bit move. ``acc`` is a fraction or None."""

    method: str
    model: str
    acc: float | None
    adds: float
    mults: float
    energy: float
    volume_bits: float
    move_min: float
    move_max: float

    @property
    def volume_mb(self) -> float:
        """Volume in MB (10⁶ bytes)."""
        return self.volume_bits / 8e6


@dataclass
class EnergyTables:
    """What :func:`estimate_energy` returns: ``rows`` (ANN, then SNN when there is one),
    ``layers`` (:class:`~minijoint.energy.LayerOps`), ``lif_rates``, how many ``images``
    were measured, and the constants used. ``ratio``: ANN / SNN computation energy."""

    rows: list
    layers: list
    T: int
    images: int
    lif_rates: dict
    title: str = ""
    constants: dict = field(default_factory=dict)
    lif_sizes: dict = field(default_factory=dict)     # LIF layer: neurons per image per step

    @property
    def ratio(self):
        return self.rows[0].energy / self.rows[1].energy if len(self.rows) > 1 else None

    def table5(self) -> str:
        lines = ["| Method | Model | Acc. | #Add. | #Mult. | Energy |", "|---|---|---|---|---|---|"]
        lines += [f"| {r.method} | {r.model} | {_acc(r.acc)} | {_count(r.adds)} | "
                  f"{_count(r.mults)} | {format_energy(r.energy)} |" for r in self.rows]
        return "\n".join(lines)

    def table6(self) -> str:
        lines = ["| Method | Model | Acc. | Volume | Min. Energy | Max. Energy |",
                 "|---|---|---|---|---|---|"]
        lines += [f"| {r.method} | {r.model} | {_acc(r.acc)} | {r.volume_mb:.4g} MB | "
                  f"{format_energy(r.move_min)} | {format_energy(r.move_max)} |" for r in self.rows]
        return "\n".join(lines)

    def layer_markdown(self) -> str:
        lines = ["| layer | kind | in → out | MACs | input rate | SNN #Add. | SNN #Mult. "
                 "| neurons |",
                 "|---|---|---|---|---|---|---|---|"]
        for r in self.layers:
            rate = "analog" if r.first else ("—" if r.rate is None else f"{r.rate:.4f}")
            lines.append(f"| {r.name} | {r.kind} | {'×'.join(map(str, r.in_shape))} → "
                         f"{'×'.join(map(str, r.out_shape))} | {_count(r.macs)} | {rate} | "
                         f"{_count(r.snn_adds)} | {_count(r.snn_mults)} | {r.neurons} |")
        return "\n".join(lines)

    def to_markdown(self) -> str:
        c = self.constants
        out = [f"# Energy per image: {self.title}" if self.title else "# Energy per image", "",
               f"Firing rates and accuracy measured on {self.images} test images; T = {self.T}.",
               "", f"## Table 5: computation (E = {c['e_add'] * 1e12:g} pJ·#Add + "
               f"{c['e_mult'] * 1e12:g} pJ·#Mult)", "", self.table5(), ""]
        if self.ratio is not None:
            out += [f"ANN / SNN computation energy: {self.ratio:.1f}× (the paper: 12.5×)", ""]
        out += [f"## Table 6: data movement ({c['e_move_min'] * 1e12:g}–"
                f"{c['e_move_max'] * 1e12:g} pJ per 64 bits)", "", self.table6(), "",
                "## Per layer (counts per image; SNN over all T steps)", "",
                self.layer_markdown(), "", "## The paper's Table 5, recomputed", "",
                "| Method | Model | Acc. | #Add. | #Mult. | Energy (formula) | printed |",
                "|---|---|---|---|---|---|---|"]
        out += [f"| {p.method} | {p.model} | {p.acc:.2f} | {_count(p.adds)} | {_count(p.mults)} "
                f"| {p.energy * 1e6:.2f} µJ | {p.printed} |" for p in paper_table5()]
        out += ["", "Notes:", *(f"- {n}" for n in _notes(c))]
        return "\n".join(out) + "\n"

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["method", "model", "T", "acc", "adds", "mults", "energy_J", "volume_MB",
                    "move_min_J", "move_max_J"])
        for r in self.rows:
            w.writerow([r.method, r.model, self.T, "" if r.acc is None else f"{r.acc:.6g}",
                        f"{r.adds:.6g}", f"{r.mults:.6g}", f"{r.energy:.6g}",
                        f"{r.volume_mb:.6g}", f"{r.move_min:.6g}", f"{r.move_max:.6g}"])
        return buf.getvalue()

    def layers_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["layer", "kind", "C", "OC", "KH", "KW", "in_shape", "out_shape", "macs",
                    "first", "rate", "ann_adds", "ann_mults", "snn_adds", "snn_mults", "neurons"])
        for r in self.layers:
            w.writerow([r.name, r.kind, *r.geometry, "x".join(map(str, r.in_shape)),
                        "x".join(map(str, r.out_shape)), r.macs, int(r.first),
                        "" if r.rate is None else f"{r.rate:.6g}", r.ann_adds, r.ann_mults,
                        "" if r.snn_adds is None else f"{r.snn_adds:.6g}",
                        "" if r.snn_mults is None else r.snn_mults, r.neurons])
        return buf.getvalue()

    def files(self) -> dict:
        """{file name: content} written next to the checkpoint."""
        return {"energy.md": self.to_markdown(), "energy.csv": self.to_csv(),
                "energy_layers.csv": self.layers_csv()}


def _acc(a) -> str:
    return "—" if a is None else f"{100 * a:.2f}"


def _notes(c) -> list:
    return [
        "The paper prints its Table 5 energies as J and mJ; for its counts the formula gives "
        "µJ (1.03 \"J\" = 1028.5 µJ, 82.2 \"mJ\" = 82.25 µJ): a 1000× units slip. "
        "Its ratio 12.5× is right.",
        "ANN: every MAC is one add and one mult. SNN: the stem sees the analog image and is "
        "counted as MACs adds and mults at every step (×T), as in the paper, although "
        "minijoint computes it once and broadcasts it over T; later layers add rate × MACs "
        "per step, no mults.",
        "Counted: convolutions and the classifier; not counted: BatchNorm (folded into the "
        "conv at inference), biases, ReLU/LIF updates, pooling, the training-only branch "
        "heads; data movement does not count the input image.",
        f"Data movement: the ANN moves each activation {c['moves']}× at 32 bits; the SNN "
        f"moves each neuron's membrane (32 bits) and spike (1 bit) {c['moves']}× per step "
        f"(SNN/ANN volume = 33·T/{64 // c['moves']}). The paper's Table 6 figures cannot "
        "be reproduced from its text (its SNN/ANN ratio at T = 2 is 2.006).",
    ]


def estimate_energy(model, loader, batches=None, model_name=None, e_add=E_ADD,
                    e_mult=E_MULT, e_move_min=E_MOVE_MIN, e_move_max=E_MOVE_MAX, moves=2,
                    title="") -> EnergyTables:
    r"""Tables 5–6 for ``model`` (a JointNet), measured on ``batches`` batches of
    ``loader`` (all when None). The ANN row is always given (its counts depend on the
    architecture only; its accuracy only when the ANN was built); the SNN row when the
    model has an SNN. Constants are parameters (J per add, per mult, per 64 bits)."""
    m = measure(model, loader, limit=batches)
    T, tot = model.T, totals(m["layers"])
    name = model_name or f"{model.arch} w{model.width}"
    ann_bits = ann_movement_bits(int(tot["neurons"]), moves=moves)
    rows = [EnergyRow("ANN", name, m["ann_acc"], tot["ann_adds"], tot["ann_mults"],
                      compute_energy(tot["ann_adds"], tot["ann_mults"], e_add, e_mult),
                      ann_bits, movement_energy(ann_bits, e_move_min),
                      movement_energy(ann_bits, e_move_max))]
    if tot["snn_adds"] is not None:
        snn_bits = snn_movement_bits(int(tot["neurons"]), T, moves=moves)
        rows.append(EnergyRow(f"SNN (T={T})", name, m["snn_acc"], tot["snn_adds"],
                              tot["snn_mults"], compute_energy(tot["snn_adds"],
                                                               tot["snn_mults"], e_add, e_mult),
                              snn_bits, movement_energy(snn_bits, e_move_min),
                              movement_energy(snn_bits, e_move_max)))
    consts = dict(e_add=e_add, e_mult=e_mult, e_move_min=e_move_min, e_move_max=e_move_max,
                  moves=moves)
    return EnergyTables(rows, m["layers"], T, m["images"], m["lif_rates"], title, consts,
                        m["lif_sizes"])


def energy_tables(path, batches=None, **kw) -> EnergyTables:
    """:func:`estimate_energy` for the checkpoint at ``path`` on its test set (the first
    ``batches`` batches of 256 images, all when None); keywords as estimate_energy."""
    from ..joint.train import load_trained
    if batches is not None and (isinstance(batches, bool) or not isinstance(batches, int)
                                or batches < 1):
        raise ValueError(f"energy: batches must be a positive integer or None, got {batches!r}")
    model, cfg, loader = load_trained(path)
    kw.setdefault("title", f"{cfg.mode} on {cfg.dataset} ({path})")
    with backend.default_dtype(np.dtype(cfg.dtype)):
        return estimate_energy(model, loader, batches=batches, **kw)


def write_energy_files(tables, checkpoint_path, extra=None) -> tuple:
    """Write ``tables.files()`` next to the checkpoint (``checkpoint_path`` may be its run
    folder), each atomically: ``energy.md``, ``energy.csv`` and ``energy_layers.csv`` for
    :class:`EnergyTables`, ``energy-<model>.md`` and ``.csv`` for a
    :class:`~minijoint.energy.ModelReport`; ``extra`` adds {name: text or a writer
    ``f -> None``} (a figure). Returns ``(written, failed)``: the paths written, and
    ``(path, reason)`` for each that could not be."""
    from ..joint.checkpoint import write_atomic
    folder = (checkpoint_path if os.path.isdir(checkpoint_path)
              else os.path.dirname(os.path.abspath(checkpoint_path)))
    written, failed = [], []
    for name, content in {**tables.files(), **(extra or {})}.items():
        path = os.path.join(folder, name)
        try:
            write_atomic(path, content)
            written.append(path)
        except OSError as e:
            failed.append((path, e.strerror or str(e)))
    return written, failed


def energy_report(checkpoint_path, batches=None) -> str:
    """The text of ``python -m minijoint energy``: Tables 5–6, the per-layer counts and
    notes, as Markdown; also written next to the checkpoint by :func:`write_energy_files`
    (an OSError is raised after all three were tried)."""
    tables = energy_tables(checkpoint_path, batches=batches)
    _, failed = write_energy_files(tables, checkpoint_path)
    if failed:
        raise OSError(f"could not write {', '.join(p for p, _ in failed)}: {failed[0][1]}")
    return tables.to_markdown()
