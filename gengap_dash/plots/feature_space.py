"""Figures of the feature-space views: the map (WebGL points, a density layer above
:data:`MAX_POINTS`), shift tests, clusters, OOD scores, accuracy estimates, the review
threshold. Every function takes results and returns a figure; none computes a statistic."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from gengap_dash.findings.ood import SCORE_LABELS
from gengap_dash.plots.style import BAD, NEUTRAL, apply_layout, split_colors

MAX_POINTS = 50_000
"""At most this many points are drawn; above, a density layer shows all of them."""

_QUALITATIVE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip


def _sample_rows(n: int, max_points: int, seed: int = 0) -> np.ndarray:
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))


DENSITY_BINS = 120
"""Bins per axis of the density layer drawn under a sample of points."""


def density_layer(coordinates: np.ndarray, *, bins: int = DENSITY_BINS) -> go.Heatmap:
    """A heatmap of log(1 + the count of points) per bin (``bins x bins``), binned here in numpy, so
    the browser receives ``bins²`` counts and never the points (``coordinates``: ``(n, 2)``)."""
    x = np.asarray(coordinates[:, 0], dtype=np.float64)
    y = np.asarray(coordinates[:, 1], dtype=np.float64)
    x_edges = np.linspace(x.min(), x.max(), bins + 1)
    y_edges = np.linspace(y.min(), y.max(), bins + 1)
    # integer binning (np.histogram2d's searchsorted costs 10x more at a million points); the
    # last bin is closed on the right, as np.histogram2d's
    ix = np.clip(((x - x_edges[0]) * (bins / max(x_edges[-1] - x_edges[0], 1e-12))), 0, bins - 1)
    iy = np.clip(((y - y_edges[0]) * (bins / max(y_edges[-1] - y_edges[0], 1e-12))), 0, bins - 1)
    flat = iy.astype(np.int64) * bins + ix.astype(np.int64)
    counts = np.bincount(flat, minlength=bins * bins).reshape(bins, bins).astype(np.float32)
    counts = np.log1p(counts)  # a log scale: sparse regions stay visible beside dense ones
    counts[counts == 0] = np.nan  # empty bins transparent
    return go.Heatmap(
        x=(x_edges[:-1] + x_edges[1:]) / 2, y=(y_edges[:-1] + y_edges[1:]) / 2, z=counts,
        colorscale=[[0, "rgba(40,40,60,0.08)"], [1, "rgba(40,40,60,0.6)"]],
        showscale=False, name="density (all points)", hoverinfo="skip", zsmooth=False,
    )  # fmt: skip


def map_figure(
    embedding_map,
    *,
    color: np.ndarray | None = None,
    color_kind: str = "split",
    color_title: str = "split",
    hover: np.ndarray | Callable[[np.ndarray], np.ndarray] | None = None,
    colors: Mapping[str, str] | None = None,
    max_points: int = MAX_POINTS,
    height: int = 620,
) -> go.Figure:
    """The 2-D map: one WebGL trace per split (``color_kind="split"``) or per category
    (``"category"``: ``color`` holds labels), or one trace coloured by a number
    (``"continuous"``). Above ``max_points`` points, a seeded sample is drawn over a density
    layer of all points.

    Args:
        embedding_map: an :class:`~gengap_dash.analysis.embedding_map.EmbeddingMap`.
        color: ``(n,)`` values per point (categories or numbers); ignored for ``"split"``.
        hover: ``(n,)`` text per point, or a function of the drawn rows' positions returning
            their texts (so a million texts are never built for 50,000 drawn points).
    """
    coordinates = embedding_map.coordinates
    n = coordinates.shape[0]
    rows = _sample_rows(n, max_points)
    figure = go.Figure()
    if n > max_points:
        figure.add_trace(density_layer(coordinates))
    split_index = embedding_map.split_of_rows()[rows]
    x, y = coordinates[rows, 0], coordinates[rows, 1]
    text = hover(rows) if callable(hover) else hover[rows] if hover is not None else None
    if text is not None:  # fixed-width strings: plotly copies them as one block, not 50,000
        text = np.asarray(text, dtype=str)
    marker_size = 4 if rows.size > 5_000 else 6
    if color_kind == "continuous" and color is not None:
        figure.add_trace(
            go.Scattergl(
                x=x, y=y, mode="markers", text=text, hoverinfo="text",
                marker={"size": marker_size, "color": np.asarray(color)[rows],
                        "colorscale": "Viridis", "showscale": True, "opacity": 0.75,
                        "colorbar": {"title": {"text": color_title}}},
                name=color_title, customdata=rows,
            )
        )  # fmt: skip
    else:
        if color_kind == "split" or color is None:
            names = np.asarray(embedding_map.splits)[split_index]
            palette = dict(colors or {})
            order = list(embedding_map.splits)
        else:
            names = np.asarray(color).astype(str)[rows]
            order = sorted(set(names.tolist()))
            palette = {v: _QUALITATIVE[i % len(_QUALITATIVE)] for i, v in enumerate(order)}
        for value in order:
            members = names == value
            if not members.any():
                continue
            figure.add_trace(
                go.Scattergl(
                    x=x[members], y=y[members], mode="markers", name=str(value),
                    text=text[members] if text is not None else None, hoverinfo="text",
                    marker={"size": marker_size, "color": palette.get(value, NEUTRAL),
                            "opacity": 0.7},
                    customdata=rows[members],
                )
            )  # fmt: skip
    method = "UMAP" if embedding_map.method == "umap" else "PCA"
    shown = f"{rows.size:,} of {n:,} points" if n > max_points else f"{n:,} points"
    apply_layout(
        figure,
        title=f"{method} map of the embeddings ({shown}), coloured by {color_title}",
        x_title=f"{method} 1",
        y_title=f"{method} 2",
        height=height,
    )
    figure.update_layout(
        dragmode="lasso",
        legend={"itemsizing": "constant", "orientation": "v", "x": 1.01, "xanchor": "left",
                "y": 1.0, "yanchor": "top"},
        margin={"r": 140},
    )  # fmt: skip
    return figure


def domain_auc_figure(report, *, colors: Mapping[str, str] | None = None) -> go.Figure:
    """Each compared split's domain-classifier AUC with its 95% interval; 0.5 dashed."""
    splits = [item.split for item in report.splits]
    roles = {item.split: item.role for item in report.splits}
    palette = dict(colors or split_colors(roles))
    figure = go.Figure()
    for item in report.splits:
        figure.add_trace(
            go.Scatter(
                x=[item.domain.auc], y=[item.split], mode="markers", name=item.split,
                marker={"size": 12, "color": palette.get(item.split, NEUTRAL)},
                error_x={"type": "data", "symmetric": False,
                         "array": [item.domain.high - item.domain.auc],
                         "arrayminus": [item.domain.auc - item.domain.low]},
                hovertemplate=f"{item.split}: AUC %{{x:.3f}} "
                f"({item.domain.low:.3f} to {item.domain.high:.3f})<extra></extra>",
                showlegend=False,
            )
        )  # fmt: skip
    figure.add_vline(x=0.5, line_dash="dash", line_color=NEUTRAL)
    apply_layout(
        figure,
        title=f"Can a classifier tell each split from {report.reference}?",
        x_title="Domain classifier AUC (held out, 95% interval)",
        height=max(260, 70 + 48 * len(splits)),
    )
    lowest = min([item.domain.low for item in report.splits], default=0.5)
    figure.update_xaxes(range=[min(0.4, lowest - 0.03), 1.02])
    figure.update_yaxes(categoryorder="array", categoryarray=splits[::-1])
    return figure


def cluster_share_figure(report, split: str, *, color: str = BAD) -> go.Figure:
    """Per cluster: the reference's share and ``split``'s share, with ``split``'s error rate
    and most common class as labels."""
    table = report.clusters
    ref = table[table["split"] == report.reference].set_index("cluster")
    mine = table[table["split"] == split].set_index("cluster")
    clusters = [f"cluster {k}" for k in mine.index]
    labels = [
        f"{row.top_class} · err {100 * row.error_rate:.0f}%"
        if row.error_rate == row.error_rate
        else f"{row.top_class}"
        for row in mine.itertuples()
    ]
    reference_share = ref["share"].reindex(mine.index).fillna(0.0)
    figure = go.Figure(
        [
            go.Bar(x=clusters, y=reference_share, name=report.reference, marker_color=NEUTRAL),
            go.Bar(x=clusters, y=mine["share"], name=split, marker_color=color, text=labels,
                   textposition="outside", cliponaxis=False),
        ]
    )  # fmt: skip
    apply_layout(
        figure,
        title=f"Where {split} sits in the embedding space, against {report.reference}",
        y_title="Share of the split",
        height=420,
    )
    figure.update_yaxes(tickformat=".0%")
    figure.update_layout(barmode="group", uniformtext={"minsize": 10, "mode": "show"})
    figure.update_traces(textfont_size=11, selector={"type": "bar"})
    return figure


def label_shift_figure(item, class_names) -> go.Figure:
    """Estimated class proportions (with intervals) against validation's and the true ones."""
    shift = item.label_shift
    names = list(class_names)
    figure = go.Figure(
        [
            go.Bar(x=names, y=shift.reference, name="validation", marker_color=NEUTRAL),
            go.Bar(
                x=names, y=shift.estimated, name=f"{item.split}, estimated without labels",
                marker_color=BAD,
                error_y={"type": "data", "symmetric": False, "array": shift.high - shift.estimated,
                         "arrayminus": shift.estimated - shift.low},
            ),
        ]
    )  # fmt: skip
    if np.isfinite(shift.observed).all():
        figure.add_trace(
            go.Scatter(x=names, y=shift.observed, mode="markers", name=f"{item.split}, labels",
                       marker={"symbol": "diamond", "size": 10, "color": "#1d2433"})
        )  # fmt: skip
    apply_layout(figure, title=f"Class proportions of {item.split}", y_title="Share", height=400)
    figure.update_yaxes(tickformat=".0%")
    figure.update_layout(barmode="group")
    return figure


def over_time_figure(report) -> go.Figure:
    """MMD² per time window of each deployment split; windows with adjusted p < 0.05 marked."""
    frame = report.over_time
    figure = go.Figure()
    for split, rows in frame.groupby("split", sort=False):
        significant = rows["adjusted_p_value"] < 0.05
        figure.add_trace(
            go.Scatter(
                x=rows["start"], y=rows["mmd2"], mode="lines+markers", name=str(split),
                marker={"size": np.where(significant, 13, 7),
                        "symbol": np.where(significant, "diamond", "circle")},
                customdata=np.stack([rows["adjusted_p_value"], rows["n"]], axis=1),
                hovertemplate="from %{x}: MMD² %{y:.4f}, adjusted p %{customdata[0]:.3f}, "
                "n %{customdata[1]}<extra></extra>",
            )
        )  # fmt: skip
    figure.add_hline(y=0.0, line_dash="dash", line_color=NEUTRAL)
    apply_layout(
        figure,
        title=f"Shift over time against {report.reference} (diamonds: adjusted p < 0.05)",
        x_title="Window start",
        y_title="MMD²",
        height=380,
    )
    return figure


def ood_auroc_figure(report) -> go.Figure:
    """Heatmap of AUROC per split (rows) and score (columns)."""
    table = report.detection.pivot(index="split", columns="score", values="auroc")
    table = table.reindex(
        index=list(dict.fromkeys(report.detection["split"])), columns=list(report.scores)
    )
    labels = [SCORE_LABELS.get(s, s) for s in table.columns]
    figure = go.Figure(
        go.Heatmap(
            z=table.to_numpy(), x=labels, y=list(table.index), zmin=0.5, zmax=1.0,
            colorscale="Reds", text=np.vectorize(lambda v: f"{v:.2f}")(table.to_numpy()),
            texttemplate="%{text}", colorbar={"title": {"text": "AUROC"}},
            hovertemplate="%{y}, %{x}: AUROC %{z:.3f}<extra></extra>",
        )
    )  # fmt: skip
    apply_layout(
        figure,
        title=f"How well each score tells each split from {report.reference} (AUROC)",
        height=max(300, 110 + 44 * len(table.index)),
    )
    figure.update_yaxes(autorange="reversed")
    return figure


def accuracy_estimate_figure(report) -> go.Figure:
    """Per split: measured accuracy, ATC and DoC estimates, mean confidence."""
    frame = report.accuracy
    series = (
        ("accuracy", "measured accuracy", "#1d2433", "diamond"),
        ("atc", "ATC estimate", BAD, "circle"),
        ("doc", "DoC estimate", "#f4a261", "square"),
        ("mean_confidence", "mean confidence", NEUTRAL, "x"),
    )
    figure = go.Figure()
    for column, name, color, symbol in series:
        figure.add_trace(
            go.Scatter(x=frame["split"], y=frame[column], mode="markers", name=name,
                       marker={"size": 12, "color": color, "symbol": symbol})
        )  # fmt: skip
    apply_layout(
        figure,
        title="Accuracy measured and estimated from confidences alone",
        y_title="Accuracy",
        height=400,
    )
    figure.update_yaxes(tickformat=".0%")
    return figure


def score_histogram_figure(
    samples: pd.DataFrame,
    values: Mapping[str, np.ndarray],
    *,
    threshold: float,
    score: str,
    colors: Mapping[str, str] | None = None,
    bins: int = 50,
) -> go.Figure:
    """Overlaid histograms of a score per split, with the review threshold.

    The counts are binned here, on common edges over the finite values and the threshold, and
    drawn as bars: the browser gets ``bins`` numbers per split, not every sample's score (at
    10,000,000 predictions that was 42 MB of figure).

    Args:
        values: split -> ``(n,)`` score values (non-finite values are left out).
    """
    finite = {split: np.asarray(v, dtype=np.float64) for split, v in values.items()}
    finite = {split: v[np.isfinite(v)] for split, v in finite.items()}
    extent = [float(f(v)) for v in finite.values() if v.size for f in (np.min, np.max)]
    if np.isfinite(threshold):
        extent.append(float(threshold))
    low, high = (min(extent), max(extent)) if extent else (0.0, 1.0)
    if high <= low:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, bins + 1)
    centres, width = (edges[:-1] + edges[1:]) / 2, float(edges[1] - edges[0])
    figure = go.Figure()
    for split, v in finite.items():
        counts = np.histogram(v, bins=edges)[0]
        share = counts / max(1, v.size)
        figure.add_trace(
            go.Bar(x=centres, y=share, width=width, name=split, opacity=0.6,
                   marker_color=(colors or {}).get(split), marker_line_width=0,
                   customdata=np.column_stack([edges[:-1], edges[1:], counts]),
                   hovertemplate=f"{split}: %{{customdata[0]:.3g}} to %{{customdata[1]:.3g}}"
                   "<br>%{y:.1%} of the split (%{customdata[2]:,} samples)<extra></extra>")
        )  # fmt: skip
    figure.add_vline(x=threshold, line_dash="dash", line_color=BAD, annotation_text="threshold")
    apply_layout(
        figure,
        title=f"{SCORE_LABELS.get(score, score)} per split",
        x_title=SCORE_LABELS.get(score, score),
        y_title="Share of the split",
        height=380,
    )
    figure.update_layout(barmode="overlay", bargap=0)
    return figure
