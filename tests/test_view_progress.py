"""views._progress.ViewProgress: the page's callback first, else a terminal line once asked."""

from __future__ import annotations

import io

import pytest

from gengap_dash.views._progress import ViewProgress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_page_callback_wins_and_the_command_line_is_asked_once(monkeypatch) -> None:
    progress = ViewProgress("demo", "demo work", width=40)
    assert progress.callback() is None  # neither a page nor the command line asked
    seen: list[tuple[float, str]] = []
    with progress.reporting(lambda fraction, note: seen.append((fraction, note))):
        progress.callback()(0.5, "half")
    assert seen == [(0.5, "half")] and progress.callback() is None  # reset after the block

    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    progress.ask_command_line()
    line = progress.callback()
    assert line is not None and progress.callback() is None  # asked for one computation only
    line(1.0, "done")
    assert terminal.getvalue() == "\rgengap: demo work 100.0% (done)".ljust(40) + "\n"


def test_no_progress_line_into_a_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    progress = ViewProgress("demo", "demo work", width=40)
    monkeypatch.setattr("sys.stderr", io.StringIO())  # not a terminal
    progress.ask_command_line()
    assert progress.callback() is None
