"""What a campaign prints: bars only on a terminal, plain lines in a log, the notes only when
quiet; and a campaign tells whatever ``Reporter`` it is given, and nothing else."""

import io
import re
import sys
from pathlib import Path

import pytest
from _fakes import InstantWorkers

from evoapproxnas.search.campaign import create_run, run_campaign
from evoapproxnas.search.reporting import ConsoleReporter, Reporter, SilentReporter

TINY = Path(__file__).parent / "tiny.toml"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bars_stay_out_of_a_log_and_lines_go_in(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    console = ConsoleReporter()
    bar = console.progress(5, "generation 1/3")
    for _ in range(5):
        bar.update(1)
    bar.set_postfix(failed=1)
    bar.close()
    console.log("gen 1/3: 5 evaluated")
    console.note("note: a note")
    assert log.getvalue() == "gen 1/3: 5 evaluated\nnote: a note\n"  # no carriage returns, no bar


def test_bars_draw_on_a_terminal_and_quiet_draws_nothing(monkeypatch):
    tty = Terminal()
    monkeypatch.setattr(sys, "stderr", tty)
    assert SilentReporter().progress(3, "x") is None
    bar = ConsoleReporter().progress(3, "generation 1/3")
    bar.update(3)
    bar.close()
    assert "generation 1/3" in tty.getvalue() and "/3 [" in tty.getvalue()  # a tqdm bar


def test_quiet_keeps_the_notes_only(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    silent = SilentReporter()
    silent.log("gen 1/3: 5 evaluated")
    silent.note("note: a note")
    assert log.getvalue() == "note: a note\n"


def test_a_reporter_has_every_method():
    class LogOnly(Reporter):
        def log(self, message):
            pass

    with pytest.raises(TypeError):
        LogOnly()


class Bar:
    def __init__(self, total: int) -> None:
        self.total, self.n, self.closed = total, 0, False

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, **kwargs) -> None:
        pass

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class Recording(Reporter):
    """Collects what a campaign tells it."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.notes: list[str] = []
        self.bars: list[tuple[str, str, Bar]] = []

    def log(self, message: str) -> None:
        self.lines.append(message)

    def note(self, message: str) -> None:
        self.notes.append(message)

    def progress(self, total: int, desc: str, unit: str = "cand") -> Bar:
        bar = Bar(total)
        self.bars.append((desc, unit, bar))
        return bar


def test_a_campaign_tells_its_reporter_and_nothing_reaches_stderr(tmp_path, capfd):
    run = create_run(TINY, tmp_path / "run", ["search.engine=random", "search.generations=2"])
    capfd.readouterr()
    reporter = Recording()
    front = run_campaign(run.path, reporter=reporter, pool=InstantWorkers())
    assert capfd.readouterr().err == ""
    assert len(reporter.lines) == 3 and reporter.notes == []
    for k, line in enumerate(reporter.lines[:2]):
        assert re.fullmatch(rf"gen {k + 1}/2: \d+ evaluated \(3 new\), 0 failed, 0 infeasible, "
                            r"0 pruned before training, front \d+, HV \d\.\d{4} \[\d+ s\]",
                            line), line
    assert reporter.lines[-1] == (f"re-evaluating the {len(front.members)} front members on "
                                  "the held-out test set")
    assert [(desc, unit, bar.total, bar.n, bar.closed) for desc, unit, bar in reporter.bars] == [
        ("generation 1/2", "cand", 3, 3, True), ("generation 2/2", "cand", 3, 3, True),
        ("test set", "net", len(front.members), len(front.members), True)]
    assert all(m.test_accuracy is not None for m in front.members)


def test_a_silent_campaign_prints_nothing(tmp_path, capfd):
    run = create_run(TINY, tmp_path / "run", ["search.engine=random", "search.generations=2"])
    capfd.readouterr()
    run_campaign(run.path, reporter=SilentReporter(), pool=InstantWorkers())
    run_campaign(run.path, reporter=SilentReporter(), pool=InstantWorkers())  # a resume
    assert capfd.readouterr() == ("", "")
    loud = create_run(TINY, tmp_path / "loud", ["search.engine=random", "search.generations=2"])
    capfd.readouterr()
    run_campaign(loud.path, pool=InstantWorkers())  # the default: a ConsoleReporter
    err = capfd.readouterr().err
    assert "gen 1/2:" in err and "gen 2/2:" in err and "held-out test set" in err
