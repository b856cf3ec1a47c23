"""``gengap curves``: the JSON equals the library's diagnosis; the table and verdicts; exit 2."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import edit_yaml
from test_page_learning_curves import write_lightning_log

from gengap_dash.analysis.learning_curves import (
    data_size_analysis,
    data_size_findings,
    diagnose_run,
    run_findings,
)
from gengap_dash.cli.main import main
from gengap_dash.data.training_logs import load_training_runs
from gengap_dash.findings import to_json
from gengap_dash.findings.learning_curves import verdict_text
from gengap_dash.project.spec import load_project

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "digits" / "project.yaml"


def run_verdict(diagnosis) -> str:
    """The run's verdict as the page, the CLI and the report say it."""
    return verdict_text(run_findings(diagnosis))


def data_size_verdict(analysis) -> str:
    return verdict_text(data_size_findings(analysis))


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["curves", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_same(shown: object, expected: object) -> None:
    """JSON round-trip equality (floats compared closely; NaN shown as null)."""
    if isinstance(expected, dict):
        assert isinstance(shown, dict) and shown.keys() == expected.keys()
        for key in expected:
            assert_same(shown[key], expected[key])
    elif isinstance(expected, list | tuple):
        assert isinstance(shown, list) and len(shown) == len(expected)
        for a, b in zip(shown, expected, strict=True):
            assert_same(a, b)
    elif isinstance(expected, float) and not math.isfinite(expected):
        assert shown is None
    elif isinstance(expected, float):
        assert shown == pytest.approx(expected, rel=1e-12, abs=1e-12)
    else:
        assert shown == expected


@pytest.mark.parametrize("patience", [5, 3])
def test_json_equals_the_library_diagnosis(
    capsys: pytest.CaptureFixture[str], patience: int
) -> None:
    arguments = ["--json"] if patience == 5 else ["--json", "--patience", str(patience)]
    code, out, err = run_cli(capsys, str(SAMPLE), *arguments)
    assert code == 0, err
    payload = json.loads(out)
    logs = load_project(SAMPLE).training_logs
    runs = load_training_runs(logs.runs)
    assert payload["project"] == "Digits CNN"
    assert payload["patience"] == patience
    assert list(payload["runs"]) == list(runs.names)
    for index, run in enumerate(runs):
        checkpoint = logs.checkpoint_epoch if index == 0 else None  # the first run's weights
        expected = diagnose_run(run, patience=patience, checkpoint_epoch=checkpoint)
        shown = payload["runs"][run.name]
        # The diagnosis, its verdict in words and its structured findings (with their text).
        assert_same(
            shown,
            {
                **expected.to_dict(),
                "verdict": run_verdict(expected),
                "findings": to_json(run_findings(expected)),
            },
        )
        assert shown["findings"][0]["kind"].startswith("learning_curves.")
    assert payload["runs"]["main_run"]["best_epoch"] == 13
    assert payload["runs"]["main_run"]["checkpoint_epoch"] == 60
    assert payload["runs"]["train_size_100"]["checkpoint_epoch"] is None
    data_size = data_size_analysis(runs)
    assert_same(
        payload["data_size"],
        {
            **data_size.to_dict(),
            "verdict": data_size_verdict(data_size),
            "findings": to_json(data_size_findings(data_size)),
        },
    )
    assert payload["skipped"] == {} and payload["notes"] == []


def test_text_output_is_a_table_and_verdicts(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, str(SAMPLE.parent), "--patience", "5")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Digits CNN: learning curves (early-stopping patience 5)"
    header = next(line for line in lines if line.startswith("run "))
    assert header.split() == ["run", "size", "metric", "best", "value", "onset", "stop", "kept",
                              "final", "gap", "kind"]  # fmt: skip
    main_row = next(line for line in lines if line.startswith("main_run ")).split()
    assert main_row[:4] == ["main_run", "-", "loss", "13"]
    assert main_row[5:7] == ["13", "18"] and main_row[-1] == "overfitting"
    assert next(line for line in lines if line.startswith("train_size_100 ")).split()[1] == "100"
    expected = diagnose_run(load_training_runs([SAMPLE.parent / "logs" / "main_run.csv"])[
        "main_run"], checkpoint_epoch=60)  # fmt: skip
    assert f"- main_run: {run_verdict(expected)}" in lines
    assert any(line.startswith("Data size (validation loss") for line in lines)
    assert any("more data of the same kind is unlikely to close the gap" in line for line in lines)


def test_lightning_log_and_notes(tabular_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_lightning_log(tabular_project.parent / "logs" / "metrics.csv")
    edit_yaml(tabular_project, lambda data: data.update(training_logs=["logs/metrics.csv"]))
    code, out, _ = run_cli(capsys, str(tabular_project), "--json")
    assert code == 0
    payload = json.loads(out)
    assert list(payload["runs"]) == ["logs"]
    assert payload["runs"]["logs"]["kind"] == "overfitting"
    assert payload["data_size"] is None
    assert any("Lightning" in note for note in payload["notes"])
    code, out, _ = run_cli(capsys, str(tabular_project))
    assert "Notes on the logs:" in out and "Data size" not in out


def test_runs_without_a_held_out_metric_are_skipped(
    tabular_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = tabular_project.parent / "logs"
    logs.mkdir()
    (logs / "good.csv").write_text("epoch,train_loss,val_loss\n1,1.0,1.1\n2,0.5,0.7\n3,0.3,0.6\n")
    (logs / "train_only.csv").write_text("epoch,train_loss\n1,1.0\n2,0.5\n")
    edit_yaml(tabular_project, lambda data: data.update(training_logs=["logs"]))
    code, out, _ = run_cli(capsys, str(tabular_project), "--json")
    assert code == 0
    payload = json.loads(out)
    assert list(payload["runs"]) == ["good"]
    assert "logs no validation or test metric" in payload["skipped"]["train_only"]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("no_logs", "has no training_logs"),
        ("missing", "no such file or folder"),
        ("unrecognisable", "no recognisable metric columns"),
        ("train_only", "logs no validation or test metric"),
        ("no_project", "does not exist"),
        ("patience", "--patience is 0"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    setup: str,
    message: str,
    tabular_project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs = tabular_project.parent / "logs"
    logs.mkdir()
    (logs / "junk.csv").write_text("colour,shape\nred,round\n")
    (logs / "train_only.csv").write_text("epoch,train_loss\n1,1.0\n2,0.5\n")
    runs = {"missing": "logs/nope.csv", "unrecognisable": "logs/junk.csv",
            "train_only": "logs/train_only.csv"}  # fmt: skip
    if setup in runs:
        edit_yaml(tabular_project, lambda data: data.update(training_logs=[runs[setup]]))
    project = tmp_path / "nowhere.yaml" if setup == "no_project" else tabular_project
    arguments = [str(project)] + (["--patience", "0"] if setup == "patience" else [])
    code, out, err = run_cli(capsys, *arguments)
    assert code == 2
    assert out == ""
    assert err.startswith("gengap: error: ") and err.count("\n") == 1
    assert message in err
