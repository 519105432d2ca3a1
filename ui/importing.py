"""Conversations back in: a file exported by ui/export.py, untrusted. Pure functions, no gradio.

    from_json(text, upload_dir)       the history and settings: images verified and written under
                                      upload_dir
    from_file(path, upload_dir)       the same for an uploaded file, size checked before reading

Names are checked and replaced, bytes must be an image (ui.imaging.payload), sizes and counts are
capped, and a refused import leaves nothing behind. Texts and titles are sanitized
(ui/sanitize.py) like everything the chat shows. Nothing that looks like a secret, and no
setting that names an endpoint, is taken from the file.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ui.export_format import (
    FORMAT,
    MAX_BYTES,
    VERSION,
    ExportError,
    History,
    clean_metadata,
    safe_name,
    safe_settings,
)
from ui.imaging.payload import ImageError, prepare
from ui.sanitize import sanitize

MAX_MESSAGES = 2000
MAX_TEXT = MAX_BYTES * 4 // 3 + 16 * 1024 * 1024  # the JSON text: base64 plus room for words
MISSING_IMAGE = "(image {name} was not included in the export)"

# Never taken from an imported file: pointing the server's key at another host would leak it.
_IMPORT_DENY = re.compile(r"url|endpoint|host|base|proxy", re.I)
_DATA_URL = re.compile(r"^data:(?P<mime>image/[\w.+-]+);base64,(?P<data>[A-Za-z0-9+/]*={0,2})$")
_EXT = {"JPEG": (".jpg", ".jpeg", ".jpe"), "MPO": (".jpg", ".jpeg", ".mpo"), "PNG": (".png",),
        "GIF": (".gif",), "WEBP": (".webp",), "BMP": (".bmp",), "TIFF": (".tif", ".tiff"),
        "HEIF": (".heic", ".heif"), "AVIF": (".avif",), "ICO": (".ico",)}


def from_json(text: str | bytes, upload_dir: Path) -> tuple[History, dict[str, Any]]:
    """(history for gr.Chatbot, settings) from an export; ExportError, nothing written, if refused."""
    if len(text) > MAX_TEXT:
        raise ExportError("import_too_large", limit_mb=MAX_BYTES / 2**20)
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ExportError("import_not_json", detail=str(e)[:80]) from None
    _check_header(document)
    raw_messages = document.get("messages")
    if not isinstance(raw_messages, list):
        raise ExportError("import_bad_message", index=0, detail="no message list")
    if len(raw_messages) > MAX_MESSAGES:
        raise ExportError("import_too_many_messages", count=len(raw_messages), limit=MAX_MESSAGES)
    # Check everything before the first byte is written; images are decoded one at a time later.
    decoded = [_decode_message(i, m) for i, m in enumerate(raw_messages, start=1)]
    total = sum(_decoded_size(b64) for _, parts, _ in decoded for kind, _, b64 in parts if kind == "image")
    if total > MAX_BYTES:
        raise ExportError("import_too_large", limit_mb=MAX_BYTES / 2**20)
    settings = document.get("settings")
    settings = settings if isinstance(settings, Mapping) else {}
    clean_settings = {k: v for k, v in safe_settings(settings).items() if not _IMPORT_DENY.search(k)}
    folder = Path(upload_dir) / f"import-{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    try:
        history = _write_history(decoded, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return history, clean_settings


def from_file(path: str | os.PathLike[str], upload_dir: Path) -> tuple[History, dict[str, Any]]:
    """from_json of a file on disk, refused by its size before it is read."""
    if os.path.getsize(path) > MAX_TEXT:
        raise ExportError("import_too_large", limit_mb=MAX_BYTES / 2**20)
    return from_json(Path(path).read_bytes(), upload_dir)


def _check_header(document: Any) -> None:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ExportError("import_wrong_format", expected=FORMAT)
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ExportError("import_bad_version")
    if version > VERSION:
        raise ExportError("import_newer_version", version=version)


Part = tuple[str, str, str]  # ("text", text, "") or ("image", safe name, base64 payload)


def _decode_message(index: int, message: Any) -> tuple[str, list[Part], dict[str, Any]]:
    """Validate one message of the document: roles, parts, image names and base64 syntax."""
    if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
        raise ExportError("import_bad_message", index=index, detail="role must be user or assistant")
    content = message.get("content")
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise ExportError("import_bad_message", index=index, detail="content must be a list")
    parts: list[Part] = []
    for part in content:
        if not isinstance(part, dict):
            raise ExportError("import_bad_message", index=index, detail="a part is not an object")
        if part.get("type") == "text" and isinstance(part.get("text"), str):
            parts.append(("text", part["text"], ""))
        elif part.get("type") == "image":
            name = _checked_name(index, part.get("name"))
            if part.get("missing") is True:
                parts.append(("text", MISSING_IMAGE.format(name=name), ""))
                continue
            url = part.get("data_url")
            match = _DATA_URL.match(url) if isinstance(url, str) else None
            if not match or not match["data"] or len(match["data"]) % 4:
                raise ExportError("import_bad_image_data", name=name, index=index)
            parts.append(("image", name, match["data"]))
        else:
            raise ExportError("import_bad_message", index=index, detail="unknown part type")
    return message["role"], parts, clean_metadata(message.get("metadata"))


def _checked_name(index: int, name: Any) -> str:
    """A plain file name from the document, made safe; anything path-like refuses the import."""
    if (not isinstance(name, str) or not name.strip() or len(name) > 255
            or any(c in name for c in "/\\\0") or name.strip() in (".", "..")
            or any(ord(c) < 32 for c in name) or re.match(r"^[A-Za-z]:", name)):
        raise ExportError("import_bad_name", index=index, name=str(name)[:60])
    return safe_name(name)



def _write_history(decoded: list[tuple[str, list[Part], dict[str, Any]]], folder: Path) -> History:
    """Write and verify each image under folder; build the Chatbot history."""
    history: History = []
    used: set[str] = set()
    for index, (role, parts, metadata) in enumerate(decoded, start=1):
        items: list[Any] = []
        for kind, value, b64 in parts:
            items.append(sanitize(value) if kind == "text" else {"path": _write_image(index, value, b64,
                                                                                      folder, used)})
        content: Any = items
        if role == "assistant" and all(isinstance(i, str) for i in items):
            content = "\n\n".join(items)
        entry: dict[str, Any] = {"role": role, "content": content}
        if metadata:
            entry["metadata"] = {**metadata, "title": sanitize(metadata["title"])} \
                if "title" in metadata else metadata
        history.append(entry)
    return history


def _decoded_size(b64: str) -> int:
    return len(b64) * 3 // 4 - b64[-2:].count("=")


def _write_image(index: int, name: str, b64: str, folder: Path, used: set[str]) -> str:
    """Decode, write and verify one image under a unique name with the extension its bytes call for."""
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise ExportError("import_bad_image_data", name=name, index=index) from None
    scratch = folder / f".check-{uuid.uuid4().hex}"  # the caller removes the folder on failure
    scratch.write_bytes(data)
    del data
    try:
        fmt = prepare(scratch).original_format
    except ImageError as e:
        detail = str(e).replace(scratch.name, name)
        raise ExportError("import_not_image", name=name, index=index, detail=detail) from None
    stem, ext = os.path.splitext(name)
    if ext.lower() not in _EXT.get(fmt, (ext.lower(),)):
        ext = _EXT[fmt][0] if fmt in _EXT else ext
    final, n = f"{stem}{ext}", 1
    while final.lower() in used:
        n += 1
        final = f"{stem}-{n}{ext}"
    used.add(final.lower())
    target = folder / final
    os.replace(scratch, target)
    return str(target)
