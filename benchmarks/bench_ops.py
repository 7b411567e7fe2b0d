r"""Single ops, minijoint against PyTorch: forward, and forward + backward (issue 8).

* conv2d 3×3, stride 1, padding 1: x (128, 16, 32, 32), W (16, 16, 3, 3) → (128, 16, 32, 32)
* conv2d 3×3, stride 2, padding 1: same x and W → (128, 16, 16, 16)
* LIF (τ 0.25, V_th 0.5, Rectangle surrogate, reset not detached): c (4, 32, 16, 32, 32),
  against the PyTorch LIF as one autograd.Function and as the usual autograd loop over t
* BatchNorm, training mode: x (128, 16, 32, 32), γ and β
* (NumPy only) the copies with short rows behind im2col and the channel-first layout, made
  by ``windows._copy_rows`` and by plain assignment
* with ``--layers``, instead: every convolution geometry of bench_step.py's ResNet-18
  (width 16, T·batch = 128 samples, 32×32 input), forward + backward, in float32. Their
  input is 0/1 spikes (20 % ones), except the stem's: the image, which needs no gradient

The backward gets a random upstream gradient; every input gets its gradient (x, W; c;
x, γ, β). Outputs and gradients are compared with PyTorch's in float64 before timing.

    python benchmarks/bench_ops.py [--threads 1] [--repeats 10] [--backend cupy] [--layers]
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (nothing heavy yet: the BLAS thread variables come first)

common.set_thread_env(common.threads_from_argv(sys.argv))

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import minijoint as mj  # noqa: E402
import minijoint.functional as F  # noqa: E402
from minijoint.snn import lif  # noqa: E402

TAU, V_TH = 0.25, 0.5


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1, help="threads for BOTH libraries (default 1)")
    p.add_argument("--repeats", type=int, default=10, help="timed calls per op (median)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--backend", default="numpy", choices=("numpy", "cupy"),
                   help="minijoint backend; with cupy, PyTorch runs on cuda when it can")
    p.add_argument("--no-torch", action="store_true", help="time minijoint only")
    p.add_argument("--layers", action="store_true",
                   help="time the convolutions of bench_step.py's ResNet-18 instead (float32)")
    args = p.parse_args(argv)
    if args.layers:
        args.dtypes = "float32"
    args.dtypes = [d for d in args.dtypes.split(",") if d]
    return args


class Op:
    """One op in both frameworks: ``fwd()`` builds the graph, ``fwd_bwd()`` also back-propagates.
    ``arrays``: host inputs; ``grads``: which of them get a gradient (default: all)."""

    def __init__(self, name, arrays, mj_fn, pt_fns=None, grads=None):
        self.name, self.arrays, self.mj_fn, self.pt_fns = name, arrays, mj_fn, pt_fns or {}
        self.grads = grads or (True,) * len(arrays)


def mj_runner(op, gy, sync):
    """(fwd, fwd_bwd, get) for minijoint on the active backend."""
    ts = [mj.Tensor(mj.to_device(a), requires_grad=g) for a, g in zip(op.arrays, op.grads)]
    g = mj.to_device(gy)

    def fwd():
        y = op.mj_fn(*ts)
        sync()
        return y

    def fwd_bwd():
        for t in ts:
            t.grad = None
        y = op.mj_fn(*ts)
        y.backward(g)
        sync()
        return y

    def get():
        y = fwd_bwd()
        return [mj.to_host(y.data)] + [mj.to_host(t.grad) for t in ts if t.requires_grad]
    return fwd, fwd_bwd, get


def pt_runner(torch, fn, arrays, gy, dev, grads):
    ts = [torch.from_numpy(a).to(dev).requires_grad_(g) for a, g in zip(arrays, grads)]
    g = torch.from_numpy(gy).to(dev)
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)

    def fwd():
        y = fn(*ts)
        sync()
        return y

    def fwd_bwd():
        for t in ts:
            t.grad = None
        y = fn(*ts)
        y.backward(g)
        sync()
        return y

    def get():
        y = fwd_bwd()
        return [y.detach().cpu().numpy()] + [t.grad.cpu().numpy() for t in ts if t.requires_grad]
    return fwd, fwd_bwd, get


def make_ops(dtype, torch, tm):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 16, 32, 32)).astype(dtype)
    W = (rng.standard_normal((16, 16, 3, 3)) * np.sqrt(2 / 144)).astype(dtype)
    c = (0.6 * rng.standard_normal((4, 32, 16, 32, 32)) + 0.3).astype(dtype)
    gamma = (1 + 0.1 * rng.standard_normal(16)).astype(dtype)
    beta = (0.1 * rng.standard_normal(16)).astype(dtype)
    TF = torch.nn.functional if torch else None
    ops = [
        Op("conv2d 3x3 s1 p1", [x, W], lambda a, b: F.conv2d(a, b, stride=1, padding=1),
           torch and {"PyTorch": lambda a, b: TF.conv2d(a, b, stride=1, padding=1)}),
        Op("conv2d 3x3 s2 p1", [x, W], lambda a, b: F.conv2d(a, b, stride=2, padding=1),
           torch and {"PyTorch": lambda a, b: TF.conv2d(a, b, stride=2, padding=1)}),
        Op("LIF", [c], lambda a: lif(a, TAU, V_TH),
           torch and {"PyTorch Function": lambda a: tm.LIFSequence.apply(a, TAU, V_TH, 1.0),
                      "PyTorch autograd loop": lambda a: tm.lif_autograd(a, TAU, V_TH, 1.0)}),
        Op("BatchNorm train", [x, gamma, beta],
           lambda a, g, b: F.batch_norm(a, g, b, None, None, training=True),
           torch and {"PyTorch": lambda a, g, b: TF.batch_norm(a, None, None, g, b, training=True)}),
    ]
    return ops


# bench_step.py's ResNet-18 at width 16: (name, C, OC, H = W, kernel, stride, padding)
LAYERS = [("stem", 3, 16, 32, 3, 1, 1), ("stage 1", 16, 16, 32, 3, 1, 1),
          ("stage 2 in", 16, 32, 32, 3, 2, 1), ("stage 2 shortcut", 16, 32, 32, 1, 2, 0),
          ("stage 2", 32, 32, 16, 3, 1, 1), ("stage 3 in", 32, 64, 16, 3, 2, 1),
          ("stage 3", 64, 64, 8, 3, 1, 1), ("stage 4 in", 64, 128, 8, 3, 2, 1),
          ("stage 4", 128, 128, 4, 3, 1, 1)]


def layer_arrays(rng, name, C, OC, H, k, dtype):
    """x (128, C, H, H) and W (OC, C, k, k) of one of ``LAYERS``: spikes (20 % ones) into
    every layer but the stem, which reads the image."""
    x = rng.standard_normal((128, C, H, H)) if name == "stem" else rng.random((128, C, H, H)) < 0.2
    W = rng.standard_normal((OC, C, k, k)) * np.sqrt(2 / (C * k * k))
    return x.astype(dtype), W.astype(dtype)


def make_layer_ops(dtype, torch, tm):
    """One conv2d per geometry of the step's network, on 128 samples (T·batch)."""
    rng = np.random.default_rng(0)
    TF = torch.nn.functional if torch else None
    ops = []
    for name, C, OC, H, k, s, p in LAYERS:
        x, W = layer_arrays(rng, name, C, OC, H, k, dtype)

        def mj_fn(a, b, s=s, p=p):
            return F.conv2d(a, b, stride=s, padding=p)

        def pt_fn(a, b, s=s, p=p):
            return TF.conv2d(a, b, stride=s, padding=p)
        label = f"{name}: {C}→{OC}, {H}×{H}, {k}×{k} s{s}"
        ops.append(Op(label, [x, W], mj_fn, torch and {"PyTorch": pt_fn},
                      grads=(name != "stem", True)))
    return ops


def short_row_copies(repeats, warmup):
    """The copies behind im2col and the channel-first layout, in float32, made by
    ``windows._copy_rows`` (a row as one 'void' value) and by plain assignment."""
    from minijoint.functional.windows import _copy_rows
    rng = np.random.default_rng(0)
    f32 = np.float32

    def case(src, dst):
        def plain():
            dst[...] = src
        return {"plain": plain, "rows": lambda: _copy_rows(dst, src)}
    x4 = rng.standard_normal((128, 43, 6, 6)).astype(f32)       # x_cn of 4×4 maps, padded
    x8 = rng.standard_normal((64, 42, 10, 10)).astype(f32)      # x_cn of 8×8 maps, padded
    x32 = rng.standard_normal((128, 16, 32, 32)).astype(f32)    # x (N, C, H, W)
    cases = {
        "im2col row copy, 4×4 maps (C 128, 43 samples)":
            case(x4[:, :, 1:5, 2:6], np.empty((128, 43, 4, 4), f32)),
        "im2col row copy, 8×8 maps (C 64, 42 samples)":
            case(x8[:, :, 1:9, 2:10], np.empty((64, 42, 8, 8), f32)),
        "channel-first padded copy, (128, 16, 32, 32)":
            case(x32.transpose(1, 0, 2, 3), np.zeros((16, 128, 34, 34), f32)[:, :, 1:33, 1:33]),
    }
    print("\nshort-row copies (float32, 1 thread): plain assignment against windows._copy_rows;"
          "\nwarm caches, as inside a convolution, whose source was just written (no gc between)")
    print(f"{'copy':<48} {'plain ms':>14} {'_copy_rows ms':>16} {'speed-up':>9}")
    for name, fns in cases.items():
        t = {k: [] for k in fns}
        for i in range(warmup + repeats):   # interleaved, median of the timed calls
            for k, fn in fns.items():
                t0 = time.perf_counter()
                fn()
                if i >= warmup:
                    t[k].append(time.perf_counter() - t0)
        p, r = (1e3 * statistics.median(t[k]) for k in ("plain", "rows"))
        print(f"{name:<48} {p:14.3f} {r:16.3f} {p / r:8.2f}×")


def agreement(mj_vals, pt_vals) -> float:
    return max(float(np.linalg.norm(a.astype(np.float64) - b) / max(np.linalg.norm(b), 1e-30))
               for a, b in zip(mj_vals, pt_vals))


def main(argv=None):
    args = parse_args(argv)
    started = common.start(args)
    if started is None:
        return 0
    torch, tm, why = started
    dev = "cuda" if args.backend == "cupy" and torch is not None and torch.cuda.is_available() \
        else "cpu"
    print(f"backend {args.backend}; {args.warmup} warm-up + {args.repeats} timed calls per op, "
          f"interleaved")
    if torch is None:
        print(f"PyTorch: skipped ({why})")
    elif args.backend == "cupy" and dev == "cpu":
        print("PyTorch has no CUDA here: its column is a CPU time")
    if args.backend == "cupy":
        import cupy
        sync = cupy.cuda.Device().synchronize
    else:
        def sync():
            return None
    rows, t0 = [], time.perf_counter()
    for dtype in args.dtypes:
        with mj.using_backend(args.backend), mj.default_dtype(np.dtype(dtype)):
            for op in (make_layer_ops if args.layers else make_ops)(dtype, torch, tm):
                rng = np.random.default_rng(1)
                y_shape = mj.to_host(op.mj_fn(*[mj.Tensor(mj.to_device(a)) for a in op.arrays]).data).shape
                gy = rng.standard_normal(y_shape).astype(dtype)
                m_fwd, m_fb, m_get = mj_runner(op, gy, sync)
                fns_fb, fns_f = {"mj": m_fb}, {"mj": m_fwd}
                for label, fn in op.pt_fns.items():
                    p_fwd, p_fb, p_get = pt_runner(torch, fn, op.arrays, gy, dev, op.grads)
                    fns_fb[label], fns_f[label] = p_fb, p_fwd
                    if dtype == "float64":
                        print(f"  {op.name} vs {label}, float64: largest relative difference of "
                              f"output and gradients {agreement(m_get(), p_get()):.1e}")
                t_fb = common.time_interleaved(fns_fb, args.repeats, args.warmup)
                t_f = common.time_interleaved(fns_f, args.repeats, args.warmup)
                labels = list(op.pt_fns) or [None]
                for label in labels:
                    suffix = "" if label in (None, "PyTorch") else f" (vs {label})"
                    rows.append((f"{op.name} fwd+bwd{suffix}", dtype, t_fb["mj"], t_fb.get(label)))
                    rows.append((f"{op.name} fwd{suffix}", dtype, t_f["mj"], t_f.get(label)))
    if args.layers:   # fwd+bwd only, and their sum repeat by repeat
        rows = [r for r in rows if r[0].endswith("fwd+bwd")]

        def total(k):
            return None if rows[0][k] is None else [sum(ts) for ts in zip(*(r[k] for r in rows))]
        rows.append(("all of the above (one each), fwd+bwd", "float32", total(2), total(3)))
    common.print_table(f"{'the ResNet-18 convolutions' if args.layers else 'single ops'}, "
                       f"{args.threads} thread(s)", rows, left="op")
    if args.backend == "numpy" and not args.layers:
        short_row_copies(20 * args.repeats, args.warmup)
    print(f"(took {time.perf_counter() - t0:.0f} s)")
    print(common.load_line("load average at end"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
