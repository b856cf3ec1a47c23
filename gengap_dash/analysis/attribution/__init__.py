"""Pure maths of the saliency view: map statistics (rank correlation, top-k overlap, deletion
AUC, class averages), their intervals, the randomization test, tabular feature summaries."""

from gengap_dash.analysis.attribution.maps import (
    class_average_maps,
    deletion_auc,
    deletion_orders,
    image_maps,
    pixel_maps,
    random_orders,
    rank_correlation,
    top_k_mask,
    top_k_overlap,
)
from gengap_dash.analysis.attribution.results import (
    AverageShift,
    Deletion,
    ExampleMaps,
    FeatureShift,
    GroupComparison,
    NoiseFloor,
    PairComparison,
    SaliencyShift,
    SampleMaps,
    SanityCheck,
)

__all__ = [
    "AverageShift",
    "Deletion",
    "ExampleMaps",
    "FeatureShift",
    "GroupComparison",
    "NoiseFloor",
    "PairComparison",
    "SaliencyShift",
    "SampleMaps",
    "SanityCheck",
    "class_average_maps",
    "deletion_auc",
    "deletion_orders",
    "image_maps",
    "pixel_maps",
    "random_orders",
    "rank_correlation",
    "top_k_mask",
    "top_k_overlap",
]
