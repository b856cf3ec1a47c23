"""Streamlit pieces of the scorecard page: the accuracy cards and the reading guide."""

from __future__ import annotations

import streamlit as st

from gengap_dash.analysis.scorecard import SHIFT_ROLES, Scorecard
from gengap_dash.findings.words import join_names
from gengap_dash.metrics.classification import SCORECARD_METRICS
from gengap_dash.plots.scorecard import accuracy_delta_color, accuracy_delta_text


def accuracy_cards(scorecard: Scorecard) -> None:
    """One card per split: its accuracy and how much worse it is than its verdict's reference,
    in the verdict's colour; four to a row."""
    cards_per_row = 4
    for start in range(0, len(scorecard.splits), cards_per_row):
        row = st.columns(cards_per_row)
        for column, split in zip(
            row, scorecard.splits[start : start + cards_per_row], strict=False
        ):
            column.metric(
                split.name,
                f"{100 * split.metrics['accuracy'].value:.1f}%",
                accuracy_delta_text(scorecard, split.name),
                delta_color=accuracy_delta_color(scorecard, split.name),
                delta_arrow="off",
                help=f"Accuracy on {split.name} (role: {split.role}, n = {split.n:,}), and how "
                "much worse it is than the split its verdict compares it with; the colour is the "
                "verdict's (red critical, orange warning, gray too noisy to call, green fine).",
                border=True,
            )


def how_to_read(scorecard: Scorecard) -> None:
    """The metrics' definitions and what overfitting and shift mean, naming this project's
    shifted splits."""
    shifted = [split.name for split in scorecard.splits if split.role in SHIFT_ROLES]
    with st.expander("How to read this page"):
        for item in SCORECARD_METRICS:
            st.markdown(f"- **{item.label}**: {item.description}")
        examples = f" (here: {join_names(shifted)})" if shifted else ""
        st.markdown(
            "- **Overfitting** means the model does much better on its training data than on "
            "held-out validation data. **Shift** means held-out data that differs from the "
            f"training distribution{examples} scores lower than "
            f"{scorecard.shift_reference or 'the test set'}, which comes from the training "
            "distribution."
        )
