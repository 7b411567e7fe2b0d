r"""Two checkouts of minijoint timed against each other, call by call.

    git worktree add /tmp/before <commit>          # the code to compare against
    python benchmarks/compare_trees.py /tmp/before . [--threads 1] [--rounds 8]

OLD and NEW are directories that hold a ``minijoint`` package. The workloads: bench_step.py's
snn float32 training step and, unless ``--no-layers``, every convolution geometry of
``bench_ops.py --layers``, forward + backward. The measuring code is this checkout's for
both trees; only the package differs. Printed per workload: the median time of each tree
and the median (and quartiles) of the NEW / OLD ratio over pairs of calls.

Why: on a shared machine a time moves by 10-30 % from minute to minute, as other machines'
jobs load the memory system, and a change worth a few percent drowns in that. Two calls
made one right after the other see nearly the same machine, so their ratio moves far
less than either time. At 1 thread both trees are imported into this one process and
each pair is two calls in a row (in alternating order). At more threads each tree runs in
a process of its own, one pair of processes per round: in one process the thread pool of
the tree imported first ran slower (an A/A comparison at 2 threads gave 0.75), and that
pairs only at the scale of a process (~10 s), so expect wider quartiles there.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def load_tree(tree: str) -> dict:
    """Import the minijoint of ``tree`` (and this checkout's steps.py on it); return its
    modules, to be put back into ``sys.modules`` before its code runs (:func:`use`)."""
    mine = [k for k in sys.modules if k.split(".")[0] in ("minijoint", "steps", "bench_ops")]
    for k in mine:
        del sys.modules[k]
    saved = list(sys.path)
    sys.path[:0] = [os.path.abspath(tree), HERE]
    try:
        for name in ("minijoint", "minijoint.functional", "minijoint.threads", "steps",
                     "bench_ops"):
            importlib.import_module(name)
    finally:
        sys.path[:] = saved
    return {k: m for k, m in sys.modules.items()
            if k.split(".")[0] in ("minijoint", "steps", "bench_ops")}


def use(modules: dict):
    sys.modules.update(modules)
    return modules


def workloads(modules: dict, args) -> dict:
    """{name: fn}: each fn runs one timed unit of work with this tree's code and returns
    its seconds: the snn float32 training step, and each convolution fwd + bwd."""
    import numpy as np
    use(modules)
    mj, F, steps = modules["minijoint"], modules["minijoint.functional"], modules["steps"]
    step_args = argparse.Namespace(batch=32, width=16, T=4, backend="numpy")
    x, y = steps.make_data(step_args, "float32")
    step = steps.MjStep("snn", "float32", step_args, x, y)

    def run_step():
        use(modules)
        t0 = time.perf_counter()
        step()
        return time.perf_counter() - t0
    fns = {"snn step": run_step}
    rng = np.random.default_rng(0)
    bench_ops = modules["bench_ops"]
    for name, C, OC, H, k, s, p in ([] if args.no_layers else bench_ops.LAYERS):
        xa, Wa = bench_ops.layer_arrays(rng, name, C, OC, H, k, np.float32)
        OH = (H + 2 * p - k) // s + 1
        gy = rng.standard_normal((128, OC, OH, OH)).astype(np.float32)

        def run_conv(xa=xa, Wa=Wa, gy=gy, stem=name == "stem", s=s, p=p):
            use(modules)
            xt, Wt = mj.Tensor(xa, requires_grad=not stem), mj.Tensor(Wa, requires_grad=True)
            t0 = time.perf_counter()
            F.conv2d(xt, Wt, stride=s, padding=p).backward(gy)
            return time.perf_counter() - t0
        fns[f"conv {name}"] = run_conv
    return fns


def child(tree: str, args) -> dict:
    """In the process of one tree (--threads > 1): medians of its workloads."""
    modules = load_tree(tree)
    with modules["minijoint.threads"].using_threads(args.threads):
        fns = workloads(modules, args)
        out = {}
        for key, fn in fns.items():
            n = args.steps if key == "snn step" else args.calls
            fn(), fn()
            out[key] = statistics.median(fn() for _ in range(n))
    out["package"] = os.path.dirname(modules["minijoint"].__file__)
    return out


def in_one_process(args):
    """--threads 1: both trees in this process, their workloads called in turn, so that each
    pair of calls sees the same machine; yields (old, new) seconds per pair and workload."""
    trees = {w: load_tree(getattr(args, w)) for w in ("old", "new")}
    fns = {w: workloads(m, args) for w, m in trees.items()}
    for w, m in trees.items():
        print(f"{w.upper()} = {os.path.dirname(m['minijoint'].__file__)}")
    for key in fns["old"]:
        n = args.steps if key == "snn step" else args.calls
        for f in (fns["old"][key], fns["new"][key]) * 2:   # warm-up
            f()
        for r in range(args.rounds * n):
            order = ("old", "new") if r % 2 == 0 else ("new", "old")
            got = {w: fns[w][key]() for w in order}
            yield key, got["old"], got["new"]


def run_tree(tree: str, args) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", tree, "--threads",
           str(args.threads), "--steps", str(args.steps), "--calls", str(args.calls)]
    cmd += ["--no-layers"] if args.no_layers else []
    done = subprocess.run(cmd, capture_output=True, text=True)   # the thread variables: main
    if done.returncode != 0:
        sys.exit(f"compare_trees: the process for {tree} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("old", nargs="?", help="directory holding the minijoint to compare against")
    p.add_argument("new", nargs="?", help="directory holding the minijoint to compare")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=8,
                   help="at 1 thread: rounds × --steps pairs of steps and rounds × --calls "
                        "pairs of each convolution; at more threads: pairs of processes")
    p.add_argument("--steps", type=int, default=4, help="timed steps per round")
    p.add_argument("--calls", type=int, default=5, help="timed calls per convolution and round")
    p.add_argument("--no-layers", action="store_true", help="time the training step only")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[v] = str(args.threads)   # before NumPy loads
    if args.child:
        print(json.dumps(child(args.child, args)))
        return 0
    if not (args.old and args.new):
        p.error("give two directories, OLD and NEW")
    for tree in (args.old, args.new):
        if not os.path.isfile(os.path.join(tree, "minijoint", "__init__.py")):
            p.error(f"{tree} holds no minijoint package (expected {tree}/minijoint/__init__.py)")
    sys.path.insert(0, HERE)
    import common
    print("\n".join(common.machine_info()))
    ratios, times = {}, {"old": {}, "new": {}}

    def add(key, o, n):
        ratios.setdefault(key, []).append(n / o)
        times["old"].setdefault(key, []).append(o)
        times["new"].setdefault(key, []).append(n)
    if args.threads == 1:
        print(f"1 thread: both trees in this process, each workload called in turn "
              f"({args.rounds}×{args.steps} step pairs, {args.rounds}×{args.calls} pairs per "
              f"convolution)")
        for key, o, n in in_one_process(args):
            add(key, o, n)
    else:
        print(f"{args.threads} threads: {args.rounds} rounds of one process per tree, in "
              f"alternating order (in one process, the thread pool of the tree imported first "
              f"ran slower)")
        for r in range(args.rounds):
            order = ("old", "new") if r % 2 == 0 else ("new", "old")
            got = {which: run_tree(getattr(args, which), args) for which in order}
            packages = {w: got[w].pop("package") for w in order}
            if r == 0:
                print(f"OLD = {packages['old']}\nNEW = {packages['new']}")
            for key in got["old"]:
                add(key, got["old"][key], got["new"][key])
            print(f"round {r + 1}: snn step OLD {1e3 * got['old']['snn step']:.0f} ms, "
                  f"NEW {1e3 * got['new']['snn step']:.0f} ms", flush=True)
    print(f"\n{'':<24} {'OLD ms':>9} {'NEW ms':>9}   NEW / OLD per pair: median (quartiles)")
    for key, rs in ratios.items():
        o, n = (1e3 * statistics.median(times[w][key]) for w in ("old", "new"))
        q = statistics.quantiles(rs, n=4) if len(rs) > 1 else (rs[0], rs[0], rs[0])
        print(f"{key:<24} {o:9.1f} {n:9.1f}   {statistics.median(rs):.3f} "
              f"({q[0]:.2f} to {q[2]:.2f})")
    print(common.load_line("load average at end"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
