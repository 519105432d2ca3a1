"""Draw an answer's grounding boxes on the image the model saw (Pillow; no UI here)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ui.markup import Box

COLOURS = ("#ff3b30", "#007aff", "#34c759", "#ff9500", "#af52de", "#00c7be", "#ffcc00")


def draw_boxes(image: bytes, boxes: Sequence[Box], out_dir: Path) -> Path:
    """Write a copy of `image` with each box outlined and numbered; return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"boxes-{uuid.uuid4().hex[:12]}.png"
    path.write_bytes(drawn(image, boxes, "PNG"))
    return path


def drawn(image: bytes, boxes: Sequence[Box], fmt: str = "JPEG") -> bytes:
    """`image` with each box outlined and numbered, encoded as `fmt`."""
    with Image.open(io.BytesIO(image)) as source:
        canvas = source.convert("RGB")
    draw = ImageDraw.Draw(canvas)
    width, height = canvas.size
    line = max(2, round(max(width, height) / 300))
    font = _font(max(14, round(max(width, height) / 40)))
    for box in boxes:
        colour = COLOURS[(box.label - 1) % len(COLOURS)]
        x1, y1, x2, y2 = box.pixels(width, height)
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=line)
        label = str(box.label)
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        tag_w, tag_h = right - left + 2 * line, bottom - top + 2 * line
        ty = y1 - tag_h if y1 - tag_h >= 0 else y1  # above the box when there is room
        draw.rectangle((x1, ty, x1 + tag_w, ty + tag_h), fill=colour)
        draw.text((x1 + line - left, ty + line - top), label, fill="white", font=font)
    out = io.BytesIO()
    if fmt == "PNG":
        canvas.save(out, format="PNG", compress_level=3)
    else:
        canvas.save(out, format="JPEG", quality=85)
    return out.getvalue()


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for name in ("DejaVuSans-Bold.ttf", "Arial Bold.ttf", "arialbd.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)
