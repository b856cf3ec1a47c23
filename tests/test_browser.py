"""Real-browser tests: Playwright drives Debian's Chromium against a live Streamlit server.

Skipped (with the reason) where no Chromium is installed; CI installs it, so CI always runs them.
Screenshots are written to ``artifacts/screenshots`` for a human to look at.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
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


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A live dashboard on the sample project, with a private cache."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    environment = {
        **os.environ,
        "GENGAP_CACHE_DIR": str(tmp_path_factory.mktemp("browser-cache")),
        "GENGAP_PROJECT": str(ROOT / "sample_data" / "digits" / "project.yaml"),
    }
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
        env=environment,
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


def test_overview_renders_the_scorecard_and_its_charts(server_url: str, page) -> None:
    page.set_viewport_size({"width": 1440, "height": 2600})
    page.goto(server_url)
    page.wait_for_selector(CHART, timeout=180_000)
    page.wait_for_function(f"document.querySelectorAll('{CHART}').length >= 2", timeout=60_000)
    main = page.locator("[data-testid=stMain]")
    assert "Gap scorecard" in main.locator("h1").first.inner_text()
    metrics = page.locator("[data-testid=stMetric]")
    assert metrics.count() == 8
    assert "97.0%" in metrics.nth(2).inner_text()  # the test split of the sample
    assert page.locator("[data-testid=stDataFrame]").count() == 1
    assert "Shift: rotated" in main.inner_text()
    assert page.locator(f"{CHART} .point, {CHART} .bars path").count() > 8
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "overview.png"), full_page=True)


@pytest.mark.parametrize(
    ("link", "heading", "min_charts"),
    [("learning-curves", "Learning curves", 4), ("calibration", "Calibration", 2)],
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
