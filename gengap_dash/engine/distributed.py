"""Distributed precompute on Ray: the split's rows in shards, the model in an actor pool.

The driver cuts each split into shards of whole batches (row ranges; the shard size is a
multiple of the project's batch size, so every batch is the one the local engine runs) and
hands the shards still to do to Ray Data, which runs them through ``map_batches`` on a pool of
actors. Each actor builds the model once (``weights_only`` / safetensors, like the local
loader), reads only its shard's rows from the split's table (Parquet: the row groups that hold
them), turns them into inputs with the same code as the local engine
(:func:`gengap_dash.data.samples.build_sample_source`), runs
:func:`gengap_dash.engine.inference.run_inference` and writes the shard into the shared cache
itself, so that no model output passes through the driver. When every shard of a split is
there, the driver writes the entry's manifest, last: the entry is then the one the local engine
would have written, under the same key, and the workspace reads it without Ray.

Resumable: shards already written (by an interrupted run, or before a worker died) are skipped.
A worker that dies is replaced and its shard run again (Ray Data's actor fault tolerance; the
driver then retries what is left, up to ``max_attempts`` passes). See ``docs/distributed.md``.

This module imports Ray only inside functions: the dashboard never needs it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from gengap_dash.project.errors import ProjectError
from gengap_dash.project.spec import ProjectSpec

RAY_MISSING = "Ray is not installed: pip install 'gengap-dash[ray]'"
"""The one line ``gengap precompute --engine ray`` prints (exit 2) where Ray is missing."""

CRASH_ONCE_VARIABLE = "GENGAP_RAY_CRASH_ONCE"
"""Test hook: a file path; the first worker to start a shard creates it and exits at once
(``os._exit``), as a worker killed mid-run would. Later workers see the file and run normally."""

DEFAULT_SHARD_ROWS = 16_384
"""Rows per shard, rounded up to a whole number of batches. It is part of the resumable plan:
a rerun with the same project and shard size skips the shards already written."""

ShardProgress = Callable[[str, int, int], None]
"""Called with (split name, samples done, samples in the split) after each shard."""


class ShardStore(Protocol):
    """Where shards go: :class:`gengap_dash.store.cache.ArrayCache` (shared by every worker)."""

    def completed_shards(self, key: str) -> Mapping[str, Any]: ...

    def store_shard(
        self,
        key: str,
        name: str,
        arrays: Mapping[str, np.ndarray],
        *,
        start: int,
        stop: int,
        info: Mapping[str, Any] | None = None,
    ) -> Path: ...

    def finish_sharded(
        self, key: str, names: Sequence[str], *, info: Mapping[str, Any] | None = None
    ) -> Path: ...

    def contains(self, key: str) -> bool: ...


@dataclass(frozen=True)
class SplitJob:
    """One split to precompute.

    Attributes:
        split: the split's name.
        key: its content key (:func:`gengap_dash.store.keys.output_key`).
        table: the split's table.
        info: stored with the entry (what the local engine stores: data digest, rows, project).
    """

    split: str
    key: str
    table: Path
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkerThroughput:
    """What one worker (actor process) did: shards, samples and the seconds it spent on them."""

    worker: str
    shards: int
    samples: int
    seconds: float

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else float("nan")


@dataclass(frozen=True)
class RayRunReport:
    """What a distributed precompute did.

    Attributes:
        shards: shards in the plan (all splits).
        skipped: shards found complete and not run again.
        computed: shards run now (a shard run twice after a worker failure counts once).
        samples: samples run now.
        seconds: wall time of the whole run (Ray startup included).
        workers: the actor pool's size.
        attempts: passes over the remaining shards (1 unless something failed).
        per_worker: each worker's shards, samples and busy seconds.
    """

    shards: int
    skipped: int
    computed: int
    samples: int
    seconds: float
    workers: int
    attempts: int
    per_worker: tuple[WorkerThroughput, ...] = ()


def require_ray():
    """Import Ray, or raise the one-line :data:`RAY_MISSING`.

    Raises:
        ProjectError: Ray (with Ray Data) is not installed.
    """
    try:
        import ray
        import ray.data  # the extra must bring Ray Data too
    except ImportError:
        raise ProjectError(RAY_MISSING) from None
    return ray


def shard_ranges(
    n_rows: int, *, batch_size: int, shard_rows: int | None = None
) -> list[tuple[int, int]]:
    """The row ranges ``[(start, stop), ...]`` that cover ``n_rows`` rows in shards.

    Each shard but the last has ``shard_rows`` rows rounded up to a multiple of
    ``batch_size``, so a shard's batches are the local engine's batches.

    Raises:
        ValueError: a count is not positive.
    """
    wanted = DEFAULT_SHARD_ROWS if shard_rows is None else shard_rows
    if batch_size < 1 or wanted < 1 or n_rows < 0:
        raise ValueError(
            f"Expected positive batch and shard sizes, but got batch_size={batch_size}, "
            f"shard_rows={wanted}, n_rows={n_rows}."
        )
    size = math.ceil(wanted / batch_size) * batch_size
    return [(start, min(start + size, n_rows)) for start in range(0, n_rows, size)]


def shard_name(start: int, stop: int) -> str:
    """The folder name of the shard holding rows ``start:stop``."""
    return f"rows-{start:012d}-{stop:012d}"


def precompute_on_ray(
    spec: ProjectSpec,
    jobs: Sequence[SplitJob],
    *,
    store: ShardStore,
    address: str | None = None,
    num_cpus: int | None = None,
    workers: int | None = None,
    cpus_per_worker: float = 1.0,
    shard_rows: int | None = None,
    progress: ShardProgress | None = None,
    max_attempts: int = 3,
) -> RayRunReport:
    """Run the model over every split of ``jobs`` on Ray and write their cache entries.

    Args:
        spec: the project (its model, inputs and inference settings).
        jobs: the splits to compute, each with its content key.
        store: the cache every worker writes its shards to (shared storage on a cluster).
        address: a running Ray cluster (``ray://host:10001`` or ``host:6379``); None starts a
            local Ray instance for this run (or uses the one this process already started).
        num_cpus: CPUs of the local instance (default: this machine's).
        workers: actors in the pool (default: one per GPU where the cluster has GPUs, else
            the cluster's CPUs divided by ``cpus_per_worker``).
        cpus_per_worker: CPUs each actor reserves (its torch threads).
        shard_rows: rows per shard (rounded up to whole batches; default 16,384).
        progress: called after each shard.
        max_attempts: passes over the remaining shards before a failure is final.

    Raises:
        ProjectError: Ray is missing, the model fails on the data, or shards still fail after
            ``max_attempts`` passes.
    """
    ray = require_ray()
    if spec.model is None:
        raise ProjectError(
            f"{spec.path.name} brings its own predictions; there is no model to run on Ray."
        )
    started = time.perf_counter()
    plans, totals, columns, features = _plan(spec, jobs, shard_rows=shard_rows)
    owns_ray = _connect(ray, address=address, num_cpus=num_cpus)
    try:
        pool, gpus = _pool_size(ray, spec, workers=workers, cpus_per_worker=cpus_per_worker)
        done = {job.key: set(store.completed_shards(job.key)) for job in jobs}
        skipped = sum(1 for plan in plans for item in plan if item["name"] in done[item["key"]])
        counts = {job.split: 0 for job in jobs}
        for job in jobs:
            counts[job.split] = sum(
                item["stop"] - item["start"]
                for item in plans[jobs.index(job)]
                if item["name"] in done[job.key]
            )
            if progress is not None and counts[job.split]:
                progress(job.split, counts[job.split], totals[job.split])
        per_worker: dict[str, list[float]] = {}
        computed: set[tuple[str, str]] = set()
        attempts = 0
        while True:
            # (two splits with the same content key, e.g. one table named twice, share shards)
            todo = list(
                {
                    (item["key"], item["name"]): item
                    for plan in plans
                    for item in plan
                    if item["name"] not in done[item["key"]]
                }.values()
            )
            if not todo:
                break
            if attempts >= max_attempts:
                raise ProjectError(
                    f"Ray precompute: {len(todo)} shards still missing after {attempts} "
                    "attempts; the shards already written are kept, and a rerun resumes from them."
                )
            attempts += 1
            rows = _run_shards(
                ray,
                todo,
                spec=spec,
                store=store,
                columns=columns,
                features=features,
                pool=pool,
                cpus_per_worker=cpus_per_worker,
                gpus=gpus,
            )
            try:
                while True:
                    try:
                        row = next(rows)
                    except StopIteration:
                        break
                    except Exception as error:  # noqa: BLE001 - sorted: the user's fault or not
                        user_error = _project_error(error)
                        if user_error is not None:
                            raise ProjectError(str(user_error)) from None
                        if attempts >= max_attempts:
                            raise ProjectError(
                                f"Ray precompute failed after {attempts} attempts "
                                f"({type(error).__name__}: {_first_line(error)}); the shards "
                                "already written are kept, and a rerun resumes from them."
                            ) from None
                        logging.getLogger(__name__).warning(
                            "Ray precompute: %s; retrying the remaining shards.", _first_line(error)
                        )
                        break
                    if row.get("error"):  # the user's data or model failed: the local message
                        raise ProjectError(str(row["error"]))
                    key, name = str(row["key"]), str(row["name"])
                    if name in done[key]:
                        continue
                    done[key].add(name)
                    computed.add((key, name))
                    split = str(row["split"])
                    counts[split] += int(row["rows"])
                    stats = per_worker.setdefault(str(row["worker"]), [0, 0, 0.0])
                    stats[0] += 1
                    stats[1] += int(row["rows"])
                    stats[2] += float(row["seconds"])
                    if progress is not None:  # outside the try: its errors are not retried
                        progress(split, counts[split], totals[split])
            finally:
                rows.close()  # stop Ray Data's iterator while Ray is still up
            # what is on disk is the truth (a worker may have written a shard and then died)
            for job in jobs:
                done[job.key] |= set(store.completed_shards(job.key))
        for job, plan in zip(jobs, plans, strict=True):
            records = store.completed_shards(job.key)
            infos = [records[item["name"]].get("info", {}) for item in plan]
            info = {**job.info, "engine": "ray", "shards": len(plan)}
            if infos and infos[0].get("width") is not None:
                info["width"] = infos[0]["width"]
            info["embedding_note"] = infos[0].get("embedding_note", "") if infos else ""
            store.finish_sharded(job.key, [item["name"] for item in plan], info=info)
    finally:
        if owns_ray:
            ray.shutdown()
    return RayRunReport(
        shards=sum(len(plan) for plan in plans),
        skipped=skipped,
        computed=len(computed),
        samples=sum(
            item["stop"] - item["start"]
            for plan in plans
            for item in plan
            if (item["key"], item["name"]) in computed
        ),
        seconds=time.perf_counter() - started,
        workers=pool,
        attempts=attempts,
        per_worker=tuple(
            WorkerThroughput(worker, int(s[0]), int(s[1]), float(s[2]))
            for worker, s in sorted(per_worker.items())
        ),
    )


def map_chunks_on_ray(
    function: Callable[..., np.ndarray],
    shared: Sequence[Any],
    items: np.ndarray,
    *,
    chunk_rows: int,
    address: str | None = None,
    num_cpus: int | None = None,
) -> np.ndarray:
    """``function(*shared, items[start:stop])`` for consecutive chunks of ``items``, each a Ray
    task, concatenated in order (the same rows as one call on all of ``items`` when ``function``
    treats rows independently).

    ``shared`` values (the fitted sample of a map, its coordinates) go into Ray's object store
    once and every task reads them from there. ``function`` must be importable by the workers
    (a module-level function of ``gengap_dash``).

    Args:
        chunk_rows: rows of ``items`` per task.
        address, num_cpus: as for :func:`precompute_on_ray` (None starts a local instance for
            this call, or uses the one this process already started).

    Raises:
        ProjectError: Ray is missing, or ``chunk_rows`` is not a positive integer.
    """
    ray = require_ray()
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise ProjectError(f"Expected a positive number of rows per chunk, but got {chunk_rows!r}.")
    owns_ray = _connect(ray, address=address, num_cpus=num_cpus)
    try:
        references = [ray.put(value) for value in shared]
        task = ray.remote(_apply)
        pending = [
            task.remote(function, references, items[start : start + chunk_rows])
            for start in range(0, items.shape[0], chunk_rows)
        ]
        parts = ray.get(pending)
    finally:
        if owns_ray:
            ray.shutdown()
    if not parts:
        return function(*shared, items[:0])
    return np.concatenate(parts)


def _apply(function: Callable[..., np.ndarray], shared: Sequence[Any], chunk: np.ndarray):
    """One task of :func:`map_chunks_on_ray` (``shared`` arrives as object references inside a
    list, which Ray does not resolve for us)."""
    import ray

    return function(*ray.get(list(shared)), chunk)


class ShardInference:
    """The actor: builds the model once, then runs whole shards and writes them to the cache.

    Ray Data calls it with a batch of shard descriptions (``batch_size=1``: one shard) and
    gets back one small row per shard (rows, seconds, worker, and the one-line message of a
    :class:`ProjectError`, which the driver raises as is: Ray's own error wrapping would lose
    the message).
    """

    def __init__(
        self,
        spec: ProjectSpec,
        store: ShardStore,
        columns: Mapping[str, Sequence[str]],
        features: Sequence[str] | None,
        crash_marker: str | None = None,
    ) -> None:
        self.spec = spec
        self.store = store
        self.columns = {split: list(names) for split, names in columns.items()}
        self.features = list(features) if features is not None else None
        self.crash_marker = crash_marker
        self.model, self.worker = actor_model(spec)

    def __call__(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows, seconds, errors = [], [], []
        for index in range(len(batch["name"])):
            self._maybe_crash()
            started = time.perf_counter()
            try:
                done = self._run_shard(
                    split=str(batch["split"][index]),
                    key=str(batch["key"][index]),
                    name=str(batch["name"][index]),
                    table=Path(str(batch["table"][index])),
                    start=int(batch["start"][index]),
                    stop=int(batch["stop"][index]),
                )
                error = ""
            except ProjectError as problem:  # the user's data or model: reported, not retried
                done, error = 0, str(problem)
                start = int(batch["start"][index])
                if start:
                    error += f" (Row numbers count from row {start} of the table.)"
            rows.append(done)
            errors.append(error)
            seconds.append(time.perf_counter() - started)
        return {
            "split": np.asarray(batch["split"]),
            "key": np.asarray(batch["key"]),
            "name": np.asarray(batch["name"]),
            "rows": np.asarray(rows, dtype=np.int64),
            "seconds": np.asarray(seconds, dtype=np.float64),
            "worker": np.asarray([self.worker] * len(rows)),
            "error": np.asarray(errors, dtype=object),
        }

    def _run_shard(
        self, *, split: str, key: str, name: str, table: Path, start: int, stop: int
    ) -> int:
        from gengap_dash.data.samples import build_sample_source
        from gengap_dash.engine.inference import run_inference

        frame = read_rows(table, self.columns[split], start=start, stop=stop)
        source = build_sample_source(
            frame, self.spec, table_path=table, features=self.features, split=split
        )
        model_spec = self.spec.model
        outputs = run_inference(
            self.model,
            source,
            settings=self.spec.inference,
            embedding_layer=model_spec.embedding_layer if model_spec else None,
            where=f"{split} (rows {start}:{stop})",
        )
        arrays = {"logits": outputs.logits}
        if outputs.embeddings is not None:
            arrays["embeddings"] = outputs.embeddings
        self.store.store_shard(
            key,
            name,
            arrays,
            start=start,
            stop=stop,
            info={
                "width": int(outputs.logits.shape[1]),
                "embedding_note": outputs.embedding_note,
                "worker": self.worker,
            },
        )
        return stop - start

    def _maybe_crash(self) -> None:
        if not self.crash_marker:
            return
        try:
            handle = os.open(self.crash_marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            self.crash_marker = None
            return
        os.close(handle)
        os._exit(1)  # a worker killed mid-run: no cleanup, no exception


def actor_model(spec: ProjectSpec) -> tuple[Any, str]:
    """In a Ray actor: torch's threads set to the CPUs Ray gave it, the project's model built
    (the local loader: ``weights_only`` or safetensors), and the worker's name for reports."""
    import torch

    from gengap_dash.engine.model_loading import build_model

    threads = _assigned_cpus()
    if threads:
        torch.set_num_threads(threads)
    if spec.model is None:  # pragma: no cover - checked by the driver
        raise ProjectError("No model to run.")
    model = build_model(spec.model, base=spec.directory)
    return model, f"{os.uname().nodename}:{os.getpid()}"


def read_rows(path: Path, columns: Sequence[str], *, start: int, stop: int) -> pd.DataFrame:
    """Rows ``start:stop`` of a CSV or Parquet table (or a folder of Parquet files), only
    ``columns``, as ``read_table`` gives.

    Parquet reads only the row groups that hold the rows; CSV is parsed up to row ``stop``.

    Raises:
        ProjectError: the table cannot be read.
    """
    from gengap_dash.data.tables import is_parquet, table_files

    files = table_files(path)
    try:
        if is_parquet(path):
            import pyarrow as pa

            parts, offset = [], 0  # offset: the table row of the file's first row
            for file in files:
                groups, first, size = _row_groups(file, start - offset, stop - offset)
                if groups:  # rows counted from the first group read; the range may start earlier
                    begin, end = start - offset - first, stop - offset - first
                    parts.append(_read_groups(file, groups, columns, begin, end))
                offset += size
                if offset >= stop:
                    break
            if not parts:
                parts = [_read_groups(files[0], [], columns, 0, 0)]
            frame = pa.concat_tables(parts, promote_options="default").to_pandas()
        else:
            frame = pd.read_csv(
                path, usecols=list(columns), skiprows=range(1, start + 1), nrows=stop - start
            )
    except ProjectError:
        raise
    except Exception as error:  # noqa: BLE001 - any reader failure is the file's fault
        raise ProjectError(f"Table {path.name} could not be read: {_first_line(error)}") from None
    frame = frame[list(columns)]
    if len(frame) != stop - start:
        raise ProjectError(
            f"Table {path.name}: expected rows {start}:{stop}, but it has {start + len(frame)} "
            "rows (was it changed during the run?)."
        )
    return frame.reset_index(drop=True)


def _row_groups(file: Path, start: int, stop: int) -> tuple[list[int], int, int]:
    """The row groups of a Parquet file that hold rows ``start:stop`` of it, the file row of
    the first of them, and the file's row count."""
    import pyarrow.parquet as pq

    with pq.ParquetFile(file) as parquet:
        groups, offset, first = [], 0, 0
        for group in range(parquet.metadata.num_row_groups):
            size = parquet.metadata.row_group(group).num_rows
            if offset + size > start and offset < stop:
                first = offset if not groups else first
                groups.append(group)
            offset += size
    return groups, first, offset


def _read_groups(file: Path, groups: list[int], columns: Sequence[str], start: int, stop: int):
    """Rows ``start:stop`` (counted from the first of ``groups``) of a Parquet file's groups,
    as an Arrow table (an empty one of the file's column types when ``groups`` is empty)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with pq.ParquetFile(file) as parquet:
        if not groups:
            schema = parquet.schema_arrow
            return pa.table({c: pa.array([], schema.field(c).type) for c in columns})
        table = parquet.read_row_groups(groups, columns=list(columns))
    start = max(0, start)
    return table.slice(start, min(stop, table.num_rows) - start)


def count_rows(path: Path) -> int:
    """The number of rows of a CSV or Parquet table, or of a folder of Parquet files (Parquet:
    from the files' footers)."""
    from gengap_dash.data.tables import is_parquet, read_table, table_columns, table_files

    if is_parquet(path):
        import pyarrow.parquet as pq

        total = 0
        for file in table_files(path):
            try:
                total += int(pq.ParquetFile(file).metadata.num_rows)
            except Exception as error:  # noqa: BLE001
                raise ProjectError(
                    f"Table {file.name} could not be read: {_first_line(error)}"
                ) from None
        return total
    return len(read_table(path, columns=table_columns(path)[:1]))


# -- internals ---------------------------------------------------------------------------------


def _plan(
    spec: ProjectSpec, jobs: Sequence[SplitJob], *, shard_rows: int | None
) -> tuple[list[list[dict[str, Any]]], dict[str, int], dict[str, list[str]], list[str] | None]:
    """Per job: its shard descriptions; the splits' row counts; the input columns per split;
    the project's default features (tabular inputs without ``inputs.features``)."""
    from gengap_dash.data.samples import input_columns
    from gengap_dash.data.tables import check_split_columns, resolve_default_features, table_columns

    inputs = spec.inputs
    selection = None
    if inputs is not None and inputs.kind == "tabular" and inputs.features is None:
        selection = resolve_default_features(spec)
    plans, totals, columns = [], {}, {}
    for job in jobs:
        available = table_columns(job.table)
        if selection is not None:
            check_split_columns(selection, spec, available, where=job.table.name, split=job.split)
            columns[job.split] = list(selection.columns)
        else:
            columns[job.split] = input_columns(spec, available)
        n_rows = count_rows(job.table)
        if n_rows == 0:
            raise ProjectError(
                f"The table of split {job.split!r} has no rows; nothing to run the model on."
            )
        totals[job.split] = n_rows
        plans.append(
            [
                {
                    "split": job.split,
                    "key": job.key,
                    "name": shard_name(start, stop),
                    "table": str(job.table),
                    "start": start,
                    "stop": stop,
                }
                for start, stop in shard_ranges(
                    n_rows, batch_size=spec.inference.batch_size, shard_rows=shard_rows
                )
            ]
        )
    features = list(selection.columns) if selection is not None else None
    return plans, totals, columns, features


def _connect(ray, *, address: str | None, num_cpus: int | None) -> bool:
    """Connect to ``address`` or start a local instance; whether this call started Ray."""
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {
        "include_dashboard": False,
        "logging_level": logging.WARNING,
        "log_to_driver": True,
    }
    if address:
        try:
            ray.init(address=address, **options)
        except Exception as error:  # noqa: BLE001 - no cluster there
            raise ProjectError(
                f"--address {address}: could not connect to a Ray cluster there "
                f"({_first_line(error)})."
            ) from None
    else:
        # Ray turns token authentication on for a new local instance (its safe default) and
        # warns that it did, on every run: keep the default, drop the warning
        notice = logging.getLogger("ray._private.authentication.authentication_token_setup")
        level = notice.level
        notice.setLevel(logging.ERROR)
        try:
            ray.init(num_cpus=num_cpus or os.cpu_count() or 1, **options)
        finally:
            notice.setLevel(level)
    return True


def _pool_size(
    ray, spec: ProjectSpec, *, workers: int | None, cpus_per_worker: float
) -> tuple[int, float]:
    """The actor pool's size and the GPUs each actor reserves."""
    if workers is not None and workers < 1:
        raise ProjectError(f"--workers is {workers}; expected a positive integer.")
    if cpus_per_worker <= 0:
        raise ProjectError(f"--cpus-per-worker is {cpus_per_worker}; expected a positive number.")
    resources = ray.cluster_resources()
    gpus = float(resources.get("GPU", 0))
    wants_gpu = spec.inference.device == "auto" or spec.inference.device.startswith("cuda")
    if gpus >= 1 and wants_gpu:
        return (workers or int(gpus)), 1.0
    cpus = float(resources.get("CPU", 1))
    return (workers or max(1, int(cpus // cpus_per_worker))), 0.0


def _run_shards(
    ray,
    todo: list[dict[str, Any]],
    *,
    spec: ProjectSpec,
    store: ShardStore,
    columns: Mapping[str, Sequence[str]],
    features: Sequence[str] | None,
    pool: int,
    cpus_per_worker: float,
    gpus: float,
):
    """Yield one result row per shard as the actor pool finishes it."""
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.enable_operator_progress_bars = False
    context.enable_auto_log_stats = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    plan = ray.data.from_items(todo, override_num_blocks=len(todo))
    with warnings.catch_warnings():  # Ray 2.60 deprecates these as keywords, with no successor
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*")
        results = plan.map_batches(
            ShardInference,
            batch_size=1,
            batch_format="numpy",
            # one shard in flight per actor: the pool stays balanced to the last shard
            compute=ray.data.ActorPoolStrategy(
                size=min(pool, len(todo)), max_tasks_in_flight_per_actor=1
            ),
            num_cpus=cpus_per_worker,
            num_gpus=gpus or None,
            fn_constructor_kwargs={
                "spec": spec,
                "store": store,
                "columns": dict(columns),
                "features": features,
                "crash_marker": os.environ.get(CRASH_ONCE_VARIABLE) or None,
            },
            # a worker that dies is replaced and its shard run again, a bounded number of times
            # (Ray Data's default is unbounded: a model that crashes its process would loop)
            max_restarts=3,
            max_task_retries=3,
        )
    yield from results.iter_rows()


def _assigned_cpus() -> int:
    """The whole CPUs Ray gave this actor (0 when unknown)."""
    with contextlib.suppress(Exception):
        import ray

        assigned = ray.get_runtime_context().get_assigned_resources().get("CPU", 0)
        return max(1, int(assigned)) if assigned else 0
    return 0


def _project_error(error: BaseException) -> ProjectError | None:
    """The user's :class:`ProjectError` inside a Ray error, if that is what it is."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [error]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if type(current) is ProjectError:
            return current
        stack.extend(
            [
                getattr(current, "cause", None),
                current.__cause__,
                current.__context__,
            ]
        )
        if isinstance(current, ProjectError):  # RayTaskError(ProjectError): its cause is exact
            cause = getattr(current, "cause", None)
            if isinstance(cause, ProjectError):
                return cause
    return None


def _first_line(error: BaseException) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip().splitlines()
    return text[0][:300] if text else type(error).__name__
