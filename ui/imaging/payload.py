"""Turn one uploaded file into the image payload sent to the model (the only module importing PIL).

Encoding rule: photos (JPEG, HEIF, lossy WebP, and big lossless files that compress like photos)
are sent as JPEG at the preset's photo size (balanced: long side 2048 px, quality 85).
Screenshots, scans and graphics (PNG, GIF, BMP, lossless WebP, ...) keep more pixels (balanced:
3072 px, so 12 px text in a 4000×3000 screenshot stays ≥ 9 px) and are sent as PNG when they need
no resizing and that takes at most half of `max_bytes`, else as JPEG (balanced: quality 85) with
full-resolution colour, which keeps small coloured text crisp. Whatever is
still over `max_bytes` is re-encoded at lower quality, then smaller, until it fits: nothing is
rejected for being big, only for declaring more than `max_pixels`, or a size whose decoding would
take more than `MAX_DECODE` bytes (a decompression bomb; both read from the header). A JPEG or
PNG that already fits and needs no rotation or conversion is sent byte for byte as uploaded.

Memory: every preparation reserves its estimated cost from one process-wide budget before it
decodes anything (the excess waits its turn), and what it freed is handed back to the OS.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import struct
import threading
import warnings
import zlib
from typing import BinaryIO

from PIL import Image

from ui.imaging.formats import PNG_SIGNATURE, one_idat, unreadable_key, without_metadata
from ui.imaging.memory import DECODE_BUDGET, MAX_DECODE, Budget, Cache, decode_cost
from ui.imaging.pixels import (
    DRAFT_UNDERSHOOT,
    FILTER,
    HIGH_BIT,
    encode,
    has_alpha,
    kind_of,
    resize,
    to_8bit_rgb_or_l,
)
from ui.imaging.prepared import MB, QUALITY, ImageError, NotPrepared, PreparedImage, Preset

__all__ = ["MB", "QUALITY", "ImageError", "NotPrepared", "PreparedImage", "clear_cache", "prepare"]

log = logging.getLogger("glmchat")
AS_IS = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png"}  # sent untouched
# EXIF orientation 2..8, as ImageOps.exif_transpose: FLIP_LEFT_RIGHT, ROTATE_180,
# FLIP_TOP_BOTTOM, TRANSPOSE, ROTATE_270, TRANSVERSE, ROTATE_90.
TRANSPOSE = {o: Image.Transpose(t) for o, t in enumerate((0, 3, 1, 5, 4, 6, 2), start=2)}
# What a corrupt file can make Pillow raise while parsing or decoding it.
CORRUPT = (OSError, SyntaxError, EOFError, ValueError, TypeError, IndexError, struct.error, zlib.error)

_budget = Budget(DECODE_BUDGET)
# Derived data only, keyed by path + mtime + size (Gradio's upload paths are content-hashed).
_cache = Cache(128, 256 * MB)
_pending: dict[tuple[object, ...], threading.Event] = {}  # being prepared right now
_pending_lock = threading.Lock()


def cache_size() -> tuple[int, int]:
    """(prepared images, their bytes) the cache holds."""
    return len(_cache._items), _cache.total


def clear_cache() -> None:
    """Forget every prepared image."""
    _cache.clear()


def prepare(
    path: str | os.PathLike[str],
    quality: str = "balanced",
    *,
    max_bytes: int = 5 * MB,
    max_side: int = 6000,
    max_pixels: int = 100_000_000,
    cached_only: bool = False,
) -> PreparedImage:
    """Verify, orient, convert, shrink and encode one image file; cached per file version.

    cached_only: raise NotPrepared instead of doing the work (a caller in the event loop).
    """
    if quality not in QUALITY:
        raise ValueError(f"quality must be one of {sorted(QUALITY)}, not {quality!r}")
    path = os.path.abspath(path)
    name = os.path.basename(path)
    try:
        st = os.stat(path)
    except OSError:
        raise ImageError("image_missing", name=name) from None
    key = (path, st.st_ino, st.st_mtime_ns, st.st_size, quality, max_bytes, max_side, max_pixels)
    while True:
        if (hit := _cache.get(key)) is not None:
            return hit
        if cached_only:
            raise NotPrepared(path)
        with _pending_lock:  # one preparation per file: a second caller waits for the first
            pending = _pending.get(key)
            if pending is None:
                _pending[key] = threading.Event()
                break
        pending.wait()  # then the cache has it, or that attempt failed and we try ourselves
    try:
        if st.st_size == 0:
            raise ImageError("image_empty", name=name)
        # The size checks in _prepare replace Pillow's bomb warning; catching it here leaves the
        # global MAX_IMAGE_PIXELS alone (catch_warnings is process-wide, a race only hides a warning).
        # `held` keeps _prepare's share of the budget until its images are freed (on return).
        with open(path, "rb") as f, warnings.catch_warnings(), contextlib.ExitStack() as held:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            try:
                result = _prepare(f, name, st.st_size, QUALITY[quality], max_bytes, max_side,
                                  max_pixels, held)
            except Image.DecompressionBombError:
                raise ImageError("image_too_large", name=name, limit_mp=max_pixels / 1e6) from None
        _cache.put(key, result)
        return result
    finally:
        with _pending_lock:
            _pending.pop(key).set()


def _prepare(
    f: BinaryIO, name: str, size: int, preset: Preset, max_bytes: int, side: int, max_px: int,
    held: contextlib.ExitStack,
) -> PreparedImage:
    """The uncached work of prepare() on an open file; its budget reservation goes on `held`."""
    head = f.read(4096)
    f.seek(0)
    whole = f.read() if head.startswith(PNG_SIGNATURE) else None  # a PNG is read once, here
    joined = one_idat(whole) if whole is not None else None
    source: BinaryIO = io.BytesIO(joined) if joined is not None else f
    f.seek(0)
    try:
        im = Image.open(source)
    except CORRUPT:
        raise ImageError(unreadable_key(head), name=name) from None
    # One decoder call for the whole file, not one per 64 KB: the decoder leaves the GIL, and each
    # return has to win it back from a busy event loop (~5 ms a time: a 12 MP photo took ~390 ms
    # instead of ~50 while the server was parsing uploads).
    im.decodermaxblock = max(im.decodermaxblock, size)
    w, h = im.size
    if w * h > max_px:  # decided from the header alone: nothing decoded or allocated yet
        raise ImageError("image_too_large", name=name, limit_mp=max_px / 1e6)
    fmt = im.format or "?"
    deep = fmt == "PNG" and head[24:25] == b"\x10"  # IHDR bit depth: 16-bit RGB opens as "RGB"
    kind = kind_of(im, fmt, head, size)
    limit = min(preset.photo_side if kind == "photo" else preset.graphic_side, side)
    scale = min(1.0, limit / max(w, h))
    tw, th = max(1, round(w * scale)), max(1, round(h * scale))  # stored orientation
    # Still from the header (getexif() below decodes a whole PNG): what decoding will cost.
    cost = decode_cost(im, fmt, size, (tw, th) if scale < 1 else None)
    if cost > MAX_DECODE:  # "more than N megapixels": N = its own count × MAX_DECODE / cost, less
        limit_mp = math.floor(w * h * MAX_DECODE / cost / 1e5) / 10  # than it has, so true
        raise ImageError("image_too_large", name=name, limit_mp=limit_mp)
    held.enter_context(_budget.hold(cost))
    try:
        orientation = int(im.getexif().get(0x0112, 1))  # loads a PNG with a late eXIf chunk
        animated = bool(getattr(im, "is_animated", False)) and fmt != "MPO"  # MPO: gain maps
        plain = im.mode in ("RGB", "L", "P") and "transparency" not in im.info and not deep
        plain = plain and orientation not in TRANSPOSE and not animated  # no pixel to change
        as_is = plain and fmt in AS_IS and scale == 1 and size <= max_bytes
        if as_is:
            im.draft(None, (1, 1))  # JPEG: decoding at 1/8 still reads (verifies) every byte
        elif scale < 1:  # JPEG: let libjpeg shrink 2/4/8× while decoding, the fastest resize
            im.draft(None, (math.ceil(tw * DRAFT_UNDERSHOOT), math.ceil(th * DRAFT_UNDERSHOOT)))
        im.load()
    except CORRUPT:
        raise ImageError("image_truncated", name=name) from None
    shown = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    if as_is:
        if whole is None:
            f.seek(0)
            whole = f.read()
        data = without_metadata(whole, fmt)
        notes_ = ("metadata_removed",) if len(data) < len(whole) else ()
        return PreparedImage(data, AS_IS[fmt], shown, shown, size, fmt, notes_)
    notes = ["rotated"] if orientation in TRANSPOSE else []
    if animated:
        notes.append("first_frame")
    mode, alpha = im.mode, has_alpha(im)
    out = to_8bit_rgb_or_l(im)
    del im  # the decoded source is not needed while shrinking (unless it is `out` itself)
    resized = max(out.size) > limit
    if resized:
        out = resize(out, (tw, th), FILTER[kind])
    if orientation in TRANSPOSE:  # after shrinking: transposing fewer pixels is cheaper
        out = out.transpose(TRANSPOSE[orientation])
    # Resampling smears flat colours into gradients that PNG cannot compress: a downscaled graphic
    # goes straight to JPEG (4:4:4, text stays crisp) instead of paying for a PNG attempt first.
    png_guess = (max_bytes + 1 if resized else size) if fmt in ("PNG", "GIF", "WEBP") else 0
    data, mime, out_size, stepped = encode(out, kind, preset, max_bytes, png_guess, name)
    # What a person can tell apart: transparency gone, depth or colours changed, another format.
    # Palette and 1-bit images keep their colours exactly as RGB or grey: nothing to say.
    if alpha:
        notes.append("flattened")
    elif deep or mode in HIGH_BIT:
        notes.append("depth_reduced")
    elif mode not in ("RGB", "L", "P", "1"):  # CMYK, YCbCr, LAB...
        notes.append("converted")
    if AS_IS.get(fmt) != mime:
        jpeg = mime == AS_IS["JPEG"]
        notes.append("as_jpeg" if jpeg else "as_png")
    if out_size != shown:
        notes.append("downscaled")
    if stepped:  # lower quality (or fewer pixels) until it fitted max_bytes
        notes.append("size_limit")
    elif not notes:  # the same format again, for no other reason than max_bytes
        notes.append("recompressed")
    return PreparedImage(data, mime, shown, out_size, size, fmt, tuple(notes))
