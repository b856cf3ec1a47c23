"""The trunk's commands: precompute, summary, export, report, serve."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from gengap_dash.project.errors import ProjectError


def register(commands: argparse._SubParsersAction) -> None:
    """Add the trunk's commands to the ``gengap`` parser."""
    precompute = commands.add_parser("precompute", help="run inference into the cache")
    _project_arguments(precompute)
    precompute.add_argument(
        "--views",
        nargs="*",
        metavar="VIEW",
        default=None,
        help="also compute these views' results with their defaults (no name: every view), so "
        "that pages, the summary and the report open without computing",
    )
    precompute.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="where inference runs: this process (local), or an actor pool on Ray (ray; needs "
        "pip install 'gengap-dash[ray]'; see docs/distributed.md)",
    )
    precompute.add_argument(
        "--address",
        default=None,
        help="with --engine ray: a running Ray cluster (host:6379 or ray://host:10001); "
        "default: a local Ray instance on this machine's CPUs",
    )
    precompute.add_argument(
        "--workers", type=int, default=None, help="with --engine ray: actors in the pool"
    )
    precompute.add_argument(
        "--shard-rows",
        type=int,
        default=None,
        help="with --engine ray: rows per shard (rounded up to whole batches; default 16384)",
    )
    precompute.set_defaults(handler=run_precompute)

    summary = commands.add_parser("summary", help="the gap scorecard")
    _project_arguments(summary)
    summary.add_argument("--json", action="store_true", help="print JSON instead of a table")
    summary.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    summary.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    summary.set_defaults(handler=run_summary)

    export = commands.add_parser("export", help="write the predictions table as Parquet")
    _project_arguments(export)
    export.add_argument("--out", required=True, type=Path, help="output .parquet file")
    export.set_defaults(handler=run_export)

    report = commands.add_parser("report", help="write a self-contained HTML report")
    _project_arguments(report)
    report.add_argument("--out", required=True, type=Path, help="output .html file")
    report.set_defaults(handler=run_report)

    serve = commands.add_parser(
        "serve",
        help="start the dashboard on a project (or every project under --projects-dir)",
        description="Serve the dashboard. Viewers can open only the served projects: PROJECT's "
        "folder, or the projects under --projects-dir.",
    )
    serve.add_argument(
        "project", type=Path, nargs="?", default=None, help="path to project.yaml (or its folder)"
    )
    serve.add_argument(
        "--projects-dir",
        type=Path,
        default=None,
        help="a folder whose project files (project.yaml) are all served and listed",
    )
    serve.add_argument("--port", type=int, default=8501)
    serve.add_argument(
        "--address", default="127.0.0.1", help="address to bind (default: localhost only)"
    )
    serve.add_argument(
        "--allow-factory-module",
        action="append",
        default=[],
        metavar="MODULE",
        help="an installed module a project may name as model.factory (repeatable; adds to "
        "$GENGAP_FACTORY_MODULES)",
    )
    serve.add_argument(
        "--allow-any-project-path",
        action="store_true",
        help="UNSAFE on a shared server: let viewers open any project file on this machine "
        "(for single-user local use only)",
    )
    serve.set_defaults(handler=run_serve)


def open_workspace(
    arguments: argparse.Namespace, *, progress: bool = True, load_outputs: bool = True
):
    """Open the project and (with ``load_outputs``) load every split's model outputs, running
    inference where the cache misses, with a progress bar per split on stderr."""
    from gengap_dash.workspace import Workspace

    workspace = Workspace.from_file(arguments.project, cache_dir=arguments.cache_dir)
    if load_outputs:
        load_model_outputs(workspace, progress=progress)
    return workspace


def load_model_outputs(workspace, *, progress: bool = True) -> None:
    """Load every split's model outputs, running inference (with a progress bar per split on
    stderr) where the cache misses."""
    missing = workspace.missing_splits()
    if not (missing and progress):
        workspace.compute()
        return
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def report(split: str, done: int, total: int) -> None:
        bar = bars.get(split)
        if bar is None:
            bar = bars[split] = tqdm(  # disable=None: bars only on a terminal
                total=total, desc=f"inference {split}", unit="sample", file=sys.stderr,
                disable=None,
            )  # fmt: skip
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    try:
        workspace.compute(progress=report)
    finally:  # an error message must not land on the line of an open bar
        for bar in bars.values():
            bar.close()


def print_notes(workspace) -> None:
    """The workspace's notes for the user (columns left out, cache entries recomputed), one
    line each on stderr."""
    for note in getattr(workspace, "notes", ()):
        sys.stderr.write(f"gengap: note: {note}\n")


def run_precompute(arguments: argparse.Namespace) -> int:
    import logging

    # the engine's choices (layout probe, torch.compile time), one line each on stderr
    class _Stderr(logging.Handler):  # the current sys.stderr at each line (tests swap it)
        def emit(self, record: logging.LogRecord) -> None:
            sys.stderr.write(f"gengap: {record.getMessage()}\n")

    engine_log = logging.getLogger("gengap_dash.engine")
    if not any(type(h).__name__ == "_Stderr" for h in engine_log.handlers):
        engine_log.addHandler(_Stderr())
        engine_log.setLevel(logging.INFO)
    if getattr(arguments, "engine", "local") == "ray":
        from gengap_dash.cli.ray_precompute import precompute_with_ray

        if arguments.shard_rows is not None and arguments.shard_rows < 1:
            raise ProjectError(
                f"--shard-rows is {arguments.shard_rows}; expected a positive integer."
            )
        workspace = open_workspace(arguments, load_outputs=False)
        ray_run = precompute_with_ray(
            workspace,
            address=arguments.address,
            workers=arguments.workers,
            shard_rows=arguments.shard_rows,
        )
        if ray_run is not None:
            print(
                f"ray: {ray_run.computed} shards computed, {ray_run.skipped} already done, "
                f"{ray_run.workers} workers, {ray_run.seconds:.1f} s"
            )
    elif getattr(arguments, "address", None):
        raise ProjectError("--address needs --engine ray.")
    workspace = open_workspace(arguments)
    frame = workspace.predictions()
    counts = frame.groupby("split", observed=True).size()
    print(
        f"{workspace.name}: {len(frame)} predictions cached for "
        + ", ".join(f"{name} ({counts[name]})" for name in workspace.split_names)
        + f" in {workspace.cache.root}"
    )
    if arguments.views is not None:
        if getattr(arguments, "engine", "local") == "ray":
            from gengap_dash.views.registry import get_view

            get_view("embed").use_ray(arguments.address)  # the map's placement, on Ray too
            get_view("saliency").use_ray(arguments.address, arguments.workers)  # and the maps
        precompute_views(workspace, arguments.views)
    return 0


def precompute_views(workspace, names: list[str]) -> None:
    """Compute (or find in the cache) the default result of each named view (all when
    ``names`` is empty), one line per view; a view that cannot run says why and the rest go on."""
    import time

    from gengap_dash.views.registry import all_views, compute, get_view

    views = [get_view(name) for name in names] if names else all_views()
    for view in views:
        reason = view.unavailable(workspace)
        if reason:
            print(f"- {view.name}: skipped. {reason}")
            continue
        started = time.perf_counter()
        try:
            compute(view, workspace)
        except ProjectError as error:
            print(f"- {view.name}: not computed. {error}")
            continue
        print(f"- {view.name}: cached ({time.perf_counter() - started:.1f} s)")


def run_summary(arguments: argparse.Namespace) -> int:
    """The scorecard, the numbers every other view adds to it, and the headline findings of
    every view that can run on the project."""
    from gengap_dash.findings.render import render, to_json
    from gengap_dash.views.registry import (
        all_views,
        cached,
        compute,
        get_view,
        not_cached_reason,
    )
    from gengap_dash.views.scorecard import scorecard_text

    if arguments.resamples < 1:
        raise ProjectError(f"--resamples is {arguments.resamples}; expected a positive integer.")
    workspace = open_workspace(arguments, load_outputs=False)
    headline, skipped = [], {}
    payload: dict = {"project": workspace.name}
    plans = []  # (view, options, cached result or None)
    for view in all_views():
        reason = view.unavailable(workspace)
        if reason:
            skipped[view.name] = reason
            continue
        if view.name == "scorecard":
            options = view.Options(n_resamples=arguments.resamples, seed=arguments.seed)
        else:
            options = view.Options()
        found, result = cached(view, workspace, options, light=True)  # headlines: no samples
        if view.slow and not found:
            skipped[view.name] = not_cached_reason(view)
            continue
        plans.append((view, options, result if found else None))
    if any(result is None for _, _, result in plans):
        load_model_outputs(workspace)  # inference, with progress, where the cache misses
    for view, options, result in plans:
        if result is None:
            try:
                result = compute(view, workspace, options)
            except ProjectError as error:
                if view.name == "scorecard":
                    raise
                skipped[view.name] = str(error)
                continue
        if view.name == "scorecard":
            payload.update(view.to_json(result))
        view.extend_summary(result, payload)
        headline.extend((view.title, finding) for finding in view.headline(result))
    payload["findings"] = to_json([finding for _, finding in headline])
    payload["skipped_views"] = skipped
    print_notes(workspace)
    if arguments.json:
        print(json.dumps(payload, indent=2, allow_nan=False))
        return 0
    print(f"{workspace.name}\n")
    print(scorecard_text(payload))
    print()
    for title, finding in headline:
        print(f"- {title}: {render(finding)}")
    for name, reason in skipped.items():
        print(f"- {get_view(name).title}: not shown. {reason}")
    return 0


def run_export(arguments: argparse.Namespace) -> int:
    from gengap_dash.data.predictions import to_export_frame

    out: Path = arguments.out
    if out.suffix.lower() not in (".parquet", ".pq"):
        raise ProjectError(f"--out {out}: expected a .parquet file name.")
    if not out.parent.exists():
        raise ProjectError(f"--out {out}: folder {out.parent} does not exist.")
    workspace = open_workspace(arguments)
    frame = to_export_frame(workspace.predictions(), workspace.n_classes)
    temp = out.with_name(f".{out.name}.partial")
    frame.to_parquet(temp, index=False)
    temp.replace(out)
    print(f"Wrote {len(frame)} rows ({len(workspace.split_names)} splits) to {out}")
    return 0


def run_report(arguments: argparse.Namespace) -> int:
    from gengap_dash.report.builder import build_report

    out: Path = arguments.out
    if not out.parent.exists():
        raise ProjectError(f"--out {out}: folder {out.parent} does not exist.")
    workspace = open_workspace(arguments)
    html = build_report(workspace)
    temp = out.with_name(f".{out.name}.partial")
    temp.write_text(html, encoding="utf-8")
    temp.replace(out)
    print(f"Wrote the report for {workspace.name} to {out}")
    return 0


def run_serve(arguments: argparse.Namespace) -> int:
    """Start Streamlit on the served projects; SIGTERM or Ctrl-C stops it (the signal is
    forwarded to the server process, which is waited for)."""
    from gengap_dash.project.spec import load_project

    if arguments.project is None and arguments.projects_dir is None:
        raise ProjectError("Give a project file, or --projects-dir with a folder of projects.")
    script_arguments: list[str] = []
    if arguments.project is not None:
        spec = load_project(arguments.project)  # fail fast, with exit 2, on a bad project
        script_arguments += ["--project", str(spec.path)]
    if arguments.projects_dir is not None:
        if not arguments.projects_dir.is_dir():
            raise ProjectError(f"--projects-dir {arguments.projects_dir}: not a folder.")
        script_arguments += ["--projects-dir", str(arguments.projects_dir.resolve())]
    if arguments.allow_any_project_path:
        script_arguments.append("--allow-any-project-path")
        print(
            "warning: --allow-any-project-path lets every viewer open any project file on this "
            "machine, and run its model code; use it only on a server you alone can reach.",
            file=sys.stderr,
        )
    app = Path(__file__).resolve().parents[2] / "app.py"
    if not app.is_file():
        raise ProjectError(f"The dashboard's app.py was not found at {app}.")
    environment = dict(os.environ)
    if arguments.allow_factory_module:
        current = environment.get("GENGAP_FACTORY_MODULES", "")
        environment["GENGAP_FACTORY_MODULES"] = ",".join(
            [name for name in current.split(",") if name.strip()] + arguments.allow_factory_module
        )
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        f"--server.port={arguments.port}",
        f"--server.address={arguments.address}",
        "--server.headless=true",
        "--browser.gatherUsageStats=false",
        "--client.showErrorDetails=none",
        "--",
        *script_arguments,
    ]
    return run_until_signalled(command, env=environment, cwd=app.parent)


def run_until_signalled(
    command: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> int:
    """Run ``command`` as a child, forwarding SIGTERM, SIGINT and SIGHUP to it, and wait for it.

    Returns:
        The child's exit code (128 + the signal's number when a signal killed it).
    """
    child = subprocess.Popen(command, env=env, cwd=cwd)
    received: list[int] = []

    def forward(number: int, frame: object) -> None:
        received.append(number)
        if child.poll() is None:
            child.send_signal(signal.SIGTERM if number == signal.SIGHUP else number)

    handled = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP]
    previous = {number: signal.signal(number, forward) for number in handled}
    try:
        while True:
            try:
                code = child.wait(timeout=30 if received else None)
                break
            except subprocess.TimeoutExpired:  # asked to stop, still running after 30 s
                child.kill()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if child.poll() is None:
            child.kill()
            child.wait()
    return 128 - code if code < 0 else code


def _project_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", type=Path, help="path to project.yaml (or its folder)")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="cache folder (default: $GENGAP_CACHE_DIR or ~/.cache/gengap)",
    )
