"""Which samples to explain: the worst errors, the most confident mistakes, a class, a cohort or
chosen ids, from a split's hub rows (``sample_id``, ``label``, ``pred``, ``confidence``,
``loss``, metadata)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import pandas as pd

Choice = Literal["worst_errors", "confident_mistakes", "class", "cohort", "ids"]
CHOICES: tuple[str, ...] = ("worst_errors", "confident_mistakes", "class", "cohort", "ids")


def choose_samples(
    rows: pd.DataFrame,
    how: Choice,
    *,
    n: int = 16,
    label: int | None = None,
    column: str | None = None,
    value: object = None,
    ids: Sequence[str] = (),
) -> list[str]:
    """Sample ids of ``rows`` chosen by ``how`` (at most ``n``, most telling first).

    - ``worst_errors``: the highest loss; ``confident_mistakes``: wrong predictions by
      decreasing confidence; ``class``: samples of class ``label`` (most confident first);
      ``cohort``: rows whose ``column`` equals ``value`` (highest loss first); ``ids``: ``ids``
      as given.

    Raises:
        ValueError: an unknown choice, a missing column or an id that is not in ``rows``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"Expected `n` to be a positive integer, but got {n!r}.")
    if how == "worst_errors":
        chosen = rows.sort_values("loss", ascending=False, kind="stable")
    elif how == "confident_mistakes":
        wrong = rows[rows["pred"] != rows["label"]]
        chosen = wrong.sort_values("confidence", ascending=False, kind="stable")
    elif how == "class":
        if label is None:
            raise ValueError("Expected a class `label` to choose samples of, but got none.")
        chosen = rows[rows["label"] == label].sort_values(
            "confidence", ascending=False, kind="stable"
        )
    elif how == "cohort":
        if column is None or column not in rows.columns:
            raise ValueError(
                f"Expected `column` to be a metadata column of the split, but got {column!r}."
            )
        chosen = rows[rows[column].astype(str) == str(value)].sort_values(
            "loss", ascending=False, kind="stable"
        )
    elif how == "ids":
        known = set(rows["sample_id"].astype(str))
        missing = [str(i) for i in ids if str(i) not in known]
        if missing:
            raise ValueError(
                f"Sample id {missing[0]!r} is not in this split ({len(missing)} of "
                f"{len(ids)} ids not found)."
            )
        return [str(i) for i in ids][:n]
    else:
        raise ValueError(f"Expected `how` to be one of {', '.join(CHOICES)}, but got {how!r}.")
    return chosen["sample_id"].astype(str).head(n).tolist()
