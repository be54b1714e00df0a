"""What a campaign tells its user: a ``Reporter`` passed to ``run_campaign``.

Three kinds of output: ``log`` lines (progress: the run directory, each generation, the final
test-set pass), ``progress`` bars, and ``note`` lines, which say something the user should know
even in a quiet run (a resumed run started with other package versions, a damaged checkpoint
skipped, where the plots went).

``ConsoleReporter`` prints everything on stderr; its tqdm bars draw only on a terminal
(``disable=None``), so a log file gets the per-generation lines and nothing garbled.
``SilentReporter`` (``--quiet``) prints the notes only.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod


class Reporter(ABC):
    """Where a campaign's messages and progress bars go."""

    @abstractmethod
    def log(self, message: str) -> None:
        """A progress line (not shown when quiet)."""

    @abstractmethod
    def note(self, message: str) -> None:
        """A line shown even when quiet."""

    @abstractmethod
    def progress(self, total: int, desc: str, unit: str = "cand"):
        """A progress bar of ``total`` steps (``update``, ``set_postfix``, ``refresh``,
        ``close`` and the attribute ``n``, as tqdm's), or ``None`` for no bar."""


def _stderr(message: str) -> None:
    """One line on stderr, flushed at once."""
    print(message, file=sys.stderr, flush=True)


class ConsoleReporter(Reporter):
    """Lines and notes on stderr, tqdm bars on stderr when it is a terminal."""

    def log(self, message: str) -> None:
        _stderr(message)

    def note(self, message: str) -> None:
        _stderr(message)

    def progress(self, total: int, desc: str, unit: str = "cand"):
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, leave=False, file=sys.stderr,
                    disable=None)


class SilentReporter(Reporter):
    """Quiet: notes on stderr, no lines, no bars."""

    def log(self, message: str) -> None:
        pass

    def note(self, message: str) -> None:
        _stderr(message)

    def progress(self, total: int, desc: str, unit: str = "cand"):
        return None
