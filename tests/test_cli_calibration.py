"""``gengap calibration`` and the calibration part of ``gengap summary --json``: the numbers are
the library's, the JSON has the documented shape, the text has the sentences, bad input exits 2."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import edit_yaml

from gengap_dash.analysis.calibration.cohorts import calibration_by_cohort
from gengap_dash.analysis.calibration.report import METRIC_NAMES, calibration_report
from gengap_dash.analysis.calibration.temperature import (
    fit_temperature,
    temperature_scaling_comparison,
)
from gengap_dash.cli.main import main
from gengap_dash.stats.bootstrap import split_stream
from gengap_dash.views.calibration import SUMMARY_METRICS
from gengap_dash.views.registry import get_view
from gengap_dash.workspace import Workspace

RESAMPLES = "200"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def same(shown: float | None, expected: float) -> bool:
    if not math.isfinite(expected):
        return shown is None
    return shown == pytest.approx(expected, rel=1e-12, abs=1e-15)


def assert_estimate(shown: dict, estimate) -> None:
    assert set(shown) == {"value", "low", "high"}
    assert same(shown["value"], estimate.value)
    assert same(shown["low"], estimate.low)
    assert same(shown["high"], estimate.high)


def test_json_equals_the_library(
    tabular_project: Path, cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["--json", "--resamples", RESAMPLES, "--bins", "10", "--strategy", "quantile"]
    code, out, err = run_cli(capsys, "calibration", str(tabular_project), *arguments)
    assert code == 0, err
    payload = json.loads(out)
    assert {"project", "temperature", "splits", "cohorts"} <= set(payload)
    assert payload["project"] == "Wine MLP"
    workspace = Workspace.from_file(tabular_project, cache_dir=cache_dir)
    names = workspace.split_names
    options = {"n_bins": 10, "strategy": "quantile", "n_resamples": 200}
    streams = {split: split_stream(0, position) for position, split in enumerate(names)}
    assert list(payload["splits"]) == names
    for split in names:
        report = calibration_report(
            workspace.labels(split),
            workspace.logits(split),
            outputs_are="logits",
            seed=streams[split],
            **options,
        )
        assert list(payload["splits"][split]) == list(METRIC_NAMES)
        for name in METRIC_NAMES:
            assert_estimate(payload["splits"][split][name], getattr(report, name))

    comparison = temperature_scaling_comparison(
        {s: workspace.logits(s) for s in names},
        {s: workspace.labels(s) for s in names},
        roles=workspace.split_roles,
        seed=streams,
        **options,
    )
    temperature = payload["temperature"]
    fit = fit_temperature(workspace.logits("val"), workspace.labels("val"))
    assert temperature["value"] == pytest.approx(fit.temperature, rel=1e-12)
    assert temperature["fit_split"] == "val"
    assert temperature["nll_before"] == pytest.approx(fit.nll_before)
    assert temperature["nll_after"] == pytest.approx(fit.nll_after)
    for split in names:
        assert same(temperature["ece_before"][split], comparison.before[split].ece.value)
        assert same(temperature["ece_after"][split], comparison.after[split].ece.value)
        assert_estimate(temperature["ece_change"][split], comparison.ece_change[split])
    assert temperature["verdicts"] == dict(comparison.verdicts)
    assert temperature["explanation"] == comparison.explanation
    assert temperature["transfer"] == comparison.transfer

    assert list(payload["cohorts"]) == ["batch"]  # every metadata column by default
    for split in names:
        cohorts = calibration_by_cohort(
            workspace.labels(split),
            workspace.logits(split),
            workspace.split_predictions(split)["batch"],
            outputs_are="logits",
            seed=streams[split],
            **options,
        )
        shown = payload["cohorts"]["batch"][split]
        assert list(shown) == list(cohorts.cohorts) == ["early", "late"]
        for cohort, summary in cohorts.summaries.items():
            assert shown[cohort]["n"] == summary.n_samples
            assert shown[cohort]["too_few"] == cohorts.too_few[cohort]
            assert_estimate(shown[cohort]["metrics"]["ece"], summary.ece)
            assert_estimate(shown[cohort]["metrics"]["brier"], summary.brier)
    assert payload["selective"]["sentence"].startswith("Keeping the 90% most confident")


def test_text_has_the_tables_and_the_sentences(
    tabular_project: Path, cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        capsys, "calibration", str(tabular_project), "--resamples", RESAMPLES, "--cohort", "batch"
    )
    assert code == 0, err
    workspace = Workspace.from_file(tabular_project, cache_dir=cache_dir)
    names = workspace.split_names
    comparison = temperature_scaling_comparison(
        {s: workspace.logits(s) for s in names},
        {s: workspace.labels(s) for s in names},
        roles=workspace.split_roles,
        n_resamples=200,
        seed={split: split_stream(0, position) for position, split in enumerate(names)},
    )
    assert out.startswith("Wine MLP: calibration (15 equal-width bins; 95% bootstrap intervals")
    assert comparison.explanation in out
    assert comparison.transfer in out
    assert "Keeping the 90% most confident predictions" in out
    assert "By batch" in out
    ece = comparison.before["noisy"].ece
    cell = f"{100 * ece.value:.1f} [{100 * ece.low:.1f}, {100 * ece.high:.1f}]"
    noisy_row = next(line for line in out.splitlines() if line.startswith("noisy "))
    assert cell in noisy_row


def test_summary_json_gains_calibration_and_the_temperature(
    tabular_project: Path, cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        type(get_view("calibration")).extend_summary is not type(get_view("curves")).extend_summary
    )
    code, out, err = run_cli(capsys, "summary", str(tabular_project), "--json", "--resamples", "50")
    assert code == 0, err
    payload = json.loads(out)
    workspace = Workspace.from_file(tabular_project, cache_dir=cache_dir)
    scorecard = payload["splits"]
    for position, split in enumerate(workspace.split_names):
        report = calibration_report(
            workspace.labels(split),
            workspace.logits(split),
            outputs_are="logits",
            seed=split_stream(0, position),
        )
        row = scorecard[split]
        assert {"accuracy", "ece", "nll", "brier"} <= set(row)  # the scorecard's stay
        for name in SUMMARY_METRICS:
            estimate = getattr(report, name)
            assert same(row[name], estimate.value)
            assert same(row["ci"][name][0], estimate.low)
            assert same(row["ci"][name][1], estimate.high)
        assert row["ece"] == pytest.approx(report.ece.value, rel=1e-6)  # one ECE, two paths
    temperature = payload["temperature"]
    fit = fit_temperature(workspace.logits("val"), workspace.labels("val"))
    assert temperature["value"] == pytest.approx(fit.temperature, rel=1e-12)
    assert temperature["fit_split"] == "val"
    assert temperature["nll_before"] == pytest.approx(fit.nll_before)
    assert temperature["nll_after"] == pytest.approx(fit.nll_after)
    assert set(temperature["ece_before"]) == set(temperature["ece_after"]) == set(payload["splits"])
    names = workspace.split_names
    comparison = temperature_scaling_comparison(
        {s: workspace.logits(s) for s in names},
        {s: workspace.labels(s) for s in names},
        roles=workspace.split_roles,
        n_resamples=0,
    )
    for split in names:
        assert same(temperature["ece_before"][split], comparison.before[split].ece.value)
        assert same(temperature["ece_after"][split], comparison.after[split].ece.value)
    assert temperature["explanation"] == comparison.explanation


def test_without_a_validation_split_temperature_is_null_with_a_reason(
    tabular_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit_yaml(tabular_project, lambda data: data["splits"].pop("val"))
    code, out, err = run_cli(capsys, "summary", str(tabular_project), "--json", "--resamples", "50")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["temperature"] is None
    assert "No split has role 'validation'" in payload["temperature_reason"]
    code, out, err = run_cli(capsys, "calibration", str(tabular_project), "--resamples", "0")
    assert code == 0, err
    assert "Temperature scaling: not fitted. No split has role 'validation'" in out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--cohort", "site"],
            "--cohort 'site' is not a metadata column of {project}; available: batch.",
        ),
        (["--bins", "0"], "--bins is 0; expected a positive integer."),
        (["--resamples", "-1"], "--resamples is -1; expected 0 or more."),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tabular_project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    arguments: list[str],
    message: str,
) -> None:
    import gengap_dash.cli.trunk_commands as trunk

    def refuse(*args, **kwargs):
        raise AssertionError("bad options must be refused before the workspace is opened")

    monkeypatch.setattr(trunk, "open_workspace", refuse)
    code, out, err = run_cli(capsys, "calibration", str(tabular_project), *arguments)
    assert code == 2
    assert out == ""
    assert err == f"gengap: error: {message.format(project=tabular_project)}\n"


def test_the_text_summary_says_the_temperature(
    tabular_project: Path, cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "summary", str(tabular_project), "--resamples", "50")
    assert code == 0, err
    workspace = Workspace.from_file(tabular_project, cache_dir=cache_dir)
    names = workspace.split_names
    comparison = temperature_scaling_comparison(
        {s: workspace.logits(s) for s in names},
        {s: workspace.labels(s) for s in names},
        roles=workspace.split_roles,
        n_resamples=0,
    )
    assert f"- Calibration: {comparison.explanation}" in out
