import numpy as np
import pytest

from evoapproxnas.cgp import CGPSpec, decode, random_genome
from evoapproxnas.errors import UserError
from evoapproxnas.plots.network import draw_network, node_label

from .helpers import genome, node


def test_label_names_op_and_multiplier():
    spec = CGPSpec(rows=1, columns=2, levels_back=2, n_multipliers=2)
    graph = decode(genome(spec, [node(spec, "conv2d", params=(1, 0, 1, 0, 1), multiplier=1)],
                          output=1), spec, (28, 28, 1), 10)
    label = node_label(graph.nodes["node0"], ["mul8u_1JFF", "mul8u_2AC"])
    assert label.splitlines() == ["conv2d", "3x3 32ch /2 relu", "14x14x32", "mul: mul8u_2AC"]
    assert node_label(graph.nodes["head"]).endswith("mul: exact")
    assert "mul" not in node_label(graph.nodes["input"])


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml")])
def test_draw_network_writes_a_figure(tmp_path, suffix, magic):
    spec = CGPSpec(rows=3, columns=6, levels_back=3)
    graph = decode(random_genome(spec, np.random.default_rng(1)), spec, (28, 28, 1), 10)
    path = draw_network(graph, tmp_path / f"net{suffix}", ["mul8u_2AC"])
    assert path.read_bytes().startswith(magic)


def test_unknown_format_is_a_user_error(tmp_path):
    spec = CGPSpec(rows=1, columns=2, levels_back=2)
    graph = decode(random_genome(spec, np.random.default_rng(0)), spec, (8, 8, 1), 10)
    with pytest.raises(UserError, match="image format"):
        draw_network(graph, tmp_path / "net.xyz")
    assert not (tmp_path / "net.xyz").exists()
