"""One ``gengap <view>`` command per registered view, built from the registry.

Each command opens the project, asks the view for its options, computes (or reads from the
on-disk result cache) its result and prints the view's text, or with ``--json`` the view's JSON
document with its structured findings (``kind``, ``severity``, ``split``, ``metric``, ``value``,
``low``, ``high``, ``threshold``, ``text``...).
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path

from gengap_dash.views.registry import (
    View,
    all_views,
    cached,
    compute,
    result_cache,
    view_json,
)


def register(commands: argparse._SubParsersAction) -> None:
    """Add one command per registered view."""
    for view in all_views():
        if view.name in commands.choices:  # a command of the trunk's own
            continue
        parser = commands.add_parser(
            view.name, help=view.question, description=f"{view.title}: {view.question}"
        )
        parser.add_argument("project", type=Path, help="path to project.yaml (or its folder)")
        parser.add_argument(
            "--cache-dir",
            type=Path,
            default=None,
            help="cache folder (default: $GENGAP_CACHE_DIR or ~/.cache/gengap)",
        )
        parser.add_argument("--json", action="store_true", help="print JSON instead of text")
        view.add_arguments(parser)
        parser.set_defaults(handler=partial(run_view, view))


def run_view(view: View, arguments: argparse.Namespace) -> int:
    """Compute one view and print it; the exit code is 0 (errors raise, see ``cli/main.py``)."""
    from gengap_dash.cli.trunk_commands import load_model_outputs, open_workspace, print_notes

    options = view.options_from_arguments(arguments)  # bad options fail before any inference
    workspace = open_workspace(arguments, load_outputs=False)
    # a warm result needs no arrays at all, nor its per-sample fields (the text and JSON do not)
    found, result = cached(view, workspace, options, light=True)
    if not found:
        if "predictions" in view.needs:
            load_model_outputs(workspace)  # inference with progress where the cache misses
        result = compute(view, workspace, options)
    view.write_files(result, arguments)
    print_notes(workspace)
    for note in result_cache(workspace).notes:
        sys.stderr.write(f"gengap: note: {note}\n")
    if arguments.json:
        document = view_json(view, result, project=workspace.name)
        print(json.dumps(document, indent=2, allow_nan=False))
    else:
        print(f"{workspace.name}: {view.title.lower()}{view.heading(result)}\n")
        print(view.to_text(result))
    return 0
