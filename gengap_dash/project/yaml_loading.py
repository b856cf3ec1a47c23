"""Bounded YAML reading: a project file cannot exhaust the server's memory or time.

A project file is small, hand-written data. Reading one is bounded three ways before anything
walks the document: its size (:data:`MAX_PROJECT_BYTES`), no aliases (the "billion laughs"
expansion needs them; an anchor alone is harmless), and the nesting depth
(:data:`MAX_NESTING`). Values quoted in messages go through :func:`quote`, which truncates them.
"""

from __future__ import annotations

import reprlib
from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent, MappingStartEvent, SequenceStartEvent

from gengap_dash.project.errors import ProjectError

MAX_PROJECT_BYTES = 256 * 1024
MAX_NESTING = 32

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
    """Parse one YAML document with the bounded loader.

    Args:
        text: the document.
        name: the file's name, for messages.

    Raises:
        ProjectError: an alias, too deep a nesting, or invalid YAML (the message says where,
            never what the line holds).
    """
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    except ProjectError as error:
        raise ProjectError(f"{name} {error}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "unreadable"
        raise ProjectError(f"{name} is not valid YAML{where}: {problem}.") from None
    except RecursionError:
        raise ProjectError(f"{name} nests too deeply to be a project file.") from None
    finally:
        loader.dispose()
