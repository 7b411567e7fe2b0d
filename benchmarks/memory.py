r"""Peak memory of one training step (bench_step.py), minijoint against PyTorch.

On the CPU each framework runs in a subprocess of its own (``bench_step.py --memory-child``,
:func:`memory_child`): build the model and optimizer, one warm-up step, then the RSS
high-water mark of one more step minus the RSS before it (see benchmarks/README.md).
:func:`run_memory` prints that per case at ``--T``; :func:`run_T_sweep` prints it against T
(``--T-sweep 1,2,4,8``), where the spikes saved for the backward are most of the difference.
On the GPU (:func:`run_gpu_memory`) both run in this process and count live arrays.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import common
from steps import MjStep, TorchStep, make_data

MALLOC_NOTE = {"mmap": "MALLOC_MMAP_THRESHOLD_=131072 (freed arrays go back to the OS at once, "
                       "so RSS follows the live arrays of either library)",
               "default": "default settings (freed heap memory may stay resident: allocator "
                          "behaviour counts)"}
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_step.py")


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


def measure(args, torch, jobs) -> dict:
    """Run a memory child per (dtype, case, T) of ``jobs`` and framework, all at once (RSS is
    per process, not per machine); return {(dtype, case, T, framework): result}."""
    frameworks = ["minijoint"] + (["torch"] if torch is not None else [])
    env = dict(os.environ)
    if args.malloc == "mmap":        # every block >= 128 KiB its own mmap: RSS = live arrays
        env["MALLOC_MMAP_THRESHOLD_"] = str(128 * 1024)
    else:
        env.pop("MALLOC_MMAP_THRESHOLD_", None)
    procs = {}
    for dtype, case, T in jobs:
        for fw in frameworks:
            cmd = [sys.executable, SCRIPT, "--memory-child", fw, "--cases", case,
                   "--dtypes", dtype, "--batch", str(args.batch), "--width", str(args.width),
                   "--T", str(T), "--threads", str(args.threads), "--torch-lif", args.torch_lif]
            procs[dtype, case, T, fw] = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    res = {}
    for key, proc in procs.items():
        out, err = proc.communicate(timeout=900)
        lines = [ln for ln in out.splitlines() if ln.startswith("MEMORY_JSON ")]
        if proc.returncode or not lines:
            raise RuntimeError(f"memory child {key} failed:\n{err[-2000:]}")
        res[key] = json.loads(lines[-1].split(" ", 1)[1])
    return res


def _title(args, what):
    print(f"\npeak memory of one training step{what}: RSS high-water mark minus the RSS after "
          f"the model, the optimizer state and one warm-up step, each framework in its own "
          f"process; glibc malloc: {MALLOC_NOTE[args.malloc]}")


def _ratio(m, t) -> str:
    return f"{m['growth_kib'] / t['growth_kib']:6.2f}" if t else "     -"


def run_memory(args, torch):
    _title(args, "")
    res = measure(args, torch, [(d, c, args.T) for d in args.memory_dtypes for c in args.cases])
    print(f"{'case':<6}  {'dtype':<8}  {'minijoint MiB':>13}  {'(tracemalloc)':>13}  "
          f"{'PyTorch MiB':>11}  {'ratio':>6}  baseline RSS MiB (mj / pt)")
    for dtype in args.memory_dtypes:
        for case in args.cases:
            m, t = res[dtype, case, args.T, "minijoint"], res.get((dtype, case, args.T, "torch"))
            print(f"{case:<6}  {dtype:<8}  {mib(m['growth_kib']):>13}  "
                  f"{mib(m['tracemalloc_peak_kib']):>13}  "
                  f"{mib(t['growth_kib']) if t else 'skipped':>11}  {_ratio(m, t)}  "
                  f"{mib(m['base_kib'])} / {mib(t['base_kib']) if t else '-'}")
            if not m["hwm_reset"]:
                print("  (could not reset VmHWM: growth measured from ru_maxrss, an upper bound)")


def run_T_sweep(args, torch):
    """The peak step memory of each case against T (``--T-sweep``), float32."""
    _title(args, f" against T (float32, batch {args.batch}, width {args.width})")
    res = measure(args, torch, [("float32", c, T) for c in args.cases for T in args.T_sweep])
    print(f"{'case':<6}  {'T':>3}  {'minijoint MiB':>13}  {'PyTorch MiB':>11}  {'ratio':>6}")
    for case in args.cases:
        for T in args.T_sweep:
            m, t = res["float32", case, T, "minijoint"], res.get(("float32", case, T, "torch"))
            print(f"{case:<6}  {T:>3}  {mib(m['growth_kib']):>13}  "
                  f"{mib(t['growth_kib']) if t else 'skipped':>11}  {_ratio(m, t)}")


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
