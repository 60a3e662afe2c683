"""`python -m aprcore diff` and `inspect`: output, JSON, exit codes, progress bar."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from _gguf_fixtures import TINY, random_weights, write_hf_dir  # noqa: E402

from aprcore.cli import main as aprcore_main  # noqa: E402
from aprcore.formats import gguf_io  # noqa: E402

CFG = TINY["tiny-llama"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    w = random_weights(CFG, seed=9)
    write_hf_dir(d / "hf", CFG, w)
    gguf_io.write_model(d / "f32.gguf", CFG, w)
    gguf_io.write_model(d / "q8.gguf", CFG, w, quant="Q8_0")
    return d


def _cli(*argv: str) -> int:
    return aprcore_main(argv)


def test_diff_json_report(files, capsys):
    assert _cli("diff", str(files / "hf"), str(files / "q8.gguf"), "--json", "--floor", "0.9996") == 0
    out = capsys.readouterr()
    rep = json.loads(out.out)
    assert rep["verdict"] == "PASS" and rep["summary"]["failing"] == 0
    t = {x["name"]: x for x in rep["tensors"]}["model.layers.0.mlp.up_proj.weight"]
    assert t["dtype_a"] == "F32" and t["dtype_b"] == "Q8_0" and t["status"] == "pass"
    assert t["shape_a"] == t["shape_b"] == [CFG.intermediate_size, CFG.hidden_size]
    for key in ("cosine", "max_abs_diff", "mean_abs_diff", "rmse", "identical", "n"):
        assert key in t
    assert out.err == ""  # no progress bar with --json


def test_diff_exit_1_under_the_floor_and_lists_missing_tensors(files, capsys, tmp_path):
    assert _cli("diff", str(files / "hf"), str(files / "q8.gguf"), "--floor", "1") == 1
    assert "FAIL" in capsys.readouterr().out
    other = TINY["tiny-llama"].replace(num_hidden_layers=1)
    gguf_io.write_model(tmp_path / "one-layer.gguf", other, random_weights(other, seed=9))
    assert _cli("diff", str(files / "f32.gguf"), str(tmp_path / "one-layer.gguf"), "--floor", "1") == 1
    out = capsys.readouterr().out
    assert "only in a: model.layers.1.mlp.up_proj.weight" in out


def test_inspect_lists_architecture_tensors_types_and_sizes(files, capsys):
    assert _cli("inspect", str(files / "q8.gguf")) == 0
    out = capsys.readouterr().out
    assert "model_type=llama" in out and "blk.0.ffn_down.weight" in out and "Q8_0" in out
    assert _cli("inspect", str(files / "hf"), "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "safetensors" and info["parameters"] == CFG.num_parameters()


def test_progress_bar_only_on_a_terminal(files):
    """Run as a subprocess with stderr on a pipe: no bar (a TTY would get one)."""
    code = "import sys; from aprcore.cli import main; sys.exit(main(sys.argv[1:]))"
    r = subprocess.run([sys.executable, "-c", code, "diff", str(files / "hf"), str(files / "f32.gguf"), "--floor", "1"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "" and "PASS" in r.stdout


def test_progress_bar_on_a_terminal(files):
    """stderr on a pseudo-terminal gets a bar; stdout (a pipe) still gets the report."""
    import os
    import pty

    master, slave = pty.openpty()
    code = "import sys; from aprcore.cli import main; sys.exit(main(sys.argv[1:]))"
    try:
        r = subprocess.run([sys.executable, "-c", code, "diff", str(files / "hf"), str(files / "f32.gguf"),
                            "--floor", "1"], stdout=subprocess.PIPE, stderr=slave, text=True, timeout=120)
        os.close(slave)
        err = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            err += chunk
    finally:
        os.close(master)
    assert r.returncode == 0 and "PASS" in r.stdout
    assert b"tensor" in err and b"<" in err  # the bar was drawn, with its ETA


def test_sweep_memory_stays_near_the_largest_tensor(tmp_path):
    """Streaming: the peak of traced allocations stays under two of the largest tensor."""
    import tracemalloc

    from aprcore.config import ModelConfig
    from aprcore.formats.diff import diff_files

    cfg = ModelConfig(arch="qwen2", vocab_size=8192, hidden_size=256, intermediate_size=512, num_hidden_layers=1,
                      num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
    w = random_weights(cfg, seed=1)
    write_hf_dir(tmp_path / "hf", cfg, w)
    gguf_io.write_model(tmp_path / "q8.gguf", cfg, w, quant="Q8_0")
    largest = max(v.nbytes for v in w.values())  # 8 MiB embedding / head
    del w
    tracemalloc.start()
    try:
        r = diff_files(tmp_path / "hf", tmp_path / "q8.gguf", floor=0.9996, threads=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.verdict == "PASS"
    assert peak < 2 * largest, f"peak {peak / 2**20:.1f} MiB vs largest tensor {largest / 2**20:.1f} MiB"
