"""The gap scorecard view: every split's metrics with 95% bootstrap intervals, the gaps between
splits, and whether the gap is overfitting, underfitting or distribution shift."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from gengap_dash.analysis.scorecard import Scorecard, SplitData, compute_scorecard
from gengap_dash.findings.model import Finding
from gengap_dash.project.defaults import DEFAULT_RESAMPLES, DEFAULT_SEED
from gengap_dash.project.errors import ProjectError
from gengap_dash.views._unlabelled import unlabelled_of
from gengap_dash.views.registry import View, register
from gengap_dash.views.report_html import figure_block, findings_block, table_block


@dataclass(frozen=True)
class ScorecardOptions:
    """``n_resamples`` bootstrap replicates per split, drawn from ``seed``."""

    n_resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED


def split_data(workspace) -> list[SplitData]:
    """Per-split arrays of the workspace's labelled splits, in project order."""
    data = []
    for name in workspace.labelled_splits:
        probs = workspace.probs(name)
        data.append(
            SplitData(
                name=name,
                role=workspace.split_roles[name],
                labels=workspace.labels(name),
                probs=probs,
                losses=workspace.split_predictions(name)["loss"].to_numpy(np.float64),
            )
        )
    return data


def scorecard_text(payload: dict[str, Any]) -> str:
    """A plain-text table of the scorecard part of a summary payload."""
    header = f"{'split':<16}{'role':<12}{'n':>7}  {'accuracy':>22}  {'macro-F1':>8}"
    header += f"  {'NLL':>7}  {'ECE':>7}  {'Brier':>7}"
    lines = [header, "-" * len(header)]
    for name, row in payload["splits"].items():
        low, high = row["ci"]["accuracy"]
        accuracy = f"{100 * row['accuracy']:.1f}% [{100 * low:.1f}, {100 * high:.1f}]"
        lines.append(
            f"{name:<16}{row['role']:<12}{row['n']:>7}  {accuracy:>22}  "
            f"{100 * row['macro_f1']:>7.1f}%  {row['nll']:>7.3f}  {100 * row['ece']:>6.1f}%  "
            f"{row['brier']:>7.3f}"
        )
    for name, row in payload.get("unlabelled", {}).items():
        state = "no labels" if not row["labelled"] else f"labels on {row['labelled']} rows only"
        lines.append(f"{name:<16}{row['role']:<12}{row['n']:>7}  ({state})")
    return "\n".join(lines)


@register
class ScorecardView(View):
    name = "scorecard"
    title = "Gap scorecard"
    question = (
        "How much worse is the model away from its training data, where, and is it "
        "overfitting, underfitting or distribution shift?"
    )
    page = "pages/overview.py"
    order = 0
    version = 2
    Options = ScorecardOptions

    def compute(self, workspace, options: ScorecardOptions) -> Scorecard:
        result = compute_scorecard(
            split_data(workspace), n_resamples=options.n_resamples, seed=options.seed
        )
        return dataclasses.replace(result, unlabelled=unlabelled_of(workspace))

    def findings(self, result: Scorecard) -> list[Finding]:
        from gengap_dash.analysis.scorecard.findings import scorecard_findings

        return scorecard_findings(result)

    def headline(self, result: Scorecard) -> list[Finding]:
        from gengap_dash.analysis.scorecard.findings import headline
        from gengap_dash.findings.unlabelled import KIND

        unlabelled = [f for f in self.findings(result) if f.kind == KIND]
        return [headline(result), *unlabelled]  # the summary says which splits lack labels

    def to_json(self, result: Scorecard) -> dict[str, Any]:
        return result.to_dict()

    def to_text(self, result: Scorecard) -> str:
        return scorecard_text(result.to_dict()) + "\n\n" + super().to_text(result)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--resamples", type=int, default=DEFAULT_RESAMPLES, help="bootstrap resamples"
        )
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="bootstrap seed")

    def options_from_arguments(self, arguments: argparse.Namespace) -> ScorecardOptions:
        if arguments.resamples < 1:
            raise ProjectError(
                f"--resamples is {arguments.resamples}; expected a positive integer."
            )
        return ScorecardOptions(n_resamples=arguments.resamples, seed=arguments.seed)

    def report_section(self, result: Scorecard) -> str:
        from gengap_dash.analysis.scorecard.findings import gap_chart_takeaway, metric_takeaway
        from gengap_dash.findings.render import render
        from gengap_dash.plots.scorecard import gap_figure, metric_by_split_figure, scorecard_table
        from gengap_dash.plots.style import split_colors

        colors = split_colors(result.split_roles)
        reference = "validation" if result.validation else "train"
        return "".join(
            [
                findings_block(self.findings(result)),
                "<div class='grid'>",
                figure_block(
                    metric_by_split_figure(result, "accuracy", colors=colors),
                    takeaway=render(metric_takeaway(result, metric="accuracy")),
                    shows="Accuracy on every split with its 95% interval; dashed lines mark "
                    "train and validation.",
                ),
                figure_block(
                    gap_figure(result, "accuracy", reference=reference, colors=colors),
                    takeaway=render(
                        gap_chart_takeaway(result, metric="accuracy", reference=reference)
                    ),
                    shows=f"How many accuracy points each split loses against {reference}, "
                    "with its 95% interval.",
                ),
                "</div>",
                table_block(scorecard_table(result)),
            ]
        )
