"""The shift view's verdicts (and the map's), as data. Thresholds live here, documented in
docs/feature-space.md; words live in ``gengap_dash.findings.shift``."""

from __future__ import annotations

import numpy as np

from gengap_dash.analysis.embedding_map import EmbeddingMap, map_separation
from gengap_dash.analysis.shift.detection import ShiftReport
from gengap_dash.findings.model import Finding
from gengap_dash.findings.render import register_template_module

register_template_module("gengap_dash.findings.shift")

ALPHA = 0.05
"""Level of every shift test (MMD p-values Benjamini-Hochberg-adjusted across splits; KS
Bonferroni-adjusted across classes)."""

STRONG_DOMAIN_AUC = 0.75
"""A domain classifier AUC from this value (with its interval above 0.5) is a strong shift:
critical. A detected shift below it is a warning."""

CLUSTER_GROWTH = 0.10
"""A cluster whose share grows by at least this much (10 points) from the reference is named."""

LABEL_SHIFT_TV = 0.05
"""Estimated class proportions this far (total variation) from validation's are reported."""

MAP_SEPARATED = 0.3
"""A split whose map separation (``analysis.embedding_map.map_separation``: 0 mixed, 1 apart)
reaches this value sits visibly apart from the reference on the map."""


def adjusted_mmd_p_values(report: ShiftReport) -> dict[str, float]:
    """MMD p-values, Benjamini-Hochberg-adjusted across the compared splits."""
    from scipy.stats import false_discovery_control

    if not report.splits:
        return {}
    raw = np.array([item.mmd.p_value for item in report.splits])
    adjusted = false_discovery_control(raw, method="bh")
    return {item.split: float(p) for item, p in zip(report.splits, adjusted, strict=True)}


def shift_findings(report: ShiftReport) -> list[Finding]:
    """Per compared split: the shift verdict, the cluster that grew most, the label-shift
    estimate; per deployment split with times: the first window that moved."""
    if not report.splits:
        return [
            Finding("shift.nothing_to_compare", "info", reference=report.reference, view="shift")
        ]
    adjusted = adjusted_mmd_p_values(report)
    findings = []
    for item in report.splits:
        mmd_p = adjusted[item.split]
        domain = item.domain
        n_ks = int((item.ks.adjusted < ALPHA).sum())
        detected = mmd_p < ALPHA or domain.low > 0.5 or item.ks.p_value < ALPHA
        strong = domain.auc >= STRONG_DOMAIN_AUC and domain.low > 0.5
        severity = "critical" if strong else "warning" if detected else "ok"
        reason = "strong_shift" if strong else "shift_detected" if detected else "no_shift_detected"
        findings.append(
            Finding(
                "shift.split",
                severity,
                split=item.split,
                metric="domain_auc",
                value=domain.auc,
                low=domain.low,
                high=domain.high,
                threshold=STRONG_DOMAIN_AUC,
                reason=reason,
                reference=report.reference,
                facts={
                    "mmd2": item.mmd.mmd2,
                    "mmd_p_value": item.mmd.p_value,
                    "mmd_p_adjusted": mmd_p,
                    "ks_p_value": item.ks.p_value,
                    "n_ks_classes": n_ks,
                    "n_classes": len(report.class_names),
                    "features": report.features,
                    "alpha": ALPHA,
                },
                view="shift",
            )
        )
    for item in report.splits:
        top = item.top_cluster
        if top and top["share"] - top["reference_share"] >= CLUSTER_GROWTH:
            findings.append(
                Finding(
                    "shift.cluster",
                    "info",
                    split=item.split,
                    metric="cluster_share",
                    value=top["share"],
                    threshold=CLUSTER_GROWTH,
                    reason="cluster_grew",
                    reference=report.reference,
                    facts={**top, "labelled": item.labelled},
                    view="shift",
                )
            )
    failed = []
    for item in report.splits:
        shift = item.label_shift
        if shift is None:
            continue
        outside = np.isfinite(shift.observed) & (
            (shift.observed < shift.low) | (shift.observed > shift.high)
        )
        if outside.any():
            failed.append(item.split)
            continue
        if shift.total_variation < LABEL_SHIFT_TV:
            continue
        change = shift.estimated - shift.reference
        k = int(np.argmax(np.abs(change)))
        findings.append(
            Finding(
                "shift.label_shift",
                "info",
                split=item.split,
                metric="class_share",
                value=float(shift.estimated[k]),
                low=float(shift.low[k]),
                high=float(shift.high[k]),
                threshold=LABEL_SHIFT_TV,
                reason="class_proportions_moved",
                reference="validation",
                facts={
                    "class_name": report.class_names[k],
                    "reference_share": float(shift.reference[k]),
                    "observed_share": float(shift.observed[k]),
                    "total_variation": shift.total_variation,
                },
                view="shift",
            )
        )
    if failed:
        findings.append(
            Finding(
                "shift.label_shift_check",
                "info",
                metric="class_share",
                value=float(len(failed)),
                reason="assumption_fails",
                reference="validation",
                facts={"splits": failed, "n_labelled": sum(i.labelled for i in report.splits)},
                view="shift",
            )
        )
    over_time = report.over_time
    for split in dict.fromkeys(over_time["split"]) if len(over_time) else []:
        windows = over_time[over_time["split"] == split]
        moved = windows[windows["adjusted_p_value"] < ALPHA]
        first = moved.iloc[0] if len(moved) else None
        findings.append(
            Finding(
                "shift.over_time",
                "warning" if first is not None else "ok",
                split=split,
                metric="mmd2",
                value=float(first["mmd2"]) if first is not None else None,
                threshold=ALPHA,
                reason="window_shifted" if first is not None else "no_window_shifted",
                reference=report.reference,
                facts={
                    "n_windows": len(windows),
                    "n_shifted": len(moved),
                    "first_start": str(first["start"]) if first is not None else "",
                    "first_p": float(first["adjusted_p_value"]) if first is not None else None,
                },
                view="shift",
            )
        )
    return findings


def map_findings(embedding_map: EmbeddingMap, *, reference: str | None = None) -> list[Finding]:
    """The split that sits most apart from ``reference`` (default: the map's) on the map."""
    reference = reference if reference in embedding_map.splits else embedding_map.reference
    others = {k: v for k, v in map_separation(embedding_map, reference).items() if k != reference}
    if not others:
        return []
    split = max(others, key=others.get)
    separated = sorted(k for k, v in others.items() if v >= MAP_SEPARATED)
    return [
        Finding(
            "embedding_map.separation",
            "info",
            split=split,
            metric="map_separation",
            value=others[split],
            threshold=MAP_SEPARATED,
            reason="separated" if separated else "overlapping",
            reference=reference,
            facts={
                "method": embedding_map.method,
                "n_points": int(embedding_map.coordinates.shape[0]),
                "fit_samples": int(embedding_map.parameters.get("fit_samples", 0)),
                "separated": [k for k in embedding_map.splits if k in separated],
            },
            view="embed",
        )
    ]
