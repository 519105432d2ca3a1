"""Benchmark: this app vs the raw openai SDK vs gr.load_chat, side by side in one run.

    python bench/run.py            # full run (~8 min on 2 cores), writes bench/RESULTS.md
    python bench/run.py --quick    # fewer repeats (~3 min), prints only (add --out to write)

Everything talks to bench/fake.py (tests/fake_openai.py with a per-question answer length) on
127.0.0.1 with a fixed time to first token and token rate. bench/README.md explains each figure.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import io
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))
os.environ.update({"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"})

import gradio_client.utils as gc_utils  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402
from openai import AsyncOpenAI, OpenAI  # noqa: E402
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps  # noqa: E402

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, AppProcess, free_port, start_app  # noqa: E402
from ui.imaging import payload as app_images  # noqa: E402

# ---- settings ---------------------------------------------------------------------------------

TTFT = 0.4  # s: the fake endpoint's time to first token (GLM-4V answers in ~0.5-2 s)
TPS = 500.0  # tokens per second of every stream
SHORT = 50  # tokens of the answer in the time-to-first-token cases
CONC_TOKENS = 100  # tokens of each answer in the concurrent-users cases
LONG = (1000, 4000)  # answer lengths of the long-answer case
CHAT_TURNS = 40  # earlier questions and answers in the "long chat" case (imported into the page)
MODEL = "glm-4v-plus-0111"  # sent by the raw SDK and gr.load_chat; the app sends its default
KEY = "bench-key"
PHOTO_SIZE = (4000, 3000)  # 12 MP
SHOT_SIZE = (4000, 3000)
SHOT_TEXT_PX = 12  # the smallest text in the screenshot
SETTLE = 1.0  # s between attaching a file (upload done) and pressing Enter: the user typing
UPLINK = 50  # Mbit/s: the simulated link to the endpoint in the "photo over an uplink" case
FONT_DIR = Path("/usr/share/fonts/truetype")


@dataclass(frozen=True)
class Plan:
    """How many times each measurement is repeated."""

    short: int
    long: int
    long_peer: bool  # the peer's long answers too
    browser: int
    browser_long: int
    browser_chat: int  # 1,000-token answers in a fresh chat and after CHAT_TURNS turns, each
    conc16: int
    conc16_peer: int
    conc64_peer: bool
    startup: int
    startup_warmup: bool  # one uncounted round first (disk cache)
    prep: int


FULL = Plan(short=7, long=3, long_peer=True, browser=5, browser_long=2, browser_chat=3, conc16=3,
            conc16_peer=2, conc64_peer=True, startup=5, startup_warmup=True, prep=9)
QUICK = Plan(short=3, long=1, long_peer=False, browser=2, browser_long=0, browser_chat=1, conc16=1,
             conc16_peer=1, conc64_peer=False, startup=2, startup_warmup=False, prep=3)

# ---- small helpers ----------------------------------------------------------------------------

_children: list[subprocess.Popen[Any]] = []


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def med(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def child_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "GLM_"))}
    env.update({"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
                "GRADIO_TEMP_DIR": str(tmp / "gradio"), "GRADIO_SERVER_NAME": "127.0.0.1"})
    return env


def stop_process(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def stop_all() -> None:
    while _children:
        stop_process(_children.pop())


def wait_http_200(url: str, process: subprocess.Popen[Any], timeout: float) -> float:
    """Poll url every 20 ms until it answers 200; return the perf_counter time of that answer."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before serving {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.02)
    raise RuntimeError(f"{url} gave no HTTP 200 within {timeout:.0f} s")


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 1e6


class CpuWindow:
    """CPU seconds each process spends between start() and stop()."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.used: dict[str, float] = {}
        self._at: dict[str, float] = {}

    def start(self) -> None:
        self._at = {k: cpu_seconds(pid) for k, pid in self.pids.items()}

    def stop(self) -> None:
        self.used = {k: cpu_seconds(pid) - self._at[k] for k, pid in self.pids.items()}


class Foreign:
    """CPU seconds that processes outside this benchmark used, per phase: other work skews it all."""

    def __init__(self, max_wait: float) -> None:
        self.phases: dict[str, float] = {}  # CPU seconds
        self.shares: dict[str, float] = {}  # of the machine's capacity during the phase
        self.waited = 0.0
        self.max_wait = max_wait
        self._phase, self._at, self._wall = "", 0.0, 0.0

    @staticmethod
    def _now() -> float:
        total = psutil.cpu_times()
        busy = sum(total) - total.idle - getattr(total, "iowait", 0.0)
        me = psutil.Process()
        t = me.cpu_times()
        ours = t.user + t.system + t.children_user + t.children_system
        for child in me.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                c = child.cpu_times()
                ours += c.user + c.system
        return busy - ours

    def phase(self, name: str) -> None:
        """End the current phase (if any), wait for a quiet machine, start the next."""
        now = self._now()
        if self._phase:
            used = max(0.0, now - self._at)
            share = used / (os.cpu_count() or 1) / max(time.perf_counter() - self._wall, 1e-3)
            self.phases[self._phase], self.shares[self._phase] = used, share
            if used > 0.5:
                log(f"  other processes used {used:.1f} CPU s during '{self._phase}' "
                    f"({100 * share:.0f}% of the machine): figures of that phase are skewed")
        if name:
            self._wait_quiet()
        self._phase, self._at, self._wall = name, self._now(), time.perf_counter()

    def end(self) -> None:
        """End the current phase without starting one: what happens until the next is not counted."""
        self.phase("")

    def _wait_quiet(self) -> None:
        """Wait (at most max_wait) until others use < 10% of a core for 3 s in a row."""
        started, quiet, said = time.perf_counter(), 0, False
        while quiet < 3 and time.perf_counter() - started < self.max_wait:
            before = self._now()
            time.sleep(1)
            quiet = quiet + 1 if self._now() - before < 0.1 else 0
            if quiet == 0 and not said:
                log("  other processes are busy: waiting for a quiet machine")
                said = True
        waited = time.perf_counter() - started
        self.waited += waited if waited > 3.5 else 0.0


class _FastTime:
    """gradio_client.utils' `time`, with its 50 ms SSE poll sleep cut to 2 ms."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        time.sleep(min(seconds, 0.002))


@contextlib.contextmanager
def fast_poll(enabled: bool) -> Iterator[None]:
    """Remove gradio_client's 0-50 ms read-loop delay (client side only; the server is untouched)."""
    if enabled:
        gc_utils.time = _FastTime()  # type: ignore[assignment]
    try:
        yield
    finally:
        gc_utils.time = time


# ---- test images (made in code, kept in a temp dir) -------------------------------------------


def make_photo(path: Path, size: tuple[int, int] = PHOTO_SIZE, seed: int = 1) -> Path:
    """A 12 MP 'photo': smooth gradients, soft texture, blurred shapes and sensor noise; q92."""
    w, h = size
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    base = np.stack([110 + 100 * x + 0 * y, 70 + 130 * y + 0 * x, 170 - 100 * x * y], -1)
    low = rng.normal(0, 1, (h // 40 + 1, w // 40 + 1, 3))
    texture = Image.fromarray(np.uint8(np.clip(128 + 40 * low, 0, 255))).resize((w, h), Image.BICUBIC)
    base += np.asarray(texture, dtype=np.float32) - 128
    image = Image.fromarray(np.uint8(np.clip(base, 0, 255)))
    draw = ImageDraw.Draw(image)
    for i in range(60):
        cx, cy, r = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(40, 400))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        (draw.ellipse if i % 2 else draw.rectangle)([cx - r, cy - r // 2, cx + r, cy + r // 2], fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(2))
    noisy = np.asarray(image, dtype=np.int16) + rng.normal(0, 6, (h, w, 3)).astype(np.int16)
    Image.fromarray(np.uint8(np.clip(noisy, 0, 255))).save(path, "JPEG", quality=92)
    return path


def make_screenshot(path: Path, size: tuple[int, int] = SHOT_SIZE, seed: int = 2) -> Path:
    """A 4000 x 3000 PNG 'screenshot': UI panels and ~1000 lines of 12-14 px text."""
    w, h = size
    rnd = random.Random(seed)
    image = Image.new("RGB", size, (250, 250, 252))
    draw = ImageDraw.Draw(image)
    sans = ImageFont.truetype(str(FONT_DIR / "dejavu/DejaVuSans.ttf"), SHOT_TEXT_PX)
    sans14 = ImageFont.truetype(str(FONT_DIR / "dejavu/DejaVuSans.ttf"), 14)
    mono = ImageFont.truetype(str(FONT_DIR / "liberation/LiberationMono-Regular.ttf"), 13)
    bold = ImageFont.truetype(str(FONT_DIR / "dejavu/DejaVuSans-Bold.ttf"), 20)
    words = ["invoice", "total", "amount", "tax", "customer", "order", "shipped", "pending", "error",
             "warning", "request", "latency", "model", "vision", "token", "image", "upload", "stream",
             "answer", "table", "chart", "revenue", "region", "north", "south", "east", "west",
             "quarter", "growth", "margin", "config", "server", "client", "retry"]
    draw.rectangle([0, 0, w, 56], fill=(36, 41, 56))
    draw.text((24, 16), "Dashboard - Q3 operations report (confidential)", font=bold, fill=(255, 255, 255))
    draw.rectangle([0, 56, 300, h], fill=(238, 240, 245))
    for i in range(150):
        draw.text((20, 76 + i * 19), f"{rnd.choice(words).title()} {i:03d}", font=sans14, fill=(60, 60, 80))
    columns = [(320, sans, 16), (1240, mono, 17), (2160, sans, 16), (3080, sans14, 19)]
    for left, font, step in columns:
        for row in range(70, h - 20, step):
            if rnd.random() < 0.04:
                draw.rectangle([left, row, left + 880, row + step - 3], fill=(225, 235, 250))
            line = " ".join(rnd.choice(words) for _ in range(11))
            draw.text((left, row), f"{line} {rnd.randint(0, 99999):>6}.{rnd.randint(0, 99):02d}",
                      font=font, fill=(20, 20, 20) if rnd.random() < 0.9 else (200, 30, 30))
    image.save(path, "PNG")
    return path


def make_chat(path: Path, turns: int = CHAT_TURNS) -> Path:
    """A conversation of `turns` questions and ~120-word Markdown answers, as the app exports it."""
    from ui.export import to_json

    answer = ("The chart compares **four quarters**: revenue rises from 1.2 to 1.9 million, with the "
              "largest step between Q2 and Q3 (+0.4 million, about 27 %). ") * 4
    history: list[dict[str, Any]] = []
    for i in range(1, turns + 1):
        history += [{"role": "user", "content": f"Question {i}: what changed in part {i}?"},
                    {"role": "assistant", "content": f"Part {i}. {answer}\n\n| q | value |\n|---|---|\n"
                                                     f"| {i} | {i * 3} |"}]
    path.write_text(to_json(history, {}), encoding="utf-8")
    return path


def unique_copy(src: Path, dst: Path, label: str) -> Path:
    """The same image with a unique comment: a new upload hash and cache key, same pixels."""
    data = src.read_bytes()
    note = f"bench {label} {time.time_ns()}".encode()
    if data[:2] == b"\xff\xd8":  # JPEG: a COM segment right after SOI
        data = data[:2] + b"\xff\xfe" + struct.pack(">H", len(note) + 2) + note + data[2:]
    elif data[:8] == b"\x89PNG\r\n\x1a\n":  # PNG: a tEXt chunk right after IHDR
        chunk = b"tEXt" + b"Comment\x00" + note
        text = struct.pack(">I", len(chunk) - 4) + chunk + struct.pack(">I", zlib.crc32(chunk))
        data = data[:33] + text + data[33:]
    else:
        raise ValueError(f"{src} is neither JPEG nor PNG")
    dst.write_bytes(data)
    return dst


class Copies:
    """Unique copies of the test images, so no system profits from a cache of an earlier run."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def __call__(self, src: Path, label: str) -> Path:
        self.count += 1
        return unique_copy(src, self.folder / f"{label}-{self.count}{src.suffix}", label)

    def clear(self) -> None:
        for path in self.folder.iterdir():
            path.unlink()


# ---- the systems under test -------------------------------------------------------------------


@dataclass
class Sample:
    ttft: float | None
    total: float
    text: str
    error: str = ""
    start: float = 0.0  # time.time() when the clock started, to line up with the endpoint's log


def question(tag: str, tokens: int) -> str:
    """The question, with the fake's markers: tag, answer length, and the uplink for `.up` tags."""
    uplink = f" #up={UPLINK}" if ".up." in f"{tag}." else ""
    return f"What is in this image? Answer briefly. #t={tag} #n={tokens}{uplink}"


def check(sample: Sample, images: int, peer: bool) -> Sample:
    """Mark a sample as failed unless the fake's echo shows the question and images arrived."""
    turn = 2 if peer and images else 1  # gr.load_chat sends each image as its own user message
    expect = f"images: {images} | turn: {turn}"
    if not sample.error and (not sample.text.startswith("Echo:") or expect not in sample.text):
        sample.error = f"unexpected answer {sample.text[:80]!r} (wanted {expect!r})"
    return sample


def data_url(path: Path) -> str:
    mime = "image/png" if path.suffix == ".png" else "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def raw_content(text: str, image: Path | None) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = [{"type": "text", "text": text}]
    if image is not None:
        content.insert(0, {"type": "image_url", "image_url": {"url": data_url(image)}})
    return content


class Raw:
    """The openai SDK streaming straight to the endpoint: the physical limit."""

    name = "raw SDK"

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.client = OpenAI(base_url=base_url, api_key=KEY, max_retries=0, timeout=300)

    def ask(self, tag: str, tokens: int, image: Path | None = None) -> Sample:
        start, t0 = time.time(), time.perf_counter()
        first, text = None, ""
        try:
            # Reading and encoding the file is part of the work, as in any script sending it.
            messages = [{"role": "user", "content": raw_content(question(tag, tokens), image)}]
            stream = self.client.chat.completions.create(model=MODEL, messages=messages,  # type: ignore
                                                         stream=True)
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    if first is None:
                        first = time.perf_counter() - t0
                    text += chunk.choices[0].delta.content
        except Exception as e:  # recorded, not raised: one failure must not end the run
            return Sample(first, time.perf_counter() - t0, text, f"{type(e).__name__}: {e}", start)
        return check(Sample(first, time.perf_counter() - t0, text, "", start), 1 if image else 0, False)

    def many(self, images: list[Path], tokens: int, label: str, timeout: float, cpu: CpuWindow) -> Crowd:
        """All users at once, in one process, with AsyncOpenAI."""

        async def run() -> Crowd:
            client = AsyncOpenAI(base_url=self.base_url, api_key=KEY, max_retries=0, timeout=600)
            crowd = Crowd(len(images))
            cpu.start()
            t0 = time.perf_counter()

            async def one(i: int, image: Path) -> None:
                text = ""
                try:
                    messages = [{"role": "user",
                                 "content": raw_content(question(f"{label}.{i}", tokens), image)}]
                    stream = await client.chat.completions.create(model=MODEL, messages=messages,  # type: ignore
                                                                  stream=True)
                    async for chunk in stream:
                        if chunk.choices and chunk.choices[0].delta.content:
                            if crowd.first[i] is None:
                                crowd.first[i] = time.perf_counter() - t0
                            text += chunk.choices[0].delta.content
                    crowd.errors[i] = check(Sample(0, 0, text), 1, False).error
                except Exception as e:
                    crowd.errors[i] = f"{type(e).__name__}: {e}"
                crowd.done[i] = time.perf_counter() - t0

            await asyncio.wait_for(asyncio.gather(*(one(i, image) for i, image in enumerate(images))),
                                   timeout)
            cpu.stop()
            await client.close()
            return crowd

        return asyncio.run(run())


@dataclass
class Crowd:
    """What happened to N simultaneous users (times from the common start)."""

    n: int
    first: list[float | None] = field(default_factory=list)
    done: list[float | None] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.first, self.done, self.errors = [None] * self.n, [None] * self.n, [""] * self.n

    @property
    def wall(self) -> float | None:
        done = [d for d in self.done if d is not None]
        return max(done) if len(done) == self.n else None

    @property
    def error_count(self) -> int:
        return sum(1 for e, d in zip(self.errors, self.done, strict=True) if e or d is None)

    @property
    def last_first(self) -> float | None:
        first = [f for f in self.first if f is not None]
        return max(first) if first else None


# gradio_client makes a new httpx client for each upload, join and stream, and with certificate
# checks on each one loads the CA bundle: ~19 ms of CPU per request on this machine, ~1.4 s for 16
# users, all on the cores the servers need. Every server here is plain HTTP on 127.0.0.1, so
# there is nothing to verify: both Gradio apps are driven with ssl_verify=False.
CLIENT_OPTIONS: dict[str, Any] = {"verbose": False, "download_files": False, "ssl_verify": False}


class GradioSystem:
    """A Gradio app driven through gradio_client (this app's /ask, or gr.load_chat's chat)."""

    def __init__(self, name: str, url: str, api: str, peer: bool, pid: int) -> None:
        self.name, self.url, self.api, self.peer, self.pid = name, url, api, peer, pid
        self.client = Client(url, **CLIENT_OPTIONS)

    def args(self, text: str, image: Path | None) -> tuple[Any, ...]:
        files = [handle_file(str(image))] if image is not None else []
        if self.peer:
            return ({"text": text, "files": files},)
        return (files, text, "", 0.7, 8192, "")

    def ask(self, tag: str, tokens: int, image: Path | None = None, fast: bool = False) -> Sample:
        if self.peer:
            self.client.reset_session()  # gr.load_chat's API fails on a second turn (ValueError)
        with fast_poll(fast):
            start, t0 = time.time(), time.perf_counter()
            first, text = None, ""
            job = self.client.submit(*self.args(question(tag, tokens), image), api_name=self.api)
            for out in job:
                if isinstance(out, str) and out:
                    if first is None:
                        first = time.perf_counter() - t0
                    text = out
            total = time.perf_counter() - t0
        error = job.exception()
        sample = Sample(first, total, text, f"{type(error).__name__}: {error}" if error else "", start)
        return check(sample, 1 if image else 0, self.peer)

    def many(self, images: list[Path], tokens: int, label: str, timeout: float, cpu: CpuWindow) -> Crowd:
        """All users at once: one Client (session) per user, made before the clock starts."""
        clients = [Client(self.url, **CLIENT_OPTIONS) for _ in images]
        crowd = Crowd(len(images))
        try:
            cpu.start()
            t0 = time.perf_counter()
            jobs = [c.submit(*self.args(question(f"{label}.{i}", tokens), image), api_name=self.api)
                    for i, (c, image) in enumerate(zip(clients, images, strict=True))]
            for i, job in enumerate(jobs):
                job.add_done_callback(lambda _f, i=i: crowd.done.__setitem__(i, time.perf_counter() - t0))
            deadline = t0 + timeout
            while time.perf_counter() < deadline and not all(job.done() for job in jobs):
                for i, job in enumerate(jobs):  # one watcher thread for every user's first token
                    if crowd.first[i] is None and any(isinstance(o, str) and o for o in job.outputs()):
                        crowd.first[i] = time.perf_counter() - t0
                time.sleep(0.02)
            cpu.stop()
            for i, job in enumerate(jobs):
                if not job.done():
                    job.cancel()
                    crowd.errors[i] = "timeout"
                    continue
                error = job.exception()
                outputs = job.outputs()
                text = outputs[-1] if outputs and isinstance(outputs[-1], str) else ""
                crowd.errors[i] = (f"{type(error).__name__}: {error}" if error
                                   else check(Sample(0, 0, text), 1, self.peer).error)
        finally:
            for c in clients:
                c.close()
        return crowd


class HttpSystem:
    """A Gradio app's REST API (/gradio_api/call/<api>) with plain httpx, no gradio_client.

    Files are uploaded before the clock starts, as a browser uploads them when they are attached,
    so the figure is what the server adds after Enter. No 0-50 ms client poll either.
    """

    def __init__(self, name: str, url: str, api: str, peer: bool) -> None:
        self.name, self.url, self.api, self.peer = name, url, api.strip("/"), peer
        self.client = httpx.Client(timeout=300)
        params = self.client.get(f"{url}gradio_api/info").json()["named_endpoints"][api]["parameters"]
        self.defaults = [p.get("parameter_default") for p in params]

    def upload(self, path: Path) -> dict[str, Any]:
        with path.open("rb") as f:
            response = self.client.post(f"{self.url}gradio_api/upload",
                                        files=[("files", (path.name, f, "application/octet-stream"))])
        response.raise_for_status()
        return {"path": response.json()[0], "meta": {"_type": "gradio.FileData"}}

    def data(self, text: str, file: dict[str, Any] | None) -> list[Any]:
        files = [file] if file else []
        if self.peer:
            return [{"text": text, "files": files}]
        return [files, text, "", 0.7, 8192, "", *self.defaults[6:]]

    def ask(self, tag: str, tokens: int, image: Path | None = None) -> Sample:
        file = self.upload(image) if image is not None else None
        start, t0 = time.time(), time.perf_counter()
        first, text, error = None, "", ""
        try:
            response = self.client.post(f"{self.url}gradio_api/call/{self.api}",
                                        json={"data": self.data(question(tag, tokens), file)})
            event_id = response.json()["event_id"]
            with self.client.stream("GET", f"{self.url}gradio_api/call/{self.api}/{event_id}") as stream:
                event = ""
                for line in stream.iter_lines():
                    event, value = _sse_line(line, event)
                    if event == "error":
                        error = f"error event: {value}"
                    elif isinstance(value, str) and value:
                        first = first if first is not None else time.perf_counter() - t0
                        text = value
        except (httpx.HTTPError, ValueError, KeyError) as e:
            error = f"{type(e).__name__}: {e}"
        sample = Sample(first, time.perf_counter() - t0, text, error, start)
        return check(sample, 1 if image else 0, self.peer)

    def many(self, images: list[Path], tokens: int, label: str, timeout: float, cpu: CpuWindow,
             prewarm: bool = False) -> Crowd:
        """All users at once over one async HTTP client; the files were uploaded before the clock.

        prewarm: before the clock, also ask once (1 token) about each uploaded file, so the app has
        prepared it: what the page's prepare-on-attach does for a browser user.
        """
        files = [self.upload(image) for image in images]
        if prewarm:
            self._crowd(files, 1, f"{label}.warm", timeout, CpuWindow({}))
        return self._crowd(files, tokens, label, timeout, cpu)

    def _crowd(self, files: list[dict[str, Any]], tokens: int, label: str, timeout: float,
               cpu: CpuWindow) -> Crowd:
        async def run() -> Crowd:
            crowd = Crowd(len(files))
            limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
            async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
                cpu.start()
                t0 = time.perf_counter()

                async def one(i: int) -> None:
                    text = ""
                    try:
                        data = self.data(question(f"{label}.{i}", tokens), files[i])
                        response = await client.post(f"{self.url}gradio_api/call/{self.api}",
                                                     json={"data": data})
                        event_id = response.json()["event_id"]
                        url = f"{self.url}gradio_api/call/{self.api}/{event_id}"
                        async with client.stream("GET", url) as stream:
                            event = ""
                            async for line in stream.aiter_lines():
                                event, value = _sse_line(line, event)
                                if event == "error":
                                    crowd.errors[i] = f"error event: {value}"
                                elif isinstance(value, str) and value:
                                    if crowd.first[i] is None:
                                        crowd.first[i] = time.perf_counter() - t0
                                    text = value
                        if not crowd.errors[i]:
                            crowd.errors[i] = check(Sample(0, 0, text), 1, self.peer).error
                    except (httpx.HTTPError, ValueError, KeyError) as e:
                        crowd.errors[i] = f"{type(e).__name__}: {e}"
                    crowd.done[i] = time.perf_counter() - t0

                await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(len(files)))), timeout)
                cpu.stop()
            return crowd

        return asyncio.run(run())


def _sse_line(line: str, event: str) -> tuple[str, Any]:
    """(event name, first output value or None) for one line of a /gradio_api/call stream."""
    if line.startswith("event:"):
        return line[6:].strip(), None
    if line.startswith("data:"):
        try:
            value = json.loads(line[5:])
        except ValueError:
            return event, line[5:].strip()
        if event == "error":
            return event, value
        return event, value[0] if isinstance(value, list) and value else None
    return event, None


# ---- the browser ------------------------------------------------------------------------------

# Timestamps taken inside the page (performance.now()), not by polling from Python: Enter's keydown
# (capture phase, before Gradio sees it) -> the first bot message with answer text, plus the next
# animation frame (when it is painted) -> the stats line, which the app fills with the final yield.
PROBE = """() => {
  const b = window.__bench = {t0: null, first: null, firstPaint: null, done: null, error: null,
                              origin: performance.timeOrigin};
  const chat = document.querySelector('#chat'), stats = document.querySelector('#stats');
  // The key event's own time stamp, on the window before anything else sees it.
  window.addEventListener('keydown', e => {
    if (e.key === 'Enter' && b.t0 === null) { b.t0 = e.timeStamp; b.seen = performance.now(); }
  }, true);
  const look = () => {
    if (b.first === null) {
      const bots = chat.querySelectorAll('[data-testid="bot"]');  // notes such as "what the model saw" too
      if ([...bots].some(bot => bot.textContent.includes('Echo:'))) {
        b.first = performance.now();
        requestAnimationFrame(() => { b.firstPaint = performance.now(); });
      }
    }
    if (b.done === null && b.first !== null && stats && stats.textContent.trim()) {
      requestAnimationFrame(() => { b.done = performance.now(); });
    }
    const toast = document.querySelector('.toast-body');
    if (toast && b.error === null) b.error = toast.textContent.trim().slice(0, 200);
  };
  const observer = new MutationObserver(look);
  observer.observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


class Browser:
    """This app in headless Chromium through Playwright."""

    def __init__(self, url: str, app_pid: int) -> None:
        from playwright.sync_api import sync_playwright

        self.url, self.app_pid = url, app_pid
        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        self.version = self.browser.version
        self.page = self.browser.new_page(viewport={"width": 1400, "height": 1000})
        # Each ask starts a fresh chat: the page would restore this tab's kept conversation
        # (ui/page/keeping.py), whose earlier answers would look like the new one.
        self.page.add_init_script("try { sessionStorage.clear(); localStorage.clear(); } catch (e) {}")

    def ask(self, tag: str, tokens: int, image: Path | None, timeout: float = 30,
            chat: Path | None = None) -> dict[str, Any]:
        """One question in a fresh session (no history resent), or after importing `chat`."""
        page = self.page
        page.goto(self.url)
        page.wait_for_selector("#chat-input textarea")
        if chat is not None:
            with page.expect_file_chooser() as chooser:
                page.click("#import")
            chooser.value.set_files(str(chat))
            page.wait_for_function(f"() => document.querySelectorAll('#chat [data-testid=\"bot\"]')"
                                   f".length >= {CHAT_TURNS}", timeout=30_000)
        if image is not None:
            page.set_input_files("#chat-input input[type=file]", str(image))
            page.wait_for_selector('#chat-input img[src*="gradio_api/file="]', timeout=60_000)
        page.fill("#chat-input textarea", question(tag, tokens))
        page.wait_for_timeout(SETTLE * 1000)
        page.evaluate(PROBE)
        cpu0 = cpu_seconds(self.app_pid)
        page.press("#chat-input textarea", "Enter")
        page.wait_for_function("() => window.__bench.done !== null || window.__bench.error !== null",
                               timeout=timeout * 1000, polling=100)
        cpu = cpu_seconds(self.app_pid) - cpu0
        b = page.evaluate("() => window.__bench")
        if b["error"] or b["first"] is None:
            return {"error": b["error"] or "no answer text", "cpu": cpu}
        return {"ttft": (b["firstPaint"] or b["first"]) / 1000 - b["t0"] / 1000,
                "ttft_dom": (b["first"] - b["t0"]) / 1000, "total": (b["done"] - b["t0"]) / 1000,
                "cpu": cpu, "error": "", "start": (b["origin"] + b["t0"]) / 1000}

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.browser.close()
        with contextlib.suppress(Exception):
            self._pw.stop()


# ---- measurements -----------------------------------------------------------------------------


@dataclass
class Results:
    samples: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    starts: dict[str, tuple[float, float | None]] = field(default_factory=dict)  # tag: (epoch, ttft)

    def add(self, case: str, system: str, value: Any) -> None:
        self.samples.setdefault(case, {}).setdefault(system, []).append(value)

    def get(self, case: str, system: str) -> list[Any]:
        return self.samples.get(case, {}).get(system, [])

    def median(self, case: str, system: str) -> float | None:
        return med([v for v in self.get(case, system) if isinstance(v, int | float)])


def record(res: Results, case: str, system: str, sample: Sample, tag: str) -> None:
    if sample.error:
        res.errors.append(f"{case} / {system}: {sample.error}")
        res.add(f"{case}.errors", system, 1)
        return
    res.add(f"{case}.ttft", system, sample.ttft)
    res.add(f"{case}.total", system, sample.total)
    res.starts[tag] = (sample.start, sample.ttft)


def measure_prep(res: Results, photo: Path, shot: Path, repeats: int) -> None:
    """ui.imaging.payload.prepare (cache cleared each call) vs the plain Pillow pipeline, interleaved."""

    def plain(path: Path) -> bytes:
        im = Image.open(path)
        im = ImageOps.exif_transpose(im)
        im.thumbnail((2048, 2048))
        buf = io.BytesIO()
        im.convert("RGB").save(buf, "JPEG", quality=85)
        return buf.getvalue()

    for name, path in (("photo", photo), ("shot", shot)):
        for _ in range(repeats):
            app_images.clear_cache()
            t0 = time.perf_counter()
            prepared = app_images.prepare(path, "balanced")
            res.add(f"prep.{name}", "app", time.perf_counter() - t0)
            t0 = time.perf_counter()
            out = plain(path)
            res.add(f"prep.{name}", "plain", time.perf_counter() - t0)
            t0 = time.perf_counter()
            app_images.prepare(path, "balanced")  # the next turn: served from the cache
            res.add(f"prep.{name}", "cached", time.perf_counter() - t0)
        res.info[f"prep.{name}"] = {"sent_px": prepared.sent_size, "mime": prepared.mime,
                                    "bytes": len(prepared.data), "plain_bytes": len(out),
                                    "notes": prepared.notes}
    app_images.clear_cache()


def measure_single(res: Results, systems: dict[str, Any], plan: Plan, images: dict[str, Path],
                   copies: Copies) -> None:
    """Time to first token (and total) for one user: text, 12 MP photo, 4000x3000 screenshot."""
    for case in ("text", "photo", "shot"):
        order = ["raw", "app", "app.http", "peer", "peer.http"]  # interleaved: drift hits all alike
        if case == "text":
            order += ["app.poll", "peer.poll"]
        for rep in range(plan.short):
            for key in order:
                image = copies(images[case], f"{key}-{case}") if case != "text" else None
                tag = f"{key}.{case}.{rep}"
                if key.endswith(".poll"):
                    sample = systems[key.removesuffix(".poll")].ask(tag, SHORT, image, fast=True)
                else:
                    sample = systems[key].ask(tag, SHORT, image)
                record(res, case, key, sample, tag)
            copies.clear()
        log(f"  {case}: " + ", ".join(f"{k} {res.median(case + '.ttft', k) or float('nan'):.3f}s"
                                      for k in order))


def measure_long(res: Results, systems: dict[str, Any], plan: Plan) -> None:
    """Total time of long answers, and the server CPU the Gradio processes spend per token."""
    for rep in range(plan.long):
        for tokens in LONG:
            for key in ("raw", "peer", "app") if plan.long_peer else ("raw", "app"):
                system = systems[key]
                pid = getattr(system, "pid", None)
                cpu0 = cpu_seconds(pid) if pid else 0.0
                sample = system.ask(f"{key}.long{tokens}.{rep}", tokens)
                record(res, f"long{tokens}", key, sample, f"{key}.long{tokens}.{rep}")
                if pid and not sample.error:
                    res.add(f"long{tokens}.cpu_per_token", key, (cpu_seconds(pid) - cpu0) / tokens)
        log(f"  long rep {rep + 1}: " + ", ".join(
            f"{k} {res.median('long4000.total', k):.2f}s" for k in ("raw", "peer", "app")
            if res.median("long4000.total", k) is not None))


def measure_browser(res: Results, browser: Browser, plan: Plan, images: dict[str, Path],
                    copies: Copies) -> None:
    """This app in Chromium: Enter -> first answer text painted; long answers: Enter -> stats line."""
    browser.ask("br.warmup", SHORT, copies(images["photo"], "br-warm"))
    cases = [("text", None), ("photo", images["photo"])]
    for rep in range(plan.browser):
        for case, src in cases:
            image = copies(src, f"br-{case}") if src else None
            out = browser.ask(f"br.{case}.{rep}", SHORT, image)
            if out["error"]:
                res.errors.append(f"browser {case}: {out['error']}")
                res.add(f"{case}.errors", "browser", 1)
            else:
                res.add(f"{case}.ttft", "browser", out["ttft"])
                res.add(f"{case}.ttft_dom", "browser", out["ttft_dom"])
                res.starts[f"br.{case}.{rep}"] = (out["start"], out["ttft"])
        copies.clear()
    log(f"  browser ttft: text {res.median('text.ttft', 'browser') or float('nan'):.3f}s, "
        f"photo {res.median('photo.ttft', 'browser') or float('nan'):.3f}s")
    for rep in range(plan.browser_long):
        for tokens in LONG:
            out = browser.ask(f"br.long{tokens}.{rep}", tokens, None, timeout=180)
            if out["error"]:
                res.errors.append(f"browser long{tokens}: {out['error']}")
                continue
            res.add(f"long{tokens}.total", "browser", out["total"])
            res.add(f"long{tokens}.cpu_per_token", "browser", out["cpu"] / tokens)
    if plan.browser_long:
        log(f"  browser long4000 {res.median('long4000.total', 'browser') or float('nan'):.2f}s")
    chats = (("chat1", None), (f"chat{CHAT_TURNS}", make_chat(copies.folder / "chat.json")))
    for rep in range(plan.browser_chat):
        for case, chat in chats:
            out = browser.ask(f"br.{case}.{rep}", LONG[0], None, timeout=120, chat=chat)
            if out["error"]:
                res.errors.append(f"browser {case}: {out['error']}")
                continue
            res.add(f"{case}.total", "browser", out["total"])
            res.add(f"{case}.cpu_per_token", "browser", out["cpu"] / LONG[0])
    copies.clear()
    if plan.browser_chat:
        log(f"  browser CPU per token, fresh chat {res.median('chat1.cpu_per_token', 'browser') or 0:.5f}s, "
            f"after {CHAT_TURNS} turns {res.median(f'chat{CHAT_TURNS}.cpu_per_token', 'browser') or 0:.5f}s")


def measure_uplink(res: Results, systems: dict[str, Any], browser: Browser, plan: Plan,
                   photo: Path, copies: Copies) -> None:
    """The 12 MP photo again, with the endpoint behind a simulated UPLINK Mbit/s link."""
    for rep in range(plan.browser):
        for key in ("raw", "app.http", "peer.http", "browser"):
            image = copies(photo, f"{key}-up")
            tag = f"{'br' if key == 'browser' else key}.up.{rep}"
            if key == "browser":
                out = browser.ask(tag, SHORT, image)
                if out["error"]:
                    res.errors.append(f"browser uplink: {out['error']}")
                    continue
                res.add("up.ttft", "browser", out["ttft"])
                res.starts[tag] = (out["start"], out["ttft"])
            else:
                record(res, "up", key, systems[key].ask(tag, SHORT, image), tag)
        copies.clear()
    keys = ("raw", "app.http", "peer.http", "browser")
    log(f"  photo over {UPLINK} Mbit/s: " + ", ".join(
        f"{k} {res.median('up.ttft', k) or float('nan'):.3f}s" for k in keys))


class RssWatch:
    """Peak RSS of some processes, sampled every 100 ms in a thread."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.peak = dict.fromkeys(pids, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            for key, pid in self.pids.items():
                with contextlib.suppress(psutil.Error):
                    self.peak[key] = max(self.peak[key], rss_mb(pid))

    def __enter__(self) -> RssWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def measure_crowds(res: Results, systems: dict[str, Any], plan: Plan, photo: Path,
                   copies: Copies, fake_pid: int, app_log: Callable[[], str]) -> None:
    """16 and 64 users, each with their own 12 MP photo, all pressing Enter at once."""
    pids = {k: systems[k].pid for k in ("app", "peer")}
    cpu = CpuWindow({**pids, "fake": fake_pid, "driver": os.getpid()})
    for key, pid in pids.items():
        res.info[f"rss.before.{key}"] = rss_mb(pid)
    with RssWatch(pids) as watch:
        for users, reps in ((16, plan.conc16), (64, 1)):
            for rep in range(reps):
                for key in ("raw", "app", "app.http", "app.warm", "peer"):
                    if key == "peer" and (rep >= (plan.conc16_peer if users == 16 else 1)
                                          or (users == 64 and not plan.conc64_peer)):
                        continue
                    label = f"{key}.u{users}.{rep}"
                    batch = [copies(photo, f"{key}-u{users}") for _ in range(users)]
                    if key == "app.warm":
                        crowd = systems["app.http"].many(batch, CONC_TOKENS, label, 60 + 4 * users, cpu,
                                                         prewarm=True)
                    else:
                        crowd = systems[key].many(batch, CONC_TOKENS, label, 60 + 4 * users, cpu)
                    copies.clear()
                    case = f"u{users}"
                    for who, used in cpu.used.items():
                        res.add(f"{case}.cpu.{who}", key, used)
                    record_crowd(res, case, key, crowd, f"{users} users / {key}")
                    res.add(f"{case}.last_first", key, crowd.last_first)
                    log(f"  {users} users, {key}: wall {crowd.wall or float('nan'):.2f}s, "
                        f"last first token {crowd.last_first or float('nan'):.2f}s, "
                        f"errors {crowd.error_count}; CPU s " +
                        ", ".join(f"{k} {v:.2f}" for k, v in cpu.used.items() if v > 0.05))
    time.sleep(2)
    for key, pid in pids.items():
        res.info[f"rss.after.{key}"] = rss_mb(pid)
        res.info[f"rss.peak.{key}"] = watch.peak[key]
    # What the app's prepared-image cache holds then (its log line once answers stop, ui/asking.py)
    held = re.findall(r"prepared-image cache holds (\d+) images, (\d+) MB", app_log())
    if held:
        res.info["cache.app"] = f"{held[-1][0]} images, {held[-1][1]} MB"


# ---- crowds only: the app's variants side by side (--crowds-only) ------------------------------

# Each variant is bench/variant_app.py (app.py, with BENCH_OFF's suspects left out) in its own
# process; MALLOC_ARENA_MAX=16 is glibc's own default on 2 cores (8 per core) instead of ui/heap.py's 2.
PEER = "gr.load_chat"
VARIANTS: dict[str, dict[str, str]] = {
    "as is": {},
    "arenas": {"MALLOC_ARENA_MAX": "16"},
    "pages": {"BENCH_OFF": "pages"},
    "resends": {"BENCH_OFF": "resends"},
    "freeze": {"BENCH_OFF": "freeze"},
    "idle_gc": {"BENCH_OFF": "idle_gc"},
    "sessions": {"BENCH_OFF": "sessions"},
}
VARIANT_NOTES = {
    "as is": "the app as it is (bench/variant_app.py with nothing off: what app.py does)",
    "arenas": "glibc's own malloc arenas (MALLOC_ARENA_MAX=16) instead of ui/heap.py's two",
    "pages": "no Compare, Test and Leaderboard components in the Blocks (their routes empty)",
    "resends": "no Resends on /ask (ui/pace.py): every step goes out",
    "freeze": "no gc.freeze() of the start-up objects (app.py)",
    "idle_gc": "no garbage collection and malloc_trim once answers stop (ui/heap.py Busy)",
    "sessions": "Gradio's own new sessions: every component's config made for each (ui/page/sessions.py off)",
    PEER: "gr.load_chat (REST, files uploaded before; no preparation to warm)",
}
CROWD_KINDS = {"http": "REST, uploaded before", "warm": "REST, prepared on attach"}


def start_variant(name: str, tmp: Path, fake_url: str) -> AppProcess:
    """bench/variant_app.py with one variant's switches, in its own folder, once it serves."""
    folder = tmp / ("app-" + re.sub(r"\W+", "-", name))
    folder.mkdir()
    port = free_port()
    env = {**child_env(tmp), "GRADIO_SERVER_PORT": str(port), "GRADIO_TEMP_DIR": str(folder / "gradio"),
           "OPENAI_BASE_URL": fake_url, "OPENAI_API_KEY": KEY, "GLM_VISITOR_SHARE": "1",
           **VARIANTS[name]}
    process = subprocess.Popen([sys.executable, str(BENCH / "variant_app.py")], cwd=folder, env=env,
                               text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _children.append(process)
    output: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if "Running on local URL" in line:
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    url = f"http://127.0.0.1:{port}/"
    wait_http_200(url, process, timeout=120)
    if not ready.wait(30):
        raise RuntimeError(f"variant {name!r} did not start:\n" + "".join(output))
    return AppProcess(url, process, output)


def measure_variants(res: Results, names: list[str], apps: dict[str, Any], rounds: int,
                     photo: Path, copies: Copies, sizes: tuple[int, ...]) -> None:
    """Each crowd once per variant in turn, the variants' order rotated every round; CPU seconds
    of each app process during its own crowds only. The peer (if in `apps`) has no warm crowd."""
    systems = {n: HttpSystem(n, apps[n].url, "/open_api_stream", True) if n == PEER
               else HttpSystem("app", apps[n].url, "/ask", False) for n in names}
    for n, system in systems.items():  # warm-up, not counted
        system.ask(f"{n}.warm", SHORT)
        system.ask(f"{n}.warm-img", SHORT, copies(photo, "warm"))
    copies.clear()
    for n, app in apps.items():
        res.info[f"rss.before.{n}"] = rss_mb(app.process.pid)
    with RssWatch({n: a.process.pid for n, a in apps.items()}) as watch:
        for rnd in range(rounds):
            order = names[rnd % len(names):] + names[:rnd % len(names)]
            for users in sizes:
                for kind in CROWD_KINDS:
                    for n in order:
                        if n == PEER and kind == "warm":
                            continue
                        cpu = CpuWindow({"app": apps[n].process.pid})
                        label = f"{kind}.{users}.{rnd}"
                        batch = [copies(photo, f"{n}-u{users}".replace(" ", "-")) for _ in range(users)]
                        crowd = systems[n].many(batch, CONC_TOKENS, label, 60 + 4 * users, cpu,
                                                prewarm=kind == "warm")
                        copies.clear()
                        case = f"v{users}.{kind}"
                        res.add(f"{case}.cpu", n, cpu.used["app"])
                        record_crowd(res, case, n, crowd, f"{n} / {users} users / {kind}")
                        log(f"  round {rnd + 1}, {users} users, {CROWD_KINDS[kind]}, {n}: app CPU "
                            f"{cpu.used['app']:.2f} s, wall {crowd.wall or float('nan'):.2f} s, "
                            f"errors {crowd.error_count}")
    time.sleep(2)
    for n, app in apps.items():
        res.info[f"rss.after.{n}"] = rss_mb(app.process.pid)
        res.info[f"rss.peak.{n}"] = watch.peak[n]


def variants_report(res: Results, names: list[str], rounds: int, sizes: tuple[int, ...]) -> str:
    """The A/B table: per variant and crowd, the app's CPU seconds (median, range, vs "as is")."""
    base = names[0]
    lines = [f"Variants side by side, {rounds} rounds, order rotated each round; app CPU seconds "
             f"during each crowd (median, [min – max]), and its ratio to {base!r}:", "",
             "| variant | " + " | ".join(f"{u} users, {CROWD_KINDS[k]}" for u in sizes for k in CROWD_KINDS)
             + " | RSS before → peak → after |",
             "|---|" + "---|" * (len(sizes) * len(CROWD_KINDS) + 1)]
    for n in names:
        cells = []
        for users in sizes:
            for kind in CROWD_KINDS:
                values = [v for v in res.get(f"v{users}.{kind}.cpu", n) if v is not None]
                if not values:
                    cells.append("—")
                    continue
                here, ref = med(values), res.median(f"v{users}.{kind}.cpu", base)
                errors = sum(res.get(f"v{users}.{kind}.errors", n))
                cells.append(f"{fmt(here, 's', 2)} [{fmt(min(values), '', 2)} – {fmt(max(values), '', 2)}]"
                             f" = {fmt(ratio(here, ref), 'x')}" + (f", {errors} errors" if errors else ""))
        rss = " → ".join(f"{res.info[f'rss.{w}.{n}']:.0f}" for w in ("before", "peak", "after"))
        lines.append(f"| {n}: {VARIANT_NOTES[n]} | " + " | ".join(cells) + f" | {rss} MB |")
    walls = ", ".join(f"{n} {fmt(res.median(f'v{sizes[-1]}.warm.wall', n), 's', 2)}" for n in names)
    lines += ["", f"Wall time, {sizes[-1]} users prepared on attach (median): {walls}."]
    return "\n".join(lines) + "\n"


def run_variants(names: list[str], rounds: int, out: Path | None, keep_tmp: bool, peer: bool,
                 sizes: tuple[int, ...] = (16, 64)) -> int:
    """Only the REST crowds (as the crowd phase runs them), once per variant of the app, interleaved."""
    tmp = Path(tempfile.mkdtemp(prefix="glm-bench-crowds-"))
    res = Results()
    foreign = Foreign(max_wait=0)  # a shared machine is never quiet: count the others, do not wait
    try:
        log(f"temp dir {tmp}; the fake endpoint and {len(names)} app variants: {', '.join(names)}")
        _fake, fake_url = start_fake(tmp, tmp / "requests.jsonl")
        photo = make_photo(tmp / "photo.jpg")
        apps: dict[str, Any] = {n: start_variant(n, tmp, fake_url) for n in names}
        if peer:
            peer_process, peer_url = start_peer(tmp, fake_url)
            wait_http_200(peer_url, peer_process, timeout=120)
            apps[PEER] = AppProcess(peer_url, peer_process, [])  # type: ignore[arg-type]
            names = [*names, PEER]
        copies = Copies(tmp / "copies")
        foreign.phase("crowds")
        started = time.perf_counter()
        measure_variants(res, names, apps, rounds, photo, copies, sizes)
        elapsed = time.perf_counter() - started
        foreign.end()
        text = variants_report(res, names, rounds, sizes)
        text += (f"\nOther processes used {foreign.phases['crowds']:.0f} CPU s during the "
                 f"{elapsed:.0f} s of crowds ({100 * foreign.shares['crowds']:.0f} % of the machine); "
                 f"load average {os.getloadavg()[0]:.2f} at the end.\n")
        if res.errors:
            text += f"\n{len(res.errors)} errors, first: {res.errors[0]}\n"
        print("\n" + text)
        if out is not None:
            out.write_text(text, encoding="utf-8")
            log(f"wrote {out}")
        return 0
    finally:
        stop_all()
        if keep_tmp:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def record_crowd(res: Results, case: str, key: str, crowd: Any, where: str) -> None:
    """A crowd's wall time and error count under `case` for `key`; each distinct error, said where."""
    res.add(f"{case}.wall", key, crowd.wall)
    res.add(f"{case}.errors", key, crowd.error_count)
    for e in {e for e in crowd.errors if e}:
        res.errors.append(f"{where}: {e}")


def measure_startup(res: Results, plan: Plan, tmp: Path, fake_url: str) -> None:
    """Process start -> first HTTP 200 on /, for app.py, a bare gr.Blocks() and gr.load_chat."""
    commands = {
        "bare": [sys.executable, str(BENCH / "bare_blocks.py")],
        "app": [sys.executable, "app.py"],
        "peer": [sys.executable, str(BENCH / "peer_load_chat.py"), fake_url, MODEL],
    }
    env = child_env(tmp)
    env.update({"OPENAI_BASE_URL": fake_url, "OPENAI_API_KEY": KEY})
    first = 0 if plan.startup_warmup else 1  # round 0 warms the disk cache and is not counted
    for rep in range(first, plan.startup + 1):
        for key, command in commands.items():
            port = free_port()
            t0 = time.perf_counter()
            process = subprocess.Popen(command, cwd=ROOT, env={**env, "GRADIO_SERVER_PORT": str(port)},
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _children.append(process)
            try:
                t1 = wait_http_200(f"http://127.0.0.1:{port}/", process, timeout=120)
                if rep:
                    res.add("startup", key, t1 - t0)
            except RuntimeError as e:
                res.errors.append(f"startup {key}: {e}")
            finally:
                stop_process(process)
                _children.remove(process)
    log("  startup: " + ", ".join(f"{k} {res.median('startup', k) or float('nan'):.2f}s" for k in commands))


def time_split(res: Results, log_path: Path) -> None:
    """Split each time to first token at the endpoint's log: before it, the endpoint, after it."""
    arrivals = {}
    for line in log_path.read_text().splitlines():
        row = json.loads(line)
        arrivals[row["tag"]] = row["t"]
    for tag, (start, ttft) in res.starts.items():
        if tag in arrivals and ttft is not None:
            key = tag.rsplit(".", 1)[0]  # e.g. app.http.photo, br.text
            res.add("split.before", key, arrivals[tag] - start)
            res.add("split.after", key, start + ttft - arrivals[tag] - TTFT)


def body_sizes(res: Results, log_path: Path, files: dict[str, Path]) -> None:
    """Endpoint request bytes per system for the photo and the screenshot, from the fake's log."""
    rows = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    for case in ("photo", "shot"):
        size = files[case].stat().st_size
        res.info[f"file_bytes.{case}"] = size
        for key in ("raw", "peer", "app"):
            mine = [r for r in rows if re.fullmatch(rf"{key}\.{case}\.\d+", r["tag"])]
            if mine:
                res.add(f"body.{case}", key, statistics.median(r["bytes"] for r in mine))
                res.info[f"sent.{case}.{key}"] = {"px": mine[0]["image_px"], "mime": mine[0]["image_mime"]}
    res.info["requests_logged"] = len(rows)


# ---- the report -------------------------------------------------------------------------------


def fmt(value: float | None, unit: str = "s", digits: int = 3) -> str:
    if value is None:
        return "—"
    if unit == "s":
        return f"{value:.{digits}f} s"
    if unit == "x":
        return f"{value:.2f} ×"
    if unit == "ms":
        return f"{value * 1000:.{digits}f} ms"
    if unit == "MB":
        return f"{value / 1e6:.2f} MB"
    return f"{value:.{digits}f}{unit}"


def verdict(value: float | None, limit: float) -> str:
    if value is None:
        return "not measured"
    return "met" if value <= limit else "**missed**"


def report(res: Results, plan: Plan, quick: bool) -> tuple[str, str]:
    """(the targets table, the whole RESULTS.md text)."""
    m = res.median
    nan = "—"

    def vs_raw(case: str, key: str, ref: str = "raw") -> str:
        value = m(case, key)
        return f"{fmt(value)} = {fmt(ratio(value, m(case, ref)), 'x')}" if value is not None else nan

    def crowd(users: int, key: str) -> str:
        if not res.get(f"u{users}.wall", key):
            return "not run"
        return (f"{vs_raw(f'u{users}.wall', key)}, errors {sum(res.get(f'u{users}.errors', key))}, "
                f"longest wait for a first token {fmt(m(f'u{users}.last_first', key), 's', 2)}")

    rows: list[tuple[str, str, str, str, str]] = []  # figure, target, this app, peer, verdict
    t_app = ratio(m("text.ttft", "app"), m("text.ttft", "raw"))
    t_poll = ratio(m("text.ttft", "app.poll"), m("text.ttft", "raw"))
    rows.append((
        f"Time to first token, text question, via gradio_client (raw SDK {fmt(m('text.ttft', 'raw'))})",
        "≤ 1.10 × raw (peer in the issue: 1.38 ×)",
        f"{vs_raw('text.ttft', 'app')}<br>client poll removed: {vs_raw('text.ttft', 'app.poll')}"
        f"<br>REST API, plain httpx: {vs_raw('text.ttft', 'app.http')}",
        f"{vs_raw('text.ttft', 'peer')}<br>client poll removed: {vs_raw('text.ttft', 'peer.poll')}"
        f"<br>REST API, plain httpx: {vs_raw('text.ttft', 'peer.http')}",
        f"{verdict(t_app, 1.10)} as measured; {verdict(t_poll, 1.10)} without gradio_client's poll"))
    b_photo, raw_photo = m("photo.ttft", "browser"), m("photo.ttft", "raw")
    rows.append((
        f"Time to first token, 12 MP photo, browser: Enter → first answer text painted "
        f"(raw SDK sending the original file {fmt(raw_photo)})",
        "≤ 1.00 × raw",
        f"browser: {fmt(b_photo)} = {fmt(ratio(b_photo, raw_photo), 'x')}"
        f"<br>REST API, file uploaded before: {vs_raw('photo.ttft', 'app.http')}"
        f"<br>gradio_client, upload included: {vs_raw('photo.ttft', 'app')}"
        f"<br>**endpoint behind a {UPLINK} Mbit/s link** (raw SDK {fmt(m('up.ttft', 'raw'))}): browser "
        f"{vs_raw('up.ttft', 'browser')}, REST {vs_raw('up.ttft', 'app.http')}",
        f"REST API, file uploaded before: {vs_raw('photo.ttft', 'peer.http')}"
        f"<br>gradio_client, upload included: {vs_raw('photo.ttft', 'peer')}"
        f"<br>behind the {UPLINK} Mbit/s link: REST {vs_raw('up.ttft', 'peer.http')}",
        f"{verdict(ratio(b_photo, raw_photo), 1.0)} on loopback; "
        f"{verdict(ratio(m('up.ttft', 'browser'), m('up.ttft', 'raw')), 1.0)} behind a {UPLINK} Mbit/s link"))
    w16 = ratio(m("u16.wall", "app"), m("u16.wall", "raw"))
    e16 = sum(res.get("u16.errors", "app"))
    rows.append((
        f"16 users, a 12 MP photo each, Enter at once: wall time until all answered "
        f"(raw SDK {fmt(m('u16.wall', 'raw'), 's', 2)})",
        "≤ 1.2 × raw (peer in the issue: 9.4 ×)",
        f"gradio_client: {crowd(16, 'app')}<br>REST API, files uploaded before: {crowd(16, 'app.http')}"
        f"<br>REST API, files uploaded and prepared before (as on attach in the page): "
        f"{crowd(16, 'app.warm')}",
        f"gradio_client: {crowd(16, 'peer')}",
        f"{verdict(w16, 1.2) if not e16 else '**missed** (errors)'} via gradio_client; "
        f"{verdict(ratio(m('u16.wall', 'app.http'), m('u16.wall', 'raw')), 1.2)} via REST; "
        f"{verdict(ratio(m('u16.wall', 'app.warm'), m('u16.wall', 'raw')), 1.2)} with images prepared "
        f"on attach"))
    e64 = sum(res.get("u64.errors", "app"))
    rows.append((
        f"64 users, a 12 MP photo each (raw SDK {fmt(m('u64.wall', 'raw'), 's', 2)}, "
        f"errors {sum(res.get('u64.errors', 'raw'))})",
        "all complete, no errors",
        f"gradio_client: {crowd(64, 'app')}<br>REST API, files uploaded before: {crowd(64, 'app.http')}"
        f"<br>REST API, files uploaded and prepared before: {crowd(64, 'app.warm')}",
        f"gradio_client: {crowd(64, 'peer')}" if res.get("u64.wall", "peer") else "not run (--quick)",
        "met" if res.get("u64.wall", "app") and not e64 else "**missed**"))
    l4 = ratio(m("long4000.total", "app"), m("long4000.total", "raw"))
    browser_long = (f"<br>browser, Enter → stats line: {vs_raw('long4000.total', 'browser')}"
                    if res.get("long4000.total", "browser") else "")
    rows.append((
        f"4,000-token answer at {TPS:.0f} tokens/s: total time "
        f"(raw SDK {fmt(m('long4000.total', 'raw'), 's', 2)})",
        "≤ 1.05 × raw",
        f"gradio_client: {vs_raw('long4000.total', 'app')}{browser_long}",
        f"gradio_client: {vs_raw('long4000.total', 'peer')}", verdict(l4, 1.05)))
    cells, growth = {}, {}
    for key in ("app", "browser", "peer"):
        a, b = m("long1000.cpu_per_token", key), m("long4000.cpu_per_token", key)
        growth[key] = ratio(b, a)
        cells[key] = f"{fmt(a, 'ms', 2)} → {fmt(b, 'ms', 2)} = {fmt(ratio(b, a), 'x')}" if a and b else nan
    grow = max((g for g in (growth["app"], growth["browser"]) if g), default=None)
    rows.append((
        "Server CPU per streamed token (process CPU time / tokens), 1,000- → 4,000-token answer",
        "does not grow (≤ ~1.1 ×)",
        f"/ask: {cells['app']}" + (f"<br>chat in the browser: {cells['browser']}" if cells["browser"] != nan
                                   else ""),
        cells["peer"], verdict(grow, 1.1)))
    fresh, long_chat = m("chat1.cpu_per_token", "browser"), m(f"chat{CHAT_TURNS}.cpu_per_token", "browser")
    if fresh and long_chat:
        rows.append((
            f"Server CPU per streamed token in the browser, {LONG[0]:,}-token answer: fresh chat → "
            f"after {CHAT_TURNS} turns (Gradio re-processes the whole chat on every update)",
            "(no target) grows little",
            f"{fmt(fresh, 'ms', 2)} → {fmt(long_chat, 'ms', 2)} = {fmt(ratio(long_chat, fresh), 'x')}; "
            f"total time {fmt(m('chat1.total', 'browser'), 's', 2)} → "
            f"{fmt(m(f'chat{CHAT_TURNS}.total', 'browser'), 's', 2)}",
            "no multi-turn API", "—"))
    file_photo = res.info.get("file_bytes.photo")
    body_app, body_peer = m("body.photo", "app"), m("body.photo", "peer")
    rows.append((
        f"Endpoint request body, 12 MP photo, default settings ({fmt(file_photo, 'MB')} file; raw SDK "
        f"{fmt(m('body.photo', 'raw'), 'MB')})",
        "≤ 0.30 × the file",
        f"{fmt(body_app, 'MB')} = {fmt(ratio(body_app, file_photo), 'x')} ({_px(res, 'photo', 'app')})",
        f"{fmt(body_peer, 'MB')} = {fmt(ratio(body_peer, file_photo), 'x')} ({_px(res, 'photo', 'peer')})",
        verdict(ratio(body_app, file_photo), 0.30)))
    sent = res.info.get("sent.shot.app", {}).get("px") or []
    scale = max(sent[0]) / max(SHOT_SIZE) if sent and sent[0] else None
    text_px = f"{SHOT_TEXT_PX} px text arrives at {SHOT_TEXT_PX * scale:.1f} px" if scale else nan
    file_shot, body_shot = res.info.get("file_bytes.shot"), m("body.shot", "app")
    prep_shot = res.info.get("prep.shot", {})
    rows.append((
        f"4000 × 3000 PNG screenshot with {SHOT_TEXT_PX}-14 px text ({fmt(file_shot, 'MB')} file)",
        "text still legible (rule: long side ≥ 3072 px, so 12 px text stays ≥ 9 px)",
        f"sent {_px(res, 'shot', 'app')}: {text_px}; body {fmt(body_shot, 'MB')} = "
        f"{fmt(ratio(body_shot, file_shot), 'x')} the file; "
        f"preparation {fmt(m('prep.shot', 'app'), 'ms', 0)} "
        f"({prep_shot.get('mime', '?')})",
        f"sent {_px(res, 'shot', 'peer')}, body {fmt(m('body.shot', 'peer'), 'MB')}",
        "met" if scale and SHOT_TEXT_PX * scale >= 9 else "**missed**"))
    p_app, p_plain = m("prep.photo", "app"), m("prep.photo", "plain")
    rows.append((
        f"Preparing the 12 MP JPEG: `ui.imaging.payload.prepare(path, 'balanced')`, cache cleared each time, "
        f"vs "
        f"plain Pillow open + exif_transpose + thumbnail(2048) + JPEG q85 ({fmt(p_plain, 'ms', 0)})",
        "≤ 0.35 × plain",
        f"{fmt(p_app, 'ms', 0)} = {fmt(ratio(p_app, p_plain), 'x')}; again for the next turn (cache) "
        f"{fmt(m('prep.photo', 'cached'), 'ms', 2)}",
        "sends the file unchanged", verdict(ratio(p_app, p_plain), 0.35)))
    s_app, s_bare = m("startup", "app"), m("startup", "bare")
    rows.append((
        f"Start-up, process start → first HTTP 200 (an empty gr.Blocks launched: {fmt(s_bare, 's', 2)})",
        "≤ 1.2 × bare",
        f"{fmt(s_app, 's', 2)} = {fmt(ratio(s_app, s_bare), 'x')}",
        f"{fmt(m('startup', 'peer'), 's', 2)} = {fmt(ratio(m('startup', 'peer'), s_bare), 'x')}",
        verdict(ratio(s_app, s_bare), 1.2)))
    info = res.info
    rows.append((
        "Server memory (RSS): before → peak → 2 s after the 16- and 64-user runs", "no target",
        f"{info.get('rss.before.app', 0):.0f} → {info.get('rss.peak.app', 0):.0f} → "
        f"{info.get('rss.after.app', 0):.0f} MB (then the image cache held "
        f"{info.get('cache.app', '?')})",
        f"{info.get('rss.before.peer', 0):.0f} → {info.get('rss.peak.peer', 0):.0f} → "
        f"{info.get('rss.after.peer', 0):.0f} MB", nan))
    table = ("| figure | target | this app | gr.load_chat (peer) | verdict |\n|---|---|---|---|---|\n"
             + "".join(f"| {a} | {b} | {c} | {d} | {e} |\n" for a, b, c, d, e in rows))

    columns = [("raw", "raw SDK"), ("app", "app, gradio_client"), ("app.poll", "app, no client poll"),
               ("app.http", "app, REST/httpx"), ("app.warm", "app, REST, prepared"),
               ("browser", "app, browser"), ("peer", "peer, gradio_client"),
               ("peer.poll", "peer, no client poll"), ("peer.http", "peer, REST/httpx")]
    lines = ["| median | " + " | ".join(c for _, c in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    figures = [(f"{c}.ttft", f"time to first token, {c}", "s", 3) for c in ("text", "photo", "shot")]
    figures += [("up.ttft", f"time to first token, photo, endpoint behind {UPLINK} Mbit/s", "s", 3)]
    figures += [(f"{c}.total", f"total, {c} ({SHORT} tokens)", "s", 3) for c in ("text", "photo", "shot")]
    figures += [(f"long{n}.total", f"total, {n}-token answer", "s", 2) for n in LONG]
    figures += [(f"long{n}.cpu_per_token", f"server CPU per token, {n}-token answer", "ms", 3) for n in LONG]
    figures += [(f"u{u}.wall", f"wall time, {u} users", "s", 2) for u in (16, 64)]
    figures += [(f"u{u}.last_first", f"longest wait for a first token, {u} users", "s", 2) for u in (16, 64)]
    figures += [(f"u{u}.cpu.{who}", f"CPU s of the {who} process, {u} users", "", 2)
                for u in (16, 64) for who in ("app", "peer", "driver", "fake")]
    for case, label, unit, digits in figures:
        cells = [fmt(m(case, k), unit, digits) if res.get(case, k) else nan for k, _ in columns]
        if any(c != nan for c in cells):
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    details = "\n".join(lines)

    split = ["| path | before: clock start → request parsed by the endpoint | endpoint | "
             "after: endpoint's first token → client has it | time to first token |", "|---|---|---|---|---|"]
    cases = ["text", "photo", "shot", "up", *(f"long{n}" for n in LONG)]
    systems = ["raw", "app", "app.poll", "app.http", "br", "peer", "peer.poll", "peer.http"]

    def order(key: str) -> tuple[int, int]:
        system, case = key.rsplit(".", 1)
        return (cases.index(case) if case in cases else 99,
                systems.index(system) if system in systems else 99)

    for key in sorted(res.samples.get("split.before", {}), key=order):
        before, after = m("split.before", key), m("split.after", key)
        case = key.rsplit(".", 1)[1]
        system = key.rsplit(".", 1)[0]
        system = "browser" if system == "br" else system
        split.append(f"| {system}, {case} | {fmt(before, 'ms', 0)} | {TTFT * 1000:.0f} ms | "
                     f"{fmt(after, 'ms', 0)} | {fmt(m(f'{case}.ttft', system), 'ms', 0)} |")
    split_table = "\n".join(split)

    env = res.info["env"]
    counts = (f"{plan.short} of each single-user case per system (systems interleaved), {plan.long} of "
              f"each long answer, {plan.browser} browser runs per case ({plan.browser_long} long, "
              f"{plan.browser_chat} long-chat pairs), "
              f"16 users × {plan.conc16} (peer × {plan.conc16_peer}), 64 users × 1, start-up × "
              f"{plan.startup}{' (after a warm-up round)' if plan.startup_warmup else ''}, "
              f"image preparation × {plan.prep}")
    errors = "\n".join(f"- {e}" for e in res.errors[:40]) or "- none"
    samples = json.dumps({k: {s: [round(v, 5) if isinstance(v, float) else v for v in vs]
                              for s, vs in d.items()} for k, d in res.samples.items()})
    prep = {k: v for k, v in res.info.items() if k.startswith("prep.")}
    foreign_text = ", ".join(f"{k} {v:.1f}" for k, v in res.info.get("foreign", {}).items()) or "?"
    skewed = {k: v for k, v in res.info.get("shares", {}).items() if v > 0.05}
    warning = ("\n**Other processes used " + ", ".join(f"{100 * v:.0f}% of the machine during '{k}'"
                                                     for k, v in skewed.items())
               + ": those figures are skewed; run again on a quiet machine.**\n" if skewed else "")
    text = f"""# Benchmark results{' (--quick)' if quick else ''}

`python bench/run.py{' --quick' if quick else ''}`, {env['date']}. bench/README.md explains each figure.
{warning}
- Code: commit {env['commit']}
- Machine: {env['cpu']}, {env['cores']} cores, {env['ram_gb']:.1f} GB RAM, {env['os']}
- Python {env['python']}, gradio {env['gradio']}, gradio_client {env['gradio_client']},
  openai {env['openai']}, Pillow {env['pillow']}, Chromium {env['chromium']}, Playwright {env['playwright']}
- Endpoint: bench/fake.py (tests/fake_openai.py) on 127.0.0.1 with a time to first token of {TTFT} s and
  {TPS:.0f} tokens/s; {SHORT}-token answers in the single-user cases, {CONC_TOKENS} in the crowds.
- Images made in code: a 12 MP JPEG photo ({PHOTO_SIZE[0]} × {PHOTO_SIZE[1]}, q92,
  {fmt(res.info.get('file_bytes.photo'), 'MB')}) and a {SHOT_SIZE[0]} × {SHOT_SIZE[1]} PNG screenshot with
  {SHOT_TEXT_PX}-14 px text ({fmt(res.info.get('file_bytes.shot'), 'MB')}). Every request gets its own
  copy (a unique comment), so no upload or preparation cache helps.
- This app: `python app.py` as a user runs it (defaults: GLM_CONCURRENCY 64, GLM_IMAGE_QUALITY balanced).
  gr.load_chat: `gr.load_chat(url, model=..., token=..., file_types="image").launch()` with Gradio's default
  queue (one event at a time), as a user would launch it.
- Repeats: {counts}. Every figure is a median.
- Run time {res.info.get('elapsed', 0):.0f} s; 1-minute load average {res.info.get('load_before', 0):.2f}
  before the run. CPU seconds used by processes outside the benchmark, per phase (more than ~1 s skews
  that phase): {foreign_text}; {res.info.get('waited', 0):.0f} s spent waiting for them to go quiet.

## Targets (issue 4)

{table}
Ratios are to the raw `openai` SDK streaming straight to the same endpoint in the same run unless the row
names another reference. gradio_client's read loop sleeps 50 ms whenever it finds no message, so it adds
0-50 ms to each first token it reports, a bias that more repeats do not remove. With the endpoint's fixed
{TTFT} s (a multiple of 50 ms) the loop is phase-locked: most samples land 40-50 ms late, the rest a few ms
late, for the app and the peer alike. "no client poll" repeats the measurement with that sleep cut to
2 ms in the client; "REST API, plain httpx" calls `/gradio_api/call/<api>` directly (files uploaded before
the clock, as a browser uploads on attach).

## All medians

{details}

## Where the time to first token goes

The endpoint logs when it has parsed each request (bench/fake.py); its first token leaves {TTFT * 1000:.0f} ms
later. Everything before is the client and the UI server getting the request out; everything after is the
way back to the client.

{split_table}

Image preparation details: `{json.dumps(prep)}`

## Errors seen

{errors}

## Every sample

<details><summary>JSON (seconds; bytes; seconds of CPU per token)</summary>

```json
{samples}
```

</details>
"""
    return table, text


def _px(res: Results, case: str, key: str) -> str:
    sent = res.info.get(f"sent.{case}.{key}")
    if not sent or not sent["px"] or not sent["px"][0]:
        return "size ?"
    w, h = sent["px"][0]
    return f"{w} × {h} {sent['mime'][0].replace('image/', '')}"


def environment(chromium: str) -> dict[str, Any]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "?"

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return "?"

    # Porcelain lines are "XY path": two status columns and a space (the first may be a space).
    dirty = [line[3:] for line in git("status", "--porcelain").splitlines()
             if len(line) > 3 and not line[3:].startswith("bench/")]
    commit = git("rev-parse", "--short", "HEAD").strip() + (
        f" + uncommitted changes in {', '.join(dirty)}" if dirty else " (clean, bench/ aside)")
    return {"date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"), "cpu": cpu,
            "commit": commit,
            "cores": os.cpu_count(), "ram_gb": psutil.virtual_memory().total / 2**30,
            "os": platform.platform(terse=True), "python": platform.python_version(),
            "gradio": version("gradio"), "gradio_client": version("gradio_client"),
            "openai": version("openai"), "pillow": version("pillow"), "playwright": version("playwright"),
            "chromium": chromium}


# ---- main -------------------------------------------------------------------------------------


def start_fake(tmp: Path, log_path: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, str(BENCH / "fake.py"), "--ttft", str(TTFT), "--tps", str(TPS),
         "--tokens", str(SHORT), "--log", str(log_path)],
        cwd=ROOT, env=child_env(tmp), stdout=subprocess.PIPE, text=True)
    _children.append(process)
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url.startswith("http"):
        raise RuntimeError("the fake endpoint did not start")
    return process, url


def start_peer(tmp: Path, fake_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**child_env(tmp), "GRADIO_SERVER_PORT": str(port)}
    out = open(tmp / "peer.log", "wb")  # noqa: SIM115 (closed with the run's temp dir)
    process = subprocess.Popen([sys.executable, str(BENCH / "peer_load_chat.py"), fake_url, MODEL],
                               cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    _children.append(process)
    return process, f"http://127.0.0.1:{port}/"


def run(plan: Plan, quick: bool, out: Path | None, keep_tmp: bool, max_wait: float) -> int:
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="glm-bench-"))
    res = Results()
    res.info["load_before"] = os.getloadavg()[0]
    foreign = Foreign(max_wait)
    res.info["foreign"] = foreign.phases
    browser: Browser | None = None
    try:
        log(f"temp dir {tmp}; starting the fake endpoint, the app and gr.load_chat")
        fake_log = tmp / "requests.jsonl"
        fake_process, fake_url = start_fake(tmp, fake_log)
        peer_process, peer_url = start_peer(tmp, fake_url)
        holder: dict[str, AppProcess] = {}
        app_thread = threading.Thread(target=lambda: holder.setdefault("app", start_app(
            # Every simulated user comes from 127.0.0.1: one visitor for GLM_VISITOR_SHARE.
            {"OPENAI_BASE_URL": fake_url, "OPENAI_API_KEY": KEY, "GLM_VISITOR_SHARE": "1"}, tmp)))
        app_thread.start()
        log("making the test images")
        files = {"photo": make_photo(tmp / "photo.jpg"), "shot": make_screenshot(tmp / "screenshot.png")}
        app_thread.join(timeout=120)
        if "app" not in holder:
            raise RuntimeError("the app did not start (see tests/conftest.py start_app)")
        app = holder["app"]
        _children.append(app.process)
        wait_http_200(peer_url, peer_process, timeout=120)
        log(f"fake {fake_url}, app {app.url}, gr.load_chat {peer_url}")
        copies = Copies(tmp / "copies")

        log("image preparation")
        foreign.phase("image preparation")
        measure_prep(res, files["photo"], files["shot"], plan.prep)

        systems: dict[str, Any] = {
            "raw": Raw(fake_url),
            "app": GradioSystem("app", app.url, "/ask", False, app.process.pid),
            "peer": GradioSystem("gr.load_chat", peer_url, "/open_api_stream", True, peer_process.pid),
            "app.http": HttpSystem("app", app.url, "/ask", False),
            "peer.http": HttpSystem("gr.load_chat", peer_url, "/open_api_stream", True),
        }
        for key, system in systems.items():  # warm-up, not counted
            system.ask(f"{key}.warm", SHORT)
            system.ask(f"{key}.warm-img", SHORT, copies(files["photo"], "warm"))
        copies.clear()

        log("one user: time to first token")
        foreign.phase("one user")
        measure_single(res, systems, plan, files, copies)
        log("long answers")
        foreign.phase("long answers")
        measure_long(res, systems, plan)

        chromium = "not available"
        if CHROMIUM:
            log("browser")
            foreign.phase("browser")
            try:
                browser = Browser(app.url, app.process.pid)
                chromium = browser.version
                measure_browser(res, browser, plan, files, copies)
                measure_uplink(res, systems, browser, plan, files["photo"], copies)
            except Exception as e:  # a broken browser must not lose the other figures
                res.errors.append(f"browser: {type(e).__name__}: {e}")
                log(f"  browser failed: {e}")
            finally:
                # Chromium's renderers are reaped by Chromium, not by us: once closed, their CPU time
                # would look like someone else's. So the phase ends before the browser closes.
                foreign.end()
                if browser is not None:
                    browser.close()
                    browser = None
        res.info["env"] = environment(chromium)
        body_sizes(res, fake_log, files)
        time_split(res, fake_log)

        log("concurrent users")
        foreign.phase("concurrent users")
        measure_crowds(res, systems, plan, files["photo"], copies, fake_process.pid, app.log)

        log("start-up (app and gr.load_chat stopped first)")
        foreign.phase("start-up")
        for process in (app.process, peer_process):
            stop_process(process)
            _children.remove(process)
        measure_startup(res, plan, tmp, fake_url)

        foreign.phase("")
        res.info["shares"], res.info["waited"] = foreign.shares, foreign.waited
        res.info["elapsed"] = time.perf_counter() - started
        res.info["load_after"] = os.getloadavg()[0]
        table, text = report(res, plan, quick)
        print("\n" + table)
        if res.errors:
            print(f"{len(res.errors)} errors, first: {res.errors[0]}")
        if out is not None:
            out.write_text(text, encoding="utf-8")
            log(f"wrote {out}")
        return 0
    finally:
        if browser is not None:
            browser.close()
        stop_all()
        if keep_tmp:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, ~3 minutes")
    parser.add_argument("--out", type=Path, default=None,
                        help="results file (default: bench/RESULTS.md for a full run, none for --quick)")
    parser.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (images, logs)")
    parser.add_argument("--max-wait", type=float, default=90,
                        help="seconds to wait, before each phase, for other processes to go quiet")
    parser.add_argument("--crowds-only", action="store_true",
                        help="only the REST crowds (16 and 64 users), for each of --variants; prints")
    parser.add_argument("--variants", default="as is",
                        help=f"comma-separated, the first is the reference: {', '.join(VARIANTS)}")
    parser.add_argument("--rounds", type=int, default=2, help="--crowds-only: rounds of every crowd")
    parser.add_argument("--peer", action="store_true", help="--crowds-only: gr.load_chat's crowds too")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up on kill too
    if args.crowds_only:
        names = [n.strip() for n in args.variants.split(",") if n.strip()]
        if unknown := [n for n in names if n not in VARIANTS]:
            parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
        return run_variants(names, args.rounds, args.out, args.keep_tmp, args.peer)
    out = args.out or (None if args.quick else BENCH / "RESULTS.md")
    return run(QUICK if args.quick else FULL, args.quick, out, args.keep_tmp, args.max_wait)


if __name__ == "__main__":
    sys.exit(main())
