"""The learning-curves page in AppTest: the sample project, a Lightning log, no logs, bad logs, and
the widgets (run, metric, smoothing, patience, log scale) changing what is shown."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import pytest
from conftest import edit_yaml
from streamlit.testing.v1 import AppTest

from gengap_dash.analysis.learning_curves import (
    data_size_analysis,
    data_size_findings,
    diagnose_run,
    patience_sweep,
    patience_takeaway,
    run_findings,
)
from gengap_dash.data.training_logs import load_training_runs
from gengap_dash.findings import render
from gengap_dash.findings.learning_curves import verdict_text
from gengap_dash.project.spec import load_project

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "digits" / "project.yaml"
PAGE = "pages/learning_curves.py"


def run_verdict(diagnosis) -> str:
    """The run's verdict as the page, the CLI and the report say it."""
    return verdict_text(run_findings(diagnosis))


def data_size_verdict(analysis) -> str:
    return verdict_text(data_size_findings(analysis))


@pytest.fixture(autouse=True)
def _served_project_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """``open_page`` makes the server serve the project it opens; restored after each test."""
    monkeypatch.delenv("GENGAP_PROJECT", raising=False)


def open_page(project: Path) -> AppTest:
    """The app on the learning-curves page for ``project``, which the server is started with
    (it serves only its operator's projects); no inference: the page reads the project file and
    the logs only."""
    os.environ["GENGAP_PROJECT"] = str(project)
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.session_state["gengap_project_path"] = str(project)
    return app.switch_page(PAGE).run()


def library_runs(project: Path):
    logs = load_project(project).training_logs
    assert logs is not None
    return load_training_runs(
        logs.runs, metric_names=logs.metric_names, train_sizes=logs.train_sizes
    ), logs


def callouts(app: AppTest) -> list[str]:
    """The coloured call-outs (success, info, warning, error) in page order, unescaped."""

    def walk(node):
        children = getattr(node, "children", None)
        for child in children.values() if isinstance(children, dict) else []:
            yield child
            yield from walk(child)

    kinds = ("success", "info", "warning", "error")
    return [n.value.replace("\\", "") for n in walk(app.main) if n.type in kinds]


def verdict_shown(app: AppTest) -> str:
    """The run's verdict: the first call-out on the page (the data-size verdict comes later)."""
    return callouts(app)[0]


def charts(app: AppTest) -> dict[str, dict]:
    """The page's plotly figures by widget key."""
    return {
        chart.proto.id.rsplit("-", 1)[-1]: json.loads(chart.proto.spec)
        for chart in app.get("plotly_chart")
    }


def takeaways(app: AppTest) -> list[str]:
    prefix = "**What to take from it:** "
    return [
        block.value.removeprefix(prefix).replace("\\", "")
        for block in app.markdown
        if block.value.startswith(prefix)
    ]


def write_lightning_log(path: Path, *, epochs: int = 30, steps_per_epoch: int = 10) -> Path:
    """A PyTorch Lightning CSVLogger ``metrics.csv``: sparse rows, train logged per step and per
    epoch, validation once per epoch (from epoch 0); validation loss bottoms near epoch 13."""
    columns = ["epoch", "step", "train_loss_step", "train_loss_epoch", "train_acc_epoch",
               "val_loss", "val_acc"]  # fmt: skip
    rows = []
    for epoch in range(epochs):
        train = 0.05 + 1.2 * math.exp(-epoch / 5)
        val = 0.35 + 0.9 * math.exp(-epoch / 4) + 0.0008 * max(0, epoch - 12) ** 2
        last = (epoch + 1) * steps_per_epoch - 1
        for step in range(epoch * steps_per_epoch + 4, last + 1, 5):
            noisy = train * (1.05 if step % 2 else 0.95)
            rows.append({"epoch": epoch, "step": step, "train_loss_step": round(noisy, 5)})
        rows.append({"epoch": epoch, "step": last, "val_loss": round(val, 5),
                     "val_acc": round(1 - val / 2, 5)})  # fmt: skip
        rows.append({"epoch": epoch, "step": last, "train_loss_epoch": round(train, 5),
                     "train_acc_epoch": round(1 - train / 2, 5)})  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def with_logs(project: Path, training_logs: object) -> Path:
    def change(data: dict) -> None:
        data["training_logs"] = training_logs

    return edit_yaml(project, change)


# --------------------------------------------------------------------------- the sample project


def test_sample_project_shows_the_library_diagnosis() -> None:
    app = open_page(SAMPLE)
    assert not app.exception
    assert not app.error
    runs, logs = library_runs(SAMPLE)
    expected = diagnose_run(runs["main_run"], checkpoint_epoch=logs.checkpoint_epoch)
    verdict = verdict_shown(app)
    assert verdict == run_verdict(expected)
    for epoch in (expected.best_epoch, expected.onset_epoch, expected.stop_epoch, 60):
        assert f"epoch {int(epoch)}" in verdict
    cards = {metric.label: metric.value for metric in app.metric}
    assert cards["Best epoch"] == str(int(expected.best_epoch))
    assert cards["Overfitting began"] == f"epoch {int(expected.onset_epoch)}"
    assert cards["Early stop (patience 5)"] == f"epoch {int(expected.stop_epoch)}"
    assert cards["Loaded checkpoint"] == "epoch 60"

    figures = charts(app)
    assert {"lc_curves_chart", "lc_gap_chart", "lc_patience_chart", "lc_overlay_chart",
            "lc_data_size_chart"} <= set(figures)  # fmt: skip
    assert len(figures) >= 3
    curve_names = [trace["name"] for trace in figures["lc_curves_chart"]["data"]]
    assert {"train", "validation", "train (raw)", "validation (raw)"} <= set(curve_names)
    marker_texts = [a["text"] for a in figures["lc_curves_chart"]["layout"]["annotations"]]
    assert "checkpoint (epoch 60)" in marker_texts
    assert f"early stop (patience 5) (epoch {int(expected.stop_epoch)})" in marker_texts
    legend = [t["name"] for t in figures["lc_overlay_chart"]["data"] if t.get("showlegend", True)]
    assert legend == list(runs.names)

    data_size = data_size_analysis(runs)
    assert data_size is not None
    assert data_size_verdict(data_size) in callouts(app)[1:]
    fit = [t for t in figures["lc_data_size_chart"]["data"] if "power-law" in t["name"]]
    assert len(fit) == 1
    assert any(text.startswith(f"Best validation loss: {runs.names[0]}") for text in takeaways(app))
    caption = "\n".join(block.value for block in app.caption)
    assert "Read 5 runs from" in caption and "Nothing was dropped" in caption


def test_widgets_change_the_output() -> None:
    app = open_page(SAMPLE)
    runs, logs = library_runs(SAMPLE)
    before = verdict_shown(app)

    app.slider(key="lc_patience").set_value(2).run()
    expected = diagnose_run(runs["main_run"], patience=2, checkpoint_epoch=logs.checkpoint_epoch)
    assert verdict_shown(app) == run_verdict(expected) != before
    assert {m.label for m in app.metric} >= {"Early stop (patience 2)"}
    sweep = patience_sweep(expected.analysis.curves)
    assert render(patience_takeaway(sweep, expected.analysis.curves)) in takeaways(app)
    star = [t for t in charts(app)["lc_patience_chart"]["data"] if t["name"] == "patience 2"]
    assert star and star[0]["x"] == [2]

    app.slider(key="lc_smoothing").set_value(0.0).run()
    names = [t["name"] for t in charts(app)["lc_curves_chart"]["data"]]
    assert names == ["train", "validation"]  # no faint raw curve without smoothing

    app.toggle(key="lc_log_y").set_value(True).run()
    assert charts(app)["lc_curves_chart"]["layout"]["yaxis"]["type"] == "log"

    app.selectbox(key="lc_run").set_value("train_size_100").run()
    expected = diagnose_run(runs["train_size_100"], patience=2)
    assert not app.exception
    assert verdict_shown(app) == run_verdict(expected)
    assert "Loaded checkpoint" not in {m.label for m in app.metric}  # the first run's only
    assert charts(app)["lc_curves_chart"]["layout"]["title"]["text"].startswith("train_size_100")

    app.segmented_control(key="lc_metric").set_value("accuracy").run()
    expected = diagnose_run(runs["train_size_100"], patience=2, metric="accuracy")
    assert verdict_shown(app) == run_verdict(expected)
    assert "accuracy" in charts(app)["lc_curves_chart"]["layout"]["yaxis"]["title"]["text"].lower()

    app.multiselect(key="lc_compare").set_value(["main_run", "train_size_400"]).run()
    legend = [
        t["name"] for t in charts(app)["lc_overlay_chart"]["data"] if t.get("showlegend", True)
    ]
    assert legend == ["main_run", "train_size_400"]


def test_switching_to_a_run_without_the_chosen_metric_falls_back(tabular_project: Path) -> None:
    logs = tabular_project.parent / "logs"
    logs.mkdir()
    rows = "".join(f"{e},{1 / e},{1.2 / e},{1 - 0.5 / e},{1 - 0.6 / e}\n" for e in range(1, 9))
    (logs / "both.csv").write_text("epoch,train_loss,val_loss,train_acc,val_acc\n" + rows)
    (logs / "loss_only.csv").write_text(
        "epoch,train_loss,val_loss\n" + "".join(f"{e},{1 / e},{1.1 / e}\n" for e in range(1, 9))
    )
    with_logs(tabular_project, ["logs"])
    app = open_page(tabular_project)
    app.segmented_control(key="lc_metric").set_value("accuracy").run()
    assert "accuracy" in verdict_shown(app)
    app.selectbox(key="lc_run").set_value("loss_only").run()
    assert not app.exception
    assert app.segmented_control(key="lc_metric").value == "loss"
    runs, _ = library_runs(tabular_project)
    assert verdict_shown(app) == run_verdict(diagnose_run(runs["loss_only"], metric="loss"))


# --------------------------------------------------------------------------- other projects


def test_lightning_metrics_csv(tabular_project: Path) -> None:
    log = write_lightning_log(
        tabular_project.parent / "lightning_logs" / "version_0" / "metrics.csv"
    )
    with_logs(tabular_project, {"runs": [str(log.relative_to(tabular_project.parent))]})
    app = open_page(tabular_project)
    assert not app.exception
    assert not app.error
    runs, _ = library_runs(tabular_project)
    assert runs.names == ("version_0",)
    expected = diagnose_run(runs["version_0"])
    assert expected.kind == "overfitting"
    assert verdict_shown(app) == run_verdict(expected)
    assert f"epoch {int(expected.best_epoch)}" in verdict_shown(app)
    figures = charts(app)
    assert {"lc_curves_chart", "lc_gap_chart", "lc_patience_chart", "lc_overlay_chart"} <= set(
        figures
    )
    assert "lc_data_size_chart" not in figures
    assert any("3 or more training-set sizes" in box.value for box in app.info)
    notes = "\n".join(block.value for block in app.markdown).replace("\\", "")
    assert "Lightning" in notes and "train_loss_step" in notes  # what was merged or ignored
    assert "2 notes on what was dropped" in "\n".join(block.value for block in app.caption)


def test_a_project_without_logs_says_how_to_add_them(tabular_project: Path) -> None:
    app = open_page(tabular_project)
    assert not app.exception
    assert not app.error
    assert "has no training logs yet" in app.info[0].value
    assert "training_logs:" in app.code[0].value and "runs:" in app.code[0].value
    assert not app.get("plotly_chart")


@pytest.mark.parametrize(
    ("training_logs", "message"),
    [
        ({"runs": ["logs/missing.csv"]}, "no such file or folder"),
        ({"runs": ["logs/junk.csv"]}, "no recognisable metric columns"),
    ],
    ids=["missing", "unrecognisable"],
)
def test_bad_logs_stop_this_page_only(
    tabular_project: Path, training_logs: dict, message: str
) -> None:
    logs = tabular_project.parent / "logs"
    logs.mkdir()
    (logs / "junk.csv").write_text("colour,shape\nred,round\nblue,square\n")
    with_logs(tabular_project, training_logs)
    app = open_page(tabular_project)
    assert not app.exception
    assert len(app.error) == 1
    assert "The training logs cannot be read." in app.error[0].value
    assert message in app.error[0].value.replace("\\", "")
    assert not app.get("plotly_chart")

    app.switch_page("pages/overview.py").run()  # the scorecard does not need the logs
    assert not app.exception
    assert not app.error
    assert len(app.get("plotly_chart")) == 2


def test_a_broken_project_file_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "project.yaml"
    broken.write_text("name: x\nsplits: [unclosed\n")
    app = open_page(broken)
    assert not app.exception
    assert len(app.error) == 1
    assert "cannot be opened" in app.error[0].value


def test_the_data_size_caption_says_which_epoch_is_compared() -> None:
    app = open_page(SAMPLE)
    captions = " ".join(caption.value for caption in app.caption)
    assert "each at its best held-out epoch (what early stopping keeps)" in captions
