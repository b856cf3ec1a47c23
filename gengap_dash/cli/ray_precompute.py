"""``gengap precompute --engine ray``: the splits whose cache entries are missing, on Ray.

The glue between the workspace (content keys, what the entry records) and the distributed
engine (:mod:`gengap_dash.engine.distributed`); see ``docs/distributed.md``.
"""

from __future__ import annotations

import sys

from gengap_dash.engine.distributed import (
    RayRunReport,
    SplitJob,
    count_rows,
    precompute_on_ray,
    require_ray,
)
from gengap_dash.project.errors import ProjectError
from gengap_dash.store.keys import FingerprintMemo


def precompute_with_ray(
    workspace,
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    workers: int | None = None,
    cpus_per_worker: float = 1.0,
    shard_rows: int | None = None,
    progress: bool = True,
) -> RayRunReport | None:
    """Compute the workspace's missing split entries on Ray (None when none is missing).

    Raises:
        ProjectError: Ray is not installed (one line), the project brings its own predictions,
            or the run fails (see :func:`gengap_dash.engine.distributed.precompute_on_ray`).
    """
    require_ray()
    if not workspace.has_model:
        raise ProjectError(
            f"{workspace.spec.path.name} brings its own predictions; --engine ray runs a model."
        )
    missing = workspace.missing_splits()
    if not missing:
        return None
    memo = FingerprintMemo(workspace.cache.root)
    jobs = []
    for split in missing:
        table = workspace.spec.split(split).path
        if table is None:  # pragma: no cover - the spec guarantees a path with a model
            raise ProjectError(f"splits.{split}.path is missing.")
        jobs.append(
            SplitJob(
                split,
                workspace.cache_key(split),
                table,
                info={
                    "split": split,
                    "project": workspace.name,
                    "data": memo.table_digest(table),
                    "rows": count_rows(table),
                },
            )
        )
    memo.save()
    bars: dict = {}

    def report(split: str, done: int, total: int) -> None:
        from tqdm import tqdm

        bar = bars.get(split)
        if bar is None:
            bar = bars[split] = tqdm(  # disable=None: bars only on a terminal
                total=total, desc=f"ray {split}", unit="sample", file=sys.stderr, disable=None
            )
        bar.update(done - bar.n)

    try:
        return precompute_on_ray(
            workspace.spec,
            jobs,
            store=workspace.cache,
            address=address,
            num_cpus=num_cpus,
            workers=workers,
            cpus_per_worker=cpus_per_worker,
            shard_rows=shard_rows,
            progress=report if progress else None,
        )
    finally:
        for bar in bars.values():
            bar.close()
