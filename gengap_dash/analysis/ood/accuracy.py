"""Accuracy without labels, from confidences alone.

- ATC (average thresholded confidence, Garg et al. 2022): the threshold ``t`` is fitted on
  validation so that the share of validation samples with confidence above ``t`` equals the
  validation accuracy; a split's estimated accuracy is its share above ``t``.
- DoC (difference of confidences, Guillory et al. 2021): validation accuracy minus the drop of
  the mean confidence from validation to the split.
"""

from __future__ import annotations

import numpy as np


def atc_threshold(confidence: np.ndarray, correct: np.ndarray) -> float:
    """The ATC threshold on validation: ``t`` with ``mean(confidence > t) = mean(correct)``
    (the ``(1 - accuracy)`` quantile of the validation confidences, taken as the value of the
    sorted confidence at rank ``round(n (1 - accuracy))``; ``-inf`` at 100% accuracy).

    Raises:
        ValueError: for empty or mismatched inputs.
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    if confidence.size == 0 or confidence.shape != correct.shape:
        raise ValueError(
            "Expected validation confidences and correctness of the same non-zero length, but "
            f"got {confidence.size} and {correct.size}."
        )
    n_wrong = round(confidence.size * (1.0 - correct.mean()))
    if n_wrong == 0:
        return float("-inf")
    return float(np.sort(confidence)[n_wrong - 1])


def atc_estimate(confidence: np.ndarray, threshold: float) -> float:
    """Estimated accuracy: the share of ``confidence`` strictly above ``threshold``."""
    return float((np.asarray(confidence, dtype=np.float64) > threshold).mean())


def doc_estimate(
    confidence: np.ndarray, *, validation_confidence: np.ndarray, validation_accuracy: float
) -> float:
    """Validation accuracy minus (validation mean confidence - the split's mean confidence)."""
    return float(
        validation_accuracy
        - (np.mean(validation_confidence) - np.mean(np.asarray(confidence, dtype=np.float64)))
    )
