"""Which projects a dashboard server serves: those its operator chose, never a viewer's path.

The operator names them when starting the server:

- a project: ``streamlit run app.py -- --project PATH``, ``gengap serve PATH`` or
  ``$GENGAP_PROJECT``; its folder becomes an allowed root;
- a projects root: ``--projects-dir DIR`` (repeatable) or ``$GENGAP_PROJECTS_DIR`` (folders
  separated by ``os.pathsep``); every project file under it is listed and may be opened;
- nothing: the bundled sample project, whose folder is the allowed root.

A path a viewer types in the sidebar or puts in ``?project=`` is resolved (symlinks included)
and must lie under an allowed root. Anything else is refused with :data:`NOT_SERVED`, which says
nothing about the path: not whether it exists, nor what it holds. ``--allow-any-project-path``
(or ``GENGAP_ALLOW_ANY_PROJECT_PATH=1``) lifts the check for single-user local use; it is unsafe
on a shared server.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gengap_dash.project.errors import ProjectError

PROJECT_ENV = "GENGAP_PROJECT"
PROJECTS_DIR_ENV = "GENGAP_PROJECTS_DIR"
ALLOW_ANY_PATH_ENV = "GENGAP_ALLOW_ANY_PROJECT_PATH"
PROJECT_FILE_NAMES = ("project.yaml", "project.yml")
NOT_SERVED = (
    "This project is not served here. The dashboard opens only the projects its operator "
    "started it with; pick one in the sidebar."
)
MAX_LISTED = 200
_MAX_DEPTH = 4
_MAX_PATH_CHARS = 4096


@dataclass(frozen=True)
class ServedProjects:
    """The projects one server serves.

    Attributes:
        default: the project shown when a session names none (None: a projects root that
            holds no project file yet).
        roots: resolved folders under which a project may be opened.
        allow_any_path: the operator's unsafe opt-out: any path may be opened.
    """

    default: Path | None
    roots: tuple[Path, ...]
    allow_any_path: bool = False

    @classmethod
    def from_arguments(
        cls,
        argv: Sequence[str],
        environ: Mapping[str, str],
        *,
        sample: Path,
    ) -> ServedProjects:
        """What the operator chose: ``argv`` (the script arguments after ``--``) first, then
        the environment, else ``sample``.

        Raises:
            ProjectError: ``--projects-dir`` is not a folder.
        """
        parser = argparse.ArgumentParser(add_help=False)
        parser.add_argument("--project", default=None)
        parser.add_argument("--projects-dir", action="append", default=[])
        parser.add_argument("--allow-any-project-path", action="store_true")
        known, _ = parser.parse_known_args(list(argv))
        project_text = known.project or environ.get(PROJECT_ENV) or None
        folders = known.projects_dir or [
            text for text in environ.get(PROJECTS_DIR_ENV, "").split(os.pathsep) if text.strip()
        ]
        allow_any = known.allow_any_project_path or environ.get(ALLOW_ANY_PATH_ENV, "").lower() in (
            "1",
            "true",
            "yes",
        )
        roots: list[Path] = []
        default: Path | None = None
        if project_text:
            project = _project_file(Path(project_text).expanduser().resolve())
            roots.append(project.parent)
            default = project
        for folder_text in folders:
            folder = Path(folder_text).expanduser().resolve()
            if not folder.is_dir():
                raise ProjectError(f"--projects-dir {folder_text}: not a folder.")
            roots.append(folder)
            if default is None:
                listed = _list_projects((folder,))
                default = listed[0] if listed else None
        if not roots:
            default = _project_file(sample.resolve())
            roots.append(default.parent)
        return cls(default=default, roots=tuple(roots), allow_any_path=allow_any)

    def resolve(self, text: str | os.PathLike[str] | None) -> Path:
        """The project file that ``text`` names, if this server serves it.

        Args:
            text: a path from a viewer (sidebar box, URL); relative paths are read from the
                first root; empty means :attr:`default`.

        Raises:
            ProjectError: :data:`NOT_SERVED` for anything outside the roots (the same message
                whether or not the path exists), or no project is served yet.
        """
        text = "" if text is None else str(text).strip()
        if not text:
            if self.default is None:
                raise ProjectError(
                    "No project file (project.yaml) was found under the served projects folder."
                )
            return self.default
        if len(text) > _MAX_PATH_CHARS or "\x00" in text:
            raise ProjectError(NOT_SERVED)
        candidate = Path(text)
        if not candidate.is_absolute():
            candidate = self.roots[0] / candidate
        try:
            resolved = _project_file(candidate.resolve())
        except (OSError, RuntimeError):  # a symlink loop, a name too long
            raise ProjectError(NOT_SERVED) from None
        if not (self.allow_any_path or self.serves(resolved)):
            raise ProjectError(NOT_SERVED)
        return resolved

    def serves(self, path: Path) -> bool:
        """Whether the resolved ``path`` lies under one of the roots."""
        return any(path.is_relative_to(root) for root in self.roots)

    def listed(self) -> list[Path]:
        """Every project file under the roots (sorted, at most :data:`MAX_LISTED`, at most a
        few folders deep, symlinked folders not followed), the default first."""
        found = _list_projects(self.roots)
        if self.default is not None and self.default not in found:
            found.insert(0, self.default)
        elif self.default is not None:
            found.remove(self.default)
            found.insert(0, self.default)
        return found

    def label(self, path: Path) -> str:
        """A short name for ``path``: relative to its root where it lies under one."""
        for root in self.roots:
            if path.is_relative_to(root):
                relative = path.relative_to(root)
                return str(Path(root.name) / relative)
        return str(path)


def _project_file(path: Path) -> Path:
    """``path`` itself, or its ``project.yaml`` when it is a folder (resolved again, so a
    symlinked project.yaml is followed)."""
    if path.is_dir():
        return (path / PROJECT_FILE_NAMES[0]).resolve()
    return path


def _list_projects(roots: Sequence[Path]) -> list[Path]:
    found: list[Path] = []
    for root in roots:
        root_depth = len(root.parts)
        for folder, folders, files in os.walk(root, followlinks=False):
            depth = len(Path(folder).parts) - root_depth
            folders[:] = sorted(
                name for name in folders if not name.startswith(".") and depth < _MAX_DEPTH
            )
            for name in sorted(files):
                if name in PROJECT_FILE_NAMES:
                    path = (Path(folder) / name).resolve()
                    if any(path.is_relative_to(r) for r in roots) and path not in found:
                        found.append(path)
                    if len(found) >= MAX_LISTED:
                        return found
    return found
