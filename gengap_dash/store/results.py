"""Analysis results on disk, beside the model outputs, so that a restarted server, a second
viewer and every CLI call reuse them.

An entry is one JSON file (see ``store/codec.py``; no pickle) under
``<cache>/results/<view>/<key>.json``, written to a temporary name and renamed into place. The key
is the content key of the view's inputs plus its options (``views/registry.py``). A file that does
not parse, whose checksum does not match, or that names a class outside ``gengap_dash`` is a
miss: it is removed, recomputed, and reported once in :attr:`ResultCache.notes`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

from gengap_dash.store.codec import NotEncodable, decode, encode

RESULTS_SCHEMA = 1
_SAFE_NAME = re.compile(r"^[a-z0-9_\-]+$")
_STALE_TEMP_SECONDS = 3600


class ResultCache:
    """A folder of cached analysis results, one subfolder per view."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root) / "results" / f"v{RESULTS_SCHEMA}"
        self.notes: list[str] = []

    def path(self, view: str, key: str) -> Path:
        if not (_SAFE_NAME.match(view) and _SAFE_NAME.match(key)):
            raise ValueError(f"Expected a plain view name and hex key, but got {view!r}, {key!r}.")
        return self.root / view / f"{key}.json"

    def load(self, view: str, key: str) -> tuple[bool, Any]:
        """``(True, result)`` on a hit, ``(False, None)`` on a miss (a corrupt entry is removed
        and noted)."""
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
            return True, decode(body)
        except (ValueError, KeyError, TypeError, AttributeError, ImportError) as error:
            with contextlib.suppress(OSError):
                path.unlink()
            self._note(
                f"A corrupt cached {view} result was discarded and recomputed ({str(error)[:80]})."
            )
            return False, None

    def store(self, view: str, key: str, result: Any) -> bool:
        """Write ``result`` atomically; ``False`` (nothing written) when it cannot be encoded."""
        try:
            body = encode(result)
        except NotEncodable:
            return False
        document = {
            "schema": RESULTS_SCHEMA,
            "view": view,
            "key": key,
            "created": time.time(),
            "digest": _digest(json.dumps(body, sort_keys=True)),
            "body": body,
        }
        path = self.path(view, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._sweep(path.parent)
        temp = path.with_name(f".{path.stem}.{uuid.uuid4().hex}.tmp")
        try:
            # keys sorted: the body's canonical text (what the digest covers) is the file's
            # first member, so a reader checks it without serialising the body again
            temp.write_text(json.dumps(document, sort_keys=True), encoding="utf-8")
            os.replace(temp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
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
