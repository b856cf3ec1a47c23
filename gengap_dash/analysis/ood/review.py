"""The review queue: samples of a split ranked by a score, with the threshold that flags a
chosen share of the reference (the false-alarm rate), for human reviewers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gengap_dash.analysis.ood.scores import SCORES

DEFAULT_FALSE_ALARM = 0.05
"""The share of the reference the threshold flags by default (5%)."""

DEFAULT_TOP = 50

QUEUE_COLUMNS = ("rank", "sample_id", "split", "score", "pred", "confidence", "label", "flagged")


@dataclass(frozen=True)
class ReviewQueue:
    """The ranked samples of one split.

    Attributes:
        split, score: the split ranked and the score that ranks it (``"combined"``: the mean of
            the sample's percentile among the reference's scores for the OOD score
            ``ood_score`` and for ``msp``, the predicted error probability).
        reference: the split whose scores set the threshold.
        threshold: a sample is flagged when its score is above it.
        false_alarm: the share of the reference above ``threshold``.
        n, n_flagged: the split's samples and how many are flagged.
        n_reference: the reference's samples (the threshold's own sampling noise; 0 when not
            known).
        queue: the top rows, ``rank, sample_id, split, score, pred, confidence, label, flagged``
            (``label`` -1 without labels) and the sample's metadata where given.
    """

    split: str
    score: str
    reference: str
    threshold: float
    false_alarm: float
    n: int
    n_flagged: int
    queue: pd.DataFrame
    ood_score: str = ""
    n_reference: int = 0


def reference_percentile(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Share of ``reference`` values strictly below each of ``values`` (in [0, 1])."""
    ordered = np.sort(np.asarray(reference, dtype=np.float64))
    return np.searchsorted(ordered, np.asarray(values, dtype=np.float64), side="left") / max(
        1, ordered.size
    )


def combined_score(frame: pd.DataFrame, reference: pd.DataFrame, *, ood_score: str) -> np.ndarray:
    """``(n,)``: mean of the reference percentiles of ``ood_score`` and of ``msp``."""
    return 0.5 * (
        reference_percentile(frame[ood_score], reference[ood_score])
        + reference_percentile(frame["msp"], reference["msp"])
    )


def review_queue(
    samples: pd.DataFrame,
    *,
    split: str,
    reference: str,
    score: str = "combined",
    false_alarm: float = DEFAULT_FALSE_ALARM,
    top: int = DEFAULT_TOP,
    extra: pd.DataFrame | None = None,
) -> ReviewQueue:
    """Rank ``split``'s samples by ``score`` (highest first).

    Args:
        samples: :attr:`OODReport.samples`.
        false_alarm: the share of the reference the threshold flags.
        top: rows kept in the queue.
        extra: optional columns to join on ``sample_id`` (metadata).

    Raises:
        ValueError: for an unknown split or score, a ``false_alarm`` outside (0, 1) or a
            ``top`` below 1.
    """
    splits = [str(name) for name in pd.unique(samples["split"].to_numpy(dtype=object))]
    if split not in splits:
        raise ValueError(f"Expected `split` to be one of {', '.join(splits)}, but got {split!r}.")
    available = [s for s in SCORES if s in samples.columns]
    if score != "combined" and score not in available:
        raise ValueError(
            f"Expected `score` to be one of {', '.join([*available, 'combined'])}, but got "
            f"{score!r}."
        )
    if not 0.0 < float(false_alarm) < 1.0:
        raise ValueError(f"Expected `false_alarm` between 0 and 1, but got {false_alarm!r}.")
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ValueError(f"Expected `top` to be a positive integer, but got {top!r}.")
    mine = samples[samples["split"] == split].reset_index(drop=True)
    theirs = samples[samples["split"] == reference]
    ood_score = "knn" if "knn" in available else "energy"
    if score == "combined":
        values = combined_score(mine, theirs, ood_score=ood_score)
        reference_values = combined_score(theirs, theirs, ood_score=ood_score)
    else:
        values = mine[score].to_numpy(np.float64)
        reference_values = theirs[score].to_numpy(np.float64)
    threshold = float(np.quantile(reference_values, 1.0 - false_alarm, method="higher"))
    flagged = values > threshold
    order = np.argsort(-values, kind="stable")[:top]
    queue = pd.DataFrame(
        {
            "rank": np.arange(1, order.size + 1),
            "sample_id": mine["sample_id"].to_numpy()[order],
            "split": split,
            "score": values[order],
            "pred": mine["pred"].to_numpy()[order],
            "confidence": mine["confidence"].to_numpy()[order],
            "label": mine["label"].to_numpy()[order],
            "flagged": flagged[order],
        }
    )
    if extra is not None and len(extra):
        queue = queue.merge(extra, on="sample_id", how="left")
    return ReviewQueue(
        split=split,
        score=score,
        reference=reference,
        threshold=threshold,
        false_alarm=float(false_alarm),
        n=int(values.size),
        n_flagged=int(flagged.sum()),
        queue=queue,
        ood_score=ood_score if score == "combined" else "",
        n_reference=int(reference_values.size),
    )
