"""`aprcore.tokenizer` and `aprcore.chat`: building, saving, templates and their errors.

The agreement with llama.cpp on the real vocabulary is a falsifier
(tests/falsifiers/test_smollm2_real.py); these pin the behaviour around it.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import aprcore
from aprcore.chat import ChatTemplateError, render_chat
from aprcore.config import preset
from aprcore.model import Model
from aprcore.tokenizer import Tokenizer, TokenizerError, load_tokenizer

# A byte-level vocabulary small enough to read: the 256 GPT-2 byte symbols, two merges,
# one control token.
_BYTES = [chr(c) for c in range(ord("!"), ord("~") + 1)]
TOKENS = ["<|end|>", *_BYTES, "Ġ", "Ġa", "ab"]
MERGES = ["Ġ a", "a b"]
TYPES = [3] + [1] * (len(TOKENS) - 1)


def _tiny(pre: str = "gpt-2", **kw) -> Tokenizer:
    return Tokenizer.from_bpe(TOKENS, MERGES, TYPES, pre, eos_id=0, **kw)


def test_merges_apply_and_the_control_token_is_one_id():
    tk = _tiny()
    assert tk.encode("ab a<|end|>") == [TOKENS.index("ab"), TOKENS.index("Ġa"), 0]
    assert tk.decode(tk.encode("ab a<|end|>")) == "ab a<|end|>"
    assert tk.decode(tk.encode("ab<|end|>"), skip_special=True) == "ab"


def test_smollm_splits_every_digit_and_gpt2_keeps_runs():
    one = TOKENS.index("1")
    assert _tiny("smollm").encode("11") == [one, one]
    assert _tiny("gpt-2").encode("11") == [one, one]  # no merge "1 1": same ids, other pieces
    assert _tiny("smollm").hf.pre_tokenizer.pre_tokenize_str("123")[0][0] == "1"
    assert _tiny("gpt-2").hf.pre_tokenizer.pre_tokenize_str("123")[0][0] == "123"


def test_an_unknown_pre_tokenizer_is_refused_with_the_supported_names():
    with pytest.raises(TokenizerError, match=r"pre-tokenizer 'qwen2' is not supported \(supported: gpt-2, smollm"):
        _tiny("qwen2")


def test_hf_directory_round_trip_keeps_ids_template_and_specials(tmp_path):
    tk = _tiny(chat_template="{{ messages[0]['content'] }}")
    tk.save_hf(tmp_path)
    back = Tokenizer.from_hf_dir(tmp_path)
    assert back.encode("ab a<|end|>") == tk.encode("ab a<|end|>")
    assert (back.eos_id, back.chat_template, back.special_ids) == (0, tk.chat_template, frozenset({0}))


def test_load_keeps_the_tokenizer_of_an_hf_directory_through_save(tmp_path):
    model = Model.random(preset("tiny-llama"), seed=0)
    model.tokenizer = _tiny()
    back = aprcore.load(aprcore.save(model, tmp_path / "m"))
    assert back.tokenizer.encode("ab a") == model.tokenizer.encode("ab a")


def test_files_without_a_buildable_tokenizer_load_with_none_and_strict_says_why(tmp_path):
    path = aprcore.save(Model.random(preset("tiny-llama"), seed=0), tmp_path / "m.gguf")
    assert aprcore.load(path).tokenizer is None
    with pytest.raises(TokenizerError, match="tokenizer.ggml.model 'llama' is not supported"):
        load_tokenizer(path, strict=True)
    assert load_tokenizer(tmp_path) is None


CHATML = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def test_chat_template_renders_as_transformers_does():
    msgs = [{"role": "user", "content": "hi"}]
    assert render_chat(CHATML, msgs) == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert render_chat(CHATML, msgs, add_generation_prompt=False) == "<|im_start|>user\nhi<|im_end|>\n"
    # trim_blocks / lstrip_blocks, as transformers sets them: block tags leave no whitespace
    assert render_chat("{% if true %}\n  x\n{% endif %}\n", msgs) == "  x\n"
    assert render_chat("{{ messages | tojson }}", [{"role": "user", "content": "é"}]) == \
        '[{"role": "user", "content": "é"}]'


def test_a_template_that_raises_or_does_not_compile_is_a_chat_template_error():
    with pytest.raises(ChatTemplateError, match="refused the messages: only user turns"):
        render_chat("{{ raise_exception('only user turns') }}", [])
    with pytest.raises(ChatTemplateError, match="does not compile"):
        render_chat("{% for %}", [])
    with pytest.raises(TokenizerError, match="carries no chat template"):
        _tiny().chat_prompt([{"role": "user", "content": "x"}])


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aprcore", "run", *argv], capture_output=True, text=True)


def test_a_prompt_on_a_file_without_a_tokenizer_is_a_one_line_error(tmp_path):
    path = aprcore.save(Model.random(preset("tiny-llama"), seed=0), tmp_path / "m.gguf")
    r = _run(str(path), "--prompt", "hello")
    assert r.returncode == 2
    assert r.stderr.startswith("error: cannot run a text prompt on ") and "not supported" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("argv", "message"), [
    (["--tokens", "1,2", "--chat"], "--chat needs --prompt"),
    (["--prompt", "x", "--generate", "-3"], "--generate: must be 0 or more"),
])
def test_bad_run_arguments_are_one_line_usage_errors(argv, message):
    r = _run("random:tiny-llama", *argv)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
