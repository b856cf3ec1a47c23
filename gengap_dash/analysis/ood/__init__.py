"""Out-of-distribution and uncertainty scores, accuracy without labels, the review queue."""

from gengap_dash.analysis.ood.accuracy import atc_estimate, atc_threshold, doc_estimate
from gengap_dash.analysis.ood.detection import auroc, fpr_at_tpr
from gengap_dash.analysis.ood.report import OODReport, compute_ood
from gengap_dash.analysis.ood.review import ReviewQueue, review_queue
from gengap_dash.analysis.ood.scores import (
    SCORE_LABELS,
    SCORES,
    energy_score,
    fit_class_gaussians,
    knn_score,
    mahalanobis_score,
    max_logit_score,
    msp_score,
)

__all__ = [
    "SCORES",
    "SCORE_LABELS",
    "OODReport",
    "ReviewQueue",
    "atc_estimate",
    "atc_threshold",
    "auroc",
    "compute_ood",
    "doc_estimate",
    "energy_score",
    "fit_class_gaussians",
    "fpr_at_tpr",
    "knn_score",
    "mahalanobis_score",
    "max_logit_score",
    "msp_score",
    "review_queue",
]
