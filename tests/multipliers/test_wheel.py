"""The bundled libraries ship inside the wheel and load from an installed (unpacked) copy."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LIB_FILES = ("library.json", "tables.npz", "LICENSE", "README.md")


def copy_project(dest: Path) -> None:
    """Copy what a wheel build reads, so the build leaves nothing in the shared tree."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, dest / name)
    for name in ("evoapproxnas", "multipliers"):
        shutil.copytree(REPO / name, dest / name, symlinks=True, ignore=ignore)


def test_wheel_contains_bundled_libraries_and_loads_them(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    copy_project(src)
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-w", str(dist), str(src)],
        check=True, cwd=tmp_path, capture_output=True,
    )
    (wheel,) = dist.glob("evoapproxnas-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        prefix = "evoapproxnas/multipliers/_bundled"
        for lib in ("evoapproxlib8u", "evoapproxlib8s", "evoapproxlib8xNu"):
            for fname in LIB_FILES:
                member = f"{prefix}/{lib}/{fname}"
                assert member in names, member
                assert zf.read(member) == (REPO / "multipliers" / lib / fname).read_bytes()
        site = tmp_path / "site"
        zf.extractall(site)  # what an install puts in site-packages

    code = (
        "import json, evoapproxnas.multipliers as m\n"
        "u = m.load_library('evoapproxlib8u'); s = m.load_library('evoapproxlib8s')\n"
        "x = m.load_library('evoapproxlib8xNu')\n"
        "print(json.dumps([m.__file__, str(u.path), len(u), len(s), u.exact.name,"
        " m.list_libraries(), len(x), x.widths]))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(site))
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=True)
    module_file, lib_path, n_u, n_s, exact, names, n_x, widths = json.loads(proc.stdout)
    assert Path(module_file).is_relative_to(site)
    assert Path(lib_path).is_relative_to(site)
    assert (n_u, n_s, exact) == (36, 13, "mul8u_1JFF")
    assert names == ["arithsgen8u", "evoapproxlib8s", "evoapproxlib8u", "evoapproxlib8xNu"]
    assert n_x == 171 and widths == ["8x2", "8x3", "8x4", "8x5", "8x6", "8x7", "8x8"]
