"""Content keys: what a split's model outputs depend on, hashed so that any worker agrees.

A key is computed from the project spec and the files it names (weights, factory source, the
split's table, the images a path column names), never from anything a process remembers, so a
remote worker that has the same project and files computes the same key and writes an entry the
dashboard reads. File contents are hashed once and remembered in a :class:`FingerprintMemo`
(by path, size, mtime, ctime and inode); the memo carries a checksum of its own records and is
ignored and rebuilt when that does not hold (a truncated, edited or foreign memo is never trusted).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gengap_dash.project.errors import ProjectError
from gengap_dash.project.spec import ProjectSpec

SCHEMA_VERSION = 1
_MEMO_FORMAT = 2


def hash_key(parts: Mapping[str, Any]) -> str:
    """A stable 40-hex-digit key for JSON-serialisable ``parts`` (key order does not matter)."""
    payload = json.dumps({"schema": SCHEMA_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.blake2b(payload.encode(), digest_size=20).hexdigest()


def hash_file(path: Path) -> str:
    """The 40-hex-digit blake2b digest of a file's content (read in 1 MiB chunks)."""
    digest = hashlib.blake2b(digest_size=20)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class FingerprintMemo:
    """Content hashes of files, remembered by path, size, mtime, ctime and inode.

    Warm opens then skip rehashing files that have not changed. The file on disk holds the
    records and a checksum of them; anything else (``[]``, an edited digest, another format) is
    ignored, said in :attr:`note`, and rebuilt by hashing again.
    """

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / f"v{SCHEMA_VERSION}" / "fingerprints.json"
        self.note = ""
        self._memo: dict[str, str] = {}
        self._dirty = False
        try:
            text = self.path.read_text()
        except OSError:
            return
        records = _verified_records(text)
        if records is None:
            self.note = (
                f"The fingerprint memo {self.path} was not valid (corrupt or edited); it was "
                "ignored and every file is hashed again."
            )
            self._dirty = True  # rewrite it whole at the next save
            return
        self._memo = records

    def file_digest(self, path: Path) -> str:
        """The blake2b digest of a file's content.

        Raises:
            ProjectError: the file is missing, unreadable, or a symbolic link that loops.
        """
        try:
            stat = path.stat()
            # ctime and inode too: tools that restore mtimes (tar, cp -p, rsync -t) can still
            # not fake those, so a file replaced by one of the same size and mtime is hashed again
            token = (
                f"{os.path.realpath(path)}|{stat.st_size}|{stat.st_mtime_ns}|"
                f"{stat.st_ctime_ns}|{stat.st_ino}"
            )
            cached = self._memo.get(token)
            if cached is not None:
                return cached
            digest = hash_file(path)
        except OSError as error:
            raise ProjectError(unreadable_file_message(path, error)) from None
        self._memo[token] = digest
        self._dirty = True
        return digest

    def table_digest(self, path: Path) -> str:
        """The digest of a table: a file's content digest, or for a folder table, of its
        files' names (relative to it) and content digests, in the order they are read.

        Raises:
            ProjectError: a file is missing or unreadable, or the folder holds no table file.
        """
        from gengap_dash.data.tables import table_files

        if not path.is_dir():
            return self.file_digest(path)
        digest = hashlib.blake2b(digest_size=20)
        for file in table_files(path):
            name = "/".join(file.relative_to(path).parts)
            digest.update(f"{name}|{self.file_digest(file)}\n".encode())
        return digest.hexdigest()

    def save(self) -> None:
        """Persist the memo atomically (best effort: it is only an optimisation)."""
        if not self._dirty:
            return
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}")
            payload = {
                "format": _MEMO_FORMAT,
                "records": self._memo,
                "checksum": _records_checksum(self._memo),
            }
            temp.write_text(json.dumps(payload))
            os.replace(temp, self.path)
            self._dirty = False


def unreadable_file_message(path: Path, error: OSError) -> str:
    """One line for a file that cannot be opened (a symlink loop is named as such)."""
    if error.errno == errno.ELOOP:
        return f"File {path} is a symbolic link that loops (it never reaches a file)."
    if isinstance(error, FileNotFoundError):
        return f"File {path} does not exist."
    if isinstance(error, IsADirectoryError):
        return f"File {path} is a folder; expected a file."
    return f"File {path} could not be read ({error.strerror or type(error).__name__})."


def output_key_parts(
    spec: ProjectSpec,
    split: str,
    memo: FingerprintMemo,
    *,
    default_features: Sequence[str] | None = None,
) -> dict[str, Any]:
    """What a split's model outputs depend on, as JSON-serialisable parts of its key.

    Args:
        spec: the project.
        split: a split name of ``spec``.
        memo: the file digests.
        default_features: the project's resolved default feature list (tabular inputs without
            ``inputs.features``); resolved from the tables when None.
    """
    spec_split = spec.split(split)
    model = spec.model
    if model is None or spec_split.path is None:
        return {"kind": "brought", "split": split, "file": _digest(spec, memo, spec.predictions)}
    parts: dict[str, Any] = {
        "kind": "model-outputs",
        "model": model.fingerprint_fields(),
        "weights": _digest(spec, memo, model.torchscript or model.weights),
        "data": _digest(spec, memo, spec_split.path),
        "precision": spec.inference.precision,
    }
    if model.factory and model.factory.rpartition(":")[0].endswith(".py"):
        parts["factory_source"] = _digest(
            spec, memo, spec.directory / model.factory.rpartition(":")[0]
        )
    inputs = spec.inputs
    if inputs is not None:
        parts["inputs"] = {
            "kind": inputs.kind,
            "column": inputs.column,
            "image_shape": inputs.image_shape,
            "features": inputs.features,
            "transform": inputs.transform,
        }
        if inputs.transform and inputs.transform.rpartition(":")[0].endswith(".py"):
            parts["transform_source"] = _digest(
                spec, memo, spec.directory / inputs.transform.rpartition(":")[0]
            )
        if inputs.kind == "tabular" and inputs.features is None:
            if default_features is None:
                from gengap_dash.data.tables import resolve_default_features

                default_features = resolve_default_features(spec).columns
            parts["inputs"]["features"] = list(default_features)
        if inputs.kind == "image" and inputs.column:
            parts["image_files"] = image_files_fingerprint(spec_split.path, inputs.column)
    return parts


def output_key(
    spec: ProjectSpec,
    split: str,
    memo: FingerprintMemo,
    *,
    default_features: Sequence[str] | None = None,
) -> str:
    """The content key of a split's model outputs (see :func:`output_key_parts`)."""
    return hash_key(output_key_parts(spec, split, memo, default_features=default_features))


def image_files_fingerprint(table_path: Path, column: str) -> str | None:
    """Size and modification time of every image a path column names (None for pixel arrays)."""
    from gengap_dash.data.tables import is_parquet, read_table, table_base, table_files

    if is_parquet(table_path):
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pq.read_schema(table_files(table_path)[0])
        if column not in schema.names:
            return None
        kind = schema.field(column).type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            return None
    values = read_table(table_path, columns=[column])[column]
    if len(values) == 0 or not isinstance(values.iloc[0], str):
        return None
    digest = hashlib.blake2b(digest_size=20)
    for text in values:
        path = Path(text)
        path = path if path.is_absolute() else table_base(table_path) / path
        try:
            stat = path.stat()
            digest.update(f"{text}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{text}|missing\n".encode())
    return digest.hexdigest()


def _digest(spec: ProjectSpec, memo: FingerprintMemo, path: Path | None) -> str | None:
    if path is None:
        return None
    resolved = path if path.is_absolute() else spec.directory / path
    return memo.table_digest(resolved)


def _records_checksum(records: Mapping[str, str]) -> str:
    payload = json.dumps(records, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(payload.encode(), digest_size=20).hexdigest()


def _verified_records(text: str) -> dict[str, str] | None:
    """The memo's records when the file is well formed and its checksum holds, else None."""
    try:
        payload = json.loads(text)
    except ValueError:
        return None
    if not isinstance(payload, dict) or payload.get("format") != _MEMO_FORMAT:
        return None
    records = payload.get("records")
    if not isinstance(records, dict) or not all(
        isinstance(token, str) and isinstance(value, str) and _is_digest(value)
        for token, value in records.items()
    ):
        return None
    if payload.get("checksum") != _records_checksum(records):
        return None
    return records


def _is_digest(value: str) -> bool:
    return len(value) == 40 and all(c in "0123456789abcdef" for c in value)
