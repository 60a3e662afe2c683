"""The CUDA sources as package data: one file per op, a registry that names every kernel's
file, and compilation per file (only attention is specialised per GQA ratio). CPU-only."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from importlib.resources import files
from pathlib import Path

import pytest

from aprcore.gpu import kernels as K

CUDA = files("aprcore.gpu") / "cuda"
ROOT = Path(__file__).resolve().parents[3]


def _defined_kernels(text: str) -> set[str]:
    """Names of the `extern "C" __global__` kernels a source defines, macro instances included."""
    text = re.sub(r"__launch_bounds__\([^)]*\)", "", text)
    names = set(re.findall(r'extern "C" __global__ void\s+(\w+(?:##\w+)?)\s*\(', text))
    for templated in [n for n in names if "##" in n]:
        names.discard(templated)
        stem, param = templated.split("##")
        macro = re.search(rf"#define (\w+)\({param}\)", text).group(1)
        names |= {stem + arg for arg in re.findall(rf"^{macro}\((\w+)\)$", text, re.M)}
    return names


def test_every_registered_kernel_is_defined_in_its_file():
    for name, file in K.KERNELS.items():
        assert name in _defined_kernels((CUDA / file).read_text()), f"{name} not in {file}"


def test_every_cuda_file_is_package_data_and_every_kernel_is_registered():
    shipped = {p.name for p in CUDA.iterdir() if p.name.endswith(".cu")}
    assert shipped == set(K.KERNELS.values())
    for file in shipped:
        assert _defined_kernels((CUDA / file).read_text()) <= set(K.KERNELS), file
    assert (CUDA / K.COMMON).is_file()


def test_source_is_the_common_header_then_the_file():
    text = K.source("rmsnorm.cu")
    assert text.startswith((CUDA / K.COMMON).read_text()) and text.endswith((CUDA / "rmsnorm.cu").read_text())


class _FakeCupy:
    """Records what would be compiled: (file's first kernel, options) per RawModule."""

    def __init__(self) -> None:
        self.compiled: list[tuple[str, tuple[str, ...]]] = []

    def RawModule(self, code: str, options: tuple[str, ...]):  # noqa: N802 - cupy's name
        self.compiled.append((code, options))
        return self

    def get_function(self, name: str) -> str:
        return name


def test_only_attention_is_compiled_per_gqa_ratio(monkeypatch):
    fake = _FakeCupy()
    monkeypatch.setattr(K, "require_cupy", lambda: fake)
    K._fn.cache_clear()
    K._module.cache_clear()
    try:
        for gqa in (1, 2, 7):
            K._fn("rmsnorm_f32")
            K._fn("matvec_f32")
            K._attn_fn("attn_decode_fused", gqa, 128)
    finally:
        K._fn.cache_clear()
        K._module.cache_clear()
    opts = [o for _, o in fake.compiled]
    assert len(fake.compiled) == 5  # rmsnorm.cu once, matvec.cu once, attention.cu per ratio
    assert opts.count(K.defines()) == 2
    assert sorted(o for o in opts if o != K.defines()) == sorted(
        K.defines(GQA=g, HD=128, AW=K.ATTN_FUSED_WARPS, RKMAX=K.ATTN_FUSED_RK) for g in (1, 2, 7))


@pytest.mark.slow
def test_a_built_wheel_ships_the_cuda_sources(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for file in [*set(K.KERNELS.values()), K.COMMON]:
        assert f"aprcore/gpu/cuda/{file}" in names


def test_pyproject_ships_every_cuda_file_as_package_data():
    tomllib = pytest.importorskip("tomllib")
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["aprcore.gpu"]
    shipped = {p.relative_to(ROOT / "aprcore" / "gpu") for g in globs for p in (ROOT / "aprcore" / "gpu").glob(g)}
    assert {p.relative_to(ROOT / "aprcore" / "gpu") for p in (ROOT / "aprcore" / "gpu" / "cuda").iterdir()
            if p.suffix in (".cu", ".cuh")} <= shipped


def test_production_never_imports_the_kernel_specifications():
    """gpu/reference.py is the tests' specification of the kernels: no aprcore module uses it."""
    offenders = [p for p in (ROOT / "aprcore").rglob("*.py") if p.name != "reference.py"
                 and re.search(r"^\s*from (\.|aprcore\.gpu\.?)reference import|import aprcore\.gpu\.reference",
                               p.read_text(), re.M)]
    assert offenders == []
