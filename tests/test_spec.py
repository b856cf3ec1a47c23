"""The project file: every valid form parses; every error names key, value and expectation."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from gengap_dash.project.errors import ProjectError
from gengap_dash.project.spec import InferenceSpec, load_project, parse_project


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "project.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def _base() -> dict[str, Any]:
    return {
        "name": "demo",
        "model": {"factory": "model.py:Net", "weights": "w.pt"},
        "inputs": {"kind": "tabular"},
        "label": "y",
        "splits": {"train": {"path": "train.csv", "role": "train"}},
    }


def _parse(raw: Any, tmp_path: Path):
    return parse_project(raw, path=tmp_path / "project.yaml")


FULL_IMAGE = """
name: Digits CNN
description: A small CNN on 8x8 digits.
classes: [zero, one, two]
model:
  factory: model.py:SmallCNN
  kwargs: {num_classes: 3, width: 8}
  weights: checkpoints/model.safetensors
  embedding_layer: features
inputs:
  kind: image
  column: pixels
  image_shape: [8, 8]
  transform: transforms.py:normalise
id: sample
label: digit
metadata: [source, sensor]
time: captured_at
splits:
  train: {path: data/train.parquet, role: train}
  val: {path: data/val.csv, role: validation}
  test: {path: data/test.pq, role: test}
  noisy: {path: data/noisy.parquet, role: shifted}
  field: {path: /abs/field.parquet, role: deployment}
training_logs:
  runs: [logs/run1.csv, logs/run2]
  metric_names: {val_acc: validation/accuracy, train_loss: [train, loss]}
  train_sizes: {run1: 100, run2: 200}
  checkpoint_epoch: 7
inference:
  batch_size: 64
  device: cpu
  precision: bfloat16
  channels_last: false
  num_workers: 2
"""


def test_full_image_project_parses_every_key(tmp_path: Path) -> None:
    spec = load_project(_write(tmp_path, FULL_IMAGE))
    base = tmp_path.resolve()
    assert spec.name == "Digits CNN"
    assert spec.description == "A small CNN on 8x8 digits."
    assert spec.classes == ("zero", "one", "two")
    assert spec.model is not None
    assert spec.model.factory == "model.py:SmallCNN"
    assert dict(spec.model.kwargs) == {"num_classes": 3, "width": 8}
    assert spec.model.weights == base / "checkpoints" / "model.safetensors"
    assert spec.model.embedding_layer == "features"
    assert spec.model.torchscript is None
    assert spec.inputs is not None
    assert spec.inputs.kind == "image"
    assert spec.inputs.column == "pixels"
    assert spec.inputs.image_shape == (8, 8)
    assert spec.inputs.transform == "transforms.py:normalise"
    assert (spec.id_column, spec.label, spec.time_column) == ("sample", "digit", "captured_at")
    assert spec.metadata == ("source", "sensor")
    assert [s.name for s in spec.splits] == ["train", "val", "test", "noisy", "field"]
    assert spec.split_roles == {
        "train": "train",
        "val": "validation",
        "test": "test",
        "noisy": "shifted",
        "field": "deployment",
    }
    assert spec.split("val").path == base / "data" / "val.csv"
    assert spec.split("field").path == Path("/abs/field.parquet")
    logs = spec.training_logs
    assert logs is not None
    assert logs.runs == (base / "logs" / "run1.csv", base / "logs" / "run2")
    assert dict(logs.metric_names) == {
        "val_acc": ("validation", "accuracy"),
        "train_loss": ("train", "loss"),
    }
    assert dict(logs.train_sizes) == {"run1": 100, "run2": 200}
    assert logs.checkpoint_epoch == 7
    assert spec.inference == InferenceSpec(64, "cpu", "bfloat16", False, 2)
    assert spec.path == (tmp_path / "project.yaml").resolve()
    assert spec.directory == base


def test_directory_is_read_as_its_project_yaml(tmp_path: Path) -> None:
    _write(tmp_path, FULL_IMAGE)
    assert load_project(tmp_path).name == "Digits CNN"


def test_tabular_form_with_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENGAP_FACTORY_MODULES", "mypkg")  # an operator's allow-listed package
    spec = _parse(
        {
            "name": "wine",
            "model": {"factory": "mypkg.models:make"},
            "inputs": {"kind": "tabular", "features": ["a", "b"]},
            "label": "target",
            "splits": {"train": {"path": "t.parquet", "role": "train"}},
        },
        tmp_path,
    )
    assert spec.inputs is not None
    assert spec.inputs.kind == "tabular"
    assert spec.inputs.features == ("a", "b")
    assert spec.inputs.column is None
    assert spec.model is not None
    assert spec.model.weights is None
    assert dict(spec.model.kwargs) == {}
    assert spec.inference == InferenceSpec()
    assert spec.inference.batch_size == 256
    assert spec.inference.device == "auto"
    assert spec.metadata == ()
    assert spec.classes is None
    assert spec.training_logs is None
    assert spec.description == ""


def test_torchscript_form(tmp_path: Path) -> None:
    raw = _base()
    raw["model"] = {"torchscript": "model.ts", "embedding_layer": "body"}
    spec = _parse(raw, tmp_path)
    assert spec.model is not None
    assert spec.model.torchscript == (tmp_path / "model.ts").resolve()
    assert spec.model.factory is None
    assert spec.model.embedding_layer == "body"
    assert spec.model.fingerprint_fields()["torchscript"] is True


def test_torchscript_with_factory_is_refused(tmp_path: Path) -> None:
    raw = _base()
    raw["model"] = {"torchscript": "model.ts", "weights": "w.pt"}
    with pytest.raises(ProjectError, match=r"model\.torchscript carries its own weights.*weights"):
        _parse(raw, tmp_path)


def test_predictions_form(tmp_path: Path) -> None:
    spec = _parse(
        {
            "name": "brought",
            "predictions": "preds.parquet",
            "classes": ["a", "b"],
            "metadata": ["site"],
            "splits": {"train": {"role": "train"}, "test": {"role": "test"}},
        },
        tmp_path,
    )
    assert spec.model is None
    assert spec.inputs is None
    assert spec.predictions == (tmp_path / "preds.parquet").resolve()
    assert all(split.path is None for split in spec.splits)
    assert spec.label == "label"


@pytest.mark.parametrize(
    ("logs", "expected"),
    [
        ("logs/run.csv", ("logs/run.csv",)),
        (["a.jsonl", "b/"], ("a.jsonl", "b")),
        ({"runs": "tb"}, ("tb",)),
        ({"runs": ["x.csv"], "checkpoint_epoch": 0}, ("x.csv",)),
    ],
)
def test_training_logs_forms(tmp_path: Path, logs: Any, expected: tuple[str, ...]) -> None:
    raw = _base()
    raw["training_logs"] = logs
    spec = _parse(raw, tmp_path)
    assert spec.training_logs is not None
    assert spec.training_logs.runs == tuple((tmp_path / e).resolve() for e in expected)


# -- errors --------------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"Project file .*nope\.yaml does not exist"):
        load_project(tmp_path / "nope.yaml")


def test_missing_project_yaml_in_folder(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"project\.yaml does not exist"):
        load_project(tmp_path)


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: demo\nmodel:\n  factory: [unclosed\nlabel: y\n")
    with pytest.raises(ProjectError, match=r"project\.yaml is not valid YAML at line \d+, column"):
        load_project(path)


def test_broken_yaml_line_number_is_right(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: demo\n  label: y\nsplits: {}\n")
    with pytest.raises(
        ProjectError,
        match=r"project\.yaml is not valid YAML at line 2, column 8: mapping values are not "
        r"allowed here\.$",
    ):
        load_project(path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "project.yaml"
    path.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(ProjectError, match="not a UTF-8 text file"):
        load_project(path)


def test_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"expected a mapping of keys.*but got list"):
        load_project(_write(tmp_path, "- a\n- b\n"))


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"expected a mapping of keys.*NoneType"):
        load_project(_write(tmp_path, ""))


def test_unknown_top_level_key(tmp_path: Path) -> None:
    raw = _base()
    raw["modle"] = {}
    with pytest.raises(ProjectError, match=r"unknown key 'modle'; expected one of name, .*model"):
        _parse(raw, tmp_path)


@pytest.mark.parametrize(
    ("section", "key", "allowed"),
    [
        ("model", "wieghts", "factory, kwargs, weights"),
        ("inputs", "colum", "kind, column"),
        ("inference", "batchsize", "batch_size, device"),
        ("training_logs", "run", "runs, metric_names"),
    ],
)
def test_unknown_nested_key(tmp_path: Path, section: str, key: str, allowed: str) -> None:
    raw = _base()
    raw[section] = {**(raw.get(section) or {}), key: 1}
    if section == "training_logs":
        raw[section]["runs"] = ["a.csv"]
    with pytest.raises(
        ProjectError, match=rf"unknown key {section}\.{key}; expected one of {allowed}"
    ):
        _parse(raw, tmp_path)


def test_unknown_split_key(tmp_path: Path) -> None:
    raw = _base()
    raw["splits"]["train"]["rol"] = "train"
    with pytest.raises(ProjectError, match=r"unknown key splits\.train\.rol; expected one of path"):
        _parse(raw, tmp_path)


def test_bad_role(tmp_path: Path) -> None:
    raw = _base()
    raw["splits"]["train"]["role"] = "training"
    with pytest.raises(
        ProjectError, match=r"splits\.train\.role is 'training'; expected one of train, validation"
    ):
        _parse(raw, tmp_path)


def test_missing_role(tmp_path: Path) -> None:
    raw = _base()
    del raw["splits"]["train"]["role"]
    with pytest.raises(ProjectError, match=r"splits\.train\.role is None; expected one of"):
        _parse(raw, tmp_path)


@pytest.mark.parametrize("shape", [[8], [8, 8, 3, 1], [8, -1], [8, "8"], "8x8", [8, True], [0, 8]])
def test_bad_image_shape(tmp_path: Path, shape: Any) -> None:
    raw = _base()
    raw["inputs"] = {"kind": "image", "column": "pixels", "image_shape": shape}
    with pytest.raises(
        ProjectError,
        match=rf"inputs\.image_shape is {_escape(shape)}; expected \[height, width\] or "
        r"\[height, width, channels\] of positive integers",
    ):
        _parse(raw, tmp_path)


def _escape(value: Any) -> str:
    import re

    return re.escape(repr(value))


def test_bad_input_kind(tmp_path: Path) -> None:
    raw = _base()
    raw["inputs"] = {"kind": "audio"}
    with pytest.raises(
        ProjectError, match=r"inputs\.kind is 'audio'; expected 'image' or 'tabular'"
    ):
        _parse(raw, tmp_path)


def test_image_needs_a_column(tmp_path: Path) -> None:
    raw = _base()
    raw["inputs"] = {"kind": "image"}
    with pytest.raises(ProjectError, match=r"key `inputs\.column` is missing"):
        _parse(raw, tmp_path)


def test_features_only_for_tabular(tmp_path: Path) -> None:
    raw = _base()
    raw["inputs"] = {"kind": "image", "column": "p", "features": ["a"]}
    with pytest.raises(ProjectError, match=r"inputs\.features is only used with kind: tabular"):
        _parse(raw, tmp_path)


def test_bad_transform_reference(tmp_path: Path) -> None:
    raw = _base()
    raw["inputs"]["transform"] = "transforms.py"
    with pytest.raises(
        ProjectError, match=r"inputs\.transform is 'transforms\.py'; expected 'file\.py:function'"
    ):
        _parse(raw, tmp_path)


def test_bad_factory_reference(tmp_path: Path) -> None:
    raw = _base()
    raw["model"]["factory"] = "model.py"
    with pytest.raises(
        ProjectError,
        match=r"model\.factory is 'model\.py'; expected 'file\.py:Callable' or 'package\.module",
    ):
        _parse(raw, tmp_path)


def test_bad_kwargs(tmp_path: Path) -> None:
    raw = _base()
    raw["model"]["kwargs"] = [1, 2]
    with pytest.raises(ProjectError, match=r"model\.kwargs must be a mapping .* got \[1, 2\]"):
        _parse(raw, tmp_path)


def test_model_and_predictions_both(tmp_path: Path) -> None:
    raw = _base()
    raw["predictions"] = "p.parquet"
    with pytest.raises(ProjectError, match="give either `model` or `predictions`, not both"):
        _parse(raw, tmp_path)


def test_neither_model_nor_predictions(tmp_path: Path) -> None:
    raw = _base()
    del raw["model"]
    with pytest.raises(ProjectError, match=r"needs `model` .* or `predictions`"):
        _parse(raw, tmp_path)


def test_model_needs_inputs(tmp_path: Path) -> None:
    raw = _base()
    del raw["inputs"]
    with pytest.raises(ProjectError, match="key `inputs` is missing"):
        _parse(raw, tmp_path)


def test_inputs_with_predictions(tmp_path: Path) -> None:
    raw = {
        "name": "p",
        "predictions": "p.parquet",
        "inputs": {"kind": "tabular"},
        "splits": {"train": {"role": "train"}},
    }
    with pytest.raises(ProjectError, match="`inputs` is only used with `model`"):
        _parse(raw, tmp_path)


def test_split_path_with_predictions(tmp_path: Path) -> None:
    raw = {
        "name": "p",
        "predictions": "p.parquet",
        "splits": {"train": {"path": "train.csv", "role": "train"}},
    }
    with pytest.raises(
        ProjectError, match=r"splits\.train\.path is not used when the project brings `predictions`"
    ):
        _parse(raw, tmp_path)


def test_split_needs_a_path_with_a_model(tmp_path: Path) -> None:
    raw = _base()
    del raw["splits"]["train"]["path"]
    with pytest.raises(ProjectError, match=r"key `splits\.train\.path` is missing"):
        _parse(raw, tmp_path)


def test_split_path_must_be_a_table(tmp_path: Path) -> None:
    raw = _base()
    raw["splits"]["train"]["path"] = "train.json"
    with pytest.raises(
        ProjectError, match=r"splits\.train\.path is 'train\.json'; expected a \.csv or \.parquet"
    ):
        _parse(raw, tmp_path)


@pytest.mark.parametrize("splits", [None, {}, ["train"]])
def test_bad_splits(tmp_path: Path, splits: Any) -> None:
    raw = _base()
    if splits is None:
        del raw["splits"]
        match = "key `splits` is missing"
    else:
        raw["splits"] = splits
        match = "`splits` must map split names to"
    with pytest.raises(ProjectError, match=match):
        _parse(raw, tmp_path)


def test_missing_name(tmp_path: Path) -> None:
    raw = _base()
    del raw["name"]
    with pytest.raises(ProjectError, match="key `name` is missing"):
        _parse(raw, tmp_path)


def test_name_not_text(tmp_path: Path) -> None:
    raw = _base()
    raw["name"] = ["a"]
    with pytest.raises(ProjectError, match=r"name is \['a'\]; expected a non-empty text"):
        _parse(raw, tmp_path)


def test_missing_label_with_model(tmp_path: Path) -> None:
    raw = _base()
    del raw["label"]
    with pytest.raises(ProjectError, match="key `label` is missing"):
        _parse(raw, tmp_path)


@pytest.mark.parametrize(
    ("classes", "match"),
    [
        (["only"], "must list at least 2 classes"),
        (["a", "a"], r"duplicate names: \['a', 'a'\]"),
        ("a,b", r"classes is 'a,b'; expected a list of values"),
    ],
)
def test_bad_classes(tmp_path: Path, classes: Any, match: str) -> None:
    raw = _base()
    raw["classes"] = classes
    with pytest.raises(ProjectError, match=match):
        _parse(raw, tmp_path)


def test_bad_metadata(tmp_path: Path) -> None:
    raw = _base()
    raw["metadata"] = "site"
    with pytest.raises(ProjectError, match=r"metadata is 'site'; expected a list of texts"):
        _parse(raw, tmp_path)


@pytest.mark.parametrize("batch_size", [0, -3, "big", 1.5, True])
def test_bad_batch_size(tmp_path: Path, batch_size: Any) -> None:
    raw = _base()
    raw["inference"] = {"batch_size": batch_size}
    with pytest.raises(
        ProjectError,
        match=rf"inference\.batch_size is {_escape(batch_size)}; expected a positive integer",
    ):
        _parse(raw, tmp_path)


@pytest.mark.parametrize("precision", ["fp16", "float64", 16])
def test_bad_precision(tmp_path: Path, precision: Any) -> None:
    raw = _base()
    raw["inference"] = {"precision": precision}
    with pytest.raises(
        ProjectError,
        match=rf"inference\.precision is {_escape(precision)}; expected float32, bfloat16 or "
        "float16",
    ):
        _parse(raw, tmp_path)


def test_bad_channels_last_and_workers(tmp_path: Path) -> None:
    raw = _base()
    raw["inference"] = {"channels_last": "yes"}
    with pytest.raises(ProjectError, match=r"inference\.channels_last is 'yes'; expected true"):
        _parse(raw, tmp_path)
    raw["inference"] = {"num_workers": -1}
    with pytest.raises(
        ProjectError, match=r"inference\.num_workers is -1; expected a whole number"
    ):
        _parse(raw, tmp_path)


def test_inference_not_a_mapping(tmp_path: Path) -> None:
    raw = _base()
    raw["inference"] = 64
    with pytest.raises(ProjectError, match=r"`inference` must be a mapping, but got 64"):
        _parse(raw, tmp_path)


@pytest.mark.parametrize(
    ("metric_names", "match"),
    [
        ({"val_acc": "accuracy"}, r"metric_names\.val_acc is 'accuracy'; expected 'split/metric'"),
        ({"x": "a/b/c"}, r"metric_names\.x is 'a/b/c'; expected 'split/metric'"),
        ({"x": ["a"]}, r"metric_names\.x is \['a'\]; expected 'split/metric'"),
        ({"x": 3}, r"metric_names\.x is 3; expected 'split/metric'"),
        (["val_acc"], r"training_logs\.metric_names is \['val_acc'\]; expected a mapping"),
    ],
)
def test_bad_metric_names(tmp_path: Path, metric_names: Any, match: str) -> None:
    raw = _base()
    raw["training_logs"] = {"runs": ["a.csv"], "metric_names": metric_names}
    with pytest.raises(ProjectError, match=match):
        _parse(raw, tmp_path)


@pytest.mark.parametrize(
    ("logs", "match"),
    [
        ({"runs": []}, r"training_logs\.runs is \[\]; expected a list of log files"),
        ({"runs": ["a"], "train_sizes": {"a": 0}}, r"train_sizes\.a is 0; expected a positive"),
        ({"runs": ["a"], "train_sizes": [100]}, r"train_sizes is \[100\]; expected a mapping"),
        ({"runs": ["a"], "checkpoint_epoch": -1}, r"checkpoint_epoch is -1; expected a whole"),
        (5, r"`training_logs` must be a mapping, but got 5"),
    ],
)
def test_bad_training_logs(tmp_path: Path, logs: Any, match: str) -> None:
    raw = _base()
    raw["training_logs"] = logs
    with pytest.raises(ProjectError, match=match):
        _parse(raw, tmp_path)


def test_unknown_split_name(tmp_path: Path) -> None:
    spec = _parse(_base(), tmp_path)
    with pytest.raises(ProjectError, match="no split named 'test'; the splits are train"):
        spec.split("test")


def test_the_written_project_round_trips_through_yaml(tmp_path: Path) -> None:
    path = _write(tmp_path, FULL_IMAGE)
    spec = load_project(path)
    again = parse_project(yaml.safe_load(path.read_text()), path=spec.path)
    assert again == spec


def test_source_files_lists_everything_the_project_reads(tabular_project: Path) -> None:
    spec = load_project(tabular_project)
    files = {path.relative_to(tabular_project.parent).as_posix() for path in spec.source_files()}
    assert files == {
        "project.yaml",
        "data/train.parquet",
        "data/val.csv",
        "data/test.parquet",
        "data/noisy.parquet",
        "weights.pt",
        "model.py",
    }
