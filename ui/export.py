"""Conversations out and back in. Pure functions, no gradio.

    to_markdown(history)              for reading: headings per speaker, image notes, quoted notes
    to_json(history, settings)        a versioned document with every image embedded as a data URL,
                                      each answer's record (model, choices, usage, timings) beside it
                                      and the page's settings at export (what an import restores)
    from_json(text, upload_dir)       its inverse: images verified and written under upload_dir
    from_file(path, upload_dir)       the same for an uploaded file, size checked before reading

No export ever holds the API key: settings lose every secret-looking field on the way out and in.
Imported files are untrusted: names are checked and replaced, bytes must be an image (ui.imaging.payload),
sizes and counts are capped, and a refused import leaves nothing behind. Their texts and titles
are sanitized (ui/sanitize.py) like everything the chat shows; exports hold them as written.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import os
import re
import shutil
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ui.errors import ChatError
from ui.i18n import say
from ui.imaging.payload import ImageError, prepare
from ui.messages import is_ui_only, parts_of
from ui.records import record_of
from ui.sanitize import restore, sanitize

FORMAT = "glm-vision-chat"
VERSION = 1
MAX_BYTES = 200 * 1024 * 1024  # all images of one document, decoded
MAX_MESSAGES = 2000
MAX_TEXT = MAX_BYTES * 4 // 3 + 16 * 1024 * 1024  # the JSON text: base64 plus room for words
MISSING_IMAGE = "(image {name} was not included in the export)"

# A setting whose name says "secret" never leaves the server; `*_tokens` are counts, not tokens.
_SECRET_NAME = re.compile(r"key|secret|passw|credential|auth|bearer|cookie|session|token(?!s)", re.I)
# Values that look like API keys: OpenAI-style sk-..., Zhipu's <32 hex>.<16 chars>, bearer headers.
_SECRET_VALUE = re.compile(r"^(sk-\S{8,}|[0-9a-f]{32}\.[A-Za-z0-9]{16}|bearer\s+\S+)$", re.I)
# Never taken from an imported file: pointing the server's key at another host would leak it.
_IMPORT_DENY = re.compile(r"url|endpoint|host|base|proxy", re.I)
_DATA_URL = re.compile(r"^data:(?P<mime>image/[\w.+-]+);base64,(?P<data>[A-Za-z0-9+/]*={0,2})$")
_UNSAFE_CHARS = re.compile(r"[^\w.\- ()\[\]]+")
_META_KEYS: dict[str, type | tuple[type, ...]] = {
    "title": str, "status": str, "duration": (int, float), "log": str, "id": str, "parent_id": str}
_MIME = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "GIF": "image/gif",
         "WEBP": "image/webp", "BMP": "image/bmp", "TIFF": "image/tiff", "HEIF": "image/heif",
         "AVIF": "image/avif", "ICO": "image/x-icon"}
_EXT = {"JPEG": (".jpg", ".jpeg", ".jpe"), "MPO": (".jpg", ".jpeg", ".mpo"), "PNG": (".png",),
        "GIF": (".gif",), "WEBP": (".webp",), "BMP": (".bmp",), "TIFF": (".tif", ".tiff"),
        "HEIF": (".heic", ".heif"), "AVIF": (".avif",), "ICO": (".ico",)}

History = list[dict[str, Any]]


class ExportError(ChatError):
    """An export or import that cannot be done; .key names a sentence in ui/i18n.py."""

    def __str__(self) -> str:  # logs and tests read the English sentence
        return say("en", self.key, self.params)


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


# --- JSON export / import -----------------------------------------------------------------------


def safe_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings without anything that looks like a key, token or secret, JSON values only."""
    clean: dict[str, Any] = {}
    for name, value in settings.items():
        if not isinstance(name, str) or _SECRET_NAME.search(name):
            continue
        kept = _json_value(value)
        if kept is not _DROP:
            clean[name] = kept
    return clean


_DROP = object()


def _json_value(value: Any) -> Any:
    if isinstance(value, str):
        return _DROP if _SECRET_VALUE.match(value.strip()) else value
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        return safe_settings(value)
    if isinstance(value, list | tuple):
        return [v for v in map(_json_value, value) if v is not _DROP]
    return _DROP


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
            name = _safe_name(value)
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
        metadata = _clean_metadata(message.get("metadata"))
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


def _clean_metadata(metadata: Any) -> dict[str, Any]:
    """Only the Chatbot's own metadata fields with the right types; nothing stays 'pending'."""
    if not isinstance(metadata, Mapping):
        return {}
    clean = {k: metadata[k] for k, kind in _META_KEYS.items()
             if isinstance(metadata.get(k), kind) and not isinstance(metadata.get(k), bool)}
    if "status" in clean:
        clean["status"] = "done"
    return clean


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
    return message["role"], parts, _clean_metadata(message.get("metadata"))


def _checked_name(index: int, name: Any) -> str:
    """A plain file name from the document, made safe; anything path-like refuses the import."""
    if (not isinstance(name, str) or not name.strip() or len(name) > 255
            or any(c in name for c in "/\\\0") or name.strip() in (".", "..")
            or any(ord(c) < 32 for c in name) or re.match(r"^[A-Za-z]:", name)):
        raise ExportError("import_bad_name", index=index, name=str(name)[:60])
    return _safe_name(name)


def _safe_name(name: str) -> str:
    """Letters, digits and a few marks only; no leading dot; at most ~110 characters."""
    safe = _UNSAFE_CHARS.sub("_", os.path.basename(name)).strip(" .") or "image"
    stem, ext = os.path.splitext(safe)
    return stem[:100] + ext[:10]


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
