"""The saliency view's verdicts, as data (the words are in ``gengap_dash.findings.saliency``).

Thresholds:

- attention moved under shift (paired samples): the shifted top-k overlap is below the noise
  floor's by more than :data:`MOVED_MARGIN` (warning) or :data:`MOVED_FAR` (critical), and the
  two 95% intervals do not overlap;
- a method fails the randomization test when its maps keep a mean rank correlation above
  :data:`SANITY_FAIL_SIMILARITY` with the maps of the fully randomized model;
- a method is not faithful on a split when its deletion AUC is not below the random order's on
  the same samples (the 95% interval of the paired difference does not stay below 0);
- unpaired splits: the class-average maps moved when their distance exceeds
  :data:`AVERAGE_MOVED_DISTANCE`;
- tabular: the feature ranking changed when its Spearman correlation with the reference's is
  below :data:`RANKING_CHANGED`.
"""

from __future__ import annotations

import math

import numpy as np

from gengap_dash.analysis.attribution.maps import pixel_maps, rank_correlation, top_k_mask
from gengap_dash.analysis.attribution.results import SaliencyShift
from gengap_dash.findings.model import SEVERITIES, Finding, by_severity
from gengap_dash.findings.render import register_template_module

register_template_module("gengap_dash.findings.saliency")

MOVED_MARGIN = 0.10
MOVED_FAR = 0.30
SANITY_FAIL_SIMILARITY = 0.5
AVERAGE_MOVED_DISTANCE = 0.2
RANKING_CHANGED = 0.5
METHOD_NAMES = {
    "saliency": "Saliency",
    "integrated_gradients": "Integrated Gradients",
    "smoothgrad": "SmoothGrad",
    "gradcam": "Grad-CAM",
    "occlusion": "Occlusion",
    "feature_ablation": "Feature ablation",
}


def _finite(*values: float | None) -> bool:
    return all(value is not None and math.isfinite(value) for value in values)


def saliency_findings(result: SaliencyShift) -> list[Finding]:
    """Every verdict of the shift result, most severe first."""
    found = [
        *shift_findings(result),
        *average_findings(result),
        *sanity_findings(result),
        *deletion_findings(result),
        *feature_findings(result),
    ]
    return by_severity(found)


def shift_findings(result: SaliencyShift) -> list[Finding]:
    """Per paired split and method: does the top-k region move more than between clean runs?"""
    found = []
    for pair in result.pairs:
        floor = result.floor(pair.method)
        overlap = pair.topk_overlap
        if floor is None or not _finite(overlap.value, floor.topk_overlap.value):
            continue
        drop = floor.topk_overlap.value - overlap.value
        separated = _finite(overlap.high, floor.topk_overlap.low) and (
            overlap.high < floor.topk_overlap.low
        )
        if separated and drop > MOVED_FAR:
            severity, reason = "critical", "attention_moved_far"
        elif separated and drop > MOVED_MARGIN:
            severity, reason = "warning", "attention_moved"
        else:
            severity, reason = "ok", "attention_stable"
        found.append(
            Finding(
                kind="saliency.attention_shift",
                severity=severity,
                split=pair.split,
                metric="topk_overlap",
                value=overlap.value,
                low=overlap.low,
                high=overlap.high,
                threshold=MOVED_MARGIN,
                reason=reason,
                reference=result.reference,
                facts={
                    "method": pair.method,
                    "method_name": METHOD_NAMES.get(pair.method, pair.method),
                    "top_k": result.top_k,
                    "floor": floor.topk_overlap.value,
                    "floor_low": floor.topk_overlap.low,
                    "floor_high": floor.topk_overlap.high,
                    "rank_correlation": pair.rank_correlation.value,
                    "n_pairs": pair.n_pairs,
                },
                view="saliency",
            )
        )
    return found


def average_findings(result: SaliencyShift) -> list[Finding]:
    """Unpaired splits: did the class-average maps move?"""
    found = []
    for item in result.average_shift:
        distance = item.distance
        if not _finite(distance.value):
            continue
        moved = distance.value > AVERAGE_MOVED_DISTANCE
        found.append(
            Finding(
                kind="saliency.average_shift",
                severity="warning" if moved else "ok",
                split=item.split,
                metric="average_map_distance",
                value=distance.value,
                low=distance.low,
                high=distance.high,
                threshold=AVERAGE_MOVED_DISTANCE,
                reason="average_moved" if moved else "average_stable",
                reference=result.reference,
                facts={
                    "method": item.method,
                    "method_name": METHOD_NAMES.get(item.method, item.method),
                },
                view="saliency",
            )
        )
    return found


def sanity_verdict(similarity: float) -> bool:
    """Whether a method passes the randomization test (its maps change with the weights)."""
    return bool(_finite(similarity) and similarity <= SANITY_FAIL_SIMILARITY)


def sanity_findings(result: SaliencyShift) -> list[Finding]:
    """Per method: can it be trusted here (the randomization test)?"""
    found = []
    for check in result.sanity:
        final = check.final
        if not _finite(final.value):
            continue
        passed = sanity_verdict(final.value)
        found.append(
            Finding(
                kind="saliency.sanity",
                severity="ok" if passed else "warning",
                split=result.reference,
                metric="sanity_similarity",
                value=final.value,
                low=final.low,
                high=final.high,
                threshold=SANITY_FAIL_SIMILARITY,
                reason="passes_randomization" if passed else "fails_randomization",
                facts={
                    "method": check.method,
                    "method_name": METHOD_NAMES.get(check.method, check.method),
                    "n_layers": check.n_layers,
                },
                view="saliency",
            )
        )
    return found


def deletion_findings(result: SaliencyShift) -> list[Finding]:
    """Per method on the reference: are its maps faithful (better than a random order)?"""
    found = []
    for item in result.deletion:
        if item.split != result.reference or not _finite(item.auc.value, item.random_auc.value):
            continue
        faithful = _finite(item.auc_gap.high) and item.auc_gap.high < 0
        found.append(
            Finding(
                kind="saliency.deletion",
                severity="ok" if faithful else "warning",
                split=item.split,
                metric="deletion_auc",
                value=item.auc.value,
                low=item.auc.low,
                high=item.auc.high,
                reason="faithful" if faithful else "not_better_than_random",
                facts={
                    "method": item.method,
                    "method_name": METHOD_NAMES.get(item.method, item.method),
                    "random_auc": item.random_auc.value,
                    "gap": item.auc_gap.value,
                    "gap_low": item.auc_gap.low,
                    "gap_high": item.auc_gap.high,
                },
                view="saliency",
            )
        )
    return found


def feature_findings(result: SaliencyShift) -> list[Finding]:
    """Tabular: did the feature ranking change on a split?"""
    found = []
    reference = {item.method: item for item in result.features if item.split == result.reference}
    for item in result.features:
        if item.split == result.reference or not _finite(item.ranking_correlation):
            continue
        base = reference.get(item.method)
        changed = item.ranking_correlation < RANKING_CHANGED
        top_here = result.feature_names[int(item.importance.argmax())]
        top_there = result.feature_names[int(base.importance.argmax())] if base else top_here
        found.append(
            Finding(
                kind="saliency.feature_ranking",
                severity="warning" if changed else "ok",
                split=item.split,
                metric="ranking_correlation",
                value=item.ranking_correlation,
                threshold=RANKING_CHANGED,
                reason="ranking_changed" if changed else "ranking_stable",
                reference=result.reference,
                facts={
                    "method": item.method,
                    "method_name": METHOD_NAMES.get(item.method, item.method),
                    "top_feature": top_here,
                    "reference_top_feature": top_there,
                },
                view="saliency",
            )
        )
    return found


METHODS_AGREE = 0.5


def sample_agreement(
    maps: dict[str, np.ndarray], *, sample_id: str, label: str, predicted: str, confidence: float
) -> Finding:
    """For one sample: do the methods agree on where the evidence is?

    Args:
        maps: method -> the sample's map (any shape; magnitudes are compared).

    The value is the mean Spearman correlation over every pair of methods (NaN with one method);
    they agree when it is at least :data:`METHODS_AGREE`.
    """
    names = list(maps)
    values = [
        float(rank_correlation(maps[a].reshape(1, -1), maps[b].reshape(1, -1))[0])
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    ]
    finite = [v for v in values if math.isfinite(v)]
    value = float(np.mean(finite)) if finite else float("nan")
    agree = _finite(value) and value >= METHODS_AGREE
    return Finding(
        kind="saliency.sample",
        severity="ok" if agree or not _finite(value) else "info",
        metric="method_agreement",
        value=value,
        threshold=METHODS_AGREE,
        reason="methods_agree" if agree else ("one_method" if not finite else "methods_disagree"),
        facts={
            "sample_id": sample_id,
            "label": label,
            "predicted": predicted,
            "confidence": confidence,
            "n_methods": len(names),
        },
        view="saliency",
    )


def grid_concentration(maps: np.ndarray, *, method: str, top_k: float = 0.2) -> Finding:
    """For a grid of maps ``(n, ...)``: the mean share of |attribution| in each map's top-k
    pixels (1: all of it there; ``top_k``: spread evenly)."""
    values = np.abs(pixel_maps(maps))
    totals = values.sum(axis=1)
    mask = top_k_mask(maps, top_k)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = (values * mask).sum(axis=1) / totals
    shares = shares[np.isfinite(shares)]
    value = float(shares.mean()) if shares.size else float("nan")
    return Finding(
        kind="saliency.grid",
        severity="info",
        metric="topk_share",
        value=value,
        facts={
            "method_name": METHOD_NAMES.get(method, method),
            "n": len(values),
            "top_k": top_k,
        },
        view="saliency",
    )


def group_trend(result: SaliencyShift, method: str) -> Finding:
    """Does the paired top-k overlap of ``method`` fall from the first group (e.g. severity 1)
    to the last, averaged over the shifted splits that have groups?"""
    by_group: dict[str, list[float]] = {}
    column = None
    for pair in result.pairs:
        if pair.method != method:
            continue
        column = column or pair.group_column
        for group in pair.groups:
            if _finite(group.topk_overlap.value):
                by_group.setdefault(group.group, []).append(group.topk_overlap.value)
    groups = sorted(by_group)
    first = float(np.mean(by_group[groups[0]])) if groups else float("nan")
    last = float(np.mean(by_group[groups[-1]])) if groups else float("nan")
    falls = _finite(first, last) and len(groups) > 1 and first - last > MOVED_MARGIN
    return Finding(
        kind="saliency.group_trend",
        severity="warning" if falls else "info",
        metric="topk_overlap",
        value=last,
        threshold=MOVED_MARGIN,
        reason="falls_with_group" if falls else "flat_across_groups",
        facts={
            "method_name": METHOD_NAMES.get(method, method),
            "column": column or "group",
            "first_group": groups[0] if groups else "",
            "last_group": groups[-1] if groups else "",
            "first": first,
        },
        view="saliency",
    )


def top_features(result: SaliencyShift, split: str, method: str, *, n: int = 3) -> Finding:
    """Tabular: the features ``method`` finds the model leans on most on ``split``."""
    item = next(f for f in result.features if f.split == split and f.method == method)
    order = np.argsort(-item.importance)[:n]
    return Finding(
        kind="saliency.top_features",
        severity="info",
        split=split,
        metric="mean_abs_attribution",
        value=float(item.importance[order[0]]),
        facts={
            "method_name": METHOD_NAMES.get(method, method),
            "features": [result.feature_names[int(i)] for i in order],
        },
        view="saliency",
    )


def saliency_headline(result: SaliencyShift) -> list[Finding]:
    """What ``gengap summary`` and the report lead with: the shift finding of the method that
    passes the randomization test and whose attention moves most (else the worst finding)."""
    trusted = {check.method for check in result.sanity if sanity_verdict(check.final.value)}
    shifts = [f for f in shift_findings(result) if f.facts["method"] in trusted]
    if shifts:
        worst = max(shifts, key=lambda f: (f.rank, f.facts["floor"] - (f.value or 0.0)))
        return [worst]
    ranked = [  # the shift of a method that fails the randomization test does not lead
        f
        for f in saliency_findings(result)
        if f.kind != "saliency.attention_shift" or f.facts["method"] in trusted
    ]
    return ranked[:1]


def shift_summary(result: SaliencyShift) -> Finding:
    """Across every paired split and method: how many moved beyond the noise floor, and the range
    of the overlaps against the range of the floors."""
    found = shift_findings(result)
    moved = [f for f in found if f.reason in ("attention_moved", "attention_moved_far")]
    overlaps = [f.value for f in found if _finite(f.value)]
    floors = [f.facts["floor"] for f in found if _finite(f.facts["floor"])]
    worst = min(found, key=lambda f: f.value if _finite(f.value) else 1.0, default=None)
    return Finding(
        kind="saliency.shift_summary",
        severity=max((f.severity for f in found), key=lambda s: SEVERITIES.index(s), default="ok"),
        metric="topk_overlap",
        value=min(overlaps) if overlaps else float("nan"),
        threshold=MOVED_MARGIN,
        reason="moved" if moved else "stable",
        facts={
            "n_moved": len(moved),
            "n_compared": len(found),
            "overlap_high": max(overlaps) if overlaps else float("nan"),
            "floor_low": min(floors) if floors else float("nan"),
            "floor_high": max(floors) if floors else float("nan"),
            "top_k": result.top_k,
            "worst_split": worst.split if worst else "",
            "worst_method": worst.facts["method_name"] if worst else "",
        },
        view="saliency",
    )
