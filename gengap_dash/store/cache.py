"""The on-disk, content-addressed cache.

An entry is a folder of ``.npy`` arrays plus ``manifest.json`` (sizes, checksums, shapes, dtypes
and an ``info`` mapping: what the entry was computed from). It is written into a temporary folder
and renamed into place in one step, so a reader sees a whole entry or none. A manifest that does
not match its files (truncated, edited, corrupt, another shape) makes the entry a miss; it is
moved to the trash, removed, and said once in :attr:`ArrayCache.notes`. Temporary folders of
runs that died and trash are swept whenever a cache is opened. Two processes computing the same
entry serialise on a file lock (one of 256 lock files, reused); if locking is unavailable, the
first rename wins and the second result is dropped.

A **sharded** entry (what the distributed engine writes, see ``docs/distributed.md``) holds
the same arrays cut into row ranges: ``shards/<name>/<array>.npy``, each shard with its own
``shard.json`` (row range, sizes, checksums), and one ``manifest.json`` that lists every shard.
Shards are written one at a time, each atomically, under ``partial/<key>/`` (where a run that
was interrupted finds the shards already done); when every shard is there the manifest is
written last and the folder is renamed into place, so a reader never takes a partial entry for
a complete one. :meth:`ArrayCache.load` assembles a sharded entry into the same arrays as a
single one, so readers need not know how an entry was written.

Content keys (:func:`hash_key`, the fingerprint memo) live in :mod:`gengap_dash.store.keys`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gengap_dash.store.keys import SCHEMA_VERSION, FingerprintMemo, hash_key

__all__ = [
    "SCHEMA_VERSION",
    "ArrayCache",
    "FingerprintMemo",
    "default_cache_dir",
    "hash_key",
]

_STALE_TEMP_SECONDS = 3600
_HOST = hashlib.blake2b(socket.gethostname().encode(), digest_size=4).hexdigest()
_LOCK_STRIPES = 256
_held = threading.local()
_swept_legacy: set[str] = set()
SHARD_MANIFEST = "shard.json"
"""The name of the file that marks a shard as complete (written last, atomically)."""


def default_cache_dir() -> Path:
    """``$GENGAP_CACHE_DIR``, else ``~/.cache/gengap``."""
    configured = os.environ.get("GENGAP_CACHE_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "gengap"


class ArrayCache:
    """A folder of cache entries, each a named set of numpy arrays.

    Opening one sweeps what earlier runs left behind (temporary folders of dead writers, trash).

    Attributes:
        root: the cache folder.
        notes: one line per entry this object discarded (corrupt or not matching its data),
            for the CLI (stderr) and the page (a caption).
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.notes: list[str] = []
        self.sweep()

    @property
    def base(self) -> Path:
        return self.root / f"v{SCHEMA_VERSION}"

    @property
    def entries(self) -> Path:
        return self.base / "entries"

    def entry_path(self, key: str) -> Path:
        return self.entries / key[:2] / key

    def contains(self, key: str) -> bool:
        """Whether a complete entry exists (checks the manifest, not the checksums)."""
        return (self.entry_path(key) / "manifest.json").is_file()

    def load(self, key: str, *, what: str = "") -> dict[str, np.ndarray] | None:
        """The arrays of an entry, or None on a miss.

        A corrupt entry (files that do not match the manifest's sizes, checksums, shapes or
        dtypes) is discarded and noted in :attr:`notes`; ``what`` names it there (e.g.
        ``"split 'test'"``).
        """
        folder = self.entry_path(key)
        manifest_path = folder / "manifest.json"
        if not manifest_path.is_file():
            return None
        try:
            manifest = json.loads(manifest_path.read_text())
            files = manifest["files"]
            if manifest.get("schema") != SCHEMA_VERSION or manifest.get("key") != key:
                raise ValueError("its manifest belongs to another entry")
            if manifest.get("format") == "sharded":
                return _load_sharded(folder, manifest)
            on_disk = {path.stem for path in folder.glob("*.npy")}
            if not files or set(files) != on_disk:  # an edited manifest lists other files
                raise ValueError("its manifest does not list its files")
            arrays = {}
            for name, info in files.items():
                path = folder / f"{name}.npy"
                data = path.read_bytes()
                if len(data) != info["bytes"] or _digest(data) != info["blake2b"]:
                    raise ValueError(f"{path.name} does not match its manifest")
                array = np.load(path, allow_pickle=False, mmap_mode=None)
                if list(array.shape) != list(info["shape"]) or str(array.dtype) != info["dtype"]:
                    raise ValueError(f"{path.name} has another shape than its manifest says")
                arrays[name] = array
            return arrays
        except (OSError, ValueError, KeyError, TypeError) as error:
            self.discard(key, reason=str(error) or type(error).__name__, what=what)
            return None

    def info(self, key: str) -> dict[str, Any]:
        """The ``info`` mapping stored with an entry (empty on a miss)."""
        try:
            info = json.loads((self.entry_path(key) / "manifest.json").read_text()).get("info", {})
        except (OSError, ValueError, AttributeError):
            return {}
        return info if isinstance(info, dict) else {}

    def store(
        self, key: str, arrays: Mapping[str, np.ndarray], *, info: Mapping[str, Any] | None = None
    ) -> Path:
        """Write an entry atomically; a complete entry already there is kept as it is."""
        final = self.entry_path(key)
        if self.contains(key):
            return final
        temp_root = self.base / "tmp"
        temp_root.mkdir(parents=True, exist_ok=True)
        self.sweep()
        temp = temp_root / f"{key}-{os.getpid()}-{_HOST}-{uuid.uuid4().hex[:8]}"
        temp.mkdir()
        try:
            files = {}
            for name, array in arrays.items():
                path = temp / f"{name}.npy"
                with path.open("wb") as handle:
                    np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
                    handle.flush()
                    os.fsync(handle.fileno())
                data = path.read_bytes()
                files[name] = {
                    "bytes": len(data),
                    "blake2b": _digest(data),
                    "shape": list(array.shape),
                    "dtype": str(array.dtype),
                }
            manifest = {"schema": SCHEMA_VERSION, "key": key, "files": files, "info": info or {}}
            _write_json(temp / "manifest.json", manifest)
            self._publish(temp, key)
        finally:
            if temp.exists():
                shutil.rmtree(temp, ignore_errors=True)
        return final

    # -- sharded entries (written by the distributed engine) ---------------------------------

    def partial_path(self, key: str) -> Path:
        """Where the shards of an entry that is still being written wait (``partial/<key>``)."""
        return self.base / "partial" / key

    def completed_shards(self, key: str) -> dict[str, dict[str, Any]]:
        """The shards of ``key`` already written (name -> its ``shard.json``), for resuming.

        A shard counts only when its ``shard.json`` is readable and its files have the sizes it
        records (checksums are checked when the entry is read); anything else is ignored and
        written again.
        """
        folder = self.partial_path(key)
        done: dict[str, dict[str, Any]] = {}
        for shard in _listing(folder):
            record = _shard_record(shard)
            if record is not None and record.get("key") == key:
                done[shard.name] = record
        return done

    def store_shard(
        self,
        key: str,
        name: str,
        arrays: Mapping[str, np.ndarray],
        *,
        start: int,
        stop: int,
        info: Mapping[str, Any] | None = None,
    ) -> Path:
        """Write one shard (rows ``start:stop`` of every array) of a sharded entry, atomically.

        Safe to call from many processes and machines that share the cache folder: each shard
        is written into a temporary folder and renamed into ``partial/<key>/<name>``; a complete
        shard already there is kept.

        Raises:
            ValueError: ``name`` is not a plain folder name, or an array does not have
                ``stop - start`` rows.
        """
        if not name or name != Path(name).name or name.startswith("."):
            raise ValueError(f"Expected a shard name without folders, but got {name!r}.")
        for array_name, array in arrays.items():
            if array.ndim < 1 or array.shape[0] != stop - start:
                raise ValueError(
                    f"Shard {name!r}: array {array_name!r} has shape {array.shape}; expected "
                    f"{stop - start} rows (rows {start}:{stop})."
                )
        final = self.partial_path(key) / name
        if _shard_record(final) is not None:
            return final
        temp_root = self.base / "tmp"
        temp_root.mkdir(parents=True, exist_ok=True)
        temp = temp_root / f"{key}-{os.getpid()}-{_HOST}-{uuid.uuid4().hex[:8]}"
        temp.mkdir()
        try:
            files = {array_name: _write_array(temp, array_name, array) for array_name, array in
                     arrays.items()}  # fmt: skip
            record = {
                "schema": SCHEMA_VERSION,
                "key": key,
                "start": int(start),
                "stop": int(stop),
                "files": files,
                "info": dict(info or {}),
            }
            _write_json(temp / SHARD_MANIFEST, record)
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(temp, final)
            except OSError:
                if _shard_record(final) is None:  # a broken leftover: replace it
                    _remove(final)
                    os.rename(temp, final)
        finally:
            if temp.exists():
                shutil.rmtree(temp, ignore_errors=True)
        return final

    def finish_sharded(
        self, key: str, names: Sequence[str], *, info: Mapping[str, Any] | None = None
    ) -> Path:
        """Make the shards ``names`` (in row order) of ``key`` a complete entry.

        The manifest is written last and the folder renamed into place in one step; until then
        readers see no entry. A complete entry already there (another writer finished first) is
        kept and the shards are removed.

        Raises:
            ValueError: a shard is missing, the shards' row ranges do not follow each other from
                row 0, or they hold different arrays.
        """
        final = self.entry_path(key)
        folder = self.partial_path(key)
        if self.contains(key):
            _remove(folder)
            return final
        if not names:
            raise ValueError(f"Entry {key[:12]}: expected at least one shard, but got none.")
        records = []
        expected_start = 0
        for name in names:
            record = _shard_record(folder / name)
            if record is None:
                raise ValueError(f"Entry {key[:12]}: shard {name!r} is missing or incomplete.")
            if record["start"] != expected_start:
                raise ValueError(
                    f"Entry {key[:12]}: shard {name!r} starts at row {record['start']}; "
                    f"expected row {expected_start}."
                )
            expected_start = record["stop"]
            records.append({"name": name, **{k: record[k] for k in ("start", "stop", "files")}})
        kinds = {tuple(sorted(record["files"])) for record in records}
        if len(kinds) != 1:
            raise ValueError(f"Entry {key[:12]}: its shards hold different arrays ({kinds}).")
        files = {}
        for array_name, first in records[0]["files"].items():
            rows = sum(record["files"][array_name]["shape"][0] for record in records)
            files[array_name] = {"shape": [rows, *first["shape"][1:]], "dtype": first["dtype"]}
        manifest = {
            "schema": SCHEMA_VERSION,
            "key": key,
            "format": "sharded",
            "files": files,
            "shards": records,
            "info": dict(info or {}),
        }
        # the shards move under shards/, then the manifest: still invisible to readers, because
        # the folder is not where readers look until the rename below
        shards = folder / "shards"
        shards.mkdir(exist_ok=True)
        for name in names:
            if (folder / name).is_dir():
                os.rename(folder / name, shards / name)
        for leftover in _listing(folder):  # shards of another plan, never listed
            if leftover.name != "shards":
                _remove(leftover)
        _write_json(folder / "manifest.json", manifest)
        if not self._publish(folder, key):
            _remove(folder)
        return final

    def _publish(self, folder: Path, key: str) -> bool:
        """Rename a complete entry's folder into place in one step. ``False`` when a complete
        entry of the same key got there first (it is kept; the caller drops ``folder``); a
        broken leftover there is moved to the trash and replaced."""
        final = self.entry_path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(folder, final)
        except OSError:
            if self.contains(key):
                return False
            self._to_trash(final)
            os.rename(folder, final)
        return True

    def discard(self, key: str, *, reason: str, what: str = "") -> None:
        """Remove an entry that must not be used, and say so once in :attr:`notes`."""
        folder = self.entry_path(key)
        if not (folder.exists() or folder.is_symlink()):
            return
        self._to_trash(folder)
        subject = f"The cached model outputs of {what}" if what else f"Cache entry {key[:12]}"
        self.notes.append(f"{subject} were discarded ({reason}) and are computed again.")

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """An exclusive inter-process lock for computing ``key`` (a no-op where unsupported).

        Keys share 256 lock files by their first two hex digits, so lock files are reused, not
        multiplied. The lock is re-entrant within a thread (nested computations do not deadlock).
        """
        stripe = key[:2] if len(key) >= 2 else "00"
        held: set[tuple[str, str]] = getattr(_held, "stripes", None) or set()
        _held.stripes = held
        token = (str(self.root), stripe)
        if token in held:
            yield
            return
        locks = self.base / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            yield
            return
        with (locks / f"{stripe}.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            held.add(token)
            try:
                yield
            finally:
                held.discard(token)
                fcntl.flock(handle, fcntl.LOCK_UN)

    def sweep(self) -> None:
        """Remove temporary folders of writers that died (or are older than an hour) and trash."""
        temp_root = self.base / "tmp"
        now = time.time()
        if temp_root.is_dir():
            for leftover in _listing(temp_root):
                with contextlib.suppress(OSError):
                    if _dead_writer(leftover.name) or (
                        now - leftover.lstat().st_mtime > _STALE_TEMP_SECONDS
                    ):
                        _remove(leftover)
        trash = self.base / "trash"
        if trash.is_dir():
            for leftover in _listing(trash):
                _remove(leftover)
        # trash of older versions, beside the entries: listing every shard costs more, so once
        # per process and cache
        if str(self.root) not in _swept_legacy and self.entries.is_dir():
            _swept_legacy.add(str(self.root))
            for leftover in self.entries.glob("*/.trash-*"):
                _remove(leftover)

    def _to_trash(self, path: Path) -> None:
        trash = self.base / "trash"
        with contextlib.suppress(OSError):
            trash.mkdir(parents=True, exist_ok=True)
            target = trash / f"{path.name}-{uuid.uuid4().hex[:8]}"
            os.rename(path, target)
            _remove(target)
            return
        _remove(path)  # the rename failed: remove it in place


def _write_array(folder: Path, name: str, array: np.ndarray) -> dict[str, Any]:
    """Write ``<folder>/<name>.npy`` (fsynced) and return its manifest record."""
    path = folder / f"{name}.npy"
    with path.open("wb") as handle:
        np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())
    data = path.read_bytes()
    return {
        "bytes": len(data),
        "blake2b": _digest(data),
        "shape": list(array.shape),
        "dtype": str(array.dtype),
    }


def _write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Write JSON to a temporary name, fsync it, and rename it into place."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}")
    with temp.open("w") as handle:
        json.dump(payload, handle, indent=1, default=str)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


def _shard_record(folder: Path) -> dict[str, Any] | None:
    """A shard's ``shard.json`` when it is whole and its files have the recorded sizes."""
    try:
        record = json.loads((folder / SHARD_MANIFEST).read_text())
        if record.get("schema") != SCHEMA_VERSION:
            return None
        start, stop, files = int(record["start"]), int(record["stop"]), record["files"]
        if stop < start or not files:
            return None
        for name, entry in files.items():
            if (folder / f"{name}.npy").stat().st_size != entry["bytes"]:
                return None
            if entry["shape"][0] != stop - start:
                return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError):
        return None
    return record


def _load_sharded(folder: Path, manifest: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The arrays of a sharded entry, each shard checked against the manifest, joined by rows.

    Raises:
        ValueError: a shard is missing, extra, corrupt, or out of row order.
    """
    files, shards = manifest["files"], manifest["shards"]
    if not files or not shards:
        raise ValueError("its manifest lists no shards")
    on_disk = {path.name for path in _listing(folder / "shards")}
    if on_disk != {shard["name"] for shard in shards}:
        raise ValueError("its manifest does not list its shards")
    arrays = {
        name: np.empty(tuple(info["shape"]), dtype=np.dtype(info["dtype"]))
        for name, info in files.items()
    }
    row = 0
    for shard in shards:
        start, stop = int(shard["start"]), int(shard["stop"])
        if start != row or stop < start:
            raise ValueError(f"shard {shard['name']} is out of row order")
        if set(shard["files"]) != set(files):
            raise ValueError(f"shard {shard['name']} holds other arrays than the manifest")
        for name, info in shard["files"].items():
            path = folder / "shards" / shard["name"] / f"{name}.npy"
            data = path.read_bytes()
            if len(data) != info["bytes"] or _digest(data) != info["blake2b"]:
                raise ValueError(f"shard {shard['name']}/{path.name} does not match its manifest")
            array = np.load(io.BytesIO(data), allow_pickle=False)
            target = arrays[name]
            if (
                array.shape[0] != stop - start
                or array.shape[1:] != target.shape[1:]
                or array.dtype != target.dtype
            ):
                raise ValueError(f"shard {shard['name']}/{path.name} has another shape")
            target[start:stop] = array
        row = stop
    for name, target in arrays.items():
        if target.shape[0] != row:
            raise ValueError(f"its shards hold {row} rows of {name}, the manifest says more")
    return arrays


def _listing(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:
        return []


def _remove(path: Path) -> None:
    """Remove a file, link or folder; whatever cannot be removed now is left for a later sweep."""
    with contextlib.suppress(OSError):
        if path.is_symlink() or not path.is_dir():
            path.unlink()
        else:
            shutil.rmtree(path, ignore_errors=True)


def _dead_writer(name: str) -> bool:
    """Whether a temporary folder ``<key>-<pid>-<host>-<nonce>`` belongs to a dead process here."""
    parts = name.split("-")
    if len(parts) != 4 or parts[2] != _HOST or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists but belongs to someone else
        return False
    return False


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=20).hexdigest()
