"""Shared page furniture: headers, explained charts, verdict call-outs."""

from __future__ import annotations

from collections.abc import Sequence

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
    st.markdown(f"**What to take from it:** {escape_markdown(takeaway)}")
    st.caption(shows)


_SEVERITY_ICON = {
    "ok": ":material/check_circle:",
    "warning": ":material/warning:",
    "critical": ":material/error:",
}
_SEVERITY_COLOR = {"ok": "green", "warning": "orange", "critical": "red"}


def verdict_box(text: str, severity: str, *, kind: str = "") -> None:
    """A coloured call-out for the headline (``ok``, ``warning`` or ``critical``; an
    ``uncertain`` finding is shown as information, not as good news)."""
    box = (
        st.info
        if kind == "uncertain" and severity == "ok"
        else _SEVERITY_BOX.get(severity, st.info)
    )
    box(escape_markdown(text), icon=_SEVERITY_ICON.get(severity))


def verdict_list(verdicts: Sequence) -> None:
    """Every finding, one line each, with a coloured icon for its severity."""
    lines = []
    for verdict in verdicts:
        icon = _SEVERITY_ICON.get(verdict.severity, ":material/info:")
        color = _SEVERITY_COLOR.get(verdict.severity, "blue")
        lines.append(f"- :{color}[{icon}] {escape_markdown(verdict.text)}")
    st.markdown("\n".join(lines))


def escape_markdown(text: str) -> str:
    """Keep user strings (split names, column values) from being read as Markdown or HTML."""
    for character in ("\\", "*", "_", "`", "#", "<", ">", "[", "]", "$", "|"):
        text = text.replace(character, "\\" + character)
    return text
