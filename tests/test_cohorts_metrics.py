"""Every cohort metric against a pandas groupby with the reference implementation (scikit-learn,
torchmetrics, the metric registry), its bootstrap replicates against the metric recomputed on
the cohort's part of the same resample, and the metric's direction in the worst-cohort verdict.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import accuracy_score, brier_score_loss, f1_score, log_loss
from torchmetrics.functional.classification import multiclass_calibration_error

from gengap_dash.analysis.cohorts.coding import code_column
from gengap_dash.analysis.cohorts.findings import heatmap_takeaway, worst_cell
from gengap_dash.analysis.cohorts.metrics import COHORT_METRICS, cohort_metric
from gengap_dash.analysis.cohorts.table import cohort_sums, cohort_table
from gengap_dash.data.predictions import probability_columns
from gengap_dash.findings.render import render
from gengap_dash.metrics.registry import METRICS
from gengap_dash.project.errors import ProjectError
from gengap_dash.stats.bootstrap import make_rng, resample_counts, split_stream

N_CLASSES = 4
ROLES = {"val": "validation", "field": "deployment"}


def hub(n: int, *, seed: int, skill: float) -> pd.DataFrame:
    """Hub-like rows with probabilities, a `site` column of three values (one of them rare)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, N_CLASSES, n)
    site = rng.choice(["a", "b", "c"], n, p=[0.5, 0.4, 0.1])
    logits = rng.normal(size=(n, N_CLASSES))
    logits[np.arange(n), labels] += np.where(site == "b", skill / 2, skill)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = probs.argmax(axis=1)
    frame = pd.DataFrame(
        {
            "label": labels,
            "pred": pred,
            "confidence": probs.max(axis=1),
            "loss": -np.log(probs[np.arange(n), labels]),
            "correct": pred == labels,
            "site": site,
        }
    )
    for k, column in enumerate(probability_columns(N_CLASSES)):
        frame[column] = probs[:, k]
    return frame


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return {"val": hub(900, seed=1, skill=2.5), "field": hub(700, seed=2, skill=1.2)}


def reference_value(name: str, rows: pd.DataFrame) -> float:
    """The metric on one cohort's rows, from the reference implementation."""
    labels = rows["label"].to_numpy()
    probs = rows[probability_columns(N_CLASSES)].to_numpy()
    preds = rows["pred"].to_numpy()
    hits = (preds == labels).astype(float)
    if name == "accuracy":
        return accuracy_score(labels, preds)
    if name == "error":
        return 1.0 - accuracy_score(labels, preds)
    if name == "macro_f1":
        return f1_score(labels, preds, average="macro", zero_division=0)
    if name == "nll":
        return log_loss(labels, probs, labels=list(range(N_CLASSES)))
    if name == "brier":
        return sum(brier_score_loss(labels == k, probs[:, k]) for k in range(N_CLASSES))
    if name in ("ece", "mce", "rms_ce"):
        norm = {"ece": "l1", "mce": "max", "rms_ce": "l2"}[name]
        return float(
            multiclass_calibration_error(
                torch.tensor(probs), torch.tensor(labels), num_classes=N_CLASSES, n_bins=15,
                norm=norm,
            )
        )  # fmt: skip
    if name == "mean_confidence":
        return float(probs.max(axis=1).mean())
    if name == "overconfidence":
        return float(probs.max(axis=1).mean() - hits.mean())
    raise AssertionError(name)


def table_of(frames, metric: str, *, n_resamples: int = 200):
    coding = code_column(frames, "site")
    sums = cohort_sums(frames, coding, metric=metric, positions={"val": 0, "field": 1},
                       n_resamples=n_resamples, seed=0, n_classes=N_CLASSES)  # fmt: skip
    return sums, cohort_table(sums, metric=metric, reference="val", roles=ROLES)


def test_the_cohort_metrics_are_the_registry_s_and_the_error_rate() -> None:
    expected = {"accuracy", "error", "macro_f1", "nll", "brier", "ece", "mce", "rms_ce",
                "mean_confidence", "overconfidence"}  # fmt: skip
    assert set(COHORT_METRICS) == expected
    assert set(COHORT_METRICS) - {"error"} <= set(METRICS)  # the rest are registered metrics
    for name, metric in COHORT_METRICS.items():
        if name in METRICS:
            info = METRICS[name]
            assert (metric.label, metric.unit) == (info.label, info.unit)
            if info.higher_is_better is not None:
                assert metric.direction == ("higher" if info.higher_is_better else "lower")
    assert cohort_metric("overconfidence").direction == "zero"
    assert cohort_metric("mean_confidence").direction == "none"


@pytest.mark.parametrize("name", list(COHORT_METRICS))
def test_every_metric_per_cohort_equals_a_groupby_with_the_reference(frames, name) -> None:
    _, table = table_of(frames, name, n_resamples=0)
    for i, split in enumerate(table.splits):
        frame = frames[split]
        for k, cohort in enumerate(table.cohorts):
            rows = frame[frame["site"] == cohort]
            assert table.n[i, k] == len(rows)
            assert table.value[i, k] == pytest.approx(reference_value(name, rows), abs=1e-6)
            registered = METRICS.get(name)
            if registered is not None:  # the registry's own plug-in value agrees too
                probs = rows[probability_columns(N_CLASSES)].to_numpy()
                value = registered.compute(rows["label"].to_numpy(), probs)
                assert table.value[i, k] == pytest.approx(value, abs=1e-6)
        assert table.split_value[i] == pytest.approx(reference_value(name, frame), abs=1e-6)


@pytest.mark.parametrize("name", ["macro_f1", "ece", "mce", "brier", "overconfidence"])
def test_replicates_are_the_metric_on_the_cohort_s_part_of_the_resample(frames, name) -> None:
    """For the exact bootstrap, replicate b of a cohort is the metric computed on the cohort's
    rows repeated as often as resample b drew them (non-additive metrics included)."""
    one = {"val": frames["val"]}
    coding = code_column(one, "site")
    sums = cohort_sums(one, coding, metric=name, positions={"val": 0}, n_resamples=20, seed=3,
                       n_classes=N_CLASSES)  # fmt: skip
    metric = cohort_metric(name)
    replicates = metric.reduce(sums.cells("val")[1])  # (B, K)
    n = len(one["val"])
    rng = make_rng(split_stream(3, 0))  # the exact plan draws nothing: the counts come first
    counts = np.vstack([block for _, block in resample_counts(n, n_resamples=20, rng=rng)])
    for b in (0, 7, 19):
        drawn = one["val"].loc[one["val"].index.repeat(counts[b])]
        for k, cohort in enumerate(coding.labels):
            rows = drawn[drawn["site"] == cohort]
            assert replicates[b, k] == pytest.approx(reference_value(name, rows), abs=1e-6)


def test_intervals_and_gaps_hold_the_value(frames) -> None:
    """Percentile intervals hold the value; the calibration errors' basic intervals (a biased
    plug-in, as the scorecard's ECE) are the percentile ones reflected about the value."""
    for name in COHORT_METRICS:
        _, table = table_of(frames, name)
        if cohort_metric(name).interval == "basic":
            sums, _ = table_of(frames, name)
            replicates = cohort_metric(name).reduce(sums.cells("field")[1])
            q_low, q_high = np.percentile(replicates, [2.5, 97.5], axis=0)
            value = table.value[1]
            assert np.allclose(table.high[1], 2 * value - q_low)
            assert np.allclose(table.low[1], np.maximum(2 * value - q_high, 0.0))
            continue
        ok = table.enough
        assert np.all(table.low[ok] <= table.value[ok] + 1e-9)
        assert np.all(table.value[ok] <= table.high[ok] + 1e-9)
        shown = np.isfinite(table.gap[1])
        assert shown.any()
        assert np.all(table.gap_low[1, shown] <= table.gap[1, shown] + 1e-9)
        assert np.all(table.gap[1, shown] <= table.gap_high[1, shown] + 1e-9)


def test_an_empty_cohort_is_empty_not_zero(frames) -> None:
    two = {"val": frames["val"], "field": frames["field"][frames["field"]["site"] != "c"]}
    for name in ("accuracy", "macro_f1", "ece"):
        _, table = table_of(two, name)
        k = table.cohorts.index("c")
        assert table.n[1, k] == 0 and np.isnan(table.value[1, k]) and np.isnan(table.gap[1, k])


def test_the_worst_cohort_follows_the_metric_s_direction(frames) -> None:
    _, accuracy = table_of(frames, "accuracy")
    _, error = table_of(frames, "error")
    _, nll = table_of(frames, "nll")
    k = worst_cell(accuracy, "field")
    assert accuracy.gap[1, k] == np.nanmin(accuracy.gap[1])  # the largest fall
    assert worst_cell(error, "field") == k and error.gap[1, k] == np.nanmax(error.gap[1])
    assert nll.gap[1, worst_cell(nll, "field")] == np.nanmax(nll.gap[1])
    text = render(heatmap_takeaway(error)).replace("\\", "")
    assert "error rate" in text and "worse (lower is better" in text
    text = render(heatmap_takeaway(accuracy)).replace("\\", "")
    assert "worse (higher is better" in text
    _, over = table_of(frames, "overconfidence")
    k = worst_cell(over, "field")
    moved = np.abs(over.value[1]) - np.abs(over.value[0])
    assert moved[k] == np.nanmax(np.where(np.isfinite(over.gap[1]), moved, np.nan))
    assert "from 0 (0 is ideal" in render(heatmap_takeaway(over))


def test_an_unknown_metric_is_refused(frames) -> None:
    with pytest.raises(ProjectError, match=r"Expected `metric` to be one of accuracy, error, .*"
                       r"but got 'auroc'"):  # fmt: skip
        table_of(frames, "auroc")
