"""The learning-curve findings: run verdicts, the data-size verdict and chart takeaways as data.

Every function returns :class:`~gengap_dash.findings.model.Finding` records (kind
``"learning_curves.<what>"``); the decisions and their thresholds are in ``diagnosis`` and
``data_size`` (documented there), the words in :mod:`gengap_dash.findings.learning_curves`.

Every finding's ``facts`` carry ``run``, ``unit`` (``"epoch"`` or ``"step"``) and ``mode``
(``"min"`` when lower is better); ``split`` is the held-out split and ``metric`` the metric.
Values are in the metric's own units.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from gengap_dash.analysis.learning_curves.curves import AlignedCurves, best_point, signed_gap
from gengap_dash.analysis.learning_curves.data_size import (
    MIN_FIT_R_SQUARED,
    DataSizeAnalysis,
)
from gengap_dash.analysis.learning_curves.diagnosis import MetricAnalysis, RunDiagnosis
from gengap_dash.findings.model import Finding, Severity
from gengap_dash.findings.render import register_template_module

register_template_module("gengap_dash.findings.learning_curves")

VIEW = "learning_curves"

KIND_SEVERITY: dict[str, Severity] = {
    "overfitting": "warning",
    "underfitting": "warning",
    "noisy": "warning",
    "healthy": "ok",
}
"""How loud a run's verdict is, by the run's kind."""

DATA_SIZE_SEVERITY: dict[str, Severity] = {
    "closing": "ok",
    "closed": "ok",
    "limited": "warning",
    "far": "warning",
    "flattened": "warning",
    "unknown": "ok",
}
"""How loud the data-size verdict is, by its kind."""


def _finding(
    what: str,
    severity: Severity,
    curves: AlignedCurves,
    *,
    value: float | None = None,
    reason: str = "",
    **facts: Any,
) -> Finding:
    return Finding(
        kind=f"{VIEW}.{what}",
        severity=severity,
        split=curves.reference_split or "validation",
        metric=curves.metric,
        value=_plain(value),
        reason=reason,
        facts={
            "run": curves.run_name,
            "unit": curves.x_axis,
            "mode": curves.mode,
            **{k: _plain(v) for k, v in facts.items()},
        },
        view=VIEW,
    )


# --------------------------------------------------------------------------- run verdict


def run_findings(diagnosis: RunDiagnosis) -> list[Finding]:
    """The verdict on one run, as findings in reading order.

    1. The kind (``overfitting_minimum``, ``overfitting_gap``, ``unstable``, ``still_improving``,
       ``both_high``, ``noisy``, ``healthy``), severity ``KIND_SEVERITY[diagnosis.kind]``.
    2. ``early_stopping``: where early stopping would have stopped and whether what it keeps is
       better than training to the end (``reason`` ``"kept_better"``, ``"kept_worse"``,
       ``"kept_same"`` or ``"never_stopped"``).
    3. ``noise`` when the held-out curve is noisy but the kind is not ``noisy``.
    4. ``checkpoint`` when the run has a loaded checkpoint.
    """
    analysis = diagnosis.analysis
    curves = analysis.curves
    details = diagnosis.details
    severity = KIND_SEVERITY[diagnosis.kind]
    best = {"best_x": analysis.best_epoch, "best_value": analysis.best_value}
    final = {"final_x": analysis.final_epoch, "final_value": analysis.final_held_out}
    has_train = curves.train is not None
    findings: list[Finding] = []
    if diagnosis.kind == "overfitting" and analysis.onset_rule == "validation_minimum":
        findings.append(
            _finding(
                "overfitting_minimum", severity, curves, value=analysis.final_held_out,
                reason="validation_minimum", onset_x=analysis.onset_epoch,
                train_after_onset=details.get("train_after_onset"), **best, **final,
            )
        )  # fmt: skip
    elif diagnosis.kind == "overfitting":
        findings.append(
            _finding(
                "overfitting_gap", severity, curves, value=analysis.final_gap,
                reason="gap_widening", onset_x=analysis.onset_epoch, has_train=has_train,
                **best, **final,
            )
        )  # fmt: skip
    elif diagnosis.kind == "noisy" and "diverged_at" in details:
        findings.append(
            _finding(
                "unstable", severity, curves, value=analysis.final_held_out,
                reason="both_errors_rose", diverged_x=details["diverged_at"], **best, **final,
            )
        )  # fmt: skip
    elif diagnosis.kind == "underfitting" and "still_improving" in details:
        still = details["still_improving"]
        findings.append(
            _finding(
                "still_improving", severity, curves, value=analysis.final_held_out,
                reason="still_improving", from_x=still["from_x"],
                from_value=still["from_value"], has_train=has_train, **final,
            )
        )  # fmt: skip
    elif diagnosis.kind == "underfitting":
        findings.append(
            _finding(
                "both_high", severity, curves, value=analysis.final_gap, reason="both_high",
                first_train=details.get("first_train"), final_train=analysis.final_train,
                final_gap=analysis.final_gap,
            )
        )  # fmt: skip
    elif diagnosis.kind == "noisy":
        findings.append(_noise_finding(analysis, details, severity, leading=True))
    else:
        findings.append(
            _finding(
                "healthy", severity, curves, value=analysis.final_held_out,
                reason="no_clear_problem", final_gap=analysis.final_gap, **best, **final,
            )
        )  # fmt: skip
    findings.append(early_stopping_finding(analysis))
    if details.get("noisy") and diagnosis.kind != "noisy":
        findings.append(_noise_finding(analysis, details, "info", leading=False))
    if diagnosis.checkpoint_epoch is not None:
        at_best = (
            diagnosis.checkpoint_value is not None
            and analysis.best_epoch is not None
            and math.isclose(diagnosis.checkpoint_epoch, analysis.best_epoch)
        )
        findings.append(
            _finding(
                "checkpoint", "info", curves, value=diagnosis.checkpoint_value,
                reason="at_best" if at_best else (
                    "not_logged" if diagnosis.checkpoint_value is None else "elsewhere"
                ),
                checkpoint_x=diagnosis.checkpoint_epoch, **best,
            )
        )  # fmt: skip
    return findings


def _noise_finding(
    analysis: MetricAnalysis, details: Mapping[str, Any], severity: Severity, *, leading: bool
) -> Finding:
    span = float(details.get("span", 0.0))
    share = analysis.noise / span if span > 0 else math.inf
    return _finding(
        "noisy" if leading else "noise", severity, analysis.curves, value=analysis.noise,
        reason="noise_share", share=share, best_x=analysis.best_epoch,
        best_value=analysis.best_value,
    )  # fmt: skip


def early_stopping_finding(analysis: MetricAnalysis) -> Finding:
    """Where early stopping would have stopped and what it keeps against training to the end.

    ``reason``: ``"never_stopped"``; else ``"kept_better"`` / ``"kept_worse"`` /
    ``"kept_same"`` by comparing the kept value with the final one in the metric's direction.
    """
    curves = analysis.curves
    stopping = analysis.early_stopping
    if stopping is None:
        return _finding("early_stopping", "info", curves, reason="no_held_out")
    if not stopping.stopped:
        reason = "never_stopped"
    elif stopping.best_value == stopping.final_value:
        reason = "kept_same"
    else:
        better = (
            stopping.best_value < stopping.final_value
            if curves.mode == "min"
            else stopping.best_value > stopping.final_value
        )
        reason = "kept_better" if better else "kept_worse"
    return _finding(
        "early_stopping", "info", curves, value=stopping.best_value, reason=reason,
        patience=stopping.patience, stop_x=stopping.stop_epoch, best_x=stopping.best_epoch,
        best_value=stopping.best_value, final_value=stopping.final_value,
        final_x=analysis.final_epoch,
    )  # fmt: skip


# --------------------------------------------------------------------------- data size


def data_size_findings(analysis: DataSizeAnalysis) -> list[Finding]:
    """The data-size verdict (kind ``learning_curves.data_size``, ``reason`` the analysis kind:
    ``closing``, ``closed``, ``limited``, ``far``, ``flattened`` or ``unknown``), then
    ``learning_curves.loose_fit`` when the power law's R² is below ``MIN_FIT_R_SQUARED``."""
    facts = dict(analysis.facts)
    common = {
        "unit": "epoch",
        "mode": analysis.mode,
        "error_label": analysis.error_label,
        "size_needed": analysis.size_needed,
        **facts,
    }
    findings = [
        Finding(
            kind=f"{VIEW}.data_size",
            severity=DATA_SIZE_SEVERITY[analysis.kind],
            split=analysis.reference_split,
            metric=analysis.metric,
            value=_plain(facts.get("current_error")),
            threshold=_plain(facts.get("target_error")),
            reason=analysis.kind,
            facts={k: _plain(v) for k, v in common.items()},
            view=VIEW,
        )
    ]
    if analysis.fit.r_squared < MIN_FIT_R_SQUARED:
        findings.append(
            Finding(
                kind=f"{VIEW}.loose_fit",
                severity="info",
                split=analysis.reference_split,
                metric=analysis.metric,
                value=_plain(analysis.fit.r_squared),
                threshold=MIN_FIT_R_SQUARED,
                reason="r_squared_below_threshold",
                view=VIEW,
            )
        )
    return findings


def data_size_takeaway(analysis: DataSizeAnalysis) -> Finding:
    """The data-size chart's takeaway: the held-out value at the smallest and largest size, the
    gap to train at both (and whether it narrows), and the fitted exponent and R²."""
    sizes, values, train = analysis.sizes, analysis.held_out_values, analysis.train_values
    facts: dict[str, Any] = {
        "mode": analysis.mode,
        "at": analysis.at,
        "smallest": float(sizes[0]),
        "largest": float(sizes[-1]),
        "first_value": float(values[0]),
        "last_value": float(values[-1]),
        "error_label": analysis.error_label,
        "exponent": analysis.fit.b,
        "r_squared": analysis.fit.r_squared,
        "first_gap": None,
        "last_gap": None,
    }
    if np.isfinite(train[0]) and np.isfinite(train[-1]):
        gaps = signed_gap(train[[0, -1]], values[[0, -1]], mode=analysis.mode)
        facts["first_gap"], facts["last_gap"] = float(gaps[0]), float(gaps[1])
    return Finding(
        kind=f"{VIEW}.data_size_takeaway",
        severity="info",
        split=analysis.reference_split,
        metric=analysis.metric,
        value=float(values[-1]),
        reason="narrows"
        if facts["last_gap"] is not None and facts["last_gap"] < facts["first_gap"]
        else ("widens" if facts["last_gap"] is not None else "no_train"),
        facts={k: _plain(v) for k, v in facts.items()},
        view=VIEW,
    )


# --------------------------------------------------------------------------- chart takeaways


def curves_takeaway(diagnosis: RunDiagnosis) -> Finding:
    """The learning-curves chart's takeaway: best and final held-out values, the final train
    value and where overfitting began (``reason``: ``"validation_minimum"``,
    ``"gap_widening"``, ``"underfitting"`` or ``"no_onset"``)."""
    analysis = diagnosis.analysis
    onset = diagnosis.onset_epoch
    if onset is not None:
        reason = analysis.onset_rule or "gap_widening"
    else:
        reason = "underfitting" if diagnosis.kind == "underfitting" else "no_onset"
    return _finding(
        "curves_takeaway", "info", analysis.curves, value=diagnosis.final_validation,
        reason=reason, best_x=diagnosis.best_epoch, best_value=diagnosis.best_value,
        final_x=diagnosis.final_epoch, final_value=diagnosis.final_validation,
        final_train=diagnosis.final_train, onset_x=onset,
    )  # fmt: skip


def gap_takeaway(analysis: MetricAnalysis) -> Finding:
    """The gap chart's takeaway (``reason``: ``"no_gap_logged"``, ``"onset"``,
    ``"held_out_not_worse"`` or ``"no_onset"``)."""
    curves = analysis.curves
    gap = curves.gap
    if gap is None or not np.isfinite(gap).any():
        return _finding("gap_takeaway", "info", curves, reason="no_gap_logged")
    finite = np.isfinite(gap)
    x, values = curves.x[finite], gap[finite]
    final, last = float(values[-1]), float(x[-1])
    if analysis.onset_epoch is not None:
        at_onset = float(np.interp(analysis.onset_epoch, x, values))
        return _finding(
            "gap_takeaway", "info", curves, value=final, reason="onset",
            onset_x=analysis.onset_epoch, at_onset=at_onset, last_x=last,
        )  # fmt: skip
    if final <= 0:
        return _finding(
            "gap_takeaway", "info", curves, value=final, reason="held_out_not_worse", last_x=last
        )
    smallest = int(np.argmin(values))
    return _finding(
        "gap_takeaway", "info", curves, value=final, reason="no_onset", last_x=last,
        smallest=float(values[smallest]), smallest_x=float(x[smallest]),
    )  # fmt: skip


def patience_takeaway(sweep: pd.DataFrame, curves: AlignedCurves) -> Finding:
    """How the patience changes what early stopping keeps (from :func:`patience_sweep`): the
    smallest patience that keeps the best value, the smallest that beats training to the end
    (``reason``: ``"all_beat_final"``, ``"some_beat_final"``, ``"none_beat_final"``), and the
    first patience with which training never stops."""
    lower = curves.mode == "min"
    kept = sweep["kept_value"].to_numpy(dtype=float)
    final = float(sweep["final_value"].iloc[0])
    best = float(np.min(kept) if lower else np.max(kept))
    first_best = int(np.flatnonzero(np.isclose(kept, best))[0])
    patiences = sweep["patience"].to_numpy()
    better = kept < final if lower else kept > final
    if better.all():
        reason, first_better = "all_beat_final", int(patiences[0])
    elif better.any():
        reason, first_better = "some_beat_final", int(patiences[int(np.flatnonzero(better)[0])])
    else:
        reason, first_better = "none_beat_final", None
    never = np.flatnonzero(sweep["stop_epoch"].isna().to_numpy())
    return _finding(
        "patience_takeaway", "info", curves, value=best, reason=reason,
        best_patience=int(patiences[first_best]),
        best_x=float(sweep.iloc[first_best]["best_epoch"]), first_patience=int(patiences[0]),
        last_patience=int(patiences[-1]), first_kept=float(kept[0]), final_value=final,
        first_better_patience=first_better,
        never_stops_from=int(patiences[never[0]]) if never.size else None,
    )  # fmt: skip


def overlay_takeaway(curves: Sequence[AlignedCurves]) -> Finding:
    """The run-comparison chart's takeaway: runs ranked by their best held-out value
    (``facts["ranking"]``: ``[run, value, x, unit]`` best first; ``reason``: ``"none"``,
    ``"one"`` or ``"several"``)."""
    rows = []
    for run_curves in curves:
        held = run_curves.held_out
        if held is not None and np.isfinite(held).any():
            x, value = best_point(run_curves.x, held, mode=run_curves.mode)
            rows.append([run_curves.run_name, float(value), float(x), run_curves.x_axis])
    if not curves:
        return Finding(kind=f"{VIEW}.overlay_takeaway", severity="info", reason="none", view=VIEW)
    first = curves[0]
    rows.sort(key=lambda row: row[1] if first.mode == "min" else -row[1])
    reason = "none" if not rows else ("one" if len(rows) == 1 else "several")
    return _finding("overlay_takeaway", "info", first, reason=reason, ranking=rows)


# --------------------------------------------------------------------------- helpers


def _plain(value: Any) -> Any:
    """Numpy scalars as Python numbers (findings are JSON data)."""
    if isinstance(value, np.generic):
        return value.item()
    return value
