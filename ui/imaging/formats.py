"""What a file is, read from its bytes (nothing decoded): HEIC support, what an unreadable file
most likely is, location metadata left out losslessly, a PNG's pixel chunks joined."""

from __future__ import annotations

import zlib

try:  # HEIC/HEIF (iPhone photos) decode only with the optional pillow-heif package
    from pillow_heif import register_heif_opener
except ImportError:  # pragma: no cover - depends on the environment
    HEIF_SUPPORTED = False
else:
    register_heif_opener()
    HEIF_SUPPORTED = True

HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"heim", b"mif1", b"msf1")

# Metadata that can say where and by whom a picture was taken (EXIF with GPS, XMP, IPTC, PNG text)
# and that no model needs. Colour (ICC in APP2/iCCP, Adobe APP14), MPF and pixels stay untouched.
_JPEG_DROP = {0xE1, 0xED}  # APP1 (EXIF, XMP), APP13 (Photoshop IPTC)
_PNG_DROP = {b"eXIf", b"tEXt", b"zTXt", b"iTXt"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def without_metadata(data: bytes, fmt: str) -> bytes:
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
    if fmt == "PNG" and data.startswith(PNG_SIGNATURE):
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


def one_idat(data: bytes) -> bytes | None:
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


def unreadable_key(head: bytes) -> str:
    """Tell an SVG or an unsupported HEIC apart from plain garbage, by content."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    svg_at = text.find(b"<svg")
    if text.startswith(b"<?xml") or (svg_at != -1 and b"<html" not in text[:svg_at]):
        return "image_svg"
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return "image_unreadable" if HEIF_SUPPORTED else "image_heic_unsupported"
    return "image_unreadable"
