"""The saliency view's results: frozen data (numbers with 95% bootstrap intervals, arrays)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gengap_dash.stats.bootstrap import Estimate


@dataclass(frozen=True)
class GroupComparison:
    """Pairs of one group (e.g. one severity) of a shifted split."""

    group: str
    n_pairs: int
    rank_correlation: Estimate
    topk_overlap: Estimate


@dataclass(frozen=True)
class PairComparison:
    """Shifted samples against the clean samples they were made from, for one method.

    ``rank_correlation``: Spearman correlation of the two maps' magnitudes; ``topk_overlap``:
    the share of the clean map's top-k% pixels also in the shifted map's top-k%.
    """

    split: str
    method: str
    n_pairs: int
    rank_correlation: Estimate
    topk_overlap: Estimate
    groups: tuple[GroupComparison, ...] = ()
    group_column: str | None = None


@dataclass(frozen=True)
class NoiseFloor:
    """The same statistics between two clean maps of each reference sample (see ``how``)."""

    method: str
    n_pairs: int
    rank_correlation: Estimate
    topk_overlap: Estimate
    how: str


@dataclass(frozen=True)
class SanityCheck:
    """The model-parameter randomization test of one method (Adebayo et al., 2018).

    ``similarity[i]``: the mean rank correlation between the maps of the trained model and those
    with its top ``steps[i]`` parametric layers randomized (the last step: every layer).
    """

    method: str
    n_samples: int
    steps: tuple[int, ...]
    similarity: tuple[Estimate, ...]
    n_layers: int

    @property
    def final(self) -> Estimate:
        return self.similarity[-1]


@dataclass(frozen=True)
class Deletion:
    """Deletion curves of one method on one split: the probability of the explained class as
    the most-attributed pixels are removed (set to the baseline), against a random order.

    Attributes:
        fractions: ``(K,)`` removed fractions from 0 to 1.
        mean_curve, random_curve: ``(K,)`` mean probability at each fraction.
        auc, random_auc: area under the curves (lower: the method finds what matters).
        auc_gap: ``auc - random_auc`` on the same samples (negative: better than random).
    """

    split: str
    method: str
    n_samples: int
    fractions: np.ndarray
    mean_curve: np.ndarray
    random_curve: np.ndarray
    auc: Estimate
    random_auc: Estimate
    auc_gap: Estimate


@dataclass(frozen=True)
class AverageShift:
    """Where samples are not paired: how far a split's class-average maps move from the
    reference's. ``distance`` is ``1 - `` the mean (over classes present in both) Spearman
    correlation of the class-average magnitude maps."""

    split: str
    method: str
    n_samples: int
    distance: Estimate


@dataclass(frozen=True)
class FeatureShift:
    """Tabular: mean absolute attribution per feature on a split, and how its ranking moved.

    Attributes:
        importance: ``(F,)`` mean |attribution| per feature on the split.
        ranking_correlation: Spearman correlation with the reference's importances.
        values, attributions: ``(m, F)`` a sample's feature values and attributions (the strip
            plot).
    """

    split: str
    method: str
    n_samples: int
    importance: np.ndarray
    ranking_correlation: float
    values: np.ndarray
    attributions: np.ndarray


@dataclass(frozen=True)
class ExampleMaps:
    """A few samples' inputs and maps (for the report and the grids)."""

    split: str
    method: str
    sample_ids: tuple[str, ...]
    labels: tuple[int, ...]
    preds: tuple[int, ...]
    confidences: tuple[float, ...]
    images: np.ndarray
    maps: np.ndarray
    paired_maps: np.ndarray | None = None
    paired_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class SaliencyShift:
    """Does attention move under shift? The ``gengap saliency --shift`` result.

    Attributes:
        kind: ``"image"`` or ``"tabular"``.
        reference: the clean split everything is compared with.
        methods: the methods run, in order; ``signed`` says which maps carry a sign.
        top_k: the fraction of pixels in a top-k set.
        pair_column: the metadata column that pairs shifted samples with clean ones.
        feature_names: tabular feature names (empty for images).
        class_maps: ``"split|method" -> (n_classes, P)`` class-average magnitude maps.
        notes: what was chosen and why (the Grad-CAM layer, methods left out).
    """

    kind: str
    reference: str
    methods: tuple[str, ...]
    signed: dict[str, bool]
    top_k: float
    target: str
    pair_column: str | None
    image_shape: tuple[int, ...]
    pairs: tuple[PairComparison, ...] = ()
    noise_floor: tuple[NoiseFloor, ...] = ()
    sanity: tuple[SanityCheck, ...] = ()
    deletion: tuple[Deletion, ...] = ()
    average_shift: tuple[AverageShift, ...] = ()
    features: tuple[FeatureShift, ...] = ()
    feature_names: tuple[str, ...] = ()
    class_maps: dict[str, np.ndarray] = field(default_factory=dict)
    examples: tuple[ExampleMaps, ...] = ()
    notes: tuple[str, ...] = ()

    def floor(self, method: str) -> NoiseFloor | None:
        return next((item for item in self.noise_floor if item.method == method), None)

    def sanity_of(self, method: str) -> SanityCheck | None:
        return next((item for item in self.sanity if item.method == method), None)

    def deletion_of(self, split: str, method: str) -> Deletion | None:
        return next(
            (item for item in self.deletion if item.split == split and item.method == method),
            None,
        )


@dataclass(frozen=True)
class SampleMaps:
    """Maps of chosen samples (``gengap saliency --samples``), row-aligned with ``sample_ids``.

    Attributes:
        maps: ``(n, C, H, W)`` for images (Grad-CAM: ``(n, 1, H, W)``) or ``(n, F)``.
        inputs: the model inputs of the same shape as the images/features.
        targets: ``(n,)`` the explained class of each map.
    """

    split: str
    method: str
    signed: bool
    sample_ids: tuple[str, ...]
    maps: np.ndarray
    inputs: np.ndarray
    labels: np.ndarray
    preds: np.ndarray
    confidences: np.ndarray
    targets: np.ndarray
    note: str = ""
    convergence_delta: np.ndarray | None = None
