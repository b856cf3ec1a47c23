"""The learning-curves view: per training run, the best epoch, where overfitting began, where
early stopping would have stopped, the final gap, and whether more data would close it. Reads the
project's training logs only (no inference)."""

from __future__ import annotations

import argparse
import textwrap
from dataclasses import dataclass, field
from typing import Any

from gengap_dash.analysis.learning_curves import (
    DEFAULT_PATIENCE,
    DataSizeAnalysis,
    RunDiagnosis,
    data_size_analysis,
    data_size_findings,
    diagnose_runs,
    run_findings,
)
from gengap_dash.data.training_logs import load_training_runs, logs_signature
from gengap_dash.findings.model import Finding, by_severity
from gengap_dash.findings.render import render, to_json
from gengap_dash.project.errors import ProjectError
from gengap_dash.store.json_values import json_safe
from gengap_dash.views.registry import View, register
from gengap_dash.views.report_html import findings_block, paragraph, table_block


@dataclass(frozen=True)
class CurvesOptions:
    """``patience``: early-stopping patience in epochs (or checks)."""

    patience: int = DEFAULT_PATIENCE


@dataclass(frozen=True)
class LearningCurvesResult:
    """Every diagnosed run, the data-size analysis (``None`` without runs of several sizes),
    runs that could not be diagnosed with the reason, and notes on the logs."""

    patience: int
    diagnoses: dict[str, RunDiagnosis]
    data_size: DataSizeAnalysis | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


@register
class LearningCurvesView(View):
    name = "curves"
    title = "Learning curves"
    question = (
        "When did the gap between train and validation open, would early stopping have caught "
        "it, and would more data close it?"
    )
    needs = frozenset({"training_logs"})
    page = "pages/learning_curves.py"
    order = 10
    Options = CurvesOptions

    def input_key(self, workspace) -> dict[str, Any]:
        logs = workspace.spec.training_logs
        return {
            "spec": [str(workspace.spec.path), workspace.spec.path.stat().st_mtime_ns],
            "logs": logs_signature(logs.runs) if logs else None,
        }

    def compute(self, workspace, options: CurvesOptions) -> LearningCurvesResult:
        logs = workspace.spec.training_logs
        if logs is None:  # pragma: no cover - unavailable() says so first
            raise ProjectError("The project file lists no training_logs.")
        runs = load_training_runs(
            logs.runs, metric_names=logs.metric_names, train_sizes=logs.train_sizes
        )
        diagnoses, skipped = diagnose_runs(
            runs, patience=options.patience, checkpoint_epoch=logs.checkpoint_epoch
        )
        if not diagnoses:
            raise ProjectError(" ".join(skipped.values()))
        notes = list(runs.all_notes())
        try:
            data_size = data_size_analysis(runs)
        except ValueError as error:
            data_size = None
            notes.append(f"No data-size learning curve: {error}")
        return LearningCurvesResult(
            patience=options.patience,
            diagnoses=dict(diagnoses),
            data_size=data_size,
            skipped=dict(skipped),
            notes=tuple(notes),
        )

    def findings(self, result: LearningCurvesResult) -> list[Finding]:
        found = [f for diagnosis in result.diagnoses.values() for f in run_findings(diagnosis)]
        if result.data_size is not None:
            found.extend(data_size_findings(result.data_size))
        return by_severity(found)

    def headline(self, result: LearningCurvesResult) -> list[Finding]:
        first = next(iter(result.diagnoses.values()))
        lead = by_severity(run_findings(first))[:1]
        if result.data_size is not None:
            lead.extend(data_size_findings(result.data_size)[:1])
        return lead

    def to_json(self, result: LearningCurvesResult) -> dict[str, Any]:
        """``{"patience", "runs": {RUN: diagnosis + "verdict" + "findings"}, "data_size",
        "skipped", "notes"}``."""
        data_size = result.data_size
        return {
            "patience": result.patience,
            "runs": {
                name: json_safe(
                    {
                        **diagnosis.to_dict(),
                        "verdict": _verdict(run_findings(diagnosis)),
                        "findings": to_json(run_findings(diagnosis)),
                    }
                )
                for name, diagnosis in result.diagnoses.items()
            },
            "data_size": None
            if data_size is None
            else json_safe(
                {
                    **data_size.to_dict(),
                    "verdict": _verdict(data_size_findings(data_size)),
                    "findings": to_json(data_size_findings(data_size)),
                }
            ),
            "skipped": dict(result.skipped),
            "notes": list(result.notes),
        }

    def heading(self, result: LearningCurvesResult) -> str:
        return f" (early-stopping patience {result.patience})"

    def to_text(self, result: LearningCurvesResult) -> str:
        payload = self.to_json(result)
        lines = [curves_table(payload), ""]
        lines += [f"- {name}: {row['verdict']}" for name, row in payload["runs"].items()]
        lines += [f"- {name}: not diagnosed. {why}" for name, why in payload["skipped"].items()]
        data_size = payload["data_size"]
        if data_size is not None:
            sizes = ", ".join(f"{p['train_size']:,}" for p in data_size["points"])
            lines += [
                "",
                f"Data size ({data_size['reference_split']} {data_size['metric']} of the runs "
                f"trained on {sizes} samples):",
                f"- {data_size['verdict']}",
            ]
        if payload["notes"]:
            lines += ["", "Notes on the logs:", *(f"- {note}" for note in payload["notes"])]
        return "\n".join(lines)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--patience",
            type=int,
            default=DEFAULT_PATIENCE,
            help=f"early-stopping patience in epochs or checks (default {DEFAULT_PATIENCE})",
        )

    def options_from_arguments(self, arguments: argparse.Namespace) -> CurvesOptions:
        patience = arguments.patience
        if isinstance(patience, bool) or patience < 1:
            raise ProjectError(f"--patience is {patience}; expected a positive integer.")
        return CurvesOptions(patience=patience)

    def report_section(self, result: LearningCurvesResult) -> str:
        import pandas as pd

        from gengap_dash.plots.learning_curves import learning_curves_figure
        from gengap_dash.views.report_html import figure_block

        payload = self.to_json(result)
        parts = [findings_block(self.findings(result)[:4])]
        name, diagnosis = next(iter(result.diagnoses.items()))
        analysis = (
            diagnosis.analyses.get(diagnosis.metric) if hasattr(diagnosis, "analyses") else None
        )
        if analysis is not None:
            from gengap_dash.analysis.learning_curves import curves_takeaway

            parts.append(
                figure_block(
                    learning_curves_figure(analysis, checkpoint_epoch=diagnosis.checkpoint_epoch),
                    takeaway=render(curves_takeaway(diagnosis)),
                    shows=f"Train and held-out {diagnosis.metric} of run {name} per epoch, with "
                    "the best epoch, the onset of overfitting and where early stopping would "
                    "have stopped.",
                )
            )
        rows = [
            {"run": run, "metric": row["metric"], "best epoch": row["best_epoch"],
             "onset": row["onset_epoch"], "early stop": row["stop_epoch"],
             "verdict": row["verdict"]}
            for run, row in payload["runs"].items()
        ]  # fmt: skip
        parts.append(table_block(pd.DataFrame(rows)))
        if payload["notes"]:
            parts.append(
                paragraph("Notes on the logs: " + " ".join(payload["notes"]), css="caption")
            )
        return "".join(parts)


def _verdict(findings: list[Finding]) -> str:
    return " ".join(render(finding) for finding in findings)


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
