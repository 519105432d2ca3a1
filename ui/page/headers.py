"""Security headers on every HTTP response: a second line behind ui/sanitize.py.

If something in an answer or an imported chat ever gets past the sanitizer, the browser still
loads no image or media from another origin, posts no form anywhere but here, connects nowhere
else, and the page can only be framed by itself and Hugging Face Spaces. Scripts and styles are
left alone: Gradio's page needs its inline ones. Headers Gradio already set win.
"""

from __future__ import annotations

from typing import Any

CONTENT_SECURITY_POLICY = "; ".join([
    "img-src 'self' data: blob:",
    "media-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'self' https://huggingface.co https://*.hf.space",
    "base-uri 'self'",
    "object-src 'none'",
])
HEADERS = ((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
           (b"x-content-type-options", b"nosniff"))


class SecurityHeaders:
    """Pure ASGI middleware: adds HEADERS to each HTTP response that does not have them yet."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend((name, value) for name, value in HEADERS if name not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
