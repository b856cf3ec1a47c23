"""The cohorts and slices views' verdicts as data (thresholds here, words in
``gengap_dash.findings.cohorts`` and ``gengap_dash.findings.slices``).

Thresholds (documented in ``docs/cohorts.md``):

- :data:`COHORT_GAP_WARNING`: a cohort whose metric is worse by more than 0.05 (5 points for
  percentages; 0.05 nats or Brier units) than the same cohort on the reference split, in the
  metric's direction, with an interval of the gap that excludes 0, is a warning (never for
  mean confidence, which has no better direction).
- A decomposition is a warning when the split's drop is significant (interval below 0); its
  sentence names the cohort whose inside-cohort change contributes most.
- :data:`FAIRNESS_GAP_WARNING`: a between-cohort accuracy difference above 10 points whose
  interval excludes 0 is a warning.
- :data:`SIGNIFICANCE`: a slice, cluster, change point or confusion counts as found when its
  (adjusted) p-value is below 0.05, or its interval excludes 0.
"""

from __future__ import annotations

import numpy as np

from gengap_dash.analysis.cohorts import CohortsResult, Decomposition
from gengap_dash.analysis.cohorts.metrics import cohort_metric
from gengap_dash.analysis.cohorts.slices import SliceSearch
from gengap_dash.analysis.cohorts.table import CohortTable
from gengap_dash.findings.model import Finding
from gengap_dash.findings.render import register_template_module
from gengap_dash.findings.unlabelled import unlabelled_findings

register_template_module("gengap_dash.findings.cohorts")
register_template_module("gengap_dash.findings.slices")

COHORT_GAP_WARNING = 0.05
FAIRNESS_GAP_WARNING = 0.10
SIGNIFICANCE = 0.05
SLICE_LIFT_WARNING = 1.5
_ROLE_ORDER = {"deployment": 0, "shifted": 1, "test": 2, "validation": 3, "train": 4}


def _focus_split(table: CohortTable) -> str:
    """The split a headline talks about: the deployment split, else the worst shifted one..."""
    candidates = [s for s in table.splits if s != table.reference]
    if not candidates:
        return table.reference
    return min(
        candidates,
        key=lambda s: (_ROLE_ORDER.get(table.roles[s], 5), table.split_value[table.split_index(s)]),
    )


def worsening(table: CohortTable) -> np.ndarray:
    """``(S, K)``: how much worse each cell is than the same cohort on the reference split, in
    the metric's direction (positive: worse; for a metric without a direction, the size of the
    change); NaN where the gap is not shown."""
    metric = cohort_metric(table.metric)
    r = table.split_index(table.reference)
    worse = metric.worsening(table.value, table.value[r][None, :])
    return np.where(np.isfinite(table.gap), worse, np.nan)


def worst_cell(table: CohortTable, split: str) -> int | None:
    """The cohort of ``split`` that got worst against the reference (enough samples), in the
    metric's direction: the lowest gap for accuracy, the highest for error or NLL, the one that
    moved furthest from 0 for overconfidence, the largest change for mean confidence."""
    worse = worsening(table)[table.split_index(split)]
    if not np.any(np.isfinite(worse)):
        return None
    return int(np.nanargmax(worse))


def heatmap_takeaway(table: CohortTable) -> Finding:
    """The cohort and split that got worst against the reference."""
    worse = worsening(table)
    best = None
    for split in table.splits:
        k = worst_cell(table, split)
        if k is None:
            continue
        value = worse[table.split_index(split), k]
        if best is None or value > best[0]:
            best = (value, split, k)
    if best is None:
        return Finding(
            "cohorts.heatmap", "info", metric=table.metric, reason="no_cells",
            reference=table.reference,
            facts={"column": " × ".join(table.columns), "min_count": table.min_count},
            view="cohorts",
        )  # fmt: skip
    _, split, k = best
    return _cell_finding("cohorts.heatmap", table, split, k)


def _cell_finding(kind: str, table: CohortTable, split: str, k: int) -> Finding:
    i, r = table.split_index(split), table.split_index(table.reference)
    gap, low, high = table.gap[i, k], table.gap_low[i, k], table.gap_high[i, k]
    significant = bool(high < 0 or low > 0)  # the interval excludes no change
    worse = float(worsening(table)[i, k])
    severity = (
        "warning"
        if significant and worse > COHORT_GAP_WARNING and table.direction != "none"
        else "info"
    )
    return Finding(
        kind,
        severity,  # type: ignore[arg-type]
        split=split,
        metric=table.metric,
        value=float(gap),
        low=float(low),
        high=float(high),
        threshold=COHORT_GAP_WARNING,
        reason="cohort_gap_significant" if significant else "cohort_gap_within_noise",
        reference=table.reference,
        facts={
            "column": " × ".join(table.columns),
            "cohort": table.cohorts[k],
            "n": int(table.n[i, k]),
            "cohort_value": float(table.value[i, k]),
            "reference_value": float(table.value[r, k]),
            "split_value": float(table.split_value[i]),
            "label": table.label,
            "unit": table.unit,
            "direction": table.direction,
            "worse": worse,
        },
        view="cohorts",
    )


def decomposition_finding(decomposition: Decomposition) -> Finding:
    """The split's change, its mix and performance parts, and the cohort that drives it."""
    d = decomposition
    terms = d.cohort_performance if d.total <= 0 else -d.cohort_performance
    top = int(np.argmin(terms))
    mix_terms = d.cohort_mix if d.total <= 0 else -d.cohort_mix
    top_mix = int(np.argmin(mix_terms))
    significant = bool(d.total_high < 0 or d.total_low > 0)
    return Finding(
        "cohorts.decomposition",
        "warning" if d.total_high < 0 else "info",
        split=d.split,
        metric=d.metric,
        value=d.total,
        low=d.total_low,
        high=d.total_high,
        reason="change_significant" if significant else "change_within_noise",
        reference=d.reference,
        facts={
            "mix": d.mix,
            "mix_low": d.mix_low,
            "mix_high": d.mix_high,
            "performance": d.performance,
            "performance_low": d.performance_low,
            "performance_high": d.performance_high,
            "top_cohort": _named(d.columns, d.cohorts[top]),
            "top_performance": float(d.cohort_performance[top]),
            "top_mix_cohort": _named(d.columns, d.cohorts[top_mix]),
            "top_mix": float(d.cohort_mix[top_mix]),
            "column": " × ".join(decomposition_columns(d)),
        },
        view="cohorts",
    )


def _named(columns, cohort: str) -> str:
    """``"source = scanner B"`` (a cohort with its column, so numbers read as values)."""
    return f"{' × '.join(columns)} = {cohort}"


def decomposition_columns(decomposition: Decomposition) -> tuple[str, ...]:
    return decomposition.columns


def decomposition_takeaway(decompositions, roles=None) -> Finding:
    """The decomposition of the deployment split (with ``roles``), else of the largest drop."""
    roles = roles or {}
    deployed = [d for d in decompositions if roles.get(d.split) == "deployment"]
    chosen = deployed[0] if deployed else min(decompositions, key=lambda d: d.total)
    return decomposition_finding(chosen)


def fairness_finding(result: CohortsResult, split: str | None = None) -> Finding | None:
    """The largest between-cohort accuracy difference over the splits, or on ``split`` (None
    without two cohorts of enough samples)."""
    candidates = [f for f in result.fairness if f.best and split in (None, f.split)]
    if not candidates:
        return None
    widest = max(candidates, key=lambda f: f.difference)
    significant = bool(widest.low > 0)
    recall = np.where(np.isfinite(widest.recall_gap), widest.recall_gap, -np.inf)
    c = int(np.argmax(recall))
    columns = result.table.columns
    facts = {"column": " × ".join(columns), "best": _named(columns, widest.best),
             "worst": _named(columns, widest.worst)}  # fmt: skip
    if np.isfinite(recall[c]):
        facts |= {
            "recall_class": result.classes[c],
            "recall_gap": float(widest.recall_gap[c]),
            "recall_low": float(widest.recall_low[c]),
            "recall_high": float(widest.recall_high[c]),
            "recall_best": _named(columns, widest.recall_best[c]),
            "recall_worst": _named(columns, widest.recall_worst[c]),
        }
    return Finding(
        "cohorts.fairness",
        "warning" if significant and widest.difference > FAIRNESS_GAP_WARNING else "info",
        split=widest.split,
        metric="accuracy",
        value=widest.difference,
        low=widest.low,
        high=widest.high,
        threshold=FAIRNESS_GAP_WARNING,
        reason="cohort_difference_significant" if significant else "cohort_difference_noise",
        facts=facts,
        view="cohorts",
    )


def confusion_finding(result: CohortsResult, split: str | None = None) -> Finding | None:
    """The confusion that grew most on ``split`` (default: the focus split)."""
    confusions = result.confusions
    split = split or _focus_split(result.table)
    if split == confusions.reference:
        return None
    grown = confusions.grown(split, top=1)
    if not grown:
        return None
    true, predicted = grown[0]
    i = confusions.splits.index(split)
    low = float(confusions.change_low[i, true, predicted])
    return Finding(
        "cohorts.confusion",
        "info",
        split=split,
        metric="confusion_rate",
        value=float(confusions.change[i, true, predicted]),
        low=low,
        high=float(confusions.change_high[i, true, predicted]),
        reason="confusion_grew" if low > 0 else "confusion_within_noise",
        reference=confusions.reference,
        facts={"true": confusions.classes[true], "predicted": confusions.classes[predicted]},
        view="cohorts",
    )


def change_findings(result: CohortsResult) -> list[Finding]:
    """One finding per split whose accuracy changed over time (p below 0.05)."""
    if result.over_time is None:
        return []
    found = []
    for change in result.over_time.changes:
        stepped = change.p_adjusted < SIGNIFICANCE
        trending = change.trend_p_adjusted < SIGNIFICANCE
        if not (stepped or trending):
            continue
        fell = change.after < change.before if stepped else change.trend < 0
        if stepped:
            reason = "accuracy_fell" if fell else "accuracy_rose"
        else:
            reason = "accuracy_trend_down" if fell else "accuracy_trend_up"
        found.append(
            Finding(
                "cohorts.change_point",
                "warning" if fell else "info",
                split=change.split,
                metric="accuracy",
                value=change.after - change.before,
                threshold=SIGNIFICANCE,
                reason=reason,
                facts={
                    "window": change.window,
                    "before": change.before,
                    "after": change.after,
                    "p_value": change.p_value,
                    "p_adjusted": change.p_adjusted,
                    "trend": change.trend,
                    "trend_p_adjusted": change.trend_p_adjusted,
                    "column": result.over_time.column,
                },
                view="cohorts",
            )
        )
    return found


def weakest_cohort_finding(table: CohortTable) -> Finding | None:
    """The cohort of the focus split that loses most against the reference."""
    focus = _focus_split(table)
    k = worst_cell(table, focus)
    return None if k is None else _cell_finding("cohorts.weakest_cohort", table, focus, k)


def over_time_takeaway(result: CohortsResult, splits) -> Finding:
    """The first significant change among ``splits``, or that none was found."""
    changes = [f for f in change_findings(result) if f.split in splits]
    if changes:
        return changes[0]
    over = result.over_time
    return Finding(
        "cohorts.no_change",
        "ok",
        metric="accuracy",
        threshold=SIGNIFICANCE,
        reason="no_change_point" if over is not None else "no_time_column",
        facts={"splits": list(splits), "column": over.column if over else ""},
        view="cohorts",
    )


def cohort_findings(result: CohortsResult) -> list[Finding]:
    """Every verdict of the cohorts view, most important first."""
    table = result.table
    focus = _focus_split(table)
    found: list[Finding] = []
    decompositions = {d.split: d for d in result.decompositions}
    if focus in decompositions:
        found.append(decomposition_finding(decompositions[focus]))
    k = worst_cell(table, focus)
    if k is not None:
        found.append(_cell_finding("cohorts.weakest_cohort", table, focus, k))
    fair = fairness_finding(result)
    if fair is not None:
        found.append(fair)
    found.extend(change_findings(result))
    confusion = confusion_finding(result)
    if confusion is not None:
        found.append(confusion)
    found.extend(
        unlabelled_findings(
            result.unlabelled,
            view="cohorts",
            needs=("cohort accuracy", "its decomposition", "confusions", "the metric over time"),
        )
    )
    return found


def slice_findings(search: SliceSearch, clusters=None) -> list[Finding]:
    """The weakest slice (or that none stands out), and the weakest embedding cluster."""
    found: list[Finding] = []
    significant = [s for s in search.slices if s.p_adjusted < SIGNIFICANCE]
    if significant:
        top = significant[0]
        clean = {
            split: on.error
            for split, on in top.by_split.items()
            if split != search.split
            and search.roles.get(split) in ("validation", "test")
            and on.n > 0
        }
        new_under_shift = bool(clean) and max(clean.values()) < 0.5 * top.error
        found.append(
            Finding(
                "slices.weak_slice",
                "warning" if top.lift >= SLICE_LIFT_WARNING else "info",
                split=search.split,
                metric="error",
                value=top.error,
                low=top.low,
                high=top.high,
                threshold=SIGNIFICANCE,
                reason="slice_error_excess",
                facts={
                    "slice": top.name,
                    "n": top.n,
                    "lift": top.lift,
                    "p_adjusted": top.p_adjusted,
                    "split_error": search.error,
                    "n_tested": search.n_tested,
                    "clean": clean,
                    "new_under_shift": new_under_shift,
                    "n_significant": len(significant),
                },
                view="slices",
            )
        )
    else:
        found.append(
            Finding(
                "slices.none_found",
                "ok",
                split=search.split,
                metric="error",
                value=search.error,
                threshold=SIGNIFICANCE,
                reason="no_slice_significant",
                facts={"n_tested": search.n_tested, "min_support": search.min_support},
                view="slices",
            )
        )
    if clusters is not None:
        weak = [c for c in clusters.clusters if c.p_adjusted < SIGNIFICANCE and c.lift > 1]
        if weak:
            c = weak[0]
            found.append(
                Finding(
                    "slices.weak_cluster",
                    "info",
                    split=clusters.split,
                    metric="error",
                    value=c.error.get(clusters.split),
                    reason="cluster_error_excess",
                    facts={
                        "cluster": c.index,
                        "n": c.n.get(clusters.split, 0),
                        "lift": c.lift,
                        "p_adjusted": c.p_adjusted,
                        "metadata": [list(m) for m in c.metadata],
                        "classes": [list(k) for k in c.classes],
                    },
                    view="slices",
                )
            )
    return found
