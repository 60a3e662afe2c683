"""Falsifiers of apr-pretrain-arch-polymorphic-v1 owned by the trainer (002, 003, 005..008).

All run `aprcore pretrain` through its main() on the real stdlib corpus with the tiny
presets; each preflight test checks that the run fails before any step (no log line).
"""

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from safetensors.numpy import load_file, save_file
from tokenizers import Tokenizer, models, processors

from aprcore.cli import main as aprcore_main
from aprcore.config import ModelConfig, preset
from aprcore.formats.hf import write_hf_dir
from aprcore.train.data import batch_at, build_corpus
from aprcore.train.graph import cross_entropy, forward
from aprcore.train.init import init_weights
from aprcore.train.loop import TrainSettings, train
from aprcore.train.preflight import PreflightError, check_tokenizer_fits
from aprcore.train.threads import blas_threads


def cli(argv):
    return aprcore_main(["pretrain", *argv])

FAST = dict(batch=8, seq=64, val_batches=2, warmup=10)
ID = "FALSIFY-APR-PRETRAIN-ARCH-{:03d}"


@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread():
    """Tiny matmuls on a shared 2-core machine: one BLAS thread is ~10x faster."""
    with blas_threads(1):
        yield


@pytest.fixture(scope="module")
def trained_llama(tmp_path_factory):
    """tiny-llama trained 120 steps on the stdlib corpus: the 'pretrained checkpoint'."""
    out = tmp_path_factory.mktemp("pretrained")
    summary = train(preset("tiny-llama"), TrainSettings(steps=120, **FAST), out)
    return out / "final", summary


def _run(tmp_path, *argv):
    out = tmp_path / "run"
    rc = cli([*argv, "--out", str(out), "--batch", "8", "--seq", "64", "--val-batches", "2"])
    return rc, out


def _step_lines(out):
    log = out / "log.jsonl"
    if not log.exists():
        return []
    return [r for r in map(json.loads, log.read_text().splitlines()) if "step" in r and "train_loss" in r]


def _word_tokenizer(path, n, *, bert=False):
    vocab = {f"w{i}": i for i in range(n - 4)}
    specials = ["[UNK]", "[CLS]", "[SEP]", "[MASK]"] if bert else ["<unk>", "<s>", "</s>", "<pad>"]
    for s in specials:
        vocab[s] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab, unk_token=specials[0]))
    if bert:
        tok.post_processor = processors.BertProcessing(("[SEP]", vocab["[SEP]"]), ("[CLS]", vocab["[CLS]"]))
    tok.save(str(path))
    return path


@pytest.mark.falsifier(ID.format(2))
def test_init_starts_from_exactly_the_checkpoint_tensors(trained_llama, tmp_path):
    ckpt, _ = trained_llama
    file_w = load_file(str(ckpt / "model.safetensors"))
    s = train(None, TrainSettings(steps=1, **FAST), tmp_path / "r", init=str(ckpt))
    # The first logged loss is the checkpoint's own loss on batch 0, computed independently.
    cfg = ModelConfig.from_json(ckpt / "config.json")
    corpus = build_corpus(0)
    inp, tgt = batch_at(corpus.train, 0, 0, FAST["batch"], FAST["seq"])
    expected = float(cross_entropy(forward(cfg, file_w, inp, keep=False)[0], tgt)[0])
    assert s["losses"][0] == expected
    assert s["config"] == cfg


@pytest.mark.falsifier(ID.format(3))
def test_tokenizer_larger_than_embedding_fails_before_any_step(tmp_path, capsys):
    tok = _word_tokenizer(tmp_path / "tokenizer.json", 300)
    rc, out = _run(tmp_path, "--config", "tiny-llama", "--tokenizer", str(tok), "--steps", "3")
    err = capsys.readouterr().err
    assert rc == 2
    assert ID.format(3) in err and "300" in err and "256" in err
    assert _step_lines(out) == []


@pytest.mark.falsifier(ID.format(3))
@given(tok=st.integers(1, 100_000), rows=st.integers(1, 100_000))
def test_vocab_preflight_rejects_exactly_the_tokenizers_larger_than_the_table(tok, rows):
    cfg = preset("tiny-llama").replace(vocab_size=rows)
    if tok > rows:
        with pytest.raises(PreflightError, match=ID.format(3)):
            check_tokenizer_fits(tok, cfg)
    else:
        check_tokenizer_fits(tok, cfg)


@pytest.mark.falsifier(ID.format(5))
@pytest.mark.parametrize("damage", ["wrong_hidden", "missing_tensor", "extra_tensor", "transposed"])
def test_init_tensors_that_do_not_fit_fail_before_any_step(tmp_path, capsys, damage):
    cfg = preset("tiny-qwen2")
    w = init_weights(cfg, 0)
    target = "tiny-qwen2"
    if damage == "wrong_hidden":
        small = cfg.replace(hidden_size=32, intermediate_size=80)
        write_hf_dir(tmp_path / "ck", small, init_weights(small, 0))
    else:
        if damage == "missing_tensor":
            del w["model.layers.1.mlp.up_proj.weight"]
        elif damage == "extra_tensor":
            w["model.layers.2.mlp.up_proj.weight"] = w["model.layers.1.mlp.up_proj.weight"]
        else:
            k = "model.layers.0.mlp.down_proj.weight"
            w[k] = np.ascontiguousarray(w[k].T)
        (tmp_path / "ck").mkdir()
        (tmp_path / "ck" / "config.json").write_text(json.dumps(cfg.to_hf_dict()))
        save_file(w, str(tmp_path / "ck" / "model.safetensors"))
    rc, out = _run(tmp_path, "--config", target, "--init", str(tmp_path / "ck"), "--steps", "2")
    err = capsys.readouterr().err
    assert rc == 2, err
    assert ID.format(5) in err
    assert _step_lines(out) == []


@pytest.mark.falsifier(ID.format(6))
def test_init_from_trained_checkpoint_starts_far_below_a_fresh_model(trained_llama, tmp_path, record_property):
    """Fresh: within 0.1 nat of ln(256) (std-0.02 weights give near-uniform logits).
    From the checkpoint: below the train shard's unigram entropy minus 0.2 nat, the best
    any model that ignores context can reach, so the checkpoint's knowledge is real."""
    ckpt, _ = trained_llama
    fresh = train(preset("tiny-llama"), TrainSettings(steps=1, **FAST), tmp_path / "fresh")
    warm = train(None, TrainSettings(steps=1, **FAST), tmp_path / "warm", init=str(ckpt))
    corpus = build_corpus(0)
    freq = np.bincount(corpus.train, minlength=256) / corpus.train.size
    unigram = float(-(freq[freq > 0] * np.log(freq[freq > 0])).sum())
    lnv = math.log(256)
    record_property("loss_fresh", fresh["losses"][0])
    record_property("loss_init", warm["losses"][0])
    record_property("unigram_entropy", unigram)
    assert abs(fresh["losses"][0] - lnv) < 0.1
    assert warm["losses"][0] < unigram - 0.2
    assert fresh["losses"][0] - warm["losses"][0] > 2.0


@pytest.mark.falsifier(ID.format(7))
@pytest.mark.parametrize("name", ["tiny-qwen2", "tiny-llama", "tiny-qwen2-gqa7"])
def test_the_same_trainer_trains_both_families(name, tmp_path, record_property):
    cfg = preset(name)
    s = train(cfg, TrainSettings(steps=30, **FAST), tmp_path)
    first, last = np.mean(s["losses"][:3]), np.mean(s["losses"][-3:])
    record_property("loss_start", float(first))
    record_property("loss_end", float(last))
    assert last < first - 1.0
    saved = json.loads((tmp_path / "final" / "config.json").read_text())
    names = set(load_file(str(tmp_path / "final" / "model.safetensors")))
    assert saved["model_type"] == cfg.arch
    assert any(n.endswith("q_proj.bias") for n in names) == (cfg.arch == "qwen2")
    assert ("lm_head.weight" in names) == (not cfg.tie_word_embeddings)


@pytest.mark.falsifier(ID.format(8))
def test_encoder_checkpoint_is_refused_before_any_step(tmp_path, capsys):
    bert = {"architectures": ["BertForMaskedLM"], "model_type": "bert", "vocab_size": 256,
            "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
            "num_attention_heads": 4}
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text(json.dumps(bert))
    save_file({"bert.embeddings.word_embeddings.weight": np.zeros((256, 64), np.float32)},
              str(tmp_path / "bert" / "model.safetensors"))
    rc, out = _run(tmp_path, "--init", str(tmp_path / "bert"), "--steps", "2")
    err = capsys.readouterr().err
    assert rc == 2 and ID.format(8) in err and "encoder" in err
    assert _step_lines(out) == []
    rc, out = _run(tmp_path, "--config", str(tmp_path / "bert" / "config.json"), "--steps", "2")
    err = capsys.readouterr().err
    assert rc == 2 and ID.format(8) in err and "encoder" in err
    assert _step_lines(out) == []


@pytest.mark.falsifier(ID.format(8))
def test_encoder_tokenizer_is_refused_before_any_step(tmp_path, capsys):
    tok = _word_tokenizer(tmp_path / "tokenizer.json", 200, bert=True)
    rc, out = _run(tmp_path, "--config", "tiny-llama", "--tokenizer", str(tok), "--steps", "2")
    err = capsys.readouterr().err
    assert rc == 2 and ID.format(8) in err
    assert _step_lines(out) == []


@pytest.mark.falsifier(ID.format(3))
def test_a_fitting_bpe_tokenizer_passes_preflight_and_trains_on_its_ids(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(["def f(x):\n    return x + 1\n", "import os\nclass A:\n    pass\n"] * 50,
                            trainer=trainer)
    tok.save(str(tmp_path / "tokenizer.json"))
    cfg = preset("tiny-llama").replace(vocab_size=512)  # byte alphabet + merges < 512 rows
    s = train(cfg, TrainSettings(steps=3, tokenizer=str(tmp_path / "tokenizer.json"),
                                 max_train_bytes=300_000, **FAST), tmp_path / "r")
    start = json.loads((tmp_path / "r" / "log.jsonl").read_text().splitlines()[0])
    assert start["corpus"]["tokenizer"].endswith("tokenizer.json")
    n_bytes = build_corpus(0, max_train_bytes=300_000).train.size
    assert 0 < start["corpus"]["train_tokens"] < n_bytes  # merges shorten the stream
    assert all(np.isfinite(s["losses"]))
