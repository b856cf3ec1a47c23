"""Words and tables of the slices view (findings of ``gengap_dash.analysis.cohorts.findings``).

One template per finding kind; numbers go through ``gengap_dash.findings.words``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from gengap_dash.findings.model import Finding
from gengap_dash.findings.render import sentence
from gengap_dash.findings.words import interval, join_names, percent, plural, ratio
from gengap_dash.store.json_values import json_safe


def p_text(p: float) -> str:
    """An adjusted p-value as people read it (``"p < 0.001"``, ``"p = 0.012"``)."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


@sentence("slices.weak_slice")
def _weak_slice(finding: Finding) -> str:
    facts = finding.facts
    text = (
        f"The weakest slice of {finding.split} is {facts['slice']}: "
        f"{plural(int(facts['n']), 'sample')}, error {percent(finding.value)} "
        f"{interval(finding.low, finding.high, unit='percent')}, {ratio(facts['lift'])} the "
        f"split's {percent(facts['split_error'])} (adjusted {p_text(facts['p_adjusted'])}, "
        f"{plural(int(facts['n_tested']), 'slice')} tested)."
    )
    clean = facts.get("clean") or {}
    if clean:
        names = join_names([f"{split} {percent(error)}" for split, error in clean.items()])
        if facts.get("new_under_shift"):
            text += f" It is new under shift: the same slice errs far less on {names}."
        else:
            text += f" It was weak before the shift too: {names}."
    return text


@sentence("slices.none_found")
def _none_found(finding: Finding) -> str:
    facts = finding.facts
    return (
        f"No slice of {finding.split} errs significantly more than the split's "
        f"{percent(finding.value)} ({plural(int(facts['n_tested']), 'slice')} of at least "
        f"{facts['min_support']} samples tested, Benjamini-Hochberg at 5%)."
    )


@sentence("slices.weak_cluster")
def _weak_cluster(finding: Finding) -> str:
    facts = finding.facts
    described = join_names(
        [
            f"{column} = {value} ({percent(share, digits=0)})"
            for column, value, share in facts["metadata"]
        ][:3]
    )
    classes = join_names(
        [f"{name} ({percent(share, digits=0)})" for name, share in facts["classes"]]
    )
    text = (
        f"Embedding cluster {facts['cluster']} of {finding.split} errs {percent(finding.value)}, "
        f"{ratio(facts['lift'])} the split's rate (adjusted {p_text(facts['p_adjusted'])}); "
        f"it holds mostly classes {classes}"
    )
    return text + (f"; {described}." if described else ".")


def slices_frame(search, *, splits: list[str] | None = None) -> pd.DataFrame:
    """The slices for people, with the same slice's error on other splits."""
    rows = []
    for rank, s in enumerate(search.slices, start=1):
        row = {
            "Rank": rank,
            "Slice": s.name,
            "n": s.n,
            "Error": percent(s.error),
            "95% interval": interval(s.low, s.high, unit="percent"),
            "Lift": ratio(s.lift),
            "Score": round(s.score, 3),
            "Adjusted p": p_text(s.p_adjusted),
        }
        for split in splits or []:
            if split == search.split:
                continue
            on = s.by_split.get(split)
            row[f"Error on {split}"] = (
                f"{percent(on.error)} (n={on.n})" if on is not None and on.n else "—"
            )
        rows.append(row)
    return pd.DataFrame(rows)


def clusters_frame(clusters) -> pd.DataFrame:
    """Embedding clusters for people."""
    rows = []
    for c in clusters.clusters:
        rows.append(
            {
                "Cluster": c.index,
                f"n on {clusters.split}": c.n.get(clusters.split, 0),
                f"Error on {clusters.split}": percent(c.error.get(clusters.split)),
                "Lift": ratio(c.lift),
                "Adjusted p": p_text(c.p_adjusted),
                "Classes": ", ".join(f"{n} {percent(s, digits=0)}" for n, s in c.classes),
                "Dominant metadata": "; ".join(
                    f"{col} = {val} {percent(sh, digits=0)}" for col, val, sh in c.metadata
                ),
                "Splits": ", ".join(f"{s} {n}" for s, n in c.n.items() if n),
            }
        )
    return pd.DataFrame(rows)


def slices_json(result) -> dict[str, Any]:
    """The slices view's ``--json`` data: one object per slice."""
    search = result.search
    payload = {
        "split": search.split,
        "n": search.n,
        "error": search.error,
        "alpha": search.alpha,
        "min_support": search.min_support,
        "max_predicates": search.max_predicates,
        "n_tested": search.n_tested,
        "columns": list(search.columns),
        "skipped": list(search.skipped),
        "slices": [
            {
                "predicates": [{"column": c, "value": v} for c, v in s.predicates],
                "split": search.split,
                "n": s.n,
                "error": s.error,
                "low": s.low,
                "high": s.high,
                "lift": s.lift,
                "score": s.score,
                "p_value": s.p_value,
                "p_adjusted": s.p_adjusted,
                "by_split": {
                    split: {"n": on.n, "error": on.error, "low": on.low, "high": on.high}
                    for split, on in s.by_split.items()
                },
            }
            for s in search.slices
        ],
        "clusters": None
        if result.clusters is None
        else [
            {
                "cluster": c.index,
                "n": c.n,
                "error": c.error,
                "lift": c.lift,
                "p_adjusted": c.p_adjusted,
                "classes": [list(k) for k in c.classes],
                "metadata": [list(m) for m in c.metadata],
            }
            for c in result.clusters.clusters
        ],
        "clusters_note": result.clusters_note,
    }
    return json_safe(payload)
