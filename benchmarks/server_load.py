"""Server load: the dashboard server's own CPU per warm page view, and concurrent sessions.

python benchmarks/server_load.py [--project PATH] [--views 10] [--sessions 20]
                                 [--pages overview learning_curves calibration]

1. Warms the on-disk cache for the project (inference once, as ``gengap precompute`` does).
2. Starts ``streamlit run app.py`` on 127.0.0.1 with that cache.
3. Opens each page ``--views`` times in headless Chromium, one view at a time, and reads the
   server process's own CPU seconds (user + system; psutil if installed, else /proc/<pid>/stat)
   before and after each view: the browser's CPU is not counted. Twice: as a new visitor (a
   fresh browser context each view: the frontend's static files are downloaded again) and as a
   returning viewer (one context whose HTTP cache holds them; each view is still a new session).
4. Opens ``--sessions`` sessions at once (one browser context each) and waits until all have
   rendered, while a thread polls ``/_stcore/health`` every 50 ms and records its latency.

Prints medians (and the worst health latency). Only 127.0.0.1 traffic; every loop is bounded.
Targets (issue 14): at most 0.15 s of server CPU per warm page view; 20 sessions that all render
with the health check answering within 50 ms.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "digits" / "project.yaml"
RENDERED = (
    "document.querySelector('[data-testid=stMain] h1') && "
    "!document.querySelector('[data-testid=stStatusWidget]')"
)
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (not its children)."""
    try:
        import psutil

        times = psutil.Process(pid).cpu_times()
        return times.user + times.system
    except ImportError:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def health_latency(port: int, timeout: float = 5.0) -> float | None:
    """Seconds for one health check, or None when it failed or timed out."""
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/_stcore/health", timeout=timeout
        ) as reply:
            ok = reply.read() == b"ok"
    except OSError:
        return None
    return time.perf_counter() - started if ok else None


def warm_cache(project: Path, cache_dir: Path) -> None:
    from gengap_dash.workspace import Workspace

    workspace = Workspace.from_file(project, cache_dir=cache_dir)
    workspace.compute()


def start_server(project: Path, cache_dir: Path, port: int) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless=true",
        f"--server.port={port}", "--server.address=127.0.0.1", "--browser.gatherUsageStats=false",
        "--", "--project", str(project),
    ]  # fmt: skip
    environment = {**os.environ, "GENGAP_CACHE_DIR": str(cache_dir)}
    server = subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while health_latency(port) is None:
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise SystemExit("the server did not start")
        time.sleep(0.3)
    return server


def page_url(port: int, name: str) -> str:
    return f"http://127.0.0.1:{port}/{'' if name == 'overview' else name}"


def measure_views(browser, server: subprocess.Popen, port: int, pages: list[str], views: int):
    """Server CPU seconds per view, per page (each view in a fresh session)."""
    per_page: dict[str, list[float]] = {name: [] for name in pages}
    for name in pages:  # one unmeasured view per page warms Streamlit's caches
        context = browser.new_context(viewport={"width": 1440, "height": 1600})
        page = context.new_page()
        page.goto(page_url(port, name))
        page.wait_for_function(RENDERED, timeout=300_000)
        context.close()
    for _ in range(views):
        for name in pages:
            context = browser.new_context(viewport={"width": 1440, "height": 1600})
            page = context.new_page()
            before = cpu_seconds(server.pid)
            page.goto(page_url(port, name))
            page.wait_for_timeout(300)
            page.wait_for_function(RENDERED, timeout=300_000)
            page.wait_for_timeout(300)  # the session's last messages
            per_page[name].append(cpu_seconds(server.pid) - before)
            context.close()
    return per_page


def measure_returning_views(
    browser, server: subprocess.Popen, port: int, pages: list[str], views: int
) -> dict[str, list[float]]:
    """Server CPU seconds per view of a returning viewer: one browser context whose HTTP cache
    already holds the frontend's static files; each view is a new page (a new session)."""
    per_page: dict[str, list[float]] = {name: [] for name in pages}
    context = browser.new_context(viewport={"width": 1440, "height": 1600})
    warm = context.new_page()
    for name in pages:
        warm.goto(page_url(port, name))
        warm.wait_for_function(RENDERED, timeout=300_000)
    warm.close()
    for _ in range(views):
        for name in pages:
            page = context.new_page()
            before = cpu_seconds(server.pid)
            page.goto(page_url(port, name))
            page.wait_for_timeout(300)
            page.wait_for_function(RENDERED, timeout=300_000)
            page.wait_for_timeout(300)
            per_page[name].append(cpu_seconds(server.pid) - before)
            page.close()
    context.close()
    return per_page


def report_views(title: str, per_page: dict[str, list[float]]) -> None:
    every = [value for values in per_page.values() for value in values]
    print(f"{title}, median of {len(every)}: {statistics.median(every):.3f} s")
    for name, values in per_page.items():
        print(f"  {name:<18} median {statistics.median(values):.3f} s "
              f"(min {min(values):.3f}, max {max(values):.3f})")  # fmt: skip


def concurrent_sessions(browser, port: int, sessions: int, page_name: str):
    """Open ``sessions`` sessions at once; poll the health check until all have rendered."""
    latencies: list[float | None] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set() and len(latencies) < 20_000:
            latencies.append(health_latency(port, timeout=5.0))
            time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    contexts = [
        browser.new_context(viewport={"width": 1440, "height": 1600}) for _ in range(sessions)
    ]
    pages = [context.new_page() for context in contexts]
    started = time.perf_counter()
    poller.start()
    for page in pages:
        page.goto(page_url(port, page_name), wait_until="commit")
    rendered = 0
    for page in pages:
        try:
            page.wait_for_function(RENDERED, timeout=300_000)
            rendered += 1
        except Exception:  # noqa: BLE001 - counted as not rendered
            pass
    elapsed = time.perf_counter() - started
    done.set()
    poller.join(timeout=10)
    for context in contexts:
        context.close()
    return rendered, elapsed, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=SAMPLE)
    parser.add_argument("--views", type=int, default=10, help="measured views per page")
    parser.add_argument("--sessions", type=int, default=20, help="concurrent sessions")
    parser.add_argument(
        "--pages", nargs="*", default=["overview", "learning_curves", "calibration"]
    )
    parser.add_argument("--cache-dir", type=Path, default=None, help="default: a temporary one")
    arguments = parser.parse_args()
    if not 1 <= arguments.views <= 200 or not 1 <= arguments.sessions <= 100:
        raise SystemExit("--views must be 1..200 and --sessions 1..100")

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="gengap-load-") as temporary:
        cache_dir = arguments.cache_dir or Path(temporary) / "cache"
        started = time.perf_counter()
        warm_cache(arguments.project, cache_dir)
        print(f"cache warm in {time.perf_counter() - started:.1f} s ({cache_dir})")
        port = free_port()
        server = start_server(arguments.project.resolve(), cache_dir, port)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=os.environ.get("GENGAP_CHROMIUM", "/usr/bin/chromium"),
                    args=CHROMIUM_ARGS,
                )
                per_page = measure_views(browser, server, port, arguments.pages, arguments.views)
                report_views("server CPU per warm page view, new visitor", per_page)
                returning = measure_returning_views(
                    browser, server, port, arguments.pages, arguments.views
                )
                report_views("server CPU per warm page view, returning viewer", returning)
                rendered, elapsed, latencies = concurrent_sessions(
                    browser, port, arguments.sessions, arguments.pages[0]
                )
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    answered = [value for value in latencies if value is not None]
    print(f"{arguments.sessions} concurrent sessions: {rendered} rendered in {elapsed:.1f} s")
    if answered:
        print(f"  health check: median {1000 * statistics.median(answered):.1f} ms, "
              f"max {1000 * max(answered):.1f} ms, {len(latencies) - len(answered)} failed "
              f"of {len(latencies)}")  # fmt: skip
    else:
        print("  health check: no answer while the sessions rendered")


if __name__ == "__main__":
    main()
