"""Errors that speak to the user."""

from __future__ import annotations


class ProjectError(ValueError):
    """Bad user input: a message that names the file, key or value and what was expected.

    The CLI prints it on one line and exits with code 2; the UI shows it with ``st.error``.
    """
