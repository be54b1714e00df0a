"""``evoapproxnas multipliers list/show/plot`` through the real console entry point."""

import json

import numpy as np
import pytest

from evoapproxnas.cli import main
from evoapproxnas.multipliers import Multiplier, load_library, write_library
from evoapproxnas.multipliers.metrics import exact_products
from evoapproxnas.plots.library import pareto_front


def run(capsys, *argv):
    status = main(["multipliers", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_list_json_default_library(capsys):
    status, out, _ = run(capsys, "list", "--json")
    rows = json.loads(out)
    assert status == 0 and len(rows) == 36
    keys = {"name", "signed", "power_mw", "area_um2", "mae_pct", "wce_pct", "table_hash"}
    assert all(keys <= set(r) for r in rows)
    row = next(r for r in rows if r["name"] == "mul8u_2AC")
    lib = load_library("evoapproxlib8u")
    assert row["table_hash"] == lib["mul8u_2AC"].table_hash
    assert row["power_mw"] == 0.311 and row["area_um2"] == 508.3
    assert row["mae_pct"] == pytest.approx(100 * 24.53125 / 65536)  # published recheck value
    assert row["wce_pct"] == pytest.approx(100 * 79 / 65536)


def test_list_table_signed(capsys):
    status, out, _ = run(capsys, "list", "--library", "evoapproxlib8s")
    lines = out.strip().splitlines()
    assert status == 0 and len(lines) == 2 + 13
    assert "exact = mul8s_1KV8" in lines[0]
    assert lines[1].split() == ["name", "signed", "power_mw", "area_um2", "mae_pct", "wce_pct",
                                "hash"]
    assert any(line.split()[:3] == ["mul8s_1KR3", "yes", "0.052"] for line in lines)


def test_show_json_and_text(capsys):
    status, out, _ = run(capsys, "show", "mul8s_1KR3", "--library", "evoapproxlib8s", "--json")
    d = json.loads(out)
    assert status == 0 and d["signed"] is True and d["power_mw"] == 0.052
    assert d["metrics"]["wce"] == 8064 and d["metrics"]["mae"] == 2016.0
    assert d["sources"]["area_um2"].startswith("published")
    assert d["info"]["published"]["mre_pct"] == 135.77
    status, out, _ = run(capsys, "show", "mul8u_1JFF")
    assert status == 0 and "source: published" in out and "MRE [%]" in out
    assert "luts" in out and "estimated by yosys synth_xilinx" in out


def test_unknown_names_exit_2_with_suggestions(capsys):
    status, out, err = run(capsys, "show", "mul8u_2A")
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and "did you mean: mul8u_2AC" in err
    status, _, err = run(capsys, "list", "--library", "evoapproxlib8z")
    assert status == 2 and "evoapproxlib8u" in err


def brute_force_front(costs: np.ndarray) -> list[int]:
    """Indices not dominated by any other row (minimisation), by direct comparison."""
    front = []
    for i, ci in enumerate(costs):
        dominated = any(np.all(cj <= ci) and np.any(cj < ci) for cj in costs)
        if not dominated:
            front.append(i)
    return front


def test_pareto_front_matches_brute_force():
    rng = np.random.default_rng(3)
    costs = np.round(rng.random((60, 2)), 1)  # ties and duplicates on purpose
    assert pareto_front(costs).tolist() == brute_force_front(costs)


def test_plot_writes_png_and_reports_front(capsys, tmp_path):
    out_png = tmp_path / "lib.png"
    status, out, _ = run(capsys, "plot", "--out", str(out_png))
    assert status == 0
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lib = load_library("evoapproxlib8u")
    costs = np.array([[m.power_mw, m.metrics.mae_pct] for m in lib])
    expected = [lib.names[i] for i in brute_force_front(costs)]
    assert out.strip().endswith(", ".join(expected))
    assert "mul8u_1JFF" in expected and "mul8u_E9R" in expected  # both ends of the front


def test_plot_user_library_with_missing_area(capsys, tmp_path):
    exact = exact_products(False).astype(np.uint16)
    muls = [Multiplier.from_table("exact", exact, False, power_mw=0.4),
            Multiplier.from_table("half", exact >> 1, False, power_mw=0.1)]
    dest = write_library(tmp_path / "l", "u", muls)
    status, out, _ = run(capsys, "plot", "--library", str(dest), "--out", str(tmp_path / "p.png"))
    assert status == 0 and "exact, half" in out and (tmp_path / "p.png").stat().st_size > 0
    status, _, err = run(capsys, "plot", "--out", str(tmp_path / "p.bmp"))
    assert status == 2 and "p.bmp" in err and not (tmp_path / "p.bmp").exists()


def test_import_subcommand_is_registered(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["multipliers", "import", "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "--format" in out and "tfapprox-bin" in out
