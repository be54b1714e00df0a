"""``plot_run`` on records made by hand: a trained record that lacks a metric a panel plots
(or holds something else than a number there) is left out of that panel, not a crash."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from evoapproxnas.plots.campaign import plot_run
from evoapproxnas.search.study.records import EvaluationRecord

OBJECTIVES = ["error", "power_rel", "params", "energy_pj"]


def record(k: int, status: str = "ok", **metrics) -> EvaluationRecord:
    full = {"val_accuracy": 0.5 + k / 100, "power_rel": 1.0 - k / 20, "params": 100 + 10 * k,
            "energy_pj": 1e3 * (k + 1)}
    for name, value in metrics.items():
        if value is ...:
            full.pop(name)
        else:
            full[name] = value
    return EvaluationRecord(hash=f"{k:016x}", generation=0, index=k, genome=[k], status=status,
                            reason=None, violation=0.0, metrics=full, seed=k)


class HandMadeRun:
    """What ``plot_run`` reads of a run directory, from records made by hand."""

    def __init__(self, path: Path, records: list, front: list) -> None:
        self.path, self.plots_dir = path, path / "plots"
        self._records = records
        members = [SimpleNamespace(record=r) for r in front]
        self._front = SimpleNamespace(objectives=OBJECTIVES, members=members, history=[],
                                      member=lambda k: members[k])
        self.problem = SimpleNamespace(multipliers=[])

    def front(self):
        return self._front

    def records(self):
        return list(self._records)

    def network(self, member):
        return member.record.hash


@pytest.fixture
def drawn(monkeypatch):
    """Figures not laid out and saved as empty files (their content is not under test: the
    drawing is); the member drawing stood in for (it needs a decoded network)."""
    import matplotlib
    import matplotlib.figure

    matplotlib.use("Agg")
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig",
                        lambda self, fname, *a, **k: Path(fname).write_bytes(b""))
    monkeypatch.setattr(matplotlib.figure.Figure, "tight_layout", lambda self, **k: None)
    drawn = {}

    def draw_network(graph, path, names):
        drawn[Path(path).name] = graph
        Path(path).write_bytes(b"")
        return Path(path)

    monkeypatch.setattr("evoapproxnas.plots.network.draw_network", draw_network)
    return drawn


@pytest.mark.parametrize("damage", ["power_rel", "params", "energy_pj", "val_accuracy"])
@pytest.mark.parametrize("value", [..., None, "x", [1], True, float("nan")],
                         ids=["missing", "None", "str", "list", "bool", "nan"])
def test_records_lacking_a_metric_are_left_out(tmp_path, drawn, damage, value):
    records = [record(k) for k in range(6)]
    records[2] = record(2, **{damage: value})  # in the archive only
    records[4] = record(4, **{damage: value})  # on the front too
    records.append(record(6, status="failed", val_accuracy=None, power_rel=...))
    front = [records[0], records[4], records[5]]
    paths = plot_run(HandMadeRun(tmp_path, records, front))
    assert sorted(p.name for p in paths) == ["front_energy_pj.png", "front_params.png",
                                             "front_power.png", "member_0.png"]
    assert all(p.is_file() for p in paths) and drawn == {"member_0.png": records[0].hash}


def test_points_drawn_and_member_numbers_are_those_of_report(tmp_path, drawn, monkeypatch):
    import matplotlib.axes

    calls = []
    scatter, annotate = matplotlib.axes.Axes.scatter, matplotlib.axes.Axes.annotate

    def spy_scatter(self, xs, ys, *a, **k):
        calls.append(("scatter", k.get("label", ""), list(xs)))
        return scatter(self, xs, ys, *a, **k)

    def spy_annotate(self, text, xy, *a, **k):
        calls.append(("annotate", text, xy[0]))
        return annotate(self, text, xy, *a, **k)

    monkeypatch.setattr(matplotlib.axes.Axes, "scatter", spy_scatter)
    monkeypatch.setattr(matplotlib.axes.Axes, "annotate", spy_annotate)
    records = [record(k) for k in range(4)]
    records[1] = record(1, power_rel=...)
    plot_run(HandMadeRun(tmp_path, records, records[:3]), member=2)
    power = calls[:calls.index(("scatter", "evaluated (4)", [100, 110, 120, 130]))]
    assert power[0] == ("scatter", "evaluated (3)", [1.0, 0.9, 0.85])
    assert power[1][2] == [1.0, 0.9]  # front members 0 and 2; 1 has no power_rel
    assert [c[1] for c in power if c[0] == "annotate"] == ["0", "2"]
    assert drawn == {"member_2.png": records[2].hash}
