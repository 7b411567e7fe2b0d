r"""The exercise notebooks: the solved ones ship with minijoint, the student ones are made here.

Each exercise's solved notebook (``course/notebooks/NN_name.ipynb``, nbformat 4) is the one
source of truth. Its solution sits inside the exercise's function, between two marker
lines (nbgrader's; Otter Grader's differ, see docs/teaching.md)::

    def lif_forward(c, tau, v_th):
        r\"\"\"... (the signature and the docstring stay in the student's copy)\"\"\"
        ### BEGIN SOLUTION
        ...
        ### END SOLUTION

:func:`student_version` replaces every such region, markers included, with
``raise NotImplementedError("exercise <name>: write your code here")`` at the markers'
indentation. :func:`write_notebooks` writes the student (or solved) notebooks into a
folder, and never writes over a file that is already there unless told to: a student may
have worked in it.
"""
from __future__ import annotations

import copy
import importlib.resources
import json
import os
from pathlib import Path

from ..joint.checkpoint import write_atomic
from . import exercises

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
VERSIONS = ("student", "solution")


def solved_notebooks() -> list:
    """``[(file name, (exercise names...)), ...]``: the notebooks of the registered exercises,
    in the course's order."""
    by_file = {}
    for ex in exercises.EXERCISES.values():
        by_file.setdefault(ex.notebook, []).append(ex.name)
    return [(name, tuple(names)) for name, names in by_file.items()]


def solved_notebook_path(file: str, source=None):
    """Where the solved notebook ``file`` lies: in ``source`` (a folder), or by default
    among those shipped in ``minijoint/course/notebooks/`` (a path or, for a zipped install,
    an ``importlib.resources`` entry)."""
    folder = (importlib.resources.files(__package__).joinpath("notebooks") if source is None
              else Path(source))
    entry = folder.joinpath(file)
    if not entry.is_file():
        raise FileNotFoundError(f"the solved notebook {file} is not in {folder}")
    return entry


def read_notebook(path) -> dict:
    """The notebook at ``path`` as a dict; refuses anything but an nbformat 4 notebook."""
    try:
        entry = Path(path) if isinstance(path, (str, os.PathLike)) else path
        nb = json.loads(entry.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ValueError(f"{path} is not a notebook (not valid JSON: {e})") from None
    if not isinstance(nb, dict) or nb.get("nbformat") != 4 or not isinstance(nb.get("cells"), list):
        got = nb.get("nbformat") if isinstance(nb, dict) else type(nb).__name__
        raise ValueError(f"{path}: expected an nbformat 4 notebook (a JSON object with "
                         f"nbformat 4 and a list of cells), got nbformat {got}")
    return nb


def cell_source(cell: dict) -> str:
    """A cell's source as one string (nbformat stores a string or a list of lines)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _strip_solution(src: str, where: str, name: str) -> tuple:
    """(the cell's source with each region replaced, number of regions)."""
    out, indent, regions = [], None, 0
    for n, line in enumerate(src.splitlines(keepends=True), 1):
        text = line.strip()
        if text not in (BEGIN, END) and ("BEGIN SOLUTION" in text or "END SOLUTION" in text):
            raise ValueError(f"{where}, line {n}: {text!r} looks like a solution marker but "
                             f"is not one; a marker is a line holding exactly {BEGIN!r} or {END!r}")
        if text == BEGIN:
            if indent is not None:
                raise ValueError(f"{where}, line {n}: {BEGIN!r} again before {END!r}; "
                                 "solution regions do not nest")
            indent = line[:len(line) - len(line.lstrip())]
            if not indent:
                raise ValueError(f"{where}, line {n}: the solution region is not inside a "
                                 "function; the student's copy would raise when the cell runs. "
                                 "Put the markers inside the function's body")
            out.append(f'{indent}# YOUR CODE HERE\n'
                       f'{indent}raise NotImplementedError("exercise {name}: write your code here")\n')
            regions += 1
        elif text == END:
            if indent is None:
                raise ValueError(f"{where}, line {n}: {END!r} without a {BEGIN!r} before it")
            indent = None
        elif indent is None:
            out.append(line)
    if indent is not None:
        raise ValueError(f"{where}: {BEGIN!r} is never closed by {END!r} in the same cell")
    return "".join(out), regions


def _clean(cell: dict) -> dict:
    if cell.get("cell_type") == "code":
        cell["outputs"], cell["execution_count"] = [], None
    return cell


def student_version(nb: dict, name: str, notebook: str = "the notebook") -> dict:
    """The student's copy of the solved notebook ``nb`` (exercise ``name``): every solution
    region of every code cell replaced by a ``raise NotImplementedError`` stub, outputs
    empty, and ``metadata["minijoint"]`` saying it was generated. Refuses (ValueError naming
    ``notebook`` and the cell) unbalanced or nested markers, a region outside a function,
    a line that looks like a marker but is not one, and a notebook without any region."""
    nb = copy.deepcopy(nb)
    total = 0
    for i, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") == "code":
            src, n = _strip_solution(cell_source(cell), f"{notebook}, cell {i}", name)
            cell["source"], total = src.splitlines(keepends=True), total + n
        _clean(cell)
    if total == 0:
        raise ValueError(f"{notebook} has no solution region (a {BEGIN!r} ... {END!r} pair "
                         "inside the exercise's function): its student copy would hold the answer")
    _mark(nb, "student", notebook)
    return nb


def _mark(nb: dict, version: str, notebook: str) -> None:
    nb.setdefault("metadata", {})["minijoint"] = {
        "generated": version, "from": notebook,
        "note": f"written by `python -m minijoint course {version}`; edit the solved notebook "
                "in minijoint/course/notebooks/ instead"}


def solution_version(nb: dict, notebook: str = "the notebook") -> dict:
    """The solved notebook as handed to an instructor: outputs empty, marked as generated."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        _clean(cell)
    _mark(nb, "solution", notebook)
    return nb


def write_notebooks(out_dir, version: str = "student", overwrite: bool = False,
                    source=None) -> list:
    """Write every exercise's notebook, ``version`` "student" (solutions replaced by stubs)
    or "solution", into ``out_dir``; returns the paths written, in the course's order.

    Every notebook is built before any is written, so a bad marker writes nothing. A file
    that already exists in ``out_dir`` (a student may have worked in it) is never replaced
    unless ``overwrite``: a FileExistsError names the files, and nothing is written. Each
    file is written atomically."""
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {', '.join(VERSIONS)}, got {version!r}")
    if not exercises.EXERCISES:
        raise ValueError("no exercise is registered (minijoint/course/exercises.py)")
    built = []
    for file, names in solved_notebooks():
        nb = read_notebook(solved_notebook_path(file, source))
        built.append((file, student_version(nb, " / ".join(names), file) if version == "student"
                      else solution_version(nb, file)))
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} is a file, not a folder: give a folder for the notebooks")
    taken = [str(out / file) for file, _ in built if os.path.lexists(out / file)]
    if taken and not overwrite:
        raise FileExistsError(f"refusing to replace {len(taken)} existing notebook"
                              f"{'s' if len(taken) > 1 else ''} (work may be lost): "
                              f"{', '.join(taken)}; pass --overwrite to replace them")
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for file, nb in built:
        write_atomic(out / file, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        paths.append(out / file)
    return paths
