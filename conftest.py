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
    patch one rule of pytest_falsify in this process, which the plugin tests' in-process
    pytester runs then meet.
    """
    import contextlib
    from unittest import mock

    from aprcore import faults as model_faults
    from aprcore.gpu import faults as gpu_faults

    @contextlib.contextmanager
    def gpu_fault(name):
        with mock.patch.dict(os.environ, {"APRCORE_GPU_FAULT": name}):
            yield

    plugin_faults = {
        # a known failure is never recognised: every failure is new
        "known_failure_not_recognised": ("pytest_falsify.gate.is_known_failure",
                                         lambda *a, **k: False),
        # function bodies are not fingerprinted: a changed function is never stale
        "fingerprint_ignores_function_bodies": ("pytest_falsify.fingerprint._digest",
                                                lambda lines: "00000000"),
        # the verdict ignores failures: a failing test no longer falsifies
        "failure_does_not_win": ("pytest_falsify.verdict.verdict",
                                 lambda current, level, evidence: "DISCHARGED"),
        # the gate passes whatever it saw: drift no longer fails check
        "gate_always_passes": ("pytest_falsify.gate.exit_code", lambda *a, **k: 0),
        # mutants mode records every fault as killing, whatever the test did
        "mutants_ignore_faults": ("pytest_falsify.falsifiable.record",
                                  lambda results, baseline_passed: {"killed": sorted(results)}),
    }
    out = {name: (lambda n=name: model_faults.ambient(n))
           for name in (*model_faults.FAULTS, *model_faults.AMBIENT_FAULTS)}
    out.update({name: (lambda n=name: gpu_fault(n)) for name in gpu_faults.FAULTS})
    out.update({name: (lambda t=target, f=fake: mock.patch(t, f))
                for name, (target, fake) in plugin_faults.items()})
    return out
