"""The diff sweep's statistics do not depend on how its work is spread.

Worker processes, worker threads and one thread, and any task size, must give the
same report to the last bit: the per-chunk sums are taken over the same element
ranges and combined in the same order whatever runs them.
"""

from __future__ import annotations

import pickle

import pytest
from _gguf_fixtures import TINY, random_weights, write_hf_dir  # noqa: E402

from aprcore.formats import (
    diff,  # noqa: E402
    gguf_io,  # noqa: E402
)
from aprcore.formats.errors import FormatError  # noqa: E402

CFG = TINY["tiny-llama"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("workers")
    w = random_weights(CFG, seed=4)
    write_hf_dir(d / "hf", CFG, w)
    gguf_io.write_model(d / "q4k.gguf", CFG, w, quant="Q4_K")
    return d / "hf", d / "q4k.gguf"


def _stats(report: diff.DiffReport) -> list[dict]:
    return [{k: v for k, v in t.__dict__.items()} for t in report.tensors]


def test_processes_threads_and_one_thread_give_identical_reports(pair):
    one = diff.diff_files(*pair, floor=0.99, threads=1)
    threads = diff.diff_files(*pair, floor=0.99, threads=2, processes=False)
    procs = diff.diff_files(*pair, floor=0.99, threads=2, processes=True)
    assert one.verdict == "PASS"
    assert _stats(threads) == _stats(one)
    assert _stats(procs) == _stats(one)


def test_statistics_do_not_depend_on_the_task_size(pair, monkeypatch):
    monkeypatch.setattr(diff, "_CHUNK", 1 << 10)  # many statistics chunks per tensor of the tiny model
    monkeypatch.setattr(diff, "_TASK", 1 << 10)  # one chunk per task
    ref = diff.diff_files(*pair, floor=0.99, threads=1)
    monkeypatch.setattr(diff, "_TASK", 3 << 10)  # three chunks per task, a short last task
    assert _stats(diff.diff_files(*pair, floor=0.99, threads=2, processes=False)) == _stats(ref)
    monkeypatch.setattr(diff, "_TASK", 1 << 20)  # whole tensors per task
    assert _stats(diff.diff_files(*pair, floor=0.99, threads=2, processes=True)) == _stats(ref)


def test_worker_process_errors_reach_the_caller_whole():
    e = pickle.loads(pickle.dumps(FormatError("/x/model.gguf", "tensor 'a' is truncated")))
    assert isinstance(e, FormatError)
    assert (e.path, e.problem, str(e)) == ("/x/model.gguf", "tensor 'a' is truncated",
                                           "/x/model.gguf: tensor 'a' is truncated")
