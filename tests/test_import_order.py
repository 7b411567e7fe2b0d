"""Imports point one way, as a reader would draw the paper's parts:

    engine (backend, threads, tensor, function, functional, random)
      ← snn, data  ← nn, optim, testing  ← models  ← joint  ← energy  ← plot, course
      ← figures  ← site  ← cli

Every ``import`` in the package is read with ``ast`` — those inside functions too, since a
"lazy" import is still a dependency — and an arrow against that order, or a cycle between
modules outside the engine, fails with the file and line that made it.
"""
import ast
import shutil
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "minijoint"
ENGINE = {"backend", "threads", "tensor", "function", "functional", "random"}
# testing sits above snn: check_surrogate runs the LIF with the surrogate it checks.
RANK = {**{name: 0 for name in ENGINE}, "snn": 1, "data": 1, "nn": 2, "optim": 2, "testing": 2,
        "models": 3, "joint": 4, "energy": 5, "plot": 6, "course": 6, "figures": 7, "site": 8,
        "cli": 9, "__main__": 10}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, node, root: Path) -> list:
    """The minijoint modules an import statement names (absolute ``minijoint.x.y``)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == root.name]
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level:
        base = base[:len(base) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target.split(".")[0] != root.name:
        return []
    out = []
    for a in node.names:   # `from .. import backend` names a module, `from .x import f` does not
        sub = f"{target}.{a.name}"
        rel = Path(*sub.split(".")[1:])
        exists = (root / rel).with_suffix(".py").exists() or (root / rel / "__init__.py").exists()
        out.append(sub if exists else target)
    return out


def import_edges(root: Path = PACKAGE) -> list:
    """(importer, imported, "file:line") for every import between the package's modules."""
    edges = []
    for path in sorted(root.rglob("*.py")):
        module = _module_name(path, root)
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _resolve(module, path.name == "__init__.py", node, root):
                    if target != module:
                        edges.append((module, target, f"{path.relative_to(root.parent)}:{node.lineno}"))
    return edges


def _part(module: str):
    """The top-level part of ``minijoint.joint.run`` (``joint``); None for the package root."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def against_the_order(edges) -> list:
    """The edges that point up the order (the package root, a facade of lazy re-exports,
    is exempt as an importer)."""
    bad = []
    for a, b, where in edges:
        pa, pb = _part(a), _part(b)
        if pa is None or pb is None or pa == pb:
            continue
        if pa not in RANK or pb not in RANK:
            bad.append(f"{where}: {a} -> {b}: {pa if pa not in RANK else pb!r} has no place in the order")
        elif RANK[pb] > RANK[pa] or (RANK[pb] == RANK[pa] and not {pa, pb} <= ENGINE):
            bad.append(f"{where}: {a} -> {b} points against the order ({pa} sits below {pb})")
    return bad


def cycles(edges) -> list:
    """Import cycles among modules outside the engine, each as a list of modules."""
    graph = {}
    for a, b, _ in edges:
        if _part(a) is not None and _part(b) is not None and not {_part(a), _part(b)} <= ENGINE:
            graph.setdefault(a, set()).add(b)
    found, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


def test_every_part_of_the_package_has_a_place_in_the_order():
    parts = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()}
    assert parts - set(RANK) == set()


def test_imports_point_one_way():
    edges = import_edges()
    assert len(edges) > 50, "the parser found almost no imports: it is not reading the package"
    assert against_the_order(edges) == []


def test_no_import_cycle_outside_the_engine():
    assert cycles(import_edges()) == []


def test_the_check_catches_a_planted_back_import_and_cycle(tmp_path):
    copy = tmp_path / "minijoint"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    conv = copy / "functional" / "conv.py"
    conv.write_text(conv.read_text() + "\n\ndef _planted():\n    from ..models import JointNet\n")
    config = copy / "joint" / "config.py"
    config.write_text(config.read_text() + "\n\ndef _planted():\n    from .train import train\n")
    edges = import_edges(copy)
    bad = against_the_order(edges)
    assert any("functional/conv.py" in b and "minijoint.models" in b for b in bad), bad
    loops = cycles(edges)
    assert any(c[0] == c[-1] and "minijoint.joint.config" in c and "minijoint.joint.train" in c
               for c in loops), loops


@pytest.mark.parametrize("source,expected", [
    ("from .. import backend", ["minijoint.backend"]),
    ("from ..functional import conv2d", ["minijoint.functional"]),
    ("from . import conv", ["minijoint.functional.conv"]),
    ("import minijoint.snn.lif", ["minijoint.snn.lif"]),
    ("import numpy as np", []),
])
def test_relative_imports_resolve_to_modules(source, expected):
    node = ast.parse(source).body[0]
    assert _resolve("minijoint.functional.pool", False, node, PACKAGE) == expected


def test_no_two_public_classes_or_functions_share_a_name():
    """"Go to definition" lands on one place: an op class (``Conv2dOp``) never shares its
    name with a layer (``Conv2d``), nor one builder with another."""
    homes = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and not node.name.startswith("_"):
                homes.setdefault(node.name, []).append(str(path.relative_to(PACKAGE.parent)))
    assert {n: h for n, h in homes.items() if len(h) > 1} == {}
