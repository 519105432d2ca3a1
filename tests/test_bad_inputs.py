"""A corpus of awkward inputs, made in code, each tried through the chat (Chat.submit, then the
answer) and through `/ask` on the launched app.

Refused inputs end in one sentence naming the problem and nothing reaches the endpoint; odd but
usable ones (huge, 16-bit, CMYK, rotated, animated, HEIC...) are converted and sent; after every
case the app answers a normal question.
"""

from __future__ import annotations

import asyncio
import io
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from tests.conftest import TEST_KEY, AppProcess, Browser, decode_image, make_image
from tests.fake_openai import FakeOpenAI
from ui.page.chat import Chat
from ui.settings import Settings

MB = 1024 * 1024
LOOP = asyncio.new_event_loop()


@pytest.fixture(autouse=True, scope="module")
def _close_loop():
    yield
    LOOP.close()




def chat_for(fake: FakeOpenAI, **overrides: str) -> Chat:
    env = {"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": TEST_KEY,
           "GLM_MODELS": "glm-4.5v,GLM-4V-Plus", "GLM_RETRIES": "0", **overrides}
    return Chat(Settings.from_env(env))


def shown_turn(chat: Chat, value: dict[str, Any], history: list[dict[str, Any]],
               model: str = "glm-4.5v", quality: str = "balanced") -> list[dict[str, Any]]:
    """What Enter shows first: the history with the new turn (or the gr.Error refusing it)."""
    updates = chat.submit(value, history, model, 0.7, 512, "", 1.0, quality, "all", False, "",
                          Browser())

    async def first() -> list[dict[str, Any]]:
        try:
            shown, _, _ = await updates.__anext__()
            return shown
        finally:
            await updates.aclose()

    return LOOP.run_until_complete(first())


def add_turn(chat: Chat, text: str, files: list[str], model: str = "glm-4.5v",
             quality: str = "balanced") -> list[dict[str, Any]]:
    return shown_turn(chat, {"text": text, "files": files}, [], model, quality)


def answer(chat: Chat, history: list[dict[str, Any]], model: str = "glm-4.5v",
           quality: str = "balanced") -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        final: list[dict[str, Any]] = []
        async for shown, _ in chat.respond(history, model, 0.7, 512, "", 1.0, quality, "all", False,
                                           "", Browser()):
            final = shown
        return final

    return LOOP.run_until_complete(run())


# --- the corpus: files written in code ---------------------------------------------------------


def _png(width: int, height: int, color_type: int, depth: int, rows: bytes) -> bytes:
    """A PNG written by hand: for what Pillow will not write (16-bit RGB, absurd sizes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows, 9))
            + chunk(b"IEND", b""))


def _noise(size: tuple[int, int]) -> Image.Image:
    return Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))


def text_as_png(tmp: Path) -> Path:
    (path := tmp / "notes.png").write_text("Shopping list: eggs, milk, bread\n")
    return path


def html_as_png(tmp: Path) -> Path:
    (path := tmp / "page.png").write_text("<!DOCTYPE html><html><body><h1>Hi</h1></body></html>")
    return path


def zero_bytes(tmp: Path) -> Path:
    (path := tmp / "empty.png").write_bytes(b"")
    return path


def truncated_jpeg(tmp: Path) -> Path:
    buf = io.BytesIO()
    _noise((300, 200)).save(buf, "JPEG", quality=90)
    (path := tmp / "cut.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return path


def decompression_bomb(tmp: Path) -> Path:
    side = 12_000  # 144 megapixels of 1-bit black: 18 MB of pixels, a ~20 KB file
    rows = (b"\x00" + bytes((side + 7) // 8)) * side
    (path := tmp / "bomb.png").write_bytes(_png(side, side, 0, 1, rows))
    assert path.stat().st_size < 100_000
    return path


def svg(tmp: Path) -> Path:
    (path := tmp / "logo.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40">'
        '<rect width="40" height="40" fill="red"/></svg>')
    return path


def wide_6001(tmp: Path) -> Path:
    gradient = Image.linear_gradient("L").resize((6001, 120)).convert("RGB")
    gradient.save(path := tmp / "panorama.png")
    return path


def over_5mb(tmp: Path) -> Path:
    _noise((2600, 1900)).save(path := tmp / "noisy.jpg", "JPEG", quality=100)
    assert path.stat().st_size > 5 * MB
    return path


def grey_16bit(tmp: Path) -> Path:
    # Left half black, right half white, in 16-bit grey.
    row = b"\x00" + (b"\x00\x00" * 32 + b"\xff\xff" * 32)
    (path := tmp / "grey16.png").write_bytes(_png(64, 16, 0, 16, row * 16))
    return path


def rgb_16bit(tmp: Path) -> Path:
    row = b"\x00" + b"\xff\xff\x00\x00\x00\x00" * 32  # pure red, 16 bits per channel
    (path := tmp / "red48.png").write_bytes(_png(32, 16, 2, 16, row * 16))
    return path


def cmyk_jpeg(tmp: Path) -> Path:
    Image.new("CMYK", (48, 32), (0, 255, 255, 0)).save(path := tmp / "print.jpg", "JPEG")
    return path


def palette_transparent(tmp: Path) -> Path:
    im = Image.new("P", (40, 20), 0)
    im.putpalette([0, 0, 0, 220, 20, 20] + [0] * 762)
    im.paste(1, (20, 0, 40, 20))  # right half red, left half colour 0 = transparent
    im.save(path := tmp / "sticker.png", transparency=0)
    return path


def animated_gif(tmp: Path) -> Path:
    frames = [Image.new("RGB", (30, 20), c) for c in ((230, 0, 0), (0, 230, 0), (0, 0, 230))]
    frames[0].save(path := tmp / "blink.gif", save_all=True, append_images=frames[1:], duration=100,
                   loop=0)
    return path


def exif_rotated(tmp: Path) -> Path:
    im = Image.new("RGB", (60, 40), (220, 20, 20))
    im.paste((20, 20, 220), (0, 0, 12, 12))  # blue corner, stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": the phone was held upright
    im.save(path := tmp / "phone.jpg", "JPEG", exif=exif, quality=95)
    return path


def heic(tmp: Path) -> Path:
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
        Image.new("RGB", (64, 48), (220, 20, 20)).save(path := tmp / "iphone.heic")
    except Exception as error:  # no encoder in this build of libheif
        pytest.skip(f"cannot write a HEIC file to test with here: {error}")
    return path


def _single(images: list[Image.Image]) -> Image.Image:
    assert len(images) == 1
    return images[0]


def _rgb(im: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    return tuple(im.convert("RGB").getpixel(xy))  # type: ignore[arg-type]


def _near(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def check_6001(urls: list[str], images: list[Image.Image]) -> None:
    w, h = _single(images).size
    assert max(w, h) <= 6000 and 48 <= w / h <= 52  # shrunk, not cropped


def check_5mb(urls: list[str], images: list[Image.Image]) -> None:
    payload = urls[0].split(",", 1)[-1]
    assert len(payload) * 3 / 4 <= 5 * MB
    _single(images).load()  # decodes completely


def check_grey16(urls: list[str], images: list[Image.Image]) -> None:
    im = _single(images)
    assert im.mode in ("L", "RGB")  # 8 bits per channel
    assert _rgb(im, (2, 8))[0] < 20 and _rgb(im, (60, 8))[0] > 235  # not all black, not clipped


def check_red(urls: list[str], images: list[Image.Image]) -> None:
    im = _single(images)
    assert im.mode == "RGB" and _near(_rgb(im, (5, 5)), (220, 20, 20), 45)


def check_palette(urls: list[str], images: list[Image.Image]) -> None:
    im = _single(images)
    assert _near(_rgb(im, (5, 10)), (255, 255, 255), 10)  # transparent became white, not black
    assert _near(_rgb(im, (35, 10)), (220, 20, 20), 10)


def check_gif(urls: list[str], images: list[Image.Image]) -> None:
    im = _single(images)
    assert not getattr(im, "is_animated", False) and im.format != "GIF"
    assert _near(_rgb(im, (10, 10)), (230, 0, 0))  # the first frame


def check_rotated(urls: list[str], images: list[Image.Image]) -> None:
    im = _single(images)
    assert im.size == (40, 60)  # upright, as the phone showed it
    assert im.getexif().get(0x0112, 1) == 1  # no second rotation by the model
    assert _near(_rgb(im, (34, 5)), (20, 20, 220))  # stored top-left is now top-right
    assert _near(_rgb(im, (5, 5)), (220, 20, 20))


ACCEPTED: dict[str, tuple[Callable[[Path], Path], Callable[[list[str], list[Image.Image]], None]]] = {
    "6001 px wide image": (wide_6001, check_6001),
    "image over 5 MB": (over_5mb, check_5mb),
    "16-bit grey PNG": (grey_16bit, check_grey16),
    "16-bit RGB PNG": (rgb_16bit, check_red),
    "CMYK JPEG": (cmyk_jpeg, check_red),
    "palette PNG with transparency": (palette_transparent, check_palette),
    "animated GIF": (animated_gif, check_gif),
    "EXIF-rotated JPEG": (exif_rotated, check_rotated),
    "HEIC photo": (heic, check_red),
}


@dataclass(frozen=True)
class Refused:
    text: str
    files: Callable[[Path], list[Path]]
    words: tuple[str, ...]
    model: str = "glm-4.5v"


def _one(maker: Callable[[Path], Path]) -> Callable[[Path], list[Path]]:
    return lambda tmp: [maker(tmp)]


def _six_images(tmp: Path) -> list[Path]:
    return [make_image(tmp / f"page{i}.png", (20, 20), (i * 40, 0, 0)) for i in range(6)]


REFUSED: dict[str, Refused] = {
    "empty message": Refused("", lambda tmp: [], ("Type a question or add an image",)),
    "text file renamed .png": Refused("What is this?", _one(text_as_png),
                                      ("notes.png", "not an image")),
    "HTML file renamed .png": Refused("What is this?", _one(html_as_png), ("page.png", "not an image")),
    "zero-byte file": Refused("What is this?", _one(zero_bytes), ("empty.png", "empty (0 bytes)")),
    "truncated JPEG": Refused("What is this?", _one(truncated_jpeg), ("cut.jpg", "cut off or damaged")),
    "decompression bomb": Refused("What is this?", _one(decompression_bomb),
                                  ("bomb.png", "more than 100 megapixels")),
    "SVG drawing": Refused("What is this?", _one(svg), ("logo.svg", "SVG", "PNG")),
    "more images than the model allows": Refused("Compare these", _six_images,
                                                 ("at most 5 images", "has 6"), "GLM-4V-Plus"),
    "pasted file:// link": Refused("What is in this picture?\nfile:///etc/passwd", lambda tmp: [],
                                   ("Only http(s) image links", "file:///etc/passwd")),
    "pasted javascript: link": Refused("javascript:alert(document.cookie)\nWhat is this?",
                                       lambda tmp: [], ("Only http(s) image links", "javascript:")),
}

LONG_QUESTION = "Q" + "0123456789" * 3_199 + "?" * 9  # 32 000 characters (the cap), one "word"
ODD_TEXT = "What\x07 is\x1b[31m this\x7f?\x00 مرحبا، ما هذا؟ \u202eabc\u202c שלום \u200f"
TEXTS = {"32 000-character question": LONG_QUESTION,
         "control characters and right-to-left text": ODD_TEXT}


# --- through the chat ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(REFUSED))
def test_chat_refuses_bad_input_with_one_sentence_and_sends_nothing(name: str, fake: FakeOpenAI,
                                                                    tmp_path: Path) -> None:
    case = REFUSED[name]
    chat = chat_for(fake)
    history: list[dict[str, Any]] = []
    with pytest.raises(gr.Error) as info:
        shown_turn(chat, {"text": case.text, "files": [str(p) for p in case.files(tmp_path)]},
                   history, case.model)
    message = info.value.message
    assert all(word in message for word in case.words), message
    assert "\n" not in message and "{" not in message and "Traceback" not in message
    assert history == [] and fake.request_count == 0
    assert "Echo: still fine?" in str(answer(chat, add_turn(chat, "still fine?", [])))


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_chat_converts_awkward_images_and_sends_them(name: str, fake: FakeOpenAI,
                                                     tmp_path: Path) -> None:
    maker, check = ACCEPTED[name]
    path = maker(tmp_path)
    chat = chat_for(fake)
    history = add_turn(chat, "What is this?", [str(path)], quality="max")
    final = answer(chat, history, quality="max")
    assert final[0] == history[0]
    assert "| images: 1 |" in str(final) and "⚠️" not in str(final)
    urls = fake.requests[-1].images()
    check(urls, [decode_image(u) for u in urls])


@pytest.mark.parametrize("name", list(TEXTS))
def test_chat_sends_unusual_text_exactly_as_typed(name: str, fake: FakeOpenAI) -> None:
    chat = chat_for(fake)
    text = TEXTS[name]
    final = answer(chat, add_turn(chat, text, []))
    assert fake.requests[-1].last_user_text() == text.strip()
    assert "⚠️" not in str(final)


def test_chat_sends_unicode_line_separators_as_typed(fake: FakeOpenAI) -> None:
    chat = chat_for(fake)
    text = "first\u2028second\x0cthird\x1ddone"
    answer(chat, add_turn(chat, text, []))
    assert fake.requests[-1].last_user_text() == text


def test_chat_refuses_a_file_over_the_upload_cap(fake: FakeOpenAI, tmp_path: Path) -> None:
    big = tmp_path / "huge.png"
    _noise((700, 700)).save(big, "PNG")  # ~1.4 MB
    chat = chat_for(fake, GLM_MAX_UPLOAD_MB="1")
    with pytest.raises(gr.Error, match=r"“huge\.png” is larger than the 1 MB upload limit"):
        add_turn(chat, "What is this?", [str(big)])
    assert fake.request_count == 0


# --- through /ask on the launched app -----------------------------------------------------------


@pytest.fixture
def client(app: AppProcess, module_fake: FakeOpenAI) -> Client:
    module_fake.reset()
    return Client(app.url, verbose=False)


def still_serving(client: Client) -> None:
    assert client.predict([], "and now a normal question", api_name="/ask").startswith(
        "Echo: and now a normal question | images: 0")


@pytest.mark.parametrize("name", list(REFUSED))
def test_ask_api_refuses_bad_input_with_one_sentence(name: str, client: Client,
                                                     module_fake: FakeOpenAI, tmp_path: Path) -> None:
    case = REFUSED[name]
    files = [handle_file(str(p)) for p in case.files(tmp_path)]
    with pytest.raises(AppError) as info:
        client.predict(files, case.text, case.model, api_name="/ask")
    message = str(info.value)
    assert all(word in message for word in case.words), message
    assert "Traceback" not in message and "{" not in message
    assert module_fake.request_count == 0
    still_serving(client)


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_ask_api_converts_awkward_images_and_sends_them(name: str, client: Client,
                                                        module_fake: FakeOpenAI,
                                                        tmp_path: Path) -> None:
    maker, check = ACCEPTED[name]
    reply = client.predict([handle_file(str(maker(tmp_path)))], "What is this?", "glm-4.5v",
                           api_name="/ask")
    assert reply == "Echo: What is this? | images: 1 | turn: 1"
    urls = module_fake.requests[-1].images()
    check(urls, [decode_image(u) for u in urls])
    still_serving(client)


@pytest.mark.parametrize("name", list(TEXTS))
def test_ask_api_sends_unusual_text_exactly_as_typed(name: str, client: Client,
                                                     module_fake: FakeOpenAI) -> None:
    text = TEXTS[name]
    reply = client.predict([], text, "glm-4.5v", api_name="/ask")
    assert module_fake.requests[-1].last_user_text() == text.strip()
    assert reply.startswith("Echo: ")
    still_serving(client)


def test_ask_api_upload_over_the_cap_is_refused_before_it_is_sent(client: Client, app: AppProcess,
                                                                  module_fake: FakeOpenAI,
                                                                  tmp_path: Path) -> None:
    import httpx

    big = tmp_path / "scan.png"
    with big.open("wb") as f:  # 21 MB: over the app's default GLM_MAX_UPLOAD_MB of 20
        f.write(b"\x89PNG\r\n\x1a\n")
        f.truncate(21 * MB)
    # gradio_client reads the limit from the app and says so before uploading...
    with pytest.raises(ValueError, match=r"exceeds the maximum file size of 20971520 bytes"):
        client.predict([handle_file(str(big))], "What is this?", api_name="/ask")
    # ...and the upload route itself (what the page and other clients use) answers 413.
    with big.open("rb") as f:
        response = httpx.post(app.url + "gradio_api/upload", files={"files": ("scan.png", f)},
                              timeout=60)
    assert response.status_code == 413
    assert "maximum allowed size of 20971520 bytes" in response.text
    assert module_fake.request_count == 0
    still_serving(client)


def test_compare_refuses_a_file_over_the_upload_cap_as_the_chat_does(fake: FakeOpenAI,
                                                                      tmp_path: Path) -> None:
    from tests.conftest import Browser
    from ui.page.compare import Compare

    big = tmp_path / "huge.png"
    _noise((700, 700)).save(big, "PNG")  # ~1.4 MB
    chat = chat_for(fake, GLM_MAX_UPLOAD_MB="1")
    page = Compare(chat.settings, chat, gr.I18n())
    controls = ["glm-4.5v", "GLM-4V-Plus", "", "", 0.7, 0.7, 0.7, 0.7, 256, "", "balanced", False, ""]

    async def first() -> Any:
        steps = page.ask({"text": "What is this?", "files": [str(big)]}, None, "named", 2, Browser(),
                         *controls)
        return await anext(steps)

    with pytest.raises(gr.Error, match=r"“huge\.png” is larger than the 1 MB upload limit"):
        asyncio.run(first())
    assert fake.request_count == 0
