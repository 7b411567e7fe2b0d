r"""Grading a class: each submission loaded and graded in a child process of its own.

A submission is a notebook (``.ipynb``: its code cells run in order in a fresh namespace,
IPython's ``%magic`` and ``!shell`` lines left out, a cell that raises recorded and the
rest run on), a script (``.py``: run as a module named ``submission``, so its
``if __name__ == "__main__":`` part does not run), or a folder of them (one student's
work: each file is loaded on its own, and each exercise is graded with the file that
defines its functions). Every exercise is then graded with the functions the submission
defined (:func:`minijoint.course.core.grade`).

Student code is code: it may loop forever, exhaust memory or kill its interpreter. So
:func:`grade_submission` loads and grades in a child process with a time limit, and the
verdicts travel back as JSON, one at a time: a submission that hangs in its fourth
exercise keeps the verdicts of the first three, and the rest read "timed out after N s".
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import linecache
import multiprocessing
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from ..joint.checkpoint import write_atomic
from . import exercises
from .core import ERROR, MISSING, NOT_IMPLEMENTED, PASS, Verdict, grade
from .notebooks import cell_source, read_notebook

DEFAULT_TIMEOUT = 120.0   # seconds for one submission, loading and grading together
SUFFIXES = (".ipynb", ".py")
CSV_COLUMNS = ("submission", "exercise", "status", "score", "mistake", "message")

# `%magic`, `!shell` and `x = !shell` lines (not `!=` or `% b` continuing an expression)
_MAGIC_LINE = re.compile(r"^(\s*)(?=(?:[A-Za-z_]\w*\s*=\s*)?(?:%[A-Za-z%]|![A-Za-z./~$]))")
_PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun"}   # their body is Python


@dataclasses.dataclass(frozen=True)
class GradedSubmission:
    """One submission's verdicts, and the cells (or the script) that raised while loading.

    ``selected``: the exercises were named (``--exercise``), so each one counts even when
    the submission does not define it; otherwise only the exercises it defines count."""
    path: str
    verdicts: tuple
    load_errors: tuple = ()
    selected: bool = False

    @property
    def counted(self) -> list:
        return [v for v in self.verdicts if self.selected or v.status != MISSING]

    @property
    def ok(self) -> bool:
        """Every counted exercise passes, and there is at least one."""
        return bool(self.counted) and all(v.status == PASS for v in self.counted)


# ---- loading a submission (in whichever process calls it) --------------------------------
def python_of_cell(src: str) -> str | None:
    """A notebook cell's source as plain Python: ``%magic`` and ``!shell`` lines become
    ``pass`` (indentation kept); a ``%%time``-like cell keeps its Python body; any other
    cell magic (``%%bash``, ``%%writefile``, ...) makes the whole cell None (skipped)."""
    lines = src.splitlines(keepends=True)
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        magic = lines[first].lstrip()[2:].split(maxsplit=1)
        if not magic or magic[0] not in _PYTHON_CELL_MAGICS:
            return None
        lines = lines[first + 1:]
    return "".join(_MAGIC_LINE.sub(r"\1pass  # IPython: ", line) for line in lines)


def _run_source(src: str, filename: str, namespace: dict) -> None:
    linecache.cache[filename] = (len(src), None, src.splitlines(keepends=True), filename)
    exec(compile(src, filename, "exec"), namespace)


@contextlib.contextmanager
def _checks_silenced():
    """``check(...)`` in a submission returns None and grades nothing (the grader grades)."""
    import minijoint.course as course
    saved = course.check
    course.check = lambda *args, **kwargs: None
    try:
        yield
    finally:
        course.check = saved


def load_submission(path) -> tuple:
    """``(namespace, load_errors)``: the names a submission defines, and one line per cell
    (or script) that raised, e.g. ``"cell 4: NameError: name 'np' is not defined"``.

    The submission's code runs in this process: call it from a child process
    (:func:`grade_submission` does) unless the code is trusted."""
    path = Path(path)
    errors = []

    def run(src, filename, label):
        try:
            _run_source(src, filename, namespace)
        except BaseException as e:   # a cell's sys.exit() or a student's raise: go on
            if isinstance(e, KeyboardInterrupt):
                raise
            errors.append(f"{label}: {type(e).__name__}: {e}")

    with _checks_silenced():
        if path.suffix == ".ipynb":
            namespace = {"__name__": "__main__", "display": lambda *a, **k: None}
            for i, cell in enumerate(read_notebook(path)["cells"]):
                src = python_of_cell(cell_source(cell)) if cell.get("cell_type") == "code" else None
                if src and src.strip():
                    run(src, f"<{path.name}, cell {i}>", f"cell {i}")
        else:
            namespace = {"__name__": "submission", "__file__": str(path)}
            run(path.read_text(encoding="utf-8"), str(path), path.name)
    return namespace, tuple(errors)


# ---- one child process per submission ----------------------------------------------------
def _context():
    # fork: the child starts with minijoint imported (no second start-up) and with the
    # registry as it is here; spawn where fork is unsafe (macOS) or absent (Windows)
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def submission_files(path) -> list:
    """The files of a submission: the file itself, or a folder's ``.ipynb``/``.py`` files
    (not its subfolders), sorted by name."""
    path = Path(path)
    if not path.is_dir():
        return [path]
    return sorted(p for p in path.iterdir() if p.is_file() and p.suffix in SUFFIXES)


def _namespace_for(exercise, loaded: list) -> dict:
    """Among a folder's loaded files, the namespace that defines ``exercise``'s functions:
    the file named after its notebook (``03_lif_backward.ipynb``) first, then the last file
    that defines them all; an empty namespace when none does (the verdict: missing)."""
    defines = [(p, ns) for p, ns in loaded if all(callable(ns.get(f)) for f in exercise.functions)]
    named = [ns for p, ns in defines if p.stem == Path(exercise.notebook).stem]
    return (named or [ns for _, ns in defines] or [{}])[-1]


def _child(conn, path: str, names: list, log_path: str) -> None:
    """Load ``path`` (a file, or a folder's files), grade ``names``, and send each verdict
    to ``conn`` as JSON."""
    path = os.path.abspath(path)                 # before the chdir below
    fd = os.open(log_path, os.O_WRONLY)         # the student's prints and warnings go here
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = sys.stderr = io.TextIOWrapper(os.fdopen(os.dup(fd), "wb"), line_buffering=True)
    os.environ["MPLBACKEND"] = "Agg"           # plt.show() draws nowhere
    if "matplotlib" in sys.modules:
        with contextlib.suppress(Exception):
            sys.modules["matplotlib"].use("Agg", force=True)
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    os.chdir(folder)                             # the submission's files, as in Jupyter
    sys.path.insert(0, folder)

    def send(**msg):
        conn.send_bytes(json.dumps(msg).encode())

    files, loaded, errors = submission_files(path), [], []
    for file in files:
        try:
            namespace, errs = load_submission(file)
        except Exception as e:   # an unreadable notebook: every exercise reads why
            if len(files) == 1:
                send(kind="unreadable", message=f"could not load {file.name}: "
                                                f"{type(e).__name__}: {e}")
                return
            errors.append(f"{file.name}: could not load it: {type(e).__name__}: {e}")
            continue
        loaded.append((file, namespace))
        # a script's errors name it already; a notebook's name its cell: add the file
        errors += [e if len(files) == 1 or e.startswith(file.name) else f"{file.name}, {e}"
                   for e in errs]
    send(kind="loaded", errors=errors)
    for name in names:
        exercise = exercises.get_exercise(name)
        try:
            v = grade(exercise, _namespace_for(exercise, loaded))
        except BaseException as e:   # SystemExit from the student's function, say
            v = Verdict(name, ERROR, f"{type(e).__name__}: {e}")
        send(kind="verdict", **dataclasses.asdict(v))
    send(kind="done")


def _tail(log_path: str, chars: int = 600) -> str:
    with contextlib.suppress(OSError):
        text = Path(log_path).read_text(encoding="utf-8", errors="replace").strip()
        if text:
            return f"; its last output: ...{text[-chars:]}" if len(text) > chars else \
                   f"; its last output: {text}"
    return ""


def grade_submission(path, names=None, timeout: float = DEFAULT_TIMEOUT) -> GradedSubmission:
    """Load and grade one submission in a child process of its own, within ``timeout``
    seconds in all. ``names``: the exercises to grade (default: every registered one; when
    given, each counts even if the submission does not define it)."""
    selected = names is not None
    names = list(exercises.EXERCISES) if names is None else list(names)
    ctx = _context()
    received, sending = ctx.Pipe(duplex=False)
    with tempfile.NamedTemporaryFile(prefix="minijoint-grade-", suffix=".log", delete=False) as log:
        log_path = log.name
    child = ctx.Process(target=_child, args=(sending, str(path), names, log_path), daemon=True)
    verdicts, errors, why = {}, (), None
    try:
        child.start()
        sending.close()
        deadline = time.monotonic() + timeout
        while why is None:
            left = deadline - time.monotonic()
            if left <= 0 or not received.poll(left):
                why = f"timed out after {timeout:g} s (an endless loop? the submission has " \
                      f"{timeout:g} s to load and be graded; see --timeout)"
                break
            try:
                msg = json.loads(received.recv_bytes())
            except EOFError:
                child.join(5)
                code = child.exitcode
                how = (f"killed by signal {-code}" if code is not None and code < 0
                       else f"exit code {code}")
                why = f"the grader's process died ({how}; out of memory, or os._exit?)" \
                      f"{_tail(log_path)}"
                break
            kind = msg.pop("kind")
            if kind == "unreadable":
                why = msg["message"]
            elif kind == "loaded":
                errors = tuple(msg["errors"])
            elif kind == "verdict":
                verdicts[msg["exercise"]] = Verdict(**msg)
            elif kind == "done":
                break
    finally:
        if child.pid is not None:   # started
            if child.is_alive():
                child.kill()
            child.join()
        received.close()
        with contextlib.suppress(OSError):
            os.remove(log_path)
    out = tuple(verdicts.get(n) or Verdict(n, ERROR, why or "no verdict came back") for n in names)
    return GradedSubmission(str(path), out, errors, selected)


def check_submission_paths(paths) -> list:
    """The submissions as paths; a missing file, a suffix other than .ipynb/.py, or a
    folder without such files raises (before anything is graded)."""
    if not paths:
        raise ValueError("give at least one submission (.ipynb, .py, or a folder of them)")
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            if not submission_files(p):
                raise ValueError(f"{p}: a folder submission holds notebooks (.ipynb) or scripts "
                                 f"(.py); this one holds none")
            out.append(p)
            continue
        if not p.is_file():
            raise FileNotFoundError(f"no submission {p} (no such file or folder)")
        if p.suffix not in SUFFIXES:
            raise ValueError(f"{p}: a submission is a notebook (.ipynb) or a script (.py), "
                             f"got {p.suffix or 'no suffix'}")
        out.append(p)
    return out


def grade_submissions(paths, names=None, timeout: float = DEFAULT_TIMEOUT, progress=None) -> list:
    """:func:`grade_submission` for each path in turn; ``progress(path)`` before each."""
    if timeout <= 0:
        raise ValueError(f"the timeout must be > 0 seconds, got {timeout}")
    if names is not None:
        names = list(dict.fromkeys(exercises.get_exercise(n).name for n in names))  # unknown: raises
    results = []
    for p in check_submission_paths(paths):
        if progress is not None:
            progress(p)
        results.append(grade_submission(p, names, timeout))
    return results


# ---- the report: a table, the explanations, a CSV ----------------------------------------
def grades_table(results) -> str:
    """Rows: submissions; columns: exercises; cells: pass, fail, not implemented, missing,
    error. Then, under each submission, every failure's explanation and the cells that
    raised while loading."""
    if not results:
        return "no submissions"
    names = [v.exercise for v in results[0].verdicts]
    # an exercise no submission attempts gets no column; one a submission does not attempt
    # (and was not asked for with --exercise) reads "—": it is not graded, not failed
    shown = [i for i, n in enumerate(names) if any(r.verdicts[i] in r.counted for r in results)]
    shown = shown or list(range(len(names)))
    rows = [["submission", *(names[i] for i in shown)]] + [
        [r.path, *(r.verdicts[i].status if r.verdicts[i] in r.counted else "—" for i in shown)]
        for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in results:
        told = [v for v in r.verdicts if v.status not in (PASS, MISSING, NOT_IMPLEMENTED)
                or (r.selected and v.status == MISSING)]
        if not told and not r.load_errors and r.counted:
            continue
        lines += ["", f"{r.path}:"]
        if not r.counted:
            lines.append("  defines none of the exercises' functions "
                         f"({', '.join(f for n in names for f in exercises.get_exercise(n).functions)})")
        groups = []   # exercises that failed alike (a timeout, an unreadable file) are told once
        for v in told:
            if groups and (groups[-1][0].status, groups[-1][0].message, groups[-1][0].mistake) == \
                    (v.status, v.message, v.mistake):
                groups[-1].append(v)
            else:
                groups.append([v])
        for group in groups:
            v = group[0]
            named = f" [mistake: {v.mistake}]" if v.mistake else ""
            lines.append(f"  {', '.join(g.exercise for g in group)}: {v.status}{named}")
            lines += [f"    {line}" for line in v.message.splitlines()]
        for e in r.load_errors:
            lines.append(f"  while loading, {e}")
    return "\n".join(lines)


def refuse_to_replace(path, overwrite: bool) -> None:
    """FileExistsError when ``path`` exists and may not be replaced (checked before grading,
    so that a class is not graded for nothing)."""
    if os.path.lexists(path) and not overwrite:
        raise FileExistsError(f"refusing to replace {path}; pass --overwrite to replace it")


def write_grades_csv(path, results, overwrite: bool = False) -> None:
    """One row per submission and graded exercise (:data:`CSV_COLUMNS`; an exercise the
    submission does not attempt, and that was not named with --exercise, has no row),
    written atomically; an existing file is replaced only when ``overwrite``."""
    refuse_to_replace(path, overwrite)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in results:
        for v in r.counted:
            w.writerow([r.path, v.exercise, v.status, f"{v.score:g}", v.mistake or "", v.message])
    write_atomic(path, buf.getvalue())
