"""Shared test setup: hypothesis profiles, the ``gpu`` marker, float64 helpers."""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from threadpoolctl import threadpool_limits

import minijoint

# "ci" (selected when CI is set, or by HYPOTHESIS_PROFILE=ci): derandomized, no deadline,
# so a CI run is repeatable and a slow shared machine never fails a test by timing.
settings.register_profile("ci", derandomize=True, deadline=None, max_examples=25,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=25,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


# One BLAS thread: the tests use small matrices, where a second thread costs more in
# start-up than it saves, and on a shared 2-core machine oversubscription made whole
# files 10x slower. (Speed is measured in benchmarks/, never asserted here.)
threadpool_limits(1)


def pytest_collection_modifyitems(config, items):
    problem = minijoint.gpu_problem()
    if problem is None:
        return
    if os.environ.get("MINIJOINT_REQUIRE_GPU"):  # benchmarks/gpu_check.sh: never skip silently
        raise pytest.UsageError(f"MINIJOINT_REQUIRE_GPU is set, but {problem}")
    skip = pytest.mark.skip(reason=f"needs CuPy and a CUDA device: {problem}")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
