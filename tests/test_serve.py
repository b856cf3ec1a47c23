"""``gengap serve``: what it serves, and that stopping it stops the server (issue 8 item 11)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from gengap_dash.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "digits" / "project.yaml"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
            return r.read() == b"ok"
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        children.extend(int(child) for child in text)
    return children


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_gengap_serve_stops_the_streamlit_server(
    number: int, tmp_path: Path, cache_dir: Path
) -> None:
    port = _free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "gengap_dash.cli.main", "serve", str(SAMPLE), f"--port={port}"],
        env={**os.environ, "GENGAP_CACHE_DIR": str(cache_dir)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while not _healthy(port):
            assert serve.poll() is None, "gengap serve exited before the server answered"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.3)
        children = _children(serve.pid)
        assert children, "the Streamlit server runs as a child of gengap serve"
        serve.send_signal(number)
        serve.wait(timeout=45)
        for child in children:
            assert not _alive(child), f"the Streamlit child {child} still runs"
        assert not _healthy(port)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()


def test_serve_needs_a_project_or_a_projects_folder(capsys) -> None:
    assert main(["serve"]) == 2
    assert "Give a project file, or --projects-dir" in capsys.readouterr().err


def test_serve_refuses_a_projects_folder_that_is_not_one(tmp_path: Path, capsys) -> None:
    assert main(["serve", "--projects-dir", str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_serve_refuses_a_bad_project_before_starting(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "project.yaml"
    bad.write_text("a: &a [1]\nb: *a\n")
    assert main(["serve", str(bad)]) == 2
    assert "YAML alias" in capsys.readouterr().err
