"""The package as a user meets it: ``import minijoint as mj`` reaches every sub-package,
``Module.to(dtype)`` / ``.double()`` / ``.float()`` cast a network like PyTorch's, and
pyproject.toml declares every third-party package the code imports."""
import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minijoint as mj
from minijoint.models import JointNet

ROOT = Path(__file__).resolve().parents[1]


# ---- import minijoint as mj --------------------------------------------------------------
def _fresh_python(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a new interpreter on this checkout (nothing imported beforehand)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_subpackages_reachable_from_a_bare_import():
    code = """
import minijoint as mj
mj.nn.Linear, mj.nn.Conv2d, mj.nn.BatchNorm2d, mj.nn.LIF, mj.nn.Module
mj.snn.lif, mj.snn.ATan
mj.optim.SGD, mj.optim.Adam
mj.models.JointNet
mj.joint.JointLoss, mj.joint.MODES
mj.data.load_digits, mj.data.DataLoader
mj.energy.energy_tables
mj.testing
missing = {"nn", "snn", "optim", "models", "joint", "data", "energy"} - set(dir(mj))
assert not missing, f"dir(minijoint) lacks {sorted(missing)}"
try:
    mj.no_such_thing
except AttributeError as e:
    assert "no_such_thing" in str(e), e
else:
    raise AssertionError("mj.no_such_thing did not raise AttributeError")
print("ok")
"""
    r = _fresh_python(code)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_bare_import_loads_the_engine_only():
    """``import minijoint`` stays light: the sub-packages load on first use (PEP 562), so
    the one-way import order (engine <- snn <- nn <- models <- joint <- cli) holds."""
    r = _fresh_python("import sys, minijoint as mj\n"
                      "heavy = ['minijoint.' + n for n in ('nn', 'models', 'joint', 'data', "
                      "'energy', 'plot')]\n"
                      "print(sorted(m for m in heavy if m in sys.modules))\n"
                      "mj.models\n"
                      "print('minijoint.nn' in sys.modules)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["[]", "True"], r.stdout


# ---- Module.to / double / float ----------------------------------------------------------
def _net(rng_seed=0):
    # the factorized twins (U, Vh shared by both paths), BatchNorm buffers, LIF, heads
    return JointNet(arch="resnet10", num_classes=3, width=4, in_channels=1, image_size=8, T=2,
                    wft=True, rng=np.random.default_rng(rng_seed))


def _loss(out):
    total = None
    for t in out.ann_logits + out.snn_logits + out.ann_feats + out.snn_feats:
        s = (t * t).sum()
        total = s if total is None else total + s
    return total


def _dtypes(model):
    return ({n: p.dtype for n, p in model.named_parameters()},
            {n: a.dtype for n, a in model.named_buffers()})


def _assert_all(model, dtype, grads=False):
    params, buffers = _dtypes(model)
    assert buffers, "the test network has no buffers (BatchNorm's running statistics)"
    wrong = {n: d for n, d in {**params, **buffers}.items() if d != dtype}
    assert not wrong, f"not {np.dtype(dtype)}: {wrong}"
    if grads:
        bad = {n: (None if p.grad is None else p.grad.dtype)
               for n, p in model.named_parameters() if p.grad is None or p.grad.dtype != dtype}
        assert not bad, f"gradients not {np.dtype(dtype)}: {bad}"


@pytest.mark.parametrize("cast, dtype, start", [
    (lambda m: m.to(np.float64), np.float64, np.float32),
    (lambda m: m.to("float64"), np.float64, np.float32),
    (lambda m: m.double(), np.float64, np.float32),
    (lambda m: m.to(np.float32), np.float32, np.float64),
    (lambda m: m.float(), np.float32, np.float64),
], ids=["to(np.float64)", "to('float64')", "double()", "to(np.float32)", "float()"])
def test_cast_every_parameter_and_buffer_then_forward_and_backward(cast, dtype, start):
    with mj.default_dtype(start):
        model = _net()
    _assert_all(model, start)
    before = model.parameters()
    assert cast(model) is model                        # returns self, like PyTorch
    after = model.parameters()
    assert len(after) == len(before) and all(a is b for a, b in zip(after, before)), \
        "the cast replaced Parameter objects (an optimizer or a shared weight would lose them)"
    _assert_all(model, dtype)
    for arr in model.state_dict().values():
        assert arr.dtype == dtype

    # a forward in train mode (BatchNorm updates its cast running statistics in place),
    # then the backward: every gradient in the new dtype. The default dtype is left at
    # the old one, so nothing may lean on it.
    with mj.default_dtype(start):
        x = mj.Tensor(np.random.default_rng(1).standard_normal((4, 1, 8, 8)).astype(dtype))
        out = model(x)
        for t in out.ann_logits + out.snn_logits:
            assert t.dtype == dtype
        _loss(out).backward()
    _assert_all(model, dtype, grads=True)


def test_cast_also_casts_existing_gradients():
    model = mj.nn.Sequential(mj.nn.Linear(3, 2), mj.nn.BatchNorm1d(2))
    x = mj.Tensor(np.ones((4, 3), dtype=np.float32))
    (model(x) * model(x)).sum().backward()
    assert all(p.grad.dtype == np.float32 for p in model.parameters())
    model.double()
    assert all(p.grad.dtype == np.float64 for p in model.parameters())
    assert model[1].running_mean.dtype == np.float64 and model[1].running_var.dtype == np.float64


def test_cast_round_trip_keeps_values():
    model = _net()
    state = model.state_dict()
    model.double().float()
    for k, v in model.state_dict().items():
        assert v.dtype == np.float32
        np.testing.assert_array_equal(v, state[k], err_msg=k)


@pytest.mark.parametrize("bad", [np.int32, "int64", np.float16, "float16", np.complex128,
                                 None, "banana", 3])
def test_bad_dtype_raises_and_changes_nothing(bad):
    model = mj.nn.Sequential(mj.nn.Linear(3, 2), mj.nn.BatchNorm1d(2))
    with pytest.raises(ValueError, match=r"float32 or float64.*got " + re.escape(repr(bad))):
        model.to(bad)
    _assert_all(model, np.float32)


@pytest.mark.parametrize("device", ["cupy", "cuda", "cuda:0", "cpu", "numpy"])
def test_moving_between_devices_is_refused_clearly(device):
    with pytest.raises(ValueError, match="device.*not supported.*using_backend"):
        mj.nn.Linear(3, 2).to(device)


# ---- declared dependencies ---------------------------------------------------------------
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

# import name -> distribution name, where they differ
_DIST = {"sklearn": "scikit-learn", "PIL": "pillow", "cupyx": "cupy", "IPython": "ipython",
         "jupyter_client": "jupyter-client"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(reqs, extras) -> set:
    """Normalized distribution names of ``reqs``, following ``minijoint[extra]``."""
    names = set()
    for req in reqs:
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[([^\]]*)\])?", req)
        name = _norm(m.group(1))
        if name == "minijoint":
            for extra in (m.group(2) or "").split(","):
                names |= _requirement_names(extras[extra.strip()], extras)
        else:
            # cupy-cuda12x, cupy-cuda13x provide the import name cupy
            names.add("cupy" if name.startswith("cupy-cuda") else name)
    return names


def _third_party_imports(folder: Path) -> dict:
    """{distribution name: first file importing it} for absolute imports of non-stdlib,
    non-local modules in the .py files under ``folder``."""
    local = {p.stem for p in folder.glob("*.py")} | {"minijoint"}
    found = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                tops = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                tops = [node.module.split(".")[0]]
            else:
                continue
            for top in tops:
                if top not in sys.stdlib_module_names and top not in local:
                    found.setdefault(_norm(_DIST.get(top, top)), path.relative_to(ROOT).as_posix())
    return found


# each folder: what a user of it installs (the core dependencies plus these extras)
_FOLDERS = {"minijoint": ["gpu", "site"], "tests": ["test", "gpu"], "benchmarks": ["bench", "gpu"],
            "tutorials": ["notebook", "gpu"]}


@pytest.mark.parametrize("folder", sorted(_FOLDERS))
def test_declared_dependencies_cover_every_import(folder):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    declared = _requirement_names(project["dependencies"], extras)
    for extra in _FOLDERS[folder]:
        declared |= _requirement_names(extras[extra], extras)
    imports = _third_party_imports(ROOT / folder)
    assert imports, f"no third-party import found under {folder}/ (is the scan broken?)"
    missing = {name: where for name, where in imports.items() if name not in declared}
    assert not missing, (f"{folder}/ imports packages pyproject.toml does not declare "
                         f"(name: first file): {missing}")

