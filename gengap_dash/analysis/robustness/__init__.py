"""Robustness: corruption sweeps, per-feature perturbations, and the bridge to real shift.

Pure maths: corruption and perturbation functions (:mod:`.corruptions`, :mod:`.tabular`),
curves and corruption errors with paired bootstrap intervals (:mod:`.curves`), the MMD² bridge
from real shifted splits to corruptions (:mod:`.bridge`), and the view's findings
(:mod:`.findings`). Running the model over perturbed inputs is the engine's job
(``gengap_dash.engine.corrupted_inference``); the view wires the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gengap_dash.analysis.robustness.bridge import Bridge, BridgeMatch, bridge_to_shift
from gengap_dash.analysis.robustness.corruptions import (
    CORRUPTION_VERSION,
    IMAGE_CORRUPTIONS,
    SEVERITIES,
    corrupt_images,
)
from gengap_dash.analysis.robustness.curves import (
    FeatureSensitivity,
    SweepCurves,
    feature_sensitivity,
    sweep_curves,
)
from gengap_dash.analysis.robustness.tabular import (
    TABULAR_PERTURBATIONS,
    FeatureReference,
    perturb_features,
)

__all__ = [
    "CORRUPTION_VERSION",
    "IMAGE_CORRUPTIONS",
    "SEVERITIES",
    "TABULAR_PERTURBATIONS",
    "Bridge",
    "BridgeMatch",
    "FeatureReference",
    "FeatureSensitivity",
    "RobustnessResult",
    "SweepCurves",
    "bridge_to_shift",
    "corrupt_images",
    "feature_sensitivity",
    "perturb_features",
    "sweep_curves",
]


@dataclass(frozen=True)
class RobustnessResult:
    """The robustness view's result.

    Attributes:
        kind: ``"image"`` (corruptions) or ``"tabular"`` (feature perturbations).
        split: the split swept.
        n_rows: rows of that split; ``curves.n`` of them were swept (a seeded subsample above
            the view's ``max_samples``).
        seed: the seed of the corruptions, the subsample and the bootstrap.
        curves: accuracy and ECE per corruption and severity, corruption errors, mCE.
        sensitivity: per-feature accuracy drops (tabular projects), else ``None``.
        bridge: the closest corruption of each real shifted or deployment split, or ``None``.
        bridge_note: why there is no bridge (no embeddings, no shifted split), else empty.
        notes: what the user should know about how it was computed (imputation, subsample).
    """

    kind: Literal["image", "tabular"]
    split: str
    n_rows: int
    seed: int
    curves: SweepCurves
    sensitivity: FeatureSensitivity | None
    bridge: Bridge | None
    bridge_note: str
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "split": self.split,
            "n_rows": self.n_rows,
            "n_swept": self.curves.n,
            "seed": self.seed,
            **{key: value for key, value in self.curves.to_dict().items() if key != "split"},
            "feature_sensitivity": self.sensitivity.to_dict() if self.sensitivity else None,
            "bridge": self.bridge.to_dict() if self.bridge else None,
            "bridge_note": self.bridge_note,
            "notes": list(self.notes),
        }
