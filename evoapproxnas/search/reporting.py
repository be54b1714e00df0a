"""What a campaign prints: one-line messages on stderr and tqdm progress bars.

Bars draw only on a terminal (``disable=None``), so a log file gets the per-generation lines
and nothing garbled.
"""

from __future__ import annotations

import sys


def log(message: str) -> None:
    """One line on stderr, flushed at once."""
    print(message, file=sys.stderr, flush=True)


def progress(total: int, desc: str, unit: str = "cand", quiet: bool = False):
    """A tqdm bar on stderr (``None`` when quiet)."""
    if quiet:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=False, file=sys.stderr, disable=None)
