"""Results formatted for people: the tables that the pages, the CLI and the report show."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gengap_dash.analysis.scorecard import Scorecard
from gengap_dash.metrics.classification import SCORECARD_METRICS, MetricDefinition
from gengap_dash.stats.bootstrap import Estimate

SEVERITY_RANK = {"ok": 0, "warning": 1, "critical": 2}


def accuracy_delta_text(scorecard: Scorecard, split: str) -> str | None:
    """``"-21.3 pts vs val"``: a split's accuracy against validation (None for validation)."""
    reference = scorecard.validation or scorecard.train
    if reference is None or split == reference:
        return None
    value = scorecard.split(split).metrics["accuracy"].value
    base = scorecard.split(reference).metrics["accuracy"].value
    return f"{100 * (value - base):+.1f} pts vs {reference}"


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


def scorecard_table(scorecard: Scorecard) -> pd.DataFrame:
    """One row per split: n, every metric with its interval, and the accuracy gaps.

    Gaps are signed so that a positive number means "worse than the reference", in points.
    """
    rows = []
    for split in scorecard.splits:
        row: dict[str, object] = {"Split": split.name, "Role": split.role, "n": split.n}
        for definition in SCORECARD_METRICS:
            row[definition.label] = format_estimate(definition, split.metrics[definition.name])
        for label, gaps, reference in (
            ("Accuracy drop vs train", scorecard.vs_train, scorecard.train),
            ("Accuracy drop vs validation", scorecard.vs_validation, scorecard.validation),
        ):
            if reference is None:
                continue
            gap = gaps.get(split.name)
            row[label] = "reference" if gap is None else _drop_text(gap.points("accuracy"))
        rows.append(row)
    return pd.DataFrame(rows)


def _drop_text(gap: Estimate) -> str:
    """A gap in points (other - reference) shown as a drop: positive = worse."""
    drop = -gap.value
    text = f"{drop:+.1f} pts"
    if np.isfinite(gap.low) and np.isfinite(gap.high):
        text += f" ({-gap.high:+.1f} to {-gap.low:+.1f})"
    return text
