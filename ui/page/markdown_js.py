"""Gradio's Markdown renderer served with marked's `walkTokens` made linear.

The chat renders each message with the marked 12 bundled in Gradio's `markdown-code-*.js`. Its
`walkTokens` gathers what it visits with `n = n.concat(...)` once per token, copying everything
gathered so far: quadratic in the tokens of one block. With line breaks on, every line of a
paragraph is two tokens (text, <br>), and Gradio walks each changed block two to three times per
update, so a 100 KB answer of 20,000 short lines took long to appear (12.9 s in the report)
while one of the same size in long lines did not. bench/markdown_lines.py, median of 3: shown
after 19.3 s with Gradio's chunk, 1.47 s with this one, 0.41 s for long lines; the page's script
time 18.3 s → 0.20 s (on a machine busy with other work, load ~20: 166 s → 10.7 s).

The same file is served with those `concat`s appending in place, which gives the same array
(`concat` spreads an array argument and appends anything else; the array is local to the call).
If a Gradio upgrade changes the bundle so that the patch no longer applies, the file is served
as it is and tests/test_hostile_sizes.py::test_a_20000_line_answer_appears_in_the_page fails.
"""

from __future__ import annotations

import hashlib
import logging
import re
from importlib import resources
from typing import Any

log = logging.getLogger("glmchat")

_FILE = re.compile(r"markdown-code-[\w-]+\.js")
_WALK = "walkTokens(e,t){let n=[];"  # marked's Marked.walkTokens, as Gradio 6.31 minifies it
_END = "return n}"
_CONCAT = "n=n.concat("
HELPER = "__glmAppend"
_DEFINE = (f"const {HELPER}=(n,x)=>{{if(Array.isArray(x))for(const v of x)n.push(v);"
           "else n.push(x);return n};\n")


def linear_walk(source: str) -> str | None:
    """The module with walkTokens appending in place, or None if it is not the expected code."""
    start = source.find(_WALK)
    end = source.find(_END, start)
    if start < 0 or end < 0 or _CONCAT not in source[start:end]:
        return None
    walk = source[start:end].replace(_CONCAT, f"n={HELPER}(n,")
    return _DEFINE + source[:start] + walk + source[end:]


def patched_files() -> dict[str, bytes]:
    """Gradio's Markdown chunks, by file name, with the patch applied (those it applies to)."""
    folder = resources.files("gradio").joinpath("templates/frontend/assets")
    files: dict[str, bytes] = {}
    for entry in folder.iterdir():
        if not _FILE.fullmatch(entry.name):
            continue
        patched = linear_walk(entry.read_text("utf-8"))
        if patched is None:
            log.warning("%s: marked's walkTokens not found, served unpatched", entry.name)
        else:
            files[entry.name] = patched.encode()
    return files


class LinearMarkdown:
    """ASGI middleware: GET /assets/markdown-code-*.js answered with the patched file."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.files = patched_files()
        self.etags = {name: '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
                      for name, body in self.files.items()}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        name = path.rsplit("/", 1)[-1]
        if scope.get("method") not in ("GET", "HEAD") or not path.endswith(f"/assets/{name}") \
                or name not in self.files:
            return await self.app(scope, receive, send)
        body, etag = self.files[name], self.etags[name]
        headers = [(b"content-type", b"text/javascript; charset=utf-8"), (b"etag", etag.encode())]
        asked = dict(scope.get("headers") or []).get(b"if-none-match", b"").decode("latin-1")
        if asked == etag:
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
