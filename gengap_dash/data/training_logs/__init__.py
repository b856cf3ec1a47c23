"""Read training logs into tidy learning curves.

Formats are detected from the file itself:

- a plain CSV/TSV, wide (one row per epoch or step: ``epoch``, ``step``, ``train_loss``,
  ``val/acc`` ...) or long (``step,metric,value``, optionally with ``epoch`` and ``split``);
- PyTorch Lightning's CSVLogger ``metrics.csv`` (a wide CSV whose rows are sparse: train and
  validation are logged on different rows);
- JSON lines (one object per line; nested objects are flattened with ``/``), a JSON list of
  records, or a Keras ``history.json`` (``{"loss": [...], "val_loss": [...]}``);
- Hugging Face Trainer's ``trainer_state.json`` (its ``log_history``);
- TensorBoard event files, read with the ``tensorboard`` package's ``EventAccumulator``
  (including ``add_scalars`` sub-folders, Keras' ``train``/``validation`` sub-folders and
  ``add_hparams`` sessions).

Raw metric names map to ``(split, metric)`` by the common conventions (see
:func:`parse_metric_name`); a mapping from the project file overrides them. Messy logs are
cleaned, and every change is said in plain words in ``TrainingRun.notes``: non-finite values are
dropped, a step that is logged again (a restart) keeps its later value, out-of-order steps are
sorted.

One module per concept: ``runs`` (the data), ``names``, ``discovery``, ``loading``, one reader per
format (``csv_logs``, ``jsonl_logs``, ``json_logs``, ``tensorboard_logs``, with ``tables`` and
``raw`` shared), ``building`` (raw log -> run).
"""

from gengap_dash.data.training_logs.discovery import LOG_SUFFIXES, logs_signature
from gengap_dash.data.training_logs.loading import load_training_runs
from gengap_dash.data.training_logs.names import metric_label, parse_metric_name
from gengap_dash.data.training_logs.runs import (
    CURVE_COLUMNS,
    SPLITS,
    LogFormat,
    Split,
    TrainingRun,
    TrainingRuns,
    XAxis,
    epoch_index,
)

__all__ = [
    "CURVE_COLUMNS",
    "LOG_SUFFIXES",
    "SPLITS",
    "LogFormat",
    "Split",
    "TrainingRun",
    "TrainingRuns",
    "XAxis",
    "epoch_index",
    "load_training_runs",
    "logs_signature",
    "metric_label",
    "parse_metric_name",
]
