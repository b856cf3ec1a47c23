"""ui.navigation: at most PAGE_RUNS_AT_ONCE pages render at once; the rest wait their turn, and
a page that waited PAGE_RUN_WAIT seconds runs anyway."""

from __future__ import annotations

import threading
import time

import pytest

from gengap_dash.ui import navigation


def test_pages_beyond_the_limit_wait_for_a_turn(monkeypatch) -> None:
    monkeypatch.setattr(navigation, "_page_runs", threading.BoundedSemaphore(2))
    monkeypatch.setattr(navigation, "PAGE_RUN_WAIT", 10.0)
    inside, most, lock = [0], [0], threading.Lock()
    release = threading.Event()

    def page() -> None:
        with navigation._page_turn():
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            release.wait(5)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=page) for _ in range(5)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    assert inside[0] == 2  # two render, three wait
    release.set()
    for thread in threads:
        thread.join(10)
    assert most[0] == 2 and inside[0] == 0
    # every turn was given back
    assert navigation._page_runs.acquire(timeout=0) and navigation._page_runs.acquire(timeout=0)


def test_a_page_that_waited_too_long_runs_anyway_and_errors_give_the_turn_back(
    monkeypatch,
) -> None:
    monkeypatch.setattr(navigation, "_page_runs", threading.BoundedSemaphore(1))
    monkeypatch.setattr(navigation, "PAGE_RUN_WAIT", 0.2)
    assert navigation._page_runs.acquire(timeout=0)  # a long sweep holds the only turn
    started = time.perf_counter()
    with navigation._page_turn():
        waited = time.perf_counter() - started
    assert 0.15 <= waited < 2.0
    navigation._page_runs.release()  # the sweep ends
    with pytest.raises(RuntimeError), navigation._page_turn():
        raise RuntimeError("page failed")
    assert navigation._page_runs.acquire(timeout=0)  # the failed page gave its turn back
