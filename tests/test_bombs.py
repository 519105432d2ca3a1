"""Decompression bombs (issue 13): refused from the header, preparation bounded in memory and in the
upload queue, and the running app unharmed by eight of them at once. Images are made in code."""

from __future__ import annotations

import concurrent.futures
import json
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageFile

from tests.conftest import TEST_KEY, start_app, stop_app
from tests.fake_openai import FakeOpenAI
from ui.imaging import memory, uploads
from ui.imaging import payload as images
from ui.imaging.payload import ImageError, prepare

MP100 = (10_000, 10_000)  # exactly 100 megapixels: not over the plain pixel cap


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb(mode: str, size: tuple[int, int] = MP100) -> Callable[[str], bytes]:
    """A valid all-zero PNG ("P" with a transparent colour, or "RGBA"), compressed once in pieces
    (never a Pillow image of that size); call it with a tag for a copy that is a different file."""
    width, height = size
    channels, color_type = {"P": (1, 3), "RGBA": (4, 6)}[mode]
    rows = 256
    piece = bytes(1 + width * channels) * rows  # filter byte 0, then zero samples
    z = zlib.compressobj(6)
    idat = b"".join(z.compress(piece[:len(piece) * min(rows, height - y) // rows])
                    for y in range(0, height, rows)) + z.flush()
    head = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8,
                                                              color_type, 0, 0, 0))
    if mode == "P":  # index 0, the only colour used, is fully transparent
        head += _chunk(b"PLTE", bytes([255, 0, 0, 0, 0, 255])) + _chunk(b"tRNS", b"\x00")
    body = _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    return lambda tag: head + _chunk(b"tEXt", b"Comment\0" + tag.encode()) + body


@pytest.fixture(scope="module")
def bombs() -> dict[str, Callable[[str], bytes]]:
    return {"P": bomb("P"), "RGBA": bomb("RGBA")}


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    images.clear_cache()


class RecordingBudget:
    """A real budget, recording what each preparation reserves."""

    def __init__(self) -> None:
        self.budget = memory.Budget(images.DECODE_BUDGET)
        self.costs: list[int] = []

    def hold(self, cost: int) -> Any:
        self.costs.append(cost)
        return self.budget.hold(cost)


class Signalling(threading.Condition):
    """A condition that says when someone starts waiting on it (for the budget's queue)."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()
        self.waiters: list[str] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waiters.append(threading.current_thread().name)
        self.waiting.set()
        return super().wait(timeout)


# --- refused from the header ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["P", "RGBA"])
def test_a_100_mp_palette_or_rgba_png_is_refused_without_decoding(
    mode: str, bombs: dict[str, Callable[[str], bytes]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (path := tmp_path / "bomb.png").write_bytes(bombs[mode]("x"))
    assert path.stat().st_size < 500_000  # a few hundred KB that would flatten to ~1 GB

    def no_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("the bomb was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ImageError) as caught:
        prepare(path)
    error = caught.value
    assert error.key == "image_too_large" and error.params["name"] == "bomb.png"
    # The sentence names a limit this file is really over: fewer megapixels than its 100.
    assert 10 < error.params["limit_mp"] < 100


@pytest.mark.parametrize(("size", "quality", "sent"), [((8000, 6000), "balanced", (2000, 1500)),
                                                       ((9504, 6336), "max", (6000, 4000))])
def test_camera_jpegs_are_prepared_and_reserve_what_their_decoding_costs(
    size: tuple[int, int], quality: str, sent: tuple[int, int], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    # 48 MP and 61 MP, as big cameras take them: JPEG decodes at 1/2-1/8 scale when shrinking
    # (balanced: 1/4, a few MB); at "max" (6000 px) at full size, which still fits.
    path = tmp_path / "DSC01234.JPG"
    Image.new("RGB", size, (90, 120, 160)).save(path, quality=90)
    budget = RecordingBudget()
    monkeypatch.setattr(images, "_budget", budget)
    result = prepare(path, quality)
    assert result.original_size == size and result.sent_size == sent
    [cost] = budget.costs
    assert cost <= images.MAX_DECODE
    if quality == "balanced":
        assert cost < 64 * 2**20  # the draft's 2000 × 1500, not 48 MP


# --- preparation in flight -------------------------------------------------------------------------


def test_preparations_wait_for_the_budget_instead_of_decoding_all_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    condition = Signalling()
    monkeypatch.setattr(images, "_budget", memory.Budget(1, condition))  # room for one at a time
    first_inside, release = threading.Event(), threading.Event()
    converting: list[str] = []
    convert = images.to_8bit_rgb_or_l

    def held_open(im: Image.Image) -> Image.Image:  # the decoded image, converted on request
        converting.append(threading.current_thread().name)
        first_inside.set()
        assert release.wait(10)
        return convert(im)

    monkeypatch.setattr(images, "to_8bit_rgb_or_l", held_open)
    paths = []
    for name in ("a", "b"):
        Image.new("RGBA", (64, 48), (200, 30, 30, 128)).save(path := tmp_path / f"{name}.png")
        paths.append(path)
    with concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="visitor") as pool:
        try:
            first = pool.submit(prepare, paths[0])
            assert first_inside.wait(10)  # the first one has decoded and holds the budget
            second = pool.submit(prepare, paths[1])
            assert condition.waiting.wait(10)  # the second waits for it...
            assert len(converting) == 1  # ...without having decoded anything
        finally:
            release.set()
        assert first.result().sent_size == second.result().sent_size == (64, 48)
    assert len(converting) == 2 and converting[0] != converting[1] == condition.waiters[0]


def test_the_budget_lets_no_one_overtake_a_big_preparation_waiting_for_room() -> None:
    condition = Signalling()
    budget = memory.Budget(10, condition)
    entered: dict[str, int] = {}  # who got in, and what was held then
    inside = {"big": threading.Event(), "small": threading.Event()}
    done = threading.Event()

    def take(name: str, cost: int) -> None:
        with budget.hold(cost):
            entered[name] = budget.used
            inside[name].set()
            assert done.wait(10)

    with budget.hold(6):  # someone is preparing
        big = threading.Thread(target=take, args=("big", 6), name="big")
        big.start()
        assert condition.waiting.wait(10)  # 6 + 6 > 10: the big one waits
        condition.waiting.clear()
        small = threading.Thread(target=take, args=("small", 1), name="small")
        small.start()
        assert condition.waiting.wait(10)  # 6 + 1 would fit, but the big one is first in line
        assert not entered
    try:  # both inside before either leaves: a slow thread cannot make it look otherwise
        assert inside["big"].wait(10) and inside["small"].wait(10)
    finally:
        done.set()
        big.join(10)
        small.join(10)
    assert entered == {"big": 6, "small": 7}  # the small one came in after the big one


def test_uploads_alone_queue_at_most_a_few_background_preparations(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    started: list[str] = []

    def slow(path: str, quality: str) -> None:
        started.append(path)
        assert release.wait(10)

    monkeypatch.setattr(images, "prepare", slow)
    line = uploads.UPLOAD_QUEUE
    try:
        jobs = uploads.prepare_uploads([f"/uploads/{i}.png" for i in range(line + 20)], "balanced")
        # The first `line` are running or waiting; the rest are left for when they are asked about.
        assert [job.done() for job in jobs] == [False] * line + [True] * 20
    finally:
        release.set()
    concurrent.futures.wait(jobs, timeout=10)
    assert sorted(started) == sorted(f"/uploads/{i}.png" for i in range(line))
    uploads.prepare_uploads(["/uploads/later.png"], "balanced")[0].result(timeout=10)
    assert started[-1] == "/uploads/later.png"  # the line is free again


# --- the running app -------------------------------------------------------------------------------


@pytest.fixture
def app_process(tmp_path: Path) -> Iterator[tuple[Any, FakeOpenAI]]:
    with FakeOpenAI() as fake:
        running = start_app({"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": TEST_KEY}, tmp_path)
        try:
            yield running, fake
        finally:
            stop_app(running)


def _status_bytes(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def _ask(base: str, files: list[dict[str, Any]], question: str) -> tuple[str, str]:
    """/ask over Gradio's REST API: (its last event, that event's data)."""
    with httpx.Client(base_url=base, timeout=120) as http:
        event = http.post("gradio_api/call/ask", json={"data": [files, question, "", 0.7, 64, "", ""]})
        stream = http.get(f"gradio_api/call/ask/{event.json()['event_id']}").text
    events = [line[6:].strip() for line in stream.splitlines() if line.startswith("event:")]
    data = [line[5:].strip() for line in stream.splitlines() if line.startswith("data:")]
    return events[-1], json.loads(data[-1]) if data else ""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the app's memory from /proc")
def test_eight_bombs_at_once_are_refused_and_a_text_question_is_still_answered(
    app_process: tuple[Any, FakeOpenAI], bombs: dict[str, Callable[[str], bytes]]
) -> None:
    app, fake = app_process
    pid = app.process.pid
    base = _status_bytes(pid, "VmHWM")

    def visitor(i: int) -> tuple[str, str]:
        name = f"bomb{i}.png"
        with httpx.Client(base_url=app.url, timeout=120) as http:  # upload alone starts the work
            response = http.post("gradio_api/upload",
                                 files={"files": (name, bombs["P" if i % 2 else "RGBA"](name), "image/png")})
            [stored] = response.json()
        return _ask(app.url, [{"path": stored, "orig_name": name, "meta": {"_type": "gradio.FileData"}}],
                    "What is in this picture?")

    with concurrent.futures.ThreadPoolExecutor(9) as pool:
        refusals = [pool.submit(visitor, i) for i in range(8)]
        text = pool.submit(_ask, app.url, [], "Meanwhile, a question in words only")
        answer = "Echo: Meanwhile, a question in words only | images: 0 | turn: 1"
        assert text.result() == ("complete", [answer])
        for i, refusal in enumerate(refusals):
            event, data = refusal.result()
            assert event == "error" and f"“bomb{i}.png” has more than" in data["error"]
            assert data["error"].endswith("too many to open safely: remove it or send a smaller version.")
    assert fake.request_count == 1  # no bomb reached the endpoint
    assert _status_bytes(pid, "VmHWM") - base < 2**30  # the peak grew by less than 1 GB
