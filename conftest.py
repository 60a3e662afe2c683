"""Root conftest: hypothesis profiles shared by every test in the repository.

`dev` (the default) keeps hypothesis' defaults but drops the deadline, because a cold
BLAS or JIT call makes first-example timings meaningless. `ci` derandomizes, so a
`--falsify=check` in CI sees the same examples every run, and prints the reproduce blob.
Hypothesis loads its own `ci` profile when CI is set; we register ours over it so the
settings are the ones written here. Pick one with HYPOTHESIS_PROFILE.
"""

import os

from hypothesis import HealthCheck, settings

# pytester drives the plugin's end-to-end tests (tests/plugin); pytest only accepts
# `pytest_plugins` in the top-level conftest.
pytest_plugins = ["pytester"]

settings.register_profile("dev", deadline=None, max_examples=50)
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=50,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_falsify_faults(config):
    """The faults `pytest --falsify=mutants` may activate, by name (contracts' `faults:`).

    aprcore's model faults act on every model of the worker process (`aprcore.faults.
    ambient`); GPU faults put a broken kernel into every GPU backend the test asks for
    (APRCORE_GPU_FAULT, read by `aprcore.gpu.backend.get_backend`); the plugin's faults
    (tests/plugin/plugin_faults.py) patch one rule of pytest_falsify in this process and
    in the pytest processes the plugin tests start meanwhile.
    """
    import contextlib
    import importlib.util
    import sys
    from pathlib import Path
    from unittest import mock

    from aprcore import faults as model_faults
    from aprcore.gpu import faults as gpu_faults

    @contextlib.contextmanager
    def gpu_fault(name):
        with mock.patch.dict(os.environ, {"APRCORE_GPU_FAULT": name}):
            yield

    plugin_faults = sys.modules.get("plugin_faults")
    if plugin_faults is None:  # imported by its path: tests/plugin is not on sys.path yet
        path = Path(__file__).parent / "tests" / "plugin" / "plugin_faults.py"
        spec = importlib.util.spec_from_file_location("plugin_faults", path)
        plugin_faults = sys.modules["plugin_faults"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(plugin_faults)
    missing = plugin_faults.missing_targets()
    if missing:
        import pytest

        raise pytest.UsageError(f"plugin_faults patches what no longer exists: {'; '.join(missing)}")
    out = {name: (lambda n=name: model_faults.ambient(n))
           for name in (*model_faults.FAULTS, *model_faults.AMBIENT_FAULTS)}
    out.update({name: (lambda n=name: gpu_fault(n)) for name in gpu_faults.FAULTS})
    out.update({name: (lambda n=name: plugin_faults.active(n)) for name in plugin_faults.FAULTS})
    return out
