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
    assert lines[1].split() == ["name", "width", "signed", "power_mw", "area_um2", "mae_pct",
                                "wce_pct", "hash"]
    assert any(line.split()[:4] == ["mul8s_1KR3", "8x8", "yes", "0.052"] for line in lines)
    assert "widths" not in lines[0] and "2^(8+N)" not in lines[0]


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


# ------------------------------------------------------------------ 8xN operand widths
def test_list_8xn_library_shows_widths(capsys):
    status, out, _ = run(capsys, "list", "--library", "evoapproxlib8xNu")
    lines = out.strip().splitlines()
    assert status == 0 and len(lines) == 2 + 171
    assert "widths 8x2 8x3 8x4 8x5 8x6 8x7 8x8" in lines[0] and "exact = mul8u_1JFF" in lines[0]
    assert "% of 2^(8+N)" in lines[0]
    row = next(line.split() for line in lines if line.startswith("mul8x4u_0S7 "))
    assert row[:4] == ["mul8x4u_0S7", "8x4", "no", "0.071"]
    assert lines[-1].split()[:2] == ["mul8u_1JFF", "8x8"]
    status, out, _ = run(capsys, "list", "--library", "evoapproxlib8xNu", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["mul8x4u_0S7"]["width"] == "8x4" and rows["mul8x4u_0S7"]["weight_bits"] == 4
    lib = load_library("evoapproxlib8xNu")
    assert rows["mul8x4u_0S7"]["mae_pct"] == pytest.approx(
        100 * lib["mul8x4u_0S7"].metrics.mae / 2**12)


def test_show_8xn(capsys):
    status, out, _ = run(capsys, "show", "mul8x4u_0S7", "--library", "evoapproxlib8xNu")
    assert status == 0
    assert out.splitlines()[0] == ("mul8x4u_0S7 (unsigned 8x4 bit: 8-bit activation x 4-bit "
                                   "weight, table 256x16)")
    assert "MAE [% of 2^12]" in out and "published 0.4" in out and "WCE [% of 2^12]" in out
    status, out, _ = run(capsys, "show", "mul8x4u_0S7", "--library", "evoapproxlib8xNu",
                         "--json")
    d = json.loads(out)
    assert (d["width"], d["weight_bits"], d["metrics"]["output_bits"]) == ("8x4", 4, 12)
    status, out, _ = run(capsys, "show", "mul8u_FTA")
    assert "MAE [% of 2^16]" in out and "unsigned 8x8 bit" in out


def test_plot_mixed_widths_one_front_per_width(capsys, tmp_path):
    exact8 = exact_products(False).astype(np.uint16)
    a, b = np.arange(256)[:, None], np.arange(16)[None, :]
    exact4 = (a * b).astype(np.uint16)
    muls = [Multiplier.from_table("e8", exact8, False, power_mw=0.4),
            Multiplier.from_table("h8", exact8 >> 1, False, power_mw=0.1),
            Multiplier.from_table("e4", exact4, False, weight_bits=4, power_mw=0.14),
            Multiplier.from_table("t4", exact4 & 0xFFF0, False, weight_bits=4, power_mw=0.05),
            Multiplier.from_table("w4", exact4 & 0xFF00, False, weight_bits=4, power_mw=0.09)]
    dest = write_library(tmp_path / "mixed", "mixed", muls)
    png = tmp_path / "m.png"
    status, out, _ = run(capsys, "plot", "--library", str(dest), "--out", str(png))
    assert status == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # w4 is dominated by t4 within 8x4; across widths the exact 8x4 e4 would dominate the
    # exact 8x8 e8 (same MAE% 0, less power), but fronts are taken per width
    assert out.strip().endswith("Pareto fronts per width (power vs MAE%): 8x4: e4, t4; "
                                "8x8: e8, h8")
    status, out, _ = run(capsys, "plot", "--library", "evoapproxlib8xNu", "--no-area",
                         "--out", str(tmp_path / "b.png"))
    assert status == 0 and "8x2: " in out and "8x8: mul8u_1JFF" in out


# ------------------------------------------------------------------ unusable library names
LIBRARY_COMMANDS = {
    "multipliers list": ["multipliers", "list"],
    "multipliers show": ["multipliers", "show", "mul8u_1JFF"],
    "multipliers plot": ["multipliers", "plot", "--out", "{tmp}/lib.png"],
    "hw estimate": ["hw", "estimate", "--layers", "{tmp}/net.json"],
}
"""Every command that takes ``--library`` (hw estimate reads it for the layers' names)."""


@pytest.mark.parametrize("library", [
    "x" * 300, "{tmp}/" + "x" * 300, "{tmp}/" + "x" * 300 + "/lib", "/".join(["x" * 200] * 25),
    "~no_such_user_evoapproxnas/lib", "{tmp}/afile/lib", "{tmp}/afile", "{tmp}",
], ids=["300 chars", "300-char folder", "below a 300-char folder", "5000 chars",
        "unknown user", "below a file", "a file", "not a library"])
@pytest.mark.parametrize("command", LIBRARY_COMMANDS)
def test_unusable_library_is_one_line(capsys, tmp_path, command, library):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "net.json").write_text(json.dumps(
        [{"kind": "dense", "input_shape": [1, 1, 4], "filters": 2, "multiplier": "mul8u_1JFF"}]))
    before = sorted(tmp_path.rglob("*"))
    argv = [a.format(tmp=tmp_path) for a in LIBRARY_COMMANDS[command]]
    status = main([*argv, "--library", library.format(tmp=tmp_path)])
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.count("\n") == 1 and err.startswith("evoapproxnas: error: "), err
    assert "Traceback" not in err and len(err) < 400, err
    assert sorted(tmp_path.rglob("*")) == before


def test_library_name_too_long_in_a_shell():
    """The report's command line: ``--library $(python -c 'print("x"*300)')``."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "evoapproxnas", "multipliers", "list",
                           "--library", "x" * 300], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "longer than 255 bytes" in proc.stderr
