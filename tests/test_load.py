"""Many people at once: 32 sessions through `/ask`, each an image and two follow-ups.

Every session must get its own answers (the fake endpoint echoes each question, and each question
carries its session's token) and none may fail. Memory and time are printed, never asserted,
except that memory comes back to roughly where it started.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
from gradio_client import Client, handle_file

from tests.conftest import TEST_KEY, AppProcess, make_image, start_app, stop_app
from tests.fake_openai import FakeOpenAI, Reply

SESSIONS = 32
TURNS = 3  # an image and a question, then two follow-ups
ANSWER_TOKENS = 120
TPS = 400  # each answer streams for ~0.3 s, so the sessions overlap
MB = 1024 * 1024


@pytest.fixture(scope="module")
def endpoint() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(keep_requests=False, default=Reply(tokens=ANSWER_TOKENS, tps=TPS)) as fake:
        yield fake


@pytest.fixture(scope="module")
def server(endpoint: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    # 32 simulated visitors, all from 127.0.0.1: for GLM_VISITOR_SHARE they are one address.
    running = start_app({"OPENAI_BASE_URL": endpoint.base_url, "OPENAI_API_KEY": TEST_KEY,
                         "GLM_MODELS": "glm-4.5v", "GLM_VISITOR_SHARE": "1"},
                        tmp_path_factory.mktemp("load"))
    try:
        yield running
    finally:
        stop_app(running)


class PeakRss:
    """Samples a process's resident memory in the background; keeps the highest value."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = self.now()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now(self) -> int:
        return self.process.memory_info().rss

    def _run(self) -> None:
        while not self._done.wait(0.05):
            self.peak = max(self.peak, self.now())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())


def session(url: str, n: int, image: Path) -> list[tuple[str, str]]:
    """One person: an image and a question, then two follow-ups (the history sent as text)."""
    client = Client(url, verbose=False)
    token = f"session-{n:02d}-{n * 7919 % 10007:05d}"
    results = []
    previous = ""
    for turn in range(1, TURNS + 1):
        question = f"[{token} turn {turn}] What is in this picture?"
        if previous:
            question += f" Earlier you said: {previous[:60]}"
        answer = client.predict([handle_file(str(image))], question, "glm-4.5v", 0.7, 512, "",
                                api_name="/ask")
        results.append((question, answer))
        previous = answer
    return results


def test_32_sessions_each_get_their_own_answers_and_memory_comes_back(
        server: AppProcess, endpoint: FakeOpenAI, tmp_path: Path) -> None:
    images = [make_image(tmp_path / f"s{n}.jpg", (640, 480), (n * 7, 255 - n * 7, 128), "JPEG")
              for n in range(SESSIONS)]
    warm = Client(server.url, verbose=False)  # first call pays imports and caches: not load
    assert warm.predict([handle_file(str(images[0]))], "warm up", api_name="/ask").startswith("Echo")
    endpoint.reset()

    rss = PeakRss(server.process.pid)
    before = rss.now()
    started = time.monotonic()
    with rss, ThreadPoolExecutor(SESSIONS) as pool:
        futures = [pool.submit(session, server.url, n, images[n]) for n in range(SESSIONS)]
        outcomes = [f.exception() or f.result() for f in futures]
    wall = time.monotonic() - started
    endpoint.wait_idle()
    # Give the app a moment of light traffic (its collector runs on allocations), then measure.
    for _ in range(5):
        warm.predict([], "after the rush", api_name="/ask")
    after = rss.now()

    print(f"\nload: {SESSIONS} sessions × {TURNS} turns = {endpoint.request_count - 5} chat requests "
          f"in {wall:.1f} s wall; endpoint peak concurrency {endpoint.peak_concurrency}; "
          f"app RSS before {before / MB:.0f} MB, peak {rss.peak / MB:.0f} MB, "
          f"after {after / MB:.0f} MB")

    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert errors == []
    for n, results in enumerate(outcomes):
        assert isinstance(results, list) and len(results) == TURNS
        for question, answer in results:
            assert answer.startswith(f"Echo: {question} | images: 1 | turn: 1"), (n, answer[:200])
            assert f"session-{n:02d}-" in answer
            others = [f"session-{m:02d}-" for m in range(SESSIONS) if m != n]
            assert not any(other in answer for other in others)
    assert endpoint.request_count == SESSIONS * TURNS + 5
    assert endpoint.peak_concurrency > 1  # the sessions really overlapped
    assert after < before + 200 * MB
