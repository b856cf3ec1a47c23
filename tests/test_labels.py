"""The label audit: cleanlab's own answers on the same probabilities, Wilson intervals, cohort
shares against pandas, the findings, ``gengap labels`` and the sample's planted flips."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cleanlab.filter import find_label_issues
from cleanlab.rank import get_label_quality_scores
from scipy.stats import binomtest

from gengap_dash.analysis.labels import SplitLabels, audit_labels, find_suspects
from gengap_dash.analysis.labels.findings import (
    accuracy_takeaway,
    cohort_takeaway,
    headline_finding,
    label_findings,
)
from gengap_dash.cli.main import main
from gengap_dash.findings.render import render
from gengap_dash.views import registry

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "digits"


def noisy_split(n: int = 600, k: int = 4, flip: float = 0.05, seed: int = 0):
    """Confident, mostly right probabilities; ``flip`` of the given labels replaced."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), truth] += 4.0
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = truth.copy()
    flipped = rng.random(n) < flip
    labels[flipped] = (truth[flipped] + rng.integers(1, k, flipped.sum())) % k
    return labels, probs, flipped


def split_of(name, role, labels, probs, **kwargs) -> SplitLabels:
    ids = np.array([f"{name}-{i}" for i in range(len(labels))])
    return SplitLabels(name, role, labels, probs, ids, in_sample=role == "train", **kwargs)


def test_suspects_equal_cleanlab_called_directly() -> None:
    labels, probs, _ = noisy_split()
    mask, quality = find_suspects(labels, probs)
    assert np.array_equal(mask, find_label_issues(labels, probs))
    assert np.allclose(quality, get_label_quality_scores(labels, probs))
    assert mask.sum() > 10


def test_audit_counts_intervals_and_accuracy_without_suspects() -> None:
    labels, probs, flipped = noisy_split()
    audit = audit_labels([split_of("test", "test", labels, probs)], class_names=list("abcd"))
    split = audit.split("test")
    mask = find_label_issues(labels, probs)
    assert split.n_suspects == mask.sum() and split.share == pytest.approx(mask.mean())
    wilson = binomtest(int(mask.sum()), len(mask)).proportion_ci(method="wilson")
    assert (split.share_low, split.share_high) == pytest.approx((wilson.low, wilson.high))
    correct = probs.argmax(1) == labels
    assert split.accuracy == pytest.approx(correct.mean())
    assert split.accuracy_without == pytest.approx(correct[~mask].mean())
    kept = binomtest(int(correct[~mask].sum()), int((~mask).sum())).proportion_ci(method="wilson")
    assert split.accuracy_without_low == pytest.approx(kept.low)
    # the planted flips are found: most of them, and few others
    recall = (mask & flipped).sum() / flipped.sum()
    precision = (mask & flipped).sum() / mask.sum()
    assert recall > 0.7 and precision > 0.7
    # suspects: one row each, lowest quality first, the right ids
    suspects = audit.suspects
    assert set(suspects["sample_id"]) == {f"test-{i}" for i in np.flatnonzero(mask)}
    assert suspects["label_quality"].is_monotonic_increasing
    assert (suspects["pred"] == probs[suspects["row"]].argmax(1)).all()


def test_cohort_shares_equal_a_pandas_groupby() -> None:
    labels, probs, _ = noisy_split(seed=1)
    site = np.where(np.arange(len(labels)) % 3 == 0, "north", "south")
    audit = audit_labels(
        [split_of("val", "validation", labels, probs, cohorts={"site": site})],
        class_names=list("abcd"),
    )
    mask = find_label_issues(labels, probs)
    expected = pd.Series(mask).groupby(site).agg(["mean", "sum", "size"])
    rows = audit.cohorts.set_index("cohort")
    for cohort, row in expected.iterrows():
        assert rows.loc[cohort, "share"] == pytest.approx(row["mean"])
        assert rows.loc[cohort, "n_suspects"] == row["sum"] and rows.loc[cohort, "n"] == row["size"]


def test_the_audit_is_invariant_to_the_order_of_samples() -> None:
    labels, probs, _ = noisy_split(seed=2)
    order = np.random.default_rng(0).permutation(len(labels))
    first = audit_labels([split_of("t", "test", labels, probs)], class_names=list("abcd"))
    second = audit_labels(
        [split_of("t", "test", labels[order], probs[order])], class_names=list("abcd")
    )
    assert first.split("t").n_suspects == second.split("t").n_suspects


def test_small_splits_are_not_audited_and_say_why() -> None:
    labels, probs, _ = noisy_split(n=10)
    audit = audit_labels([split_of("tiny", "test", labels, probs)], class_names=list("abcd"))
    assert not audit.split("tiny").audited and "at least 20" in audit.split("tiny").note
    (finding,) = label_findings(audit)
    assert finding.kind == "labels.not_audited" and "tiny was not audited" in render(finding)


@pytest.mark.parametrize(
    ("labels", "probs", "message"),
    [
        (np.zeros(3, int), np.full((4, 2), 0.5), r"Expected `labels` \(n,\) and `probs` \(n, C\)"),
        (np.array([0, 5]), np.full((2, 2), 0.5), r"Expected labels of the split in \[0, 2\)"),
    ],
)
def test_bad_inputs_are_refused(labels, probs, message) -> None:
    with pytest.raises(ValueError, match=message):
        find_suspects(labels, probs)


def test_findings_by_role_and_threshold() -> None:
    labels, probs, _ = noisy_split(flip=0.06)
    clean_labels, clean_probs, _ = noisy_split(flip=0.0, seed=3)
    audit = audit_labels(
        [
            split_of("train", "train", labels, probs),
            split_of("val", "validation", clean_labels, clean_probs),
            split_of("test", "test", labels, probs),
            split_of("field", "deployment", labels, probs),
        ],
        class_names=list("abcd"),
    )
    findings = {f.split: f for f in label_findings(audit) if f.kind == "labels.split"}
    assert (findings["train"].severity, findings["train"].reason) == ("info", "in_sample")
    assert findings["val"].severity == "ok" and findings["val"].value < 0.02
    assert (findings["test"].severity, findings["test"].reason) == ("warning", "many_suspects")
    assert (findings["field"].severity, findings["field"].reason) == ("info", "under_shift")
    assert "lower bound" in render(findings["train"])
    assert "errors under shift" in render(findings["field"])
    assert "Relabel the suspects" in render(findings["test"])
    assert headline_finding(audit).split == "test"
    change = accuracy_takeaway(audit)
    assert change.split == "test" and change.value > 0 and "understates" in render(change)


def test_a_cohort_with_many_suspects_is_flagged() -> None:
    labels, probs, _ = noisy_split(n=800, flip=0.0, seed=4)
    site = np.where(np.arange(800) < 100, "night shift", "day shift")
    labels = labels.copy()
    labels[:20] = (labels[:20] + 1) % 4  # a fifth of the night shift's labels are wrong
    audit = audit_labels(
        [split_of("test", "test", labels, probs, cohorts={"site": site})], class_names=list("abcd")
    )
    flagged = [f for f in label_findings(audit) if f.kind == "labels.cohort"]
    assert flagged and flagged[0].facts["cohort"] == "night shift"
    assert "audit that cohort first" in render(flagged[0])
    assert cohort_takeaway(audit, "site").facts["cohort"] == "night shift"


# -- the sample's planted flips and the command line -------------------------------------------


def planted(split: str) -> set[str]:
    table = pd.read_parquet(SAMPLE / "data" / f"{split}.parquet")
    return set(table.loc[table["planted_flip"], "sample_id"])


def test_the_audit_finds_the_planted_flips_of_the_sample(sample) -> None:
    """Recorded in sample_data/digits/README.md: precision and recall per split."""
    audit = registry.compute(registry.get_view("labels"), sample, use_cache=False)
    scores = {}
    for split in ("train", "test"):
        found = set(audit.suspects.loc[audit.suspects["split"] == split, "sample_id"])
        truth = planted(split)
        hits = len(found & truth)
        scores[split] = (hits / len(found), hits / len(truth))
    assert scores["train"] == (1.0, 1.0)  # 24 of 24: the model was trained on the clean labels
    precision, recall = scores["test"]
    assert recall >= 0.85 and precision >= 0.7  # 16 of 18 planted, 16 of 22 suspects
    # equal to cleanlab on the same cached probabilities
    mask = find_label_issues(sample.labels("test"), sample.probs("test"))
    assert audit.split("test").n_suspects == mask.sum()


def test_gengap_labels_json_and_csv(tmp_path: Path, capsys) -> None:
    out = tmp_path / "suspects.csv"
    assert main(["labels", str(SAMPLE), "--json", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["view"] == "labels" and document["findings"]
    splits = {s["split"]: s for s in document["splits"]}
    assert splits["train"]["in_sample"] and not splits["test"]["in_sample"]
    assert "wrote" in captured.err and str(out) in captured.err
    with out.open() as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == [
        "split",
        "sample_id",
        "given_label",
        "predicted_label",
        "confidence",
        "label_quality",
    ]
    assert len(rows) == document["n_suspects"]
    qualities = [float(r["label_quality"]) for r in rows]
    assert qualities == sorted(qualities)
    assert planted("test") & {r["sample_id"] for r in rows}
    assert not list(tmp_path.glob(".suspects.csv.*"))  # the temporary file is gone


def test_gengap_labels_text_and_bad_out(tmp_path: Path, capsys) -> None:
    assert main(["labels", str(SAMPLE), "--no-train"]) == 0
    text = capsys.readouterr().out
    assert "Lowest label quality first" in text and "train accuracy" not in text
    assert main(["labels", str(SAMPLE), "--out", str(tmp_path / "no" / "x.csv")]) == 2
    assert "--out is" in capsys.readouterr().err


def test_report_section_and_every_kind_renders(sample) -> None:
    view = registry.get_view("labels")
    audit = registry.compute(view, sample, use_cache=False)
    html = view.report_section(audit)
    assert "look wrong" in html and "<table" in html
    assert view.headline(audit)[0].split == "test"
