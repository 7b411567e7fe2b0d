"""Spiking parts: surrogate derivatives (Eq. 5) and the LIF neuron with explicit BPTT (Eqs. 1–4)."""
