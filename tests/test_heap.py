"""ui/heap.py: the process keeps few malloc arenas, and gives freed memory back once answers stop."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ui import heap

ROOT = Path(__file__).resolve().parent.parent

ARENAS = """
import ctypes, re, sys, threading
if sys.argv[1] == "with":
    import ui.heap  # noqa: F401
from PIL import Image

def work():
    for _ in range(20):
        Image.new("RGB", (1500, 1500), "red").resize((700, 700)).tobytes()

threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
libc = ctypes.CDLL(None)
libc.open_memstream.restype = ctypes.c_void_p
buf, size = ctypes.c_char_p(), ctypes.c_size_t()
stream = libc.open_memstream(ctypes.byref(buf), ctypes.byref(size))
libc.malloc_info(0, ctypes.c_void_p(stream))
libc.fclose(ctypes.c_void_p(stream))
print(len(re.findall(r'<heap nr=', ctypes.string_at(buf, size.value).decode())))
"""

glibc = pytest.mark.skipif(heap._libc is None, reason="glibc only")


def _arenas(variant: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    out = subprocess.run([sys.executable, "-c", ARENAS, variant], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True, timeout=120)
    return int(out.stdout.split()[-1])


@glibc
def test_eight_threads_decoding_images_share_two_arenas():
    assert _arenas("without") > 2  # glibc alone gives threads that meet a locked arena their own
    assert _arenas("with") <= 2


@glibc
def test_memory_is_trimmed_once_the_last_answer_ends(monkeypatch):
    trimmed = threading.Event()
    monkeypatch.setattr(heap, "trim", trimmed.set)
    busy = heap.Busy(idle_seconds=0.0)
    with busy:
        with busy:
            pass
        assert not trimmed.wait(0.2)  # one answer still runs
    assert trimmed.wait(10)
    assert busy.trims == 1


@glibc
def test_no_trim_when_another_answer_started_meanwhile(monkeypatch):
    calls = []
    monkeypatch.setattr(heap, "trim", lambda: calls.append(1))
    busy = heap.Busy(idle_seconds=3600)
    with busy:
        pass
    busy.running = 1  # an answer started before the timer fired
    busy._trim_if_idle(since=0.0)
    assert calls == []


@glibc
def test_the_idle_trim_says_what_stays(monkeypatch):
    monkeypatch.setattr(heap, "trim", lambda: None)
    said = threading.Event()
    busy = heap.Busy(idle_seconds=0.0, on_idle=said.set)
    with busy:
        pass
    assert said.wait(10)
