r"""The run folder: everything a training run keeps on disk, with one owner.

A run folder holds ``config.json`` (the settings), ``checkpoint.npz`` (the state to go on
from), ``metrics.csv`` (one row per epoch) and ``curves.png``. :class:`RunFolder` is the
only code that writes them, and it guarantees:

* **one writer**: a process holds the folder's lock (``.lock``, an OS file lock that dies
  with its process) for the whole run; a second one is refused with the holder's pid and
  command, and a lock left by a dead process is simply taken over;
* **never overwrite**: a new run refuses a folder that holds one (``--resume`` continues
  it, ``--overwrite`` replaces it);
* **never half-written, never NaN**: every file is written to a temporary file and renamed
  into place (:func:`~minijoint.joint.checkpoint.write_atomic`); a checkpoint with a NaN or
  inf is refused; temporary files of a writer that was killed are removed at the next start;
* **clear failures**: a read-only folder, a full disk or an ``--out`` that is a file give
  one :class:`RunError` naming the path and what to do; the last checkpoint stays as it was;
* **resume checks its settings**: only ``epochs`` may change when a run is resumed (to
  train on); any other difference is refused with the list of differences.

:func:`stop_at_step_boundary` turns Ctrl-C, SIGTERM and SIGHUP into a stop between two
training steps, so that the checkpoint saved then resumes exactly.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import sys
import threading
import time

from .checkpoint import TEMP_PREFIX, CheckpointError, load_checkpoint, save_checkpoint, write_atomic
from .config import TrainConfig
from .runlog import metrics_csv

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; runs are not guarded against a second writer
    fcntl = None

CHECKPOINT, CONFIG, METRICS, CURVES, LOCK = ("checkpoint.npz", "config.json", "metrics.csv",
                                             "curves.png", ".lock")
RUN_FILES = (CHECKPOINT, CONFIG, METRICS, CURVES, "energy.md", "energy.csv", "energy_layers.csv")
RESUMABLE = ("epochs",)   # the only settings a resumed run may change
_OLD_TEMPS = (".checkpoint-", "config.json.tmp", "metrics.csv.tmp")  # names used by 0.1


class RunError(RuntimeError):
    """A run folder cannot be used as asked; the message says why and what to do."""


class RunInterrupted(KeyboardInterrupt):
    """The run stopped on a signal (``signum``) after saving at a step boundary."""

    def __init__(self, signum: int, message: str = ""):
        super().__init__(message)
        self.signum = signum


class ForcedInterrupt(KeyboardInterrupt):
    """A second signal: stop at once, mid-step, saving nothing."""


def holds_run(path) -> bool:
    """Whether the folder ``path`` holds (part of) a training run."""
    return any(os.path.exists(os.path.join(path, f)) for f in (CHECKPOINT, CONFIG, METRICS))


def saved_config(path) -> TrainConfig:
    """The settings of the run in the folder ``path``, from its checkpoint (read only)."""
    return RunFolder(path)._read()[0]


def config_differences(saved: TrainConfig, given: TrainConfig, allowed=RESUMABLE) -> list:
    """``["lr: 0.001 (saved) -> 0.1 (given)", ...]`` for the settings outside ``allowed``
    that differ."""
    a, b = saved.to_dict(), given.to_dict()
    return [f"{k}: {a[k]!r} (saved) -> {b[k]!r} (given)"
            for k in a if k not in allowed and a[k] != b[k]]


class RunFolder:
    """One training run's folder, locked by this process until :meth:`close`.

    Open it with :meth:`start` (a new run) or :meth:`resume`; use it as a context manager
    so the lock is released however the run ends.
    """

    def __init__(self, path: str, log=print):
        self.path, self.log = str(path), log
        self.checkpoint = os.path.join(self.path, CHECKPOINT)
        self._lock_fd = None
        self._saved = None   # (epoch, step) of the checkpoint on disk, None if there is none

    # ---- opening ----------------------------------------------------------------------
    @classmethod
    def start(cls, path, log=print, overwrite: bool = False) -> "RunFolder":
        """Lock ``path`` for a new run. Refuses a folder that holds a run unless ``overwrite``
        (which removes that run's files). Nothing is written until the first :meth:`save`,
        so a run that fails before it leaves the folder free for the next try."""
        run = cls(path, log)
        run._open()
        try:
            if holds_run(run.path):
                if not overwrite:
                    raise RunError(
                        f"{run.path} already holds a run ({', '.join(run._run_files())}); "
                        f"continue it with --resume --out {run.path}, train into another --out, "
                        "or pass --overwrite to replace it")
                for name in run._run_files():
                    path = os.path.join(run.path, name)
                    run._guard(path, os.remove, path)
                log(f"--overwrite: removed the previous run's files in {run.path}")
        except BaseException:
            run.close()
            raise
        return run

    @classmethod
    def resume(cls, path, cfg: TrainConfig | None = None, log=print):
        """Lock ``path`` and read its run: ``(run, cfg, arrays, meta)`` of its checkpoint.

        ``cfg``: the settings asked for (None: the saved ones). Only ``epochs`` may differ
        from the saved config, and it may not drop below the epochs already trained.
        """
        run = cls(path, log)
        if not os.path.isdir(run.path):
            raise RunError(f"nothing to resume: {run.path} is not a run folder "
                           "(train into it without --resume first)")
        run._open()
        try:
            saved, arrays, meta = run._read()
            cfg = saved if cfg is None else cfg.validate()
            diff = config_differences(saved, cfg)
            if diff:
                raise RunError(f"--resume cannot change these settings of the run in {run.path}:\n  "
                               + "\n  ".join(diff) + "\nonly --epochs may change; train into "
                               "another --out for other settings")
            done = meta["epoch"]
            if cfg.epochs < done:
                raise RunError(f"{run.path} has already trained {done} epochs; --epochs must be "
                               f"at least {done}, got {cfg.epochs}")
            if cfg.epochs != saved.epochs:
                log(f"extending the run from {saved.epochs} to {cfg.epochs} epochs (the cosine "
                    "schedule is re-planned over the new length)")
        except BaseException:
            run.close()
            raise
        return run, cfg, arrays, meta

    def _read(self):
        """The saved config, arrays and meta of the run's checkpoint."""
        if not os.path.exists(self.checkpoint):
            if holds_run(self.path):
                raise RunError(f"nothing to resume in {self.path}: the run stopped before its first "
                               f"checkpoint; start it again with --overwrite")
            raise RunError(f"nothing to resume: {self.path} holds no run (train into it without "
                           "--resume first)")
        arrays, meta = load_checkpoint(self.checkpoint)
        if "config" not in meta:
            raise CheckpointError(f"{self.checkpoint} is not a training checkpoint of minijoint "
                                  "(its metadata has no 'config')")
        self._saved = (meta["epoch"], meta["step"])
        return TrainConfig.from_dict(meta["config"]).validate(), arrays, meta

    def _open(self) -> None:
        """Create the folder, take its lock, remove temporary files of dead writers."""
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise RunError(f"--out {self.path} is a file, not a folder: choose a folder")
        self._guard(self.path, os.makedirs, self.path, exist_ok=True)
        self._lock()
        for name in sorted(os.listdir(self.path)):
            if name.startswith(TEMP_PREFIX) or name.startswith(_OLD_TEMPS):
                path = os.path.join(self.path, name)
                self._guard(path, os.remove, path)
                self.log(f"removed {name}: an unfinished write of a process that was killed")

    def _lock(self) -> None:
        if fcntl is None:
            self.log("warning: this platform has no file locks; do not start two runs in one folder")
            return
        path = os.path.join(self.path, LOCK)
        fd = self._guard(path, os.open, path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise RunError(f"cannot lock {path}: {e.strerror}; this file system may not "
                               "support locks: train into a local folder") from None
            holder = os.read(fd, 4096).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunError(f"{self.path} is in use by {holder}; wait for that run to end, "
                           "or train into another --out") from None
        previous = os.read(fd, 4096).decode(errors="replace").strip()
        if previous:
            self.log(f"taking over the lock of {self.path}: its holder ({previous}) is no "
                     "longer running")
        os.ftruncate(fd, 0)
        os.pwrite(fd, (f"pid {os.getpid()} on {socket.gethostname()} since "
                       f"{time.strftime('%Y-%m-%d %H:%M:%S')} ({' '.join(sys.argv)})").encode(), 0)
        self._lock_fd = fd

    def close(self) -> None:
        """Release the lock (the ``.lock`` file stays, empty)."""
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._lock_fd, 0)
            os.close(self._lock_fd)   # closing releases the flock
            self._lock_fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- writing ----------------------------------------------------------------------
    def save(self, arrays: dict, meta: dict) -> None:
        """Write ``config.json`` (from ``meta["config"]``) and the checkpoint, each
        atomically; a checkpoint with NaN or inf is refused."""
        self._write(CONFIG, json.dumps(meta["config"], indent=2) + "\n")
        self._guard(self.checkpoint, save_checkpoint, self.checkpoint, arrays, meta)
        self._saved = (meta["epoch"], meta["step"])

    def write_metrics(self, history: list, curves=None) -> None:
        """``metrics.csv``, and ``curves.png`` drawn by ``curves(history, save=path)`` when
        given (training does not import plotting: the caller passes
        :func:`minijoint.plot.plot_training_curves`), each written atomically."""
        if not history:
            return
        self._write(METRICS, metrics_csv(history))
        if curves is not None:
            path = os.path.join(self.path, CURVES)
            self._guard(path, curves, history, save=path)

    def _write(self, name: str, text: str) -> None:
        path = os.path.join(self.path, name)
        self._guard(path, write_atomic, path, text)

    def _guard(self, path, fn, *args, **kw):
        """``fn(*args, **kw)``, which writes ``path``, with an OSError turned into a
        :class:`RunError` that says what failed, what to do, and which checkpoint is still
        on disk."""
        try:
            return fn(*args, **kw)
        except OSError as e:
            advice = {errno.ENOSPC: "the disk is full: free space, then continue with --resume",
                      errno.EDQUOT: "the disk quota is used up: free space, then --resume",
                      errno.EROFS: "the file system is read-only: train into another --out",
                      errno.EACCES: "no permission: fix the folder's permissions or use another --out",
                      errno.EPERM: "no permission: fix the folder's permissions or use another --out",
                      errno.ENOTDIR: "a part of the path is a file: choose a folder for --out",
                      }.get(e.errno, "check the folder, then continue with --resume")
            raise RunError(f"could not write {getattr(e, 'filename', None) or path}: "
                           f"{e.strerror or e}; {advice}. {self.describe_checkpoint()}") from None

    def describe_checkpoint(self) -> str:
        """Which checkpoint is on disk, in words (true also when there is none)."""
        if self._saved is None:
            return f"No checkpoint has been saved in {self.path} yet."
        epoch, step = self._saved
        where = f"the end of epoch {epoch}" if step == 0 else f"epoch {epoch + 1}, step {step}"
        return f"The last good checkpoint, {self.checkpoint} ({where}), is unchanged."

    def _run_files(self) -> list:
        return [f for f in RUN_FILES if os.path.exists(os.path.join(self.path, f))]


_STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


@contextlib.contextmanager
def stop_at_step_boundary():
    """Hold Ctrl-C, SIGTERM and SIGHUP until the training step under way has finished, so
    that the checkpoint saved then is exactly the state between two steps (a forward cut
    short would already have moved BN's running statistics). Yields a function that
    returns the signal received (or None); a second signal interrupts at once
    (:class:`ForcedInterrupt`). Outside the main thread signals cannot be caught: the
    function always returns None there."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    received = []

    def handler(signum, frame):
        if received:
            raise ForcedInterrupt
        received.append(signum)

    previous = {s: signal.signal(s, handler) for s in _STOP_SIGNALS}
    try:
        yield lambda: received[0] if received else None
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def signal_name(signum: int) -> str:
    return {getattr(signal, "SIGINT", -1): "Ctrl-C"}.get(signum) or signal.Signals(signum).name
