"""What a campaign prints: bars only on a terminal, plain lines in a log."""

import io
import sys

from evoapproxnas.search import reporting as console


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bars_stay_out_of_a_log_and_lines_go_in(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    bar = console.progress(5, "generation 1/3")
    for _ in range(5):
        bar.update(1)
    bar.set_postfix(failed=1)
    bar.close()
    console.log("gen 1/3: 5 evaluated")
    assert log.getvalue() == "gen 1/3: 5 evaluated\n"  # no carriage returns, no bar


def test_bars_draw_on_a_terminal_and_quiet_draws_nothing(monkeypatch):
    tty = Terminal()
    monkeypatch.setattr(sys, "stderr", tty)
    assert console.progress(3, "x", quiet=True) is None
    bar = console.progress(3, "generation 1/3")
    bar.update(3)
    bar.close()
    assert "generation 1/3" in tty.getvalue() and "/3 [" in tty.getvalue()  # a tqdm bar
