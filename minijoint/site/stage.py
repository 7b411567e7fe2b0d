"""The site's sources, gathered into one folder that Sphinx reads.

Each page keeps the path it has in the repository (``README.md``, ``docs/method.md``,
``tutorials/04_bptt_by_hand.ipynb``), so relative links and pictures between them resolve
as they do on GitHub. Pages that exist only on the site are written here: the exercise
index, the student notebooks, one API page per module. :func:`stage_sources` returns, for
every page, the repository path its content comes from; the page template shows it.
"""
from __future__ import annotations

import ast
import json
import os
import shutil
from pathlib import Path

from .docstrings import plain_roles

ROOT = Path(__file__).resolve().parents[2]
SITE_SOURCES = ROOT / "docs" / "site"
SOURCES_FILE = "_site_sources.json"   # {"sources": {page: where it lives}, "notes": {page: note}}

# The parts of the package in the order a reader meets them (the import order); a part that
# is not listed comes last, alphabetically.
PARTS = (("", "the package"), ("backend", "engine"), ("tensor", "engine"),
         ("function", "engine"), ("functional", "engine"), ("random", "engine"),
         ("testing", "checks"), ("snn", "spiking neurons"), ("data", "data"),
         ("nn", "layers"), ("optim", "optimizers"), ("models", "networks"),
         ("joint", "the method: losses and training"), ("energy", "energy"),
         ("plot", "pictures"), ("course", "the course"), ("figures", "pictures"),
         ("site", "this site"), ("cli", "the command line"))


def with_repo_on_path(env: dict) -> dict:
    """``env`` with the repository root first on ``PYTHONPATH`` (for the kernels and Sphinx,
    so that they import this checkout's minijoint)."""
    path = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    return {**env, "PYTHONPATH": path}


def write_api_stub(dest: Path) -> dict:
    """The API index of a site built without the reference."""
    (dest / "api").mkdir(parents=True)
    (dest / "api" / "index.md").write_text(
        "# API reference\n\nLeft out of this build (`--no-api`); a full build holds one page "
        "per module, generated from the docstrings.\n", encoding="utf-8")
    return {"api/index": "the docstrings of minijoint/"}


def package_modules(package: Path = ROOT / "minijoint") -> list:
    """Dotted names of every module under ``package`` (``__main__`` and private files left
    out), sorted by part in :data:`PARTS` order, then by name."""
    order = {name: i for i, (name, _) in enumerate(PARTS)}
    names = []
    for path in package.rglob("*.py"):
        rel = path.relative_to(package.parent).with_suffix("")
        if path.stem == "__main__" or (path.stem.startswith("_") and path.stem != "__init__"):
            continue
        names.append(".".join(rel.parts[:-1] if path.stem == "__init__" else rel.parts))
    part = lambda n: n.split(".")[1] if "." in n else ""   # noqa: E731
    return sorted(names, key=lambda n: (order.get(part(n), len(PARTS)), part(n), n))


def module_file(name: str, package: Path = ROOT / "minijoint") -> str:
    """The repository path of module ``name`` (``minijoint/snn/lif.py``)."""
    rel = Path(*name.split("."))
    module = rel.with_suffix(".py")   # a module wins over a folder of the same name, as in import
    return (module if (package.parent / module).is_file() else rel / "__init__.py").as_posix()


def first_line(path: Path) -> str:
    """The first line of a module's docstring ('' when it has none), rst roles kept."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    return doc.strip().splitlines()[0] if doc else ""


def write_api_pages(dest: Path, modules: list) -> dict:
    """One page per module (``api/minijoint.snn.lif.rst``, autodoc of its own members) and
    ``api/index.md`` listing them by part; returns {page: repository path}."""
    api = dest / "api"
    api.mkdir(parents=True)
    sources, sections, titles = {}, {}, dict(PARTS)
    for name in modules:
        path = module_file(name)
        title = f"``{name}``"
        (api / f"{name}.rst").write_text(
            f"{title}\n{'=' * len(title)}\n\n.. automodule:: {name}\n   :members:\n"
            f"   :ignore-module-all:\n   :member-order: bysource\n   :show-inheritance:\n",
            encoding="utf-8")
        sources[f"api/{name}"] = path
        part = name.split(".")[1] if "." in name else ""
        sections.setdefault(titles.get(part, part), []).append(name)
    lines = ["# API reference\n", "Generated from the docstrings: one page per module, each "
             "holding the classes and functions defined there.\n",
             "```{toctree}\n:hidden:\n\n" + "\n".join(modules) + "\n```\n"]
    for title, names in sections.items():
        lines.append(f"## {title[0].upper() + title[1:]}\n")
        for name in names:
            doc = first_line(ROOT / module_file(name))
            lines.append(f"- {{doc}}`{name} <{name}>`" + (f": {plain_roles(doc, '`')}" if doc else ""))
        lines.append("")
    (api / "index.md").write_text("\n".join(lines), encoding="utf-8")
    sources["api/index"] = "the docstrings of minijoint/"
    return sources


def copy_pages(dest: Path) -> dict:
    """The Markdown pages (README, ``docs/*.md``) and the pictures beside them; {page: source}."""
    sources = {}
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        rel = path.relative_to(ROOT)
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest / rel)
        sources[rel.with_suffix("").as_posix()] = rel.as_posix()
    for picture in sorted((ROOT / "docs").glob("*.png")):
        shutil.copy2(picture, dest / "docs" / picture.name)
    return sources


def select_tutorials(names=None) -> list:
    """The tutorial notebooks, all of them or those whose file name starts with one of
    ``names`` (``"04"``, ``"04_bptt_by_hand"``); refuses a name that matches none."""
    notebooks = sorted((ROOT / "tutorials").glob("*.ipynb"))
    if names is None:
        return notebooks
    if isinstance(names, str):
        names = [names]
    chosen = []
    for name in names:
        hits = [p for p in notebooks if p.name.startswith(str(name))]
        if not hits:
            raise ValueError(f"no tutorial matches {name!r}: expected the start of one of "
                             f"{', '.join(p.name for p in notebooks)}")
        chosen += [p for p in hits if p not in chosen]
    return sorted(chosen)


def write_sources_file(dest: Path, sources: dict, notes: dict) -> None:
    """What the page template prints: each page's source, and a note under it for some."""
    (dest / SOURCES_FILE).write_text(json.dumps({"sources": sources, "notes": notes}, indent=1,
                                                sort_keys=True),
                                     encoding="utf-8")


def write_exercise_pages(dest: Path, guide: bool) -> tuple:
    """``exercises/index.md`` and the student notebooks beside it, as
    ``minijoint.course.notebooks.write_notebooks(dest / "exercises", "student")`` writes them.
    Returns ({page: source}, problem): ``problem`` says why no notebook could be written
    (the course has no exercise, or no notebook writer yet), else None. ``guide``: whether
    docs/teaching.md, which says how the exercises are checked, is on the site."""
    from ..course import EXERCISES
    try:
        from ..course.notebooks import write_notebooks
    except ImportError as e:
        write_notebooks, problem = None, f"the course has no notebook writer yet ({e})"
    out = dest / "exercises"
    out.mkdir(parents=True)
    written = []
    if not EXERCISES:
        problem = "no exercise is registered in minijoint/course/exercises.py yet"
    elif write_notebooks is not None:
        try:
            written = [Path(p) for p in write_notebooks(out, "student")]
            problem = None
        except (FileNotFoundError, ValueError) as e:   # a course still being written
            problem = f"the student notebooks could not be written: {e}"
    sources = {f"exercises/{p.stem}": f"minijoint/course/notebooks/{p.name} (student form, "
               f"written by minijoint.course.notebooks.write_notebooks)" for p in written}
    sources["exercises/index"] = "minijoint/course/ (the registry: exercises.py)"
    (out / "index.md").write_text(_exercise_index(EXERCISES, written, problem, guide),
                                  encoding="utf-8")
    return sources, problem


def _exercise_index(exercises: dict, written: list, problem, guide: bool) -> str:
    how = ("How they are checked, and how to grade a class's submissions: the "
           "[teaching guide](../docs/teaching.md)." if guide else
           "How they are checked: `check(name)` grades one exercise in the notebook "
           "({py:func}`minijoint.course.check`); the teaching guide (docs/teaching.md) "
           "is not written yet.")
    lines = ["# Exercises\n",
             "Each notebook is the student's copy: the function bodies are left for you to "
             "write, and a cell ending in `check(\"name\")` grades your code, explaining what "
             "went wrong when it fails. Download a notebook, open it in Jupyter "
             "(`pip install -e \".[notebook]\" jupyterlab`) and solve it there.\n", how + "\n"]
    if written:
        lines.append("```{toctree}\n:maxdepth: 1\n\n" + "\n".join(p.stem for p in written)
                     + "\n```\n")
        lines += [f"- {{download}}`{p.name} <{p.name}>`" for p in written]
        lines.append("")
    else:
        lines.append(f"```{{note}}\nNo exercise notebooks yet: {problem}.\n```\n")
    if exercises:
        lines.append("## The exercises\n")
        lines += [f"- `{e.name}`: {e.title} (notebook `{e.notebook}`)" for e in exercises.values()]
    return "\n".join(lines) + "\n"
