"""Every bad argument or missing file: exit 2 and one line on stderr, for every command;
OUT is never silently replaced; the documented resume example runs."""

from __future__ import annotations

import json

import pytest

from aprcore.cli import main

FAST = ["--batch", "2", "--seq", "16", "--val-batches", "1", "--threads", "1"]


def run(capsys, *argv: str) -> tuple[int, str]:
    try:
        rc = main(list(argv))
    except SystemExit as e:  # argparse exits on usage errors
        rc = e.code
    return rc, capsys.readouterr().err


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    import aprcore

    d = tmp_path_factory.mktemp("teacher") / "t"
    aprcore.save(aprcore.Model.random(aprcore.preset("tiny-llama"), seed=1), d)
    return str(d)


@pytest.mark.parametrize("argv, fragment", [
    (["pretrain", "--steps", "0"], "--steps: must be a positive integer"),
    (["pretrain", "--batch", "0"], "--batch: must be a positive integer"),
    (["pretrain", "--seq", "-4"], "--seq: must be a positive integer"),
    (["pretrain", "--lr", "-1"], "--lr: must be greater than 0"),
    (["pretrain", "--weight-decay", "-0.1"], "--weight-decay: must be 0 or more"),
    (["pretrain", "--min-lr-ratio", "2"], "--min-lr-ratio: must be in [0, 1]"),
    (["pretrain", "--warmup", "-1"], "--warmup: must be 0 or more"),
    (["pretrain", "--val-ceiling", "nan"], "--val-ceiling: expected a number"),
    (["pretrain", "--resume", "/no/such/checkpoint"], "no such file or directory"),
    (["pretrain", "--init", "/no/such/model"], "no such file or directory"),
    (["pretrain", "--tokenizer", "/missing.json"], "/missing.json: no such file or directory"),
    (["distill", "--teacher", "/no/such/teacher"], "no such file or directory"),
    (["distill", "--teacher", "TEACHER", "--alpha", "5"], "--alpha: must be in [0, 1]"),
    (["distill", "--teacher", "TEACHER", "--temperature", "-1"], "--temperature: must be greater than 0"),
    (["distill", "--teacher", "TEACHER", "--temperature", "0"], "--temperature: must be greater than 0"),
])
def test_bad_training_arguments_exit_2_with_one_line(capsys, tmp_path, teacher, argv, fragment):
    argv = [teacher if a == "TEACHER" else a for a in argv]
    rc, err = run(capsys, *argv, "--out", str(tmp_path / "out"))
    assert rc == 2 and fragment in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, fragment", [
    (["run", "random:tiny-qwen2", "--tokens", "1,2", "--generate", "-3"], "--generate: must be 0 or more"),
    (["run", "random:tiny-qwen2", "--tokens", "1,2", "--top-k", "0"], "--top-k: must be a positive integer"),
    (["run", "/no/such/model", "--tokens", "1"], "/no/such/model"),
    (["diff", "/no/a.gguf", "/no/b.gguf"], "no such file or directory"),
    (["diff", "A", "A", "--floor", "1.5"], "--floor: must be in [0, 1]"),
    (["inspect", "/no/such.gguf"], "no such file or directory"),
    (["convert", "/no/such/model", "OUT.gguf"], "no such file or directory"),
    (["convert", "A", "OUT", "--quant", "Q4_K"], "needs a .gguf DST"),
])
def test_bad_model_arguments_exit_2_with_one_line(capsys, tmp_path, teacher, argv, fragment):
    argv = [teacher if a == "A" else str(tmp_path / a) if a.startswith("OUT") else a for a in argv]
    rc, err = run(capsys, *argv)
    assert rc == 2 and fragment in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_an_unknown_device_is_one_line_before_any_work(capsys, tmp_path):
    rc, err = run(capsys, "pretrain", "--device", "tpu", "--out", str(tmp_path / "out"))
    assert rc == 2 and "unknown device 'tpu'" in err and err.count("\n") == 1
    assert not (tmp_path / "out" / "log.jsonl").exists()


def test_out_refuses_an_existing_run_and_force_replaces_it(capsys, tmp_path):
    out = tmp_path / "run"
    assert run(capsys, "pretrain", "--steps", "2", *FAST, "--ckpt-every", "1", "--out", str(out))[0] == 0
    log = (out / "log.jsonl").read_bytes()
    rc, err = run(capsys, "pretrain", "--steps", "2", *FAST, "--out", str(out))
    assert rc == 2 and "already holds a run" in err and "--force" in err
    assert (out / "log.jsonl").read_bytes() == log and (out / "checkpoints").is_dir()
    assert run(capsys, "pretrain", "--steps", "3", *FAST, "--out", str(out), "--force")[0] == 0
    assert not (out / "checkpoints").exists()  # the old run's artefacts went with it
    assert [json.loads(x).get("step") for x in (out / "log.jsonl").read_text().splitlines()][-2] == 3


def test_the_documented_resume_example_runs(capsys, tmp_path):
    """docs/training.md: pretrain --ckpt-every 200 --out runs/p, then --resume
    runs/p/checkpoints/step-000400 --steps 800 --out runs/p2 (scaled down: 2 of 4 steps)."""
    p, p2 = tmp_path / "runs" / "p", tmp_path / "runs" / "p2"
    assert run(capsys, "pretrain", "--steps", "4", "--ckpt-every", "1", *FAST, "--out", str(p))[0] == 0
    ckpt = p / "checkpoints" / "step-000002"
    assert run(capsys, "pretrain", "--resume", str(ckpt), "--steps", "4", *FAST, "--out", str(p2))[0] == 0
    rc, err = run(capsys, "pretrain", "--resume", str(ckpt), "--steps", "2", *FAST, "--out", str(p2))
    assert rc == 2 and "not past step 2" in err and err.count("\n") == 1
    rc, _ = run(capsys, "pretrain", "--resume", str(ckpt), "--steps", "3", *FAST, "--out", str(p))
    assert rc == 0  # continuing into the run's own directory needs no --force


def test_help_shows_the_defaults(capsys):
    for command in ("pretrain", "distill", "run", "diff", "convert"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        assert "(default:" in out, command
    with pytest.raises(SystemExit):
        main(["pretrain", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--steps STEPS total optimizer steps (a resumed run counts the checkpoint's) (default: 800)" in out
    assert "--lr LR peak learning rate (default: 0.003)" in out
