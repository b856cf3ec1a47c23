"""Attributions for a chosen set of samples on Ray: the saliency view's maps, on an actor pool.

The saliency view asks for the maps of a set of rows of a split (the samples a reviewer chose,
or the sample of its shift analysis). With ``--engine ray`` those rows are cut into chunks of
whole batches (the project's ``inference.batch_size``) and each chunk runs on an actor that
built the model once. The actor builds the chunk's inputs from the split's table with the local
engine's code and runs :func:`gengap_dash.engine.attribution.attribute` on them with the chunk's
position in the set (``first_row``): SmoothGrad's noise is drawn per batch from the seed and the
batch's position, so every batch is the one the local engine runs, with the same noise, and the
maps are the local engine's. The driver stores them under the same key as the local engine, so
the dashboard reads them without Ray.

Ray is imported only inside functions: the dashboard never needs it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from gengap_dash.engine.distributed import (
    _connect,
    _first_line,
    _pool_size,
    actor_model,
    require_ray,
)
from gengap_dash.project.errors import ProjectError
from gengap_dash.project.spec import ProjectSpec


class RayAttributor:
    """Runs attributions of a project's model on a pool of Ray actors.

    Ray starts (or connects to ``address``) on the first call, the actors are made once and
    kept for every later call, and :meth:`close` (or leaving the ``with`` block) stops them,
    and the local Ray instance if this object started it.

    Args:
        spec: the project (the actors build its model and read its split tables).
        features: the tabular feature columns in model order (None for images, or when the
            project lists them).
        address: a running Ray cluster (None: a local instance on this machine's CPUs).
        workers: actors in the pool (default: one per GPU where the cluster has GPUs and the
            project runs on them, else one per CPU).
        num_cpus: CPUs of the local instance (None: all).
    """

    def __init__(
        self,
        spec: ProjectSpec,
        *,
        features: Sequence[str] | None = None,
        address: str | None = None,
        workers: int | None = None,
        num_cpus: int | None = None,
    ) -> None:
        if spec.model is None:
            raise ProjectError(
                f"{spec.path.name} brings its own predictions; attributions need the model."
            )
        if workers is not None and (isinstance(workers, bool) or workers < 1):
            raise ProjectError(f"--workers is {workers}; expected a positive integer.")
        self.spec = spec
        self.features = list(features) if features is not None else None
        self.address = address
        self.workers = workers
        self.num_cpus = num_cpus
        self._ray: Any = None
        self._owns_ray = False
        self._actors: list[Any] = []
        self.chunks_run = 0

    def __enter__(self) -> RayAttributor:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def maps(
        self,
        split: str,
        rows: Sequence[int],
        targets: np.ndarray,
        settings: Any,
        *,
        training_mean: np.ndarray | None = None,
    ) -> np.ndarray:
        """The ``float32`` maps of ``rows`` (table positions) of ``split`` explaining
        ``targets``, equal to :func:`~gengap_dash.engine.attribution.attribute` on the same
        inputs in one process.

        Raises:
            ProjectError: the user's model or data failed (the actor's one-line message), or
                Ray could not start.
        """
        rows = np.asarray(rows, dtype=np.int64)
        targets = np.asarray(targets, dtype=np.int64).reshape(-1)
        if targets.shape[0] != rows.shape[0]:
            raise ProjectError(
                f"Expected one target per sample, but got {targets.shape[0]} targets for "
                f"{rows.shape[0]} samples."
            )
        actors = self._pool()
        chunk = chunk_rows(rows.shape[0], self.spec.inference.batch_size, len(actors))
        starts = list(range(0, rows.shape[0], chunk)) or [0]
        pending = [
            actors[i % len(actors)].run.remote(
                split,
                rows[start : start + chunk],
                targets[start : start + chunk],
                settings,
                training_mean,
                start,
            )
            for i, start in enumerate(starts)
        ]
        try:
            answers = self._ray.get(pending)
        except Exception as error:  # noqa: BLE001 - an actor died past its retries
            raise ProjectError(
                f"Attributions on Ray failed for split {split!r}: {_first_line(error)}"
            ) from None
        self.chunks_run += len(pending)
        for _, problem in answers:
            if problem:
                raise ProjectError(problem)
        return np.ascontiguousarray(np.concatenate([maps for maps, _ in answers]))

    def close(self) -> None:
        """Stop the actors (and the Ray instance this object started)."""
        if self._ray is None:
            return
        for actor in self._actors:
            self._ray.kill(actor)
        self._actors = []
        if self._owns_ray:
            self._ray.shutdown()
        self._ray, self._owns_ray = None, False

    def _pool(self) -> list[Any]:
        if self._actors:
            return self._actors
        ray = require_ray()
        self._owns_ray = _connect(ray, address=self.address, num_cpus=self.num_cpus)
        self._ray = ray
        size, gpus = _pool_size(ray, self.spec, workers=self.workers, cpus_per_worker=1.0)
        remote = ray.remote(num_cpus=1, num_gpus=gpus or None, max_restarts=3, max_task_retries=3)
        worker = remote(AttributionWorker)
        self._actors = [worker.remote(self.spec, self.features) for _ in range(size)]
        return self._actors


def chunk_rows(n_rows: int, batch_size: int, workers: int) -> int:
    """Rows per chunk: whole batches, about one chunk per worker (at least one batch)."""
    batches = max(1, math.ceil(n_rows / max(1, batch_size)))
    return batch_size * max(1, math.ceil(batches / max(1, workers)))


class AttributionWorker:
    """The actor: builds the model once, then attributes chunks of rows of any split."""

    def __init__(self, spec: ProjectSpec, features: Sequence[str] | None) -> None:
        self.spec = spec
        self.features = list(features) if features is not None else None
        self.model, self.worker = actor_model(spec)
        self.tables: dict[str, Any] = {}

    def run(
        self,
        split: str,
        rows: np.ndarray,
        targets: np.ndarray,
        settings: Any,
        training_mean: np.ndarray | None,
        first_row: int,
    ) -> tuple[np.ndarray | None, str]:
        """``(maps, "")``, or ``(None, message)`` when the user's model or data failed (the
        message is the local engine's, so the driver can raise it as is)."""
        import torch

        from gengap_dash.data.samples import model_inputs
        from gengap_dash.data.tables import read_table
        from gengap_dash.engine.attribution import attribute

        try:
            if split not in self.tables:
                self.tables[split] = read_table(self.spec.split(split).path)
            inputs = model_inputs(
                self.spec, split, rows, table=self.tables[split], features=self.features
            )
            mean = None if training_mean is None else torch.as_tensor(training_mean)
            maps = attribute(
                self.model,
                inputs,
                targets,
                settings=settings,
                inference=self.spec.inference,
                training_mean=mean,
                gradcam_layer=self.spec.model.gradcam_layer if self.spec.model else None,
                where=split,
                first_row=first_row,
            )
        except ProjectError as problem:
            return None, str(problem)
        return maps, ""
