"""The benchmark's endpoint: tests/fake_openai.py, plus two things only the benchmark needs.

- The answer length is set per request by a marker in the question, `#n=4000`, so one server
  (and one app process pointed at it) serves the short and the long cases.
- `#up=<Mbit/s>` in the question makes the server wait as long as the request body would take over
  an uplink of that speed before it answers (the endpoint across a real network, not loopback).
- Each request is logged as one JSON line (arrival time once the body is read, body bytes, images,
  the sent image's pixel size, the `#t=...` tag of the question) to the file given by --log,
  instead of being kept in memory.

    python bench/fake.py --port 0 --ttft 0.4 --tps 500 --tokens 50 --log /tmp/requests.jsonl

Prints its base URL on the first line of stdout, then serves until terminated.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import dataclasses
import io
import json
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image

from tests.fake_openai import FakeOpenAI, RecordedRequest, Reply

TOKENS_RE = re.compile(r"#n=(\d+)")
TAG_RE = re.compile(r"#t=(\S+)")
UPLINK_RE = re.compile(rb"#up=(\d+)")


def _user_text(body: Any) -> str:
    """Every text part of every user message, joined (gr.load_chat puts images in their own)."""
    texts = []
    for message in body.get("messages", []) if isinstance(body, dict) else []:
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts += [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
    return " ".join(t for t in texts if isinstance(t, str))


def _image_size(url: str) -> list[int] | None:
    """Pixel size of a base64 image from its first bytes (the header), without decoding it all."""
    payload = url.split(",", 1)[1] if url.startswith("data:") else url
    try:
        head = base64.b64decode(payload[:262_144])  # multiple of 4: a valid prefix
        return list(Image.open(io.BytesIO(head)).size)
    except (binascii.Error, OSError, ValueError, SyntaxError):
        return None


class BenchFake(FakeOpenAI):
    """FakeOpenAI with the answer length read from the question and a request log on disk."""

    def __init__(self, log_path: str, **kwargs: Any) -> None:
        super().__init__(keep_requests=False, **kwargs)
        self._log = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 (closed in stop())
        self._log_lock = threading.Lock()

    async def _dispatch(self, conn: Any) -> None:
        uplink = UPLINK_RE.search(conn.body)
        if uplink:  # as if the body had just crossed a link of that speed
            await asyncio.sleep(len(conn.body) * 8 / (int(uplink.group(1)) * 1e6))
        await super()._dispatch(conn)

    async def _answer(self, conn: Any, reply: Reply, body: dict[str, Any]) -> None:
        match = TOKENS_RE.search(_user_text(body))
        if match:
            reply = dataclasses.replace(reply, tokens=int(match.group(1)))
        await super()._answer(conn, reply, body)

    def _record(self, request: RecordedRequest) -> None:
        body = request.json
        tag = TAG_RE.search(_user_text(body))
        urls = request.images()
        line = {"path": request.path, "bytes": int(request.headers.get("content-length", 0)),
                "tag": tag.group(1) if tag else "", "images": len(urls),
                "image_chars": [len(u) for u in urls], "image_px": [_image_size(u) for u in urls],
                "image_mime": [u[5:u.find(";")] if u.startswith("data:") else "bare-base64"
                               for u in urls]}
        line["t"] = time.time()  # the answer's time to first token starts counting about now
        with self._log_lock:
            self._log.write(json.dumps(line) + "\n")
            self._log.flush()
        super()._record(request)

    def stop(self) -> None:
        super().stop()
        self._log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ttft", type=float, default=0.4)
    parser.add_argument("--tps", type=float, default=500.0)
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    fake = BenchFake(args.log, default=Reply(ttft=args.ttft, tps=args.tps, tokens=args.tokens),
                     port=args.port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with fake, contextlib.suppress(KeyboardInterrupt):
        print(fake.base_url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
