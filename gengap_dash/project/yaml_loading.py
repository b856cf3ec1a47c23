"""Bounded YAML reading: a project file cannot exhaust the server's memory or time.

A project file is small, hand-written data. Reading one is bounded before anything walks the
document: its size (:data:`MAX_PROJECT_BYTES`), no aliases (the "billion laughs" expansion needs
them; an anchor alone is harmless), the nesting depth (:data:`MAX_NESTING`) and the number of
values (:data:`MAX_NODES`), checked on the parser's event stream (libyaml where installed, so
in linear time; PyYAML's pure-Python scanner is quadratic in the nesting depth). Values
quoted in messages go through :func:`quote`, which truncates them.
"""

from __future__ import annotations

import reprlib
from pathlib import Path
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from gengap_dash.project.errors import ProjectError

MAX_PROJECT_BYTES = 256 * 1024
MAX_NESTING = 32
MAX_NODES = 50_000

_QUOTE = reprlib.Repr()
_QUOTE.maxstring = 60
_QUOTE.maxother = 60
_QUOTE.maxlist = 6
_QUOTE.maxdict = 6
_QUOTE.maxlevel = 3


def quote(value: Any) -> str:
    """``repr(value)``, truncated (strings to about 60 characters, containers to 6 items)."""
    return _QUOTE.repr(value)


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses aliases and deep nesting while composing the document,
    so that nothing is ever expanded or walked."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(AliasEvent):
            mark = self.peek_event().start_mark
            raise ProjectError(
                f"uses a YAML alias (*name) at line {mark.line + 1}; aliases and anchors are "
                "not allowed in a project file: write the value out."
            )
        opens = self.check_event(MappingStartEvent, SequenceStartEvent)
        if opens:
            self._depth += 1
            if self._depth > MAX_NESTING:
                mark = self.peek_event().start_mark
                raise ProjectError(
                    f"nests deeper than {MAX_NESTING} levels at line {mark.line + 1}."
                )
        try:
            return super().compose_node(parent, index)
        finally:
            if opens:
                self._depth -= 1


def read_project_text(path: Path, *, limit: int = MAX_PROJECT_BYTES) -> str:
    """The text of a project file, refused when it is larger than ``limit`` bytes, not a
    regular file, or not UTF-8.

    Raises:
        ProjectError: naming the file (by name only) and the limit.
    """
    if not path.is_file():  # follows symlinks; devices, FIFOs and folders are refused
        raise ProjectError(f"Project file {path} does not exist.")
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ProjectError(
            f"{path.name} is larger than {limit // 1024} KiB; a project file is a short text "
            "that names the tables and the model."
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ProjectError(f"{path.name} is not a UTF-8 text file.") from None


def parse_yaml(text: str, *, name: str) -> Any:
    """Parse one YAML document, bounded: the events are scanned first (with libyaml where
    installed: linear time), refusing aliases, nesting deeper than :data:`MAX_NESTING` and more
    than :data:`MAX_NODES` values, before a document is built.

    Args:
        text: the document.
        name: the file's name, for messages.

    Raises:
        ProjectError: an alias, too deep a nesting, too many values, or invalid YAML (the
            message says where, never what the line holds).
    """
    try:
        _scan_events(text)
        return yaml.load(text, Loader=_FAST_LOADER)
    except ProjectError as error:
        raise ProjectError(f"{name} {error}") from None
    except yaml.YAMLError as fast_error:
        error: BaseException = fast_error
        if _FAST_LOADER is not _BoundedLoader:  # the pure-Python parser words errors better
            try:
                _load_bounded(text)
            except (yaml.YAMLError, ProjectError) as worded:
                error = worded
        if isinstance(error, ProjectError):
            raise ProjectError(f"{name} {error}") from None
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = str(getattr(error, "problem", None) or "unreadable")[:120]
        raise ProjectError(f"{name} is not valid YAML{where}: {problem}.") from None
    except RecursionError:
        raise ProjectError(f"{name} nests too deeply to be a project file.") from None


def _scan_events(text: str) -> None:
    depth = 0
    for count, event in enumerate(yaml.parse(text, Loader=_FAST_LOADER), start=1):
        if isinstance(event, AliasEvent):
            raise ProjectError(
                f"uses a YAML alias (*name) at line {event.start_mark.line + 1}; aliases and "
                "anchors are not allowed in a project file: write the value out."
            )
        if isinstance(event, MappingStartEvent | SequenceStartEvent):
            depth += 1
            if depth > MAX_NESTING:
                raise ProjectError(
                    f"nests deeper than {MAX_NESTING} levels at line {event.start_mark.line + 1}."
                )
        elif isinstance(event, MappingEndEvent | SequenceEndEvent):
            depth -= 1
        if count > MAX_NODES:
            raise ProjectError(f"holds more than {MAX_NODES} values; a project file is short.")


def _load_bounded(text: str) -> Any:
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


_FAST_LOADER: type = getattr(yaml, "CSafeLoader", _BoundedLoader)
