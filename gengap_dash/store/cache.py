"""The on-disk, content-addressed cache.

An entry is a folder of ``.npy`` arrays plus ``manifest.json`` (sizes, checksums, shapes). It is
written into a temporary folder and renamed into place in one step, so a reader sees a whole
entry or none; an interrupted write leaves only a temporary folder that is cleaned up later. A
manifest that does not match its files (truncated, edited, corrupt) makes the entry a miss; it is
removed and recomputed. Two processes computing the same entry serialise on a file lock, and if
locking is unavailable, the first rename wins and the second result is dropped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA_VERSION = 1
_STALE_TEMP_SECONDS = 3600


def default_cache_dir() -> Path:
    """``$GENGAP_CACHE_DIR``, else ``~/.cache/gengap``."""
    configured = os.environ.get("GENGAP_CACHE_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "gengap"


def hash_key(parts: Mapping[str, Any]) -> str:
    """A stable hex key for JSON-serialisable ``parts`` (order of keys does not matter)."""
    payload = json.dumps({"schema": SCHEMA_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.blake2b(payload.encode(), digest_size=20).hexdigest()


class ArrayCache:
    """A folder of cache entries, each a named set of numpy arrays."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    @property
    def entries(self) -> Path:
        return self.root / f"v{SCHEMA_VERSION}" / "entries"

    def entry_path(self, key: str) -> Path:
        return self.entries / key[:2] / key

    def contains(self, key: str) -> bool:
        """Whether a complete entry exists (checks the manifest, not the checksums)."""
        return (self.entry_path(key) / "manifest.json").is_file()

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays of an entry, or None on a miss (a corrupt entry is removed)."""
        folder = self.entry_path(key)
        manifest_path = folder / "manifest.json"
        if not manifest_path.is_file():
            return None
        try:
            manifest = json.loads(manifest_path.read_text())
            files = manifest["files"]
            if manifest.get("schema") != SCHEMA_VERSION or manifest.get("key") != key:
                raise ValueError("the manifest belongs to another entry")
            on_disk = {path.stem for path in folder.glob("*.npy")}
            if not files or set(files) != on_disk:  # an edited manifest lists other files
                raise ValueError("the manifest does not list the entry's files")
            arrays = {}
            for name, info in files.items():
                path = folder / f"{name}.npy"
                data = path.read_bytes()
                if len(data) != info["bytes"] or _digest(data) != info["blake2b"]:
                    raise ValueError(f"{path.name} does not match its manifest")
                arrays[name] = np.load(path, allow_pickle=False, mmap_mode=None)
            return arrays
        except (OSError, ValueError, KeyError, TypeError):
            self._discard(folder)
            return None

    def info(self, key: str) -> dict[str, Any]:
        """The ``info`` mapping stored with an entry (empty on a miss)."""
        try:
            return json.loads((self.entry_path(key) / "manifest.json").read_text()).get("info", {})
        except (OSError, ValueError):
            return {}

    def store(
        self, key: str, arrays: Mapping[str, np.ndarray], *, info: Mapping[str, Any] | None = None
    ) -> Path:
        """Write an entry atomically; a complete entry already there is kept as it is."""
        final = self.entry_path(key)
        if self.contains(key):
            return final
        temp_root = self.root / f"v{SCHEMA_VERSION}" / "tmp"
        temp_root.mkdir(parents=True, exist_ok=True)
        self._clean_stale(temp_root)
        temp = temp_root / f"{key}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
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
            with (temp / "manifest.json").open("w") as handle:
                json.dump(manifest, handle, indent=1, default=str)
                handle.flush()
                os.fsync(handle.fileno())
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(temp, final)
            except OSError:
                if not self.contains(key):  # a broken leftover: replace it
                    self._discard(final)
                    os.rename(temp, final)
        finally:
            if temp.exists():
                shutil.rmtree(temp, ignore_errors=True)
        return final

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """An exclusive inter-process lock for computing ``key`` (a no-op where unsupported)."""
        locks = self.root / f"v{SCHEMA_VERSION}" / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            yield
            return
        with (locks / f"{key}.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _discard(self, folder: Path) -> None:
        if not folder.exists():
            return
        trash = folder.with_name(f".trash-{folder.name}-{uuid.uuid4().hex[:8]}")
        with contextlib.suppress(OSError):
            os.rename(folder, trash)
            shutil.rmtree(trash, ignore_errors=True)

    def _clean_stale(self, temp_root: Path) -> None:
        now = time.time()
        for leftover in temp_root.iterdir():
            with contextlib.suppress(OSError):
                if now - leftover.stat().st_mtime > _STALE_TEMP_SECONDS:
                    shutil.rmtree(leftover, ignore_errors=True)


class FingerprintMemo:
    """Content hashes of files, remembered by path, size, mtime, ctime and inode.

    Warm opens then skip rehashing files that have not changed.
    """

    def __init__(self, root: Path) -> None:
        self.path = root / f"v{SCHEMA_VERSION}" / "fingerprints.json"
        try:
            self._memo: dict[str, str] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self._memo = {}
        self._dirty = False

    def file_digest(self, path: Path) -> str:
        """The blake2b digest of a file's content."""
        stat = path.stat()
        # ctime and inode too: tools that restore mtimes (tar, cp -p, rsync -t) can still not
        # fake those, so a file replaced by one of the same size and mtime is hashed again
        token = (
            f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ctime_ns}|{stat.st_ino}"
        )
        cached = self._memo.get(token)
        if cached is not None:
            return cached
        digest = hashlib.blake2b(digest_size=20)
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        self._memo[token] = digest.hexdigest()
        self._dirty = True
        return self._memo[token]

    def save(self) -> None:
        """Persist the memo atomically (best effort: it is only an optimisation)."""
        if not self._dirty:
            return
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}")
            temp.write_text(json.dumps(self._memo))
            os.replace(temp, self.path)
            self._dirty = False


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=20).hexdigest()
