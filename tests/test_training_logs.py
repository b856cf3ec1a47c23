"""Readers for training logs: each format from a small file written here, messy logs, errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gengap_dash.data.training_logs import (
    CURVE_COLUMNS,
    TrainingRun,
    epoch_index,
    load_training_runs,
    logs_signature,
    parse_metric_name,
)
from gengap_dash.project.errors import ProjectError


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _one(path: Path, **kwargs: object) -> TrainingRun:
    runs = load_training_runs([path], **kwargs)  # type: ignore[arg-type]
    assert len(runs) == 1
    return runs.runs[0]


def _values(run: TrainingRun, split: str, metric: str) -> list[float]:
    return run.series(split, metric)["value"].round(6).tolist()


def _steps(run: TrainingRun, split: str, metric: str) -> list[int]:
    return run.series(split, metric)["step"].tolist()


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("train_loss", ("train", "loss")),
        ("val_loss", ("validation", "loss")),
        ("valid_acc", ("validation", "accuracy")),
        ("validation_accuracy", ("validation", "accuracy")),
        ("test_f1", ("test", "f1")),
        ("train/acc", ("train", "accuracy")),
        ("Loss/train", ("train", "loss")),
        ("accuracy_val", ("validation", "accuracy")),
        ("eval_loss", ("validation", "loss")),
        ("val/f1-score", ("validation", "f1")),
        ("loss", ("train", "loss")),
        ("accuracy", ("train", "accuracy")),
        ("train_loss_step", ("train", "loss")),
        ("val_acc_epoch", ("validation", "accuracy")),
        ("epoch_loss", ("train", "loss")),
        ("val_top5", ("validation", "top5")),
        ("val_bleu", ("validation", "bleu")),
        ("lr", None),
        ("learning_rate", None),
        ("epoch", None),
        ("step", None),
        ("eval_runtime", None),
        ("train_samples_per_second", None),
        ("grad_norm", None),
        ("foo", None),
    ],
)
def test_parse_metric_name_follows_the_conventions(
    raw: str, expected: tuple[str, str] | None
) -> None:
    assert parse_metric_name(raw) == expected


def test_epoch_index_keeps_whole_epochs_and_rounds_fractions_up() -> None:
    np.testing.assert_array_equal(
        epoch_index(np.array([0.0, 1.0, 0.25, 0.5, 1.0000000001, 1.25, 3.0])),
        [0.0, 1.0, 1.0, 1.0, 1.0, 2.0, 3.0],
    )


# --------------------------------------------------------------------------- formats


def test_wide_csv_reads_every_metric_per_epoch(tmp_path: Path) -> None:
    lines = ["epoch,train_loss,val_loss,train/acc,val_accuracy,lr"]
    lines += [f"{e},{1 / (e + 1):.4f},{1 / (e + 1) + 0.1:.4f},{e / 10},{e / 11:.4f},0.1" for e in
              range(5)]  # fmt: skip
    run = _one(_write(tmp_path / "run_a.csv", "\n".join(lines) + "\n"))

    assert run.name == "run_a"
    assert run.format == "csv"
    assert run.x_axis == "epoch"
    assert run.metrics == ("loss", "accuracy")
    assert run.splits("loss") == ("train", "validation")
    assert list(run.curves.columns) == list(CURVE_COLUMNS)
    assert _values(run, "validation", "loss") == [1.1, 0.6, 0.4333, 0.35, 0.3]
    assert _values(run, "train", "accuracy") == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert run.series("train", "loss")["epoch"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert run.raw_names[("validation", "accuracy")] == "val_accuracy"
    assert any("Ignored 1 column" in note and "lr" in note for note in run.notes)
    assert run.curves["step"].dtype == np.int64


def test_keras_csvlogger_bare_names_are_train(tmp_path: Path) -> None:
    text = "epoch,accuracy,loss,val_accuracy,val_loss\n0,0.5,1.2,0.45,1.3\n1,0.7,0.8,0.6,0.9\n"
    run = _one(_write(tmp_path / "training.csv", text))
    assert _values(run, "train", "loss") == [1.2, 0.8]
    assert _values(run, "validation", "accuracy") == [0.45, 0.6]


def test_tsv_and_semicolon_files_are_read(tmp_path: Path) -> None:
    tsv = _one(_write(tmp_path / "a.tsv", "epoch\ttrain_loss\tval_loss\n0\t1\t2\n1\t0.5\t1\n"))
    semi = _one(_write(tmp_path / "b.csv", "epoch;train_loss;val_loss\n0;1;2\n1;0.5;1\n"))
    assert _values(tsv, "validation", "loss") == [2.0, 1.0]
    assert _values(semi, "train", "loss") == [1.0, 0.5]


def test_long_csv_sorted_by_metric_is_not_a_restart(tmp_path: Path) -> None:
    lines = ["step,metric,value"]
    lines += [f"{s * 10},train_loss,{1 / (s + 1)}" for s in range(4)]
    lines += [f"{s * 10},val_loss,{1 / (s + 1) + 0.2}" for s in range(4)]
    lines += [f"{s * 10},val_acc,{0.5 + s / 10}" for s in range(4)]
    run = _one(_write(tmp_path / "long.csv", "\n".join(lines) + "\n"))

    assert run.format == "long_csv"
    assert run.x_axis == "step"
    assert _steps(run, "validation", "loss") == [0, 10, 20, 30]
    assert _values(run, "validation", "accuracy") == [0.5, 0.6, 0.7, 0.8]
    assert not any("twice" in note or "order" in note for note in run.notes)


def test_long_csv_with_a_split_column(tmp_path: Path) -> None:
    text = (
        "epoch,split,metric,value\n0,train,loss,1.0\n0,val,loss,1.5\n1,train,loss,0.5\n"
        "1,val,loss,1.2\n"
    )
    run = _one(_write(tmp_path / "long.csv", text))
    assert run.x_axis == "epoch"
    assert _values(run, "validation", "loss") == [1.5, 1.2]
    assert _values(run, "train", "loss") == [1.0, 0.5]


def _lightning_csv(epochs: int = 3, batches: int = 4) -> str:
    rows = ["epoch,step,train_loss_step,val_loss,val_acc,train_loss_epoch"]
    step = 0
    for epoch in range(epochs):
        losses = []
        for _ in range(batches):
            loss = 1.0 - 0.05 * step
            losses.append(loss)
            rows.append(f"{epoch},{step},{loss:.4f},,,")
            step += 1
        rows.append(f"{epoch},{step - 1},,{0.9 - 0.1 * epoch:.4f},{0.5 + 0.1 * epoch:.4f},")
        rows.append(f"{epoch},{step - 1},,,,{np.mean(losses):.4f}")
    return "\n".join(rows) + "\n"


def test_lightning_csvlogger_sparse_rows_are_matched(tmp_path: Path) -> None:
    version = tmp_path / "lightning_logs" / "version_0"
    _write(version / "metrics.csv", _lightning_csv())
    _write(version / "hparams.yaml", "lr: 0.1\ntrain_size: 500\n")
    run = _one(version / "metrics.csv")

    assert run.name == "version_0"  # metrics.csv is a generic stem: the folder names the run
    assert run.format == "lightning_csv"
    assert run.x_axis == "epoch"
    assert run.train_size == 500
    assert run.raw_names[("train", "loss")] == "train_loss_epoch"
    assert _values(run, "train", "loss") == [0.925, 0.725, 0.525]
    assert _values(run, "validation", "loss") == [0.9, 0.8, 0.7]
    assert any("separate rows" in note and "Lightning" in note for note in run.notes)
    assert any("ignored train_loss_step" in note for note in run.notes)


def test_lightning_val_check_interval_keeps_per_step_train(tmp_path: Path) -> None:
    rows = ["epoch,step,train_loss_step,val_loss,train_loss_epoch"]
    for step in range(8):
        rows.append(f"0,{step},{1 - step / 10},,")
        if step % 2 == 1:
            rows.append(f"0,{step},,{1.2 - step / 10},")
    rows.append("0,7,,,0.65")
    run = _one(_write(tmp_path / "metrics.csv", "\n".join(rows) + "\n"))
    # validation is logged 4 times in epoch 0, so the axis is the step and the per-step train
    # variant is the one that fits it
    assert run.x_axis == "step"
    assert run.raw_names[("train", "loss")] == "train_loss_step"
    assert _steps(run, "validation", "loss") == [1, 3, 5, 7]


def test_json_lines_are_flattened_and_a_truncated_line_is_skipped(tmp_path: Path) -> None:
    lines = [
        json.dumps({"step": s * 10, "train": {"loss": 1 / (s + 1)}, "val": {"loss": 0.5}})
        for s in range(4)
    ]
    lines.append('{"step": 40, "train": {"lo')
    run = _one(_write(tmp_path / "log.jsonl", "\n".join(lines) + "\n"))

    assert run.format == "jsonl"
    assert _steps(run, "train", "loss") == [0, 10, 20, 30]
    assert run.raw_names[("validation", "loss")] == "val/loss"
    assert any("Skipped 1 line" in note and "line 5" in note for note in run.notes)


def test_json_list_and_keras_history_dict(tmp_path: Path) -> None:
    records = [{"epoch": e, "loss": 1.0 / (e + 1), "val_loss": 1.1 / (e + 1)} for e in range(3)]
    listed = _one(_write(tmp_path / "records.json", json.dumps(records)))
    history = _one(
        _write(tmp_path / "history.json", json.dumps({"loss": [1.0, 0.5], "val_loss": [1.2, 0.9]}))
    )
    assert _values(listed, "validation", "loss") == [1.1, 0.55, 0.366667]
    assert history.x_axis == "epoch"
    assert history.series("validation", "loss")["epoch"].tolist() == [0.0, 1.0]
    assert any("numbered the epochs from 0" in note for note in history.notes)


def _hf_state(steps: int = 12, per_epoch: int = 4) -> dict:
    history: list[dict] = []
    for step in range(1, steps + 1):
        history.append(
            {"loss": round(1 / step, 4), "learning_rate": 1e-3, "epoch": step / per_epoch,
             "step": step}
        )  # fmt: skip
        if step % per_epoch == 0:
            history.append(
                {"eval_loss": round(1 / step + 0.2, 4), "eval_accuracy": 0.5 + step / 100,
                 "eval_runtime": 1.5, "eval_samples_per_second": 100.0, "epoch": step / per_epoch,
                 "step": step}
            )  # fmt: skip
    history.append(
        {"train_runtime": 10.0, "train_samples_per_second": 5.0, "train_loss": 0.4321,
         "epoch": steps / per_epoch, "step": steps}
    )  # fmt: skip
    return {"global_step": steps, "log_history": history}


def test_hugging_face_trainer_state(tmp_path: Path) -> None:
    path = _write(tmp_path / "out" / "trainer_state.json", json.dumps(_hf_state()))
    run = _one(path)

    assert run.name == "out"
    assert run.format == "hf_trainer_state"
    assert run.x_axis == "epoch"  # evaluation once per epoch
    assert _steps(run, "validation", "loss") == [4, 8, 12]
    assert _values(run, "validation", "accuracy") == [0.54, 0.58, 0.62]
    assert len(run.series("train", "loss")) == 12
    assert 0.4321 not in _values(run, "train", "loss")  # the end-of-run average is skipped
    assert any("summary entry" in note for note in run.notes)
    assert any("eval_runtime" in note for note in run.notes)


def test_hugging_face_output_folder_uses_the_latest_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "hf_out"
    _write(out / "checkpoint-8" / "trainer_state.json", json.dumps(_hf_state(steps=8)))
    _write(out / "checkpoint-12" / "trainer_state.json", json.dumps(_hf_state(steps=12)))
    _write(out / "config.json", json.dumps({"hidden_size": 8}))
    runs = load_training_runs([out])
    assert runs.names == ("hf_out",)
    assert runs.runs[0].source == out / "checkpoint-12" / "trainer_state.json"
    assert _steps(runs.runs[0], "validation", "loss") == [4, 8, 12]


def test_tensorboard_summary_writer(tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    logdir = tmp_path / "runs" / "exp1"
    writer = SummaryWriter(str(logdir))
    for step in range(6):
        writer.add_scalar("Loss/train", 1.0 / (step + 1), step)
        writer.add_scalar("Loss/val", 1.0 / (step + 1) + 0.25, step)
        writer.add_scalar("lr", 0.1, step)
        writer.add_scalars("acc", {"train": 0.5 + step / 20, "val": 0.4 + step / 20}, step)
    writer.add_hparams({"train_size": 1234, "lr": 0.1}, {"hparam/score": 1.0})
    writer.close()

    run = _one(logdir)
    assert run.name == "exp1"
    assert run.format == "tensorboard"
    assert run.x_axis == "step"
    assert run.train_size == 1234
    assert run.metrics == ("loss", "accuracy")
    assert _values(run, "validation", "loss") == pytest.approx(
        [1 / (s + 1) + 0.25 for s in range(6)], abs=1e-6
    )
    assert _values(run, "validation", "accuracy") == pytest.approx(
        [0.4 + s / 20 for s in range(6)], abs=1e-6
    )
    assert run.raw_names[("train", "accuracy")] == "acc_train"
    assert any("lr" in note for note in run.notes)


def test_tensorboard_epoch_tag_gives_epochs(tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path / "tb"))
    step = 0
    for epoch in range(3):
        for _ in range(5):
            writer.add_scalar("train_loss", 1.0 - step / 20, step)
            writer.add_scalar("epoch", epoch, step)
            step += 1
        writer.add_scalar("val_loss", 1.1 - epoch / 10, step - 1)
    writer.close()
    run = _one(tmp_path / "tb")
    assert run.x_axis == "epoch"
    assert run.series("validation", "loss")["epoch"].tolist() == [0.0, 1.0, 2.0]
    assert run.series("train", "loss")["epoch"].tolist() == [0.0] * 5 + [1.0] * 5 + [2.0] * 5


def test_tensorboard_keras_layout_is_one_run(tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    for split, offset in (("train", 0.0), ("validation", 0.2)):
        writer = SummaryWriter(str(tmp_path / "logs" / split))
        for epoch in range(3):
            writer.add_scalar("epoch_loss", 1.0 - epoch / 10 + offset, epoch)
        writer.close()
    runs = load_training_runs([tmp_path / "logs"])
    assert runs.names == ("logs",)
    assert _values(runs.runs[0], "validation", "loss") == pytest.approx([1.2, 1.1, 1.0])
    assert _values(runs.runs[0], "train", "loss") == pytest.approx([1.0, 0.9, 0.8])


# --------------------------------------------------------------------------- messy logs


def test_nan_and_infinite_values_are_dropped_and_said(tmp_path: Path) -> None:
    text = "epoch,train_loss,val_loss\n0,1.0,1.1\n1,nan,1.0\n2,0.8,inf\n3,0.7,-inf\n4,NaN,0.8\n"
    run = _one(_write(tmp_path / "a.csv", text))
    assert _steps(run, "train", "loss") == [0, 2, 3]
    assert _steps(run, "validation", "loss") == [0, 1, 4]
    assert "Dropped 2 NaN values of train loss (epochs 1, 4)." in run.notes
    assert "Dropped 2 infinite values of validation loss (epochs 2, 3)." in run.notes


def test_json_null_and_nan_are_dropped(tmp_path: Path) -> None:
    lines = [
        '{"step": 0, "train_loss": 1.0, "val_loss": null}',
        '{"step": 1, "train_loss": NaN, "val_loss": 0.9}',
        '{"step": 2, "train_loss": 0.5, "val_loss": Infinity}',
    ]
    run = _one(_write(tmp_path / "a.jsonl", "\n".join(lines)))
    assert _steps(run, "train", "loss") == [0, 2]
    assert _steps(run, "validation", "loss") == [1]
    assert any("NaN value of validation loss (step 0)" in note for note in run.notes)


def test_restart_keeps_the_later_values(tmp_path: Path) -> None:
    first = [f"{s},{1 - s / 10},{1.2 - s / 10}" for s in range(7)]  # steps 0..6
    again = [f"{s},{0.5 - s / 100},{0.9 - s / 100}" for s in range(4, 9)]  # restart at 4
    text = "step,train_loss,val_loss\n" + "\n".join(first + again) + "\n"
    run = _one(_write(tmp_path / "a.csv", text))

    assert _steps(run, "train", "loss") == list(range(9))
    assert _values(run, "train", "loss")[:4] == [1.0, 0.9, 0.8, 0.7]
    assert _values(run, "train", "loss")[4:] == [0.46, 0.45, 0.44, 0.43, 0.42]
    assert (
        "Steps 4..6 were logged twice (a restart from step 4); kept the later values "
        "(train loss, validation loss)." in run.notes
    )


def test_restart_drops_orphaned_steps_of_the_first_attempt(tmp_path: Path) -> None:
    # the first attempt reached step 6, the second restarted at 3 and stopped at 4
    text = "step,train_loss\n0,1\n1,0.9\n2,0.8\n3,0.7\n4,0.6\n5,0.5\n6,0.4\n3,0.65\n4,0.55\n"
    run = _one(_write(tmp_path / "a.csv", text))
    assert _steps(run, "train", "loss") == [0, 1, 2, 3, 4]
    assert _values(run, "train", "loss") == [1.0, 0.9, 0.8, 0.65, 0.55]


def test_duplicate_rows_and_out_of_order_steps(tmp_path: Path) -> None:
    text = "step,train_loss\n0,1.0\n10,0.9\n10,0.9\n30,0.7\n20,0.8\n40,0.6\n"
    run = _one(_write(tmp_path / "a.csv", text))
    assert _steps(run, "train", "loss") == [0, 10, 20, 30, 40]
    assert _values(run, "train", "loss") == [1.0, 0.9, 0.8, 0.7, 0.6]
    assert any("1 duplicate row of train loss" in note for note in run.notes)
    assert any("not in increasing order" in note and "sorted" in note for note in run.notes)


def test_per_step_train_with_per_epoch_validation_uses_epochs(tmp_path: Path) -> None:
    rows = ["step,epoch,train_loss,val_loss"]
    for step in range(12):
        epoch = step // 4
        val = f"{1.0 - epoch / 10}" if step % 4 == 3 else ""
        rows.append(f"{step},{epoch},{1 - step / 20},{val}")
    run = _one(_write(tmp_path / "a.csv", "\n".join(rows) + "\n"))
    assert run.x_axis == "epoch"
    assert len(run.series("train", "loss")) == 12
    assert _steps(run, "validation", "loss") == [3, 7, 11]
    # a dense CSV with empty validation cells says so
    assert any("Validation loss is empty on 9 of 12 rows" in note for note in run.notes)


def test_text_cells_repeated_headers_and_short_rows(tmp_path: Path) -> None:
    text = (
        "epoch,train_loss,val_loss\n0,1.0,1.2\n1,oops,1.1\nepoch,train_loss,val_loss\n"
        "2,0.8,1.0\n3,0.7\n"
    )
    run = _one(_write(tmp_path / "a.csv", text))
    assert _steps(run, "train", "loss") == [0, 2, 3]
    assert _steps(run, "validation", "loss") == [0, 1, 2]
    assert any("repeated once" in note for note in run.notes)
    assert any("text, not numbers" in note for note in run.notes)
    assert any("fewer fields than the header" in note for note in run.notes)


def test_no_step_or_epoch_column_uses_row_order(tmp_path: Path) -> None:
    run = _one(_write(tmp_path / "a.csv", "train_loss,val_loss\n1.0,1.2\n0.8,1.0\n"))
    assert _steps(run, "validation", "loss") == [0, 1]
    assert run.x_axis == "step"
    assert any("row order" in note for note in run.notes)


# --------------------------------------------------------------------------- several runs


def test_folder_of_runs_named_by_stem_and_subfolder(tmp_path: Path) -> None:
    body = "epoch,train_loss,val_loss\n0,1.0,1.1\n1,0.5,0.7\n"
    _write(tmp_path / "runs" / "small_train_size_100.csv", body)
    _write(tmp_path / "runs" / "big.csv", body)
    _write(tmp_path / "runs" / "seed1" / "metrics.csv", body)
    _write(tmp_path / "runs" / "notes.txt", "not a log")
    runs = load_training_runs([tmp_path / "runs"], train_sizes={"big": 1000})

    assert runs.names == ("big", "small_train_size_100", "seed1")
    assert runs["small_train_size_100"].train_size == 100
    assert runs["big"].train_size == 1000
    assert runs["seed1"].train_size is None
    frame = runs.to_frame()
    assert list(frame.columns) == ["run", "train_size", *CURVE_COLUMNS]
    assert len(frame) == 3 * 4
    assert frame.loc[frame["run"] == "big", "train_size"].unique().tolist() == [1000]
    with pytest.raises(KeyError, match="No training run named 'nope'"):
        runs["nope"]


def test_train_size_from_a_column_and_from_the_folder(tmp_path: Path) -> None:
    column = _one(
        _write(
            tmp_path / "a.csv", "epoch,train_size,train_loss,val_loss\n0,300,1,1.1\n1,300,.5,.7\n"
        )
    )
    folder = _one(
        _write(tmp_path / "train_size=800" / "metrics.csv", "epoch,loss,val_loss\n0,1,2\n")
    )
    assert column.train_size == 300
    assert "train_size" not in set(column.curves["metric"])
    assert folder.train_size == 800


def test_duplicate_run_names_are_made_unique(tmp_path: Path) -> None:
    body = "epoch,train_loss,val_loss\n0,1.0,1.1\n"
    a = _write(tmp_path / "a" / "run.csv", body)
    b = _write(tmp_path / "b" / "run.csv", body)
    runs = load_training_runs([a, b])
    assert runs.names == ("a/run", "b/run")
    assert any("Two runs were named 'run'" in note for note in runs.notes)


def test_metric_names_override_and_unused_override(tmp_path: Path) -> None:
    text = "epoch,loss,eval_top1,holdout_ce\n0,1.0,0.5,1.2\n1,0.8,0.6,1.0\n"
    run = _one(
        _write(tmp_path / "a.csv", text),
        metric_names={
            "holdout_ce": ("val", "loss"),
            "eval_top1": ("validation", "acc"),
            "missing": ("test", "loss"),
        },
    )
    assert _values(run, "validation", "loss") == [1.2, 1.0]
    assert _values(run, "validation", "accuracy") == [0.5, 0.6]
    runs = load_training_runs([tmp_path / "a.csv"], metric_names={"missing": ("test", "loss")})
    assert any("'missing', which no log contains" in note for note in runs.notes)


def test_unknown_train_sizes_key_is_noted(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.csv", "epoch,train_loss,val_loss\n0,1,1\n")
    runs = load_training_runs([path], train_sizes={"b": 10})
    assert any("names run 'b', but the runs are: a" in note for note in runs.notes)


# --------------------------------------------------------------------------- errors


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"Training log .*nope\.csv: no such file or folder"):
        load_training_runs([tmp_path / "nope.csv"])


def test_no_paths() -> None:
    with pytest.raises(ProjectError, match="Expected at least one training log"):
        load_training_runs([])


def test_no_recognisable_metric_names_the_columns(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.csv", "epoch,foo,bar\n0,1,2\n")
    with pytest.raises(
        ProjectError,
        match=r"x\.csv: no recognisable metric columns \(expected names like train_loss, "
        r"val_accuracy; found: foo, bar\)\. Map them with training_logs\.metric_names",
    ):
        load_training_runs([path])


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="the file is empty"):
        load_training_runs([_write(tmp_path / "e.csv", "")])
    with pytest.raises(ProjectError, match="has a header but no data rows"):
        load_training_runs([_write(tmp_path / "h.csv", "epoch,train_loss\n")])
    with pytest.raises(ProjectError, match="single column"):
        load_training_runs([_write(tmp_path / "s.csv", "train_loss\n1\n")])


def test_binary_and_non_utf8_files(tmp_path: Path) -> None:
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"\x00\x01\x02garbage")
    latin = tmp_path / "l.csv"
    latin.write_bytes("epoch,train_loss\n0,1\xe9\n".encode("latin-1"))
    with pytest.raises(ProjectError, match="binary file, not a text log"):
        load_training_runs([binary])
    with pytest.raises(ProjectError, match="cannot read it as UTF-8 text"):
        load_training_runs([latin])


def test_bad_json(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"not valid JSON \(Expecting"):
        load_training_runs([_write(tmp_path / "trainer_state.json", '{"log_history": [')])
    with pytest.raises(ProjectError, match="no line is a JSON object"):
        load_training_runs([_write(tmp_path / "a.jsonl", "[1, 2]\nnot json\n")])
    with pytest.raises(ProjectError, match="empty log_history"):
        load_training_runs([_write(tmp_path / "s" / "trainer_state.json", '{"log_history": []}')])
    with pytest.raises(ProjectError, match="unexpected JSON layout"):
        load_training_runs([_write(tmp_path / "n.json", "42")])


def test_every_value_non_finite(tmp_path: Path) -> None:
    with pytest.raises(
        ProjectError, match="every value of its metrics is missing, NaN or infinite"
    ):
        load_training_runs([_write(tmp_path / "a.csv", "epoch,train_loss\n0,nan\n1,inf\n")])


def test_empty_folder_and_folder_of_bad_logs(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ProjectError, match=r"empty: found no training logs in it"):
        load_training_runs([tmp_path / "empty"])
    _write(tmp_path / "bad" / "x.csv", "epoch,foo\n0,1\n")
    with pytest.raises(ProjectError, match=r"found no readable training log.*x\.csv"):
        load_training_runs([tmp_path / "bad"])


def test_a_bad_file_in_a_folder_is_skipped_with_a_note(tmp_path: Path) -> None:
    _write(tmp_path / "runs" / "good.csv", "epoch,train_loss,val_loss\n0,1,1.1\n")
    _write(tmp_path / "runs" / "bad.csv", "epoch,foo\n0,1\n")
    runs = load_training_runs([tmp_path / "runs"])
    assert runs.names == ("good",)
    assert any(note.startswith("Skipped") and "bad.csv" in note and "foo" in note
               for note in runs.notes)  # fmt: skip


def test_an_explicit_bad_file_is_an_error_even_beside_good_ones(tmp_path: Path) -> None:
    good = _write(tmp_path / "good.csv", "epoch,train_loss,val_loss\n0,1,1.1\n")
    bad = _write(tmp_path / "bad.csv", "epoch,foo\n0,1\n")
    with pytest.raises(ProjectError, match=r"bad\.csv: no recognisable metric"):
        load_training_runs([good, bad])


def test_corrupt_tensorboard_file_has_no_metric(tmp_path: Path) -> None:
    _write(tmp_path / "tb" / "events.out.tfevents.123.host", "definitely not a record")
    with pytest.raises(ProjectError, match=r"tb: no recognisable scalar tags"):
        load_training_runs([tmp_path / "tb"])


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"x": ("holdout", "loss")}, r"split of training_logs\.metric_names\.x to be one of"),
        ({"x": ("validation",)}, r"training_logs\.metric_names\.x to be a \(split, metric\) pair"),
        ({"x": ("validation", "--")}, r"metric of training_logs\.metric_names\.x to be a name"),
    ],
)
def test_bad_metric_names_override(tmp_path: Path, mapping: dict, message: str) -> None:
    path = _write(tmp_path / "a.csv", "epoch,train_loss\n0,1\n")
    with pytest.raises(ProjectError, match=message):
        load_training_runs([path], metric_names=mapping)


@pytest.mark.parametrize("size", [0, -5, 1.5, True, "100"])
def test_bad_train_size_override(tmp_path: Path, size: object) -> None:
    path = _write(tmp_path / "a.csv", "epoch,train_loss\n0,1\n")
    with pytest.raises(ProjectError, match=r"training_logs\.train_sizes\.a to be a positive"):
        load_training_runs([path], train_sizes={"a": size})  # type: ignore[dict-item]


def test_curves_hold_only_finite_values(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=40)
    values[rng.choice(40, 8, replace=False)] = np.nan
    frame = pd.DataFrame({"step": np.arange(40), "train_loss": values, "val_loss": values + 1})
    frame.to_csv(tmp_path / "a.csv", index=False)
    run = _one(tmp_path / "a.csv")
    assert np.isfinite(run.curves["value"]).all()
    assert len(run.series("train", "loss")) == 32
    assert not math.isnan(run.series("validation", "loss")["value"].sum())


def test_logs_signature_changes_when_a_log_changes(tmp_path: Path) -> None:
    import os

    main = _write(tmp_path / "main.csv", "epoch,train_loss,val_loss\n1,1.0,1.1\n")
    folder = tmp_path / "sizes"
    _write(folder / "train_size_100.csv", "epoch,train_loss,val_loss\n1,1.0,1.2\n")
    first = logs_signature([main, folder])
    assert logs_signature([main, folder]) == first
    assert [entry[0] for entry in first] == [
        str(main),
        str(folder),
        str(folder / "train_size_100.csv"),
    ]
    stat = main.stat()
    os.utime(main, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # edited
    edited = logs_signature([main, folder])
    assert edited != first
    _write(folder / "train_size_200.csv", "epoch,train_loss,val_loss\n1,1.0,1.3\n")  # added
    assert len(logs_signature([main, folder])) == len(edited) + 1
    assert logs_signature(tmp_path / "missing.csv") == ((str(tmp_path / "missing.csv"), -1, -1),)


def test_all_notes_name_their_run(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.csv", "epoch,train_loss,val_loss\n1,1.0,nan\n2,0.5,0.7\n")
    b = _write(tmp_path / "b.csv", "epoch,train_loss,val_loss\n1,1.0,1.1\n2,0.5,0.7\n")
    runs = load_training_runs([a, b], metric_names={"unused": ("validation", "loss")})
    notes = runs.all_notes()
    assert notes[: len(runs.notes)] == runs.notes
    assert any("unused" in note for note in runs.notes)
    per_run = notes[len(runs.notes) :]
    assert per_run and all(note.startswith("a: ") for note in per_run)
    assert per_run == tuple(f"a: {note}" for note in runs["a"].notes)
