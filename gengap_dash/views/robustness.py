"""The robustness view: how fast does the model break under common corruptions (images) or
per-feature perturbations (tabular), and which real shifted split does each corruption resemble?

``compute`` reads the swept split's stored inputs, corrupts them at five severities, runs the
model over each through the project's transform and the inference engine
(``engine/corrupted_inference.py``, cached per corruption and severity), then scores the curves
with paired bootstrap intervals and bridges each real shifted or deployment split to its closest
corruption by MMD² in the model's embedding space (``analysis/robustness``). It is slow (45
inference passes for an image project), so ``gengap summary`` and the report include it once it
is cached: ``gengap robustness PROJECT`` or ``gengap precompute PROJECT --views robustness``.
"""

from __future__ import annotations

import argparse
import contextlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from gengap_dash.analysis.robustness import (
    CORRUPTION_VERSION,
    IMAGE_CORRUPTIONS,
    SEVERITIES,
    TABULAR_PERTURBATIONS,
    FeatureReference,
    RobustnessResult,
    bridge_to_shift,
    corrupt_images,
    feature_sensitivity,
    perturb_features,
    sweep_curves,
)
from gengap_dash.analysis.robustness.bridge import DEFAULT_BRIDGE_SAMPLES
from gengap_dash.findings.model import Finding
from gengap_dash.project.defaults import DEFAULT_RESAMPLES, DEFAULT_SEED
from gengap_dash.project.errors import ProjectError
from gengap_dash.views._progress import Progress, ViewProgress
from gengap_dash.views.registry import View, register
from gengap_dash.views.report_html import figure_block, findings_block, paragraph, table_block

DEFAULT_MAX_SAMPLES = 2_000
"""The swept split is subsampled (seeded) to at most this many rows: 45 inference passes over
2,000 images bound the sweep's cost whatever the split's size."""

REFERENCE_ROWS = 10_000
"""Tabular perturbations take each feature's spread and quantiles from at most this many rows
of the training split (seeded subsample)."""

_PROGRESS = ViewProgress("robustness", "robustness", width=100)


def robustness_progress(callback: Progress) -> contextlib.AbstractContextManager[None]:
    """Report the sweep's progress to ``callback(fraction, note)`` inside the block (the
    page's progress bar)."""
    return _PROGRESS.reporting(callback)


@dataclass(frozen=True)
class RobustnessOptions:
    """Options of the robustness view (defaults: the page's and the CLI's).

    Attributes:
        split: the split to sweep ("": the test split, else validation, else the first).
        corruptions: the corruptions (images) or perturbations (tabular) to run (empty: all).
        max_samples: rows of the swept split (seeded subsample above it).
        bridge_samples: rows per side in the bridge's MMD².
        feature_severity: the severity of the per-feature sensitivity (tabular).
        n_resamples: bootstrap resamples.
        seed: seed of the corruptions, the subsamples and the bootstrap.
    """

    split: str = ""
    corruptions: tuple[str, ...] = ()
    max_samples: int = DEFAULT_MAX_SAMPLES
    bridge_samples: int = DEFAULT_BRIDGE_SAMPLES
    feature_severity: int = 3
    n_resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED

    def __post_init__(self) -> None:
        for name in ("max_samples", "bridge_samples", "n_resamples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 5:
                raise ProjectError(
                    f"Expected `{name}` to be an integer of at least 5, but got {value!r}."
                )
        if self.feature_severity not in SEVERITIES:
            raise ProjectError(
                f"Expected `feature_severity` to be 1..5, but got {self.feature_severity!r}."
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ProjectError(f"Expected `seed` to be a non-negative integer, got {self.seed!r}.")


def is_tabular(workspace) -> bool:
    return workspace.spec.inputs is not None and workspace.spec.inputs.kind == "tabular"


def available_corruptions(workspace) -> tuple[str, ...]:
    """The corruptions (image projects) or perturbations (tabular projects) the view runs."""
    return TABULAR_PERTURBATIONS if is_tabular(workspace) else IMAGE_CORRUPTIONS


def default_split(workspace) -> str:
    """The test split, else the first validation split, else the first split."""
    roles = workspace.split_roles
    for role in ("test", "validation"):
        for name in workspace.split_names:
            if roles[name] == role:
                return name
    return workspace.split_names[0]


def resolve_split(workspace, split: str) -> str:
    if not split:
        return default_split(workspace)
    if split not in workspace.split_names:
        raise ProjectError(
            f"There is no split {split!r} to sweep; the splits are "
            f"{', '.join(workspace.split_names)}."
        )
    return split


def resolve_corruptions(workspace, chosen: Sequence[str]) -> tuple[str, ...]:
    known = available_corruptions(workspace)
    unknown = [name for name in chosen if name not in known]
    if unknown:
        what = "perturbations" if is_tabular(workspace) else "corruptions"
        raise ProjectError(
            f"Unknown {what} {', '.join(repr(u) for u in unknown)}; this project's {what} are "
            f"{', '.join(known)}."
        )
    return tuple(chosen) if chosen else known


def swept_rows(n: int, limit: int, *, seed: int, position: int) -> np.ndarray:
    """The rows swept: all ``n``, or a seeded subsample of ``limit`` of them (sorted)."""
    if n <= limit:
        return np.arange(n)
    rng = np.random.default_rng([seed, position, zlib.crc32(b"robustness-rows")])
    return np.sort(rng.choice(n, limit, replace=False))


def _engine():
    from gengap_dash.engine import corrupted_inference

    return corrupted_inference


def _probs(logits: np.ndarray) -> np.ndarray:
    from gengap_dash.data.predictions import SplitOutputs

    return SplitOutputs.from_logits(logits, np.zeros(len(logits), dtype=np.int64)).probs


def compute_robustness(
    workspace, options: RobustnessOptions, *, progress: Progress | None = None
) -> RobustnessResult:
    """The sweep, its curves, the per-feature sensitivity (tabular) and the bridge.

    Raises:
        ProjectError: the project brings predictions (no model), or a bad option.
    """
    if not workspace.has_model:
        raise ProjectError(
            "Corruption sweeps need the model itself: this project brings its predictions, so "
            "there is nothing to run on corrupted inputs."
        )
    engine = _engine()
    split = resolve_split(workspace, options.split)
    names = resolve_corruptions(workspace, options.corruptions)
    position = workspace.split_names.index(split)
    labels_all = workspace.labels(split)
    rows = swept_rows(len(labels_all), options.max_samples, seed=options.seed, position=position)
    rows = rows[labels_all[rows] >= 0]
    if rows.size < 5:
        raise ProjectError(f"Split {split!r} has {rows.size} labelled rows; a sweep needs 5.")
    labels = labels_all[rows]
    features = _default_features(workspace)
    raw = engine.read_raw_inputs(workspace.spec, split, rows=rows, features=features)
    tabular = raw.kind == "tabular"
    notes: list[str] = []
    if rows.size < len(labels_all):
        notes.append(
            f"The sweep ran on a seeded sample of {rows.size:,} of the {len(labels_all):,} rows "
            f"of {split} (max_samples)."
        )
    perturbations = []
    curve_keys: list[tuple[str, int]] = []
    feature_keys: list[tuple[str, str]] = []
    if tabular:
        reference, reference_split = _feature_reference(workspace, split, features, options)
        context = workspace.cache_key(reference_split)
        notes.append(
            f"Noise is scaled by each feature's standard deviation on {reference_split}; missing "
            f"values are imputed with its {reference_split} mean (the project has no imputation "
            "of its own: gengap feeds the table's values to the model as they are)."
        )
        for kind in names:
            for severity in SEVERITIES:
                apply = partial(
                    perturb_features, kind=kind, severity=severity, reference=reference,
                    seed=options.seed,
                )  # fmt: skip
                perturbations.append(
                    engine.Perturbation(
                        kind,
                        severity,
                        options.seed,
                        CORRUPTION_VERSION,
                        context=context,
                        apply=apply,
                    )
                )
                curve_keys.append((kind, severity))
        for column, feature in enumerate(raw.columns):
            for kind in names:
                apply = partial(
                    perturb_features, kind=kind, severity=options.feature_severity,
                    reference=reference, columns=[column], seed=options.seed,
                )  # fmt: skip
                perturbations.append(
                    engine.Perturbation(
                        kind,
                        options.feature_severity,
                        options.seed,
                        CORRUPTION_VERSION,
                        feature=feature,
                        context=context,
                        apply=apply,
                    )
                )
                feature_keys.append((feature, kind))
    else:
        for name in names:
            for severity in SEVERITIES:
                apply = partial(corrupt_images, name=name, severity=severity, seed=options.seed)
                perturbations.append(
                    engine.Perturbation(
                        name, severity, options.seed, CORRUPTION_VERSION, apply=apply
                    )
                )
                curve_keys.append((name, severity))

    def report(done: int, total: int, note: str) -> None:
        if progress is not None:
            what = "done" if note == "done" else f"running the model under {note.replace('_', ' ')}"
            progress(0.95 * done / max(1, total), what)

    outputs = engine.run_perturbed_inference(
        workspace.model(),
        raw,
        perturbations,
        spec=workspace.spec,
        split=split,
        split_key=workspace.cache_key(split),
        cache=workspace.cache,
        progress=report,
    )
    if progress is not None:
        progress(0.96, "bootstrapping the curves")
    clean_probs = workspace.probs(split)[rows]
    n_curves = len(curve_keys)
    curves = sweep_curves(
        labels,
        clean_probs,
        {key: _probs(out.logits) for key, out in zip(curve_keys, outputs[:n_curves], strict=True)},
        split=split,
        position=position,
        n_resamples=options.n_resamples,
        seed=options.seed,
    )
    sensitivity = None
    if feature_keys:
        sensitivity = feature_sensitivity(
            labels,
            clean_probs,
            {
                key: _probs(out.logits)
                for key, out in zip(feature_keys, outputs[n_curves:], strict=True)
            },
            severity=options.feature_severity,
            position=position,
            n_resamples=options.n_resamples,
            seed=options.seed,
        )
    if progress is not None:
        progress(0.98, "bridging to the real shifted splits")
    bridge, bridge_note = _bridge(workspace, split, rows, curve_keys, outputs[:n_curves], options)
    if progress is not None:
        progress(1.0, "done")
    return RobustnessResult(
        kind="tabular" if tabular else "image",
        split=split,
        n_rows=len(labels_all),
        seed=options.seed,
        curves=curves,
        sensitivity=sensitivity,
        bridge=bridge,
        bridge_note=bridge_note,
        notes=tuple(notes),
    )


def _default_features(workspace) -> list[str] | None:
    inputs = workspace.spec.inputs
    if inputs is None or inputs.kind != "tabular" or inputs.features is not None:
        return None
    from gengap_dash.data.tables import resolve_default_features

    return list(resolve_default_features(workspace.spec).columns)


def _feature_reference(
    workspace, split: str, features: list[str] | None, options: RobustnessOptions
) -> tuple[FeatureReference, str]:
    roles = workspace.split_roles
    reference = next((name for name in workspace.split_names if roles[name] == "train"), split)
    n = len(workspace.labels(reference))
    position = workspace.split_names.index(reference)
    rows = swept_rows(n, REFERENCE_ROWS, seed=options.seed, position=position)
    raw = _engine().read_raw_inputs(workspace.spec, reference, rows=rows, features=features)
    try:
        return FeatureReference.from_data(raw.values), reference
    except ValueError as error:
        raise ProjectError(f"Split {reference!r}: {error}") from None


def _bridge(workspace, split, rows, keys, outputs, options):
    clean = workspace.embeddings(split)
    if clean is None or any(out.embeddings is None for out in outputs):
        note = workspace.embedding_note or "The model's embeddings are not available."
        return None, f"No bridge to real shift: {note}"
    real = {
        name: (role, workspace.embeddings(name))
        for name, role in workspace.split_roles.items()
        if role in ("shifted", "deployment") and name != split
    }
    if not real:
        return None, (
            "No bridge to real shift: the project has no shifted or deployment split to compare "
            "the corruptions with."
        )
    candidates = {key: out.embeddings for key, out in zip(keys, outputs, strict=True)}
    try:
        bridge = bridge_to_shift(
            real,
            clean[rows],
            candidates,
            reference=split,
            max_samples=options.bridge_samples,
            seed=options.seed,
        )
    except ValueError as error:
        return None, f"No bridge to real shift: {error}"
    return bridge, ""


@register
class RobustnessView(View):
    name = "robustness"
    title = "Robustness to corruptions"
    question = (
        "How fast does the model break under common corruptions, and which real shift does "
        "each corruption resemble?"
    )
    needs = frozenset({"predictions", "model"})
    page = "pages/data_robustness.py"
    version = 2  # 2: bridge distances listed in the candidates' order
    order = 70
    slow = True
    Options = RobustnessOptions

    def unavailable(self, workspace) -> str | None:
        if not workspace.has_model:
            return "Corruption sweeps need the model itself; this project brings its predictions."
        return None

    def input_key(self, workspace) -> dict[str, Any]:
        return {"outputs": workspace.fingerprint(), "corruptions": CORRUPTION_VERSION}

    def compute(self, workspace, options: RobustnessOptions) -> RobustnessResult:
        return compute_robustness(workspace, options, progress=_PROGRESS.callback())

    def findings(self, result: RobustnessResult) -> list[Finding]:
        from gengap_dash.analysis.robustness.findings import robustness_findings

        return robustness_findings(result)

    def headline(self, result: RobustnessResult) -> list[Finding]:
        findings = self.findings(result)
        summary = [f for f in findings if f.kind == "robustness.summary"]
        matches = [f for f in findings if f.kind == "robustness.bridge" and f.reason == "match"]
        return summary + matches[:2]

    def to_json(self, result: RobustnessResult) -> dict[str, Any]:
        return result.to_dict()

    def heading(self, result: RobustnessResult) -> str:
        return f" of {result.split} ({result.curves.n:,} samples, seed {result.seed})"

    def to_text(self, result: RobustnessResult) -> str:
        from gengap_dash.findings.render import render

        lines = [f"- {render(finding)}" for finding in self.findings(result)]
        lines += ["", errors_frame(result).to_string(index=False)]
        if result.bridge is not None and result.bridge.matches:
            lines += ["", bridge_frame(result).to_string(index=False)]
        elif result.bridge_note:
            lines += ["", result.bridge_note]
        if result.sensitivity is not None:
            lines += ["", sensitivity_frame(result).head(10).to_string(index=False)]
        lines += ["", *result.notes]
        return "\n".join(line for line in lines).rstrip()

    def extend_summary(self, result: RobustnessResult, payload: dict[str, Any]) -> None:
        payload["robustness"] = {
            "split": result.split,
            "mean_accuracy_drop": result.curves.mean_accuracy_drop.value,
            "mean_corruption_error": result.curves.mean_corruption_error.value,
            "bridge": {
                match.split: {"corruption": match.corruption, "severity": match.severity}
                for match in (result.bridge.matches if result.bridge else ())
            },
        }

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--split", default="", help="the split to sweep (default: test, else validation)"
        )
        parser.add_argument(
            "--corruptions",
            default="",
            help="comma-separated corruptions (images) or perturbations (tabular); default all",
        )
        parser.add_argument(
            "--max-samples", type=int, default=DEFAULT_MAX_SAMPLES,
            help="rows of the split to sweep (seeded subsample above it)",
        )  # fmt: skip
        parser.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES)
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED)

    def options_from_arguments(self, arguments: argparse.Namespace) -> RobustnessOptions:
        if arguments.max_samples < 5:
            raise ProjectError(f"--max-samples is {arguments.max_samples}; expected at least 5.")
        if arguments.resamples < 5:
            raise ProjectError(f"--resamples is {arguments.resamples}; expected at least 5.")
        if arguments.seed < 0:
            raise ProjectError(f"--seed is {arguments.seed}; expected a non-negative integer.")
        chosen = tuple(c.strip() for c in arguments.corruptions.split(",") if c.strip())
        _PROGRESS.ask_command_line()
        return RobustnessOptions(
            split=arguments.split,
            corruptions=chosen,
            max_samples=arguments.max_samples,
            n_resamples=arguments.resamples,
            seed=arguments.seed,
        )

    def report_section(self, result: RobustnessResult) -> str:
        from gengap_dash.findings.render import render
        from gengap_dash.plots import robustness as plots

        findings = self.findings(result)
        by_kind = {}
        for finding in findings:
            by_kind.setdefault(finding.kind, []).append(finding)
        blocks = [findings_block(findings)]
        blocks.append(
            figure_block(
                plots.severity_curves_figure(result.curves),
                takeaway=render(by_kind["robustness.weakest"][0]),
                shows=CURVES_SHOWS,
            )
        )
        blocks.append(
            figure_block(
                plots.corruption_error_figure(result.curves),
                takeaway=render(by_kind["robustness.summary"][0]),
                shows=ERRORS_SHOWS,
            )
        )
        if result.sensitivity is not None and "robustness.feature_sensitivity" in by_kind:
            blocks.append(
                figure_block(
                    plots.sensitivity_figure(result.sensitivity),
                    takeaway=render(by_kind["robustness.feature_sensitivity"][0]),
                    shows=SENSITIVITY_SHOWS,
                )
            )
        if result.bridge is not None and result.bridge.matches:
            blocks.append(
                figure_block(
                    plots.bridge_figure(result.bridge),
                    takeaway=render(bridge_takeaway(findings)),
                    shows=BRIDGE_SHOWS,
                )
            )
            blocks.append(table_block(bridge_frame(result), caption=BRIDGE_TABLE_CAPTION))
        elif result.bridge_note:
            blocks.append(paragraph(result.bridge_note, css="caption"))
        for note in result.notes:
            blocks.append(paragraph(note, css="caption"))
        return "".join(blocks)


def bridge_takeaway(findings: Sequence[Finding]) -> Finding:
    """The bridge finding to lead with: the clearest match (else the first split's)."""
    bridges = [f for f in findings if f.kind == "robustness.bridge"]
    matches = [f for f in bridges if f.reason == "match"]
    return (matches or bridges)[0]


# -- tables (people's column names; shared by the page, the text output and the report) --------


def errors_frame(result: RobustnessResult) -> pd.DataFrame:
    """One row per corruption: corruption error, mean accuracy, drop, with intervals."""
    from gengap_dash.findings.robustness import corruption_title
    from gengap_dash.findings.words import compact

    errors = result.curves.errors.sort_values("accuracy_drop", ascending=False, kind="stable")
    return pd.DataFrame(
        {
            "Corruption" if result.kind == "image" else "Perturbation": [
                corruption_title(name) for name in errors["corruption"]
            ],
            "Mean accuracy (%)": [compact(v, unit="percent") for v in errors["mean_accuracy"]],
            "Accuracy drop (pts)": [
                compact(v, lo, hi, unit="points")
                for v, lo, hi in zip(
                    errors["accuracy_drop"], errors["drop_low"], errors["drop_high"], strict=True
                )
            ],
            "Corruption error (x clean)": [
                compact(v, lo, hi, unit="number")
                for v, lo, hi in zip(
                    errors["corruption_error"], errors["low"], errors["high"], strict=True
                )
            ],
        }
    )


def bridge_frame(result: RobustnessResult) -> pd.DataFrame:
    """One row per real split: the closest corruption, the runner-up, the clean distance."""
    from gengap_dash.findings.robustness import condition_name
    from gengap_dash.findings.words import significant

    bridge = result.bridge
    if bridge is None:
        return pd.DataFrame()
    what = "corruption" if result.kind == "image" else "perturbation"
    rows = []
    for match in bridge.matches:
        rows.append(
            {
                "Split": match.split,
                "Looks most like": condition_name(match.corruption, match.severity),
                "MMD²": significant(match.mmd2, digits=2),
                f"Next (another {what})": condition_name(match.runner_up, match.runner_up_severity)
                if match.runner_up
                else "",
                "Next MMD²": significant(match.runner_up_mmd2, digits=2),
                f"MMD² to clean {bridge.reference}": significant(match.clean_mmd2, digits=2),
            }
        )
    return pd.DataFrame(rows)


def sensitivity_frame(result: RobustnessResult) -> pd.DataFrame:
    """Per feature and perturbation: the accuracy drop at the fixed severity, largest first."""
    from gengap_dash.findings.robustness import corruption_title
    from gengap_dash.findings.words import compact

    if result.sensitivity is None:
        return pd.DataFrame()
    table = result.sensitivity.table
    return pd.DataFrame(
        {
            "Feature": table["feature"].astype(str),
            "Perturbation": [corruption_title(k) for k in table["perturbation"]],
            "Accuracy (%)": [compact(v, unit="percent") for v in table["accuracy"]],
            f"Drop at severity {result.sensitivity.severity} (pts)": [
                compact(v, lo, hi, unit="points")
                for v, lo, hi in zip(table["drop"], table["low"], table["high"], strict=True)
            ],
        }
    )


CURVES_SHOWS = (
    "Accuracy (solid) and ECE (dotted) of the swept split under each corruption at severities "
    "1 to 5 (0 = clean), with 95% bootstrap intervals (shaded); every severity is scored on the "
    "same samples."
)
ERRORS_SHOWS = (
    "Corruption error per corruption: the mean error over the 5 severities divided by the "
    "model's own clean error (1 = no cost; the dashed line), with 95% paired bootstrap "
    "intervals. ImageNet-C divides by AlexNet's errors; here the baseline is the model itself."
)
BRIDGE_SHOWS = (
    "For each real shifted or deployment split (rows) and each corruption (columns): the MMD² "
    "between its embeddings and those of the swept split under that corruption, at the "
    "severity that comes closest (the cell's label), divided by its MMD² to the clean swept "
    "split: 0 is a perfect resemblance, 1 no closer than clean data."
)
BRIDGE_TABLE_CAPTION = (
    "MMD² with an RBF kernel whose bandwidth is the median distance between clean embeddings of "
    "the swept split (the same for every candidate), on seeded subsamples; the next candidate "
    "is the closest of another corruption."
)
SENSITIVITY_SHOWS = (
    "The accuracy lost when one feature alone is perturbed at the chosen severity (each "
    "perturbation a colour), with 95% paired bootstrap intervals; the features that cost the "
    "most first."
)


# -- for the page ---------------------------------------------------------------------------------


def corruption_examples(workspace, split: str, *, row: int = 0, seed: int = DEFAULT_SEED):
    """One stored image of ``split`` (table position ``row``) under every corruption at
    severities 0..5: corruption -> list of six ``uint8`` images (image projects only)."""
    raw = _engine().read_raw_inputs(workspace.spec, split, rows=[row])
    if raw.kind != "image":
        return {}
    return {
        name: [
            np.asarray(corrupt_images(raw.values, name, severity, seed=seed))[0]
            for severity in (0, *SEVERITIES)
        ]
        for name in IMAGE_CORRUPTIONS
    }
