"""How the pipeline decoder splits a model over devices: pure logic, runs on CPU."""

from __future__ import annotations

import numpy as np
import pytest

from aprcore.config import preset
from aprcore.gpu.pipeline import split_layers, stage_weights
from aprcore.gpu.reference import random_weights


@pytest.mark.parametrize("layers, stages, sizes", [(4, 2, [2, 2]), (5, 2, [3, 2]), (7, 3, [3, 2, 2]),
                                                   (3, 1, [3]), (2, 2, [1, 1])])
def test_layers_split_into_contiguous_ranges_of_near_equal_size(layers, stages, sizes):
    ranges = split_layers(layers, stages)
    assert [len(r) for r in ranges] == sizes
    assert [i for r in ranges for i in r] == list(range(layers))


@pytest.mark.parametrize("stages", [0, 5])
def test_more_stages_than_layers_or_none_is_an_error(stages):
    with pytest.raises(ValueError, match="cannot split 4 layers"):
        split_layers(4, stages)


def test_a_stage_holds_its_layers_renumbered_and_the_shared_tensors():
    cfg = preset("tiny-qwen2")
    w = random_weights(cfg, np.random.default_rng(0), scale=0.1)
    second = split_layers(cfg.num_hidden_layers, 2)[1]
    scfg, sw = stage_weights(cfg, w, second)
    assert scfg.num_hidden_layers == len(second)
    first = second.start
    assert sw["model.layers.0.mlp.down_proj.weight"] is w[f"model.layers.{first}.mlp.down_proj.weight"]
    assert f"model.layers.{len(second)}.mlp.down_proj.weight" not in sw
    assert sw["model.embed_tokens.weight"] is w["model.embed_tokens.weight"]
    assert sw["model.norm.weight"] is w["model.norm.weight"]
