"""Calibration of a whole project: every split from the workspace's cached logits, each split
bootstrapped with its own stream ``(seed, position in the project)`` — the stream the scorecard
uses, so the overview and the calibration views give the same interval for the same split.

The calibration page, ``gengap calibration`` and ``gengap summary`` all call these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gengap_dash.analysis.calibration.cohorts import CohortCalibration, calibration_by_cohort
from gengap_dash.analysis.calibration.findings import calibration_findings
from gengap_dash.analysis.calibration.recalibration import RecalibrationMethod
from gengap_dash.analysis.calibration.report import CalibrationSummary, calibration_report
from gengap_dash.analysis.calibration.temperature import (
    TemperatureComparison,
    temperature_scaling_comparison,
)
from gengap_dash.findings.model import Finding
from gengap_dash.stats.binning import DEFAULT_N_BINS, BinningStrategy
from gengap_dash.stats.bootstrap import DEFAULT_RESAMPLES, split_stream
from gengap_dash.workspace import Workspace


def split_calibration_reports(
    workspace: Workspace,
    *,
    n_bins: int = DEFAULT_N_BINS,
    strategy: BinningStrategy = "uniform",
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, CalibrationSummary]:
    """Every calibration metric of every split, with intervals (from the logits: NLL is exact)."""
    return {
        split: calibration_report(
            workspace.labels(split),
            workspace.logits(split),
            outputs_are="logits",
            n_bins=n_bins,
            strategy=strategy,
            n_resamples=n_resamples,
            seed=split_stream(seed, position),
        )
        for position, split in enumerate(workspace.split_names)
    }


def split_cohort_calibration(
    workspace: Workspace,
    column: str,
    *,
    n_bins: int = DEFAULT_N_BINS,
    strategy: BinningStrategy = "uniform",
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, CohortCalibration]:
    """Calibration per cohort of the metadata ``column``, for every split."""
    return {
        split: calibration_by_cohort(
            workspace.labels(split),
            workspace.logits(split),
            workspace.split_predictions(split)[column],
            outputs_are="logits",
            n_bins=n_bins,
            strategy=strategy,
            n_resamples=n_resamples,
            seed=split_stream(seed, position),
        )
        for position, split in enumerate(workspace.split_names)
    }


def project_temperature_comparison(
    workspace: Workspace,
    *,
    splits: Sequence[str] | None = None,
    recalibration: RecalibrationMethod = "histogram",
    n_bins: int = DEFAULT_N_BINS,
    strategy: BinningStrategy = "uniform",
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> TemperatureComparison:
    """Temperature scaling fitted on the validation split and applied to ``splits`` (default:
    every split; the validation split is always included)."""
    wanted = set(splits) if splits is not None else set(workspace.split_names)
    roles = workspace.split_roles
    chosen = [s for s in workspace.split_names if s in wanted or roles[s] == "validation"]
    positions = {split: position for position, split in enumerate(workspace.split_names)}
    return temperature_scaling_comparison(
        {split: workspace.logits(split) for split in chosen},
        {split: workspace.labels(split) for split in chosen},
        roles={split: roles[split] for split in chosen},
        recalibration=recalibration,
        n_bins=n_bins,
        strategy=strategy,
        n_resamples=n_resamples,
        seed={split: split_stream(seed, positions[split]) for split in chosen},
    )


def project_calibration_findings(
    workspace: Workspace,
    reports: Mapping[str, CalibrationSummary],
    comparison: TemperatureComparison | None = None,
) -> list[Finding]:
    """The calibration view's findings (headline first, then temperature scaling's), for the
    CLI's ``--json`` and text output and the report; render them with
    ``gengap_dash.findings.render`` / ``to_json``.

    Args:
        reports: split -> summary of the splits to judge (the page judges the held-out splits:
            pass :func:`split_calibration_reports` without the train splits).
        comparison: :func:`project_temperature_comparison`, when there is a validation split.
    """
    return calibration_findings(reports, workspace.split_roles, comparison)
