"""Learning-curve analysis: when the gap opened, the best epoch, early stopping, data size.

Pure functions on :class:`~gengap_dash.data.training_logs.TrainingRun` curves: no I/O, no plotting,
no words (those are in :mod:`gengap_dash.findings.learning_curves`).

- ``curves``: aligning train and held-out splits on one x, smoothing, the signed gap (worse is
  up), best points; the vocabulary (x, held-out split, error, gap, noise) is defined there.
- ``early_stopping``: what ``EarlyStopping`` would have done, for one patience or a sweep.
- ``diagnosis``: the onset of overfitting and the kind of a run, with its thresholds.
- ``data_size``: a power law fitted to the held-out error against the training-set size.
- ``findings``: verdicts and chart takeaways as :class:`~gengap_dash.findings.model.Finding`.
"""

from gengap_dash.analysis.learning_curves.curves import (
    AlignedCurves,
    align_curves,
    align_runs,
    best_point,
    default_metric,
    ema_smooth,
    held_out_metrics,
    metric_mode,
    signed_gap,
    smooth_curves,
)
from gengap_dash.analysis.learning_curves.data_size import (
    DataSizeAnalysis,
    PowerLawFit,
    data_size_analysis,
    fit_power_law,
)
from gengap_dash.analysis.learning_curves.diagnosis import (
    MetricAnalysis,
    RunDiagnosis,
    analyze_metric,
    checkpoint_for,
    diagnose_run,
    diagnose_runs,
    overfitting_onset,
)
from gengap_dash.analysis.learning_curves.early_stopping import (
    DEFAULT_PATIENCE,
    EarlyStoppingResult,
    early_stopping,
    patience_sweep,
)
from gengap_dash.analysis.learning_curves.findings import (
    DATA_SIZE_SEVERITY,
    KIND_SEVERITY,
    curves_takeaway,
    data_size_findings,
    data_size_takeaway,
    early_stopping_finding,
    gap_takeaway,
    overlay_takeaway,
    patience_takeaway,
    run_findings,
)

__all__ = [
    "DATA_SIZE_SEVERITY",
    "DEFAULT_PATIENCE",
    "KIND_SEVERITY",
    "AlignedCurves",
    "DataSizeAnalysis",
    "EarlyStoppingResult",
    "MetricAnalysis",
    "PowerLawFit",
    "RunDiagnosis",
    "align_curves",
    "align_runs",
    "analyze_metric",
    "best_point",
    "checkpoint_for",
    "curves_takeaway",
    "data_size_analysis",
    "data_size_findings",
    "data_size_takeaway",
    "default_metric",
    "diagnose_run",
    "diagnose_runs",
    "early_stopping",
    "early_stopping_finding",
    "ema_smooth",
    "fit_power_law",
    "gap_takeaway",
    "held_out_metrics",
    "metric_mode",
    "overfitting_onset",
    "overlay_takeaway",
    "patience_sweep",
    "patience_takeaway",
    "run_findings",
    "signed_gap",
    "smooth_curves",
]
