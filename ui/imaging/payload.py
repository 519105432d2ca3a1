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

import base64
import contextlib
import io
import itertools
import logging
import math
import os
import struct
import threading
import warnings
import zlib
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO, cast

from PIL import Image

from ui import heap
from ui.errors import InputError
from ui.i18n import say

try:  # HEIC/HEIF (iPhone photos) decode only with the optional pillow-heif package
    from pillow_heif import register_heif_opener
except ImportError:  # pragma: no cover - depends on the environment
    HEIF_SUPPORTED = False
else:
    register_heif_opener()
    HEIF_SUPPORTED = True

MB = 1024 * 1024
log = logging.getLogger("glmchat")


class ImageError(InputError):
    """A file we cannot send; .key names a sentence in ui/i18n.py, .params fill it."""

    def __str__(self) -> str:  # logs and tests read the English sentence
        return say("en", self.key, self.params)


@dataclass(frozen=True)
class Preset:
    """Long-side limits and first JPEG qualities of one quality setting."""

    photo_side: int
    graphic_side: int
    photo_quality: int
    graphic_quality: int


QUALITY = {
    "fast": Preset(1024, 1024, 80, 88),
    "balanced": Preset(2048, 3072, 85, 85),
    "max": Preset(6000, 6000, 92, 95),  # as large as max_side and max_bytes allow
}
DRAFT_UNDERSHOOT = 0.9  # a JPEG decoded at 1/2..1/8 scale may land up to 10% under the limit
PNG_SHARE = 0.5  # PNG only while it takes at most this share of max_bytes, else JPEG
PHOTO_RATIO = 0.35  # lossless files compressing worse than this (vs raw) hold photos
_LOSSY = {"JPEG", "MPO", "HEIF", "AVIF"}
_AS_IS = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png"}  # sent untouched
_HIGH_BIT = {"I", "I;16", "I;16L", "I;16B", "I;16N", "F"}
_GRAY = {"1", "L", "LA", "La"} | _HIGH_BIT  # sent as L; palettes count as colour
# EXIF orientation 2..8, as ImageOps.exif_transpose: FLIP_LEFT_RIGHT, ROTATE_180,
# FLIP_TOP_BOTTOM, TRANSPOSE, ROTATE_270, TRANSVERSE, ROTATE_90.
_TRANSPOSE = {o: Image.Transpose(t) for o, t in enumerate((0, 3, 1, 5, 4, 6, 2), start=2)}
# Lanczos keeps small text sharp; bicubic is ~30% cheaper and as good for photos.
_FILTER = {"photo": Image.Resampling.BICUBIC, "graphic": Image.Resampling.LANCZOS}
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"heim", b"mif1", b"msf1")
# What a corrupt file can make Pillow raise while parsing or decoding it.
_CORRUPT = (OSError, SyntaxError, EOFError, ValueError, TypeError, IndexError, struct.error, zlib.error)
_MEMFD = hasattr(os, "memfd_create")  # Linux
REDUCING_GAP = 3.0  # shrinking by 3× or more: integer reduce() first, then a cheap final resize
_CORES = os.cpu_count() or 1
_strips = ThreadPoolExecutor(max_workers=_CORES, thread_name_prefix="resize")  # see _resize
# Estimated peak bytes (see _cost). One image over MAX_DECODE is refused: a 100 MP RGBA PNG or
# palette PNG with a transparent colour (760-890 MB; as a file ~100 KB) is, a 61 MP camera JPEG
# sent at 6000 px ("max", 560 MB) is not, nor an opaque 100 MP PNG sent at 3072 px (570 MB).
MAX_DECODE = 640 * MB
DECODE_BUDGET = 768 * MB  # all preparations in flight together; the excess waits (see _Budget)
TRIM_AFTER = 64 * MB  # freed memory is handed back after a preparation (or burst) this big
UPLOAD_QUEUE = 2 * _CORES  # background preparations queued or running; more wait to be asked about


@dataclass(frozen=True)
class PreparedImage:
    """One image ready to send: the encoded bytes and what was done to get them."""

    data: bytes = field(repr=False)  # never dump megabytes into a log line
    mime: str
    original_size: tuple[int, int]  # as displayed, i.e. after EXIF orientation
    sent_size: tuple[int, int]
    original_bytes: int
    original_format: str
    notes: tuple[str, ...]  # rotated, first_frame, flattened, depth_reduced, converted, as_jpeg,
    # as_png, downscaled, size_limit, recompressed, metadata_removed

    def b64(self) -> str:
        """The payload as raw base64."""
        return base64.b64encode(self.data).decode("ascii")

    def data_url(self) -> str:
        """The payload as a data URL."""
        return f"data:{self.mime};base64,{self.b64()}"

    @property
    def est_tokens(self) -> int:
        """Estimated image tokens: one per 28×28 px patch of sent_size (GLM-4.1V/4.5V style)."""
        w, h = self.sent_size
        return math.ceil(w / 28) * math.ceil(h / 28)


class _Cache:
    """Thread-safe LRU of prepared images, bounded by entry count and total payload bytes."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries, self.max_bytes, self.total = max_entries, max_bytes, 0
        self._items: OrderedDict[tuple[object, ...], PreparedImage] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[object, ...]) -> PreparedImage | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: tuple[object, ...], item: PreparedImage) -> None:
        with self._lock:
            if key in self._items or len(item.data) > self.max_bytes:
                return
            self._items[key] = item
            self.total += len(item.data)
            while len(self._items) > self.max_entries or self.total > self.max_bytes:
                self.total -= len(self._items.popitem(last=False)[1].data)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.total = 0


class _Budget:
    """Bytes that preparations in flight may hold together; a preparation that does not fit waits,
    in order of arrival (a big image is not overtaken forever by a stream of small ones). Freed
    memory goes back to the OS (_trim) after a preparation of TRIM_AFTER or more, and when the last
    one in flight ends a burst that held that much together (without: 8 screenshots of 24 MP at
    once left 833 MB behind, and the fragmented heaps took the peak to 1036 MB, past the budget)."""

    def __init__(self, capacity: int, condition: threading.Condition | None = None) -> None:
        self.capacity, self.used, self.burst = capacity, 0, 0  # burst: most held since idle
        self._condition = condition or threading.Condition()
        self._line: deque[object] = deque()

    @contextlib.contextmanager
    def hold(self, cost: int) -> Iterator[None]:
        """Reserve cost bytes (waiting for them) for the duration of the block."""
        cost = min(cost, self.capacity)  # a single image bigger than the budget runs alone
        ticket = object()
        with self._condition:
            self._line.append(ticket)
            while self._line[0] is not ticket or self.used + cost > self.capacity:
                self._condition.wait()
            self._line.popleft()
            self.used += cost
            self.burst = max(self.burst, self.used)
            self._condition.notify_all()  # the next in line may fit as well
        try:
            yield
        finally:
            with self._condition:
                self.used -= cost
                self._condition.notify_all()
                burst = self.burst if self.used == 0 and not self._line else 0
                if burst:
                    self.burst = 0
            if cost >= TRIM_AFTER or burst >= TRIM_AFTER:  # a trim takes ms (8 ms after 61 MP)
                _trim()


_budget = _Budget(DECODE_BUDGET)


# glibc serves big allocations (Pillow allocates images in blocks of up to 16 MB) from mmap, given
# back on free, but raises that threshold to the size of each such block freed (up to 32 MB): after
# the first big image every block came from a heap and stayed there (8 bombs left 2.4 GB behind).
# heap.trim() gives the free pages of every heap back. A fixed threshold (mallopt) would too, but
# then every big block costs fresh page faults: a 12 MP photo took 10% longer to prepare. Pillow's
# own cache of freed blocks (PILLOW_BLOCKS_MAX) is empty by default, so that is left alone.
_trim = heap.trim


class NotPrepared(Exception):
    """prepare(..., cached_only=True) found no prepared copy of the file."""


# Derived data only, keyed by path + mtime + size (Gradio's upload paths are content-hashed).
_cache = _Cache(128, 256 * MB)
_pending: dict[tuple[object, ...], threading.Event] = {}  # being prepared right now
_pending_lock = threading.Lock()


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


# Uploads prepared as they arrive, at most one per core at a time, oldest first; at most
# UPLOAD_QUEUE in line, so that uploads alone (no question, no session) cannot pile up work.
_uploads = ThreadPoolExecutor(max_workers=_CORES, thread_name_prefix="prepare-upload")
_upload_slots = threading.BoundedSemaphore(UPLOAD_QUEUE)


def prepare_uploads(paths: Iterable[str], quality: str) -> list[Future[None]]:
    """Start preparing files in the background, so the image is ready when the question comes:
    as each upload lands (the page's and API clients' alike), and again when a visitor picks
    another quality. Errors (not an image, ...) wait until the file is asked about. With the line
    full a file is skipped (its future is done at once): it is prepared when it is asked about."""
    jobs: list[Future[None]] = []
    for path in paths:
        if _upload_slots.acquire(blocking=False):
            jobs.append(_uploads.submit(_prepare_in_line, path, quality))
        else:
            log.debug("upload preparation skipped: %d already in line", UPLOAD_QUEUE)
            skipped: Future[None] = Future()
            skipped.set_result(None)
            jobs.append(skipped)
    return jobs


def _prepare_in_line(path: str, quality: str) -> None:
    try:
        _prepare_quietly(path, quality)
    finally:
        _upload_slots.release()


def _prepare_quietly(path: str, quality: str) -> None:
    try:
        prepare(path, quality)
    except (ImageError, OSError):
        pass  # said to the visitor if and when the file is asked about
    except Exception:
        log.exception("preparing an upload failed")


def _prepare(
    f: BinaryIO, name: str, size: int, preset: Preset, max_bytes: int, side: int, max_px: int,
    held: contextlib.ExitStack,
) -> PreparedImage:
    """The uncached work of prepare() on an open file; its budget reservation goes on `held`."""
    head = f.read(4096)
    f.seek(0)
    whole = f.read() if head.startswith(_PNG_SIGNATURE) else None  # a PNG is read once, here
    joined = _one_idat(whole) if whole is not None else None
    source: BinaryIO = io.BytesIO(joined) if joined is not None else f
    f.seek(0)
    try:
        im = Image.open(source)
    except _CORRUPT:
        raise ImageError(_unreadable_key(head), name=name) from None
    # One decoder call for the whole file, not one per 64 KB: the decoder leaves the GIL, and each
    # return has to win it back from a busy event loop (~5 ms a time: a 12 MP photo took ~390 ms
    # instead of ~50 while the server was parsing uploads).
    im.decodermaxblock = max(im.decodermaxblock, size)
    w, h = im.size
    if w * h > max_px:  # decided from the header alone: nothing decoded or allocated yet
        raise ImageError("image_too_large", name=name, limit_mp=max_px / 1e6)
    fmt = im.format or "?"
    deep = fmt == "PNG" and head[24:25] == b"\x10"  # IHDR bit depth: 16-bit RGB opens as "RGB"
    kind = _kind(im, fmt, head, size)
    limit = min(preset.photo_side if kind == "photo" else preset.graphic_side, side)
    scale = min(1.0, limit / max(w, h))
    tw, th = max(1, round(w * scale)), max(1, round(h * scale))  # stored orientation
    # Still from the header (getexif() below decodes a whole PNG): what decoding will cost.
    cost = _cost(im, fmt, size, (tw, th) if scale < 1 else None)
    if cost > MAX_DECODE:  # "more than N megapixels": N = its own count × MAX_DECODE / cost, less
        limit_mp = math.floor(w * h * MAX_DECODE / cost / 1e5) / 10  # than it has, so true
        raise ImageError("image_too_large", name=name, limit_mp=limit_mp)
    held.enter_context(_budget.hold(cost))
    try:
        orientation = int(im.getexif().get(0x0112, 1))  # loads a PNG with a late eXIf chunk
        animated = bool(getattr(im, "is_animated", False)) and fmt != "MPO"  # MPO: gain maps
        plain = im.mode in ("RGB", "L", "P") and "transparency" not in im.info and not deep
        plain = plain and orientation not in _TRANSPOSE and not animated  # no pixel to change
        as_is = plain and fmt in _AS_IS and scale == 1 and size <= max_bytes
        if as_is:
            im.draft(None, (1, 1))  # JPEG: decoding at 1/8 still reads (verifies) every byte
        elif scale < 1:  # JPEG: let libjpeg shrink 2/4/8× while decoding, the fastest resize
            im.draft(None, (math.ceil(tw * DRAFT_UNDERSHOOT), math.ceil(th * DRAFT_UNDERSHOOT)))
        im.load()
    except _CORRUPT:
        raise ImageError("image_truncated", name=name) from None
    shown = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    if as_is:
        if whole is None:
            f.seek(0)
            whole = f.read()
        data = _without_metadata(whole, fmt)
        notes_ = ("metadata_removed",) if len(data) < len(whole) else ()
        return PreparedImage(data, _AS_IS[fmt], shown, shown, size, fmt, notes_)
    notes = ["rotated"] if orientation in _TRANSPOSE else []
    if animated:
        notes.append("first_frame")
    mode, alpha = im.mode, _has_alpha(im)
    out = _to_8bit_rgb_or_l(im)
    del im  # the decoded source is not needed while shrinking (unless it is `out` itself)
    resized = max(out.size) > limit
    if resized:
        out = _resize(out, (tw, th), _FILTER[kind])
    if orientation in _TRANSPOSE:  # after shrinking: transposing fewer pixels is cheaper
        out = out.transpose(_TRANSPOSE[orientation])
    # Resampling smears flat colours into gradients that PNG cannot compress: a downscaled graphic
    # goes straight to JPEG (4:4:4, text stays crisp) instead of paying for a PNG attempt first.
    png_guess = (max_bytes + 1 if resized else size) if fmt in ("PNG", "GIF", "WEBP") else 0
    data, mime, out_size, stepped = _encode(out, kind, preset, max_bytes, png_guess, name)
    # What a person can tell apart: transparency gone, depth or colours changed, another format.
    # Palette and 1-bit images keep their colours exactly as RGB or grey: nothing to say.
    if alpha:
        notes.append("flattened")
    elif deep or mode in _HIGH_BIT:
        notes.append("depth_reduced")
    elif mode not in ("RGB", "L", "P", "1"):  # CMYK, YCbCr, LAB...
        notes.append("converted")
    if _AS_IS.get(fmt) != mime:
        jpeg = mime == _AS_IS["JPEG"]
        notes.append("as_jpeg" if jpeg else "as_png")
    if out_size != shown:
        notes.append("downscaled")
    if stepped:  # lower quality (or fewer pixels) until it fitted max_bytes
        notes.append("size_limit")
    elif not notes:  # the same format again, for no other reason than max_bytes
        notes.append("recompressed")
    return PreparedImage(data, mime, shown, out_size, size, fmt, tuple(notes))


def _resize(im: Image.Image, size: tuple[int, int], resample: Image.Resampling) -> Image.Image:
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


# Metadata that can say where and by whom a picture was taken (EXIF with GPS, XMP, IPTC, PNG text)
# and that no model needs. Colour (ICC in APP2/iCCP, Adobe APP14), MPF and pixels stay untouched.
_JPEG_DROP = {0xE1, 0xED}  # APP1 (EXIF, XMP), APP13 (Photoshop IPTC)
_PNG_DROP = {b"eXIf", b"tEXt", b"zTXt", b"iTXt"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _without_metadata(data: bytes, fmt: str) -> bytes:
    """An untouched JPEG or PNG without its location/camera metadata, losslessly (the segments are
    left out; nothing is decoded). A file whose structure looks wrong is returned as it was."""
    if fmt in ("JPEG", "MPO") and data.startswith(b"\xff\xd8"):
        parts, i = [data[:2]], 2
        while i + 4 <= len(data) and data[i] == 0xFF:
            marker = data[i + 1]
            if marker == 0xDA or not 0xC0 <= marker <= 0xFE:  # SOS: the compressed pixels follow
                break
            end = i + 2 + int.from_bytes(data[i + 2:i + 4], "big")
            if end > len(data) or end < i + 4:
                return data
            if marker not in _JPEG_DROP:
                parts.append(data[i:end])
            i = end
        return b"".join([*parts, data[i:]])
    if fmt == "PNG" and data.startswith(_PNG_SIGNATURE):
        parts, i = [data[:8]], 8
        while i + 12 <= len(data):
            end = i + 12 + int.from_bytes(data[i:i + 4], "big")
            if end > len(data):
                return data
            if data[i + 4:i + 8] not in _PNG_DROP:
                parts.append(data[i:end])
            i = end
        return b"".join([*parts, data[i:]])
    return data


def _one_idat(data: bytes) -> bytes | None:
    """The same PNG with its pixel data (IDAT chunks, 8-64 KB each) joined into one chunk, or None
    if it has one already or looks wrong. Pillow decodes and checks each chunk in a separate call,
    and each call must win the GIL back from a busy event loop (~5 ms a time): a 4000 × 3000
    screenshot took ~480 ms to decode instead of ~100 while the server was busy."""
    chunks, i = [], 8
    while i + 12 <= len(data):
        end = i + 12 + int.from_bytes(data[i:i + 4], "big")
        if end > len(data):
            return None
        chunks.append((data[i + 4:i + 8], i, end))
        i = end
    idat = [n for n, (kind, _, _) in enumerate(chunks) if kind == b"IDAT"]
    if len(idat) < 2 or idat[-1] - idat[0] != len(idat) - 1:  # one already, or not consecutive
        return None
    body = b"".join(data[start + 8:end - 4] for _, start, end in chunks[idat[0]:idat[-1] + 1])
    crc = zlib.crc32(body, zlib.crc32(b"IDAT")).to_bytes(4, "big")
    first, last = chunks[idat[0]][1], chunks[idat[-1]][2]
    return b"".join((data[:first], len(body).to_bytes(4, "big"), b"IDAT", body, crc, data[last:]))


def _unreadable_key(head: bytes) -> str:
    """Tell an SVG or an unsupported HEIC apart from plain garbage, by content."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    svg_at = text.find(b"<svg")
    if text.startswith(b"<?xml") or (svg_at != -1 and b"<html" not in text[:svg_at]):
        return "image_svg"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "image_unreadable" if HEIF_SUPPORTED else "image_heic_unsupported"
    return "image_unreadable"


def _kind(im: Image.Image, fmt: str, head: bytes, size: int) -> str:
    """Classify the source: "photo" (lossy, or lossless but photo-like) or "graphic"."""
    if fmt in _LOSSY:
        return "photo"
    if fmt == "WEBP":
        lossless, lossy = head.find(b"VP8L"), head.find(b"VP8 ")
        return "graphic" if lossless != -1 and (lossy == -1 or lossless < lossy) else "photo"
    if fmt in ("PNG", "GIF") and im.width * im.height > 1_000_000:
        raw = im.width * im.height * len(im.getbands()) * (2 if im.mode in _HIGH_BIT else 1)
        return "photo" if size > PHOTO_RATIO * raw else "graphic"
    return "graphic"  # BMP, TIFF, ICO...: uncompressed or unknown, keep the pixels


def _to_8bit_rgb_or_l(im: Image.Image) -> Image.Image:
    """Return im as 8-bit RGB (or L if it is grey), alpha flattened onto white."""
    if im.mode in ("RGB", "L") and "transparency" not in im.info:
        return im
    if im.mode in _HIGH_BIT:
        wide = im if im.mode in ("I", "F") else im.convert("I")
        lo, hi = cast("tuple[float, float]", wide.getextrema())
        if im.mode != "F" and lo >= 0 and hi <= 65535:  # 16-bit: scale as viewers show it
            lo, hi = 0, 65535
        # Floats and 32-bit integers have no fixed range: stretch the one used.
        return wide.point(lambda v: (v - lo) * (255 / ((hi - lo) or 1))).convert("L")
    target = "L" if im.mode in _GRAY else "RGB"
    if _has_alpha(im):  # transparent pixels are white, not black
        # Pasted through its own alpha onto white: the same pixels as alpha_composite() onto white
        # RGBA, with two full-size images fewer (see _cost).
        rgba = im if im.mode in ("RGBA", "LA") else im.convert("LA" if target == "L" else "RGBA")
        flat = Image.new(target, im.size, "white")
        flat.paste(rgba, mask=rgba)
        return flat
    return im.convert(target)  # CMYK / YCCK, palette, 1-bit, YCbCr, LAB ...


def _has_alpha(im: Image.Image) -> bool:
    """Whether im has an alpha band or a transparent colour (read from the header)."""
    return "A" in im.getbands() or "a" in im.getbands() or "transparency" in im.info


def _bpp(mode: str) -> int:
    """Bytes per pixel Pillow stores for mode (RGB and LA take 4, as RGBA does)."""
    return 1 if mode in ("1", "L", "P") else 2 if mode.startswith("I;16") else 4


# Bytes per pixel some decoders hold besides the image until it is freed (libwebp's canvas and a
# copy; libheif's and libavif's decoded planes), measured as the rest.
_DECODER = {"WEBP": 9, "HEIF": 5, "AVIF": 6}


def _cost(im: Image.Image, fmt: str, size: int, target: tuple[int, int] | None) -> int:
    """Estimated peak bytes of preparing im (opened, nothing decoded yet), shrunk to target if any.

    The pixels decoded (a JPEG at the scale draft() will pick) times the bytes per pixel of every
    image alive at once while converting (P with a transparent colour: P, RGBA, flat RGB = 1+4+4);
    when shrinking, at least the converted image plus the resize's intermediate and its output,
    twice (the strips of _resize); plus the file held in memory twice (a PNG as read, then with
    its IDAT chunks joined). Checked against peak RSS per mode (bench/RESULTS.md, bombs).
    """
    w, h = im.size
    if target and fmt in ("JPEG", "MPO"):  # as _prepare's draft(): 1/8, 1/4 or 1/2 when enough
        want_w, want_h = (math.ceil(side * DRAFT_UNDERSHOOT) for side in target)
        s = next(s for s in (8, 4, 2, 1) if min(w // want_w, h // want_h) >= s)
        w, h = -(-w // s), -(-h // s)
    mode, px = im.mode, w * h
    out = 1 if mode in _GRAY else 4  # the 8-bit L or RGB image that is shrunk and encoded
    if mode in _HIGH_BIT:  # → I → point() → L
        convert = _bpp(mode) + (0 if mode in ("I", "F") else 4) + 4 + 1
    elif _has_alpha(im):  # → RGBA (or LA), pasted onto a new image (L: through a converted copy)
        convert = _bpp(mode) + (0 if mode in ("RGBA", "LA") else 4) + out + (out == 1)
    elif mode in ("RGB", "L"):
        convert = _bpp(mode)
    else:
        convert = _bpp(mode) + out
    peak = px * (convert + _DECODER.get(fmt, 0))
    if target:
        peak = max(peak, out * (px + target[0] * h + 2 * target[0] * target[1]))
    return peak + 2 * size


def _save(im: Image.Image, fmt: str, **options: object) -> bytes:
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


def _encode(
    im: Image.Image, kind: str, preset: Preset, max_bytes: int, png_guess: int, name: str
) -> tuple[bytes, str, tuple[int, int], bool]:
    """Encode within max_bytes: (data, mime, size, whether quality or size had to step down)."""
    budget = max_bytes * PNG_SHARE
    if kind == "graphic" and png_guess <= budget:  # 0: no guess from the source, just try
        data = _save(im, "PNG", compress_level=3)  # on screenshots: no bigger than 6, 30% faster
        if len(data) <= budget:
            return data, "image/png", im.size, False
    first = preset.photo_quality if kind == "photo" else preset.graphic_quality
    # 4:4:4 colour for graphics keeps coloured text crisp; 4:2:0 is right for photos.
    options = {"subsampling": 2 if kind == "photo" else 0}
    qualities = [first, first - 10, first - 20]
    stepped = False
    while True:
        for q in qualities:
            data = _save(im, "JPEG", quality=q, **options)
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
