#!/usr/bin/env bash
# Everything issue 8 asks of a machine with an NVIDIA GPU, in one command (one device lease):
#
#   bash benchmarks/gpu_check.sh [LOGDIR]          # LOGDIR defaults to gpu-check/
#
# 1. what the machine is (GPU, driver, Python, NumPy, CuPy, PyTorch);
# 2. the `gpu` tests: NumPy against CuPy, forward and gradients, for every op, the LIF, the
#    factorized layers, the loader and a joint step (MINIJOINT_REQUIRE_GPU=1: if CuPy cannot
#    be used, pytest stops with the reason instead of skipping them);
# 3. the whole suite on that machine (the notebooks too, when their executors are installed:
#    they run on NumPy, and CI runs them anyway; without them, both pytest runs leave
#    tests/test_notebooks.py out and say so);
# 4. bench_step.py --backend cupy at the README's GPU setting (ResNet-18, width 64, T = 4,
#    batch 128, 32x32), float32 and float64, minijoint against PyTorch on the same GPU;
# 5. bench_ops.py --backend cupy (conv2d, LIF, BatchNorm alone).
#
# Each step's output goes to LOGDIR/<step>.txt as well as the screen; the exit status is
# non-zero when CuPy cannot be used or any step failed.
set -u -o pipefail
cd "$(dirname "$0")/.."
log=${1:-gpu-check}
mkdir -p "$log"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MINIJOINT_REQUIRE_GPU=1
py=${PYTHON:-python3}
status=0

step() {  # step NAME COMMAND...: run it, keep its output in $log/NAME.txt, remember a failure
    local name=$1; shift
    local first=${*%%$'\n'*}
    echo "=== $name: ${first:0:120}" | tee "$log/$name.txt"
    "$@" 2>&1 | tee -a "$log/$name.txt"
    local rc=${PIPESTATUS[0]}
    echo "=== $name: exit $rc" | tee -a "$log/$name.txt"
    [ "$rc" -eq 0 ] || status=1
}

step env "$py" -c '
import platform, subprocess, numpy, minijoint
print("python", platform.python_version(), "| numpy", numpy.__version__)
try:
    import cupy
    print("cupy", cupy.__version__, "| CUDA runtime", cupy.cuda.runtime.runtimeGetVersion(),
          "| driver", cupy.cuda.runtime.driverGetVersion())
except Exception as e:
    print("cupy unusable:", type(e).__name__, e)
try:
    import torch
    print("torch", torch.__version__, "| cuda available", torch.cuda.is_available())
except ImportError:
    print("torch not installed (the benchmarks then time minijoint alone)")
try:
    print(subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout.strip())
except FileNotFoundError:
    print("nvidia-smi not found")
problem = minijoint.gpu_problem()
print("minijoint.gpu_problem():", problem)
raise SystemExit(problem is not None)'
if [ "$status" -ne 0 ]; then
    echo "CuPy cannot be used on this machine (see $log/env.txt); nothing else was run."
    exit 1
fi

# pytest imports every test file before -m selects, so without the notebook executors
# tests/test_notebooks.py would stop both runs at collection.
notebooks=()
if ! "$py" -c "import jupytext, nbclient, nbformat, ipykernel" 2>/dev/null; then
    echo "(jupytext/nbclient/nbformat/ipykernel missing: tests/test_notebooks.py left out)"
    notebooks=(--ignore=tests/test_notebooks.py)
fi
step pytest-gpu "$py" -m pytest -q -p no:cacheprovider -m gpu "${notebooks[@]}"
step pytest-suite "$py" -m pytest -q -p no:cacheprovider "${notebooks[@]}"
step bench-step "$py" benchmarks/bench_step.py --backend cupy --width 64 --batch 128 \
    --repeats 10 --warmup 3
step bench-ops "$py" benchmarks/bench_ops.py --backend cupy

echo
echo "=== summary (logs in $log/)"
for name in pytest-gpu pytest-suite; do
    echo "$name: $(grep -hE '(passed|failed|skipped|deselected|errors?).* in [0-9.]+s' \
        "$log/$name.txt" | tail -n 1)"
done
awk '/^training step/ {on = 1} on && /^$/ {exit} on' "$log/bench-step.txt" 2>/dev/null
[ "$status" -eq 0 ] && echo "all steps passed" || echo "SOME STEP FAILED: see the logs above"
exit "$status"
