"""The ``leakage`` view: exact and near-duplicates between the training data and every other
split, and how much they flatter each split's accuracy (``gengap leakage PROJECT``)."""

from __future__ import annotations

import argparse
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gengap_dash.analysis.leakage import (
    DEFAULT_THRESHOLD,
    LeakageResult,
    SplitInputs,
    check_threshold,
    find_leakage,
)
from gengap_dash.findings.model import Finding
from gengap_dash.project.errors import ProjectError
from gengap_dash.views.registry import View, register
from gengap_dash.views.report_html import figure_block, findings_block, paragraph, table_block


@dataclass(frozen=True)
class LeakageOptions:
    """``threshold``: cosine similarity (centred embeddings) from which a pair is a near-twin;
    ``method``: ``"auto"`` (exact search up to 20,000 x 20,000, pynndescent above), ``"brute"``
    or ``"nndescent"``; ``seed`` of pynndescent."""

    threshold: float = DEFAULT_THRESHOLD
    method: str = "auto"
    seed: int = 0


def input_digests(workspace, split: str) -> np.ndarray | None:
    """``(n,)`` uint64 digests of what the model reads for each row of ``split``: the pixel
    array, the image file's bytes, or the feature values; ``None`` when the project brings its
    predictions (no inputs to read) or an image file is missing."""
    from gengap_dash.data.tables import read_table, resolve_default_features, table_base

    spec = workspace.spec
    inputs = spec.inputs
    path = getattr(spec.split(split), "path", None)
    if inputs is None or path is None:
        return None
    if inputs.kind == "tabular":
        features = (
            list(inputs.features)
            if inputs.features
            else list(resolve_default_features(spec).columns)
        )
        table = read_table(path, columns=features)[features]
        return pd.util.hash_pandas_object(table, index=False).to_numpy(np.uint64)
    column = inputs.column or ""
    values = read_table(path, columns=[column])[column]
    digests = np.empty(len(values), dtype=np.uint64)
    for row, value in enumerate(values):
        if isinstance(value, str):
            file = Path(value)
            file = file if file.is_absolute() else table_base(path) / file
            try:
                data = file.read_bytes()
            except OSError:
                return None
        else:
            data = _dense_bytes(value)
        digests[row] = int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")
    return digests


def _dense_bytes(cell: object) -> bytes:
    array = np.asarray(cell)
    if array.dtype == object:
        array = np.stack([np.asarray(part) for part in array])
    return np.ascontiguousarray(array).tobytes()


def leakage_inputs(workspace) -> list[SplitInputs]:
    """What the search reads of every split."""
    inputs = []
    for name in workspace.split_names:
        frame = workspace.split_predictions(name)
        inputs.append(
            SplitInputs(
                name=name,
                role=workspace.split_roles[name],
                labels=frame["label"].to_numpy(np.int64),  # -1 where a label is missing
                correct=frame["correct"].to_numpy(bool),
                sample_ids=frame["sample_id"].astype(str).to_numpy(),
                embeddings=workspace.embeddings(name),
                digests=input_digests(workspace, name),
                labelled=workspace.is_labelled(name),
            )
        )
    return inputs


@register
class LeakageView(View):
    name = "leakage"
    title = "Train-test leakage"
    question = (
        "Do held-out samples have exact or near copies in the training data, and how much do "
        "they flatter the accuracy?"
    )
    page = "pages/data_robustness.py"
    order = 76
    Options = LeakageOptions

    def unavailable(self, workspace) -> str | None:
        reason = super().unavailable(workspace)
        if reason:
            return reason
        if "train" not in workspace.split_roles.values():
            return "The leakage search needs a split with role train to compare the others with."
        if not workspace.has_model:
            return (
                "The leakage search needs the model's embeddings or inputs; this project brings "
                "its predictions only."
            )
        return None

    def compute(self, workspace, options: LeakageOptions) -> LeakageResult:
        return find_leakage(
            leakage_inputs(workspace),
            threshold=options.threshold,
            method=options.method,  # type: ignore[arg-type]
            seed=options.seed,
        )

    def findings(self, result: LeakageResult) -> list[Finding]:
        from gengap_dash.analysis.leakage.findings import leakage_findings

        return leakage_findings(result)

    def headline(self, result: LeakageResult) -> list[Finding]:
        from gengap_dash.analysis.leakage.findings import headline_finding

        finding = headline_finding(result)
        return [finding] if finding else super().headline(result)

    def heading(self, result: LeakageResult) -> str:
        return f" (near-twin: cosine ≥ {result.threshold:g}, {result.method} search)"

    def to_json(self, result: LeakageResult) -> dict[str, Any]:
        return result.to_dict()

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--threshold",
            type=float,
            default=DEFAULT_THRESHOLD,
            help="cosine similarity of centred embeddings from which a pair is a near-twin",
        )
        parser.add_argument(
            "--method",
            choices=("auto", "brute", "nndescent"),
            default="auto",
            help="nearest-neighbour search (auto: exact up to 20,000 x 20,000)",
        )
        parser.add_argument("--seed", type=int, default=0, help="seed of pynndescent")

    def options_from_arguments(self, arguments: argparse.Namespace) -> LeakageOptions:
        try:
            check_threshold(arguments.threshold)
        except ValueError:
            raise ProjectError(
                f"--threshold is {arguments.threshold}; expected a cosine similarity in [-1, 1]."
            ) from None
        return LeakageOptions(
            threshold=float(arguments.threshold), method=arguments.method, seed=int(arguments.seed)
        )

    def report_section(self, result: LeakageResult) -> str:
        from gengap_dash.analysis.leakage import pairs
        from gengap_dash.analysis.leakage.findings import headline_finding
        from gengap_dash.findings.leakage import leakage_table
        from gengap_dash.findings.render import render
        from gengap_dash.plots.data_quality import twin_share_figure

        findings = self.findings(result)
        blocks = [findings_block(findings)]
        top = headline_finding(result)
        if top is not None:
            blocks.append(
                figure_block(
                    twin_share_figure(result), takeaway=render(top), shows=TWIN_SHARE_SHOWS
                )
            )
        blocks.append(table_block(leakage_table(result)))
        if top is not None and top.split:
            frame = pairs(result, top.split, result.threshold, limit=20)
            if len(frame):
                blocks.append(paragraph(f"The most similar pairs of {top.split}:"))
                blocks.append(
                    table_block(frame[["sample_id", "train_id", "similarity", "exact", "correct"]])
                )
        return "".join(blocks)


TWIN_SHARE_SHOWS = (
    "Per held-out split: the share of samples whose nearest training sample is a near-twin "
    "(cosine similarity of the centred embeddings at or above the threshold) or an exact copy of "
    "its input, with 95% Wilson intervals; the markers give the accuracy on the samples with a "
    "twin and on the rest."
)
