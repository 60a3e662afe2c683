"""The corpus generator: aprender's shapes at any scale, deterministic."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

_SPEC = importlib.util.spec_from_file_location(
    "gen_corpus", Path(__file__).resolve().parents[2] / "scripts" / "gen_corpus.py")
gen_corpus = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(gen_corpus)


def _ids(paths):
    out = []
    for p in paths:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
        for block in gen_corpus.ID_BLOCKS:
            out += [e["id"] for e in data.get(block) or () if isinstance(e, dict) and "id" in e]
    return out


def test_generated_corpus_has_the_requested_files_and_falsifiers(tmp_path):
    paths = gen_corpus.generate(tmp_path, files=40, seed=1, falsifiers_per_file=4.5)
    assert len(paths) == 40
    assert len(_ids(paths)) == 180


def test_same_seed_gives_identical_files(tmp_path):
    a = gen_corpus.generate(tmp_path / "a", files=12, seed=3)
    b = gen_corpus.generate(tmp_path / "b", files=12, seed=3)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]


def test_pairs_share_a_stem_in_two_folders(tmp_path):
    paths = gen_corpus.generate(tmp_path, files=10, seed=0)
    assert paths[0].name == paths[1].name and paths[0].parent != paths[1].parent


def test_ids_stay_unique_within_each_file(tmp_path):
    for p in gen_corpus.generate(tmp_path, files=30, seed=2, falsifiers_per_file=8):
        ids = _ids([p])
        assert len(ids) == len(set(ids)), p
