"""Analysis results on disk, beside the model outputs, so that a restarted server, a second
viewer and every CLI call reuse them.

An entry is one JSON file (see ``store/codec.py``; no pickle) under
``<cache>/results/<view>/<key>.json``, written to a temporary name and renamed into place. The key
is the content key of the view's inputs plus its options (``views/registry.py``). A file that does
not parse, whose checksum does not match, or that names a class outside ``gengap_dash`` is a
miss: it is removed, recomputed, and reported once in :attr:`ResultCache.notes`.

Arrays and frames of 64 KiB or more are written beside the entry, in one blob file named
``<key>.<blake2b>.blobs`` that is renamed into place before the entry itself. The entry's body
holds the file's name and each blob's size and checksum (so the entry's own checksum covers the
blobs); a reader checks a blob when it reads it, and a missing or altered blob file makes the
entry a miss. Arrays are read straight from the file's bytes: no base64, no megabytes of JSON
to parse. A light read (``load(..., light=True)``) skips the fields a result marks heavy (the
OOD view's per-sample scores) and never reads their blobs.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import re
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gengap_dash.store.codec import NotEncodable, decode, encode

RESULTS_SCHEMA = 1
_SAFE_NAME = re.compile(r"^[a-z0-9_\-]+$")
_STALE_TEMP_SECONDS = 3600
_BLOBS = "__blobs__"


class ResultCache:
    """A folder of cached analysis results, one subfolder per view."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root) / "results" / f"v{RESULTS_SCHEMA}"
        self.notes: list[str] = []

    def path(self, view: str, key: str) -> Path:
        if not (_SAFE_NAME.match(view) and _SAFE_NAME.match(key)):
            raise ValueError(f"Expected a plain view name and hex key, but got {view!r}, {key!r}.")
        return self.root / view / f"{key}.json"

    def load(self, view: str, key: str, *, light: bool = False) -> tuple[bool, Any]:
        """``(True, result)`` on a hit, ``(False, None)`` on a miss (a corrupt entry is removed
        and noted). ``light``: leave out the result's heavy fields (``None``; see
        :data:`gengap_dash.store.codec.HEAVY`), whose blobs are then not read."""
        path = self.path(view, key)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return False, None
        except OSError as error:
            self._note(f"The cached {view} result could not be read ({error.strerror}).")
            return False, None
        try:
            document, body_text = _parse(text)
            body = document["body"]
            if document.get("schema") != RESULTS_SCHEMA or document.get("key") != key:
                raise ValueError("it describes another entry")
            if body_text is None:  # written before the body was stored in canonical form
                body_text = json.dumps(body, sort_keys=True)
            if document.get("digest") != _digest(body_text):
                raise ValueError("its checksum does not match")
            if isinstance(body, dict) and _BLOBS in body:
                blobs = _BlobFile(path, key, body[_BLOBS])
                return True, decode(body["value"], blobs, light=light)
            return True, decode(body, light=light)
        except OSError as error:  # a blob file that exists but cannot be read
            self._note(f"The cached {view} result could not be read ({error.strerror}).")
            return False, None
        except (ValueError, KeyError, TypeError, AttributeError, ImportError) as error:
            for discarded in [path, *path.parent.glob(f"{key}.*.blobs")]:
                with contextlib.suppress(OSError):
                    discarded.unlink()
            self._note(
                f"A corrupt cached {view} result was discarded and recomputed ({str(error)[:80]})."
            )
            return False, None

    def store(self, view: str, key: str, result: Any) -> bool:
        """Write ``result`` atomically; ``False`` (nothing written) when it cannot be encoded."""
        blobs: list[bytes] = []
        try:
            body = encode(result, blobs)
        except NotEncodable:
            return False
        path = self.path(view, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._sweep(path.parent)
        if blobs:
            body = {_BLOBS: _write_blobs(path, key, blobs), "value": body}
        document = {
            "schema": RESULTS_SCHEMA,
            "view": view,
            "key": key,
            "created": time.time(),
            "digest": _digest(json.dumps(body, sort_keys=True)),
            "body": body,
        }
        temp = path.with_name(f".{path.stem}.{uuid.uuid4().hex}.tmp")
        try:
            # keys sorted: the body's canonical text (what the digest covers) is the file's
            # first member, so a reader checks it without serialising the body again
            temp.write_text(json.dumps(document, sort_keys=True), encoding="utf-8")
            os.replace(temp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        kept = body[_BLOBS]["file"] if blobs else None
        for older in path.parent.glob(f"{key}.*.blobs"):
            if older.name != kept:
                with contextlib.suppress(OSError):
                    older.unlink()
        return True

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    @staticmethod
    def _sweep(folder: Path) -> None:
        """Remove temporary files an interrupted writer left behind (older than an hour)."""
        now = time.time()
        for temp in folder.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                if now - temp.stat().st_mtime > _STALE_TEMP_SECONDS:
                    temp.unlink()


def _write_blobs(path: Path, key: str, blobs: list[bytes]) -> dict[str, Any]:
    """Write ``blobs`` into one file beside ``path`` (atomically) and describe it: the file's
    name, and each blob's size and checksum (a blob is checked when it is read)."""
    digests = [hashlib.blake2b(blob, digest_size=16).hexdigest() for blob in blobs]
    sizes = [len(blob) for blob in blobs]
    digest = hashlib.blake2b(json.dumps([sizes, digests]).encode(), digest_size=16).hexdigest()
    target = path.with_name(f"{key}.{digest}.blobs")
    if not (target.is_file() and target.stat().st_size == sum(sizes)):
        temp = path.with_name(f".{key}.{uuid.uuid4().hex}.tmp")
        try:
            with temp.open("wb") as file:
                for blob in blobs:
                    file.write(blob)
            os.replace(temp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
    return {"file": target.name, "sizes": sizes, "blake2b": digests}


class _BlobFile(Sequence[memoryview]):
    """The blobs of one entry, each read from the file and checked when first asked for (a
    light read never reads the blobs of the fields it skips). ``ValueError`` when the file is
    missing, of another size, or a blob's checksum does not match."""

    def __init__(self, path: Path, key: str, described: dict[str, Any]) -> None:
        name, sizes, digests = described["file"], described["sizes"], described["blake2b"]
        if not (isinstance(name, str) and re.fullmatch(rf"{key}\.[0-9a-f]{{32}}\.blobs", name)):
            raise ValueError("its blob file name is not its own")
        if not (
            isinstance(sizes, list)
            and isinstance(digests, list)
            and len(sizes) == len(digests)
            and all(isinstance(size, int) and size >= 0 for size in sizes)
        ):
            raise ValueError("its blob sizes are not sizes")
        self.path = path.with_name(name)
        self.sizes, self.digests = sizes, digests
        self.offsets = [0, *itertools.accumulate(sizes)]
        try:
            if self.path.stat().st_size != self.offsets[-1]:
                raise ValueError("its blob file has another size")
        except FileNotFoundError as error:
            raise ValueError("its blob file is missing") from error
        self._read: dict[int, memoryview] = {}

    def __len__(self) -> int:
        return len(self.sizes)

    def __getitem__(self, index):  # type: ignore[override]
        if not isinstance(index, int):
            raise TypeError("blobs are read one at a time")
        if index not in self._read:
            data = bytearray(self.sizes[index])
            try:
                with self.path.open("rb") as file:
                    file.seek(self.offsets[index])
                    if file.readinto(data) != len(data):
                        raise ValueError("its blob file ended early")
            except FileNotFoundError as error:
                raise ValueError("its blob file is missing") from error
            if hashlib.blake2b(data, digest_size=16).hexdigest() != self.digests[index]:
                raise ValueError("its blob file's checksum does not match")
            self._read[index] = memoryview(data)
        return self._read[index]


_HEAD = '{"body": '
_TAIL = re.compile(
    r', "created": [0-9.eE+-]+, "digest": "[0-9a-f]*", "key": "[a-z0-9_-]*", '
    r'"schema": [0-9]+, "view": "[a-z0-9_-]*"\}$'
)


def _parse(text: str) -> tuple[dict[str, Any], str | None]:
    """The entry's document and the text of its body as written (``None`` for an entry in the
    older, unsorted layout). The body is parsed from exactly the text the digest is checked
    against; the fields after it must have their fixed form."""
    tail = _TAIL.search(text) if text.startswith(_HEAD) else None
    if tail is None:
        return json.loads(text), None
    body_text = text[len(_HEAD) : tail.start()]
    document = json.loads("{" + text[tail.start() + 2 :])
    document["body"] = json.loads(body_text)
    return document, body_text


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
