"""gengap-dash: diagnose the generalization gap of a PyTorch classifier.

The library imports without Streamlit; ``gengap_dash.ui`` is the only Streamlit glue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["ProjectError", "Workspace", "__version__"]

if TYPE_CHECKING:
    from gengap_dash.project.errors import ProjectError
    from gengap_dash.workspace import Workspace


def __getattr__(name: str) -> object:
    if name == "Workspace":
        from gengap_dash.workspace import Workspace

        return Workspace
    if name == "ProjectError":
        from gengap_dash.project.errors import ProjectError

        return ProjectError
    raise AttributeError(name)
