"""The ``ood`` view: per-sample out-of-distribution and uncertainty scores, how well each
separates each shifted and deployment split from the reference and flags the model's errors,
and accuracy estimated without labels (ATC, DoC)."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Any

from gengap_dash.analysis.ood import OODReport, compute_ood
from gengap_dash.analysis.ood.scores import DEFAULT_K
from gengap_dash.findings.model import Finding
from gengap_dash.project.defaults import DEFAULT_SEED
from gengap_dash.project.errors import ProjectError
from gengap_dash.views.registry import View, register
from gengap_dash.views.report_html import figure_block, findings_block, table_block
from gengap_dash.views.shift import (
    add_reference_argument,
    default_reference,
    resolve_reference,
    split_arrays,
)


@dataclass(frozen=True)
class OODOptions:
    """``reference`` ("" = test, else validation), the kNN score's ``k``, the seed of the
    train sample kNN compares with above 50,000 train rows."""

    reference: str = ""
    k: int = DEFAULT_K
    seed: int = DEFAULT_SEED


@register
class OODView(View):
    name = "ood"
    title = "Out-of-distribution scores"
    question = (
        "Which per-sample score best tells shifted data from the reference for this model, "
        "and how accurate is the model where there are no labels?"
    )
    page = "pages/feature_space.py"
    order = 50
    Options = OODOptions

    def canonical_options(self, workspace, options):
        if options.reference:
            return options
        return dataclasses.replace(options, reference=default_reference(workspace))

    def compute(self, workspace, options: OODOptions) -> OODReport:
        return compute_ood(
            split_arrays(workspace),
            reference=resolve_reference(workspace, options.reference),
            k=options.k,
            seed=options.seed,
        )

    def findings(self, result: OODReport) -> list[Finding]:
        from gengap_dash.analysis.ood.findings import ood_findings

        return ood_findings(result)

    def headline(self, result: OODReport) -> list[Finding]:
        findings = self.findings(result)
        return [f for f in findings if f.kind == "ood.best_score"][:1] or super().headline(result)

    def to_json(self, result: OODReport) -> dict[str, Any]:
        from gengap_dash.store.json_values import json_safe

        return json_safe(result.to_dict())  # NaN (no labels: error AUROC, accuracy) -> null

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_reference_argument(parser)
        parser.add_argument("--k", type=int, default=DEFAULT_K, help="k of the kNN score")

    def options_from_arguments(self, arguments: argparse.Namespace) -> OODOptions:
        if arguments.k < 1:
            raise ProjectError(f"--k is {arguments.k}; expected a positive integer.")
        return OODOptions(reference=arguments.reference, k=int(arguments.k))

    def report_section(self, result: OODReport) -> str:
        from gengap_dash.findings.ood import ood_table
        from gengap_dash.findings.render import render
        from gengap_dash.plots.feature_space import accuracy_estimate_figure, ood_auroc_figure

        findings = self.findings(result)
        blocks = [findings_block(findings)]
        best = [f for f in findings if f.kind == "ood.best_score"]
        if best:
            blocks.append(
                figure_block(ood_auroc_figure(result), takeaway=render(best[0]), shows=AUROC_SHOWS)
            )
        estimates = [f for f in findings if f.kind == "ood.accuracy_estimate"]
        if estimates:
            worst = max(estimates, key=lambda f: f.rank)
            blocks.append(
                figure_block(
                    accuracy_estimate_figure(result),
                    takeaway=render(worst),
                    shows=ACCURACY_SHOWS,
                )
            )
        blocks.append(table_block(ood_table(result)))
        return "".join(blocks)


AUROC_SHOWS = (
    "AUROC of each score at telling each shifted or deployment split (positives) from the "
    "reference; 0.5 is chance, 1.0 separates them perfectly."
)
ACCURACY_SHOWS = (
    "Per split: measured accuracy (where labels exist), the ATC and DoC estimates made from "
    "confidences alone (fitted on validation), and the mean confidence."
)
