"""The plugin's fixtures, registered only in a project that uses the plugin (activation.py),
so an unused plugin adds none (`pytest --fixtures` is as with `-p no:falsify`)."""

from __future__ import annotations

import pytest

from . import evidence, junit


@pytest.fixture
def falsify_evidence(request: pytest.FixtureRequest):
    """Record measured metrics as evidence: `falsify_evidence(cosine=0.998, nmse=1e-8)`.

    Like `record_property`, but numpy/cupy scalars become builtins (via `.item()`) so they
    survive xdist transport and YAML, and `--junitxml` gets them in a form its family
    allows, without record_property's xunit2 warning (see junit.py).
    """

    def record(**metrics: object) -> None:
        for name, value in metrics.items():
            junit.record(request.node, name, evidence.plain(value))

    return record
