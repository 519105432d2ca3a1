"""The Test page's images (ui/page/middleware.py TestImages): thumbnails and previews from the
store by digest, an answer's boxes drawn on demand, nothing else served."""

from __future__ import annotations

import asyncio
import io

from PIL import Image

DIGEST = "cd" * 32


class OneImage:
    def __init__(self) -> None:
        buf = io.BytesIO()
        Image.new("RGB", (400, 200), "white").save(buf, "PNG")
        self.data = buf.getvalue()

    def image(self, digest: str) -> bytes | None:
        return self.data if digest == DIGEST else None

    def thumbnail(self, digest: str) -> bytes | None:
        return b"\xff\xd8thumb" if digest == DIGEST else None


def get(path: str, query: str = "") -> tuple[int, bytes, bool]:
    """(status, body, whether Gradio's app was asked instead)."""
    from ui.page.middleware import TestImages

    passed = []

    async def gradio(scope, receive, send):
        passed.append(scope["path"])

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def call():
        app = TestImages(gradio, store=OneImage)
        await app({"type": "http", "method": "GET", "path": path, "query_string": query.encode()},
                  None, send)

    asyncio.run(call())
    if passed:
        return 0, b"", True
    return sent[0]["status"], sent[1]["body"], False


def test_thumbnails_and_previews_are_served_by_digest_and_nothing_else():
    assert get(f"/test-thumb/{DIGEST}")[:2] == (200, b"\xff\xd8thumb")
    status, body, _ = get(f"/test-image/{DIGEST}")
    assert status == 200 and Image.open(io.BytesIO(body)).format == "JPEG"
    assert get(f"/test-image/{'00' * 32}")[0] == 404
    status, body, _ = get(f"/test-thumb/{'00' * 32}")  # no thumbnail: a "no preview" picture
    assert status == 200 and body.startswith(b"<svg") and b"script" not in body
    for path in ("/test-image/../../etc/passwd", f"/test-image/{DIGEST}/x", "/test-thumb/abc",
                 f"/test-thumb/{DIGEST.upper()}"):
        assert get(path)[2], path  # not ours: Gradio answers (404)


def test_an_answers_boxes_are_drawn_on_the_preview_when_asked():
    _, plain, _ = get(f"/test-image/{DIGEST}")
    _, boxed, _ = get(f"/test-image/{DIGEST}", "boxes=250,250,750,750;nan,1,2,3;x")
    with Image.open(io.BytesIO(plain)) as a, Image.open(io.BytesIO(boxed)) as b:
        assert a.convert("RGB").getpixel((200, 50))[1] > 240  # white
        edge = b.convert("RGB").getpixel((200, 50))  # top edge of the box at 0.25 × 200
        assert edge != (255, 255, 255) and min(edge) < 200
        assert b.convert("RGB").getpixel((200, 100))[1] > 240  # inside stays untouched
