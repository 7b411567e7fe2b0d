r"""Per-layer operation counts of a :class:`~minijoint.models.JointNet`, measured on real
data (Section 5.4): shapes and SNN firing rates are read off a forward pass with
:func:`minijoint.nn.observe`, never typed in.

What is counted, per image (one inference: all T steps of the SNN):

* every twin convolution (stem, block convolutions, 1×1 shortcuts) and the classifier
  (stage 4's head; the branch heads 1–3 only help training, ``branches=True`` adds them);
* **ANN**: #Add = #Mult = MACs;
* **SNN, first layer** (the stem): it sees the analog image, so its MACs count as adds AND
  mults at every step, T·MACs each, as the paper counts them. minijoint actually computes
  the stem once and broadcasts it over T (docs/method.md §3, exact), which would cost 1·MACs: the
  table follows the paper, so that the comparison is the paper's;
* **SNN, later layers**: fed by spikes, ``rate · MACs`` adds per step (a silent input costs
  nothing, a spike one add per weight it meets) and no mults: T·rate·MACs adds, where
  ``rate`` is the :func:`~minijoint.nn.firing_rate` of the 0/1 spikes entering the layer,
  averaged over the test images (:class:`~minijoint.nn.RateMeter`).
  The classifier gets the time-averaged rates (N, C); it is linear, so it is counted as
  T steps on spikes with that mean rate.

**Neurons** (for data movement, Table 6): the activations that follow a layer, ReLU in the
ANN and LIF in the SNN: the output of every twin convolution except the 1×1 shortcuts,
whose output joins the block's second convolution at one neuron layer.

**Synaptic operations** (NeuroBench's terms, :mod:`.synops`; used by the cost models of
:mod:`.models`): per layer the dense count without padding taps, and the effective counts
of the inputs that were not zero, both networks, measured on the same batches.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import backend
from ..function import no_grad
from ..nn.module import observe
from ..nn.spiking import RateMeter, firing_rate
from .counts import conv2d_macs, linear_macs
from .synops import dense_synops, effective_synops, fanout_map

__all__ = ["LayerOps", "layer_table", "measure", "totals"]


@dataclass
class LayerOps:
    r"""One MAC layer of the table; counts per image.

    name      dotted module name (the classifier: ``"classifier"``)
    kind      "conv" or "linear";  geometry (C, OC, KH, KW)
    in_shape, out_shape   per image and per step: (C, H, W) → (OC, OH, OW), or (C,) → (K,)
    macs      per image per step: C·OC·KH·KW·OH·OW (conv), C·K (linear)
    first     True for the layer that sees the analog image (the stem)
    rate      mean of the SNN's input spikes (None for the stem, or without an SNN)
    neurons   activations (ReLU / LIF) that follow this layer, per image per step
    T         time steps of the SNN
    dense_macs  NeuroBench's dense SynOps per image per step: the MACs less the padding taps
    synops    SNN's effective SynOps per image (None without an SNN): spike-fed, Σ over the
              T steps of spikes × their fan-out (accumulates); the stem, its MACs on the
              image's nonzero pixels, once (minijoint computes it once, docs/method.md §3)
    ann_synops  ANN's effective SynOps per image: MACs on nonzero inputs (None without an ANN)
    """

    name: str
    kind: str
    geometry: tuple
    in_shape: tuple
    out_shape: tuple
    macs: int
    first: bool
    rate: float | None
    neurons: int
    T: int
    dense_macs: int = 0
    synops: float | None = None
    ann_synops: float | None = None

    @property
    def ann_adds(self) -> int:
        return self.macs

    @property
    def ann_mults(self) -> int:
        return self.macs

    @property
    def snn_adds(self):
        """T·MACs for the stem, T·rate·MACs for a spike-fed layer (None without an SNN)."""
        if self.first:
            return self.T * self.macs
        return None if self.rate is None else self.T * self.rate * self.macs

    @property
    def snn_mults(self):
        """T·MACs for the stem (analog input), 0 for a spike-fed layer."""
        return self.T * self.macs if self.first else (None if self.rate is None else 0)


class _Recorder:
    """The :func:`observe` callback: per layer, its shapes, the rate of the SNN's input
    spikes and both paths' effective SynOps; per LIF layer, its size (``end_batch(N)`` adds
    a batch's rates to ``inputs`` and its SynOps to ``synops``)."""

    def __init__(self, model, branches: bool):
        self.twins = {id(m): n for n, m in model.twin_layers()}
        self.heads = {}                      # id(head) -> (row name, path)
        for path in ("ann", "snn"):
            heads = getattr(model, f"{path}_heads") or []
            for i, h in enumerate(heads):
                if i == len(heads) - 1:
                    self.heads[id(h)] = ("classifier", path)
                elif branches:
                    self.heads[id(h)] = (f"branch {i + 1}", path)
        self.shortcuts = {id(m.shortcut.conv) for _, m in model.named_modules()
                          if getattr(m, "shortcut", None) is not None}
        self.lifs = {id(m): n for n, m in model.lif_layers()}
        self.order, self.info, self.first, self.lif_sizes = [], {}, {}, {}
        self.batch, self.inputs = {}, RateMeter()
        self.synops = {"ann": RateMeter(), "snn": RateMeter()}   # images-weighted means
        self.batch_synops = {"ann": {}, "snn": {}}

    def __call__(self, module, args, output):
        key = id(module)
        if key in self.lifs:                             # (T, N, ...) spikes: size per step
            self.lif_sizes[self.lifs[key]] = math.prod(output.shape[2:])
            return
        if key in self.twins:
            name, path = self.twins[key], args[1] if len(args) > 1 else None
            C, OC, KH, KW = module.geometry()
            kind = "conv" if len(output.shape) == 4 else "linear"
            neurons = 0 if key in self.shortcuts else math.prod(output.shape[1:])
        elif key in self.heads:
            (name, path), kind = self.heads[key], "linear"
            C, OC, KH, KW = module.in_features, module.out_features, 1, 1
            neurons = 0
        else:
            return
        x = args[0]
        self.first.setdefault(path, name)                # the first layer each path calls
        if name not in self.info:
            self.order.append(name)
            out_shape = tuple(output.shape[1:])
            macs = conv2d_macs(C, OC, KH, KW, *out_shape[1:]) if kind == "conv" \
                else linear_macs(C, OC) * math.prod(out_shape[:-1])
            where = dict(stride=module.stride, padding=module.padding) if kind == "conv" else {}
            geometry, in_shape = (C, OC, KH, KW), tuple(x.shape[1:])
            self.info[name] = dict(kind=kind, geometry=geometry, in_shape=in_shape,
                                   out_shape=out_shape, macs=macs, neurons=neurons,
                                   dense_macs=dense_synops(kind, in_shape, out_shape, geometry,
                                                           **where),
                                   fanout=fanout_map(kind, in_shape, out_shape, geometry, **where))
        spikes = path == "snn" and name != self.first[path]        # 0/1 (or their mean over T)
        self.batch_synops[path][name] = effective_synops(x, self.info[name]["fanout"], spikes)
        if path == "snn":
            self.batch[name] = firing_rate(x)

    def end_batch(self, images: int) -> None:
        self.inputs.add(self.batch, images)
        for path, meter in self.synops.items():
            meter.add(self.batch_synops[path], images)
        self.batch, self.batch_synops = {}, {"ann": {}, "snn": {}}

    def rows(self, T: int) -> list:
        firsts, rates = set(self.first.values()), self.inputs.rates
        ann, snn = self.synops["ann"].rates, self.synops["snn"].rates
        rows = []
        for n in self.order:
            info = {k: v for k, v in self.info[n].items() if k != "fanout"}
            # a spike-fed layer's mean is per step (or 1/T of the count, the classifier): ×T
            s = snn.get(n) if n in firsts or n not in snn else T * snn[n]
            rows.append(LayerOps(name=n, **info, first=n in firsts, T=T,
                                 rate=None if n in firsts else rates.get(n),
                                 synops=s, ann_synops=ann.get(n)))
        return rows


def _check_model(where, model):
    if not (hasattr(model, "twin_layers") and hasattr(model, "T")):
        raise TypeError(f"{where}: expected a JointNet (twin_layers(), T), got "
                        f"{type(model).__name__}")


def layer_table(model, x, branches: bool = False) -> list:
    """:class:`LayerOps` of every MAC layer of ``model`` (a JointNet), in forward order,
    measured on one batch ``x`` (N, C, H, W): shapes from the forward pass, SNN firing
    rates from the spikes that entered each layer. Runs in eval mode, without gradients."""
    _check_model("layer_table", model)
    return measure(model, [x], branches=branches)["layers"]


def measure(model, batches, limit=None, branches: bool = False) -> dict:
    """Run ``model`` (eval mode, no gradients) on ``batches`` — an iterable of ``x`` or
    ``(x, y)``, e.g. a DataLoader — at most ``limit`` of them, and return::

        {"layers": [LayerOps...], "images": int, "batches": int,
         "ann_acc": float | None, "snn_acc": float | None,   # when labels were given
         "lif_rates": {LIF layer: firing rate},
         "lif_sizes": {LIF layer: neurons per image per step}}

    Rates are each batch's :func:`~minijoint.nn.firing_rate`, weighted by its images.
    """
    _check_model("measure", model)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"measure: limit must be a positive number of batches, got {limit!r}")
    rec = _Recorder(model, branches)
    hits, images, n_batches, labelled = {}, 0, 0, True
    lif = RateMeter()
    was_training = model.training
    model.eval()
    try:
        with no_grad(), observe(rec):
            for b, batch in enumerate(batches):
                if limit is not None and b >= limit:
                    break
                x, y = batch if isinstance(batch, (tuple, list)) else (batch, None)
                out = model(x)
                N = int(x.shape[0])
                for path in ("ann", "snn"):
                    logits = getattr(out, f"{path}_logits")
                    if logits is not None and y is not None:
                        pred = backend.to_host(logits[-1].data.argmax(axis=1))
                        hits[path] = hits.get(path, 0) + int((pred == backend.to_host(y)).sum())
                labelled &= y is not None
                lif.add(model.firing_rates(), N)
                rec.end_batch(N)
                images += N
                n_batches += 1
    finally:
        model.train(was_training)
    if not images:
        raise ValueError("measure: no batches to measure (an empty loader?)")
    acc = {f"{p}_acc": (hits[p] / images if labelled and p in hits else None)
           for p in ("ann", "snn")}
    return {"layers": rec.rows(model.T), "images": images, "batches": n_batches, **acc,
            "lif_rates": lif.rates, "lif_sizes": rec.lif_sizes}


def totals(layers) -> dict:
    """Σ over layers of ann/snn adds and mults and of neurons (None parts stay None)."""
    def total(attr):
        vals = [getattr(r, attr) for r in layers]
        return None if any(v is None for v in vals) else float(np.sum(vals))
    return {k: total(k) for k in ("macs", "ann_adds", "ann_mults", "snn_adds", "snn_mults",
                                  "neurons")}
