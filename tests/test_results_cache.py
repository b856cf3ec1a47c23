"""store/results.py and views/registry.py: results cached on disk by content key, corrupt entries
detected, recomputed and reported once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gengap_dash.project.errors import ProjectError
from gengap_dash.stats.bootstrap import Estimate
from gengap_dash.store.results import ResultCache
from gengap_dash.views import registry
from gengap_dash.views.registry import View, all_views, compute, get_view, result_key


def test_store_then_load_returns_an_equal_result(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path)
    assert cache.load("scorecard", "ab12") == (False, None)
    assert cache.store("scorecard", "ab12", {"acc": Estimate(0.9, 0.8, 1.0)})
    found, value = ResultCache(tmp_path).load("scorecard", "ab12")
    assert found and value == {"acc": Estimate(0.9, 0.8, 1.0)}
    assert not list(cache.path("scorecard", "ab12").parent.glob(".*.tmp"))


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda text: text[: len(text) // 2],  # truncated
        lambda text: text.replace("0.9", "0.1"),  # edited: the checksum no longer matches
        lambda text: "[]",
        lambda text: json.dumps(
            {**json.loads(text), "body": {"__dataclass__": "os:system", "fields": {}}}
        ),
        # a second body after the checked one, or glued to it: neither is read
        lambda text: text.replace('"key": "ab12"', '"key": "ab12", "body": {}'),
        lambda text: text.replace('{"body": ', '{"body": 1, "body": ', 1),
    ],
)
def test_a_corrupt_entry_is_a_miss_removed_and_noted_once(tmp_path: Path, corrupt) -> None:
    cache = ResultCache(tmp_path)
    cache.store("scorecard", "ab12", {"acc": Estimate(0.9, 0.8, 1.0)})
    path = cache.path("scorecard", "ab12")
    path.write_text(corrupt(path.read_text()))
    assert cache.load("scorecard", "ab12") == (False, None)
    assert not path.exists()
    assert len(cache.notes) == 1 and "corrupt cached scorecard result" in cache.notes[0]
    cache.load("scorecard", "ab12")
    assert len(cache.notes) == 1


def test_the_body_is_checked_as_written_and_older_entries_still_read(tmp_path: Path) -> None:
    """An entry's body is written first, in the canonical form its digest covers, so a read
    checks it without serialising it again; an entry in the older layout (body last, keys
    unsorted) is checked the old way and still read."""
    from gengap_dash.store import results

    cache = ResultCache(tmp_path)
    cache.store("scorecard", "ab12", {"acc": Estimate(0.9, 0.8, 1.0)})
    text = cache.path("scorecard", "ab12").read_text()
    document, body_text = results._parse(text)
    assert body_text == json.dumps(document["body"], sort_keys=True)
    assert document["digest"] == results._digest(body_text)

    older = {key: document[key] for key in ("schema", "view", "key", "created", "digest")}
    cache.path("scorecard", "ab12").write_text(json.dumps({**older, "body": document["body"]}))
    assert results._parse(cache.path("scorecard", "ab12").read_text())[1] is None
    assert ResultCache(tmp_path).load("scorecard", "ab12") == (
        True,
        {"acc": Estimate(0.9, 0.8, 1.0)},
    )


def test_names_that_could_escape_the_folder_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="plain view name"):
        ResultCache(tmp_path).path("../etc", "ab")


@dataclass(frozen=True)
class CountingOptions:
    scale: int = 1


class CountingView(View):
    """A view that counts its computations (registered only inside the tests below)."""

    name = "counting"
    title = "Counting"
    question = "How often is compute called?"
    Options = CountingOptions
    calls = 0

    def compute(self, workspace, options):
        CountingView.calls += 1
        return {"n": len(workspace.split_names) * options.scale}

    def findings(self, result):
        return []


@pytest.fixture
def counting_view(monkeypatch: pytest.MonkeyPatch) -> View:
    monkeypatch.setitem(registry._REGISTRY, "counting", CountingView())
    CountingView.calls = 0
    return registry._REGISTRY["counting"]


def test_compute_reuses_the_disk_cache_across_workspaces(
    counting_view: View, tabular_project: Path, cache_dir: Path
) -> None:
    from gengap_dash.workspace import Workspace

    first = compute(counting_view, Workspace.from_file(tabular_project, cache_dir=cache_dir))
    again = compute(counting_view, Workspace.from_file(tabular_project, cache_dir=cache_dir))
    assert first == again == {"n": 4}
    assert CountingView.calls == 1  # the second workspace (a new process) read it from disk
    other = compute(
        counting_view,
        Workspace.from_file(tabular_project, cache_dir=cache_dir),
        CountingOptions(scale=2),
    )
    assert other == {"n": 8} and CountingView.calls == 2  # other options, other key


def test_the_key_changes_with_the_data(
    counting_view: View, tabular_project: Path, cache_dir: Path
) -> None:
    from gengap_dash.workspace import Workspace

    workspace = Workspace.from_file(tabular_project, cache_dir=cache_dir)
    before = result_key(counting_view, workspace, CountingOptions())
    table = tabular_project.parent / "data" / "test.csv"
    if not table.exists():
        table = next((tabular_project.parent).rglob("test.*"))
    table.write_bytes(table.read_bytes() + b"\n")
    after = result_key(
        counting_view, Workspace.from_file(tabular_project, cache_dir=cache_dir), CountingOptions()
    )
    assert before != after


def test_options_of_another_type_are_refused(counting_view: View, tabular_project: Path) -> None:
    from gengap_dash.workspace import Workspace

    with pytest.raises(TypeError, match="Expected options of type CountingOptions"):
        compute(counting_view, Workspace.from_file(tabular_project), {"scale": 2})


def test_registry_lists_views_in_report_order_and_names_unknown_ones() -> None:
    views = all_views()
    assert views[0].name == "scorecard"
    assert len({view.name for view in views}) == len(views)
    with pytest.raises(ProjectError, match="There is no view 'nope'"):
        get_view("nope")


def test_a_default_reference_and_the_split_it_stands_for_share_one_result(
    tabular_project: Path, cache_dir: Path
) -> None:
    """`gengap summary` asks the OOD and shift views for their default reference, the review
    queue and the feature-space page ask for the split by name: one key, one computation."""
    from gengap_dash.views.ood import OODOptions
    from gengap_dash.views.review import ReviewOptions, default_review_split
    from gengap_dash.views.shift import ShiftOptions, default_reference
    from gengap_dash.workspace import Workspace

    workspace = Workspace.from_file(tabular_project, cache_dir=cache_dir)
    reference = default_reference(workspace)
    other = next(name for name in workspace.split_names if name != reference)
    for name, options in (("ood", OODOptions), ("shift", ShiftOptions)):
        view = get_view(name)
        assert result_key(view, workspace, options()) == result_key(
            view, workspace, options(reference=reference)
        )
        assert result_key(view, workspace, options()) != result_key(
            view, workspace, options(reference=other)
        )
    review = get_view("review")
    explicit = ReviewOptions(split=default_review_split(workspace), reference=reference)
    assert result_key(review, workspace, ReviewOptions()) == result_key(review, workspace, explicit)


def test_large_arrays_and_frames_live_in_a_checked_blob_file(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path)
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(50_000, 3)).astype(np.float32)
    frame = pd.DataFrame({"split": ["test", "shifted"] * 20_000, "score": rng.random(40_000)})
    small = np.arange(4)
    assert cache.store("ood", "ab12", {"scores": scores, "frame": frame, "small": small})
    entry = cache.path("ood", "ab12")
    (blob_file,) = entry.parent.glob("ab12.*.blobs")
    assert len(entry.read_text()) < 5_000, "the large values stay out of the JSON"
    found, loaded = ResultCache(tmp_path).load("ood", "ab12")
    assert found
    np.testing.assert_array_equal(loaded["scores"], scores)
    assert loaded["scores"].dtype == np.float32 and loaded["scores"].flags.writeable
    pd.testing.assert_frame_equal(loaded["frame"], frame)
    np.testing.assert_array_equal(loaded["small"], small)

    data = bytearray(blob_file.read_bytes())
    data[100] ^= 0xFF
    blob_file.write_bytes(bytes(data))
    altered = ResultCache(tmp_path)
    assert altered.load("ood", "ab12") == (False, None)
    assert "checksum" in altered.notes[0]
    assert not entry.exists() and not blob_file.exists(), "both halves of the entry are removed"


def test_an_entry_whose_blob_file_is_missing_is_a_miss(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path)
    assert cache.store("ood", "ab12", np.zeros(100_000))
    next(cache.path("ood", "ab12").parent.glob("ab12.*.blobs")).unlink()
    assert cache.load("ood", "ab12") == (False, None)
    assert "missing" in cache.notes[0]
    assert cache.store("ood", "ab12", np.ones(100_000))
    found, loaded = cache.load("ood", "ab12")
    assert found and loaded.sum() == 100_000


def test_a_rewritten_entry_leaves_one_blob_file(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path)
    assert cache.store("ood", "ab12", np.zeros(100_000))
    assert cache.store("ood", "ab12", np.ones(100_000))
    assert len(list(cache.path("ood", "ab12").parent.glob("ab12.*.blobs"))) == 1
    found, loaded = cache.load("ood", "ab12")
    assert found and loaded.sum() == 100_000


def _ood_report(n: int = 30_000):
    from gengap_dash.analysis.ood.report import OODReport

    rng = np.random.default_rng(1)
    return OODReport(
        reference="test",
        scores=("msp", "energy"),
        samples=pd.DataFrame(
            {"split": ["test", "field"] * (n // 2), "msp": rng.random(n), "energy": rng.random(n)}
        ),
        detection=pd.DataFrame({"split": ["field"], "score": ["msp"], "auroc": [0.7]}),
        accuracy=pd.DataFrame({"split": ["test"], "accuracy": [0.9]}),
        atc_threshold=0.5,
        validation="val",
        k=50,
        notes=("a note",),
    )


def test_a_light_read_leaves_out_heavy_fields_and_never_reads_their_blobs(
    tmp_path: Path,
) -> None:
    """The OOD result's per-sample scores are marked heavy: a light read (pages, the summary,
    `--json`) gets ``samples=None`` and the rest equal, without reading their bytes, so a
    corrupted samples blob goes unnoticed there and is caught by the next whole read."""
    report = _ood_report()
    cache = ResultCache(tmp_path)
    assert cache.store("ood", "ab12", report)
    found, light = ResultCache(tmp_path).load("ood", "ab12", light=True)
    assert found and light.samples is None
    pd.testing.assert_frame_equal(light.detection, report.detection)
    assert (light.reference, light.k, light.notes) == ("test", 50, ("a note",))
    (blob_file,) = cache.path("ood", "ab12").parent.glob("ab12.*.blobs")
    data = bytearray(blob_file.read_bytes())
    data[10] ^= 0xFF  # the samples frame is the only blob, from byte 0
    blob_file.write_bytes(bytes(data))
    found, light = ResultCache(tmp_path).load("ood", "ab12", light=True)
    assert found and light.samples is None
    whole = ResultCache(tmp_path)
    assert whole.load("ood", "ab12") == (False, None)
    assert "checksum" in whole.notes[0]


def test_a_whole_read_gets_the_heavy_fields(tmp_path: Path) -> None:
    report = _ood_report()
    cache = ResultCache(tmp_path)
    assert cache.store("ood", "ab12", report)
    found, whole = ResultCache(tmp_path).load("ood", "ab12")
    assert found
    pd.testing.assert_frame_equal(whole.samples, report.samples)
