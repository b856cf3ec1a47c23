"""Metric names in training logs: ``train_loss``, ``val/acc``, ``Loss/train`` -> ``(split,
metric)``, and the project file's overrides.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from gengap_dash.data.training_logs.runs import SPLITS
from gengap_dash.project.errors import ProjectError

_SPLIT_ALIASES: dict[str, str] = {
    "train": "train",
    "training": "train",
    "trn": "train",
    "val": "validation",
    "valid": "validation",
    "validation": "validation",
    "eval": "validation",
    "evaluation": "validation",
    "dev": "validation",
    "test": "test",
    "testing": "test",
}


_METRIC_ALIASES: dict[str, str] = {
    "loss": "loss",
    "losses": "loss",
    "acc": "accuracy",
    "accuracy": "accuracy",
    "acc1": "accuracy",
    "acc_1": "accuracy",
    "top1": "accuracy",
    "top1_acc": "accuracy",
    "top1_accuracy": "accuracy",
    "f1": "f1",
    "f1_score": "f1",
    "f1score": "f1",
    "fscore": "f1",
}


_BARE_METRICS = frozenset(
    {
        "loss", "accuracy", "f1", "error", "err", "nll", "mse", "mae", "rmse", "precision",
        "recall", "auc", "auroc", "top5", "acc5", "perplexity", "ppl", "iou", "miou", "dice",
        "map", "bleu", "cer", "wer", "ece",
    }
)  # fmt: skip
"""Metric names that mean the *train* metric when they carry no split (Keras' ``loss``)."""


_NOT_A_METRIC = re.compile(
    r"(?:^|_)(?:lr|lrs|learning_rate|runtime|samples_per_second|steps_per_second|grad_norm|"
    r"gradient_norm|total_flos|flos|time|timestamp|wall_time|walltime|duration|memory|mem|"
    r"throughput|momentum|weight_decay|batch_size|train_size|size|epoch|epochs|step|steps|"
    r"global_step|iteration|iter|it_s|num_input_tokens_seen)(?:_|$)"
)


def parse_metric_name(raw: str) -> tuple[str, str] | None:
    """Map a raw metric name to ``(split, metric)`` by the common conventions.

    Splits come from a prefix or suffix (``train_``, ``val_``, ``valid_``, ``validation_``,
    ``eval_``, ``dev_``, ``test_``; ``loss/train``); metrics are normalised (``acc`` ->
    ``accuracy``, ``f1_score`` -> ``f1``), otherwise kept as the cleaned name. Lightning's
    ``_step``/``_epoch`` suffixes and Keras' ``epoch_`` prefix are removed. A known metric without
    a split (``loss``, ``accuracy``) is the train metric, as Keras and Hugging Face log it.

    Returns:
        ``(split, metric)``, or ``None`` for bookkeeping columns (``lr``, ``epoch``, runtimes) and
        unknown names without a split.
    """
    parsed = _parse_name(raw)
    return None if parsed is None else (parsed[0], parsed[1])


def metric_label(split: str, metric: str) -> str:
    """Human words for a curve, e.g. ``"validation loss"``."""
    return f"{split} {metric.replace('_', ' ')}"


def _clean_name(raw: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(raw).lower()).strip("_")


def _parse_name(raw: str) -> tuple[str, str, str | None] | None:
    """``(split, metric, variant)`` where variant is Lightning's ``"step"``/``"epoch"`` or None."""
    tokens = [t for t in _clean_name(raw).split("_") if t]
    if not tokens:
        return None
    split: str | None = None
    variant: str | None = None
    changed = True
    while changed and len(tokens) > 1:
        changed = False
        if split is None and tokens[0] in _SPLIT_ALIASES:
            split, tokens, changed = _SPLIT_ALIASES[tokens[0]], tokens[1:], True
        elif split is None and tokens[-1] in _SPLIT_ALIASES:
            split, tokens, changed = _SPLIT_ALIASES[tokens[-1]], tokens[:-1], True
        elif variant is None and tokens[-1] in ("step", "epoch"):
            variant, tokens, changed = tokens[-1], tokens[:-1], True
        elif variant is None and tokens[0] in ("epoch", "batch"):
            variant = "epoch" if tokens[0] == "epoch" else "step"
            tokens, changed = tokens[1:], True
    metric = "_".join(tokens)
    metric = _METRIC_ALIASES.get(metric, metric)
    if _NOT_A_METRIC.search(metric) or metric in _SPLIT_ALIASES:
        return None
    if split is None:
        if metric not in _BARE_METRICS:
            return None
        split = "train"
    return split, metric, variant


def _normalise_overrides(
    metric_names: Mapping[str, tuple[str, str]],
) -> dict[str, tuple[str, str]]:
    result: dict[str, tuple[str, str]] = {}
    for raw, target in metric_names.items():
        parts = target.split("/") if isinstance(target, str) else target
        if not isinstance(parts, list | tuple) or len(parts) != 2:
            raise ProjectError(
                f"Expected training_logs.metric_names.{raw} to be a (split, metric) pair such as "
                f"('validation', 'accuracy'), but got {target!r}."
            )
        split_raw, metric_raw = (str(p) for p in parts)
        split = _SPLIT_ALIASES.get(_clean_name(split_raw))
        if split is None:
            raise ProjectError(
                f"Expected the split of training_logs.metric_names.{raw} to be one of "
                f"{', '.join(SPLITS)}, but got {split_raw!r}."
            )
        metric = _clean_name(metric_raw)
        if not metric:
            raise ProjectError(
                f"Expected the metric of training_logs.metric_names.{raw} to be a name such as "
                f"'accuracy', but got {metric_raw!r}."
            )
        result[str(raw)] = (split, _METRIC_ALIASES.get(metric, metric))
    return result


def _map_name(
    raw: str, overrides: Mapping[str, tuple[str, str]]
) -> tuple[str, str, str | None, bool] | None:
    """``(split, metric, variant, overridden)`` for a raw name, or None."""
    if raw in overrides:
        split, metric = overrides[raw]
        return split, metric, None, True
    parsed = _parse_name(raw)
    if parsed is None:
        return None
    return parsed[0], parsed[1], parsed[2], False
