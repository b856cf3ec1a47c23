"""Scorecard figures: each metric per split, the gap per split, and all gaps at once.

Every function takes a computed ``gengap_dash.analysis.scorecard.Scorecard`` and only draws
it: values,
intervals, statuses and severities all come from the scorecard.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from gengap_dash.analysis.scorecard import (
    GAP_THRESHOLDS,
    VERDICT_METRIC,
    GapAssessment,
    GapReference,
    Scorecard,
    scorecard_findings,
)
from gengap_dash.analysis.scorecard.findings import comparison_reference, pair_finding
from gengap_dash.findings.tables import format_estimate
from gengap_dash.findings.words import decimal
from gengap_dash.metrics.classification import SCORECARD_METRICS, MetricDefinition, get_metric
from gengap_dash.plots.style import BAD, GOOD, NEUTRAL, apply_layout, split_colors
from gengap_dash.stats.bootstrap import Estimate

WARNING_COLOR = "#f4a261"
UNCERTAIN_COLOR = "#c5cad3"
_MUTED = "#5c677d"  # secondary text: subtitles, roles under split names

_STATUS_GROUPS: tuple[tuple[str, str, str], ...] = (
    # (group key, legend name, colour)
    ("critical", "Critical gap", BAD),
    ("warning", "Warning gap", WARNING_COLOR),
    ("uncertain", "Uncertain: interval too wide", UNCERTAIN_COLOR),
    ("fine", "No clear gap", NEUTRAL),
)


def metric_by_split_figure(
    scorecard: Scorecard,
    metric: str = "accuracy",
    *,
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """The metric on every split as a dot with its interval, with train and validation levels
    (dotted and dashed lines, named in a key under the title) on an axis fitted to the data.

    Args:
        scorecard: the computed scorecard.
        metric: a metric name from ``gengap_dash.metrics.classification.SCORECARD_METRICS``.
        colors: split name -> colour (default: ``plots.style.split_colors`` of the roles).

    Returns:
        A horizontal dot plot, splits top to bottom in project order.
    """
    definition = get_metric(metric)
    colors = dict(colors) if colors is not None else split_colors(scorecard.split_roles)
    ci = _ci_label(scorecard.confidence)
    fig = go.Figure()
    labels = []
    for split in scorecard.splits:
        estimate = split.metrics[metric]
        value, low, high = (definition.scale * v for v in _as_tuple(estimate))
        label = _tick_label(split.name, split.role)
        labels.append(label)
        color = colors.get(split.name, NEUTRAL)
        fig.add_trace(
            go.Scatter(
                x=[value],
                y=[label],
                mode="markers",
                name=split.name,
                showlegend=False,
                marker={"color": color, "size": 12, "line": {"color": "white", "width": 1}},
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": [_nonnegative(high - value)],
                    "arrayminus": [_nonnegative(value - low)],
                    "color": color,
                    "thickness": 2.5,
                    "width": 6,
                },
                hovertemplate=(
                    f"<b>{split.name}</b> ({split.role})<br>"
                    f"{definition.label}: {definition.format_value(estimate.value)}<br>"
                    f"{ci}: {definition.format_value(estimate.low)} to "
                    f"{definition.format_value(estimate.high)}<br>"
                    f"n = {split.n:,}<extra></extra>"
                ),
            )
        )
    references = 0
    for reference, dash in ((scorecard.train, "dot"), (scorecard.validation, "dash")):
        if reference is None:
            continue
        estimate = scorecard.split(reference).metrics[metric]
        if not np.isfinite(estimate.value):
            continue
        color = colors.get(reference, NEUTRAL)
        if np.isfinite(estimate.low) and np.isfinite(estimate.high):
            fig.add_vrect(
                x0=definition.scale * estimate.low,
                x1=definition.scale * estimate.high,
                fillcolor=color,
                opacity=0.08,
                line_width=0,
                layer="below",
            )
        # A legend entry, not a label on the line: two levels a few points apart would print
        # their labels over each other.
        role = scorecard.split(reference).role
        fig.add_vline(
            x=definition.scale * estimate.value,
            line={"color": color, "dash": dash, "width": 2},
            name=f"{_split_label(reference, role)} level {definition.format_value(estimate.value)}",
            showlegend=True,
            legendrank=references,
        )
        references += 1
    fig.update_yaxes(categoryorder="array", categoryarray=labels[::-1], automargin=True)
    direction = "higher is better →" if definition.higher_is_better else "← lower is better"
    # The gap chart's height, so that the two charts of the overview line up side by side.
    height = _height(len(scorecard.splits)) + _EXTRA_TOP + _EXTRA_BOTTOM
    apply_layout(
        fig,
        title=f"{definition.label} by split",
        # Two short lines rather than one long one, which a narrow chart would cut off.
        x_title=f"{definition.axis_label}<br>{direction}",
        height=height,
    )
    _house_frame(fig, subtitle=f"dot: estimate · bar: {ci}", height=height)
    fig.update_layout(showlegend=references > 0)
    x_range = _padded_range(
        [
            definition.scale * v
            for split in scorecard.splits
            for v in _as_tuple(split.metrics[metric])
        ],
        percent=definition.unit == "percent",
    )
    if x_range is not None:
        fig.update_xaxes(range=x_range, autorange=False)
    return fig


def gap_figure(
    scorecard: Scorecard,
    metric: str = "accuracy",
    *,
    reference: GapReference = "validation",
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """How much worse every split is than a reference split, with intervals, coloured by the
    verdicts.

    Bars show the "worse by" amount in display units (percentage points for percentages),
    positive when the split is worse whatever the metric's direction: the sign convention of the
    table and the sentences. The axis title says so (on a line of its own); dotted lines mark the
    warning and critical thresholds, named with their values in a key under the title. A bar whose
    pair of splits has a verdict (train and validation; a shifted split and the shift reference)
    takes the verdict's colour, so the chart never calls a pair fine that the verdict calls a
    problem.

    Args:
        scorecard: the computed scorecard.
        metric: a metric name.
        reference: ``"validation"``, ``"train"`` or ``"shift_reference"`` (test, else validation).
        colors: split name -> colour, used for the bar outlines.

    Returns:
        A horizontal bar chart; a figure with an explanatory note when there is no reference.
    """
    definition = get_metric(metric)
    gaps = scorecard.gaps(reference)
    reference_name = scorecard.reference_split(reference)
    colors = dict(colors) if colors is not None else split_colors(scorecard.split_roles)
    unit = definition.change_unit
    title = f"{definition.label} gap against {reference_name or reference.replace('_', ' ')}"
    if reference_name is None or not gaps:
        return _no_gap_figure(reference, reference_name, title=title)
    ci = _ci_label(scorecard.confidence)
    reference_scores = scorecard.split(reference_name)
    order = [split for split in scorecard.splits if split.name in gaps]
    labels = [_tick_label(split.name, split.role) for split in order]
    groups: dict[str, list[int]] = {key: [] for key, _, _ in _STATUS_GROUPS}
    assessments: list[GapAssessment] = []
    verdicts = _verdict_groups(scorecard, reference_name) if metric == VERDICT_METRIC else {}
    for index, split in enumerate(order):
        assessment = gaps[split.name].assess(metric)
        assessments.append(assessment)
        groups[verdicts.get(split.name, _group(assessment))].append(index)
    fig = go.Figure()
    for key, name, color in _STATUS_GROUPS:
        members = groups[key]
        if not members:
            continue
        values, lows, highs, hovers = [], [], [], []
        for index in members:
            split = order[index]
            gap = assessments[index].worse_by
            values.append(gap.value)
            lows.append(_nonnegative(gap.value - gap.low))
            highs.append(_nonnegative(gap.high - gap.value))
            hovers.append(
                f"<b>{split.name}</b> ({split.role})<br>"
                f"worse than {reference_name} by {_signed(definition, gap.value)}"
                f"{' ' + unit if unit else ''}<br>"
                f"{ci}: {_signed(definition, gap.low)} to {_signed(definition, gap.high)}<br>"
                f"{split.name} {definition.format_value(split.metrics[metric].value)} vs "
                f"{reference_name} "
                f"{definition.format_value(reference_scores.metrics[metric].value)}<br>"
                f"{name}"
            )
        fig.add_trace(
            go.Bar(
                x=values,
                y=[labels[i] for i in members],
                orientation="h",
                name=name,
                marker={
                    "color": color,
                    "line": {"color": [colors.get(order[i].name, NEUTRAL) for i in members]},
                    "pattern": {"shape": "/" if key == "uncertain" else ""},
                },
                marker_line_width=2,
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": highs,
                    "arrayminus": lows,
                    "color": "#1d2433",
                    "thickness": 1.5,
                    "width": 5,
                },
                customdata=hovers,
                hovertemplate="%{customdata}<extra></extra>",
            )
        )
    fig.add_vline(x=0, line={"color": "#1d2433", "width": 1.5})
    threshold = GAP_THRESHOLDS[metric]
    sign = 1.0
    for rank, (level, text) in enumerate(
        ((threshold.warning, "warning"), (threshold.critical, "critical"))
    ):
        # In a legend of their own above the plot, not as labels on the lines: the lines can be
        # close together and their labels would collide.
        fig.add_vline(
            x=sign * level,
            line={"color": BAD if text == "critical" else WARNING_COLOR, "dash": "dot", "width": 2},
            layer="below",
            name=f"{text} threshold ({_signed(definition, sign * level)}"
            f"{' ' + unit if unit else ''})",
            showlegend=True,
            legend="legend2",
            legendrank=rank,
        )
    arrows = "← better · worse →"
    height = _height(len(scorecard.splits)) + _EXTRA_TOP + _EXTRA_BOTTOM
    apply_layout(
        fig,
        title=title,
        # The direction hint on a line of its own, so that a narrow chart does not cut it off.
        x_title=f"Worse than {reference_name} by ({unit or 'difference'})<br>{arrows}",
        height=height,
    )
    fig.update_yaxes(categoryorder="array", categoryarray=labels[::-1], automargin=True)
    _house_frame(fig, subtitle=f"bar: gap · whisker: {ci}", height=height, legend="legend2")
    fig.update_layout(
        barmode="overlay",
        bargap=0.35,
        # The status key below the axis, across the whole width (wraps on a narrow chart).
        legend={**_LEGEND_STYLE, "y": 0.0, "yanchor": "bottom"},
        margin={"b": _MARGIN_GAP},
    )
    return fig


def gap_heatmap_figure(
    scorecard: Scorecard,
    *,
    reference: GapReference = "validation",
) -> go.Figure:
    """Every metric's gap against a reference at once: red is worse, green better.

    The colour is the "worse by" amount divided by the metric's critical threshold (clipped to
    -1..1), so that colours compare across metrics; the cell text is the signed gap.

    Args:
        scorecard: the computed scorecard.
        reference: ``"validation"``, ``"train"`` or ``"shift_reference"``.
    """
    gaps = scorecard.gaps(reference)
    reference_name = scorecard.reference_split(reference)
    title = f"All metrics against {reference_name or reference.replace('_', ' ')}"
    if reference_name is None or not gaps:
        return _no_gap_figure(reference, reference_name, title=title)
    ci = _ci_label(scorecard.confidence)
    order = [split for split in scorecard.splits if split.name in gaps]
    metrics = SCORECARD_METRICS
    z, text, hover = [], [], []
    for split in order:
        row_z, row_text, row_hover = [], [], []
        for definition in metrics:
            assessment = gaps[split.name].assess(definition.name)
            critical = GAP_THRESHOLDS[definition.name].critical
            worse = assessment.worse_by.value
            row_z.append(float(np.clip(worse / critical, -1, 1)) if np.isfinite(worse) else None)
            mark = " ●" if assessment.status == "worse" else ""
            shown = assessment.worse_by
            row_text.append(f"{_signed(definition, shown.value)}{mark}")
            unit = definition.change_unit
            row_hover.append(
                f"<b>{split.name}</b> vs {reference_name}<br>{definition.label}: worse by "
                f"{_signed(definition, shown.value)}{' ' + unit if unit else ''}<br>"
                f"{ci}: {_signed(definition, shown.low)} to {_signed(definition, shown.high)}<br>"
                f"{_status_words(assessment)}"
            )
        z.append(row_z)
        text.append(row_text)
        hover.append(row_hover)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[_axis_metric(d) for d in metrics],
            y=[_tick_label(s.name, s.role) for s in order],
            text=text,
            texttemplate="%{text}",
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
            zmin=-1,
            zmax=1,
            zmid=0,
            colorscale=[[0.0, GOOD], [0.5, "#ffffff"], [1.0, BAD]],
            colorbar={
                "title": {"text": "Gap", "side": "top"},
                "tickvals": [-1, 0, 1],
                "ticktext": ["better", "same", "worse by ≥ critical"],
            },
            xgap=2,
            ygap=2,
        )
    )
    apply_layout(
        fig,
        title=f"{title}: how much worse than {reference_name} (● clearly worse)",
        x_title="Metric (points for %, nats for NLL)",
        y_title="Split",
        height=_height(len(order)),
    )
    fig.update_yaxes(autorange="reversed", showgrid=False, automargin=True)
    fig.update_xaxes(showgrid=False, side="bottom")
    return fig


# --------------------------------------------------------------------------------------------
# Helpers (presentation only)
# --------------------------------------------------------------------------------------------


def _verdict_groups(scorecard: Scorecard, reference_name: str) -> dict[str, str]:
    """Split name -> colour group of the verdict about the pair (split, ``reference_name``),
    for the splits whose pair with the reference has a verdict."""
    groups: dict[str, str] = {}
    for finding in scorecard_findings(scorecard):
        if finding.reference is None or finding.split is None:
            continue
        pair = {finding.split, finding.reference}
        if reference_name not in pair or len(pair) != 2:
            continue
        (other,) = pair - {reference_name}
        if finding.kind.endswith("_uncertain"):
            groups[other] = "uncertain"
        elif finding.severity in ("critical", "warning"):
            groups[other] = finding.severity
        else:
            groups[other] = "fine"
    return groups


def _group(assessment: GapAssessment) -> str:
    if assessment.status == "worse":
        return "critical" if assessment.severity == "critical" else "warning"
    return assessment.status


def _status_words(assessment: GapAssessment) -> str:
    if assessment.status == "worse":
        return f"Clearly worse ({assessment.severity})"
    if assessment.status == "uncertain":
        return "Uncertain: the interval is too wide to tell"
    return "No clear problem"


def _split_label(name: str, role: str) -> str:
    return name if name == role else f"{name} ({role})"


def _tick_label(name: str, role: str) -> str:
    """A split's axis label: its name, with the role on a second, smaller line when it differs,
    so that long labels do not eat the width of a narrow chart."""
    if name == role:
        return name
    return f"{name}<br><span style='font-size:11px;color:{_MUTED}'>{role}</span>"


def _axis_metric(definition: MetricDefinition) -> str:
    direction = "↑" if definition.higher_is_better else "↓"
    return f"{definition.label} {direction}"


def _signed(definition: MetricDefinition, value: float) -> str:
    """A signed difference in display units: ``-8.6`` / ``+0.120`` (``n/a`` when undefined)."""
    text = definition.format_change(value, with_unit=False)
    if text == "n/a" or text.startswith("-") or float(text) == 0.0:
        return text
    return "+" + text


def _ci_label(confidence: float) -> str:
    return f"{100 * confidence:g}% CI"


def _as_tuple(estimate: Estimate) -> tuple[float, float, float]:
    return estimate.value, estimate.low, estimate.high


def _nonnegative(value: float) -> float:
    return float(value) if np.isfinite(value) and value > 0 else 0.0


def _height(n_rows: int) -> int:
    return int(max(300, 150 + 46 * n_rows))


_TITLE_BLOCK = 62  # px from the top for the title and its subtitle
_EXTRA_TOP = 50  # px added to ``_height`` for the subtitle and the key of the lines
_EXTRA_BOTTOM = 60  # px added for the status key under the axis
_MARGIN_GAP = 12  # px between a key and the plot
_LEGEND_STYLE = {
    "orientation": "h",
    "xref": "container",
    "x": 0.0,
    "xanchor": "left",
    "yref": "container",
    "font": {"size": 12},
    "bgcolor": "rgba(0,0,0,0)",
}
"""A key positioned in pixels of the whole figure: plotly reserves the figure edge it covers,
so the plot and the axis titles are laid out clear of it however many rows it wraps to."""


def _house_frame(fig: go.Figure, *, subtitle: str, height: int, legend: str = "legend") -> None:
    """Title and subtitle at the top left, the key of the reference lines (``legend``) under
    them, and small margins: the axes push the margins for their labels themselves."""
    title = fig.layout.title.text
    fig.update_layout(
        title={
            "text": title,
            "subtitle": {"text": subtitle, "font": {"size": 12, "color": _MUTED}},
            "x": 0.0,
            "xanchor": "left",
            "xref": "container",
            "y": 1.0 - 8.0 / height,
            "yanchor": "top",
            "yref": "container",
            "pad": {"l": 8},
        },
        margin={"t": _MARGIN_GAP, "l": _MARGIN_GAP, "r": 24, "b": _MARGIN_GAP},
    )
    fig.update_layout(
        {legend: {**_LEGEND_STYLE, "y": 1.0 - _TITLE_BLOCK / height, "yanchor": "top"}}
    )
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)


def _padded_range(values: list[float], *, percent: bool) -> list[float] | None:
    """An axis range tight around ``values`` with 6% padding on each side (not from zero), so
    that intervals stay readable when the splits cluster; ``None`` when nothing is finite."""
    finite = [float(v) for v in values if np.isfinite(v)]
    if not finite:
        return None
    low, high = min(finite), max(finite)
    span = high - low
    flat = 1.0 if percent else max(0.05 * abs(low), 0.01)  # one point, or 5% of the value
    pad = 0.06 * span if span > 0 else flat
    return [low - pad, high + pad]


def _no_gap_figure(reference: str, reference_name: str | None, *, title: str) -> go.Figure:
    """A figure that says why there is no gap to draw."""
    message = (
        f"No {reference.replace('_', ' ')} split in this project, so there is no gap to show."
        if reference_name is None
        else f"{reference_name} is the only split: there is nothing to compare."
    )
    return _note_figure(message, title=title)


def _note_figure(message: str, *, title: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(
        text=message,
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font={"size": 14, "color": "#5c677d"},
    )
    apply_layout(fig, title=title, height=240)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


# --------------------------------------------------------------------------------------------
# The scorecard table and the cards: one sign (worse by, positive = worse), one reference each
# --------------------------------------------------------------------------------------------


GAP_COLUMN = "Accuracy gap (pts, + = worse)"
"""The table's gap column: how much worse each split is than its reference, with the reference
named in the cell."""

CARD_COLORS = {"critical": "red", "warning": "orange", "info": "gray", "ok": "green"}
"""Card delta colour by the severity of the verdict about the pair (gray: uncertain)."""


def accuracy_delta_text(scorecard: Scorecard, split: str) -> str | None:
    """``"21.3 pts worse than test"``: a split's accuracy against its comparison reference
    (:func:`~gengap_dash.analysis.scorecard.findings.comparison_reference`); None for the train
    reference."""
    reference = comparison_reference(scorecard, split)
    if reference is None:
        return None
    worse = -scorecard.gap_against(split, reference).points("accuracy").value
    if not np.isfinite(worse):
        return f"n/a vs {reference}"
    amount = decimal(abs(worse))
    if amount == "0.0":
        return f"level with {reference}"
    return f"{amount} pts {'worse' if worse > 0 else 'better'} than {reference}"


def accuracy_delta_color(scorecard: Scorecard, split: str) -> str:
    """The card's delta colour: the severity of the verdict about the split and its reference
    (red critical, orange warning, gray uncertain, green fine); gray without a verdict."""
    reference = comparison_reference(scorecard, split)
    finding = None if reference is None else pair_finding(scorecard, split, reference)
    if finding is None:
        return "gray"
    if finding.kind.endswith("_uncertain"):
        return "gray"
    return CARD_COLORS.get(finding.severity, "gray")


def scorecard_table(
    scorecard: Scorecard, *, intervals: Literal["all", "accuracy"] = "all"
) -> pd.DataFrame:
    """One row per split: n, every metric (with its interval: every metric's for ``"all"``,
    accuracy's only for ``"accuracy"``, which fits a 1440 px window), and how much worse its
    accuracy is than its comparison reference (``GAP_COLUMN``: ``"+21.3 (18.9 to 23.8) vs
    test"``, positive = worse; ``"reference"`` for the train reference)."""
    if intervals not in ("all", "accuracy"):
        raise ValueError(f"Expected `intervals` to be 'all' or 'accuracy', but got {intervals!r}.")
    rows = []
    for split in scorecard.splits:
        row: dict[str, object] = {"Split": split.name, "Role": split.role, "n": split.n}
        for definition in SCORECARD_METRICS:
            estimate = split.metrics[definition.name]
            if intervals == "all" or definition.name == "accuracy":
                row[definition.label] = format_estimate(definition, estimate)
            else:
                row[definition.label] = definition.format_value(estimate.value)
        reference = comparison_reference(scorecard, split.name)
        if reference is None:
            row[GAP_COLUMN] = "reference" if len(scorecard.splits) > 1 else ""
        else:
            gap = scorecard.gap_against(split.name, reference).points("accuracy")
            row[GAP_COLUMN] = f"{_worse_text(gap)} vs {reference}"
        rows.append(row)
    return pd.DataFrame(rows)


def _worse_text(gap: Estimate) -> str:
    """A gap in points (split - reference) as "worse by": ``"+5.2 (3.9 to 6.6)"``."""
    worse = -gap.value
    if not np.isfinite(worse):
        text = "n/a"
    else:
        text = decimal(worse)
        text = text if text.startswith("-") or text == "0.0" else f"+{text}"
    if np.isfinite(gap.low) and np.isfinite(gap.high):
        text += f" ({decimal(-gap.high)} to {decimal(-gap.low)})"
    return text
