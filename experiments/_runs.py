"""Helpers shared by the reproduction scripts of experiments/ (not part of the package).

``run_or_resume`` is the resumable-run pattern of the reproduction scripts: a run directory
that exists is resumed where it stopped (a finished one ends at once), a new one is created
from the campaign file and its overrides. ``parser``, ``pyplot`` and ``save_figure`` are
their common command line and figure plumbing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def parser(doc: str, default_out: Path) -> argparse.ArgumentParser:
    """The reproduction scripts' command line: ``--quick`` (the script's quick scale),
    ``--out`` (its work folder, ``default_out``) and ``--report-only``; the description is
    the first paragraph of ``doc`` (the script's docstring)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the quick scale (SCALES['quick'])")
    ap.add_argument("--out", type=Path, default=default_out)
    ap.add_argument("--report-only", action="store_true", help="tabulate finished runs only")
    return ap


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no screen needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> None:
    """Lay out ``fig``, write it to ``path`` (its folder made) and close it."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    pyplot().close(fig)


def run_or_resume(campaign: Path, path: Path, overrides: list[str],
                  evaluate_test: bool = True) -> tuple[float, bool]:
    """Create (or resume) the run directory ``path`` of ``campaign`` with ``overrides`` and run
    it to its end, silently (``evaluate_test``: the front members on the test set); returns
    (wall seconds of this invocation, whether it resumed)."""
    from evoapproxnas.search.campaign import create_run, run_campaign
    from evoapproxnas.search.reporting import SilentReporter

    resumed = (path / "run.json").is_file()
    if not resumed:
        create_run(campaign, path, overrides, overwrite=path.exists())
    start = time.perf_counter()
    run_campaign(path, reporter=SilentReporter(), evaluate_test=evaluate_test)
    return time.perf_counter() - start, resumed
