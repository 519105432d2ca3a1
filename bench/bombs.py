"""Benchmark: decompression bombs against the running app (issue 13, item 4). Not a test.

    python bench/bombs.py              # every phase, ~1-3 min, prints Markdown tables
    python bench/bombs.py --phase ask  # one phase only (ask, big, upload or modes)

Each phase starts `python app.py` afresh (tests.conftest.start_app) against the local fake
endpoint, warms it up with one text and one small image question, then measures the app process:

- ask: 8 users each upload a different 100 MP PNG of a few hundred KB (4 palette with a transparent
  colour, 4 RGBA) and ask `/ask` about it, all at once; while that runs, a ninth user asks a
  text-only question.
- big: the same with 8 real-sized but large images (24 MP RGBA PNGs, a 6000 × 4000 screenshot with
  an alpha channel): allowed, so they show how much preparation runs at once.
- upload: the 8 bombs are only uploaded, nobody asks about them (the app prepares uploads as they
  land).
- modes: no app; one `ui.imaging.payload.prepare()` per kind of image (24 MP PNGs of each mode, a CMYK
  JPEG, a lossless WebP, 48 and 61 MP JPEGs), each in a fresh process, at "balanced" and "max":
  its peak memory (VmHWM over the RSS before) next to the estimate the code reserved for it.

Figures: the app's resident memory before (VmRSS), its peak increase (VmHWM, reset through
/proc/PID/clear_refs just before the phase), what is left 5 s after the last answer, the app's CPU
seconds from the start of the phase to that moment, the wall time until the last answer, what each
image request got (refused with a sentence / answered / failed) and how long the text question took.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psutil  # noqa: E402

from tests.conftest import TEST_KEY, start_app, stop_app  # noqa: E402
from tests.fake_openai import FakeOpenAI  # noqa: E402

USERS = 8
SETTLE = 5.0  # s after the last answer before "left behind" is read
TIMEOUT = 600.0  # s for any one request (the old code needs tens of seconds per bomb)


# ---- images made in code ------------------------------------------------------------------------


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width: int, height: int, mode: str) -> Callable[[str], bytes]:
    """A valid all-zero PNG of `mode` ("P" with one transparent colour, or "RGBA"), compressed once;
    returns a function giving a copy with its own text chunk (so each upload is a new file)."""
    channels, color_type = {"P": (1, 3), "RGBA": (4, 6)}[mode]
    row = bytes(1 + width * channels)  # filter byte 0, then zero samples
    z = zlib.compressobj(9)
    rows_per_piece = max(1, (8 << 20) // len(row))
    idat = b"".join(z.compress(row * min(rows_per_piece, height - y))
                    for y in range(0, height, rows_per_piece)) + z.flush()
    head = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8,
                                                              color_type, 0, 0, 0))
    if mode == "P":
        head += _chunk(b"PLTE", bytes([255, 0, 0, 0, 0, 255])) + _chunk(b"tRNS", b"\x00")
    body = _chunk(b"IDAT", idat)
    return lambda tag: head + _chunk(b"tEXt", b"Comment\0" + tag.encode()) + body + _chunk(b"IEND", b"")


# ---- the app process ----------------------------------------------------------------------------


def status(pid: int, key: str) -> int:
    """A VmRSS / VmHWM figure of /proc/PID/status, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def reset_peak(pid: int) -> bool:
    """Set VmHWM back to the current RSS (Linux ≥ 4.0, same user)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


@dataclass
class Outcome:
    """What one request got: 'refused: <sentence>', 'answered: <text>' or 'failed: ...'."""

    kind: str
    text: str
    seconds: float


@dataclass
class Phase:
    name: str
    baseline_mb: float = 0
    peak_mb: float = 0
    left_mb: float = 0
    cpu_s: float = 0
    wall_s: float = 0
    peak_reset: bool = True
    images: list[Outcome] = field(default_factory=list)
    text: Outcome | None = None


def upload(http: httpx.Client, name: str, data: bytes) -> dict[str, Any]:
    response = http.post("gradio_api/upload", files={"files": (name, data, "image/png")})
    response.raise_for_status()
    [stored] = response.json()
    return {"path": stored, "orig_name": name, "meta": {"_type": "gradio.FileData"}}


def ask(http: httpx.Client, files: list[dict[str, Any]], question: str) -> Outcome:
    """One /ask call over Gradio's REST API, read to its end."""
    start = time.perf_counter()
    event = http.post("gradio_api/call/ask", json={"data": [files, question, "", 0.7, 64, "", ""]})
    event.raise_for_status()
    stream = http.get(f"gradio_api/call/ask/{event.json()['event_id']}").text
    seconds = time.perf_counter() - start
    events = [line.split(":", 1)[1].strip() for line in stream.splitlines() if line.startswith("event:")]
    data = [line.split(":", 1)[1].strip() for line in stream.splitlines() if line.startswith("data:")]
    last, text = (events[-1] if events else "?"), (data[-1] if data else stream[-200:])
    kind = {"complete": "answered", "error": "refused"}.get(last, "failed")
    try:
        decoded = json.loads(text)
    except ValueError:
        decoded = text
    if isinstance(decoded, dict):  # an error: {"error": "<the sentence>", ...}
        decoded = decoded.get("error", text)
    return Outcome(kind, str(decoded), seconds)


def run_phase(name: str, files: list[tuple[str, bytes]], fake: FakeOpenAI, tmp: Path) -> Phase:
    (tmp / name).mkdir()
    app = start_app({"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": TEST_KEY}, tmp / name)
    result = Phase(name)
    pid = app.process.pid
    try:
        with httpx.Client(base_url=app.url, timeout=TIMEOUT) as http:
            small = png(64, 48, "RGBA")("warm-up")
            for outcome in (ask(http, [], "warm up"), ask(http, [upload(http, "w.png", small)], "hi")):
                assert outcome.kind == "answered", outcome
        time.sleep(2)  # let the warm-up's garbage settle
        result.baseline_mb = status(pid, "VmRSS") / 2**20
        result.peak_reset = reset_peak(pid)
        hwm0 = status(pid, "VmHWM") / 2**20
        cpu0 = cpu_seconds(pid)
        start = time.perf_counter()
        outcomes: list[Outcome | None] = [None] * len(files)
        uploaded = threading.Barrier(len(files) + 1)

        def user(i: int) -> None:
            with httpx.Client(base_url=app.url, timeout=TIMEOUT) as http:
                try:
                    stored = upload(http, *files[i])
                except httpx.HTTPError as e:
                    uploaded.wait()
                    outcomes[i] = Outcome("failed", f"upload: {e!r}", 0)
                    return
                uploaded.wait()
                if name != "upload":
                    outcomes[i] = ask(http, [stored], "What is in this picture?")

        threads = [threading.Thread(target=user, args=(i,)) for i in range(len(files))]
        for t in threads:
            t.start()
        uploaded.wait()  # every file has landed; the image questions are being sent now
        with httpx.Client(base_url=app.url, timeout=TIMEOUT) as http:
            result.text = ask(http, [], "Meanwhile, a question without images")
        for t in threads:
            t.join()
        if name == "upload":  # nobody asks: wait until the app's CPU goes quiet instead
            while _busy(pid):
                pass
        result.wall_s = time.perf_counter() - start
        result.images = [o for o in outcomes if o is not None]
        result.peak_mb = status(pid, "VmHWM") / 2**20 - (hwm0 if result.peak_reset else result.baseline_mb)
        time.sleep(SETTLE)
        result.left_mb = status(pid, "VmRSS") / 2**20 - result.baseline_mb
        result.cpu_s = cpu_seconds(pid) - cpu0
    finally:
        stop_app(app)
    return result


def _busy(pid: int) -> bool:
    """Whether the app uses more than 5% of a core over the next second."""
    before = cpu_seconds(pid)
    time.sleep(1)
    return cpu_seconds(pid) - before > 0.05


# ---- modes: estimate against measured peak --------------------------------------------------------

_ONE = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from PIL import Image
from ui.imaging import payload as images
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
estimates = []
if hasattr(images, "_cost"):  # the code before issue 13 had no estimate
    cost = images.decode_cost
    images.decode_cost = lambda *a: estimates.append(cost(*a)) or estimates[-1]
Image.open(sys.argv[2]).size  # the plugin imported before the baseline
open("/proc/self/clear_refs", "w").write("5")
rss = status("VmRSS")
start = time.process_time()
result = images.prepare(sys.argv[2], sys.argv[3])
print(json.dumps({"peak": status("VmHWM") - rss, "left": status("VmRSS") - rss,
                  "cpu": time.process_time() - start, "estimate": estimates[0] if estimates else None,
                  "sent": result.sent_size}))
"""


def mode_images(folder: Path) -> dict[str, Path]:
    """24 MP (6000 × 4000) gradients in each mode, and two camera-sized JPEGs."""
    from PIL import Image

    g = Image.linear_gradient("L").resize((6000, 4000))
    rgb = Image.merge("RGB", (g, g.transpose(Image.Transpose.FLIP_LEFT_RIGHT), g))
    palette = rgb.quantize(64)
    cases: dict[str, tuple[Any, str, dict[str, Any]]] = {
        "RGB PNG": (rgb, "PNG", {"compress_level": 1}),
        "RGBA PNG": (Image.merge("RGBA", (*rgb.split(), g)), "PNG", {"compress_level": 1}),
        "L PNG": (g, "PNG", {"compress_level": 1}),
        "LA PNG": (Image.merge("LA", (g, g)), "PNG", {"compress_level": 1}),
        "1-bit PNG": (g.convert("1"), "PNG", {}),
        "P PNG": (palette, "PNG", {"compress_level": 1}),
        "P PNG, transparent colour": (palette, "PNG", {"compress_level": 1, "transparency": 0}),
        "16-bit grey PNG": (g.convert("I").point(lambda v: v * 256).convert("I;16"), "PNG", {}),
        "CMYK JPEG": (rgb.convert("CMYK"), "JPEG", {"quality": 90}),
        "RGBA WebP, lossless": (Image.merge("RGBA", (*rgb.split(), g)), "WEBP",
                                {"lossless": True, "method": 0}),
        "P GIF": (palette, "GIF", {}),
    }
    paths = {}
    for name, (im, fmt, options) in cases.items():
        im.save(path := folder / f"{len(paths)}.{fmt.lower()}", fmt, **options)
        paths[name] = path
    for w, h in ((8000, 6000), (9504, 6336)):
        g = Image.linear_gradient("L").resize((w, h))
        Image.merge("RGB", (g, g.transpose(Image.Transpose.FLIP_LEFT_RIGHT), g)).save(
            path := folder / f"{w}.jpg", quality=92)
        paths[f"{w * h / 1e6:.0f} MP JPEG"] = path
    return paths


def run_modes(tmp: Path) -> str:
    (folder := tmp / "modes").mkdir()
    lines = ["| image | quality | peak | estimate | estimate / peak | left | CPU | sent |",
             "|---|---|---|---|---|---|---|---|"]
    for name, path in mode_images(folder).items():
        for quality in ("balanced", "max"):
            out = subprocess.run([sys.executable, "-c", _ONE, str(ROOT), str(path), quality],
                                 capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
            if out.returncode:
                lines.append(f"| {name} | {quality} | {out.stderr.strip().splitlines()[-1]} |||||| ")
                continue
            r = json.loads(out.stdout)
            est, peak = r["estimate"], r["peak"]
            estimate = f"{est / 2**20:.0f} MB | {est / peak:.2f}" if est else "- | -"
            lines.append(f"| {name} | {quality} | {peak / 2**20:.0f} MB | {estimate} "
                         f"| {r['left'] / 2**20:+.0f} MB | {r['cpu']:.2f} s "
                         f"| {r['sent'][0]} × {r['sent'][1]} |")
    return "\n".join(lines)


# ---- report -------------------------------------------------------------------------------------


def _summary(outcomes: list[Outcome]) -> str:
    if not outcomes:
        return "not asked"
    kinds = sorted({o.kind for o in outcomes})
    parts = [f"{sum(o.kind == k for o in outcomes)} {k}" for k in kinds]
    slowest = max(o.seconds for o in outcomes)
    return ", ".join(parts) + f" (slowest {slowest:.1f} s)"


def report(phases: list[Phase]) -> str:
    lines = ["| phase | RSS before | peak increase | left after 5 s | app CPU | wall | image requests "
             "| text question |", "|---|---|---|---|---|---|---|---|"]
    for p in phases:
        text = f"{p.text.kind} in {p.text.seconds:.2f} s" if p.text else "-"
        lines.append(f"| {p.name} | {p.baseline_mb:.0f} MB | {p.peak_mb:+.0f} MB | {p.left_mb:+.0f} MB "
                     f"| {p.cpu_s:.1f} s | {p.wall_s:.1f} s | {_summary(p.images)} | {text} |")
    sentences = sorted({o.text for p in phases for o in p.images if o.kind != "answered"})
    lines += ["", *(f"- {s}" for s in sentences[:4])]
    if not all(p.peak_reset for p in phases):
        lines.append("- VmHWM could not be reset: its increase is measured from the RSS before.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", choices=["ask", "big", "upload", "modes"], action="append")
    args = parser.parse_args()
    phases = args.phase or ["ask", "big", "upload", "modes"]
    modes = ""
    print("making the images...", flush=True)
    palette, rgba = png(10_000, 10_000, "P"), png(10_000, 10_000, "RGBA")
    bombs = [(f"bomb{i}.png", (palette if i % 2 else rgba)(f"bomb {i} {time.time()}"))
             for i in range(USERS)]
    big = png(6000, 4000, "RGBA")
    bigs = [(f"big{i}.png", big(f"big {i} {time.time()}")) for i in range(USERS)]
    print(f"bomb files: {min(len(b) for _, b in bombs) // 1024}-{max(len(b) for _, b in bombs) // 1024} KB; "
          f"big: {len(bigs[0][1]) // 1024} KB", flush=True)
    results = []
    with FakeOpenAI() as fake, tempfile.TemporaryDirectory(prefix="bombs-") as tmp:
        for name in phases:
            print(f"phase {name}...", flush=True)
            if name == "modes":
                print(modes := run_modes(Path(tmp)), flush=True)
                continue
            results.append(run_phase(name, bigs if name == "big" else bombs, fake, Path(tmp)))
            print(report(results[-1:]), flush=True)
    print()
    print(report(results) if results else "", modes, sep="\n\n")


if __name__ == "__main__":
    main()
