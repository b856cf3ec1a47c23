"""Feature space and shift: did the data move, where to, and how sure are we (pure maths)."""

from gengap_dash.analysis.shift.clusters import cluster_embeddings, cluster_table
from gengap_dash.analysis.shift.detection import (
    ShiftReport,
    SplitShift,
    compared_splits,
    compute_shift,
)
from gengap_dash.analysis.shift.inputs import SplitArrays, check_embeddings
from gengap_dash.analysis.shift.label_shift import LabelShift, estimate_label_shift

__all__ = [
    "LabelShift",
    "ShiftReport",
    "SplitArrays",
    "SplitShift",
    "check_embeddings",
    "cluster_embeddings",
    "cluster_table",
    "compared_splits",
    "compute_shift",
    "estimate_label_shift",
]
