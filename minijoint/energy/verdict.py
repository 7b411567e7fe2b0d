r"""One checkpoint under one cost model: per-layer energies of the ANN, the quantized ANN
and the SNN, break-even rates, and the NeuroBench counts
(``python -m minijoint energy CKPT --model NAME``; docs/method.md §8).

:func:`model_report` turns the measured :class:`~minijoint.energy.EnergyTables` (one forward
pass over the test set) into a :class:`ModelReport` under any model of :mod:`.models`;
nothing is measured again, so every model prices the same spikes.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from .models import Parts, breakeven_rate, get_model, qann_bits
from .report import format_energy
from .synops import activation_sparsity

__all__ = ["LayerCost", "ModelReport", "model_report", "network_breakeven"]

NETWORKS = ("ann", "qann", "snn")


@dataclass
class LayerCost:
    """One layer under one model: :class:`Parts` per network (None where the model has no
    such network) and the break-even input rates against the ANN and the QANN."""
    layer: object                  # its LayerOps
    ann: Parts
    qann: Parts | None
    snn: Parts | None
    r_ann: float | None
    r_qann: float | None


def network_breakeven(model, layers, baseline: str = "ann"):
    r"""λ* such that the whole SNN costs what ``baseline`` costs when every spike-fed
    layer's input rate is multiplied by λ* (linear, so λ* = (E_base − E(0)) / (E(1) − E(0))
    with E(λ) = Σ_l E_snn,l(λ·r_l)), and the SynOps-weighted mean input rate r̄ at λ = 1.
    Returns (λ*, r̄), or None when there is no SNN or no such baseline."""
    model = get_model(model)
    fed = [L for L in layers if not L.first]
    if not fed or any(L.rate is None for L in fed) or getattr(model, baseline)(layers[0]) is None:
        return None
    base = sum(getattr(model, baseline)(L).total for L in layers)
    fixed = sum(model.snn(L, 0.0 if not L.first else None).total for L in layers)
    at_one = sum(model.snn(L, L.rate if not L.first else None).total for L in layers)
    mean = sum(L.rate * L.dense_macs for L in fed) / sum(L.dense_macs for L in fed)
    return (base - fixed) / (at_one - fixed), mean


def _e(joules) -> str:
    return "0" if joules == 0 else format_energy(joules)


def _rate(r) -> str:
    if r is None:
        return "—"
    return "never" if r <= 0 else ("any" if r >= 1 else f"{r:.3f}")


@dataclass
class ModelReport:
    """What :func:`model_report` returns: ``costs`` per layer, the measured ``tables``
    (counts, rates, accuracies) and the ``model``."""
    model: object
    tables: object
    costs: list

    def totals(self) -> dict:
        """{network: Parts summed over layers, or None}."""
        out = {}
        for net in NETWORKS:
            parts = [getattr(c, net) for c in self.costs]
            out[net] = None if any(p is None for p in parts) else sum(parts, Parts())
        return out

    def names(self) -> dict:
        T = self.tables.T
        return {"ann": "ANN (32-bit float)",
                "qann": f"QANN ({qann_bits(T)}-bit activations)", "snn": f"SNN (T={T})"}

    def verdict(self) -> list:
        """Sentences: how many times the SNN costs each baseline, and the break-even."""
        tot, names, out = self.totals(), self.names(), []
        if tot["snn"] is None:
            return ["No SNN in this checkpoint: nothing to compare."]
        for net in ("ann", "qann"):
            if tot[net] is None:
                continue
            ratio = tot[net].total / tot["snn"].total
            who = "cheaper" if ratio > 1 else "dearer"
            line = f"{names[net]} / SNN = {ratio:.2f}×: the SNN is {who}."
            be = network_breakeven(self.model, self.tables.layers, net)
            if be is not None:
                lam, mean = be
                line += f" Break-even (every input rate scaled alike; mean {mean:.3f} measured): "
                line += ("none, the SNN stays cheaper at any rate." if lam * mean >= 1 else
                         "none, the SNN costs more even silent." if lam <= 0 else
                         f"a mean input rate of {lam * mean:.3f}, {lam:.3g}× the measured rates.")
            out.append(line)
        return out

    def to_markdown(self) -> str:
        t, m, names, tot = self.tables, self.model, self.names(), self.totals()
        acc = {"ann": t.rows[0].acc, "snn": t.rows[1].acc if len(t.rows) > 1 else None}
        title = f"# Energy per image, cost model `{m.name}`" + (f": {t.title}" if t.title else "")
        out = [title, "", f"Firing rates and accuracy measured on {t.images} test images; "
               f"T = {t.T}.", "", "Assumptions:", *(f"- {a}" for a in m.assumptions),
               "", "Sources: " + "; ".join(m.sources) + ".", "", "## Per network", "",
               "| Network | Acc. | Arithmetic | Memory | Addressing | Total |",
               "|---|---|---|---|---|---|"]
        for net in NETWORKS:
            p = tot[net]
            if p is not None:
                a = acc.get(net)
                out.append(f"| {names[net]} | {'—' if a is None else f'{100 * a:.2f}'} | "
                           f"{_e(p.ops)} | {_e(p.mem)} | {_e(p.addr)} | {_e(p.total)} |")
        out += ["", *self.verdict(), "", "## Per layer (r*: the input rate at which the SNN "
                "layer costs what the baseline does; cheaper below it)", "",
                "| layer | input rate | ANN | QANN | SNN | r* vs ANN | r* vs QANN |",
                "|---|---|---|---|---|---|---|"]
        for c in self.costs:
            rate = "analog" if c.layer.first else _rate(c.layer.rate)
            out.append(f"| {c.layer.name} | {rate} | {_e(c.ann.total)} | "
                       f"{_e(c.qann.total if c.qann else None)} | "
                       f"{_e(c.snn.total if c.snn else None)} | {_rate(c.r_ann)} | "
                       f"{_rate(c.r_qann)} |")
        out += ["", "## NeuroBench counts (per image)", "", *self.neurobench()]
        return "\n".join(out) + "\n"

    def neurobench(self) -> list:
        """The NeuroBench table and its network-wide line, as Markdown lines."""
        t = self.tables
        out = ["| layer | dense SynOps | SNN effective SynOps | ANN effective MACs | "
               "input sparsity | neuron updates |", "|---|---|---|---|---|---|"]
        for L in t.layers:
            dense = L.dense_macs * (1 if L.first else L.T)
            kind = "MACs" if L.first else "ACs"
            eff = "—" if L.synops is None else f"{L.synops:,.0f} {kind}"
            ann = "—" if L.ann_synops is None else f"{L.ann_synops:,.0f}"
            sparsity = "—" if L.rate is None else f"{1 - L.rate:.3f}"
            out.append(f"| {L.name} | {dense:,} | {eff} | {ann} | {sparsity} | "
                       f"{L.neurons * L.T:,} |")
        if t.lif_rates and t.lif_sizes:
            updates = sum(t.lif_sizes.values()) * t.T
            out += ["", f"Activation sparsity (all LIF neurons, all steps): "
                    f"{activation_sparsity(t.lif_rates, t.lif_sizes):.3f}; neuron updates: "
                    f"{updates:,} per image. Dense SynOps leave out the padding taps that the "
                    "MACs count; the stem runs once."]
        return out

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["model", "layer", "first", "rate", "dense_macs", "snn_synops", "ann_synops",
                    *(f"{n}_{p}_J" for n in NETWORKS for p in ("ops", "mem", "addr", "total")),
                    "breakeven_ann", "breakeven_qann"])
        g = lambda v: "" if v is None else f"{v:.6g}"   # noqa: E731
        for c in self.costs:
            L = c.layer
            parts = [g(getattr(getattr(c, n), p)) if getattr(c, n) is not None else ""
                     for n in NETWORKS for p in ("ops", "mem", "addr", "total")]
            w.writerow([self.model.name, L.name, int(L.first), g(L.rate), L.dense_macs,
                        g(L.synops), g(L.ann_synops), *parts, g(c.r_ann), g(c.r_qann)])
        return buf.getvalue()

    def files(self) -> dict:
        """{file name: content} written next to the checkpoint."""
        return {f"energy-{self.model.name}.md": self.to_markdown(),
                f"energy-{self.model.name}.csv": self.to_csv()}


def model_report(tables, model="paper") -> ModelReport:
    """The checkpoint measured in ``tables`` (:func:`~minijoint.energy.energy_tables`)
    priced by ``model`` (a name of ``COST_MODELS`` or a model object)."""
    model = get_model(model)
    has_snn = all(L.first or L.rate is not None for L in tables.layers)
    costs = []
    for L in tables.layers:
        snn = model.snn(L, L.rate) if has_snn else None
        costs.append(LayerCost(L, model.ann(L), model.qann(L), snn,
                               breakeven_rate(model, L, "ann") if has_snn else None,
                               breakeven_rate(model, L, "qann") if has_snn else None))
    return ModelReport(model, tables, costs)
