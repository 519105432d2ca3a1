"""What preparing an image gives: the payload and what was done to get it, the quality presets,
and the error a file we cannot send raises."""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field

from ui.errors import InputError
from ui.i18n import say

MB = 1024 * 1024


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


class NotPrepared(Exception):
    """prepare(..., cached_only=True) found no prepared copy of the file."""
