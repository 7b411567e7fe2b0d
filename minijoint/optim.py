r"""Optimizers (SGD, Adam), the cosine learning-rate schedule, and gradient clipping.

Each optimizer updates ``p.data`` **in place** from ``p.grad`` and skips parameters whose
``grad`` is None. Gradients are never written into (``p.grad`` may share memory with
another tensor's gradient): every update builds new arrays from it.

``state_dict()`` holds the step counts, the hyperparameters and every moment buffer as
NumPy arrays, so ``load_state_dict`` (on either backend) resumes a run bit-exactly.
"""
from __future__ import annotations

import math

import numpy as np

from . import backend
from .function import no_grad
from .tensor import Tensor

__all__ = ["Optimizer", "SGD", "Adam", "CosineAnnealing", "clip_grad_norm"]


def _check_params(name: str, params) -> list:
    params = list(params)
    if not params:
        raise ValueError(f"{name}: got an empty parameter list")
    unique, seen = [], set()
    for i, p in enumerate(params):
        if not isinstance(p, Tensor) or not p.requires_grad:
            raise TypeError(f"{name}: parameter {i} must be a Tensor with requires_grad=True "
                            f"(e.g. from model.parameters()), got {type(p).__name__}")
        if id(p) not in seen:
            seen.add(id(p))
            unique.append(p)
    return unique


def _check_nonneg(name: str, what: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
            or not v >= 0 or not math.isfinite(v):
        raise ValueError(f"{name}: {what} must be a finite number ≥ 0, got {v!r}")
    return float(v)


class Optimizer:
    """Base class: a list of parameters, a learning rate ``lr``, a per-parameter state dict
    (``self.state[i]``) and the hyperparameters named in ``_hyper``."""

    _hyper = ()  # names of the float hyperparameters saved in state_dict

    def __init__(self, params, lr):
        self.params = _check_params(type(self).__name__, params)
        self.lr = _check_nonneg(type(self).__name__, "lr", lr)
        self.state = [{} for _ in self.params]

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (set ``.grad`` to None)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient."""
        with no_grad():
            for p, state in zip(self.params, self.state):
                if p.grad is not None:
                    self._update(p.data, p.grad, state)

    def _update(self, w, g, state) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict:
        """{"lr", hyperparameters, "state": [per parameter {name: int or NumPy array}]}."""
        out = {"lr": self.lr, **{k: getattr(self, k) for k in self._hyper}}
        out["state"] = [{k: (np.array(backend.to_host(v)) if not isinstance(v, (int, float))
                             else v) for k, v in s.items()} for s in self.state]
        return out

    def load_state_dict(self, d: dict) -> None:
        """Restore what :meth:`state_dict` saved (buffers land on each parameter's backend)."""
        name = type(self).__name__
        missing = [k for k in ("lr", "state", *self._hyper) if k not in d]
        if missing:
            raise KeyError(f"{name}.load_state_dict: missing keys {missing}")
        if len(d["state"]) != len(self.params):
            raise ValueError(f"{name}.load_state_dict: state for {len(d['state'])} parameters, "
                             f"this optimizer has {len(self.params)}")
        new_state = []
        for i, (p, s) in enumerate(zip(self.params, d["state"])):
            xp = backend.get_array_module(p.data)
            restored = {}
            for k, v in s.items():
                if isinstance(v, (int, float, np.integer, np.floating)):
                    restored[k] = v.item() if isinstance(v, np.generic) else v
                    continue
                v = v if backend.is_cupy_array(v) else np.asarray(v)
                if tuple(v.shape) != tuple(p.shape):
                    raise ValueError(f"{name}.load_state_dict: state {k!r} of parameter {i} has "
                                     f"shape {tuple(v.shape)}, the parameter has {tuple(p.shape)}")
                restored[k] = xp.array(v if xp is not np else backend.to_host(v), dtype=p.dtype)
            new_state.append(restored)
        self.lr = float(d["lr"])
        for k in self._hyper:
            setattr(self, k, d[k])
        self.state = new_state


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional momentum (PyTorch's convention).

        g ← g + wd·p                       (L2 weight decay, coupled)
        v ← μ·v + g                        (v = g at the first step)
        p ← p − lr·(g + μ·v)               if nesterov
        p ← p − lr·v                       otherwise (p ← p − lr·g when μ = 0)
    """

    _hyper = ("momentum", "weight_decay", "nesterov")

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr)
        self.momentum = _check_nonneg("SGD", "momentum", momentum)
        if self.momentum >= 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1), got {momentum!r}")
        self.weight_decay = _check_nonneg("SGD", "weight_decay", weight_decay)
        if nesterov and self.momentum == 0.0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")
        self.nesterov = bool(nesterov)

    def _update(self, w, g, state):
        if self.weight_decay:
            g = g + self.weight_decay * w
        if self.momentum:
            v = state.get("momentum_buffer")
            v = g.copy() if v is None else self.momentum * v + g
            state["momentum_buffer"] = v
            g = g + self.momentum * v if self.nesterov else v
        w -= self.lr * g


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015) with coupled L2 weight decay, as the paper trains.

        g  ← g + wd·p
        m  ← β₁·m + (1 − β₁)·g             v ← β₂·v + (1 − β₂)·g²
        m̂  = m / (1 − β₁ᵗ)                 v̂ = v / (1 − β₂ᵗ)
        p  ← p − lr · m̂ / (√v̂ + ε)

    t counts this parameter's own updates (a step where its grad is None is skipped).
    """

    _hyper = ("betas", "eps", "weight_decay")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2
                and all(isinstance(b, (int, float)) and 0.0 <= b < 1.0 for b in betas)):
            raise ValueError(f"Adam: betas must be two numbers in [0, 1), got {betas!r}")
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = _check_nonneg("Adam", "eps", eps)
        self.weight_decay = _check_nonneg("Adam", "weight_decay", weight_decay)

    def _update(self, w, g, state):
        xp = backend.get_array_module(w)
        b1, b2 = self.betas
        if self.weight_decay:
            g = g + self.weight_decay * w
        if "m" not in state:
            state["step"], state["m"], state["v"] = 0, xp.zeros_like(w), xp.zeros_like(w)
        t = state["step"] = state["step"] + 1
        m = state["m"] = b1 * state["m"] + (1.0 - b1) * g
        v = state["v"] = b2 * state["v"] + (1.0 - b2) * (g * g)
        m_hat = m / (1.0 - b1 ** t)
        v_hat = v / (1.0 - b2 ** t)
        w -= self.lr * m_hat / (xp.sqrt(v_hat) + self.eps)

    def load_state_dict(self, d: dict) -> None:
        super().load_state_dict(d)
        self.betas = tuple(float(b) for b in self.betas)


class CosineAnnealing:
    r"""Cosine learning-rate schedule (Loshchilov & Hutter, 2017), without restarts:

        lr_t = η_min + (lr₀ − η_min) · (1 + cos(π·t / T_max)) / 2

    lr₀ is the optimizer's lr when the schedule is made; ``step()`` advances t by one and
    writes ``lr_t`` into the optimizer. After T_max steps lr stays at η_min.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"CosineAnnealing: expected an Optimizer, "
                            f"got {type(optimizer).__name__}")
        if isinstance(T_max, bool) or not isinstance(T_max, (int, np.integer)) or T_max <= 0:
            raise ValueError(f"CosineAnnealing: T_max must be a positive integer, got {T_max!r}")
        self.optimizer = optimizer
        self.T_max = int(T_max)
        self.eta_min = _check_nonneg("CosineAnnealing", "eta_min", eta_min)
        self.base_lr = optimizer.lr
        self.t = 0
        optimizer.lr = self.lr

    @property
    def lr(self) -> float:
        """The learning rate at the current step t."""
        t = min(self.t, self.T_max)
        cos = math.cos(math.pi * t / self.T_max)
        return self.eta_min + (self.base_lr - self.eta_min) * (1.0 + cos) / 2.0

    def step(self) -> float:
        """t ← t + 1; set and return the new learning rate."""
        self.t += 1
        self.optimizer.lr = self.lr
        return self.optimizer.lr

    def state_dict(self) -> dict:
        return {"t": self.t, "base_lr": self.base_lr, "T_max": self.T_max, "eta_min": self.eta_min}

    def load_state_dict(self, d: dict) -> None:
        missing = [k for k in ("t", "base_lr", "T_max", "eta_min") if k not in d]
        if missing:
            raise KeyError(f"CosineAnnealing.load_state_dict: missing keys {missing}")
        self.t, self.base_lr = int(d["t"]), float(d["base_lr"])
        self.T_max, self.eta_min = int(d["T_max"]), float(d["eta_min"])
        self.optimizer.lr = self.lr


def clip_grad_norm(params, max_norm: float) -> float:
    r"""Rescale the gradients so that their joint L2 norm is at most ``max_norm``.

        total = √(Σ_p ‖ḡp‖²);   ḡp ← ḡp · max_norm / total   when total > max_norm

    Parameters without a gradient are ignored. Returns ``total`` (before clipping), a float.
    Gradients are replaced, not written into.
    """
    if isinstance(max_norm, bool) or not isinstance(max_norm, (int, float)) or not max_norm > 0:
        raise ValueError(f"clip_grad_norm: max_norm must be a positive number, got {max_norm!r}")
    with_grad = [p for p in params if p.grad is not None]
    total = math.sqrt(sum(float((p.grad.astype(np.float64) ** 2).sum()) for p in with_grad))
    if total > max_norm:
        scale = max_norm / total
        for p in with_grad:
            p.grad = p.grad * p.grad.dtype.type(scale)
    return total
