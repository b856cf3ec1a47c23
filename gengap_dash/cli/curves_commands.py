"""``gengap curves``: the learning-curve diagnosis of every training run, from the logs alone (no
inference)."""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path
from typing import Any

from gengap_dash.project.errors import ProjectError
from gengap_dash.store.json_values import json_safe


def register(commands: argparse._SubParsersAction) -> None:
    """Add this module's commands to the ``gengap`` parser."""
    from gengap_dash.analysis.learning_curves import DEFAULT_PATIENCE

    curves = commands.add_parser(
        "curves",
        help="learning curves: best epoch, onset of overfitting, early stopping, data size",
        description="Diagnose the project's training logs: per run, the best epoch, where "
        "overfitting began, where early stopping would have stopped, the final train/validation "
        "gap, and whether more data would close it. Reads the logs only (no inference).",
    )
    curves.add_argument("project", type=Path, help="path to project.yaml (or its folder)")
    curves.add_argument("--json", action="store_true", help="print JSON instead of a table")
    curves.add_argument(
        "--patience",
        type=int,
        default=DEFAULT_PATIENCE,
        help=f"early-stopping patience in epochs or checks (default {DEFAULT_PATIENCE})",
    )
    curves.set_defaults(handler=run_curves)


def curves_payload(project: Path, *, patience: int) -> dict[str, Any]:
    """The diagnosis of every run of the project's training logs, JSON-serialisable.

    Returns:
        ``{"project", "patience", "runs": {run: diagnosis}, "data_size": {...} | None,
        "skipped": {run: reason}, "notes": [...]}``.

    Raises:
        ProjectError: a bad project file, no ``training_logs``, unreadable logs, or no run with
            a validation or test metric.
    """
    from gengap_dash.analysis.learning_curves import (
        data_size_analysis,
        data_size_findings,
        diagnose_runs,
        run_findings,
    )
    from gengap_dash.data.training_logs import load_training_runs
    from gengap_dash.findings import to_json
    from gengap_dash.findings.learning_curves import verdict_text
    from gengap_dash.project.spec import load_project

    if isinstance(patience, bool) or patience < 1:
        raise ProjectError(f"--patience is {patience}; expected a positive integer.")
    spec = load_project(project)
    logs = spec.training_logs
    if logs is None:
        raise ProjectError(
            f"{spec.path.name} has no training_logs; add e.g. `training_logs: {{runs: "
            "[logs/metrics.csv]}` to diagnose the learning curves (see docs/project-file.md)."
        )
    runs = load_training_runs(
        logs.runs, metric_names=logs.metric_names, train_sizes=logs.train_sizes
    )
    diagnoses, skipped = diagnose_runs(
        runs, patience=patience, checkpoint_epoch=logs.checkpoint_epoch
    )
    if not diagnoses:
        raise ProjectError(" ".join(skipped.values()))
    notes = list(runs.all_notes())
    try:
        data_size = data_size_analysis(runs)
    except ValueError as error:
        data_size = None
        notes.append(f"No data-size learning curve: {error}")
    return {
        "project": spec.name,
        "patience": patience,
        "runs": {
            name: json_safe(
                {
                    **d.to_dict(),
                    "verdict": verdict_text(run_findings(d)),
                    "findings": to_json(run_findings(d)),
                }
            )
            for name, d in diagnoses.items()
        },
        "data_size": None
        if data_size is None
        else json_safe(
            {
                **data_size.to_dict(),
                "verdict": verdict_text(data_size_findings(data_size)),
                "findings": to_json(data_size_findings(data_size)),
            }
        ),
        "skipped": skipped,
        "notes": notes,
    }


def run_curves(arguments: argparse.Namespace) -> int:
    payload = curves_payload(arguments.project, patience=arguments.patience)
    if arguments.json:
        print(json.dumps(payload, indent=2))
        return 0
    print(f"{payload['project']}: learning curves (early-stopping patience {payload['patience']})")
    print()
    print(curves_table(payload))
    print()
    for name, row in payload["runs"].items():
        print(f"- {name}: {row['verdict']}")
    for name, reason in payload["skipped"].items():
        print(f"- {name}: not diagnosed. {reason}")
    data_size = payload["data_size"]
    if data_size is not None:
        sizes = ", ".join(f"{p['train_size']:,}" for p in data_size["points"])
        print()
        print(
            f"Data size ({data_size['reference_split']} {data_size['metric']} of the runs trained "
            f"on {sizes} samples):"
        )
        print(f"- {data_size['verdict']}")
    if payload["notes"]:
        print()
        print("Notes on the logs:")
        for note in payload["notes"]:
            print(f"- {note}")
    return 0


def curves_table(payload: dict[str, Any]) -> str:
    """A plain-text table of the runs' diagnoses: one row per run."""
    rows = [
        ("run", "size", "metric", "best", "value", "onset", "stop", "kept", "final", "gap", "kind")
    ]
    sizes = {}
    if payload["data_size"] is not None:
        sizes = {p["run"]: p["train_size"] for p in payload["data_size"]["points"]}
    for name, row in payload["runs"].items():
        unit = "" if row["x_axis"] == "epoch" else " (step)"
        rows.append(
            (
                name,
                f"{sizes[name]:,}" if name in sizes else "-",
                f"{row['metric']}{unit}",
                _x(row["best_epoch"]),
                _value(row["best_value"]),
                _x(row["onset_epoch"]),
                _x(row["stop_epoch"]) if row["stop_epoch"] is not None else "never",
                _value(row["stopped_value"]),
                _value(row["final_validation"]),
                _value(row["final_gap"]),
                row["kind"],
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            cell.ljust(width) if column in (0, 2, 10) else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("-" * len(lines[0]))
    legend = (
        "best/value: the best held-out epoch (or step) and value; onset: where overfitting "
        "began; stop/kept: where early stopping would stop and the held-out value it keeps "
        "(restore_best_weights); final: the last held-out value; gap: held-out minus train at the "
        "end, worse is positive."
    )
    lines.append(textwrap.fill(legend, width=100))
    return "\n".join(lines)


def _x(value: float | None) -> str:
    if value is None:
        return "-"
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"


def _value(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
