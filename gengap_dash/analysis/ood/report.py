"""Out-of-distribution scores of every split, how well each separates each shifted and
deployment split from the reference, how well each flags the model's errors, and accuracy
estimated from confidences alone."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gengap_dash.analysis.ood.accuracy import atc_estimate, atc_threshold, doc_estimate
from gengap_dash.analysis.ood.detection import auroc, fpr_at_tpr
from gengap_dash.analysis.ood.scores import (
    DEFAULT_K,
    KNN_MAX_TRAIN,
    OUTPUT_SCORES,
    SCORES,
    energy_score,
    fit_class_gaussians,
    knn_score,
    mahalanobis_score,
    max_logit_score,
    msp_score,
)
from gengap_dash.analysis.shift.detection import compared_splits
from gengap_dash.analysis.shift.inputs import SplitArrays, check_embeddings
from gengap_dash.store.codec import HEAVY


@dataclass(frozen=True)
class OODReport:
    """Per-sample scores and how well they work.

    Attributes:
        reference: the split treated as in-distribution (negatives).
        scores: the scores computed (``msp``... ``knn``; the last two need embeddings).
        samples: one row per sample of every split: ``split, sample_id, label`` (-1 without
            labels), ``pred, confidence, correct`` (NaN without labels) and one column per
            score. ``None`` in a light read of the cached result (``store.codec.HEAVY``: the
            tables and findings do not need it, and at millions of predictions it is most of
            the result).
        detection: ``split, role, score, auroc, fpr95, error_auroc`` for each compared split
            and score (``error_auroc``: AUROC at flagging the split's wrong predictions, NaN
            without labels).
        accuracy: ``split, role, labelled, accuracy, mean_confidence, atc, doc`` per split.
        atc_threshold: the ATC confidence threshold fitted on validation (NaN without one).
        validation: the split ATC and DoC were fitted on (``""`` without one).
        k: the kNN score's k.
    """

    reference: str
    scores: tuple[str, ...]
    samples: pd.DataFrame | None = field(metadata=HEAVY)
    detection: pd.DataFrame
    accuracy: pd.DataFrame
    atc_threshold: float
    validation: str
    k: int
    notes: tuple[str, ...] = ()

    def best_scores(self) -> dict[str, str]:
        """Per compared split, the score with the highest AUROC."""
        if self.detection.empty:
            return {}
        best = self.detection.loc[self.detection.groupby("split", sort=False)["auroc"].idxmax()]
        return dict(zip(best["split"], best["score"], strict=True))

    def to_dict(self) -> dict:
        """The ``gengap ood --json`` form: per split and score ``auroc``, ``fpr95``,
        ``error_auroc``; per split the accuracy estimates."""
        splits: dict = {}
        for row in self.detection.itertuples():
            splits.setdefault(row.split, {})[row.score] = {
                "auroc": row.auroc,
                "fpr95": row.fpr95,
                "error_auroc": row.error_auroc,
            }
        accuracy = {
            row.split: {
                "accuracy": row.accuracy,
                "mean_confidence": row.mean_confidence,
                "atc": row.atc,
                "doc": row.doc,
            }
            for row in self.accuracy.itertuples()
        }
        return {
            "reference": self.reference,
            "scores": list(self.scores),
            "k": self.k,
            "atc_threshold": self.atc_threshold,
            "splits": splits,
            "best_score": self.best_scores(),
            "accuracy_estimates": accuracy,
        }


def compute_ood(
    splits: list[SplitArrays], *, reference: str, k: int = DEFAULT_K, seed: int = 0
) -> OODReport:
    """Every score of every sample, and the detection and accuracy tables.

    Args:
        splits: every split of the project, in project order (the train split, with labels,
            fits the Mahalanobis and kNN scores; the validation split fits ATC).
        reference: the in-distribution split (test or validation).

    Raises:
        ValueError: an unknown reference or bad embeddings.
    """
    names = [s.name for s in splits]
    if reference not in names:
        raise ValueError(
            f"Expected `reference` to be one of {', '.join(names)}, but got {reference!r}."
        )
    width = check_embeddings(splits)
    train = next((s for s in splits if s.role == "train" and s.labels is not None), None)
    notes = []
    scores = list(OUTPUT_SCORES)
    fit = None
    train_rows = None
    if width is not None and train is not None:
        scores += ["mahalanobis", "knn"]
        fit = fit_class_gaussians(train.embeddings, train.labels, splits[0].probs.shape[1])
        train_rows = train.embeddings
        if train_rows.shape[0] > KNN_MAX_TRAIN:
            rng = np.random.default_rng(seed)
            train_rows = train_rows[rng.choice(train_rows.shape[0], KNN_MAX_TRAIN, replace=False)]
    elif width is None:
        notes.append("The project has no embeddings: the Mahalanobis and kNN scores need them.")
    else:
        notes.append("The project has no labelled train split to fit Mahalanobis and kNN on.")
    frames = []
    for split in splits:
        frame = pd.DataFrame(
            {
                "split": split.name,
                "sample_id": split.sample_ids
                if split.sample_ids is not None
                else np.arange(split.n).astype(str),
                "label": split.labels if split.labels is not None else -1,
                "pred": split.predictions,
                "confidence": split.confidence,
                "correct": (split.predictions == split.labels).astype(np.float64)
                if split.labels is not None
                else np.nan,
                "msp": msp_score(split.probs),
                "max_logit": max_logit_score(split.logits),
                "energy": energy_score(split.logits),
            }
        )
        if fit is not None:
            frame["mahalanobis"] = mahalanobis_score(split.embeddings, fit)
            is_train = split is train and train_rows is train.embeddings
            frame["knn"] = knn_score(
                split.embeddings,
                train_rows,
                k=min(k, train_rows.shape[0] - 1),
                exclude_self=is_train,
            )
        frames.append(frame)
    samples = pd.concat(frames, ignore_index=True)
    detection = _detection(samples, splits, reference, scores)
    accuracy, threshold, validation = _accuracy(splits)
    return OODReport(
        reference=reference,
        scores=tuple(s for s in SCORES if s in scores),
        samples=samples,
        detection=detection,
        accuracy=accuracy,
        atc_threshold=threshold,
        validation=validation,
        k=int(k),
        notes=tuple(notes),
    )


def _detection(
    samples: pd.DataFrame, splits: list[SplitArrays], reference: str, scores: list[str]
) -> pd.DataFrame:
    negatives = samples[samples["split"] == reference]
    rows = []
    for split in compared_splits(splits, reference):
        positives = samples[samples["split"] == split.name]
        for score in scores:
            error_auroc = float("nan")
            if split.labels is not None:
                wrong = positives["correct"].to_numpy() == 0
                if wrong.any() and (~wrong).any():
                    values = positives[score].to_numpy()
                    error_auroc = auroc(values[~wrong], values[wrong])
            rows.append(
                {
                    "split": split.name,
                    "role": split.role,
                    "score": score,
                    "auroc": auroc(negatives[score], positives[score]),
                    "fpr95": fpr_at_tpr(negatives[score], positives[score]),
                    "error_auroc": error_auroc,
                }
            )
    return pd.DataFrame(rows, columns=["split", "role", "score", "auroc", "fpr95", "error_auroc"])


def _accuracy(splits: list[SplitArrays]) -> tuple[pd.DataFrame, float, str]:
    validation = next((s for s in splits if s.role == "validation" and s.labels is not None), None)
    threshold = float("nan")
    if validation is not None:
        correct = validation.predictions == validation.labels
        threshold = atc_threshold(validation.confidence, correct)
        validation_accuracy = float(correct.mean())
    rows = []
    for split in splits:
        confidence = split.confidence
        labelled = split.labels is not None
        rows.append(
            {
                "split": split.name,
                "role": split.role,
                "labelled": labelled,
                "accuracy": float((split.predictions == split.labels).mean())
                if labelled
                else float("nan"),
                "mean_confidence": float(confidence.mean()),
                "atc": atc_estimate(confidence, threshold)
                if validation is not None
                else float("nan"),
                "doc": doc_estimate(
                    confidence,
                    validation_confidence=validation.confidence,
                    validation_accuracy=validation_accuracy,
                )
                if validation is not None
                else float("nan"),
            }
        )
    return pd.DataFrame(rows), threshold, validation.name if validation is not None else ""
