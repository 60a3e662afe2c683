"""CPU vs GPU output parity on the real device (apr-cpu-vs-gpu-output-parity-v1), level live.

Each test runs aprcore's model on the CUDA backend (hand-written kernels on the decode
path) and on the numpy CPU reference, and checks what the contract predicts: the same
argmax, cosine >= 0.99, a broken GPU kernel rejected by the first-token probe with the
tagged stderr line and a fall back to the CPU answer, and a CPU-only run that prints no
GPU message at all. A Q4_K GGUF model, whose weights stay packed on the device, must
give the CPU's logits too. All are `gpu`-marked: they skip cleanly without a device.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
import pytest
from _decode import decode_logits
from _repo_env import repo_env

from aprcore.config import ModelConfig, preset
from aprcore.ops import cosine

pytestmark = pytest.mark.gpu

COSINE_FLOOR = 0.99
PROMPTS = [[1, 2, 3], [17, 5, 9, 200, 41, 7], [255, 0, 128, 64, 32, 16, 8, 4, 2, 1, 3]]
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="session")
def model():
    from aprcore.model import Model

    return Model.random(preset("tiny-qwen2-gqa7"), seed=7)


@pytest.mark.falsifier("FALSIFY-CPU-GPU-001", level="live")
def test_gpu_logits_argmax_equals_cpu_at_every_position(gpu, model, provenance, record_property):
    agree = total = 0
    for prompt in PROMPTS:
        cpu = model.forward(prompt, backend="cpu")
        dev = model.forward(prompt, backend=gpu)
        agree += int((cpu.argmax(-1) == dev.argmax(-1)).sum())
        total += len(prompt)
    record_property("argmax_agreement", agree / total)
    assert agree == total, f"argmax differs at {total - agree} of {total} positions"


@pytest.mark.falsifier("FALSIFY-CPU-GPU-001", "FALSIFY-CPU-GPU-002", level="live")
def test_gpu_kv_cache_decode_matches_cpu_decode(gpu, model, provenance, record_property):
    cpu = decode_logits(model, "cpu", PROMPTS[1], 8)
    dev = decode_logits(model, gpu, PROMPTS[1], 8)
    cos = min(cosine(c, d) for c, d in zip(cpu, dev, strict=True))
    record_property("cosine", cos)
    assert (cpu.argmax(-1) == dev.argmax(-1)).all()
    assert cos >= COSINE_FLOOR


@pytest.mark.falsifier("FALSIFY-CPU-GPU-002", level="live")
def test_gpu_logits_cosine_with_cpu_is_above_the_floor(gpu, model, provenance, record_property):
    worst = 1.0
    for prompt in PROMPTS:
        cpu = model.forward(prompt, backend="cpu")
        dev = model.forward(prompt, backend=gpu)
        assert np.isfinite(dev).all()
        worst = min(worst, *(cosine(c, d) for c, d in zip(cpu, dev, strict=True)))
    record_property("cosine", worst)
    assert worst >= COSINE_FLOOR


@pytest.mark.falsifier("FALSIFY-CPU-GPU-001", "FALSIFY-CPU-GPU-002", level="live")
def test_graph_decode_engine_matches_cpu_model(gpu, model, provenance, record_property):
    from aprcore.gpu.decoder import GpuDecoder

    dec = GpuDecoder(model.config, model.weights, max_seq=64)
    assert dec.graph is not None, dec.graph_error
    prompt = PROMPTS[2]
    cpu = model.forward(prompt, backend="cpu")
    dev = dec.forward(prompt)
    cos = min(cosine(c, d) for c, d in zip(cpu, dev, strict=True))
    record_property("cosine", cos)
    assert (cpu.argmax(-1) == dev.argmax(-1)).all() and cos >= COSINE_FLOOR
    assert dec.generate(prompt, 6) == model.generate(prompt, 6, backend="cpu")


@pytest.mark.falsifier("FALSIFY-CPU-GPU-003", level="live")
@pytest.mark.parametrize("fault", ["rmsnorm_no_normalize", "nan_matvec"])
def test_gate_rejects_a_broken_gpu_kernel_with_the_tagged_line(gpu, model, provenance, record_property, fault):
    from aprcore.gpu.faults import backend_with_fault
    from aprcore.parity import TAG, select_backend

    broken = backend_with_fault(gpu, fault)
    err = io.StringIO()
    choice = select_backend(model, PROMPTS[1], (broken,), stream=err)
    line = err.getvalue()
    rep = choice.reports[0]
    record_property("cosine", float(rep.cosine) if np.isfinite(rep.cosine) else -1.0)
    assert choice.fell_back and choice.backend.name == "cpu" and not rep.accepted
    assert f"{TAG} backend gpu rejected, attempting fallback:" in line


@pytest.mark.falsifier("FALSIFY-CPU-GPU-003", "FALSIFY-CPU-GPU-005", level="live")
def test_cli_run_with_a_broken_gpu_prints_the_tagged_line_and_the_cpu_answer(gpu, provenance):
    args = [sys.executable, "-m", "aprcore", "run", "random:tiny-qwen2-gqa7:7", "--tokens", "17,5,9,200",
            "--generate", "4", "--json"]
    env = repo_env()
    cpu = subprocess.run(args + ["--backend", "cpu"], capture_output=True, text=True, env=env, cwd=REPO)
    env_bad = dict(env, APRCORE_GPU_FAULT="rmsnorm_no_normalize")
    bad = subprocess.run(args + ["--backend", "gpu"], capture_output=True, text=True, env=env_bad, cwd=REPO)
    assert cpu.returncode == 0 and bad.returncode == 0, cpu.stderr + bad.stderr
    assert "[apr-cpu-vs-gpu-output-parity-v1] backend gpu rejected, attempting fallback:" in bad.stderr
    import json

    a, b = json.loads(cpu.stdout), json.loads(bad.stdout)
    assert b["backend"] == "cpu" and b["parity"] and not b["parity"][0]["accepted"]
    for key in ("argmax", "generated", "last_top_k"):
        assert a[key] == b[key], f"{key}: cpu {a[key]} vs fallback {b[key]}"


@pytest.mark.falsifier("FALSIFY-CPU-GPU-004", level="live")
def test_cpu_only_run_prints_no_gpu_message_on_a_gpu_host(gpu, model, provenance):
    from aprcore.parity import select_backend

    err = io.StringIO()
    choice = select_backend(model, PROMPTS[0], ("cpu",), stream=err)
    assert choice.backend.name == "cpu" and not choice.reports and err.getvalue() == ""
    code = ("import sys; from aprcore.cli import main; rc = main(['run', "
            "'random:tiny-qwen2', '--tokens', '1,2,3']); "
            "print('CUPY' if 'cupy' in sys.modules else 'NOCUPY'); sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=repo_env(), cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""                       # even on a host where the GPU works
    assert "NOCUPY" in out.stdout and "gpu" not in out.stdout.lower()


@pytest.mark.falsifier("FALSIFY-CPU-GPU-005", level="live")
def test_first_token_probe_accepts_the_healthy_gpu_and_falls_back_from_a_broken_one(
        gpu, model, provenance, record_property):
    from aprcore.gpu.faults import backend_with_fault
    from aprcore.parity import select_backend

    err = io.StringIO()
    ok = select_backend(model, PROMPTS[2], (gpu,), stream=err)
    assert ok.backend is gpu and not ok.fell_back and err.getvalue() == ""
    record_property("cosine", float(ok.reports[0].cosine))
    bad = select_backend(model, PROMPTS[2], (backend_with_fault(gpu, "nan_matvec"), gpu), stream=err)
    # the broken candidate is rejected first, the healthy one behind it is then taken
    assert bad.backend is gpu and not bad.reports[0].accepted and bad.reports[1].accepted
    assert "rejected, attempting fallback" in err.getvalue()


# -------------------------------------------------------------- a Q4_K GGUF on the device


@pytest.mark.falsifier("FALSIFY-CPU-GPU-001", "FALSIFY-CPU-GPU-002", level="live")
def test_q4k_gguf_gpu_logits_match_cpu_logits(gpu, provenance, record_property, tmp_path):
    from aprcore.formats.gguf_io import read_model, write_model
    from aprcore.gpu.decoder import GpuDecoder
    from aprcore.model import Model

    cfg = ModelConfig(arch="qwen2", vocab_size=512, hidden_size=256, intermediate_size=768,
                      num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=2,
                      tie_word_embeddings=False)
    src = Model.random(cfg, seed=3)
    path = tmp_path / "q4k.gguf"
    write_model(path, cfg, src.weights, quant="Q4_K")
    cpu_model = Model(*read_model(path))            # the CPU dequantizes every tensor
    dec = GpuDecoder.from_gguf(path, max_seq=64)   # the GPU keeps them packed
    assert dec.layers[0]["qkv"].q4k and dec.layers[0]["gu"].q4k and dec.layers[0]["down"].q4k
    prompt = PROMPTS[2]
    cpu = cpu_model.forward(prompt, backend="cpu")
    dev = dec.forward(prompt)
    cos = min(cosine(c, d) for c, d in zip(cpu, dev, strict=True))
    record_property("cosine", cos)
    record_property("argmax_agreement", float((cpu.argmax(-1) == dev.argmax(-1)).mean()))
    assert cos >= COSINE_FLOOR
    assert (cpu.argmax(-1) == dev.argmax(-1)).all()
