"""The ``--engine local|ray`` arguments that views which can hand work to Ray share (the map's
placement, attributions): the same names, help and checks on every command."""

from __future__ import annotations

import argparse

from gengap_dash.project.errors import ProjectError


def add_engine_arguments(
    parser: argparse.ArgumentParser, *, work: str, workers: bool = False
) -> None:
    """Add ``--engine`` and ``--address`` (and ``--workers``) to a view's command; ``work``
    says what runs on Ray (e.g. "the points beyond the fitted sample are placed")."""
    parser.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help=f"where {work}: this process, or Ray (pip install 'gengap-dash[ray]'; "
        "docs/distributed.md)",
    )
    parser.add_argument(
        "--address",
        default=None,
        help="with --engine ray: a running Ray cluster; default: a local Ray instance",
    )
    if workers:
        parser.add_argument(
            "--workers", type=int, default=None, help="with --engine ray: actors in the pool"
        )


def wants_ray(arguments: argparse.Namespace) -> bool:
    """Whether the command asked for Ray; Ray's own options without ``--engine ray`` are
    refused (one line, exit 2), and so is a Ray that is not installed.

    Raises:
        ProjectError: ``--address`` or ``--workers`` without ``--engine ray``, a number of
            workers below 1, or Ray missing.
    """
    if getattr(arguments, "engine", "local") != "ray":
        for option in ("address", "workers"):
            if getattr(arguments, option, None) is not None:
                raise ProjectError(f"--{option} needs --engine ray.")
        return False
    workers = getattr(arguments, "workers", None)
    if workers is not None and workers < 1:
        raise ProjectError(f"--workers is {workers}; expected a positive integer.")
    from gengap_dash.engine.distributed import require_ray

    require_ray()
    return True
