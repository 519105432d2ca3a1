"""Pixels: what kind of image it is, 8-bit RGB or grey with alpha flattened, shrunk on every core,
and encoded within a byte limit (through an in-memory file, so the GIL is left while encoding)."""

from __future__ import annotations

import io
import itertools
import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import cast

from PIL import Image

from ui.imaging.prepared import MB, ImageError, Preset

DRAFT_UNDERSHOOT = 0.9  # a JPEG decoded at 1/2..1/8 scale may land up to 10% under the limit
PNG_SHARE = 0.5  # PNG only while it takes at most this share of max_bytes, else JPEG
PHOTO_RATIO = 0.35  # lossless files compressing worse than this (vs raw) hold photos
LOSSY = {"JPEG", "MPO", "HEIF", "AVIF"}
HIGH_BIT = {"I", "I;16", "I;16L", "I;16B", "I;16N", "F"}
GRAY = {"1", "L", "LA", "La"} | HIGH_BIT  # sent as L; palettes count as colour
# Lanczos keeps small text sharp; bicubic is ~30% cheaper and as good for photos.
FILTER = {"photo": Image.Resampling.BICUBIC, "graphic": Image.Resampling.LANCZOS}
_MEMFD = hasattr(os, "memfd_create")  # Linux
REDUCING_GAP = 3.0  # shrinking by 3× or more: integer reduce() first, then a cheap final resize
_CORES = os.cpu_count() or 1
_strips = ThreadPoolExecutor(max_workers=_CORES, thread_name_prefix="resize")  # see resize


def kind_of(im: Image.Image, fmt: str, head: bytes, size: int) -> str:
    """Classify the source: "photo" (lossy, or lossless but photo-like) or "graphic"."""
    if fmt in LOSSY:
        return "photo"
    if fmt == "WEBP":
        lossless, lossy = head.find(b"VP8L"), head.find(b"VP8 ")
        return "graphic" if lossless != -1 and (lossy == -1 or lossless < lossy) else "photo"
    if fmt in ("PNG", "GIF") and im.width * im.height > 1_000_000:
        raw = im.width * im.height * len(im.getbands()) * (2 if im.mode in HIGH_BIT else 1)
        return "photo" if size > PHOTO_RATIO * raw else "graphic"
    return "graphic"  # BMP, TIFF, ICO...: uncompressed or unknown, keep the pixels


def to_8bit_rgb_or_l(im: Image.Image) -> Image.Image:
    """Return im as 8-bit RGB (or L if it is grey), alpha flattened onto white."""
    if im.mode in ("RGB", "L") and "transparency" not in im.info:
        return im
    if im.mode in HIGH_BIT:
        wide = im if im.mode in ("I", "F") else im.convert("I")
        lo, hi = cast("tuple[float, float]", wide.getextrema())
        if im.mode != "F" and lo >= 0 and hi <= 65535:  # 16-bit: scale as viewers show it
            lo, hi = 0, 65535
        # Floats and 32-bit integers have no fixed range: stretch the one used.
        return wide.point(lambda v: (v - lo) * (255 / ((hi - lo) or 1))).convert("L")
    target = "L" if im.mode in GRAY else "RGB"
    if has_alpha(im):  # transparent pixels are white, not black
        # Pasted through its own alpha onto white: the same pixels as alpha_composite() onto white
        # RGBA, with two full-size images fewer (see memory.decode_cost).
        rgba = im if im.mode in ("RGBA", "LA") else im.convert("LA" if target == "L" else "RGBA")
        flat = Image.new(target, im.size, "white")
        flat.paste(rgba, mask=rgba)
        return flat
    return im.convert(target)  # CMYK / YCCK, palette, 1-bit, YCbCr, LAB ...


def has_alpha(im: Image.Image) -> bool:
    """Whether im has an alpha band or a transparent colour (read from the header)."""
    return "A" in im.getbands() or "a" in im.getbands() or "transparency" in im.info


def resize(im: Image.Image, size: tuple[int, int], resample: Image.Resampling) -> Image.Image:
    """im.resize(size, resample, reducing_gap=3), in horizontal strips on every core.

    The same pixels as one call: each strip's filter reads the source rows around its box (the
    float box of a strip can round one value in a few hundred off by 1). Pillow leaves the GIL
    while resizing, so a 4000 × 3000 screenshot's Lanczos takes ~75 ms instead of ~140 on two
    cores. Shrinking 6× or more first reduce()s by whole blocks: then one call.
    """
    w, h = size
    scale = im.height / h
    strips = min(_CORES, h // 256)
    if strips < 2 or max(im.width / w, scale) >= 2 * REDUCING_GAP or im.width * im.height < 4_000_000:
        return im.resize(size, resample, reducing_gap=REDUCING_GAP)
    rows = [h * k // strips for k in range(strips + 1)]
    jobs = [_strips.submit(im.resize, (w, bottom - top), resample,
                           (0, top * scale, im.width, bottom * scale))
            for top, bottom in itertools.pairwise(rows)]
    out = Image.new(im.mode, size)
    for top, job in zip(rows, jobs, strict=False):
        out.paste(job.result(), (0, top))
    return out


def save(im: Image.Image, fmt: str, **options: object) -> bytes:
    """Encode im in memory.

    Pillow's JPEG encoder holds the GIL while it writes into a BytesIO, but not while it writes
    into a real file: through a BytesIO one 12 MP photo would stall every other visitor's stream
    for ~7 ms (a screenshot ~20 ms), and preparations on two cores would not run side by side.
    So on Linux the bytes go through an anonymous in-memory file (memfd).
    """
    global _MEMFD
    fd = -1
    if _MEMFD:
        try:
            fd = os.memfd_create("glm-image", os.MFD_CLOEXEC)
        except OSError:  # a sandbox that forbids it: BytesIO from now on
            _MEMFD = False
    if fd < 0:
        buf = io.BytesIO()
        im.save(buf, fmt, **options)
        return buf.getvalue()
    with os.fdopen(fd, "w+b") as f:
        im.save(f, fmt, **options)
        f.flush()
        f.seek(0)
        return f.read()


def encode(
    im: Image.Image, kind: str, preset: Preset, max_bytes: int, png_guess: int, name: str
) -> tuple[bytes, str, tuple[int, int], bool]:
    """Encode within max_bytes: (data, mime, size, whether quality or size had to step down)."""
    budget = max_bytes * PNG_SHARE
    if kind == "graphic" and png_guess <= budget:  # 0: no guess from the source, just try
        data = save(im, "PNG", compress_level=3)  # on screenshots: no bigger than 6, 30% faster
        if len(data) <= budget:
            return data, "image/png", im.size, False
    first = preset.photo_quality if kind == "photo" else preset.graphic_quality
    # 4:4:4 colour for graphics keeps coloured text crisp; 4:2:0 is right for photos.
    options = {"subsampling": 2 if kind == "photo" else 0}
    qualities = [first, first - 10, first - 20]
    stepped = False
    while True:
        for q in qualities:
            data = save(im, "JPEG", quality=q, **options)
            if len(data) <= max_bytes:
                return data, "image/jpeg", im.size, stepped
            stepped = True
        # Still too big at the lowest quality: shrink by the area the bytes say is needed.
        ratio = min(0.9, math.sqrt(max_bytes / len(data)) * 0.95)
        size = (max(1, round(im.width * ratio)), max(1, round(im.height * ratio)))
        if max(size) < 64:
            raise ImageError("image_cannot_fit", name=name, limit_mb=max_bytes / MB)
        im = im.resize(size, Image.Resampling.LANCZOS)
        qualities = qualities[-1:]
