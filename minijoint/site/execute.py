"""Running the tutorials for the site, the way the test suite runs them.

Each notebook runs top to bottom in a fresh ``python3`` kernel whose working directory is
the repository's ``tutorials/`` and whose ``PYTHONPATH`` starts with the repository root,
so the site shows the same outputs (figures, printed numbers, passed asserts) that
``tests/test_notebooks.py`` checks. Fast mode sets ``MINIJOINT_FAST=1``: fewer epochs and
less data. A notebook that fails stops the build with its name and the failing cell.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from .stage import ROOT, with_repo_on_path

KERNEL = "python3"


class NotebookFailed(RuntimeError):
    """A tutorial raised while the site was built; the message names it and the cell."""


def kernel_env(fast: bool) -> dict:
    """The kernel's environment: ours, plus the repository on the path and the mode."""
    env = with_repo_on_path(dict(os.environ))
    env.pop("MINIJOINT_FAST", None)
    if fast:
        env["MINIJOINT_FAST"] = "1"
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")   # small arrays: extra BLAS threads only contend
    return env


def run_notebook(nb, folder, *, fast: bool = True, timeout: int = 600, extra_path=None, **env):
    """Execute the notebook ``nb`` (an nbformat node, filled in place and returned) in a
    fresh ``python3`` kernel working in ``folder``, with :func:`kernel_env` (plus
    ``extra_path`` at the end of ``PYTHONPATH`` and any ``env`` variables). The site and
    the tests run every notebook through here; nbclient's errors propagate."""
    from nbclient import NotebookClient

    full = {**kernel_env(fast), **env}
    if extra_path is not None:
        full["PYTHONPATH"] = os.pathsep.join([full["PYTHONPATH"], str(extra_path)])
    NotebookClient(nb, timeout=timeout, kernel_name=KERNEL,
                   resources={"metadata": {"path": str(folder)}}).execute(env=full)
    return nb


def execute_notebook(path: Path, dest: Path, *, fast: bool, timeout: int = 600) -> float:
    """Run the notebook ``path`` in ``path``'s folder and write it, outputs included, to
    ``dest``; returns the seconds it took. Raises :class:`NotebookFailed` on an error."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    try:
        run_notebook(nb, path.parent, fast=fast, timeout=timeout)
    except Exception as e:   # CellExecutionError, CellTimeoutError, DeadKernelError, NoSuchKernel
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        raise NotebookFailed(f"{shown} failed while the site was built "
                             f"({'fast' if fast else 'full'} mode):\n{_failing_source(nb)}"
                             f"{str(e)[-3000:]}") from e
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return time.perf_counter() - start


def _failing_source(nb) -> str:
    for i, cell in enumerate(nb.cells):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return f"in cell {i}:\n{cell.source}\n\n"
    return ""


def execute_tutorials(notebooks: list, dest: Path, *, fast: bool, log=sys.stderr) -> dict:
    """Run each tutorial into ``dest/tutorials/``; returns {page: repository path}."""
    sources = {}
    for path in notebooks:
        seconds = execute_notebook(path, dest / "tutorials" / path.name, fast=fast)
        print(f"  executed {path.name} in {seconds:.1f} s", file=log, flush=True)
        sources[f"tutorials/{path.stem}"] = f"tutorials/{path.name}"
    return sources
