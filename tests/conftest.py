"""Shared fixtures: an isolated environment, tiny images made in code, the local fake endpoint,
the app launched as a real process, and headless Chromium."""

from __future__ import annotations

import io
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.fake_openai import FakeOpenAI

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TEST_KEY = "sk-test-NOT-A-REAL-KEY-4f1d2c"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No developer settings leak in; uploads go to a private temp folder."""
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "GLM_", "GRADIO_SERVER_", "DATABASE_URL")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path_factory.getbasetemp() / "gradio"))
    monkeypatch.setenv("GLM_DATA_DIR", str(tmp_path_factory.getbasetemp() / "data"))  # the store
    # Settings made from a dict of their own (no GLM_DATA_DIR) keep their store there too, not in
    # a "data" folder of the checkout.
    import ui.settings

    monkeypatch.setattr(ui.settings, "default_data_dir",
                        lambda *a: tmp_path_factory.getbasetemp() / "data")
    monkeypatch.delenv("DATABASE_URL", raising=False)


def make_image(path: Path, size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 30, 30),
               fmt: str | None = None) -> Path:
    """Write a small solid-colour image and return its path."""
    Image.new("RGB", size, color).save(path, format=fmt)
    return path


def decode_image(url: str) -> Image.Image:
    """Open an image_url value (data URL or bare base64) as a Pillow image."""
    import base64

    payload = url.split(",", 1)[1] if url.startswith("data:") else url
    return Image.open(io.BytesIO(base64.b64decode(payload)))


@dataclass
class Browser:
    """Stands in for gr.Request in handler tests: they only read Accept-Language and the session."""

    headers: dict[str, str] = field(default_factory=lambda: {"accept-language": "en"})
    session_hash: str | None = None


def unspoken_labels(page: Any, locale: str) -> list[str]:
    """The field labels a screen reader would read on this page that are not in its language:
    Gradio's class names ("MultimodalTextbox" for an unlabelled box), and in Chinese any label
    without Chinese in it."""
    labels = page.eval_on_selector_all("[data-testid=block-info]",
                                       "all => all.map(e => e.textContent.trim())")
    return [t for t in labels if re.fullmatch(r"[A-Z][a-z]+(?:[A-Z][a-z]+)+", t)
            or (locale.startswith("zh") and t and not re.search("[\u4e00-\u9fff]", t))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    """A fresh local OpenAI-compatible endpoint for one test."""
    server = FakeOpenAI().start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class AppProcess:
    """`python app.py` running against the fake endpoint."""

    url: str
    process: subprocess.Popen[str]
    output: list[str]

    def log(self) -> str:
        return "".join(self.output)

    def wait_for_log(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        """The first match of `pattern` in the output, once the app has printed it."""
        deadline = time.monotonic() + timeout
        while not (found := re.search(pattern, self.log())):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"{pattern!r} not in the app's output:\n{self.log()}")
            time.sleep(0.05)  # polls the output for the line, like Playwright's expect
        return found


def start_app(env_extra: dict[str, str], tmp: Path) -> AppProcess:
    """Launch app.py in a child process and wait until it says it is serving."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "GLM_", "DATABASE_URL"))}
    env.update({"GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1",
                "GRADIO_TEMP_DIR": str(tmp / "gradio"), "PYTHONUNBUFFERED": "1", **env_extra})
    # Started from a temp folder, so a developer's own .env in the checkout is not read.
    process = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=tmp, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output: list[str] = []
    ready: queue.Queue[bool] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if re.search(r"Running on local URL", line):
                ready.put(True)
        ready.put(False)

    threading.Thread(target=pump, daemon=True).start()
    try:
        ok = ready.get(timeout=90)
    except queue.Empty:
        ok = False
    if not ok:
        process.kill()
        raise RuntimeError("app did not start:\n" + "".join(output))
    return AppProcess(f"http://127.0.0.1:{port}/", process, output)


def stop_app(app: AppProcess) -> None:
    app.process.terminate()
    try:
        app.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        app.process.kill()


@pytest.fixture(scope="module")
def module_fake() -> Iterator[FakeOpenAI]:
    """One fake endpoint shared by a module's app process; reset it per test."""
    server = FakeOpenAI().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def app(module_fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    """The app, started the way a user starts it, pointed at the fake endpoint."""
    running = start_app({"OPENAI_BASE_URL": module_fake.base_url, "OPENAI_API_KEY": TEST_KEY,
                         "GLM_MODELS": "GLM-4V-Plus,GLM-4V,glm-4v-flash,glm-4.5v"},
                        tmp_path_factory.mktemp("app"))
    try:
        yield running
    finally:
        stop_app(running)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium through Playwright; skipped without it, except in CI."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if CHROMIUM is None or sync_playwright is None:
        if IN_CI:
            pytest.fail("CI must have Chromium and Playwright: .ci/run installs them")
        pytest.skip("needs Debian chromium and playwright")
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()
