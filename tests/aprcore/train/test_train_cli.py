"""The pretrain command's outputs: the JSONL log's fields, the progress bar only on a TTY,
the guards on its arguments and on OUT."""

import io
import json

import pytest

from aprcore.cli import main as aprcore_main
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


def _pretrain_stderr(monkeypatch, stream, out) -> str:
    monkeypatch.setattr("sys.stderr", stream)
    assert cli(["--steps", "3", "--batch", "2", "--seq", "16", "--val-batches", "1",
                "--no-checkpoint", "--out", str(out)]) == 0
    return stream.getvalue()


def test_progress_bar_with_eta_is_drawn_only_on_a_tty(monkeypatch, tmp_path):
    assert _pretrain_stderr(monkeypatch, io.StringIO(), tmp_path / "plain") == ""
    drawn = _pretrain_stderr(monkeypatch, _Tty(), tmp_path / "tty")
    assert "3/3" in drawn and "loss=" in drawn and "<" in drawn  # tqdm's elapsed<remaining


def test_a_trainer_checkpoint_reads_as_the_model_alone(tmp_path, capsys):
    """inspect, diff and load see the model's tensors; the optimizer state stays apart."""
    import aprcore
    from aprcore.cli import main as cli_main
    from aprcore.config import preset
    from aprcore.weights import expected_shapes

    assert cli(["--steps", "2", "--batch", "2", "--seq", "16", "--val-batches", "1",
                "--out", str(tmp_path / "run")]) == 0
    final = tmp_path / "run" / "final"
    n = len(aprcore.load(final).weights)
    assert n == len(expected_shapes(preset("tiny-llama")))
    capsys.readouterr()
    assert cli_main(["inspect", str(final), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["tensors"]) == n
    assert cli_main(["diff", str(final), str(final), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "PASS" and len(report["tensors"]) == n
