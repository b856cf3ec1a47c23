"""Shared page furniture: headers, explained charts, verdict call-outs."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

_SEVERITY_BOX = {"ok": st.success, "warning": st.warning, "critical": st.error}


def page_header(title: str, question: str) -> None:
    """The page title and the question the page answers, in plain words."""
    st.title(title)
    st.markdown(f"*{question}*")


def explained_chart(figure: go.Figure, *, shows: str, takeaway: str, key: str) -> None:
    """A chart with what it shows and what to take from it (computed from the data)."""
    st.plotly_chart(figure, width="stretch", key=key, config={"displaylogo": False})
    st.markdown(f"**What to take from it:** {_escape_markdown(takeaway)}")
    st.caption(shows)


def verdict_box(text: str, severity: str) -> None:
    """A coloured call-out for a verdict (``ok``, ``warning`` or ``critical``)."""
    _SEVERITY_BOX.get(severity, st.info)(_escape_markdown(text))


def _escape_markdown(text: str) -> str:
    """Keep user strings (split names, column values) from being read as Markdown or HTML."""
    for character in ("\\", "*", "_", "`", "#", "<", ">", "[", "]", "$", "|"):
        text = text.replace(character, "\\" + character)
    return text
