"""The course's machinery: student notebooks generated from the solved ones, submissions
graded in child processes, and ``python -m minijoint course ...``.

Two courses are used. A tiny one, written into a temporary folder (two exercises,
``tiny_square`` and ``tiny_double``, each with a solved notebook), tests the machinery on
its own. The real registry's seven exercises are tested through the same commands, in
tests parametrized over the registry: each solved notebook passes its grader through
``course check``, each student notebook has no solution left, grades "not implemented",
and (``notebook`` marker) executes top to bottom in a Jupyter kernel.
"""
from __future__ import annotations

import csv
import importlib
import itertools
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import minijoint.course as course
from minijoint import cli
from minijoint.course import exercises, notebooks, submission
from minijoint.course.core import ERROR, FAIL, MISSING, NOT_IMPLEMENTED, PASS

ROOT = Path(__file__).resolve().parents[1]
REAL = list(exercises.EXERCISES.values())
_real_ids = [e.name for e in REAL]

# ---- the tiny course ----------------------------------------------------------------------
TINY_MODULE = '''
"""Two tiny exercises for the machinery's tests: square(x) and double(x), elementwise."""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from minijoint.course.core import Exercise, Wrong, call, for_all


def _elementwise(name, fn, reference, mistakes):
    """An exercise whose function maps an array to ``reference(x)``; ``mistakes``:
    key -> (the reference with the mistake planted, the hint)."""
    def grade(funcs):
        def one(x):
            got = np.asarray(call(funcs[fn], x.copy(), inputs=f"x of shape {x.shape}"))
            want = reference(x)
            if got.shape != want.shape:
                raise Wrong(f"{fn}(x) for x of shape {x.shape} returned shape {got.shape}")
            if not np.allclose(got, want):
                i = np.unravel_index(np.argmax(np.abs(got - want)), x.shape)
                for key, (variant, hint) in mistakes.items():
                    if np.allclose(got, variant(x)):
                        raise Wrong(f"{fn}(x) at {i} for x of shape {x.shape}: expected "
                                    f"{want[i]:.4g}, got {got[i]:.4g}; {hint}", key)
                raise Wrong(f"{fn}(x) at {i} for x of shape {x.shape}: expected "
                            f"{want[i]:.4g}, got {got[i]:.4g}")
        for_all(arrays(np.float64, array_shapes(max_dims=2, max_side=4),
                       elements=st.floats(-3, 3)), one, examples=15)
    return Exercise(name, f"{fn}, elementwise", f"{name}.ipynb", (fn,), grade,
                    {k: hint for k, (_, hint) in mistakes.items()})


SQUARE = _elementwise("tiny_square", "square", lambda x: x * x,
                      {"doubled": (lambda x: x + x, "did you write x + x instead of x * x?")})
DOUBLE = _elementwise("tiny_double", "double", lambda x: 2 * x, {})
'''


_cell_ids = itertools.count()


def _code(src: str) -> dict:
    return {"cell_type": "code", "id": f"c{next(_cell_ids)}", "metadata": {},
            "execution_count": None, "outputs": [],
            "source": textwrap.dedent(src).strip("\n").splitlines(keepends=True)}


def _markdown(src: str) -> dict:
    return {"cell_type": "markdown", "id": f"m{next(_cell_ids)}", "metadata": {}, "source": src}


def _notebook(cells) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5, "cells": list(cells),
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"}}}


def _solved(name: str, fn: str, body: str) -> dict:
    """A solved notebook as the exercises' authors write them; its first cell registers
    the tiny exercise (a real notebook's exercise is in the registry already)."""
    return _notebook([
        _markdown(f"# {fn}\n\n$$y = {fn}(x)$$\n\nWrite `{fn}(x)`, elementwise."),
        _code("""
            import numpy as np
            import tiny_exercise
            from minijoint.course import check, exercises
            exercises.EXERCISES.setdefault("tiny_square", tiny_exercise.SQUARE)
            exercises.EXERCISES.setdefault("tiny_double", tiny_exercise.DOUBLE)
            """),
        _code(f'''
            def {fn}(x):
                """{fn} of each element of x (any shape); returns an array of x's shape."""
                ### BEGIN SOLUTION
                {body}
                ### END SOLUTION
            '''),
        _code(f'check("{name}")'),
    ])


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_course")
    (folder / "tiny_exercise.py").write_text(TINY_MODULE)
    for name, fn, body in (("tiny_square", "square", "y = x * x\nreturn y"),
                           ("tiny_double", "double", "return 2 * x")):
        nb = _solved(name, fn, textwrap.indent(body, " " * 16).lstrip())
        (folder / f"{name}.ipynb").write_text(json.dumps(nb, indent=1))
    sys.path.insert(0, str(folder))
    importlib.import_module("tiny_exercise")   # (a module written here, not a dependency)
    yield folder
    sys.path.remove(str(folder))
    del sys.modules["tiny_exercise"]


@pytest.fixture
def tiny(tiny_dir, monkeypatch):
    """The registry holds the tiny course only, its solved notebooks read from ``tiny_dir``;
    child processes (fork) see the same."""
    tiny_exercise = sys.modules["tiny_exercise"]
    monkeypatch.setattr(exercises, "EXERCISES", {"tiny_square": tiny_exercise.SQUARE,
                                                 "tiny_double": tiny_exercise.DOUBLE})
    real = notebooks.solved_notebook_path
    monkeypatch.setattr(notebooks, "solved_notebook_path", lambda f, source=None: real(f, tiny_dir))
    return tiny_dir


def _script(tmp_path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text("import numpy as np\n" + textwrap.dedent(text))
    return path


def _main(capsys, *argv) -> tuple:
    code = cli.main(["course", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def _sources(nb) -> str:
    return "\n".join(notebooks.cell_source(c) for c in nb["cells"])


# ---- the student version ------------------------------------------------------------------
def test_student_version_keeps_signature_and_docstring_and_stubs_the_body(tiny_dir):
    solved = notebooks.read_notebook(tiny_dir / "tiny_square.ipynb")
    student = notebooks.student_version(solved, "tiny_square", "tiny_square.ipynb")
    assert notebooks.cell_source(student["cells"][2]) == (
        'def square(x):\n'
        '    """square of each element of x (any shape); returns an array of x\'s shape."""\n'
        '    # YOUR CODE HERE\n'
        '    raise NotImplementedError("exercise tiny_square: write your code here")\n')
    assert [notebooks.cell_source(c) for i, c in enumerate(student["cells"]) if i != 2] == \
           [notebooks.cell_source(c) for i, c in enumerate(solved["cells"]) if i != 2]
    assert student["metadata"]["minijoint"]["generated"] == "student"
    assert student["metadata"]["minijoint"]["from"] == "tiny_square.ipynb"
    assert "minijoint" not in solved["metadata"], "student_version changed its input"


_names = st.from_regex(r"sol_[a-z]{1,6}", fullmatch=True)


@given(bodies=st.lists(st.lists(_names, min_size=1, max_size=4), min_size=1, max_size=3),
       depth=st.integers(1, 3), outputs=st.booleans())
def test_student_version_property(bodies, depth, outputs):
    """For solution bodies drawn at any indentation (one function per region), the student
    code compiles, no solution line survives, calling each function raises the stub's
    NotImplementedError, and no output is left."""
    cells = []
    for k, lines in enumerate(bodies):
        pad = "    " * depth
        head = "".join(f"{'    ' * d}if True:\n" for d in range(1, depth))
        body = "".join(f"{pad}{line} = {k}\n" for line in lines)
        src = (f"def f{k}(x):\n    '''doc'''\n{head}{pad}### BEGIN SOLUTION\n{body}"
               f"{pad}### END SOLUTION\n{pad}return x\n")
        cell = _code(src)
        if outputs:
            cell["outputs"], cell["execution_count"] = [{"output_type": "stream", "name": "stdout",
                                                          "text": "sol_leak"}], 3
        cells.append(cell)
    student = notebooks.student_version(_notebook(cells), "ex", "drawn.ipynb")
    for k, cell in enumerate(student["cells"]):
        src = notebooks.cell_source(cell)
        assert "sol_" not in src and "SOLUTION" not in src
        assert cell["outputs"] == [] and cell["execution_count"] is None
        ns = {}
        exec(compile(src, "<student>", "exec"), ns)
        with pytest.raises(NotImplementedError, match="exercise ex: write your code here"):
            ns[f"f{k}"](1)


@pytest.mark.parametrize("src, says", [
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "never closed"),
    ("def f():\n    return 1\n    ### END SOLUTION\n", "without a"),
    ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n",
     "do not nest"),
    ("def f():\n    ## BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n", "looks like a solution marker"),
    ("def f():\n    ### BEGIN SOLUTION here\n    return 1\n    ### END SOLUTION\n",
     "looks like a solution marker"),
    ("### BEGIN SOLUTION\ny = 1\n### END SOLUTION\n", "not inside a function"),
], ids=["unclosed", "end-first", "nested", "near-miss", "trailing-words", "top-level"])
def test_bad_markers_are_refused_naming_notebook_and_cell(src, says):
    nb = _notebook([_markdown("# title"), _code("x = 1"), _code(src)])
    with pytest.raises(ValueError, match=says) as info:
        notebooks.student_version(nb, "ex", "07_bad.ipynb")
    assert "07_bad.ipynb, cell 2" in str(info.value)


def test_a_notebook_without_a_solution_region_is_refused():
    with pytest.raises(ValueError, match="no solution region"):
        notebooks.student_version(_notebook([_code("def f():\n    return 1")]), "ex", "a.ipynb")


def test_read_notebook_refuses_what_is_not_nbformat_4(tmp_path):
    (tmp_path / "a.ipynb").write_text("{not json")
    (tmp_path / "b.ipynb").write_text(json.dumps({"nbformat": 3, "worksheets": []}))
    with pytest.raises(ValueError, match="not valid JSON"):
        notebooks.read_notebook(tmp_path / "a.ipynb")
    with pytest.raises(ValueError, match="expected an nbformat 4 notebook.*got nbformat 3"):
        notebooks.read_notebook(tmp_path / "b.ipynb")


# ---- writing the notebooks: nothing a user made is lost -----------------------------------
def test_write_student_and_solution_notebooks(tiny, tmp_path):
    paths = notebooks.write_notebooks(tmp_path / "out", "student")
    assert [p.name for p in paths] == ["tiny_square.ipynb", "tiny_double.ipynb"]
    for p in paths:
        nb = json.loads(p.read_text())
        assert nb["metadata"]["minijoint"]["generated"] == "student"
        assert "2 * x" not in _sources(nb) and "y = x * x" not in _sources(nb)
    solved = notebooks.write_notebooks(tmp_path / "sol", "solution")
    assert "y = x * x" in _sources(json.loads(solved[0].read_text()))
    assert not [f for f in os.listdir(tmp_path / "out") if f.startswith(".tmp-")]
    with pytest.raises(ValueError, match="student, solution.*got 'teacher'"):
        notebooks.write_notebooks(tmp_path / "x", "teacher")


def test_writing_over_a_students_work_is_refused_and_nothing_is_written(tiny, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    work = out / "tiny_double.ipynb"
    work.write_text("the student's work")
    with pytest.raises(FileExistsError, match=r"tiny_double.ipynb.*--overwrite"):
        notebooks.write_notebooks(out, "student")
    assert work.read_text() == "the student's work"
    assert not (out / "tiny_square.ipynb").exists(), "one notebook was written before the refusal"
    notebooks.write_notebooks(out, "student", overwrite=True)
    assert json.loads(work.read_text())["metadata"]["minijoint"]["generated"] == "student"


def test_cli_student_refuses_then_overwrites(tiny, tmp_path, capsys):
    code, out, _ = _main(capsys, "student", tmp_path / "h")
    assert code == 0 and out.split() == [str(tmp_path / "h" / f"{n}.ipynb")
                                         for n in ("tiny_square", "tiny_double")]
    code, out, err = _main(capsys, "student", tmp_path / "h")
    assert code == 2 and err.startswith("error: refusing to replace 2 existing notebooks")
    assert "--overwrite" in err and "Traceback" not in err
    assert _main(capsys, "solution", tmp_path / "h", "--overwrite")[0] == 0
    assert "y = x * x" in _sources(json.loads((tmp_path / "h" / "tiny_square.ipynb").read_text()))


def test_cli_list(tiny, capsys):
    code, out, _ = _main(capsys, "list")
    assert code == 0
    assert out.splitlines() == [
        "tiny_square  square, elementwise  tiny_square.ipynb",
        "tiny_double  double, elementwise  tiny_double.ipynb"]


def test_every_course_argument_has_help():
    sub = next(a for a in cli.make_parser()._actions if a.dest == "command").choices["course"]
    parsers = [sub] + list(next(a for a in sub._actions if a.dest == "course_command").choices.values())
    missing = [f"{p.prog}: {a.dest}" for p in parsers for a in p._actions if not a.help]
    assert len(parsers) == 5 and missing == []


# ---- loading a submission -----------------------------------------------------------------
@pytest.mark.parametrize("src, python", [
    ("%matplotlib inline\nx = 1\n", "pass  # IPython: %matplotlib inline\nx = 1\n"),
    ("if True:\n    !pip install numpy\n", "if True:\n    pass  # IPython: !pip install numpy\n"),
    ("files = !ls\ny = a != b\nz = (a\n     % b)\n",
     "pass  # IPython: files = !ls\ny = a != b\nz = (a\n     % b)\n"),
    ("%%time\nx = 1\n", "x = 1\n"),
    ("\n%%bash\necho hi\n", None),
], ids=["line-magic", "indented-shell", "not-magics", "time-cell", "bash-cell"])
def test_python_of_cell(src, python):
    assert submission.python_of_cell(src) == python


def test_load_a_notebook_with_magics_a_failing_cell_and_checks(tmp_path):
    nb = _notebook([
        _markdown("# my work"),
        _code("%matplotlib inline\n!pip install nothing\nimport numpy as np"),
        _code("%%bash\nexit 1"),
        _code("from minijoint.course import check\nv = check('no_such_exercise')\ndisplay(v)"),
        _code("undefined_name + 1"),
        _code("def square(x):\n    return x * x"),
    ])
    path = tmp_path / "sub.ipynb"
    path.write_text(json.dumps(nb))
    real_check = course.check
    ns, errors = submission.load_submission(path)
    assert ns["v"] is None, "check() in a submission graded something while loading"
    assert course.check is real_check
    assert errors == ("cell 4: NameError: name 'undefined_name' is not defined",)
    assert ns["square"](3) == 9 and ns["np"].__name__ == "numpy"


def test_load_a_script_runs_it_as_a_module(tmp_path):
    path = _script(tmp_path, "s.py", """
        def square(x):
            return x * x
        if __name__ == "__main__":
            raise SystemExit("the main block ran")
        """)
    ns, errors = submission.load_submission(path)
    assert errors == () and ns["__name__"] == "submission" and ns["square"](2) == 4


# ---- grading: verdicts from a child process -----------------------------------------------
STUDENTS = {  # how a student might write square(x), and what the grader must say
    "right": ("return x ** 2", PASS, None),
    "doubled": ("return x + x", FAIL, "doubled"),
    "unrelated": ("return x ** 3", FAIL, None),
    "stub": ("raise NotImplementedError", NOT_IMPLEMENTED, None),
    "crash": ("return x.reshape(2, -1) * x.reshape(2, -1)", ERROR, None),
}


@pytest.mark.parametrize("who", list(STUDENTS))
def test_grade_a_script(tiny, tmp_path, who):
    body, status, mistake = STUDENTS[who]
    path = _script(tmp_path, f"{who}.py", f"def square(x):\n    {body}\n")
    r = submission.grade_submission(path)
    square, double = r.verdicts
    assert (square.exercise, square.status, square.mistake) == ("tiny_square", status, mistake)
    assert (double.exercise, double.status) == ("tiny_double", MISSING)
    assert r.ok == (status == PASS)
    if who == "doubled":
        assert "x + x" in square.message
    if who == "crash":
        assert "ValueError" in square.message and "x of shape (" in square.message


def test_a_submission_defining_nothing_is_not_ok(tiny, tmp_path):
    r = submission.grade_submission(_script(tmp_path, "empty.py", "x = 1\n"))
    assert [v.status for v in r.verdicts] == [MISSING, MISSING] and not r.ok


def test_an_endless_loop_costs_its_submission_only_and_keeps_earlier_verdicts(tiny, tmp_path):
    path = _script(tmp_path, "loop.py", """
        def square(x):
            return x * x
        def double(x):
            while True:
                pass
        """)
    start = time.monotonic()
    r = submission.grade_submission(path, timeout=3)
    assert time.monotonic() - start < 10
    assert r.verdicts[0].status == PASS
    assert r.verdicts[1].status == ERROR and r.verdicts[1].message.startswith("timed out after 3 s")


def test_a_dying_grader_is_reported(tiny, tmp_path):
    path = _script(tmp_path, "die.py", """
        import os
        print("about to leave")
        def square(x):
            os._exit(3)
        """)
    v = submission.grade_submission(path, timeout=30).verdicts[0]
    assert v.status == ERROR and "the grader's process died (exit code 3" in v.message
    assert "about to leave" in v.message


def test_an_unreadable_notebook_is_an_error_for_each_exercise_told_once(tiny, tmp_path, capsys):
    path = tmp_path / "broken.ipynb"
    path.write_text("{")
    r = submission.grade_submission(path)
    assert [v.status for v in r.verdicts] == [ERROR, ERROR]
    assert "could not load broken.ipynb" in r.verdicts[0].message
    code, out, _ = _main(capsys, "check", path)
    assert code == 1 and out.count("could not load broken.ipynb") == 1
    assert "tiny_square, tiny_double: error" in out


def test_spawned_grader_where_fork_is_not_used(tmp_path, monkeypatch):
    """macOS and Windows grade in a spawned interpreter (the real registry, imported anew):
    the script still runs there and its verdicts and load errors come back."""
    import multiprocessing
    monkeypatch.setattr(submission, "_context", lambda: multiprocessing.get_context("spawn"))
    r = submission.grade_submission(_script(tmp_path, "s.py", "x = 1 / 0\n"), timeout=60)
    assert r.load_errors == ("s.py: ZeroDivisionError: division by zero",)
    assert [(v.exercise, v.status) for v in r.verdicts] == [(n, MISSING) for n in exercises.EXERCISES]


# ---- course check -------------------------------------------------------------------------
def test_cli_check_table_messages_csv_and_exit_code(tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)   # the paths as typed, relative to here (not to the child's folder)
    (tmp_path / "subs").mkdir()
    right = _script(Path("subs"), "ann.py", "def square(x):\n    return x * x\n")
    wrong = _script(Path("subs"), "bob.py", "def square(x):\n    return x + x\n"
                                            "def double(x):\n    raise NotImplementedError\n")
    grades = Path("grades.csv")
    code, out, err = _main(capsys, "check", right, wrong, "--csv", grades)
    assert code == 1 and err.count("grading ") == 2
    table = out.splitlines()
    assert table[0].split() == ["submission", "tiny_square", "tiny_double"]
    assert table[2].split() == [str(right), "pass", "—"]   # not attempted: not graded
    assert table[3].split() == [str(wrong), "fail", "not", "implemented"]
    below = out[out.index(f"{wrong}:"):]
    assert "tiny_square: fail [mistake: doubled]" in below and "x + x instead of x * x" in below
    assert f"{right}:" not in out, "a submission with nothing to explain got a section"
    with open(grades, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(submission.CSV_COLUMNS)
    assert [(r["submission"], r["exercise"], r["status"], r["score"], r["mistake"]) for r in rows] == [
        (str(right), "tiny_square", "pass", "1", ""), (str(wrong), "tiny_square", "fail", "0", "doubled"),
        (str(wrong), "tiny_double", "not implemented", "0", "")]
    assert "x + x" in rows[1]["message"]

    before = grades.read_text()
    code, _, err = _main(capsys, "check", right, "--csv", grades)
    assert code == 2 and "refusing to replace" in err and "--overwrite" in err
    assert "grading" not in err and grades.read_text() == before
    assert _main(capsys, "check", right, "--csv", grades, "--overwrite")[0] == 0
    assert len(grades.read_text().splitlines()) == 2


def test_cli_check_a_folder_is_one_students_work(tiny, tmp_path, capsys):
    """A folder of notebooks and scripts is one submission: one row, each exercise graded
    from the file that defines it (the one named after its notebook first), load errors
    named with their file."""
    alice = tmp_path / "alice"
    alice.mkdir()
    _script(alice, "scratch.py", "def square(x):\n    return x + x\n")          # an old try
    _script(alice, "tiny_square.py", "def square(x):\n    return x * x\n")      # named after it
    _script(alice, "more.py", "def double(x):\n    return x + x\n1 / 0\n")
    (alice / "notes.txt").write_text("not a submission")
    code, out, _ = _main(capsys, "check", alice, "--csv", tmp_path / "g.csv")
    assert code == 0, out
    assert out.splitlines()[2].split() == [str(alice), "pass", "pass"]
    assert "while loading, more.py: ZeroDivisionError" in out   # the file that raised, by name
    with open(tmp_path / "g.csv", newline="") as f:
        assert [(r["submission"], r["exercise"], r["status"]) for r in csv.DictReader(f)] == [
            (str(alice), "tiny_square", "pass"), (str(alice), "tiny_double", "pass")]
    (alice / "tiny_square.py").unlink()
    code, out, _ = _main(capsys, "check", alice)
    assert code == 1 and "tiny_square: fail [mistake: doubled]" in out
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = _main(capsys, "check", empty)
    assert code == 2 and f"error: {empty}: a folder submission holds notebooks" in err


def test_cli_check_selected_exercises_count_even_when_missing(tiny, tmp_path, capsys):
    right = _script(tmp_path, "ann.py", "def square(x):\n    return x * x\n")
    code, out, _ = _main(capsys, "check", right, "--exercise", "tiny_square")
    assert code == 0 and out.splitlines()[0].split() == ["submission", "tiny_square"]
    code, out, _ = _main(capsys, "check", right, "--exercise", "tiny_square", "tiny_double")
    assert code == 1 and "tiny_double: missing" in out and "define double" in out


@pytest.mark.parametrize("argv, says", [
    (["check", "nowhere.ipynb"], "error: no submission nowhere.ipynb (no such file or folder)"),
    (["check", "{py}", "--exercise", "lif_fwd"], "error: unknown exercise 'lif_fwd'"),
    (["check", "{txt}"], "error: {txt}: a submission is a notebook (.ipynb) or a script (.py)"),
    (["check", "{py}", "--timeout", "0"], "error: the timeout must be > 0 seconds, got 0.0"),
], ids=["missing-file", "unknown-exercise", "bad-suffix", "bad-timeout"])
def test_cli_check_bad_usage_exits_2_with_one_line(tiny, tmp_path, capsys, argv, says):
    files = {"py": _script(tmp_path, "a.py", ""), "txt": tmp_path / "a.txt"}
    files["txt"].write_text("")
    code, out, err = _main(capsys, *[a.format(**files) for a in argv])
    assert code == 2 and out == "" and err.startswith(says.format(**files))
    assert len(err.strip().splitlines()) == 1


def test_cli_check_notebooks_solved_student_and_with_a_failing_cell(tiny, tmp_path, capsys):
    solved = [tiny / "tiny_square.ipynb", tiny / "tiny_double.ipynb"]
    code, out, _ = _main(capsys, "check", *solved)
    assert code == 0, out
    assert [line.split()[1:] for line in out.splitlines()[2:4]] == [["pass", "—"],
                                                                   ["—", "pass"]]
    students = notebooks.write_notebooks(tmp_path / "h", "student")
    code, out, _ = _main(capsys, "check", *students)
    assert code == 1
    assert [line.split()[1:] for line in out.splitlines()[2:4]] == [
        ["not", "implemented", "—"], ["—", "not", "implemented"]]
    nb = json.loads(students[0].read_text())
    nb["cells"].insert(2, _code("1 / 0"))
    nb["cells"][3]["source"] = "def square(x):\n    return x * x\n"
    students[0].write_text(json.dumps(nb))
    code, out, _ = _main(capsys, "check", students[0])
    assert code == 0 and "while loading, cell 2: ZeroDivisionError: division by zero" in out


def test_cli_check_in_a_fresh_interpreter_exit_status(tmp_path):
    """`python -m minijoint course check` as a user runs it (the real registry, spawn or
    fork): a script defining none of the exercises is graded all "missing", exit 1."""
    path = _script(tmp_path, "nothing.py", "x = 1\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    r = subprocess.run([sys.executable, "-m", "minijoint", "course", "check", str(path)],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    assert r.stdout.splitlines()[0].split() == ["submission", *exercises.EXERCISES]
    assert "defines none of the exercises' functions" in r.stdout


# ---- the real course (parametrized over the registry) -------------------------------------
@pytest.fixture(scope="module")
def real_graded(tmp_path_factory):
    """Every solved notebook and every student notebook, graded by `course check` once."""
    out = tmp_path_factory.mktemp("real")
    solved = [notebooks.solved_notebook_path(f) for f, _ in notebooks.solved_notebooks()]
    students = notebooks.write_notebooks(out / "student", "student")
    result = {}
    for kind, paths in (("solved", solved), ("student", students)):
        grades = out / f"{kind}.csv"
        code = cli.main(["course", "check", *map(str, paths), "--csv", str(grades)])
        with open(grades, newline="") as f:
            result[kind] = (code, {(Path(r["submission"]).name, r["exercise"]): r
                                   for r in csv.DictReader(f)})
    result["student_paths"] = students
    return result


@pytest.mark.parametrize("ex", REAL, ids=_real_ids)
def test_real_solution_passes_its_grader(real_graded, ex):
    code, rows = real_graded["solved"]
    row = rows[(ex.notebook, ex.name)]
    assert row["status"] == PASS, row["message"]
    assert code == 0


@pytest.mark.parametrize("ex", REAL, ids=_real_ids)
def test_real_student_notebook_grades_not_implemented(real_graded, ex):
    code, rows = real_graded["student"]
    assert rows[(ex.notebook, ex.name)]["status"] == NOT_IMPLEMENTED
    assert code == 1


def _region_lines(nb) -> set:
    """The lines inside the solution regions that appear nowhere else in the notebook."""
    inside, outside, region = set(), set(), False
    for cell in nb["cells"]:
        for line in notebooks.cell_source(cell).splitlines():
            text = line.strip()
            if text in (notebooks.BEGIN, notebooks.END):
                region = text == notebooks.BEGIN
            elif text:
                (inside if region else outside).add(text)
    return inside - outside


@pytest.mark.parametrize("ex", REAL, ids=_real_ids)
def test_real_student_notebook_holds_no_solution_line(real_graded, ex):
    solved = notebooks.read_notebook(notebooks.solved_notebook_path(ex.notebook))
    secret = _region_lines(solved)
    assert secret, f"{ex.notebook}: no solution line of its own"
    student = json.loads(next(p for p in real_graded["student_paths"]
                              if p.name == ex.notebook).read_text())
    left = [line for line in _sources(student).splitlines() if line.strip() in secret]
    assert left == []


def test_student_notebooks_are_generated_not_stored():
    """The solved notebooks are the only ones stored: every shipped notebook holds a
    solution region, and no notebook in the repository was generated."""
    shipped = sorted((ROOT / "minijoint" / "course" / "notebooks").glob("*.ipynb"))
    assert sorted(p.name for p in shipped) == sorted(f for f, _ in notebooks.solved_notebooks())
    for p in shipped:
        assert notebooks.BEGIN in _sources(notebooks.read_notebook(p)), p.name
    listed = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.split()
    generated = [f for f in listed
                 if "minijoint" in json.loads((ROOT / f).read_text()).get("metadata", {})]
    assert len(listed) >= 9 and generated == []


# ---- executing the student notebooks in a kernel ------------------------------------------
def _execute(path: Path, extra_path: Path | None = None):
    import nbformat
    from minijoint.site.execute import run_notebook
    return run_notebook(nbformat.read(path, as_version=4), path.parent, timeout=300,
                        extra_path=extra_path)


def _check_outputs(nb) -> list:
    """The text each `check(...)` cell showed."""
    shown = []
    for cell in nb.cells:
        if cell.cell_type == "code" and "check(" in cell.source:
            shown.append("".join(o.get("text", "") or o.get("data", {}).get("text/plain", "")
                                 for o in cell.outputs))
    return shown


@pytest.mark.notebook
def test_tiny_student_notebook_executes_and_checks_say_not_implemented(tiny, tmp_path):
    path = notebooks.write_notebooks(tmp_path, "student")[0]
    shown = _check_outputs(_execute(path, tiny))
    assert shown == ["tiny_square: not implemented\n  not implemented yet: replace the "
                     "`raise NotImplementedError` stub with your code"]


@pytest.mark.notebook
@pytest.mark.parametrize("ex", REAL, ids=_real_ids)
def test_real_student_notebook_executes_and_checks_say_not_implemented(real_graded, ex):
    path = next(p for p in real_graded["student_paths"] if p.name == ex.notebook)
    shown = _check_outputs(_execute(path))
    assert shown and all(s.startswith(f"{ex.name}: not implemented") for s in shown), shown
