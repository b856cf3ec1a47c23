"""The distributed engine on a local Ray instance (2 CPUs): the local engine's entries, sharded.

One Ray instance serves the module (its startup takes seconds). Without Ray installed, the Ray
tests skip and the CLI's one-line refusal is still tested; CI installs the extra
(requirements-dev.txt), so there they run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SAMPLE_DIR, edit_yaml

from gengap_dash.cli.main import main
from gengap_dash.data.tables import read_table
from gengap_dash.engine.distributed import (
    CRASH_ONCE_VARIABLE,
    RAY_MISSING,
    read_rows,
    shard_name,
    shard_ranges,
)
from gengap_dash.project.errors import ProjectError
from gengap_dash.workspace import Workspace

try:
    import ray
    import ray.data  # the extra brings Ray Data
except ImportError:
    ray = None

NO_RAY = "Ray is not installed (pip install 'gengap-dash[ray]'; CI installs it)"


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance with 2 CPUs for the module's tests."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


def _run(project: Path, cache: Path, **options):
    from gengap_dash.cli.ray_precompute import precompute_with_ray

    workspace = Workspace.from_file(project, cache_dir=cache)
    return workspace, precompute_with_ray(workspace, progress=False, **options)


def _assert_same_outputs(ray_cache: Path, local: Workspace, project: Path) -> None:
    """The Ray cache holds, under the local engine's keys, sharded entries that a fresh
    workspace reads (no Ray involved) as the local engine's outputs."""
    reader = Workspace.from_file(project, cache_dir=ray_cache)
    assert reader.missing_splits() == []
    for split in local.split_names:
        key = reader.cache_key(split)
        assert key == local.cache_key(split)
        manifest = json.loads((reader.cache.entry_path(key) / "manifest.json").read_text())
        assert manifest["format"] == "sharded" and manifest["info"]["engine"] == "ray"
        np.testing.assert_allclose(reader.logits(split), local.logits(split), rtol=0, atol=1e-6)
        ours, theirs = reader.embeddings(split), local.embeddings(split)
        assert (ours is None) == (theirs is None)
        if ours is not None:
            np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)
    pd.testing.assert_frame_equal(reader.predictions(), local.predictions())
    assert reader.notes == local.notes


@pytest.mark.ray
@pytest.mark.skipif(ray is None, reason=NO_RAY)
def test_the_sample_on_ray_gives_the_local_entries(local_ray, sample, tmp_path: Path) -> None:
    cache = tmp_path / "ray-cache"
    _, report = _run(SAMPLE_DIR, cache, shard_rows=300)  # 512-row shards: several per split
    assert report.skipped == 0 and report.computed == report.shards > len(sample.split_names)
    assert report.samples == sum(len(sample.split_predictions(s)) for s in sample.split_names)
    assert sum(worker.samples for worker in report.per_worker) == report.samples
    _assert_same_outputs(cache, sample, SAMPLE_DIR)


def _small_batches(project: Path) -> Path:
    """Batches of 8, and a training table in row groups of 16 (shards cut across them)."""
    edit_yaml(project, lambda data: data.update(inference={"batch_size": 8}))
    train = project.parent / "data" / "train.parquet"
    pd.read_parquet(train).to_parquet(train, index=False, row_group_size=16)
    return project


@pytest.mark.ray
@pytest.mark.skipif(ray is None, reason=NO_RAY)
def test_an_interrupted_run_resumes_and_survives_a_killed_worker(
    local_ray, tabular_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gengap_dash.cli import ray_precompute
    from gengap_dash.engine.distributed import precompute_on_ray

    project = _small_batches(tabular_project)
    cache = tmp_path / "ray-cache"
    workspace = Workspace.from_file(project, cache_dir=cache)
    jobs_seen = []

    def interrupted(spec, jobs, **options):
        def interrupt(split: str, done: int, total: int) -> None:
            raise KeyboardInterrupt  # Ctrl-C after the first shard

        jobs_seen.extend(jobs)
        return precompute_on_ray(spec, jobs, **{**options, "progress": interrupt})

    with monkeypatch.context() as patch:
        patch.setattr(ray_precompute, "precompute_on_ray", interrupted)
        with pytest.raises(KeyboardInterrupt):
            ray_precompute.precompute_with_ray(workspace, progress=False, shard_rows=16)
    done = sum(len(workspace.cache.completed_shards(job.key)) for job in jobs_seen)
    assert done >= 1
    # nothing a reader takes as complete: every split still needs its outputs
    reader = Workspace.from_file(project, cache_dir=cache)
    assert reader.missing_splits() == reader.split_names

    # the rerun skips the shards done, and a worker dies (os._exit) on its first shard
    marker = tmp_path / "crashed"
    monkeypatch.setenv(CRASH_ONCE_VARIABLE, str(marker))
    _, report = _run(project, cache, shard_rows=16)
    assert marker.exists()
    assert report.skipped >= done
    assert report.computed == report.shards - report.skipped
    assert not any(workspace.cache.partial_path(job.key).exists() for job in jobs_seen)
    local = Workspace.from_file(project, cache_dir=tmp_path / "local-cache")
    local.compute()
    _assert_same_outputs(cache, local, project)

    # the user's data at fault: the local engine's one-line message, not retried
    table = project.parent / "data" / "test.parquet"
    frame = pd.read_parquet(table)
    frame.loc[21, "f3"] = np.nan
    frame.to_parquet(table, index=False)
    with pytest.raises(
        ProjectError,
        match=r"^Table test\.parquet: feature column 'f3' has a missing or infinite value "
        r"in row 5 \(1 rows in all\)\. \(Row numbers count from row 16 of the table\.\)$",
    ):
        _run(project, cache, shard_rows=16)


# -- without Ray, and the pieces that need no Ray ----------------------------------------------


def test_without_ray_the_command_says_how_to_install_it(tabular_project: Path) -> None:
    # in a child process: this one may hold a running Ray instance
    hide_ray = (
        "import sys; sys.modules['ray'] = None; "
        "from gengap_dash.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", hide_ray, "precompute", str(tabular_project), "--engine", "ray"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.returncode == 2
    assert result.stderr == f"gengap: error: {RAY_MISSING}\n"
    assert RAY_MISSING == "Ray is not installed: pip install 'gengap-dash[ray]'"


def test_address_needs_the_ray_engine(tabular_project: Path, capsys) -> None:
    assert main(["precompute", str(tabular_project), "--address", "localhost:6379"]) == 2
    assert "--address needs --engine ray" in capsys.readouterr().err


def test_shards_are_whole_batches() -> None:
    assert shard_ranges(10, batch_size=4, shard_rows=5) == [(0, 8), (8, 10)]
    assert shard_ranges(8, batch_size=4, shard_rows=4) == [(0, 4), (4, 8)]
    assert shard_ranges(3, batch_size=256) == [(0, 3)]
    assert shard_name(0, 8) == "rows-000000000000-000000000008"
    with pytest.raises(ValueError, match="Expected positive batch and shard sizes"):
        shard_ranges(10, batch_size=0)


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_a_shard_reads_the_rows_the_whole_table_has(tmp_path: Path, kind: str) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"a": rng.normal(size=50), "b": rng.integers(0, 9, 50), "c": [f"x{i}" for i in range(50)]}
    )
    path = tmp_path / f"table.{kind}"
    if kind == "parquet":
        frame.to_parquet(path, index=False, row_group_size=7)
    else:
        frame.to_csv(path, index=False)
    whole = read_table(path, columns=["c", "a"])
    for start, stop in [(0, 7), (5, 23), (21, 50), (49, 50)]:
        part = read_rows(path, ["c", "a"], start=start, stop=stop)
        pd.testing.assert_frame_equal(part, whole.iloc[start:stop].reset_index(drop=True))


@pytest.mark.skipif(ray is None, reason=NO_RAY)
def test_the_map_placement_on_ray_places_every_point_as_here(local_ray) -> None:
    """`gengap embed --engine ray`: the points beyond the fitted sample are placed in Ray tasks
    (here 3 of at most 1,000 points, the fitted sample shared through the object store), and
    land where the local placement puts them."""
    from gengap_dash.analysis.embedding_map import place_by_neighbours
    from gengap_dash.views.shift import ray_placer

    rng = np.random.default_rng(3)
    fitted = rng.normal(size=(400, 16)).astype(np.float32)
    coordinates = rng.normal(size=(400, 2)).astype(np.float32)
    points = rng.normal(size=(2_500, 16)).astype(np.float32)
    points[7] = fitted[5]  # a copy of a fitted point lands on it
    here = place_by_neighbours(fitted, coordinates, points, n_neighbors=15)
    there = ray_placer(chunk_rows=1_000)(fitted, coordinates, points, 15)
    assert there.shape == (2_500, 2)
    np.testing.assert_allclose(there, here, atol=1e-6)
    np.testing.assert_allclose(there[7], coordinates[5], atol=1e-6)


def test_the_map_address_needs_the_ray_engine(tabular_project: Path, capsys) -> None:
    assert main(["embed", str(tabular_project), "--address", "host:6379"]) == 2
    assert "--address needs --engine ray" in capsys.readouterr().err
