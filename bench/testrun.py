"""Test runs at speed and scale (issue 16, "Speed and scale"): four figures against the local fake
endpoint, each beside its target, written to bench/results/testrun.md.

    python bench/testrun.py                  # full run (~7 min on 2 shared cores)
    python bench/testrun.py --quick          # smaller runs, one repetition (~2 min), prints only
    python bench/testrun.py --only scale     # one part: throughput, ratelimit, scale, resume, appkill

1. throughput: a 500-cell run through ui.testing.runner.Runner at a fixed concurrency (8) against
   the fake endpoint, interleaved with a hand-written asyncio `openai` script (AsyncOpenAI,
   asyncio.Semaphore(8)) sending the same images, prepared beforehand, as data URLs.
2. ratelimit: an endpoint that answers 429 / 1302 above N requests at once; the adaptive run
   (start 16, most 32) beside fixed concurrencies (a Limit that never moves), wall time and
   failed cells of each.
3. scale: a 5,000-cell run in a fresh process: its RSS before, after and at the peak; then the Test
   page's handlers (TestPage.open_run, TestPage.page) timed in-process for that run and a 50-cell one.
4. resume: `glm-vision-chat batch` killed with SIGKILL at ~40 %, then `--resume`: requests counted
   per image × question × model at the endpoint.
5. appkill: the same for the app: `python app.py`, a run started on its Test page (Chromium), the
   server killed with SIGKILL at ~40 %, started again, the run resumed with the page's Resume.

The endpoint is tests/fake_openai.py in a child process (in this process for part 4, where its
request log is needed). bench/README.md explains the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import platform
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.update({"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"})

import psutil  # noqa: E402
from PIL import Image  # noqa: E402

from bench.run import Foreign  # noqa: E402
from tests.fake_openai import FakeOpenAI, Reply  # noqa: E402

MODEL = "glm-4.5v"
KEY = "bench-key"
QUESTIONS = [f"Question {i}: what is in this picture?" for i in range(10)]
OUT = ROOT / "bench" / "results" / "testrun.md"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def med(values: list[float]) -> float:
    return statistics.median(values)


# ---- the machine's load -------------------------------------------------------------------


class Load:
    """CPU seconds other processes used during each phase, and the load average at its start."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float, float]] = []  # name, load avg, others' CPU s, share
        self._name, self._at, self._wall, self._load = "", 0.0, 0.0, 0.0

    _others = staticmethod(Foreign._now)  # CPU seconds the machine's other processes used so far

    @contextlib.contextmanager
    def phase(self, name: str):  # type: ignore[no-untyped-def]
        load, at, wall = os.getloadavg()[0], self._others(), time.perf_counter()
        try:
            yield
        finally:
            used = max(0.0, self._others() - at)
            share = used / (os.cpu_count() or 1) / max(time.perf_counter() - wall, 1e-3)
            self.rows.append((name, load, used, share))
            log(f"  {name}: load avg {load:.2f}; other processes used {used:.1f} CPU s "
                f"({100 * share:.0f}% of the machine)")


# ---- the endpoint in a child process --------------------------------------------------------


def serve_fake(ttft: float, tps: float, tokens: int, most: int) -> None:
    """Child mode: FakeOpenAI with GET /stats (requests, refused, peak; then reset)."""

    class Fake(FakeOpenAI):
        async def _dispatch(self, conn: Any) -> None:
            if conn.path.endswith("/stats"):
                with self._cond:
                    stats = {"requests": self._count, "refused": self.refused, "peak": self._peak}
                    self._count, self.refused, self._peak = 0, 0, self._active
                await conn.send_json(200, stats)
                return
            await super()._dispatch(conn)

    fake = Fake(keep_requests=False, max_concurrent=most or None,
                default=Reply(ttft=ttft, tps=tps or None, tokens=tokens))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with fake, contextlib.suppress(KeyboardInterrupt):
        print(fake.base_url, flush=True)
        threading.Event().wait()


class FakeProcess:
    def __init__(self, ttft: float, tps: float, tokens: int, most: int = 0) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve-fake", str(ttft), str(tps), str(tokens), str(most)],
            stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http"):
            raise RuntimeError("the fake endpoint did not start")

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(self.url + "/stats", timeout=10) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def __enter__(self) -> FakeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---- images and the app's pieces -------------------------------------------------------------


def make_images(folder: Path, count: int, size: tuple[int, int]) -> list[Path]:
    """`count` distinct JPEGs of `size` with some texture (made in code)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    paths = []
    for i in range(count):
        im = Image.effect_noise(size, 40).convert("RGB")
        tint = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
        path = folder / f"img{i:04d}.jpg"
        Image.blend(im, tint, 0.6).save(path, "JPEG", quality=85)
        paths.append(path)
    return paths


def settings_for(url: str, data: Path, **env: str) -> Any:
    from ui.settings import Settings

    values = {"OPENAI_BASE_URL": url, "OPENAI_API_KEY": KEY, "GLM_MODELS": MODEL,
              "GLM_DATA_DIR": str(data), **env}
    return Settings.from_env(values)


def new_test_run(store: Any, folder: Path, questions: list[str], title: str) -> Any:
    from ui.choices import Choices
    from ui.testing import testset
    from ui.testing.cells import Variant
    from ui.testing.manager import new_run

    found = testset.build([folder], "\n".join(questions))
    return new_run(store, found, [Variant(Choices(model=MODEL, max_tokens=512))], "cli", title)


class FixedLimit:
    """A Limit that never moves: the 'fixed concurrency' of part 2."""

    def __init__(self, start: int, most: int) -> None:
        self.value, self.most, self.epoch = start, most, 0

    def rate_limited(self, started_in: int) -> None:
        pass

    def answered(self) -> None:
        pass


async def app_run(answerer: Any, store: Any, run: Any, images: Path, start: int, most: int,
                  fixed: bool = False) -> tuple[float, int, int]:
    """Wall seconds, done and failed cells of one Runner.run."""
    from ui.testing import runner as runner_module
    from ui.testing.manager import image_files

    runner = runner_module.Runner(answerer, store, image_files(store, images), start=start, most=most)
    real = runner_module.Limit
    if fixed:
        runner_module.Limit = FixedLimit  # type: ignore[misc,assignment]
    try:
        began = time.perf_counter()
        last = None
        async for p in runner.run(run):
            last = p
        wall = time.perf_counter() - began
    finally:
        runner_module.Limit = real  # type: ignore[misc]
    assert last is not None
    return wall, last.done, last.failed


# ---- 1. throughput -------------------------------------------------------------------------


async def script_run(client: Any, jobs: list[tuple[str, str]], concurrency: int) -> tuple[float, int]:
    """The hand-written script: every (data URL, question) streamed, `concurrency` at a time."""
    gate = asyncio.Semaphore(concurrency)
    answers: list[str] = []

    async def one(url: str, question: str) -> None:
        async with gate:
            stream = await client.chat.completions.create(
                model=MODEL, stream=True, max_tokens=512,
                messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                                       {"type": "text", "text": question}]}])
            text = []
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    text.append(chunk.choices[0].delta.content)
            answers.append("".join(text))

    began = time.perf_counter()
    await asyncio.gather(*(one(u, q) for u, q in jobs))
    return time.perf_counter() - began, sum(bool(a) for a in answers)


def throughput(tmp: Path, load: Load, quick: bool) -> dict[str, Any]:
    from openai import AsyncOpenAI

    from ui.answer import Answerer
    from ui.imaging.payload import prepare
    from ui.store import open_store

    images, questions = (20, QUESTIONS[:5]) if quick else (50, QUESTIONS)
    reps, conc, ttft, tps, tokens = (1 if quick else 3), 8, 0.2, 500.0, 50
    paths = make_images(tmp / "tp-images", images, (1024, 768))
    prepared = {p: prepare(p) for p in paths}  # the script's images, prepared once beforehand
    jobs = [(f"data:{prepared[p].mime};base64,{prepared[p].b64()}", q) for p in paths for q in questions]
    result: dict[str, Any] = {"cells": len(jobs), "images": images, "questions": len(questions),
                              "concurrency": conc, "ttft": ttft, "tps": tps,
                              "tokens": tokens, "app": [], "script": [], "app_done": [],
                              "script_done": []}
    with FakeProcess(ttft, tps, tokens) as fake:
        settings = settings_for(fake.url, tmp / "tp-data")
        answerer = Answerer(settings, tmp / "tp-uploads")
        store = open_store(tmp / "tp-data")

        async def go() -> None:
            client = AsyncOpenAI(base_url=fake.url, api_key=KEY, max_retries=0)
            warm = new_test_run(store, tmp / "tp-images", questions[:1], "warm-up")
            await app_run(answerer, store, warm, tmp / "tp-files", conc, conc)  # prepares the images
            await script_run(client, jobs[:conc], conc)
            for rep in range(reps):
                order = ["app", "script"] if rep % 2 == 0 else ["script", "app"]
                for who in order:
                    if who == "app":
                        run = await asyncio.to_thread(new_test_run, store, tmp / "tp-images",
                                                      questions, f"tp {rep}")
                        wall, done, _ = await app_run(answerer, store, run, tmp / "tp-files", conc, conc)
                    else:
                        wall, done = await script_run(client, jobs, conc)
                    result[who].append(wall)
                    result[f"{who}_done"].append(done)
                    log(f"  {who}: {len(jobs)} cells in {wall:.2f} s ({done} answered)")
            await client.close()

        with load.phase("1 throughput"):
            asyncio.run(go())
        store.close()
    app, script = med(result["app"]), med(result["script"])
    result["ratio"] = (len(jobs) / app) / (len(jobs) / script)
    return result


# ---- 2. against a rate limit -----------------------------------------------------------------


def rate_limit(tmp: Path, load: Load, quick: bool) -> dict[str, Any]:
    from ui.answer import Answerer
    from ui.store import open_store

    n = 8
    images, questions = (10, QUESTIONS[:10]) if quick else (20, QUESTIONS)
    ttft, tps, tokens = 0.2, 500.0, 50
    make_images(tmp / "rl-images", images, (640, 480))
    variants: list[tuple[str, int, int, bool]] = [
        (f"fixed {k}", k, k, True) for k in (2, 4, n, 2 * n)] + [("adaptive 16→32", 16, 32, False)]
    if not quick:
        variants += [(f"fixed {n} (again)", n, n, True), ("adaptive 16→32 (again)", 16, 32, False)]
    result: dict[str, Any] = {"n": n, "cells": images * len(questions), "ttft": ttft, "tps": tps,
                              "tokens": tokens, "rows": []}
    with FakeProcess(ttft, tps, tokens, most=n) as fake:
        settings = settings_for(fake.url, tmp / "rl-data")  # GLM_RETRIES / GLM_RETRY_BACKOFF: defaults
        result["retries"], result["backoff"] = settings.retries, settings.retry_backoff
        answerer = Answerer(settings, tmp / "rl-uploads")
        store = open_store(tmp / "rl-data")

        async def go() -> None:
            warm = new_test_run(store, tmp / "rl-images", QUESTIONS[:1], "warm-up")
            await app_run(answerer, store, warm, tmp / "rl-files", 2, 2, fixed=True)
            fake.stats()
            for name, start, most, fixed in variants:
                run = await asyncio.to_thread(new_test_run, store, tmp / "rl-images", questions, name)
                wall, done, failed = await app_run(answerer, store, run, tmp / "rl-files", start, most,
                                                   fixed)
                stats = fake.stats()
                result["rows"].append({"name": name, "wall": wall, "done": done, "failed": failed,
                                       "requests": stats["requests"], "refused": stats["refused"],
                                       "peak": stats["peak"], "adaptive": not fixed})
                log(f"  {name}: {wall:.2f} s, {done} done, {failed} failed, "
                    f"{stats['refused']} refused of {stats['requests']} requests")

        with load.phase("2 rate limit"):
            asyncio.run(go())
        store.close()
    rows = result["rows"]
    best = min((r for r in rows if not r["adaptive"] and r["failed"] == 0), key=lambda r: r["wall"])
    adaptive = med([r["wall"] for r in rows if r["adaptive"]])
    best_wall = med([r["wall"] for r in rows if r["name"].startswith(best["name"].split(" (")[0])])
    result.update(best=best["name"].split(" (")[0], best_wall=best_wall, adaptive_wall=adaptive,
                  ratio=adaptive / best_wall,
                  adaptive_failed=sum(r["failed"] for r in rows if r["adaptive"]))
    return result


# ---- 3. a 5,000-cell run, in a fresh process -----------------------------------------------


def scale_child(tmp: Path, url: str, images: int, calls: int) -> None:
    """Child mode: a 50-cell run (warm-up), then an `images` × 10 run with RSS watched, then the
    Test page's open and page handlers timed for both. Prints one JSON line."""
    import gradio as gr

    from ui.answer import Answerer
    from ui.page.testrun import TestPage
    from ui.store import open_store
    from ui.testing.manager import Runs, image_files

    me = psutil.Process()
    settings = settings_for(url, tmp / "sc-data")
    answerer = Answerer(settings, tmp / "sc-uploads")
    store = open_store(tmp / "sc-data")
    make_images(tmp / "sc-small", 5, (64, 48))
    make_images(tmp / "sc-large", images, (64, 48))
    out: dict[str, Any] = {}

    async def go() -> None:
        small = await asyncio.to_thread(new_test_run, store, tmp / "sc-small", QUESTIONS, "50 cells")
        out["small_wall"] = (await app_run(answerer, store, small, tmp / "sc-files", 16, 16))[0]
        out["small_id"] = small.id
        peak = me.memory_info().rss
        out["rss_before"] = peak
        watching = True

        def watch() -> None:
            nonlocal peak
            while watching:
                peak = max(peak, me.memory_info().rss)
                time.sleep(0.05)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        began = time.perf_counter()
        large = await asyncio.to_thread(new_test_run, store, tmp / "sc-large", QUESTIONS, "5000 cells")
        out["create_s"] = time.perf_counter() - began
        wall, done, failed = await app_run(answerer, store, large, tmp / "sc-files", 16, 16)
        watching = False
        watcher.join()
        out.update(large_id=large.id, large_wall=wall, done=done, failed=failed, cells=large.size,
                   rss_after=me.memory_info().rss, rss_peak=max(peak, me.memory_info().rss))

    asyncio.run(go())
    page = TestPage(settings, store, Runs(answerer, store, image_files(store, tmp / "sc-files")),
                    tmp / "sc-data")
    request = gr.Request()
    times: dict[str, list[float]] = {f"{k}_{size}": [] for k in ("open", "summary", "page")
                                     for size in ("small", "large")}
    for _ in range(calls):
        for size in ("small", "large"):
            run_id = out[f"{size}_id"]
            began = time.perf_counter()
            state, *_ = page.open_run(run_id, "bench", request)
            times[f"open_{size}"].append(time.perf_counter() - began)
            began = time.perf_counter()
            page.run_summary(state, request)  # the event after open_run, filling in the summary
            times[f"summary_{size}"].append(time.perf_counter() - began)
            began = time.perf_counter()
            page.page(state, 1, request)
            times[f"page_{size}"].append(time.perf_counter() - began)
    out["times"] = times
    store.close()
    print(json.dumps(out), flush=True)


def scale(tmp: Path, load: Load, quick: bool) -> dict[str, Any]:
    images, calls = (50, 15) if quick else (500, 41)
    with FakeProcess(0.0, 0.0, 20) as fake, load.phase("3 scale"):
        done = subprocess.run([sys.executable, __file__, "--scale-child", str(tmp), fake.url,
                               str(images), str(calls)], cwd=ROOT, capture_output=True, text=True,
                              timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"the scale run failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    t = result["times"]
    result["medians_ms"] = {k: 1000 * med(v) for k, v in t.items()}
    m = result["medians_ms"]
    result["open_ratio"] = m["open_large"] / m["open_small"]
    result["page_ratio"] = m["page_large"] / m["page_small"]
    result["summary_ratio"] = m["summary_large"] / m["summary_small"]
    result["first_open_ms"] = {k: 1000 * t[k][0] for k in ("open_small", "open_large")}
    result["first_summary_ms"] = {k: 1000 * t[k][0] for k in ("summary_small", "summary_large")}
    mb = 1e6
    result["growth_mb"] = (result["rss_after"] - result["rss_before"]) / mb
    result["peak_growth_mb"] = (result["rss_peak"] - result["rss_before"]) / mb
    log(f"  {result['cells']} cells in {result['large_wall']:.1f} s; RSS +{result['growth_mb']:.1f} MB "
        f"(peak +{result['peak_growth_mb']:.1f}); open ×{result['open_ratio']:.2f}, "
        f"page ×{result['page_ratio']:.2f}")
    return result


# ---- 4. kill -9 and resume -------------------------------------------------------------------


def cli_command() -> list[str]:
    # `python -m ui.cli` from this checkout (PYTHONPATH below): the console script may belong to another
    return [sys.executable, "-m", "ui.cli"]


def resume(tmp: Path, load: Load, quick: bool) -> dict[str, Any]:
    from ui.store import open_store

    images, questions = (6, QUESTIONS[:2]) if quick else (20, QUESTIONS[:2])
    models = [MODEL, "glm-4.6v"]
    folder = tmp / "rs-images"
    make_images(folder, images, (320, 240))
    data, out = tmp / "rs-data", tmp / "rs-results.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "GLM_"))}
    env.pop("DATABASE_URL", None)
    total = images * len(questions) * len(models)
    result: dict[str, Any] = {"cells": total}
    with FakeOpenAI(default=Reply(ttft=0.3, tps=100, tokens=30)) as fake, load.phase("4 resume"):
        env.update({"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": KEY, "GLM_DATA_DIR": str(data),
                    "GLM_MODELS": ",".join(models), "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)})
        argv = [*cli_command(), "batch", str(folder), *[a for q in questions for a in ("--question", q)],
                *[a for m in models for a in ("--model", m)], "--out", str(out)]
        first = subprocess.Popen(argv, env=env, cwd=tmp, text=True, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
        assert first.stderr is not None
        seen = ""
        for line in first.stderr:
            match = re.search(r"(\d+)/(\d+)", line)
            if match and int(match.group(1)) >= 0.4 * int(match.group(2)):
                seen = line.strip()
                break
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        result["killed_at"] = seen
        store = open_store(data)
        [info] = store.runs()
        cells = list(store.each_cell(info.id))
        run = store.run(info.id)
        assert run is not None
        key = {c.id: (run.items[c.row].image, run.items[c.row].question,
                      run.variants[c.variant].choices.model) for c in cells}
        finished = {c.id for c in cells if c.status == "done"}
        kept = {c.id: c.answer for c in cells if c.id in finished}
        store.close()
        before = len(fake.requests)
        second = subprocess.run([*argv, "--resume"], env=env, cwd=tmp, capture_output=True, text=True,
                                timeout=300)
        requests = fake.requests

    sent = Counter(request_key(r) for r in requests if r.path.endswith("/chat/completions"))
    store = open_store(data)
    after = {c.id: c for c in store.each_cell(info.id)}
    [again] = store.runs()
    store.close()
    known = set(key.values())
    result.update(
        exit=second.returncode, same_run=again.id == info.id, finished_at_kill=len(finished),
        requests_before_kill=before, requests_after=len(requests) - before,
        done_after=sum(c.status == "done" for c in after.values()),
        failed_after=sum(c.status == "failed" for c in after.values()),
        kept=sum(after[i].status == "done" and after[i].answer == a for i, a in kept.items()),
        finished_sent_twice=sum(sent[key[i]] > 1 for i in finished),
        in_flight_sent_again=sum(sent[key[i]] > 1 for i in key if i not in finished),
        never_sent=sum(sent[k] == 0 for k in known),
        unknown=sum(n for k, n in sent.items() if k not in known),
        lines=len(out.read_text(encoding="utf-8").splitlines()) if out.exists() else 0)
    log(f"  killed at '{seen}'; {len(finished)} finished kept {result['kept']}; "
        f"finished sent twice {result['finished_sent_twice']}; "
        f"in flight sent again {result['in_flight_sent_again']}")
    return result


# ---- 5. the app process killed -9 mid-run, started again, Resume ---------------------------


def request_key(request: Any) -> tuple[str, str, str]:
    """image (SHA-256 of the bytes sent) × question × model of one recorded chat request."""
    url = request.images()[0]
    digest = hashlib.sha256(base64.b64decode(url.split(",", 1)[-1])).hexdigest()
    return digest, request.last_user_text(), request.json["model"]


def app_kill(tmp: Path, load: Load, quick: bool) -> dict[str, Any]:
    """`python app.py`; on its Test page (headless Chromium) drop the images, type the questions,
    pick two models, Run; SIGKILL the server once the store holds >= 40 % of the answers; start
    it again on the same data folder, open the run from the list, Resume, until Finished."""
    from playwright.sync_api import expect, sync_playwright

    from tests.conftest import CHROMIUM, CHROMIUM_ARGS, start_app, stop_app
    from ui.store import open_store

    if CHROMIUM is None:
        raise RuntimeError("part 5 needs Debian's chromium")
    images, questions = (6, QUESTIONS[:2]) if quick else (20, QUESTIONS[:2])
    models = [MODEL, "glm-4.6v"]
    folder = tmp / "ak-images"
    paths = make_images(folder, images, (320, 240))
    data = tmp / "ak-data"
    total = images * len(questions) * len(models)
    result: dict[str, Any] = {"cells": total}
    with FakeOpenAI(default=Reply(ttft=0.3, tps=100, tokens=30)) as fake, load.phase("5 app killed"), \
            sync_playwright() as p:
        env = {"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": KEY, "GLM_DATA_DIR": str(data),
               "GLM_MODELS": ",".join(models)}
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        (tmp / "ak-app-1").mkdir()
        app = start_app(env, tmp / "ak-app-1")
        try:
            page.goto(app.url + "test")
            expect(page.locator("#test-questions textarea")).to_be_visible(timeout=60_000)
            page.locator("#test-files input[type=file]").set_input_files([str(f) for f in paths])
            page.locator("#test-questions textarea").fill("\n".join(questions))
            page.locator("#test-questions textarea").blur()
            for model in models:
                page.locator("#test-models").get_by_label(model, exact=True).check()
            expect(page.locator("#test-plan")).to_contain_text(f"= {total} requests", timeout=60_000)
            page.locator("#test-run").click()
            store = open_store(data)  # the app's SQLite file, read beside it (WAL)
            try:
                deadline = time.monotonic() + 300
                while not (infos := store.runs()) or infos[0].done < 0.4 * total:
                    if time.monotonic() > deadline or app.process.poll() is not None:
                        raise RuntimeError("the run did not get to 40 %:\n" + app.log()[-3000:])
                    time.sleep(0.02)  # the store is polled: the kill should land mid-run
                os.kill(app.process.pid, signal.SIGKILL)
                app.process.wait(timeout=30)
                [info] = store.runs()
                run = store.run(info.id)
                assert run is not None
                cells = list(store.each_cell(info.id))
                result.update(status_at_kill=info.status, done_when_seen=infos[0].done)
            finally:
                store.close()
            before = len(fake.requests)
            finished = {c.id: c.answer for c in cells if c.status == "done"}
            key = {c.id: (run.items[c.row].image, run.items[c.row].question,
                          run.variants[c.variant].choices.model) for c in cells}
            (tmp / "ak-app-2").mkdir()
            # the same address: the browser keeps its id (gr.BrowserState) per origin, and the run
            # is this browser's
            url = app.url
            env["GRADIO_SERVER_PORT"] = url.rstrip("/").rsplit(":", 1)[1]
            app = start_app(env, tmp / "ak-app-2")
            app.url = url
            store = open_store(data)
            result["status_after_restart"] = store.runs()[0].status  # Runs.recover() at start-up
            store.close()
            page.goto(app.url + "test")
            expect(page.locator("#test-questions textarea")).to_be_visible(timeout=60_000)
            page.locator("#test-runs input").click()
            page.get_by_role("option").first.click()
            expect(page.locator("#test-grid")).to_contain_text("img0000.jpg", timeout=60_000)
            page.locator("#test-resume").click()
            try:
                expect(page.locator("#test-progress")).to_contain_text("Finished", timeout=300_000)
            except AssertionError:
                print(app.log()[-6000:])  # what the restarted server said
                raise
            shown = page.locator("#test-progress").inner_text()
        finally:
            stop_app(app)
            browser.close()
        requests = list(fake.requests)
    sent = Counter(request_key(r) for r in requests if r.path.endswith("/chat/completions"))
    store = open_store(data)
    after = {c.id: c for c in store.each_cell(info.id)}
    again = store.runs()
    store.close()
    known = set(key.values())
    result.update(
        finished_at_kill=len(finished), requests_before_kill=before,
        requests_after=len(requests) - before, progress=shown.replace("\n", " "),
        runs_after=len(again), same_run=again[0].id == info.id, status_after=again[0].status,
        done_after=sum(c.status == "done" for c in after.values()),
        failed_after=sum(c.status == "failed" for c in after.values()),
        kept=sum(after[i].status == "done" and after[i].answer == a for i, a in finished.items()),
        finished_sent_twice=sum(sent[key[i]] > 1 for i in finished),
        in_flight_sent_again=sum(sent[key[i]] > 1 for i in key if i not in finished),
        never_sent=sum(sent[k] == 0 for k in known),
        unknown=sum(n for k, n in sent.items() if k not in known))
    log(f"  app killed with {len(finished)} of {total} answered; kept {result['kept']}; "
        f"finished sent twice {result['finished_sent_twice']}; "
        f"in flight sent again {result['in_flight_sent_again']}; after Resume "
        f"{result['done_after']} done")
    return result


# ---- the report ----------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "✅ met" if ok else "❌ missed"


def report(parts: dict[str, Any], load: Load, quick: bool, took: float) -> str:
    import gradio
    import openai

    lines = [
        "# Test runs: speed and scale (issue 16)",
        "",
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC · `python bench/testrun.py"
        f"{' --quick' if quick else ''}` · {took / 60:.1f} min · Python {platform.python_version()}, "
        f"gradio {gradio.__version__}, openai {openai.__version__} · {os.cpu_count()} cores, "
        f"shared · SQLite store (the default)",
        "",
        "Every figure is against the local fake endpoint (`tests/fake_openai.py`) on 127.0.0.1, "
        "in a child process. bench/README.md says how each is measured.",
        "",
        "| figure | measured | target | |",
        "|---|---|---|---|",
    ]
    tp, rl, sc, rs, ak = (parts.get(k) for k in ("throughput", "ratelimit", "scale", "resume",
                                                  "appkill"))
    if tp:
        lines.append(f"| 1. {tp['cells']}-cell run at concurrency {tp['concurrency']}: app ÷ asyncio "
                     f"script throughput | {tp['ratio']:.3f} | ≥ 0.95 | {verdict(tp['ratio'] >= 0.95)} |")
    if rl:
        ok = rl["ratio"] <= 1.15 and rl["adaptive_failed"] == 0
        lines.append(f"| 2. rate limit at {rl['n']} at once: adaptive ÷ best fixed ({rl['best']}) "
                     f"wall time; failed cells | {rl['ratio']:.3f}; {rl['adaptive_failed']} | "
                     f"≤ 1.15; 0 | {verdict(ok)} |")
    if sc:
        lines.append(f"| 3a. {sc['cells']}-cell run: RSS growth of the process (peak) | "
                     f"{sc['growth_mb']:.1f} MB ({sc['peak_growth_mb']:.1f} MB) | ≤ 60 MB | "
                     f"{verdict(max(sc['growth_mb'], sc['peak_growth_mb']) <= 60)} |")
        lines.append(f"| 3b. open the results (open_run + render): {sc['cells']} ÷ 50 cells | "
                     f"{sc['open_ratio']:.2f} | ≤ 1.2 | {verdict(sc['open_ratio'] <= 1.2)} |")
        lines.append(f"| 3c. next page (page(+1)): {sc['cells']} ÷ 50 cells | {sc['page_ratio']:.2f} | "
                     f"≤ 1.2 | {verdict(sc['page_ratio'] <= 1.2)} |")
    if rs:
        ok = (rs["kept"] == rs["finished_at_kill"] and rs["finished_sent_twice"] == 0
              and rs["done_after"] == rs["cells"] and rs["never_sent"] == 0)
        lines.append(f"| 4. `batch` killed -9 at ~40 %, `--resume`: finished cells kept; sent twice | "
                     f"{rs['kept']}/{rs['finished_at_kill']}; {rs['finished_sent_twice']} | all; 0 | "
                     f"{verdict(ok)} |")
    if ak:
        ok = (ak["kept"] == ak["finished_at_kill"] and ak["finished_sent_twice"] == 0
              and ak["done_after"] == ak["cells"] and ak["never_sent"] == 0)
        lines.append(f"| 5. the app (`python app.py`) killed -9 mid-run, started again, Resume: "
                     f"finished cells kept; sent twice | {ak['kept']}/{ak['finished_at_kill']}; "
                     f"{ak['finished_sent_twice']} | all; 0 | {verdict(ok)} |")
    lines += ["", "## Load on the machine", "",
              "| phase | load average (1 min) at its start | CPU s other processes used | share of "
              "the machine |", "|---|---|---|---|"]
    lines += [f"| {n} | {la:.2f} | {u:.1f} | {100 * s:.0f} % |" for n, la, u, s in load.rows]
    if any(s > 0.05 for *_, s in load.rows):
        lines += ["", "⚠️ Other processes used more than 5 % of the machine in some phase: those "
                  "figures are skewed (both sides of a ratio share the skew only when interleaved)."]
    if tp:
        lines += ["", "## 1. Throughput at a fixed concurrency", "",
                  f"{tp['cells']} cells ({tp['images']} images of 1024 × 768 × {tp['questions']} "
                  f"questions), one model, concurrency {tp['concurrency']} "
                  f"(`Runner(start=8, most=8)`); endpoint: time to first token {tp['ttft']} s, "
                  f"{tp['tokens']} tokens at {tp['tps']:.0f} tokens/s. The script prepares every image "
                  "with `ui.imaging.payload.prepare` before its clock starts and sends it as a data URL "
                  "(image part, then text), keeping the answers in memory; the app's run includes "
                  "saving every answer in SQLite. Runs interleaved, alternating which goes first.", "",
                  "| | wall times (s) | median (s) | cells/s |", "|---|---|---|---|"]
        for who in ("app", "script"):
            walls = tp[who]
            lines.append(f"| {'app (Runner)' if who == 'app' else 'asyncio script'} | "
                         f"{', '.join(f'{w:.2f}' for w in walls)} | {med(walls):.2f} | "
                         f"{tp['cells'] / med(walls):.1f} |")
        ideal = tp["cells"] / tp["concurrency"] * (tp["ttft"] + tp["tokens"] / tp["tps"])
        lines += ["", f"Every cell answered in each run: app {tp['app_done']}, script "
                  f"{tp['script_done']}. The endpoint alone would take {ideal:.1f} s "
                  f"({tp['cells']} / {tp['concurrency']} × {tp['ttft'] + tp['tokens'] / tp['tps']:.2f} s)."]
    if rl:
        lines += ["", "## 2. Against a rate limit", "",
                  f"{rl['cells']} cells of 640 × 480 images; the endpoint answers HTTP 429 with GLM "
                  f"code 1302 to any request above {rl['n']} at once, each answer {rl['ttft']} s to "
                  f"first token + {rl['tokens']} tokens at {rl['tps']:.0f}/s. GLM_RETRIES="
                  f"{rl['retries']}, GLM_RETRY_BACKOFF={rl['backoff']} (the app's defaults). A fixed "
                  "concurrency is a Limit that never moves (neither halves nor grows); the adaptive "
                  "run is `Runner(start=16, most=32)`.", "",
                  "| variant | wall (s) | done | failed | requests | refused (429) | peak at once |",
                  "|---|---|---|---|---|---|---|"]
        for r in rl["rows"]:
            lines.append(f"| {r['name']} | {r['wall']:.2f} | {r['done']} | {r['failed']} | "
                         f"{r['requests']} | {r['refused']} | {r['peak']} |")
        lines += ["", f"Best fixed concurrency in hindsight: {rl['best']} ({rl['best_wall']:.2f} s, "
                  f"median of its runs); adaptive median {rl['adaptive_wall']:.2f} s: "
                  f"ratio {rl['ratio']:.3f}."]
    if sc:
        m = sc["medians_ms"]
        lines += ["", "## 3. A 5,000-cell run", "",
                  f"{sc['cells'] // 10} images of 64 × 48 × 10 questions × 1 model, in a fresh process "
                  f"(`--scale-child`) against an endpoint that answers at once (20 tokens, no pacing), "
                  f"concurrency 16. Before it, a 50-cell run (5 images × 10) in the same process warms "
                  f"everything up; RSS is taken after it, then sampled every 50 ms through creating "
                  f"the 5,000-cell run (images and thumbnails stored) and asking it.", "",
                  f"- run: {sc['large_wall']:.1f} s ({sc['cells'] / sc['large_wall']:.0f} cells/s), "
                  f"{sc['done']} done, {sc['failed']} failed; creating it {sc['create_s']:.1f} s",
                  f"- RSS: {sc['rss_before'] / 1e6:.1f} MB before, {sc['rss_after'] / 1e6:.1f} MB after "
                  f"(+{sc['growth_mb']:.1f}), peak {sc['rss_peak'] / 1e6:.1f} MB "
                  f"(+{sc['peak_growth_mb']:.1f})", "",
                  f"The Test page's handlers, called in-process with a `gr.Request()` "
                  f"({len(sc['times']['open_small'])} calls each, interleaved; medians):", "",
                  "| handler | 50 cells (ms) | 5,000 cells (ms) | ratio |", "|---|---|---|---|",
                  f"| open_run (progress, page 1 of the grid, labels) | {m['open_small']:.2f} | "
                  f"{m['open_large']:.2f} | {sc['open_ratio']:.2f} |",
                  f"| page(+1) | {m['page_small']:.2f} | {m['page_large']:.2f} | {sc['page_ratio']:.2f} |",
                  f"| run_summary (the next event: fills in the summary) | {m['summary_small']:.2f} | "
                  f"{m['summary_large']:.2f} | {sc['summary_ratio']:.2f} |", "",
                  f"The first open_run of each (a cold store): {sc['first_open_ms']['open_small']:.1f} ms "
                  f"and {sc['first_open_ms']['open_large']:.1f} ms. open_run shows progress, page 1 of the "
                  "grid and its labels; the summary (share rated good with its clustered interval, "
                  "medians, reasons, errors) reads every cell of the run, so the page asks for it in a "
                  "second event (`run_summary`, chained after open_run) and it is not redrawn when "
                  "paging, filtering or moving the focus. The page keeps it (per run and language) until "
                  "a cell of the run is answered, fails or is rated (`Store.changes`, counts read from "
                  "the indexes), so only the first run_summary of each run reads every cell: "
                  f"{sc['first_summary_ms']['summary_small']:.1f} ms and "
                  f"{sc['first_summary_ms']['summary_large']:.1f} ms here; the median is the calls "
                  "after it. That first read is the one figure that grows with the run."]
    if rs:
        lines += ["", "## 4. Killed with SIGKILL, then resumed", "",
                  f"`glm-vision-chat batch` on {rs['cells']} cells (images × 2 questions × 2 models; "
                  f"answers of ~0.6 s), killed with SIGKILL once its progress line showed ≥ 40 % "
                  f"(`{rs['killed_at']}`), then run again with `--resume`. Requests counted at the "
                  f"endpoint per image (SHA-256 of the image sent) × question × model.", "",
                  f"- finished at the kill: {rs['finished_at_kill']}; kept unchanged after the resume: "
                  f"{rs['kept']}; sent more than once: {rs['finished_sent_twice']}",
                  f"- cells in flight at the kill and so sent again (they had no answer yet): "
                  f"{rs['in_flight_sent_again']}",
                  f"- requests before the kill {rs['requests_before_kill']}, during the resume "
                  f"{rs['requests_after']}; cells never sent {rs['never_sent']}; requests for no "
                  f"cell {rs['unknown']}",
                  f"- the resume continued the same run: {rs['same_run']}; exit status {rs['exit']}; "
                  f"{rs['done_after']} done, {rs['failed_after']} failed; results file rows "
                  f"{rs['lines']}",
]
    if ak:
        lines += ["", "## 5. The app killed with SIGKILL mid-run, started again, resumed", "",
                  f"`python app.py` against the fake endpoint (answers of ~0.6 s); on its Test page in "
                  f"headless Chromium: {ak['cells'] // 4} images dropped, 2 questions typed, 2 models "
                  f"ticked, Run. Once the app's SQLite store held ≥ 40 % of the answers "
                  f"({ak['done_when_seen']} seen), the server got SIGKILL; it was started again on the "
                  "same data folder, the run opened from the list, Resume pressed, until the progress "
                  "said Finished. Requests counted at the endpoint per image × question × model.", "",
                  f"- finished at the kill: {ak['finished_at_kill']}; kept unchanged after the resume: "
                  f"{ak['kept']}; sent more than once: {ak['finished_sent_twice']}",
                  f"- cells in flight at the kill and so sent again (they had no answer yet): "
                  f"{ak['in_flight_sent_again']}",
                  f"- requests before the kill {ak['requests_before_kill']}, after the restart "
                  f"{ak['requests_after']}; cells never sent {ak['never_sent']}; requests for no cell "
                  f"{ak['unknown']}",
                  f"- the run's status: at the kill `{ak['status_at_kill']}`, after the restart "
                  f"`{ak['status_after_restart']}` (Runs.recover), at the end `{ak['status_after']}`; "
                  f"runs in the store {ak['runs_after']}, the same run resumed: {ak['same_run']}",
                  f"- {ak['done_after']} done, {ak['failed_after']} failed; the page: "
                  f"\"{ak['progress']}\""]
    lines += ["", "## Raw figures", "", "```json", json.dumps(parts, indent=1, default=str), "```", ""]
    return "\n".join(lines)


def main() -> None:
    logging.getLogger("glmchat").setLevel(logging.ERROR)  # the 429s of part 2 are expected
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-fake":
        serve_fake(float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--scale-child":
        scale_child(Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller runs, one repetition; prints "
                        "the table only (unless --out)")
    parser.add_argument("--only", default="throughput,ratelimit,scale,resume,appkill",
                        help="comma-separated parts to run")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"where to write the results (default {OUT.relative_to(ROOT)} for a "
                        "full run)")
    args = parser.parse_args()
    out = args.out or (None if args.quick else OUT)
    load = Load()
    parts: dict[str, Any] = {}
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-testrun-") as folder:
        tmp = Path(folder)
        for name, fn in (("throughput", throughput), ("ratelimit", rate_limit), ("scale", scale),
                         ("resume", resume), ("appkill", app_kill)):
            if name in args.only.split(","):
                log(name)
                parts[name] = fn(tmp, load, args.quick)
    text = report(parts, load, args.quick, time.perf_counter() - began)
    print(text.split("## Raw figures")[0])
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        log(f"wrote {out}")


if __name__ == "__main__":
    main()
