"""Helpers shared by bench_step.py and bench_ops.py: threads, optional PyTorch, timing,
tables, peak memory. Imports nothing heavy at module level, so a script can set the BLAS
thread variables (:func:`set_thread_env`) before NumPy loads."""
from __future__ import annotations

import contextlib
import gc
import os
import platform
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:        # benchmark this checkout, installed or not
    sys.path.insert(0, ROOT)

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_keep = []                      # the thread setting, alive for the whole run


def threads_from_argv(argv, default: int = 1) -> int:
    """The value of ``--threads N`` / ``--threads=N`` in argv (``default`` if absent)."""
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return default


def set_thread_env(n: int) -> None:
    """OMP/OpenBLAS/MKL thread variables = n (call before NumPy or PyTorch is imported)."""
    for v in THREAD_VARS:
        os.environ[v] = str(n)


def import_torch():
    """(torch, None), or (None, why it was skipped): PyTorch is optional."""
    try:
        import torch
    except ImportError as e:
        return None, f"PyTorch not installed ({e}); pip install torch to compare"
    return torch, None


def start(args):
    """The opening both scripts share: skip cleanly when ``--backend cupy`` has no GPU, import
    PyTorch if present, print the machine and limit the threads. Returns
    ``(torch, torch_models, why_skipped)``, or None when the run is skipped."""
    import minijoint as mj
    if args.backend == "cupy" and not mj.gpu_available():
        print(f"--backend cupy: skipped, {mj.gpu_problem()}")
        return None
    torch, why = (None, "--no-torch given") if args.no_torch else import_torch()
    tm = None
    if torch is not None:
        import torch_models as tm
    print("\n".join(machine_info(torch)))
    if args.backend == "cupy":
        print("\n".join(gpu_info(torch)))
    print(limit_threads(args.threads, torch))
    return torch, tm, why


def limit_threads(n: int, torch=None) -> str:
    """n threads for both libraries, for the rest of the run: minijoint's one setting,
    ``minijoint.threads.using_threads(n)`` (n threads: the caller and n − 1 workers, BLAS
    at 1 thread), and PyTorch's ``set_num_threads(n)``; return a line saying what was set."""
    import minijoint.threads as mt
    from threadpoolctl import threadpool_info
    stack = contextlib.ExitStack()
    stack.enter_context(mt.using_threads(n))
    _keep.append(stack)
    blas = ", ".join(f"{i['internal_api']}={i['num_threads']}" for i in threadpool_info()
                     if i["user_api"] == "blas")
    parts = [f"minijoint: using_threads({n}), op threads {mt.get_threads()} (the caller and "
             f"{mt.get_threads() - 1} more), BLAS {blas}"]
    if torch is not None:
        torch.set_num_threads(n)
        parts.append(f"torch.get_num_threads()={torch.get_num_threads()}")
    return f"threads: {n} for both libraries ({'; '.join(parts)})"


def machine_info(torch=None) -> list:
    """Lines describing the machine and the library versions (PyTorch's when it is used)."""
    import numpy as np
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{blas.get('name')} {blas.get('version')}"
    except Exception:
        blas = "?"
    lines = [f"machine: {cpu}, {os.cpu_count()} logical CPUs, {platform.system()} "
             f"{platform.release()}",
             f"python {platform.python_version()}, numpy {np.__version__} ({blas})"
             + (f", torch {torch.__version__}" if torch is not None else "")]
    lines.append(load_line("load average at start"))
    return lines


def gpu_info(torch=None) -> list:
    """Lines naming the GPU, CuPy and CUDA; with PyTorch on CUDA, its float32 made IEEE."""
    import cupy
    rt = cupy.cuda.runtime
    name = rt.getDeviceProperties(cupy.cuda.Device().id)["name"]
    name = name.decode() if isinstance(name, bytes) else name
    lines = [f"gpu: {name}; cupy {cupy.__version__}, CUDA runtime {rt.runtimeGetVersion()}, "
             f"driver {rt.driverGetVersion()}; CUPY_TF32={os.environ.get('CUPY_TF32', '0')}"]
    if torch is not None and torch.cuda.is_available():
        lines.append(torch_ieee_fp32(torch))
    return lines


def torch_ieee_fp32(torch) -> str:
    """Make PyTorch compute float32 convolutions and products in float32 on CUDA.

    cuDNN's default lets float32 convolutions run in TF32 (a 10-bit mantissa), while CuPy's
    products are float32 unless CUPY_TF32=1: without this, PyTorch's float32 column would
    time lower-precision arithmetic, and the twin check would differ by TF32's rounding."""
    conv = getattr(torch.backends.cudnn, "conv", None)
    if hasattr(conv, "fp32_precision"):  # PyTorch >= 2.9; mixing in the old flags is an error
        conv.fp32_precision = "ieee"
        torch.backends.cuda.matmul.fp32_precision = "ieee"
        return "PyTorch float32 on CUDA: IEEE, no TF32 (cudnn.conv/cuda.matmul fp32_precision)"
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    return "PyTorch float32 on CUDA: no TF32 (cudnn.allow_tf32 = cuda.matmul.allow_tf32 = False)"


def load_line(what: str) -> str:
    try:
        one, five, _ = os.getloadavg()
        return (f"{what}: {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"
                + ("  <- shared machine under load: timings are noisy" if one > 0.8 * os.cpu_count() else ""))
    except OSError:
        return f"{what}: unknown"


def time_interleaved(fns: dict, repeats: int, warmup: int, cpu: dict | None = None) -> dict:
    """Call every fn ``warmup`` times, then ``repeats`` rounds in turn (interleaved, so a
    burst of load on a shared machine hits every library alike); each fn must block until
    its work is done (synchronize a GPU inside). Returns {name: [seconds, ...]}. Given a
    dict ``cpu``, also fills it with {name: [CPU seconds of the whole process, ...]}."""
    for _ in range(warmup):
        for f in fns.values():
            f()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            gc.collect()
            c0, t0 = time.process_time(), time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
            if cpu is not None:
                cpu.setdefault(k, []).append(time.process_time() - c0)
    return times


def fmt_ms(ts) -> str:
    if not ts:
        return "skipped"
    return f"{1e3 * statistics.median(ts):8.1f} ({1e3 * min(ts):.1f})"


def print_table(title: str, rows, left: str = "case") -> None:
    """rows: (case, dtype, minijoint seconds list, PyTorch seconds list or None)."""
    print(f"\n{title}")
    print("median ms (min ms) over the timed repeats; ratio = minijoint median / PyTorch median")
    w = max([len(left)] + [len(r[0]) for r in rows])
    print(f"{left:<{w}}  {'dtype':<8}  {'minijoint ms':>18}  {'PyTorch ms':>18}  {'ratio':>6}")
    for case, dtype, mj, pt in rows:
        ratio = f"{statistics.median(mj) / statistics.median(pt):6.2f}" if pt else "     -"
        print(f"{case:<{w}}  {dtype:<8}  {fmt_ms(mj):>18}  {fmt_ms(pt):>18}  {ratio}")


# ---- peak memory (Linux: /proc/self) -------------------------------------------------
def _status_kib(key: str):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def release_free_memory() -> None:
    """gc, then glibc's malloc_trim(0): hand freed heap pages back, for a clean RSS baseline."""
    gc.collect()
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (VmHWM) to the current RSS; False if impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def rss_kib():
    """Current resident set size in KiB."""
    return _status_kib("VmRSS")


def peak_rss_kib(reset_worked: bool):
    """Peak RSS in KiB since :func:`reset_peak_rss` (or since the process started)."""
    if reset_worked:
        return _status_kib("VmHWM")
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
