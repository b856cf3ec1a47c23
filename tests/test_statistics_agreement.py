"""One bootstrap engine: the overview (scorecard) and the calibration page give the same
interval for the same split, whatever its size (exact below 5,000 samples, blocks above)."""

from __future__ import annotations

import numpy as np
import pytest

from gengap_dash.analysis.calibration.report import calibration_report
from gengap_dash.analysis.scorecard import SplitData, compute_scorecard
from gengap_dash.findings.words import percent
from gengap_dash.metrics.classification import cross_entropy_losses
from gengap_dash.stats import bootstrap
from gengap_dash.stats.bootstrap import split_stream


def overconfident_split(name: str, role: str, n: int, seed: int) -> SplitData:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 10)) * 3.0
    labels = rng.integers(0, 10, n)
    logits[np.arange(n), labels] += 1.0
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    return SplitData(name, role, labels, probs, cross_entropy_losses(labels, probs))


@pytest.mark.parametrize("n", [400, 20_000, 200_000])
def test_scorecard_and_calibration_page_give_one_interval(n):
    splits = [
        overconfident_split("val", "validation", 300, seed=1),
        overconfident_split("test", "test", n, seed=n),
    ]
    card = compute_scorecard(splits, n_resamples=1000, seed=4)
    split = splits[1]
    report = calibration_report(
        split.labels, split.probs, n_resamples=1000, seed=split_stream(4, 1)
    )
    expected = "exact" if n <= bootstrap.EXACT_MAX_SAMPLES else "blocks"
    assert report.resampling == expected
    for name in ("ece", "accuracy"):
        shown, page = card.split("test").metrics[name], getattr(report, name)
        assert (shown.value, shown.low, shown.high) == pytest.approx(
            (page.value, page.low, page.high), rel=1e-12, abs=1e-15
        ), name
        for value in ("value", "low", "high"):  # as the reader sees them
            assert percent(getattr(shown, value), digits=2) == percent(
                getattr(page, value), digits=2
            )
    assert report.ece.low < report.ece.value < report.ece.high
