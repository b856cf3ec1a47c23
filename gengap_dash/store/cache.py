"""The on-disk, content-addressed cache.

An entry is a folder of ``.npy`` arrays plus ``manifest.json`` (sizes, checksums, shapes, dtypes
and an ``info`` mapping: what the entry was computed from). It is written into a temporary folder
and renamed into place in one step, so a reader sees a whole entry or none. A manifest that does
not match its files (truncated, edited, corrupt, another shape) makes the entry a miss; it is
moved to the trash, removed, and said once in :attr:`ArrayCache.notes`. Temporary folders of
runs that died and trash are swept whenever a cache is opened. Two processes computing the same
entry serialise on a file lock (one of 256 lock files, reused); if locking is unavailable, the
first rename wins and the second result is dropped.

Content keys (:func:`hash_key`, the fingerprint memo) live in :mod:`gengap_dash.store.keys`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
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
            with (temp / "manifest.json").open("w") as handle:
                json.dump(manifest, handle, indent=1, default=str)
                handle.flush()
                os.fsync(handle.fileno())
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(temp, final)
            except OSError:
                if not self.contains(key):  # a broken leftover (a folder or a file): replace it
                    self._to_trash(final)
                    os.rename(temp, final)
        finally:
            if temp.exists():
                shutil.rmtree(temp, ignore_errors=True)
        return final

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
