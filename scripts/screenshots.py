"""Start the dashboard, open every page in headless Chromium and save full-page screenshots.

python scripts/screenshots.py [--project PATH] [--out screenshots] [--pages overview ...]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

PAGES = ["overview", "learning_curves", "calibration", "cohorts", "feature_space", "saliency"]
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(project: str | None, port: int) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true",
        f"--server.port={port}", "--server.address=127.0.0.1", "--browser.gatherUsageStats=false",
    ]  # fmt: skip
    if project:
        command += ["--", "--project", project]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(120):
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health").read() == b"ok":
                return server
        except OSError:
            time.sleep(0.5)
    server.terminate()
    raise SystemExit("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default=None)
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    parser.add_argument("--pages", nargs="*", default=PAGES)
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=2600)
    arguments = parser.parse_args()
    arguments.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = start_server(arguments.project, port)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=os.environ.get("GENGAP_CHROMIUM", "/usr/bin/chromium"),
                args=CHROMIUM_ARGS,
            )
            page = browser.new_page(viewport={"width": arguments.width, "height": arguments.height})
            for name in arguments.pages:  # each page by its link, as a shared link opens it
                page.goto(f"http://127.0.0.1:{port}/{'' if name == 'overview' else name}")
                page.wait_for_selector("[data-testid=stSidebarNav]", timeout=120_000)
                page.wait_for_timeout(1500)
                page.wait_for_function(
                    "!document.querySelector('[data-testid=stStatusWidget]')", timeout=180_000
                )
                page.wait_for_timeout(2500)
                path = arguments.out / f"{name}.png"
                page.screenshot(path=str(path), full_page=True)
                print(path)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
