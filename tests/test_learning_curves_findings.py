"""The learning-curve findings as data (kind, severity, split, metric, value, reason, facts), the
words of each kind once, and the wording glitches of the first users (issue 8)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_learning_curves import EPOCHS, example_overfitting, make_run

from gengap_dash.analysis.learning_curves import (
    align_runs,
    curves_takeaway,
    diagnose_run,
    early_stopping_finding,
    gap_takeaway,
    overlay_takeaway,
    patience_sweep,
    patience_takeaway,
    run_findings,
)
from gengap_dash.findings import Finding, render, to_json
from gengap_dash.findings.learning_curves import runs_title, verdict_text
from gengap_dash.findings.render import registered_kinds


def overfitting_run(name: str = "run"):
    train, val = example_overfitting()
    return make_run({("train", "loss"): train, ("validation", "loss"): val}, name=name)


def test_overfitting_run_findings_are_data() -> None:
    diagnosis = diagnose_run(overfitting_run("r1"), patience=5)
    verdict, stopping = run_findings(diagnosis)
    assert verdict.kind == "learning_curves.overfitting_minimum"
    assert (verdict.severity, verdict.split, verdict.metric) == ("warning", "validation", "loss")
    assert verdict.reason == "validation_minimum"
    assert verdict.facts["run"] == "r1" and verdict.facts["unit"] == "epoch"
    assert verdict.facts["onset_x"] == 14.0 and verdict.facts["best_x"] == 14.0
    assert verdict.facts["train_after_onset"] == "improving"
    assert stopping.kind == "learning_curves.early_stopping"
    assert (stopping.reason, stopping.facts["stop_x"], stopping.facts["patience"]) == (
        "kept_better",
        19.0,
        5,
    )
    assert stopping.value == pytest.approx(0.231)
    payload = to_json(run_findings(diagnosis))
    assert json.loads(json.dumps(payload, allow_nan=False)) == payload
    assert payload[0]["text"].startswith("Validation loss bottomed at epoch 14")


def test_kinds_of_runs() -> None:
    def kinds(curves: dict) -> list[tuple[str, str]]:
        return [(f.kind, f.severity) for f in run_findings(diagnose_run(make_run(curves)))]

    still = 2 * np.exp(-EPOCHS / 30)
    assert kinds({("train", "loss"): still + 0.1, ("validation", "loss"): still + 0.2})[0] == (
        "learning_curves.still_improving",
        "warning",
    )
    flat = 2.3 - 0.01 * np.sqrt(EPOCHS)
    assert kinds({("train", "loss"): flat, ("validation", "loss"): flat + 0.01})[0] == (
        "learning_curves.both_high",
        "warning",
    )
    healthy = 0.2 + np.exp(-EPOCHS / 3)
    assert kinds({("train", "loss"): healthy, ("validation", "loss"): healthy + 0.05})[0] == (
        "learning_curves.healthy",
        "ok",
    )
    diverged = np.where(EPOCHS < 15, 1 - EPOCHS * 0.05, 0.3 + 0.05 * (EPOCHS - 15))
    assert kinds({("train", "loss"): diverged, ("validation", "loss"): diverged + 0.1})[0] == (
        "learning_curves.unstable",
        "warning",
    )


def test_early_stopping_says_when_it_keeps_a_worse_value() -> None:
    """First users read "keeps 0.195 instead of the final 0.179" as if worse were better."""
    val = np.concatenate(
        [np.linspace(1.0, 0.195, 11), np.full(8, 0.2), np.linspace(0.2, 0.179, 12)]
    )
    run = make_run({("train", "loss"): val - 0.1, ("validation", "loss"): val})
    diagnosis = diagnose_run(run, patience=3)
    finding = early_stopping_finding(diagnosis.analysis)
    assert finding.reason == "kept_worse"
    assert finding.value > finding.facts["final_value"]  # lower is better: kept is worse
    text = render(finding)
    assert "worse than the final 0.179" in text and "instead of" not in text


def test_healthy_run_that_ends_level_with_its_best_says_so() -> None:
    """ "ended within 0 of it" when the final value equals the best one."""
    val = np.concatenate([np.linspace(0.5, 0.9, 16), np.full(15, 0.9)])
    run = make_run({("train", "accuracy"): val + 0.01, ("validation", "accuracy"): val})
    diagnosis = diagnose_run(run)
    (verdict, *_) = run_findings(diagnosis)
    if (
        verdict.kind == "learning_curves.healthy"
        and verdict.facts["best_x"] != verdict.facts["final_x"]
    ):
        assert "ended level with it" in render(verdict)
    assert "within 0 of it" not in verdict_text(run_findings(diagnosis))


def test_plurals_are_right_by_construction() -> None:
    assert runs_title("loss", 1) == "Loss of 1 run"
    assert runs_title("loss", 3) == "Loss across 3 runs"
    one = overlay_takeaway(align_runs([overfitting_run("a")], "loss"))
    assert one.reason == "one" and render(one).endswith("Select more runs to compare them.")


def test_every_learning_curves_kind_has_a_sentence() -> None:
    diagnosis = diagnose_run(overfitting_run(), patience=5, checkpoint_epoch=14)
    noisy_rng = np.random.default_rng(7)
    noisy_val = 0.45 + 0.1 * np.exp(-EPOCHS / 3) + noisy_rng.normal(0, 0.04, EPOCHS.size)
    noisy = diagnose_run(
        make_run({("train", "loss"): 0.3 + 0.2 * np.exp(-EPOCHS / 3), ("validation", "loss"):
                  noisy_val})
    )  # fmt: skip
    plateau = np.minimum(0.7 + 0.02 * EPOCHS, 1.0)
    gap = diagnose_run(
        make_run({("train", "accuracy"): plateau,
                  ("validation", "accuracy"): np.minimum(0.7 + 0.02 * EPOCHS, 0.85)})
    )  # fmt: skip
    examples = [*run_findings(diagnosis), *run_findings(noisy), *run_findings(gap)]
    for curves in (
        {("train", "loss"): 2 * np.exp(-EPOCHS / 30) + 0.1,
         ("validation", "loss"): 2 * np.exp(-EPOCHS / 30) + 0.2},
        {("train", "loss"): 2.3 - 0.01 * np.sqrt(EPOCHS),
         ("validation", "loss"): 2.31 - 0.01 * np.sqrt(EPOCHS)},
        {("train", "loss"): 0.2 + np.exp(-EPOCHS / 3),
         ("validation", "loss"): 0.25 + np.exp(-EPOCHS / 3)},
        {("train", "loss"): np.where(EPOCHS < 15, 1 - EPOCHS * 0.05, 0.3 + 0.05 * (EPOCHS - 15)),
         ("validation", "loss"): np.where(EPOCHS < 15, 1.1 - EPOCHS * 0.05,
                                          0.4 + 0.05 * (EPOCHS - 15))},
    ):  # fmt: skip
        examples += run_findings(diagnose_run(make_run(curves)))
    sweep = patience_sweep(diagnosis.analysis.curves)
    examples += [
        curves_takeaway(diagnosis),
        gap_takeaway(diagnosis.analysis),
        patience_takeaway(sweep, diagnosis.analysis.curves),
        overlay_takeaway(align_runs([overfitting_run("a"), overfitting_run("b")], "loss")),
    ]
    examples.append(  # a noisy held-out curve on a run of another kind (the trailing caveat)
        Finding(
            kind="learning_curves.noise", severity="info", split="validation", metric="loss",
            value=0.02, facts={"run": "r", "unit": "epoch", "mode": "min", "share": 0.3},
        )
    )  # fmt: skip
    covered = {f.kind for f in examples}
    data_size_kinds = {
        "learning_curves.data_size",
        "learning_curves.loose_fit",
        "learning_curves.data_size_takeaway",
    }  # covered by test_learning_curves' data-size tests
    expected = {k for k in registered_kinds() if k.startswith("learning_curves.")}
    assert expected - data_size_kinds <= covered, expected - covered
    for finding in examples:
        text = render(finding)
        assert text.endswith(".") and "None" not in text and "nan" not in text, text
