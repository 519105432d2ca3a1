"""Conversations out. Pure functions, no gradio.

    to_markdown(history)              for reading: headings per speaker, image notes, quoted notes
    to_json(history, settings)        a versioned document with every image embedded as a data URL,
                                      each answer's record (model, choices, usage, timings) beside it
                                      and the page's settings at export (what an import restores)

No export ever holds the API key: settings lose every secret-looking field (ui/export_format.py).
Texts are exported as written (ui/sanitize.py's escapes undone). The way back in, untrusted, is
ui/importing.py (`from_json`, `from_file`).
"""

from __future__ import annotations

import base64
import json
import mimetypes
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ui.export_format import (
    FORMAT,
    MAX_BYTES,
    VERSION,
    ExportError,
    clean_metadata,
    safe_name,
    safe_settings,
)
from ui.imaging.payload import ImageError, prepare
from ui.importing import from_file
from ui.messages import is_ui_only, parts_of
from ui.records import record_of
from ui.sanitize import restore

# Importable from here too: ui/page/chat.py takes them with the export.
__all__ = ["ExportError", "from_file", "to_json", "to_markdown"]

_MIME = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "GIF": "image/gif",
         "WEBP": "image/webp", "BMP": "image/bmp", "TIFF": "image/tiff", "HEIF": "image/heif",
         "AVIF": "image/avif", "ICO": "image/x-icon"}


# --- Markdown -----------------------------------------------------------------------------------


def to_markdown(history: Sequence[dict[str, Any]]) -> str:
    """The conversation for reading; thinking and notices become quoted notes under the answer."""
    blocks: list[str] = []
    speaker = ""
    for message in history:
        role = message.get("role")
        if role not in ("user", "assistant"):
            continue
        if role != speaker:
            speaker = role
            blocks.append("### You" if role == "user" else "### Assistant")
        texts: list[str] = []
        for kind, value in parts_of(message.get("content")):
            texts.append(value if kind == "text" else _image_note(value))
        body = "\n\n".join(t for t in texts if t.strip())
        if is_ui_only(message):
            metadata = message.get("metadata") or {}
            title = restore(str(metadata["title"]))
            if isinstance(metadata.get("duration"), int | float):
                title += f" ({metadata['duration']:g} s)"
            if isinstance(metadata.get("log"), str) and metadata["log"]:
                title += f" · {metadata['log']}"
            if body and title.endswith(body.strip()):  # a notice whose text is its title: once
                body = ""
            note = f"**{title}**" + (f"\n\n{body}" if body else "")
            blocks.append("\n".join(f"> {line}".rstrip() for line in note.splitlines()))
        elif body:
            blocks.append(body)
    return "\n\n".join(blocks) + "\n"


def _image_note(path: str) -> str:
    """`*[image: cat.jpg, 1024×768]*`; the size comes from ui.imaging.payload (usually cached)."""
    name = _md_escape(os.path.basename(path))
    try:
        w, h = prepare(path).original_size
    except (ImageError, OSError):
        return f"*[image: {name}, not available]*"
    return f"*[image: {name}, {w}×{h}]*"


def _md_escape(text: str) -> str:
    return re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", text)



# --- JSON ---------------------------------------------------------------------------------------


def to_json(history: Sequence[dict[str, Any]], settings: Mapping[str, Any]) -> str:
    """A versioned JSON document of the conversation, images embedded as data URLs, no secrets."""
    messages: list[dict[str, Any]] = []
    total = 0
    for message in history:
        role = message.get("role")
        if role not in ("user", "assistant"):
            continue
        parts: list[dict[str, Any]] = []
        for kind, value in parts_of(message.get("content")):
            if kind == "text":
                parts.append({"type": "text", "text": value})
                continue
            name = safe_name(value)
            try:
                mime = _MIME.get(prepare(value).original_format) or _guess_mime(name)
                data = Path(value).read_bytes()
            except (ImageError, OSError):  # gone (upload expired) or never was an image
                parts.append({"type": "image", "name": name, "missing": True})
                continue
            total += len(data)
            if total > MAX_BYTES:
                raise ExportError("export_too_large", size_mb=total / 2**20, limit_mb=MAX_BYTES / 2**20)
            data_url = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
            parts.append({"type": "image", "name": name, "mime_type": mime, "data_url": data_url})
        entry: dict[str, Any] = {"role": role, "content": parts}
        metadata = clean_metadata(message.get("metadata"))
        if "title" in metadata:
            metadata["title"] = restore(metadata["title"])
        if metadata:
            entry["metadata"] = metadata
        if (record := record_of(message)) is not None:  # which model and choices, what it cost
            entry["record"] = record.as_json()
        messages.append(entry)
    document = {"format": FORMAT, "version": VERSION, "settings": safe_settings(settings),
                "messages": messages}
    return json.dumps(document, ensure_ascii=False, indent=1)


def _guess_mime(name: str) -> str:
    mime = mimetypes.guess_type(name)[0]
    return mime if mime and mime.startswith("image/") else "application/octet-stream"

