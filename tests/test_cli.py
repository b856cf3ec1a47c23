"""The `gengap` command line: precompute, summary, export, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import cache_entries, entry_splits

import gengap_dash.engine.inference
from gengap_dash.cli.main import main
from gengap_dash.workspace import Workspace

SPLITS = ["train", "val", "test", "noisy"]
SIZES = {"train": 90, "val": 40, "test": 48, "noisy": 48}
METRICS = ("accuracy", "macro_f1", "nll", "ece", "brier")


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["gengap", *args], capture_output=True, text=True, timeout=120, env=env)


def _one_error_line(stderr: str, prefix: str = "gengap: error: ") -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(prefix), stderr
    assert "Traceback" not in stderr
    return lines[0]


# -- through a real process: one case per exit code ---------------------------------------------


def test_precompute_in_a_process_exits_0(tabular_project: Path, cache_dir: Path) -> None:
    result = _run("precompute", str(tabular_project))
    assert result.returncode == 0, result.stderr
    assert "Wine MLP: 226 predictions cached for train (90), val (40), test (48), noisy (48)" in (
        result.stdout
    )
    assert str(cache_dir) in result.stdout
    assert "Traceback" not in result.stderr
    assert entry_splits(cache_dir) == sorted(SPLITS)


def test_bad_input_in_a_process_exits_2_with_one_line(tmp_path: Path) -> None:
    result = _run("precompute", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    line = _one_error_line(result.stderr)
    assert line == f"gengap: error: Project file {tmp_path / 'missing.yaml'} does not exist."
    assert result.stdout == ""


def test_usage_error_in_a_process_exits_2_with_one_line() -> None:
    result = _run("precompute")
    assert result.returncode == 2
    assert "the following arguments are required: project" in _one_error_line(result.stderr)


def test_internal_error_in_a_process_exits_1(tabular_project: Path) -> None:
    script = (
        "import sys, gengap_dash.workspace as w\n"
        "def boom(self, **kwargs):\n"
        "    raise RuntimeError('disk on fire')\n"
        "w.Workspace.compute = boom\n"
        "from gengap_dash.cli.main import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, "precompute", str(tabular_project)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    line = _one_error_line(result.stderr, prefix="gengap: internal error: ")
    assert "RuntimeError: disk on fire" in line
    assert "GENGAP_DEBUG=1" in line


# -- in-process ----------------------------------------------------------------------------------


def test_precompute_then_summary_json(tabular_project: Path, capsys, monkeypatch) -> None:
    pytest.importorskip("gengap_dash.analysis.scorecard")
    assert main(["precompute", str(tabular_project)]) == 0
    capsys.readouterr()

    def refuse(*args, **kwargs):
        raise AssertionError("summary re-ran inference on a warm cache")

    monkeypatch.setattr(gengap_dash.engine.inference, "run_inference", refuse)
    assert main(["summary", str(tabular_project), "--json", "--resamples", "200"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    payload = json.loads(captured.out)
    assert payload["project"] == "Wine MLP"
    assert list(payload["splits"]) == SPLITS
    table = Workspace.from_file(tabular_project).predictions()
    roles = {"train": "train", "val": "validation", "test": "test", "noisy": "shifted"}
    for split, row in payload["splits"].items():
        assert {"role", "n", *METRICS, "ci"} <= set(row)
        assert row["role"] == roles[split]
        assert row["n"] == SIZES[split]
        rows = table[table["split"] == split]
        assert row["accuracy"] == pytest.approx(rows["correct"].mean())
        assert row["nll"] == pytest.approx(rows["loss"].mean(), rel=1e-6)
        for metric in METRICS:
            low, high = row["ci"][metric]
            assert low <= row[metric] + 1e-12
            assert row[metric] <= high + 1e-12
    assert payload["splits"]["train"]["accuracy"] > payload["splits"]["noisy"]["accuracy"]


def test_summary_table(tabular_project: Path, capsys) -> None:
    pytest.importorskip("gengap_dash.analysis.scorecard")
    assert main(["summary", str(tabular_project), "--resamples", "100"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Wine MLP\n")
    for split in SPLITS:
        assert any(line.startswith(split) for line in out.splitlines())


def test_summary_is_reproducible_with_a_seed(tabular_project: Path, capsys) -> None:
    pytest.importorskip("gengap_dash.analysis.scorecard")
    arguments = ["summary", str(tabular_project), "--json", "--resamples", "100", "--seed", "3"]
    assert main(arguments) == 0
    first = capsys.readouterr().out
    assert main(arguments) == 0
    assert capsys.readouterr().out == first


def test_summary_bad_resamples(tabular_project: Path, capsys) -> None:
    pytest.importorskip("gengap_dash.analysis.scorecard")
    assert main(["summary", str(tabular_project), "--resamples", "0"]) == 2
    assert "--resamples is 0; expected a positive integer" in _one_error_line(
        capsys.readouterr().err
    )


def test_export_parquet(tabular_project: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "predictions.parquet"
    assert main(["export", str(tabular_project), "--out", str(out)]) == 0
    assert f"Wrote 226 rows (4 splits) to {out}" in capsys.readouterr().out
    frame = pd.read_parquet(out)
    assert list(frame.columns) == [
        "split",
        "sample_id",
        "label",
        "pred",
        "confidence",
        "loss",
        "probs",
        "batch",
    ]
    assert frame["split"].value_counts().to_dict() == SIZES
    probs = np.stack(frame["probs"])
    assert probs.shape == (226, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(frame["pred"], probs.argmax(axis=1))
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_export_to_csv_is_refused(tabular_project: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "x.csv"
    assert main(["export", str(tabular_project), "--out", str(out)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line == f"gengap: error: --out {out}: expected a .parquet file name."
    assert not out.exists()


def test_export_to_a_missing_folder(tabular_project: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "nowhere" / "x.parquet"
    assert main(["export", str(tabular_project), "--out", str(out)]) == 2
    assert "folder" in _one_error_line(capsys.readouterr().err)


def test_cache_dir_option(tabular_project: Path, tmp_path: Path, cache_dir: Path, capsys) -> None:
    other = tmp_path / "elsewhere"
    assert main(["precompute", str(tabular_project), "--cache-dir", str(other)]) == 0
    assert str(other) in capsys.readouterr().out
    assert len(cache_entries(other)) == 4
    assert cache_entries(cache_dir) == []


def test_precompute_shows_no_progress_bars_off_a_terminal(tabular_project: Path, capsys) -> None:
    assert main(["precompute", str(tabular_project)]) == 0
    assert capsys.readouterr().err == ""


def test_internal_error_exits_1_with_one_line(tabular_project: Path, capsys, monkeypatch) -> None:
    def boom(self, **kwargs):
        raise RuntimeError("something broke\nover two lines")

    monkeypatch.setattr(Workspace, "compute", boom)
    assert main(["precompute", str(tabular_project)]) == 1
    line = _one_error_line(capsys.readouterr().err, prefix="gengap: internal error: ")
    assert line == (
        "gengap: internal error: RuntimeError: something broke over two lines "
        "(set GENGAP_DEBUG=1 for the traceback)"
    )


def test_debug_shows_the_traceback(tabular_project: Path, capsys, monkeypatch) -> None:
    def boom(self, **kwargs):
        raise RuntimeError("kaput")

    monkeypatch.setattr(Workspace, "compute", boom)
    monkeypatch.setenv("GENGAP_DEBUG", "1")
    assert main(["precompute", str(tabular_project)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert err.splitlines()[-1].startswith("gengap: internal error: RuntimeError: kaput")


def test_keyboard_interrupt(tabular_project: Path, capsys, monkeypatch) -> None:
    def interrupt(self, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Workspace, "compute", interrupt)
    assert main(["precompute", str(tabular_project)]) == 130
    assert "interrupted" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [[], ["frobnicate"], ["export", "p.yaml"], ["summary", "p.yaml", "--resamples", "many"]],
    ids=["no_command", "unknown_command", "missing_out", "bad_int"],
)
def test_usage_errors_exit_2_with_one_line(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    _one_error_line(capsys.readouterr().err)


def test_help_exits_0(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("precompute", "summary", "export", "report", "serve"):
        assert command in out


def test_serve_checks_the_project_first(tmp_path: Path, capsys) -> None:
    assert main(["serve", str(tmp_path / "missing.yaml")]) == 2
    assert "does not exist" in _one_error_line(capsys.readouterr().err)


def test_bad_yaml_through_the_cli(tmp_path: Path, capsys) -> None:
    (tmp_path / "project.yaml").write_text("name: [unclosed\n")
    assert main(["precompute", str(tmp_path)]) == 2
    assert "is not valid YAML at line" in _one_error_line(capsys.readouterr().err)


def test_a_broken_pipe_is_not_an_internal_error(tabular_project: Path) -> None:
    pytest.importorskip("gengap_dash.analysis.scorecard")
    Workspace.from_file(tabular_project).compute()  # warm: the process only reads
    env = {**os.environ}
    command = f"gengap summary '{tabular_project}' --json --resamples 50 | head -c 10"
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.stdout == '{\n  "proje'
    assert "internal error" not in result.stderr
    assert "Traceback" not in result.stderr


def test_a_discarded_cache_entry_is_said_once_on_stderr(
    tabular_project: Path, cache_dir: Path, capsys
) -> None:
    """A manifest that matches a shorter logits file: recomputed, one note line, exit 0."""
    import hashlib

    first = Workspace.from_file(tabular_project)
    first.compute()
    from gengap_dash.store.cache import ArrayCache

    entry = ArrayCache(cache_dir).entry_path(first.cache_key("val"))
    np.save(entry / "logits.npy", np.load(entry / "logits.npy")[:-3], allow_pickle=False)
    data = (entry / "logits.npy").read_bytes()
    manifest = json.loads((entry / "manifest.json").read_text())
    manifest["files"]["logits"].update(
        bytes=len(data), blake2b=hashlib.blake2b(data, digest_size=20).hexdigest(), shape=[37, 3]
    )
    (entry / "manifest.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    assert main(["summary", str(tabular_project), "--json"]) == 0
    captured = capsys.readouterr()
    notes = [line for line in captured.err.splitlines() if line.startswith("gengap: note: ")]
    assert notes == [
        "gengap: note: The cached model outputs of split 'val' were discarded (it holds 37 rows "
        "of logits, the table has 40) and are computed again."
    ]
    assert json.loads(captured.out)["splits"]["val"]["n"] == 40
    capsys.readouterr()
    assert main(["summary", str(tabular_project), "--json"]) == 0  # repaired: said once
    assert "gengap: note:" not in capsys.readouterr().err
