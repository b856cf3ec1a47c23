"""The trunk's commands: precompute, summary, export, report, serve."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from gengap_dash.project.errors import ProjectError


def register(commands: argparse._SubParsersAction) -> None:
    """Add the trunk's commands to the ``gengap`` parser."""
    precompute = commands.add_parser("precompute", help="run inference into the cache")
    _project_arguments(precompute)
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

    serve = commands.add_parser("serve", help="start the dashboard on this project")
    serve.add_argument("project", type=Path, help="path to project.yaml")
    serve.add_argument("--port", type=int, default=8501)
    serve.add_argument(
        "--address", default="127.0.0.1", help="address to bind (default: localhost only)"
    )
    serve.set_defaults(handler=run_serve)


def open_workspace(
    arguments: argparse.Namespace, *, progress: bool = True, load_outputs: bool = True
):
    """Open the project and (with ``load_outputs``) load every split's model outputs, running
    inference where the cache misses, with a progress bar per split on stderr."""
    from gengap_dash.workspace import Workspace

    workspace = Workspace.from_file(arguments.project, cache_dir=arguments.cache_dir)
    if not load_outputs:
        return workspace
    missing = workspace.missing_splits()
    if missing and progress:
        from tqdm import tqdm

        bars: dict[str, tqdm] = {}

        def report(split: str, done: int, total: int) -> None:
            bar = bars.get(split)
            if bar is None:
                bar = bars[split] = tqdm(  # disable=None: bars only on a terminal
                    total=total,
                    desc=f"inference {split}",
                    unit="sample",
                    file=sys.stderr,
                    disable=None,
                )
            bar.update(done - bar.n)
            if done >= total:
                bar.close()

        try:
            workspace.compute(progress=report)
        finally:  # an error message must not land on the line of an open bar
            for bar in bars.values():
                bar.close()
    else:
        workspace.compute()
    return workspace


def print_notes(workspace) -> None:
    """The workspace's notes for the user (columns left out, cache entries recomputed), one
    line each on stderr."""
    for note in getattr(workspace, "notes", ()):
        sys.stderr.write(f"gengap: note: {note}\n")


def run_precompute(arguments: argparse.Namespace) -> int:
    workspace = open_workspace(arguments)
    frame = workspace.predictions()
    counts = frame.groupby("split", observed=True).size()
    print(
        f"{workspace.name}: {len(frame)} predictions cached for "
        + ", ".join(f"{name} ({counts[name]})" for name in workspace.split_names)
        + f" in {workspace.cache.root}"
    )
    return 0


def run_summary(arguments: argparse.Namespace) -> int:
    """The scorecard, the numbers every other view adds to it, and the headline findings of
    every view that can run on the project."""
    from gengap_dash.findings.render import render, to_json
    from gengap_dash.views.registry import all_views, compute, get_view
    from gengap_dash.views.scorecard import scorecard_text

    if arguments.resamples < 1:
        raise ProjectError(f"--resamples is {arguments.resamples}; expected a positive integer.")
    workspace = open_workspace(arguments)
    headline, skipped = [], {}
    payload: dict = {"project": workspace.name}
    for view in all_views():
        reason = view.unavailable(workspace)
        if reason:
            skipped[view.name] = reason
            continue
        if view.name == "scorecard":
            options = view.Options(n_resamples=arguments.resamples, seed=arguments.seed)
        else:
            options = view.Options()
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
        headline.extend(view.headline(result))
    payload["findings"] = to_json(headline)
    payload["skipped_views"] = skipped
    print_notes(workspace)
    if arguments.json:
        print(json.dumps(payload, indent=2, allow_nan=False))
        return 0
    print(f"{workspace.name}\n")
    print(scorecard_text(payload))
    print()
    for finding in headline:
        print(f"- [{finding.severity}] {render(finding)}")
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
    from gengap_dash.project.spec import load_project

    spec = load_project(arguments.project)  # fail fast, with exit 2, on a bad project
    app = Path(__file__).resolve().parents[2] / "app.py"
    if not app.is_file():
        raise ProjectError(f"The dashboard's app.py was not found at {app}.")
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
        "--",
        "--project",
        str(spec.path),
    ]
    return subprocess.call(command)


def _project_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", type=Path, help="path to project.yaml (or its folder)")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="cache folder (default: $GENGAP_CACHE_DIR or ~/.cache/gengap)",
    )
