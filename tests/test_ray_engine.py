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
import torch
from conftest import SAMPLE_DIR, as_parquet_folder, edit_yaml

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


@pytest.mark.ray
@pytest.mark.skipif(ray is None, reason=NO_RAY)
def test_a_split_that_is_a_folder_of_parquet_files_on_ray(
    local_ray, tabular_project: Path, tmp_path: Path
) -> None:
    """Shards of 16 rows cut across the folder's three files and their row groups of 7: the
    entries are the local engine's."""
    edit_yaml(tabular_project, lambda data: data.update(inference={"batch_size": 8}))
    as_parquet_folder(tabular_project, "train")
    cache = tmp_path / "ray-cache"
    _, report = _run(tabular_project, cache, shard_rows=16)
    assert report.computed == report.shards > 6  # train alone: 90 rows in 6 shards
    local = Workspace.from_file(tabular_project, cache_dir=tmp_path / "local-cache")
    local.compute()
    _assert_same_outputs(cache, local, tabular_project)


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


# -- attributions on Ray ---------------------------------------------------------------------


def _digits_copy(tmp_path: Path, batch_size: int) -> Path:
    """A copy of the sample project with small batches (a set of samples spans several)."""
    import shutil

    target = tmp_path / "digits"
    shutil.copytree(SAMPLE_DIR, target)
    project = target / "project.yaml"
    edit_yaml(project, lambda data: data.update(inference={"batch_size": batch_size}))
    return project


def test_smoothgrad_maps_do_not_depend_on_how_the_set_is_cut(tmp_path: Path) -> None:
    """The noise of each batch comes from the seed and the batch's position in the set, so two
    calls on halves (cut at a batch boundary) give the maps of one call on the whole set; a
    different seed gives different maps (the check can fail)."""
    from gengap_dash.engine.attribution import AttributionSettings, attribute
    from gengap_dash.project.spec import InferenceSpec

    workspace = Workspace.from_file(_digits_copy(tmp_path, 8), cache_dir=tmp_path / "cache")
    model = workspace.model()
    inputs = torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    targets = np.arange(40) % 10
    settings = AttributionSettings(method="smoothgrad", seed=5)
    inference = InferenceSpec(batch_size=8)
    whole = attribute(model, inputs, targets, settings=settings, inference=inference)
    first = attribute(model, inputs[:16], targets[:16], settings=settings, inference=inference)
    rest = attribute(
        model, inputs[16:], targets[16:], settings=settings, inference=inference, first_row=16
    )
    np.testing.assert_array_equal(np.concatenate([first, rest]), whole)
    other = attribute(
        model,
        inputs,
        targets,
        settings=AttributionSettings(method="smoothgrad", seed=6),
        inference=inference,
    )
    assert np.abs(other - whole).max() > 1e-3


def test_chunks_are_whole_batches_about_one_per_worker() -> None:
    from gengap_dash.engine.ray_attribution import chunk_rows

    assert chunk_rows(40, 8, 2) == 24  # 5 batches over 2 workers: 3 + 2
    assert chunk_rows(40, 8, 10) == 8
    assert chunk_rows(3, 8, 4) == 8
    assert chunk_rows(0, 8, 2) == 8


@pytest.mark.ray
@pytest.mark.skipif(ray is None, reason=NO_RAY)
@pytest.mark.parametrize("method", ["saliency", "smoothgrad", "integrated_gradients", "gradcam"])
def test_attributions_on_ray_equal_the_local_maps(local_ray, tmp_path: Path, method) -> None:
    """37 rows of a split (5 batches of 8, the last short) on 2 actors give the maps the local
    engine gives, SmoothGrad's noise included."""
    from gengap_dash.engine.attribution import AttributionSettings, attribute
    from gengap_dash.engine.ray_attribution import RayAttributor
    from gengap_dash.views.saliency import split_inputs

    project = _digits_copy(tmp_path, 8)
    workspace = Workspace.from_file(project, cache_dir=tmp_path / "cache")
    rows = np.random.default_rng(1).choice(300, size=37, replace=False)
    targets = np.random.default_rng(2).integers(0, 10, size=37)
    settings = AttributionSettings(method=method, seed=3, n_steps=16)
    here = attribute(
        workspace.model(),
        split_inputs(workspace, "rotated", rows),
        targets,
        settings=settings,
        inference=workspace.spec.inference,
        gradcam_layer=workspace.spec.model.gradcam_layer,
    )
    with RayAttributor(workspace.spec, workers=2) as remote:
        there = remote.maps("rotated", rows, targets, settings)
        assert remote.chunks_run == 2
    assert there.dtype == np.float32 and there.shape == here.shape
    np.testing.assert_allclose(there, here, rtol=0, atol=1e-6)


@pytest.fixture
def saliency_view():
    """The registry's saliency view, back on the local engine after the test."""
    from gengap_dash.views.registry import get_view

    view = get_view("saliency")
    yield view
    view._ray, view._attributor = None, None


@pytest.mark.ray
@pytest.mark.skipif(ray is None, reason=NO_RAY)
def test_gengap_saliency_on_ray_fills_the_cache_the_dashboard_reads(
    local_ray, saliency_view, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`gengap saliency --samples-file queue.csv --engine ray`: the review queue's download is
    the chosen set; the maps land under the local engine's keys, so the local path then finds
    them without computing, equal."""
    from gengap_dash.engine import attribution
    from gengap_dash.views.saliency import sample_maps

    project = _digits_copy(tmp_path, 8)
    cache = tmp_path / "cache"
    ids = [f"rotated-{i:05d}" for i in (3, 10, 11, 40, 77, 120, 200, 201, 250, 299)]
    queue = tmp_path / "queue.csv"
    pd.DataFrame({"sample_id": ids, "split": "rotated", "score": 1.0}).to_csv(queue, index=False)
    out = tmp_path / "maps.npz"
    arguments = ["saliency", str(project), "--cache-dir", str(cache), "--split", "rotated"]
    arguments += ["--samples-file", str(queue), "--method", "smoothgrad", "--out", str(out)]
    assert main([*arguments, "--engine", "ray", "--workers", "2"]) == 0
    assert saliency_view._attributor.chunks_run == 2
    saliency_view._ray, saliency_view._attributor = None, None
    written = np.load(out, allow_pickle=False)

    def refuse(*args, **kwargs):
        raise AssertionError("the maps were computed again instead of read from the cache")

    original = attribution.attribute
    attribution.attribute = refuse
    try:
        local = sample_maps(
            Workspace.from_file(project, cache_dir=cache), "rotated", ids, "smoothgrad"
        )
    finally:
        attribution.attribute = original
    np.testing.assert_array_equal(local.maps, written["maps"])
    assert tuple(local.sample_ids) == tuple(ids)
    capsys.readouterr()


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (None, "missing.csv", "cannot be read"),
        (
            "id,score\na,1\n",
            "queue.csv",
            "expected a sample_id column, but the header is id, score",
        ),
        ("sample_id,score\n", "queue.csv", "holds none"),
    ],
)
def test_a_bad_samples_file_is_named_with_exit_2(
    tabular_project: Path, tmp_path: Path, capsys, content, name, message
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    arguments = ["saliency", str(tabular_project), "--split", "test", "--samples-file", str(path)]
    assert main([*arguments, "--out", str(tmp_path / "m.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and str(path) in err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--workers", "2"], "--workers needs --engine ray."),
        (["--address", "host:6379"], "--address needs --engine ray."),
    ],
)
def test_ray_options_of_saliency_need_the_ray_engine(
    tabular_project: Path, capsys, arguments, message
) -> None:
    assert main(["saliency", str(tabular_project), *arguments]) == 2
    assert capsys.readouterr().err.strip().endswith(message)
