"""Every page on a project with an unlabelled deployment split (AppTest): no exception, what
needs no labels is shown, and the page says in place of the rest that the split has no labels."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_unlabelled import add_field_split

ROOT = Path(__file__).resolve().parents[1]
SAID = "Split field has no labels yet"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, _tabular_template: Path) -> Path:
    root = tmp_path_factory.mktemp("pages") / "wine"
    shutil.copytree(_tabular_template, root)
    return add_field_split(root / "project.yaml")


def open_page(project: Path, page: str | None, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("GENGAP_PROJECT", str(project))
    monkeypatch.setenv("GENGAP_PROJECTS_DIR", str(project.parent.parent))
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600).run()
    return app.switch_page(page).run() if page else app


def text(app: AppTest) -> str:
    blocks = [*app.markdown, *app.caption, *app.info, *app.warning, *app.error, *app.success]
    return "\n".join(block.value for block in blocks).replace("\\", "")


def charts(app: AppTest) -> dict[str, dict]:
    return {
        chart.proto.id.split("-", 2)[-1]: json.loads(chart.proto.spec)
        for chart in app.get("plotly_chart")
    }


@pytest.mark.parametrize(
    "page", [None, "pages/calibration.py", "pages/cohorts.py", "pages/feature_space.py"]
)
def test_each_page_runs_and_says_the_split_is_unlabelled(
    page: str | None, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = open_page(project, page, monkeypatch)
    assert not app.exception, app.exception
    problems = [e.value for e in app.error if "Internal error" in e.value or "label" in e.value]
    assert not problems, problems  # (critical findings are shown with st.error too)
    assert app.get("plotly_chart")
    assert SAID in text(app), text(app)[:2000]


def test_the_feature_space_page_shows_the_unlabelled_split(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = open_page(project, "pages/feature_space.py", monkeypatch)
    assert "field" in json.dumps(charts(app)["feature_map"])
    app.selectbox(key="feature_color").select("correct").run()
    assert not app.exception
    names = {trace.get("name") for trace in charts(app)["feature_map"]["data"]}
    assert "no label" in names
