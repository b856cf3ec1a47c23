"""Progress of a long view computation (a helper, not a view: modules starting with ``_`` are not
discovered as views): the page's callback inside :meth:`ViewProgress.reporting`, else a line on
a terminal's stderr when the view's command asked for it (never into a pipe or a log)."""

from __future__ import annotations

import contextlib
import contextvars
import sys
from collections.abc import Callable, Iterator

Progress = Callable[[float, str], None]
"""Called with (fraction done, what runs now)."""


class ViewProgress:
    """Where one view reports its progress.

    Args:
        name: the view's name (names the context variable).
        label: what the stderr line calls the work (``"slice search"``).
        width: the stderr line's width in characters.
    """

    def __init__(self, name: str, label: str, *, width: int) -> None:
        self._page: contextvars.ContextVar[Progress | None] = contextvars.ContextVar(
            f"gengap_{name}_progress", default=None
        )
        self._label = label
        self._width = width
        self._asked = False

    @contextlib.contextmanager
    def reporting(self, callback: Progress) -> Iterator[None]:
        """Report to ``callback(fraction, note)`` inside the block (the page's progress bar)."""
        token = self._page.set(callback)
        try:
            yield
        finally:
            self._page.reset(token)

    def ask_command_line(self) -> None:
        """The next computation outside a page writes its progress to a terminal's stderr."""
        self._asked = True

    def callback(self) -> Progress | None:
        """The page's callback, else the stderr line once asked for (and on a terminal)."""
        callback = self._page.get()
        if callback is not None:
            return callback
        asked, self._asked = self._asked, False
        return self._stderr if asked and sys.stderr.isatty() else None

    def _stderr(self, fraction: float, note: str) -> None:
        line = f"\rgengap: {self._label} {100 * fraction:5.1f}% ({note})"
        sys.stderr.write(line[: self._width].ljust(self._width))
        if fraction >= 1.0:
            sys.stderr.write("\n")
        sys.stderr.flush()
