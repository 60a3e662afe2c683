"""The one table of ggml block layouts agrees with gguf-py and is what the codecs use."""

from __future__ import annotations

import gguf
import numpy as np
import pytest

from aprcore import quant
from aprcore.quant.layout import LAYOUTS, Q4_K


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_block_sizes_are_field_sums_equal_to_gguf(name):
    layout = LAYOUTS[name]
    assert (layout.weights, layout.nbytes) == gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[name]]
    spans = [layout.span(f.name) for f in layout.fields]
    assert spans[0].start == 0 and spans[-1].stop == layout.nbytes
    assert all(a.stop == b.start for a, b in zip(spans, spans[1:], strict=False))


def test_every_codec_has_a_layout_row_and_every_row_a_decoder():
    assert set(quant.QUANT_TYPES) <= set(quant.DEQUANT_TYPES) == set(LAYOUTS)
    assert quant.BLOCK_SIZES == {t: (LAYOUTS[t].weights, LAYOUTS[t].nbytes) for t in quant.DEQUANT_TYPES}


def test_q4k_row_bytes_and_the_pack_layout():
    assert Q4_K.row_bytes(512) == 288
    with pytest.raises(ValueError, match="multiple of 256"):
        Q4_K.row_bytes(300)
    from aprcore.quant import q4_k

    d, dmin = np.float16([0.5]), np.float16([0.25])
    sc, mn = np.arange(8)[None] + 1, np.arange(8)[None]
    q = (np.arange(256) % 16)[None]
    block = q4_k.pack(d, dmin, sc, mn, q)
    assert block.shape == (1, Q4_K.nbytes)
    assert block[0, Q4_K.span("d")].view("<f2")[0] == 0.5
    want = (0.5 * np.repeat(sc[0], 32) * q[0] - 0.25 * np.repeat(mn[0], 32)).astype(np.float32)
    np.testing.assert_array_equal(quant.dequantize(block, "Q4_K", (256,)), want)
