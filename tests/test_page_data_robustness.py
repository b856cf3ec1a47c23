"""The "Data and robustness" page in AppTest: on the sample it shows the planted label errors
and twins (sample_data/digits/README.md); on the tabular project every section runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "digits" / "project.yaml"
PAGE = "pages/data_robustness.py"


def open_page(project: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("GENGAP_PROJECT", str(project))
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    return app.switch_page(PAGE).run()


def text_of(app: AppTest) -> str:
    return "\n".join(block.value for block in app.markdown).replace("\\", "")


def frame_with(app: AppTest, column: str) -> pd.DataFrame:
    return next(frame.value for frame in app.dataframe if column in frame.value.columns)


def test_the_page_shows_the_planted_flips_and_twins(monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_page(SAMPLE, monkeypatch)
    assert not app.exception and not app.error
    assert len(app.get("plotly_chart")) >= 6  # label share, cohorts, accuracy; twins x3
    text = text_of(app)
    assert "What to take from it" in text
    assert "of test has a near-twin in train" in text
    assert "the test set overstates generalization" in text
    audit = frame_with(app, "Look wrong, % (95% CI)")
    assert list(audit["Split"])[:3] == ["train", "val", "test"]
    leakage = frame_with(app, "Share with a twin, % (95% CI)")
    test_row = leakage[leakage["Split"] == "test"].iloc[0]
    assert test_row["Exact copies"] == 6 and test_row["With a twin"] >= 36
    assert len(app.get("image")) >= 24  # suspects gallery and pairs side by side
    # a stricter threshold keeps the planted twins (they are the most similar pairs)
    app.slider(key="leakage_threshold").set_value(0.998).run()
    assert not app.exception
    leakage = frame_with(app, "Share with a twin, % (95% CI)")
    assert 30 <= leakage.set_index("Split").loc["test", "With a twin"] <= 36
    app.selectbox(key="labels_gallery_split").select("test").run()
    app.selectbox(key="labels_cohort_column").select("ink").run()
    assert not app.exception


def test_the_page_runs_on_a_tabular_project(
    tabular_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = open_page(tabular_project, monkeypatch)
    assert not app.exception and not app.error
    assert len(app.get("plotly_chart")) >= 4
    assert "Look wrong, % (95% CI)" in [c for f in app.dataframe for c in f.value.columns]


def test_the_corruption_tab_falls_back_while_it_is_being_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import builtins

    real_import = builtins.__import__

    def refuse(name, *args, **kwargs):
        if name == "gengap_dash.ui.robustness":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)
    app = open_page(SAMPLE, monkeypatch)
    assert not app.exception
    assert any("Corruption sweeps: being built" in block.value for block in app.info)
