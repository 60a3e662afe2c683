"""apr-cpu-vs-gpu-output-parity-v1 at the algorithm level: the gate itself, on the CPU.

The candidate backends here are injected `Backend` objects running numpy: a faithful
one (a second CPU), and broken ones reproducing real GPU-kernel bugs (NaN output, a
wrong GQA head mapping, a SwiGLU with swapped operands). The live GPU tests bind the
same ids from the GPU suite; these show the gate's logic accepts the faithful backend,
rejects each broken one fail closed, says so with the tagged line and falls back.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from aprcore import Model, preset
from aprcore import ops as core_ops
from aprcore.backend import Backend
from aprcore.parity import COSINE_FLOOR, TAG, check_parity, probe, select_backend

PROMPT = [11, 42, 7, 199, 3]


@pytest.fixture(scope="module")
def model():
    return Model.random(preset("tiny-qwen2-gqa7"), seed=7)


def faithful_backend() -> Backend:
    return Backend(name="cpu-twin")


def nan_backend() -> Backend:
    def silu(x):
        out = core_ops.silu(x)
        out[..., 0] = np.nan  # a kernel writing NaN into one lane
        return out
    return Backend(name="nan-gpu", overrides={"silu": silu})


def tiled_heads_backend() -> Backend:
    def attention(q, k, v, q_start=0, kv_index=None):
        nh, nkv = q.shape[1], k.shape[0]
        return core_ops.attention(q, k, v, q_start, np.arange(nh) % nkv)
    return Backend(name="tiled-heads-gpu", overrides={"attention": attention})


def crashing_backend() -> Backend:
    def linear(*a, **k):
        raise RuntimeError("CUDA_ERROR_ILLEGAL_ADDRESS")
    return Backend(name="crashing-gpu", overrides={"linear": linear})


BROKEN = {"nan": nan_backend, "tiled_heads": tiled_heads_backend, "crash": crashing_backend}


@pytest.mark.falsifier("FALSIFY-CPU-GPU-001")
def test_faithful_backend_agrees_on_argmax_at_every_position(model, record_property):
    cpu = model.forward(PROMPT)
    other = model.forward(PROMPT, backend=faithful_backend())
    record_property("argmax_agreement", float(np.mean(cpu.argmax(-1) == other.argmax(-1))))
    assert (cpu.argmax(-1) == other.argmax(-1)).all()


@pytest.mark.falsifier("FALSIFY-CPU-GPU-001")
def test_gate_rejects_an_argmax_mismatch_even_at_high_cosine():
    ref = np.linspace(-1, 1, 1000).astype(np.float32)
    got = ref.copy()
    got[-2], got[-1] = ref[-1], ref[-2]  # swap the top two: cosine stays ~1
    rep = check_parity(ref, got, "gpu")
    assert rep.cosine > 0.9999 and not rep.accepted and "argmax" in rep.reason


@pytest.mark.falsifier("FALSIFY-CPU-GPU-002")
def test_faithful_backend_clears_the_cosine_floor(model, record_property):
    rep = probe(model, PROMPT, faithful_backend())
    record_property("cosine", rep.cosine)
    record_property("nmse", rep.nmse)
    assert rep.accepted and rep.cosine >= COSINE_FLOOR


@pytest.mark.falsifier("FALSIFY-CPU-GPU-002")
@pytest.mark.parametrize("noise, accepted", [(0.01, True), (0.3, False)])
def test_gate_applies_the_cosine_floor(noise, accepted):
    rng = np.random.default_rng(0)
    ref = rng.standard_normal(4096).astype(np.float32)
    ref[0] = 10.0  # a clear winner, so only the cosine decides
    got = ref + noise * rng.standard_normal(4096).astype(np.float32)
    rep = check_parity(ref, got, "gpu")
    assert rep.argmax_cpu == rep.argmax_candidate == 0
    assert rep.accepted is accepted, rep.reason


@pytest.mark.falsifier("FALSIFY-CPU-GPU-003")
@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_gate_rejects_a_broken_backend_with_the_tagged_line(model, kind, record_property):
    err = io.StringIO()
    choice = select_backend(model, PROMPT, [BROKEN[kind](), "cpu"], stream=err)
    line = err.getvalue()
    record_property("cosine", choice.reports[0].cosine)
    assert choice.backend.name == "cpu" and choice.fell_back
    assert not choice.reports[0].accepted
    assert line.startswith(TAG) and "rejected, attempting fallback:" in line


@pytest.mark.falsifier("FALSIFY-CPU-GPU-003")
def test_gate_fails_closed_on_nan(model):
    rep = probe(model, PROMPT, nan_backend())
    assert not rep.finite and not rep.accepted and "non-finite" in rep.reason


@pytest.mark.falsifier("FALSIFY-CPU-GPU-003")
def test_gate_accepts_the_faithful_backend_silently(model):
    err = io.StringIO()
    choice = select_backend(model, PROMPT, [faithful_backend()], stream=err)
    assert choice.backend.name == "cpu-twin" and not choice.fell_back and err.getvalue() == ""


@pytest.mark.falsifier("FALSIFY-CPU-GPU-004")
def test_cpu_only_run_prints_no_gpu_messages_and_never_imports_cupy():
    code = ("import sys; from aprcore.cli import main; rc = main(['run', "
            "'random:tiny-qwen2', '--tokens', '1,2,3']); "
            "print('CUPY' if 'cupy' in sys.modules else 'NOCUPY'); sys.exit(rc)")
    root = Path(__file__).resolve().parents[2]  # the repository, importable without install
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=root, env=env)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    assert "NOCUPY" in res.stdout and "gpu" not in res.stdout.lower()


@pytest.mark.falsifier("FALSIFY-CPU-GPU-005")
def test_first_token_probe_falls_back_and_serves_cpu_logits(model, record_property):
    err = io.StringIO()
    choice = select_backend(model, PROMPT, [tiled_heads_backend()], stream=err)
    rep = choice.reports[0]
    for key in ("cosine", "nmse", "max_abs_diff"):
        record_property(key, getattr(rep, key))
    served = model.forward(PROMPT, backend=choice.backend)
    assert choice.fell_back and TAG in err.getvalue()
    np.testing.assert_array_equal(served, model.forward(PROMPT))


@pytest.mark.falsifier("FALSIFY-CPU-GPU-005")
def test_unavailable_gpu_falls_back_with_the_tagged_line(model, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy fails, as on a machine without it
    monkeypatch.setattr("aprcore.arrays._CUPY", None)
    monkeypatch.setattr("aprcore.gpu.backend._BACKEND", None)
    err = io.StringIO()
    choice = select_backend(model, PROMPT, ["gpu"], stream=err)
    assert choice.backend.name == "cpu" and choice.fell_back
    assert err.getvalue().startswith(TAG) and "gpu rejected, attempting fallback" in err.getvalue()


@pytest.mark.falsifier("FALSIFY-CPU-GPU-003")
@given(n=st.integers(2, 300), data=st.data())
def test_any_non_finite_logit_fails_closed(n, data):
    ref = data.draw(arrays(np.float32, n, elements=st.floats(-10, 10, width=32)))
    got = ref.copy()
    got[data.draw(st.integers(0, n - 1))] = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    rep = check_parity(ref, got, "gpu")
    assert not rep.accepted and not rep.finite
