"""The gap scorecard: every split's metrics with intervals, its gaps, and the verdicts as data.

- ``scores``: :func:`compute_scorecard` scores each split on the metrics of
  ``gengap_dash.metrics.classification`` with the project's bootstrap (one stream per split),
  then takes the gap of every split against the first train split, the first validation split
  and the shift reference (the first test split, else the first validation split).
- ``gaps``: a gap is ``split - reference`` in the metric's own direction; :func:`assess_gap`
  reads it as "worse by" (positive when the split is worse, whatever the metric's direction)
  against :data:`GAP_THRESHOLDS`.
- ``findings``: the fit and shift verdicts, the headline and the chart takeaways as
  :class:`~gengap_dash.findings.model.Finding` records (words in
  :mod:`gengap_dash.findings.scorecard`; rules with worked examples in ``docs/scorecard.md``).
"""

from gengap_dash.analysis.scorecard.findings import (
    OVERFITTING_EVIDENCE_METRICS,
    SHIFT_ROLES,
    UNDERFITTING_MAX_TRAIN_ACCURACY,
    VERDICT_METRIC,
    gap_chart_takeaway,
    headline,
    metric_takeaway,
    scorecard_findings,
)
from gengap_dash.analysis.scorecard.gaps import (
    GAP_THRESHOLDS,
    GapAssessment,
    GapScores,
    GapThreshold,
    assess_gap,
)
from gengap_dash.analysis.scorecard.scores import (
    GapReference,
    Scorecard,
    SplitData,
    SplitScores,
    compute_scorecard,
    splits_from_predictions,
)

__all__ = [
    "GAP_THRESHOLDS",
    "OVERFITTING_EVIDENCE_METRICS",
    "SHIFT_ROLES",
    "UNDERFITTING_MAX_TRAIN_ACCURACY",
    "VERDICT_METRIC",
    "GapAssessment",
    "GapReference",
    "GapScores",
    "GapThreshold",
    "Scorecard",
    "SplitData",
    "SplitScores",
    "assess_gap",
    "compute_scorecard",
    "gap_chart_takeaway",
    "headline",
    "metric_takeaway",
    "scorecard_findings",
    "splits_from_predictions",
]
