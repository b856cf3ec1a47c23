"""Figures of the label audit and the leakage search (results in, figures out)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from gengap_dash.plots.style import BAD, GOOD, NEUTRAL, apply_layout

MIN_TWINS_SHOWN = 10
"""The accuracy on a split's twins is drawn when it has at least this many twins."""


def _errors(values, lows, highs) -> dict:
    values, lows, highs = (np.asarray(v, dtype=np.float64) for v in (values, lows, highs))
    return {
        "type": "data",
        "symmetric": False,
        "array": np.nan_to_num(highs - values),
        "arrayminus": np.nan_to_num(values - lows),
        "thickness": 1.5,
        "width": 5,
    }


def label_share_figure(audit, *, colors: Mapping[str, str] | None = None) -> go.Figure:
    """Per audited split: the share of suspected label errors with its interval; the in-sample
    (training) split hatched."""
    rows = [a for a in audit.splits if a.audited]
    colors = colors or {}
    figure = go.Figure(
        go.Bar(
            x=[a.split for a in rows],
            y=[a.share for a in rows],
            error_y=_errors(
                [a.share for a in rows], [a.share_low for a in rows], [a.share_high for a in rows]
            ),
            marker={
                "color": [colors.get(a.split, NEUTRAL) for a in rows],
                "pattern": {"shape": ["/" if a.in_sample else "" for a in rows]},
            },
            customdata=[[a.n_suspects, a.n] for a in rows],
            hovertemplate="%{x}: %{y:.1%} (%{customdata[0]} of %{customdata[1]})<extra></extra>",
            name="look wrong",
        )
    )
    apply_layout(
        figure, title="Share of labels that look wrong", y_title="Share of labels", height=380
    )
    figure.update_yaxes(tickformat=".1%", rangemode="tozero")
    return figure


def label_cohort_figure(
    audit, column: str, *, colors: Mapping[str, str] | None = None
) -> go.Figure:
    """Per cohort of ``column`` (x) and split (colour): the share of suspects with intervals."""
    frame = audit.cohorts[audit.cohorts["column"] == column]
    colors = colors or {}
    figure = go.Figure()
    for split, rows in frame.groupby("split", sort=False):
        figure.add_trace(
            go.Bar(
                x=rows["cohort"],
                y=rows["share"],
                name=str(split),
                error_y=_errors(rows["share"], rows["low"], rows["high"]),
                marker={"color": colors.get(str(split), NEUTRAL)},
                customdata=np.stack([rows["n_suspects"], rows["n"]], axis=1),
                hovertemplate=f"{split} · %{{x}}: %{{y:.1%}} (%{{customdata[0]}} of "
                "%{customdata[1]})<extra></extra>",
            )
        )
    apply_layout(
        figure,
        title=f"Share of labels that look wrong, by {column}",
        x_title=column,
        y_title="Share of labels",
        height=400,
    )
    figure.update_layout(barmode="group")
    figure.update_yaxes(tickformat=".1%", rangemode="tozero")
    return figure


def _paired_figure(names, first, second, *, labels, title: str) -> go.Figure:
    """Two estimates per split (value, low, high), side by side."""
    figure = go.Figure()
    for (values, lows, highs), label, color, symbol, shift in zip(
        (first, second),
        labels,
        (NEUTRAL, GOOD),
        ("circle", "diamond"),
        (-0.12, 0.12),
        strict=True,
    ):
        x = np.arange(len(names)) + shift
        figure.add_trace(
            go.Scatter(
                x=x,
                y=values,
                mode="markers",
                name=label,
                marker={"size": 12, "color": color, "symbol": symbol},
                error_y=_errors(values, lows, highs),
                hovertemplate=f"{label}: %{{y:.1%}}<extra></extra>",
            )
        )
    apply_layout(figure, title=title, y_title="Accuracy", height=380)
    figure.update_xaxes(tickvals=list(range(len(names))), ticktext=list(names))
    figure.update_yaxes(tickformat=".0%")
    return figure


def label_accuracy_figure(audit) -> go.Figure:
    """Per audited split: accuracy on every sample and without the suspects."""
    rows = [a for a in audit.splits if a.audited]
    return _paired_figure(
        [a.split for a in rows],
        (
            [a.accuracy for a in rows],
            [a.accuracy_low for a in rows],
            [a.accuracy_high for a in rows],
        ),
        (
            [a.accuracy_without for a in rows],
            [a.accuracy_without_low for a in rows],
            [a.accuracy_without_high for a in rows],
        ),
        labels=("all samples", "without the suspects"),
        title="Accuracy with and without the suspected label errors",
    )


def twin_share_figure(result, *, colors: Mapping[str, str] | None = None) -> go.Figure:
    """Per held-out split: the share with a twin in train, with its interval."""
    rows = result.summaries
    colors = colors or {}
    figure = go.Figure(
        go.Bar(
            x=[s.split for s in rows],
            y=[s.share for s in rows],
            error_y=_errors(
                [s.share for s in rows], [s.share_low for s in rows], [s.share_high for s in rows]
            ),
            marker={"color": [colors.get(s.split, NEUTRAL) for s in rows]},
            customdata=[[s.n_twins, s.n, s.n_exact] for s in rows],
            hovertemplate="%{x}: %{y:.1%} (%{customdata[0]} of %{customdata[1]}; "
            "%{customdata[2]} exact)<extra></extra>",
            name="with a twin",
        )
    )
    apply_layout(
        figure,
        title=f"Share with a twin in train (cosine ≥ {result.threshold:g})",
        y_title="Share of the split",
        height=380,
    )
    figure.update_yaxes(tickformat=".1%", rangemode="tozero")
    return figure


def twin_accuracy_figure(result) -> go.Figure:
    """Per held-out split: accuracy on the samples with a twin in train and on the rest."""
    rows = result.summaries
    few = [s.n_twins < MIN_TWINS_SHOWN for s in rows]  # an interval as wide as the axis
    figure = _paired_figure(
        [s.split for s in rows],
        (
            [s.accuracy_rest for s in rows],
            [s.accuracy_rest_low for s in rows],
            [s.accuracy_rest_high for s in rows],
        ),
        (
            [np.nan if f else s.accuracy_twins for s, f in zip(rows, few, strict=True)],
            [np.nan if f else s.accuracy_twins_low for s, f in zip(rows, few, strict=True)],
            [np.nan if f else s.accuracy_twins_high for s, f in zip(rows, few, strict=True)],
        ),
        labels=("no twin in train", "with a twin in train"),
        title="Accuracy with and without a twin in train",
    )
    figure.data[1].marker.color = BAD
    return figure


def similarity_figure(result, split: str, *, top: int = 300) -> go.Figure:
    """The ``top`` most similar samples of ``split``, ranked: each one's similarity to its
    nearest training sample (exact copies at 1), with the threshold."""
    data = result.split(split)
    similarity = np.where(data.exact >= 0, 1.0, data.similarity.astype(np.float64))
    ranked = np.sort(similarity[np.isfinite(similarity)])[::-1][:top]
    above = ranked >= result.threshold
    figure = go.Figure(
        go.Scatter(
            x=np.arange(1, len(ranked) + 1),
            y=ranked,
            mode="markers",
            marker={"size": 6, "color": np.where(above, BAD, NEUTRAL)},
            hovertemplate="rank %{x}: %{y:.4f}<extra></extra>",
            name="nearest training sample",
        )
    )
    figure.add_hline(
        y=result.threshold,
        line={"color": BAD, "dash": "dash"},
        annotation_text="threshold",
        annotation_position="top right",
    )
    apply_layout(
        figure,
        title=f"{split}: its {len(ranked)} samples most similar to train",
        x_title="Rank (most similar first)",
        y_title="Cosine similarity to train",
        height=360,
    )
    return figure
