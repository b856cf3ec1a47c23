"""Calibration of a whole project: every split from the workspace's cached logits, each split
bootstrapped with its own stream ``(seed, position in the project)`` — the stream the scorecard
uses, so the overview and the calibration views give the same interval for the same split.

The calibration page, ``gengap calibration`` and ``gengap summary`` all call these; the
registered :class:`CalibrationView` computes every piece once per options and caches it on disk.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from gengap_dash.analysis.calibration.cohorts import CohortCalibration, calibration_by_cohorts
from gengap_dash.analysis.calibration.findings import calibration_findings, selective_finding
from gengap_dash.analysis.calibration.recalibration import RecalibrationMethod
from gengap_dash.analysis.calibration.report import (
    CalibrationSummary,
    calibration_report,
    top_label,
)
from gengap_dash.analysis.calibration.selective import (
    DEFAULT_COVERAGE,
    RiskCoverage,
    risk_at_coverage,
    risk_coverage_curve,
)
from gengap_dash.analysis.calibration.temperature import (
    TemperatureComparison,
    temperature_scaling_comparison,
)
from gengap_dash.findings.model import Finding
from gengap_dash.findings.render import render
from gengap_dash.project.defaults import DEFAULT_SEED
from gengap_dash.project.errors import ProjectError
from gengap_dash.stats.binning import DEFAULT_N_BINS, BinningStrategy
from gengap_dash.stats.bootstrap import DEFAULT_RESAMPLES, split_stream
from gengap_dash.store.json_values import finite_or_none, json_safe
from gengap_dash.views.registry import View, register
from gengap_dash.views.report_html import figure_block, findings_block, paragraph
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
    return _per_split(
        workspace,
        lambda split, stream: calibration_report(
            workspace.labels(split),
            workspace.logits(split),
            outputs_are="logits",
            n_bins=n_bins,
            strategy=strategy,
            n_resamples=n_resamples,
            seed=stream,
        ),
        seed=seed,
    )


def split_cohort_calibration(
    workspace: Workspace,
    columns: Sequence[str],
    *,
    n_bins: int = DEFAULT_N_BINS,
    strategy: BinningStrategy = "uniform",
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, dict[str, CohortCalibration]]:
    """Calibration per cohort of each metadata column in ``columns``, for every split:
    ``{column: {split: cohorts}}``; every column of a split shares the split's resamples."""
    by_split = _per_split(
        workspace,
        lambda split, stream: calibration_by_cohorts(
            workspace.labels(split),
            workspace.logits(split),
            {column: workspace.split_predictions(split)[column] for column in columns},
            outputs_are="logits",
            n_bins=n_bins,
            strategy=strategy,
            n_resamples=n_resamples,
            seed=stream,
        ),
        seed=seed,
    )
    return {column: {split: by_split[split][column] for split in by_split} for column in columns}


def _per_split(workspace: Workspace, analyse, *, seed: int) -> dict:
    """``analyse(split, stream)`` for every split in project order, each split drawing from its
    own bootstrap stream ``split_stream(seed, position)`` (the scorecard's)."""
    return {
        split: analyse(split, split_stream(seed, position))
        for position, split in enumerate(workspace.split_names)
        if workspace.is_labelled(split)  # unlabelled splits: no calibration without labels
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
    chosen = [
        s
        for s in workspace.split_names
        if (s in wanted or roles[s] == "validation") and workspace.is_labelled(s)
    ]
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


SUMMARY_METRICS: tuple[str, ...] = (
    "adaptive_ece",
    "mce",
    "rms_ce",
    "classwise_ece",
    "overconfidence",
)
"""The calibration metrics ``gengap summary --json`` adds to each split (the scorecard already
has ECE, Brier and NLL)."""

SUMMARY_RESAMPLES = 1000
"""Bootstrap resamples behind the intervals that ``gengap summary`` adds: the page's and
``gengap calibration``'s default, so that all three agree. Computing them costs about as much as
one pass of the scorecard's own bootstrap (``docs/benchmarks.md``: about 1 s for every metric of
1,000,000 predictions); the temperature's before/after ECE are point values (no resampling)."""

SUMMARY_SEED = 0
"""Seed of those intervals (the page's and ``gengap calibration``'s default)."""

_TEXT_ERRORS = ("ece", "adaptive_ece", "mce", "rms_ce", "classwise_ece")
_TEXT_SCORES = ("brier", "nll", "accuracy", "mean_confidence", "overconfidence")
_TEXT_HEADERS = {
    "ece": "ECE %",
    "adaptive_ece": "adaptive ECE %",
    "mce": "MCE %",
    "rms_ce": "RMS CE %",
    "classwise_ece": "classwise ECE %",
    "brier": "Brier",
    "nll": "NLL (nats)",
    "accuracy": "accuracy %",
    "mean_confidence": "confidence %",
    "overconfidence": "conf - acc (pts)",
}


@dataclass(frozen=True)
class CalibrationOptions:
    """The calibration view's options (defaults: the page's and ``gengap calibration``'s)."""

    n_bins: int = DEFAULT_N_BINS
    strategy: str = "uniform"
    n_resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED
    recalibration: str = "histogram"
    cohort: str | None = None
    """The metadata column whose values are the cohorts (``None``: every metadata column)."""


@dataclass(frozen=True)
class CalibrationResult:
    """Every calibration number of a project for one set of options."""

    options: CalibrationOptions
    roles: dict[str, str]
    reports: dict[str, CalibrationSummary]
    comparison: TemperatureComparison | None
    temperature_reason: str
    cohorts: dict[str, dict[str, CohortCalibration]] = field(default_factory=dict)
    curves: dict[str, RiskCoverage] = field(default_factory=dict)
    too_many_cohorts: dict[str, int] = field(default_factory=dict)
    """Metadata columns left out of :attr:`cohorts`: column -> its number of distinct values
    (more than :data:`MAX_COHORTS`: an identifier, not a cohort)."""


MAX_COHORTS = 50
"""A metadata column with more distinct values than this (over every split) is not compared
as cohorts: it is an identifier or a continuous value, and a summary per value would be noise."""


def cohort_columns(metadata: Sequence[str], chosen: str | None, where: str) -> list[str]:
    """The cohort columns to report: ``chosen`` (checked) or every metadata column.

    Raises:
        ProjectError: ``chosen`` is not one of the project's metadata columns.
    """
    if chosen is None:
        return list(metadata)
    if chosen not in metadata:
        available = ", ".join(metadata) if metadata else "none (the project lists no metadata)"
        raise ProjectError(
            f"--cohort {chosen!r} is not a metadata column of {where}; available: {available}."
        )
    return [chosen]


def no_validation_reason(roles: Mapping[str, str]) -> str:
    listed = ", ".join(f"{split} ({role})" for split, role in roles.items())
    return (
        "No split has role 'validation' (splits: " + listed + "); temperature scaling "
        "needs held-out data that is not used to judge it."
    )


@register
class CalibrationView(View):
    name = "calibration"
    title = "Calibration"
    question = (
        "Can the model's confidence be trusted on each split and cohort, does temperature "
        "scaling fitted on validation survive shift, and how much does abstaining help?"
    )
    page = "pages/calibration.py"
    order = 20
    version = 3  # 2: no bootstrap replicates kept, risk-coverage knots thinned; 3: cohorts share
    # their split's resamples
    Options = CalibrationOptions

    def compute(self, workspace: Workspace, options: CalibrationOptions) -> CalibrationResult:
        settings = {
            "n_bins": options.n_bins,
            "strategy": options.strategy,
            "n_resamples": options.n_resamples,
            "seed": options.seed,
        }
        columns = cohort_columns(workspace.spec.metadata, options.cohort, str(workspace.spec.path))
        roles = dict(workspace.split_roles)
        comparison, reason = None, ""
        if "validation" in roles.values():
            comparison = project_temperature_comparison(
                workspace, recalibration=options.recalibration, **settings
            )
        else:
            reason = no_validation_reason(roles)
        curves = {
            split: risk_coverage_curve(
                *top_label(workspace.labels(split), workspace.logits(split), outputs_are="logits")
            )
            for split in workspace.labelled_splits
        }
        # The stored result keeps intervals, not the bootstrap replicates behind them (the
        # paired changes are computed above): 1,000 replicates x 10 metrics per split and cohort
        # would make up most of the result's size at a million predictions.
        reports = split_calibration_reports(workspace, **settings)
        distinct = {
            column: int(
                pd.concat(
                    [workspace.split_predictions(split)[column] for split in workspace.split_names]
                ).nunique(dropna=False)
            )
            for column in columns
        }
        return CalibrationResult(
            options=options,
            roles=roles,
            reports={split: report.without_replicates() for split, report in reports.items()},
            comparison=comparison.without_replicates() if comparison is not None else None,
            temperature_reason=reason,
            cohorts={
                column: {split: cohorts.without_replicates() for split, cohorts in by_split.items()}
                for column, by_split in split_cohort_calibration(
                    workspace,
                    [column for column in columns if distinct[column] <= MAX_COHORTS],
                    **settings,
                ).items()
            },
            curves=curves,
            too_many_cohorts={
                column: count for column, count in distinct.items() if count > MAX_COHORTS
            },
        )

    def findings(self, result: CalibrationResult) -> list[Finding]:
        held_out = {
            split: report
            for split, report in result.reports.items()
            if result.roles.get(split) != "train"
        }
        return calibration_findings(held_out or result.reports, result.roles, result.comparison)

    def headline(self, result: CalibrationResult) -> list[Finding]:
        """The headline, then what temperature scaling does on validation (whether it survives
        shift, split by split, is in the view's own text, section and page)."""
        keep = ("calibration.headline", "calibration.temperature_fit")
        return [finding for finding in self.findings(result) if finding.kind in keep]

    def heading(self, result: CalibrationResult) -> str:
        options = result.options
        binning = "equal-width" if options.strategy == "uniform" else "equal-mass"
        intervals = (
            f"95% bootstrap intervals, {options.n_resamples:,} resamples, seed {options.seed}"
            if options.n_resamples
            else "no intervals (--resamples 0)"
        )
        return f" ({options.n_bins} {binning} bins; {intervals})"

    def to_json(self, result: CalibrationResult) -> dict[str, Any]:
        """``{"settings", "roles", "sizes", "temperature": {...} | None, "temperature_reason"?,
        "splits": {SPLIT: {METRIC: {"value", "low", "high"}}}, "cohorts": {COLUMN: {SPLIT:
        {COHORT: {"n", "too_few", "metrics": {...}}}}}, "selective": {...}}``."""
        from gengap_dash.analysis.calibration.cohorts import MIN_COHORT_SAMPLES

        options = result.options
        payload: dict[str, Any] = {
            "settings": {
                "n_bins": options.n_bins,
                "strategy": options.strategy,
                "n_resamples": options.n_resamples,
                "seed": options.seed,
                "streams": "split i of the project resamples from default_rng([seed, i])",
                "confidence": 0.95,
                "interval": "basic (bias-corrected) for the binned errors, percentile for the "
                "others",
                "min_cohort_samples": MIN_COHORT_SAMPLES,
            },
            "roles": dict(result.roles),
            "sizes": {split: report.n_samples for split, report in result.reports.items()},
            "temperature": temperature_payload(result),
        }
        if result.temperature_reason:
            payload["temperature_reason"] = result.temperature_reason
        payload["splits"] = {split: _metrics(report) for split, report in result.reports.items()}
        payload["cohorts"] = {
            column: {
                split: {
                    cohort: {
                        "n": summary.n_samples,
                        "too_few": bool(cohorts.too_few[cohort]),
                        "metrics": _metrics(summary),
                    }
                    for cohort, summary in cohorts.summaries.items()
                }
                for split, cohorts in per_split.items()
            }
            for column, per_split in result.cohorts.items()
        }
        payload["selective"] = {
            "coverage": DEFAULT_COVERAGE,
            "sentence": render(selective_finding(result.curves, result.roles)),
            "splits": {
                split: {
                    "aurc": curve.aurc,
                    "excess_aurc": curve.excess_aurc,
                    "error_rate": curve.error_rate,
                    "risk_at_coverage": risk_at_coverage(curve, DEFAULT_COVERAGE),
                }
                for split, curve in result.curves.items()
            },
        }
        return json_safe(payload)

    def to_text(self, result: CalibrationResult) -> str:
        return calibration_text(self.to_json(result))

    def extend_summary(self, result: CalibrationResult, payload: dict[str, Any]) -> None:
        """Add to each ``payload["splits"][SPLIT]`` the metrics of :data:`SUMMARY_METRICS` (and
        their intervals under ``"ci"``), and ``payload["temperature"]`` (``None`` plus
        ``payload["temperature_reason"]`` without a validation split)."""
        splits = payload.setdefault("splits", {})
        for split, report in result.reports.items():
            entry = splits.setdefault(split, {})
            intervals = entry.setdefault("ci", {})
            for name in SUMMARY_METRICS:
                estimate = getattr(report, name)
                entry[name] = finite_or_none(estimate.value)
                intervals[name] = [finite_or_none(estimate.low), finite_or_none(estimate.high)]
        payload["temperature"] = temperature_payload(result)
        if result.temperature_reason:
            payload["temperature_reason"] = result.temperature_reason

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--cohort",
            metavar="COLUMN",
            default=None,
            help="the metadata column whose values are the cohorts (default: every one)",
        )
        parser.add_argument("--bins", type=int, default=DEFAULT_N_BINS, help="confidence bins")
        parser.add_argument(
            "--strategy",
            choices=("uniform", "quantile"),
            default="uniform",
            help="bins of equal width (uniform, default) or equal mass (quantile)",
        )
        parser.add_argument(
            "--resamples",
            type=int,
            default=DEFAULT_RESAMPLES,
            help="bootstrap resamples (default 1000; 0: values without intervals)",
        )
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="bootstrap seed")
        parser.add_argument(
            "--recalibration",
            choices=("histogram", "isotonic"),
            default="histogram",
            help="the non-parametric recalibration compared with temperature scaling",
        )

    def options_from_arguments(self, arguments: argparse.Namespace) -> CalibrationOptions:
        if arguments.bins < 1:
            raise ProjectError(f"--bins is {arguments.bins}; expected a positive integer.")
        if arguments.resamples < 0:
            raise ProjectError(f"--resamples is {arguments.resamples}; expected 0 or more.")
        if arguments.seed < 0:
            raise ProjectError(f"--seed is {arguments.seed}; expected a non-negative integer.")
        if arguments.cohort is not None:
            from gengap_dash.project.spec import load_project

            spec = load_project(arguments.project)  # checked before any inference
            cohort_columns(spec.metadata, arguments.cohort, str(spec.path))
        return CalibrationOptions(
            n_bins=arguments.bins,
            strategy=arguments.strategy,
            n_resamples=arguments.resamples,
            seed=arguments.seed,
            recalibration=arguments.recalibration,
            cohort=arguments.cohort,
        )

    def report_section(self, result: CalibrationResult) -> str:
        from gengap_dash.plots.calibration import reliability_diagram
        from gengap_dash.plots.style import split_colors

        held_out = [s for s in result.reports if result.roles.get(s) != "train"]
        bins = {split: result.reports[split].reliability for split in held_out}
        parts = [findings_block(self.findings(result))]
        if bins:
            parts.append(
                figure_block(
                    reliability_diagram(bins, colors=split_colors(result.roles), layout="overlay"),
                    takeaway=render(self.findings(result)[0]) if self.findings(result) else "",
                    shows="Each point is one confidence bin: its mean confidence against how "
                    "often the model was right; on the diagonal the model is calibrated, below "
                    "it overconfident.",
                )
            )
        payload = self.to_json(result)
        parts.append(paragraph(f"Selective prediction: {payload['selective']['sentence']}"))
        return "".join(parts)


def temperature_payload(result: CalibrationResult) -> dict[str, Any] | None:
    """The temperature fitted on the validation split and its effect on every split, or
    ``None`` without a validation split."""
    comparison = result.comparison
    if comparison is None:
        return None
    fit = comparison.temperature
    return json_safe(
        {
            "value": fit.temperature,
            "fit_split": comparison.fit_split,
            "converged": fit.converged,
            "nll_before": fit.nll_before,
            "nll_after": fit.nll_after,
            "ece_before": {split: s.ece.value for split, s in comparison.before.items()},
            "ece_after": {split: s.ece.value for split, s in comparison.after.items()},
            "ece_change": {
                split: estimate.to_dict() for split, estimate in comparison.ece_change.items()
            },
            "recalibration": result.options.recalibration,
            "recalibrated_ece": {
                split: s.ece.value for split, s in comparison.recalibrated.items()
            },
            "verdicts": dict(comparison.verdicts),
            "explanation": comparison.explanation,
            "transfer": comparison.transfer,
            "recalibration_note": comparison.recalibration_note,
        }
    )


def calibration_text(payload: dict[str, Any]) -> str:
    """The payload as readable tables and sentences."""
    settings = payload["settings"]
    lines = [
        "Calibration errors (value [95% interval]; binned errors: bias-corrected interval)",
        *_split_table(payload, _TEXT_ERRORS),
        "",
        "Proper scores, accuracy and confidence",
        *_split_table(payload, _TEXT_SCORES),
        "",
    ]
    temperature = payload["temperature"]
    if temperature is None:
        lines += [f"Temperature scaling: not fitted. {payload['temperature_reason']}", ""]
    else:
        lines += [f"Temperature scaling (fit on {temperature['fit_split']}):"]
        lines += [f"  {text}" for text in _sentences(temperature)]
        lines += ["", *_temperature_table(temperature), ""]
    lines += [f"Selective prediction: {payload['selective']['sentence']}", ""]
    for column, per_split in payload["cohorts"].items():
        lines += [f"By {column} (too few = under {settings['min_cohort_samples']} samples: "]
        lines[-1] += "no interval)"
        lines += [*_cohort_table(column, per_split), ""]
    return "\n".join(lines).rstrip()


def _split_table(payload: dict[str, Any], metrics: tuple[str, ...]) -> list[str]:
    width = max(len("split"), *(len(name) for name in payload["splits"])) + 2
    cells = {
        split: [_cell(name, values[name]) for name in metrics]
        for split, values in payload["splits"].items()
    }
    widths = [
        max(len(_TEXT_HEADERS[name]), *(len(row[i]) for row in cells.values())) + 2
        for i, name in enumerate(metrics)
    ]
    header = f"{'split':<{width}}{'n':>7}  " + "".join(
        f"{_TEXT_HEADERS[name]:>{w}}" for name, w in zip(metrics, widths, strict=True)
    )
    rows = [header, "-" * len(header)]
    for split, row in cells.items():
        n = payload["sizes"][split]
        rows.append(
            f"{split:<{width}}{n:>7}  "
            + "".join(f"{cell:>{w}}" for cell, w in zip(row, widths, strict=True))
        )
    return rows


def _temperature_table(temperature: dict[str, Any]) -> list[str]:
    method = "histogram" if temperature["recalibration"] == "histogram" else "isotonic"
    splits = list(temperature["ece_before"])
    width = max(len("split"), *(len(split) for split in splits)) + 2
    header = (
        f"{'split':<{width}}{'ECE before':>12}{'ECE after T':>13}{'change (pts) [95%]':>26}"
        f"{f'ECE {method}':>16}  verdict"
    )
    rows = [header, "-" * len(header)]
    for split in splits:
        change = temperature["ece_change"][split]
        rows.append(
            f"{split:<{width}}{_percent(temperature['ece_before'][split]):>12}"
            f"{_percent(temperature['ece_after'][split]):>13}"
            f"{_points_interval(change):>26}"
            f"{_percent(temperature['recalibrated_ece'][split]):>16}  "
            f"{temperature['verdicts'][split]}"
        )
    return rows


def _cohort_table(column: str, per_split: dict[str, Any]) -> list[str]:
    cohorts = [cohort for values in per_split.values() for cohort in values]
    split_width = max(len("split"), *(len(split) for split in per_split)) + 2
    cohort_width = max(len(column), *(len(cohort) for cohort in cohorts), 1) + 2
    header = (
        f"{'split':<{split_width}}{column:<{cohort_width}}{'n':>6}{'ECE %':>22}"
        f"{'conf - acc (pts)':>24}{'accuracy %':>22}"
    )
    rows = [header, "-" * len(header)]
    for split, values in per_split.items():
        for cohort, entry in values.items():
            metrics = entry["metrics"]
            rows.append(
                f"{split:<{split_width}}{cohort:<{cohort_width}}{entry['n']:>6}"
                f"{_cell('ece', metrics['ece']):>22}"
                f"{_cell('overconfidence', metrics['overconfidence']):>24}"
                f"{_cell('accuracy', metrics['accuracy']):>22}"
                + ("  too few" if entry["too_few"] else "")
            )
    return rows


def _sentences(temperature: dict[str, Any]) -> list[str]:
    keys = ("explanation", "transfer", "recalibration_note")
    return [temperature[key] for key in keys if temperature.get(key)]


def _cell(name: str, estimate: dict[str, float | None]) -> str:
    """``16.3 [13.0, 19.0]`` (percent), ``+2.3 [+1.0, +3.5]`` (points), ``0.149 [0.05, ...]``."""
    value, low, high = estimate["value"], estimate["low"], estimate["high"]
    if value is None:
        return "n/a"
    if name == "overconfidence":
        form = "{:+.1f}"
        scale = 100.0
    elif name in ("brier", "nll"):
        form, scale = "{:.3f}", 1.0
    else:
        form, scale = "{:.1f}", 100.0
    text = form.format(scale * value)
    if low is None or high is None:
        return text
    return f"{text} [{form.format(scale * low)}, {form.format(scale * high)}]"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _points_interval(estimate: dict[str, float | None]) -> str:
    return _cell("overconfidence", estimate)


def _metrics(summary) -> dict[str, dict[str, float]]:
    return {name: estimate.to_dict() for name, estimate in summary.metrics().items()}


def _min_cohort_samples() -> int:
    from gengap_dash.analysis.calibration.cohorts import MIN_COHORT_SAMPLES

    return MIN_COHORT_SAMPLES
