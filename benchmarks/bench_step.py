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
of a step is measured per framework in a subprocess (see benchmarks/README.md).

    python benchmarks/bench_step.py [--threads 1] [--batch 32] [--width 16] [--T 4]
                                    [--repeats 5] [--profile] [--backend cupy]
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (nothing heavy yet: the BLAS thread variables come first)

common.set_thread_env(common.threads_from_argv(sys.argv))

import argparse  # noqa: E402
import contextlib  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import pstats  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import minijoint as mj  # noqa: E402
from minijoint.joint.loss import JointLoss  # noqa: E402
from minijoint.models import JointNet  # noqa: E402
from minijoint.optim import Adam  # noqa: E402

CASES = {"snn": dict(paths=("snn",), wft=False), "joint": dict(paths=("ann", "snn"), wft=True)}
LR, WEIGHT_DECAY, CLASSES, SIDE = 1e-3, 5e-4, 10, 32
MALLOC_NOTE = {"mmap": "MALLOC_MMAP_THRESHOLD_=131072 (freed arrays go back to the OS at once, "
                       "so RSS follows the live arrays of either library)",
               "default": "default settings (freed heap memory may stay resident: allocator "
                          "behaviour counts)"}


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
    for c in args.cases:
        if c not in CASES:
            p.error(f"--cases: unknown case {c!r}, expected some of {sorted(CASES)}")
    for d in args.dtypes + args.memory_dtypes:
        if d not in ("float32", "float64"):
            p.error(f"dtype must be float32 or float64, got {d!r}")
    return args


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


def memory_child(args):
    """Run in a fresh process: one warm-up step, then the peak RSS growth of one more step
    (and, for minijoint, tracemalloc's peak of the same step)."""
    case, dtype, fw = args.cases[0], args.dtypes[0], args.memory_child
    x, y = make_data(args, dtype)
    if fw == "minijoint":
        common.limit_threads(args.threads)
        step = MjStep(case, dtype, args, x, y)
    else:
        torch, _ = common.import_torch()
        common.limit_threads(args.threads, torch)
        import torch_models as tm
        step = TorchStep(torch, tm, case, dtype, args, x, y)
    step()                                          # Adam moments, lazy initialisation
    common.release_free_memory()
    base = common.rss_kib()
    reset = common.reset_peak_rss()
    if fw == "minijoint":                           # NumPy reports its buffers to tracemalloc
        import tracemalloc
        tracemalloc.start()
    step()
    peak = common.peak_rss_kib(reset)
    out = dict(base_kib=base, peak_kib=peak, growth_kib=peak - base, hwm_reset=reset)
    if fw == "minijoint":
        out["tracemalloc_peak_kib"] = tracemalloc.get_traced_memory()[1] / 1024
        tracemalloc.stop()
    print("MEMORY_JSON " + json.dumps(out))


def run_memory(args, torch):
    frameworks = ["minijoint"] + (["torch"] if torch is not None else [])
    env = dict(os.environ)
    if args.malloc == "mmap":        # every block >= 128 KiB its own mmap: RSS = live arrays
        env["MALLOC_MMAP_THRESHOLD_"] = str(128 * 1024)
    else:
        env.pop("MALLOC_MMAP_THRESHOLD_", None)
    print(f"\npeak memory of one training step: RSS high-water mark minus the RSS after the "
          f"model, the optimizer state and one warm-up step, each framework in its own process; "
          f"glibc malloc: {MALLOC_NOTE[args.malloc]}")
    print(f"{'case':<6}  {'dtype':<8}  {'minijoint MiB':>13}  {'(tracemalloc)':>13}  "
          f"{'PyTorch MiB':>11}  {'ratio':>6}  baseline RSS MiB (mj / pt)")
    procs = {}                       # every child at once: RSS is per process, not per machine
    for dtype in args.memory_dtypes:
        for case in args.cases:
            for fw in frameworks:
                cmd = [sys.executable, os.path.abspath(__file__), "--memory-child", fw,
                       "--cases", case, "--dtypes", dtype, "--batch", str(args.batch),
                       "--width", str(args.width), "--T", str(args.T),
                       "--threads", str(args.threads), "--torch-lif", args.torch_lif]
                procs[dtype, case, fw] = subprocess.Popen(
                    cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    res = {}
    for key, proc in procs.items():
        out, err = proc.communicate(timeout=900)
        lines = [ln for ln in out.splitlines() if ln.startswith("MEMORY_JSON ")]
        if proc.returncode or not lines:
            raise RuntimeError(f"memory child {key} failed:\n{err[-2000:]}")
        res[key] = json.loads(lines[-1].split(" ", 1)[1])
    for dtype in args.memory_dtypes:
        for case in args.cases:
            m, t = res[dtype, case, "minijoint"], res.get((dtype, case, "torch"))
            ratio = f"{m['growth_kib'] / t['growth_kib']:6.2f}" if t else "     -"
            print(f"{case:<6}  {dtype:<8}  {mib(m['growth_kib']):>13}  "
                  f"{mib(m['tracemalloc_peak_kib']):>13}  "
                  f"{mib(t['growth_kib']) if t else 'skipped':>11}  {ratio}  "
                  f"{mib(m['base_kib'])} / {mib(t['base_kib']) if t else '-'}")
            if not m["hwm_reset"]:
                print("  (could not reset VmHWM: growth measured from ru_maxrss, an upper bound)")


def run_gpu_memory(args, torch, tm):
    """Peak GPU memory of one training step, in this process: the most bytes of live arrays
    the step holds above those live at its start (model, optimizer state, data), after one
    warm-up step. minijoint: a CuPy memory hook adding up its pool's malloc and free;
    PyTorch: ``torch.cuda.max_memory_allocated()``. Both count arrays, not the memory the
    allocators keep cached, and both round blocks to 512 bytes."""
    from cupy.cuda.memory_hook import MemoryHook

    class Peak(MemoryHook):
        name = "bench_step peak"

        def __init__(self):
            self.live = self.peak = 0

        def malloc_postprocess(self, **kw):
            self.live += kw["mem_size"]
            self.peak = max(self.peak, self.live)

        def free_postprocess(self, **kw):
            self.live -= kw["mem_size"]

    cuda = torch is not None and torch.cuda.is_available()
    print("\npeak GPU memory of one training step: live arrays above those at its start "
          "(CuPy memory hook / torch.cuda.max_memory_allocated), after one warm-up step")
    print(f"{'case':<6}  {'dtype':<8}  {'minijoint MiB':>13}  {'PyTorch MiB':>11}  {'ratio':>6}")
    for dtype in args.memory_dtypes:
        for case in args.cases:
            x, y = make_data(args, dtype)
            step = MjStep(case, dtype, args, x, y)
            step()
            hook = Peak()
            with hook:
                step()
            mj_kib, pt_kib = hook.peak / 1024, None
            del step
            if cuda:
                step = TorchStep(torch, tm, case, dtype, args, x, y)
                step()
                base = torch.cuda.memory_allocated()
                torch.cuda.reset_peak_memory_stats()
                step()
                pt_kib = (torch.cuda.max_memory_allocated() - base) / 1024
                del step
                torch.cuda.empty_cache()
            ratio = f"{mj_kib / pt_kib:6.2f}" if pt_kib else "     -"
            print(f"{case:<6}  {dtype:<8}  {mib(mj_kib):>13}  "
                  f"{mib(pt_kib) if pt_kib else 'skipped':>11}  {ratio}")


def mib(kib) -> str:
    return f"{kib / 1024:.1f}"


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
            times = common.time_interleaved(fns, args.repeats, max(args.warmup - done, 0))
            rows.append((f"{case} step", dtype, times["minijoint"], times.get("torch")))
            ms = {k: 1e3 * statistics.median(v) for k, v in times.items()}
            print(f"  {case} {dtype}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in ms.items()))
            if args.profile and dtype == "float32":
                to_profile.append((mjs, f"{case} step, float32"))
    common.print_table(f"training step (forward + backward + Adam), {args.threads} thread(s)", rows)
    print(f"(timing took {time.perf_counter() - t_start:.0f} s)")
    if args.memory_dtypes and args.backend == "numpy":
        run_memory(args, torch)
    elif args.memory_dtypes:
        run_gpu_memory(args, torch, tm)
    for mjs, label in to_profile:
        profile(mjs, label)
    print("\n" + common.load_line("load average at end"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
