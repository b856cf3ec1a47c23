"""Reading brought predictions at scale: ``read_brought_predictions`` against ``pd.read_parquet``.

Writes a predictions file of N rows (5 splits, 10 classes, 3 metadata columns) in the export
format (a ``probs`` list column) and with ``prob_<k>`` columns, then times, side by side, the
median of several reads: a plain ``pd.read_parquet`` of the same file, the project's reader, and
the hub table of a brought-predictions workspace.

    python benchmarks/read_predictions.py --rows 1000000 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from gengap_dash.data.predictions import read_brought_predictions
from gengap_dash.workspace import Workspace

SPLITS = ["train", "val", "test", "shifted", "field"]


def _write(folder: Path, n_rows: int, n_classes: int) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(n_rows, n_classes)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    frame = pd.DataFrame(
        {
            "split": np.array(SPLITS)[rng.integers(0, len(SPLITS), n_rows)],
            "sample_id": np.arange(n_rows).astype(str),
            "label": rng.integers(0, n_classes, n_rows),
            "site": rng.choice(["a", "b", "c"], n_rows),
            "sensor": rng.integers(0, 5, n_rows),
            "hour": rng.random(n_rows),
        }
    )
    as_list = frame.assign(probs=list(probs))
    as_columns = frame.assign(**{f"prob_{k}": probs[:, k] for k in range(n_classes)})
    paths = {
        "probs list, shuffled": folder / "shuffled.parquet",
        "probs list": folder / "list.parquet",
        "prob_<k> columns": folder / "columns.parquet",
    }
    as_list.to_parquet(paths["probs list, shuffled"], index=False)
    order = np.argsort(frame["split"].map(SPLITS.index).to_numpy(), kind="stable")
    as_list.iloc[order].to_parquet(paths["probs list"], index=False)  # grouped, as exports are
    as_columns.iloc[order].to_parquet(paths["prob_<k> columns"], index=False)
    return paths


def _median_seconds(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        paths = _write(folder, arguments.rows, arguments.classes)
        list_path = paths["probs list"]
        project = {
            "name": "scale",
            "predictions": list_path.name,
            "label": "label",
            "metadata": ["site", "sensor", "hour"],
            "splits": {name: {"role": "test"} for name in SPLITS},
        }
        project["splits"]["train"] = {"role": "train"}
        (folder / "project.yaml").write_text(yaml.safe_dump(project))
        rows = []
        for label, path in paths.items():
            plain = _median_seconds(lambda p=path: pd.read_parquet(p), arguments.repeats)
            ours = _median_seconds(
                lambda p=path: read_brought_predictions(
                    p, split_names=SPLITS, n_classes=arguments.classes
                ),
                arguments.repeats,
            )
            rows.append((label, plain, ours))
        hub = _median_seconds(
            lambda: Workspace.from_file(
                folder / "project.yaml", cache_dir=folder / "c"
            ).predictions(),
            arguments.repeats,
        )
    print(f"{arguments.rows:,} rows, {arguments.classes} classes, median of {arguments.repeats}")
    for label, plain, ours in rows:
        print(
            f"{label:<21} pd.read_parquet {plain:6.2f} s   read_brought_predictions "
            f"{ours:6.2f} s   difference {ours - plain:+6.2f} s"
        )
    print(f"hub table of the brought project (open + predictions()): {hub:6.2f} s")


if __name__ == "__main__":
    main()
