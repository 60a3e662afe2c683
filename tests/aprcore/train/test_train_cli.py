"""The pretrain command's outputs: the JSONL log's fields, the progress bar only on a TTY."""

import io
import json

import pytest

from aprcore.cli import main as aprcore_main
from aprcore.train import loop
from aprcore.train.threads import blas_threads


def cli(argv):
    return aprcore_main(["pretrain", *argv])


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with blas_threads(1):
        yield


def test_log_has_one_line_per_step_with_the_documented_fields(tmp_path, capsys):
    assert cli(["--steps", "4", "--batch", "2", "--seq", "16", "--val-batches", "1",
                "--ckpt-every", "2", "--out", str(tmp_path)]) == 0
    rows = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "train_loss" in r]
    assert [r["step"] for r in steps] == [1, 2, 3, 4]
    for r in steps:
        assert {"step", "train_loss", "lr", "grad_norm", "wall_ms", "tokens_per_s"} <= set(r)
        assert r["wall_ms"] > 0 and r["tokens_per_s"] == pytest.approx(32 / (r["wall_ms"] / 1e3))
    assert rows[0]["event"] == "start" and rows[-1]["event"] == "val"
    assert (tmp_path / "checkpoints" / "step-000002" / "trainer_state.json").exists()
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["final_step"] == 4 and summary["checkpoint"].endswith("final")


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_is_drawn_only_on_a_tty(monkeypatch):
    plain = io.StringIO()
    monkeypatch.setattr("sys.stderr", plain)
    loop._progress(3, 10, 2.5, 1000.0)
    assert plain.getvalue() == ""
    tty = _Tty()
    monkeypatch.setattr("sys.stderr", tty)
    loop._progress(10, 10, 2.5, 1000.0)
    assert "10/10" in tty.getvalue() and "loss 2.5000" in tty.getvalue()
