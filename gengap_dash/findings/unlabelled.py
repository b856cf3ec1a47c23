"""Unlabelled splits: the finding every label-needing view gives, in place of what it cannot
show, for a split of role ``shifted`` or ``deployment`` that has no labels (or labels on some
rows only; see ``docs/project-file.md``, "Unlabelled splits").

One kind, ``data.unlabelled``, one sentence: the same words on the page, in ``--json``, the
summary and the report.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gengap_dash.findings.model import Finding
from gengap_dash.findings.render import sentence
from gengap_dash.findings.words import join_names, plural

KIND = "data.unlabelled"


@dataclass(frozen=True)
class UnlabelledSplit:
    """A split that is not labelled on every row.

    Attributes:
        name, role: the split and its role (``shifted`` or ``deployment``).
        labelled: rows that carry a label (0 for an unlabelled split).
        rows: rows in the split.
    """

    name: str
    role: str
    labelled: int
    rows: int


def unlabelled_findings(
    splits: Iterable[UnlabelledSplit],
    *,
    view: str,
    needs: tuple[str, ...],
    shown: tuple[str, ...] = (),
) -> list[Finding]:
    """One ``info`` finding per split: what of ``view`` needs labels (``needs``) and what is
    shown all the same (``shown``; empty: pointing to the views that need none)."""
    return [
        Finding(
            kind=KIND,
            severity="info",
            split=split.name,
            value=split.labelled / split.rows if split.rows else 0.0,
            reason="partly_labelled" if split.labelled else "unlabelled",
            facts={
                "role": split.role,
                "labelled": split.labelled,
                "rows": split.rows,
                "needs": list(needs),
                "shown": list(shown),
            },
            view=view,
        )
        for split in splits
    ]


@sentence(KIND)
def _unlabelled(finding: Finding) -> str:
    facts = finding.facts
    needs = join_names(list(facts["needs"])) or "this view"
    verb = "needs" if len(facts["needs"]) <= 1 else "need"
    if facts["labelled"]:
        state = (
            f"Split {finding.split} has labels on {plural(facts['labelled'], 'row')} out of "
            f"{plural(facts['rows'], 'row')} only, so it counts as unlabelled"
        )
    else:
        state = f"Split {finding.split} has no labels yet"
    shown = list(facts["shown"])
    rest = (
        f"{join_names(shown)} {'is' if len(shown) == 1 else 'are'} shown"
        if shown
        else "confidence, shift and OOD scores need none (Feature space page)"
    )
    return f"{state}: {needs} {verb} them; {rest}."
