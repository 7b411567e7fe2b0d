r"""The training step of bench_step.py in both libraries: the same model, data and optimizer.

A step is forward + backward + Adam (lr 1e-3, weight decay 5e-4) of the spiking ResNet-18
(the ``snn`` or ``joint`` case, see bench_step.py); ``step()`` blocks until it is done.
"""
from __future__ import annotations

import contextlib

import numpy as np

import minijoint as mj
from minijoint.joint.loss import JointLoss
from minijoint.models import JointNet
from minijoint.optim import Adam

CASES = {"snn": dict(paths=("snn",), wft=False), "joint": dict(paths=("ann", "snn"), wft=True)}
LR, WEIGHT_DECAY, CLASSES, SIDE = 1e-3, 5e-4, 10, 32


def make_data(args, dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((args.batch, 3, SIDE, SIDE)).astype(dtype)
    y = rng.integers(0, CLASSES, args.batch).astype(np.int64)
    return x, y


class MjStep:
    """minijoint's training step; ``step()`` = forward, backward, Adam."""

    def __init__(self, case, dtype, args, x, y):
        self.dtype, self.backend = np.dtype(dtype), args.backend
        with self.ctx():
            self.model = JointNet(arch="resnet18", num_classes=CLASSES, width=args.width,
                                  in_channels=3, image_size=SIDE, T=args.T,
                                  rng=np.random.default_rng(0), **CASES[case])
            self.opt = Adam(self.model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
            self.x, self.y = mj.Tensor(mj.to_device(x)), mj.to_device(y)
        self.loss_fn = JointLoss() if case == "joint" else \
            JointLoss(lambda_kld=0.0, lambda_norm=0.0, all_branches=False)

    @contextlib.contextmanager
    def ctx(self):
        with mj.default_dtype(self.dtype), mj.using_backend(self.backend):
            yield

    def forward(self):
        out = self.model(self.x)
        return self.loss_fn(out.ann_logits, out.snn_logits, out.ann_feats, out.snn_feats,
                            self.y)[0]

    def backward(self, loss):
        self.opt.zero_grad()
        loss.backward()

    def __call__(self):
        with self.ctx():
            self.backward(self.forward())
            self.opt.step()
        if self.backend == "cupy":
            import cupy
            cupy.cuda.Device().synchronize()


class TorchStep:
    """The PyTorch twin's training step, starting from ``mj_model``'s weights if given."""

    def __init__(self, torch, tm, case, dtype, args, x, y, mj_model=None):
        self.torch = torch
        self.cuda = args.backend == "cupy" and torch.cuda.is_available()
        dev = "cuda" if self.cuda else "cpu"
        torch.manual_seed(0)
        self.model = tm.TorchJointNet(arch="resnet18", num_classes=CLASSES, width=args.width,
                                      in_channels=3, image_size=SIDE, T=args.T,
                                      lif=args.torch_lif, **CASES[case]).to(getattr(torch, dtype))
        if mj_model is not None:
            tm.copy_from_minijoint(self.model, mj_model, mj.to_host)
        self.model.to(dev)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
        self.x, self.y = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
        self.loss_kw = {} if case == "joint" else \
            dict(lambda_kld=0.0, lambda_norm=0.0, all_branches=False)
        self.tm = tm

    def forward(self):
        return self.tm.joint_loss(*self.model(self.x), self.y, **self.loss_kw)

    def backward(self, loss):
        self.opt.zero_grad(set_to_none=True)
        loss.backward()

    def __call__(self):
        self.backward(self.forward())
        self.opt.step()
        if self.cuda:
            self.torch.cuda.synchronize()
