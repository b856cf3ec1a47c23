"""What every view asks about labels: which splits are not labelled on every row (a helper,
not a view: modules starting with ``_`` are not discovered as views)."""

from __future__ import annotations

from gengap_dash.findings.unlabelled import UnlabelledSplit


def unlabelled_of(workspace) -> tuple[UnlabelledSplit, ...]:
    """The workspace's splits that are not labelled on every row, in project order."""
    return tuple(
        UnlabelledSplit(
            name=name,
            role=workspace.split_roles[name],
            labelled=workspace.labelled_count(name),
            rows=len(workspace.split_predictions(name)),
        )
        for name in workspace.unlabelled_splits
    )
