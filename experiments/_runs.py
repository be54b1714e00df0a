"""Helpers shared by the reproduction scripts of experiments/ (not part of the package).

``run_or_resume`` is the resumable-run pattern of the reproduction scripts: a run directory
that exists is resumed where it stopped (a finished one ends at once), a new one is created
from the campaign file and its overrides.
"""

from __future__ import annotations

import time
from pathlib import Path


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
