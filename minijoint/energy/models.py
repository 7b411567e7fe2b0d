r"""Cost models: named, documented ways to turn one layer's counts into joules
(docs/method.md §8). ``python -m minijoint energy CKPT --model NAME``; ``--model list``.

A model prices a measured :class:`~minijoint.energy.LayerOps`, per image, for three networks:

* ``ann(layer)``: the 32-bit float ANN, the paper's baseline;
* ``qann(layer)``: an ANN whose activations are quantized to b = ⌈log₂(T+1)⌉ bits, as
  many levels as an SNN neuron can fire spikes in T steps (Yan et al. 2024), or None;
* ``snn(layer, rate)``: the SNN with the spikes entering the layer at ``rate``.

Each returns :class:`Parts` (ops, mem, addr) in joules. Every model here is **linear in
the rate**, so the rate at which the SNN layer costs what a baseline costs has a closed
form (:func:`breakeven_rate`).

The per-operation energies are Horowitz's 45 nm figures (ISSCC 2014, "Computing's energy
problem"), in the table ``HOROWITZ_45NM``: an add costs 0.03 pJ (8-bit integer), 0.1 pJ
(32-bit integer), 0.9 pJ (32-bit float); a multiply 0.2 pJ (8-bit int), 3.1 pJ (32-bit
int), 3.7 pJ (32-bit float); one 64-bit read from an 8 KB SRAM 10 pJ, 32 KB 20 pJ, 1 MB
100 pJ, DRAM 1.3–2.6 nJ. The paper's 4.6 pJ "per mult" is Horowitz's 32-bit float
multiply-add, 3.7 + 0.9 pJ, so its ANN pays each MAC's add twice (docs/method.md §10).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .counts import E_ADD, E_MULT, compute_energy

__all__ = ["HOROWITZ_45NM", "Parts", "Hardware", "PaperModel", "MemoryModel",
           "COST_MODELS", "get_model", "qann_bits", "breakeven_rate"]

pJ = 1e-12
HOROWITZ_45NM = {"add_int8": 0.03 * pJ, "add_int32": 0.1 * pJ, "add_fp32": 0.9 * pJ,
                 "mult_int8": 0.2 * pJ, "mult_int32": 3.1 * pJ, "mult_fp32": 3.7 * pJ,
                 "sram_8kb": 10 * pJ, "sram_32kb": 20 * pJ, "sram_1mb": 100 * pJ,
                 "dram": 1300 * pJ}                    # memory: one 64-bit access (DRAM: to 2.6 nJ)


@dataclass(frozen=True)
class Parts:
    """Energy of one layer of one network, in joules: arithmetic, memory, event addressing."""
    ops: float = 0.0
    mem: float = 0.0
    addr: float = 0.0

    def __add__(self, other: "Parts") -> "Parts":
        return Parts(self.ops + other.ops, self.mem + other.mem, self.addr + other.addr)

    @property
    def total(self) -> float:
        return self.ops + self.mem + self.addr


def qann_bits(T: int) -> int:
    """b = ⌈log₂(T+1)⌉: the bits that count 0..T spikes (T = 4 → 3 bits, T = 5..7 → 3)."""
    return math.ceil(math.log2(T + 1))


def _synops_at(layer, rate) -> float:
    r"""The SNN layer's effective SynOps if its input fired at ``rate``: the measured count
    scaled by rate / measured rate (the spikes keep the places they were measured in), or
    T·rate·dense when nothing was measured to fire (or no count was measured)."""
    if layer.rate and layer.synops is not None:
        return layer.synops * rate / layer.rate
    return layer.T * rate * layer.dense_macs


class PaperModel:
    """Section 5.4 of the paper: arithmetic only, its two constants, its counts."""
    name = "paper"
    summary = ("the paper's Table 5: 0.9 pJ per add, 4.6 pJ per multiply, arithmetic only "
               "(its Table 6 data movement beside it); the default")
    sources = ("Guo et al. 2023, Section 5.4 (Tables 5-6), after Horowitz ISSCC 2014",)
    assumptions = (
        "E = 0.9 pJ·#Add + 4.6 pJ·#Mult; memory and addressing are not priced.",
        "ANN: every MAC (padding taps included) is one add and one mult.",
        "SNN: the stem's MACs are adds and mults at every one of the T steps; a spike-fed "
        "layer adds rate × MACs per step and never multiplies.",
        "No quantized baseline. Break-even: r* = 5.5 pJ / (0.9 pJ · T), above 1 for T ≤ 6: "
        "a spike-fed layer is cheaper at any rate.")

    def ann(self, layer) -> Parts:
        return Parts(ops=compute_energy(layer.ann_adds, layer.ann_mults, E_ADD, E_MULT))

    def qann(self, layer):
        return None

    def snn(self, layer, rate=None) -> Parts:
        if layer.first:
            return Parts(ops=compute_energy(layer.T * layer.macs, layer.T * layer.macs))
        return Parts(ops=compute_energy(layer.T * rate * layer.macs, 0))


@dataclass(frozen=True)
class Hardware:
    r"""The chip a memory-aware model assumes, energies in joules.

    e_add     one accumulate (the SNN's synaptic add; one shift-and-add step of the QANN)
    e_mac     one multiply-accumulate on an analog input (the stem of the SNN and the QANN)
    e_mult    one multiply (the LIF leak, τ·u)
    e_addr    one address computation (an integer add)
    e_access  one 64-bit memory access; b bits cost b/64 of it (energy ∝ bits moved)
    weight_bits, state_bits   the SNN's and QANN's weights; membrane potentials and
              partial sums.  image_bits: one input pixel, in every network.
    """
    e_add: float
    e_mac: float
    e_mult: float
    e_addr: float
    e_access: float
    weight_bits: int
    state_bits: int
    image_bits: int = 8


class MemoryModel:
    r"""E = E_ops + E_mem + E_addr per layer, in the manner of Lemaire et al. 2022.

    Notation (per image): F dense SynOps per step (MACs less padding taps), S effective
    SynOps of the SNN, I inputs, O outputs, n neurons per step, w/s/b bits of weights,
    states and QANN activations, e_bit = e_access / 64.

    dense layer (ANN, QANN, the SNN's stem once):  ops F·e_MAC + n·e_cmp;
        mem (F·(w + in bits) + O·out bits)·e_bit — no operand is reused from a register
    SNN, spike-fed:  ops S·e_add;  mem S·(w + 2s)·e_bit (read the weight, read and write
        the target's membrane);  addr T·rate·I·⌈log₂ I⌉·e_bit + S·e_addr (read each
        event's source address, compute each target's address)
    SNN neurons, every step:  ops n·T·(e_mult + e_add) (leak, threshold);
        mem n·T·(2s + 1)·e_bit (read and write u, write the spike; the stem's neurons also
        read their stored current)
    """

    def __init__(self, name, summary, hw: Hardware, sources, notes=()):
        self.name, self.summary, self.hw, self.sources = name, summary, hw, tuple(sources)
        self.notes = tuple(notes)

    @property
    def assumptions(self) -> tuple:
        hw, p = self.hw, lambda e: f"{e / pJ:g} pJ"   # noqa: E731
        return (
            "E = E_ops + E_mem + E_addr: arithmetic, memory traffic and event addressing.",
            f"Memory: {p(hw.e_access)} per 64-bit access, energy proportional to bits moved; "
            "no operand is kept in a register between uses (the same rule for every network).",
            "ANN: 32-bit float weights and activations, a MAC is a 32-bit float multiply-add "
            "(3.7 + 0.9 pJ); it reads a weight and an input per MAC and writes each output.",
            f"QANN: {hw.weight_bits}-bit weights, activations of b = ⌈log₂(T+1)⌉ bits; a MAC "
            f"is b shift-and-adds of {p(hw.e_add)} (no zero skipping); its accuracy is not "
            "measured (no quantized network is trained).",
            f"SNN: {hw.weight_bits}-bit weights, {hw.state_bits}-bit membranes; each synaptic "
            f"event adds ({p(hw.e_add)}), reads a weight, reads and writes the target's "
            f"membrane, and computes the target's address ({p(hw.e_addr)}); each input spike's "
            "address is read; each neuron, every step, leaks (a multiply), compares, reads and "
            "writes u and writes a spike bit.",
            "The stem sees the image in every network and runs once (the SNN broadcasts its "
            f"output over T, exact); the image is read at {hw.image_bits} bits. Padding taps "
            "are not operations. BatchNorm (folded), biases and pooling are left out.",
            *self.notes)

    def _bits(self, n) -> float:
        return n * self.hw.e_access / 64

    def _dense(self, layer, mac, e_cmp, weight_bits, in_bits, out_bits) -> Parts:
        F, O = layer.dense_macs, math.prod(layer.out_shape)
        return Parts(ops=F * mac + layer.neurons * e_cmp,
                     mem=self._bits(F * (weight_bits + in_bits) + O * out_bits))

    def ann(self, layer) -> Parts:
        h = HOROWITZ_45NM
        return self._dense(layer, h["mult_fp32"] + h["add_fp32"], h["add_fp32"], 32,
                           self.hw.image_bits if layer.first else 32, 32)

    def qann(self, layer) -> Parts:
        hw, b = self.hw, qann_bits(layer.T)
        if layer.first:
            return self._dense(layer, hw.e_mac, hw.e_add, hw.weight_bits, hw.image_bits, b)
        return self._dense(layer, b * hw.e_add, hw.e_add, hw.weight_bits, b,
                           b if layer.neurons else hw.state_bits)

    def snn(self, layer, rate=None) -> Parts:
        hw, T, n = self.hw, layer.T, layer.neurons
        neurons = Parts(ops=n * T * (hw.e_mult + hw.e_add),
                        mem=self._bits(n * T * (2 * hw.state_bits + 1)))
        if layer.first:
            once = self._dense(layer, hw.e_mac, 0.0, hw.weight_bits, hw.image_bits,
                               hw.state_bits)
            return once + neurons + Parts(mem=self._bits(n * T * hw.state_bits))
        S, I = _synops_at(layer, rate), math.prod(layer.in_shape)
        events = Parts(ops=S * hw.e_add, mem=self._bits(S * (hw.weight_bits + 2 * hw.state_bits)),
                       addr=self._bits(T * rate * I * math.ceil(math.log2(max(I, 2))))
                       + S * hw.e_addr)
        return events + neurons


_H = HOROWITZ_45NM
COST_MODELS = {
    "paper": PaperModel(),
    "lemaire": MemoryModel(
        "lemaire", "arithmetic + memory + addressing (Lemaire et al. 2022), 32-bit float, "
        "Horowitz 45 nm, 8 KB SRAM (10 pJ per 64-bit access)",
        Hardware(e_add=_H["add_fp32"], e_mac=_H["mult_fp32"] + _H["add_fp32"],
                 e_mult=_H["mult_fp32"], e_addr=_H["add_int32"], e_access=_H["sram_8kb"],
                 weight_bits=32, state_bits=32),
        ("Lemaire et al. 2022, An analytical estimation of spiking neural networks energy "
         "efficiency (ICONIP; arXiv 2210.13107)", "Horowitz, ISSCC 2014, 45 nm",
         "Yan et al. 2024, arXiv 2409.08290 (the QANN baseline)"),
        ("8 KB is the cheapest memory in Horowitz's table; a network that does not fit "
         "there pays 2× (32 KB), 10× (1 MB) or 130–260× (DRAM) per access.",)),
    "lemaire-int8": MemoryModel(
        "lemaire-int8", "the same with 8-bit integer weights and 32-bit integer membranes and "
        "sums (Horowitz 45 nm integer ops) against a ⌈log₂(T+1)⌉-bit QANN (Yan et al. 2024)",
        Hardware(e_add=_H["add_int32"], e_mac=_H["mult_int8"] + _H["add_int32"],
                 e_mult=_H["mult_int32"], e_addr=_H["add_int32"], e_access=_H["sram_8kb"],
                 weight_bits=8, state_bits=32),
        ("Lemaire et al. 2022 (ICONIP; arXiv 2210.13107)", "Horowitz, ISSCC 2014, 45 nm",
         "Yan et al. 2024, Reconsidering the energy efficiency of spiking neural networks "
         "(arXiv 2409.08290)"),
        ("The ANN row stays the 32-bit float network of `lemaire`; compare the SNN with the "
         "QANN, which has the same 8-bit weights. At b = 3, b shift-and-adds (0.3 pJ) cost "
         "what Horowitz's 8-bit multiply plus a 32-bit add do.",
         "Yan et al. find that an SNN needs a mean rate below about 6 % to beat such a QANN "
         "at T = 5-10 (5.7 % at T = 5 in their latest version).")),
}


def get_model(name):
    """The cost model called ``name`` (a key of ``COST_MODELS``), or a model object as given."""
    if not isinstance(name, str):
        return name
    if name not in COST_MODELS:
        raise ValueError(f"energy: unknown cost model {name!r}; expected one of "
                         f"{', '.join(COST_MODELS)} (or 'list')")
    return COST_MODELS[name]


def breakeven_rate(model, layer, baseline: str = "ann"):
    r"""The input rate r* at which ``layer`` costs the SNN what it costs ``baseline``
    ("ann" or "qann") under ``model``. Every model here is linear in the rate,
    E_snn(r) = E_snn(0) + r·(E_snn(1) − E_snn(0)), so

        r* = (E_base − E_snn(0)) / (E_snn(1) − E_snn(0));

    below r* the SNN layer is cheaper. r* ≤ 0: never (its cost at rate 0 is already
    higher); r* ≥ 1: at any rate. None for the stem (analog input, no rate) or when the
    model has no such baseline."""
    model = get_model(model)
    base = getattr(model, baseline)(layer)
    if layer.first or base is None:
        return None
    e0, e1 = model.snn(layer, 0.0).total, model.snn(layer, 1.0).total
    return (base.total - e0) / (e1 - e0)
