"""Drawing a decoded network: layered left-to-right, nodes labelled with op and multiplier."""

from __future__ import annotations

from pathlib import Path

import networkx as nx

from evoapproxnas.atomic import write_bytes
from evoapproxnas.errors import UserError

COLORS = {
    "input": "#d9d9d9", "classifier": "#d9d9d9", "summation": "#fdd49e",
    "conv2d": "#9ecae1", "depthwise_conv2d": "#c6dbef", "basic_residual": "#a1d99b",
    "residual_bottleneck": "#c7e9c0", "residual_inverted": "#74c476",
    "max_pooling": "#dadaeb", "dropout": "#f2f0f7", "batch_norm": "#fee6ce",
    "activation": "#fcbba1",
}


def node_label(data: dict, multiplier_names=None) -> str:
    """``op``, key parameters, output shape and the multiplier (name when known)."""
    params = data.get("params", {})
    parts = [data["op"]]
    detail = [f"{params['kernel']}x{params['kernel']}"] if "kernel" in params else []
    detail += [f"{params['filters']}ch"] if "filters" in params else []
    detail += [f"x{params['expansion']}"] if "expansion" in params else []
    detail += [f"/{params['strides']}"] if params.get("strides", 1) != 1 else []
    detail += [str(params["activation"])] if "activation" in params else []
    if detail:
        parts.append(" ".join(detail))
    parts.append("x".join(str(v) for v in data["output_shape"]))
    gene = data.get("multiplier")
    if data["op"] not in ("input",) and (gene is not None or data["op"] == "classifier"):
        parts.append(f"mul: {_multiplier_name(gene, multiplier_names)}")
    return "\n".join(parts)


def _multiplier_name(gene, names) -> str:
    if names is None:
        return "exact" if gene is None else f"#{gene}"
    if gene is None:
        return "exact"
    try:
        item = names[gene]
    except (KeyError, IndexError):
        return f"#{gene}"
    return getattr(item, "name", str(item))


def draw_network(graph: nx.DiGraph, path, multiplier_names=None) -> Path:
    """Write a drawing of ``graph`` to ``path`` (format from its suffix, e.g. .png or .svg).

    ``multiplier_names`` maps genes to names (a list or dict of names or Multiplier objects).
    """
    import matplotlib

    matplotlib.use("Agg")
    import io

    import matplotlib.pyplot as plt

    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    supported = plt.figure().canvas.get_supported_filetypes()
    plt.close("all")
    if fmt not in supported:
        raise UserError(f"cannot draw to {path}: unknown image format {fmt!r}; use one of "
                        f"{', '.join(sorted(supported))}")
    layered = graph.copy()
    for layer, nodes in enumerate(nx.topological_generations(graph)):
        for name in nodes:
            layered.nodes[name]["layer"] = layer
    pos = nx.multipartite_layout(layered, subset_key="layer")
    depth = max(nx.get_node_attributes(layered, "layer").values()) + 1
    height = max(len(g) for g in nx.topological_generations(graph))
    fig, ax = plt.subplots(figsize=(max(4.0, 2.2 * depth), max(2.5, 1.8 * height)))
    nx.draw_networkx_edges(graph, pos, ax=ax, arrows=True, arrowsize=12,
                           node_size=2500, edge_color="#555555")
    colors = [COLORS.get(graph.nodes[n]["op"], "#ffffff") for n in graph]
    nx.draw_networkx_nodes(graph, pos, ax=ax, node_color=colors, node_size=2500,
                           edgecolors="#333333", node_shape="s")
    labels = {n: node_label(d, multiplier_names) for n, d in graph.nodes(data=True)}
    nx.draw_networkx_labels(graph, pos, labels, ax=ax, font_size=7)
    ax.set_title(f"network {graph.graph.get('genome_hash', '')}", fontsize=9)
    ax.margins(0.12)
    ax.axis("off")
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=120, bbox_inches="tight")
    plt.close(fig)
    write_bytes(path, buffer.getvalue())
    return path
