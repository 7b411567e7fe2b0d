r"""The course as a website: a static HTML site built offline with Sphinx and MyST-NB.

``build_site("site")`` (or ``python -m minijoint.site site``) writes into ``site/``:

* the README and the Markdown notes in ``docs/`` (``method.md``; ``teaching.md`` once it
  exists), with their pictures;
* every ``tutorials/*.ipynb``, run top to bottom first (working directory ``tutorials/``,
  ``MINIJOINT_FAST=1`` unless ``fast=False``), with its figures and math;
* the exercises in their student form (:func:`minijoint.course.notebooks.write_notebooks`),
  each page with a download link, and a link to how they are checked;
* an API reference generated from the docstrings (autodoc, one page per module).

Math is typeset by MathJax 3, which the ``sphinx-mathjax-offline`` package copies into the
site, so nothing is fetched from the network, neither at build time nor when the pages are
viewed. Each page shows the repository path its content comes from. Install what it needs
with ``pip install -e ".[site]"``.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .execute import NotebookFailed, execute_tutorials
from .stage import (SITE_SOURCES, copy_pages, package_modules, select_tutorials, with_repo_on_path,
                    write_api_pages, write_api_stub, write_exercise_pages, write_sources_file)

__all__ = ["build_site", "site_main", "SiteBuildError", "NotebookFailed"]

MARKER = ".minijoint-site"   # marks a folder this function wrote, so a rebuild may replace it
FAST_NOTE = ("Run for this site with MINIJOINT_FAST=1 (fewer epochs, less data), so its "
             "numbers differ from a full run's.")
NEEDS = {"sphinx": "sphinx", "myst_nb": "myst-nb", "sphinx-mathjax-offline": "sphinx-mathjax-offline",
         "nbclient": "nbclient", "nbformat": "nbformat"}


class SiteBuildError(RuntimeError):
    """Sphinx failed, or something the build needs is missing; the message says which."""


def _check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} is a file: give a folder for the site")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise FileExistsError(f"{out} is not empty and holds no site built here (no {MARKER} "
                              f"file): give an empty or new folder, so nothing else is replaced")


def _check_checkout() -> None:
    """The site is built from a checkout: the README, docs/ and tutorials/ beside the
    package (an installed wheel carries the package alone)."""
    from .stage import ROOT
    lacking = [p for p in ("README.md", "docs/site", "tutorials") if not (ROOT / p).exists()]
    if lacking:
        raise SiteBuildError(f"the site is built from a checkout of the repository, and "
                             f"{ROOT} has no {', '.join(lacking)}: clone the repository "
                             f"and install it with pip install -e \".[site]\"")


def _check_installed() -> None:
    missing = [dist for module, dist in NEEDS.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise SiteBuildError(f"building the site needs {', '.join(missing)}, which "
                             f"{'is' if len(missing) == 1 else 'are'} not installed: "
                             f"pip install -e \".[site]\"")


def _run_sphinx(src: Path, html: Path, work: Path, jobs, log) -> int:
    """Sphinx in a fresh interpreter (autodoc imports the package there); returns the
    number of warnings, which are printed but do not fail the build."""
    warnings = work / "warnings.txt"
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-j", str(jobs),
           "-c", str(SITE_SOURCES), "-d", str(work / "doctrees"), "-w", str(warnings),
           str(src), str(html)]
    done = subprocess.run(cmd, env=with_repo_on_path(dict(os.environ)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    log.write(done.stdout)
    if done.returncode != 0:
        raise SiteBuildError(f"sphinx failed (exit {done.returncode}): {' '.join(cmd)}")
    text = warnings.read_text(encoding="utf-8", errors="replace") if warnings.exists() else ""
    return sum(1 for line in text.splitlines() if "WARNING" in line or "ERROR" in line)


def build_site(out_dir, *, fast: bool = True, tutorials=None, api: bool = True,
               jobs=1, log=None) -> Path:
    """Build the site into ``out_dir`` (created; a site built there before is replaced,
    anything else refused) and return it as a Path; open ``out_dir/index.html``.

    ``fast``: run the tutorials with ``MINIJOINT_FAST=1`` (seconds each) rather than in
    full. ``tutorials``: None for all, or names they start with (``["01", "04"]``) for a
    quicker partial site. ``api``: include the API reference. ``jobs``: Sphinx's parallel
    readers (an int or ``"auto"``). Progress and Sphinx's warnings go to ``log`` (stderr
    by default). Raises :class:`NotebookFailed` if a tutorial fails and
    :class:`SiteBuildError` if Sphinx does."""
    log = sys.stderr if log is None else log
    out = Path(out_dir).resolve()
    _check_out_dir(out)
    _check_checkout()
    notebooks = select_tutorials(tutorials)
    _check_installed()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="minijoint-site-") as tmp:
        work = Path(tmp)
        src = work / "src"
        src.mkdir()
        shutil.copy2(SITE_SOURCES / "index.md", src / "index.md")
        sources = {"index": "docs/site/index.md", **copy_pages(src)}
        print(f"running {len(notebooks)} tutorial(s), {'fast' if fast else 'full'} mode",
              file=log, flush=True)
        sources.update(execute_tutorials(notebooks, src, fast=fast, log=log))
        exercise_sources, problem = write_exercise_pages(src, guide=(src / "docs/teaching.md").exists())
        sources.update(exercise_sources)
        if problem:
            print(f"  exercises: {problem}; the page says so", file=log, flush=True)
        sources.update(write_api_pages(src, package_modules()) if api else write_api_stub(src))
        notes = {f"tutorials/{p.stem}": FAST_NOTE for p in notebooks} if fast else {}
        write_sources_file(src, sources, notes)
        html = work / "html"
        warnings = _run_sphinx(src, html, work, jobs, log)
        (html / ".nojekyll").touch()   # GitHub Pages: serve _static/ as it is
        (html / MARKER).write_text(json.dumps({"fast": fast, "tutorials": [p.name for p in notebooks],
                                               "api": api}) + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(html), str(out))
    print(f"site written to {out} in {time.perf_counter() - start:.0f} s ({warnings} Sphinx "
          f"warning(s)); open {out / 'index.html'}", file=log, flush=True)
    return out


def add_site_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of ``site`` (for ``python -m minijoint.site`` and the main CLI)."""
    p.add_argument("out", help="folder for the site (new, empty, or a site built before)")
    p.add_argument("--full", action="store_true",
                   help="run the tutorials in full, not with MINIJOINT_FAST=1 (minutes, not seconds)")
    p.add_argument("--tutorial", action="append", metavar="NN",
                   help="only the tutorials whose file name starts with NN (repeatable)")
    p.add_argument("--no-api", action="store_true", help="leave out the API reference")
    p.add_argument("--jobs", default="1", help="Sphinx's parallel readers: a number or auto")
    return p


def site_main(argv=None) -> int:
    """``python -m minijoint.site OUT [--full] [--tutorial NN ...] [--no-api] [--jobs N]``."""
    p = add_site_arguments(argparse.ArgumentParser(
        prog="python -m minijoint.site", description="Build the course website (offline)."))
    args = p.parse_args(argv)
    try:
        build_site(args.out, fast=not args.full, tutorials=args.tutorial, api=not args.no_api,
                   jobs=args.jobs)
    except (FileExistsError, ValueError, NotebookFailed, SiteBuildError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
