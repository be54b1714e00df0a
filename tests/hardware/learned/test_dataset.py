import json

import numpy as np
import pytest

from evoapproxnas.errors import UserError
from evoapproxnas.hardware import conv_layer, dense_layer, get_cost_model
from evoapproxnas.hardware.learned import encoding as E
from evoapproxnas.hardware.learned.dataset import (
    DatasetSettings,
    build_dataset,
    load_dataset,
)
from evoapproxnas.hardware.learned.speed import rebuild_layers
from evoapproxnas.multipliers import load_library

from .helpers import TINY


@pytest.fixture(scope="module")
def tiny():
    return build_dataset(TINY)


def test_dataset_is_reproducible_from_its_seed(tiny, tmp_path):
    again = build_dataset(TINY)
    for name in ("targets", "layer_cycles", "layer_energy_pj", "best"):
        assert np.array_equal(getattr(tiny, name), getattr(again, name))
    assert np.array_equal(tiny.table.rows, again.table.rows)
    assert tiny.multipliers == again.multipliers
    other = build_dataset(DatasetSettings(**{**TINY.to_dict(), "seed": 2, "depth": (1, 3),
                                             "grid": TINY.grid}))
    assert not np.array_equal(other.table.rows[:5], tiny.table.rows[:5])
    tiny.save(tmp_path / "ds")
    loaded = load_dataset(tmp_path / "ds.npz")
    assert loaded.settings == TINY
    assert np.array_equal(loaded.targets, tiny.targets)
    assert json.loads((tmp_path / "ds.json").read_text())["networks"] == TINY.networks


def test_targets_and_best_point_are_the_asic_models(tiny):
    grid = tiny.grid
    for n in (0, 7, 15):
        layers = rebuild_layers(tiny, n)
        edaps = []
        for k, (flow, y, x, kib) in enumerate(grid.points):
            want = get_cost_model("asic", TINY.preset, dataflow=flow, pe_y=y, pe_x=x,
                                  glb_kib=kib).estimate(layers)
            got = tiny.targets[n, k]
            assert got == pytest.approx([want["latency_cycles"], want["energy_pj"],
                                         want["area_um2"]], rel=1e-12)
            rows = slice(tiny.table.offsets[n], tiny.table.offsets[n + 1])
            assert tiny.layer_cycles[rows, k].sum() == want["latency_cycles"]
            edaps.append(want["edap"])
        assert tiny.best[n] == int(np.argmin(edaps))  # brute force over the grid


def test_encoding_by_hand():
    lib = load_library("evoapproxlib8u")
    a, b = lib["mul8u_1JFF"], lib["mul8u_17KS"]
    net = [conv_layer(8, 8, 2, 4, 3, 2, multiplier=a), dense_layer(4, 3, b)]
    table = E.NetworkTable.from_layers([net, net[:1]])
    assert table.rows.tolist()[0] == [0, 1, 4, 2, 4, 4, 3, 3, 2, 2]
    macs = [4 * 2 * 4 * 4 * 9, 4 * 3]
    feats = E.network_features(table)
    assert feats[0, 0] == pytest.approx(np.log2(sum(macs)))
    area = (macs[0] * a.area_um2 + macs[1] * b.area_um2) / sum(macs) / 1000
    assert feats[0, 2] == pytest.approx(area, rel=1e-6)
    assert feats[1, 2] == pytest.approx(a.area_um2 / 1000, rel=1e-6)
    rows, mask = E.padded(table, E.layer_features(table))
    assert mask.tolist() == [[1, 1], [1, 0]] and not rows[1, 1].any()
    assert rows[0, 1, E.LAYER_FEATURES.index("is_dense")] == 1
    with pytest.raises(UserError, match="not in the learned evaluator's design space"):
        E.Grid.from_dict(TINY.grid).index("os", 8, 8, 32.0)


def test_bad_dataset_files_are_one_line(tmp_path):
    with pytest.raises(UserError, match="no hardware dataset"):
        load_dataset(tmp_path / "missing")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    (tmp_path / "bad.json").write_text(json.dumps({"format": "evoapproxnas-hw-dataset-1",
                                                   "settings": TINY.to_dict()}))
    with pytest.raises(UserError, match="not a readable hardware dataset"):
        load_dataset(tmp_path / "bad")
    with pytest.raises(UserError, match="overrides may not set"):
        DatasetSettings(overrides={"pe_x": 4})
    with pytest.raises(UserError, match="unknown dataset setting"):
        DatasetSettings.from_dict({"netwroks": 3})


class _Killed(Exception):
    pass


def test_a_killed_build_continues_to_the_uninterrupted_dataset(tiny, tmp_path, monkeypatch):
    from evoapproxnas.hardware.learned import dataset as D

    monkeypatch.setattr(D, "PARTIAL_EVERY", 5)
    partial = D.partial_path(tmp_path / "ds")
    seen = []

    def die_after_seven(n):
        seen.append(n)
        if sum(seen) == 7:
            raise _Killed

    with pytest.raises(_Killed):
        build_dataset(TINY, die_after_seven, partial)
    assert partial.is_file()  # networks 1-5 saved; 6 and 7 are priced again
    counted = []
    resumed = build_dataset(TINY, counted.append, partial)
    assert counted[0] == 5 and sum(counted) == TINY.networks
    for name in ("targets", "layer_cycles", "layer_energy_pj", "best"):
        assert np.array_equal(getattr(resumed, name), getattr(tiny, name)), name
    for name in ("rows", "figures", "offsets"):
        assert np.array_equal(getattr(resumed.table, name), getattr(tiny.table, name)), name
    assert resumed.multipliers == tiny.multipliers
    # a partial file of other settings is not used
    other = DatasetSettings(**{**TINY.to_dict(), "seed": 5, "grid": TINY.grid})
    counted = []
    build_dataset(other, counted.append, partial)
    assert counted[0] == 1


def test_pair_features_by_hand():
    """A 3x3 convolution, 20 -> 40 channels on an 8x8 output; weight stationary puts C (then
    R, S) on the array's 16 rows and M on its 16 columns: C takes 10 rows (two passes of 10
    rather than 16 + 4), M 14 columns (three passes); row stationary on 12x14 puts R = 3
    and then C = 4 (20 / 4 = 5 passes) on the rows, M = 14 on the columns (3 passes)."""
    layer = conv_layer(8, 8, 20, 40, 3)
    table = E.NetworkTable.from_layers([[layer]])
    grid = E.Grid(("ws", "rs"), ((16, 16), (12, 14)), (108.0,))
    got = E.pair_features(table, grid)[0]  # points: ws 16x16, ws 12x14, rs 16x16, rs 12x14
    ws = 2 * 3 * 8 * 8 * 3 * 3  # passes: C, M, then P, Q, R, S all in time
    assert got[0, 0] == pytest.approx(np.log2(ws))
    assert got[0, 1] == pytest.approx(np.log2(10 * 14 / 256))
    rs = 1 * 5 * 3 * 8 * 8 * 3  # R on the array, C in 5 passes, M in 3, P, Q, S in time
    assert got[3, 0] == pytest.approx(np.log2(rs))
    assert got[3, 1] == pytest.approx(np.log2(3 * 4 * 14 / 168))
