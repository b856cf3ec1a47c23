"""Server load: the dashboard server's own CPU per warm page view, and concurrent sessions.

python benchmarks/server_load.py [--project PATH] [--views 10] [--sessions 20]
                                 [--pages overview learning_curves calibration]
                                 [--browser-nice 10]

1. Warms the on-disk cache for the project (inference once, as ``gengap precompute`` does).
2. Starts ``streamlit run app.py`` on 127.0.0.1 with that cache.
3. Opens each page ``--views`` times in headless Chromium, one view at a time, and reads the
   server process's own CPU seconds (user + system; psutil if installed, else /proc/<pid>/stat)
   before and after each view: the browser's CPU is not counted. Twice: as a new visitor (a
   fresh browser context each view: the frontend's static files are downloaded again) and as a
   returning viewer (one context whose HTTP cache holds them; each view is still a new session).
4. Opens ``--sessions`` sessions at once and waits until all have rendered, while a thread
   polls ``/_stcore/health`` every 50 ms and records its latency: as new visitors (a browser
   context each) and as returning viewers (one context with the frontend in its HTTP cache).
   A trivial control server (``python -m http.server``) is polled in the same loop: its latency
   is what the machine allows while the browsers render beside the server.

The browsers run under ``nice`` (``--browser-nice``, 0 to turn it off): on one machine they
would otherwise starve the server they measure; a viewer's browser runs on the viewer's
machine. Prints medians (and the health latency's median, 99th percentile and worst). Only
127.0.0.1 traffic; every loop is bounded.
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


def health_latency(port: int, timeout: float = 5.0, path: str = "/_stcore/health") -> float | None:
    """Seconds for one health check, or None when it failed or timed out."""
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as reply:
            ok = reply.read() == b"ok"
    except OSError:
        return None
    return time.perf_counter() - started if ok else None


def start_control_server(folder: Path) -> tuple[subprocess.Popen, int]:
    """A trivial HTTP server (``python -m http.server`` serving one file "ok") polled beside the
    dashboard: its latency is what the machine itself allows while the browsers render."""
    (folder / "health").write_text("ok")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
         "--directory", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while health_latency(port, path="/health") is None:
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise SystemExit("the control server did not start")
        time.sleep(0.1)
    return server, port


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


def concurrent_sessions(
    browser, port: int, control_port: int, sessions: int, page_name: str, *, returning: bool
):
    """Open ``sessions`` sessions at once; poll the health check until all have rendered.

    New visitors get a browser context each (every one downloads the frontend); returning
    viewers share one context whose HTTP cache already holds it (each page is still a new
    session)."""
    latencies: list[float | None] = []
    control: list[float | None] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set() and len(latencies) < 20_000:
            latencies.append(health_latency(port, timeout=5.0))
            control.append(health_latency(control_port, timeout=5.0, path="/health"))
            time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    if returning:
        shared = browser.new_context(viewport={"width": 1440, "height": 1600})
        warm = shared.new_page()
        warm.goto(page_url(port, page_name))
        warm.wait_for_function(RENDERED, timeout=300_000)
        warm.close()
        contexts = [shared]
        pages = [shared.new_page() for _ in range(sessions)]
    else:
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
    return rendered, elapsed, latencies, control


def report_sessions(
    title: str, rendered: int, elapsed: float, latencies: list, control: list
) -> None:
    print(f"{title}: {rendered} rendered in {elapsed:.1f} s")
    for name, values in (("health check", latencies), ("control server", control)):
        answered = sorted(value for value in values if value is not None)
        if not answered:
            print(f"  {name}: no answer while the sessions rendered")
            continue
        p99 = answered[min(len(answered) - 1, int(0.99 * len(answered)))]
        print(f"  {name}: median {1000 * statistics.median(answered):.1f} ms, "
              f"99th percentile {1000 * p99:.1f} ms, max {1000 * answered[-1]:.1f} ms, "
              f"{len(values) - len(answered)} failed of {len(values)}")  # fmt: skip


def niced_browser(folder: Path, executable: str, niceness: int) -> str:
    """A wrapper that starts Chromium under ``nice``: on one machine, the browsers that play the
    viewers would otherwise take the CPU from the server they measure (20 renderers on 2 cores);
    a viewer's browser runs on the viewer's machine."""
    wrapper = folder / "chromium-niced"
    wrapper.write_text(f'#!/bin/sh\nexec nice -n {int(niceness)} "{executable}" "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=SAMPLE)
    parser.add_argument("--views", type=int, default=10, help="measured views per page")
    parser.add_argument("--sessions", type=int, default=20, help="concurrent sessions")
    parser.add_argument(
        "--pages", nargs="*", default=["overview", "learning_curves", "calibration"]
    )
    parser.add_argument("--cache-dir", type=Path, default=None, help="default: a temporary one")
    parser.add_argument(
        "--browser-nice", type=int, default=10,
        help="run the browsers under nice (0: as the server); see niced_browser",
    )  # fmt: skip
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
        control_folder = Path(temporary) / "control"
        control_folder.mkdir()
        control_server, control_port = start_control_server(control_folder)
        try:
            with sync_playwright() as playwright:
                executable = os.environ.get("GENGAP_CHROMIUM", "/usr/bin/chromium")
                if arguments.browser_nice:
                    executable = niced_browser(Path(temporary), executable, arguments.browser_nice)
                browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
                per_page = measure_views(browser, server, port, arguments.pages, arguments.views)
                report_views("server CPU per warm page view, new visitor", per_page)
                returning = measure_returning_views(
                    browser, server, port, arguments.pages, arguments.views
                )
                report_views("server CPU per warm page view, returning viewer", returning)
                for returning in (False, True):
                    kind = "returning viewers" if returning else "new visitors"
                    report_sessions(
                        f"{arguments.sessions} concurrent sessions, {kind}",
                        *concurrent_sessions(
                            browser, port, control_port, arguments.sessions, arguments.pages[0],
                            returning=returning,
                        ),
                    )  # fmt: skip
                browser.close()
        finally:
            for process in (server, control_server):
                process.terminate()
                process.wait(timeout=30)


if __name__ == "__main__":
    main()
