"""What the app's memory holds, fresh → six photo questions → single-user load → crowds, beside
gr.load_chat driven the same way (issue 14, item 5).

    python bench/memory.py                      # app as it is + the peer, ~6 min
    python bench/memory.py --variants on,arena2,trimidle --no-peer
    python bench/memory.py --variants traced --top 25   # tracemalloc's biggest sites (slow)

Variants (each its own app process, driven one after the other with the same load):
  on        the app as it is
  arena2    MALLOC_ARENA_MAX=2 in its environment (glibc: at most 2 malloc arenas, not 8 per core)
  trimidle  GLM_BENCH_TRIM_IDLE=1: malloc_trim(0) once no answer has run for 1 s (ui/benchswitch.py)
  sessions  GLM_BENCH_SESSIONS=100: Gradio keeps 100 sessions, not 10,000 (state_session_capacity)
  traced    PYTHONTRACEMALLOC=1: Python allocations traced (slower, more memory: for the sites only)
Each app gets GLM_BENCH_MEM=1, whose /__bench/mem route reports RSS, glibc's heaps (mallinfo2,
arenas), the prepared-image cache and Gradio's sessions, and can gc.collect() and malloc_trim(0).
The load follows bench/run.py: 7 × (text, 12 MP photo, 4000 × 3000 screenshot) via gradio_client
and REST, then 16 users × 3 and 64 users × 1 with a photo each via gradio_client, REST, and REST
with the images prepared first (the peer: gradio_client 16 × 2, 64 × 1, as bench/run.py drives it).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import httpx  # noqa: E402
import run as R  # noqa: E402

VARIANTS = {"on": {}, "arena2": {"MALLOC_ARENA_MAX": "2"}, "trimidle": {"GLM_BENCH_TRIM_IDLE": "1"},
            "sessions": {"GLM_BENCH_SESSIONS": "100"}, "traced": {"PYTHONTRACEMALLOC": "1"},
            "arena2+trimidle": {"MALLOC_ARENA_MAX": "2", "GLM_BENCH_TRIM_IDLE": "1"}}


def mem(url: str, **query: Any) -> dict[str, Any]:
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return httpx.get(f"{url}__bench/mem?{q}", timeout=120).json()


def short(s: dict[str, Any]) -> str:
    m = s.get("malloc", {})
    return (f"RSS {s['rss_mb']:.0f} MB (malloc in use {m.get('in_use_mb', 0):.0f}, free in heaps "
            f"{m.get('free_in_heaps_mb', 0):.0f}, mmapped {m.get('mmap_mb', 0):.0f}; arenas "
            f"{s.get('arenas', {}).get('count', '?')}; image cache {s['image_cache']['mb']:.0f} MB in "
            f"{s['image_cache']['entries']}; sessions {s.get('sessions', '?')}; threads {s['threads']})")


def drive(name: str, url: str, pid: int, peer: bool, images: dict[str, Path], copies: R.Copies,
          fake_pid: int, reps: int, rows: dict[str, Any], top: int) -> None:
    """The load, with a snapshot after each stage."""
    api = "/open_api_stream" if peer else "/ask"
    client = R.GradioSystem(name, url, api, peer, pid)
    rest = R.HttpSystem(name, url, api, peer)
    out: dict[str, Any] = rows.setdefault(name, {})

    def snap(stage: str, **query: Any) -> None:
        time.sleep(2)
        out[stage] = {"rss_mb": R.rss_mb(pid)} if peer else mem(url, **query)
        R.log(f"  {name} {stage}: " + (f"RSS {out[stage]['rss_mb']:.0f} MB" if peer else short(out[stage])))

    snap("fresh")
    for i in range(6):
        sample = rest.ask(f"{name}.six.{i}", R.SHORT, copies(images["photo"], f"{name}-six"))
        if sample.error:
            R.log(f"  error: {sample.error}")
    copies.clear()
    snap("six photos")
    for rep in range(reps):
        for case in ("text", "photo", "shot"):
            for system in (client, rest):
                image = copies(images[case], f"{name}-{case}") if case != "text" else None
                sample = system.ask(f"{name}.{case}.{rep}", R.SHORT, image)
                if sample.error:
                    R.log(f"  error: {sample.error}")
        copies.clear()
    snap("before crowds")
    cpu = R.CpuWindow({"app": pid, "fake": fake_pid})
    with R.RssWatch({"app": pid}) as watch:
        for users, n in ((16, 3), (64, 1)):
            for rep in range(n):
                kinds = ("gradio_client",) if peer else ("gradio_client", "rest", "rest, prepared")
                if peer and users == 16 and rep == 2:
                    continue  # bench/run.py: the peer's 16-user crowd twice
                for kind in kinds:
                    batch = [copies(images["photo"], f"{name}-u{users}") for _ in range(users)]
                    label = f"{name}.u{users}.{rep}"
                    if kind == "gradio_client":
                        crowd = client.many(batch, R.CONC_TOKENS, label, 60 + 4 * users, cpu)
                    else:
                        crowd = rest.many(batch, R.CONC_TOKENS, label, 60 + 4 * users, cpu,
                                          prewarm=kind == "rest, prepared")
                    copies.clear()
                    out.setdefault("crowds", []).append({"users": users, "kind": kind, "wall": crowd.wall,
                                                         "app_cpu": cpu.used.get("app"),
                                                         "errors": crowd.error_count})
                    R.log(f"  {name} {users} users {kind}: wall {crowd.wall or float('nan'):.1f} s, "
                          f"app CPU {cpu.used.get('app', 0):.2f} s, errors {crowd.error_count}")
    out["peak_mb"] = watch.peak["app"]
    snap("after crowds", top=top)
    if not peer:
        snap("after gc.collect + malloc_trim", gc=1, trim=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default="on")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--reps", type=int, default=7, help="single-user repetitions before the crowds")
    parser.add_argument("--top", type=int, default=0, help="tracemalloc sites to list (traced variant)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    import signal
    import tempfile

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="glm-memory-"))
    rows: dict[str, Any] = {}
    try:
        fake, fake_url = R.start_fake(tmp, tmp / "requests.jsonl")
        images = {"photo": R.make_photo(tmp / "photo.jpg"), "shot": R.make_screenshot(tmp / "shot.png")}
        copies = R.Copies(tmp / "copies")
        names = [v for v in args.variants.split(",") if v]
        apps: dict[str, R.AppProcess] = {}

        def start(name: str) -> None:
            (tmp / name).mkdir()
            apps[name] = R.start_app({"OPENAI_BASE_URL": fake_url, "OPENAI_API_KEY": R.KEY,
                                      "GLM_VISITOR_SHARE": "1", "GLM_BENCH_MEM": "1",
                                      **VARIANTS[name]}, tmp / name)

        threads = [threading.Thread(target=start, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for app in apps.values():
            R._children.append(app.process)
        if not args.no_peer:
            peer, peer_url = R.start_peer(tmp, fake_url)
            R.wait_http_200(peer_url, peer, timeout=120)
            time.sleep(3)
        for name in names:
            R.log(f"{name}")
            drive(name, apps[name].url, apps[name].process.pid, False, images, copies, fake.pid,
                  args.reps, rows, args.top)
        if not args.no_peer:
            R.log("gr.load_chat")
            drive("peer", peer_url, peer.pid, True, images, copies, fake.pid, args.reps, rows, 0)
    finally:
        R.stop_all()
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    lines = ["| variant | fresh | six photos | before crowds | peak | after crowds | after gc + trim |",
             "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        cells = [f"{r[s]['rss_mb']:.0f}" if s in r else "—"
                 for s in ("fresh", "six photos", "before crowds")]
        cells.append(f"{r.get('peak_mb', 0):.0f}")
        cells.append(f"{r['after crowds']['rss_mb']:.0f}" if "after crowds" in r else "—")
        trimmed = r.get("after gc.collect + malloc_trim", {})
        cells.append(f"{trimmed.get('rss_after_trim_mb', 0):.0f}" if trimmed else "—")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    text = "RSS in MB\n\n" + "\n".join(lines) + "\n\n```json\n" + json.dumps(rows, indent=1) + "\n```\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
