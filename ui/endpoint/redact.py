"""What of a request or an endpoint's words may be shown or logged: keys masked, images and
(unless GLM_LOG_CONTENT) what people wrote left out."""

from __future__ import annotations

import json
import re
from typing import Any

from ui.endpoint.request import ChatRequest

# Key-shaped tokens: OpenAI-style sk-…, Zhipu's <id>.<secret>, bearer headers, key=value pairs,
# and long runs mixing letters and digits (a key of some other provider).
_KEY_SHAPES = re.compile(
    r"sk-[A-Za-z0-9_\-]{8,}|\b[0-9a-fA-F]{32}\.[A-Za-z0-9]{16}\b|\bbearer\s+\S+"
    r"|\b(?:api[-_ ]?key|access[-_ ]?token|token|secret|password|passwd)\s*[=:]\s*[^\s,;&\"']+"
    r"|\b(?=[A-Za-z0-9_\-]*\d)(?=[A-Za-z0-9_\-]*[A-Za-z])[A-Za-z0-9_\-]{32,}\b", re.I)
_SEPARATOR = r"(?:[\s\-_.,:;|/\\'\"]|%20){0,3}"


def mask_secrets(text: str, key: str = "") -> str:
    """`text` with the key (in any case, URL-encoded or spaced out) and key-shaped tokens masked."""
    if len(key) >= 8:
        spelled = _SEPARATOR.join(f"(?:{re.escape(c)}|%{ord(c):02x})" for c in key)
        text = re.sub(spelled, "***", text, flags=re.I)
    return _KEY_SHAPES.sub("***", text)


_B64 = re.compile(r"(data:[\w/+.-]+;base64,)?[A-Za-z0-9+/=]{200,}")


def redact(text: str) -> str:
    """Replace long base64 runs with their size, so logs stay readable and small."""
    return _B64.sub(lambda m: f"{m.group(1) or ''}…({len(m.group(0)) * 3 // 4 // 1024} KB)", text)


def summary(request: ChatRequest) -> str:
    """A log line for a request without anything people wrote or uploaded: the model, the
    parameters and the sizes (GLM_LOG_CONTENT=true logs `describe` instead)."""
    body = {k: v for k, v in request.body().items() if k != "messages"}
    images = chars = 0
    image_bytes = 0
    for message in request.messages:
        content = message.get("content")
        for part in content if isinstance(content, list) else [content]:
            if isinstance(part, str):
                chars += len(part)
            elif isinstance(part, dict) and part.get("type") == "text":
                chars += len(str(part.get("text", "")))
            elif isinstance(part, dict) and part.get("type") == "image_url":
                images += 1
                url = (part.get("image_url") or {}).get("url")
                image_bytes += len(url) * 3 // 4 if isinstance(url, str) else 0
    return (f"{json.dumps(body, ensure_ascii=False)} messages={len(request.messages)} "
            f"text_chars={chars} images={images} image_kb={image_bytes // 1024}")


def describe(request: ChatRequest) -> str:
    """A log line for a request: model, settings, and the messages with images redacted.

    Inline images are summarised before anything is serialised: dumping and scanning a 0.5 MB
    payload would cost ~1.5 ms on the way to the endpoint, for a line cut at 2,000 characters.
    """
    body = {k: v for k, v in request.body().items() if k != "messages"}
    messages = json.dumps([_loggable(m) for m in request.messages], ensure_ascii=False)
    return f"{redact(json.dumps(body, ensure_ascii=False))} messages={redact(messages[:2000])}"


def _loggable(message: dict[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    if not isinstance(content, list):
        return message
    return {**message, "content": [_short_image(part) for part in content]}


def _short_image(part: Any) -> Any:
    image = part.get("image_url") if isinstance(part, dict) else None
    url = image.get("url") if isinstance(image, dict) else None
    if not isinstance(image, dict) or not isinstance(url, str) or len(url) < 200 \
            or url.startswith(("http://", "https://")):
        return part
    head, comma, data = url.rpartition(",")  # "data:image/jpeg;base64," + data, or bare base64
    return {**part, "image_url": {**image, "url": f"{head}{comma}…({len(data) * 3 // 4 // 1024} KB)"}}
