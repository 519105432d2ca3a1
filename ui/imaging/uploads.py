"""Uploads prepared as they land, in the background, so the image is ready when the question comes."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor

from ui.imaging import payload
from ui.imaging.prepared import ImageError

log = logging.getLogger("glmchat")
_CORES = os.cpu_count() or 1
UPLOAD_QUEUE = 2 * _CORES  # background preparations queued or running; more wait to be asked about

# Uploads prepared as they arrive, at most one per core at a time, oldest first; at most
# UPLOAD_QUEUE in line, so that uploads alone (no question, no session) cannot pile up work.
_uploads = ThreadPoolExecutor(max_workers=_CORES, thread_name_prefix="prepare-upload")
_upload_slots = threading.BoundedSemaphore(UPLOAD_QUEUE)


def prepare_uploads(paths: Iterable[str], quality: str) -> list[Future[None]]:
    """Start preparing files in the background, so the image is ready when the question comes:
    as each upload lands (the page's and API clients' alike), and again when a visitor picks
    another quality. Errors (not an image, ...) wait until the file is asked about. With the line
    full a file is skipped (its future is done at once): it is prepared when it is asked about."""
    jobs: list[Future[None]] = []
    for path in paths:
        if _upload_slots.acquire(blocking=False):
            jobs.append(_uploads.submit(_prepare_in_line, path, quality))
        else:
            log.debug("upload preparation skipped: %d already in line", UPLOAD_QUEUE)
            skipped: Future[None] = Future()
            skipped.set_result(None)
            jobs.append(skipped)
    return jobs


def _prepare_in_line(path: str, quality: str) -> None:
    try:
        _prepare_quietly(path, quality)
    finally:
        _upload_slots.release()


def _prepare_quietly(path: str, quality: str) -> None:
    try:
        payload.prepare(path, quality)
    except (ImageError, OSError):
        pass  # said to the visitor if and when the file is asked about
    except Exception:
        log.exception("preparing an upload failed")
