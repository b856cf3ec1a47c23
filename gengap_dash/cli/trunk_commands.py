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


def open_workspace(arguments: argparse.Namespace, *, progress: bool = True):
    """Open the project and load every split, with a progress bar per split on stderr."""
    from gengap_dash.workspace import Workspace

    workspace = Workspace.from_file(arguments.project, cache_dir=arguments.cache_dir)
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
    from gengap_dash.analysis.scorecard import compute_scorecard, diagnose

    if arguments.resamples < 1:
        raise ProjectError(f"--resamples is {arguments.resamples}; expected a positive integer.")
    workspace = open_workspace(arguments)
    scorecard = compute_scorecard(
        workspace.split_data(), n_resamples=arguments.resamples, seed=arguments.seed
    )
    payload = {"project": workspace.name, **scorecard.to_dict()}
    extend = _summary_extensions()
    for add in extend:
        add(workspace, payload)
    if arguments.json:
        print(json.dumps(payload, indent=2))
        return 0
    print(f"{workspace.name}\n")
    print(scorecard_table(payload))
    print()
    for verdict in diagnose(scorecard):
        print(f"- {verdict.text}")
    temperature = payload.get("temperature")
    if temperature:
        print(f"- Calibration: {temperature['explanation']}")
        if temperature.get("transfer"):
            print(f"  {temperature['transfer']}")
    elif payload.get("temperature_reason"):
        print(f"- Calibration: no temperature fitted. {payload['temperature_reason']}")
    return 0


def scorecard_table(payload: dict) -> str:
    """A plain-text table of the scorecard part of a summary payload."""
    header = f"{'split':<16}{'role':<12}{'n':>7}  {'accuracy':>22}  {'macro-F1':>8}"
    header += f"  {'NLL':>7}  {'ECE':>7}  {'Brier':>7}"
    lines = [header, "-" * len(header)]
    for name, row in payload["splits"].items():
        low, high = row["ci"]["accuracy"]
        accuracy = f"{100 * row['accuracy']:.1f}% [{100 * low:.1f}, {100 * high:.1f}]"
        lines.append(
            f"{name:<16}{row['role']:<12}{row['n']:>7}  {accuracy:>22}  "
            f"{100 * row['macro_f1']:>7.1f}%  {row['nll']:>7.3f}  {100 * row['ece']:>6.1f}%  "
            f"{row['brier']:>7.3f}"
        )
    return "\n".join(lines)


def _summary_extensions() -> list:
    """Functions that add a view's numbers to the summary payload (e.g. calibration)."""
    from gengap_dash.cli import calibration_commands

    return list(getattr(calibration_commands, "SUMMARY_EXTENSIONS", []))


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
