"""Two-sample tests: did two sets of samples come from the same distribution?

- :func:`mmd2_unbiased` and :func:`mmd_test`: the squared maximum mean discrepancy with an RBF
  kernel (median-distance bandwidth), unbiased estimator, and a permutation p-value
  ``(1 + #{permuted >= observed}) / (1 + B)`` (never 0). Large inputs are subsampled to
  :data:`MMD_MAX_SAMPLES` per side (seeded), which bounds time and memory: the pooled kernel
  matrix of ``2 x 2,000`` points is 128 MB and all permutations cost one matrix product each.
- :func:`ks_tests`: one two-sample Kolmogorov-Smirnov test per column (e.g. per class of the
  softmax output), Bonferroni-corrected.
- :func:`domain_classifier_auc`: how well a classifier tells the two samples apart, on held-out
  rows, with a 95% interval (DeLong's variance); 0.5 means no detectable difference.

Every function takes ``(n, d)`` float arrays and checks them (finite, same width, enough rows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gengap_dash.stats.bootstrap import Seed, make_rng

MMD_MAX_SAMPLES = 2_000
"""Each side of the MMD test is subsampled (seeded, without replacement) to at most this many
rows. At 2,000 vs 2,000 the test detects a mean shift of about 0.1 standard deviations per
dimension in 128-d embeddings (docs/feature-space.md, "Performance")."""

DEFAULT_PERMUTATIONS = 500
"""Permutations behind an MMD p-value (the smallest p-value is then 1/501)."""

BANDWIDTH_SAMPLE = 1_000
"""Points (pooled) whose pairwise distances give the median-heuristic bandwidth."""

MIN_SAMPLES = 5
"""A side with fewer rows than this is too small for a test."""

_PERMUTATION_BATCH = 64


@dataclass(frozen=True)
class MMDTest:
    """An MMD² permutation test.

    Attributes:
        mmd2: the unbiased MMD² of the (subsampled) inputs.
        p_value: ``(1 + #{permuted >= observed}) / (1 + n_permutations)``.
        bandwidth: the RBF kernel's ``sigma`` (``k(a, b) = exp(-|a-b|² / (2 sigma²))``).
        n_x, n_y: rows used from each side (after subsampling).
        n_permutations: permutations drawn.
    """

    mmd2: float
    p_value: float
    bandwidth: float
    n_x: int
    n_y: int
    n_permutations: int


@dataclass(frozen=True)
class KSTests:
    """Per-column two-sample KS tests.

    Attributes:
        statistics: ``(d,)`` KS statistics.
        p_values: ``(d,)`` raw p-values.
        adjusted: ``(d,)`` Bonferroni-adjusted p-values (``min(1, d p)``).
        p_value: the smallest adjusted p-value (the test of "no column changed").
    """

    statistics: np.ndarray
    p_values: np.ndarray
    adjusted: np.ndarray
    p_value: float


@dataclass(frozen=True)
class DomainAUC:
    """A domain classifier's out-of-fold AUC at telling ``y`` rows from ``x`` rows.

    Attributes:
        auc: the out-of-fold AUC (0.5: indistinguishable).
        low, high: its 95% interval (DeLong's variance, normal approximation, clipped to [0, 1]).
        n_x, n_y: held-out rows scored from each side.
        n_fit: rows (both sides) the classifier was fitted on.
    """

    auc: float
    low: float
    high: float
    n_x: int
    n_y: int
    n_fit: int


def check_samples(
    x: np.ndarray, y: np.ndarray, *, names: tuple[str, str] = ("x", "y"), min_rows: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """Both inputs as 2-D float64 arrays of the same width, finite, with ``min_rows`` rows.

    Raises:
        ValueError: naming the input and what was expected.
    """
    arrays = []
    for name, values in zip(names, (x, y), strict=True):
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 1:
            values = values[:, None]
        if values.ndim != 2:
            raise ValueError(
                f"Expected `{name}` to be a 2-D array (n, d), but got {values.ndim} dimensions."
            )
        if values.shape[0] < min_rows:
            raise ValueError(
                f"Expected `{name}` to have at least {min_rows} rows for a two-sample test, but "
                f"got {values.shape[0]}."
            )
        if not np.isfinite(values).all():
            bad = int((~np.isfinite(values)).any(axis=1).sum())
            raise ValueError(
                f"Expected `{name}` to be finite, but {bad} of its rows hold NaN or infinity."
            )
        arrays.append(values)
    if arrays[0].shape[1] != arrays[1].shape[1]:
        raise ValueError(
            f"Expected `{names[0]}` and `{names[1]}` to have the same width, but got "
            f"{arrays[0].shape[1]} and {arrays[1].shape[1]} columns."
        )
    return arrays[0], arrays[1]


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(sq, 0.0)


def median_bandwidth(pooled: np.ndarray, *, rng: np.random.Generator | None = None) -> float:
    """The median heuristic: the median distance between distinct pooled points (on at most
    :data:`BANDWIDTH_SAMPLE` of them); 1.0 when all points coincide.

    Args:
        pooled: ``(n, d)`` points of both samples.
    """
    pooled = np.asarray(pooled, dtype=np.float64)
    if rng is not None and pooled.shape[0] > BANDWIDTH_SAMPLE:
        pooled = pooled[rng.choice(pooled.shape[0], BANDWIDTH_SAMPLE, replace=False)]
    else:
        pooled = pooled[:BANDWIDTH_SAMPLE]
    sq = _squared_distances(pooled, pooled)
    upper = sq[np.triu_indices(sq.shape[0], k=1)]
    median = float(np.median(np.sqrt(upper))) if upper.size else 0.0
    return median if median > 0 else 1.0


def rbf_kernel(a: np.ndarray, b: np.ndarray, *, bandwidth: float) -> np.ndarray:
    """``exp(-|a_i - b_j|² / (2 bandwidth²))`` for ``a: (n, d)``, ``b: (m, d)`` -> ``(n, m)``."""
    return np.exp(-_squared_distances(a, b) / (2.0 * bandwidth**2))


def mmd2_unbiased(x: np.ndarray, y: np.ndarray, *, bandwidth: float | None = None) -> float:
    """The unbiased MMD² between ``x: (n, d)`` and ``y: (m, d)`` with an RBF kernel.

    ``1/(n(n-1)) sum_{i!=j} k(x_i, x_j) + 1/(m(m-1)) sum_{i!=j} k(y_i, y_j)
    - 2/(nm) sum_{i,j} k(x_i, y_j)``; can be slightly negative when the samples agree.

    Args:
        bandwidth: the kernel's sigma (default: :func:`median_bandwidth` of the pooled points).
    """
    x, y = check_samples(x, y, min_rows=2)
    pooled = np.vstack([x, y])
    sigma = median_bandwidth(pooled) if bandwidth is None else float(bandwidth)
    kernel = rbf_kernel(pooled, pooled, bandwidth=sigma)
    np.fill_diagonal(kernel, 0.0)
    membership = np.zeros((1, pooled.shape[0]))
    membership[0, : x.shape[0]] = 1.0
    return float(_mmd2_from_kernel(kernel, membership, x.shape[0], y.shape[0])[0])


def _mmd2_from_kernel(kernel: np.ndarray, membership: np.ndarray, n_x: int, n_y: int) -> np.ndarray:
    """Unbiased MMD² for each row of ``membership`` ``(P, N)`` (1 marks the ``x`` side), from
    the pooled kernel ``(N, N)`` with a zero diagonal."""
    other = 1.0 - membership
    product = kernel @ membership.T  # (N, P)
    within_x = np.einsum("pn,np->p", membership, product)
    between = np.einsum("pn,np->p", other, product)
    # kernel @ other.T = row sums - product: one matrix product per batch, not two
    within_y = np.einsum("pn,np->p", other, kernel.sum(axis=1)[:, None] - product)
    return within_x / (n_x * (n_x - 1)) + within_y / (n_y * (n_y - 1)) - 2.0 * between / (n_x * n_y)


def mmd_test(
    x: np.ndarray,
    y: np.ndarray,
    *,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    max_samples: int = MMD_MAX_SAMPLES,
    seed: Seed = 0,
) -> MMDTest:
    """MMD² of ``x: (n, d)`` against ``y: (m, d)`` with a permutation p-value.

    Each side is first subsampled to ``max_samples`` rows (seeded); the bandwidth is the median
    heuristic on the pooled subsample; the permutations shuffle the pooled rows.

    Raises:
        ValueError: for inputs of different widths, with non-finite values or fewer than
            :data:`MIN_SAMPLES` rows, or a non-positive ``n_permutations``/``max_samples``.
    """
    x, y = check_samples(x, y, min_rows=MIN_SAMPLES)
    for name, value in (("n_permutations", n_permutations), ("max_samples", max_samples)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"Expected `{name}` to be a positive integer, but got {value!r}.")
    if max_samples < MIN_SAMPLES:
        raise ValueError(
            f"Expected `max_samples` to be at least {MIN_SAMPLES}, but got {max_samples}."
        )
    rng = make_rng(seed)
    if x.shape[0] > max_samples:
        x = x[rng.choice(x.shape[0], max_samples, replace=False)]
    if y.shape[0] > max_samples:
        y = y[rng.choice(y.shape[0], max_samples, replace=False)]
    n_x, n_y = x.shape[0], y.shape[0]
    pooled = np.vstack([x, y])
    bandwidth = median_bandwidth(pooled, rng=rng)
    kernel = rbf_kernel(pooled, pooled, bandwidth=bandwidth)
    np.fill_diagonal(kernel, 0.0)
    n = n_x + n_y
    observed_membership = np.zeros((1, n))
    observed_membership[0, :n_x] = 1.0
    observed = float(_mmd2_from_kernel(kernel, observed_membership, n_x, n_y)[0])
    exceed = 0
    done = 0
    while done < n_permutations:
        size = min(_PERMUTATION_BATCH, n_permutations - done)
        order = np.argsort(rng.random((size, n)), axis=1)
        membership = (order < n_x).astype(np.float64)
        permuted = _mmd2_from_kernel(kernel, membership, n_x, n_y)
        exceed += int((permuted >= observed - 1e-12).sum())
        done += size
    p_value = (1 + exceed) / (1 + n_permutations)
    return MMDTest(observed, float(p_value), float(bandwidth), n_x, n_y, int(n_permutations))


def ks_tests(x: np.ndarray, y: np.ndarray) -> KSTests:
    """Two-sample KS test per column of ``x: (n, d)`` and ``y: (m, d)``, Bonferroni-corrected
    over the ``d`` columns (``scipy.stats.ks_2samp``, two-sided, exact or asymptotic as scipy
    chooses).

    Raises:
        ValueError: as :func:`check_samples`.
    """
    from scipy.stats import ks_2samp

    x, y = check_samples(x, y, min_rows=MIN_SAMPLES)
    result = ks_2samp(x, y, axis=0)
    statistics = np.atleast_1d(np.asarray(result.statistic, dtype=np.float64))
    p_values = np.atleast_1d(np.asarray(result.pvalue, dtype=np.float64))
    adjusted = np.minimum(1.0, p_values * p_values.size)
    return KSTests(statistics, p_values, adjusted, float(adjusted.min()))


def auc_with_interval(
    scores_negative: np.ndarray, scores_positive: np.ndarray, *, confidence: float = 0.95
) -> tuple[float, float, float]:
    """AUC of scores at ranking positives above negatives, with DeLong's interval.

    Args:
        scores_negative: ``(n,)`` scores of the negatives; scores_positive: ``(m,)``.

    Returns:
        ``(auc, low, high)``; ties count one half; the interval is clipped to [0, 1].
    """
    from scipy.stats import norm, rankdata

    negative = np.asarray(scores_negative, dtype=np.float64)
    positive = np.asarray(scores_positive, dtype=np.float64)
    n, m = negative.size, positive.size
    pooled = np.concatenate([negative, positive])
    ranks = rankdata(pooled)
    ranks_negative = rankdata(negative)
    ranks_positive = rankdata(positive)
    # placement values (DeLong 1988): V10 for positives, V01 for negatives
    v_positive = (ranks[n:] - ranks_positive) / n
    v_negative = 1.0 - (ranks[:n] - ranks_negative) / m
    auc = float(v_positive.mean())
    variance = v_positive.var(ddof=1) / m + v_negative.var(ddof=1) / n
    half = float(norm.ppf(0.5 + confidence / 2.0) * np.sqrt(max(variance, 0.0)))
    return auc, max(0.0, auc - half), min(1.0, auc + half)


def fit_logistic(
    features: np.ndarray, target: np.ndarray, *, c: float = 0.1, max_iter: int = 50
) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method (as scikit-learn's
    ``LogisticRegression(C=c)``: minimises ``sum(log-loss) + |w|² / (2 c)``, intercept free).

    Args:
        features: ``(n, d)``; target: ``(n,)`` of 0 and 1.

    Returns:
        ``(weights (d,), intercept)``.
    """
    n, d = features.shape
    design = np.hstack([features, np.ones((n, 1))])
    penalty = np.full(d + 1, 1.0 / c)
    penalty[-1] = 0.0
    theta = np.zeros(d + 1)
    for _ in range(max_iter):
        margin = np.clip(design @ theta, -30.0, 30.0)
        prob = 1.0 / (1.0 + np.exp(-margin))
        gradient = design.T @ (prob - target) + penalty * theta
        hessian = (design * (prob * (1.0 - prob))[:, None]).T @ design + np.diag(penalty)
        hessian[-1, -1] += 1e-9
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.abs(step).max() < 1e-8:
            break
    return theta[:-1], float(theta[-1])


def _delong_variance(negative: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    from scipy.stats import rankdata

    n, m = negative.size, positive.size
    ranks = rankdata(np.concatenate([negative, positive]))
    v_positive = (ranks[n:] - rankdata(positive)) / n
    v_negative = 1.0 - (ranks[:n] - rankdata(negative)) / m
    variance = v_positive.var(ddof=1) / m + v_negative.var(ddof=1) / n
    return float(v_positive.mean()), float(max(variance, 0.0))


def domain_classifier_auc(
    x: np.ndarray,
    y: np.ndarray,
    *,
    held_out_share: float = 0.5,
    max_samples: int = 5_000,
    confidence: float = 0.95,
    seed: Seed = 0,
) -> DomainAUC:
    """Held-out AUC of a logistic regression (standardised features, ``C = 0.1``) telling
    ``y`` rows (positive) from ``x`` rows, with DeLong's interval.

    The classifier is fitted on a stratified random part of both samples and scored on the
    rest (``held_out_share`` of each side), so the held-out scores come from one fixed function
    and DeLong's interval is valid. Cross-validated AUCs (out-of-fold scores of several models,
    or the mean of fold AUCs) have correlated folds: under no shift their naive 95% intervals
    covered 0.5 in only 84% of simulated runs, where this one keeps 93-97%
    (``tests/test_two_sample.py``).

    Args:
        x: ``(n, d)`` reference rows; y: ``(m, d)`` rows of the other sample.
        held_out_share: share of each side kept for scoring.
        max_samples: each side is subsampled (seeded) to at most this many rows.

    Raises:
        ValueError: as :func:`check_samples` (each side needs 10 rows at least), or a
            ``held_out_share`` outside (0, 1).
    """
    from scipy.stats import norm

    if not 0.0 < float(held_out_share) < 1.0:
        raise ValueError(
            f"Expected `held_out_share` to be between 0 and 1, but got {held_out_share!r}."
        )
    x, y = check_samples(x, y, min_rows=2 * MIN_SAMPLES)
    rng = make_rng(seed)
    if x.shape[0] > max_samples:
        x = x[rng.choice(x.shape[0], max_samples, replace=False)]
    if y.shape[0] > max_samples:
        y = y[rng.choice(y.shape[0], max_samples, replace=False)]
    parts = []
    for side in (x, y):  # stratified: each side split into a fitting and a held-out part
        order = rng.permutation(side.shape[0])
        n_held = min(side.shape[0] - 2, max(2, round(held_out_share * side.shape[0])))
        parts.append((side[order[n_held:]], side[order[:n_held]]))
    (fit_x, held_x), (fit_y, held_y) = parts
    features = np.vstack([fit_x, fit_y])
    target = np.concatenate([np.zeros(fit_x.shape[0]), np.ones(fit_y.shape[0])])
    mean = features.mean(0)
    scale = features.std(0)
    scale[scale == 0] = 1.0
    weights, intercept = fit_logistic((features - mean) / scale, target)
    score_x = ((held_x - mean) / scale) @ weights + intercept
    score_y = ((held_y - mean) / scale) @ weights + intercept
    auc, variance = _delong_variance(score_x, score_y)
    half = float(norm.ppf(0.5 + confidence / 2.0) * np.sqrt(variance))
    return DomainAUC(
        auc,
        max(0.0, auc - half),
        min(1.0, auc + half),
        int(held_x.shape[0]),
        int(held_y.shape[0]),
        int(fit_x.shape[0] + fit_y.shape[0]),
    )
