r"""One training step of the spiking ResNet-18, minijoint against PyTorch (issue 8).

Cases (both at width 16, T = 4, batch 32, 32×32×3 input, 10 classes by default):

* ``snn``:   ``JointNet(arch="resnet18", paths=("snn",), wft=False)``, loss CE of the final
  branch (the ``snn`` row of Table 4);
* ``joint``: ``JointNet(arch="resnet18", paths=("ann", "snn"), wft=True)``, loss
  ``JointLoss()`` (Eq. 10: CE of all 8 branches + λ₁·KLD + λ₂·Norm; the ``full`` row).

A step is forward + backward + Adam (lr 1e-3, weight decay 5e-4). The PyTorch twin
(torch_models.py) gets minijoint's initial weights, and the first step of every case
compares the two frameworks' losses and gradients; the steps are then timed interleaved
(minijoint, PyTorch, minijoint, …), median of ``--repeats`` after ``--warmup``. Peak memory
of a step is measured per framework in a subprocess (memory.py, benchmarks/README.md), at
``--T`` and, with ``--T-sweep 1,2,4,8``, against T. The steps themselves: steps.py.

    python benchmarks/bench_step.py [--threads 1] [--batch 32] [--width 16] [--T 4]
                                    [--repeats 5] [--profile] [--backend cupy]
                                    [--T-sweep 1,2,4,8]
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (nothing heavy yet: the BLAS thread variables come first)

common.set_thread_env(common.threads_from_argv(sys.argv))

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import pstats  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import minijoint as mj  # noqa: E402
from memory import memory_child, run_gpu_memory, run_memory, run_T_sweep  # noqa: E402
from steps import CASES, CLASSES, SIDE, MjStep, TorchStep, make_data  # noqa: E402

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1, help="threads for BOTH libraries (default 1)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--T", type=int, default=4)
    p.add_argument("--repeats", type=int, default=5, help="timed steps per case (median)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (>= 2)")
    p.add_argument("--cases", default="snn,joint", help="comma list of: snn, joint")
    p.add_argument("--dtypes", default="float32,float64", help="comma list")
    p.add_argument("--memory-dtypes", default="float32",
                   help="dtypes whose peak memory is measured ('' to skip)")
    p.add_argument("--T-sweep", default="",
                   help="comma list of T (e.g. 1,2,4,8): also the peak memory of a float32 step "
                        "against T, both libraries ('' to skip)")
    p.add_argument("--malloc", default="mmap", choices=("mmap", "default"),
                   help="glibc malloc setting of the memory subprocesses (see README)")
    p.add_argument("--profile", action="store_true",
                   help="also cProfile minijoint's float32 steps (top 15 by tottime)")
    p.add_argument("--backend", default="numpy", choices=("numpy", "cupy"),
                   help="minijoint backend; with cupy, PyTorch runs on cuda when it can")
    p.add_argument("--torch-lif", default="function", choices=("function", "autograd"),
                   help="PyTorch LIF: one autograd.Function (default) or the autograd loop")
    p.add_argument("--no-torch", action="store_true", help="time minijoint only")
    p.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.cases = [c for c in args.cases.split(",") if c]
    args.dtypes = [d for d in args.dtypes.split(",") if d]
    args.memory_dtypes = [d for d in args.memory_dtypes.split(",") if d]
    args.T_sweep = [int(t) for t in args.T_sweep.split(",") if t]
    for c in args.cases:
        if c not in CASES:
            p.error(f"--cases: unknown case {c!r}, expected some of {sorted(CASES)}")
    for d in args.dtypes + args.memory_dtypes:
        if d not in ("float32", "float64"):
            p.error(f"dtype must be float32 or float64, got {d!r}")
    return args


def twin_check(mjs, pts, tm, label):
    """One step of each, comparing the losses and every parameter gradient before Adam."""
    with mjs.ctx():
        loss_mj = mjs.forward()
        mjs.backward(loss_mj)
    loss_pt = pts.forward()
    pts.backward(loss_pt)
    theirs = dict(pts.model.named_parameters())
    worst, where, n = 0.0, "", 0
    for name, p in mjs.model.named_parameters():
        gt = theirs[tm._torch_name(name)].grad
        if (p.grad is None) != (gt is None):
            raise AssertionError(f"twin check {label}: {name} has a gradient in only one framework")
        if gt is None:
            continue
        gm, gt = mj.to_host(p.grad).astype(np.float64), gt.detach().cpu().double().numpy()
        rel = np.linalg.norm(gm - gt) / max(np.linalg.norm(gt), 1e-30)
        n += 1
        if rel > worst:
            worst, where = rel, name
    with mjs.ctx():
        mjs.opt.step()
    pts.opt.step()
    lm, lp = float(mj.to_host(loss_mj.data)), float(loss_pt.item())
    print(f"  twin check {label}: loss minijoint {lm:.6f}, PyTorch {lp:.6f} (|Δ| {abs(lm - lp):.1e});"
          f" largest relative gradient difference {worst:.1e} ({where}) over {n} gradients"
          + ("" if "float64" in label else
             " [float32: a few spikes flip at the threshold under different rounding; "
             "float64 is the exact check]"))


def dtype_check(mjs):
    """A float32 step in which every graph tensor, saved array, gradient and Adam moment is
    asserted float32 (no silent float64 promotion)."""
    with mjs.ctx():
        loss = mjs.forward()
        seen, stack, bad, n_arrays = set(), [loss], [], 0
        while stack:
            t = stack.pop()
            if id(t) in seen:
                continue
            seen.add(id(t))
            if t.dtype != np.float32:
                bad.append(f"tensor {tuple(t.shape)} {t.dtype}")
            if t.creator is not None:
                for k, v in vars(t.creator.ctx).items():
                    if getattr(v, "dtype", None) is not None and v.dtype.kind == "f":
                        n_arrays += 1
                        if v.dtype != np.float32:
                            bad.append(f"{t.creator.fn.__name__} saved {k} as {v.dtype}")
                stack.extend(x for x in t.creator.inputs if x is not None)
        mjs.backward(loss)
        mjs.opt.step()
    grads = [(n, p.grad) for n, p in mjs.model.named_parameters() if p.grad is not None]
    bad += [f"grad of {n}: {g.dtype}" for n, g in grads if g.dtype != np.float32]
    bad += [f"param {n}: {p.dtype}" for n, p in mjs.model.named_parameters() if p.dtype != np.float32]
    moments = [v for s in mjs.opt.state for k, v in s.items() if k in ("m", "v")]
    bad += [f"Adam moment {v.dtype}" for v in moments if v.dtype != np.float32]
    assert not bad, "dtype check failed: " + "; ".join(bad[:10])
    print(f"  dtype check: ok ({len(seen)} graph tensors, {n_arrays} arrays saved for backward, "
          f"{len(grads)} gradients, {len(moments)} Adam moments: all float32)")


def profile(mjs, label, steps=3):
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(steps):
        mjs()
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(15)
    print(f"\ncProfile of {steps} minijoint steps, {label} (top 15 by tottime):")
    print("\n".join(ln for ln in out.getvalue().splitlines()[4:] if ln.strip()))


def main(argv=None):
    args = parse_args(argv)
    if args.memory_child:
        return memory_child(args)
    started = common.start(args)
    if started is None:
        return 0
    torch, tm, why = started
    print(f"config: resnet18, width {args.width}, T {args.T}, batch {args.batch}, {SIDE}×{SIDE}×3, "
          f"{CLASSES} classes; Adam; backend {args.backend}; PyTorch LIF: {args.torch_lif}; "
          f"{args.warmup} warm-up + {args.repeats} timed steps per case, interleaved")
    if torch is None:
        print(f"PyTorch: skipped ({why})")
    if args.backend == "cupy" and torch is not None and not torch.cuda.is_available():
        print("PyTorch has no CUDA here: its column is a CPU time")
    rows, to_profile, t_start = [], [], time.perf_counter()
    for dtype in args.dtypes:
        for case in args.cases:
            x, y = make_data(args, dtype)
            mjs = MjStep(case, dtype, args, x, y)
            pts = TorchStep(torch, tm, case, dtype, args, x, y, mjs.model) if torch else None
            if pts is not None:                    # warm-up step 1 doubles as the checks
                twin_check(mjs, pts, tm, f"{case} {dtype}")
            else:
                mjs()
            done = 1
            if dtype == "float32":                 # and warm-up step 2 here
                dtype_check(mjs)
                if pts is not None:
                    pts()
                done = 2
            fns = {"minijoint": mjs} if pts is None else {"minijoint": mjs, "torch": pts}
            cpu = {}
            times = common.time_interleaved(fns, args.repeats, max(args.warmup - done, 0), cpu)
            rows.append((f"{case} step", dtype, times["minijoint"], times.get("torch")))
            ms = {k: 1e3 * statistics.median(v) for k, v in times.items()}
            print(f"  {case} {dtype}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in ms.items()))
            if args.backend == "numpy":   # minijoint's threads never spin: CPU time is work
                print(f"  {case} {dtype}: minijoint CPU time per step, all threads: "
                      f"{1e3 * statistics.median(cpu['minijoint']):.0f} ms")
            if args.profile and dtype == "float32":
                to_profile.append((mjs, f"{case} step, float32"))
    common.print_table(f"training step (forward + backward + Adam), {args.threads} thread(s)", rows)
    print(f"(timing took {time.perf_counter() - t_start:.0f} s)")
    if args.memory_dtypes and args.backend == "numpy":
        run_memory(args, torch)
    elif args.memory_dtypes:
        run_gpu_memory(args, torch, tm)
    if args.T_sweep and args.backend == "numpy":
        run_T_sweep(args, torch)
    for mjs, label in to_profile:
        profile(mjs, label)
    print("\n" + common.load_line("load average at end"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
