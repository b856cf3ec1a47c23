"""Results formatted for people: the tables and card captions the pages, the CLI and the report
show. One sign convention everywhere: a gap is "worse by", positive when the split is worse than
its reference, in points for percentages."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from gengap_dash.analysis.scorecard import Scorecard
from gengap_dash.analysis.scorecard.findings import comparison_reference, pair_finding
from gengap_dash.findings.words import decimal
from gengap_dash.metrics.classification import SCORECARD_METRICS, MetricDefinition
from gengap_dash.stats.bootstrap import Estimate

SEVERITY_RANK = {"ok": 0, "info": 0, "warning": 1, "critical": 2}

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


def with_interval(value_text: str, estimate: Estimate, *, unit: str) -> str:
    """``value_text`` followed by the estimate's interval in the same units: ``"97.0% (95.6 to
    98.3)"`` for ``"percent"``, ``"+5.2 pts (3.9 to 6.6)"`` for ``"points"``, ``"0.112 (0.091
    to 0.135)"`` otherwise; the value alone when there is no interval."""
    low, high = estimate.low, estimate.high
    if not (np.isfinite(low) and np.isfinite(high)):
        return value_text
    if unit == "percent":
        return f"{value_text} ({100 * low:.1f} to {100 * high:.1f})"
    if unit == "points":
        return f"{value_text} ({100 * low:+.1f} to {100 * high:+.1f})"
    return f"{value_text} ({low:.3f} to {high:.3f})"


def format_estimate(definition: MetricDefinition, estimate: Estimate) -> str:
    """A scorecard metric with its interval, e.g. ``"97.0% (95.6 to 98.3)"``."""
    return with_interval(definition.format_value(estimate.value), estimate, unit=definition.unit)


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
