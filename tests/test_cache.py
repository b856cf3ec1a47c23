"""The on-disk cache: round trips, atomic writes, corruption, concurrency, what the key covers."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sys
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import cache_entries, edit_yaml, entry_splits

import gengap_dash.engine.inference
from gengap_dash.store.cache import ArrayCache
from gengap_dash.store.keys import FingerprintMemo, hash_key
from gengap_dash.workspace import Workspace

KEY = "ab" + "0" * 38


def _arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "logits": rng.normal(size=(7, 3)).astype(np.float32),
        "embeddings": rng.normal(size=(7, 4)).astype(np.float16),
        "ids": np.arange(7, dtype=np.int64),
    }


def _assert_same(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert set(got) == set(expected)
    for name, array in expected.items():
        assert got[name].dtype == array.dtype
        np.testing.assert_array_equal(got[name], array)


def test_store_load_round_trip(tmp_path: Path) -> None:
    cache = ArrayCache(tmp_path)
    assert cache.load(KEY) is None
    assert not cache.contains(KEY)
    path = cache.store(KEY, _arrays(), info={"split": "train", "note": "hello"})
    assert path == cache.entry_path(KEY)
    assert cache.contains(KEY)
    _assert_same(cache.load(KEY), _arrays())
    assert cache.info(KEY) == {"split": "train", "note": "hello"}
    assert sorted(p.name for p in path.iterdir()) == [
        "embeddings.npy",
        "ids.npy",
        "logits.npy",
        "manifest.json",
    ]
    assert list((tmp_path / "v1" / "tmp").iterdir()) == []


def test_default_cache_dir_follows_the_environment(cache_dir: Path) -> None:
    assert ArrayCache().root == cache_dir


def test_store_keeps_an_existing_entry(tmp_path: Path) -> None:
    cache = ArrayCache(tmp_path)
    cache.store(KEY, _arrays())
    cache.store(KEY, {"logits": np.zeros((2, 2), np.float32)})
    _assert_same(cache.load(KEY), _arrays())


def test_hash_key_ignores_order_and_sees_values() -> None:
    assert hash_key({"a": 1, "b": [1, 2]}) == hash_key({"b": [1, 2], "a": 1})
    assert hash_key({"a": 1}) != hash_key({"a": 2})
    assert len(hash_key({"a": 1})) == 40


def test_leftover_temp_folder_is_ignored_and_cleaned(tmp_path: Path) -> None:
    cache = ArrayCache(tmp_path)
    temp_root = tmp_path / "v1" / "tmp"
    # an interrupted write: a half-written temp folder of this very key
    stale = temp_root / f"{KEY}-999-deadbeef"
    stale.mkdir(parents=True)
    (stale / "logits.npy").write_bytes(b"\x93NUMPY half")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    fresh = temp_root / f"{KEY}-998-cafebabe"  # another process writing right now
    fresh.mkdir()
    assert cache.load(KEY) is None
    assert not cache.contains(KEY)
    cache.store(KEY, _arrays())
    _assert_same(cache.load(KEY), _arrays())
    assert not stale.exists()
    assert fresh.exists()


def test_a_failed_write_leaves_no_entry_and_no_temp(tmp_path: Path) -> None:
    cache = ArrayCache(tmp_path)

    class Unsaveable:
        shape = (1,)

        def __array__(self, *args, **kwargs):
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        cache.store(KEY, {"logits": np.zeros(3), "bad": Unsaveable()})
    assert not cache.contains(KEY)
    assert not cache.entry_path(KEY).exists()
    assert list((tmp_path / "v1" / "tmp").iterdir()) == []


def _corrupt_truncate(entry: Path) -> None:
    path = entry / "logits.npy"
    path.write_bytes(path.read_bytes()[:-7])


def _corrupt_flip(entry: Path) -> None:
    path = entry / "logits.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def _corrupt_manifest_bytes(entry: Path) -> None:
    manifest = json.loads((entry / "manifest.json").read_text())
    manifest["files"]["logits"]["bytes"] += 1
    (entry / "manifest.json").write_text(json.dumps(manifest))


def _corrupt_manifest_json(entry: Path) -> None:
    (entry / "manifest.json").write_text('{"files": {')


def _corrupt_manifest_drop_file(entry: Path) -> None:
    manifest = json.loads((entry / "manifest.json").read_text())
    del manifest["files"]["logits"]
    (entry / "manifest.json").write_text(json.dumps(manifest))


def _corrupt_manifest_empty(entry: Path) -> None:
    (entry / "manifest.json").write_text(json.dumps({"schema": 1, "files": {}}))


def _corrupt_manifest_other_key(entry: Path) -> None:
    manifest = json.loads((entry / "manifest.json").read_text())
    manifest["key"] = "f" * 40
    (entry / "manifest.json").write_text(json.dumps(manifest))


def _corrupt_missing_npy(entry: Path) -> None:
    (entry / "logits.npy").unlink()


CORRUPTIONS = [
    _corrupt_truncate,
    _corrupt_flip,
    _corrupt_manifest_bytes,
    _corrupt_manifest_json,
    _corrupt_manifest_drop_file,
    _corrupt_manifest_empty,
    _corrupt_manifest_other_key,
    _corrupt_missing_npy,
]


@pytest.mark.parametrize("corrupt", CORRUPTIONS, ids=lambda f: f.__name__[9:])
def test_corrupt_entry_is_a_miss_and_removed(tmp_path: Path, corrupt) -> None:
    cache = ArrayCache(tmp_path)
    cache.store(KEY, _arrays())
    corrupt(cache.entry_path(KEY))
    assert cache.load(KEY) is None
    assert not cache.entry_path(KEY).exists()
    assert not cache.contains(KEY)
    assert [p for p in cache.entry_path(KEY).parent.iterdir()] == []  # no trash left either
    cache.store(KEY, _arrays())
    _assert_same(cache.load(KEY), _arrays())


class _CountingInference:
    """Wraps ``run_inference`` and counts calls per split."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        self._real = gengap_dash.engine.inference.run_inference
        monkeypatch.setattr(gengap_dash.engine.inference, "run_inference", self)

    def __call__(self, *args, **kwargs):
        self.calls.append(kwargs.get("where", "?"))
        return self._real(*args, **kwargs)


@pytest.mark.parametrize(
    "corrupt",
    [_corrupt_truncate, _corrupt_manifest_json, _corrupt_manifest_drop_file],
    ids=lambda f: f.__name__[9:],
)
def test_workspace_recomputes_a_corrupt_entry(
    tabular_project: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch, corrupt
) -> None:
    first = Workspace.from_file(tabular_project)
    expected = first.predictions()
    key = first.cache_key("test")
    corrupt(ArrayCache(cache_dir).entry_path(key))
    counter = _CountingInference(monkeypatch)
    again = Workspace.from_file(tabular_project)
    assert again.missing_splits() in ([], ["test"])  # contains() only checks the manifest
    pd.testing.assert_frame_equal(again.predictions(), expected)
    assert counter.calls == ["test"]
    assert ArrayCache(cache_dir).load(key) is not None
    assert len(cache_entries(cache_dir)) == 4


def test_warm_open_runs_no_inference(
    tabular_project: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cold = Workspace.from_file(tabular_project)
    assert cold.missing_splits() == ["train", "val", "test", "noisy"]
    expected = cold.predictions()
    embeddings = cold.embeddings("noisy")

    def refuse(*args, **kwargs):
        raise AssertionError("inference ran on a warm cache")

    monkeypatch.setattr(gengap_dash.engine.inference, "run_inference", refuse)
    monkeypatch.setattr("gengap_dash.engine.model_loading.build_model", refuse)
    warm = Workspace.from_file(tabular_project)
    assert warm.missing_splits() == []
    assert all(warm.is_cached(name) for name in warm.split_names)
    pd.testing.assert_frame_equal(warm.predictions(), expected)
    np.testing.assert_array_equal(warm.embeddings("noisy"), embeddings)
    assert entry_splits(cache_dir) == ["noisy", "test", "train", "val"]


def test_a_copied_project_is_still_warm(
    tabular_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Workspace.from_file(tabular_project).compute()
    moved = tmp_path / "moved"
    shutil.copytree(tabular_project.parent, moved)
    assert Workspace.from_file(moved / "project.yaml").missing_splits() == []


# -- what the key covers -------------------------------------------------------------------------


def _keys(project: Path) -> dict[str, str]:
    workspace = Workspace.from_file(project)
    return {name: workspace.cache_key(name) for name in workspace.split_names}


def _perturb_weights(project: Path) -> None:
    path = project.parent / "weights.pt"
    state = torch.load(path, weights_only=True)
    state["out.bias"] = state["out.bias"] + 0.5
    torch.save(state, path)


def _edit_table(project: Path, name: str = "test") -> None:
    path = project.parent / "data" / f"{name}.parquet"
    frame = pd.read_parquet(path)
    frame.loc[0, "f0"] = frame.loc[0, "f0"] + 1.0
    frame.to_parquet(path, index=False)


@pytest.mark.parametrize(
    ("change", "changed"),
    [
        (_perturb_weights, {"train", "val", "test", "noisy"}),
        (_edit_table, {"test"}),
        (
            lambda p: edit_yaml(p, lambda d: d["inference"].update(precision="bfloat16")),
            {"train", "val", "test", "noisy"},
        ),
        (
            lambda p: edit_yaml(p, lambda d: d["model"]["kwargs"].update(hidden=16)),
            {"train", "val", "test", "noisy"},
        ),
        (
            lambda p: edit_yaml(p, lambda d: d["model"].update(embedding_layer="body")),
            {"train", "val", "test", "noisy"},
        ),
        (
            lambda p: (p.parent / "model.py").write_text(
                (p.parent / "model.py").read_text() + "\n# edited\n"
            ),
            {"train", "val", "test", "noisy"},
        ),
        (
            lambda p: edit_yaml(
                p, lambda d: d["inputs"].update(features=d["inputs"]["features"][::-1])
            ),
            {"train", "val", "test", "noisy"},
        ),
    ],
    ids=["weights", "data", "precision", "kwargs", "embedding_layer", "factory_source", "features"],
)
def test_the_key_changes_with_what_changes_the_outputs(
    tabular_project: Path, change, changed: set[str]
) -> None:
    edit_yaml(tabular_project, lambda d: d.update(inference={"batch_size": 64}))
    before = _keys(tabular_project)
    change(tabular_project)
    after = _keys(tabular_project)
    assert {name for name in before if before[name] != after[name]} == changed


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(name="Another name", description="text"),
        lambda d: d.update(metadata=[]),
        lambda d: d.update(inference={"batch_size": 7, "device": "cpu", "num_workers": 1}),
        lambda d: d.update(classes=["a", "b", "c"]),
        lambda d: d["splits"].update(extra={"path": "data/test.parquet", "role": "deployment"}),
        lambda d: d["splits"]["noisy"].update(path="data/test.parquet"),
        lambda d: d["splits"]["test"].update(role="deployment"),
    ],
    ids=[
        "name",
        "metadata",
        "batch_size_device",
        "class_names",
        "new_split",
        "other_split",
        "role",
    ],
)
def test_the_key_ignores_what_does_not_change_the_outputs(tabular_project: Path, change) -> None:
    before = _keys(tabular_project)
    edit_yaml(tabular_project, change)
    after = _keys(tabular_project)
    for name in ("train", "val", "test"):
        assert after[name] == before[name]


def test_the_key_ignores_unrelated_table_edits(tabular_project: Path) -> None:
    before = _keys(tabular_project)
    _edit_table(tabular_project, "noisy")
    after = _keys(tabular_project)
    assert after["noisy"] != before["noisy"]
    assert {k: after[k] for k in ("train", "val", "test")} == {
        k: before[k] for k in ("train", "val", "test")
    }


def test_fingerprint_memo_sees_new_content(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"one")
    memo = FingerprintMemo(tmp_path / "cache")
    first = memo.file_digest(path)
    assert memo.file_digest(path) == first
    memo.save()
    path.write_bytes(b"two!")
    assert FingerprintMemo(tmp_path / "cache").file_digest(path) != first
    path.write_bytes(b"one")
    assert FingerprintMemo(tmp_path / "cache").file_digest(path) == first


# -- two processes at once -----------------------------------------------------------------------


def _compute_in_a_process(project: str, cache: str, log: str, out: str, barrier) -> None:
    """Run in a spawned process: store raw entries and compute the workspace, all at once."""
    import gengap_dash.engine.inference as inference
    from gengap_dash.store.cache import ArrayCache
    from gengap_dash.workspace import Workspace

    real = inference.run_inference

    def slow_and_logged(*args, **kwargs):
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()} {kwargs.get('where')}\n")
        time.sleep(0.2)  # widen the window in which the other process could interfere
        return real(*args, **kwargs)

    inference.run_inference = slow_and_logged
    raw = ArrayCache(Path(cache) / "raw")
    barrier.wait(timeout=60)
    for index in range(5):  # unlocked stores of the same keys race on the rename
        key = f"{index:02d}" + "c" * 38
        raw.store(key, {"x": np.full((1000, 50), index, dtype=np.float32)})
    workspace = Workspace.from_file(project, cache_dir=cache)
    frame = workspace.predictions()
    frame.to_parquet(out)


def test_two_processes_computing_the_same_entries(
    tabular_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A spawned child re-runs the parent's __main__ file; after a page test in the same worker
    # that is app.py (Streamlit's script runner sets it). The children need only this module.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    cache, log = tmp_path / "shared-cache", tmp_path / "inference.log"
    outs = [tmp_path / f"out{index}.parquet" for index in range(2)]
    processes = [
        context.Process(
            target=_compute_in_a_process,
            args=(str(tabular_project), str(cache), str(log), str(out), barrier),
        )
        for out in outs
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)  # generous: a loaded CI machine spawns slowly
    assert [process.exitcode for process in processes] == [0, 0]
    first, second = (pd.read_parquet(out) for out in outs)
    pd.testing.assert_frame_equal(first, second)
    # the lock serialises the work: each split was computed by exactly one process
    splits = sorted(line.split()[1] for line in log.read_text().splitlines())
    assert splits == ["noisy", "test", "train", "val"]
    assert entry_splits(cache) == ["noisy", "test", "train", "val"]
    assert list((cache / "v1" / "tmp").iterdir()) == []
    raw = ArrayCache(cache / "raw")
    for index in range(5):
        loaded = raw.load(f"{index:02d}" + "c" * 38)
        assert loaded is not None
        np.testing.assert_array_equal(loaded["x"], np.full((1000, 50), index, dtype=np.float32))
    assert list((cache / "raw" / "v1" / "tmp").iterdir()) == []
    fresh = Workspace.from_file(tabular_project, cache_dir=cache)
    assert fresh.missing_splits() == []
    pd.testing.assert_frame_equal(
        fresh.predictions().reset_index(drop=True).astype({"split": str}),
        first.astype({"split": str}),
        check_dtype=False,
    )


def test_fingerprint_memo_is_not_fooled_by_a_restored_mtime(tmp_path: Path) -> None:
    """A file replaced by one of the same size with its old mtime (tar, cp -p) is hashed again."""
    path = tmp_path / "table.csv"
    path.write_text("a,b\n1,2\n")
    stat = path.stat()
    memo = FingerprintMemo(tmp_path / "cache")
    first = memo.file_digest(path)
    memo.save()
    path.write_text("a,b\n3,4\n")  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    assert path.stat().st_mtime_ns == stat.st_mtime_ns
    assert FingerprintMemo(tmp_path / "cache").file_digest(path) != first


def test_a_replaced_table_with_a_restored_mtime_is_recomputed(
    tabular_project: Path, cache_dir: Path
) -> None:
    first = Workspace.from_file(tabular_project)
    before = first.predictions()
    path = tabular_project.parent / "data" / "val.csv"
    stat = path.stat()
    text = path.read_text().splitlines()
    # swap two data rows: same bytes, same size, other labels on those rows
    text[1], text[2] = text[2], text[1]
    path.write_text("\n".join(text) + "\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    after = Workspace.from_file(tabular_project)
    assert after.cache_key("val") != first.cache_key("val")
    rows = after.predictions()
    rows = rows[rows["split"] == "val"].reset_index(drop=True)
    old = before[before["split"] == "val"].reset_index(drop=True)
    assert rows.loc[0, "sample_id"] == old.loc[1, "sample_id"]
    np.testing.assert_allclose(rows.loc[0, "loss"], old.loc[1, "loss"], rtol=1e-6)


# -- the cache verifies what it returns (issue 14, finding 5) ------------------------------------


def _clean_run(project: Path, tmp_path: Path) -> pd.DataFrame:
    """The hub table of a cold run in a cache of its own."""
    return Workspace.from_file(project, cache_dir=tmp_path / "clean-cache").predictions()


def _rewrite_manifest_for(entry: Path, name: str, array: np.ndarray) -> None:
    """Replace ``name.npy`` by ``array`` and make the manifest agree (sizes, checksum, shape)."""
    import hashlib

    path = entry / f"{name}.npy"
    np.save(path, array, allow_pickle=False)
    data = path.read_bytes()
    manifest = json.loads((entry / "manifest.json").read_text())
    manifest["files"][name].update(
        bytes=len(data),
        blake2b=hashlib.blake2b(data, digest_size=20).hexdigest(),
        shape=list(array.shape),
        dtype=str(array.dtype),
    )
    (entry / "manifest.json").write_text(json.dumps(manifest))


def _memo_path(cache_dir: Path) -> Path:
    return cache_dir / "v1" / "fingerprints.json"


@pytest.mark.parametrize("text", ["[]", "{}", "not json", '{"format": 2, "records": []}'])
def test_a_corrupt_fingerprint_memo_is_ignored_and_rebuilt(
    tabular_project: Path, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text
) -> None:
    expected = _clean_run(tabular_project, tmp_path)
    Workspace.from_file(tabular_project).compute()
    _memo_path(cache_dir).write_text(text)
    counter = _CountingInference(monkeypatch)
    again = Workspace.from_file(tabular_project)
    pd.testing.assert_frame_equal(again.predictions(), expected)
    assert counter.calls == []  # the digests are the same: the entries are still warm
    assert len(again.cache_notes) == 1
    assert "fingerprint memo" in again.cache_notes[0]
    assert "ignored" in again.cache_notes[0]
    # rebuilt: the next open trusts it again and says nothing
    assert json.loads(_memo_path(cache_dir).read_text())["format"] == 2
    third = Workspace.from_file(tabular_project)
    third.compute()
    assert third.cache_notes == []


def test_an_edited_memo_value_does_not_show_another_splits_numbers(
    tabular_project: Path, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _clean_run(tabular_project, tmp_path)
    Workspace.from_file(tabular_project).compute()
    memo = json.loads(_memo_path(cache_dir).read_text())
    records = memo["records"]
    test_token = next(t for t in records if "test.parquet" in t)
    noisy_token = next(t for t in records if "noisy.parquet" in t)
    records[test_token] = records[noisy_token]  # the test table now claims noisy's content
    _memo_path(cache_dir).write_text(json.dumps(memo))
    counter = _CountingInference(monkeypatch)
    again = Workspace.from_file(tabular_project)
    assert again.cache_key("test") != again.cache_key("noisy")
    pd.testing.assert_frame_equal(again.predictions(), expected)
    assert counter.calls == []
    assert any("fingerprint memo" in note for note in again.cache_notes)


def test_a_manifest_that_matches_a_shorter_logits_file(
    tabular_project: Path, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _clean_run(tabular_project, tmp_path)
    first = Workspace.from_file(tabular_project)
    first.compute()
    entry = ArrayCache(cache_dir).entry_path(first.cache_key("val"))
    _rewrite_manifest_for(entry, "logits", np.load(entry / "logits.npy")[:-3])
    counter = _CountingInference(monkeypatch)
    again = Workspace.from_file(tabular_project)
    pd.testing.assert_frame_equal(again.predictions(), expected)
    assert counter.calls == ["val"]
    assert again.cache_notes == [
        "The cached model outputs of split 'val' were discarded (it holds 37 rows of logits, "
        "the table has 40) and are computed again."
    ]
    assert again.notes == again.cache_notes  # what `gengap` prints on stderr
    reopened = Workspace.from_file(tabular_project)  # repaired: reported once, not again
    reopened.compute()
    assert reopened.cache_notes == []
    assert counter.calls == ["val"]


def test_an_entry_computed_from_other_data_is_recomputed(
    tabular_project: Path, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _clean_run(tabular_project, tmp_path)
    first = Workspace.from_file(tabular_project)
    first.compute()
    entry = ArrayCache(cache_dir).entry_path(first.cache_key("test"))
    manifest = json.loads((entry / "manifest.json").read_text())
    manifest["info"]["data"] = "0" * 40
    (entry / "manifest.json").write_text(json.dumps(manifest))
    counter = _CountingInference(monkeypatch)
    again = Workspace.from_file(tabular_project)
    pd.testing.assert_frame_equal(again.predictions(), expected)
    assert counter.calls == ["test"]
    assert again.cache_notes == [
        "The cached model outputs of split 'test' were discarded (it was computed from other "
        "data) and are computed again."
    ]


def test_an_entry_with_another_shape_than_its_manifest_is_discarded(tmp_path: Path) -> None:
    cache = ArrayCache(tmp_path)
    cache.store(KEY, _arrays())
    manifest_path = cache.entry_path(KEY) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"]["logits"]["shape"] = [21, 1]
    manifest_path.write_text(json.dumps(manifest))
    assert cache.load(KEY, what="split 'x'") is None
    assert cache.notes == [
        "The cached model outputs of split 'x' were discarded (logits.npy has another shape "
        "than its manifest says) and are computed again."
    ]


def test_the_width_check_runs_whatever_the_cache_holds(
    tabular_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gengap_dash.project.errors import ProjectError

    Workspace.from_file(tabular_project).compute()
    edit_yaml(tabular_project, lambda d: d.update(classes=["a", "b", "c", "d"]))
    counter = _CountingInference(monkeypatch)
    with pytest.raises(
        ProjectError, match=r"The model outputs 3 values per sample, but `classes` lists 4"
    ):
        Workspace.from_file(tabular_project).predictions()
    assert counter.calls == []
    # renaming the classes with the same width needs no recomputation
    edit_yaml(tabular_project, lambda d: d.update(classes=["low", "mid", "high"]))
    renamed = Workspace.from_file(tabular_project)
    renamed.compute()
    assert renamed.class_names == ["low", "mid", "high"]
    assert counter.calls == []
    assert renamed.cache_notes == []


def test_leftovers_are_swept_on_open_not_only_on_writes(tmp_path: Path) -> None:
    ArrayCache(tmp_path).store(KEY, _arrays())
    base = tmp_path / "v1"
    from gengap_dash.store import cache as cache_module

    dead = base / "tmp" / f"{KEY}-{2**22 + 12345}-{cache_module._HOST}-0badf00d"
    dead.mkdir()
    (dead / "logits.npy").write_bytes(b"half")
    alive = base / "tmp" / f"{KEY}-{os.getpid()}-{cache_module._HOST}-00c0ffee"
    alive.mkdir()  # this very process is writing it
    other_host = base / "tmp" / f"{KEY}-{2**22 + 12345}-ffffffff-0badf00d"
    other_host.mkdir()  # another machine's writer, recent: kept
    trash = base / "trash" / "abcdef-12345678"
    trash.mkdir(parents=True)
    (trash / "x.npy").write_bytes(b"x")
    legacy = base / "entries" / KEY[:2] / f".trash-{KEY}-1234abcd"
    legacy.write_bytes(b"an entry that was a file")
    ArrayCache(tmp_path)  # an open, no write
    assert not dead.exists()
    assert alive.exists()
    assert other_host.exists()
    assert list((base / "trash").iterdir()) == []
    assert not legacy.exists()
    _assert_same(ArrayCache(tmp_path).load(KEY), _arrays())


def test_an_entry_replaced_by_a_file_leaves_no_trash(tmp_path: Path) -> None:
    cache = ArrayCache(tmp_path)
    final = cache.entry_path(KEY)
    final.parent.mkdir(parents=True)
    final.write_bytes(b"not a folder")
    cache.store(KEY, _arrays())
    _assert_same(cache.load(KEY), _arrays())
    assert [p.name for p in final.parent.iterdir()] == [KEY]
    assert list((tmp_path / "v1" / "trash").iterdir()) == []


def test_lock_files_are_reused_not_multiplied(tmp_path: Path) -> None:
    cache = ArrayCache(tmp_path)
    keys = [hash_key({"n": n}) for n in range(600)]
    for key in keys:
        with cache.lock(key), cache.lock(key):  # re-entrant: a nested lock does not deadlock
            pass
    locks = list((tmp_path / "v1" / "locks").iterdir())
    assert len(locks) == len({key[:2] for key in keys}) <= 256
    for key in keys:
        with cache.lock(key):
            pass
    assert len(list((tmp_path / "v1" / "locks").iterdir())) == len(locks)


# -- sharded entries (written by the distributed engine, read like any other) -----------------


def _write_shards(cache: ArrayCache, bounds=((0, 3), (3, 5), (5, 7))) -> list[str]:
    names = []
    for start, stop in bounds:
        name = f"rows-{start:04d}-{stop:04d}"
        part = {k: v[start:stop] for k, v in _arrays().items()}
        cache.store_shard(KEY, name, part, start=start, stop=stop, info={"width": 3})
        names.append(name)
    return names


def test_a_sharded_entry_loads_as_the_same_arrays(tmp_path: Path) -> None:
    cache = ArrayCache(tmp_path)
    names = _write_shards(cache)
    assert set(cache.completed_shards(KEY)) == set(names)
    # shards alone are no entry: a reader sees a miss until the manifest is written
    assert not cache.contains(KEY)
    assert cache.load(KEY) is None
    path = cache.finish_sharded(KEY, names, info={"split": "train", "engine": "ray"})
    assert path == cache.entry_path(KEY)
    assert cache.contains(KEY)
    _assert_same(cache.load(KEY), _arrays())
    assert cache.info(KEY) == {"split": "train", "engine": "ray"}
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["format"] == "sharded"
    assert [shard["name"] for shard in manifest["shards"]] == names
    assert manifest["files"]["logits"] == {"shape": [7, 3], "dtype": "float32"}
    assert not cache.partial_path(KEY).exists()
    assert cache.notes == []


def test_a_complete_shard_is_kept_and_a_broken_one_is_written_again(tmp_path: Path) -> None:
    cache = ArrayCache(tmp_path)
    names = _write_shards(cache)
    first = cache.partial_path(KEY) / names[0]
    stamp = (first / "logits.npy").stat().st_mtime_ns
    _write_shards(cache)  # a resumed run: the complete shards stay as they are
    assert (first / "logits.npy").stat().st_mtime_ns == stamp
    # a shard cut short (a worker killed while writing) does not count as done
    broken = cache.partial_path(KEY) / names[1] / "logits.npy"
    broken.write_bytes(broken.read_bytes()[:-4])
    assert set(cache.completed_shards(KEY)) == {names[0], names[2]}
    (cache.partial_path(KEY) / names[2] / "shard.json").unlink()  # died before its marker
    assert set(cache.completed_shards(KEY)) == {names[0]}
    _write_shards(cache)
    assert set(cache.completed_shards(KEY)) == set(names)
    cache.finish_sharded(KEY, names)
    _assert_same(cache.load(KEY), _arrays())


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda entry: _corrupt_flip(entry / "shards" / "rows-0003-0005"),
        lambda entry: shutil.rmtree(entry / "shards" / "rows-0005-0007"),
        lambda entry: (entry / "shards" / "rows-0009-0010").mkdir(),
    ],
    ids=["flipped-byte", "missing-shard", "extra-shard"],
)
def test_a_corrupt_sharded_entry_is_a_miss_and_removed(tmp_path: Path, corrupt) -> None:
    cache = ArrayCache(tmp_path)
    entry = cache.finish_sharded(KEY, _write_shards(cache))
    corrupt(entry)
    assert cache.load(KEY, what="split 'test'") is None
    assert not entry.exists()
    assert len(cache.notes) == 1 and "split 'test'" in cache.notes[0]


def test_finishing_needs_every_shard_in_row_order(tmp_path: Path) -> None:
    cache = ArrayCache(tmp_path)
    names = _write_shards(cache)
    with pytest.raises(ValueError, match="shard 'rows-0005-0007' starts at row 5; expected row 3"):
        cache.finish_sharded(KEY, [names[0], names[2]])
    with pytest.raises(ValueError, match="shard 'rows-0007-0009' is missing or incomplete"):
        cache.finish_sharded(KEY, [*names, "rows-0007-0009"])
    assert not cache.contains(KEY)  # nothing a reader would take as complete
    with pytest.raises(ValueError, match="expected 2 rows"):
        cache.store_shard(KEY, "bad", {"logits": np.zeros((3, 2))}, start=0, stop=2)
    with pytest.raises(ValueError, match="shard name without folders"):
        cache.store_shard(KEY, "../escape", {"logits": np.zeros((2, 2))}, start=0, stop=2)


def test_finishing_keeps_an_entry_another_writer_completed(tmp_path: Path) -> None:
    cache = ArrayCache(tmp_path)
    names = _write_shards(cache)
    cache.store(KEY, {"logits": np.ones((7, 3), np.float32)})
    cache.finish_sharded(KEY, names)
    np.testing.assert_array_equal(cache.load(KEY)["logits"], np.ones((7, 3), np.float32))
    assert not cache.partial_path(KEY).exists()
