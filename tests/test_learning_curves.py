"""Learning-curve analysis and its figures: hand-made curves with known answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from scipy import optimize

from gengap_dash.analysis.learning_curves import (
    align_curves,
    align_runs,
    analyze_metric,
    best_point,
    checkpoint_for,
    curves_takeaway,
    data_size_analysis,
    data_size_findings,
    data_size_takeaway,
    default_metric,
    diagnose_run,
    diagnose_runs,
    early_stopping,
    ema_smooth,
    fit_power_law,
    gap_takeaway,
    held_out_metrics,
    metric_mode,
    overfitting_onset,
    overlay_takeaway,
    patience_sweep,
    patience_takeaway,
    run_findings,
    signed_gap,
    smooth_curves,
)
from gengap_dash.data.training_logs import CURVE_COLUMNS, TrainingRun, TrainingRuns
from gengap_dash.findings import render
from gengap_dash.findings.learning_curves import verdict_text
from gengap_dash.findings.words import position, significant
from gengap_dash.plots.learning_curves import (
    data_size_figure,
    gap_figure,
    learning_curves_figure,
    patience_figure,
    runs_overlay_figure,
)
from gengap_dash.project.errors import ProjectError

EPOCHS = np.arange(31, dtype=float)


def run_verdict(diagnosis) -> str:
    """The run's verdict as the page, the CLI and the report say it."""
    return verdict_text(run_findings(diagnosis))


def data_size_verdict(analysis) -> str:
    return verdict_text(data_size_findings(analysis))


def make_run(
    curves: dict[tuple[str, str], np.ndarray],
    *,
    name: str = "run",
    epochs: dict[tuple[str, str], np.ndarray] | None = None,
    steps: dict[tuple[str, str], np.ndarray] | None = None,
    x_axis: str = "epoch",
    train_size: int | None = None,
) -> TrainingRun:
    """A TrainingRun from arrays: per-epoch unless ``steps`` gives a curve its own steps."""
    frames = []
    for (split, metric), values in curves.items():
        values = np.asarray(values, dtype=float)
        if steps is not None and (split, metric) in steps:
            step = np.asarray(steps[(split, metric)])
            epoch = np.full(len(values), np.nan) if epochs is None else epochs[(split, metric)]
        else:
            step = np.arange(len(values))
            epoch = step.astype(float)
        frames.append(
            pd.DataFrame(
                {"step": step, "epoch": epoch, "split": split, "metric": metric, "value": values}
            )
        )
    frame = pd.concat(frames, ignore_index=True)[list(CURVE_COLUMNS)]
    return TrainingRun(name, None, train_size, frame, x_axis)  # type: ignore[arg-type]


def example_overfitting() -> tuple[np.ndarray, np.ndarray]:
    """The issue's example: validation loss bottoms at epoch 14 (0.231), 38% higher at 30."""
    train = 0.05 + np.exp(-EPOCHS / 8)
    val = np.where(
        EPOCHS < 14, 0.231 + 0.004 * (14 - EPOCHS) ** 2, 0.231 + 0.000344 * (EPOCHS - 14) ** 2
    )
    return train, val


# --------------------------------------------------------------------------- small pieces


def test_metric_mode() -> None:
    assert metric_mode("loss") == "min"
    assert metric_mode("top1_error") == "min"
    assert metric_mode("accuracy") == "max"
    assert metric_mode("f1") == "max"
    assert metric_mode("macro_f1") == "max"
    assert metric_mode("something") == "min"


def _tensorboard_smoothing(values: list[float], weight: float) -> list[float]:
    """A line-by-line port of TensorBoard's ``resmoothDataset`` (vz_line_chart2)."""
    last = 0.0
    num_accum = 0
    is_constant = all(v == values[0] for v in values)
    out = []
    for value in values:
        if is_constant or not math.isfinite(value):
            out.append(value)
            continue
        last = last * weight + (1 - weight) * value
        num_accum += 1
        debias = 1 - weight**num_accum if weight != 1 else 1
        out.append(last / debias)
    return out


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.6, 0.9, 0.999])
def test_ema_smooth_matches_tensorboard(weight: float) -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=50).cumsum()
    values[[5, 17]] = np.nan
    values[30] = np.inf
    expected = _tensorboard_smoothing(values.tolist(), weight)
    np.testing.assert_allclose(ema_smooth(values, weight), expected, rtol=1e-12, equal_nan=True)


def test_ema_smooth_is_debiased_and_keeps_constants() -> None:
    assert ema_smooth([2.0, 2.0, 2.0], 0.9).tolist() == [2.0, 2.0, 2.0]
    # debiasing: the first smoothed value is the first raw value, not 0.1 of it
    assert ema_smooth([5.0, 1.0], 0.9)[0] == pytest.approx(5.0)
    assert ema_smooth([], 0.5).size == 0


@pytest.mark.parametrize("weight", [1.0, -0.1, 2, True, "0.5"])
def test_ema_smooth_rejects_bad_weights(weight: object) -> None:
    with pytest.raises(ValueError, match=r"Expected `weight` to be a number in \[0, 1\)"):
        ema_smooth([1.0, 2.0], weight)  # type: ignore[arg-type]


def test_ema_smooth_rejects_2d() -> None:
    with pytest.raises(ValueError, match="Expected `values` to be 1-D"):
        ema_smooth(np.ones((2, 2)), 0.5)


def test_signed_gap_is_worse_up() -> None:
    np.testing.assert_allclose(signed_gap([0.1, 0.2], [0.3, 0.2], mode="min"), [0.2, 0.0])
    np.testing.assert_allclose(signed_gap([0.9, 0.8], [0.7, 0.8], mode="max"), [0.2, 0.0])
    with pytest.raises(ValueError, match="Expected `mode` to be 'min' or 'max'"):
        signed_gap([1.0], [1.0], mode="up")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="the same shape"):
        signed_gap([1.0], [1.0, 2.0], mode="min")


def test_best_point_takes_the_first_best_and_skips_nan() -> None:
    assert best_point([0, 1, 2, 3], [0.5, np.nan, 0.2, 0.2], mode="min") == (2.0, 0.2)
    assert best_point([0, 1, 2], [0.5, 0.9, 0.9], mode="max") == (1.0, 0.9)
    with pytest.raises(ValueError, match="at least one finite value"):
        best_point([0, 1], [np.nan, np.nan], mode="min")


# --------------------------------------------------------------------------- early stopping


class KerasEarlyStopping:
    """The stopping logic of ``keras.callbacks.EarlyStopping`` (Keras 3), step by step."""

    def __init__(self, *, patience: int, mode: str, min_delta: float) -> None:
        self.patience = patience
        self.monitor_op = np.less if mode == "min" else np.greater
        self.min_delta = abs(min_delta) * (-1 if mode == "min" else 1)
        self.wait = 0
        self.best: float | None = None
        self.best_epoch = 0
        self.stopped_epoch: int | None = None

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        return bool(self.monitor_op(value - self.min_delta, reference))

    def on_epoch_end(self, epoch: int, value: float) -> bool:
        self.wait += 1
        if self._is_improvement(value, self.best):
            self.best = value
            self.best_epoch = epoch
            self.wait = 0
            return False
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            return True
        return False


def _keras(values: np.ndarray, patience: int, mode: str, min_delta: float) -> KerasEarlyStopping:
    callback = KerasEarlyStopping(patience=patience, mode=mode, min_delta=min_delta)
    for epoch, value in enumerate(values):
        if callback.on_epoch_end(epoch, float(value)):
            break
    return callback


@pytest.mark.parametrize("seed", range(40))
def test_early_stopping_matches_keras(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    values = np.round(rng.normal(size=n).cumsum() * 0.1 + 1.0, 2)  # rounding makes ties
    patience = int(rng.integers(1, 8))
    mode = "min" if seed % 2 else "max"
    min_delta = float(rng.choice([0.0, 0.01, 0.05]))
    result = early_stopping(values, patience=patience, mode=mode, min_delta=min_delta)
    keras = _keras(values, patience, mode, min_delta)
    assert result.stop_epoch == (None if keras.stopped_epoch is None else keras.stopped_epoch)
    assert result.best_epoch == keras.best_epoch
    assert result.best_value == keras.best
    assert result.final_value == values[-1]


def test_early_stopping_stops_patience_after_the_best() -> None:
    _, val = example_overfitting()
    result = early_stopping(val, patience=5, mode="min", epochs=EPOCHS)
    assert (result.best_epoch, result.stop_epoch) == (14.0, 19.0)
    assert result.best_value == pytest.approx(0.231)
    assert result.final_value == pytest.approx(0.231 + 0.000344 * 256)
    assert result.stopped


def test_early_stopping_uses_the_given_epochs_and_may_never_stop() -> None:
    result = early_stopping([3.0, 2.0, 1.0], patience=1, mode="min", epochs=[10, 20, 30])
    assert result.stop_epoch is None
    assert not result.stopped
    assert result.best_epoch == 30.0
    stopped = early_stopping([1.0, 2.0, 3.0], patience=2, mode="min", epochs=[10, 20, 30])
    assert stopped.stop_epoch == 30.0 and stopped.best_epoch == 10.0


def test_early_stopping_min_delta_ignores_small_improvements() -> None:
    values = [1.0, 0.995, 0.99, 0.985, 0.5]
    assert early_stopping(values, patience=3, mode="min").stop_epoch is None
    small = early_stopping(values, patience=3, mode="min", min_delta=0.02)
    assert small.stop_epoch == 3.0
    assert small.best_epoch == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"patience": 0}, r"Expected `patience` to be a positive integer, but got 0\."),
        ({"patience": 2.5}, r"Expected `patience` to be a positive integer, but got 2\.5\."),
        ({"patience": True}, r"Expected `patience` to be a positive integer, but got True\."),
        ({"mode": "lower"}, r"Expected `mode` to be 'min' or 'max', but got 'lower'\."),
        ({"min_delta": -0.1}, r"Expected `min_delta` to be a non-negative number"),
        ({"values": [1.0, np.nan]}, r"Expected `values` to be finite, but got nan at position 1"),
        ({"values": []}, r"Expected `values` to be a non-empty 1-D sequence"),
        ({"epochs": [1, 2]}, r"Expected `epochs` to have the shape of `values`"),
    ],
)
def test_early_stopping_rejects_bad_input(kwargs: dict, message: str) -> None:
    arguments = {"values": [1.0, 2.0, 3.0], "patience": 2, "mode": "min", **kwargs}
    values = arguments.pop("values")
    with pytest.raises(ValueError, match=message):
        early_stopping(values, **arguments)


# --------------------------------------------------------------------------- alignment


def test_align_per_step_train_to_epochs_mean_and_last() -> None:
    train_steps = np.arange(12)
    run = make_run(
        {("train", "loss"): 1 - train_steps / 20, ("validation", "loss"): [1.0, 0.9, 0.8]},
        steps={("train", "loss"): train_steps, ("validation", "loss"): [3, 7, 11]},
        epochs={("train", "loss"): train_steps // 4 * 1.0, ("validation", "loss"): [0.0, 1, 2]},
    )
    mean = align_curves(run, "loss")
    last = align_curves(run, "loss", train_aggregate="last")
    np.testing.assert_allclose(mean.x, [0, 1, 2])
    np.testing.assert_allclose(mean.train, [0.925, 0.725, 0.525])
    np.testing.assert_allclose(last.train, [0.85, 0.65, 0.45])
    np.testing.assert_allclose(mean.validation, [1.0, 0.9, 0.8])
    assert mean.test is None
    assert mean.notes == (
        "Train loss was logged up to 4 times per epoch; used the mean of each epoch.",
    )
    np.testing.assert_allclose(mean.gap, [0.075, 0.175, 0.275])
    assert list(mean.to_frame().columns) == ["x", "train", "validation", "gap"]


def test_align_on_steps_buckets_train_between_validation_steps() -> None:
    run = make_run(
        {("train", "loss"): np.arange(10, dtype=float), ("validation", "loss"): [5.0, 6.0]},
        steps={("train", "loss"): np.arange(10) * 10, ("validation", "loss"): [40, 90]},
        x_axis="step",
    )
    curves = align_curves(run, "loss")
    np.testing.assert_allclose(curves.x, [40, 90])
    np.testing.assert_allclose(curves.train, [2.0, 7.0])  # mean of steps 0..40 and 50..90
    assert "up to 5 points between two held-out steps" in curves.notes[0]


def test_align_keeps_train_after_the_last_validation_step() -> None:
    run = make_run(
        {("train", "loss"): [4.0, 3.0, 2.0, 1.0], ("validation", "loss"): [3.5]},
        steps={("train", "loss"): [1, 2, 3, 4], ("validation", "loss"): [2]},
        x_axis="step",
    )
    curves = align_curves(run, "loss", train_aggregate="last")
    np.testing.assert_allclose(curves.x, [2, 4])
    np.testing.assert_allclose(curves.train, [3.0, 1.0])
    np.testing.assert_allclose(curves.validation, [3.5, np.nan])


def test_align_rejects_unknown_metric_and_aggregate() -> None:
    run = make_run({("train", "loss"): [1.0, 0.5], ("validation", "loss"): [1.0, 0.9]})
    with pytest.raises(ValueError, match=r"Expected `metric` to be one of loss .*got 'acc'"):
        align_curves(run, "acc")
    with pytest.raises(ValueError, match="Expected `train_aggregate` to be 'mean' or 'last'"):
        align_curves(run, "loss", train_aggregate="median")  # type: ignore[arg-type]


def test_smooth_curves_smooths_every_split() -> None:
    run = make_run({("train", "loss"): [1.0, 0.0, 1.0], ("validation", "loss"): [2.0, 0.0, 2.0]})
    curves = align_curves(run, "loss")
    smoothed = smooth_curves(curves, weight=0.5)
    np.testing.assert_allclose(smoothed.train, ema_smooth(curves.train, 0.5))
    np.testing.assert_allclose(smoothed.validation, ema_smooth(curves.validation, 0.5))
    np.testing.assert_allclose(smoothed.x, curves.x)


# --------------------------------------------------------------------------- onset and verdicts


def test_the_issue_example_verdict() -> None:
    train, val = example_overfitting()
    run = make_run({("train", "loss"): train, ("validation", "loss"): val})
    diagnosis = diagnose_run(run, patience=5)
    assert diagnosis.kind == "overfitting"
    assert diagnosis.best_epoch == 14.0
    assert diagnosis.onset_epoch == 14.0
    assert diagnosis.stop_epoch == 19.0
    assert diagnosis.stopped_value == pytest.approx(0.231)
    assert diagnosis.final_gap == pytest.approx(val[-1] - train[-1])
    assert run_verdict(diagnosis).startswith(
        "Validation loss bottomed at epoch 14 (0.231) and rose 38% by the last epoch (0.319 at "
        "epoch 30) while train loss kept falling: overfitting began around epoch 14. Early "
        "stopping with patience 5 would have stopped at epoch 19"
    )
    assert diagnosis.analysis.onset_rule == "validation_minimum"


def test_patience_moves_the_stop() -> None:
    train, val = example_overfitting()
    run = make_run({("train", "loss"): train, ("validation", "loss"): val})
    assert diagnose_run(run, patience=3).stop_epoch == 17.0
    assert diagnose_run(run, patience=20).stop_epoch is None
    assert "would not have stopped before the last epoch (30)" in run_verdict(
        diagnose_run(run, patience=20)
    )


@pytest.mark.parametrize("best", [6, 12, 20])
def test_onset_found_under_noise(best: int) -> None:
    rng = np.random.default_rng(best)
    train = 0.05 + np.exp(-EPOCHS / 6)
    val = 0.3 + 0.002 * (EPOCHS - best) ** 2 + rng.normal(0, 0.004, EPOCHS.size)
    onset = overfitting_onset(EPOCHS, train, val, mode="min")
    assert onset is not None and abs(onset - best) <= 2


def test_accuracy_plateau_with_runaway_train_is_gap_widening() -> None:
    train = np.minimum(0.7 + 0.02 * EPOCHS, 1.0)
    val = np.minimum(0.7 + 0.02 * EPOCHS, 0.85)  # both 0.84 at epoch 7, then only train rises
    run = make_run({("train", "accuracy"): train, ("validation", "accuracy"): val})
    diagnosis = diagnose_run(run)
    assert diagnosis.metric == "accuracy" and diagnosis.mode == "max"
    assert diagnosis.kind == "overfitting"
    assert diagnosis.onset_epoch == 7.0
    assert diagnosis.analysis.onset_rule == "gap_widening"
    assert diagnosis.best_epoch == 8.0
    assert diagnosis.final_gap == pytest.approx(0.15)
    assert "began to widen around epoch 7" in run_verdict(diagnosis)


def test_flat_then_widening_gap_onset_is_exact() -> None:
    train = np.where(EPOCHS <= 10, 0.5, 0.5 - 0.02 * (EPOCHS - 10))
    val = np.full(EPOCHS.size, 0.55)
    assert overfitting_onset(EPOCHS, train, val, mode="min") == 10.0


def test_no_onset_when_both_improve_together() -> None:
    train = 0.2 + np.exp(-EPOCHS / 3)
    val = train + 0.05
    assert overfitting_onset(EPOCHS, train, val, mode="min") is None
    assert overfitting_onset(EPOCHS, None, val, mode="min") is None


def test_underfitting_when_both_still_fall() -> None:
    run = make_run(
        {
            ("train", "loss"): 2 * np.exp(-EPOCHS / 30) + 0.1,
            ("validation", "loss"): 2 * np.exp(-EPOCHS / 30) + 0.2,
        }
    )
    diagnosis = diagnose_run(run)
    assert diagnosis.kind == "underfitting"
    assert diagnosis.onset_epoch is None
    assert run_verdict(diagnosis).startswith(
        "Train loss and validation loss were both still falling at the last epoch"
    )
    assert "training longer is likely to help" in run_verdict(diagnosis)


def test_underfitting_when_both_stay_high() -> None:
    run = make_run(
        {
            ("train", "loss"): 2.3 - 0.01 * np.sqrt(EPOCHS),
            ("validation", "loss"): 2.31 - 0.01 * np.sqrt(EPOCHS),
        }
    )
    diagnosis = diagnose_run(run)
    assert diagnosis.kind == "underfitting"
    assert "only went from 2.3 to 2.25" in run_verdict(diagnosis)
    assert "both are high" in run_verdict(diagnosis)


def test_healthy_run() -> None:
    train = 0.2 + np.exp(-EPOCHS / 3)
    run = make_run({("train", "loss"): train, ("validation", "loss"): train + 0.05})
    diagnosis = diagnose_run(run)
    assert diagnosis.kind == "healthy"
    assert not diagnosis.noisy
    assert "No clear sign of overfitting or underfitting" in run_verdict(diagnosis)
    assert "the final gap to train loss is 0.05" in run_verdict(diagnosis)


def test_noisy_validation_signal() -> None:
    rng = np.random.default_rng(7)
    train = 0.3 + 0.2 * np.exp(-EPOCHS / 3)
    val = 0.45 + 0.1 * np.exp(-EPOCHS / 3) + rng.normal(0, 0.04, EPOCHS.size)
    run = make_run({("train", "loss"): train, ("validation", "loss"): val})
    diagnosis = diagnose_run(run)
    assert diagnosis.noisy
    assert diagnosis.kind == "noisy"
    assert run_verdict(diagnosis).startswith("Validation loss is noisy")
    assert "unreliable" in run_verdict(diagnosis)


def test_diverging_training_is_not_overfitting() -> None:
    train = np.where(EPOCHS < 15, 1 - EPOCHS * 0.05, 0.3 + 0.05 * (EPOCHS - 15))
    run = make_run({("train", "loss"): train, ("validation", "loss"): train + 0.1})
    diagnosis = diagnose_run(run)
    assert diagnosis.kind == "noisy"
    assert diagnosis.onset_epoch is None
    assert "training became unstable" in run_verdict(diagnosis)


def test_checkpoint_epoch_is_reported() -> None:
    train, val = example_overfitting()
    run = make_run({("train", "loss"): train, ("validation", "loss"): val})
    at_end = diagnose_run(run, checkpoint_epoch=30)
    at_best = diagnose_run(run, checkpoint_epoch=14)
    unknown = diagnose_run(run, checkpoint_epoch=99)
    assert at_end.checkpoint_value == pytest.approx(val[30])
    assert "The loaded checkpoint is from epoch 30, where validation loss was 0.319" in (
        run_verdict(at_end)
    )
    assert "The loaded checkpoint is from epoch 14, the best epoch" in run_verdict(at_best)
    assert unknown.checkpoint_value is None
    assert "was not logged" in run_verdict(unknown)


def test_diagnosis_to_dict_is_json() -> None:
    train, val = example_overfitting()
    run = make_run({("train", "loss"): train, ("validation", "loss"): val}, name="r1")
    data = json.loads(json.dumps(diagnose_run(run).to_dict()))
    assert data["run"] == "r1"
    assert data["best_epoch"] == 14.0
    assert data["onset_epoch"] == 14.0
    assert data["stop_epoch"] == 19.0
    assert data["kind"] == "overfitting"
    assert "analysis" not in data


def test_test_split_is_the_held_out_split_without_validation() -> None:
    train, val = example_overfitting()
    run = make_run({("train", "loss"): train, ("test", "loss"): val})
    diagnosis = diagnose_run(run)
    assert diagnosis.reference_split == "test"
    assert run_verdict(diagnosis).startswith("Test loss bottomed at epoch 14")


def test_default_metric_prefers_loss_and_needs_a_held_out_split() -> None:
    both = make_run(
        {("train", "accuracy"): [0.5, 0.6], ("validation", "accuracy"): [0.5, 0.55],
         ("train", "loss"): [1.0, 0.5], ("validation", "loss"): [1.0, 0.8]}
    )  # fmt: skip
    assert default_metric(both) == "loss"
    only_val_acc = make_run({("train", "loss"): [1.0, 0.5], ("validation", "accuracy"): [0.5, 0.6]})
    assert default_metric(only_val_acc) == "accuracy"
    train_only = make_run({("train", "loss"): [1.0, 0.5]}, name="t")
    with pytest.raises(ProjectError, match="Run 't' logs no validation or test metric"):
        default_metric(train_only)
    with pytest.raises(ProjectError, match="Run 't' logs loss only for train"):
        diagnose_run(train_only, metric="loss")


def test_diagnose_without_train_curve() -> None:
    _, val = example_overfitting()
    diagnosis = diagnose_run(make_run({("validation", "loss"): val}))
    assert diagnosis.final_train is None and diagnosis.final_gap is None
    assert diagnosis.best_epoch == 14.0


def test_analyze_metric_rejects_bad_patience() -> None:
    curves = align_curves(make_run({("validation", "loss"): [1.0, 0.5]}), "loss")
    with pytest.raises(ValueError, match=r"Expected `patience` to be a positive integer"):
        analyze_metric(curves, patience=0)


# --------------------------------------------------------------------------- power law


def test_power_law_recovers_a_noise_free_curve() -> None:
    sizes = np.array([100, 200, 400, 800, 1600, 3200, 6400])
    fit = fit_power_law(sizes, 2.0 * sizes**-0.5 + 0.1)
    assert fit.method == "curve_fit"
    assert fit.b == pytest.approx(0.5, abs=1e-4)
    assert fit.a == pytest.approx(2.0, rel=1e-3)
    assert fit.c == pytest.approx(0.1, abs=1e-4)
    assert fit.r_squared == pytest.approx(1.0)
    assert fit.predict(10_000) == pytest.approx(2.0 * 10_000**-0.5 + 0.1, rel=1e-4)
    assert fit.size_for(float(fit.predict(5000))) == pytest.approx(5000, rel=1e-6)
    assert fit.size_for(0.05) == math.inf  # below the asymptote


@pytest.mark.parametrize("seed", range(5))
def test_power_law_recovers_the_exponent_under_noise(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sizes = np.geomspace(100, 100_000, 10)
    values = (3.0 * sizes**-0.4 + 0.02) * rng.lognormal(0, 0.02, sizes.size)
    fit = fit_power_law(sizes, values)
    assert fit.b == pytest.approx(0.4, abs=0.08)
    assert fit.r_squared > 0.98


def test_power_law_falls_back_to_log_linear() -> None:
    fit = fit_power_law([100, 400], [0.5, 0.25])
    assert fit.method == "log_linear"
    assert (fit.b, fit.c) == (pytest.approx(0.5), 0.0)


def test_power_law_falls_back_when_curve_fit_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Optimal parameters not found")

    monkeypatch.setattr(optimize, "curve_fit", fail)
    sizes = np.array([100.0, 200, 400, 800])
    fit = fit_power_law(sizes, 4 * sizes**-0.3)
    assert fit.method == "log_linear"
    assert fit.b == pytest.approx(0.3)
    assert fit.a == pytest.approx(4.0)


@pytest.mark.parametrize(
    ("sizes", "values", "message"),
    [
        ([100, 200], [0.5], r"Expected `sizes` and `values` to be 1-D of the same length"),
        ([0, 200, 300], [0.5, 0.4, 0.3], r"Expected `sizes` to be positive numbers"),
        ([100, 200, 300], [0.5, -0.4, 0.3], r"Expected `values` to be non-negative errors"),
        ([100, 100], [0.5, 0.4], r"Expected at least 2 distinct sizes"),
        ([100, 200], [0.5, 0.0], r"Expected `values` to be positive for a log-log fit"),
    ],
)
def test_power_law_rejects_bad_input(sizes: list, values: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fit_power_law(sizes, values)


def _sized_runs(sizes: list[int], held_out: list[float], train: float, metric: str = "loss"):
    runs = []
    for index, (size, value) in enumerate(zip(sizes, held_out, strict=True)):
        runs.append(
            make_run(
                {("train", metric): [train * 3, train], ("validation", metric): [value * 2, value]},
                name=f"run{index}_train_size_{size}",
                train_size=size,
            )
        )
    return TrainingRuns(tuple(runs))


def test_data_size_analysis_estimates_the_size_needed() -> None:
    sizes = [250, 500, 1000, 2000]
    runs = _sized_runs(sizes, [3 * n**-0.4 + 0.02 for n in sizes], train=0.05)
    analysis = data_size_analysis(runs)
    assert analysis is not None
    assert analysis.kind == "closing"
    assert analysis.fit.b == pytest.approx(0.4, abs=1e-3)
    assert analysis.size_needed == pytest.approx(100_000, rel=1e-2)
    assert data_size_verdict(analysis) == (
        "Validation loss falls as n^-0.40; ~100,000 training samples (50x now) would bring it "
        "to the train level of 0.05."
    )
    assert analysis.train_level == pytest.approx(0.05)
    data = json.loads(json.dumps(analysis.to_dict()))
    assert data["kind"] == "closing" and len(data["points"]) == 4


def test_data_size_analysis_flattened_curve() -> None:
    sizes = [250, 500, 1000, 2000]
    runs = _sized_runs(sizes, [0.3 + 0.5 * n**-1.5 for n in sizes], train=0.05)
    analysis = data_size_analysis(runs)
    assert analysis is not None
    assert analysis.kind == "flattened"
    assert data_size_verdict(analysis).startswith(
        "The curve has flattened: more data of the same kind is unlikely to close the gap"
    )


def test_data_size_analysis_on_accuracy_averages_seeds() -> None:
    sizes = [100, 100, 400, 1600]
    errors = [0.3, 0.32, 0.2, 0.12]
    runs = _sized_runs(sizes, [1 - e for e in errors], train=1.0, metric="accuracy")
    analysis = data_size_analysis(runs, at="final")
    assert analysis is not None
    assert analysis.error_label == "1 - accuracy"
    np.testing.assert_allclose(analysis.sizes, [100, 400, 1600])
    np.testing.assert_allclose(analysis.held_out_values, [0.69, 0.8, 0.88])
    assert data_size_verdict(analysis).startswith("Validation error (1 - accuracy) falls as n^-")
    assert len(analysis.points) == 4


def test_data_size_analysis_warns_about_a_loose_fit() -> None:
    sizes = [100, 200, 400, 800, 1600]
    runs = _sized_runs(sizes, [0.5, 0.3, 0.45, 0.25, 0.35], train=0.05)
    analysis = data_size_analysis(runs)
    assert analysis is not None
    assert analysis.fit.r_squared < 0.8
    assert "fits the points loosely" in data_size_verdict(analysis)
    tight = data_size_analysis(_sized_runs(sizes, [2 * n**-0.5 for n in sizes], train=0.01))
    assert tight is not None and "loosely" not in data_size_verdict(tight)


def test_data_size_analysis_needs_three_sizes() -> None:
    runs = _sized_runs([100, 200, 200], [0.5, 0.4, 0.41], train=0.1)
    assert data_size_analysis(runs) is None
    unsized = TrainingRuns((make_run({("validation", "loss"): [1.0]}),))
    assert data_size_analysis(unsized) is None


def test_data_size_analysis_rejects_a_metric_not_shared() -> None:
    runs = _sized_runs([100, 200, 400], [0.5, 0.4, 0.3], train=0.1)
    with pytest.raises(ValueError, match=r"Expected `metric` to be one that every run .*'f1'"):
        data_size_analysis(runs, metric="f1")
    with pytest.raises(ValueError, match=r"Expected `at` to be 'final' or 'best'"):
        data_size_analysis(runs, at="last")  # type: ignore[arg-type]


def test_data_size_analysis_at_best_epoch() -> None:
    runs = []
    for size, best in ((100, 0.5), (400, 0.35), (1600, 0.25)):
        runs.append(
            make_run(
                {("train", "loss"): [0.3, 0.1, 0.05], ("validation", "loss"): [1.0, best, 0.9]},
                train_size=size,
                name=f"n{size}",
            )
        )
    analysis = data_size_analysis(runs, at="best")
    assert analysis is not None
    np.testing.assert_allclose(analysis.held_out_values, [0.5, 0.35, 0.25])
    np.testing.assert_allclose(analysis.train_values, [0.1, 0.1, 0.1])


# --------------------------------------------------------------------------- figures


def _example_analysis():
    train, val = example_overfitting()
    run = make_run({("train", "loss"): train, ("validation", "loss"): val}, name="ex")
    curves = align_curves(run, "loss")
    return analyze_metric(curves, patience=5), smooth_curves(curves, weight=0.6)


def test_learning_curves_figure_draws_raw_smoothed_and_markers() -> None:
    analysis, smoothed = _example_analysis()
    fig = learning_curves_figure(analysis, smoothed=smoothed, log_y=True, checkpoint_epoch=30)
    assert isinstance(fig, go.Figure)
    names = [trace.name for trace in fig.data]
    assert names == ["train (raw)", "train", "validation (raw)", "validation"]
    assert fig.data[0].opacity == pytest.approx(0.28)
    np.testing.assert_allclose(fig.data[3].y, smoothed.validation)
    labels = [a.text for a in fig.layout.annotations]
    assert labels == [
        "best (epoch 14)",
        "overfitting onset (epoch 14)",
        "early stop (patience 5) (epoch 19)",
        "checkpoint (epoch 30)",
    ]
    assert [shape.x0 for shape in fig.layout.shapes] == [14.0, 14.0, 19.0, 30.0]
    assert fig.layout.yaxis.type == "log"
    assert fig.layout.xaxis.title.text == "Epoch"
    assert fig.layout.yaxis.title.text == "Loss (log scale)"
    assert fig.layout.title.text == "ex: train vs validation loss"


def test_learning_curves_figure_without_smoothing_or_markers() -> None:
    analysis, _ = _example_analysis()
    fig = learning_curves_figure(analysis, show_markers=False)
    assert [trace.name for trace in fig.data] == ["train", "validation"]
    assert not fig.layout.shapes
    assert fig.layout.yaxis.type != "log"


def test_gap_figure() -> None:
    analysis, smoothed = _example_analysis()
    fig = gap_figure(analysis, smoothed=smoothed)
    np.testing.assert_allclose(fig.data[0].y, analysis.curves.gap)
    np.testing.assert_allclose(fig.data[1].y, smoothed.gap)
    assert fig.layout.yaxis.title.text == "validation − train loss (worse ↑)"
    assert any(a.text == "overfitting onset (epoch 14)" for a in fig.layout.annotations)
    no_train = analyze_metric(align_curves(make_run({("validation", "loss"): [1.0, 0.5]}), "loss"))
    with pytest.raises(ValueError, match="Expected curves with train and a held-out split"):
        gap_figure(no_train)


def test_runs_overlay_figure() -> None:
    analysis, _ = _example_analysis()
    other = align_curves(
        make_run({("train", "loss"): [1.0, 0.5], ("validation", "loss"): [1.1, 0.7]}, name="b"),
        "loss",
    )
    fig = runs_overlay_figure([analysis.curves, other])
    assert [t.name for t in fig.data] == ["ex · train", "ex · validation", "ex", "b · train",
                                          "b · validation", "b"]  # fmt: skip
    assert fig.data[0].line.color == fig.data[1].line.color != fig.data[3].line.color
    assert fig.data[0].line.dash == "dot" and fig.data[1].line.dash == "solid"
    # one legend entry per run (toggling all its curves); the dashes are named in the title
    assert [t.name for t in fig.data if t.showlegend is not False] == ["ex", "b"]
    assert {t.legendgroup for t in fig.data[:3]} == {"ex"}
    assert fig.layout.title.subtitle.text == "Dotted: train · solid: validation"
    assert fig.layout.title.text == "Loss across 2 runs"
    with pytest.raises(ValueError, match="at least one run"):
        runs_overlay_figure([])
    with pytest.raises(ValueError, match="Expected `smoothed` to hold 2 curves"):
        runs_overlay_figure([analysis.curves, other], smoothed=[other])


def test_data_size_figure() -> None:
    sizes = [250, 500, 1000, 2000]
    analysis = data_size_analysis(
        _sized_runs(sizes, [3 * n**-0.4 + 0.02 for n in sizes], train=0.05), at="final"
    )
    assert analysis is not None
    fig = data_size_figure(analysis)
    names = [trace.name for trace in fig.data]
    assert "power-law fit (n^-0.40)" in names
    assert "size needed" in names
    fit_trace = fig.data[names.index("power-law fit (n^-0.40)")]
    np.testing.assert_allclose(fit_trace.y, analysis.curve_values)
    assert fig.layout.xaxis.type == "log"
    assert list(fig.layout.xaxis.tickvals)[:4] == sizes  # measured sizes, then doublings
    assert fig.layout.xaxis.title.text == "Training samples (log scale)"
    assert fig.layout.yaxis.title.text == "Final loss"


# --------------------------------------------------------------------------- runs and view words


def test_held_out_metrics_and_checkpoint_for() -> None:
    run = make_run(
        {
            ("train", "loss"): [1.0, 0.5],
            ("validation", "loss"): [1.1, 0.7],
            ("validation", "f1"): [0.5, 0.6],
            ("train", "accuracy"): [0.5, 0.6],
        },
        name="a",
    )
    assert held_out_metrics(run) == ("loss", "f1")  # accuracy: train only
    runs = TrainingRuns((run, make_run({("validation", "loss"): [1.0, 0.9]}, name="b")))
    assert checkpoint_for(runs, "a", 60) == 60.0
    assert checkpoint_for(runs, "b", 60) is None  # the checkpoint is the first run's
    assert checkpoint_for(runs, "a", None) is None


def test_diagnose_runs_skips_runs_without_a_held_out_metric() -> None:
    train, val = example_overfitting()
    good = make_run({("train", "loss"): train, ("validation", "loss"): val}, name="good")
    train_only = make_run({("train", "loss"): train}, name="train_only")
    diagnoses, skipped = diagnose_runs(
        TrainingRuns((good, train_only)), patience=3, checkpoint_epoch=30
    )
    assert list(diagnoses) == ["good"]
    expected = diagnose_run(good, patience=3, checkpoint_epoch=30)
    assert diagnoses["good"].to_dict() == expected.to_dict()
    assert "logs no validation or test metric" in skipped["train_only"]


def test_align_runs_leaves_out_runs_without_the_metric() -> None:
    a = make_run({("train", "loss"): [1.0, 0.5], ("validation", "loss"): [1.1, 0.7]}, name="a")
    b = make_run({("validation", "accuracy"): [0.5, 0.6]}, name="b")
    assert [c.run_name for c in align_runs([a, b], "loss")] == ["a"]


def test_curve_and_gap_takeaways_name_the_epochs() -> None:
    train, val = example_overfitting()
    diagnosis = diagnose_run(make_run({("train", "loss"): train, ("validation", "loss"): val}))
    assert render(curves_takeaway(diagnosis)) == (
        "Validation loss is best at epoch 14 (0.231) and ends at 0.319 (epoch 30), while train "
        f"loss ends at {significant(float(train[-1]))}. After epoch 14 validation loss gets "
        "worse again: that is where overfitting began."
    )
    gap = signed_gap(train, val, mode="min")
    text = render(gap_takeaway(diagnosis.analysis))
    assert text.startswith(
        f"The gap was {significant(gap[14])} at the onset (epoch 14) and "
        f"{significant(gap[-1])} by epoch 30 ("
    )
    assert "it opened during training" in text


def test_takeaways_without_onset() -> None:
    healthy = diagnose_run(
        make_run(
            {
                ("train", "loss"): 0.2 + np.exp(-EPOCHS / 3),
                ("validation", "loss"): 0.25 + np.exp(-EPOCHS / 3),
            }
        )
    )
    assert healthy.onset_epoch is None
    assert render(curves_takeaway(healthy)).endswith("the curves do not part for good.")
    assert render(gap_takeaway(healthy.analysis)).startswith("The gap ends at 0.05 (epoch 30)")
    better_than_train = diagnose_run(
        make_run(
            {
                ("train", "loss"): 0.3 + np.exp(-EPOCHS / 3),
                ("validation", "loss"): 0.25 + np.exp(-EPOCHS / 3),
            }
        )
    )
    assert "no gap opened in training" in render(gap_takeaway(better_than_train.analysis))
    assert "no gap" in render(
        gap_takeaway(
            analyze_metric(align_curves(make_run({("validation", "loss"): [1.0, 0.5]}), "loss"))
        )
    )


def test_overlay_takeaway_ranks_runs_by_their_best_held_out_value() -> None:
    runs = [
        make_run({("validation", "loss"): [0.9, 0.5, 0.6]}, name="middle"),
        make_run({("validation", "loss"): [0.9, 0.3, 0.4]}, name="best"),
        make_run({("validation", "loss"): [0.9, 0.8, 0.7]}, name="worst"),
    ]
    curves = align_runs(runs, "loss")
    assert render(overlay_takeaway(curves)) == (
        "Best validation loss: best (0.3 at epoch 1); worst: worst (0.7 at epoch 2). From best "
        "to worst: best, middle, worst."
    )
    assert render(overlay_takeaway(curves[:1])).endswith("Select more runs to compare them.")
    accuracy = align_runs(
        [make_run({("validation", "accuracy"): [0.5, 0.9]}, name="high"),
         make_run({("validation", "accuracy"): [0.5, 0.6]}, name="low")],
        "accuracy",
    )  # fmt: skip
    assert render(overlay_takeaway(accuracy)).startswith("Best validation accuracy: high (0.9")


def test_data_size_takeaway() -> None:
    sizes = [250, 500, 1000, 2000]
    analysis = data_size_analysis(
        _sized_runs(sizes, [3 * n**-0.4 + 0.02 for n in sizes], train=0.05), at="final"
    )
    assert analysis is not None
    text = render(data_size_takeaway(analysis))
    first, last = analysis.held_out_values[0], analysis.held_out_values[-1]
    assert text.startswith(
        f"Validation loss at the last epoch goes from {significant(first)} with 250 training "
        f"samples to {significant(last)} with 2,000, while the gap to train narrows"
    )
    assert f"exponent {analysis.fit.b:.2f}" in text


@pytest.mark.parametrize("mode", ["min", "max"])
def test_patience_sweep_is_early_stopping_for_each_patience(mode: str) -> None:
    rng = np.random.default_rng(3)
    values = np.cumsum(rng.normal(0, 1, 40))
    metric = "loss" if mode == "min" else "accuracy"
    values = values if mode == "min" else 1 / (1 + np.exp(-values))
    curves = align_curves(make_run({("validation", metric): values}), metric)
    sweep = patience_sweep(curves, patiences=[1, 2, 5, 40])
    assert list(sweep["patience"]) == [1, 2, 5, 40]
    for row in sweep.itertuples():
        expected = early_stopping(values, patience=row.patience, mode=mode)
        assert row.kept_value == expected.best_value
        assert row.best_epoch == expected.best_epoch
        stop = np.nan if expected.stop_epoch is None else expected.stop_epoch
        np.testing.assert_equal(row.stop_epoch, stop)
        assert row.final_value == values[-1]
    kept = sweep["kept_value"].to_numpy()
    assert np.all(np.diff(kept) <= 0) if mode == "min" else np.all(np.diff(kept) >= 0)
    with pytest.raises(ValueError, match="with a validation or test split"):
        patience_sweep(align_curves(make_run({("train", "loss"): [1.0, 0.5]}), "loss"))


def test_patience_takeaway() -> None:
    curves = align_curves(
        make_run({("validation", "loss"): [1.0, 0.8, 0.9, 0.7, 0.75, 0.8]}), "loss"
    )
    sweep = patience_sweep(curves, patiences=[1, 2, 3])
    assert render(patience_takeaway(sweep, curves)) == (
        "Patience 2 or more keeps the best validation loss seen (0.7, epoch 3); patience 1 keeps "
        "0.8. Below patience 2 early stopping keeps a worse validation loss than training to the "
        "last epoch (0.8); from patience 3 on, training would never have stopped."
    )


def test_patience_figure_marks_the_chosen_patience() -> None:
    analysis, _ = _example_analysis()
    sweep = patience_sweep(analysis.curves)
    fig = patience_figure(sweep, analysis.curves, patience=5)
    np.testing.assert_allclose(fig.data[0].y, sweep["kept_value"])
    assert fig.data[1].y == (sweep["final_value"][0],) * 2
    assert fig.data[2].x == (5,)
    assert any("patience 5: stops at epoch 19" in a.text for a in fig.layout.annotations)
    assert fig.layout.xaxis.title.text == "Patience (checks without improvement)"
    assert len(patience_figure(sweep, analysis.curves).data) == 2


def test_steep_start_is_zoomed_past_with_a_note() -> None:
    x = np.arange(40, dtype=float)
    train = 0.05 + 10 * np.exp(-x)  # a start ten times higher than the rest
    val = 0.2 + 10 * np.exp(-x) + 0.002 * x
    run = make_run({("train", "loss"): train, ("validation", "loss"): val})
    analysis = analyze_metric(align_curves(run, "loss"))
    fig = learning_curves_figure(analysis)
    low, high = fig.layout.yaxis.range
    later = np.concatenate([train[4:], val[4:]])
    assert low < later.min() and high > later.max() and high < val[0]
    assert "Zoomed past the steep start (epochs ≤ 3 run off the top)" in (
        fig.layout.title.subtitle.text
    )
    assert learning_curves_figure(analysis, focus=False).layout.yaxis.range is None
    assert learning_curves_figure(analysis, log_y=True).layout.yaxis.range is None
    example, _ = _example_analysis()  # a gentle start: nothing to zoom past
    assert learning_curves_figure(example).layout.yaxis.range is None


def test_marker_labels_near_the_right_edge_sit_left_of_their_line() -> None:
    analysis, _ = _example_analysis()
    fig = learning_curves_figure(analysis, checkpoint_epoch=30)
    anchors = {a.text: a.xanchor for a in fig.layout.annotations}
    assert anchors["checkpoint (epoch 30)"] == "right"
    assert anchors["best (epoch 14)"] == "left"


def test_formatters() -> None:
    assert position(13.0) == "13" and position(2.5) == "2.5" and position(None) == "n/a"
    assert significant(0.099034) == "0.099" and significant(1234.5) == "1,234"
    assert significant(None) == "n/a" and significant(math.nan) == "n/a"


def test_data_size_analysis_compares_runs_at_their_best_epoch_by_default() -> None:
    """A run that overfits late is judged by what early stopping keeps, not its last epoch."""
    sizes = [250, 500, 1000, 2000]
    best = [3 * n**-0.4 + 0.02 for n in sizes]
    runs = []
    for size, value in zip(sizes, best, strict=True):
        curve = [value * 2, value, value * 1.5]  # best at the middle epoch, then overfits
        runs.append(
            make_run(
                {("train", "loss"): [0.15, 0.1, 0.05], ("validation", "loss"): curve},
                name=f"train_size_{size}",
                train_size=size,
            )
        )
    default = data_size_analysis(TrainingRuns(tuple(runs)))
    final = data_size_analysis(TrainingRuns(tuple(runs)), at="final")
    assert default is not None and final is not None
    assert default.at == "best"
    np.testing.assert_allclose(default.held_out_values, best)
    np.testing.assert_allclose(final.held_out_values, [1.5 * v for v in best])
