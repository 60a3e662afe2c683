"""The trainer and the core agree: same logits as Model.forward, and each reads the
other's files (trainer checkpoints load with aprcore.load; aprcore.save output is a
valid --init)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aprcore
from aprcore.config import preset
from aprcore.model import Model
from aprcore.train.graph import forward
from aprcore.train.loop import TrainSettings, train
from aprcore.train.threads import blas_threads


@settings(deadline=None, max_examples=15)
@given(name=st.sampled_from(["tiny-qwen2", "tiny-llama", "tiny-qwen2-gqa7"]),
       seed=st.integers(0, 2**16), seq=st.integers(1, 40))
def test_training_forward_logits_equal_model_forward(name, seed, seq):
    model = Model.random(preset(name), seed)
    ids = np.random.default_rng(seed).integers(0, model.config.vocab_size, seq)
    ref = model.forward(ids)
    ours = forward(model.config, model.weights, ids[None], keep=False)[0][0]
    assert ours.shape == ref.shape and ours.dtype == np.float32
    err = np.abs(ours - ref).max() / max(1e-6, float(np.abs(ref).max()))
    assert err < 1e-5


@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread():
    with blas_threads(1):
        yield


def test_trainer_checkpoint_loads_with_aprcore_load_and_predicts_the_same(tmp_path):
    s = train(preset("tiny-qwen2"), TrainSettings(steps=3, batch=2, seq=16, val_batches=1), tmp_path)
    model = aprcore.load(s["checkpoint"])
    ids = np.arange(10) * 7 % 256
    from safetensors.numpy import load_file

    w = load_file(f"{s['checkpoint']}/model.safetensors")
    np.testing.assert_allclose(model.forward(ids), forward(model.config, w, ids[None], keep=False)[0][0],
                               rtol=1e-5, atol=1e-5)


def test_aprcore_save_output_is_a_valid_init(tmp_path):
    model = Model.random(preset("tiny-llama"), 3)
    aprcore.save(model, tmp_path / "m")
    s = train(None, TrainSettings(steps=1, batch=2, seq=16, val_batches=1), tmp_path / "r",
              init=str(tmp_path / "m"))
    assert s["config"] == model.config and np.isfinite(s["losses"][0])


def test_gguf_checkpoint_is_a_valid_init(tmp_path):
    """--init takes a .gguf (read through aprcore.load) and starts from its weights."""
    pytest.importorskip("gguf")
    model = Model.random(preset("tiny-qwen2"), 5)
    aprcore.save(model, tmp_path / "m.gguf")
    s = train(None, TrainSettings(steps=1, batch=2, seq=16, val_batches=1), tmp_path / "r",
              init=str(tmp_path / "m.gguf"))
    assert s["config"].arch == "qwen2" and s["config"].vocab_size == model.config.vocab_size
    from aprcore.train.data import batch_at, build_corpus
    from aprcore.train.graph import cross_entropy

    inp, tgt = batch_at(build_corpus(0).train, 0, 0, 2, 16)
    ref = float(cross_entropy(forward(model.config, model.weights, inp, keep=False)[0], tgt)[0])
    assert s["losses"][0] == pytest.approx(ref, rel=1e-6)
