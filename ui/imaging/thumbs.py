"""Small JPEG thumbnails of test-set images, made once when an image is stored."""

from __future__ import annotations

import io
import math

from PIL import Image, ImageOps

from ui.imaging.memory import MAX_DECODE, decode_cost

SIDE = 192  # px, the long side: sharp in a 96 px cell on a 2× screen


def thumbnail(data: bytes, side: int = SIDE) -> bytes | None:
    """A JPEG of at most side × side px, oriented as shown, or None if data is no image we read
    (or one whose decoding would cost more than MAX_DECODE: a decompression bomb)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            target = (side, side) if max(im.size) > side else None
            if decode_cost(im, im.format or "?", len(data), target) > MAX_DECODE:
                return None
            im.draft("RGB", (side, side))  # JPEG: decode at 1/2..1/8 scale
            shown = ImageOps.exif_transpose(im)
            shown.thumbnail((side, side), Image.Resampling.BICUBIC)
            if shown.mode not in ("RGB", "L"):
                flat = Image.new("RGB", shown.size, "white")
                rgba = shown.convert("RGBA")
                flat.paste(rgba, mask=rgba)
                shown = flat
            out = io.BytesIO()
            shown.save(out, "JPEG", quality=80)
            return out.getvalue()
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        return None


def estimated_tokens(data: bytes, quality: str = "balanced") -> int:
    """Image tokens the image will cost once prepared at `quality`, from its header alone: its
    size shrunk to the preset's long side (photos, or screenshots and graphics), one token per
    28 × 28 px patch (PreparedImage.est_tokens). 0 if it is no image we read."""
    from ui.imaging.pixels import LOSSY
    from ui.imaging.prepared import QUALITY

    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
            lossy = (im.format or "") in LOSSY
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        return 0
    preset = QUALITY.get(quality, QUALITY["balanced"])
    side = preset.photo_side if lossy else preset.graphic_side
    scale = min(1.0, side / max(w, h, 1))
    return math.ceil(w * scale / 28) * math.ceil(h * scale / 28)
