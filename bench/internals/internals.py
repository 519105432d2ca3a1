"""Each patch of Gradio internals, measured with and without it (issue 14, item 4).

    python bench/internals.py stream    # processed_here: server CPU per update, TTFT (browser)  ~5 min
    python bench/internals.py first     # report_out (+ Started.out), enter_js: TTFT, browser    ~5 min
    python bench/internals.py session   # schema_once: server CPU per new session               ~3 min
    python bench/internals.py upload    # in_pieces, prepare_on_upload: upload CPU, photo TTFT  ~4 min
    python bench/internals.py all       # the four above, one after the other
    options: --reps N (pairs), --out FILE (Markdown, default: print only), --seed S

One app process per variant, all started at once against one bench/fake.py: "on" is the app as it
is, each other variant has patches switched off through GLM_BENCH_OFF (ui/benchswitch.py, this
branch only). Every repetition asks each variant once, in a shuffled order, so drift and other
people's jobs hit all alike. Figures are medians with min and max; "pairs" counts in how many
repetitions the variant was worse than "on" (a difference that is noise wins about half of them).
Server CPU is psutil user+system time of the app process, the least noisy figure on a shared
2-core machine; wall times come from inside the page (performance.now()) or the client.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import httpx  # noqa: E402
import run as R  # noqa: E402  (bench/run.py: images, fake, app start-up, helpers)

TEXT_SETTLE = 0.5  # s between typing and Enter for a text question (the photo keeps R.SETTLE)

# Measured in the page: Enter's keydown (capture phase) is t0; then the question painted in the chat,
# the /queue/join fetch, the first answer text painted, the stats line painted; renders counts the
# answer's distinct lengths seen (one per screen update the server sent, at most one per mutation batch).
PROBE = """() => {
  const b = window.__bench = {t0: null, shown: null, shownPaint: null, join: null, first: null,
                              firstPaint: null, done: null, error: null, renders: 0,
                              origin: performance.timeOrigin};
  const chat = document.querySelector('#chat'), stats = document.querySelector('#stats');
  const users0 = chat.querySelectorAll('[data-testid="user"]').length;
  window.addEventListener('keydown', e => {
    if (e.key === 'Enter' && b.t0 === null) b.t0 = e.timeStamp;
  }, true);
  const fetch0 = window.fetch;
  window.fetch = function (url) {
    if (String(url).includes('/queue/join') && b.join === null) b.join = performance.now();
    return fetch0.apply(this, arguments);
  };
  let length = -1;
  const look = () => {
    if (b.t0 === null) return;
    if (b.shown === null && chat.querySelectorAll('[data-testid="user"]').length > users0) {
      b.shown = performance.now();
      requestAnimationFrame(() => { b.shownPaint = performance.now(); });
    }
    const answers = [...chat.querySelectorAll('[data-testid="bot"]')]
      .filter(bot => bot.textContent.includes('Echo:'));
    if (answers.length) {
      const now = answers[answers.length - 1].textContent.length;
      if (now !== length) { length = now; b.renders++; }
      if (b.first === null) {
        b.first = performance.now();
        requestAnimationFrame(() => { b.firstPaint = performance.now(); });
      }
    }
    if (b.done === null && b.first !== null && stats && stats.textContent.trim()) {
      b.done = -1;
      requestAnimationFrame(() => { b.done = performance.now(); });
    }
    const toast = document.querySelector('.toast-body');
    if (toast && b.error === null) b.error = toast.textContent.trim().slice(0, 200);
  };
  new MutationObserver(look).observe(document.body, {subtree: true, childList: true,
                                                     characterData: true});
}"""

FOREIGN: list[R.Foreign] = []

ALL_PATCHES = ("processed_here", "schema_once", "report_out", "in_pieces", "prepare_on_upload",
               "enter_js")


class Lab:
    """The fake endpoint, one app per variant, a browser; everything stopped on exit."""

    def __init__(self, variants: dict[str, str], browser: bool = True) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="glm-internals-"))
        self.fake_log = self.tmp / "requests.jsonl"
        self.fake, self.fake_url = R.start_fake(self.tmp, self.fake_log)
        self.apps: dict[str, R.AppProcess] = {}
        errors: list[str] = []

        def start(name: str, off: str) -> None:
            try:
                (self.tmp / name).mkdir()
                self.apps[name] = R.start_app({
                    "OPENAI_BASE_URL": self.fake_url, "OPENAI_API_KEY": R.KEY,
                    "GLM_VISITOR_SHARE": "1", "GLM_BENCH_OFF": off, "GLM_BENCH_MEM": "1"},
                    self.tmp / name)
            except Exception as e:
                errors.append(f"{name}: {e}")

        threads = [threading.Thread(target=start, args=(n, o)) for n, o in variants.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for app in self.apps.values():
            R._children.append(app.process)
        if errors:
            raise RuntimeError("; ".join(errors))
        self.images = {"photo": R.make_photo(self.tmp / "photo.jpg"),
                       "shot": R.make_screenshot(self.tmp / "screenshot.png")}
        self.copies = R.Copies(self.tmp / "copies")
        self._http = httpx.Client(timeout=30)
        self._pw = self.browser = None
        if browser and R.CHROMIUM:
            from playwright.sync_api import sync_playwright

            self._pw = sync_playwright().start()
            self.browser = self._pw.chromium.launch(executable_path=R.CHROMIUM, args=R.CHROMIUM_ARGS)
            self.context = self.browser.new_context(viewport={"width": 1400, "height": 1000})

    def pid(self, name: str) -> int:
        return self.apps[name].process.pid

    def cpu(self, name: str) -> float:
        """The app's CPU seconds (process_time, read in the app: ns, not psutil's 10 ms ticks).
        Each reading costs the app a small constant (one tiny HTTP request), the same for all."""
        return float(self._http.get(f"{self.url(name)}__bench/cpu").text)

    def url(self, name: str) -> str:
        return self.apps[name].url

    def arrivals(self) -> dict[str, float]:
        """tag → when the endpoint had parsed the request (time.time())."""
        rows = [json.loads(line) for line in self.fake_log.read_text().splitlines() if line.strip()]
        return {r["tag"]: r["t"] for r in rows}

    def memory(self, name: str, **query: Any) -> dict[str, Any]:
        q = "&".join(f"{k}={v}" for k, v in query.items())
        return httpx.get(f"{self.url(name)}__bench/mem?{q}", timeout=60).json()

    def close(self) -> None:
        if FOREIGN:  # the phase ends before its processes do: once reaped, theirs looks foreign
            FOREIGN[0].end()
        with contextlib.suppress(Exception):
            if self.browser is not None:
                self.browser.close()
        with contextlib.suppress(Exception):
            if self._pw is not None:
                self._pw.stop()
        R.stop_all()
        import shutil

        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- one question in the page ------------------------------------------------------------

    def ask_browser(self, name: str, tag: str, tokens: int, image: Path | None = None,
                    chat: Path | None = None, timeout: float = 60) -> dict[str, Any]:
        page = self.context.new_page()
        try:
            page.goto(self.url(name))
            page.wait_for_selector("#chat-input textarea")
            if chat is not None:
                page.click("#tools")
                with page.expect_file_chooser() as chooser:
                    page.click("#import")
                chooser.value.set_files(str(chat))
                page.wait_for_function(f"() => document.querySelectorAll('#chat [data-testid=\"bot\"]')"
                                       f".length >= {R.CHAT_TURNS}", timeout=30_000)
            if image is not None:
                page.set_input_files("#chat-input input[type=file]", str(image))
                page.wait_for_selector('#chat-input img[src*="gradio_api/file="]', timeout=60_000)
            page.fill("#chat-input textarea", R.question(tag, tokens))
            page.wait_for_timeout((R.SETTLE if image is not None else TEXT_SETTLE) * 1000)
            page.evaluate(PROBE)
            cpu0 = self.cpu(name)
            page.press("#chat-input textarea", "Enter")
            page.wait_for_function("() => (window.__bench.done !== null && window.__bench.done > 0)"
                                   " || window.__bench.error !== null",
                                   timeout=timeout * 1000, polling=50)
            time.sleep(0.3)  # the unlock event after the answer, on the server
            cpu = self.cpu(name) - cpu0
            b = page.evaluate("() => window.__bench")
        finally:
            page.close()
        if b["error"] or b["first"] is None:
            return {"error": b["error"] or "no answer text"}
        t0 = b["t0"]
        out = {"ttft": (b["firstPaint"] or b["first"]) - t0, "shown": (b["shownPaint"] or b["shown"]) - t0,
               "join": b["join"] - t0 if b["join"] else None, "total": b["done"] - t0,
               "cpu": cpu * 1000, "cpu_per_token": cpu * 1000 / tokens, "renders": b["renders"],
               "cpu_per_render": cpu * 1000 / max(b["renders"], 1),
               "start": (b["origin"] + t0) / 1000}
        return {k: v for k, v in out.items() if v is not None}


# ---- statistics and the report --------------------------------------------------------------


class Table:
    """samples[figure][variant] = [values in repetition order]."""

    def __init__(self) -> None:
        self.samples: dict[str, dict[str, list[float]]] = {}
        self.errors: list[str] = []
        self.notes: list[str] = []

    def add(self, figure: str, variant: str, value: float | None) -> None:
        if value is not None:
            self.samples.setdefault(figure, {}).setdefault(variant, []).append(value)

    def add_all(self, prefix: str, variant: str, values: dict[str, Any], keys: tuple[str, ...]) -> None:
        if values.get("error"):
            self.errors.append(f"{prefix} / {variant}: {values['error']}")
            return
        for key in keys:
            self.add(f"{prefix} {key}", variant, values.get(key))

    @staticmethod
    def paired(ref: list[float], values: list[float]) -> str:
        """Median of the per-repetition differences (variant − on) with a 95 % bootstrap interval,
        and that median as a share of on's median."""
        n = min(len(ref), len(values))
        if n < 3:
            return ""
        diffs = [values[i] - ref[i] for i in range(n)]
        rng = random.Random(0)
        boots = sorted(statistics.median(rng.choices(diffs, k=n)) for _ in range(2000))
        lo, hi = boots[50], boots[1949]
        base = statistics.median(ref)
        return (f"{statistics.median(diffs):+.2f} [{lo:+.2f}, {hi:+.2f}] = "
                f"{100 * statistics.median(diffs) / base:+.1f} % [{100 * lo / base:+.1f}, {100 * hi / base:+.1f}]")

    def markdown(self, base: str = "on") -> str:
        lines = ["| figure | variant | n | min | median | max | ratio to on (median) | worse than on in pairs "
                 "| paired Δ, median [95 % CI] |",
                 "|---|---|---|---|---|---|---|---|---|"]
        for figure, by in self.samples.items():
            ref = by.get(base, [])
            for variant, values in by.items():
                m = statistics.median(values)
                r = m / statistics.median(ref) if ref and variant != base and statistics.median(ref) else None
                pairs = ""
                if variant != base and ref:
                    n = min(len(ref), len(values))
                    worse = sum(values[i] > ref[i] for i in range(n))
                    pairs = f"{worse}/{n}"
                delta = self.paired(ref, values) if variant != base and ref else ""
                lines.append(f"| {figure} | {variant} | {len(values)} | {min(values):.2f} | {m:.2f} | "
                             f"{max(values):.2f} | {f'{r:.3f}' if r else ''} | {pairs} | {delta} |")
        text = "\n".join(lines)
        if self.notes:
            text += "\n\n" + "\n".join(f"- {n}" for n in self.notes)
        if self.errors:
            text += "\n\nErrors:\n" + "\n".join(f"- {e}" for e in self.errors[:30])
        return text


NO_REST = [False]  # --no-rest: the first phase without its REST null control
QUIET_WAIT = [0.0]  # --quiet-wait: seconds to wait before each repetition for a quiet machine
SHARES: list[float] = []  # others' share of the machine during each repetition


def _wait_quiet(limit: float) -> None:
    """Up to `limit` s until processes outside the bench use < 20 % of a core for 1 s."""
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        before = R.Foreign._now()
        time.sleep(1)
        if R.Foreign._now() - before < 0.2:
            return


def interleave(reps: int, variants: list[str], seed: int, step: Callable[[int, str], None]) -> None:
    rng = random.Random(seed)
    for rep in range(reps):
        order = variants[:]
        rng.shuffle(order)
        if QUIET_WAIT[0]:
            _wait_quiet(QUIET_WAIT[0])
        t0, others = time.perf_counter(), R.Foreign._now()
        for variant in order:
            step(rep, variant)
        SHARES.append((R.Foreign._now() - others) / (R.os.cpu_count() or 1) / (time.perf_counter() - t0))


# ---- the phases ------------------------------------------------------------------------------


def phase_stream(reps: int, seed: int) -> Table:
    """processed_here: its inline postprocessing against Gradio's (in a worker thread)."""
    table = Table()
    variants = {"on": "", "off:processed_here": "processed_here"}
    lab = Lab(variants)
    try:
        chat = R.make_chat(lab.tmp / "chat.json")
        for name in variants:  # warm-up, not counted
            lab.ask_browser(name, f"{name}.warm", R.SHORT)
            lab.ask_browser(name, f"{name}.warm2", 1000)

        def step(rep: int, name: str) -> None:
            out = lab.ask_browser(name, f"{name}.text.{rep}", R.SHORT)
            table.add_all("text 50 tokens:", name, out, ("ttft", "shown", "cpu"))
            out = lab.ask_browser(name, f"{name}.k1.{rep}", 1000)
            table.add_all("1,000-token answer, fresh chat:", name, out,
                          ("cpu_per_token", "renders", "cpu_per_render", "total"))
            out = lab.ask_browser(name, f"{name}.k40.{rep}", 1000, chat=chat, timeout=120)
            table.add_all(f"1,000-token answer after {R.CHAT_TURNS} turns:", name, out,
                          ("cpu_per_token", "renders", "cpu_per_render", "shown", "ttft", "total"))

        interleave(reps, list(variants), seed, step)
        R.log("stream: done")
    finally:
        lab.close()
    table.notes.append("cpu in ms of app CPU per question (Enter → answer ended + 0.3 s); "
                       "cpu_per_token in ms; times in ms from Enter (keydown) in the page; "
                       "renders = distinct answer lengths the page showed (≈ updates)")
    return table


def phase_chat(reps: int, seed: int) -> Table:
    """processed_here again, only the streaming figures: 1,000-token answers, fresh and after 40 turns."""
    table = Table()
    variants = {"on": "", "off:processed_here": "processed_here"}
    lab = Lab(variants)
    try:
        chat = R.make_chat(lab.tmp / "chat.json")
        for name in variants:
            lab.ask_browser(name, f"{name}.warm", 1000)
            lab.ask_browser(name, f"{name}.warm40", 1000, chat=chat, timeout=120)

        def step(rep: int, name: str) -> None:
            out = lab.ask_browser(name, f"{name}.k1.{rep}", 1000)
            table.add_all("1,000-token answer, fresh chat:", name, out,
                          ("cpu_per_token", "renders", "cpu_per_render", "ttft", "total"))
            out = lab.ask_browser(name, f"{name}.k40.{rep}", 1000, chat=chat, timeout=120)
            table.add_all(f"1,000-token answer after {R.CHAT_TURNS} turns:", name, out,
                          ("cpu_per_token", "renders", "cpu_per_render", "shown", "ttft", "total"))

        interleave(reps, list(variants), seed, step)
        R.log("chat: done")
    finally:
        lab.close()
    return table


def phase_first(reps: int, seed: int) -> Table:
    """report_out + Started.out(), and ENTER_JS: time to first token and what comes before it."""
    table = Table()
    variants = {"on": "", "off:report_out": "report_out", "off:enter_js": "enter_js"}
    lab = Lab(variants)
    try:
        for name in variants:
            lab.ask_browser(name, f"{name}.warm", R.SHORT)
            lab.ask_browser(name, f"{name}.warm2", R.SHORT, lab.copies(lab.images["photo"], "w"))
        rest = {name: R.HttpSystem(name, lab.url(name), "/ask", False) for name in variants}
        for name, system in rest.items():
            system.ask(f"{name}.restwarm", R.SHORT)
        starts: dict[str, tuple[str, str, float]] = {}

        def step(rep: int, name: str) -> None:
            tag = f"{name}.text.{rep}"
            out = lab.ask_browser(name, tag, R.SHORT)
            table.add_all("browser, text:", name, out, ("ttft", "shown", "join"))
            if "start" in out:
                starts[tag] = ("browser, text: Enter → request parsed by the endpoint", name, out["start"])
            tag = f"{name}.photo.{rep}"
            out = lab.ask_browser(name, tag, R.SHORT, lab.copies(lab.images["photo"], tag))
            table.add_all("browser, 12 MP photo:", name, out, ("ttft", "shown", "join"))
            if "start" in out:
                starts[tag] = ("browser, photo: Enter → request parsed by the endpoint", name, out["start"])
            if name != "off:enter_js" and not NO_REST[0]:
                tag = f"{name}.rest.{rep}"
                sample = rest[name].ask(tag, R.SHORT)
                if sample.error:
                    table.errors.append(f"rest {name}: {sample.error}")
                else:
                    table.add("REST /ask, text: ttft", name, sample.ttft * 1000)
                    starts[tag] = ("REST /ask, text: call → request parsed by the endpoint", name, sample.start)
            lab.copies.clear()

        interleave(reps, list(variants), seed, step)
        arrivals = lab.arrivals()
        for tag, (figure, name, start) in starts.items():
            if tag in arrivals:
                table.add(figure, name, (arrivals[tag] - start) * 1000)
        R.log("first: done")
    finally:
        lab.close()
    table.notes.append("ms from Enter (keydown, in the page) or from the REST call; shown = the "
                       "question painted in the chat; join = the page's /queue/join fetch; "
                       "the endpoint answers 400 ms after it has parsed the request")
    return table


def phase_session(reps: int, seed: int) -> Table:
    """schema_once: what a new session costs the server (page load; an /ask call via REST)."""
    table = Table()
    variants = {"on": "", "off:schema_once": "schema_once"}
    lab = Lab(variants)
    try:
        rest = {name: R.HttpSystem(name, lab.url(name), "/ask", False) for name in variants}

        def page_load(name: str) -> float:
            page = lab.context.new_page()
            try:
                cpu0 = lab.cpu(name)
                page.goto(lab.url(name))
                page.wait_for_selector("#chat-input textarea")
                page.wait_for_function("() => document.querySelector('#chat').textContent"
                                       ".includes('quarter')")  # restore() ran: the examples
                time.sleep(0.3)
                return (lab.cpu(name) - cpu0) * 1000
            finally:
                page.close()

        for name in variants:
            page_load(name)
            rest[name].ask(f"{name}.warm", R.SHORT)

        def step(rep: int, name: str) -> None:
            table.add("page load (new session): server CPU ms", name, page_load(name))
            cpu0 = lab.cpu(name)
            sample = rest[name].ask(f"{name}.s.{rep}", R.SHORT)
            time.sleep(0.1)
            if sample.error:
                table.errors.append(f"rest {name}: {sample.error}")
                return
            table.add("REST /ask, 50 tokens (new session each): server CPU ms", name,
                      (lab.cpu(name) - cpu0) * 1000)
            table.add("REST /ask, 50 tokens: ttft ms", name, sample.ttft * 1000)
            cpu0 = lab.cpu(name)
            for i in range(10):
                rest[name].ask(f"{name}.b{i}.{rep}", R.SHORT)
            time.sleep(0.1)
            table.add("10 REST /ask calls, 50 tokens each: server CPU ms per call", name,
                      (lab.cpu(name) - cpu0) * 100)

        interleave(reps, list(variants), seed, step)
        R.log("session: done")
    finally:
        lab.close()
    return table


def phase_upload(reps: int, seed: int) -> Table:
    """_in_pieces (pure speed) and preparing an image as soon as its upload lands (a feature)."""
    table = Table()
    # Preparation on upload would add its CPU to the upload's: in_pieces is measured without it.
    variants = {"on": "", "off:prepare_on_upload": "prepare_on_upload",
                "off:in_pieces+prepare_on_upload": "in_pieces,prepare_on_upload"}
    lab = Lab(variants)
    try:
        clients = {name: httpx.Client(timeout=120) for name in variants}

        def upload(name: str, path: Path) -> tuple[float, float]:
            cpu0, t0 = lab.cpu(name), time.perf_counter()
            with path.open("rb") as f:
                response = clients[name].post(f"{lab.url(name)}gradio_api/upload",
                                              files=[("files", (path.name, f, "application/octet-stream"))])
            wall = time.perf_counter() - t0
            response.raise_for_status()
            time.sleep(0.05)
            return (lab.cpu(name) - cpu0) * 1000, wall * 1000

        def burst(name: str, paths: list[Path]) -> tuple[float, float]:
            import asyncio

            async def go() -> float:
                async with httpx.AsyncClient(timeout=120) as client:
                    async def one(p: Path) -> None:
                        r = await client.post(f"{lab.url(name)}gradio_api/upload",
                                              files=[("files", (p.name, p.read_bytes(), "image/jpeg"))])
                        r.raise_for_status()
                    t0 = time.perf_counter()
                    await asyncio.gather(*(one(p) for p in paths))
                    return time.perf_counter() - t0
            cpu0 = lab.cpu(name)
            result: list[float] = []  # in a thread: Playwright's sync API holds this one's loop
            worker = threading.Thread(target=lambda: result.append(asyncio.run(go())))
            worker.start()
            worker.join()
            wall = result[0]
            time.sleep(0.05)
            return (lab.cpu(name) - cpu0) * 1000, wall * 1000

        for name in variants:
            upload(name, lab.copies(lab.images["photo"], "warm"))
            lab.ask_browser(name, f"{name}.warm", R.SHORT, lab.copies(lab.images["photo"], "w"))
        sizes = {k: p.stat().st_size / 1e6 for k, p in lab.images.items()}
        time.sleep(2)

        def step(rep: int, name: str) -> None:
            for kind in ("photo", "shot"):
                cpu, wall = upload(name, lab.copies(lab.images[kind], f"{name}-{kind}"))
                if name != "on":  # "on" prepares the upload in the background: CPU not comparable
                    table.add(f"upload {kind} ({sizes[kind]:.1f} MB): server CPU ms", name, cpu)
                table.add(f"upload {kind} ({sizes[kind]:.1f} MB): wall ms", name, wall)
                time.sleep(0.5 if name == "on" else 0)  # let its preparation end
            if name != "on":
                cpu, wall = burst(name, [lab.copies(lab.images["photo"], f"{name}-b{i}") for i in range(16)])
                table.add("16 photo uploads at once: server CPU ms", name, cpu)
                table.add("16 photo uploads at once: wall ms", name, wall)
            if name != "off:in_pieces+prepare_on_upload":
                tag = f"{name}.photo.{rep}"
                out = lab.ask_browser(name, tag, R.SHORT, lab.copies(lab.images["photo"], tag))
                table.add_all("browser, 12 MP photo (1 s after attach):", name, out, ("ttft", "cpu"))
            lab.copies.clear()

        interleave(reps, list(variants), seed, step)
        R.log("upload: done")
    finally:
        lab.close()
    table.notes.append("'on' prepares each upload in the background as it lands, so its upload CPU is "
                       "left out; _in_pieces = 'off:prepare_on_upload' vs 'off:in_pieces+prepare_on_upload'")
    return table


def phase_pieces(reps: int, seed: int) -> Table:
    """_in_pieces alone: server CPU per upload, both variants without preparation on upload."""
    table = Table()
    variants = {"on": "prepare_on_upload", "off:in_pieces": "in_pieces,prepare_on_upload"}
    lab = Lab(variants, browser=False)
    try:
        client = httpx.Client(timeout=120)
        sizes = {k: p.stat().st_size / 1e6 for k, p in lab.images.items()}

        def upload(name: str, path: Path) -> tuple[float, float]:
            cpu0, t0 = lab.cpu(name), time.perf_counter()
            with path.open("rb") as f:
                response = client.post(f"{lab.url(name)}gradio_api/upload",
                                       files=[("files", (path.name, f, "application/octet-stream"))])
            wall = time.perf_counter() - t0
            response.raise_for_status()
            return (lab.cpu(name) - cpu0) * 1000, wall * 1000

        for name in variants:
            for _ in range(3):
                upload(name, lab.copies(lab.images["photo"], "warm"))

        def step(rep: int, name: str) -> None:
            for kind in ("photo", "shot"):
                cpu, wall = upload(name, lab.copies(lab.images[kind], f"{name}-{kind}"))
                table.add(f"upload {kind} ({sizes[kind]:.1f} MB): server CPU ms", name, cpu)
                table.add(f"upload {kind} ({sizes[kind]:.1f} MB): wall ms", name, wall)
            lab.copies.clear()

        interleave(reps, list(variants), seed, step)
        R.log("pieces: done")
    finally:
        lab.close()
    table.notes.append("both variants without preparation on upload (GLM_BENCH_OFF=prepare_on_upload): "
                       "'on' = _in_pieces in use")
    return table


PHASES = {"pieces": phase_pieces, "stream": phase_stream, "chat": phase_chat, "first": phase_first, "session": phase_session,
          "upload": phase_upload}
DEFAULT_REPS = {"pieces": 40, "chat": 20, "stream": 8, "first": 10, "session": 12, "upload": 8}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("phase", choices=[*PHASES, "all"])
    parser.add_argument("--reps", type=int, default=0)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--quiet-wait", type=float, default=0,
                        help="before each repetition, wait up to this many s for other jobs to pause")
    parser.add_argument("--no-rest", action="store_true", help="first: leave out the REST calls")
    args = parser.parse_args(argv)
    QUIET_WAIT[0] = args.quiet_wait
    NO_REST[0] = args.no_rest
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    chunks = []
    for phase in (PHASES if args.phase == "all" else [args.phase]):
        R.log(f"{phase}: {DEFAULT_REPS[phase] if not args.reps else args.reps} repetitions")
        t0 = time.perf_counter()
        load = R.os.getloadavg()[0]
        foreign = R.Foreign(max_wait=0)  # no waiting: the other processes' CPU is only reported
        foreign.phase(phase)
        FOREIGN[:] = [foreign]
        table = PHASES[phase](args.reps or DEFAULT_REPS[phase], args.seed)
        FOREIGN.clear()
        table.notes.append("others' share of the machine per repetition: "
                           + ", ".join(f"{100 * x:.0f} %" for x in SHARES))
        SHARES.clear()
        text = (f"## {phase}\n\n{R.time.strftime('%Y-%m-%d %H:%M')}, {time.perf_counter() - t0:.0f} s, "
                f"load average before {load:.2f}; processes outside the bench used "
                f"{foreign.phases[phase]:.0f} CPU s = {100 * foreign.shares[phase]:.0f} % of the machine"
                f"\n\n{table.markdown()}\n\n<details><summary>samples"
                f"</summary>\n\n```json\n{json.dumps(table.samples)}\n```\n</details>\n")
        print(text, flush=True)
        chunks.append(text)
    if args.out:
        args.out.write_text("\n".join(chunks), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
