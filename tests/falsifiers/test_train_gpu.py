"""Gates of gpu-training-backend-v1: GATE-GPUTRAIN-002..005 (CUDA host) and GATE-TRAIN-005.

GPU tests are marked `gpu` (live evidence): the plugin skips them at collection without
--run-ignored and a CUDA device; the in-test guard below only covers runs without the
plugin. cupy is imported only inside GPU tests.
"""

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aprcore.cli import main as aprcore_main
from aprcore.config import preset
from aprcore.train.threads import blas_threads


def cli(argv):
    return aprcore_main(["pretrain", *argv])

ROOT = Path(__file__).resolve().parents[2]


def _require_cuda():
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("0 devices")
    except Exception as e:  # noqa: BLE001 - any failure means no usable device
        pytest.skip(f"no CUDA device ({e})")


def _log(out: Path):
    rows = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    start = next(r for r in rows if r.get("event") == "start")
    steps = [r for r in rows if "train_loss" in r]
    return start, steps


@pytest.mark.falsifier("GATE-GPUTRAIN-002", level="algorithm")
def test_cuda_without_a_device_fails_citing_the_gate(tmp_path):
    """CUDA hidden from the process: exit 2 before any step, message cites the gate."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(ROOT)}
    code = ("import sys; from aprcore.cli import main; "
            f"sys.exit(main(['pretrain', '--device', 'cuda', '--steps', '3', '--out', {str(tmp_path / 'r')!r}]))")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2, r.stderr
    assert "GATE-GPUTRAIN-002" in r.stderr and "refusing to fall back" in r.stderr
    assert not (tmp_path / "r" / "log.jsonl").exists()


@pytest.mark.gpu
@pytest.mark.falsifier("GATE-GPUTRAIN-002", level="live")
def test_cuda_run_trains_on_the_device_or_fails_citing_the_gate(tmp_path, record_property):
    _require_cuda()
    rc = cli(["--device", "cuda", "--steps", "5", "--batch", "8", "--seq", "64",
              "--val-batches", "2", "--out", str(tmp_path)])
    assert rc == 0
    start, steps = _log(tmp_path)
    record_property("device_name", start.get("device_name", ""))
    assert start["device"].startswith("cuda") and start.get("device_name")
    assert len(steps) == 5 and all(s.get("device_pool_bytes", 0) > 0 for s in steps)


@pytest.mark.gpu
@pytest.mark.falsifier("GATE-GPUTRAIN-003", level="live")
def test_training_holds_device_memory(tmp_path, record_property):
    _require_cuda()
    cfg = preset("tiny-llama")
    param_bytes = 4 * cfg.num_parameters()
    rc = cli(["--device", "cuda", "--config", "tiny-llama", "--steps", "5", "--batch", "8",
              "--seq", "64", "--val-batches", "2", "--out", str(tmp_path)])
    assert rc == 0
    _, steps = _log(tmp_path)
    pool = min(s["device_pool_bytes"] for s in steps)
    used = min(s["device_used_bytes"] for s in steps)
    record_property("device_pool_bytes", pool)
    record_property("device_used_bytes", used)
    record_property("param_bytes", param_bytes)
    assert pool >= 4 * param_bytes
    assert used >= pool


@pytest.mark.gpu
@pytest.mark.falsifier("GATE-GPUTRAIN-004", level="live")
def test_llama_370m_step_fits_500ms(tmp_path, record_property):
    _require_cuda()
    rc = cli(["--device", "cuda", "--config", "llama-370m", "--steps", "10", "--batch", "1",
              "--seq", "512", "--val-batches", "1", "--warmup", "2", "--lr", "3e-4",
              "--no-checkpoint", "--out", str(tmp_path)])
    assert rc == 0
    _, steps = _log(tmp_path)
    walls = [s["wall_ms"] for s in steps[2:]]  # steps 1-2 carry cuBLAS/JIT warm-up
    median = statistics.median(walls)
    record_property("median_wall_ms", median)
    record_property("tokens_per_s", 512 / (median / 1e3))
    assert all(np.isfinite(s["train_loss"]) for s in steps)
    assert median < 500.0


@pytest.mark.gpu
@pytest.mark.falsifier("GATE-GPUTRAIN-005", level="live")
def test_gpu_loss_falls_over_100_steps(tmp_path, record_property):
    _require_cuda()
    rc = cli(["--device", "cuda", "--config", "tiny-llama", "--steps", "100", "--batch", "16",
              "--seq", "128", "--val-batches", "2", "--out", str(tmp_path)])
    assert rc == 0
    _, steps = _log(tmp_path)
    first = float(np.mean([s["train_loss"] for s in steps[:10]]))
    last = float(np.mean([s["train_loss"] for s in steps[-10:]]))
    record_property("loss_start", first)
    record_property("loss_end", last)
    assert len(steps) == 100
    assert last < first - 1.5


@pytest.mark.falsifier("GATE-TRAIN-005", level="algorithm")
def test_val_ceiling_stops_at_epoch_boundary(tmp_path, capsys):
    with blas_threads(1):
        rc = cli(["--config", "tiny-llama", "--steps", "20", "--epoch-steps", "4",
                  "--val-ceiling", "1.0", "--batch", "4", "--seq", "32", "--val-batches", "1",
                  "--out", str(tmp_path / "stop")])
        err = capsys.readouterr().err
        assert rc == 3
        assert "[GATE-TRAIN-005] validation loss" in err and "exceeds the ceiling 1.0000" in err
        _, steps = _log(tmp_path / "stop")
        assert len(steps) == 4  # stopped exactly at the first epoch boundary
        log = (tmp_path / "stop" / "log.jsonl").read_text()
        assert '"event": "stop"' in log and "GATE-TRAIN-005" in log
        rc = cli(["--config", "tiny-llama", "--steps", "8", "--epoch-steps", "4",
                  "--val-ceiling", "50", "--batch", "4", "--seq", "32", "--val-batches", "1",
                  "--out", str(tmp_path / "go")])
        assert rc == 0
        assert len(_log(tmp_path / "go")[1]) == 8
