"""Cohort analysis: the grouped bootstrap, coding of columns, the cohort table against pandas and
scikit-learn, the mix/performance decomposition (exact, hand-computed), fairness, confusions,
the change-point test (planted change and null), and interval coverage by simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score, confusion_matrix, recall_score

from gengap_dash.analysis.cohorts import analyse_cohorts, cohort_codings
from gengap_dash.analysis.cohorts.coding import code_column, cross
from gengap_dash.analysis.cohorts.decomposition import decompose_terms
from gengap_dash.analysis.cohorts.over_time import change_point, max_z
from gengap_dash.analysis.cohorts.table import cohort_sums, cohort_table
from gengap_dash.project.errors import ProjectError
from gengap_dash.stats.bootstrap import estimate, make_rng, split_stream
from gengap_dash.stats.grouped_bootstrap import grouped_sums
from gengap_dash.stats.multiple_testing import benjamini_hochberg

ROLES = {"train": "train", "val": "validation", "field": "deployment"}


def frame(n: int, *, seed: int, hard_share: float, hard_acc: float, easy_acc: float,
          n_classes: int = 3) -> pd.DataFrame:  # fmt: skip
    """Hub-like rows: a `site` column (hard/easy), a numeric `size`, a time column."""
    rng = np.random.default_rng(seed)
    site = np.where(rng.random(n) < hard_share, "hard", "easy")
    correct = rng.random(n) < np.where(site == "hard", hard_acc, easy_acc)
    label = rng.integers(0, n_classes, n)
    pred = np.where(correct, label, (label + 1) % n_classes)
    return pd.DataFrame(
        {
            "label": label,
            "pred": pred,
            "correct": correct,
            "loss": rng.exponential(0.5, n),
            "site": site,
            "size": rng.normal(0, 1, n),
            "when": pd.Timestamp("2026-01-05") + pd.to_timedelta(rng.integers(0, 84, n), "D"),
        }
    )


@pytest.fixture
def frames() -> dict[str, pd.DataFrame]:
    return {
        "train": frame(600, seed=1, hard_share=0.3, hard_acc=0.95, easy_acc=0.99),
        "val": frame(500, seed=2, hard_share=0.3, hard_acc=0.85, easy_acc=0.95),
        "field": frame(700, seed=3, hard_share=0.6, hard_acc=0.70, easy_acc=0.94),
    }


def analyse(frames, columns=("site",), **options):
    return analyse_cohorts(
        frames, roles=ROLES, classes=["a", "b", "c"], columns=list(columns),
        known=["site", "size"], n_resamples=200, **options,
    )  # fmt: skip


# -- statistics building blocks -------------------------------------------------------------------


@pytest.mark.parametrize("n", [400, 9000])  # exact and block bootstrap
def test_grouped_sums_share_the_split_stream_with_the_engine(n: int) -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, n)
    correct = (rng.random(n) < 0.8).astype(float)
    grouped = grouped_sums(codes, 4, np.column_stack([np.ones(n), correct]),
                           rng=make_rng(split_stream(0, 2)), n_resamples=300)  # fmt: skip
    assert grouped.sums[:, 0].tolist() == np.bincount(codes, minlength=4).tolist()
    assert np.allclose(grouped.sums[:, 1], np.bincount(codes, weights=correct, minlength=4))
    assert np.allclose(grouped.replicates[:, :, 0].sum(axis=1), n)  # every replicate has n samples
    whole, _ = estimate(correct, lambda s, m: s[..., 0] / m, n_resamples=300,
                        rng=make_rng(split_stream(0, 2)))  # fmt: skip
    totals = grouped.replicates[:, :, 1].sum(axis=1) / n
    assert np.percentile(totals, [2.5, 97.5]) == pytest.approx([whole.low, whole.high])


def test_grouped_sums_refuse_codes_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"Expected `codes` in \[-1, 2\)"):
        grouped_sums(np.array([0, 2]), 2, np.ones(2), rng=None)


def test_benjamini_hochberg_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    for size in (1, 5, 200):
        p = np.concatenate([rng.random(size), rng.random(size) ** 6])
        expected = stats.false_discovery_control(p, method="bh")
        assert np.allclose(benjamini_hochberg(p), expected)
    assert benjamini_hochberg(np.array([])).size == 0


def test_benjamini_hochberg_refuses_bad_p_values() -> None:
    with pytest.raises(
        ValueError, match=r"Expected `p_values` to be numbers in \[0, 1\], but got 1.5"
    ):
        benjamini_hochberg(np.array([0.1, 1.5]))


# -- coding ---------------------------------------------------------------------------------------


def test_numeric_columns_are_cut_at_pooled_quantiles(frames) -> None:
    coding = code_column(frames, "size", n_bins=4)
    pooled = pd.concat([f["size"] for f in frames.values()], ignore_index=True)
    expected = pd.qcut(pooled, 4, labels=False).to_numpy()
    got = np.concatenate([coding.codes[s] for s in frames])
    assert coding.kind == "numeric" and len(coding.labels) == 4
    assert (got == expected).mean() > 0.999  # identical but for ties at the edges


def test_categories_missing_values_and_small_integers() -> None:
    frames = {"a": pd.DataFrame({"c": ["x", None, "y"], "k": [0, 1, 2]}),
              "b": pd.DataFrame({"c": ["y", "y", "z"], "k": [2, 2, 3]})}  # fmt: skip
    coding = code_column(frames, "c")
    assert coding.labels == ("x", "y", "z", "(missing)")
    assert coding.codes["a"].tolist() == [0, 3, 1] and coding.codes["b"].tolist() == [1, 1, 2]
    assert code_column(frames, "k").labels == ("0", "1", "2", "3")  # whole numbers: categories
    crossed = cross(code_column(frames, "c"), code_column(frames, "k"))
    assert crossed.labels[crossed.codes["b"][2]] == "z × 3"


def test_time_columns_become_periods(frames) -> None:
    coding = code_column(frames, "when", period="M")
    assert coding.kind == "time" and coding.labels[:3] == ("2026-01", "2026-02", "2026-03")
    weekly = code_column(frames, "when")  # 12 weeks: weekly windows
    assert weekly.period == "W" and weekly.labels[0] == "week of 2026-01-05"


def test_bad_columns_are_refused(frames) -> None:
    with pytest.raises(ProjectError, match=r"Metadata column 'sites' does not exist; the metadata "
                       r"columns are 'site', 'size'\."):  # fmt: skip
        cohort_codings(frames, ["sites"], known=["site", "size"])
    constant = {s: f.assign(site="one") for s, f in frames.items()}
    with pytest.raises(ProjectError, match="Metadata column 'site' has one value \\('one'\\)"):
        cohort_codings(constant, ["site"], known=["site"])
    with pytest.raises(ProjectError, match="Expected `n_bins` to be an integer of at least 2"):
        code_column(frames, "size", n_bins=1)


# -- the cohort table -----------------------------------------------------------------------------


def test_cohort_table_equals_pandas_groupby_and_sklearn(frames) -> None:
    result = analyse(frames)
    table = result.table
    for i, split in enumerate(table.splits):
        for k, cohort in enumerate(table.cohorts):
            rows = frames[split][frames[split]["site"] == cohort]
            assert table.n[i, k] == len(rows)
            assert table.value[i, k] == pytest.approx(accuracy_score(rows["label"], rows["pred"]))
            assert table.low[i, k] <= table.value[i, k] <= table.high[i, k]
    f, v = table.split_index("field"), table.split_index("val")
    assert table.gap[f] == pytest.approx(table.value[f] - table.value[v])
    assert np.all(table.gap_low[f] <= table.gap[f]) and np.all(table.gap[f] <= table.gap_high[f])
    assert np.isnan(table.gap_low[v]).all()  # the reference has no gap to itself


def test_nll_cohorts_are_mean_losses(frames) -> None:
    table = analyse(frames, metric="nll").table
    means = frames["val"].groupby("site")["loss"].mean()
    assert table.value[table.split_index("val")] == pytest.approx(means[list(table.cohorts)])


def test_small_and_empty_cells_are_not_numbers(frames) -> None:
    frames = dict(frames)
    frames["field"] = frames["field"][frames["field"]["site"] == "hard"].copy()  # no easy cohort
    frames["field"].loc[frames["field"].index[:5], "site"] = "rare"
    table = analyse(frames, min_count=20).table
    f = table.split_index("field")
    easy, rare = table.cohorts.index("easy"), table.cohorts.index("rare")
    assert table.n[f, easy] == 0 and np.isnan(table.value[f, easy])
    assert table.n[f, rare] == 5 and not table.enough[f, rare] and np.isnan(table.gap[f, rare])


def test_interval_coverage_by_simulation() -> None:
    """Cohort accuracy intervals cover the true accuracy in about 95% of seeded runs."""
    covered = []
    for seed in range(150):
        rng = np.random.default_rng(seed)
        site = rng.integers(0, 2, 300)
        correct = rng.random(300) < np.where(site == 0, 0.8, 0.6)
        one = {"val": pd.DataFrame({"site": site.astype(str), "correct": correct})}
        coding = code_column(one, "site")
        sums = cohort_sums(one, coding, positions={"val": 0}, n_resamples=300, seed=seed)
        table = cohort_table(sums, metric="accuracy", reference="val", roles={"val": "validation"})
        covered.append(table.low[0, 0] <= 0.8 <= table.high[0, 0])
    assert 0.89 <= np.mean(covered) <= 0.99


# -- mix or performance ---------------------------------------------------------------------------


def test_decomposition_hand_computed() -> None:
    # reference: 50 hard at 80%, 50 easy at 100% (90%); split: 80 hard at 70%, 20 easy at 100%
    mix, performance = decompose_terms(
        np.array([80.0, 20.0]), np.array([56.0, 20.0]), np.array([50.0, 50.0]),
        np.array([40.0, 50.0]),
    )  # fmt: skip
    assert mix.tolist() == pytest.approx([0.3 * 0.75, -0.3 * 1.0])
    assert performance.tolist() == pytest.approx([-0.1 * 0.65, 0.0])
    assert mix.sum() + performance.sum() == pytest.approx(0.76 - 0.90)


def test_decomposition_parts_add_up_exactly(frames) -> None:
    result = analyse(frames)
    field = next(d for d in result.decompositions if d.split == "field")
    direct = frames["field"]["correct"].mean() - frames["val"]["correct"].mean()
    assert field.total == pytest.approx(direct, abs=1e-12)
    assert field.mix + field.performance == pytest.approx(field.total, abs=1e-12)
    assert field.cohort_mix.sum() + field.cohort_performance.sum() == pytest.approx(direct)
    assert field.mix < 0 and field.performance < 0  # more of the hard site, and worse inside it
    assert field.total_low <= field.total <= field.total_high


def test_an_absent_cohort_is_all_mix(frames) -> None:
    frames = dict(frames)
    frames["field"] = frames["field"][frames["field"]["site"] == "hard"]
    result = analyse(frames)
    d = next(d for d in result.decompositions if d.split == "field")
    easy = d.cohorts.index("easy")
    assert d.cohort_performance[easy] == 0.0 and d.cohort_mix[easy] < 0
    assert d.total == pytest.approx(
        frames["field"]["correct"].mean() - frames["val"]["correct"].mean()
    )


# -- fairness and confusions ----------------------------------------------------------------------


def test_fairness_gap_and_recall_gaps_match_sklearn(frames) -> None:
    result = analyse(frames)
    fair = next(f for f in result.fairness if f.split == "field")
    rows = frames["field"]
    accuracy = rows.groupby("site").apply(lambda g: accuracy_score(g["label"], g["pred"]))
    assert (fair.best, fair.worst) == ("easy", "hard")
    assert fair.difference == pytest.approx(accuracy["easy"] - accuracy["hard"])
    recalls = {site: recall_score(g["label"], g["pred"], average=None, labels=[0, 1, 2])
               for site, g in rows.groupby("site")}  # fmt: skip
    expected = np.abs(recalls["easy"] - recalls["hard"])
    assert np.abs(fair.recall_gap) == pytest.approx(expected)
    assert np.all(fair.recall_low <= fair.recall_gap) and np.all(
        fair.recall_gap <= fair.recall_high
    )


def test_confusions_match_sklearn(frames) -> None:
    result = analyse(frames)
    c = result.confusions
    for i, split in enumerate(c.splits):
        expected = confusion_matrix(frames[split]["label"], frames[split]["pred"], labels=[0, 1, 2])
        assert c.counts[i].tolist() == expected.tolist()
    f, v = c.splits.index("field"), c.splits.index("val")
    assert c.change[f] == pytest.approx(c.rates()[f] - c.rates()[v], nan_ok=True)
    true, predicted = c.grown("field", top=1)[0]
    assert predicted == (true + 1) % 3  # the only errors the simulation makes


# -- over time ------------------------------------------------------------------------------------


def test_max_z_is_the_two_proportion_statistic() -> None:
    counts = np.array([100, 100, 100])
    correct = np.array([90, 90, 60])
    statistic, cut = max_z(correct, counts)
    p1, p2, p = 180 / 200, 60 / 100, 240 / 300
    z = abs(p2 - p1) / np.sqrt(p * (1 - p) * (1 / 200 + 1 / 100))
    assert cut == 2 and statistic == pytest.approx(z)


def test_a_planted_change_is_found_and_the_null_is_kept() -> None:
    def table_for(accuracies, seed, per_window=80):
        rng = np.random.default_rng(seed)
        weeks = np.repeat(np.arange(len(accuracies)), per_window)
        correct = rng.random(len(weeks)) < np.asarray(accuracies)[weeks]
        one = {"field": pd.DataFrame({"w": weeks, "correct": correct})}
        sums = cohort_sums(
            one, code_column(one, "w"), positions={"field": 0}, n_resamples=0, seed=0
        )
        return cohort_table(
            sums, metric="accuracy", reference="field", roles={"field": "deployment"}
        )

    planted = change_point(table_for([0.9] * 6 + [0.7] * 6, 0, 300), "field", seed=0)
    assert planted.p_value < 0.01 and planted.window == "6" and planted.after < planted.before
    rejections = [
        change_point(table_for([0.85] * 10, seed), "field", n_permutations=199, seed=seed).p_value
        < 0.05
        for seed in range(200)
    ]
    assert np.mean(rejections) <= 0.08


def test_over_time_needs_three_windows_and_is_adjusted(frames) -> None:
    result = analyse(frames, time_column="when")
    over = result.over_time
    assert over is not None and over.period == "W"
    assert all(c.p_adjusted >= c.p_value - 1e-12 for c in over.changes)
    assert analyse(frames).over_time is None


def test_trend_statistic_is_the_cochran_armitage_z() -> None:
    """Cochran-Armitage's z is sqrt(N) times the Pearson correlation of outcome and score."""
    from gengap_dash.analysis.cohorts.over_time import trend_z

    counts = np.array([50, 80, 60, 70])
    correct = np.array([45, 70, 48, 49])
    outcome = np.concatenate(
        [np.r_[np.ones(c), np.zeros(n - c)] for c, n in zip(correct, counts, strict=True)]
    )
    score = np.repeat(np.arange(4), counts)
    r = stats.pearsonr(score, outcome)[0]
    assert trend_z(correct, counts) == pytest.approx(r * np.sqrt(counts.sum()))
