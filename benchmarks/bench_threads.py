"""What more threads buy on this machine, for each kind of work a training step does.

Each kind is 8 independent pieces of the sizes the benchmark network uses; they run on one
thread, then shared out among N threads by minijoint's own pool (``using_threads(N)`` and
``parallel_map``: the calling thread and N − 1 workers, BLAS at one thread each, exactly as
the convolution runs them). Printed: the best time of each and the speed-up. Work limited
by arithmetic (GEMMs) should come close to N; work limited by memory (copies, elementwise
passes) gains only where the machine gives each core more memory bandwidth.

Then the overlap the backward relies on: the calling thread runs elementwise passes (as
BatchNorm and the LIF are) while the workers compute GEMMs handed over with
``in_background`` (as a convolution's weight gradient is), against the two one after the
other on one thread.

    python benchmarks/bench_threads.py             # 2 threads (~5 s)
    python benchmarks/bench_threads.py --threads 4
"""
from __future__ import annotations

import argparse
import time

import common  # noqa: F401  (puts this checkout on sys.path)
import numpy as np

from minijoint.threads import background_work, in_background, parallel_map, using_threads
from minijoint.functional.windows import _copy_rows


def kinds(rng):
    """{name: (one piece of work as f(i) for piece i, its FLOPs or 0)}, arrays made once."""
    f32 = np.float32
    A16 = rng.standard_normal((16, 144)).astype(f32)
    cols = [rng.standard_normal((144, 7281)).astype(f32) for _ in range(8)]
    sq = [rng.standard_normal((700, 700)).astype(f32) for _ in range(8)]
    maps = [rng.standard_normal((32, 16, 32, 32)).astype(f32) for _ in range(8)]
    padded = [np.zeros((16, 32, 34, 34), f32) for _ in range(8)]
    small = [rng.standard_normal((64, 42, 10, 10)).astype(f32) for _ in range(8)]
    col8 = [np.empty((64, 42, 8, 8), f32) for _ in range(8)]
    flat = [rng.standard_normal(2**21).astype(f32) for _ in range(8)]
    out = [np.empty(2**21, f32) for _ in range(8)]
    return {
        "GEMM (16×144)·(144×7281), a conv's forward": (lambda i: A16 @ cols[i],
                                                       2 * 16 * 144 * 7281),
        "GEMM 700×700×700": (lambda i: sq[i] @ sq[i], 2 * 700**3),
        "contiguous copy, 8 MiB": (lambda i: np.copyto(out[i], flat[i]), 0),
        "elementwise multiply, 8 MiB (BN, LIF)": (lambda i: np.multiply(flat[i], 1.5, out=out[i]),
                                                  0),
        "channel-first padded copy (32×32 maps)": (lambda i: _copy_rows(
            padded[i][:, :, 1:33, 1:33], maps[i].transpose(1, 0, 2, 3)), 0),
        "window-row copy, im2col of 8×8 maps": (lambda i: _copy_rows(
            col8[i], small[i][:, :, 1:9, 2:10]), 0),
    }


def best_of(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def overlap(pieces, repeats, threads) -> str:
    """Elementwise passes on the caller while GEMMs run in the background, against both on
    one thread one after the other; a line saying what it measured."""
    multiply, _ = pieces["elementwise multiply, 8 MiB (BN, LIF)"]
    gemm, _ = pieces["GEMM (16×144)·(144×7281), a conv's forward"]
    with using_threads(1):
        alone = (best_of(lambda: [multiply(i) for i in range(8)], repeats),
                 best_of(lambda: [gemm(i) for i in range(8)], repeats))

    def together():
        with background_work():
            gemms = in_background(np, gemm, range(8), list, (8,), np.float32)
            for i in range(8):
                multiply(i)
            gemms.result()
    with using_threads(threads):
        both = best_of(together, repeats)
    return (f"overlap: 8 elementwise passes {1e3 * alone[0]:.2f} ms + 8 GEMMs "
            f"{1e3 * alone[1]:.2f} ms on 1 thread = {1e3 * sum(alone):.2f} ms; the GEMMs in "
            f"the background of the passes on {threads} threads: {1e3 * both:.2f} ms "
            f"({sum(alone) / both:.2f}× faster)")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=15)
    args = p.parse_args()
    print("\n".join(common.machine_info()))
    print(f"8 pieces per kind; best of {args.repeats}; 1 thread against {args.threads}")
    print(f"{'work':<46} {'1 thread ms':>12} {f'{args.threads} threads ms':>14} {'speed-up':>9}"
          f"  GFLOP/s on 1 thread")
    pieces = kinds(np.random.default_rng(0))
    for name, (piece, flops) in pieces.items():
        with using_threads(1):
            one = best_of(lambda: [piece(i) for i in range(8)], args.repeats)
        with using_threads(args.threads):
            many = best_of(lambda: parallel_map(np, piece, range(8)), args.repeats)
        rate = f"  {8 * flops / one / 1e9:.0f}" if flops else ""
        print(f"{name:<46} {1e3 * one:12.2f} {1e3 * many:14.2f} {one / many:8.2f}×{rate}")
    print(overlap(pieces, args.repeats, args.threads))
    print(common.load_line("load average at end"))


if __name__ == "__main__":
    main()
