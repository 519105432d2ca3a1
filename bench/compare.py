"""Time to first token of each pane of a two-pane comparison beside the same question in Chat
(issue 17: ≤ 1.05 ×; the two requests leave together). On its own:

    .venv/bin/python bench/compare.py [--rounds 20]

Starts the local fake endpoint (time to first token 0.4 s, 500 tokens/s) and the app, then, in
interleaved rounds from fresh sessions over Gradio's own queue protocol (what the page speaks):
the chat's Enter and the Compare page's Enter with two named models, each with the same freshly
uploaded photo and question. A pane's first token is the first update of that pane that carries
answer text. Prints medians and the ratio; writes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import free_port, make_image  # noqa: E402
from tests.fake_openai import FakeOpenAI, Reply  # noqa: E402

MODELS = ("glm-4v-plus", "glm-4v")
CHAT_ARGS = [MODELS[0], 0.7, 256, "", 1.0, "balanced", "all", False, ""]


class TimedFake(FakeOpenAI):
    """The endpoint, noting when each request arrived (same process: one clock)."""

    arrivals: ClassVar[list[float]] = []

    def _record(self, request: Any) -> None:
        self.arrivals.append(time.perf_counter())
        super()._record(request)


class Session:
    """One browser tab's worth of Gradio queue protocol."""

    def __init__(self, url: str, page: str = "") -> None:
        self.http = httpx.Client(base_url=url, timeout=60)
        self.session = uuid.uuid4().hex[:12]
        config = self.http.get("config", params={"page": page} if page else None).json()
        self.fns = {d.get("api_name"): d["id"] for d in config["dependencies"]}

    def upload(self, path: Path) -> dict[str, Any]:
        with path.open("rb") as f:
            [stored] = self.http.post("gradio_api/upload", files={"files": (path.name, f)}).json()
        return {"path": stored, "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}

    def first_text(self, api_name: str, data: list[Any], outputs: list[int]) -> list[float]:
        """Seconds from the call to the first update carrying answer text, per output index."""
        started = self.started = time.perf_counter()
        self.http.post("gradio_api/queue/join", json={
            "data": data, "fn_index": self.fns[api_name], "session_hash": self.session,
            "event_data": None, "trigger_id": None}).raise_for_status()
        first: dict[int, float] = {}
        with self.http.stream("GET", f"gradio_api/queue/data?session_hash={self.session}") as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("msg") in ("process_generating", "process_completed"):
                    values = (message.get("output") or {}).get("data") or []
                    for i in outputs:
                        if i not in first and i < len(values) and "Echo" in json.dumps(values[i]):
                            first[i] = time.perf_counter() - started
                if message.get("msg") == "process_completed":
                    break
        return [first.get(i, float("nan")) for i in outputs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    photo = make_image(tmp / "photo.png", (1600, 1200), (90, 140, 200))
    with TimedFake(keep_requests=False, default=Reply(ttft=0.4, tps=500, tokens=200)) as fake:
        port = free_port()
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "GLM_"))},
               "OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": "sk-bench",
               "GLM_MODELS": ",".join(MODELS), "GLM_DATA_DIR": str(tmp / "data"),
               "GRADIO_SERVER_PORT": str(port), "GRADIO_TEMP_DIR": str(tmp / "gradio")}
        app = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=tmp, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}/"
        try:
            for _ in range(600):
                try:
                    if httpx.get(url + "config", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)  # waiting for the app to listen, not a measurement
            chat, panes, first_pane, sent_chat, sent_panes = [], [], [], [], []
            for n in range(args.rounds + 2):  # two warm-up rounds, left out
                c = Session(url)
                text = {"text": f"What is in the photo? #{n}", "files": [c.upload(photo)]}
                before = len(fake.arrivals)
                [t_chat] = c.first_text("submit", [text, [], *CHAT_ARGS], [0])
                out_chat = fake.arrivals[before] - c.started
                p = Session(url, "compare")
                text = {"text": f"What is in the photo? #{n}", "files": [p.upload(photo)]}
                data = [text, None, "named", 2, *MODELS, MODELS[0], MODELS[1], 0.7, 0.7, 0.7, 0.7,
                        256, "", "balanced", False, ""]
                before = len(fake.arrivals)
                t_a, t_b = p.first_text("compare_ask", data, [0, 1])
                out_panes = max(fake.arrivals[before:before + 2]) - p.started
                if n >= 2:
                    chat.append(t_chat)
                    panes.append(max(t_a, t_b))
                    first_pane.append(min(t_a, t_b))
                    sent_chat.append(out_chat)
                    sent_panes.append(out_panes)
        finally:
            app.terminate()
            app.wait(timeout=15)
    chat_ms, pane_ms = statistics.median(chat) * 1000, statistics.median(panes) * 1000
    print(f"rounds: {args.rounds} (interleaved, fresh sessions, one 1600×1200 PNG each)")
    print(f"chat, first token:                     {chat_ms:7.1f} ms (median)")
    first_ms = statistics.median(first_pane) * 1000
    print(f"compare, the first pane's first token:  {first_ms:7.1f} ms (median), "
          f"ratio {first_ms / chat_ms:.3f}")
    print(f"compare, later of the two panes' first: {pane_ms:7.1f} ms (median)")
    print(f"ratio: {pane_ms / chat_ms:.3f} (target ≤ 1.05)")
    print(f"request at the endpoint: chat {statistics.median(sent_chat) * 1000:.1f} ms, "
          f"compare (the later of two) {statistics.median(sent_panes) * 1000:.1f} ms after Enter")


if __name__ == "__main__":
    main()
