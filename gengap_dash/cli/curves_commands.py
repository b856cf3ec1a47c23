"""`gengap curves`: registered here once the view's library is in place."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    """Add this module's commands to the `gengap` parser."""
