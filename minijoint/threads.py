r"""CPU threads: ``using_threads(n)``, the one setting, and how work is shared among them.

The calling thread and n − 1 worker threads run the pieces of :func:`parallel_map` (the
convolution's blocks of samples) and, during a backward, the work handed over with
:func:`in_background` (a convolution's weight gradient, a :class:`Deferred` the autodiff
engine waits for where it first needs it). Nothing here changes a result: where a piece's
result could depend on the cut, the cut does not depend on n.
"""
from __future__ import annotations

import collections
import contextlib
import os
import threading

import numpy as np

_threads = {"n": 1, "pools": {}}
_worker = threading.local()   # .busy: this thread runs a piece of pool work (nested maps inline)


def get_threads() -> int:
    """How many CPU threads the ops use (1 unless :func:`using_threads` says otherwise)."""
    return _threads["n"]


@contextlib.contextmanager
def using_threads(n: int):
    r"""Context manager: run minijoint on ``n`` CPU threads, ``with using_threads(2): ...``.

    How the n cores are shared: the convolution (forward and backward, over 75 % of a
    CPU training step) cuts its work into independent pieces, blocks of samples, and
    :func:`parallel_map` runs them on the calling thread and n − 1 worker threads (NumPy
    lets go of the GIL inside BLAS and large array loops, so the pieces really run side by
    side). BLAS itself is held at ONE thread meanwhile (threadpoolctl): n threads each
    calling an n-threaded BLAS would put n² threads on n cores. Where a piece's result
    could depend on the cut (a GEMM's shape, a sum's order), the cut does not depend on n,
    and partial sums are added in the same order: results are bit-identical for every n.

    The elementwise ops (BatchNorm, the LIF) stay on one thread: they are limited by memory
    bandwidth, and a second thread measured no faster on the 2-core machine (an 8 MB multiply
    0.47 ms on two threads against 0.34 ms on one, the hand-off included). The workers are
    kept busy meanwhile instead: in the backward, a convolution's weight gradient is needed
    only once the backward reaches that weight (after every earlier layer), so it is
    computed in the background (:func:`in_background`) while the calling thread goes on
    with the backward of the earlier layers (their gx, BatchNorm and LIF).

    Outside this block the ops use one thread and BLAS keeps whatever the environment gave
    it (``OPENBLAS_NUM_THREADS``, ...). The setting is process-wide. CuPy ignores it: the
    GPU is the parallel part.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"using_threads: n must be an integer >= 1, got {n!r}")
    from threadpoolctl import threadpool_limits
    old = _threads["n"]
    _threads["n"] = n
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield n
    finally:
        _threads["n"] = old


class _Job:
    """One piece of pool work: ``fn(arg)``, then its result or the exception it raised."""

    __slots__ = ("fn", "arg", "out", "err", "taken", "batch")

    def __init__(self, fn, arg, batch):
        self.fn, self.arg, self.batch = fn, arg, batch
        self.out = self.err = None
        self.taken = False   # claimed by a thread (set under the pool's lock)

    def run(self):
        nested = getattr(_worker, "busy", False)
        _worker.busy = True   # a map inside a piece runs on this thread
        try:
            self.out = self.fn(self.arg)
        except BaseException as e:  # handed to whoever waits for the batch
            self.err = e
        finally:
            _worker.busy = nested
            self.fn = self.arg = None   # let go of the arrays the work read
            self.batch.one_done()


class _Batch:
    """The pieces of one :func:`parallel_map` or :func:`in_background` call."""

    def __init__(self, fn, items):
        self.jobs = [_Job(fn, item, self) for item in items]
        self.left, self.lock, self.done = len(self.jobs), threading.Lock(), threading.Event()

    def one_done(self):
        with self.lock:
            self.left -= 1
            if self.left == 0:
                self.done.set()


class _Pool:
    """n − 1 worker threads; the thread that hands work out is the n-th and works too.

    Two queues: ``now``, the pieces of a :func:`parallel_map` (its caller waits for them),
    and ``later``, the pieces of :class:`Deferred` results. A worker takes ``now`` first, so
    background work only fills the time a worker would otherwise wait, for instance while
    the caller runs an op that is not split into pieces.
    """

    def __init__(self, n: int):
        self.cv = threading.Condition()
        self.now, self.later = collections.deque(), collections.deque()
        for k in range(n - 1):
            threading.Thread(target=self._serve, name=f"minijoint-{k}", daemon=True).start()

    def _take(self, queue):
        """The first unclaimed job of ``queue``, claimed (call with the lock held)."""
        while queue:
            job = queue.popleft()
            if not job.taken:
                job.taken = True
                return job
        return None

    def _serve(self):
        while True:
            with self.cv:
                job = self._take(self.now) or self._take(self.later)
                while job is None:
                    self.cv.wait()
                    job = self._take(self.now) or self._take(self.later)
            job.run()

    def put(self, batch: _Batch, later: bool = False):
        with self.cv:
            (self.later if later else self.now).extend(batch.jobs)
            self.cv.notify(len(batch.jobs))

    def settle(self, batch: _Batch):
        """Run the batch's unclaimed pieces on this thread and wait for the others."""
        for job in batch.jobs:
            with self.cv:
                if job.taken:
                    continue
                job.taken = True
            job.run()
        batch.done.wait()

    def finish(self, batch: _Batch) -> list:
        """:meth:`settle`, then the results in order (or the first piece's exception)."""
        self.settle(batch)
        for job in batch.jobs:
            if job.err is not None:
                raise job.err
        return [job.out for job in batch.jobs]


def _pool():
    n = _threads["n"]
    pool = _threads["pools"].get(n)
    if pool is None:
        pool = _threads["pools"][n] = _Pool(n)
    return pool


def parallel_map(xp, fn, items, worth=True) -> list:
    """``[fn(item) for item in items]``, the calls spread over the :func:`using_threads`
    threads (the calling thread is one of them) when there are more than one and ``xp``
    (the arrays' module) is NumPy; results in the order of ``items``. ``worth=False`` (too
    little work to pay for handing it over) and a call from inside a piece of pool work
    run the items on the calling thread."""
    items = list(items)
    if (_threads["n"] == 1 or xp is not np or not worth or len(items) < 2
            or getattr(_worker, "busy", False)):
        return [fn(item) for item in items]
    batch = _Batch(fn, items)
    pool = _pool()
    pool.put(batch)
    return pool.finish(batch)


class Deferred:
    """A result that the pool's workers compute in the background: ``combine([fn(item) for
    item in items])``, made by :func:`in_background`. ``shape`` and ``dtype`` are known at
    once; :meth:`result` returns the value, computing on the calling thread whatever no
    worker has started yet. The autodiff engine resolves the Deferred gradients it meets."""

    def __init__(self, pool, batch, combine, shape, dtype, holds):
        self._pool, self._batch, self._combine = pool, batch, combine
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.holds = holds   # bytes of the arrays its unfinished work keeps alive
        self._value = None

    def running(self) -> bool:
        """Whether some of its work is still to be done."""
        return self._batch is not None and not self._batch.done.is_set()

    def result(self):
        if self._batch is not None:
            self._value = self._combine(self._pool.finish(self._batch))
            self._pool = self._batch = self._combine = None
        return self._value


def in_background(xp, fn, items, combine, shape, dtype, worth=True, holds=0):
    """``combine([fn(item) for item in items])``: a :class:`Deferred` that the pool's workers
    compute while the caller goes on, inside :func:`background_work` with more than one
    thread on NumPy; otherwise computed now (by :func:`parallel_map`) and returned.

    ``holds``: the bytes of the arrays ``fn`` reads, kept alive until the work is done. While
    the work handed over holds more than ``_BACKGROUND_BYTES``, the caller first finishes
    the oldest itself, so memory stays bounded when the workers fall behind.
    """
    items = list(items)
    if (not _background["on"] or _threads["n"] == 1 or xp is not np or not worth
            or getattr(_worker, "busy", False)):
        return combine(parallel_map(xp, fn, items, worth))
    pending = _background["pending"]
    for old in pending:
        if sum(d.holds for d in pending if d.running()) + holds <= _BACKGROUND_BYTES:
            break
        old.result()
    batch = _Batch(fn, items)
    pool = _pool()
    d = Deferred(pool, batch, combine, shape, dtype, holds)
    pending.append(d)
    pool.put(batch, later=True)
    return d


# The arrays that work handed to the background may keep alive, in bytes. Unbounded, the
# workers fell ~80 ms of weight-gradient work behind in the benchmark's ResNet-18 step, and
# its peak memory on 2 threads rose from 148 to 236 MiB.
_BACKGROUND_BYTES = 32 * 2**20


_background = {"on": False, "pending": []}


@contextlib.contextmanager
def background_work():
    """Within this block :func:`in_background` may hand work to the pool's workers (the
    autodiff engine's backward opens it). On leaving, every Deferred made inside is
    finished, so no work outlives the block, even when the block raised."""
    outer = _background["on"], _background["pending"]
    _background["on"], _background["pending"] = True, []
    try:
        yield
    finally:
        pending = _background["pending"]
        _background["on"], _background["pending"] = outer
        for d in pending:
            if d._batch is not None:
                d._pool.settle(d._batch)


def parallel_slices(xp, fn, n: int, worth=True) -> list:
    """``fn(s)`` for slices ``s`` cutting range(n) into one piece per thread (sizes differing
    by at most 1), run by :func:`parallel_map`: for work on independent rows or channels."""
    parts = max(1, min(n, _threads["n"] if xp is np and worth else 1))
    edges = [k * n // parts for k in range(parts + 1)]
    return parallel_map(xp, fn, [slice(a, b) for a, b in zip(edges, edges[1:])], worth)


if hasattr(os, "register_at_fork"):   # a forked child has none of the parent's threads
    os.register_at_fork(after_in_child=_threads["pools"].clear)
