"""The ``review`` view: samples of one split ranked by an OOD score (or the documented
combination of an OOD score and the predicted error probability), with a threshold that flags a
chosen share of the reference: the list a team hands to human reviewers.

``gengap review PROJECT --split S --top N --out FILE.csv`` writes the queue as CSV
(``rank, sample_id, split, score, pred, confidence, label, flagged`` and metadata).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gengap_dash.analysis.ood import ReviewQueue, review_queue
from gengap_dash.analysis.ood.review import DEFAULT_FALSE_ALARM, DEFAULT_TOP
from gengap_dash.analysis.ood.scores import DEFAULT_K, SCORES
from gengap_dash.findings.model import Finding
from gengap_dash.project.errors import ProjectError
from gengap_dash.views.ood import OODOptions
from gengap_dash.views.registry import View, compute, get_view, register
from gengap_dash.views.report_html import findings_block, table_block
from gengap_dash.views.shift import add_reference_argument, default_reference, resolve_reference

QUEUE_SCORES = (*SCORES, "combined")


@dataclass(frozen=True)
class ReviewOptions:
    """``split`` ("" = the first deployment split, else the first shifted one); ``score``;
    ``top`` rows; ``false_alarm``: the share of the reference the threshold flags."""

    split: str = ""
    reference: str = ""
    score: str = "combined"
    top: int = DEFAULT_TOP
    false_alarm: float = DEFAULT_FALSE_ALARM
    k: int = DEFAULT_K


def default_review_split(workspace) -> str:
    roles = workspace.split_roles
    for role in ("deployment", "shifted", "test"):
        for name, split_role in roles.items():
            if split_role == role:
                return name
    return workspace.split_names[-1]


def queue_metadata(workspace, split: str):
    """The split's metadata columns by ``sample_id`` (for the queue's rows)."""
    frame = workspace.split_predictions(split)
    columns = [c for c in workspace.spec.metadata if c in frame]
    extra = frame[["sample_id", *columns]].copy()
    extra["sample_id"] = extra["sample_id"].astype(str)
    return extra


@register
class ReviewView(View):
    name = "review"
    title = "Review queue"
    question = "Which samples of a split should a human look at first?"
    page = "pages/feature_space.py"
    version = 2  # 2: the queue records the reference's size (its finding weighs that noise)
    order = 55
    Options = ReviewOptions
    _out: Path | None = None

    def canonical_options(self, workspace, options: ReviewOptions) -> ReviewOptions:
        return dataclasses.replace(
            options,
            split=options.split or default_review_split(workspace),
            reference=options.reference or default_reference(workspace),
        )

    def compute(self, workspace, options: ReviewOptions) -> ReviewQueue:
        split = options.split or default_review_split(workspace)
        if split not in workspace.split_names:
            raise ProjectError(
                f"--split is {split!r}; expected one of the project's splits: "
                f"{', '.join(workspace.split_names)}."
            )
        reference = resolve_reference(workspace, options.reference)
        ood = compute(get_view("ood"), workspace, OODOptions(reference=reference, k=options.k))
        return review_queue(
            ood.samples,
            split=split,
            reference=reference,
            score=options.score,
            false_alarm=options.false_alarm,
            top=options.top,
            extra=queue_metadata(workspace, split),
        )

    def findings(self, result: ReviewQueue) -> list[Finding]:
        from gengap_dash.analysis.ood.findings import review_findings

        return review_findings(result)

    def to_json(self, result: ReviewQueue) -> dict[str, Any]:
        self._write_out(result)
        return {
            "split": result.split,
            "score": result.score,
            "reference": result.reference,
            "threshold": result.threshold,
            "false_alarm": result.false_alarm,
            "n": result.n,
            "n_flagged": result.n_flagged,
            "queue": result.queue.astype({"sample_id": str}).to_dict(orient="records"),
        }

    def to_text(self, result: ReviewQueue) -> str:
        self._write_out(result)
        head = result.queue.head(20).to_string(index=False, float_format=lambda v: f"{v:.3f}")
        return super().to_text(result) + "\n\n" + head

    def _write_out(self, result: ReviewQueue) -> None:
        if self._out is None:
            return
        path, self._out = self._out, None
        columns = ["sample_id", "split", "score", "pred", "confidence"]
        rest = [c for c in result.queue.columns if c not in columns]
        result.queue[columns + rest].to_csv(path, index=False)
        sys.stderr.write(f"gengap: wrote {len(result.queue)} rows to {path}\n")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--split", default="", help="the split to rank (default: deployment)")
        add_reference_argument(parser)
        parser.add_argument("--score", choices=QUEUE_SCORES, default="combined")
        parser.add_argument("--top", type=int, default=DEFAULT_TOP, help="rows in the queue")
        parser.add_argument(
            "--false-alarm",
            type=float,
            default=DEFAULT_FALSE_ALARM,
            help="share of the reference the threshold flags (0.05)",
        )
        parser.add_argument("--out", type=Path, default=None, help="write the queue as CSV")

    def options_from_arguments(self, arguments: argparse.Namespace) -> ReviewOptions:
        if arguments.top < 1:
            raise ProjectError(f"--top is {arguments.top}; expected a positive integer.")
        if not 0.0 < arguments.false_alarm < 1.0:
            raise ProjectError(
                f"--false-alarm is {arguments.false_alarm}; expected a share between 0 and 1."
            )
        out = arguments.out
        if out is not None and not out.parent.exists():
            raise ProjectError(f"--out is {out}; its folder {out.parent} does not exist.")
        self._out = out
        return ReviewOptions(
            split=arguments.split,
            reference=arguments.reference,
            score=arguments.score,
            top=int(arguments.top),
            false_alarm=float(arguments.false_alarm),
        )

    def report_section(self, result: ReviewQueue) -> str:
        return findings_block(self.findings(result)) + table_block(
            result.queue.head(20), caption="The top of the queue (the CLI's --out writes it all)."
        )
