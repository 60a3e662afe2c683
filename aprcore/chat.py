"""Chat templates rendered with Jinja2, as transformers' `apply_chat_template` renders them.

The environment is the one transformers builds (`_compile_jinja_template`): a sandboxed,
immutable Jinja2 environment with `trim_blocks` and `lstrip_blocks`, the `loopcontrols`
extension, a `tojson` filter that keeps non-ASCII text, and the `raise_exception` and
`strftime_now` globals templates call. The template comes from the model file
(`tokenizer.chat_template` in GGUF, `chat_template` in tokenizer_config.json).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any


class ChatTemplateError(ValueError):
    """A template that does not compile, or that refused the messages."""


def _tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None,
            separators: tuple[str, str] | None = None, sort_keys: bool = False) -> str:
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def _raise(message: str) -> None:
    import jinja2  # noqa: PLC0415

    raise jinja2.exceptions.TemplateError(message)


@lru_cache(maxsize=16)
def _compile(template: str) -> Any:
    import jinja2  # noqa: PLC0415
    from jinja2.sandbox import ImmutableSandboxedEnvironment  # noqa: PLC0415

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    try:
        return env.from_string(template)
    except jinja2.exceptions.TemplateError as e:
        raise ChatTemplateError(f"chat template does not compile: {e}") from None


def render_chat(template: str, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = True,
                **special_tokens: str) -> str:
    """The prompt text for `messages` ([{"role": ..., "content": ...}, ...])."""
    import jinja2  # noqa: PLC0415

    compiled = _compile(template)
    try:
        return compiled.render(messages=[dict(m) for m in messages],
                               add_generation_prompt=add_generation_prompt, **special_tokens)
    except jinja2.exceptions.TemplateError as e:
        raise ChatTemplateError(f"chat template refused the messages: {e}") from None
