"""Label audit: which labels look wrong, per split and per cohort (confident learning).

Suspected label errors come from cleanlab (Northcutt et al., 2021):
:func:`cleanlab.filter.find_label_issues` flags them and
:func:`cleanlab.rank.get_label_quality_scores` ranks them, both on the model's cached
probabilities. Confident learning needs out-of-sample probabilities: on a split the model was
trained on (``in_sample``) it has memorised part of the noise, so the share found there is a
lower bound (the finding says so). Out-of-fold probabilities that a user brings are not read yet.

Intervals: the share of suspects and the accuracies are proportions, with Wilson score
intervals (:func:`gengap_dash.stats.proportions.wilson_interval`), in closed form.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gengap_dash.findings.unlabelled import UnlabelledSplit
from gengap_dash.stats.bootstrap import DEFAULT_CONFIDENCE
from gengap_dash.stats.proportions import wilson_interval

FILTER_BY = "prune_by_noise_rate"
"""cleanlab's default filter (documented in docs/data-quality.md)."""
QUALITY_METHOD = "self_confidence"
"""cleanlab's default label-quality score: the probability the model gives the given label."""
MIN_SAMPLES = 20
"""Splits with fewer labelled samples are not audited (confident learning's thresholds are
per-class averages)."""

SUSPECT_COLUMNS = ("split", "sample_id", "row", "label", "pred", "confidence", "label_quality")
COHORT_COLUMNS = ("split", "column", "cohort", "n", "n_suspects", "share", "low", "high")


@dataclass(frozen=True)
class SplitLabels:
    """What the audit reads of one split.

    Attributes:
        labels: ``(n,)`` given class indices.
        probs: ``(n, C)`` the model's class probabilities.
        sample_ids: ``(n,)`` sample ids (strings).
        cohorts: metadata column name -> ``(n,)`` values, for the per-cohort shares.
        in_sample: the model was trained on these samples (train role).
    """

    name: str
    role: str
    labels: np.ndarray
    probs: np.ndarray
    sample_ids: np.ndarray
    cohorts: Mapping[str, np.ndarray] = field(default_factory=dict)
    in_sample: bool = False


@dataclass(frozen=True)
class SplitAudit:
    """The audit of one split; ``share``/``accuracy``/``accuracy_without`` are fractions with
    Wilson intervals (``NaN`` when the split was not audited, see ``note``)."""

    split: str
    role: str
    in_sample: bool
    n: int
    n_suspects: int
    share: float
    share_low: float
    share_high: float
    accuracy: float
    accuracy_low: float
    accuracy_high: float
    accuracy_without: float
    accuracy_without_low: float
    accuracy_without_high: float
    note: str = ""

    @property
    def audited(self) -> bool:
        return not self.note


@dataclass(frozen=True)
class LabelAudit:
    """The label audit of every split.

    Attributes:
        splits: one :class:`SplitAudit` per split, in project order.
        suspects: one row per suspected label error (:data:`SUSPECT_COLUMNS`), lowest label
            quality first; ``row`` is the position in the split.
        cohorts: per split, metadata column and value: ``n``, ``n_suspects``, ``share`` and its
            Wilson interval (:data:`COHORT_COLUMNS`).
        class_names: the class names, for people.
        filter_by: cleanlab's filter.
        unlabelled: splits left out because they are not labelled on every row.
    """

    splits: tuple[SplitAudit, ...]
    suspects: pd.DataFrame
    cohorts: pd.DataFrame
    class_names: tuple[str, ...]
    filter_by: str = FILTER_BY
    confidence: float = DEFAULT_CONFIDENCE
    unlabelled: tuple[UnlabelledSplit, ...] = ()

    def split(self, name: str) -> SplitAudit:
        return next(audit for audit in self.splits if audit.split == name)

    def to_dict(self) -> dict:
        from gengap_dash.store.json_values import json_safe

        return json_safe(
            {
                "filter_by": self.filter_by,
                "confidence": self.confidence,
                "splits": [audit.__dict__ | {"audited": audit.audited} for audit in self.splits],
                "cohorts": self.cohorts.to_dict(orient="records"),
                "n_suspects": len(self.suspects),
                "unlabelled": [split.name for split in self.unlabelled],
                "suspects": self.suspects.head(100).to_dict(orient="records"),
            }
        )


def find_suspects(labels: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cleanlab's suspected label errors and label-quality scores of one split.

    Args:
        labels: ``(n,)`` class indices in ``[0, C)``.
        probs: ``(n, C)`` out-of-sample class probabilities (rows sum to 1).

    Returns:
        ``(n,)`` bool mask of suspects (``find_label_issues``, :data:`FILTER_BY`) and ``(n,)``
        label-quality scores in [0, 1] (``get_label_quality_scores``, :data:`QUALITY_METHOD`).

    Raises:
        ValueError: for mismatched shapes or labels outside ``[0, C)``.
    """
    labels, probs = _check(labels, probs)
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mask = find_label_issues(labels, probs, filter_by=FILTER_BY, n_jobs=1)
        quality = get_label_quality_scores(labels, probs, method=QUALITY_METHOD)
    return np.asarray(mask, dtype=bool), np.asarray(quality, dtype=np.float64)


def audit_labels(
    splits: Sequence[SplitLabels],
    *,
    class_names: Sequence[str],
    confidence: float = DEFAULT_CONFIDENCE,
) -> LabelAudit:
    """Audit every split's labels (see the module docstring)."""
    audits, suspect_frames, cohort_rows = [], [], []
    for split in splits:
        audit, suspects, rows = _audit_split(split, confidence)
        audits.append(audit)
        if suspects is not None:
            suspect_frames.append(suspects)
        cohort_rows.extend(rows)
    suspects = (
        pd.concat(suspect_frames, ignore_index=True)
        if suspect_frames
        else pd.DataFrame({c: [] for c in SUSPECT_COLUMNS})
    )
    suspects = suspects.sort_values("label_quality", kind="stable").reset_index(drop=True)
    cohorts = pd.DataFrame(cohort_rows, columns=list(COHORT_COLUMNS))
    return LabelAudit(tuple(audits), suspects, cohorts, tuple(class_names), confidence=confidence)


def _audit_split(split: SplitLabels, confidence: float):
    labels, probs = _check(split.labels, split.probs, where=f"split {split.name!r}")
    n = len(labels)
    correct = probs.argmax(axis=1) == labels
    accuracy = _proportion(int(correct.sum()), n, confidence)
    if n < MIN_SAMPLES:
        note = f"{n} labelled samples; the audit needs at least {MIN_SAMPLES}."
        return _unaudited(split, n, accuracy, note), None, []
    try:
        mask, quality = find_suspects(labels, probs)
    except Exception as error:  # noqa: BLE001 - cleanlab's own refusal, reported as a note
        note = f"cleanlab could not audit it: {str(error).splitlines()[0] if str(error) else error}"
        return _unaudited(split, n, accuracy, note), None, []
    n_suspects = int(mask.sum())
    share = _proportion(n_suspects, n, confidence)
    kept = ~mask
    without = _proportion(int(correct[kept].sum()), int(kept.sum()), confidence)
    audit = SplitAudit(
        split.name, split.role, split.in_sample, n, n_suspects, *share, *accuracy, *without
    )
    rows = np.flatnonzero(mask)
    suspects = pd.DataFrame(
        {
            "split": split.name,
            "sample_id": np.asarray(split.sample_ids)[rows].astype(str),
            "row": rows.astype(np.int64),
            "label": labels[rows],
            "pred": probs[rows].argmax(axis=1).astype(np.int64),
            "confidence": probs[rows].max(axis=1),
            "label_quality": quality[rows],
        }
    )
    cohort_rows = []
    for column, values in split.cohorts.items():
        values = pd.Series(np.asarray(values)).astype(str).to_numpy()
        for cohort in pd.unique(values):
            members = values == cohort
            size, hits = int(members.sum()), int(mask[members].sum())
            value, low, high = _proportion(hits, size, confidence)
            cohort_rows.append((split.name, column, str(cohort), size, hits, value, low, high))
    return audit, suspects, cohort_rows


def _unaudited(split: SplitLabels, n: int, accuracy, note: str) -> SplitAudit:
    nan = float("nan")
    return SplitAudit(
        split.name,
        split.role,
        split.in_sample,
        n,
        0,
        nan,
        nan,
        nan,
        *accuracy,
        nan,
        nan,
        nan,
        note=note,
    )


def _proportion(hits: int, n: int, confidence: float) -> tuple[float, float, float]:
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    low, high = wilson_interval(np.array([hits]), np.array([n]), confidence=confidence)
    return hits / n, float(low[0]), float(high[0])


def _check(labels, probs, *, where: str = "the split") -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or labels.ndim != 1 or len(labels) != len(probs):
        raise ValueError(
            f"Expected `labels` (n,) and `probs` (n, C) for {where}, but got shapes "
            f"{labels.shape} and {probs.shape}."
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= probs.shape[1]):
        raise ValueError(
            f"Expected labels of {where} in [0, {probs.shape[1]}), but got values from "
            f"{labels.min()} to {labels.max()}."
        )
    return labels.astype(np.int64), probs
