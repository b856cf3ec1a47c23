"""Real-browser tests: Playwright drives Debian's Chromium against a live Streamlit server.

Skipped (with the reason) where no Chromium is installed; CI installs it, so CI always runs them.
Screenshots are written to ``artifacts/screenshots`` for a human to look at.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("GENGAP_CHROMIUM", "/usr/bin/chromium"))
SHOTS = ROOT / "artifacts" / "screenshots"
CHART = "[data-testid=stPlotlyChart] .js-plotly-plot .main-svg"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}"),
]
pytest.importorskip("playwright", reason="pytest-playwright is not installed")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Use the system Chromium, without the background traffic a closed network refuses."""
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@contextlib.contextmanager
def _server(environment: dict[str, str]) -> Iterator[str]:
    """A live dashboard (``app.py``) with ``environment``; yields its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "app.py"),
            "--server.headless=true",
            f"--server.port={port}",
            "--server.address=127.0.0.1",
            "--browser.gatherUsageStats=false",
        ],
        cwd=ROOT,
        env={**_without_served_projects(os.environ), **environment},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health") as reply:
                    if reply.read() == b"ok":
                        break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the Streamlit server did not start") from None
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=20)


def _without_served_projects(environment: dict[str, str] | os._Environ) -> dict[str, str]:
    """The environment without the variables that choose what a server serves (each server
    here names its own)."""
    names = ("GENGAP_PROJECT", "GENGAP_PROJECTS_DIR", "GENGAP_ALLOW_ANY_PROJECT_PATH")
    return {name: value for name, value in environment.items() if name not in names}


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A live dashboard on the sample project, with a private cache."""
    with _server(
        {
            "GENGAP_CACHE_DIR": str(tmp_path_factory.mktemp("browser-cache")),
            "GENGAP_PROJECT": str(ROOT / "sample_data" / "digits" / "project.yaml"),
        }
    ) as url:
        yield url


def test_overview_renders_the_scorecard_and_its_charts(server_url: str, page) -> None:
    page.set_viewport_size({"width": 1440, "height": 2600})
    page.goto(server_url)
    page.wait_for_selector(CHART, timeout=180_000)
    page.wait_for_function(f"document.querySelectorAll('{CHART}').length >= 2", timeout=60_000)
    main = page.locator("[data-testid=stMain]")
    assert "Gap scorecard" in main.locator("h1").first.inner_text()
    metrics = page.locator("[data-testid=stMetric]")
    assert metrics.count() == 8
    assert "94.5%" in metrics.nth(2).inner_text()  # the test split of the sample (planted rows)
    assert page.locator("[data-testid=stDataFrame]").count() == 1
    assert "Shift: rotated" in main.inner_text()
    assert page.locator(f"{CHART} .point, {CHART} .bars path").count() > 8
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "overview.png"), full_page=True)


@pytest.mark.parametrize(
    ("link", "heading", "min_charts"),
    [("learning_curves", "Learning curves", 4), ("calibration", "Calibration", 2)],
)
def test_every_page_renders_its_charts_from_the_sidebar(
    server_url: str, page, link: str, heading: str, min_charts: int
) -> None:
    page.set_viewport_size({"width": 1440, "height": 2600})
    page.goto(server_url)
    page.wait_for_selector(CHART, timeout=180_000)
    page.locator(f"[data-testid=stSidebarNav] a[href$='/{link}']").click()
    page.wait_for_function(
        f"document.querySelector('h1') && document.querySelector('h1').innerText.startsWith("
        f"'{heading}')",
        timeout=60_000,
    )
    page.wait_for_function(
        f"document.querySelectorAll('{CHART}').length >= {min_charts}", timeout=120_000
    )
    assert page.locator("[data-testid=stException]").count() == 0
    assert "What to take from it" in page.locator("[data-testid=stMain]").inner_text()
    page.screenshot(path=str(SHOTS / f"{link}.png"), full_page=True)


def test_a_deep_link_opens_the_page_inside_the_app_navigation(server_url: str, page) -> None:
    page.goto(f"{server_url}/calibration")
    page.wait_for_function(
        "document.querySelector('h1') && document.querySelector('h1').innerText"
        ".startsWith('Calibration')",
        timeout=180_000,
    )
    nav = page.locator("[data-testid=stSidebarNav]").inner_text()
    assert "Gap scorecard" in nav and "Learning curves" in nav  # the app's titles, not file names


def test_a_first_request_by_deep_link_opens_cleanly_and_outside_paths_are_refused(
    tmp_path: Path, page
) -> None:
    """On a freshly started server, a shared link to a sub-page opens that page inside the app's
    navigation without Streamlit's "Page not found" notice (issue 8 item 10); a link that names a
    file outside the served projects shows the refusal and nothing of the file (issue 14)."""
    marker = tmp_path / "MARKER"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('x')\ndef make(): pass\n"
    )
    (outside / "project.yaml").write_text(
        "name: evil\nmodel: {factory: 'evil.py:make'}\ninputs: {kind: tabular}\nlabel: y\n"
        "splits: {train: {path: t.csv, role: train}}\n"
    )
    environment = {
        "GENGAP_CACHE_DIR": str(tmp_path / "cache"),
        "GENGAP_PROJECT": str(ROOT / "sample_data" / "digits" / "project.yaml"),
    }
    with _server(environment) as url:
        page.set_viewport_size({"width": 1440, "height": 1600})
        page.goto(f"{url}/learning_curves")  # the server's very first request
        page.wait_for_function(
            "document.querySelector('h1') && document.querySelector('h1').innerText"
            ".startsWith('Learning curves')",
            timeout=180_000,
        )
        page.wait_for_timeout(2000)  # a notice would arrive with the first script run
        body = page.locator("body").inner_text()
        assert "Page not found" not in body
        nav = page.locator("[data-testid=stSidebarNav]").inner_text()
        assert "Gap scorecard" in nav and "Calibration" in nav
        for target in ("/etc/passwd", str(outside / "project.yaml")):
            page.goto(f"{url}/calibration?project={urllib.parse.quote(target)}")
            page.wait_for_selector("text=This project is not served here", timeout=120_000)
            body = page.locator("[data-testid=stMain]").inner_text()
            assert "root:" not in body and "evil" not in body
            assert page.locator("[data-testid=stException]").count() == 0
        page.screenshot(path=str(tmp_path / "refused.png"), full_page=True)
    assert not marker.exists()
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.npy"))
