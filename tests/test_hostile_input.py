"""Hostile input: what a viewer or a crafted project file can do to the server (issue 14).

Each case says what it feeds in, the exit code or the words the UI must show, and checks that
nothing was executed (a marker file a malicious factory would create) and nothing new is in the
cache. The cache-integrity cases (finding 5), the decompression bomb and symlink loops as table or
weights paths live in tests/test_bad_projects.py.
"""

from __future__ import annotations

import os
import re
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
import tomllib
import yaml
from streamlit.testing.v1 import AppTest

from gengap_dash.cli.main import main
from gengap_dash.project.errors import ProjectError
from gengap_dash.project.roots import NOT_SERVED, ServedProjects
from gengap_dash.project.spec import load_project
from gengap_dash.project.yaml_loading import MAX_PROJECT_BYTES
from gengap_dash.workspace import Workspace  # imported up front: refusals are timed

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "digits" / "project.yaml"
PASSWD_LINE = "root:x:0:0:root-secret-4f2a:/root:/bin/bash"
SECRET = "hunter2-s3cr3t-value"

ALIAS_BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""
EVIL_SOURCE = """\
from pathlib import Path
Path({marker!r}).write_text("executed")
def make(**kwargs):
    Path({marker!r}).write_text("executed")
"""


def _good(project: Path) -> dict:
    return yaml.safe_load(project.read_text())


def _write(folder: Path, data: dict | str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "project.yaml"
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    path.write_text(text)
    return path


def _bomb_in(where: str) -> Callable[[dict, Path], str]:
    """The alias bomb placed under ``name``, ``metadata`` or ``model.kwargs``."""
    block = "".join(f"    {line}\n" for line in ALIAS_BOMB.splitlines())

    def build(data: dict, marker: Path) -> str:
        if where == "model.kwargs":
            model = data.pop("model")
            model.pop("kwargs", None)
            section = "".join(f"  {line}\n" for line in yaml.safe_dump(model).splitlines())
            return yaml.safe_dump(data) + "model:\n" + section + "  kwargs:\n" + block
        data.pop(where, None)
        return yaml.safe_dump(data, sort_keys=False) + f"{where}:\n" + block

    return build


def _factory(reference: str, **kwargs) -> Callable[[dict, Path], dict]:
    def build(data: dict, marker: Path) -> dict:
        data["model"]["factory"] = reference
        data["model"]["kwargs"] = {
            key: value.format(marker=marker) if isinstance(value, str) else value
            for key, value in kwargs.items()
        }
        data["model"].pop("weights", None)
        return data

    return build


def _kwargs(value: object) -> Callable[[dict, Path], dict | str]:
    def build(data: dict, marker: Path) -> dict | str:
        data["model"]["kwargs"] = {"n_features": 13, "num_classes": 3, "extra": value}
        return data

    return build


def _raw(text: str | bytes) -> Callable[[dict, Path], str | bytes]:
    return lambda data, marker: text


def _outside_file(data: dict, marker: Path) -> dict:
    data["model"]["factory"] = "../evil.py:make"
    return data


def _absolute_file(data: dict, marker: Path) -> dict:
    data["model"]["factory"] = f"{marker.parent / 'evil.py'}:make"
    return data


def _transform(data: dict, marker: Path) -> dict:
    data["inputs"]["transform"] = "os:system"
    return data


def _deep_kwargs(data: dict, marker: Path) -> str:
    text = yaml.safe_dump(data, sort_keys=False)
    deep = "[" * 12 + "]" * 12
    return text.replace("    num_classes: 3", f"    num_classes: 3\n    deep: {deep}")


# (case id, build(project data, marker) -> data or text, words the message must contain)
HOSTILE_FILES = [
    ("alias bomb in name", _bomb_in("name"), "YAML alias"),
    ("alias bomb in metadata", _bomb_in("metadata"), "YAML alias"),
    ("alias bomb in model.kwargs", _bomb_in("model.kwargs"), "YAML alias"),
    ("os:system factory", _factory("os:system", command="touch {marker}"), "never allowed"),
    ("subprocess factory", _factory("subprocess:run", args="touch {marker}"), "never allowed"),
    ("builtins exec", _factory("builtins:exec", source="open('{marker}','w')"), "never allowed"),
    ("importlib factory", _factory("importlib:import_module", name="os"), "never allowed"),
    ("torch.hub factory", _factory("torch.hub:load", repo_or_dir="x/y"), "never allowed"),
    ("module off the allow-list", _factory("collections:OrderedDict"), "not on the server's"),
    ("private name", _factory("torch.nn:_reduction"), "public name"),
    ("factory file outside the project", _outside_file, "outside the project's folder"),
    ("absolute factory file", _absolute_file, "outside the project's folder"),
    ("os:system transform", _transform, "never allowed"),
    ("python object tag", _raw("name: !!python/object/apply:os.system ['id']\n"), "valid YAML"),
    ("kwargs holding a date", _kwargs("__DATE__"), "is a date; expected plain data"),
    ("kwargs nesting too deep", _deep_kwargs, "nests deeper than 8 levels"),
    ("kwargs too many values", _kwargs(list(range(2000))), "more than 1000 values"),
    ("kwargs with a huge text", _kwargs("x" * 10_000), "at most 4096"),
    ("nesting bomb", _raw("name: " + "[" * 5000 + "]" * 5000 + "\n"), "nests deeper than 32"),
    ("oversized file", _raw("# pad\n" * (MAX_PROJECT_BYTES // 6 + 10)), "larger than 256 KiB"),
    ("password file", _raw(f"{PASSWD_LINE}\ndaemon:x:1:1::/usr/sbin:/bin/false\n"), "mapping"),
    ("password-like mapping", _raw(f"{PASSWD_LINE}: 1\n"), "not a project key"),
    ("binary file", _raw(b"\xff\xfe\x00binary"), "UTF-8"),
]


def _materialise(tabular_project: Path, tmp_path: Path, build) -> tuple[Path, Path]:
    """The hostile project file next to the good project's data, and the marker path."""
    marker = tmp_path / "MARKER"
    for folder in (tabular_project.parent.parent, tabular_project.parent):
        (folder / "evil.py").write_text(EVIL_SOURCE.format(marker=str(marker)))
    content = build(_good(tabular_project), marker)
    if isinstance(content, dict):
        content = yaml.safe_dump(content, sort_keys=False)
    if isinstance(content, str):
        content = content.replace("'__DATE__'", "2024-01-01").replace("__DATE__", "2024-01-01")
        content = content.encode()
    path = tabular_project.parent / "hostile.yaml"
    path.write_bytes(content)
    return path, marker


@pytest.fixture(scope="module")
def _warm_cli(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Import what the CLI imports once, so that the timed refusals time the refusal only."""
    main(["summary", str(tmp_path_factory.mktemp("warm") / "none.yaml")])


@pytest.mark.usefixtures("_warm_cli")
@pytest.mark.parametrize(
    ("build", "words"), [case[1:] for case in HOSTILE_FILES], ids=[c[0] for c in HOSTILE_FILES]
)
def test_a_hostile_project_file_is_refused_with_exit_2(
    build, words: str, tabular_project: Path, tmp_path: Path, cache_dir: Path, capsys
) -> None:
    path, marker = _materialise(tabular_project, tmp_path, build)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        code = main(["summary", str(path), "--resamples", "10"])
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = capsys.readouterr().err.strip()
    assert code == 2, message
    assert words in message
    assert len(message.splitlines()) == 1  # one line, no traceback
    assert len(message) < 600
    assert elapsed < 1.0  # refused before anything is walked, imported or computed
    assert peak < 64 * 2**20
    assert not marker.exists()  # nothing executed
    assert not cache_dir.exists() or not any(cache_dir.rglob("*.npy"))  # nothing cached
    for secret in (PASSWD_LINE, "root-secret", "daemon:x"):
        assert secret not in message  # no content echoed


def test_values_quoted_in_messages_are_truncated(tmp_path: Path) -> None:
    path = _write(tmp_path, {"name": [SECRET * 50], "label": "y", "predictions": "p.parquet"})
    with pytest.raises(
        ProjectError, match=r"name is \['hunter2.*\.\.\..*expected a non-empty"
    ) as e:
        load_project(path)
    assert len(str(e.value)) < 300


def test_a_factory_re_exported_from_a_forbidden_module_is_refused_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An allow-listed module that merely imports ``os.system`` does not make it allowed."""
    from gengap_dash.engine.model_loading import load_callable

    package = tmp_path / "reexports_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from os import system\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("GENGAP_FACTORY_MODULES", "reexports_pkg")
    with pytest.raises(ProjectError, match=r"defined in posix, which is not on the server's"):
        load_callable("reexports_pkg:system", base=tmp_path, key="model.factory")


def test_the_operator_allow_list_cannot_admit_a_forbidden_module(
    tabular_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENGAP_FACTORY_MODULES", "os,subprocess")
    data = _good(tabular_project)
    data["model"]["factory"] = "os:system"
    data["model"]["kwargs"] = {"command": "true"}
    with pytest.raises(ProjectError, match=r"module 'os' is never allowed"):
        load_project(_write(tabular_project.parent / "x", data))


def test_a_factory_file_inside_the_project_still_loads(tabular_project: Path) -> None:
    spec = load_project(tabular_project)
    assert spec.model is not None and spec.model.factory == "model.py:WineMLP"


# --------------------------------------------------------------------------- served roots


def _served(*, project: Path | None = None, folders: tuple[Path, ...] = (), any_path=False):
    argv = ["--project", str(project)] if project else []
    for folder in folders:
        argv += ["--projects-dir", str(folder)]
    if any_path:
        argv.append("--allow-any-project-path")
    return ServedProjects.from_arguments(argv, {}, sample=SAMPLE)


@pytest.mark.parametrize(
    "text",
    ["/etc/passwd", "/etc/shadow", "/no/such/file.yaml", "../outside/project.yaml", "/etc",
     "/proc/self/environ", "link_out/project.yaml", "loop/project.yaml", "x\x00y", "/root/.bashrc"],
)  # fmt: skip
def test_paths_outside_the_served_roots_are_refused_alike(text: str, tmp_path: Path) -> None:
    served_root = tmp_path / "served"
    _write(served_root / "a", "name: a\n")
    outside = _write(tmp_path / "outside", "name: outside\n")
    (served_root / "link_out").symlink_to(outside.parent)
    (served_root / "loop").symlink_to(served_root / "loop")
    served = _served(folders=(served_root,))
    with pytest.raises(ProjectError) as error:
        served.resolve(text)
    assert str(error.value) == NOT_SERVED  # the same words whether or not it exists


def test_paths_inside_the_served_roots_resolve(tmp_path: Path) -> None:
    served_root = tmp_path / "served"
    first = _write(served_root / "a", "name: a\n")
    second = _write(served_root / "b" / "deeper", "name: b\n")
    served = _served(folders=(served_root,))
    assert served.resolve(str(first)) == first.resolve()
    assert served.resolve("b/deeper") == second.resolve()
    assert served.resolve(str(served_root / "a" / ".." / "b" / "deeper")) == second.resolve()
    assert served.resolve("") == first.resolve()  # the default: the first project listed
    assert served.listed() == [first.resolve(), second.resolve()]


def test_the_unsafe_flag_opens_any_path(tmp_path: Path) -> None:
    outside = _write(tmp_path / "outside", "name: outside\n")
    assert _served(project=SAMPLE, any_path=True).resolve(str(outside)) == outside.resolve()
    with pytest.raises(ProjectError, match="not served here"):
        _served(project=SAMPLE).resolve(str(outside))


def test_without_arguments_the_sample_folder_is_the_only_root() -> None:
    served = _served()
    assert served.default == SAMPLE.resolve()
    assert served.roots == (SAMPLE.parent.resolve(),)


# --------------------------------------------------------------------------- the UI (AppTest)


def _app(monkeypatch: pytest.MonkeyPatch, **environment: str) -> AppTest:
    for name in ("GENGAP_PROJECT", "GENGAP_PROJECTS_DIR", "GENGAP_ALLOW_ANY_PROJECT_PATH"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)


def _malicious_project(tmp_path: Path, marker: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "evil.py").write_text(EVIL_SOURCE.format(marker=str(marker)))
    return _write(
        folder,
        {
            "name": "evil",
            "model": {"factory": "evil.py:make"},
            "inputs": {"kind": "tabular"},
            "label": "y",
            "splits": {"train": {"path": "t.csv", "role": "train"}},
        },
    )


def _shown(app: AppTest) -> str:
    texts = [e.value for e in (*app.error, *app.markdown, *app.caption, *app.title)]
    return " ".join(texts).replace("\\", "")


@pytest.mark.parametrize("how", ["query parameter", "sidebar box"])
@pytest.mark.parametrize("target", ["malicious project", "/etc/passwd", "missing file"])
def test_a_viewer_cannot_open_a_path_outside_the_served_projects(
    how: str, target: str, tabular_project: Path, tmp_path: Path, cache_dir: Path, monkeypatch
) -> None:
    marker = tmp_path / "MARKER"
    path = {
        "malicious project": lambda: str(_malicious_project(tmp_path, marker)),
        "/etc/passwd": lambda: "/etc/passwd",
        "missing file": lambda: str(tmp_path / "nothing" / "project.yaml"),
    }[target]()
    app = _app(monkeypatch, GENGAP_PROJECT=str(tabular_project))
    if how == "query parameter":
        app.query_params["project"] = path
        app.run()
    else:
        app.run()
        assert app.title[0].value.endswith("Wine MLP")  # the served project opens
        app.text_input(key="gengap_project_input").set_value(path).run()
    assert not app.exception
    assert [e.value for e in app.error] == [f"**This project cannot be opened.** {NOT_SERVED}"]
    assert not app.get("plotly_chart")
    assert not marker.exists()
    assert "root:" not in _shown(app)
    if how == "query parameter":
        assert not cache_dir.exists()  # nothing ran, nothing was cached


def test_a_viewer_switches_among_the_served_projects(
    tabular_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The positive control: a project under the projects root opens from the sidebar."""
    app = _app(
        monkeypatch, GENGAP_PROJECTS_DIR=f"{SAMPLE.parent}{os.pathsep}{tabular_project.parent}"
    )
    app.run()
    assert not app.exception
    assert app.title[0].value.endswith("Digits CNN")
    assert app.selectbox(key="gengap_project_choice").options == [
        "digits/project.yaml",
        "wine/project.yaml",
    ]
    app.selectbox(key="gengap_project_choice").select("wine/project.yaml").run()
    assert not app.exception and not app.error
    assert app.title[0].value.endswith("Wine MLP")
    app.text_input(key="gengap_project_input").set_value(str(SAMPLE)).run()
    assert app.title[0].value.endswith("Digits CNN")
    assert str(SAMPLE) in str(app.query_params.get("project"))


def test_an_unexpected_error_shows_a_reference_and_no_traceback(
    tabular_project: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self, *args, **kwargs):
        raise RuntimeError(f"boom at /srv/private/{SECRET}")

    monkeypatch.setattr(Workspace, "compute", broken)
    app = _app(monkeypatch, GENGAP_PROJECT=str(tabular_project))
    with caplog.at_level("ERROR", logger="gengap_dash.ui"):
        app.run()
    assert not app.exception  # nothing for Streamlit to show as a traceback
    assert len(app.error) == 1
    shown = app.error[0].value
    reference = re.search(r"Internal error \(reference ([0-9a-f]{8})\)", shown)
    assert reference is not None, shown
    assert SECRET not in _shown(app) and "Traceback" not in _shown(app)
    logged = [r for r in caplog.records if reference.group(1) in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # the details are in the server's log


def test_bad_input_raised_by_a_page_is_one_line(
    tabular_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def bad(self, *args, **kwargs):
        raise ValueError("Expected `n_bins` to be a positive integer, but got 0.\nsecond line")

    monkeypatch.setattr(Workspace, "compute", bad)
    app = _app(monkeypatch, GENGAP_PROJECT=str(tabular_project))
    app.run()
    assert not app.exception
    shown = app.error[0].value.replace("\\", "")
    assert "Expected `n_bins` to be a positive integer, but got 0." in shown
    assert "second line" not in shown


def test_a_failed_inference_leaves_no_stale_progress_box(
    tabular_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 8 item 9: the "Running the model once..." box goes when inference fails."""

    def fails(self, progress=None, **kwargs):
        if progress is not None:
            progress("train", 0, 10)
        raise ProjectError("model.factory model.py:WineMLP raised RuntimeError: shapes differ")

    monkeypatch.setattr(Workspace, "compute", fails)
    app = _app(monkeypatch, GENGAP_PROJECT=str(tabular_project))
    app.run()
    assert not app.exception
    assert "shapes differ" in app.error[0].value
    assert not app.status and not app.progress
    assert "Running the model once" not in repr(app.main)


# --------------------------------------------------------------------------- shipped settings


def test_the_shipped_config_hides_error_details_and_binds_to_localhost() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"
    assert config["server"]["address"] == "127.0.0.1"
    assert config["server"]["enableXsrfProtection"] is True
    assert config["server"]["enableCORS"] is True
    # server CPU per page view (benchmarks/server_load.py): no file watching, no forced full GC
    assert config["server"]["fileWatcherType"] == "none"
    assert config["runner"]["postScriptGC"] is False


def test_the_docker_image_hides_error_details_and_runs_as_a_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "STREAMLIT_CLIENT_SHOW_ERROR_DETAILS=none" in dockerfile
    users = re.findall(r"^USER (\S+)", dockerfile, flags=re.M)
    assert users and users[-1] not in ("root", "0")
    assert "-p 127.0.0.1:8501:8501" in dockerfile
    assert "--chown=gengap" not in dockerfile  # the app is read-only to the server's user


class _RunsACommand:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
@pytest.mark.parametrize("save", ["pickle", "torch.save"])
def test_pickled_weights_are_refused_without_advice_to_unpickle(save: str, tmp_path: Path) -> None:
    import pickle

    import torch

    from gengap_dash.engine.model_loading import load_state_dict

    marker, path = tmp_path / "MARKER", tmp_path / "evil.pt"
    if save == "pickle":
        path.write_bytes(pickle.dumps(_RunsACommand(marker)))
    else:
        torch.save(_RunsACommand(marker), path)
    with pytest.raises(ProjectError, match=r"evil\.pt could not be loaded as a state_dict") as e:
        load_state_dict(path)
    assert "weights_only" not in str(e.value)  # never "re-run with weights_only=False"
    assert "never unpickled" in str(e.value)
    assert not marker.exists()
