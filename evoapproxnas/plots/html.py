"""One self-contained HTML page of a campaign run (``evoapproxnas report DIR --html OUT``).

The page shows the Pareto front as an interactive scatter (any two of the run's metrics;
hovering or focusing a point shows that member), the hypervolume per generation, the
member table of ``evoapproxnas report`` and a drawing of every member's network. Everything
is inline: the charts are SVG drawn by a small script from the run's data (embedded as
JSON), the networks inline SVG drawn here, so the page needs no network when viewed (its
Content-Security-Policy forbids any fetch). Every string from the run directory is escaped
(HTML text, or JSON inside the script element), so a multiplier or layer named ``<b>``
shows as that text.

It reads the run's data files only (front, history, archive, config, shape); nothing in
the directory is executed or unpickled.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import networkx as nx

from evoapproxnas import __version__
from evoapproxnas.atomic import write_text
from evoapproxnas.errors import UserError
from evoapproxnas.metrics import METRICS
from evoapproxnas.paths import check_path
from evoapproxnas.plots.html_assets import TEMPLATE
from evoapproxnas.plots.network import COLORS, node_label
from evoapproxnas.search.study.records import EvaluationRecord, FrontMember
from evoapproxnas.search.study.results import at_full_fidelity, first_per_hash
from evoapproxnas.search.study.rundir import RunDir, RunFront

SUFFIXES = (".html", ".htm")
AXES = (("error", "validation error"), ("val_accuracy", "validation accuracy"),
        ("test_accuracy", "test accuracy"),
        *((name, METRICS[name].label)
          for name in ("power_rel", "power_mw", "params", "multiplications")))
"""Metrics the scatter can put on an axis (then the run's other objectives, then any other
numeric metric of the front)."""
DIRECTIONS = {"val_accuracy": "max", "test_accuracy": "max"}
"""Directions of the axes that are not metrics (``evoapproxnas.metrics``); other values
are taken as minimized."""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any) -> float | int | None:
    """A finite number, else ``None`` (JSON has no NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None


def _fmt(value: Any, spec: str) -> str:
    value = _num(value)
    return "-" if value is None else format(value, spec)


def _script_json(data: Any) -> str:
    """JSON safe inside a ``<script>`` element (no ``</script>``, no HTML parsing)."""
    text = json.dumps(data, allow_nan=False, separators=(",", ":"), sort_keys=True)
    for char, code in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                       ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, code)
    return text


def _value(record: EvaluationRecord, key: str, test_accuracy=None) -> float | int | None:
    if key == "error":
        val = _num(record.val_accuracy)
        return 1.0 - val if val is not None else _num(record.objectives.get("error"))
    if key == "val_accuracy":
        return _num(record.val_accuracy)
    if key == "test_accuracy":
        return _num(test_accuracy)
    value = _num(record.metrics.get(key))
    return value if value is not None else _num(record.objectives.get(key))


def _label(name: str) -> str:
    """A metric's name and meaning, e.g. "fps: inferences per second at the clock (1/s)"."""
    return f"{name}: {METRICS[name].label}" if name in METRICS else name


def _axes(objectives: list[str], members: list[FrontMember]) -> list[dict]:
    keys = dict(AXES)
    for name in objectives:
        keys.setdefault(name, _label(name))
    for member in members:
        for name, value in sorted(member.record.metrics.items()):
            if _num(value) is not None:
                keys.setdefault(name, _label(name))
    axes = []
    for key, label in keys.items():
        if any(_value(m.record, key, m.test_accuracy) is not None for m in members):
            direction = DIRECTIONS.get(key) or (METRICS[key].direction.value
                                                if key in METRICS else "min")
            axes.append({"key": key, "label": label, "dir": direction})
    return axes


def _member_data(k: int, member: FrontMember, axes: list[dict], objectives) -> dict:
    r = member.record
    m = r.metrics
    layers = m.get("multipliers") if isinstance(m.get("multipliers"), dict) else {}
    shown = {"error", "power_rel", "power_mw", "params"}
    return {
        "k": k, "hash": r.hash, "generation": r.generation,
        "val_accuracy": _num(r.val_accuracy), "test_accuracy": _num(member.test_accuracy),
        "test_reason": member.test_reason, "power_mw": _num(m.get("power_mw")),
        "power_rel": _num(m.get("power_rel")), "params": _num(m.get("params")),
        "multiplications": _num(m.get("multiplications")),
        "layers": [[str(layer), str(name)] for layer, name in layers.items()],
        "extra": [[name, _value(r, name)] for name in objectives if name not in shown],
        "v": [_value(r, a["key"], member.test_accuracy) for a in axes],
    }


def _multiplier_counts(record: EvaluationRecord) -> str:
    layers = record.metrics.get("multipliers")
    counts = Counter(layers.values() if isinstance(layers, dict) else [])
    return ", ".join(f"{name} x{n}" for name, n in sorted(counts.items())) or "-"


def _table(members: list[FrontMember]) -> str:
    """The columns of ``evoapproxnas report``, one row per member."""
    head = ("#", "val_acc", "test_acc", "power_mW", "power_rel", "params",
            "multipliers (layers)", "hash")
    rows = ["<tr>" + "".join(f"<th scope=col>{_esc(h)}</th>" for h in head) + "</tr>"]
    for k, member in enumerate(members):
        m = member.record.metrics
        test = _fmt(member.test_accuracy, ".4f")
        why = f' title="{_esc(member.test_reason)}"' if member.test_reason else ""
        cells = [f"<td>{k}</td>", f"<td>{_fmt(m.get('val_accuracy'), '.4f')}</td>",
                 f"<td{why}>{test}</td>", f"<td>{_fmt(m.get('power_mw'), '.2f')}</td>",
                 f"<td>{_fmt(m.get('power_rel'), '.4f')}</td>",
                 f"<td>{_fmt(m.get('params'), 'd')}</td>",
                 f"<td class=muls>{_esc(_multiplier_counts(member.record))}</td>",
                 f"<td class=hash><a href='#member-{k}'>{_esc(member.record.hash)}</a></td>"]
        rows.append(f"<tr data-k={k} tabindex=0>{''.join(cells)}</tr>")
    return "<table id=members>" + "\n".join(rows) + "</table>"


BOX_W, LINE_H, PAD, GAP_X, GAP_Y = 150, 13, 6, 44, 14


def network_svg(graph: nx.DiGraph, multiplier_names=None) -> str:
    """An inline SVG drawing of a decoded network: layers left to right in topological
    generations, each box labelled as ``draw_network`` labels it (``node_label``)."""
    columns = [[n for n in graph if n in set(g)] for g in nx.topological_generations(graph)]
    lines = {n: node_label(d, multiplier_names).split("\n") for n, d in graph.nodes(data=True)}
    height = {n: len(lines[n]) * LINE_H + 2 * PAD for n in graph}
    col_h = [sum(height[n] for n in col) + GAP_Y * (len(col) - 1) for col in columns]
    total_h = max(col_h, default=0) + 2 * PAD
    total_w = len(columns) * (BOX_W + GAP_X) - GAP_X + 2 * PAD
    pos = {}
    for c, col in enumerate(columns):
        y = PAD + (total_h - 2 * PAD - col_h[c]) / 2
        for n in col:
            pos[n] = (PAD + c * (BOX_W + GAP_X), y)
            y += height[n] + GAP_Y
    out = [f'<svg class=net viewBox="0 0 {total_w:.0f} {total_h:.0f}" width="{total_w:.0f}" '
           f'height="{total_h:.0f}" role=img aria-label="network '
           f'{_esc(graph.graph.get("genome_hash", ""))}">']
    for u, v in graph.edges:
        x1, y1 = pos[u][0] + BOX_W, pos[u][1] + height[u] / 2
        x2, y2 = pos[v][0], pos[v][1] + height[v] / 2
        mid = (x1 + x2) / 2
        out.append(f'<path class=edge d="M{x1:.1f} {y1:.1f} C{mid:.1f} {y1:.1f} {mid:.1f} '
                   f'{y2:.1f} {x2 - 6:.1f} {y2:.1f}"/><polygon class=arrow points="{x2:.1f},'
                   f'{y2:.1f} {x2 - 7:.1f},{y2 - 4:.1f} {x2 - 7:.1f},{y2 + 4:.1f}"/>')
    for n, data in graph.nodes(data=True):
        x, y = pos[n]
        fill = COLORS.get(data.get("op"), "#ffffff")
        tip = f"{n}: inputs {', '.join(str(i) for i in data.get('inputs', [])) or '-'}"
        spans = "".join(f'<tspan x="{x + BOX_W / 2:.1f}" dy="{LINE_H if i else 0}"'
                        f'{" class=op" if i == 0 else ""}>{_esc(t)}</tspan>'
                        for i, t in enumerate(lines[n]))
        out.append(f'<g class=node><title>{_esc(tip)}</title><rect x="{x:.1f}" y="{y:.1f}" '
                   f'width="{BOX_W}" height="{height[n]}" rx="4" fill="{fill}"/>'
                   f'<text y="{y + PAD + LINE_H - 3:.1f}">{spans}</text></g>')
    out.append("</svg>")
    return "".join(out)


def _networks(run: RunDir, members: list[FrontMember]) -> list[str]:
    """Each member's drawing, or a line saying why it could not be drawn."""
    try:
        names = [m.name for m in run.problem.multipliers]
    except UserError as exc:
        return [f"<p class=warn>network not drawn: {_esc(exc)}</p>"] * len(members)
    drawings = []
    for member in members:
        try:
            drawings.append(network_svg(run.network(member), names))
        except UserError as exc:
            drawings.append(f"<p class=warn>network not drawn: {_esc(exc)}</p>")
    return drawings


def page_data(run: RunDir, front: RunFront) -> dict:
    """What the page's script draws: axes, members, evaluated candidates, history."""
    members = front.members
    axes = _axes(front.objectives, members)
    records = [r for r in first_per_hash(at_full_fidelity(run.records(), run.config))
               if r.status == "ok"]
    return {
        "objectives": list(front.objectives), "axes": axes,
        "members": [_member_data(k, m, axes, front.objectives) for k, m in enumerate(members)],
        "evaluated": [[_value(r, a["key"]) for a in axes] for r in records],
        "history": [{"generation": h.generation + 1, "hypervolume": _num(h.hypervolume),
                     "front_size": _num(h.front_size),
                     "evaluations": _num(h.evaluations)} for h in front.history],
    }


def build_page(run: RunDir) -> str:
    """The page of ``run`` as one HTML string."""
    front = run.front()
    members = front.members
    data = page_data(run, front)
    meta = run.meta
    name = run.path.resolve().name
    summary = (f"Pareto front: {len(members)} members of {front.evaluations} evaluations "
               f"({front.failed} failed); objectives: {', '.join(front.objectives)}")
    facts = [("run directory", str(run.path)), ("status", meta.get("status", "?")),
             ("campaign file", meta.get("source", "")), ("created", meta.get("created", "")),
             ("search ended early", meta.get("ended_early", ""))]
    facts_html = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in facts if v)
    notes = ("<p class=warn>run not finished: no test-set accuracy yet</p>"
             if front.unfinished else "")
    nets = []
    for k, (member, svg) in enumerate(zip(members, _networks(run, members))):
        r = member.record
        nets.append(f"<details id=member-{k} data-k={k}><summary>#{k} {_esc(r.hash)}: "
                    f"val {_fmt(r.val_accuracy, '.4f')}, test "
                    f"{_fmt(member.test_accuracy, '.4f')}, power "
                    f"{_fmt(r.metrics.get('power_rel'), '.4f')} x exact</summary>"
                    f"<div class=netbox>{svg}</div></details>")
    values = {"TITLE": _esc(f"{name}: evoapproxnas run"), "NAME": _esc(name),
              "SUMMARY": _esc(summary), "FACTS": facts_html, "NOTES": notes,
              "TABLE": _table(members),
              "NETWORKS": "\n".join(nets) or "<p>the front is empty</p>",
              "VERSION": _esc(__version__), "DATA": _script_json(data)}
    # one pass: a substituted value is never scanned for markers again
    return re.sub(r"@@([A-Z]+)@@", lambda m: values[m.group(1)], TEMPLATE)


def check_output(run: RunDir, out: str | Path) -> Path:
    """``UserError`` unless ``out`` is a place for the page: a file whose name ends with
    ``.html`` (also where a link leads), so none of the run directory's own files."""
    out = check_path(out, "--html")
    try:
        target = out.resolve()
    except (OSError, RuntimeError) as exc:  # a loop of links
        raise UserError(f"--html {out}: {getattr(exc, 'strerror', None) or exc}") from None
    if target.is_relative_to(run.path.resolve()) and target.suffix.lower() not in SUFFIXES:
        raise UserError(f"--html {out} is one of the run directory's own files (or would be "
                        "written among them); choose a file name ending with .html")
    if out.suffix.lower() not in SUFFIXES or target.suffix.lower() not in SUFFIXES:
        raise UserError(f"--html {out}: the file name must end with .html")
    if out.is_dir():
        raise UserError(f"--html {out} is a directory; give a file name ending with .html")
    return out


def write_page(run: RunDir, out: str | Path) -> Path:
    """Build the page and write it to ``out`` atomically; returns the path."""
    out = check_output(run, out)
    page = build_page(run)  # everything is read before anything is written
    try:
        write_text(out, page)
        os.chmod(out, 0o666 & ~_umask())  # a page to share, not private like a temp file
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
