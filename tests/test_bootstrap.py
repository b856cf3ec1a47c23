"""The seeded, vectorised bootstrap: determinism, equivalence with a naive loop, coverage."""

from __future__ import annotations

import numpy as np
import pytest

from gengap_dash.stats import bootstrap
from gengap_dash.stats.bootstrap import (
    Estimate,
    difference,
    estimate,
    percentile_interval,
    resample_column_sums,
)


def mean_reducer(sums: np.ndarray, n: int) -> np.ndarray:
    return np.asarray(sums)[..., 0] / n


def naive_column_sums(statistics: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """One resample at a time, drawing the same indices from the same generator."""
    rng = np.random.default_rng(seed)
    n = statistics.shape[0]
    return np.stack(
        [statistics[rng.integers(0, n, size=n)].sum(axis=0) for _ in range(n_resamples)]
    )


def test_column_sums_equal_a_naive_resample_loop():
    statistics = np.random.default_rng(0).normal(size=(97, 4))
    fast = resample_column_sums(statistics, n_resamples=50, rng=np.random.default_rng(5))
    np.testing.assert_allclose(fast, naive_column_sums(statistics, 50, seed=5), rtol=1e-12)


def test_column_sums_do_not_depend_on_the_block_size(monkeypatch):
    statistics = np.random.default_rng(1).random((300, 3))
    whole = resample_column_sums(statistics, n_resamples=40, rng=np.random.default_rng(2))
    monkeypatch.setattr(bootstrap, "_BLOCK_ELEMENTS", 7 * 300)  # 7 replicates per block
    blocked = resample_column_sums(statistics, n_resamples=40, rng=np.random.default_rng(2))
    np.testing.assert_allclose(blocked, whole, rtol=1e-12)  # same draws; BLAS may round apart


def test_each_resample_draws_n_samples():
    ones = np.ones((123, 1))
    sums = resample_column_sums(ones, n_resamples=30, rng=np.random.default_rng(0))
    assert sums.shape == (30, 1)
    np.testing.assert_array_equal(sums, 123.0)


def test_seeded_determinism_and_seed_sensitivity():
    statistics = np.random.default_rng(3).random((200, 2))
    first = resample_column_sums(statistics, n_resamples=20, rng=np.random.default_rng(42))
    again = resample_column_sums(statistics, n_resamples=20, rng=np.random.default_rng(42))
    other = resample_column_sums(statistics, n_resamples=20, rng=np.random.default_rng(43))
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_one_dimensional_statistics_are_one_column():
    values = np.arange(10.0)
    sums = resample_column_sums(values, n_resamples=3, rng=np.random.default_rng(0))
    assert sums.shape == (3, 1)


def test_empty_sample_gives_zero_sums():
    sums = resample_column_sums(np.zeros((0, 2)), n_resamples=4, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(sums, np.zeros((4, 2)))


def test_estimate_point_value_interval_and_replicates():
    values = np.random.default_rng(4).normal(loc=2.0, size=400)
    result, replicates = estimate(
        values, mean_reducer, n_resamples=300, rng=np.random.default_rng(0)
    )
    assert result.value == pytest.approx(values.mean())
    assert replicates.shape == (300,)
    assert result.low < result.value < result.high
    assert (result.low, result.high) == percentile_interval(replicates)
    assert result.to_dict() == {"value": result.value, "low": result.low, "high": result.high}


def test_percentile_interval_known_values_and_nan_handling():
    replicates = np.arange(1001) / 1000.0
    low, high = percentile_interval(replicates, confidence=0.95)
    assert low == pytest.approx(0.025) and high == pytest.approx(0.975)
    with_nan = np.concatenate([replicates, [np.nan, np.nan]])
    assert percentile_interval(with_nan) == pytest.approx((low, high))
    assert all(np.isnan(percentile_interval(np.full(5, np.nan))))


def test_difference_value_and_interval():
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    b = np.array([0.5, 0.5, 0.5, 0.5, 0.5])
    result = difference(3.0, a, 0.5, b, confidence=0.5)
    assert result == Estimate(2.5, *percentile_interval(a - b, confidence=0.5))


def test_error_messages():
    with pytest.raises(
        ValueError, match="Expected `n_resamples` to be a positive integer, but got 0"
    ):
        resample_column_sums(np.ones((3, 1)), n_resamples=0, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"positive integer, but got 2\.5"):
        resample_column_sums(np.ones((3, 1)), n_resamples=2.5, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"`statistics` of shape \(n_samples, k\)"):
        resample_column_sums(np.ones((3, 1, 1)), n_resamples=2, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"Expected `confidence` in \(0, 1\), but got 1.5"):
        percentile_interval(np.ones(3), confidence=1.5)
    with pytest.raises(
        ValueError, match=r"replicates of the same length, but got \(3,\) and \(2,\)"
    ):
        difference(0.0, np.ones(3), 0.0, np.ones(2))


@pytest.mark.parametrize("n_resamples", [True, False, np.True_, -3, 2.5, "10", None])
def test_n_resamples_must_be_a_positive_integer_not_a_bool(n_resamples):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="Expected `n_resamples` to be a positive integer"):
        resample_column_sums(np.ones((3, 1)), n_resamples=n_resamples, rng=rng)
    with pytest.raises(ValueError, match="Expected `n_resamples` to be a positive integer"):
        estimate(np.ones(3), mean_reducer, n_resamples=n_resamples, rng=rng)


def test_numpy_integer_resample_counts_are_accepted():
    sums = resample_column_sums(
        np.ones((3, 1)), n_resamples=np.int64(4), rng=np.random.default_rng(0)
    )
    assert sums.shape == (4, 1)


@pytest.mark.parametrize("confidence", [1.5, 0.0, 1.0, -0.5, float("nan"), True, "95%"])
def test_estimate_checks_confidence_before_resampling(confidence, monkeypatch):
    def must_not_resample(*args, **kwargs):
        raise AssertionError("resampled before checking `confidence`")

    monkeypatch.setattr(bootstrap, "resample_column_sums", must_not_resample)
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    with pytest.raises(ValueError, match=r"Expected `confidence` in \(0, 1\), but got"):
        estimate(np.ones(50), mean_reducer, n_resamples=10, confidence=confidence, rng=rng)
    assert rng.bit_generator.state == state  # no draw was made


# --------------------------------------------------------------------------------------------
# Coverage by simulation: the 95% interval should contain the truth about 95% of the time
# --------------------------------------------------------------------------------------------


def test_interval_coverage_for_a_proportion():
    truth, n, n_datasets = 0.7, 300, 400
    rng = np.random.default_rng(2024)
    covered = 0
    for index in range(n_datasets):
        hits = (rng.random(n) < truth).astype(np.float64)
        result, _ = estimate(
            hits, mean_reducer, n_resamples=400, rng=np.random.default_rng([7, index])
        )
        covered += result.low <= truth <= result.high
    assert 0.92 <= covered / n_datasets <= 0.98


def test_gap_interval_coverage_for_two_independent_samples():
    p_a, p_b, n, n_datasets = 0.8, 0.7, 300, 400
    rng = np.random.default_rng(99)
    covered = 0
    for index in range(n_datasets):
        a = (rng.random(n) < p_a).astype(np.float64)
        b = (rng.random(n) < p_b).astype(np.float64)
        est_a, rep_a = estimate(
            a, mean_reducer, n_resamples=400, rng=np.random.default_rng([1, index])
        )
        est_b, rep_b = estimate(
            b, mean_reducer, n_resamples=400, rng=np.random.default_rng([2, index])
        )
        gap = difference(est_a.value, rep_a, est_b.value, rep_b)
        covered += gap.low <= p_a - p_b <= gap.high
    assert 0.92 <= covered / n_datasets <= 0.98


def test_basic_interval_is_clipped_to_the_metric_range():
    from gengap_dash.stats.bootstrap import interval_from_replicates

    replicates = np.array([0.2, 0.3, 0.4, 0.5, 0.6])  # mean 0.4, estimate 0.9: 2v - q spills over 1
    low, high = interval_from_replicates(
        0.9, replicates, kind="basic", confidence=0.5, floor=0.0, ceiling=1.0
    )
    q_low, q_high = np.percentile(replicates, [25, 75])
    assert low == pytest.approx(min(2 * 0.9 - q_high, 1.0))
    assert high == 1.0 and 2 * 0.9 - q_low > 1.0
    unclipped = interval_from_replicates(0.9, replicates, kind="basic", confidence=0.5)
    assert unclipped[1] == pytest.approx(2 * 0.9 - q_low)


# --------------------------------------------------------------------------------------------
# The policy for large n: exact up to EXACT_MAX_SAMPLES, random blocks above
# --------------------------------------------------------------------------------------------


def test_plan_is_exact_up_to_the_threshold_and_blocks_above():
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    exact = bootstrap.plan_resampling(bootstrap.EXACT_MAX_SAMPLES, rng=rng)
    assert exact.method == "exact" and exact.n_groups == bootstrap.EXACT_MAX_SAMPLES
    np.testing.assert_array_equal(exact.groups, np.arange(bootstrap.EXACT_MAX_SAMPLES))
    assert rng.bit_generator.state == state  # the exact plan draws nothing
    n = bootstrap.EXACT_MAX_SAMPLES + 1
    blocks = bootstrap.plan_resampling(n, rng=rng)
    assert blocks.method == "blocks" and blocks.n_groups == bootstrap.N_BLOCKS
    sizes = np.bincount(blocks.groups, minlength=blocks.n_groups)
    assert sizes.sum() == n and sizes.max() - sizes.min() <= 1  # equal sizes, within one
    again = bootstrap.plan_resampling(n, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(again.groups, blocks.groups)  # seeded: the same blocks
    assert not np.array_equal(blocks.groups[:50], np.arange(50) % bootstrap.N_BLOCKS)  # random
    none = bootstrap.plan_resampling(10, rng=rng, n_resamples=0)
    assert none.method == "none" and none.n_groups == 1


def test_plan_forced_methods_and_errors():
    rng = np.random.default_rng(1)
    assert bootstrap.plan_resampling(50, rng=rng, resampling="blocks").n_groups == 50
    assert bootstrap.plan_resampling(10**6, rng=rng, resampling="exact").method == "exact"
    with pytest.raises(ValueError, match=r"`resampling` to be one of 'auto', 'exact', 'blocks'"):
        bootstrap.plan_resampling(10, rng=rng, resampling="poisson")
    with pytest.raises(ValueError, match=r"`n_samples` to be a non-negative integer, but got -1"):
        bootstrap.plan_resampling(-1, rng=rng)


def test_plan_sums_equal_a_groupby():
    rng = np.random.default_rng(2)
    plan = bootstrap.plan_resampling(12_000, rng=rng)
    values = rng.random((12_000, 3))
    expected = np.stack([values[plan.groups == g].sum(axis=0) for g in range(plan.n_groups)])
    np.testing.assert_allclose(plan.sum(values), expected, rtol=1e-12)
    bins = rng.integers(0, 4, 12_000)
    counts = plan.sum_binned(bins, 4)
    assert counts[7, 2] == np.sum((plan.groups == 7) & (bins == 2))


@pytest.mark.parametrize("seed", [(0,), (3, 1), 5])
def test_make_rng_accepts_integers_and_tuples(seed):
    expected = np.random.default_rng(list(seed) if isinstance(seed, tuple) else seed).random()
    assert bootstrap.make_rng(seed).random() == expected


@pytest.mark.parametrize("seed", [-1, True, (), (1, -2), 1.5, "0"])
def test_make_rng_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match=r"`seed` to be a non-negative integer or a tuple of"):
        bootstrap.make_rng(seed)


def test_block_interval_coverage_for_accuracy_above_the_exact_threshold():
    """Accuracy of Bernoulli data at n = 8,000 (> 5,000: 1,000 random blocks of 8): the 95%
    interval covers the truth in 93-97% of 300 seeded data sets."""
    truth, n, n_datasets = 0.85, 8_000, 300
    data = np.random.default_rng(2026)
    covered = 0
    for index in range(n_datasets):
        hits = (data.random(n) < truth).astype(np.float64)
        result, _ = estimate(
            hits, mean_reducer, n_resamples=400, rng=bootstrap.make_rng((11, index))
        )
        covered += result.low <= truth <= result.high
    assert 0.93 <= covered / n_datasets <= 0.97, covered / n_datasets


def test_block_and_exact_intervals_have_the_same_width():
    """Above the threshold the blocks give the exact bootstrap's interval width (within 10%)."""
    hits = (np.random.default_rng(4).random(20_000) < 0.7).astype(np.float64)
    widths = {}
    for method in ("exact", "blocks"):
        runs = [
            estimate(
                hits,
                mean_reducer,
                n_resamples=500,
                rng=bootstrap.make_rng((5, i)),
                resampling=method,
            )[0]
            for i in range(8)
        ]
        widths[method] = np.mean([r.high - r.low for r in runs])
    assert widths["blocks"] == pytest.approx(widths["exact"], rel=0.1)
    assert widths["exact"] == pytest.approx(2 * 1.96 * np.sqrt(0.7 * 0.3 / 20_000), rel=0.1)
