"""Streamlit glue for the calibration page: the controls, the cached analyses, and the tables and
takeaways (sentences computed from the numbers) that the page shows next to its charts.

Every number comes from ``gengap_dash.analysis.calibration`` and
``gengap_dash.analysis.calibration.selective``, from the
cached logits, with the defaults of ``gengap calibration`` (seed 0, 1,000 resamples), so the
page, ``gengap calibration`` and the calibration numbers of ``gengap summary --json`` agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from gengap_dash.analysis.calibration.cohorts import CohortCalibration
from gengap_dash.analysis.calibration.findings import (
    cohort_extremes_finding,
    diagrams_finding,
    headline_finding,
    metrics_range_finding,
    selective_finding,
    temperature_findings,
    worst_bin_finding,
)
from gengap_dash.analysis.calibration.report import (
    METRIC_LABELS,
    METRIC_UNITS,
    CalibrationSummary,
)
from gengap_dash.analysis.calibration.selective import (
    DEFAULT_COVERAGE,
    RiskCoverage,
    risk_at_coverage,
)
from gengap_dash.analysis.calibration.temperature import TemperatureComparison
from gengap_dash.findings.calibration import GAIN_VERDICT_LABELS
from gengap_dash.findings.model import worst
from gengap_dash.findings.render import render
from gengap_dash.findings.tables import with_interval
from gengap_dash.findings.words import compact, number, percent, points
from gengap_dash.plots.calibration import (
    MIN_RELIABLE_BIN,
    calibration_metrics_chart,
    cohort_calibration_chart,
    reliability_diagram,
    temperature_comparison_chart,
    temperature_reliability_diagrams,
)
from gengap_dash.plots.selective import risk_coverage_chart
from gengap_dash.project.errors import ProjectError
from gengap_dash.stats.binning import DEFAULT_N_BINS
from gengap_dash.stats.bootstrap import Estimate
from gengap_dash.ui.analysis import cached_figure, cached_on_disk, view_result
from gengap_dash.ui.layout import escape_markdown, verdict_list
from gengap_dash.views.calibration import (
    MAX_COHORTS,
    CalibrationOptions,
    CalibrationResult,
    project_temperature_comparison,
)
from gengap_dash.workspace import Workspace

N_RESAMPLES = 1000
"""Bootstrap replicates behind every interval on the page (as ``gengap calibration``)."""

SEED = 0
"""Bootstrap seed (as ``gengap calibration`` and ``gengap summary``)."""

TABS = ("Overview", "Reliability", "Temperature scaling", "Cohorts", "Selective prediction")
"""The page's tabs, under the controls and the headline (the labels are stable: a tab keeps
its place across reruns)."""

STRATEGIES = {"uniform": "Equal width", "quantile": "Equal mass"}
LAYOUTS = {"side_by_side": "Side by side", "overlay": "Overlaid"}
RECALIBRATIONS = {"histogram": "Histogram binning", "isotonic": "Isotonic regression"}
COHORT_METRICS = ("ece", "adaptive_ece", "mce", "overconfidence", "brier", "nll", "accuracy")
DIAGRAMS_PER_ROW = 4
"""At most this many side-by-side reliability diagrams per row; more splits wrap onto rows of
even length (7 splits: 4 and 3)."""


@dataclass(frozen=True)
class Controls:
    """What the reader chose at the top of the page (it applies to every tab)."""

    splits: list[str]
    n_bins: int
    strategy: str


def _say_unlabelled(workspace: Workspace) -> None:
    from gengap_dash.findings.render import render
    from gengap_dash.findings.unlabelled import unlabelled_findings
    from gengap_dash.views._unlabelled import unlabelled_of

    needs = ("reliability diagrams", "ECE", "temperature scaling")
    for finding in unlabelled_findings(unlabelled_of(workspace), view="calibration", needs=needs):
        st.info(render(finding))


def controls(workspace: Workspace) -> Controls:
    """The page's shared controls: splits, bins, binning strategy."""
    roles = {s: r for s, r in workspace.split_roles.items() if workspace.is_labelled(s)}
    default = [split for split, role in roles.items() if role != "train"] or list(roles)
    _say_unlabelled(workspace)  # splits without labels: said in place of their calibration
    with st.container(border=True):
        splits = st.multiselect(
            "Splits", list(roles), default=default, key="calibration_splits",
            help="Train is left out by default: a model is nearly always well calibrated on the "
            "data it was trained on, which says little about new data.",
        )  # fmt: skip
        bins_column, strategy_column = st.columns(2, gap="large")
        n_bins = bins_column.slider(
            "Confidence bins", 5, 30, DEFAULT_N_BINS, key="calibration_bins",
            help="How many groups the confidences are cut into for ECE, MCE, RMS and the diagrams.",
        )  # fmt: skip
        strategy = strategy_column.radio(
            "Binning", list(STRATEGIES), format_func=STRATEGIES.get, key="calibration_strategy",
            horizontal=True,
            help="Equal width: bins of the same confidence range. Equal mass: bins with the same "
            "number of samples (no empty bins; better when most predictions are very confident).",
        )  # fmt: skip
    return Controls(list(splits), int(n_bins), str(strategy))


def diagram_layout() -> str:
    """Side by side or overlaid reliability diagrams (the reliability tab's own control)."""
    layout = st.radio(
        "Diagrams", list(LAYOUTS), format_func=LAYOUTS.get, key="calibration_layout",
        horizontal=True, help="One reliability diagram per split, or all splits in one.",
    )  # fmt: skip
    return str(layout)


def cohort_controls(workspace: Workspace) -> tuple[str | None, str]:
    """The metadata column to split by and the metric; ``None`` after saying so when the
    project has no metadata column."""
    columns = list(workspace.spec.metadata)
    if not columns:
        st.info(NO_METADATA_MESSAGE)
        return None, "ece"
    left, right, _ = st.columns([2, 2, 3])
    column = left.selectbox(
        "Cohort column", columns, key="calibration_cohort",
        help="A metadata column from the project file; each of its values is a cohort.",
    )  # fmt: skip
    metric = right.selectbox(
        "Metric", COHORT_METRICS, format_func=METRIC_LABELS.get, key="calibration_cohort_metric"
    )
    return str(column), str(metric)


NO_METADATA_MESSAGE = (
    "This project lists no metadata columns, so there are no cohorts to compare. Add columns "
    "such as source, site or sensor under `metadata:` in the project file."
)


def settings_caption(chosen: Controls) -> str:
    strategy = STRATEGIES[chosen.strategy].lower()
    return (
        f"Value (95% bootstrap interval; {N_RESAMPLES:,} resamples, seed {SEED}), with "
        f"{chosen.n_bins} {strategy} confidence bins. Intervals of the binned errors are "
        "bias-corrected and may lie below the value. Overconfidence (mean confidence − "
        "accuracy) is in percentage points: positive means overconfident. Definitions: "
        "docs/calibration.md."
    )


def reliability_section(
    reports: Mapping[str, CalibrationSummary],
    chosen: Controls,
    layout: str,
    colors: Mapping[str, str],
    roles: Mapping[str, str],
    workspace: Workspace | None = None,
) -> None:
    """The reliability diagrams: all splits in one figure when overlaid; side by side, rows of
    at most :data:`DIAGRAMS_PER_ROW` splits of even length, a shorter last row keeping the same
    panel width. Given ``workspace``, the figures are built once per server process for its
    stored result."""
    bins = {split: report.reliability for split, report in reports.items()}
    strategy = STRATEGIES[chosen.strategy].lower()
    title = f"Reliability per split ({chosen.n_bins} {strategy} bins)"
    names = list(bins)
    n_rows = 1 if layout == "overlay" else -(-len(names) // DIAGRAMS_PER_ROW)
    per_row = -(-len(names) // n_rows)
    rows = [names[i : i + per_row] for i in range(0, len(names), per_row)]
    result = _view(workspace, chosen.n_bins, chosen.strategy) if workspace is not None else None
    for index, row in enumerate(rows):
        options = {"colors": dict(colors), "layout": layout, "title": title if index == 0 else ""}
        figure = (
            cached_figure(_reliability_figure, result, tuple(row), **options)
            if result is not None
            else reliability_diagram({split: bins[split] for split in row}, **options)
        )
        place = st.container()
        if layout == "side_by_side" and len(rows) > 1 and len(row) < per_row:
            place = st.columns([len(row), per_row - len(row)])[0]
        last = index == len(rows) - 1
        key = "calibration_reliability" if last else f"calibration_reliability_{index}"
        place.plotly_chart(figure, width="stretch", key=key, config={"displaylogo": False})
    # what explained_chart writes under a chart, here under the whole grid
    st.markdown(
        f"**What to take from it:** {escape_markdown(reliability_takeaway(reports, roles))}"
    )
    st.caption(reliability_shows(chosen.strategy))


def reliability_shows(strategy: str) -> str:
    """What the reliability diagrams show; the histogram is drawn differently per binning."""
    if strategy == "quantile":
        histogram = (
            "Bottom: where the samples lie. Equal-mass bins hold the same share of samples "
            "each; each bin is drawn as a narrow bar (a segment) at its mean confidence, and "
            "bins closer together than a bar's width are stacked, so a bar's height is the "
            "share of samples at about that confidence. Bar widths do not show the bins' ranges "
            "(the first bin may span most of the axis)."
        )
    else:
        histogram = (
            "Bottom: the share of samples in each bin, a histogram whose bars span the bins; a "
            "bin holding only a handful of samples swings between 0% and 100% accuracy by "
            "chance, so read the points together with it."
        )
    return (
        "Top: each point is one confidence bin: its mean confidence (x) against how often the "
        "model was right in it (y), with the 95% Wilson interval of that accuracy as a vertical "
        "line; a point's size grows with its bin's count, and bins of fewer than "
        f"{MIN_RELIABLE_BIN} samples are faded. On the dashed diagonal the model is perfectly "
        "calibrated; below it, overconfident; above it, underconfident. The narrow shaded bar at "
        f"each point is the gap, from the point to the diagonal. {histogram} Empty bins are left "
        "out, not "
        "drawn as zero accuracy. Hover for a bin's range, count, accuracy and confidence."
    )


def show_table(frame: pd.DataFrame, *, pinned: str, max_rows: int = 12) -> None:
    """A table tall enough for ``max_rows`` rows without scrolling, its first column pinned."""
    height = 38 + 35 * min(len(frame), max_rows)
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        height=height,
        column_config={pinned: st.column_config.TextColumn(pinned=True)},
    )


def show_wide_table(frame: pd.DataFrame, *, index: str) -> None:
    """A short table with one column per split: a static table whose cells wrap, so that up to
    12 splits fit a 1440 px window without a horizontal scroll bar (a data grid cannot wrap)."""
    st.table(frame.set_index(index))


def transfer_list(comparison: TemperatureComparison) -> None:
    """One line per held-out split: does the temperature-scaling gain hold there?"""
    items = [
        SimpleNamespace(severity=finding.severity, text=render(finding))
        for finding in temperature_findings(comparison)
        if finding.kind == "calibration.temperature_transfer"
    ]
    if items:
        verdict_list(items)


_TEMPERATURE_MEANING = {
    "overconfident": "model was overconfident",
    "underconfident": "model was underconfident",
    "about right": "already about right",
}


def temperature_cards(comparison: TemperatureComparison) -> None:
    """The fitted temperature and its effect on the fit split, then T explained in words."""
    fit = comparison.temperature
    split = comparison.fit_split
    fit_finding = temperature_findings(comparison)[0]  # calibration.temperature_fit
    before, after = comparison.before[split], comparison.after[split]
    temperature, nll, ece = st.columns(3)
    temperature.metric(
        "Fitted temperature T", f"{fit.temperature:.3g}", border=True, delta_color="off",
        delta=_TEMPERATURE_MEANING[fit_finding.facts["meaning"]], delta_arrow="off",
        help=f"Minimises the NLL on {split} ({fit.n_samples:,} samples). T > 1: the model was "
        "overconfident; T < 1: underconfident; T = 1: already right.",
    )  # fmt: skip
    nll.metric(
        f"NLL on {split}", format_value("nll", after.nll.value),
        f"{after.nll.value - before.nll.value:+.3f} from {format_value('nll', before.nll.value)}",
        delta_color="inverse", border=True,
    )  # fmt: skip
    ece.metric(
        f"ECE on {split}", format_value("ece", after.ece.value),
        f"{100 * (after.ece.value - before.ece.value):+.1f} pts from "
        f"{format_value('ece', before.ece.value)}", delta_color="inverse", border=True,
    )  # fmt: skip
    st.markdown(f"**{escape_markdown(render(fit_finding))}**")


# --------------------------------------------------------------------------------------------
# Cached analyses (keyed by the workspace fingerprint and widget values, never by arrays)
# --------------------------------------------------------------------------------------------


def comparison_splits(workspace: Workspace, splits: Sequence[str]) -> list[str] | None:
    """The splits the temperature comparison runs on: the fit (validation) split and ``splits``,
    in project order; ``None`` when the project has no validation split."""
    fit = next((s for s, role in workspace.split_roles.items() if role == "validation"), None)
    if fit is None:
        return None
    return [split for split in workspace.split_names if split == fit or split in splits]


def no_validation_message(workspace: Workspace) -> str:
    roles = ", ".join(f"{split} ({role})" for split, role in workspace.split_roles.items())
    return (
        "**Temperature scaling needs a validation split**, and this project has none (its "
        f"splits: {roles}). The temperature must be fitted on held-out data that is not used "
        "to judge it; fitting it on test would make test look better calibrated than it is. "
        "Add a split with `role: validation` to the project file (see docs/project-file.md)."
    )


def _view(workspace: Workspace, n_bins: int, strategy: str) -> CalibrationResult:
    """The calibration view's result for these options: read from the on-disk result cache
    (computed once for every split and cohort column, then shared by every viewer and restart)."""
    options = CalibrationOptions(
        n_bins=n_bins, strategy=strategy, n_resamples=N_RESAMPLES, seed=SEED
    )
    return view_result("calibration", workspace, options)


def _reports(
    workspace: Workspace, fingerprint: str, n_bins: int, strategy: str
) -> dict[str, CalibrationSummary]:
    return _view(workspace, n_bins, strategy).reports


def _curves(workspace: Workspace, fingerprint: str) -> dict[str, RiskCoverage]:
    return _view(workspace, DEFAULT_N_BINS, "uniform").curves


@st.cache_resource(
    show_spinner="Fitting the temperature and applying it to every split...", max_entries=32
)
def _comparison(
    _workspace: Workspace,
    fingerprint: str,
    splits: tuple[str, ...],
    n_bins: int,
    strategy: str,
    method: str,
) -> TemperatureComparison:
    """The comparison for the chosen splits, kept in the on-disk result cache (keyed by the
    data's content keys and these options) so a restarted server does not refit it."""
    settings = {"n_bins": n_bins, "strategy": strategy, "n_resamples": N_RESAMPLES, "seed": SEED}
    return cached_on_disk(
        "calibration-temperature",
        {"data": fingerprint, "splits": list(splits), "method": method, **settings},
        _workspace,
        lambda: project_temperature_comparison(
            _workspace, splits=splits, recalibration=method, **settings
        ).without_replicates(),
    )


def _guarded(compute, *args):
    """Run a cached analysis; bad data stops the page with a readable ``st.error``."""
    try:
        return compute(*args)
    except (ProjectError, ValueError) as error:
        st.error(f"**The calibration analysis failed on this project's predictions.** {error}")
        st.stop()


# Figures, built once per server process for a stored result and the same choices
# (``ui.analysis.cached_figure``): a second viewer of the page gets them ready-made.


def _reliability_figure(
    result: CalibrationResult, splits: tuple[str, ...], **options: Any
) -> go.Figure:
    return reliability_diagram(
        {split: result.reports[split].reliability for split in splits}, **options
    )


def _metrics_figure(
    result: CalibrationResult, splits: tuple[str, ...], *, colors: dict[str, str]
) -> go.Figure:
    reports = {split: result.reports[split] for split in splits}
    return calibration_metrics_chart(reports, colors=colors, title="")


def _cohort_figure(
    result: CalibrationResult,
    splits: tuple[str, ...],
    column: str,
    metric: str,
    *,
    colors: dict[str, str],
) -> go.Figure:
    cohorts = {split: result.cohorts[column][split] for split in splits}
    return cohort_calibration_chart(cohorts, metric=metric, colors=colors, column=column)


def _risk_coverage_figure(
    result: CalibrationResult, splits: tuple[str, ...], *, colors: dict[str, str]
) -> go.Figure:
    return risk_coverage_chart({split: result.curves[split] for split in splits}, colors=colors)


def metrics_figure(workspace: Workspace, chosen: Controls, colors: Mapping[str, str]) -> go.Figure:
    """The metrics chart of the chosen splits."""
    result = _guarded(_view, workspace, chosen.n_bins, chosen.strategy)
    return cached_figure(_metrics_figure, result, tuple(chosen.splits), colors=dict(colors))


def cohort_figure(
    workspace: Workspace,
    chosen: Controls,
    cohorts: Mapping[str, CohortCalibration],
    column: str,
    metric: str,
    colors: Mapping[str, str],
) -> go.Figure:
    """The chart of calibration per cohort of ``column`` on the splits in ``cohorts``."""
    result = _guarded(_view, workspace, chosen.n_bins, chosen.strategy)
    splits = tuple(cohorts)
    return cached_figure(_cohort_figure, result, splits, column, metric, colors=dict(colors))


def risk_coverage_figure(
    workspace: Workspace, splits: Sequence[str], colors: Mapping[str, str]
) -> go.Figure:
    """The risk-coverage curves of ``splits``."""
    result = _guarded(_view, workspace, DEFAULT_N_BINS, "uniform")
    return cached_figure(_risk_coverage_figure, result, tuple(splits), colors=dict(colors))


def temperature_figure(comparison: TemperatureComparison, colors: Mapping[str, str]) -> go.Figure:
    """ECE before and after scaling and recalibration, per split."""
    return cached_figure(temperature_comparison_chart, comparison, colors=dict(colors))


def temperature_diagrams_figure(
    comparison: TemperatureComparison, colors: Mapping[str, str], splits: Sequence[str]
) -> go.Figure:
    """The before/after reliability diagrams of ``splits``."""
    return cached_figure(
        temperature_reliability_diagrams, comparison, colors=dict(colors), splits=list(splits)
    )


def reports_for(workspace: Workspace, chosen: Controls) -> dict[str, CalibrationSummary]:
    reports = _guarded(_reports, workspace, workspace.fingerprint(), chosen.n_bins, chosen.strategy)
    return {split: reports[split] for split in chosen.splits}


def curves_for(workspace: Workspace, splits: Sequence[str]) -> dict[str, RiskCoverage]:
    curves = _guarded(_curves, workspace, workspace.fingerprint())
    return {split: curves[split] for split in splits}


def comparison_for(
    workspace: Workspace, chosen: Controls, method: str
) -> TemperatureComparison | None:
    """The temperature comparison, or ``None`` after explaining on the page why there is none
    (no validation split, or predictions a temperature cannot be fitted to); the rest of the
    page goes on either way."""
    splits = comparison_splits(workspace, chosen.splits)
    if splits is None:
        st.info(no_validation_message(workspace))
        return None
    key = (workspace.fingerprint(), tuple(splits), chosen.n_bins, chosen.strategy, method)
    try:
        return _comparison(workspace, *key)
    except (ProjectError, ValueError) as error:
        st.error(f"**No temperature could be fitted on this project's validation split.** {error}")
        return None


def cohorts_for(
    workspace: Workspace, chosen: Controls, column: str
) -> dict[str, CohortCalibration] | None:
    """Calibration per cohort of ``column`` on the chosen splits; ``None`` after a warning when
    the column has more than ``MAX_COHORTS`` values (an identifier, not a cohort). Read from the
    view's stored result: no prediction table is loaded for it."""
    result = _guarded(_view, workspace, chosen.n_bins, chosen.strategy)
    if column in result.too_many_cohorts:
        st.warning(
            f"**{escape_markdown(column)} has {result.too_many_cohorts[column]:,} different "
            f"values**, too many to compare as cohorts (at most {MAX_COHORTS}). Pick a column "
            "with a few values, such as a source, site or sensor."
        )
        return None
    cohorts = result.cohorts[column]
    return {split: cohorts[split] for split in chosen.splits if split in cohorts}


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------


def format_value(name: str, value: float) -> str:
    """One metric's value as the page shows it: ``6.1%``, ``+5.2 pts``, ``0.149``."""
    unit = METRIC_UNITS[name]
    if unit == "percent":
        return percent(value)
    if unit == "points":
        return points(value)
    return number(value)


def format_estimate(name: str, estimate: Estimate) -> str:
    """A calibration metric with its interval, e.g. ``"6.1% (4.9 to 7.4)"``."""
    return with_interval(format_value(name, estimate.value), estimate, unit=METRIC_UNITS[name])


UNIT_SUFFIX = {"percent": " (%)", "points": " (pts)", "nats": " (nats)", "number": ""}
"""The unit in a table's row label, so that the cells stay narrow (12 splits fit 1440 px)."""


def metrics_table(reports: Mapping[str, CalibrationSummary]) -> pd.DataFrame:
    """One row per metric (label with its unit), one column per split: value (95% interval),
    compact, e.g. ``"16.3 (13.0–19.0)"`` in the ``ECE (%)`` row."""
    rows = [{"Metric": "Samples", **{s: f"{r.n_samples:,}" for s, r in reports.items()}}]
    for name, label in METRIC_LABELS.items():
        unit = METRIC_UNITS[name]
        row = {"Metric": label + UNIT_SUFFIX[unit]}
        for split, report in reports.items():
            estimate = getattr(report, name)
            row[split] = compact(estimate.value, estimate.low, estimate.high, unit=unit)
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Takeaways: sentences computed from the numbers
# --------------------------------------------------------------------------------------------


def headline(
    reports: Mapping[str, CalibrationSummary], roles: Mapping[str, str]
) -> tuple[str, str]:
    """The page's verdict (``calibration.headline``, decided in
    ``gengap_dash.analysis.calibration.findings``) and its severity."""
    finding = headline_finding(reports, roles)
    return render(finding), finding.severity


def metrics_takeaway(reports: Mapping[str, CalibrationSummary], roles: Mapping[str, str]) -> str:
    """Where ECE and NLL are lowest and highest, and whether the difference is beyond noise."""
    return render(metrics_range_finding(reports, roles))


def reliability_takeaway(
    reports: Mapping[str, CalibrationSummary], roles: Mapping[str, str]
) -> str:
    """The bin that contributes most to the worst split's ECE, in words."""
    return render(worst_bin_finding(reports, roles))


def temperature_table(comparison: TemperatureComparison) -> pd.DataFrame:
    """One row per split: ECE and NLL before and after scaling, the recalibration, the verdict."""
    temperature = f"{comparison.temperature.temperature:.3g}"
    method = RECALIBRATIONS[comparison.recalibration.method].lower()
    rows = []
    for split in comparison.before:
        before, after = comparison.before[split], comparison.after[split]
        change = comparison.ece_change[split]
        rows.append(
            {
                "Split": split,
                "ECE before": format_estimate("ece", before.ece),
                f"ECE after T = {temperature}": format_estimate("ece", after.ece),
                "ECE change (points)": format_estimate("overconfidence", change).replace(
                    " pts", ""
                ),
                f"ECE after {method}": format_estimate("ece", comparison.recalibrated[split].ece),
                "NLL before": format_value("nll", before.nll.value),
                "NLL after": format_value("nll", after.nll.value),
                "Verdict": GAIN_VERDICT_LABELS[comparison.verdicts[split]],
            }
        )
    return pd.DataFrame(rows)


def gain_severity(comparison: TemperatureComparison) -> str:
    """The most severe of the transfer findings: ``ok`` when the gain holds on every compared
    split, ``info`` when it holds partly or makes no clear difference, ``warning`` when a split
    gets worse."""
    transfer = [f for f in temperature_findings(comparison) if f.kind.endswith("_transfer")]
    most = worst(transfer)
    return most.severity if most is not None else "ok"


def default_diagram_splits(
    comparison: TemperatureComparison, roles: Mapping[str, str]
) -> list[str]:
    """The fit split and the shifted or deployment split that scaling helps least."""
    shifted = [s for s in comparison.before if roles.get(s) in ("shifted", "deployment")]
    others = shifted or [s for s in comparison.before if s != comparison.fit_split]
    if not others:
        return [comparison.fit_split]
    worst = max(others, key=lambda split: comparison.after[split].ece.value)
    return [comparison.fit_split, worst]


def temperature_diagrams_takeaway(comparison: TemperatureComparison, splits: Sequence[str]) -> str:
    return render(diagrams_finding(comparison, list(splits)))


def cohort_table(
    cohorts: Mapping[str, CohortCalibration], metric: str, column: str
) -> pd.DataFrame:
    """One row per split and cohort: size, the chosen metric, overconfidence, accuracy, a flag."""
    rows = []
    for split, result in cohorts.items():
        for cohort, summary in result.summaries.items():
            row: dict[str, object] = {"Split": split, column: cohort, "n": summary.n_samples}
            for name in dict.fromkeys((metric, "overconfidence", "accuracy")):
                row[METRIC_LABELS[name]] = format_estimate(name, getattr(summary, name))
            row["Interval"] = (
                f"too few samples (< {result.min_samples}): none"
                if result.too_few[cohort]
                else "95% bootstrap"
            )
            rows.append(row)
    return pd.DataFrame(rows)


def cohort_takeaway(cohorts: Mapping[str, CohortCalibration], metric: str, column: str) -> str:
    """The worst and best cohort with an interval, and how many cohorts are too small."""
    return render(cohort_extremes_finding(cohorts, metric, column))


def selective_table(curves: Mapping[str, RiskCoverage]) -> pd.DataFrame:
    coverage = f"{100 * DEFAULT_COVERAGE:.0f}%"
    return pd.DataFrame(
        [
            {
                "Split": split,
                "AURC": f"{100 * curve.aurc:.2f}%",
                "Excess AURC": f"{100 * curve.excess_aurc:.2f}%",
                "Error answering all": f"{100 * curve.error_rate:.1f}%",
                f"Error answering the {coverage} most confident": (
                    f"{100 * risk_at_coverage(curve, DEFAULT_COVERAGE):.1f}%"
                ),
            }
            for split, curve in curves.items()
        ]
    )


def selective_takeaway(curves: Mapping[str, RiskCoverage], roles: Mapping[str, str]) -> str:
    """The 90%-coverage sentence and where the area under the curve is smallest and largest."""
    return render(selective_finding(curves, roles))


METRICS_SHOWS = (
    "Each panel is one metric; a dot is a split's value and the bar its 95% bootstrap interval "
    "(errors and accuracy in %, overconfidence in percentage points, Brier from 0 to 2, NLL in "
    "nats). For the calibration errors (ECE to classwise ECE) lower is better and 0 is "
    "perfect; in the overconfidence panel (mean confidence − accuracy), right of the dotted zero "
    "line means overconfident. Brier and NLL score accuracy and calibration together."
)
TEMPERATURE_SHOWS = (
    "ECE of each split before scaling (open circle), after dividing the logits by T (filled "
    "circle) and after the non-parametric recalibration (diamond), with 95% intervals. A gain "
    "that holds brings the filled circle about as close to 0 as on validation."
)
DIAGRAMS_SHOWS = (
    "The same reliability diagram three times: as the model is, after temperature scaling, and "
    "after the non-parametric recalibration, both fitted on the validation split only (drawn "
    "as in the Reliability tab). Points that move onto the diagonal are a gain; points that "
    "stay below it are not."
)
SELECTIVE_SHOWS = (
    "The model answers only its most confident predictions and abstains on the rest. x: the "
    "share of samples it answers; y: its error rate on them. A curve that stays low as x grows "
    "means confidence ranks the errors last, so abstaining on the least confident samples "
    "removes most mistakes. The legend gives the area under each curve (AURC, lower is better)."
)


def cohort_shows(column: str) -> str:
    return (
        f"One row per value of {escape_markdown(column)}, one dot per split with its 95% "
        "interval. Open markers are cohorts too small for an interval. A cohort far to the "
        "right of the others is where the model's confidence is least trustworthy."
    )


READING_GUIDE = (
    "- **ECE** (expected calibration error): cut the predictions into bins by confidence; in each "
    "bin compare the average confidence with how often the model is right; average the gaps, "
    "weighted by bin size. 0% is perfect.\n"
    "- **Adaptive ECE**: the same with equal-mass bins (each holds as many samples).\n"
    "- **MCE**: the largest gap of any bin. **RMS calibration error**: the root mean square gap, "
    "which weighs large gaps more.\n"
    "- **Classwise ECE**: the ECE of every class's probability (not only the top one), averaged "
    "over classes.\n"
    "- **Brier score** (0 to 2) and **NLL** (nats): how much probability the model puts on the "
    "true class; they reward accuracy and calibration together. Lower is better.\n"
    "- **Overconfidence**: mean confidence minus accuracy. Positive: the model claims more than "
    "it delivers; negative: underconfident.\n"
    "- **Intervals** are 95% bootstrap intervals (1,000 resamples, seed 0). For the binned "
    "errors (ECE, adaptive ECE, MCE, RMS, classwise ECE) they are bias-corrected: a binned error "
    "measured on few samples overstates the true error, so the interval can lie below the "
    "value. Details: docs/calibration.md.\n"
    "- **Temperature scaling** divides the model's logits by one number T fitted on the "
    "validation split: T above 1 softens overconfident probabilities, below 1 sharpens "
    "underconfident ones. It never changes which class is predicted.\n"
    "- **AURC**: the area under the risk-coverage curve, the error averaged over every share "
    "of samples answered. **Excess AURC** is what the confidence ranking costs compared with a "
    "perfect one that puts every error last."
)
