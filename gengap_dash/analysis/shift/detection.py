"""Did the data move? Shift tests of every shifted and deployment split against a reference.

For each split: MMD² with a permutation p-value and a domain classifier's AUC on the embeddings
(on the softmax outputs when the project has no embeddings), per-class KS tests on the softmax
outputs (Bonferroni), the label-shift estimate (BBSE), the cluster that grew most, and, where
the project has a time column, the MMD test per time window (Benjamini-Hochberg across
windows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from gengap_dash.analysis.shift.clusters import (
    DEFAULT_CLUSTERS,
    cluster_embeddings,
    cluster_table,
    most_overrepresented,
)
from gengap_dash.analysis.shift.inputs import SplitArrays, check_embeddings
from gengap_dash.analysis.shift.label_shift import LabelShift, estimate_label_shift
from gengap_dash.stats.bootstrap import split_stream
from gengap_dash.stats.two_sample import (
    MIN_SAMPLES,
    MMD_MAX_SAMPLES,
    DomainAUC,
    KSTests,
    MMDTest,
    domain_classifier_auc,
    ks_tests,
    mmd_test,
)

COMPARED_ROLES = ("shifted", "deployment")
"""Splits of these roles are tested against the reference (other non-train splits when the
project has none)."""

TIME_WINDOWS = 6
"""A deployment split with a time column is cut into at most this many windows of equal count."""

MIN_WINDOW_SAMPLES = 30
"""A time window needs at least this many samples to be tested."""

WINDOW_PERMUTATIONS = 200
WINDOW_MAX_SAMPLES = 1_000

Features = Literal["embeddings", "softmax outputs"]


@dataclass(frozen=True)
class SplitShift:
    """The shift tests of one split against the reference."""

    split: str
    role: str
    n: int
    mmd: MMDTest
    domain: DomainAUC
    ks: KSTests
    label_shift: LabelShift | None
    top_cluster: dict | None
    labelled: bool = True


@dataclass(frozen=True)
class ShiftReport:
    """Every compared split's shift tests.

    Attributes:
        reference: the reference split.
        features: what MMD and the domain classifier ran on.
        splits: one :class:`SplitShift` per compared split, in project order.
        clusters: ``cluster, split, n, share, error_rate, top_class, top_class_share``.
        over_time: ``split, window, start, end, n, mmd2, p_value, adjusted_p_value,
            mean_confidence`` (empty without a time column).
        class_names: the classes (for the per-class KS tests and BBSE).
        n_permutations, max_samples: the MMD test's settings.
    """

    reference: str
    features: str
    splits: tuple[SplitShift, ...]
    clusters: pd.DataFrame
    over_time: pd.DataFrame
    class_names: tuple[str, ...]
    n_permutations: int
    max_samples: int
    n_clusters: int
    notes: tuple[str, ...] = field(default_factory=tuple)

    def split(self, name: str) -> SplitShift:
        for item in self.splits:
            if item.split == name:
                return item
        raise KeyError(name)

    def to_dict(self) -> dict:
        """The ``gengap shift --json`` form (per split: ``mmd2``, ``mmd_p_value``,
        ``domain_auc`` with ``low``/``high``, ``ks_p_values``, ``label_shift``, ``clusters``)."""
        splits = {}
        for item in self.splits:
            clusters = self.clusters[self.clusters["split"] == item.split]
            reference = self.clusters[self.clusters["split"] == self.reference].set_index(
                "cluster"
            )["share"]
            splits[item.split] = {
                "role": item.role,
                "n": item.n,
                "mmd2": item.mmd.mmd2,
                "mmd_p_value": item.mmd.p_value,
                "mmd_bandwidth": item.mmd.bandwidth,
                "mmd_samples": [item.mmd.n_x, item.mmd.n_y],
                "domain_auc": {
                    "value": item.domain.auc,
                    "low": item.domain.low,
                    "high": item.domain.high,
                },
                "ks_statistics": dict(
                    zip(self.class_names, item.ks.statistics.tolist(), strict=True)
                ),
                "ks_p_values": dict(zip(self.class_names, item.ks.adjusted.tolist(), strict=True)),
                "ks_p_value": item.ks.p_value,
                "label_shift": None
                if item.label_shift is None
                else {
                    name: {
                        "estimated": float(item.label_shift.estimated[k]),
                        "low": float(item.label_shift.low[k]),
                        "high": float(item.label_shift.high[k]),
                        "reference": float(item.label_shift.reference[k]),
                        "observed": float(item.label_shift.observed[k]),
                    }
                    for k, name in enumerate(self.class_names)
                },
                "clusters": [
                    {
                        "cluster": int(row.cluster),
                        "share": float(row.share),
                        "reference_share": float(reference.get(row.cluster, 0.0)),
                        "error_rate": float(row.error_rate),
                        "top_class": str(row.top_class),
                    }
                    for row in clusters.itertuples()
                ],
            }
        over_time = self.over_time.copy()
        for column in ("start", "end"):
            if column in over_time:
                over_time[column] = over_time[column].astype(str)
        return {
            "reference": self.reference,
            "features": self.features,
            "n_permutations": self.n_permutations,
            "max_samples": self.max_samples,
            "splits": splits,
            "over_time": over_time.to_dict(orient="records"),
        }


def compared_splits(splits: list[SplitArrays], reference: str) -> list[SplitArrays]:
    """The splits tested against ``reference``: shifted and deployment ones, or the other
    non-train splits when there are none."""
    chosen = [s for s in splits if s.role in COMPARED_ROLES and s.name != reference]
    if not chosen:
        chosen = [s for s in splits if s.role != "train" and s.name != reference]
    return chosen


def _features(split: SplitArrays, use_embeddings: bool) -> np.ndarray:
    return split.embeddings if use_embeddings else split.probs


def compute_shift(
    splits: list[SplitArrays],
    *,
    reference: str,
    class_names: list[str],
    n_permutations: int = 500,
    max_samples: int = MMD_MAX_SAMPLES,
    n_clusters: int = DEFAULT_CLUSTERS,
    n_resamples: int = 1000,
    seed: int = 0,
) -> ShiftReport:
    """The shift tests of every compared split against ``reference``.

    Args:
        splits: every split of the project, in project order.
        reference: the reference split's name (test or validation).
        n_permutations, max_samples: the MMD test's permutations and per-side subsample.
        n_clusters: k of the k-means clusters.
        n_resamples: bootstrap replicates of the label-shift intervals.

    Raises:
        ValueError: an unknown reference, a split too small for a test, or bad embeddings.
    """
    names = [s.name for s in splits]
    if reference not in names:
        raise ValueError(
            f"Expected `reference` to be one of {', '.join(names)}, but got {reference!r}."
        )
    width = check_embeddings(splits)
    use_embeddings = width is not None
    position = {s.name: i for i, s in enumerate(splits)}
    ref = splits[position[reference]]
    validation = next((s for s in splits if s.role == "validation" and s.labels is not None), None)
    if ref.n < MIN_SAMPLES:
        raise ValueError(
            f"Expected the reference split {reference!r} to have at least {MIN_SAMPLES} samples, "
            f"but it has {ref.n}."
        )
    others = compared_splits(splits, reference)
    notes = []
    if not use_embeddings:
        notes.append(
            "The project has no embeddings: MMD, the domain classifier and the clusters use the "
            "softmax outputs instead."
        )
    clustered = [ref, *others]
    assignments = cluster_embeddings(
        [_features(s, use_embeddings) for s in clustered], n_clusters=n_clusters, seed=seed
    )
    table = cluster_table(
        dict(zip([s.name for s in clustered], assignments, strict=True)),
        correct={
            s.name: None if s.labels is None else (s.predictions == s.labels) for s in clustered
        },
        labels={s.name: s.labels for s in clustered},
        predictions={s.name: s.predictions for s in clustered},
        class_names=list(class_names),
        n_clusters=n_clusters,
    )
    results = []
    for split in others:
        if split.n < MIN_SAMPLES:
            raise ValueError(
                f"Expected split {split.name!r} to have at least {MIN_SAMPLES} samples for a "
                f"shift test, but it has {split.n}."
            )
        stream = split_stream(seed, position[split.name])
        x, y = _features(ref, use_embeddings), _features(split, use_embeddings)
        mmd = mmd_test(x, y, n_permutations=n_permutations, max_samples=max_samples, seed=stream)
        domain = domain_classifier_auc(x, y, seed=stream)
        ks = ks_tests(ref.probs, split.probs)
        label_shift = None
        if validation is not None:
            label_shift = estimate_label_shift(
                validation.labels,
                validation.predictions,
                split.predictions,
                len(class_names),
                target_labels=split.labels,
                n_resamples=n_resamples,
                seed=seed,
                positions=(position[validation.name], position[split.name]),
            )
        results.append(
            SplitShift(
                split=split.name,
                role=split.role,
                n=split.n,
                mmd=mmd,
                domain=domain,
                ks=ks,
                label_shift=label_shift,
                top_cluster=most_overrepresented(table, split=split.name, reference=reference),
                labelled=split.labels is not None,
            )
        )
    over_time = shift_over_time(
        ref, others, use_embeddings=use_embeddings, seed=seed, positions=position
    )
    return ShiftReport(
        reference=reference,
        features="embeddings" if use_embeddings else "softmax outputs",
        splits=tuple(results),
        clusters=table,
        over_time=over_time,
        class_names=tuple(class_names),
        n_permutations=int(n_permutations),
        max_samples=int(max_samples),
        n_clusters=int(n_clusters),
        notes=tuple(notes),
    )


def shift_over_time(
    reference: SplitArrays,
    splits: list[SplitArrays],
    *,
    use_embeddings: bool,
    seed: int,
    positions: dict[str, int],
) -> pd.DataFrame:
    """The MMD test of each time window of each deployment split with times against
    ``reference``; p-values Benjamini-Hochberg-adjusted across all windows."""
    from scipy.stats import false_discovery_control

    rows = []
    for split in splits:
        if split.role != "deployment" or split.times is None:
            continue
        times = pd.to_datetime(pd.Series(split.times))
        valid = times.notna().to_numpy()
        order = np.argsort(times.to_numpy()[valid], kind="stable")
        index = np.flatnonzero(valid)[order]
        n_windows = min(TIME_WINDOWS, index.size // MIN_WINDOW_SAMPLES)
        for w, members in enumerate(np.array_split(index, n_windows) if n_windows else []):
            features = _features(split, use_embeddings)[members]
            test = mmd_test(
                _features(reference, use_embeddings),
                features,
                n_permutations=WINDOW_PERMUTATIONS,
                max_samples=WINDOW_MAX_SAMPLES,
                seed=(*split_stream(seed, positions[split.name]), w + 1),
            )
            rows.append(
                {
                    "split": split.name,
                    "window": w,
                    "start": times.iloc[members[0]],
                    "end": times.iloc[members[-1]],
                    "n": int(members.size),
                    "mmd2": test.mmd2,
                    "p_value": test.p_value,
                    "mean_confidence": float(split.confidence[members].mean()),
                }
            )
    frame = pd.DataFrame(
        rows,
        columns=["split", "window", "start", "end", "n", "mmd2", "p_value", "mean_confidence"],
    )
    frame["adjusted_p_value"] = (
        false_discovery_control(frame["p_value"].to_numpy(), method="bh") if len(frame) else []
    )
    return frame
