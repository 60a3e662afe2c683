"""Add one setting to a project's pytest config file without clobbering anything.

The file is edited as text (no TOML or INI library writes files back byte for byte): one
line is inserted after the header of the pytest section, or a section is appended when
there is none. The result is then read back with the same loaders `falsify` uses to find
the project (`_project.LOADERS`), and must hold exactly the old options plus the new one;
anything else (a section defined with dotted keys, an odd layout) is refused with the
line to add by hand, and the file is left as it was.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from ._project import LOADERS, ConfigFileError

#: file name -> (syntax, pytest section headers in the order pytest prefers them)
SECTIONS = {
    "pyproject.toml": ("toml", ("tool.pytest.ini_options", "tool.pytest")),
    "pytest.toml": ("toml", ("pytest",)),
    ".pytest.toml": ("toml", ("pytest",)),
    "pytest.ini": ("ini", ("pytest",)),
    ".pytest.ini": ("ini", ("pytest",)),
    "tox.ini": ("ini", ("pytest",)),
    "setup.cfg": ("ini", ("tool:pytest",)),
}


class StanzaError(Exception):
    """The setting cannot be added safely; the message says what to add by hand."""


def setting_line(name: str, key: str, value: str) -> str:
    syntax, _ = SECTIONS[name]
    return f"{key} = {json.dumps(value)}" if syntax == "toml" else f"{key} = {value}"


_EOL = r"(?=\r?\n|\Z)"  # the end of a line, before its \r\n or \n


def _header(section: str, syntax: str) -> re.Pattern[str]:
    if syntax == "toml":
        body = r"[ \t]*\.[ \t]*".join(re.escape(p) for p in section.split("."))
        return re.compile(rf"^[ \t]*\[[ \t]*{body}[ \t]*\][ \t]*(#[^\r\n]*)?{_EOL}", re.MULTILINE)
    return re.compile(rf"^\[{re.escape(section)}\][ \t]*([#;][^\r\n]*)?{_EOL}", re.MULTILINE)


def add_setting(name: str, text: str, key: str, value: str) -> str:
    """`text` of config file `name` with `key = value` in its pytest section (unverified)."""
    syntax, sections = SECTIONS[name]
    newline = "\r\n" if "\r\n" in text else "\n"
    line = setting_line(name, key, value)
    for section in sections:
        m = _header(section, syntax).search(text)
        if m:
            end = m.end()
            if text.startswith("\r\n", end):
                end += 2
            elif text.startswith("\n", end):
                end += 1
            else:  # the header is the last line, without a newline
                return text[:end] + newline + line + newline
            return text[:end] + line + newline + text[end:]
    head = f"[{sections[0]}]"
    sep = "" if not text or text.endswith(("\n\n", "\r\n\r\n")) else (
        newline if text.endswith("\n") else newline * 2)
    return text + sep + head + newline + line + newline


def options_of(name: str, text: str) -> dict | None:
    """The pytest options that `falsify` (and pytest) read from a file of that name."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(text, encoding="utf-8", newline="")
        try:
            return LOADERS[name](path)
        except ConfigFileError as exc:
            raise StanzaError(str(exc).replace(str(path), name)) from None


def added(path: Path, text: str, key: str, value: str) -> str:
    """The new text of config file `path`, verified to change nothing but `key`."""
    name = path.name
    before = options_of(name, text) or {}
    new = add_setting(name, text, key, value)
    try:
        after = options_of(name, new)
    except StanzaError:
        after = None
    if after != {**before, key: value}:
        section = SECTIONS[name][1][0]
        raise StanzaError(f"{path}: cannot add the setting safely; add this line under "
                          f"[{section}] yourself: {setting_line(name, key, value)}")
    return new
