"""Falsifiers on a real published model: SmolLM2-135M-Instruct, Q4_1 GGUF (contract
smollm2-real-model-v1). The file was converted and quantized by llama.cpp's tools, not by
us; it is fetched and verified by `aprcore.fetch` (tests/conftest.py: `smollm2`).

The reference is llama.cpp. CI has no llama.cpp binding, so its tokenization, greedy
continuations and top-8 logits at every position were recorded once with their
provenance (scripts/make_smollm2_reference.py -> tests/data/smollm2-reference/); the
`_live` tests compare against llama.cpp itself where the binding is installed.

Two runs of llama.cpp are recorded, and they bound different things:

- `f32`: aprcore's F32 export of the real weights. ggml's F32 matmuls take float32
  inputs, so only summation order and ggml's expf differ: aprcore's logits at llama.cpp's
  top-8 ids agree to 1e-3 (measured 4.4e-5 on logits up to ~35) at every position, the
  top-1 agrees wherever llama.cpp's top two are more than 1e-3 apart, and greedy decoding
  through aprcore's KV cache reproduces llama.cpp's continuation token for token.
- `q4_1`: the published file as users run it. llama.cpp rounds every matmul input to 8
  bits there (Q8_1 blocks for Q4_1 weights, Q8_0 for the Q8_0 embedding), which moves
  logits by up to ~1.7 over 30 layers (measured), so near-ties may flip: the first-token
  logits must keep the parity gate's cosine floor (0.99), and the top-1 must agree at
  every position where llama.cpp's own margin is at least 0.5 logits (the disagreements
  measured sat at margins <= 0.31).
"""

from __future__ import annotations

import numpy as np
import pytest
from bpe import ReferenceBPE
from hypothesis import given, settings
from hypothesis import strategies as st

from aprcore.parity import COSINE_FLOOR, check_parity

F32_TOL = 1e-3          # |aprcore - llama.cpp| at llama.cpp's top-8, F32 export
F32_TIE = 1e-3          # llama.cpp margins below this are float32 near-ties
Q4_1_CLEAR_MARGIN = 0.5  # Q4_1 file: top-1 must agree where llama.cpp's margin is this large
KV_PROMPTS, KV_TOKENS = 2, 16  # token-by-token decode costs a full weight read per token


def _corpus(ref) -> list[str]:
    return [c["text"] for c in ref["corpus"]]


# -- FALSIFY-SMOL-FILE-001 ----------------------------------------------------------------

@pytest.mark.falsifier("FALSIFY-SMOL-FILE-001", level="live")
def test_the_published_file_loads_as_the_published_architecture(smollm2_path, smollm2, record_property):
    from collections import Counter

    from aprcore.formats.gguf_io import GGUFModelFile

    cfg = GGUFModelFile(smollm2_path).config()  # read from the file now, not the session's model
    assert (cfg.arch, cfg.num_hidden_layers, cfg.hidden_size, cfg.intermediate_size) == ("llama", 30, 576, 1536)
    assert (cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim) == (9, 3, 64)
    assert (cfg.rope_theta, cfg.tie_word_embeddings, cfg.vocab_size) == (100000.0, True, 49152)
    types = Counter(t.type_name for t in GGUFModelFile(smollm2_path).tensors())
    record_property("tensor_types", dict(types))
    assert types == {"Q4_1": 210, "F32": 61, "Q8_0": 1}
    assert smollm2.config.num_parameters() == 134_515_008


@pytest.mark.falsifier("FALSIFY-QUANT-GGML-003", level="live")
def test_every_q4_1_and_q8_0_tensor_of_the_real_file_decodes_as_gguf_py(smollm2_path, record_property):
    import gguf

    from aprcore import quant
    from aprcore.formats.gguf_io import GGUFModelFile

    f = GGUFModelFile(smollm2_path)
    checked = 0
    for t in f.tensors():
        if t.type_name in ("Q4_1", "Q8_0"):
            raw = f.packed_rows(t.hf_name)
            ours = quant.dequantize(raw, t.type_name, t.shape)
            np.testing.assert_array_equal(ours, gguf.quants.dequantize(raw, gguf.GGMLQuantizationType[t.type_name]),
                                          err_msg=t.gguf_name)
            checked += 1
    record_property("tensors", checked)
    assert checked == 211


# -- FALSIFY-SMOL-TOK-001 -----------------------------------------------------------------

@pytest.mark.falsifier("FALSIFY-SMOL-TOK-001", level="live")
def test_tokenizer_matches_llamacpp_on_the_tricky_corpus(smollm2, smollm2_reference, record_property):
    corpus = smollm2_reference["corpus"]
    wrong = [(c["text"], smollm2.tokenizer.encode(c["text"]), c["ids"]) for c in corpus
             if smollm2.tokenizer.encode(c["text"]) != c["ids"]]
    record_property("strings", len(corpus))
    assert not wrong, wrong


@pytest.fixture(scope="module")
def reference_bpe(smollm2_path):
    from gguf import GGUFReader

    fields = GGUFReader(smollm2_path).fields
    tokens = list(fields["tokenizer.ggml.tokens"].contents())
    types = list(fields["tokenizer.ggml.token_type"].contents())
    return ReferenceBPE(tokens, list(fields["tokenizer.ggml.merges"].contents()),
                        [t for t, k in zip(tokens, types, strict=True) if k == 3],
                        str(fields["tokenizer.ggml.pre"].contents()))


@pytest.mark.falsifier("FALSIFY-SMOL-TOK-001", level="live")
def test_tokenizer_matches_a_from_scratch_byte_level_bpe(smollm2, smollm2_reference, reference_bpe):
    for text in _corpus(smollm2_reference):
        assert smollm2.tokenizer.encode(text) == reference_bpe.encode(text), text


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
# SmolLM2's vocabulary has no symbol for bytes 0x04 0x06 0x13 0x14 0x16 0x1d 0xf1 0xf2 (the
# lead bytes of U+40000..U+BFFFF). On text holding them llama.cpp and `tokenizers` part
# ways, a known divergence (docs/aprcore.md): llama.cpp keeps the missing symbol as a
# merge barrier and drops it at the end, `tokenizers` drops it before merging. Text
# compared with llama.cpp avoids those characters.
_LACKING = frozenset("\x04\x06\x13\x14\x16\x1d")
_REPRESENTABLE = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)).filter(
    lambda c: c not in _LACKING and not 0x40000 <= ord(c) < 0xC0000), max_size=40)


@pytest.mark.falsifier("FALSIFY-SMOL-TOK-001", level="live")
@settings(max_examples=60)
@given(text=_TEXT)
def test_tokenizer_matches_the_reference_bpe_and_round_trips_any_text(smollm2, reference_bpe, text):
    ids = smollm2.tokenizer.encode(text)
    assert ids == reference_bpe.encode(text)
    if reference_bpe.representable(text):  # else both drop the bytes the vocabulary lacks
        assert smollm2.tokenizer.decode(ids) == text


@pytest.fixture(scope="module")
def llamacpp_vocab(smollm2_path):
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    llm = llama_cpp.Llama(model_path=str(smollm2_path), vocab_only=True, verbose=False)
    yield llm
    llm.close()


@pytest.mark.falsifier("FALSIFY-SMOL-TOK-001", level="live")
@settings(max_examples=200)
@given(text=_REPRESENTABLE)
def test_tokenizer_matches_llamacpp_live(llamacpp_vocab, smollm2, text):
    assert smollm2.tokenizer.encode(text) == llamacpp_vocab.tokenize(text.encode("utf-8"), add_bos=False,
                                                                     special=True)


# -- FALSIFY-SMOL-TEXT-001 ----------------------------------------------------------------

@pytest.mark.falsifier("FALSIFY-SMOL-TEXT-001", level="live")
def test_the_capital_of_france_is_paris_from_the_command_line(smollm2_path, capsys):
    from aprcore.cli import main

    assert main(["run", str(smollm2_path), "--prompt", "The capital of France is", "--generate", "4"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(" Paris"), out


@pytest.mark.falsifier("FALSIFY-SMOL-TEXT-001", level="live")
def test_the_chat_answer_names_paris(smollm2):
    tok = smollm2.tokenizer
    prompt = tok.chat_prompt([{"role": "user", "content": "What is the capital of France?"}])
    assert prompt.endswith("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
                           "<|im_start|>assistant\n")
    answer = tok.decode(smollm2.generate(tok.encode(prompt), 10, stop_ids=[tok.eos_id]))
    assert "Paris" in answer, answer


# -- FALSIFY-SMOL-F32-001: aprcore's forward is llama.cpp's, on the real weights ------------

def _teacher_forced(forced, ref, run, n):
    p = ref["prompts"][n][run]
    return forced(run, n), np.array(p["top_ids"]), np.array(p["top_logits"])


@pytest.mark.falsifier("FALSIFY-SMOL-F32-001", level="live")
def test_logits_equal_llamacpp_on_the_f32_export_at_every_position(smollm2_forced, smollm2_reference,
                                                                      record_property):
    worst, positions, ties = 0.0, 0, 0
    for n, p in enumerate(smollm2_reference["prompts"]):
        ours, top, theirs = _teacher_forced(smollm2_forced, smollm2_reference, "f32", n)
        diff = np.abs(np.take_along_axis(ours, top, -1) - theirs)
        worst = max(worst, float(diff.max()))
        clear = theirs[:, 0] - theirs[:, 1] > F32_TIE
        np.testing.assert_array_equal(ours.argmax(-1)[clear], top[clear, 0], err_msg=p["text"])
        positions += len(top)
        ties += int((~clear).sum())
    record_property("max_abs_diff_top8", worst)
    record_property("positions", positions)
    record_property("near_ties", ties)
    assert worst <= F32_TOL, worst


@pytest.mark.falsifier("FALSIFY-SMOL-F32-001", level="live")
def test_greedy_decode_through_the_kv_cache_reproduces_llamacpp(smollm2, smollm2_reference, record_property):
    eos = smollm2_reference["provenance"]["eos_id"]
    tokens = 0
    for p in smollm2_reference["prompts"][:KV_PROMPTS]:
        want = p["f32"]["generated"][:KV_TOKENS]
        margins = np.array(p["f32"]["top_logits"])[len(p["ids"]) - 1:, :2] @ [1, -1]
        assert margins[: len(want)].min() > F32_TIE, "a near-tie: the check would be luck"
        assert smollm2.generate(p["ids"], len(want), stop_ids=[eos]) == want, p["text"]
        tokens += len(want)
    record_property("tokens", tokens)


# -- FALSIFY-SMOL-GREEDY-001: the published Q4_1 file, against llama.cpp on it ------------

@pytest.mark.falsifier("FALSIFY-SMOL-GREEDY-001", level="live")
def test_first_token_logits_keep_the_parity_gates_cosine_floor_against_llamacpp(
        smollm2_forced, smollm2_reference, record_property):
    cosines = []
    for n, p in enumerate(smollm2_reference["prompts"]):
        ours = smollm2_forced("q4_1", n)[len(p["ids"]) - 1]  # causal: the prompt's last position
        rep = check_parity(smollm2_reference["last_logits"][f"p{n}"], ours, "aprcore")
        cosines.append(rep.cosine)
        assert rep.cosine >= COSINE_FLOOR, (p["text"], rep)
    record_property("min_cosine", min(cosines))


@pytest.mark.falsifier("FALSIFY-SMOL-GREEDY-001", level="live")
def test_top1_equals_llamacpp_top1_wherever_its_margin_is_clear(smollm2_forced, smollm2_reference,
                                                                record_property):
    agree = total = clear_n = 0
    for n, p in enumerate(smollm2_reference["prompts"]):
        ours, top, theirs = _teacher_forced(smollm2_forced, smollm2_reference, "q4_1", n)
        same = ours.argmax(-1) == top[:, 0]
        clear = theirs[:, 0] - theirs[:, 1] >= Q4_1_CLEAR_MARGIN
        assert same[clear].all(), (p["text"], np.nonzero(clear & ~same)[0])
        agree += int(same.sum())
        total += len(same)
        clear_n += int(clear.sum())
    record_property("top1_agreement", agree / total)
    record_property("positions", total)
    record_property("clear_positions", clear_n)


@pytest.mark.falsifier("FALSIFY-SMOL-GREEDY-001", level="live")
def test_logits_equal_llamacpp_live_on_the_published_file(smollm2_path, smollm2, smollm2_reference,
                                                         record_property):
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    p = smollm2_reference["prompts"][0]
    seq = p["ids"] + p["q4_1"]["generated"][:8]
    llm = llama_cpp.Llama(model_path=str(smollm2_path), logits_all=True, n_ctx=64, n_batch=64,
                          n_threads=2, verbose=False, flash_attn=False,
                          type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32)
    try:
        llm.eval(seq)
        theirs = np.array(llm.scores[: len(seq)], np.float32)
    finally:
        llm.close()
    ours = smollm2.forward(seq)
    rep = check_parity(theirs[-1], ours[-1], "aprcore")
    record_property("cosine", rep.cosine)
    assert rep.accepted, rep
