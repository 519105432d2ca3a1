"""Memory: what preparing an image will cost (estimated from its header, before decoding), the
budget all preparations in flight share, and the bounded cache of prepared images."""

from __future__ import annotations

import contextlib
import math
import threading
from collections import OrderedDict, deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from PIL import Image

from ui import heap
from ui.imaging.pixels import DRAFT_UNDERSHOOT, GRAY, HIGH_BIT, has_alpha
from ui.imaging.prepared import MB

if TYPE_CHECKING:
    from ui.imaging.prepared import PreparedImage

# Estimated peak bytes (see decode_cost). One image over MAX_DECODE is refused: a 100 MP RGBA PNG or
# palette PNG with a transparent colour (760-890 MB; as a file ~100 KB) is, a 61 MP camera JPEG
# sent at 6000 px ("max", 560 MB) is not, nor an opaque 100 MP PNG sent at 3072 px (570 MB).
MAX_DECODE = 640 * MB
DECODE_BUDGET = 768 * MB  # all preparations in flight together; the excess waits (see Budget)
TRIM_AFTER = 64 * MB  # freed memory is handed back after a preparation (or burst) this big

# glibc serves big allocations (Pillow allocates images in blocks of up to 16 MB) from mmap, given
# back on free, but raises that threshold to the size of each such block freed (up to 32 MB): after
# the first big image every block came from a heap and stayed there (8 bombs left 2.4 GB behind).
# heap.trim() gives the free pages of every heap back. A fixed threshold (mallopt) would too, but
# then every big block costs fresh page faults: a 12 MP photo took 10% longer to prepare. Pillow's
# own cache of freed blocks (PILLOW_BLOCKS_MAX) is empty by default, so that is left alone.


class Cache:
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


class Budget:
    """Bytes that preparations in flight may hold together; a preparation that does not fit waits,
    in order of arrival (a big image is not overtaken forever by a stream of small ones). Freed
    memory goes back to the OS (heap.trim) after a preparation of TRIM_AFTER or more, and when the last
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
                heap.trim()



def bpp(mode: str) -> int:
    """Bytes per pixel Pillow stores for mode (RGB and LA take 4, as RGBA does)."""
    return 1 if mode in ("1", "L", "P") else 2 if mode.startswith("I;16") else 4


# Bytes per pixel some decoders hold besides the image until it is freed (libwebp's canvas and a
# copy; libheif's and libavif's decoded planes), measured as the rest.
_DECODER = {"WEBP": 9, "HEIF": 5, "AVIF": 6}


def decode_cost(im: Image.Image, fmt: str, size: int, target: tuple[int, int] | None) -> int:
    """Estimated peak bytes of preparing im (opened, nothing decoded yet), shrunk to target if any.

    The pixels decoded (a JPEG at the scale draft() will pick) times the bytes per pixel of every
    image alive at once while converting (P with a transparent colour: P, RGBA, flat RGB = 1+4+4);
    when shrinking, at least the converted image plus the resize's intermediate and its output,
    twice (the strips of pixels.resize); plus the file held in memory twice (a PNG as read, then with
    its IDAT chunks joined). Checked against peak RSS per mode (bench/RESULTS.md, bombs).
    """
    w, h = im.size
    if target and fmt in ("JPEG", "MPO"):  # as payload._prepare's draft(): 1/8, 1/4 or 1/2 when enough
        want_w, want_h = (math.ceil(side * DRAFT_UNDERSHOOT) for side in target)
        s = next((s for s in (8, 4, 2, 1) if min(w // want_w, h // want_h) >= s), 1)
        w, h = -(-w // s), -(-h // s)
    mode, px = im.mode, w * h
    out = 1 if mode in GRAY else 4  # the 8-bit L or RGB image that is shrunk and encoded
    if mode in HIGH_BIT:  # → I → point() → L
        convert = bpp(mode) + (0 if mode in ("I", "F") else 4) + 4 + 1
    elif has_alpha(im):  # → RGBA (or LA), pasted onto a new image (L: through a converted copy)
        convert = bpp(mode) + (0 if mode in ("RGBA", "LA") else 4) + out + (out == 1)
    elif mode in ("RGB", "L"):
        convert = bpp(mode)
    else:
        convert = bpp(mode) + out
    peak = px * (convert + _DECODER.get(fmt, 0))
    if target:
        peak = max(peak, out * (px + target[0] * h + 2 * target[0] * target[1]))
    return peak + 2 * size
