"""The model builder gives each layer of a layer-list candidate its widths: the exact 8xW
multiplier, the activation width and the binary points (``fixedpoint.layer_kwargs``), so the
candidate trains through its exact AxW tables; layers without widths are built as before."""

from __future__ import annotations

import numpy as np
import pytest

from evoapproxnas.search.spaces.layers import LayerSpace, LayerSpec

pytestmark = pytest.mark.tf


def test_layers_are_built_at_their_widths():
    from evoapproxnas.multipliers import load_library
    from evoapproxnas.nn import build_model

    lib = load_library("evoapproxlib8xNu")
    allowed = [lib[n] for n in ("mul8x3u_0KE", "mul8u_1JFF")]  # exact 8x3 and 8x8
    spec = LayerSpec(min_layers=2, max_layers=2, kernel_sizes=(3,), filters=(4,),
                     strides=(1,), pooling=False, n_multipliers=2, activation_bits=(3, 8),
                     weight_bits=(3, 8), fixed_point=True, activation_frac_bits=(2,),
                     weight_frac_bits=(2, 7), weight_genes=(0, 1))
    space = LayerSpace(spec, (6, 6, 1), 3)
    # layer 0: W = 3, A = 3, Af 2, Wf 2; layer 1: W = 8, A = 8, Af 2, Wf 7
    x = [0, 0, 0, 0, 0, 0, 0, 0,   0, 0, 0, 1, 1, 0, 1]
    model = build_model(space.decode(x), allowed, seed=0)
    got = {layer.name: layer.get_config() for layer in model.layers
           if "multiplier" in layer.get_config()}
    want = {"layer0_conv": ("mul8x3u_0KE", 3, 2, 2), "layer1_conv": ("mul8u_1JFF", 8, 2, 7),
            "head_dense": ("mul8u_1JFF", None, None, None)}
    assert {n: (c["multiplier"], c.get("activation_bits"), c.get("activation_frac_bits"),
                c.get("weight_frac_bits")) for n, c in got.items()} == want
    assert all(c["library"] == "evoapproxlib8xNu" for c in got.values())
    # fixed point, Eq. 1 of the paper: the first layer reads its input at A = 3, Af = 2, i.e.
    # the code clip(round(x * 4), 0, 7): 1.0 and 0.875 are both code 4 (3.5 rounds to even),
    # so the network cannot tell these two images apart
    a = np.full((1, 6, 6, 1), 1.0, np.float32)
    b = np.full((1, 6, 6, 1), 0.875, np.float32)
    np.testing.assert_array_equal(np.asarray(model(a)), np.asarray(model(b)))
    c = np.full((1, 6, 6, 1), 0.5, np.float32)  # code 2: another input
    assert not np.array_equal(np.asarray(model(a)), np.asarray(model(c)))
