"""``gengap calibration``: every calibration metric per split and per cohort, temperature scaling
fitted on validation and whether its gain holds under shift; and the calibration numbers that
``gengap summary --json`` gains (:data:`SUMMARY_EXTENSIONS`).

The numbers are those of the dashboard's calibration page: the same library calls with the same
defaults (15 equal-width bins, 1,000 bootstrap resamples, seed 0), from the cached logits.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from gengap_dash.project.errors import ProjectError
from gengap_dash.views.json_values import finite_or_none, json_safe

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


def register(commands: argparse._SubParsersAction) -> None:
    """Add this module's commands to the ``gengap`` parser."""
    parser = commands.add_parser(
        "calibration",
        help="calibration per split and cohort, temperature scaling and whether it survives shift",
        description="Every calibration metric (ECE, adaptive ECE, MCE, RMS, classwise ECE, "
        "Brier, NLL, accuracy, mean confidence, overconfidence) with 95%% bootstrap intervals, "
        "per split and per cohort of the metadata columns; a temperature fitted on the "
        "validation split and applied to every split; risk-coverage at 90%% coverage. JSON: "
        '{"project", "settings", "temperature", "splits": {SPLIT: {METRIC: {"value", "low", '
        '"high"}}}, "cohorts": {COLUMN: {SPLIT: {COHORT: {"n", "too_few", "metrics": {METRIC: '
        '{"value", "low", "high"}}}}}}, "selective"}.',
    )
    parser.add_argument("project", type=Path, help="path to project.yaml (or its folder)")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="cache folder (default: $GENGAP_CACHE_DIR or ~/.cache/gengap)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument(
        "--cohort",
        metavar="COLUMN",
        default=None,
        help="the metadata column whose values are the cohorts (default: every metadata column)",
    )
    parser.add_argument("--bins", type=int, default=15, help="confidence bins (default 15)")
    parser.add_argument(
        "--strategy",
        choices=("uniform", "quantile"),
        default="uniform",
        help="bins of equal width (uniform, default) or equal mass (quantile)",
    )
    parser.add_argument(
        "--resamples",
        type=int,
        default=1000,
        help="bootstrap resamples (default 1000; 0: values without intervals)",
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument(
        "--recalibration",
        choices=("histogram", "isotonic"),
        default="histogram",
        help="the non-parametric recalibration compared with temperature scaling",
    )
    parser.set_defaults(handler=run_calibration)


def run_calibration(arguments: argparse.Namespace) -> int:
    from gengap_dash.cli.trunk_commands import open_workspace
    from gengap_dash.project.spec import load_project

    _check_options(arguments)
    spec = load_project(arguments.project)  # the column is checked before any inference
    columns = cohort_columns(list(spec.metadata), arguments.cohort, spec.path)
    workspace = open_workspace(arguments)
    payload = calibration_payload(
        workspace,
        cohort_columns=columns,
        n_bins=arguments.bins,
        strategy=arguments.strategy,
        n_resamples=arguments.resamples,
        seed=arguments.seed,
        recalibration=arguments.recalibration,
    )
    if arguments.json:
        print(json.dumps(payload, indent=2, allow_nan=False))
    else:
        print(calibration_text(payload))
    return 0


def cohort_columns(metadata: list[str], chosen: str | None, path: Path) -> list[str]:
    """The cohort columns to report: ``chosen`` (checked) or every metadata column.

    Raises:
        ProjectError: ``chosen`` is not one of the project's metadata columns.
    """
    if chosen is None:
        return metadata
    if chosen not in metadata:
        available = ", ".join(metadata) if metadata else "none (the project lists no metadata)"
        raise ProjectError(
            f"--cohort {chosen!r} is not a metadata column of {path}; available: {available}."
        )
    return [chosen]


def calibration_payload(
    workspace,
    *,
    cohort_columns: list[str],
    n_bins: int = 15,
    strategy: str = "uniform",
    n_resamples: int = 1000,
    seed: int = 0,
    recalibration: str = "histogram",
) -> dict[str, Any]:
    """Every calibration number of the project, JSON-serialisable (NaN as ``None``).

    Returns:
        ``{"project", "settings", "temperature": {...} | None, "temperature_reason"?,
        "splits": {SPLIT: {METRIC: {"value", "low", "high"}}},
        "cohorts": {COLUMN: {SPLIT: {COHORT: {"n", "too_few", "metrics": {...}}}}},
        "selective": {"sentence", "coverage", "splits": {SPLIT: {...}}}}``.
    """
    from gengap_dash.analysis.calibration import top_label
    from gengap_dash.analysis.calibration.selective import (
        DEFAULT_COVERAGE,
        risk_at_coverage,
        risk_coverage_curve,
        selective_sentence,
    )
    from gengap_dash.views.calibration import (
        split_calibration_reports,
        split_cohort_calibration,
    )

    options = {"n_bins": n_bins, "strategy": strategy, "n_resamples": n_resamples, "seed": seed}
    names, roles = workspace.split_names, workspace.split_roles
    labels = {split: workspace.labels(split) for split in names}
    logits = {split: workspace.logits(split) for split in names}
    reports = split_calibration_reports(workspace, **options)
    temperature, reason = temperature_payload(workspace, recalibration=recalibration, **options)
    cohorts: dict[str, Any] = {}
    for column in cohort_columns:
        cohorts[column] = {}
        for split, result in split_cohort_calibration(workspace, column, **options).items():
            cohorts[column][split] = {
                cohort: {
                    "n": summary.n_samples,
                    "too_few": bool(result.too_few[cohort]),
                    "metrics": _metrics(summary),
                }
                for cohort, summary in result.summaries.items()
            }
    curves = {
        split: risk_coverage_curve(*top_label(labels[split], logits[split], outputs_are="logits"))
        for split in names
    }
    payload: dict[str, Any] = {
        "project": workspace.name,
        "settings": {
            **options,
            "seed": seed,
            "streams": "split i of the project resamples from default_rng([seed, i])",
            "confidence": 0.95,
            "interval": "basic (bias-corrected) for the binned errors, percentile for the others",
            "min_cohort_samples": _min_cohort_samples(),
        },
        "roles": dict(roles),
        "sizes": {split: report.n_samples for split, report in reports.items()},
        "temperature": temperature,
    }
    if reason:
        payload["temperature_reason"] = reason
    payload["splits"] = {split: _metrics(report) for split, report in reports.items()}
    payload["cohorts"] = cohorts
    payload["selective"] = {
        "coverage": DEFAULT_COVERAGE,
        "sentence": selective_sentence(curves, roles=roles),
        "splits": {
            split: {
                "aurc": curve.aurc,
                "excess_aurc": curve.excess_aurc,
                "error_rate": curve.error_rate,
                "risk_at_coverage": risk_at_coverage(curve, DEFAULT_COVERAGE),
            }
            for split, curve in curves.items()
        },
    }
    return json_safe(payload)


def temperature_payload(
    workspace,
    *,
    n_bins: int = 15,
    strategy: str = "uniform",
    n_resamples: int = 1000,
    seed: int = 0,
    recalibration: str = "histogram",
) -> tuple[dict[str, Any] | None, str]:
    """The temperature fitted on the validation split and its effect on every split.

    Returns:
        ``({"value", "fit_split", "converged", "nll_before", "nll_after", "ece_before": {SPLIT:
        ECE}, "ece_after": {SPLIT: ECE}, "ece_change": {SPLIT: {"value", "low", "high"}},
        "recalibrated_ece": {SPLIT: ECE}, "recalibration", "verdicts": {SPLIT: verdict},
        "explanation", "transfer", "recalibration_note"}, "")``, or ``(None, reason)`` when the
        project has no validation split.
    """
    from gengap_dash.views.calibration import project_temperature_comparison

    roles = workspace.split_roles
    if "validation" not in roles.values():
        listed = ", ".join(f"{split} ({role})" for split, role in roles.items())
        return None, (
            "No split has role 'validation' (splits: " + listed + "); temperature scaling "
            "needs held-out data that is not used to judge it."
        )
    comparison = project_temperature_comparison(
        workspace,
        recalibration=recalibration,
        n_bins=n_bins,
        strategy=strategy,
        n_resamples=n_resamples,
        seed=seed,
    )
    fit = comparison.temperature
    return {
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
        "recalibration": recalibration,
        "recalibrated_ece": {split: s.ece.value for split, s in comparison.recalibrated.items()},
        "verdicts": dict(comparison.verdicts),
        "explanation": comparison.explanation,
        "transfer": comparison.transfer,
        "recalibration_note": comparison.recalibration_note,
    }, ""


def add_calibration(workspace, payload: dict[str, Any]) -> None:
    """Extend a ``gengap summary`` payload with calibration numbers (in place).

    Adds to each ``payload["splits"][SPLIT]`` the metrics of :data:`SUMMARY_METRICS` (values,
    and their 95% intervals under ``"ci"``), and ``payload["temperature"]`` (see
    :func:`temperature_payload`; ``None`` plus ``payload["temperature_reason"]`` without a
    validation split). Intervals use :data:`SUMMARY_RESAMPLES` resamples and seed
    :data:`SUMMARY_SEED`, whatever ``--resamples``/``--seed`` the scorecard got.
    """
    from gengap_dash.views.calibration import split_calibration_reports

    splits = payload.setdefault("splits", {})
    reports = split_calibration_reports(workspace, n_resamples=SUMMARY_RESAMPLES, seed=SUMMARY_SEED)
    for split, report in reports.items():
        entry = splits.setdefault(split, {})
        intervals = entry.setdefault("ci", {})
        for name in SUMMARY_METRICS:
            estimate = getattr(report, name)
            entry[name] = finite_or_none(estimate.value)
            intervals[name] = [finite_or_none(estimate.low), finite_or_none(estimate.high)]
    temperature, reason = temperature_payload(
        workspace, n_resamples=0, seed=SUMMARY_SEED
    )  # point values only: the summary reports ECE before/after, not their intervals
    if temperature is not None:
        temperature.pop("ece_change")  # without resamples it has no interval: left out
    payload["temperature"] = json_safe(temperature)
    if reason:
        payload["temperature_reason"] = reason


SUMMARY_EXTENSIONS = (add_calibration,)
"""Called by ``gengap summary`` as ``add(workspace, payload)``."""


# --------------------------------------------------------------------------------------------
# Text output
# --------------------------------------------------------------------------------------------


def calibration_text(payload: dict[str, Any]) -> str:
    """The payload as readable tables and sentences."""
    settings = payload["settings"]
    binning = "equal-width" if settings["strategy"] == "uniform" else "equal-mass"
    intervals = (
        f"95% bootstrap intervals, {settings['n_resamples']:,} resamples, seed {settings['seed']}"
        if settings["n_resamples"]
        else "no intervals (--resamples 0)"
    )
    lines = [
        f"{payload['project']}: calibration ({settings['n_bins']} {binning} bins; {intervals})",
        "",
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
    from gengap_dash.analysis.calibration import MIN_COHORT_SAMPLES

    return MIN_COHORT_SAMPLES


def _check_options(arguments: argparse.Namespace) -> None:
    if arguments.bins < 1:
        raise ProjectError(f"--bins is {arguments.bins}; expected a positive integer.")
    if arguments.resamples < 0:
        raise ProjectError(f"--resamples is {arguments.resamples}; expected 0 or more.")
    if arguments.seed < 0:
        raise ProjectError(f"--seed is {arguments.seed}; expected a non-negative integer.")
