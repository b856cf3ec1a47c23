"""The ``labels`` view: suspected label errors per split and per cohort (cleanlab's confident
learning on the cached probabilities), accuracy without them, and the suspects for relabelling
(``gengap labels PROJECT [--out suspects.csv]``)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gengap_dash.analysis.labels import LabelAudit, SplitLabels, audit_labels
from gengap_dash.findings.model import Finding
from gengap_dash.project.errors import ProjectError
from gengap_dash.views._unlabelled import unlabelled_of
from gengap_dash.views.registry import View, register
from gengap_dash.views.report_html import figure_block, findings_block, paragraph, table_block

MAX_COHORTS = 20
"""Metadata columns with more distinct values than this in a split are not used as cohorts."""


@dataclass(frozen=True)
class LabelsOptions:
    """``include_train``: audit the training split too (its share is a lower bound: in-sample
    probabilities understate label noise)."""

    include_train: bool = True


def label_inputs(workspace, *, include_train: bool = True) -> list[SplitLabels]:
    """What the audit reads of every split (the training split marked ``in_sample``)."""
    inputs = []
    for name in workspace.split_names:
        role = workspace.split_roles[name]
        if (role == "train" and not include_train) or not workspace.is_labelled(name):
            continue
        frame = workspace.split_predictions(name)
        cohorts = {
            column: frame[column].to_numpy()
            for column in workspace.spec.metadata
            if column in frame and 1 < frame[column].nunique(dropna=False) <= MAX_COHORTS
        }
        inputs.append(
            SplitLabels(
                name=name,
                role=role,
                labels=workspace.labels(name),
                probs=workspace.probs(name),
                sample_ids=frame["sample_id"].astype(str).to_numpy(),
                cohorts=cohorts,
                in_sample=role == "train",
            )
        )
    return inputs


@register
class LabelsView(View):
    name = "labels"
    title = "Label audit"
    question = (
        "Which labels look wrong, how many per split and cohort, and what is the accuracy "
        "without them?"
    )
    page = "pages/data_robustness.py"
    order = 75
    Options = LabelsOptions

    def compute(self, workspace, options: LabelsOptions) -> LabelAudit:
        audit = audit_labels(
            label_inputs(workspace, include_train=options.include_train),
            class_names=workspace.class_names,
        )
        return dataclasses.replace(audit, unlabelled=unlabelled_of(workspace))

    def findings(self, result: LabelAudit) -> list[Finding]:
        from gengap_dash.analysis.labels.findings import label_findings

        return label_findings(result)

    def headline(self, result: LabelAudit) -> list[Finding]:
        from gengap_dash.analysis.labels.findings import headline_finding

        finding = headline_finding(result)
        return [finding] if finding else super().headline(result)

    def to_json(self, result: LabelAudit) -> dict[str, Any]:
        return result.to_dict()

    def to_text(self, result: LabelAudit) -> str:
        from gengap_dash.findings.labels import suspects_table

        text = super().to_text(result)
        if len(result.suspects):
            top = suspects_table(result, limit=10).to_string(index=False)
            text += f"\n\nLowest label quality first ({len(result.suspects):,} suspects):\n{top}"
        return text

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--out", type=Path, default=None, help="write the suspects' ids to this CSV file"
        )
        parser.add_argument(
            "--no-train",
            action="store_true",
            help="leave the training split out (its in-sample share is only a lower bound)",
        )

    def options_from_arguments(self, arguments: argparse.Namespace) -> LabelsOptions:
        out = getattr(arguments, "out", None)
        if out is not None and (out.is_dir() or not out.parent.is_dir()):
            raise ProjectError(
                f"--out is {str(out)!r}; expected a file path in an existing folder."
            )
        return LabelsOptions(include_train=not getattr(arguments, "no_train", False))

    def write_files(self, result: LabelAudit, arguments: argparse.Namespace) -> None:
        out = getattr(arguments, "out", None)
        if out is None:
            return
        from gengap_dash.findings.labels import suspects_csv

        write_atomically(Path(out), suspects_csv(result))
        sys.stderr.write(f"gengap: wrote {len(result.suspects):,} suspects to {out}\n")

    def report_section(self, result: LabelAudit) -> str:
        from gengap_dash.analysis.labels.findings import headline_finding
        from gengap_dash.findings.labels import audit_table, suspects_table
        from gengap_dash.findings.render import render
        from gengap_dash.plots.data_quality import label_share_figure

        findings = self.findings(result)
        blocks = [findings_block(findings)]
        top = headline_finding(result)
        if top is not None:
            blocks.append(
                figure_block(
                    label_share_figure(result), takeaway=render(top), shows=LABEL_SHARE_SHOWS
                )
            )
        blocks.append(table_block(audit_table(result)))
        if len(result.suspects):
            blocks.append(paragraph("The 20 suspects with the lowest label quality:"))
            blocks.append(table_block(suspects_table(result, limit=20)))
        return "".join(blocks)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


LABEL_SHARE_SHOWS = (
    "Per split: the share of labels that cleanlab's confident learning flags as likely wrong, "
    "with its 95% Wilson interval. The training split (hatched) is in-sample: the model has "
    "memorised part of its noise, so its share is a lower bound."
)
