"""Calibration: does the model's confidence match how often it is right?

The package is split along its concepts; import from the submodule:

- ``report``: :class:`CalibrationSummary` and ``calibration_report`` (every calibration metric
  of one split with a bootstrap interval), ``top_label_calibration_report``, the reliability
  bins and the top-label helpers.
- ``cohorts``: ``calibration_by_cohort`` (the same per value of a metadata column).
- ``temperature``: ``fit_temperature`` / ``apply_temperature`` and
  ``temperature_scaling_comparison`` with its paired gain verdicts.
- ``recalibration``: histogram binning and isotonic regression of top-label confidence.
- ``selective``: risk-coverage curves (selective prediction).
- ``findings``: the view's decisions as ``Finding`` records (thresholds documented there).

The binning is in ``gengap_dash.stats.binning``, the ECE family in
``gengap_dash.metrics.calibration``, the bootstrap in ``gengap_dash.stats.bootstrap``.
"""
